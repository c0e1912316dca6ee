"""Source policy: checking a source someone typed into a web page before anything opens it.

A dashboard reachable by other people must not become a way to read the server's files or to make it connect
to arbitrary schemes. A typed source is accepted only as a network stream URL with an allowed scheme, or as a
video file inside one of the folders the operator passed with `--clips`. Everything else is refused with a
one-line SourceError saying why and what to type instead.

    clips = ClipFolders(["data/ucf101/test"])
    spec = check_source("rtsp://cam.local:8554/live", clips)    # returns the string to give open_source()
    check_source("file:///etc/passwd", clips)                   # raises SourceError
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

from streaming.errors import SourceError
from streaming.sources import safe_url
from streaming.video import VIDEO_SUFFIXES

#: URL schemes a typed source may use. OpenCV/FFmpeg know many more (file, concat, pipe, ftp, ...), which is
#: exactly why the list is closed.
ALLOWED_SCHEMES = ("rtsp", "rtsps", "http", "https")
MAX_SOURCE_CHARS = 2048
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
_HOST = re.compile(r"^(?:[A-Za-z0-9_](?:[A-Za-z0-9_\-]{0,61}[A-Za-z0-9_])?\.?)+$|^\[[0-9A-Fa-f:.]+\]$")


class ClipFolders:
    """The folders whose video files may be replayed (resolved once, symlinks followed)."""

    def __init__(self, folders: Iterable[str | os.PathLike] = ()) -> None:
        roots = []
        for folder in folders:
            p = Path(folder).expanduser()
            if not p.is_dir():
                raise SourceError(f"{p}: clips folder not found (pass an existing folder with --clips)")
            roots.append(p.resolve())
        self.roots: tuple[Path, ...] = tuple(roots)

    def contains(self, path: Path) -> bool:
        """True if `path` (already resolved) lies inside one of the folders."""
        return any(path == root or path.is_relative_to(root) for root in self.roots)

    def clips(self, limit: int = 1000) -> list[Path]:
        """Video files under the folders, sorted, at most `limit` (a UCF101 split is ~3800 files)."""
        found: list[Path] = []
        for root in self.roots:
            for p in sorted(root.rglob("*")):
                # a symlink to a file outside the folders is no clip of theirs (typing its path is refused too)
                if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file() and self.contains(p.resolve()):
                    found.append(p)
                    if len(found) >= limit:
                        return found
        return found


def check_source(text: str, clip_folders: ClipFolders) -> str:
    """Return the source string to open, or raise SourceError saying why it is refused."""
    text = (text or "").strip()
    if not text:
        raise SourceError("no source given: type an rtsp://, rtsps://, http:// or https:// URL, or pick a clip")
    if len(text) > MAX_SOURCE_CHARS:
        raise SourceError(f"source refused: longer than {MAX_SOURCE_CHARS} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise SourceError("source refused: it contains control characters")
    m = _SCHEME.match(text)
    if m and not _looks_like_windows_drive(text):
        return check_url(text)
    return str(check_clip_path(text, clip_folders))


def check_url(text: str) -> str:
    """Validate a stream URL: allowed scheme, a plausible host, a valid port, no spaces."""
    m = _SCHEME.match(text)
    scheme = m.group(1).lower() if m else ""
    if scheme == "file":
        raise SourceError(
            "file:// URLs are refused: local files can only be replayed from the clip list "
            "(folders the operator passed with --clips)"
        )
    if scheme not in ALLOWED_SCHEMES:
        raise SourceError(
            f"URL scheme {scheme + ':'!r} is refused; allowed: " + ", ".join(s + "://" for s in ALLOWED_SCHEMES)
        )
    if not text[len(scheme) + 1 :].startswith("//"):
        raise SourceError(f"malformed URL {redact_url(text)!r}: expected {scheme}://host[:port]/path")
    if any(c.isspace() for c in text):
        raise SourceError(f"malformed URL {redact_url(text)!r}: it contains spaces")
    try:
        parts = urlsplit(text)
        port = parts.port  # raises ValueError for a non-numeric or out-of-range port
        host = parts.hostname or ""
    except ValueError as exc:
        raise SourceError(f"malformed URL {redact_url(text)!r}: {exc}") from exc
    if not host or not _HOST.match(host if ":" not in host else f"[{host}]"):
        raise SourceError(f"malformed URL {redact_url(text)!r}: no valid host name")
    if port is not None and port == 0:
        raise SourceError(f"malformed URL {redact_url(text)!r}: port 0 is not a port")
    return text


def check_clip_path(text: str, clip_folders: ClipFolders) -> Path:
    """A local path is allowed only if, after following symlinks and '..', it is a file inside a clips folder."""
    if text.isdigit():
        raise SourceError(
            "server cameras cannot be opened from the page; use the Webcam source (your browser's "
            "camera) or a camera URL"
        )
    if not clip_folders.roots:
        raise SourceError(
            "local paths are refused: this dashboard has no clip folders (the operator can add "
            "some with --clips DIR); use a camera URL, an upload or the demo clip"
        )
    p = Path(text).expanduser()
    if not p.is_absolute():  # relative to a clips folder ("clip.avi") or naming it ("folder/clip.avi")
        candidates = [root / p for root in clip_folders.roots]
        candidates += [root.parent / p for root in clip_folders.roots if p.parts and p.parts[0] == root.name]
        p = next((c for c in candidates if c.exists()), candidates[0])
    resolved = p.resolve()
    if not clip_folders.contains(resolved):
        raise SourceError(
            f"{text}: refused, local files must be inside the clip folders "
            f"({', '.join(r.name for r in clip_folders.roots)})"
        )
    if not resolved.is_file():
        raise SourceError(f"{text}: no such clip in the clip folders")
    return resolved


def redact_url(url: str) -> str:
    """The URL without its credentials, for showing on a page or in a log; never raises."""
    try:
        return safe_url(url)
    except ValueError:  # a malformed port: hide whatever precedes an '@'
        return re.sub(r"//[^/@]*@", "//***@", url)


def _looks_like_windows_drive(text: str) -> bool:
    return len(text) >= 3 and text[1] == ":" and text[0].isalpha() and text[2] in "\\/"
