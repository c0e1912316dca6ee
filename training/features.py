"""Per-clip features for training (cnn or pose bundles), computed exactly as the live engine computes them, and
cached.

Frames are decoded with streaming.video, picked by timestamp with streaming.sampler, and batched through
streaming.extractor's FrameBatch into the bundle's extractor (cnn: preprocessed by streaming.preprocess; pose:
detector + landmarks with one tracking state per clip): the same calls the live engine makes, so a training
feature equals the live feature of the same frame.

    result = extract_dataset(paths, load_bundle("models/demo"), Sampling(), Path("cache"))
    for path, clip in result.features.items(): clip.feats  # N×D float32, one row per sampled frame

With `in_memory=False` the result holds clip paths, not arrays: `features` reads each clip from its cache file
when asked, so memory stays flat however many clips there are (UCF101 at 10 features/s is 7.5 GB of features).
training.ray_extract runs the same pipeline inside Ray actors and writes the same cache files.

The cache keeps one .npz per clip under <root>/<extractor id>-<sampling key>/<class>/<clip>.npz (cnn: the
extractor's hash and frame spec; pose: "pose-" and a hash of both models and the pose settings), written
atomically, so an interrupted extraction resumes where it stopped and a changed extractor kind, model, frame
spec or rate never reuses stale features. A file's size and mtime are stored with its features: a clip
rewritten in place (say, synthetic data regenerated with another seed) is recomputed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import queue
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from streaming.atomic import atomic_file, temp_file_pid
from streaming.bundle import EXTRACTOR_FILES, Bundle
from streaming.clip_features import ClipFeatures
from streaming.clip_sampling import cache_key
from streaming.errors import BundleError, SourceError
from streaming.extractor import AnyExtractor, Extractor, FrameBatch, open_extractor
from streaming.preprocess import preprocess_frame
from streaming.progress import progress_bar
from streaming.sampler import RateSampler, Sampling
from streaming.video import FrameReader

#: Preprocessed frames waiting for the extractor, per batch: bounds memory (a 299×299 frame is 1 MB).
QUEUE_BATCHES = 2
#: How long a blocked decoder waits before checking again whether extraction was stopped.
PUT_TIMEOUT_S = 0.5
#: Errors that mean "this file does not decode", collected per file; anything else is a bug and is raised.
DECODE_ERRORS = (SourceError, cv2.error, OSError)


@dataclass
class ExtractResult:
    """What extract_dataset did: features per path (as given), files that failed and why, and the effort.

    `features` is a dict of arrays (in_memory=True) or a CachedFeatures that reads each clip from the cache
    when asked; both map the path to its ClipFeatures, in the order the paths were given.
    """

    features: Mapping[str, ClipFeatures]
    failed: list[tuple[str, str]]
    computed: int
    cached: int
    seconds: float
    frames: int  # frames run through the extractor in this call
    nodes: dict[str, int] = field(default_factory=dict)  # clips computed per worker node (Ray runs)

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


class FeatureCache:
    """One .npz per clip, in a folder named for everything the features depend on.

    The folder is <extractor id>-<cache_key(spec)>, the extractor id being, for a cnn, <extractor
    sha256[:16]>-<h>x<w>-<color>-<preprocessing> (as before the pose kind existed, so old caches stay valid)
    and, for a pose bundle, pose-<sha256 of both models' hashes and the pose settings>[:16]; the file is
    <class folder>/<clip stem>.npz. CNN and pose features never share a folder.
    """

    def __init__(self, root: Path, bundle: Bundle, spec: Sampling, int8: bool = False):
        m = bundle.manifest
        if m.extractor_kind == "pose":
            if int8:
                raise BundleError(
                    f"{bundle.root}: a pose bundle has no int8 extractor (int8 is for cnn extractors); "
                    "run without --int8"
                )
            models = [m.files[role].sha256 for role in EXTRACTOR_FILES["pose"]]
            parts = [*models, json.dumps(m.pose, sort_keys=True)]
            self.extractor_id = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
            folder = f"pose-{self.extractor_id}"
        else:
            role = bundle.extractor_role(int8)
            frame = m.frame
            self.extractor_id = m.files[role].sha256[:16]
            folder = f"{self.extractor_id}-{frame.height}x{frame.width}-{frame.color}-{frame.preprocessing}"
        self.spec = spec
        self.dir = Path(root) / f"{folder}-{cache_key(spec)}"

    def path_for(self, clip_path: str | os.PathLike) -> Path:
        p = Path(clip_path)
        return self.dir / p.parent.name / f"{p.stem}.npz"

    def get(self, clip_path: str | os.PathLike) -> ClipFeatures | None:
        """Cached features of a clip, or None when absent, unreadable, or the video changed since."""
        return self._read(clip_path, check_source=True, arrays=True)

    def valid(self, clip_path: str | os.PathLike) -> bool:
        """Whether `get` would find the clip, reading only the file's small entries (not its features)."""
        return self._read(clip_path, check_source=True, arrays=False) is not None

    def load(self, clip_path: str | os.PathLike) -> ClipFeatures | None:
        """The clip's cached features even if the video changed since (what an earlier extraction gave)."""
        return self._read(clip_path, check_source=False, arrays=True)

    def _read(self, clip_path: str | os.PathLike, check_source: bool, arrays: bool) -> ClipFeatures | None:
        cpath = self.path_for(clip_path)
        if not cpath.is_file():
            return None
        try:
            with np.load(cpath, allow_pickle=False) as z:  # an .npz reads each entry only when asked
                if str(z["extractor_id"]) != self.extractor_id or str(z["spec_key"]) != cache_key(self.spec):
                    return None
                if check_source and _fingerprint(clip_path) not in (
                    None,
                    (int(z["source_size"]), int(z["source_mtime_ns"])),
                ):
                    return None
                empty = np.zeros(0, np.float32)
                return ClipFeatures(
                    path=str(clip_path),
                    times=z["times"] if arrays else empty,
                    feats=z["feats"] if arrays else empty,
                    frames_read=int(z["frames_read"]),
                    end_reason=str(z["end_reason"]),
                )
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            return None  # damaged (e.g. a disk that filled up): recompute and overwrite

    def put(self, clip: ClipFeatures) -> Path:
        """Write a clip's features atomically (temporary file, fsync, rename): never a half file."""
        final = self.path_for(clip.path)
        size, mtime_ns = _fingerprint(clip.path) or (-1, -1)
        with atomic_file(final) as tmp, open(tmp, "wb") as f:
            np.savez(
                f,
                times=np.asarray(clip.times, np.float64),
                feats=np.asarray(clip.feats, np.float32),
                frames_read=np.int64(clip.frames_read),
                end_reason=np.str_(clip.end_reason),
                extractor_id=np.str_(self.extractor_id),
                spec_key=np.str_(cache_key(self.spec)),
                source=np.str_(str(clip.path)),
                source_size=np.int64(size),
                source_mtime_ns=np.int64(mtime_ns),
            )
        return final

    def remove_stale_temp_files(self) -> int:
        """Delete temporary files left by killed runs (their writer's pid is gone); returns how many."""
        removed = 0
        for tmp in self.dir.glob("*/.*.tmp*"):
            pid = temp_file_pid(tmp.name)
            if pid is None or pid_alive(pid):
                continue  # not ours, or another live extraction is writing it
            tmp.unlink(missing_ok=True)
            removed += 1
        return removed


