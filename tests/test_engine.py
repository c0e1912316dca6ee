"""The engine end to end with a real (tiny) ONNX bundle and real video files."""

import logging
import threading

import numpy as np
import pytest
from rtsp_fixture import free_port
from tiny_bundle import COLORS_BGR, make_tiny_bundle, write_color_clip

from streaming.bundle import load_bundle
from streaming.engine import Engine, EngineConfig, Subscription
from streaming.errors import BundleError, SourceError
from streaming.events import Metrics, Prediction, SourceState, Status
from streaming.replay import offline_clip_probs
from streaming.sampler import stride_indices
from streaming.sources import TERMINAL_STATES, FileSource, NetworkSource, PushSource
from streaming.video import iter_frames

CPU = EngineConfig(device="cpu")


def run(bundle, sources, config=CPU):
    engine = Engine(bundle, config)
    try:
        events = list(engine.run_until_done(sources, duration_s=120))
    finally:
        engine.stop()
    return engine, events


def add_with_full_queues(engine, sources):
    """Add sources to a not yet started engine and wait until each has decoded a full queue ahead, so the
    worker's first step takes frames of every stream at once (deterministic batch composition)."""
    decoded = threading.Event()
    for source in sources:
        source.attach(decoded)
        engine.add_source(source)
    while not all(s.pending() == s.queue_frames or s.state in TERMINAL_STATES for s in sources):
        assert decoded.wait(30), "sources stopped decoding"
        decoded.clear()


def of(events, kind, stream=None):
    return [e for e in events if isinstance(e, kind) and (stream is None or e.stream == stream)]


def test_a_clip_warms_up_then_predicts_its_colour_every_hop(tiny_bundle, color_clips):
    engine, events = run(tiny_bundle, [FileSource(color_clips["blue"], realtime=False)])
    preds = of(events, Prediction)
    assert [p.label for p in preds] == ["blue"] * len(preds) and len(preds) == 4
    assert [round(p.t, 2) for p in preds] == [1.4, 2.4, 3.4, 3.8]  # every hop, and the last window at the end
    assert all(p.raw_label == "blue" and p.score > 0.9 and not p.partial for p in preds)
    assert preds[0].topk[0][0] == "blue" and len(preds[0].topk) == 3 and len(preds[0].probs) == 3
    assert all(p.latency_ms >= 0 for p in preds)
    first = events.index(preds[0])
    warmups = [e.warmup for e in of(events[:first], Status) if e.warmup is not None]
    assert warmups == sorted(warmups) and warmups[0] == 1 / 8 and max(warmups) < 1  # progress, not a guess
    assert isinstance(events[-1], Status) and events[-1].state == SourceState.ENDED
    assert events[-1].reason == "end of file"
    assert engine.latest_prediction("blue") == preds[-1] and engine.latest_frame("blue").t == pytest.approx(3.96)


def test_smoothed_label_follows_a_change_with_hysteresis(tiny_bundle, color_clips):
    _, events = run(tiny_bundle, [FileSource(color_clips["red_then_blue"], realtime=False)])
    preds = of(events, Prediction)
    raw = [p.raw_label for p in preds]
    shown = [p.label for p in preds]
    assert raw[0] == shown[0] == "red" and raw[-1] == shown[-1] == "blue"
    assert sum(a != b for a, b in zip(shown, shown[1:])) == 1  # one change, no flicker
    assert shown.index("blue") > raw.index("blue")  # the display waits for the new label to hold


def test_a_short_clip_gets_one_partial_prediction(tiny_bundle, color_clips):
    _, events = run(tiny_bundle, [FileSource(color_clips["short_green"], realtime=False)])
    preds = of(events, Prediction)
    assert len(preds) == 1 and preds[0].partial and preds[0].label == "green"
    assert events[-1].state == SourceState.ENDED  # said after the prediction


def test_streams_share_extractor_batches_without_changing_results(tiny_bundle, color_clips):
    names = ["red", "green", "blue"]
    engine = Engine(tiny_bundle, CPU)
    events = engine.events(duration_s=120)
    add_with_full_queues(engine, [FileSource(color_clips[name], realtime=False) for name in names])
    engine.start()
    events = list(events)
    engine.stop()
    assert engine.multi_stream_batches >= 1  # 3 × 20 due frames queued: steps take 32, one per stream in turn
    assert engine.extractor_calls < engine.extracted_frames == 3 * 20  # 4 s at 5 features/s each
    for name in names:
        preds = of(events, Prediction, name)
        assert [p.label for p in preds] == [name] * 4
        _, alone = run(tiny_bundle, [FileSource(color_clips[name], realtime=False)])
        assert np.allclose([p.probs for p in preds], [p.probs for p in of(alone, Prediction)], atol=1e-5)


