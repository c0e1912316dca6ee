"""The engine, the CLI and training extraction with a pose bundle (real BlazePose ONNX models, real clips).

The bundle is built here from the pose models (the committed models/pose when present, else .cache/pose) and a
test head that echoes its window: the head's output is the
window's features, flattened, so every prediction's `probs` *is* the window the engine classified, and the live
engine's features can be compared with the offline ones row by row. Skips when the models or the clips are absent.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper
from tiny_bundle import make_tiny_bundle, write_color_clip

from streaming.bundle import Manifest, OnnxFile, bundle_writer, load_bundle, sha256_file, write_manifest
from streaming.clip_features import extract_clip
from streaming.clip_sampling import clip_windows
from streaming.engine import Engine, EngineConfig
from streaming.errors import BundleError
from streaming.events import Prediction, Status
from streaming.extractor import BundlePoseExtractor, Extractor, FrameBatch, open_extractor
from streaming.pose_extractor import PoseTrack
from streaming.pose_spec import PoseSpec
from streaming.preprocess import FrameSpec
from streaming.sampler import Sampling
from streaming.sources import TERMINAL_STATES, FileSource
from training.features import FeatureCache, extract_dataset

REPO = Path(__file__).resolve().parents[1]
POSE_BUNDLE = REPO / "models" / "pose"
POSE_FILES = ("pose_detector.onnx", "pose_landmarks.onnx")
#: Where the pose models are read from: the committed bundle, else the export cache.
POSE_DIR = next((d for d in (POSE_BUNDLE, REPO / ".cache/pose") if all((d / f).is_file() for f in POSE_FILES)), None)
WINDOW, RATE, DIM = 8, 5.0, PoseSpec().feature_size
CPU = EngineConfig(device="cpu", threads=2)
#: Real clips with one clear person in most frames (of the 8 in ucf101-mini).
PERSON_CLIPS = ("PushUps", "BaseballPitch")


def echo_head(window: int, dim: int) -> onnx.ModelProto:
    """(B, window, dim) -> (B, window*dim): the window itself, as the 'class scores'."""
    graph = helper.make_graph(
        [helper.make_node("Flatten", ["features"], ["probs"], axis=1)],
        "echo_head",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["B", window, dim])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["B", window * dim])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model)
    return model


def _onnx_file(path: Path) -> OnnxFile:
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return OnnxFile(path.name, sha256_file(path), sess.get_inputs()[0].name, sess.get_outputs()[0].name)


def make_pose_bundle(out: Path, head: bool = True) -> Path:
    """A pose bundle (extractor_kind "pose") from the models in POSE_DIR, with the echo head (window 8, 5/s)."""
    pose = PoseSpec().to_dict()
    if (POSE_DIR / "manifest.json").is_file():
        pose = load_bundle(POSE_DIR).manifest.pose  # the committed bundle's own settings
    with bundle_writer(out) as tmp:
        files = {}
        for role in ("pose_detector", "pose_landmarks"):
            shutil.copy(POSE_DIR / f"{role}.onnx", tmp / f"{role}.onnx")
            files[role] = _onnx_file(tmp / f"{role}.onnx")
        labels = []
        if head:
            onnx.save(echo_head(WINDOW, DIM), tmp / "head.onnx")
            files["head"] = _onnx_file(tmp / "head.onnx")
            labels = [f"f{i}" for i in range(WINDOW * DIM)]
        write_manifest(
            tmp,
            Manifest(
                feature_size=DIM,
                frame=FrameSpec(),
                files=files,
                labels=labels,
                sampling=Sampling("stride", RATE, WINDOW),
                extractor_kind="pose",
                pose=pose,
                description="test pose bundle with an echo head",
            ),
        )
    return out


@pytest.fixture(scope="module")
def pose_bundle(tmp_path_factory) -> Path:
    if POSE_DIR is None:
        pytest.skip(f"BlazePose ONNX models ({', '.join(POSE_FILES)}) found neither in models/pose nor .cache/pose")
    return make_pose_bundle(tmp_path_factory.mktemp("pose") / "bundle")


@pytest.fixture(scope="module")
def person_clips(ucf_mini) -> list[Path]:
    clips = [next((ucf_mini / "UCF-101" / name).glob("*.avi"), None) for name in PERSON_CLIPS]
    if None in clips:
        pytest.skip(f"person clips {PERSON_CLIPS} not all in {ucf_mini}")
    return clips


@pytest.fixture(scope="module")
def empty_clip(tmp_path_factory) -> Path:
    """3 s of solid red: nobody in it."""
    return write_color_clip(tmp_path_factory.mktemp("empty") / "empty.avi", [("red", 3.0)])


def run_engine(bundle, sources, together: bool = False) -> tuple[Engine, list]:
    """Run sources to their end. `together`: wait until every source has a full queue before the worker starts,
    so its steps batch frames of all streams."""
    engine = Engine(bundle, CPU)
    try:
        events_it = engine.events(duration_s=300)
        if together:
            decoded = threading.Event()
            for s in sources:
                s.attach(decoded)
                engine.add_source(s)
            while not all(s.pending() == s.queue_frames or s.state in TERMINAL_STATES for s in sources):
                assert decoded.wait(30), "sources stopped decoding"
                decoded.clear()
            engine.start()
        else:
            engine.start()
            for s in sources:
                engine.add_source(s)
        events = list(events_it)
    finally:
        engine.stop()
    return engine, events


def preds(events, stream=None) -> list[Prediction]:
    return [e for e in events if isinstance(e, Prediction) and (stream is None or e.stream == stream)]


def windows(predictions: list[Prediction]) -> list[np.ndarray | None]:
    """The window (8 x 40) each prediction classified, or None for "no person in view"."""
    return [np.asarray(p.probs, np.float32).reshape(WINDOW, DIM) if p.probs else None for p in predictions]


# --- the extractor interface ----------------------------------------------------------------------------------


def test_open_extractor_gives_one_interface_for_both_kinds(pose_bundle, tiny_bundle, tmp_path):
    pose = open_extractor(load_bundle(pose_bundle), device="cpu", threads=2)
    cnn = open_extractor(load_bundle(tiny_bundle), device="cpu")
    assert isinstance(pose, BundlePoseExtractor) and isinstance(cnn, Extractor)
    assert (pose.kind, pose.finds_people, pose.feature_size) == ("pose", True, DIM)
    assert (cnn.kind, cnn.finds_people, cnn.feature_size) == ("cnn", False, 16)
    assert isinstance(pose.new_state(), PoseTrack) and cnn.new_state() is None
    frames = [np.full((72, 96, 3), 40, np.uint8)] * 2
    for ex in (pose, cnn):
        r = ex.extract(frames, [ex.new_state(), ex.new_state()])
        assert r.features.shape == (2, ex.feature_size) and r.persons == [None, None]
        assert ex.provider == "CPUExecutionProvider"
    # int8 exists for cnn extractors only: asking for it with a pose bundle is one clear error
    with pytest.raises(BundleError, match="pose bundle has no int8 extractor"):
        open_extractor(load_bundle(pose_bundle), int8=True)
    with pytest.raises(BundleError, match="pose bundle has no int8 extractor"):
        Engine(pose_bundle, EngineConfig(device="cpu", int8=True))
    with pytest.raises(BundleError, match="no head.onnx"):
        Engine(make_pose_bundle(tmp_path / "nohead", head=False), CPU)
    if (POSE_BUNDLE / "manifest.json").is_file():  # the committed pose bundle opens the same way
        committed = open_extractor(load_bundle(POSE_BUNDLE), device="cpu", threads=2)
        assert committed.kind == "pose" and committed.feature_size == load_bundle(POSE_BUNDLE).manifest.feature_size


def test_frame_batch_takes_one_frame_per_stateful_stream(pose_bundle, tiny_bundle):
    pose = open_extractor(load_bundle(pose_bundle), device="cpu", threads=2)
    a, b = pose.new_state(), pose.new_state()
    batch = FrameBatch(pose, size=4)
    frame = np.zeros((72, 96, 3), np.uint8)
    batch.add(frame, a, "a1")
    assert batch.room_for(b) and not batch.room_for(a)
    batch.add(frame, b, "b1")
    tags, result = batch.run()
    assert tags == ["a1", "b1"] and result.features.shape == (2, DIM) and len(batch) == 0
    cnn = FrameBatch(open_extractor(load_bundle(tiny_bundle), device="cpu"), size=2)
    cnn.add(frame)
    assert cnn.room_for(None)
    cnn.add(frame)
    assert not cnn.room_for(None) and cnn.full
    assert cnn.run()[1].features.shape == (2, 16)


# --- the engine -----------------------------------------------------------------------------------------------


def test_engine_features_equal_offline_and_training_features_on_a_real_clip(pose_bundle, person_clips, tmp_path):
    clip = person_clips[0]
    bundle = load_bundle(pose_bundle)
    engine, events = run_engine(bundle, [FileSource(clip, realtime=False)])
    got = preds(events)
    assert not [e for e in events if isinstance(e, Status) and "window restarted" in e.reason]
    offline = extract_clip(clip, engine.extractor, bundle.manifest.sampling)
    expected = clip_windows(offline.feats, bundle.manifest.sampling, hop=engine.hop)
    assert len(got) == len(expected) >= 3
    seen = [p for p in got if p.person]
    assert len(seen) >= 0.8 * len(got)  # a person in the newest frame of most windows
    for p, w, e in zip(got, windows(got), expected):
        assert p.person is not None
        if w is None:
            assert p.person is False and e[-1, -1] == 0.0  # presence flag 0: nobody in the newest frame
        else:
            np.testing.assert_allclose(w, e, atol=1e-5)
            x0, y0, x1, y1 = p.box
            assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1
    person = engine.latest_person(clip.stem)
    assert person is None or person.landmarks.shape == (13, 3)
    # training's dataset extraction: the same rows, a cache folder of its own, resumable
    cache = tmp_path / "cache"
    spec = bundle.manifest.sampling
    res = extract_dataset([clip, person_clips[1]], bundle, spec, cache, device="cpu", progress=False)
    np.testing.assert_array_equal(res.features[str(clip)].times, offline.times)
    np.testing.assert_allclose(res.features[str(clip)].feats, offline.feats, atol=1e-5)
    again = extract_dataset([clip], bundle, spec, cache, device="cpu", progress=False)
    assert (again.computed, again.cached, again.frames) == (0, 1, 0)
    dirs = [p.name for p in cache.iterdir()]
    assert len(dirs) == 1 and dirs[0].startswith("pose-")


def test_two_streams_batched_give_the_same_features_as_each_alone(pose_bundle, person_clips):
    engine, together = run_engine(pose_bundle, [FileSource(c, realtime=False) for c in person_clips], together=True)
    assert engine.multi_stream_batches >= 1
    assert engine.extractor_calls < engine.extracted_frames  # frames of both streams shared calls
    for clip in person_clips:
        _, alone = run_engine(pose_bundle, [FileSource(clip, realtime=False)])
        a, b = preds(together, clip.stem), preds(alone)
        assert [p.person for p in a] == [p.person for p in b] and len(a) >= 3
        for wa, wb in zip(windows(a), windows(b)):
            if wa is not None:
                np.testing.assert_allclose(wa, wb, atol=1e-4)


def test_a_clip_with_nobody_says_no_person_and_no_label(pose_bundle, empty_clip):
    engine, events = run_engine(pose_bundle, [FileSource(empty_clip, realtime=False)])
    got = preds(events)
    assert len(got) == 3  # 15 features, window 8, hop 5: at 8, 13 and the end
    for p in got:
        assert p.person is False and p.box is None and p.no_person
        assert p.label == p.raw_label == "" and p.topk == [] and p.probs == []
        d = p.to_dict()
        assert d["person"] is False and d["box"] is None
    assert engine.head_calls == 0  # nothing was classified
    assert engine.latest_person(empty_clip.stem) is None


def test_cnn_predictions_say_nothing_about_people(tiny_bundle, color_clips):
    _, events = run_engine(tiny_bundle, [FileSource(color_clips["red"], realtime=False)])
    assert all(p.person is None and p.box is None and p.label == "red" for p in preds(events))
    assert preds(events)[0].to_dict()["person"] is None


def test_cache_keeps_cnn_and_pose_features_apart(pose_bundle, tmp_path):
    cnn = load_bundle(make_tiny_bundle(tmp_path / "cnn"))
    pose = load_bundle(pose_bundle)
    a, b = FeatureCache(tmp_path, cnn, Sampling()), FeatureCache(tmp_path, pose, Sampling())
    assert a.dir != b.dir and b.dir.name.startswith("pose-") and not a.dir.name.startswith("pose-")
    with pytest.raises(BundleError, match="no int8 extractor"):
        FeatureCache(tmp_path, pose, Sampling(), int8=True)


# --- the CLI --------------------------------------------------------------------------------------------------


def test_cli_prints_person_and_box_or_no_person_in_view(pose_bundle, person_clips, empty_clip):
    args = ["run", "--bundle", pose_bundle, "--source", person_clips[0], "--source", empty_clip, "--fast"]
    args += ["--device", "cpu", "--threads", "2", "--no-metrics"]

    def cli(*extra):
        out = subprocess.run(
            [sys.executable, "-m", "streaming", *map(str, args), *extra],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert out.returncode == 0, out.stderr[-2000:]
        return out.stdout.splitlines()

    lines = [json.loads(line) for line in cli("--jsonl")]
    got = [d for d in lines if d["type"] == "prediction"]
    person = [d for d in got if d["stream"] == person_clips[0].stem]
    empty = [d for d in got if d["stream"] == empty_clip.stem]
    assert empty and all(d["person"] is False and d["box"] is None and d["label"] == "" for d in empty)
    assert person and any(d["person"] is True and len(d["box"]) == 4 for d in person)
    text = cli()
    nobody = [line for line in text if empty_clip.stem in line and "s  " in line and "latency" in line]
    assert nobody and all("no person in view" in line for line in nobody)
