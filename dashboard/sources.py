"""What a page may pick as its source, and how a pick becomes something `streaming.sources.open_source` opens.

The Live tab's picker offers four kinds (`SourceKind`); the example clips are listed by display name, so a
forged dropdown value is never taken as a path. Typed URLs and paths go through the source policy first.

    catalog = SourceCatalog(find_clips(ClipFolders(["data/ucf101/test"]), demo_clip), folders)
    spec, name = catalog.resolve(SourceKind.EXAMPLE, "test/v_Drumming_g01_c01.avi", None, None)
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from dashboard.source_policy import VIDEO_SUFFIXES, ClipFolders, check_source, redact_url
from streaming.errors import SourceError

DEMO_CLIP_KEY = "demo clip (synthetic actions)"
#: A UCF101 test split has ~3800 clips: the dropdown lists the first ones, the rest can be typed as paths.
MAX_EXAMPLE_CLIPS = 1000


class SourceKind(str, Enum):
    """The Live tab's source picker; the value is the radio button's text."""

    EXAMPLE = "Example clip"
    WEBCAM = "Webcam (this browser)"
    URL = "Camera URL (RTSP/HTTP)"
    UPLOAD = "Upload a video"


@dataclass(frozen=True)
class SourceCatalog:
    """The sources this dashboard may open: its example clips by display name, and the folders typed paths
    must lie in."""

    clips: dict[str, Path]
    folders: ClipFolders

    def resolve(self, kind: str, example: str | None, url: str | None, upload: str | None) -> tuple[str, str]:
        """The source spec and display name for the Live tab's choice; SourceError if refused."""
        if kind == SourceKind.EXAMPLE:
            if not example or example not in self.clips:
                raise SourceError("pick an example clip from the list")
            return str(self.clips[example]), clip_name(example)
        if kind == SourceKind.URL:
            return self.typed(url or "")
        if kind == SourceKind.UPLOAD:
            if not upload:
                raise SourceError("upload a video file first")
            path = Path(upload)
            if path.suffix.lower() not in VIDEO_SUFFIXES:
                raise SourceError(f"{path.name}: not a video file name ({', '.join(VIDEO_SUFFIXES)})")
            return str(path), path.stem
        raise SourceError(f"unknown source kind {kind!r}")

    def typed(self, text: str) -> tuple[str, str]:
        """A typed URL or clip path, checked by the source policy: (spec, display name)."""
        spec = check_source(text, self.folders)
        return spec, display_name(spec)

    def named_or_typed(self, text: str) -> tuple[str, str]:
        """An example clip by its name in the list, else a typed URL or clip path (the HTTP API's `source`)."""
        if text in self.clips:
            return str(self.clips[text]), clip_name(text)
        return self.typed(text)


def find_clips(clip_folders: ClipFolders, demo_clip: Path | None) -> dict[str, Path]:
    """Example clips by display name: the bundled demo clip first, then clips under --clips folders."""
    clips: dict[str, Path] = {}
    if demo_clip is not None and demo_clip.is_file():
        clips[DEMO_CLIP_KEY] = demo_clip
    found = clip_folders.clips(limit=MAX_EXAMPLE_CLIPS)
    if len(found) >= MAX_EXAMPLE_CLIPS:
        print(
            f"warning: only the first {MAX_EXAMPLE_CLIPS} clips under --clips are listed as examples (the others "
            "can still be typed as paths)",
            file=sys.stderr,
        )
    for path in found:
        root = next(r for r in clip_folders.roots if path.is_relative_to(r))
        clips[f"{root.name}/{path.relative_to(root)}"] = path
    return clips


def clip_name(key: str) -> str:
    """The stream's name for an example clip: its file stem ('demo' for the demo clip)."""
    return "demo" if key == DEMO_CLIP_KEY else Path(key).stem


def display_name(spec: str) -> str:
    """A URL without its credentials, or a clip's file stem."""
    return redact_url(spec) if "://" in spec else Path(spec).stem
