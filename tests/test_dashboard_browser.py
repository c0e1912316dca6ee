"""The dashboard end to end: `python demo_app.py` in a subprocess, Debian's headless Chromium driven by Playwright.

Everything is real: the app, the engine with the tiny ONNX bundle, real video files, Chromium's fake camera fed
from an MJPEG file, the loopback GStreamer RTSP server, gradio_client. The tiny bundle predicts a window's
dominant colour, so the clips' colours say what the page must show. Waits are generous; nothing asserts timings.
"""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import pytest
from browser import (
    DashboardApp,
    browser_unavailable_reason,
    free_port,
    image_src,
    launch_chromium,
    make_fake_camera,
    markdown_text,
    open_dashboard,
    prediction_number,
    status_figure,
    wait_for_markdown,
    wait_for_markdown_change,
    wait_for_new_image,
    wait_for_prediction_after,
)

LABELS = ("red", "green", "blue")
TINY_FEATURE_RATE = 5.0  # features per second of tests/tiny_bundle.py


@pytest.fixture(scope="module")
def app(tiny_bundle, color_clips, tmp_path_factory):
    """The dashboard on a free port: tiny bundle, the colour clips as examples, alerts into its own folder."""
    with DashboardApp(
        tiny_bundle, clips=[color_clips["red"].parent], log_dir=tmp_path_factory.mktemp("dashboard")
    ) as running:
        yield running


@pytest.fixture(scope="module")
def clip_key(color_clips):
    """The dropdown's name for a colour clip: '<folder>/<name>.avi'."""
    return lambda name: f"{color_clips[name].parent.name}/{name}.avi"


@pytest.fixture(scope="module")
def fake_camera(color_clips, tmp_path_factory) -> Path | None:
    """An MJPEG of red-then-blue frames for Chromium's fake webcam (None without ffmpeg)."""
    if shutil.which("ffmpeg") is None:
        return None
    return make_fake_camera(color_clips["red_then_blue"], tmp_path_factory.mktemp("camera") / "camera.mjpeg")


@pytest.fixture(scope="module")
def browser(fake_camera):
    reason = browser_unavailable_reason()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = launch_chromium(pw, fake_camera=fake_camera)
        yield chromium
        chromium.close()


def pick_source(page, kind: str) -> None:
    page.get_by_label(kind, exact=True).check()


def pick_example(page, name: str) -> None:
    page.locator("#example input").click()
    page.get_by_role("option", name=name, exact=True).click()


@pytest.mark.browser
def test_demo_clip_streams_with_changing_frames_and_predictions(app, browser, tmp_path):
    page = open_dashboard(browser, app.url)
    assert "tiny test bundle" in markdown_text(page, "model-summary")  # which model this is, on the page
    assert page.locator("#example input").input_value().startswith("demo clip")
    page.click("#start")
    status = wait_for_prediction_after(page, 0)
    assert "demo: live" in status and "CPU" in status
    first_number, first_src = prediction_number(status), image_src(page, "live-frame")
    assert first_src
    # the page keeps moving: a newer frame and a later prediction replace the first ones
    wait_for_new_image(page, "live-frame", first_src)
    later = wait_for_prediction_after(page, first_number)
    assert prediction_number(later) > first_number
    health = wait_for_markdown(page, "live-status", "capture", "features", "dropped", "latency")
    assert " fps" in health
    top = page.locator("#live-topk").inner_text()
    assert sum(label in top for label in LABELS) == 3 and "%" in top
    page.wait_for_function("document.querySelectorAll('#live-timeline g.mark-line path').length > 0")
    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
    assert (tmp_path / "dashboard.png").stat().st_size > 10_000
    page.click("#stop")
    wait_for_markdown(page, "live-status", "Stopped.")
    page.context.close()