class CachedFeatures(Mapping[str, ClipFeatures]):
    """Extracted clips' features, read from their cache files when asked: holds paths, not arrays.

    What a training run over all of UCF101 keeps instead of 7.5 GB of features; each access reads one file.

        feats = CachedFeatures(cache, paths)
        for path in feats: feats[path].feats   # one clip in memory at a time
    """

    def __init__(self, cache: FeatureCache, paths: list[str]):
        self.cache = cache
        self.paths = list(dict.fromkeys(paths))
        self._known = set(self.paths)

    def __getitem__(self, path: str) -> ClipFeatures:
        if path not in self._known:
            raise KeyError(path)
        clip = self.cache.load(path)
        if clip is None:
            raise KeyError(
                f"{path}: its cached features ({self.cache.path_for(path)}) are gone or damaged; rerun extraction"
            )
        return clip

    def __contains__(self, path: object) -> bool:
        return path in self._known

    def __iter__(self) -> Iterator[str]:
        return iter(self.paths)

    def __len__(self) -> int:
        return len(self.paths)


class FeatureRows:
    """Clips' feature rows end to end in an unlinked temporary file, read back per batch (pread), so fitting a
    head over all of UCF101 holds one batch of windows in memory, not the data set; indexed like the N×D float32
    array it stands for (`rows[idx]` with an integer array or a slice gives a copy). The file has no name once
    written (POSIX), so no run leaves one behind; the page cache, not this process, holds what is read often.

        rows = FeatureRows.stack(result.features, keys, run_dir)
        rows.lengths   # rows per clip, in `keys` order;  rows[np.arange(40)] -> 40×D
    """

    dtype = np.dtype(np.float32)
    ndim = 2

    def __init__(self, fd: int, name: str, rows: int, dim: int, lengths: list[int]):
        self._fd, self._name = fd, name
        self.shape = (rows, dim)
        self.lengths = lengths
        self._row_bytes = dim * self.dtype.itemsize
        self._lock = threading.Lock()  # only where os.pread is missing (Windows): seek + read must pair up

    @classmethod
    def stack(cls, features: Mapping[str, ClipFeatures], keys: list[str], folder: Path) -> FeatureRows:
        """Write the clips' rows in `keys` order, reading one clip at a time."""
        fd, name = tempfile.mkstemp(dir=folder, prefix=".rows-", suffix=".f32")
        with contextlib.suppress(OSError):  # POSIX: the open descriptor keeps the data; Windows: removed in close()
            os.unlink(name)
            name = ""
        lengths, dim = [], 0
        try:
            for k in keys:
                feats = np.ascontiguousarray(features[k].feats, np.float32)
                if feats.ndim != 2 or (dim and feats.shape[1] != dim):
                    raise ValueError(f"{k}: features of shape {feats.shape}, expected N×{dim or 'D'}")
                dim = int(feats.shape[1])
                view = memoryview(feats).cast("B")
                while view:
                    view = view[os.write(fd, view) :]
                lengths.append(len(feats))
        except BaseException:
            os.close(fd)
            if name:
                os.unlink(name)
            raise
        return cls(fd, name, sum(lengths), dim, lengths)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index) -> np.ndarray:
        if isinstance(index, slice):
            index = np.arange(*index.indices(len(self)))
        idx = np.asarray(index, np.int64)
        flat = idx.reshape(-1)
        if flat.size and (flat.min() < 0 or flat.max() >= len(self)):
            raise IndexError(f"row index out of range 0..{len(self) - 1}")
        out = np.empty((flat.size, self.shape[1]), np.float32)
        starts = np.flatnonzero(np.diff(flat) != 1) + 1  # one read per run of consecutive rows (a window)
        for a, b in zip(np.r_[0, starts], np.r_[starts, flat.size]):
            buf = memoryview(out[a:b]).cast("B")
            self._read_into(buf, int(flat[a]) * self._row_bytes)
        return out.reshape(idx.shape + (self.shape[1],))

    def _read_into(self, buf: memoryview, offset: int) -> None:
        got = 0
        while got < len(buf):
            if hasattr(os, "pread"):
                chunk = os.pread(self._fd, len(buf) - got, offset + got)
            else:  # pragma: no cover - Windows
                with self._lock:
                    os.lseek(self._fd, offset + got, os.SEEK_SET)
                    chunk = os.read(self._fd, len(buf) - got)
            if not chunk:
                raise OSError(f"feature rows file ended early at byte {offset + got}")
            buf[got : got + len(chunk)] = chunk
            got += len(chunk)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
            if self._name:
                with contextlib.suppress(OSError):
                    os.unlink(self._name)

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


