"""Sources: files (paced and as fast as possible), push, cameras, network URLs; their states and reasons."""

import socket
import threading

import numpy as np
import pytest
from rtsp_fixture import free_port
from tiny_bundle import write_color_clip

from streaming.errors import SourceError
from streaming.events import SourceState
from streaming.sampler import stride_indices
from streaming.sources import (
    LIVE_QUEUE_FRAMES,
    REPLAY_QUEUE_BYTES,
    REPLAY_QUEUE_FRAMES,
    CameraSource,
    FileSource,
    NetworkSource,
    PushSource,
    open_source,
    safe_url,
)
from streaming.video import iter_frames

#: Generous bound for waits (never a timing assertion: only "did not hang").
WAIT_S = 30.0


def wait_state(source, states, timeout=WAIT_S):
    done = threading.Event()
    source.attach(done)
    while source.state not in states:
        if not done.wait(timeout):
            raise AssertionError(f"{source} never reached {states}")
        done.clear()
    return source.state


def drain(source):
    frames = []
    while not source.ended:
        frame = source.read(timeout=1.0)
        if frame is not None:
            frames.append(frame)
    return frames


def test_file_replay_delivers_every_frame_in_order(color_clips):
    expected = [t for t, _ in iter_frames(color_clips["red"])]
    source = FileSource(color_clips["red"], realtime=False)
    source.start()
    frames = drain(source)
    assert [f.t for f in frames] == expected and len(frames) == 100
    assert source.state == SourceState.ENDED and source.reason == "end of file"
    assert source.dropped == 0 and source.captured == 100
    states = [s.state for s in source.pop_statuses()]
    assert states == [SourceState.CONNECTING, SourceState.LIVE, SourceState.ENDED]
    assert frames[0].image.shape == (72, 96, 3) and frames[0].image.dtype == np.uint8


def test_sampling_in_the_capture_thread_queues_only_due_frames(color_clips):
    """sample_at(fps) queues exactly the frames training's stride sampling picks; the rest are seen, not queued."""
    times = [t for t, _ in iter_frames(color_clips["red"])]
    source = FileSource(color_clips["red"], realtime=False)
    source.sample_at(10.0)
    source.start()
    frames = drain(source)
    assert [f.t for f in frames] == [times[i] for i in stride_indices(times, 10.0)] and len(frames) == 40
    assert source.captured == 100 and source.dropped == 0 and source.latest.t == times[-1]


def test_a_sampled_live_queue_holds_seconds_of_due_frames_not_a_fraction_of_one(color_clips):
    """Nobody reads for the whole clip: a plain live queue keeps the last 4 frames (0.16 s at 25 fps), a sampled one
    the last 4 due frames (0.4 s at 10 features/s): a slow engine step loses fewer features."""
    plain, sampled = (
        FileSource(color_clips["red"], realtime=False, queue_frames=LIVE_QUEUE_FRAMES),
        FileSource(color_clips["red"], realtime=False, queue_frames=LIVE_QUEUE_FRAMES),
    )
    for source in (plain, sampled):
        source.drop_oldest = True
    sampled.sample_at(10.0)
    for source in (plain, sampled):
        source.start()
        wait_state(source, (SourceState.ENDED,))
    assert plain.dropped == 100 - LIVE_QUEUE_FRAMES and sampled.dropped == 40 - LIVE_QUEUE_FRAMES
    assert [round(f.t, 2) for f in drain(sampled)] == [3.6, 3.72, 3.8, 3.92]


def fill_queue(source):
    """Start a replay and wait until it has decoded a full queue ahead (or ended)."""
    woke = threading.Event()
    source.attach(woke)
    source.start()
    while (source.captured == 0 or source.pending() < source.queue_frames) and not source.ended:
        assert woke.wait(WAIT_S), f"{source} stopped decoding"
        woke.clear()