def test_engine_matches_offline_extraction_on_real_ucf101_clips(tiny_bundle, ucf_mini):
    """All 8 real clips replayed at once: each stream ends cleanly and its windows equal training's path."""
    clips = sorted((ucf_mini / "UCF-101").rglob("*.avi"))
    engine = Engine(tiny_bundle, CPU)
    events = engine.events(duration_s=300)
    add_with_full_queues(engine, [FileSource(c, realtime=False) for c in clips])
    engine.start()
    events = list(events)
    engine.stop()
    assert engine.multi_stream_batches >= 1
    for clip in clips:
        ends = [e for e in of(events, Status, clip.stem) if e.state == SourceState.ENDED]
        assert len(ends) == 1 and ends[0].reason == "end of file"
        preds = of(events, Prediction, clip.stem)
        n = len(stride_indices([t for t, _ in iter_frames(clip)], 5.0))  # features of the whole clip
        assert len(preds) == (n - 8) // 5 + 1 + ((n - 8) % 5 > 0)  # at the 8th feature, every 5th, and the end
        offline = offline_clip_probs(engine, clip)  # training's evaluation: the same windows, no engine
        assert np.allclose([p.probs for p in preds], offline, atol=1e-4)


def test_push_source_through_the_engine(tiny_bundle):
    engine = Engine(tiny_bundle, CPU)
    source = PushSource("browser", queue_frames=128)  # pushed faster than real time: keep them all
    frame = np.zeros((120, 160, 3), np.uint8)
    frame[:] = COLORS_BGR["green"]
    with engine:
        events_it = engine.events(duration_s=60, stream_id="browser")  # subscribed from here on
        engine.add_source(source)
        for i in range(60):  # 2 s at 30 fps
            source.push(frame, t=i / 30)
        source.close()
        events = list(events_it)
    preds = of(events, Prediction)
    assert [p.label for p in preds] == ["green"] * 2  # 10 features, window 8: at the 8th and at the end
    assert [p.t for p in preds] == pytest.approx([1.4, 1.8])


def test_a_gap_in_stream_time_restarts_the_window(tiny_bundle):
    engine = Engine(tiny_bundle, CPU)
    source = PushSource("cam", queue_frames=128)
    red = np.full((64, 64, 3), COLORS_BGR["red"], np.uint8)
    with engine:
        events_it = engine.events(duration_s=60)
        engine.add_source(source)
        for i in range(50):
            source.push(red, t=i / 25)
        for i in range(50):
            source.push(red, t=10 + i / 25)  # 8 s later
        source.close()
        events = list(events_it)
    restarts = [e for e in of(events, Status) if "window restarted" in e.reason]
    # frames stop at 1.96 s and resume at 10 s; the last feature before the gap was at 1.8 s (5 features/s)
    assert len(restarts) == 1 and "gap of 8.2 s" in restarts[0].reason
    times = [p.t for p in of(events, Prediction)]
    assert times and not any(2.0 < t < 11.4 for t in times)  # no window joins both sides of the gap


def test_a_failing_source_does_not_stop_the_others(tiny_bundle, color_clips):
    dead = NetworkSource(f"rtsp://127.0.0.1:{free_port()}/x", name="dead", open_timeout_s=1.0)
    _, events = run(tiny_bundle, [dead, FileSource(color_clips["red"], realtime=False)])
    assert [e.state for e in of(events, Status, "dead")][-1] == SourceState.FAILED
    assert "cannot open" in of(events, Status, "dead")[-1].reason
    assert [p.label for p in of(events, Prediction, "red")] == ["red"] * 4


def test_a_truncated_file_predicts_what_it_has_and_says_it_was_cut(tiny_bundle, tmp_path):
    clip = write_color_clip(tmp_path / "whole.avi", [("blue", 6.0)])
    cut = tmp_path / "cut.avi"
    cut.write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])
    _, events = run(tiny_bundle, [FileSource(cut, realtime=False)])
    labels = [p.label for p in of(events, Prediction)]
    assert len(labels) >= 2 and set(labels) == {"blue"}  # what decoded before the cut
    assert events[-1].state == SourceState.ENDED and events[-1].reason.startswith("cut short")


def test_metrics_report_rates_timings_and_provider(tiny_bundle, color_clips):
    config = EngineConfig(device="cpu", metrics_every_s=0.5)
    _, events = run(tiny_bundle, [FileSource(color_clips["red"], realtime=True)], config)
    metrics = of(events, Metrics, "red")
    assert len(metrics) >= 2 and all(m.provider == "CPUExecutionProvider" for m in metrics)
    assert any(m.capture_fps > 0 and m.feature_fps > 0 and m.extractor_ms > 0 for m in metrics)
    assert any(np.isfinite(m.latency_p50_ms) and m.latency_p95_ms >= m.latency_p50_ms for m in metrics)
    # one real-time 25 fps stream of 64x64 frames keeps the worker far from capacity, but not idle
    assert all(0.0 <= m.load < 0.9 and not m.at_capacity for m in metrics) and any(m.load > 0 for m in metrics)


def test_slow_subscribers_lose_the_oldest_events_not_the_engine(tiny_bundle, color_clips):
    engine = Engine(tiny_bundle, CPU)
    slow = engine.subscribe(maxsize=2)
    _ = list(engine.run_until_done([FileSource(color_clips["green"], realtime=False)], duration_s=60))
    engine.stop()
    assert len(slow) == 2 and slow.dropped > 0
    last = [slow.get(timeout=0), slow.get(timeout=0)]
    assert last[-1].state == SourceState.ENDED and slow.get(timeout=0) is None and slow.closed


