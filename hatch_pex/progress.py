"""What the build tells the user while it runs: stage lines through hatch's app, pip's and uv's own
output at `-v`, and a status line with counts while a long stage runs, on a terminal only.

The resolution runs in threads deep inside resolve.py; they report through the reporter the build
made current (`active()`), as piprunner.py does with its pip servers.
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from .redact import redact

#: Seconds a stage runs before its status line shows: short stages leave no trace.
STATUS_DELAY = 1.0
_FRAMES = "|/-\\"  # pip's own spinner
_CLEAR_LINE = "\r\x1b[K"


class Reporter:
    """Speaks through hatchling's `app` (display_* and `verbosity`) and draws the status line."""

    def __init__(self, app: Any, *, terminal: bool | None = None) -> None:
        self.app = app
        self.verbosity: int = getattr(app, "verbosity", 0)
        self.terminal = sys.stderr.isatty() if terminal is None else terminal
        self.counts: Counter[str] = Counter()
        self._stage: str | None = None
        self._totals: dict[str, int] = {}
        self._lock = threading.RLock()
        self._drawn = False

    @property
    def verbose(self) -> bool:
        """`hatch -v build`: pip's and uv's own output is shown."""
        return self.verbosity >= 1

    def count(self, what: str, amount: int = 1) -> None:
        """One more of `what` ("platforms resolved", "wheels downloaded", ...) for the status line."""
        with self._lock:
            self.counts[what] += amount

    def tool_output(self, tool: str, text: str) -> None:
        """pip's or uv's output, credentials removed, at `-v` only."""
        lines = [line for line in redact(text).splitlines() if line.strip()]
        if not self.verbose or not lines:
            return
        with self._lock:
            self._clear()
            self.app.display_debug("\n".join(f"  {tool}: {line}" for line in lines))

    @contextmanager
    def stage(self, description: str, totals: Mapping[str, int] | None = None) -> Iterator[None]:
        """While the body runs, a terminal shows `description` and the counts (of their `totals`, when
        known) once STATUS_DELAY passed."""
        with self._lock:
            self._stage, self.counts, self._totals = description, Counter(), dict(totals or {})
        stop = threading.Event()
        drawer = threading.Thread(target=self._draw_until, args=(stop,), daemon=True)
        if self.terminal and self.verbosity >= 0:
            drawer.start()
        try:
            yield
        finally:
            stop.set()
            if drawer.is_alive():
                drawer.join()
            with self._lock:
                self._clear()
                self._stage = None

    def _draw_until(self, stop: threading.Event) -> None:
        if stop.wait(STATUS_DELAY):
            return
        frame = 0
        while not stop.is_set():
            with self._lock:
                self._draw(_FRAMES[frame % len(_FRAMES)])
            frame += 1
            stop.wait(0.1)

    def _draw(self, spinner: str) -> None:
        if self._stage is None:
            return
        counts = ", ".join(
            f"{number}/{self._totals[what]} {what}" if what in self._totals else f"{number} {what}"
            for what, number in self.counts.items()
        )
        line = f"{spinner} {self._stage}" + (f": {counts}" if counts else "")
        width = shutil.get_terminal_size().columns - 1
        sys.stderr.write(_CLEAR_LINE + line[:width])
        sys.stderr.flush()
        self._drawn = True

    def _clear(self) -> None:
        if self._drawn:
            sys.stderr.write(_CLEAR_LINE)
            sys.stderr.flush()
            self._drawn = False


_ACTIVE: Reporter | None = None


@contextmanager
def reporting(reporter: Reporter) -> Iterator[Reporter]:
    """Make `reporter` the one resolve.py, piprunner.py and uv.py report to."""
    global _ACTIVE
    previous, _ACTIVE = _ACTIVE, reporter
    try:
        yield reporter
    finally:
        _ACTIVE = previous


def active() -> Reporter | None:
    return _ACTIVE


def count(what: str, amount: int = 1) -> None:
    if _ACTIVE is not None:
        _ACTIVE.count(what, amount)


def tool_output(tool: str, text: str) -> None:
    if _ACTIVE is not None:
        _ACTIVE.tool_output(tool, text)


def verbose() -> bool:
    """Whether pip and uv should speak (drop their --quiet): `hatch -v build`."""
    return _ACTIVE is not None and _ACTIVE.verbose


def elapsed(start: float) -> str:
    """Seconds since `start` (time.monotonic()), as uv writes them: 85ms, 2.31s, 12.4s."""
    seconds = time.monotonic() - start
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    return f"{seconds:.2f}s" if seconds < 10 else f"{seconds:.1f}s"
