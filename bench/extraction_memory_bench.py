"""Dataset extraction at scale: memory that does not grow with the clips, and Ray vs local extraction.

    .venv/bin/python -m bench.extraction_memory_bench                       # both parts, markdown on stdout
    .venv/bin/python -m bench.extraction_memory_bench --only memory --clips 100,1000

Memory: each measurement runs in a fresh child process, so its peak RSS is its own. The child extracts N
synthetic clips (3 s each, 30 features at 10/s) with a 2048-d extractor (InceptionV3's feature size, a cheap
graph) into an empty cache, cuts 40-step training windows and reads every batch of them once, as an epoch of
fitting does. "streaming" is what training runs do now (extract_dataset(in_memory=False), windows read per
batch from a FeatureRows file); "in memory" is the old way (every clip's features in a dict, then stacked).

Ray vs local: the same clips through extract_dataset and through extract_dataset_ray with one actor, side by side
in back-to-back pairs, each into an empty cache; starting Ray (ray.init) is timed apart, the
actor's start (process, imports, session) is in the Ray time. The ratio is the median over the pairs: a pair
sees one machine load, so other work coming and going moves both of its times.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

#: All of UCF101: clips, and feature rows at 10 features/s over the mean 7.2-s clip.
UCF101_CLIPS = 13_320
UCF101_ROWS = UCF101_CLIPS * 72
#: Feature size of the memory bench's extractor: InceptionV3's.
FEATURES = 2048
DISTINCT_VIDEOS = 25
CLIP_S, CLIP_FPS = 3.0, 25.0
#: InceptionV3 int8, end to end on this machine's 2 cores (BENCHMARKS.md section 3, 2026-11-25): the per-frame
#: cost the UCF101 projection scales.
INCEPTION_INT8_FPS = 56.0


# ------------------------------------------------------------------------------------------------ inputs
def make_bundle(root: Path, size: int = 64, dim: int = FEATURES, channels: int = 0, seed: int = 0) -> Path:
    """An extractor-only bundle: NHWC frames -> [7x7 conv + relu, when `channels`] -> 8x8 average pool ->
    projection to `dim` -> tanh. Cheap per frame, with features as wide as InceptionV3's by default."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from streaming.bundle import Manifest, OnnxFile, sha256_file, write_manifest
    from streaming.preprocess import FrameSpec

    rng = np.random.default_rng(seed)
    nodes = [helper.make_node("Transpose", ["input"], ["nchw"], perm=[0, 3, 1, 2])]
    inits, c, src = [], 3, "nchw"
    if channels:
        inits.append(numpy_helper.from_array(rng.normal(0, 0.1, (channels, 3, 7, 7)).astype(np.float32), "w"))
        nodes += [
            helper.make_node("Conv", ["nchw", "w"], ["conv"], pads=[3, 3, 3, 3]),
            helper.make_node("Relu", ["conv"], ["relu"]),
        ]
        c, src = channels, "relu"
    k = size // 8
    nodes += [
        helper.make_node("AveragePool", [src], ["pool"], kernel_shape=[k, k], strides=[k, k]),
        helper.make_node("Flatten", ["pool"], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "proj"], ["mm"]),
        helper.make_node("Tanh", ["mm"], ["features"]),
    ]
    inits.append(numpy_helper.from_array(rng.normal(0, 0.2, (c * 64, dim)).astype(np.float32), "proj"))
    graph = helper.make_graph(
        nodes,
        "bench_extractor",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, size, size, 3])],
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, [None, dim])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    root.mkdir(parents=True, exist_ok=True)
    onnx.save(model, root / "extractor.onnx")
    files = {"extractor": OnnxFile("extractor.onnx", sha256_file(root / "extractor.onnx"), "input", "features")}
    write_manifest(root, Manifest(feature_size=dim, frame=FrameSpec(size, size), files=files))
    return root


