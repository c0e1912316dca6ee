"""The models the benchmarks time, exported once with the project's own exporter and cached.

Exporting InceptionV3 takes ~6 GB of RAM and an LSTM-2048 head ~10 GB, so each export runs in a fresh child
process (its memory is returned when it exits), one at a time, and is not repeated while the cache key holds.
The key covers the export stack's versions and the source of export/ and training/models.py, so a changed
exporter or library produces new files instead of timing stale ones. Weights are random (`--weights none`):
the time a network takes does not depend on its weights.

    cache = ArtifactCache.default()
    bundle = cache.extractor_bundle("inceptionv3", None, calibration=clips_folder)   # fp32 + int8 extractor
    heads = cache.head_bundle(bundle, units=2048, classes=101)                      # + head, head_int8
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import re
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from bench.machine import versions
from streaming.atomic import atomic_dir
from streaming.bundle import MANIFEST, Bundle, load_bundle
from streaming.errors import BundleError

REPO = Path(__file__).resolve().parents[1]
#: Sources whose change must invalidate cached exports.
KEYED_SOURCES = ("export/*.py", "training/models.py")
KEYED_VERSIONS = ("tensorflow", "keras", "tf2onnx", "onnx", "onnxruntime-gpu", "onnxruntime")
WINDOW = 40
FEATURE_FPS = 10.0


def cache_key() -> str:
    h = hashlib.sha256()
    v = versions()
    h.update(json.dumps({k: v.get(k, "") for k in KEYED_VERSIONS}, sort_keys=True).encode())
    for pattern in KEYED_SOURCES:
        for path in sorted(REPO.glob(pattern)):
            h.update(path.name.encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:12]


def run_isolated(fn: Callable, *args) -> object:
    """Run `fn(*args)` in a fresh spawned process and return its result; its exceptions propagate here."""
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        return pool.submit(fn, *args).result()


def _quiet_tensorflow() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _build_extractor(arch: str, input_size: int | None, calibration: str, calib_frames: int, out: str) -> None:
    _quiet_tensorflow()
    import keras

    from export.extractor_export import export_backbone
    from export.quantize import quantize_extractor

    keras.utils.set_random_seed(0)  # random weights, but the same ones each run: int8 parity is then repeatable
    export_backbone(arch, "none", Path(out), input_size=input_size)
    # the bench judges the int8 cosine itself (a verdict in the extractor section); random small CNNs quantize
    # worse than trained ones, so the export must not refuse here
    quantize_extractor(Path(out), Path(calibration), max_frames=calib_frames, min_cosine=0.0)


def _build_head(bundle_dir: str, units: int, classes: int, window: int) -> None:
    _quiet_tensorflow()
    from export.head_export import export_head
    from export.quantize import quantize_head_dynamic
    from streaming.sampler import Sampling
    from training.models import build_head

    bundle = load_bundle(bundle_dir)
    model = build_head("lstm", window=window, feature_size=bundle.manifest.feature_size, classes=classes, units=units)
    export_head(
        model,
        Path(bundle_dir),
        labels=[f"class_{i:03d}" for i in range(classes)],
        sampling=Sampling("stride", FEATURE_FPS, window),
        description=f"benchmark: random LSTM-{units} head (timing only)",
    )
    del model
    quantize_head_dynamic(Path(bundle_dir), max_abs_diff=1.0, min_top1=0.0)  # timing only: random weights


@dataclass(frozen=True)
class ArtifactCache:
    """Cached exports for one key (library versions + exporter source)."""

    root: Path

    @classmethod
    def default(cls, base: Path | None = None) -> "ArtifactCache":
        base = REPO / ".cache" / "bench" if base is None else Path(base)
        return cls(base / cache_key())

    def prune_stale(self) -> list[Path]:
        """Delete exports made under other keys (older versions or exporter source): they are never read again."""
        removed = []
        if not self.root.parent.is_dir():
            return removed
        for other in self.root.parent.iterdir():
            if other != self.root and other.is_dir() and re.fullmatch(r"[0-9a-f]{12}", other.name):
                shutil.rmtree(other, ignore_errors=True)
                removed.append(other)
        return removed

    @staticmethod
    def _log(text: str) -> None:
        print(f"[bench] {text}", flush=True)

    def extractor_bundle(self, arch: str, input_size: int | None, calibration: Path, calib_frames: int = 200) -> Bundle:
        """A bundle with fp32 and int8 extractors for `arch`, int8 calibrated on `calibration` (file or folder)."""
        out = self.root / f"{arch}-{input_size or 'default'}-calib{calib_frames}"
        bundle = self._try_load(out, ("extractor", "extractor_int8"))
        if bundle is None:
            self._log(f"exporting {arch} (weights none) + int8 quantization -> {out} (once; cached)")
            t0 = time.perf_counter()
            run_isolated(_build_extractor, arch, input_size, str(calibration), calib_frames, str(out))
            self._log(f"exported {arch} in {time.perf_counter() - t0:.0f} s")
            bundle = load_bundle(out)
        return bundle

    def head_bundle(self, extractor: Bundle, units: int, classes: int, window: int = WINDOW) -> Bundle:
        """`extractor`'s bundle plus a random LSTM-`units` head (head.onnx) and its dynamic int8 (head.int8.onnx)."""
        out = self.root / f"{extractor.root.name}-lstm{units}-c{classes}-w{window}"
        bundle = self._try_load(out, ("extractor", "extractor_int8", "head", "head_int8"))
        if bundle is None:
            self._log(f"exporting LSTM-{units} head + int8 -> {out} (once; cached)")
            t0 = time.perf_counter()
            with atomic_dir(out) as tmp:
                for role in ("extractor", "extractor_int8"):
                    _link_or_copy(extractor.path(role), tmp / extractor.manifest.files[role].path)
                shutil.copy2(extractor.root / MANIFEST, tmp / MANIFEST)
                run_isolated(_build_head, str(tmp), units, classes, window)
            self._log(f"exported LSTM-{units} head in {time.perf_counter() - t0:.0f} s")
            bundle = load_bundle(out)
        return bundle

    def _try_load(self, out: Path, roles: tuple[str, ...]) -> Bundle | None:
        if not (out / MANIFEST).is_file():
            return None
        try:
            bundle = load_bundle(out)
        except BundleError as exc:
            self._log(f"cached bundle unusable ({exc}); rebuilding")
            return None
        return bundle if all(r in bundle.manifest.files for r in roles) else None


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
