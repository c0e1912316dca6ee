"""Extractor throughput: Keras one frame at a time (the original report's way) vs ONNX Runtime fp32 and int8.

All rows time the same preprocessed real frames in this one process; throughput is compared as a ratio to
the Keras row, and as achieved GFLOP/s from the multiply-accumulates counted in the ONNX graph (2 FLOPs per MAC).
The int8 row also reports the cosine between its features and fp32's on real frames.

    result = run_extractor_bench("inceptionv3", bundle, frames, heldout_frames, batches=(1, 8, 32), device="auto",
                                 budget=Budget(3, 5))
    print(format_extractor(result))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.flops import INCEPTION_V3_PUBLISHED_GMACS, count_macs
from bench.timing import Budget, Timing, time_calls
from streaming.bundle import Bundle
from streaming.extractor import Extractor
from streaming.preprocess import preprocess_batch


@dataclass(frozen=True)
class ExtractorRow:
    runtime: str
    batch: int
    timing: Timing


@dataclass(frozen=True)
class ExtractorResult:
    arch: str
    size: int
    feature_size: int
    macs: int
    provider: str
    rows: tuple[ExtractorRow, ...]
    cosine_min: float
    cosine_mean: float
    cosine_frames: int
    export_parity: dict

    @property
    def baseline(self) -> ExtractorRow:
        return self.rows[0]

    def row(self, runtime: str, batch: int) -> ExtractorRow | None:
        return next((r for r in self.rows if r.runtime == runtime and r.batch == batch), None)


def _batch_of(frames: np.ndarray, n: int) -> np.ndarray:
    reps = -(-n // len(frames))
    return np.ascontiguousarray(np.concatenate([frames] * reps)[:n])


def feature_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    num = np.sum(a * b, axis=1)
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return num / np.maximum(den, 1e-12)


def keras_rows(
    arch: str, size: int, frames: np.ndarray, batches: tuple[int, ...], budget: Budget
) -> list[ExtractorRow]:
    """`model.predict` on the same architecture in Keras: one frame per call (the report), then batched."""
    from export.backbones import build_backbone

    model = build_backbone(arch, weights="none", input_size=size)
    rows = []
    for batch in batches:
        x = _batch_of(frames, batch)
        timing = time_calls(lambda: model.predict(x, batch_size=batch, verbose=0), batch, budget)
        rows.append(ExtractorRow("Keras predict", batch, timing))
    model = None  # free it before the next measurement
    return rows


def run_extractor_bench(
    arch: str,
    bundle: Bundle,
    frames_bgr: list[np.ndarray],
    heldout_bgr: list[np.ndarray],
    batches: tuple[int, ...],
    device: str,
    budget: Budget,
    keras_budget: Budget,
    keras_batches: tuple[int, ...] = (1,),
    threads: int = 0,
) -> ExtractorResult:
    """Time Keras, ORT fp32 and ORT int8 side by side on `frames_bgr` (preprocessed once, outside the timing).

    The int8-vs-fp32 cosine is taken on `heldout_bgr`: frames the int8 model was not calibrated on.
    """
    m = bundle.manifest
    frames = preprocess_batch(frames_bgr, m.frame)
    heldout = preprocess_batch(heldout_bgr, m.frame)
    rows = keras_rows(arch, m.frame.height, frames, keras_batches, keras_budget) if keras_batches else []
    provider = ""
    feats = {}
    for runtime, int8 in (("ORT fp32", False), ("ORT int8", True)):
        ex = Extractor(bundle, int8=int8, device=device, threads=threads)
        provider = ex.provider
        feats[int8] = ex(heldout)
        for batch in batches:
            x = _batch_of(frames, batch)
            rows.append(ExtractorRow(runtime, batch, time_calls(lambda: ex(x), batch, budget)))
        ex = None  # free the session before the next one
    cos = feature_cosines(feats[False], feats[True])
    return ExtractorResult(
        arch=arch,
        size=m.frame.height,
        feature_size=m.feature_size,
        macs=count_macs(bundle.path("extractor")),
        provider=provider,
        rows=tuple(rows),
        cosine_min=float(cos.min()),
        cosine_mean=float(cos.mean()),
        cosine_frames=len(cos),
        export_parity=dict(m.parity),
    )


def format_extractor(r: ExtractorResult) -> str:
    gflop = 2 * r.macs / 1e9
    base = r.baseline
    lines = [
        f"#### {r.arch} at {r.size}x{r.size} -> {r.feature_size}-d ({r.provider})",
        "",
        f"Work per frame: {r.macs / 1e9:.2f} GMAC = {gflop:.2f} GFLOP, counted from the ONNX graph "
        "(Conv/Gemm/MatMul multiply-accumulates, 2 FLOPs each)"
        + (
            f"; the published figure for InceptionV3 is {INCEPTION_V3_PUBLISHED_GMACS} GMAC."
            if r.arch == "inceptionv3"
            else "."
        ),
        "",
        f"| runtime | batch | ms/frame | frames/s | GFLOP/s | vs {base.runtime} b{base.batch} |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in r.rows:
        t = row.timing
        lines.append(
            f"| {row.runtime} | {row.batch} | {t.ms_per_item:.2f} | {t.items_per_s:.1f} | "
            f"{gflop * t.items_per_s:.0f} | {t.items_per_s / base.timing.items_per_s:.1f}x |"
        )
    lines += [
        "",
        f"int8 vs fp32 features on {r.cosine_frames} held-out frames: cosine min {r.cosine_min:.4f}, "
        f"mean {r.cosine_mean:.4f}.",
    ]
    parity = r.export_parity.get("extractor_int8")
    if parity:
        lines[-1] += f" Exporter's own check (manifest parity.extractor_int8): {_short(parity)}."
    return "\n".join(lines)


def _short(d) -> str:
    if isinstance(d, dict):
        return ", ".join(
            f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
            for k, v in d.items()
            if not isinstance(v, (dict, list))
        )
    return str(d)
