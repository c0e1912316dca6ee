"""`python -m bench`: the four benchmarks, side by side in one process, printed as tables and optionally
written into BENCHMARKS.md.

    python -m bench                       # full run (~20 min with the 10-minute soak; exports cached)
    python -m bench --quick               # < 2 min: small CNN and small heads, same code paths
    python -m bench --only extractor,head --device cpu --write BENCHMARKS.md

Each section's table replaces the text between its markers in the --write file (<!-- bench:NAME:begin --> ...
<!-- bench:NAME:end -->), so prose around the tables survives a re-run and `--only` updates just its sections.
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.artifacts import ArtifactCache
from bench.clips import Clips, bench_clips, read_frames, synthetic_dataset
from bench.machine import Machine, cpu_snapshot, describe_machine, format_machine, others_cpu_share
from bench.timing import Budget
from streaming.atomic import atomic_write_text
from streaming.errors import ActionstreamError

SECTIONS = ("extractor", "head", "extraction", "capacity")
#: The issue's targets on the 2-core CPU.
TARGET_INT8_SPEEDUP = 8.0
TARGET_COSINE = 0.99
TARGET_EXTRACTION_RATIO = 0.8
TARGET_STREAMS = 8
TARGET_SINGLE_P95_MS = 150.0
#: RSS may grow this much over the soak and still count as flat (allocator noise, warm caches).
FLAT_RSS_SHARE = 0.05
UCF101_CLASSES = 101


@dataclass(frozen=True)
class Plan:
    """What one run measures. FULL is the report; QUICK keeps the code paths with small models and counts."""

    name: str
    extractors: tuple[tuple[str, int | None], ...]  # (arch, input size) timed against Keras
    extractor_batches: tuple[int, ...]
    keras_batches: tuple[int, ...]
    extractor_budget: Budget
    keras_budget: Budget
    head_arch: tuple[str, int | None]  # extractor whose feature size the heads read
    head_units: tuple[int, ...]
    head_batches: tuple[int, ...]
    head_budget: Budget
    head_classes: int
    window: int
    extraction: tuple[tuple[str, int | None, bool], ...]  # (arch, size, int8)
    extraction_clips_per_class: int
    extraction_classes: int | None
    extraction_batch: int
    extraction_workers: int
    extraction_on_real: bool
    capacity_arch: tuple[str, int | None]
    capacity_units: int
    capacity_counts: tuple[int, ...]
    capacity_seconds: float
    soak_seconds: float
    calib_frames: int


FULL = Plan(
    name="full",
    extractors=(("inceptionv3", None), ("smallcnn", None)),
    extractor_batches=(1, 8, 32),
    keras_batches=(1, 32),
    extractor_budget=Budget(seconds=4.0, calls=4, warmup=2),
    keras_budget=Budget(seconds=4.0, calls=3, warmup=2),
    head_arch=("inceptionv3", None),
    head_units=(2048, 512),
    head_batches=(1, 8),
    head_budget=Budget(seconds=3.0, calls=10, warmup=3),
    head_classes=UCF101_CLASSES,
    window=40,
    extraction=(("inceptionv3", None, True), ("inceptionv3", None, False), ("smallcnn", None, False)),
    extraction_clips_per_class=4,
    extraction_classes=None,
    extraction_batch=32,
    extraction_workers=2,
    extraction_on_real=True,
    capacity_arch=("inceptionv3", None),
    capacity_units=2048,
    capacity_counts=(1, 2, 4, 6, 8, 10, 12, 16),
    capacity_seconds=30.0,
    soak_seconds=600.0,
    calib_frames=200,
)
QUICK = Plan(
    name="quick",
    extractors=(("smallcnn", None),),
    extractor_batches=(1, 8),
    keras_batches=(1,),
    extractor_budget=Budget(seconds=1.0, calls=3, warmup=1),
    keras_budget=Budget(seconds=1.0, calls=3, warmup=1),
    head_arch=("smallcnn", None),
    head_units=(512, 64),
    head_batches=(1, 8),
    head_budget=Budget(seconds=0.5, calls=5, warmup=2),
    head_classes=UCF101_CLASSES,
    window=40,
    extraction=(("smallcnn", None, True),),
    extraction_clips_per_class=2,
    extraction_classes=None,
    extraction_batch=32,
    extraction_workers=2,
    extraction_on_real=False,
    capacity_arch=("smallcnn", None),
    capacity_units=64,
    capacity_counts=(1, 4),
    capacity_seconds=6.0,
    soak_seconds=0.0,
    calib_frames=64,
)
#: For the test suite only: the plumbing on the smallest inputs; its figures mean nothing.
SMOKE = Plan(
    name="smoke",
    extractors=(("smallcnn", 32),),
    extractor_batches=(1, 2),
    keras_batches=(1,),
    extractor_budget=Budget(seconds=0.0, calls=1, warmup=0),
    keras_budget=Budget(seconds=0.0, calls=1, warmup=0),
    head_arch=("smallcnn", 32),
    head_units=(16,),
    head_batches=(1,),
    head_budget=Budget(seconds=0.0, calls=1, warmup=0),
    head_classes=3,
    window=8,
    extraction=(("smallcnn", 32, False),),
    extraction_clips_per_class=2,
    extraction_classes=2,
    extraction_batch=8,
    extraction_workers=1,
    extraction_on_real=False,
    capacity_arch=("smallcnn", 32),
    capacity_units=16,
    capacity_counts=(1,),
    capacity_seconds=1.0,
    soak_seconds=0.0,
    calib_frames=8,
)


@dataclass
class Section:
    name: str
    title: str
    body: str
    verdicts: list[str]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="under 2 minutes: small CNN, small heads, short trials")
    p.add_argument("--smoke", action="store_true", help=argparse.SUPPRESS)  # test suite: tiny inputs
    p.add_argument(
        "--only",
        default=",".join(SECTIONS),
        help=f"comma-separated sections to run (default all): {', '.join(SECTIONS)}",
    )
    p.add_argument(
        "--device",
        default="auto",
        choices=("auto", "cpu", "cuda"),
        help="ONNX Runtime device (auto: CUDA when it can load, else CPU)",
    )
    p.add_argument("--write", type=Path, metavar="FILE", help="write the tables into FILE (e.g. BENCHMARKS.md)")
    p.add_argument("--cache-dir", type=Path, help="where exports are cached (default .cache/bench in the repo)")
    p.add_argument("--threads", type=int, default=0, help="ONNX Runtime intra-op threads (0: one per core)")
    p.add_argument("--soak-s", type=float, help="length of the capacity soak run in seconds (full default 600)")
    p.add_argument("--capacity-s", type=float, help="seconds measured per capacity trial (full default 30)")
    args = p.parse_args(argv)
    only = tuple(s.strip() for s in args.only.split(",") if s.strip())
    unknown = [s for s in only if s not in SECTIONS]
    if unknown or not only:
        p.error(f"--only: unknown section(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(SECTIONS)}")
    args.only = only
    return args


class Runner:
    """Runs the chosen sections in order, exporting what each needs (once) from the artifact cache."""

    def __init__(self, plan: Plan, device: str, cache: ArtifactCache, threads: int):
        self.plan = plan
        self.device = device
        self.cache = cache
        self.threads = threads
        for stale in self.cache.prune_stale():
            log(f"removed stale exports {stale}")
        self.cache.root.mkdir(parents=True, exist_ok=True)
        self._clips: Clips | None = None
        self._bundles: dict = {}

    # -- inputs ----------------------------------------------------------------------------------------------

    @property
    def clips(self) -> Clips:
        if self._clips is None:
            self._clips = bench_clips(self.cache.root.parent, prefer_real=self.plan.name != "smoke")
        return self._clips

    def heldout_clips(self) -> list[Path]:
        """The clips the int8 calibration keeps out (export.quantize holds out the last fifth of the videos)."""
        paths = list(self.clips.paths)
        return paths[-max(1, round(len(paths) / 5)) :] if len(paths) >= 2 else paths

    def extractor_bundle(self, arch: str, size: int | None):
        key = ("x", arch, size)
        if key not in self._bundles:
            calibration = self.clips.paths[0].parent.parent if len(self.clips.paths) > 1 else self.clips.paths[0]
            self._bundles[key] = self.cache.extractor_bundle(arch, size, calibration, self.plan.calib_frames)
        return self._bundles[key]

    def head_bundle(self, arch: str, size: int | None, units: int, classes: int):
        key = ("h", arch, size, units, classes)
        if key not in self._bundles:
            self._bundles[key] = self.cache.head_bundle(
                self.extractor_bundle(arch, size), units, classes, self.plan.window
            )
        return self._bundles[key]

    # -- sections --------------------------------------------------------------------------------------------

    def extractor(self) -> Section:
        from bench.extractor_bench import format_extractor, run_extractor_bench

        p = self.plan
        timing_frames = read_frames(self.clips.paths, max(p.extractor_batches))
        held_frames = read_frames(self.heldout_clips(), 32 if p.name != "smoke" else 4)
        parts, verdicts = [], []
        for arch, size in p.extractors:
            bundle = self.extractor_bundle(arch, size)
            log(f"extractor: {arch} Keras vs ORT fp32 vs int8 ...")
            r = run_extractor_bench(
                arch,
                bundle,
                timing_frames,
                held_frames,
                p.extractor_batches,
                self.device,
                p.extractor_budget,
                p.keras_budget,
                p.keras_batches,
                self.threads,
            )
            parts.append(format_extractor(r))
            base = r.row("Keras predict", 1)
            best = max((row for row in r.rows if row.runtime == "ORT int8"), key=lambda row: row.timing.items_per_s)
            if base is not None:
                speedup = best.timing.items_per_s / base.timing.items_per_s
                verdicts.append(
                    _verdict(
                        f"{arch}: int8 (batch {best.batch}) vs Keras one frame at a time",
                        speedup,
                        TARGET_INT8_SPEEDUP,
                        f"{speedup:.1f}x",
                        f">= {TARGET_INT8_SPEEDUP:.0f}x",
                        applies=arch == "inceptionv3",
                    )
                )
            verdicts.append(
                _verdict(
                    f"{arch}: int8 vs fp32 feature cosine (min over {r.cosine_frames} "
                    f"{'real' if self.clips.real else 'synthetic'} held-out frames)",
                    r.cosine_min,
                    TARGET_COSINE,
                    f"{r.cosine_min:.4f}",
                    f">= {TARGET_COSINE}",
                    applies=arch == "inceptionv3" and self.clips.real,
                )
            )
        note = (
            f"Frames: {self.clips.label}; int8 = static QDQ calibrated on {self.plan.calib_frames} frames of "
            "the other clips. Keras rows run `model.predict` on the same architecture (random weights, like the "
            "ONNX files: time does not depend on weights). Times are the median call; frames/s = batch / median."
        )
        return Section("extractor", "1. Extractor throughput", note + "\n\n" + "\n\n".join(parts), verdicts)

    def head(self) -> Section:
        from bench.head_bench import format_head, run_head_bench

        p = self.plan
        arch, size = p.head_arch
        files = {}
        for units in p.head_units:
            b = self.head_bundle(arch, size, units, p.head_classes)
            files[units] = (b.path("head"), b.path("head_int8"))
        feature_size = self.extractor_bundle(arch, size).manifest.feature_size
        log(f"head: LSTM {', '.join(map(str, p.head_units))} fp32 vs int8 ...")
        r = run_head_bench(
            files,
            p.head_batches,
            self.device,
            p.head_budget,
            window=p.window,
            feature_size=feature_size,
            threads=self.threads,
        )
        verdicts = []
        big = max(p.head_units)
        fp32, int8 = r.row(big, "fp32", 1), r.row(big, "int8", 1)
        if fp32 and int8:
            verdicts.append(
                f"- info: LSTM-{big} batch 1: fp32 {fp32.timing.ms_per_item:.1f} ms/window, int8 "
                f"{int8.timing.ms_per_item:.1f} ms ({fp32.timing.ms_per_item / int8.timing.ms_per_item:.1f}x)"
            )
        return Section("head", "2. Head cost per window", format_head(r), verdicts)

    def extraction(self) -> Section:
        from bench.extraction_bench import format_extraction, run_extraction_bench

        p = self.plan
        folder = f"synthetic-ucf101-{p.extraction_classes or 'all'}x{p.extraction_clips_per_class}"
        synth = synthetic_dataset(self.cache.root.parent / folder, p.extraction_clips_per_class, p.extraction_classes)
        sets = [(synth, "synthetic")]
        if p.extraction_on_real and self.clips.real:
            sets.append((list(self.clips.paths), "genuine UCF101"))
        results = []
        with tempfile.TemporaryDirectory(dir=self.cache.root, prefix="extraction-") as work:
            for i, (arch, size, int8) in enumerate(p.extraction):
                bundle = self.extractor_bundle(arch, size)
                model = f"{arch} {'int8' if int8 else 'fp32'}"
                for paths, label in sets if i == 0 else sets[:1]:  # the genuine clips for the first model only
                    log(f"extraction: {model} over {len(paths)} clips ({label}) ...")
                    results.append(
                        run_extraction_bench(
                            model,
                            bundle,
                            paths,
                            label,
                            int8,
                            self.device,
                            p.extraction_batch,
                            p.extraction_workers,
                            Path(work),
                            p.extractor_budget,
                        )
                    )
        verdicts = []
        for r in results:
            verdicts.append(
                _verdict(
                    f"{r.model} on {r.clips} {r.clips_label} clips: end-to-end extraction / pure batched inference",
                    r.ratio,
                    TARGET_EXTRACTION_RATIO,
                    f"{r.ratio:.2f}",
                    f">= {TARGET_EXTRACTION_RATIO}",
                    applies=r.model.startswith("inceptionv3"),
                )
            )
        return Section("extraction", "3. Dataset extraction, end to end", format_extraction(results), verdicts)

    def capacity(self) -> Section:
        from bench.capacity_bench import (
            P95_LIMIT_MS,
            find_capacity,
            format_capacity,
            largest_passing,
            run_trial,
            stream_clips,
        )

        p = self.plan
        arch, size = p.capacity_arch
        bundle = self.head_bundle(arch, size, p.capacity_units, p.head_classes)
        clips = stream_clips(self.clips.paths)
        trials = find_capacity(bundle, clips, self.device, p.capacity_counts, p.capacity_seconds, self.threads)
        best = largest_passing(trials)
        soak = None
        if p.soak_seconds > 0:  # at the largest passing N (at least one stream: memory matters either way)
            log(f"capacity: soak, {max(best, 1)} streams for {p.soak_seconds:.0f} s ...")
            soak = run_trial(
                bundle,
                clips,
                max(best, 1),
                p.soak_seconds,
                self.device,
                self.threads,
                rss_every_s=max(10.0, p.soak_seconds / 10),
            )
        model = f"{arch} int8 extractor + LSTM-{p.capacity_units} int8 head ({bundle.manifest.feature_size}-d)"
        applies = arch == "inceptionv3" and p.capacity_units == 2048
        verdicts = [
            _verdict(
                f"{model}: simultaneous real-time 25 fps streams (p95 <= {P95_LIMIT_MS:.0f} ms, nothing dropped)",
                best,
                TARGET_STREAMS,
                str(best),
                f">= {TARGET_STREAMS}",
                applies,
            )
        ]
        single = next((t for t in trials if t.streams == 1), None)
        if single is not None:
            verdicts.append(
                _verdict(
                    "single-stream p95 latency",
                    -single.latency_p95_ms,
                    -TARGET_SINGLE_P95_MS,
                    f"{single.latency_p95_ms:.0f} ms",
                    f"<= {TARGET_SINGLE_P95_MS:.0f} ms",
                    applies,
                )
            )
        if soak is not None:
            growth = (soak.rss_end_mb - soak.rss_settled_mb) / soak.rss_settled_mb
            verdicts.append(
                _verdict(
                    f"memory over the {soak.seconds / 60:.0f}-minute soak (RSS growth after the "
                    "first sampling interval)",
                    -growth,
                    -FLAT_RSS_SHARE,
                    f"{soak.rss_start_mb:.0f} at start, {soak.rss_settled_mb:.0f} -> "
                    f"{soak.rss_end_mb:.0f} MB ({100 * growth:+.1f} %)",
                    f"flat (<= {100 * FLAT_RSS_SHARE:.0f} %)",
                    applies and p.soak_seconds >= 600,
                )
            )
        return Section("capacity", "4. Streaming capacity", format_capacity(trials, soak, model), verdicts)


def _verdict(what: str, value: float, target: float, shown: str, wanted: str, applies: bool = True) -> str:
    """One line per target; `applies` is False where a quick run measures a stand-in (small CNN, small head)."""
    if not applies:
        return f"- (stand-in, not the target's configuration) {what}: {shown} (target {wanted} is for the full run)"
    return f"- {'MET' if value >= target else 'MISSED'}: {what}: {shown} (target {wanted})"


def log(text: str) -> None:
    print(f"[bench] {text}", flush=True)


def render(
    machine: Machine, sections: list[Section], command: str, plan: Plan, seconds: float, others: float
) -> dict[str, str]:
    """Markdown blocks by marker name: machine, one per section, and targets."""
    stamp = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    load_after = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    blocks = {
        "machine": f"Measured {stamp} with `{command}` ({plan.name} settings, {seconds / 60:.1f} min).\n\n"
        + format_machine(machine)
        + f"\n- Load average after the run: {load_after}; other processes "
        f"kept {100 * others:.0f} % of the cores busy during the run (/proc/stat minus this run)"
    }
    for s in sections:
        blocks[s.name] = f"### {s.title}\n\n_`{command}`, {stamp}_\n\n{s.body}"
        if s.verdicts:  # one targets block per section, so a partial run (--only) keeps the others' verdicts
            blocks[f"targets-{s.name}"] = "\n".join(s.verdicts)
    return blocks


def write_blocks(path: Path, blocks: dict[str, str]) -> None:
    """Replace each block between its markers in `path` (appending blocks that have none), atomically."""
    text = path.read_text() if path.is_file() else "# Benchmarks\n"
    for name, body in blocks.items():
        begin, end = f"<!-- bench:{name}:begin -->", f"<!-- bench:{name}:end -->"
        block = f"{begin}\n{body.rstrip()}\n{end}"
        pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
        if pattern.search(text):
            text = pattern.sub(lambda _: block, text, count=1)
        else:
            text = text.rstrip("\n") + "\n\n" + block + "\n"
    atomic_write_text(path, text if text.endswith("\n") else text + "\n")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan = SMOKE if args.smoke else QUICK if args.quick else FULL
    if args.soak_s is not None or args.capacity_s is not None:
        from dataclasses import replace

        plan = replace(
            plan,
            soak_seconds=plan.soak_seconds if args.soak_s is None else args.soak_s,
            capacity_seconds=plan.capacity_seconds if args.capacity_s is None else args.capacity_s,
        )
    command = "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:])
    started = time.perf_counter()
    cpu0 = cpu_snapshot()
    try:
        machine = describe_machine(args.device, measure_sgemm=not args.smoke)
        print(f"## Machine\n\n{format_machine(machine)}\n", flush=True)
        if max(machine.load_before[0], 0) > 0.5 * machine.usable_cores:
            log(
                f"warning: load average {machine.load_before[0]:.2f} on {machine.usable_cores} cores: other work "
                "is running; figures will be low"
            )
        runner = Runner(plan, args.device, ArtifactCache.default(args.cache_dir), args.threads)
        sections = []
        for name in SECTIONS:
            if name in args.only:
                before = cpu_snapshot()
                section = getattr(runner, name)()
                busy = others_cpu_share(before, cpu_snapshot(), machine.usable_cores)
                section.body += (
                    f"\n\nOther processes kept {100 * busy:.0f} % of the cores busy while this section ran"
                    " (machine-wide /proc/stat minus this run)."
                )
                print(f"\n### {section.title}\n\n{section.body}\n", flush=True)
                if section.verdicts:
                    print("\n".join(section.verdicts) + "\n", flush=True)
                sections.append(section)
    except ActionstreamError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    others = others_cpu_share(cpu0, cpu_snapshot(), machine.usable_cores)
    blocks = render(machine, sections, command, plan, time.perf_counter() - started, others)
    log(f"other processes used {100 * others:.0f} % of the cores during this run")
    verdicts = [v for s in sections for v in s.verdicts]
    if verdicts:
        print("## Targets\n\n" + "\n".join(verdicts) + "\n", flush=True)
    if args.write:
        write_blocks(args.write, blocks)
        log(f"wrote {', '.join(blocks)} into {args.write}")
    log(f"done in {time.perf_counter() - started:.0f} s")
    return 0
