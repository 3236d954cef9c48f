"""PEX_VERBOSE output and the one way the runtime reports a failed start."""

from __future__ import annotations

import os
import sys
import time

# Exit code of every start failure the runtime itself detects (bad constraints, no compatible wheel,
# unknown script, unusable cache, bad tool arguments). 1 stays the application's: an uncaught exception.
EXIT_START_FAILURE = 2


def _verbosity() -> int:
    try:
        return int(os.environ.get("PEX_VERBOSE") or 0)
    except ValueError:
        return 1


VERBOSITY = _verbosity()


class BootError(Exception):
    """A start failure with a message meant for the user: printed on one line, no traceback."""


def log(message: str, level: int = 1) -> None:
    if level <= VERBOSITY:
        sys.stderr.write(f"hatch-pex: {message}\n")


def since(started: float) -> str:
    return f"{(time.perf_counter() - started) * 1000:.1f} ms"
