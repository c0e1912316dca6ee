"""Dataset extraction on Ray Data: the clip list becomes a Ray Dataset and actors, each holding one extractor
session, run the local pipeline (decode, sample, preprocess, batch, extract: training.features.extract_into_cache)
and write the same per-clip cache files, so local and Ray runs share, resume and skip each other's work.

    result = extract_dataset_ray(paths, load_bundle("runs/x/bundle"), Sampling(), Path("/shared/cache"),
                                 address="auto")          # None: a Ray on this machine (started if none runs)
    result.features[path].feats                           # read from the cache when asked

Only clip paths go in and one small row per clip comes back: decoded frames never become Ray blocks (they blow
up block sizes, ray issue 32746). The bundle, the videos and the cache must be at the same paths on every node
(a shared filesystem); a worker that cannot see the cache or the bundle says so, and the job stops.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
import uuid
from dataclasses import asdict
from pathlib import Path

import numpy as np

from streaming.atomic import atomic_write_text, temp_file_pid
from streaming.bundle import Bundle, load_bundle
from streaming.errors import ActionstreamError
from streaming.extractor import open_extractor
from streaming.progress import progress_bar
from streaming.ray_cluster import connect, import_ray
from streaming.sampler import Sampling
from training.features import (
    CachedFeatures,
    CacheFill,
    ExtractResult,
    FeatureCache,
    extract_into_cache,
    pid_alive,
    report_failed,
)

#: Clips per actor call: each call fills and drains the decode/inference pipeline once, so fewer, larger calls
#: waste less (measured here: 16 kept Ray within 10 % of local extraction, 4 lost 15-30 %); small enough to
#: spread 13,320 UCF101 clips over many workers and report progress often.
CLIPS_PER_CALL = 16
#: Calls queued at an actor beyond the running one: the next clips' paths are there when a call ends, and no
#: actor hoards the work that a slower-starting actor on another node could take.
CALLS_IN_FLIGHT = 2
#: CPUs a CPU actor reserves. Its ONNX Runtime session still uses every core of its node; the reservation only
#: keeps CPUs free for Ray Data's own tasks (a pool taking every CPU of a 2-core machine hung: ray issue 44687).
CPUS_PER_ACTOR = 1
#: What a row's status says.
DONE, CACHED, FAILED, FATAL = "done", "cached", "failed", "fatal"


class ClipExtractor:
    """A Ray Data actor: one extractor session, kept across calls; each call extracts a few clips into the cache.

    A problem that concerns every clip (the cache or the bundle not reachable from this node) comes back as a
    FATAL row, so the driver stops with that one message instead of Ray retrying an actor that cannot work.
    """

    def __init__(
        self,
        bundle_root: str,
        sampling: dict,
        cache_root: str,
        probe: str,
        device: str,
        int8: bool,
        batch_size: int,
        decode_workers: int,
    ):
        import ray

        self.node = f"{socket.gethostname()}:{ray.get_runtime_context().get_node_id()[:8]}"
        self.batch_size, self.decode_workers = batch_size, decode_workers
        self.problem = ""
        try:
            bundle = load_bundle(bundle_root)
        except (ActionstreamError, OSError) as exc:
            self.problem = (
                f"the bundle {bundle_root} cannot be loaded on worker node {self.node} ({exc}); "
                "put it on a filesystem every node mounts at the same path"
            )
            return
        self.cache = FeatureCache(Path(cache_root), bundle, Sampling(**sampling), int8=int8)
        if not Path(probe).is_file() or not os.access(self.cache.dir, os.W_OK):
            self.problem = (
                f"the feature cache {self.cache.dir} is not reachable (or not writable) from worker node "
                f"{self.node}; put it on a filesystem every node mounts at the same path (--cache DIR)"
            )
            return
        self.extractor = open_extractor(bundle, int8=int8, device=device)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        keys = [str(k) for k in batch["key"]]
        files = [str(f) for f in batch["file"]]
        status = {f: FATAL if self.problem else CACHED for f in files}
        reason = {f: self.problem for f in files}
        frames = dict.fromkeys(files, 0)
        if not self.problem:
            todo = [f for f in files if not self.cache.valid(f)]  # another run may have done them meanwhile
            for fill in self._extract(todo):
                for f in fill.done:
                    status[f], frames[f] = DONE, fill.rows[f]
                for f, why in fill.failed:
                    status[f], reason[f] = FAILED, why
        return {
            "key": np.asarray(keys, dtype=object),
            "status": np.asarray([status[f] for f in files], dtype=object),
            "reason": np.asarray([reason[f] for f in files], dtype=object),
            "frames": np.asarray([frames[f] for f in files], np.int64),
            "node": np.asarray([self.node] * len(files), dtype=object),
        }

    def _extract(self, todo: list[str]) -> list[CacheFill]:
        """The clips together; if that raises (a bug, not a bad file), one by one, so only the culprit fails."""
        if not todo:
            return []
        try:
            return [self._fill(todo)]
        except Exception:  # noqa: BLE001 - isolate the clip below; its error is reported with its name
            fills = []
            for f in todo:
                try:
                    fills.append(self._fill([f]))
                except Exception as exc:  # noqa: BLE001 - named per clip, the job goes on
                    fills.append(CacheFill(failed=[(f, f"{type(exc).__name__}: {exc}")]))
            return fills

    def _fill(self, todo: list[str]) -> CacheFill:
        return extract_into_cache(todo, self.extractor, self.cache, self.batch_size, self.decode_workers)


def pool_size(ray, use_gpu: bool) -> int:
    """One actor per GPU, or (CPU) one per node that can hold one: a CPU actor's session already uses all of its
    node's cores (a head started with --num-cpus=0 takes none)."""
    if use_gpu:
        return max(1, int(ray.cluster_resources().get("GPU", 0)))
    nodes = [n for n in ray.nodes() if n.get("Alive") and n.get("Resources", {}).get("CPU", 0) >= CPUS_PER_ACTOR]
    return max(1, len(nodes))


