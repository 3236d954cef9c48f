"""Start-time measurements: interleaved round-robin over contenders and bytecode variants, each start
optionally with the memory of its process tree (see memory.py); and, for the hatch-pex files, the
timeline of a first start, taken from extra runs with the runtime's PEX_VERBOSE=1 log (`Timeline`)."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TypeVar

from .contenders import SUCCESS_MARKER
from .memory import Usage, run_sampled
from .progress import log
from .results import Samples, Timelines
from .shell import clean_environment
from .workspace import Workspace, remove_tree, reset_dir

# variant key -> whether PYTHONDONTWRITEBYTECODE=1 is set for the measured processes
VARIANTS: dict[str, bool] = {"default": False, "dont-write-bytecode": True}
VARIANT_LABELS = {"default": "bytecode writes allowed", "dont-write-bytecode": "PYTHONDONTWRITEBYTECODE=1"}

Item = TypeVar("Item")


@dataclass(frozen=True)
class Launch:
    """A command that starts one contender (or a reference interpreter) and its expected output."""

    key: str
    command: Sequence[str]
    expected_output: str = SUCCESS_MARKER


class StartFailed(RuntimeError):
    """A measured start exited non-zero or printed something else than expected."""


@dataclass
class StartRecord:
    """Seconds of every measured start, by variant and key; with `memory`, also each start's peak
    anonymous memory and peak RSS (bytes; see memory.py). `failed`: keys whose priming run failed.
    `timeline`: the first starts' timelines (`Timeline`, as dicts), by variant and key."""

    seconds: Samples
    anonymous: Samples = field(default_factory=dict)
    rss: Samples = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    timeline: Timelines = field(default_factory=dict)

    def add(self, variant: str, key: str, usage: Usage, memory: bool) -> None:
        self.seconds[variant][key].append(usage.seconds)
        if memory:
            self.anonymous.setdefault(variant, {}).setdefault(key, []).append(usage.anonymous_peak)
            self.rss.setdefault(variant, {}).setdefault(key, []).append(usage.rss_peak)


def runtime_environment(variant: str, root: Path) -> dict[str, str]:
    """PEX_ROOT and SHIV_ROOT both point at `root`; the venvs ignore them."""
    return clean_environment(VARIANTS[variant], {"PEX_ROOT": str(root), "SHIV_ROOT": str(root)})