def _fingerprint(path: str | os.PathLike) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None  # video gone: its cached features still stand
    return st.st_size, st.st_mtime_ns


def pid_alive(pid: int) -> bool:
    """Whether a process of this pid runs on this host (a temporary file's writer, say)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _reason(path: str | os.PathLike, exc: BaseException) -> str:
    """An error's message without the leading '<path>: ' that SourceError messages carry."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    prefix = f"{path}: "
    return text[len(prefix) :] if text.startswith(prefix) else text


# Messages from decoder threads to the extraction loop: (kind, clip number, payload).
_FRAME, _END, _FAIL, _DONE, _CRASH = "frame", "end", "fail", "done", "crash"


def _put(q: queue.Queue, item: tuple, stop: threading.Event) -> bool:
    """Put into a bounded queue, giving up when extraction is stopped (so no thread hangs on a full queue)."""
    while not stop.is_set():
        try:
            q.put(item, timeout=PUT_TIMEOUT_S)
            return True
        except queue.Full:
            continue
    return False


def _decode_clip(
    idx: int, path: str, spec: Sampling, extractor: AnyExtractor, out: queue.Queue, stop: threading.Event
) -> None:
    """Decode one clip, sending its due frames (cnn: preprocessed here, in parallel with the extractor; pose: as
    decoded, the pipeline crops them), then END (or FAIL with the reason)."""
    fspec = extractor.spec if isinstance(extractor, Extractor) else None
    try:
        reader = FrameReader(path)
        sampler = RateSampler(spec.feature_rate)
        with contextlib.closing(iter(reader)) as frames:
            for t, frame in frames:
                if stop.is_set():
                    return
                if not sampler.take(t):
                    continue
                x = preprocess_frame(frame, fspec) if fspec is not None else frame
                if not _put(out, (_FRAME, idx, (t, x)), stop):
                    return
    except DECODE_ERRORS as exc:
        _put(out, (_FAIL, idx, _reason(path, exc)), stop)
        return
    _put(out, (_END, idx, (reader.frames_read, reader.end_reason)), stop)


