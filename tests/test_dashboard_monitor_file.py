"""The Cameras tab's Load and Save of the monitor's config file, in process (handlers called as Gradio would).

The tiny bundle's labels are red/green/blue; the colour clips' folder is the dashboard's only --clips folder.
"""

from __future__ import annotations

import tomllib
from dataclasses import replace
from pathlib import Path

import gradio as gr
import pytest

from dashboard.cameras import CameraLine, camera_lines
from dashboard.monitor_file import Kept, config_text, slider_update
from streaming.alerts import AlertRule
from streaming.monitor_config import dump_monitor_config, dump_toml, load_monitor_config

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "cameras.toml"
SKIP = gr.skip()
# the load handler's outputs
CAMERAS, ACTIONS, THRESHOLD, DURATION, COOLDOWN, RULE_LINE, KEPT, STATUS = range(8)


def _request(key: str):
    return gr.Request(session_hash=key)


def _upload(tmp_path: Path, text: str, name: str = "cameras.toml") -> str:
    """A file as Gradio hands an upload over: a path in its own folder, named as the user's file."""
    folder = tmp_path / "upload"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    return str(folder / name)


def _rule(dashboard, request) -> AlertRule:
    return dashboard.hub.session(request).tracker.rule


def test_loading_a_file_fills_the_cameras_and_applies_its_rule(dashboard, color_clips, tmp_path):
    green = color_clips["green"]
    text = f"""
[monitor]
bundle = "../models/elsewhere"   # a path on the monitor's machine: not this server's business

[[camera]]
name = "shop"
source = "{green}"
region = [0.1, 0.0, 0.9, 1.0]

[[camera]]
name = "yard"
source = "rtsp://viewer:secret@cam.local:8554/live"
bundle = "../models/pose"

[[alert]]
name = "blue-alert"
actions = ["blue", "Fall"]
threshold = 0.62
min_duration_s = 45
cooldown_s = 20
cameras = ["shop"]

[outputs.jsonl]
path = "out/events.jsonl"

[outputs.webhook]
url = "http://127.0.0.1:8123/hook"
token_env = "ACTIONSTREAM_TEST_SURELY_UNSET"   # the monitor's environment, not this server's
"""
    request = _request("load-good")
    out = dashboard.monitor_file.load(_upload(tmp_path, text), True, request)
    assert out[CAMERAS] == f"shop = {green}\nyard = rtsp://viewer:secret@cam.local:8554/live"
    assert out[ACTIONS] == ["blue"]  # "Fall" is no label of this model: kept for the file, not shown
    assert out[THRESHOLD]["value"] == 0.62 and out[THRESHOLD]["step"] == 0.01  # off the slider's 0.05 grid
    assert out[DURATION]["value"] == 45 and out[DURATION]["maximum"] == 45  # past the slider's 30 s
    assert out[COOLDOWN] == 20
    assert _rule(dashboard, request) == AlertRule(frozenset({"blue"}), 0.62, 45.0, True, 20.0)  # applied now
    assert out[RULE_LINE].startswith("Alerting on blue when held ≥ 0.62 for 45.0 s, at most once per camera every 20 s")
    status = out[STATUS]
    assert "Loaded `cameras.toml`: 2 camera(s), alert rule `blue-alert`" in status
    assert "Not opened here" not in status  # a clip under --clips and an RTSP URL pass the source policy
    assert "Fall" in status and "every camera on this page" in status and "kept on save" in status
    assert "not on this server: camera[1].bundle, monitor.bundle, outputs.webhook.token_env" in status
    kept = out[KEPT]
    assert kept.camera_extras["shop"] == {"region": [0.1, 0.0, 0.9, 1.0]}
    assert kept.monitor == {"bundle": "../models/elsewhere"}
    assert kept.camera_extras["yard"] == {"bundle": "../models/pose"}
    assert kept.outputs["webhook"]["token_env"] == "ACTIONSTREAM_TEST_SURELY_UNSET"  # saved back as written

    # the named cameras are what Start opens: tiles and alerts say "shop"
    gen = dashboard.cameras.run(out[CAMERAS].splitlines()[0], request)
    first = next(gen)
    assert "| shop |" in first[0]
    gen.close()
    assert dashboard.engine.stream_ids() == []


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (
            '[[camera]]\nname = "a"\nsource = "rtsp://h/x"\n\n[[alert]]\nname = "r"\nactions = ["red"]\n'
            "treshold = 0.5\n",
            "cameras.toml:8: alert[0].treshold: unknown key",
        ),
        ('[[camera]]\nname = "a"\nsource = "rtsp://h/x"\nregion = [0, 0, 2, 1]\n', "cameras.toml:4: camera[0].region:"),
        ('[[camera]]\nname = "a"\nsource = "rtsp://h/x\n', "cameras.toml:3: not valid TOML"),
        (
            '[[camera]]\nname = "a"\nsource = "nowhere.avi"\nbundle = 3\n',
            "cameras.toml:4: camera[0].bundle: must be a string",
        ),
        ('[monitor]\ndevice = "auto"\n', "cameras.toml: camera: no cameras"),
        (
            '[[camera]]\nname = "a"\nsource = """\n/etc/passwd"""\n',
            "cameras.toml: write each of camera[0].source on one line",
        ),
    ],
)
def test_a_bad_file_shows_its_error_and_changes_nothing(dashboard, tmp_path, text, error):
    request = _request("load-bad")
    dashboard.alerts.set_rule(["red"], 0.7, 1.0, False, request, 5.0)
    before = _rule(dashboard, request)
    out = dashboard.monitor_file.load(_upload(tmp_path, text), False, request)
    assert out[:STATUS] == [SKIP] * STATUS  # camera list, alert inputs, rule line and kept sections untouched
    assert out[STATUS].startswith("**Not loaded**, nothing on the page changed:") and error in out[STATUS]
    assert str(tmp_path) not in out[STATUS] and "/tmp" not in out[STATUS]  # no server folder on the page
    assert _rule(dashboard, request) == before