def time_start(launch: Launch, environment: dict[str, str], cwd: Path) -> float:
    """Wall-clock seconds of one start, from fork to exit, checked for the expected output."""
    started = time.perf_counter()
    completed = subprocess.run(
        list(launch.command), env=environment, cwd=cwd, capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - started
    if completed.returncode != 0 or launch.expected_output not in completed.stdout:
        output = (completed.stdout + completed.stderr)[-1500:]
        raise StartFailed(f"{launch.key} exited {completed.returncode}:\n{output}")
    return elapsed


def start(launch: Launch, environment: dict[str, str], cwd: Path, memory: bool) -> Usage:
    """One start: its seconds (as `time_start`) and, with `memory`, its process tree's memory, sampled
    meanwhile (the output then goes to a file rather than a pipe)."""
    if not memory:
        return Usage(time_start(launch, environment, cwd), 0, 0)
    usage, returncode, output = run_sampled(launch.command, environment, cwd)
    if returncode != 0 or launch.expected_output not in output:
        raise StartFailed(f"{launch.key} exited {returncode}:\n{output[-1500:]}")
    return usage


# What the runtime writes to stderr under PEX_VERBOSE=1 (hatch_pex/bootstrap/log.py, launch.py, cache.py,
# overlap.py): `ready in` counts from the start of boot() (the stub's call) to the hand-over to the
# application; each `extracted` line counts from the start of the extraction of all the missing wheels
# (unpacked in parallel) to that wheel's completion, so the largest is the extraction's wall time.
# A cold start that extracts beside the application (overlap.py; a runtime from before it never does)
# says so before ready, and the extraction, in a process of its own, then runs on after ready: its
# `extracted` lines count from that process's start of the extraction. Each time the start needs a
# wheel not yet in place, it writes how long it waited: before ready (for the wheels whose .pth files
# are processed before the application runs, or for all of them when a script is looked for), at an
# import or a metadata look-up, and at exit, where it waits for the extraction to end (so a first
# start still returns with the cache complete).
READY_LINE = re.compile(r"^hatch-pex: ready in ([0-9.]+) ms$")
# `extracted <wheel> to <entry>`: a wheel's file name has no spaces; this leaves out the extractor's own
# `extracted <n> wheels beside the application in` (PEX_VERBOSE=2 only, and counted from its start).
EXTRACTED_LINE = re.compile(r"^hatch-pex: extracted \S+ to .+ in ([0-9.]+) ms$")
BESIDE_LINE = re.compile(r"^hatch-pex: extracting [0-9]+ wheels beside the application$")
WAITED_LINE = re.compile(r"^hatch-pex: .+ waited ([0-9.]+) ms for the extraction(?: of [0-9]+ wheels)?$")


@dataclass(frozen=True)
class Trace:
    """One start with PEX_VERBOSE=1: seconds from fork to exit, from fork to the arrival of the `ready`
    line (None: the runtime did not say it), the `ready in` figure itself (boot() to ready), the
    extraction's wall time (0 when nothing was extracted), whether the extraction ran beside the
    application, and how long the start waited for it: in all (`waited`, every `waited` line) and of
    that, before ready (`waited_before_ready`: within `ready in`; the rest is the application's)."""

    seconds: float
    ready_at: float | None
    ready_in: float | None
    extraction: float
    beside: bool
    waited: float
    waited_before_ready: float


def traced_start(launch: Launch, environment: dict[str, str], cwd: Path) -> Trace:
    """One start with the runtime's log read as it is written: stderr is line-buffered (as Python
    makes it when it is not a terminal), so the arrival of a line, timed here, is when it was written,
    and the `ready` line's arrival splits the start in two from the outside, interpreter start
    included. stdout goes to a file, so nothing else is read meanwhile."""
    ready_at = ready_in = None
    extraction = waited = waited_before_ready = 0.0
    beside = False
    with tempfile.TemporaryFile("w+") as stdout:
        started = time.perf_counter()
        process = subprocess.Popen(
            list(launch.command), env=environment, cwd=cwd, stdout=stdout, stderr=subprocess.PIPE, text=True
        )
        assert process.stderr is not None
        lines = []
        for line in process.stderr:
            arrived = time.perf_counter() - started
            lines.append(line)
            if match := READY_LINE.match(line.rstrip("\n")):
                ready_at, ready_in = arrived, float(match.group(1)) / 1000
            elif match := EXTRACTED_LINE.match(line.rstrip("\n")):
                extraction = max(extraction, float(match.group(1)) / 1000)
            elif match := WAITED_LINE.match(line.rstrip("\n")):
                waited += float(match.group(1)) / 1000
                if ready_at is None:  # one process writes both, in order: this wait is within `ready in`
                    waited_before_ready += float(match.group(1)) / 1000
            elif BESIDE_LINE.match(line.rstrip("\n")):
                beside = True
        returncode = process.wait()
        elapsed = time.perf_counter() - started
        stdout.seek(0)
        output = stdout.read()
    if returncode != 0 or launch.expected_output not in output:
        raise StartFailed(f"{launch.key} exited {returncode}:\n{(output + ''.join(lines))[-1500:]}")
    return Trace(elapsed, ready_at, ready_in, extraction, beside, waited, waited_before_ready)


@dataclass(frozen=True)
class Timeline:
    """A PEX_VERBOSE=1 first start (empty runtime root) and the warm start that follows it in the same
    root, seconds: see `Trace`. The warm start imports the same modules from the .pyc files the first
    one wrote (hatch-pex writes them whatever PYTHONDONTWRITEBYTECODE says), so the first start's time
    after ready less the warm start's, less the first start's waits for the extraction after ready, is
    what compiling the sources and writing the .pyc files took. `first_beside` is 1.0 when the first
    start extracted beside the application, else 0.0 (the results file holds floats only); results of
    a harness before these three fields lack them (report.py reads them as 0)."""

    first: float
    first_ready_at: float
    first_ready_in: float
    extraction: float
    warm: float
    warm_ready_at: float
    first_waited: float
    first_waited_before_ready: float
    first_beside: float


def time_timeline(launch: Launch, variant: str, workspace: Workspace, spent: list[Path]) -> Timeline | None:
    """One timeline (None when the runtime does not log `ready in`: a `--baseline` older than it). Its
    runtime root goes to `spent`, removed at the end of the round (`settle`)."""
    root = workspace.fresh_dir("timeline-root")
    spent.append(root)
    environment = {**runtime_environment(variant, root), "PEX_VERBOSE": "1"}
    first = traced_start(launch, environment, workspace.root)
    warm = traced_start(launch, environment, workspace.root)
    if first.ready_at is None or first.ready_in is None or warm.ready_at is None:
        return None
    return Timeline(
        first.seconds,
        first.ready_at,
        first.ready_in,
        first.extraction,
        warm.seconds,
        warm.ready_at,
        first.waited,
        first.waited_before_ready,
        1.0 if first.beside else 0.0,
    )


def rotated(items: Sequence[Item], shift: int) -> list[Item]:
    """`items` starting at position `shift`, so no contender always runs first or last."""
    if not items:
        return []
    cut = shift % len(items)
    return [*items[cut:], *items[:cut]]


def all_jobs(launches: Sequence[Launch], variants: Sequence[str]) -> list[tuple[str, Launch]]:
    return [(variant, launch) for variant in variants for launch in launches]


def empty_samples(launches: Sequence[Launch], variants: Sequence[str]) -> Samples:
    return {variant: {launch.key: [] for launch in launches} for variant in variants}


def measure_warm_starts(
    workspace: Workspace,
    launches: Sequence[Launch],
    rounds: int,
    variants: Sequence[str] = tuple(VARIANTS),
    memory: bool = False,
    first: StartRecord | None = None,
) -> StartRecord:
    """Each job keeps one runtime root; its first run populates it. That run is discarded, or, given
    `first`, recorded there as a first start (its root was empty: it is one). A launch whose first run
    fails is left out (its key and the error in `failed`)."""
    record = StartRecord(empty_samples(launches, variants))
    environments = {}
    if first is not None:
        log("first starts: round 1, each into the runtime root its warm starts then keep")
    for variant, launch in all_jobs(launches, variants):
        if launch.key in record.failed:
            continue
        root = reset_dir(workspace.warm_runtime_root(variant, launch.key))
        environments[variant, launch.key] = runtime_environment(variant, root)
        try:
            usage = start(
                launch, environments[variant, launch.key], workspace.root, memory and first is not None
            )
        except StartFailed as error:
            log(f"{launch.key}: does not run:\n{error}")
            record.failed[launch.key] = str(error)
            continue
        if first is not None:
            first.add(variant, launch.key, usage, memory)
    standing = [launch for launch in launches if launch.key not in record.failed]
    for key in record.failed:
        for samples in (record.seconds, *((first.seconds, first.anonymous, first.rss) if first else ())):
            for by_key in samples.values():
                by_key.pop(key, None)
    jobs = all_jobs(standing, variants)
    for round_number in range(rounds):
        log(f"warm starts: round {round_number + 1}/{rounds}")
        for variant, launch in rotated(jobs, round_number):
            usage = start(launch, environments[variant, launch.key], workspace.root, memory)
            record.add(variant, launch.key, usage, memory)
    return record


def measure_first_starts(
    workspace: Workspace,
    launches: Sequence[Launch],
    rounds: int,
    variants: Sequence[str] = tuple(VARIANTS),
    memory: bool = False,
    warm_up: bool = True,
    record: StartRecord | None = None,
    timelines: Sequence[Launch] = (),
) -> StartRecord:
    """Every run gets a new, empty runtime root, removed after the round (outside the timing, `settle`).
    With `warm_up`, the first round is a discarded warm-up. Given `record` (round 1 already in it,
    see `measure_warm_starts`), rounds 2 to `rounds` are added to it. Each of rounds 1 to `rounds` also
    takes one `Timeline` of each of `timelines` (the hatch-pex files) and variant, interleaved with the
    first starts (round 1 holds only those when the record came with it); they are not first starts."""
    jobs = [(variant, launch, False) for variant, launch in all_jobs(launches, variants)]
    jobs += [(variant, launch, True) for variant, launch in all_jobs(timelines, variants)]
    if record is None:
        record, done = StartRecord(empty_samples(launches, variants)), 0
    else:
        done = 1
    first_round = 0 if warm_up and not done else 1
    spent: list[Path] = []
    settle(spent)  # what the builds and the warm starts removed
    for round_number in range(first_round, rounds + 1):
        # Round 0, the warm-up, has no timelines: they are extra runs, not warmed-up first starts.
        chosen = [
            job for job in jobs if (round_number >= 1 if job[2] else round_number == 0 or round_number > done)
        ]
        if not chosen:
            continue
        kind = " (warm-up)" if round_number == 0 else " (timelines only)" if round_number <= done else ""
        log(f"first starts: round {round_number}/{rounds}{kind}")
        for variant, launch, timeline in rotated(chosen, round_number):
            if timeline:
                add_timeline(record, variant, launch, time_timeline(launch, variant, workspace, spent))
                continue
            root = workspace.fresh_dir("runtime-root")
            spent.append(root)
            usage = start(launch, runtime_environment(variant, root), workspace.root, memory)
            if round_number > 0:
                record.add(variant, launch.key, usage, memory)
        settle(spent)
    return record


# ext4 without a journal (this machine's root file system) does not reuse an inode freed in the last
# 60 seconds (300 more while its inode table block is dirty): each file created meanwhile first
# scans past them (`recently_deleted()`), up to ten times slower than on a quiet disk. A runtime root
# removed right after its start would slow the next contender's first start down by the files it
# held (some 20,000 for the large app). So the roots of a round are removed together after it,
# written back (`sync`), and the next round waits until the freed inodes are old.
SETTLE_SECONDS = 65


def settle(spent: list[Path]) -> None:
    """Removes the runtime roots in `spent` (and empties it), then waits out the file system's memory
    of the freed inodes (SETTLE_SECONDS), so that no first start pays for another's removal."""
    for root in spent:
        remove_tree(root)
    spent.clear()
    os.sync()
    log(f"first starts: waiting {SETTLE_SECONDS} s for the removed roots' inodes to become reusable")
    time.sleep(SETTLE_SECONDS)


def add_timeline(record: StartRecord, variant: str, launch: Launch, timeline: Timeline | None) -> None:
    if timeline is None:
        log(f"{launch.key}: its runtime does not log `ready in` under PEX_VERBOSE=1: no timeline")
        return
    record.timeline.setdefault(variant, {}).setdefault(launch.key, []).append(asdict(timeline))
