"""Importing TensorFlow without its C++ start-up chatter on the user's terminal.

TensorFlow prints oneDNN and CUDA-stub lines on stderr while it loads, before any log level applies; the CLIs
import it through here so a user sees only actionstream's own lines.
"""

from __future__ import annotations

import os
import sys


def import_tensorflow_quietly() -> None:
    """Import TensorFlow once with file descriptor 2 pointed at /dev/null."""
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