def test_replay_of_4k_video_queues_by_bytes_not_by_frame_count(tmp_path):
    import cv2

    clip, (w, h), n = tmp_path / "uhd.avi", (3840, 2160), 14
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (w, h))
    frame = np.zeros((h, w, 3), np.uint8)
    for i in range(n):
        frame[:, : (i + 1) * w // n] = (40, 90, 200)  # a growing bar: every frame differs
        writer.write(frame)
    writer.release()
    source = FileSource(clip, realtime=False)
    fill_queue(source)
    frame_bytes = w * h * 3
    assert source.queue_frames == REPLAY_QUEUE_BYTES // frame_bytes == 10  # not 64 frames (1.6 GB)
    assert source.pending() == 10 and source.state == SourceState.LIVE  # the decoder waits for the reader
    frames = drain(source)
    assert len(frames) == n and source.dropped == 0 and frames[0].image.shape == (h, w, 3)


def test_replay_of_small_frames_keeps_its_full_queue(color_clips):
    source = FileSource(color_clips["red"], realtime=False)
    fill_queue(source)
    assert source.queue_frames == source.pending() == REPLAY_QUEUE_FRAMES
    assert len(drain(source)) == 100 and source.dropped == 0


def test_real_time_file_drops_the_oldest_frames_for_a_slow_reader(color_clips):
    source = FileSource(color_clips["green"], realtime=True)
    source.start()
    wait_state(source, {SourceState.ENDED})  # nobody read: the queue stayed small and current
    assert source.pending() == LIVE_QUEUE_FRAMES
    assert source.dropped == source.captured - LIVE_QUEUE_FRAMES == 100 - LIVE_QUEUE_FRAMES
    frames = drain(source)
    assert [round(f.t, 2) for f in frames] == [3.84, 3.88, 3.92, 3.96]  # the newest ones
    assert all(frames[i].captured_at <= frames[i + 1].captured_at for i in range(3))


def test_looping_file_keeps_stream_time_increasing(color_clips):
    source = FileSource(color_clips["short_green"], realtime=False, loop=True)
    source.start()
    times = [source.read(timeout=WAIT_S).t for _ in range(40)]  # 15 frames per pass
    source.stop()
    assert all(b > a for a, b in zip(times, times[1:]))
    assert times[15] == pytest.approx(0.6) and source.state == SourceState.ENDED


def test_truncated_file_ends_with_a_clear_reason(tmp_path):
    clip = write_color_clip(tmp_path / "whole.avi", [("red", 3.0)])
    cut = tmp_path / "cut.avi"
    cut.write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])
    source = FileSource(cut, realtime=False)
    source.start()
    frames = drain(source)
    assert 20 < len(frames) < 75
    assert source.state == SourceState.ENDED
    assert source.reason.startswith("cut short") and "of 75 frames" in source.reason


def test_truncated_mp4_without_its_index_fails_with_a_clear_reason(tmp_path):
    clip = write_color_clip(tmp_path / "whole.mp4", [("red", 2.0)], codec="mp4v")
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])
    source = FileSource(cut, realtime=False)
    source.start()
    assert drain(source) == []
    assert source.state == SourceState.FAILED and "cannot be opened as a video" in source.reason


def test_a_file_that_is_not_a_video_fails_and_a_missing_one_is_refused(tmp_path):
    junk = tmp_path / "notes.avi"
    junk.write_text("not a video\n" * 100)
    source = FileSource(junk, realtime=False)
    source.start()
    wait_state(source, {SourceState.FAILED})
    assert str(junk) in source.reason
    with pytest.raises(SourceError, match="no such video file"):
        FileSource(tmp_path / "missing.mp4")
    with pytest.raises(SourceError, match="not a file"):
        FileSource(tmp_path)


def test_push_source_orders_refuses_and_drops():
    source = PushSource("webcam", queue_frames=3)
    source.start()
    assert source.state == SourceState.CONNECTING
    img = np.zeros((48, 64, 3), np.uint8)
    assert source.push(img, t=0.0) and source.state == SourceState.LIVE
    assert not source.push(img, t=0.0)  # time must move forward
    for k in range(1, 6):
        assert source.push(img + k, t=k / 10)
    assert source.dropped == 1 + 3  # one refused, three pushed out of a 3-frame queue
    with pytest.raises(ValueError):
        source.push(np.zeros((4, 4, 3), np.float32))
    source.close()
    assert not source.push(img, t=9.0)
    frames = drain(source)
    assert [f.t for f in frames] == [0.3, 0.4, 0.5] and int(frames[-1].image[0, 0, 0]) == 5
    assert source.ended and source.reason == "closed by the sender"