def test_an_unreadable_upload_is_refused_in_one_line(dashboard, tmp_path):
    folder = tmp_path / "upload"
    folder.mkdir()
    (folder / "binary.toml").write_bytes(b"\xff\xfe\x00camera")
    out = dashboard.monitor_file.load(str(folder / "binary.toml"), False, _request("load-binary"))
    assert out[:STATUS] == [SKIP] * STATUS and "binary.toml: not a text file" in out[STATUS]


def test_refused_sources_are_listed_never_opened_nor_looked_up(dashboard, color_clips, tmp_path):
    folder = color_clips["green"].parent.name
    text = f"""
[[camera]]
name = "demo-clip"
source = "demo"
[[camera]]
name = "usb"
source = "0"
[[camera]]
name = "secret"
source = "/etc/passwd"
[[camera]]
name = "missing"
source = "/no/such/file.avi"
[[camera]]
name = "clip"
source = "{folder}/green.avi"
"""
    request = _request("load-refused")
    out = dashboard.monitor_file.load(_upload(tmp_path, text), False, request)
    status = out[STATUS]
    assert "Loaded `cameras.toml`: 5 camera(s), no alert rule (alerts off)" in status
    refused = status.split("Not opened here (this dashboard's source policy): ")[1].splitlines()[0]
    for name in ("demo-clip", "usb", "secret", "missing"):
        assert f"`{name}: " in refused
    assert "`clip: " not in refused  # a relative path inside --clips is allowed
    # an existing and a missing server file get the same answer: an upload does not probe the server's disk
    assert "/etc/passwd: refused, local files must be inside the clip folders" in refused
    assert "/no/such/file.avi: refused, local files must be inside the clip folders" in refused
    assert out[CAMERAS].splitlines()[2] == "secret = /etc/passwd"  # kept on the page (and in a save), not opened

    gen = dashboard.cameras.run(out[CAMERAS], request)
    table = next(gen)[0]
    gen.close()
    assert "camera 3 (secret) refused" in table and "camera 2 (usb) refused: server cameras" in table
    assert "| clip |" in table and dashboard.engine.stream_ids() == []


