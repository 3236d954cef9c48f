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


FLAG_OFF = ("", "0", "false")  # unset and empty count as off too


def env_flag(name: str) -> bool:
    """A boolean PEX_* variable (PEX_TOOLS, PEX_INTERPRETER), read as PEX reads it: `1`/`true` on,
    `0`/`false` off, in any case; anything else is a start failure naming the variable."""
    value = os.environ.get(name, "")
    if value.strip().lower() in FLAG_OFF:
        return False
    if value.strip().lower() in ("1", "true"):
        return True
    raise BootError(f"{name}={value!r}: expected 1 or true (on), 0 or false (off)")


def log(message: str, level: int = 1) -> None:
    if level <= VERBOSITY:
        sys.stderr.write(f"hatch-pex: {message}\n")


def since(started: float) -> str:
    return f"{(time.perf_counter() - started) * 1000:.1f} ms"
