"""Errors a user can cause. CLIs print them as one line and exit non-zero; everything else is a bug."""

from __future__ import annotations


class ActionstreamError(Exception):
    """A problem the user can fix (bad path, bad URL, wrong bundle, undecodable video).

    The message names the thing and what to do, in one line; CLIs print it without a traceback.
    """


class BundleError(ActionstreamError):
    """A model bundle is missing, corrupt, inconsistent or from another format version."""


class SourceError(ActionstreamError):
    """A video source cannot be opened or read."""


class ProviderError(ActionstreamError):
    """The requested ONNX Runtime execution provider cannot be used on this machine."""


EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


def one_line(exc: BaseException) -> str:
    """An error message folded onto one line (a user sees one line, never a traceback)."""
    return " ".join(str(exc).split()) or type(exc).__name__
