"""`python -m bench` plumbing on the smallest inputs: every section runs and its table lands in the file.

Benchmarks are not tests: nothing here asserts a time. This runs the real command (exports a 32x32 small CNN
and a 16-unit LSTM head in child processes, times them, extracts features from synthetic clips, streams one
real-time source through the engine) and checks that the figures exist, are positive and were written between
their markers without touching the prose around them.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SECTIONS = (
    "machine",
    "extractor",
    "head",
    "extraction",
    "capacity",
    "targets-extractor",
    "targets-head",
    "targets-extraction",
    "targets-capacity",
)


def _table_rows(text: str, first_cell: str) -> list[list[str]]:
    rows = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] == first_cell:
            rows.append(cells)
    return rows


def test_bench_smoke_runs_all_sections_and_writes_between_markers(tmp_path):
    out = tmp_path / "BENCHMARKS.md"
    out.write_text(
        "# Benchmarks\n\nHand-written analysis stays.\n\n"
        "<!-- bench:head:begin -->\nstale figures\n<!-- bench:head:end -->\n\nClosing prose stays.\n"
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--smoke",
            "--only",
            "extractor,head,extraction,capacity",
            "--device",
            "cpu",
            "--cache-dir",
            str(tmp_path / "cache"),
            "--write",
            str(out),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=420,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    text = out.read_text()
    assert "Hand-written analysis stays." in text and "Closing prose stays." in text
    assert "stale figures" not in text
    for name in SECTIONS:
        assert text.count(f"<!-- bench:{name}:begin -->") == 1, name
        assert text.count(f"<!-- bench:{name}:end -->") == 1, name
    assert "CPUExecutionProvider" in text

    # extractor: Keras one frame at a time, then ORT fp32 and int8 at each batch, all with positive throughput
    extractor_rows = [r for name in ("Keras predict", "ORT fp32", "ORT int8") for r in _table_rows(text, name)]
    assert [(r[0], r[1]) for r in extractor_rows] == [
        ("Keras predict", "1"),
        ("ORT fp32", "1"),
        ("ORT fp32", "2"),
        ("ORT int8", "1"),
        ("ORT int8", "2"),
    ]
    assert all(float(r[3]) > 0 for r in extractor_rows)  # frames/s
    cosine = re.search(r"cosine min ([0-9.]+)", text)
    assert cosine and 0.9 < float(cosine.group(1)) <= 1.0001

    # head: the 16-unit LSTM in fp32 and int8
    head_rows = _table_rows(text, "16")
    assert [(r[1], r[2]) for r in head_rows] == [("fp32", "1"), ("int8", "1")]
    assert all(float(r[4]) > 0 for r in head_rows)  # ms/window

    # extraction: frames really went through decode -> extractor -> cache
    (extraction,) = _table_rows(text, "smallcnn fp32")
    assert int(extraction[2]) > 0 and float(extraction[3]) > 0 and float(extraction[4]) > 0

    # capacity: one real-time stream produced predictions with a measured latency
    (single,) = _table_rows(text, "1")
    assert float(single[2]) > 0  # p50 ms
    assert "Single stream: p50" in text