def test_save_then_load_gives_the_page_back(dashboard, color_clips, tmp_path):
    blue = color_clips["blue"]
    page = f"front = rtsp://viewer:secret@cam.local:8554/live\nhttp://cam2.local/mjpg\nclip = {blue}\nwho = demo"
    file, status = dashboard.monitor_file.save(page, ["blue", "red"], 0.55, 3.5, 12, Kept())
    assert file["visible"] is True and "Saved `cameras.toml`" in status
    saved = Path(file["value"])
    config = load_monitor_config(saved)
    assert [(c.name, c.source) for c in config.cameras] == [
        ("front", "rtsp://viewer:secret@cam.local:8554/live"),
        ("cam2", "http://cam2.local/mjpg"),  # an unnamed line is cam<N>, as on its tile
        ("clip", str(blue)),
        ("who", "demo"),
    ]
    [alert] = config.alerts
    assert alert.name == "dashboard" and alert.cameras == ()  # the page's rule watches every camera
    assert alert.rule == AlertRule(frozenset({"blue", "red"}), 0.55, 3.5, cooldown_s=12.0)
    assert config.jsonl is None and config.webhook is None and config.settings == type(config.settings)()

    # and back onto the page: the same list, the same rule
    request = _request("round-trip")
    out = dashboard.monitor_file.load(str(saved), False, request)
    assert camera_lines(out[CAMERAS]) == [CameraLine(c.name, c.source) for c in config.cameras]
    assert _rule(dashboard, request) == alert.rule


def test_a_loaded_file_saves_back_with_what_the_page_does_not_show(dashboard, tmp_path):
    request = _request("keep")
    out = dashboard.monitor_file.load(str(EXAMPLE), False, request)
    assert out[ACTIONS] == [] and "SitDown" in out[STATUS]  # the demo model's label: kept, not shown here
    file, _status = dashboard.monitor_file.save(
        out[CAMERAS], out[ACTIONS], out[THRESHOLD]["value"], out[DURATION]["value"], out[COOLDOWN], out[KEPT]
    )
    text = Path(file["value"]).read_text()
    original, saved = tomllib.loads(EXAMPLE.read_text()), tomllib.loads(text)
    assert saved["monitor"] == original["monitor"] and saved["outputs"] == original["outputs"]  # as written
    assert saved["camera"] == original["camera"] and saved["alert"] == original["alert"]
    (tmp_path / "cameras.toml").write_text(text)
    again, before = load_monitor_config(tmp_path / "cameras.toml"), load_monitor_config(EXAMPLE)
    assert again.alerts == before.alerts
    assert [(c.name, c.source, c.region, c.loop) for c in again.cameras] == [
        (c.name, c.source, c.region, c.loop) for c in before.cameras
    ]

    # a camera renamed on the page: the file's rule no longer names it, and says so
    renamed = out[CAMERAS].replace("front-door =", "porch =")
    file, status = dashboard.monitor_file.save(renamed, ["red"], 0.6, 2.0, 30, out[KEPT])
    saved = tomllib.loads(Path(file["value"]).read_text())
    assert saved["alert"][0]["cameras"] == ["demo-clip"] and saved["alert"][0]["actions"] == ["SitDown", "red"]
    assert "region" not in saved["camera"][0]  # the region was front-door's


@pytest.mark.parametrize(
    ("page", "error"),
    [
        ("", "no cameras"),
        ("a = rtsp://h/1\na = rtsp://h/2", "two cameras are named 'a'"),
        ("file:///etc/passwd", "camera 1 (cam1): file: URLs are no camera source"),
        ("rtsp://h:99999/x", "camera 1 (cam1): malformed URL"),
    ],
)
def test_save_refuses_what_the_monitor_would_not_take(dashboard, page, error):
    file, status = dashboard.monitor_file.save(page, [], 0.8, 2.0, 0, Kept())
    assert file["visible"] is False and status.startswith("**Not saved:**") and error in status


def test_save_refuses_a_bad_rule(dashboard):
    file, status = dashboard.monitor_file.save("rtsp://h/x", ["red"], 0.0, 2.0, 0, Kept())
    assert file["visible"] is False and "threshold" in status


def test_camera_lines_take_an_optional_name():
    lines = camera_lines("front-door = rtsp://u:p@h/x\n\n  http://h/x?a=b  \nc2=http://h/y\nmy clip.avi")
    assert lines == [
        CameraLine("front-door", "rtsp://u:p@h/x"),
        CameraLine(None, "http://h/x?a=b"),  # '=' in a URL is no name
        CameraLine("c2", "http://h/y"),
        CameraLine(None, "my clip.avi"),
    ]


def test_cameras_on_the_page_keep_apart_by_name(dashboard, color_clips):
    clip = color_clips["green"]
    gen = dashboard.cameras.run(f"cam2 = {clip}\n{clip}", _request("same-names"))
    table = next(gen)[0]
    gen.close()
    assert "| cam2 |" in table and "| cam2-2 |" in table  # two tiles, two names in alerts