def extract_dataset_ray(
    paths: list[Path],
    bundle: Bundle,
    spec: Sampling,
    cache_dir: Path,
    address: str | None = None,
    device: str = "auto",
    int8: bool = False,
    batch_size: int = 32,
    decode_workers: int = 2,
    workers: int | None = None,
    progress: bool = True,
    clips_per_call: int = CLIPS_PER_CALL,
) -> ExtractResult:
    """extract_dataset on a Ray cluster: same cache, same features, same result (features read from the cache).

    `device` cuda (or auto on a cluster with GPUs) gives each actor a GPU (num_gpus=1); `workers` is the actor
    pool's size (default: one per GPU, or one per node). A file that does not decode, or a clip whose extraction
    raises, is listed in `failed` with its reason; the other clips are done.
    """
    if batch_size < 1 or decode_workers < 1 or clips_per_call < 1 or (workers is not None and workers < 1):
        raise ValueError(
            f"batch_size, decode_workers, clips_per_call and workers must be >= 1, got "
            f"{batch_size}, {decode_workers}, {clips_per_call}, {workers}"
        )
    start = time.perf_counter()
    cache = FeatureCache(cache_dir, bundle, spec, int8=int8)
    cache.dir.mkdir(parents=True, exist_ok=True)
    cache.remove_stale_temp_files()
    unique = list(dict.fromkeys(str(p) for p in paths))
    hits = {p for p in unique if cache.valid(p)}
    todo = [p for p in unique if p not in hits]
    done: set[str] = set()
    failed: list[tuple[str, str]] = []
    nodes: dict[str, int] = {}
    frames = 0
    if todo:
        ray = import_ray()
        started_here = connect(address)
        _remove_stale_probes(cache.dir)
        probe = cache.dir / f".ray-probe.{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex}.tmp"
        atomic_write_text(probe, f"written by {socket.gethostname()} pid {os.getpid()}\n")
        try:
            rows = _run(
                ray, todo, bundle, spec, cache, probe, device, int8, batch_size, decode_workers, workers, clips_per_call
            )
            bar = progress_bar(total=len(unique), initial=len(hits), unit="clip", desc="features", enabled=progress)
            ray_start = time.perf_counter()
            try:
                for row in rows:
                    key, status = str(row["key"]), str(row["status"])
                    if status == FATAL:
                        raise ActionstreamError(str(row["reason"]))
                    if status == FAILED:
                        failed.append((key, str(row["reason"])))
                    else:
                        done.add(key)
                        frames += int(row["frames"])
                        if status == DONE:
                            nodes[str(row["node"])] = nodes.get(str(row["node"]), 0) + 1
                    bar.update(1)
                    s = max(time.perf_counter() - ray_start, 1e-9)
                    bar.set_postfix_str(f"{(len(done) + len(failed)) / s:.2f} clips/s, {frames / s:.0f} frames/s")
            except ray.exceptions.RayError as exc:  # the job itself (not one clip) failed: workers lost, say
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise ActionstreamError(
                    f"the Ray extraction stopped ({first}); finished clips are cached: rerun to resume"
                ) from exc
            finally:
                bar.close()
        finally:
            probe.unlink(missing_ok=True)
            if started_here:
                ray.shutdown()
    report_failed(failed, len(unique), progress)
    if progress and len(nodes) > 1:
        print("clips per worker node: " + ", ".join(f"{n} {c}" for n, c in sorted(nodes.items())), file=sys.stderr)
    available = hits | done
    return ExtractResult(
        features=CachedFeatures(cache, [p for p in unique if p in available]),
        failed=failed,
        computed=sum(nodes.values()),
        cached=len(hits) + len(done) - sum(nodes.values()),
        seconds=time.perf_counter() - start,
        frames=frames,
        nodes=nodes,
    )


