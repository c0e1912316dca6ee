"""Small real models and bundles shared by the export tests, built once per test session.

pytest session fixtures live per module unless they sit in a conftest; these builders memoise by name, so
every module's fixture gets the same bundle. Tests that change a bundle work on a copy (copy_bundle).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
#: Real UCF101 clips beside the repository (absent on a user's fresh clone: tests using it skip).
UCF_MINI = REPO.parent / "shared" / "data" / "ucf101-mini"
SMALL_SIZE = 32  # smallcnn input in tests: 4 pool blocks -> 2x2, 256-d features
WINDOW = 40
LABELS = ["Biking", "Punch", "PushUps"]

_BUILT: dict[str, Any] = {}


def shared(name: str, tmp_path_factory, build: Callable[[Path], Any]) -> Any:
    """build(path) once per session (path under pytest's base temp folder); later calls get its result."""
    if name not in _BUILT:
        path = tmp_path_factory.getbasetemp() / "shared" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            _BUILT[name] = build(path)
        except BaseException as exc:  # remembered, so a failed heavy export is not retried by every test
            _BUILT[name] = exc
            raise
    if isinstance(_BUILT[name], BaseException):
        raise RuntimeError(f"shared test artifact {name!r} failed to build earlier") from _BUILT[name]
    return _BUILT[name]


def copy_bundle(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def small_head(
    feature_size: int,
    classes: int = len(LABELS),
    units: int = 32,
    window: int = WINDOW,
    use_cudnn: bool | str = "auto",
    cell: str = "LSTM",
    seed: int = 0,
):
    """An LSTM (or GRU) head ending in softmax, as training builds them, but tiny; the same weights every run, so
    figures measured on it (int8 agreement, parity) do not change from run to run."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    rnn = getattr(layers, cell)(units, use_cudnn=use_cudnn, name="rnn")
    return keras.Sequential(
        [
            keras.Input((window, feature_size)),
            rnn,
            layers.Dropout(0.2),
            layers.Dense(classes, activation="softmax", name="probs"),
        ],
        name=f"{cell.lower()}_head",
    )


def smallcnn_bundle(path: Path):
    """(keras model, bundle path): smallcnn 32x32 with random weights (seeded: the same every run), exported
    in-process."""
    import keras

    from export.backbones import build_backbone
    from export.extractor_export import export_extractor
    from streaming.preprocess import FrameSpec

    keras.utils.set_random_seed(0)
    model = build_backbone("smallcnn", "none", SMALL_SIZE)
    export_extractor(
        model, path, FrameSpec(SMALL_SIZE, SMALL_SIZE), {"arch": "smallcnn", "weights": "none"}, "test smallcnn"
    )
    return model, path


def smallcnn_head_bundle(path: Path, tmp_path_factory):
    """(keras head, bundle path): the smallcnn bundle plus a 32-unit LSTM head trained nowhere (cuDNN flag on)."""
    from export.head_export import export_head
    from streaming.sampler import Sampling

    _, base = shared("smallcnn", tmp_path_factory, smallcnn_bundle)
    copy_bundle(base, path)
    head = small_head(256, use_cudnn=True)  # as a GPU-trained head would be: export must rebuild it
    export_head(head, path, LABELS, Sampling("stride", 10.0, WINDOW))
    return head, path


def inceptionv3_bundle(path: Path) -> Path:
    """InceptionV3 (weights none) exported ONCE per session, by the CLI in its own process (frees ~6 GB after)."""
    r = run_cli("backbone", "--arch", "inceptionv3", "--weights", "none", "--out", path)
    assert r.returncode == 0, r.stderr[-2000:]
    return path


def run_cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """`python -m export ARGS` in a fresh process, as a user runs it."""
    cmd = [sys.executable, "-m", "export", *map(str, args)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def flip_byte(path: Path, offset: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    i = len(data) // 2 if offset is None else offset
    data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def edit_manifest(bundle: Path, change: Callable[[dict], None]) -> None:
    m = json.loads((bundle / "manifest.json").read_text())
    change(m)
    (bundle / "manifest.json").write_text(json.dumps(m, indent=2))


def rehash(bundle: Path, role: str) -> None:
    """Make the manifest's hash match a file the test replaced on purpose."""
    from streaming.bundle import sha256_file

    edit_manifest(
        bundle, lambda m: m["files"][role].__setitem__("sha256", sha256_file(bundle / m["files"][role]["path"]))
    )


def write_clip(path: Path, frames: int = 60, size: tuple[int, int] = (160, 120), fps: float = 25.0) -> Path:
    """A real MJPG .avi with moving shapes, for tests that must not depend on ../shared."""
    import cv2

    w, h = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    assert writer.isOpened(), "OpenCV cannot write MJPG here"
    rng = np.random.default_rng(7)
    for i in range(frames):
        img = np.full((h, w, 3), (40 + i % 50, 90, 140), np.uint8)
        cv2.circle(img, (int(w * (i / frames)), h // 2), 18, (0, 200, 255), -1)
        cv2.rectangle(img, (10, 10 + i % 40), (50, 50 + i % 40), (255, 255, 255), -1)
        img = cv2.add(img, rng.integers(0, 20, img.shape, dtype=np.uint8))
        writer.write(img)
    writer.release()
    return path
