"""Memory of a process tree while it runs: anonymous memory sampled from /proc, peak RSS from wait4.

Anonymous memory (`RssAnon` in /proc/<pid>/status: heap, stacks, private copies) is what a process
costs the machine. RSS adds the page-cache pages of the files it maps; right after a `.pex` extracted
its wheels those are many, they are shared and reclaimable, and they would make a first start look
heavier than it is. So the anonymous memory of every process of the tree is summed at each sample
(a process that re-execs keeps its pid; children, and their children, are found from the parent pids
in /proc/<pid>/stat) and the largest sum is kept; `ru_maxrss` from wait4 (the largest RSS any single
process of the tree reached, in the kernel's own accounting) is reported beside it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .shell import CommandFailed

# Seconds between two samples: each costs about 0.1 ms of CPU (a listing of /proc, the status file
# of each process of the tree, the stat file of each process not seen before), 1% of one core.
START_INTERVAL = 0.01
BUILD_INTERVAL = 0.02
KIB = 1024


@dataclass(frozen=True)
class Usage:
    """One run: wall-clock seconds, the largest anonymous memory of its process tree seen by a sample
    (bytes), and its `ru_maxrss` (bytes)."""

    seconds: float
    anonymous_peak: int
    rss_peak: int


def _parent_of(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            text = stat.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: the fields after it follow the last ")".
    return int(text[text.rindex(b")") + 2 :].split()[1])


def _anonymous_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            text = status.read()
    except OSError:
        return 0
    start = text.find(b"RssAnon:")
    if start < 0:  # a zombie, or a kernel thread
        return 0
    return int(text[start + 8 : text.index(b"\n", start)].split()[0]) * KIB


class TreeSampler(threading.Thread):
    """Samples the anonymous memory of `root`'s process tree every `interval` seconds until stopped;
    `include_root=False` leaves out the root itself (the harness's own forked copy, for builds)."""

    def __init__(self, root: int, interval: float, include_root: bool = True) -> None:
        super().__init__(name=f"memory-sampler-{root}", daemon=True)
        self.root = root
        self.interval = interval
        self.include_root = include_root
        self.peak = 0
        self._parents: dict[int, int | None] = {}
        self._stop_event = threading.Event()

    def _tree(self) -> list[int]:
        alive = {int(name) for name in os.listdir("/proc") if name.isdigit()}
        for gone in self._parents.keys() - alive:
            del self._parents[gone]
        for pid in alive - self._parents.keys():
            self._parents[pid] = _parent_of(pid)
        children: dict[int, list[int]] = {}
        for pid, parent in self._parents.items():
            if parent is not None:
                children.setdefault(parent, []).append(pid)
        tree, pending = [], [self.root]
        while pending:
            pid = pending.pop()
            tree.append(pid)
            pending.extend(children.get(pid, ()))
        return tree if self.include_root else tree[1:]

    def sample(self) -> None:
        total = sum(_anonymous_bytes(pid) for pid in self._tree())
        self.peak = max(self.peak, total)

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.sample()
            self._stop_event.wait(self.interval)

    def stop(self) -> int:
        """Stop sampling; the peak seen (bytes)."""
        self._stop_event.set()
        self.join()
        return self.peak


def run_sampled(
    command: Sequence[str], environment: Mapping[str, str], cwd: Path, interval: float = START_INTERVAL
) -> tuple[Usage, int, str]:
    """Run `command` to completion, its output to a temporary file: (usage, exit code, output)."""
    with tempfile.TemporaryFile() as output:
        started = time.perf_counter()
        process = subprocess.Popen(
            list(command), env=dict(environment), cwd=cwd, stdout=output, stderr=subprocess.STDOUT
        )
        sampler = TreeSampler(process.pid, interval)
        sampler.start()
        _, status, rusage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - started
        anonymous = sampler.stop()
        process.returncode = os.waitstatus_to_exitcode(status)
        output.seek(0)
        text = output.read().decode(errors="replace")
    return Usage(elapsed, anonymous, rusage.ru_maxrss * KIB), process.returncode, text


ERRORS: dict[str, type[Exception]] = {"CommandFailed": CommandFailed, "OSError": OSError}


def call_sampled(function: Callable[[], Path], interval: float = BUILD_INTERVAL) -> tuple[Usage, Path]:
    """Call `function` (a build: it runs commands) in a forked copy of this process and sample that
    copy's process tree, leaving out the copy itself; the copy's exceptions are raised again here
    (as CommandFailed, OSError or RuntimeError)."""
    sys.stdout.flush()
    sys.stderr.flush()
    reader, writer = os.pipe()
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # the copy: never returns
        os.close(reader)
        try:
            report = {"path": str(function())}
        except BaseException as error:  # everything goes back to the parent
            report = {"error": type(error).__name__, "message": str(error)}
        with os.fdopen(writer, "w") as pipe:
            json.dump(report, pipe)
        os._exit(0)
    os.close(writer)
    sampler = TreeSampler(pid, interval, include_root=False)
    sampler.start()
    with os.fdopen(reader) as pipe:
        text = pipe.read()
    _, status, rusage = os.wait4(pid, 0)
    elapsed = time.perf_counter() - started
    anonymous = sampler.stop()
    if not text:
        raise RuntimeError(f"the build process ended without a report (wait status {status})")
    report = json.loads(text)
    if "error" in report:
        raise ERRORS.get(report["error"], RuntimeError)(report["message"])
    return Usage(elapsed, anonymous, rusage.ru_maxrss * KIB), Path(report["path"])
