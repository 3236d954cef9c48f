"""Build-time measurements: cold builds (every cache empty) and warm rebuilds (caches kept)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .contenders import BuildContext, Contender
from .measure import Launch, StartFailed, rotated, runtime_environment, time_start
from .progress import log
from .results import DOES_NOT_RUN, NOT_BUILT
from .shell import CommandFailed
from .workspace import Workspace, remove_tree, reset_dir

FAILURE_SUMMARY_CHARS = 600


@dataclass
class BuildRecord:
    """Seconds per contender for each kind of build, the artifacts of the last build, and why a
    contender dropped out: (status, detail), its key then absent from `artifacts`."""

    cold: dict[str, list[float]] = field(default_factory=dict)
    warm: dict[str, list[float]] = field(default_factory=dict)
    artifacts: dict[str, Path] = field(default_factory=dict)
    failures: dict[str, tuple[str, str]] = field(default_factory=dict)

    def standing(self, contenders: Sequence[Contender]) -> list[Contender]:
        return [contender for contender in contenders if contender.key not in self.failures]

    def fail(self, key: str, status: str, detail: str) -> None:
        log(f"{key}: {status}:\n{detail}")
        self.failures[key] = (status, detail)
        self.artifacts.pop(key, None)


def timed_build(contender: Contender, context: BuildContext) -> tuple[float, Path]:
    output = reset_dir(context.workspace.artifact_dir(contender.key))
    started = time.perf_counter()
    artifact = contender.build(context, output)
    return time.perf_counter() - started, artifact


def build_once(
    record: BuildRecord, contender: Contender, context: BuildContext, samples: dict[str, list[float]] | None
) -> None:
    """One build; its time goes to `samples` (None: an untimed priming build)."""
    try:
        seconds, artifact = timed_build(contender, context)
    except (CommandFailed, RuntimeError, OSError) as error:
        record.fail(contender.key, NOT_BUILT, summarize(error))
        return
    record.artifacts[contender.key] = artifact
    if samples is not None:
        samples.setdefault(contender.key, []).append(seconds)
        log(f"  {contender.key}: {seconds:.1f} s")


def measure_cold_builds(
    record: BuildRecord, workspace: Workspace, interpreter: Path, contenders: Sequence[Contender], rounds: int
) -> None:
    for round_number in range(rounds):
        log(f"cold builds: round {round_number + 1}/{rounds}")
        for contender in rotated(record.standing(contenders), round_number):
            cache = workspace.fresh_dir("build-cache")
            try:
                build_once(record, contender, BuildContext(workspace, interpreter, cache), record.cold)
            finally:
                remove_tree(cache)


def measure_warm_builds(
    record: BuildRecord, workspace: Workspace, interpreter: Path, contenders: Sequence[Contender], rounds: int
) -> None:
    """The first build into each kept cache is a discarded priming build."""
    log("warm builds: priming the caches")
    for contender in record.standing(contenders):
        cache = reset_dir(workspace.warm_build_cache(contender.key))
        build_once(record, contender, BuildContext(workspace, interpreter, cache), None)
    for round_number in range(rounds):
        log(f"warm builds: round {round_number + 1}/{rounds}")
        for contender in rotated(record.standing(contenders), round_number):
            context = BuildContext(workspace, interpreter, workspace.warm_build_cache(contender.key))
            build_once(record, contender, context, record.warm)


def verify_artifacts(
    record: BuildRecord, workspace: Workspace, interpreter: Path, contenders: Sequence[Contender]
) -> None:
    """Start every artifact once on an empty runtime root; one that fails drops out."""
    for contender in record.standing(contenders):
        launch = Launch(contender.key, contender.launch_command(interpreter, record.artifacts[contender.key]))
        root = workspace.fresh_dir("verify-root")
        try:
            time_start(launch, runtime_environment("default", root), workspace.root)
        except StartFailed as error:
            record.fail(contender.key, DOES_NOT_RUN, summarize(error))
        finally:
            remove_tree(root)


def measure_builds(
    workspace: Workspace,
    interpreter: Path,
    contenders: Sequence[Contender],
    cold_rounds: int,
    warm_rounds: int,
) -> BuildRecord:
    record = BuildRecord()
    measure_cold_builds(record, workspace, interpreter, contenders, cold_rounds)
    measure_warm_builds(record, workspace, interpreter, contenders, warm_rounds)
    verify_artifacts(record, workspace, interpreter, contenders)
    return record


def summarize(error: BaseException) -> str:
    """The last lines of an error, enough to tell what went wrong."""
    text = str(error).strip()
    return text if len(text) <= FAILURE_SUMMARY_CHARS else "..." + text[-FAILURE_SUMMARY_CHARS:]