def _decode_worker(
    jobs: queue.Queue, spec: Sampling, extractor: AnyExtractor, out: queue.Queue, stop: threading.Event
) -> None:
    try:
        while not stop.is_set():
            try:
                idx, path = jobs.get_nowait()
            except queue.Empty:
                break
            _decode_clip(idx, path, spec, extractor, out, stop)
    except BaseException as exc:  # a bug, not a bad file: hand it to the main thread to raise
        _put(out, (_CRASH, -1, exc), stop)
    finally:
        _put(out, (_DONE, -1, None), stop)


@dataclass
class _Pending:
    """A clip whose frames are on their way through the extractor."""

    path: str
    state: object = None  # the extractor's state for this clip (pose tracking), from new_state()
    times: list[float] = field(default_factory=list)
    rows: list[np.ndarray] = field(default_factory=list)
    end: tuple[int, str] | None = None

    @property
    def complete(self) -> bool:
        return self.end is not None and len(self.rows) == len(self.times)


def extract_dataset(
    paths: list[Path],
    bundle: Bundle,
    spec: Sampling,
    cache_dir: Path,
    device: str = "auto",
    int8: bool = False,
    batch_size: int = 32,
    decode_workers: int = 2,
    progress: bool = True,
    in_memory: bool = True,
) -> ExtractResult:
    """Features for every clip, from the cache where present, else computed and cached.

    Decoder threads read clips and (cnn) preprocess their due frames into a bounded queue while this thread runs
    the extractor on full batches that span clip boundaries (OpenCV and ONNX Runtime release the GIL). A pose
    bundle gives each clip a fresh tracking state and a batch at most one frame of each clip (its next crop
    comes from this frame), so its batches hold one frame per clip in flight: up to `decode_workers`.
    Files that do not decode are listed in `failed`, not fatal. Safe to interrupt and rerun.

    `in_memory=False` keeps no features: the result's `features` reads them from the cache when asked (a
    CachedFeatures), and cached clips are only checked, not read, so memory does not grow with the clips.
    """
    if batch_size < 1 or decode_workers < 1:
        raise ValueError(f"batch_size and decode_workers must be >= 1, got {batch_size}, {decode_workers}")
    start = time.perf_counter()
    cache = FeatureCache(cache_dir, bundle, spec, int8=int8)
    cache.remove_stale_temp_files()
    unique = list(dict.fromkeys(str(p) for p in paths))
    features: dict[str, ClipFeatures] = {}
    hits: set[str] = set()
    todo: list[str] = []
    for p in unique:
        hit = cache.get(p) if in_memory else (p if cache.valid(p) else None)
        if hit is None:
            todo.append(p)
        else:
            hits.add(p)
            if in_memory:
                features[p] = hit
    fill = CacheFill()
    if todo:
        bar = progress_bar(total=len(unique), initial=len(hits), unit="clip", desc="features", enabled=progress)
        try:
            extractor = open_extractor(bundle, int8=int8, device=device)
            keep = (lambda clip: features.__setitem__(clip.path, clip)) if in_memory else None
            fill = extract_into_cache(todo, extractor, cache, batch_size, decode_workers, keep, bar, start)
        finally:
            bar.close()
    report_failed(fill.failed, len(unique), progress)
    available = hits | set(fill.done)
    ordered = [p for p in unique if p in available]
    return ExtractResult(
        features={p: features[p] for p in ordered} if in_memory else CachedFeatures(cache, ordered),
        failed=fill.failed,
        computed=len(fill.done),
        cached=len(hits),
        seconds=time.perf_counter() - start,
        frames=fill.frames,
    )


