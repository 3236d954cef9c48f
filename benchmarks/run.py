#!/usr/bin/env python3
"""Benchmark hatch-pex against the PEX CLI, shiv and plain venvs: start time (warm and first),
build time and size, for one fixture app. Writes docs/benchmarks.md and docs/benchmarks.png.

    python3 benchmarks/run.py [--quick] [--warm-rounds N] [--cold-rounds N] [--build-rounds N]
    python3 benchmarks/run.py --baseline REV   # also hatch-pex@REV: the plugin at REV, before vs after

Everything it installs (pex, shiv, hatch, matplotlib, this repository's plugin) goes into a private
venv under benchmarks/work/ (gitignored). Timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from harness.builds import BuildRecord, measure_builds
from harness.contenders import CONTENDERS, HATCH_PEX, HATCH_PEX_ONE_VERSION, VENV, Contender, artifact_size
from harness.document import render_document
from harness.facts import collect_facts
from harness.measure import Launch, measure_first_starts, measure_warm_starts
from harness.progress import log
from harness.report import BARE_PYTHON, BARE_VENV_PYTHON, tables
from harness.results import MEASURED, NOT_BUILT, Outcome, Results
from harness.revision import Revision, prepare_revision, resolve_revision, revision_contender
from harness.shell import CommandFailed, clean_environment, run
from harness.toolchain import ensure_tools, find_interpreter, install_plugin, interpreter_version
from harness.workspace import BENCHMARKS_DIR, REPO_ROOT, Workspace

FULL_ROUNDS = {"warm": 15, "cold": 7, "build": 3}
QUICK_ROUNDS = {"warm": 5, "cold": 3, "build": 1}


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help=f"fewer rounds: {QUICK_ROUNDS}")
    parser.add_argument("--warm-rounds", type=int, help=f"warm-start rounds (default {FULL_ROUNDS['warm']})")
    parser.add_argument("--cold-rounds", type=int, help=f"first-start rounds (default {FULL_ROUNDS['cold']})")
    parser.add_argument(
        "--build-rounds",
        type=int,
        help=f"cold builds and warm rebuilds each (default {FULL_ROUNDS['build']})",
    )
    parser.add_argument("--python", help="the CPython 3.11 to use (default: `pyenv prefix 3.11`, python3.11)")
    keys = ", ".join(contender.key for contender in CONTENDERS)
    parser.add_argument("--contenders", help=f"comma-separated subset of: {keys}")
    parser.add_argument(
        "--baseline",
        metavar="REV",
        help="also build and time hatch-pex@REV, the hatch-pex contender with the plugin taken from REV "
        "(a git revision of this repository), and report before (REV) vs after (the working tree); "
        "added whatever --contenders says, with hatch-pex",
    )
    parser.add_argument("--reinstall-tools", action="store_true", help="upgrade pex, shiv, hatch, matplotlib")
    parser.add_argument("--work-dir", type=Path, default=BENCHMARKS_DIR / "work")
    parser.add_argument("--markdown", type=Path, default=REPO_ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--chart", type=Path, default=REPO_ROOT / "docs" / "benchmarks.png")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="redraw the page and chart from the last run's results.json, measure nothing",
    )
    return parser.parse_args(argv)


def chosen_rounds(options: argparse.Namespace) -> dict[str, int]:
    rounds = dict(QUICK_ROUNDS if options.quick else FULL_ROUNDS)
    for kind in rounds:
        explicit = getattr(options, f"{kind}_rounds")
        if explicit is not None:
            rounds[kind] = max(explicit, 1)
    return rounds


def available_contenders(before: Contender | None) -> list[Contender]:
    """Every contender, with the baseline's (if any) right after the `hatch-pex` it is compared with."""
    available: list[Contender] = []
    for contender in CONTENDERS:
        available.append(contender)
        if contender.key == HATCH_PEX and before is not None:
            available.append(before)
    return available


def chosen_contenders(options: argparse.Namespace, before: Contender | None) -> list[Contender]:
    """`--contenders` (default: all); the baseline and `hatch-pex` always, when there is a baseline."""
    available = available_contenders(before)
    if not options.contenders:
        return available
    wanted = {key.strip() for key in options.contenders.split(",")}
    unknown = wanted - {contender.key for contender in available}
    if unknown:
        raise SystemExit(f"unknown contenders: {', '.join(sorted(unknown))}")
    if before is not None:
        wanted |= {HATCH_PEX, before.key}
    return [contender for contender in available if contender.key in wanted]


def start_launches(record: BuildRecord, contenders: Sequence[Contender], interpreter: Path) -> list[Launch]:
    return [
        Launch(contender.key, contender.launch_command(interpreter, record.artifacts[contender.key]))
        for contender in record.standing(contenders)
    ]