def _remove_stale_probes(folder: Path) -> None:
    """Probe files of killed drivers on this host (their pid is gone); a live or another host's driver's stay."""
    host = socket.gethostname()
    for probe in folder.glob(f".ray-probe.{host}.*.tmp"):
        pid = temp_file_pid(probe.name)
        if pid is not None and not pid_alive(pid):
            probe.unlink(missing_ok=True)


def _run(ray, todo, bundle, spec, cache, probe, device, int8, batch_size, decode_workers, workers, clips_per_call):
    """The Ray Data pipeline: clip paths -> ClipExtractor actors -> one row per clip, as they finish."""
    from ray.data import ActorPoolStrategy, DataContext

    ctx = DataContext.get_current()
    ctx.enable_progress_bars = False  # ours counts clips and frames
    ctx.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)  # its "progress bars disabled" and per-run notes
    use_gpu = device == "cuda" or (device == "auto" and ray.cluster_resources().get("GPU", 0) > 0)
    size = workers or pool_size(ray, use_gpu)
    items = [{"key": p, "file": str(Path(p).resolve())} for p in todo]  # workers have another cwd
    ds = ray.data.from_items(items, override_num_blocks=max(1, -(-len(items) // clips_per_call)))
    resources = {"num_gpus": 1} if use_gpu else {"num_cpus": CPUS_PER_ACTOR}
    out = ds.map_batches(
        ClipExtractor,
        batch_size=clips_per_call,
        batch_format="numpy",
        compute=ActorPoolStrategy(size=size, max_tasks_in_flight_per_actor=CALLS_IN_FLIGHT),
        fn_constructor_kwargs={
            "bundle_root": str(Path(bundle.root).resolve()),
            "sampling": asdict(spec),
            "cache_root": str(Path(cache.dir).parent.resolve()),
            "probe": str(Path(probe).resolve()),
            "device": "cuda" if use_gpu else ("cpu" if device == "auto" else device),
            "int8": int8,
            "batch_size": batch_size,
            "decode_workers": decode_workers,
        },
        **resources,  # Ray Data places actors with its default strategy, SPREAD: over the nodes
    )
    return out.iter_rows()
