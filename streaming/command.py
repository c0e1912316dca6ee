"""How every CLI of the project runs a subcommand: user errors as one line, Ctrl-C as a clean stop."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

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
