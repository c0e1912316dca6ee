"""Writes that never leave half a file or half a folder: write beside the target, then rename into place.

Every file the project writes for later use (bundles, manifests, feature caches, checkpoints, plots, clips,
alert logs) goes through here, so an interrupted run loses nothing and one permission rule holds everywhere:
what a plain open()/mkdir() would give under the user's umask.

    atomic_write_text(Path("out/report.json"), text)
    with atomic_file(Path("out/model.keras")) as tmp:   # tmp keeps the suffix, for writers that go by it
        model.save(tmp)
    with atomic_dir(Path("models/mine")) as tmp:        # a whole folder, swapped in when complete
        ...
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path


def default_mode(directory: bool = False) -> int:
    """The permissions a plain open()/mkdir() would give under the current umask.

    mkstemp/mkdtemp create owner-only (0600/0700) files and folders; what we write should be as readable as any file.
    """
    try:  # Linux says it without touching the process-wide umask
        line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("Umask:"))
        umask = int(line.split()[1], 8)
    except (OSError, StopIteration, ValueError, IndexError):
        umask = os.umask(0o022)
        os.umask(umask)
    return (0o777 if directory else 0o666) & ~umask


def temp_file_pid(name: str) -> int | None:
    """The pid of the process that wrote an atomic_file temporary file of this name, or None if not one."""
    m = re.search(r"\.(\d+)\.[^.]+\.tmp(\.[^.]*)?$", name)
    return int(m.group(1)) if m and name.startswith(".") else None


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    """Make a rename inside `path` durable; some filesystems refuse to open a folder, which is fine."""
    with contextlib.suppress(OSError):
        _fsync_path(path)


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, durable: bool = True, keep_suffix: bool = False) -> Iterator[Path]:
    """A temporary path beside `path` to write to; renamed onto `path` only if the block succeeds.

    `durable` flushes the file to disk before the rename, so a power cut leaves the old file or the new one.
    `keep_suffix` ends the temporary name with `path`'s suffix, for writers that pick the format by it (Keras,
    OpenCV's VideoWriter); otherwise it ends in .tmp, so nothing globbing for the real suffix counts it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # the writer's pid in the name lets a cleanup tell a killed writer's leftovers from a live writer's file
    fd, name = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=f".tmp{path.suffix if keep_suffix else ''}"
    )
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, default_mode())
        if durable:
            _fsync_path(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        _fsync_dir(path.parent)


def atomic_write_bytes(path: str | os.PathLike, data: bytes, durable: bool = True) -> Path:
    with atomic_file(path, durable) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str, durable: bool = True) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"), durable)


@contextlib.contextmanager
def atomic_dir(
    out: str | os.PathLike, start_from_existing: bool = False, check: Callable[[Path], None] | None = None
) -> Iterator[Path]:
    """A temporary sibling folder to fill; it replaces `out` whole only when the block succeeds.

    `start_from_existing` starts from a copy of `out` (to add files to it); `check(tmp)` may raise to refuse the
    result. On any error the temporary folder is removed and `out` is left as it was.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".partial"))
    try:
        if start_from_existing and out.is_dir():
            shutil.copytree(out, tmp, dirs_exist_ok=True)
        yield tmp
        if check is not None:
            check(tmp)
        os.chmod(tmp, default_mode(directory=True))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(out, old)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    _fsync_dir(out.parent)
