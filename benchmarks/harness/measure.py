"""Start-time measurements: interleaved round-robin over contenders and bytecode variants, each start
optionally with the memory of its process tree (see memory.py)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from .contenders import SUCCESS_MARKER
from .memory import Usage, run_sampled
from .progress import log
from .results import Samples
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
    anonymous memory and peak RSS (bytes; see memory.py). `failed`: keys whose priming run failed."""

    seconds: Samples
    anonymous: Samples = field(default_factory=dict)
    rss: Samples = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)

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
) -> StartRecord:
    """Every run gets a new, empty runtime root, removed afterwards (outside the timing).
    With `warm_up`, the first round is a discarded warm-up. Given `record` (round 1 already in it,
    see `measure_warm_starts`), rounds 2 to `rounds` are added to it."""
    jobs = all_jobs(launches, variants)
    if record is None:
        record, done = StartRecord(empty_samples(launches, variants)), 0
    else:
        done = 1
    first_round = 0 if warm_up and not done else done + 1
    for round_number in range(first_round, rounds + 1):
        log(f"first starts: round {round_number}/{rounds}" + (" (warm-up)" if round_number == 0 else ""))
        for variant, launch in rotated(jobs, round_number):
            root = workspace.fresh_dir("runtime-root")
            try:
                environment = runtime_environment(variant, root)
                usage = start(launch, environment, workspace.root, memory)
            finally:
                remove_tree(root)
            if round_number > 0:
                record.add(variant, launch.key, usage, memory)
    return record