def report_failed(failed: list[tuple[str, str]], total: int, enabled: bool = True) -> None:
    """The files that did not decode, each with its reason, on stderr."""
    if failed and enabled:
        print(f"{len(failed)} of {total} files could not be decoded (skipped):", file=sys.stderr)
        for p, why in failed:
            print(f"  {p}: {why}", file=sys.stderr)


@dataclass
class CacheFill:
    """What one extract_into_cache call did: clips written to the cache (with their feature rows), files that
    failed and why, frames run."""

    done: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    frames: int = 0
    rows: dict[str, int] = field(default_factory=dict)


def extract_into_cache(
    todo: list[str],
    extractor: AnyExtractor,
    cache: FeatureCache,
    batch_size: int = 32,
    decode_workers: int = 2,
    keep: Callable[[ClipFeatures], None] | None = None,
    bar: tqdm | None = None,
    start: float | None = None,
) -> CacheFill:
    """The pipeline: decoder threads -> bounded queue -> FrameBatch + extractor here -> cache, for clips known
    not to be cached. Each finished clip is written to the cache (and handed to `keep`, when given), then
    dropped: memory holds only the clips in flight. A Ray actor calls this with its own extractor session."""
    start = time.perf_counter() if start is None else start
    fill = CacheFill()
    jobs: queue.Queue = queue.Queue()
    for item in enumerate(todo):
        jobs.put(item)
    out: queue.Queue = queue.Queue(maxsize=QUEUE_BATCHES * batch_size)
    stop = threading.Event()
    n_workers = min(decode_workers, len(todo))
    workers = [
        threading.Thread(
            target=_decode_worker, args=(jobs, cache.spec, extractor, out, stop), name=f"decode-{i}", daemon=True
        )
        for i in range(n_workers)
    ]
    batch = FrameBatch(extractor, batch_size)  # tags: the clip number of each frame
    prepared = isinstance(extractor, Extractor)  # cnn frames arrive preprocessed by the decoder threads
    pending: dict[int, _Pending] = {}

    def finish(idx: int) -> None:
        p = pending.pop(idx)
        clip = ClipFeatures(
            path=p.path,
            times=np.asarray(p.times, np.float64),
            feats=np.stack(p.rows).astype(np.float32, copy=False),
            frames_read=p.end[0],
            end_reason=p.end[1],
        )
        cache.put(clip)
        fill.done.append(p.path)
        fill.rows[p.path] = len(p.rows)
        if keep is not None:
            keep(clip)
        if bar is not None:
            bar.update(1)

    def run_batch() -> None:
        owners, result = batch.run()
        fill.frames += len(owners)
        for i, idx in enumerate(owners):
            if idx in pending:  # a clip that failed mid-way is gone
                pending[idx].rows.append(result.features[i])
        for idx in dict.fromkeys(owners):
            if idx in pending and pending[idx].complete:
                finish(idx)
        if bar is not None:
            rate = fill.frames / max(time.perf_counter() - start, 1e-9)
            bar.set_postfix_str(f"{rate:.0f} frames/s", refresh=False)

    def clip(idx: int) -> _Pending:
        if idx not in pending:
            pending[idx] = _Pending(todo[idx], state=extractor.new_state())
        return pending[idx]

    for w in workers:
        w.start()
    try:
        done = 0
        while done < n_workers:
            kind, idx, payload = out.get()
            if kind == _FRAME:
                t, x = payload
                p = clip(idx)
                if not batch.room_for(p.state):
                    run_batch()
                p.times.append(t)
                if prepared:
                    batch.add_prepared(x, idx)
                else:
                    batch.add(x, p.state, idx)
                if batch.full:
                    run_batch()
            elif kind == _END:
                p = clip(idx)
                p.end = payload
                if p.complete:
                    finish(idx)
            elif kind == _FAIL:
                pending.pop(idx, None)
                fill.failed.append((todo[idx], payload))
                if bar is not None:
                    bar.update(1)
            elif kind == _DONE:
                done += 1
            elif kind == _CRASH:
                raise payload
        if len(batch):
            run_batch()
    finally:
        stop.set()
        for w in workers:
            w.join(timeout=5 * PUT_TIMEOUT_S)
    return fill
