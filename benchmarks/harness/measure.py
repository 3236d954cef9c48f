"""Start-time measurements: interleaved round-robin over contenders and bytecode variants."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from .contenders import SUCCESS_MARKER
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


def rotated(items: Sequence[Item], shift: int) -> list[Item]:
    """`items` starting at position `shift`, so no contender always runs first or last."""
    if not items:
        return []
    cut = shift % len(items)
    return [*items[cut:], *items[:cut]]


def all_jobs(launches: Sequence[Launch]) -> list[tuple[str, Launch]]:
    return [(variant, launch) for variant in VARIANTS for launch in launches]


def empty_samples(launches: Sequence[Launch]) -> Samples:
    return {variant: {launch.key: [] for launch in launches} for variant in VARIANTS}


def measure_warm_starts(workspace: Workspace, launches: Sequence[Launch], rounds: int) -> Samples:
    """Each job keeps one runtime root; its first (discarded) run populates it."""
    jobs = all_jobs(launches)
    environments = {
        (variant, launch.key): runtime_environment(
            variant, reset_dir(workspace.warm_runtime_root(variant, launch.key))
        )
        for variant, launch in jobs
    }
    for variant, launch in jobs:
        time_start(launch, environments[variant, launch.key], workspace.root)
    samples = empty_samples(launches)
    for round_number in range(rounds):
        log(f"warm starts: round {round_number + 1}/{rounds}")
        for variant, launch in rotated(jobs, round_number):
            seconds = time_start(launch, environments[variant, launch.key], workspace.root)
            samples[variant][launch.key].append(seconds)
    return samples


def measure_first_starts(workspace: Workspace, launches: Sequence[Launch], rounds: int) -> Samples:
    """Every run gets a new, empty runtime root, removed afterwards (outside the timing).
    The first round is a discarded warm-up."""
    jobs = all_jobs(launches)
    samples = empty_samples(launches)
    for round_number in range(rounds + 1):
        log(f"first starts: round {round_number}/{rounds}" + (" (warm-up)" if round_number == 0 else ""))
        for variant, launch in rotated(jobs, round_number):
            root = workspace.fresh_dir("runtime-root")
            try:
                seconds = time_start(launch, runtime_environment(variant, root), workspace.root)
            finally:
                remove_tree(root)
            if round_number > 0:
                samples[variant][launch.key].append(seconds)
    return samples
