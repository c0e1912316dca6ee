"""How every CLI of the project runs a subcommand: user errors as one line, Ctrl-C as a clean stop."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from streaming.errors import EXIT_INTERRUPTED, EXIT_USER_ERROR, ActionstreamError, one_line


def run_command(func: Callable[[argparse.Namespace], int], args: argparse.Namespace, interrupted: str) -> int:
    """Run a CLI subcommand: a user error prints one `error:` line and exits 2; Ctrl-C prints `interrupted`
    (what was kept, what to do) and exits 130. Shared by the streaming, export and training CLIs."""
    try:
        return func(args)
    except ActionstreamError as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print(f"error: interrupted; {interrupted}", file=sys.stderr)
        return EXIT_INTERRUPTED


def _raise_interrupt(signum: int, frame: object) -> None:
    """A SIGTERM handler that stops like Ctrl-C."""
    raise KeyboardInterrupt


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Inside, SIGTERM (systemd, `docker stop`, a supervisor) raises KeyboardInterrupt in the main thread, so a
    server stops as on Ctrl-C: `finally` blocks and atexit handlers run, where Python's default ends the process on
    the spot. The previous handler comes back on the way out."""
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
