"""Memory of a process tree while it runs: anonymous memory sampled from /proc, peak RSS from wait4.

Anonymous memory (`RssAnon` in /proc/<pid>/status: heap, stacks, private copies) is what a process
costs the machine. RSS adds the page-cache pages of the files it maps; right after a `.pex` extracted
its wheels those are many, they are shared and reclaimable, and they would make a first start look
heavier than it is. So the anonymous memory of every process of the tree is summed at each sample
(a process that re-execs keeps its pid; children, and their children, are found from the parent pids
in /proc/<pid>/stat) and the largest sum is kept; `ru_maxrss` from wait4 (the largest RSS any single
process of the tree reached, in the kernel's own accounting) is reported beside it.

A measured command also runs as the leader of a process group of its own, and every process of that
group is counted too, whatever its parent: a helper that daemonizes with a double fork (its parent
exits at once) is reparented to init, or to a subreaper, and leaves the tree, but it stays in the
group unless it calls setsid or setpgid. hatch-pex's extractor is one (overlap.py: a first start
extracts the wheels in such a process while the application runs, and waits for it before exiting),
so its memory is part of what that start costs. Both the parent pid and the group are read from the
same /proc/<pid>/stat.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
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
# of each measured process, the stat file of each process not seen before), 1% of one core.
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


def _parent_and_group(pid: int) -> tuple[int, int] | None:
    """The parent pid and process group id of `pid` (fields 4 and 5 of its stat file), from one read;
    None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            text = stat.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: the fields after it follow the last ")"
    # (state, parent pid, process group id, ...).
    fields = text[text.rindex(b")") + 2 :].split()
    return int(fields[1]), int(fields[2])


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
    `include_root=False` leaves out the root itself (the harness's own forked copy, for builds).

    The processes whose process group id is `root` count too: when the root leads a group of its own
    (run_sampled's command), that takes in a daemonized helper that left the tree but not the group;
    otherwise no process has that group id (a group's id is its leader's pid, not given to another
    process while the group has members), and the tree alone counts, as for a build."""

    def __init__(self, root: int, interval: float, include_root: bool = True) -> None:
        super().__init__(name=f"memory-sampler-{root}", daemon=True)
        self.root = root
        self.interval = interval
        self.include_root = include_root
        self.peak = 0
        # pid -> (parent pid, process group id), read once, when the pid is first seen; None: gone.
        self._stats: dict[int, tuple[int, int] | None] = {}
        self._stop_event = threading.Event()

    def _measured(self) -> set[int]:
        """The root's tree (from the parent pids) and the members of the group `root`."""
        alive = {int(name) for name in os.listdir("/proc") if name.isdigit()}
        for gone in self._stats.keys() - alive:
            del self._stats[gone]
        for pid in alive - self._stats.keys():
            self._stats[pid] = _parent_and_group(pid)
        children: dict[int, list[int]] = {}
        measured = set()
        for pid, stat in self._stats.items():
            if stat is not None:
                parent, group = stat
                children.setdefault(parent, []).append(pid)
                if group == self.root:  # a daemonized helper's parent pid no longer leads here
                    measured.add(pid)
        pending = [self.root]
        while pending:
            pid = pending.pop()
            measured.add(pid)
            pending.extend(children.get(pid, ()))
        if not self.include_root:
            measured.discard(self.root)
        return measured

    def sample(self) -> None:
        total = sum(_anonymous_bytes(pid) for pid in self._measured())
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


# Seconds an interrupted command's process group is given to end on SIGINT before SIGKILL.
INTERRUPT_GRACE = 5.0


def _exited(pid: int) -> bool:
    """Whether the child `pid` has exited, leaving it unreaped: its zombie keeps its group id taken."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:  # already reaped
        return True


def _end_group(process: subprocess.Popen[bytes]) -> None:
    """End the process group led by `process` and reap its leader: SIGINT (what ^C at the terminal sent
    the command when it shared the harness's group), then, once the leader has exited or the grace is
    over, SIGKILL to whatever is left of the group (a helper that outlived the leader, say)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGINT)
    deadline = time.monotonic() + INTERRUPT_GRACE
    while not _exited(process.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):  # none left, the leader reaped already
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def run_sampled(
    command: Sequence[str], environment: Mapping[str, str], cwd: Path, interval: float = START_INTERVAL
) -> tuple[Usage, int, str]:
    """Run `command` to completion, its output to a temporary file: (usage, exit code, output).

    The command runs in a session, hence a process group, of its own (start_new_session: setsid, also
    on Python < 3.11, which lacks process_group=0), so that the sampler finds a daemonized helper
    through the group (see TreeSampler). Its output goes to a file and a measured start reads nothing
    from the terminal, so it needs no controlling terminal; but ^C at the terminal now reaches the
    harness alone, so an interrupted wait ends the command's group before the interruption goes on."""
    with tempfile.TemporaryFile() as output:
        started = time.perf_counter()
        process = subprocess.Popen(
            list(command),
            env=dict(environment),
            cwd=cwd,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        sampler = TreeSampler(process.pid, interval)
        sampler.start()
        try:
            _, status, rusage = os.wait4(process.pid, 0)
        except BaseException:  # KeyboardInterrupt, say: leave no start (nor its extractor) running
            _end_group(process)
            sampler.stop()
            raise
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
