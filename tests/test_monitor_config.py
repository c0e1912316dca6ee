"""The monitor's TOML config: a good file parses; typos and bad values are refused with file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from streaming.monitor_config import ConfigError, key_lines, load_monitor_config

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "cameras.toml"

GOOD = """\
[monitor]
hop_s = 0.5
status_interval_s = 5

[[camera]]
name = "door"
source = "rtsp://user:pw@127.0.0.1:8554/door"
region = [0.1, 0.2, 0.9, 1.0]
record_dir = "videos"

[[camera]]
name = "clip"
source = "clip.avi"
loop = true

[[alert]]
name = "red-alert"
actions = ["red"]
threshold = 0.7
min_duration_s = 1.5
cooldown_s = 10
cameras = ["clip"]

[outputs.jsonl]
path = "out/events.jsonl"
max_bytes = 5000

[outputs.webhook]
url = "http://127.0.0.1:9/hook"
token = "t0ken"
hmac_secret_env = "TEST_MONITOR_SECRET"

[outputs.mqtt]
port = 1884
home_assistant = true

[outputs.clips]
dir = "clips"
pre_s = 2
post_s = 1
format = "avi"
"""


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "clip.avi").write_bytes(b"not checked until opened")
    path = tmp_path / "cameras.toml"
    path.write_text(text)
    return path


def line_of(text: str, needle: str, last: bool = False) -> int:
    lines = [no for no, line in enumerate(text.splitlines(), 1) if needle in line]
    return lines[-1] if last else lines[0]


def refused(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_monitor_config(write(tmp_path, text))
    message = str(info.value)
    assert "\n" not in message  # one line
    return message


def test_a_good_file_parses_into_dataclasses(tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_MONITOR_SECRET", "s3cret")
    config = load_monitor_config(write(tmp_path, GOOD))
    door, clip = config.cameras
    assert door.name == "door" and door.source.startswith("rtsp://") and door.region.x0 == 0.1
    assert door.record_dir == tmp_path / "videos"  # relative to the config file
    assert clip.source == str(tmp_path / "clip.avi") and clip.loop
    (alert,) = config.alerts
    assert alert.rule.actions == {"red"} and alert.rule.cooldown_s == 10 and alert.applies_to("clip")
    assert not alert.applies_to("door")
    assert config.settings.hop_s == 0.5 and config.settings.device == "auto"
    assert config.jsonl.path == tmp_path / "out" / "events.jsonl" and config.jsonl.max_bytes == 5000
    assert config.webhook.token == "t0ken" and config.webhook.hmac_secret == "s3cret"
    assert config.mqtt.port == 1884 and config.mqtt.home_assistant and config.mqtt.host == "127.0.0.1"
    assert config.clips.format == "avi" and config.clips.pre_s == 2.0


def test_the_documented_example_parses(monkeypatch):
    monkeypatch.setenv("ACTIONSTREAM_WEBHOOK_TOKEN", "x")
    config = load_monitor_config(EXAMPLE)
    assert [c.name for c in config.cameras] == ["front-door", "garage", "demo-clip"]
    assert config.webhook and config.mqtt and config.clips and config.jsonl and config.alerts


def test_an_unknown_key_is_refused_with_file_line_and_key(tmp_path):
    text = GOOD.replace("loop = true", "loop = true\nregoin = [0, 0, 1, 1]")
    msg = refused(tmp_path, text)
    assert msg.startswith(f"{tmp_path / 'cameras.toml'}:{line_of(text, 'regoin')}: camera[1].regoin: unknown key")
    assert "region" in msg  # the known keys are listed


def test_an_unknown_key_in_an_output_table_names_it(tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_MONITOR_SECRET", "s")
    text = GOOD.replace("port = 1884", "port = 1884\nhots = 'x'")
    assert f":{line_of(text, 'hots')}: outputs.mqtt.hots: unknown key" in refused(tmp_path, text)
    text = GOOD + "\n[outputs.sms]\nto = 1\n"
    assert f":{line_of(text, '[outputs.sms]')}: outputs.sms: unknown key" in refused(tmp_path, text)


@pytest.mark.parametrize(
    ("old", "new", "where", "says"),
    [
        ("threshold = 0.7", "threshold = 1.7", "alert[0].threshold", "must be > 0 and <= 1"),
        ("hop_s = 0.5", 'hop_s = "fast"', "monitor.hop_s", "must be a number"),
        ("region = [0.1, 0.2, 0.9, 1.0]", "region = [0.9, 0.2, 0.1, 1.0]", "camera[0].region", "x0 < x1"),
        ("region = [0.1, 0.2, 0.9, 1.0]", "region = [0.1, 0.2]", "camera[0].region", "[x0, y0, x1, y1]"),
        ('name = "door"', 'name = "front door"', "camera[0].name", "letters, digits"),
        ('name = "clip"', 'name = "door"', "camera[1].name", "already named"),
        ('cameras = ["clip"]', 'cameras = ["nope"]', "alert[0].cameras", "no camera named 'nope'"),
        ("loop = true", "loop = 1", "camera[1].loop", "true or false"),
        ('format = "avi"', 'format = "gif"', "outputs.clips.format", "mp4, avi"),
        ("max_bytes = 5000", "max_bytes = 5000.5", "outputs.jsonl.max_bytes", "whole number"),
        ('url = "http://127.0.0.1:9/hook"', 'url = "ftp://x/hook"', "outputs.webhook.url", "http"),
        ("[outputs.clips]\n", "[outputs.clips]\nevents = ['alerts']\n", "outputs.clips.events", "unknown"),
    ],
)
def test_bad_values_are_refused_with_file_line_and_key(tmp_path, monkeypatch, old, new, where, says):
    monkeypatch.setenv("TEST_MONITOR_SECRET", "s")
    assert old in GOOD
    text = GOOD.replace(old, new, 1)
    line = line_of(text, new.strip().splitlines()[-1], last=True)
    msg = refused(tmp_path, text)
    assert f"cameras.toml:{line}: {where}:" in msg and says in msg, msg


@pytest.mark.parametrize(
    ("source", "says"),
    [
        ("ftp://cam/stream", "unsupported scheme 'ftp'"),
        ("rtsp:///stream", "no host"),
        ("rtsp://cam:99999/stream", "malformed URL"),
        ("missing.mp4", "no such video file"),
        ("", "is empty"),
    ],
)
def test_a_bad_camera_source_is_refused_with_line_and_key(tmp_path, monkeypatch, source, says):
    monkeypatch.setenv("TEST_MONITOR_SECRET", "s")
    msg = refused(tmp_path, GOOD.replace('source = "clip.avi"', f'source = "{source}"'))
    assert f"cameras.toml:{line_of(GOOD, 'clip.avi')}: camera[1].source:" in msg and says in msg, msg


def test_a_password_in_a_refused_url_is_not_shown(tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_MONITOR_SECRET", "s")
    msg = refused(tmp_path, GOOD.replace("rtsp://user:pw@", "gopher://user:pw@"))
    assert "pw" not in msg and "***@" in msg


def test_missing_secret_env_and_missing_cameras_and_bad_toml(tmp_path, monkeypatch):
    monkeypatch.delenv("TEST_MONITOR_SECRET", raising=False)
    assert "outputs.webhook.hmac_secret_env: environment variable TEST_MONITOR_SECRET is not set" in refused(
        tmp_path, GOOD
    )
    assert "no cameras" in refused(tmp_path, "[monitor]\nhop_s = 1\n")
    msg = refused(tmp_path, "[[camera]]\nname = 'a'\nsource = \n")
    assert "cameras.toml:3: not valid TOML" in msg
    assert "no such config file" in str(pytest.raises(ConfigError, load_monitor_config, tmp_path / "none.toml").value)


def test_key_lines_follow_tables_arrays_and_skip_multiline_strings():
    text = '[a]\nx = 1\ns = """\ny = 2\n"""\n[[cam]]\nn = 1\n[[cam]]\nn = 2\n[o.w]\nurl = 3\n'
    lines = key_lines(text)
    assert lines[("a", "x")] == 2 and ("a", "y") not in lines
    assert lines[("cam", 0, "n")] == 7 and lines[("cam", 1, "n")] == 9 and lines[("o", "w", "url")] == 11


def test_an_unparseable_url_is_one_config_error(tmp_path):
    from streaming.monitor_config import ConfigError, load_monitor_config

    path = tmp_path / "bad.toml"
    path.write_text('[[camera]]\nname = "a"\nsource = "rtsp://user:pw@[::1/x"\n')
    with pytest.raises(ConfigError) as err:
        load_monitor_config(path)
    assert "bad.toml:3" in str(err.value) and "not a valid URL" in str(err.value) and "pw" not in str(err.value)
