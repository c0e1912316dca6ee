"""The out-of-the-box defaults: the bundled models and the demo clip behind `--source demo`.

The bundled models are the repository's models/ folder, installed as package data (the import package
`actionstream_models`), so a wheel or a non-editable install finds them exactly as a source checkout does.
"""

from __future__ import annotations

from pathlib import Path

from streaming.errors import SourceError

#: The default model: everyday actions of real people from body landmarks (models/people).
PEOPLE_BUNDLE_NAME = "people"
#: The stick-figure demo model and its synthetic stream (models/demo).
DEMO_BUNDLE_NAME = "demo"
DEMO_CLIP_NAME = "demo.avi"


def models_dir() -> Path:
    """Where the bundled models are: the installed package data, else models/ beside this source tree."""
    try:
        import actionstream_models
    except ImportError:  # running from a source tree that was never pip-installed
        return Path(__file__).resolve().parents[1] / "models"
    return Path(actionstream_models.__file__).resolve().parent


def default_bundle_path() -> Path:
    """The bundle used when none is given: the people model, else (a checkout without it) the demo model."""
    for name in (PEOPLE_BUNDLE_NAME, DEMO_BUNDLE_NAME):
        if (models_dir() / name / "manifest.json").is_file():
            return models_dir() / name
    return models_dir() / PEOPLE_BUNDLE_NAME


def demo_bundle_path() -> Path:
    """The stick-figure demo model, the one that knows the demo clip's actions."""
    return models_dir() / DEMO_BUNDLE_NAME


def demo_clip_path() -> Path:
    """The demo stream (every action of the demo model in turn), shipped beside the demo bundle."""
    clip = models_dir() / DEMO_BUNDLE_NAME / DEMO_CLIP_NAME
    if not clip.is_file():
        raise SourceError(
            f"{clip}: demo clip missing from the bundled models; reinstall actionstream, run `make demo-model`, "
            "or pass a video file as the source"
        )
    return clip