@pytest.mark.browser
def test_labels_follow_the_clip_and_an_alert_fires(app, browser, clip_key):
    page = open_dashboard(browser, app.url)
    page.get_by_role("tab", name="Alerts").click()
    page.locator("#alert-actions").get_by_label("blue", exact=True).check()
    for elem_id, value in (("alert-threshold", "0.6"), ("alert-duration", "1")):
        box = page.locator(f"#{elem_id} input[type=number]")
        box.fill(value)
        box.press("Enter")
    page.locator("#alert-snapshot input").check()
    rule = wait_for_markdown(page, "alert-rule", "Alerting on blue", "0.60", "1.0 s", "snapshot")
    assert str(app.alerts_log) in rule
    page.get_by_role("tab", name="Live").click()
    pick_example(page, clip_key("red_then_blue"))
    page.click("#start")
    wait_for_markdown(page, "live-status", "red_then_blue: live", ": red ")  # the first 4 s are red
    wait_for_markdown(page, "live-status", ": blue ")  # then the label turns blue
    page.wait_for_function("document.querySelector('#alert-log textarea').value.includes('blue')")
    assert "red_then_blue  blue" in page.locator("#alert-log textarea").input_value()
    event = json.loads(app.alerts_log.read_text().splitlines()[-1])
    assert (event["camera"], event["action"]) == ("red_then_blue", "blue") and event["score"] >= 0.6
    assert cv2.imread(event["snapshot"]) is not None
    page.click("#stop")
    page.context.close()


@pytest.mark.browser
def test_webcam_frames_reach_the_engine(app, browser, fake_camera):
    """Chromium's fake camera plays an MJPEG of red-then-blue frames; the page streams them to a PushSource."""
    if fake_camera is None:
        pytest.skip("ffmpeg not found: cannot make the fake camera's MJPEG file")
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page = open_dashboard(browser, app.url, camera=True)
    pick_source(page, "Webcam (this browser)")
    page.get_by_text("Click to Access Webcam").click()
    page.get_by_role("button", name="capture photo").click()  # the streaming webcam's Record button
    status = wait_for_prediction_after(page, 0)
    assert "webcam: live (receiving frames)" in status
    assert any(f": {label} " in status for label in LABELS)
    first_src = image_src(page, "live-frame")
    wait_for_prediction_after(page, prediction_number(status))
    wait_for_new_image(page, "live-frame", first_src)
    wait_for_markdown(page, "live-status", "capture", "features")  # the engine's figures for this stream
    # The page sends frames at twice the bundle's feature rate (5/s for the tiny bundle; one frame per 0.2 s
    # before, which gave "capture 5.0 fps" at best and fewer features than the model expects). Both figures are
    # rolling rates and the features' one lags the capture's by a refresh: wait for both, then check them.
    try:
        page.wait_for_function(
            """([rate]) => {
                const el = document.querySelector("#live-status [data-testid='markdown']");
                const c = el && el.innerText.match(/capture (\\d+\\.\\d) fps/);
                const f = el && el.innerText.match(/features (\\d+(?:\\.\\d+)?) ?\\/s/);
                return !!c && !!f && parseFloat(c[1]) >= 1.4 * rate && parseFloat(f[1]) >= 0.8 * rate;
            }""",
            arg=[TINY_FEATURE_RATE],
        )
    except PlaywrightTimeout:
        pass  # the assertions below say which figure fell short
    health = markdown_text(page, "live-status")
    assert status_figure(health, "capture", "fps") >= 1.4 * TINY_FEATURE_RATE, health
    assert "the model expects" not in health, health
    assert status_figure(health, "features", "/s") >= 0.8 * TINY_FEATURE_RATE, health
    page.click("#stop")
    wait_for_markdown(page, "live-status", "Stopped.")
    page.context.close()


@pytest.mark.browser
def test_uploaded_video_is_classified(app, browser, color_clips):
    page = open_dashboard(browser, app.url)
    pick_source(page, "Upload a video")
    page.locator("#upload input[type=file]").set_input_files(str(color_clips["green"]))
    page.wait_for_selector("#upload >> text=green.avi")
    page.click("#start")
    status = wait_for_markdown(page, "live-status", "green: live", ": green ")
    assert prediction_number(status) >= 1
    page.click("#stop")
    page.context.close()


