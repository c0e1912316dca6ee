"""The dashboard facing a hostile visitor (issue 14, section 2): a login page that tells nothing, failed logins
slowed per client, refused API inputs said in one line, no server paths, no example clip from outside --clips.

The real app runs in a subprocess on loopback (tests/browser.py's DashboardApp); plain HTTP requests do the rest.
"""

from __future__ import annotations

import http.client
import json
import os
import time
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

import pytest
from browser import DashboardApp
from tiny_bundle import write_color_clip

USER, PASSWORD = "admin", "s3cret"
SECRET_CLIP = "zz_private_recording"


@pytest.fixture(scope="module")
def clip_dirs(tmp_path_factory) -> tuple[Path, Path]:
    """A --clips folder with one clip and a symlink to a clip outside it."""
    root = tmp_path_factory.mktemp("security")
    clips, outside = root / "clips", root / "outside"
    write_color_clip(clips / f"{SECRET_CLIP}.avi", [("red", 2.0)])
    write_color_clip(outside / "elsewhere.avi", [("blue", 2.0)])
    os.symlink(outside / "elsewhere.avi", clips / "linked_out.avi")
    return clips, outside


@pytest.fixture(scope="module")
def locked(tiny_bundle, clip_dirs, tmp_path_factory):
    with DashboardApp(
        tiny_bundle,
        clips=[clip_dirs[0]],
        log_dir=tmp_path_factory.mktemp("locked"),
        extra_args=["--auth", f"{USER}:{PASSWORD}"],
    ) as app:
        yield app


def login(app: DashboardApp, password: str, source: str = "127.0.0.1") -> tuple[int, float, bytes]:
    """POST /login from `source` (any 127.x address reaches the loopback server): (status, seconds, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", app.port, timeout=120, source_address=(source, 0))
    body = urllib.parse.urlencode({"username": USER, "password": password})
    started = time.monotonic()
    conn.request("POST", "/login", body, {"Content-Type": "application/x-www-form-urlencoded"})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, time.monotonic() - started, data


def opener_logged_in(app: DashboardApp) -> urllib.request.OpenerDirector:
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
    data = urllib.parse.urlencode({"username": USER, "password": PASSWORD}).encode()
    with opener.open(app.url + "login", data=data, timeout=120) as r:
        assert r.status == 200
    return opener


def call_raw(app: DashboardApp, api_name: str, data_json: str) -> dict:
    """Gradio's two-step HTTP call with a hand-written JSON body (gradio_client cannot send NaN)."""
    opener = opener_logged_in(app)
    body = f'{{"data": {data_json}}}'.encode()
    request = urllib.request.Request(f"{app.url}gradio_api/call/{api_name}", body, {"Content-Type": "application/json"})
    with opener.open(request, timeout=60) as r:
        event_id = json.loads(r.read())["event_id"]
    with opener.open(f"{app.url}gradio_api/call/{api_name}/{event_id}", timeout=120) as r:
        lines = r.read().decode().splitlines()
    assert "event: complete" in lines, lines
    return json.loads(lines[lines.index("event: complete") + 1].removeprefix("data: "))[0]


def test_the_login_page_tells_nothing_about_the_app(locked):
    with urllib.request.urlopen(locked.url, timeout=60) as r:
        page = r.read().decode()
    assert '"auth_required":true' in page  # the login form
    assert SECRET_CLIP not in page and "classify" not in page and '"red"' not in page, page[-3000:]
    assert "window.gradio_api_info = {};" in page
    with opener_logged_in(locked).open(locked.url, timeout=60) as r:  # after a login, the whole app
        assert SECRET_CLIP in r.read().decode()


def test_failed_logins_are_slowed_per_client(locked):
    """Delays of 0.5, 1, 2 s after the third failure (counted from that failure: bounds below are loose)."""
    for _ in range(3):  # a few typos cost nothing
        status, _, _ = login(locked, "wrong")
        assert status == 400
    status, waited_4, _ = login(locked, "wrong")
    assert status == 400 and waited_4 >= 0.4
    status, waited_5, _ = login(locked, "wrong")
    assert status == 400 and waited_5 >= 0.8  # doubling
    status, other, _ = login(locked, "wrong", source="127.0.0.2")  # another client is not slowed
    assert status == 400 and other < waited_5
    status, waited_ok, _ = login(locked, PASSWORD)  # the right password waits its turn too
    assert status == 200 and waited_ok >= 1.5
    status, after, _ = login(locked, "wrong")  # a success forgets the failures
    assert status == 400 and after < waited_ok


def test_refused_api_inputs_are_one_clear_line(locked):
    from gradio_client import Client

    client = Client(locked.url, auth=(USER, PASSWORD), download_files=False, verbose=False)
    clip = f"clips/{SECRET_CLIP}.avi"
    for seconds, said in (("abc", "seconds must be a number"), ("-inf", "finite number")):
        answer = client.predict(clip, seconds, api_name="/classify")
        assert said in answer["error"] and "Traceback" not in answer["error"], answer
        assert answer["predictions"] == []
    answer = call_raw(locked, "classify", f'["{clip}", NaN]')  # a bare NaN, as Python's json writes it
    assert "finite number" in answer["error"] and answer["predictions"] == [], answer
    refused = client.predict("file:///etc/passwd", 3, api_name="/classify")
    assert "file:// URLs are refused" in refused["error"]
    for kind, example in (("bogus", None), ("Example clip", "../../etc/passwd")):  # forged picker values
        with pytest.raises(Exception, match="not in the list of choices"):
            client.predict(kind, example, None, None, api_name="/start")
    model = client.predict(api_name="/model")
    assert model["bundle"] == "tiny" and model["labels"] == ["red", "green", "blue"]
    time.sleep(0.5)
    log = "".join(locked.output)
    assert "Traceback" not in log, log[-3000:]
    assert log.count("classify refused: ") == 4, log[-3000:]
    assert log.count("refused input source-kind: ") == 1 and log.count("refused input example: ") == 1, log[-3000:]
    assert str(Path(os.sep)) + "tmp" not in json.dumps(model)


def test_a_symlink_out_of_the_clip_folders_is_not_an_example(locked, clip_dirs):
    from dashboard.source_policy import ClipFolders, check_source
    from streaming.errors import SourceError

    folders = ClipFolders([clip_dirs[0]])
    assert [p.name for p in folders.clips()] == [f"{SECRET_CLIP}.avi"]
    with pytest.raises(SourceError, match="refused"):
        check_source(str(clip_dirs[0] / "linked_out.avi"), folders)
    with opener_logged_in(locked).open(locked.url + "config", timeout=60) as r:
        config = r.read().decode()
    assert SECRET_CLIP in config and "linked_out" not in config
