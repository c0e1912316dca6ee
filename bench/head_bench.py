"""Head cost per window: LSTM heads of two widths, fp32 vs dynamically quantized int8, batch 1 and 8.

A 2048-unit LSTM over 2048-d features holds 134 MB of fp32 weights: W (input, 67 MB), applied to all 40 steps
in one matrix product, and R (recurrent, 67 MB), which must be read again at every step because step t needs
step t-1's state. At batch 1 that is 40 x 67 MB = 2.7 GB of memory traffic per window for little arithmetic:
bandwidth-bound. So besides ms/window the table shows the weight bytes and the traffic that implies.

    result = run_head_bench(units, fp32_path, int8_path, batches=(1, 8), device="auto", budget=Budget(2, 5))
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.flops import count_macs
from bench.timing import Budget, Timing, time_calls
from streaming.providers import create_session


@dataclass(frozen=True)
class HeadRow:
    units: int
    precision: str
    batch: int
    weight_mb: float
    recurrent_mb: float
    timing: Timing

    def traffic_gb(self, steps: int) -> float:
        """Least weight bytes one call reads: every weight once, plus R again at each further step."""
        return (self.weight_mb + (steps - 1) * self.recurrent_mb) / 1e3


@dataclass(frozen=True)
class HeadResult:
    window: int
    feature_size: int
    provider: str
    macs: dict[int, int]
    rows: tuple[HeadRow, ...]

    def row(self, units: int, precision: str, batch: int) -> HeadRow | None:
        return next((r for r in self.rows if (r.units, r.precision, r.batch) == (units, precision, batch)), None)


def weight_bytes(path: Path) -> tuple[int, int]:
    """(all initializer bytes, the recurrent weight R's bytes) of a head's ONNX file (fp32 LSTM or int8)."""
    import onnx

    model = onnx.load(str(path))

    def nbytes(t) -> int:
        return int(np.prod(t.dims)) * np.dtype(onnx.helper.tensor_dtype_to_np_dtype(t.data_type)).itemsize

    sizes = {t.name: nbytes(t) for t in model.graph.initializer}
    recurrent = sum(sizes.get(n.input[2], 0) for n in model.graph.node if n.op_type.endswith("LSTM"))
    return sum(sizes.values()), recurrent


def run_head_bench(
    heads: dict[int, tuple[Path, Path]],
    batches: tuple[int, ...],
    device: str,
    budget: Budget,
    window: int = 40,
    feature_size: int = 2048,
    threads: int = 0,
) -> HeadResult:
    """Time each head file on random feature windows; `heads` maps units -> (fp32 path, int8 path)."""
    rng = np.random.default_rng(0)
    rows, macs, provider = [], {}, ""
    for units, files in heads.items():
        macs[units] = count_macs(files[0])
        for precision, path in zip(("fp32", "int8"), files):
            sess = create_session(path, device=device, threads=threads)
            provider = sess.get_providers()[0]
            name, out = sess.get_inputs()[0].name, sess.get_outputs()[0].name
            total, recurrent = weight_bytes(path)
            for batch in batches:
                x = rng.standard_normal((batch, window, feature_size), dtype=np.float32)
                timing = time_calls(lambda: sess.run([out], {name: x}), batch, budget)
                rows.append(HeadRow(units, precision, batch, total / 1e6, recurrent / 1e6, timing))
            sess = None  # free it before the next measurement
    return HeadResult(window=window, feature_size=feature_size, provider=provider, macs=macs, rows=tuple(rows))


def format_head(r: HeadResult) -> str:
    lines = [
        f"LSTM head over {r.window}x{r.feature_size} windows (then Dense 512 and softmax), {r.provider}. "
        f"Weight traffic = (all weights + {r.window - 1} more reads of the recurrent weights R) / call time: what "
        "one call must at least read from memory when the weights do not stay in cache.",
        "",
        "| units | precision | batch | weights MB (R) | ms/window | windows/s | weight traffic GB/s "
        "| vs fp32 same batch |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in r.rows:
        t = row.timing
        ref = r.row(row.units, "fp32", row.batch)
        ratio = ref.timing.ms_per_item / t.ms_per_item if ref else float("nan")
        stream = row.traffic_gb(r.window) / t.median_call_s
        lines.append(
            f"| {row.units} | {row.precision} | {row.batch} | {row.weight_mb:.0f} ({row.recurrent_mb:.0f}) | "
            f"{t.ms_per_item:.2f} | "
            f"{t.items_per_s:.0f} | {stream:.1f} | {ratio:.1f}x |"
        )
    macs = ", ".join(f"LSTM-{u}: {m / 1e9:.2f} GMAC/window" for u, m in r.macs.items())
    lines += ["", f"Work per window (ONNX graph): {macs}."]
    return "\n".join(lines)