@pytest.mark.browser
def test_refused_sources_are_explained_on_the_page(app, browser, color_clips):
    page = open_dashboard(browser, app.url)
    pick_source(page, "Camera URL (RTSP/HTTP)")
    url_box = page.locator("#source-url textarea, #source-url input").first
    clip_dir = color_clips["red"].parent
    cases = [
        ("file:///etc/passwd", "file:// URLs are refused"),
        ("/etc/passwd", "must be inside the clip folders"),
        (f"{clip_dir}/../../../etc/hostname", "must be inside the clip folders"),
        ("rtsp://bad host/stream", "malformed URL"),
        ("rtsp://:554/stream", "no valid host name"),
        ("gopher://example.org/", "scheme 'gopher:' is refused"),
    ]
    for text, why in cases:
        before = markdown_text(page, "live-status")
        url_box.fill(text)
        page.click("#start")
        assert "Refused:" in wait_for_markdown_change(page, "live-status", before, why)
    url_box.fill(str(color_clips["blue"]))  # inside --clips: accepted
    page.click("#start")
    wait_for_markdown(page, "live-status", "blue: live")
    page.click("#stop")
    page.get_by_role("tab", name="Cameras").click()
    page.locator("#cam-urls textarea").fill("file:///etc/shadow\nhttp://bad host/")
    page.click("#cam-start")
    text = wait_for_markdown(page, "cams-status", "camera 1 refused", "camera 2 refused")
    assert "No camera running" in text
    page.context.close()


@pytest.mark.browser
@pytest.mark.rtsp
def test_rtsp_camera_live_and_in_the_cameras_tab(app, browser, rtsp_server, color_clips):
    server = rtsp_server(color_clips["red_then_blue"])
    page = open_dashboard(browser, app.url)
    pick_source(page, "Camera URL (RTSP/HTTP)")
    page.locator("#source-url textarea, #source-url input").first.fill(server.url)
    page.click("#start")
    status = wait_for_prediction_after(page, 0)
    assert server.url in status and "live" in status
    page.click("#stop")
    wait_for_markdown(page, "live-status", "Stopped.")
    # several cameras on the one engine: one real, one that does not answer (keeps retrying, shows why)
    dead = f"rtsp://127.0.0.1:{free_port()}/none"
    page.get_by_role("tab", name="Cameras").click()
    page.locator("#cam-urls textarea").fill(f"{server.url}\n{dead}")
    page.click("#cam-start")
    page.wait_for_function(
        """() => {
            const el = document.querySelector('#cams-status [data-testid="markdown"]');
            if (!el) return false;
            const rows = [...el.querySelectorAll('tr')].map(r => r.innerText);
            const cam1 = rows.find(r => r.startsWith('cam1')), cam2 = rows.find(r => r.startsWith('cam2'));
            return !!cam1 && !!cam2 && /\\b(red|green|blue) \\d\\.\\d\\d/.test(cam1) && cam2.includes('reconnecting');
        }"""
    )
    assert image_src(page, "cam-tile-0") and image_src(page, "cam-tile-1")
    page.click("#cam-stop")
    wait_for_markdown(page, "cams-status", "Cameras stopped.")
    page.context.close()


def test_gradio_client_drives_the_api_from_two_sessions(app, clip_key):
    """gradio_client cannot call the webcam stream; the plain /classify endpoint serves programs, concurrently."""
    from gradio_client import Client

    clients = [Client(app.url, download_files=False, verbose=False) for _ in range(2)]
    assert clients[0].predict(api_name="/model")["labels"] == list(LABELS)
    with ThreadPoolExecutor(2) as pool:
        jobs = [
            pool.submit(c.predict, clip_key(name), 30, api_name="/classify")
            for c, name in zip(clients, ("red", "blue"))
        ]
        results = [job.result(timeout=120) for job in jobs]
    for result, name in zip(results, ("red", "blue")):
        assert result["state"] == "ended", result
        assert result["predictions"] and result["predictions"][-1]["label"] == name
        assert all(p["stream"] == result["stream"] for p in result["predictions"])
    assert results[0]["stream"] != results[1]["stream"]
    refused = clients[1].predict("file:///etc/passwd", 5, api_name="/classify")
    assert "file:// URLs are refused" in refused["error"]


def test_login_required_when_auth_is_set(tiny_bundle, tmp_path):
    """ACTIONSTREAM_AUTH (or --auth) puts the whole app, API included, behind a login."""
    import urllib.error
    import urllib.request

    from gradio_client import Client

    with DashboardApp(tiny_bundle, log_dir=tmp_path, env={"ACTIONSTREAM_AUTH": "admin:s3cret"}) as locked:
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(locked.url + "config", timeout=30)
        assert refused.value.code == 401
        client = Client(locked.url, auth=("admin", "s3cret"), download_files=False, verbose=False)
        assert client.predict(api_name="/model")["labels"] == list(LABELS)
