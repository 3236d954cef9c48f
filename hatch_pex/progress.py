"""What the build tells the user while it runs: stage lines through hatch's app, pip's and uv's own
output at `-v`, and a status line with counts while a long stage runs, on a terminal only. The words
are chosen here, not in builder.py: warnings (`hatch-pex: warning: ...`), the size warning, the lock's
summary, and failed resolutions, each distinct cause (diagnosis.py) said once for the versions it
applies to.

The resolution runs in threads deep inside resolve.py; they report through the reporter the build
made current (`active()`), as piprunner.py does with its pip servers.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .diagnosis import (
    CONFLICT,
    INDEX_REFUSED,
    INDEX_UNREACHABLE,
    NO_MATCHING_VERSION,
    NOT_FOUND,
    OTHER_PYTHON,
    Cause,
    one_line,
)
from .platforms import CURRENT, KNOWN_PYTHON_VERSIONS, Platform, version_key
from .redact import redact

if TYPE_CHECKING:  # resolve.py reports through this module
    from .resolve import ResolveError

#: Seconds a stage runs before its status line shows: short stages leave no trace.
STATUS_DELAY = 1.0
#: Serving several Python versions is worth a warning only when it adds more than this to the wheels
#: (bytes; docs/configuration.md): a native-heavy closure (torch: ~190 MB a version), not click's 2 MB.
SIZE_WARNING_EXTRA = 50_000_000
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

    def warning(self, text: str) -> None:
        """Something the user may want to act on; the build goes on (hatch hides it at -qq)."""
        with self._lock:
            self._clear()
            self.app.display_warning(f"hatch-pex: warning: {redact(text)}")

    def note(self, text: str) -> None:
        """What the build did that the user asked for (shown at the default verbosity)."""
        with self._lock:
            self._clear()
            self.app.display_info(f"hatch-pex: {redact(text)}")

    def success(self, text: str) -> None:
        with self._lock:
            self._clear()
            self.app.display_success(text)

    def packed(self, output: str, started: float) -> None:
        """The file written: its size and sha256 (not at -q: the sha256 of a large file takes a moment)."""
        if self.verbosity < 0:
            return
        from .resolve import sha256_of

        size = os.path.getsize(output)
        self.success(
            f"Packed {os.path.basename(output)} in {elapsed(started)}: {megabytes(size)} ({size} bytes), "
            f"sha256 {sha256_of(output)}"
        )

    def locked(
        self,
        path: str,
        before: Mapping[str, set[str]] | None,
        after: Mapping[str, set[str]] | None,
        served: Sequence[Platform],
    ) -> None:
        """What `pex:lock` wrote: how many distributions, for what, and what changed since the last lock."""
        after = after or {}
        count = sum(len(versions) for versions in after.values())
        if before is None:
            change = "a new lock"
        else:
            changes = [
                _change(name, before.get(name, set()), after.get(name, set()))
                for name in sorted(set(before) | set(after))
                if before.get(name) != after.get(name)
            ]
            shown = ", ".join(changes[:8]) + (f", ... ({len(changes) - 8} more)" if len(changes) > 8 else "")
            change = f"{len(changes)} changed: {shown}" if changes else "nothing changed"
        self.success(
            f"Locked {count} distribution{'s' if count != 1 else ''} for {platforms_text(served)} in "
            f"{os.path.basename(path)} ({change})"
        )

    def left_out(self, failures: Mapping[Platform, ResolveError], context: FailureContext) -> None:
        """One line per distinct cause for the versions left out of the file (they may be left out)."""
        for where, sentence in grouped_failures(failures, context):
            self.warning(_cut(f"{where} left out of the file: {sentence}"))

    def size(
        self,
        served: Sequence[Platform],
        sets: Mapping[str, Sequence[str]],
        sizes: Mapping[str, int],
        *,
        field: Callable[[str], str],
    ) -> None:
        """Warn when serving several Python versions costs more than SIZE_WARNING_EXTRA over one version,
        like for like: each version's wheels for every machine the file serves, against all of them."""
        by_version: dict[str, set[str]] = {}
        for platform in served:
            by_version.setdefault(platform.python_version, set()).update(sets.get(platform.text, ()))
        if len(by_version) < 2:
            return
        total = sum(sizes[name] for name in set().union(*by_version.values()))
        one = max(sum(sizes[name] for name in names) for names in by_version.values())
        if total - one <= SIZE_WARNING_EXTRA:
            return
        versions = sorted(by_version, key=version_key)
        if all(p.local_tags for p in served):
            advice = f"list only the Python version your servers run in `{field('python-versions')}`"
        else:
            advice = (
                f"keep only the Python version your servers run in `{field('platforms')}` and "
                f"`{field('python-versions')}`"
            )
        self.warning(
            f"serving {versions_text(versions)} makes the wheels "
            f"{megabytes(total)}, against {megabytes(one)} for one version; {advice} for a smaller file"
        )

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


def _change(name: str, before: set[str], after: set[str]) -> str:
    """`click 8.1.7 -> 8.1.8`, `idna 3.7 added`, `six 1.16.0 removed`."""
    if not before:
        return f"{name} {', '.join(sorted(after))} added"
    if not after:
        return f"{name} {', '.join(sorted(before))} removed"
    return f"{name} {', '.join(sorted(before))} -> {', '.join(sorted(after))}"


def megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def elapsed(start: float) -> str:
    """Seconds since `start` (time.monotonic()), as uv writes them: 85ms, 2.31s, 12.4s."""
    seconds = time.monotonic() - start
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    return f"{seconds:.2f}s" if seconds < 10 else f"{seconds:.1f}s"