def reference_launches(record: BuildRecord, interpreter: Path) -> list[Launch]:
    """The bare interpreters, for the floor every archive (or venv) starts from."""
    launches = [Launch(BARE_PYTHON, [str(interpreter), "-c", "print('ok')"], expected_output="ok")]
    venv = record.artifacts.get(VENV)
    if venv is not None:
        launches.append(Launch(BARE_VENV_PYTHON, [str(venv / "bin" / "python"), "-c", "print('ok')"], "ok"))
    return launches


def outcome(record: BuildRecord, contender: Contender) -> Outcome:
    status, detail = record.failures.get(contender.key, (MEASURED, ""))
    artifact = record.artifacts.get(contender.key)
    size = artifact_size(artifact) if artifact is not None else None
    return Outcome(contender.key, contender.label, status, size, detail)


def prepare_plugin(workspace: Workspace) -> str | None:
    """Install the plugin from the repository; the reason it could not be, if so."""
    try:
        install_plugin(workspace)
    except CommandFailed as error:
        return f"the plugin does not install: {error}"
    return None


def preparation_problems(
    workspace: Workspace, interpreter: Path, revision: Revision | None
) -> dict[str, str]:
    """Install the plugin and prepare the baseline's; why a contender cannot be built, by key."""
    problems: dict[str, str] = {}
    plugin_problem = prepare_plugin(workspace)
    if plugin_problem:
        problems.update(dict.fromkeys((HATCH_PEX, HATCH_PEX_ONE_VERSION), plugin_problem))
    if revision is not None:
        revision_problem = prepare_revision(workspace, revision, interpreter)
        if revision_problem:
            problems[revision.key] = revision_problem
    return problems


def build_all(
    workspace: Workspace,
    interpreter: Path,
    contenders: list[Contender],
    rounds: int,
    revision: Revision | None,
) -> BuildRecord:
    """Install the plugin (and the baseline's), then build every contender; one whose plugin does
    not install is "not built"."""
    problems = preparation_problems(workspace, interpreter, revision)
    workspace.reset_run_state()
    buildable = [contender for contender in contenders if contender.key not in problems]
    record = measure_builds(workspace, interpreter, buildable, rounds, rounds)
    for contender in contenders:
        if contender.key in problems:
            record.fail(contender.key, NOT_BUILT, problems[contender.key])
    return record


def this_command() -> str:
    return "python3 benchmarks/run.py" + "".join(f" {shlex.quote(argument)}" for argument in sys.argv[1:])


def measure(options: argparse.Namespace, rounds: dict[str, int], workspace: Workspace) -> Results:
    revision = resolve_revision(options.baseline) if options.baseline else None
    before = revision_contender(workspace, revision) if revision is not None else None
    contenders = chosen_contenders(options, before)
    interpreter = find_interpreter(options.python)
    log(f"interpreter: {interpreter}")
    log("tools venv: pex, shiv, hatch, matplotlib (installed on the first run only), then the plugin")
    ensure_tools(workspace, interpreter, options.reinstall_tools)
    record = build_all(workspace, interpreter, contenders, rounds["build"], revision)
    launches = start_launches(record, contenders, interpreter)
    references = reference_launches(record, interpreter)
    warm = measure_warm_starts(workspace, [*launches, *references], rounds["warm"])
    first = measure_first_starts(workspace, launches, rounds["cold"])
    meta = collect_facts(workspace, interpreter, interpreter_version(interpreter), this_command(), rounds)
    if revision is not None:
        meta["baseline"] = revision.facts()
    outcomes = [outcome(record, contender) for contender in contenders]
    return Results(meta, outcomes, warm, first, record.cold, record.warm)


def draw_chart(workspace: Workspace, chart: Path) -> None:
    chart.parent.mkdir(parents=True, exist_ok=True)
    environment = clean_environment(
        dont_write_bytecode=True, extra={"MPLCONFIGDIR": str(workspace.root / "mplconfig")}
    )
    command: list[str | Path] = [
        workspace.tools_python,
        "-m",
        "harness.chart",
        workspace.results_file,
        chart.resolve(),
    ]
    run(command, environment, cwd=BENCHMARKS_DIR)


def publish(results: Results, workspace: Workspace, options: argparse.Namespace) -> None:
    print("\n".join(tables(results)))
    draw_chart(workspace, options.chart)
    chart_link = os.path.relpath(options.chart.resolve(), options.markdown.resolve().parent)
    options.markdown.parent.mkdir(parents=True, exist_ok=True)
    options.markdown.write_text(render_document(results, chart_link))
    log(f"wrote {options.markdown} and {options.chart}")


def main(argv: Sequence[str] | None = None) -> None:
    options = parse_arguments(argv)
    workspace = Workspace(options.work_dir.resolve())
    if options.report_only:
        results = Results.load(workspace.results_file)
    else:
        results = measure(options, chosen_rounds(options), workspace)
        results.save(workspace.results_file)
    publish(results, workspace, options)


if __name__ == "__main__":
    main()
