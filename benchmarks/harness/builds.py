"""Build-time measurements: cold builds (every cache empty) and warm rebuilds (caches kept)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .contenders import SMALL_APP, App, BuildContext, Contender
from .measure import Launch, StartFailed, rotated, runtime_environment, time_start
from .memory import call_sampled
from .progress import log
from .results import DOES_NOT_RUN, NOT_BUILT
from .shell import CommandFailed
from .workspace import Workspace, remove_tree, reset_dir

FAILURE_SUMMARY_CHARS = 600


@dataclass
class BuildRecord:
    """Seconds per contender for each kind of build, the artifacts of the last build, and why a
    contender dropped out: (status, detail), its key then absent from `artifacts`. With `memory`, each
    timed build's peak anonymous memory and peak RSS (bytes, see memory.py) too."""

    cold: dict[str, list[float]] = field(default_factory=dict)
    warm: dict[str, list[float]] = field(default_factory=dict)
    artifacts: dict[str, Path] = field(default_factory=dict)
    failures: dict[str, tuple[str, str]] = field(default_factory=dict)
    memory: bool = False
    anonymous: dict[str, list[int]] = field(default_factory=dict)
    rss: dict[str, list[int]] = field(default_factory=dict)

    def standing(self, contenders: Sequence[Contender]) -> list[Contender]:
        return [contender for contender in contenders if contender.key not in self.failures]

    def fail(self, key: str, status: str, detail: str) -> None:
        log(f"{key}: {status}:\n{detail}")
        self.failures[key] = (status, detail)
        self.artifacts.pop(key, None)


def timed_build(
    contender: Contender, context: BuildContext, memory: bool
) -> tuple[float, Path, tuple[int, int]]:
    """Seconds, the artifact and, with `memory`, (peak anonymous memory, peak RSS) of one build, run in
    a forked copy of this process whose process tree is sampled; else (0, 0)."""
    output = reset_dir(context.workspace.artifact_dir(contender.key))
    if memory:
        usage, artifact = call_sampled(lambda: contender.build(context, output))
        return usage.seconds, artifact, (usage.anonymous_peak, usage.rss_peak)
    started = time.perf_counter()
    artifact = contender.build(context, output)
    return time.perf_counter() - started, artifact, (0, 0)


def build_once(
    record: BuildRecord, contender: Contender, context: BuildContext, samples: dict[str, list[float]] | None
) -> None:
    """One build; its time goes to `samples` (None: an untimed priming build), its memory (when the
    record keeps memory) to the record's."""
    try:
        seconds, artifact, (anonymous, rss) = timed_build(
            contender, context, record.memory and samples is not None
        )
    except (CommandFailed, RuntimeError, OSError) as error:
        record.fail(contender.key, NOT_BUILT, summarize(error))
        return
    record.artifacts[contender.key] = artifact
    if samples is not None:
        samples.setdefault(contender.key, []).append(seconds)
        memory_note = ""
        if record.memory:
            record.anonymous.setdefault(contender.key, []).append(anonymous)
            record.rss.setdefault(contender.key, []).append(rss)
            memory_note = f", anonymous {anonymous / 2**20:.0f} MiB, RSS {rss / 2**20:.0f} MiB"
        log(f"  {contender.key}: {seconds:.1f} s{memory_note}")


def measure_cold_builds(
    record: BuildRecord,
    workspace: Workspace,
    interpreter: Path,
    contenders: Sequence[Contender],
    rounds: int,
    app: App,
) -> None:
    for round_number in range(rounds):
        log(f"cold builds: round {round_number + 1}/{rounds}")
        for contender in rotated(record.standing(contenders), round_number):
            cache = workspace.fresh_dir("build-cache")
            try:
                build_once(record, contender, BuildContext(workspace, interpreter, cache, app), record.cold)
            finally:
                remove_tree(cache)


def measure_warm_builds(
    record: BuildRecord,
    workspace: Workspace,
    interpreter: Path,
    contenders: Sequence[Contender],
    rounds: int,
    app: App,
) -> None:
    """The first build into each kept cache is a discarded priming build (one per cache group:
    contenders sharing a cache share its priming)."""
    log("warm builds: priming the caches")
    primed: set[str] = set()
    for contender in record.standing(contenders):
        if contender.cache_key in primed:
            continue
        primed.add(contender.cache_key)
        cache = reset_dir(workspace.warm_build_cache(contender.cache_key))
        build_once(record, contender, BuildContext(workspace, interpreter, cache, app), None)
    for round_number in range(rounds):
        log(f"warm builds: round {round_number + 1}/{rounds}")
        for contender in rotated(record.standing(contenders), round_number):
            context = BuildContext(
                workspace, interpreter, workspace.warm_build_cache(contender.cache_key), app
            )
            build_once(record, contender, context, record.warm)


def verify_artifacts(
    record: BuildRecord,
    workspace: Workspace,
    interpreter: Path,
    contenders: Sequence[Contender],
    app: App = SMALL_APP,
) -> None:
    """Start every artifact once on an empty runtime root; one that fails drops out."""
    for contender in record.standing(contenders):
        command = contender.launch_command(interpreter, record.artifacts[contender.key], app)
        launch = Launch(contender.key, command, app.success_marker)
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
    app: App = SMALL_APP,
    memory: bool = False,
    verify: bool = True,
) -> BuildRecord:
    """Cold builds (`cold_rounds` may be 0), warm rebuilds, then (with `verify`) one start of each
    artifact on an empty runtime root; without it, the warm-start priming run is the check."""
    record = BuildRecord(memory=memory)
    measure_cold_builds(record, workspace, interpreter, contenders, cold_rounds, app)
    measure_warm_builds(record, workspace, interpreter, contenders, warm_rounds, app)
    if verify:
        verify_artifacts(record, workspace, interpreter, contenders, app)
    return record


def summarize(error: BaseException) -> str:
    """The last lines of an error, enough to tell what went wrong."""
    text = str(error).strip()
    return text if len(text) <= FAILURE_SUMMARY_CHARS else "..." + text[-FAILURE_SUMMARY_CHARS:]