def test_int8_extractor_still_predicts_colours(tmp_path, color_clips):
    bundle = make_tiny_bundle(tmp_path / "int8", int8=True)
    engine, events = run(
        bundle, [FileSource(color_clips["red"], realtime=False)], EngineConfig(device="cpu", int8=True)
    )
    assert engine.extractor.role == "extractor_int8"
    assert [p.label for p in of(events, Prediction)] == ["red"] * 4


def test_stream_ids_are_unique_and_removable(tiny_bundle, color_clips):
    with Engine(tiny_bundle, CPU) as engine:
        engine.add_source(FileSource(color_clips["red"], name="cam"))
        with pytest.raises(SourceError, match="already running"):
            engine.add_source(FileSource(color_clips["blue"], name="cam"))
        sub = engine.subscribe("cam")
        engine.remove_source("cam")
        assert engine.stream_ids() == [] and engine.latest_frame("cam") is None
        with pytest.raises(SourceError, match="no stream named"):
            engine.remove_source("cam")
        said = [sub.get(timeout=0) for _ in range(len(sub))]
        assert isinstance(said[-1], Status) and said[-1].state == SourceState.ENDED and said[-1].reason == "removed"
    assert sub.closed  # stopping the engine closes every subscription


def test_bad_bundles_and_settings_stop_at_start(tmp_path, tiny_bundle, caplog):
    with pytest.raises(BundleError, match="no head.onnx"):
        Engine(make_tiny_bundle(tmp_path / "nohead", head=False))
    with pytest.raises(BundleError, match="bundle folder not found"):
        Engine(tmp_path / "nowhere")
    with pytest.raises(BundleError, match="no int8 extractor"):
        Engine(tiny_bundle, EngineConfig(device="cpu", int8=True))
    for bad in [
        dict(hop_s=0),
        dict(topk=0),
        dict(ema_alpha=0),
        dict(max_batch=0),
        dict(device="tpu"),
        dict(hold_s=-1),
        dict(threads=-1),
        dict(metrics_every_s=0),
    ]:
        with pytest.raises(ValueError):
            EngineConfig(**bad)
    with caplog.at_level(logging.WARNING, logger="actionstream"):
        Engine(make_tiny_bundle(tmp_path / "seg", mode="segments"), CPU)
    assert "segments" in caplog.text


def test_engine_accepts_a_loaded_bundle_and_a_hop(tiny_bundle, color_clips):
    engine, events = run(
        load_bundle(tiny_bundle),
        [FileSource(color_clips["red"], realtime=False)],
        EngineConfig(device="cpu", hop_s=0.4),
    )
    assert engine.hop == 2 and len(of(events, Prediction)) == 7  # features 8, 10, ..., 20


def test_subscription_blocks_get_with_timeout_and_closes():
    sub = Subscription(maxsize=1)
    assert sub.get(timeout=0.01) is None
    sub.close()
    assert sub.get() is None and list(sub) == []


def test_memory_stays_flat_over_a_long_stream(tiny_bundle, color_clips):
    """~8 minutes of stream time (12,000 frames, looped): Python-side memory does not grow with it."""
    import tracemalloc

    source = FileSource(color_clips["red_then_blue"], realtime=False, loop=True)
    engine = Engine(tiny_bundle, EngineConfig(device="cpu", metrics_every_s=0.2))
    sub = engine.subscribe(maxsize=64)  # a consumer that reads now and then: drops, never grows
    tracemalloc.start()
    try:
        with engine:
            engine.add_source(source)
            warm = False  # every code path has run once (first predictions, first metrics: lazy imports)
            while not (warm and source.captured >= 2000):
                warm = warm or isinstance(sub.get(timeout=5.0), Metrics)
            start = tracemalloc.get_traced_memory()[0]
            while source.captured < 12000:
                sub.get(timeout=5.0)
            end = tracemalloc.get_traced_memory()[0]
            pred = engine.latest_prediction(source.name)
    finally:
        tracemalloc.stop()
    assert pred is not None and pred.t > 400
    assert end - start < 200_000  # bytes; a leak of even 100 bytes per frame would show 1 MB here


def test_streaming_never_imports_tensorflow(tmp_path, tiny_bundle, color_clips):
    import subprocess
    import sys

    code = (
        "import sys; from pathlib import Path\n"
        "import streaming.cli, streaming.engine, streaming.replay, streaming.sources, streaming.demo\n"
        "from streaming.engine import Engine, EngineConfig\n"
        "from streaming.replay import ReplayClip, replay_report\n"
        f"e = Engine({str(tiny_bundle)!r}, EngineConfig(device='cpu'))\n"
        f"replay_report(e, [ReplayClip(Path({str(color_clips['red'])!r}), 'red')], progress=False)\n"
        "e.stop()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tf2onnx')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