def write_video(path: Path, seed: int, size: tuple[int, int] = (64, 48)) -> Path:
    """A small real video: a coloured disc moving over noise, CLIP_S seconds at CLIP_FPS."""
    rng = np.random.default_rng(seed)
    bg = rng.integers(0, 120, (size[1], size[0], 3), np.uint8)
    colour = tuple(int(x) for x in rng.integers(80, 255, 3))
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), CLIP_FPS, size)
    for i in range(int(CLIP_S * CLIP_FPS)):
        frame = bg.copy()
        cv2.circle(frame, ((5 + i * 2 + seed * 7) % size[0], size[1] // 2), 6, colour, -1)
        writer.write(frame)
    writer.release()
    return path


def memory_clips(root: Path, n: int) -> list[Path]:
    """n clips in UCF101's layout (10 classes): copies of DISTINCT_VIDEOS real videos under n names."""
    sources = [write_video(root / "src" / f"s{i}.avi", i) for i in range(DISTINCT_VIDEOS)]
    paths = []
    for i in range(n):
        p = root / "UCF-101" / f"C{i % 10}" / f"v_C{i % 10}_g{i // 10:03d}_c01.avi"
        p.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(sources[i % DISTINCT_VIDEOS], p)
        paths.append(p)
    return paths


# ------------------------------------------------------------------------------------------------ memory
def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


class PeakAnon:
    """The highest anonymous RSS (heap, not file pages) seen, sampled every 20 ms: VmHWM counts both."""

    def __init__(self) -> None:
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak_kb = max(self.peak_kb, _status_kb("RssAnon"))

    def __enter__(self) -> PeakAnon:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_kb = max(self.peak_kb, _status_kb("RssAnon"))


def memory_child(mode: str, clips_root: Path, n: int, bundle_dir: Path, work: Path) -> dict:
    """One measurement (in its own process): extract n clips, cut windows, read every batch once."""
    from streaming.bundle import load_bundle
    from streaming.extractor import open_extractor
    from streaming.sampler import Sampling
    from training.features import FeatureRows, extract_dataset
    from training.fit import build_windows

    paths = sorted((clips_root / "UCF-101").rglob("*.avi"))[:n]
    bundle = load_bundle(bundle_dir)
    open_extractor(bundle, device="cpu")  # the session's own memory, counted in the baseline
    baseline_kb = _status_kb("VmRSS")
    spec = Sampling(feature_rate=10)
    t0 = time.perf_counter()
    with PeakAnon() as anon:
        streaming = mode == "streaming"
        cache = work / "cache"
        res = extract_dataset(paths, bundle, spec, cache, device="cpu", progress=False, in_memory=not streaming)
        keys = [str(p) for p in paths if str(p) in res.features]
        labels = [int(Path(k).parent.name[1:]) for k in keys]
        if streaming:
            rows = FeatureRows.stack(res.features, keys, work)
            ws = build_windows([range(x) for x in rows.lengths], labels, 40, 10, keys, stacked=rows)
        else:
            ws = build_windows([res.features[k].feats for k in keys], labels, 40, 10, keys)
        checksum = 0.0
        for start in range(0, len(ws), 32):  # an epoch's batches, as make_dataset gathers them
            checksum += float(ws.gather(slice(start, start + 32))[:, :, 0].sum())
    return {
        "mode": mode,
        "clips": n,
        "computed": res.computed,
        "rows": int(ws.features.shape[0]),
        "windows": len(ws),
        "feature_mb": ws.features.shape[0] * FEATURES * 4 / 2**20,
        "baseline_mb": baseline_kb / 1024,
        "peak_rss_mb": _status_kb("VmHWM") / 1024,
        "peak_anon_mb": anon.peak_kb / 1024,
        "seconds": time.perf_counter() - t0,
        "checksum": checksum,
    }


@dataclass(frozen=True)
class MemoryRow:
    mode: str
    clips: int
    rows: int
    windows: int
    feature_mb: float
    baseline_mb: float
    peak_rss_mb: float
    peak_anon_mb: float
    seconds: float


def run_memory(sizes: list[int], work: Path, modes=("streaming", "in memory")) -> list[MemoryRow]:
    bundle = make_bundle(work / "bundle")
    clips = work / "clips"
    memory_clips(clips, max(sizes))
    out = []
    for mode in modes:
        for n in sizes:
            child_work = Path(tempfile.mkdtemp(dir=work, prefix=f"run-{n}-"))
            cmd = [sys.executable, "-m", "bench.extraction_memory_bench", "--child", mode, str(clips), str(n)]
            cmd += [str(bundle), str(child_work)]
            done = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
            if done.returncode != 0:
                raise RuntimeError(f"memory child ({mode}, {n}) failed:\n{done.stderr[-3000:]}")
            r = json.loads(done.stdout.strip().splitlines()[-1])
            out.append(MemoryRow(**{k: r[k] for k in MemoryRow.__dataclass_fields__}))
            shutil.rmtree(child_work, ignore_errors=True)
    return out


def format_memory(rows: list[MemoryRow]) -> str:
    lines = [
        "| how | clips | feature rows | windows | features (MB) | RSS before extraction (MB) | peak RSS (MB) | "
        "peak anonymous RSS (MB) | seconds |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.mode} | {r.clips} | {r.rows} | {r.windows} | {r.feature_mb:.0f} | {r.baseline_mb:.0f} | "
            f"{r.peak_rss_mb:.0f} | {r.peak_anon_mb:.0f} | {r.seconds:.1f} |"
        )
    by = {(r.mode, r.clips): r for r in rows}
    sizes = sorted({r.clips for r in rows})
    if len(sizes) >= 2:
        lo, hi = sizes[0], sizes[-1]
        for mode in dict.fromkeys(r.mode for r in rows):
            a, b = by.get((mode, lo)), by.get((mode, hi))
            if a and b:
                lines.append(
                    f"\n{mode}: peak RSS at {hi} clips is {b.peak_rss_mb / a.peak_rss_mb - 1:+.1%} of {lo} clips "
                    f"({b.peak_rss_mb - a.peak_rss_mb:+.0f} MB) while the features grew "
                    f"{b.feature_mb - a.feature_mb:.0f} MB."
                )
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ Ray vs local
@dataclass(frozen=True)
class RayRow:
    extractor: str
    clips: int
    frames: int
    local_s: tuple[float, ...]  # one per pair
    ray_s: tuple[float, ...]
    ray_init_s: float

    @property
    def ratios(self) -> list[float]:
        """Ray throughput / local throughput of each back-to-back pair (same frames, so local time / Ray time)."""
        return [lo / r for lo, r in zip(self.local_s, self.ray_s)]

    @property
    def ratio(self) -> float:
        return float(np.median(self.ratios))


def ray_clips(root: Path, n: int) -> tuple[list[Path], str]:
    """n clips in UCF101's layout: copies of the genuine ucf101-mini clips when present (real XviD decoding),
    else small generated videos at UCF101's 320x240."""
    from bench.clips import list_videos, ucf101_mini

    sources = list_videos(ucf101_mini() / "UCF-101")
    label = "copies of the 8 genuine UCF101 clips"
    if not sources:
        sources = [write_video(root / "src" / f"s{i}.avi", i, size=(320, 240)) for i in range(8)]
        label = "generated 320x240 clips"
    out = []
    for i in range(n):
        p = root / "UCF-101" / f"C{i % 8}" / f"v_C{i % 8}_g{i:03d}_c01.avi"
        p.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(sources[i % len(sources)], p)
        out.append(p)
    return out, label


def run_ray_vs_local(n_clips: int, work: Path, pairs: int = 3) -> tuple[list[RayRow], str]:
    """Local, then Ray (one actor), back to back, `pairs` times per extractor, each into an empty cache: a pair
    sees the same machine load, so its ratio holds even when other work comes and goes."""
    import ray

    from streaming.bundle import load_bundle
    from streaming.sampler import Sampling
    from training.features import extract_dataset
    from training.ray_extract import extract_dataset_ray

    repo = Path(__file__).resolve().parents[1]
    paths, label = ray_clips(work / "ray-clips", n_clips)
    extractors = {
        "smallcnn 112x112 (models/demo)": load_bundle(repo / "models" / "demo"),
        "conv 7x7x48 at 128x128 (heavier per frame)": load_bundle(
            make_bundle(work / "heavy", size=128, dim=256, channels=48)
        ),
    }
    t0 = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, logging_level="warning")
    init_s = time.perf_counter() - t0
    spec = Sampling(feature_rate=10)
    rows = []
    try:
        for name, bundle in extractors.items():
            local_s, ray_s, frames = [], [], 0
            for _ in range(pairs):
                cache = Path(tempfile.mkdtemp(dir=work, prefix="cache-"))
                t = time.perf_counter()
                local = extract_dataset(paths, bundle, spec, cache / "local", device="cpu", progress=False)
                local_s.append(time.perf_counter() - t)
                t = time.perf_counter()
                on_ray = extract_dataset_ray(paths, bundle, spec, cache / "ray", device="cpu", workers=1)
                ray_s.append(time.perf_counter() - t)
                if on_ray.computed != len(paths) or on_ray.frames != local.frames:
                    raise RuntimeError(f"Ray did {on_ray.computed} of {len(paths)} clips: {on_ray.failed[:3]}")
                frames = local.frames
                shutil.rmtree(cache, ignore_errors=True)
            rows.append(RayRow(name, len(paths), frames, tuple(local_s), tuple(ray_s), init_s))
    finally:
        ray.shutdown()
    return rows, label


def format_ray(rows: list[RayRow], label: str, workers: tuple[int, ...] = (1, 4, 8, 16)) -> str:
    lines = [
        f"{rows[0].clips} clips ({label}), 10 features/s, batch 32, 2 decoder threads; Ray: one actor "
        "(pool of size 1, num_cpus=1), 16 clips per call; each Ray time includes starting the actor (process, "
        "imports, session), not ray.init.",
        "",
        "| extractor | frames | local s (per pair) | Ray s (per pair) | local frames/s (best) | Ray frames/s (best) | "
        "Ray / local, per pair | median (goal >= 0.9) |",
        "|---|---:|---|---|---:|---:|---|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.extractor} | {r.frames} | {', '.join(f'{x:.1f}' for x in r.local_s)} | "
            f"{', '.join(f'{x:.1f}' for x in r.ray_s)} | {r.frames / min(r.local_s):.0f} | "
            f"{r.frames / min(r.ray_s):.0f} | {', '.join(f'{x:.2f}' for x in r.ratios)} | {r.ratio:.2f} |"
        )
    lines.append(f"\nray.init (a local Ray on this machine): {rows[0].ray_init_s:.1f} s, once per job.")
    ratio = min(1.0, rows[-1].ratio)
    cells = " | ".join(f"{UCF101_ROWS / (INCEPTION_INT8_FPS * ratio * n) / 3600:.2f}" for n in workers)
    lines += [
        "",
        f"All of UCF101 at 10 features/s ({UCF101_CLIPS:,} clips, {UCF101_ROWS:,} frames), InceptionV3 int8 at "
        f"{INCEPTION_INT8_FPS:.0f} frames/s per 2-core worker (section 3) x the Ray ratio {ratio:.2f}:",
        "",
        "| workers like this machine | " + " | ".join(str(n) for n in workers) + " |",
        "|---|" + "---:|" * len(workers),
        "| hours | " + cells + " |",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", choices=("memory", "ray"))
    p.add_argument("--clips", default="100,1000", help="memory: clip counts to compare (default 100,1000)")
    p.add_argument("--ray-clips", type=int, default=96, help="Ray vs local: clips (default 96)")
    p.add_argument("--child", nargs=5, metavar=("MODE", "CLIPS", "N", "BUNDLE", "WORK"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        mode, clips, n, bundle, work = args.child
        print(json.dumps(memory_child(mode, Path(clips), int(n), Path(bundle), Path(work))))
        return 0
    load_before = os.getloadavg()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    with tempfile.TemporaryDirectory(prefix="extraction-memory-bench-") as tmp:
        work = Path(tmp)
        if args.only in (None, "memory"):
            rows = run_memory([int(x) for x in args.clips.split(",")], work)
            print(format_memory(rows), flush=True)
            print(json.dumps([asdict(r) for r in rows]), file=sys.stderr)
        if args.only in (None, "ray"):
            rrows, label = run_ray_vs_local(args.ray_clips, work)
            print("\n" + format_ray(rrows, label), flush=True)
            print(json.dumps([asdict(r) for r in rrows]), file=sys.stderr)
    load_after = os.getloadavg()
    print(
        f"\n_{started}; load average (1/5/15 min) before {', '.join(f'{x:.2f}' for x in load_before)}, "
        f"after {', '.join(f'{x:.2f}' for x in load_after)}_"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