def test_push_source_gives_its_own_times_when_none_are_given():
    source = PushSource("browser")
    for _ in range(3):
        source.push(np.zeros((8, 8), np.uint8))  # grey frames are accepted too
    times = [source.read().t for _ in range(3)]
    assert times[0] == 0.0 and times[0] < times[1] < times[2]


def test_dead_url_fails_within_its_open_timeout():
    port = free_port()  # nothing listens there
    source = NetworkSource(f"rtsp://127.0.0.1:{port}/x", open_timeout_s=2.0)
    source.start()
    assert wait_state(source, {SourceState.FAILED, SourceState.ENDED}) == SourceState.FAILED
    assert source.reason.startswith(f"cannot open rtsp://127.0.0.1:{port}/x")
    assert [s.state for s in source.pop_statuses()] == [SourceState.CONNECTING, SourceState.FAILED]


def test_url_that_accepts_but_never_answers_fails_by_the_open_timeout():
    with socket.socket() as silent:  # the kernel accepts connections; nobody ever speaks RTSP
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        source = NetworkSource(f"rtsp://127.0.0.1:{silent.getsockname()[1]}/x", open_timeout_s=1.0)
        source.start()
        assert wait_state(source, {SourceState.FAILED, SourceState.ENDED}) == SourceState.FAILED
        assert "no answer within 1 s" in source.reason


def test_retry_first_open_keeps_trying_with_backoff():
    source = NetworkSource(
        f"rtsp://127.0.0.1:{free_port()}/x",
        open_timeout_s=1.0,
        backoff_initial_s=0.1,
        backoff_max_s=0.2,
        retry_first_open=True,
    )
    source.start()
    wait_state(source, {SourceState.RECONNECTING})
    assert "retry 1 in 0.1 s" in source.reason
    source.stop()
    assert source.state == SourceState.ENDED and source.reason == "stopped"


def test_missing_camera_fails_with_a_clear_reason():
    source = CameraSource(97)
    source.start()
    wait_state(source, {SourceState.FAILED})
    assert source.reason.startswith("camera 97 cannot be opened")


def test_open_source_understands_what_users_type(color_clips):
    assert isinstance(open_source(str(color_clips["red"])), FileSource)
    assert open_source(str(color_clips["red"])).name == "red"
    assert open_source(str(color_clips["red"]), realtime=False).drop_oldest is False
    cam = open_source("0")
    assert isinstance(cam, CameraSource) and cam.name == "camera0" and cam.index == 0
    net = open_source("rtsp://user:secret@10.1.2.3:8554/live/")
    assert isinstance(net, NetworkSource) and net.name == "10.1.2.3:8554/live"
    assert "secret" not in net._describe()
    assert open_source("https://example.org/cam.mjpg", name="door").name == "door"


def test_open_source_takes_an_existing_file_named_like_a_url_as_a_file(color_clips, tmp_path, monkeypatch):
    (tmp_path / "cam1:2024-05-01.avi").write_bytes(color_clips["red"].read_bytes())
    monkeypatch.chdir(tmp_path)
    source = open_source("cam1:2024-05-01.avi", realtime=False)
    assert isinstance(source, FileSource) and source.name == "cam1:2024-05-01"
    source.start()
    assert len(drain(source)) == 100 and source.reason == "end of file"
    with pytest.raises(SourceError, match="unsupported source scheme 'cam2'"):
        open_source("cam2:2024-05-01.avi")  # no such file: still a scheme nobody supports


@pytest.mark.parametrize(
    "spec,message",
    [
        ("file:///etc/passwd", "unsupported source scheme 'file'"),
        ("ftp://host/x.avi", "unsupported source scheme 'ftp'"),
        ("rtsp:///nohost", "malformed URL"),
        ("/no/such/clip.mp4", "no such video file"),
        ("", "empty source"),
    ],
)
def test_open_source_refuses_bad_specs_in_one_line(spec, message):
    with pytest.raises(SourceError, match=message) as err:
        open_source(spec)
    assert "\n" not in str(err.value)


def test_safe_url_hides_passwords():
    assert safe_url("rtsp://admin:hunter2@cam:554/s") == "rtsp://***@cam:554/s"
    assert safe_url("rtsp://cam/s") == "rtsp://cam/s"