def test_unnamed_cameras_get_free_names():
    text, _ = config_text(camera_lines("cam2 = rtsp://h/a\nrtsp://h/b"), AlertRule(), Kept())
    assert [c["name"] for c in tomllib.loads(text)["camera"]] == ["cam2", "cam3"]


def test_slider_updates_widen_only_for_values_off_the_slider():
    from dashboard.alerts_tab import DURATION_SLIDER, THRESHOLD_SLIDER

    assert slider_update(0.6, THRESHOLD_SLIDER) == gr.update(value=0.6)
    assert slider_update(0.02, THRESHOLD_SLIDER) == gr.update(value=0.02, minimum=0.02, maximum=1.0, step=0.01)
    assert slider_update(600.0, DURATION_SLIDER) == gr.update(value=600.0, minimum=0.0, maximum=600.0, step=0.1)


def test_dump_monitor_config_reads_back_equal(tmp_path):
    config = load_monitor_config(EXAMPLE)
    (tmp_path / "again.toml").write_text(dump_monitor_config(config))
    assert replace(load_monitor_config(tmp_path / "again.toml"), path=config.path) == config


def test_dump_toml_writes_what_tomllib_reads():
    data = {
        "s": 'quote " backslash \\ newline \n tab \t del \x7f nul \x00 é ☃',
        "n": [1, -2, 0.5, 1e-07, True, False],
        "odd key": "x",
        "t": {"empty": [], "sub": {"k": "v"}},
        "arr": [{"a": 1, "inner": {"b": 2}}, {}],
        "only_tables": {"x": {"y": 1}},
    }
    assert tomllib.loads(dump_toml(data)) == data


@pytest.mark.browser
def test_load_and_save_in_the_browser(tiny_bundle, color_clips, tmp_path):
    """The real page: a file uploaded with "Load monitor config" fills both tabs; "Save" offers the file back."""
    from browser import (
        DashboardApp,
        browser_unavailable_reason,
        launch_chromium,
        open_dashboard,
        wait_for_markdown,
    )

    if reason := browser_unavailable_reason():
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    config = tmp_path / "site.toml"
    config.write_text(
        '[[camera]]\nname = "shop"\nsource = "rtsp://cam.local:8554/live"\n\n'
        '[[alert]]\nname = "blue-alert"\nactions = ["blue"]\nthreshold = 0.65\nmin_duration_s = 1.5\ncooldown_s = 20\n'
    )
    temp = tmp_path / "temp"  # the app's temporary folders, to see that a stop (SIGTERM) removes the saved files
    temp.mkdir()
    app = DashboardApp(tiny_bundle, clips=[color_clips["red"].parent], log_dir=tmp_path, env={"TMPDIR": str(temp)})
    with app, sync_playwright() as pw:
        browser = launch_chromium(pw)
        page = open_dashboard(browser, app.url)
        page.get_by_role("tab", name="Cameras").click()
        with page.expect_file_chooser() as chooser:
            page.click("#cam-load")
        chooser.value.set_files(str(config))
        wait_for_markdown(page, "cam-file-status", "Loaded site.toml: 1 camera(s), alert rule blue-alert")
        assert page.locator("#cam-urls textarea").input_value() == "shop = rtsp://cam.local:8554/live"
        page.get_by_role("tab", name="Alerts").click()
        wait_for_markdown(page, "alert-rule", "Alerting on blue when held ≥ 0.65 for 1.5 s", "every 20 s")
        assert page.locator("#alert-cooldown input").input_value() == "20"
        page.get_by_role("tab", name="Cameras").click()
        page.click("#cam-save")
        wait_for_markdown(page, "cam-file-status", "Saved site.toml")
        link = page.locator("#cam-file a").first
        link.wait_for()
        saved = page.request.get(link.get_attribute("href")).text()
        assert list(temp.glob("actionstream-saved-*"))
        browser.close()
    assert tomllib.loads(saved)["camera"] == [{"name": "shop", "source": "rtsp://cam.local:8554/live"}]
    assert not list(temp.glob("actionstream-saved-*")), "the saved config's folder outlived the dashboard"
    assert tomllib.loads(saved)["alert"][0]["cooldown_s"] == 20