# What the build says about failed resolutions: each distinct cause once, the versions it applies to
# grouped, a hint only where it fits the cause. resolve.py and builder.py hand over the errors; the
# words are chosen here.

#: At most this many lines of causes in one message (then "... and N more"): the whole stays short.
MAX_CAUSE_LINES = 6
#: A message line is cut at this length (pip's own words can be long).
LINE_LIMIT = 380


def versions_text(versions: Sequence[str]) -> str:
    """ "Python 3.9 to 3.13" (three or more in a row), "Python 3.14 and 3.15", "Python 3.9, 3.11"."""
    ordered = sorted(set(versions), key=version_key)
    known = list(KNOWN_PYTHON_VERSIONS)
    positions = [known.index(v) for v in ordered if v in known]
    in_a_row = len(positions) == len(ordered) and positions == list(
        range(positions[0], positions[0] + len(ordered))
    )
    if len(ordered) >= 3 and in_a_row:
        return f"Python {ordered[0]} to {ordered[-1]}"
    return f"Python {' and '.join(ordered) if len(ordered) == 2 else ', '.join(ordered)}"


def platforms_text(platforms: Sequence[Platform]) -> str:
    """The versions of this machine's platforms (versions_text), then other machines' platforms."""
    local = [p.python_version for p in platforms if p.local_tags or p.text == CURRENT]
    parts = [versions_text(local)] if local else []
    return ", ".join(
        parts + [f"platform {p.text}" for p in platforms if not p.local_tags and p.text != CURRENT]
    )


@dataclass(frozen=True)
class FailureContext:
    """What a cause's sentence depends on beyond the error: `no_index` (only find-links are searched),
    the projects no index offers at all (not found where sdists could be used too), and the projects
    other platforms did resolve."""

    no_index: bool = False
    absent: frozenset[str] = frozenset()
    resolved: frozenset[str] = frozenset()


def cause_sentences(error: ResolveError, platform: Platform | None, context: FailureContext) -> list[str]:
    """Why `error` happened, one sentence per distinct cause, without the platform's name."""
    if not error.causes:  # a lock's or uv's failure, an integrity error: its message says it all
        text = str(error)
        if platform is not None:
            text = text.replace(f" for {platform.description}", "")
        return [_cut(text)]
    return [_cause_sentence(cause, error, platform, context) for cause in error.causes]


def _cause_sentence(
    cause: Cause, error: ResolveError, platform: Platform | None, context: FailureContext
) -> str:
    kind, subject, detail = cause.kind, cause.subject, cause.detail
    if kind == INDEX_UNREACHABLE:
        return f"{subject} cannot be reached ({detail}); check the index URL and the network"
    if kind == INDEX_REFUSED:
        hint = (
            "; check the credentials (user:password in the URL, netrc or keyring)"
            if detail.startswith(("HTTP 401", "HTTP 403"))
            else ""
        )
        return f"{subject} refused the request ({detail}){hint}"
    if kind == NOT_FOUND:
        where = "no find-links location (`no-index` is set)" if context.no_index else "no index"
        if subject in context.absent or not error.binary_only:
            return f"{where} offers {subject}{f' ({detail})' if detail else ''}; check the name"
        if subject in context.resolved or (platform is not None and platform.local_tags):
            if error.no_interpreter:
                return (
                    f"no wheel of {subject} fits, and no interpreter of that version was found here to build "
                    f"one from its sdist (see PATH, pyenv, uv or PEX_PYTHON_PATH)"
                )
            return f"no wheel of {subject} fits"
        return f"{where} offers a wheel of {subject} for it (another machine's platform takes wheels only)"
    if kind == NO_MATCHING_VERSION:
        return f"no version of {subject} is offered (found: {detail})"
    if kind == OTHER_PYTHON:
        return f"no release of {subject} supports this Python ({detail})"
    if kind == CONFLICT:
        return f"the requirements conflict: {detail}"
    return _cut(detail)


def failures_message(heading: str, failures: Mapping[Platform, ResolveError], context: FailureContext) -> str:
    """`heading:`, then an indented line per distinct cause (failure_lines): a build error's message."""
    return f"{heading}:\n" + "\n".join(f"  {line}" for line in failure_lines(failures, context))


def failure_lines(failures: Mapping[Platform, ResolveError], context: FailureContext) -> list[str]:
    """`for Python 3.9 to 3.15: <cause>`, one line per distinct cause."""
    return [_cut(f"for {where}: {sentence}") for where, sentence in grouped_failures(failures, context)]


def grouped_failures(
    failures: Mapping[Platform, ResolveError], context: FailureContext
) -> list[tuple[str, str]]:
    """(the platforms, as platforms_text says them; one cause) for each distinct cause, in platform order."""
    absent = set(context.absent)
    for error in failures.values():  # not found where sdists count too: no index has it at all
        if not error.binary_only:
            absent |= {c.subject for c in error.causes if c.kind == NOT_FOUND}
    context = FailureContext(context.no_index, frozenset(absent), context.resolved)
    grouped: dict[str, list[Platform]] = {}
    for platform, error in failures.items():
        for sentence in cause_sentences(error, platform, context):
            grouped.setdefault(sentence, []).append(platform)
    pairs = [(platforms_text(where), sentence) for sentence, where in grouped.items()]
    if len(pairs) > MAX_CAUSE_LINES:
        more = len(pairs) - MAX_CAUSE_LINES + 1
        pairs = [
            *pairs[: MAX_CAUSE_LINES - 1],
            ("the rest", f"{more} more causes (`hatch -v build` shows pip's output)"),
        ]
    return pairs


def _cut(text: str) -> str:
    return one_line(text, LINE_LIMIT)
