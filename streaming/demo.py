"""The out-of-the-box defaults: the bundled demo model and the demo clip behind `--source demo`.

The clip is committed at models/demo/demo.avi; when it is missing (an installed package, a fresh checkout
before `make demo-model`) it is rendered once into the user's cache by training.synth, which needs only numpy
and OpenCV (no TensorFlow).
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from streaming.errors import SourceError

REPO_ROOT = Path(__file__).resolve().parents[1]
DEMO_BUNDLE = REPO_ROOT / "models" / "demo"
DEMO_CLIP_NAME = "demo.avi"


def default_bundle_path() -> Path:
    """The bundle used when none is given: models/demo in the repository."""
    return DEMO_BUNDLE


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "actionstream"


def demo_clip_path() -> Path:
    """Path of the demo clip: the committed one, else one rendered into the cache on first use."""
    committed = DEMO_BUNDLE / DEMO_CLIP_NAME
    if committed.is_file():
        return committed
    try:
        import training.synth as synth
    except ImportError as exc:
        raise SourceError(f"{committed}: demo clip missing and training.synth is not available to render one "
                          f"({exc}); run `make demo-model` or pass a video file as --source") from exc
    # named for the generator's source, so a changed generator renders a fresh clip instead of reusing a stale one
    version = hashlib.sha256(Path(synth.__file__).read_bytes()).hexdigest()[:12]
    cached = cache_dir() / f"demo-{version}.avi"
    if cached.is_file():
        return cached
    cached.parent.mkdir(parents=True, exist_ok=True)
    # write_demo_clip writes atomically (temporary file, then rename), so a concurrent first use is safe
    return Path(synth.write_demo_clip(cached))
