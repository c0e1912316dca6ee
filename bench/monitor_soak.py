"""Soak of the headless monitor: N looping cameras for a while, memory and the clip folder sampled as it runs.

    python -m bench.monitor_soak --cameras 4 --minutes 10       # the issue's soak (10 minutes)
    python -m bench.monitor_soak --cameras 4 --minutes 1        # a quick look

Each camera replays the bundled demo clip in real time (a looping file source, as a camera would deliver it);
an alert rule on every action makes event clips often, so the disk budget is exercised. The monitor runs in this
process (run_monitor with a stop event); a sampler thread reads this process's RSS and the clip folder's size
every few seconds. Memory is judged after the first minute (ONNX Runtime's arenas and the clip rings fill up
first); the clip folder must stay under its budget.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

from streaming.bundle import load_bundle
from streaming.demo import demo_bundle_path, demo_clip_path
from streaming.monitor import run_monitor

SAMPLE_EVERY_S = 5.0
WARMUP_S = 60.0
#: Growth of RSS after the warm-up that still counts as flat.
FLAT_RSS_GROWTH = 0.05


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def folder_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6 if path.is_dir() else 0.0


def write_config(work: Path, cameras: int, budget_mb: int) -> Path:
    bundle = demo_bundle_path()  # the model that knows the demo clip: alerts and event clips happen
    labels = load_bundle(bundle).manifest.labels
    lines = [
        "[monitor]",
        f'bundle = "{bundle}"',
        'device = "cpu"',
        "status_interval_s = 30",
    ]
    for i in range(cameras):
        lines += ["[[camera]]", f'name = "cam{i}"', f'source = "{demo_clip_path()}"', "loop = true"]
    lines += [
        "[[alert]]",
        'name = "any"',
        f"actions = {json.dumps(labels)}",
        "threshold = 0.5",
        "min_duration_s = 1.0",
        "cooldown_s = 20.0",
        "[outputs.jsonl]",
        f'path = "{work / "events.jsonl"}"',
        "[outputs.clips]",
        f'dir = "{work / "clips"}"',
        "pre_s = 3.0",
        "post_s = 3.0",
        f"max_disk_mb = {budget_mb}",
    ]
    path = work / "soak.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def soak(cameras: int, minutes: float, budget_mb: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="monitor-soak-") as tmp:
        work = Path(tmp)
        config = write_config(work, cameras, budget_mb)
        stop = threading.Event()
        samples: list[tuple[float, float, float]] = []
        start = time.monotonic()

        def sample() -> None:
            while not stop.wait(SAMPLE_EVERY_S):
                samples.append((time.monotonic() - start, rss_mb(), folder_mb(work / "clips")))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        timer = threading.Timer(minutes * 60.0, stop.set)
        timer.start()
        with open(work / "monitor.log", "w") as log:
            code = run_monitor(config, stop=stop, out=log)
        timer.cancel()
        stop.set()
        sampler.join(timeout=10)
        events = (work / "events.jsonl").read_text().splitlines() if (work / "events.jsonl").is_file() else []
        clips = sorted((work / "clips").rglob("*.json")) if (work / "clips").is_dir() else []
    after = [s for s in samples if s[0] >= WARMUP_S] or samples
    first, peak = after[0][1], max(s[1] for s in after)
    return {
        "cameras": cameras,
        "minutes": minutes,
        "exit_code": code,
        "rss_start_mb": round(samples[0][1], 1) if samples else None,
        "rss_after_warmup_mb": round(first, 1),
        "rss_peak_mb": round(peak, 1),
        "rss_growth_after_warmup": round(peak / first - 1.0, 4),
        "clip_folder_peak_mb": round(max((s[2] for s in samples), default=0.0), 1),
        "clip_budget_mb": budget_mb,
        "alert_events": sum('"alert"' in line for line in events),
        "clips_kept": len(clips),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.monitor_soak", description=__doc__.splitlines()[0])
    ap.add_argument("--cameras", type=int, default=4)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--budget-mb", type=int, default=20, help="the event clips' disk budget")
    args = ap.parse_args(argv)
    result = soak(args.cameras, args.minutes, args.budget_mb)
    print(json.dumps(result, indent=2))
    flat = result["rss_growth_after_warmup"] <= FLAT_RSS_GROWTH
    bounded = result["clip_folder_peak_mb"] <= result["clip_budget_mb"] * 1.1  # one clip may land before a sweep
    print(
        f"memory after warm-up: {'flat' if flat else 'GROWING'} ({result['rss_growth_after_warmup']:+.1%}); "
        f"clip folder: {'bounded' if bounded else 'OVER BUDGET'} ({result['clip_folder_peak_mb']} of "
        f"{result['clip_budget_mb']} MB)"
    )
    return 0 if result["exit_code"] == 0 and flat and bounded else 1


if __name__ == "__main__":
    sys.exit(main())
