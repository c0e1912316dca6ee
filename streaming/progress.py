"""Progress of long work: a tqdm bar on a terminal, a plain log line now and then anywhere else.

Off a terminal (CI, `> log.txt`, a service's journal) tqdm's carriage-return redraws become thousands of
fragments in one line; there a line every LOG_EVERY_S seconds, and one at the end, says the same thing.

    for clip in progress_bar(clips, desc="extract", unit="clip"):
        ...
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any, TextIO

from tqdm import tqdm

#: Seconds between progress lines when stderr is not a terminal.
LOG_EVERY_S = 15.0


class _Lines:
    """A file for tqdm that turns each redraw into one whole line (and drops the empty ones)."""

    def __init__(self, stream: TextIO):
        self.stream = stream

    def write(self, text: str) -> None:
        line = text.replace("\r", "").replace("\x1b[A", "").strip()
        if line:
            self.stream.write(line + "\n")

    def flush(self) -> None:
        self.stream.flush()


def progress_bar(iterable: Iterable | None = None, *, enabled: bool = True, **kwargs: Any) -> tqdm:
    """A tqdm over `iterable` (or a manual one with `total=`), shaped for where stderr goes."""
    if not enabled:
        return tqdm(iterable, disable=True, **kwargs)
    stream = kwargs.pop("file", sys.stderr)
    if stream.isatty():
        kwargs.setdefault("dynamic_ncols", True)
        return tqdm(iterable, file=stream, **kwargs)
    kwargs.pop("dynamic_ncols", None)
    kwargs.update(mininterval=LOG_EVERY_S, maxinterval=LOG_EVERY_S, ncols=100)
    return tqdm(iterable, file=_Lines(stream), **kwargs)
