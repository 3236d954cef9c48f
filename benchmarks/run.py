#!/usr/bin/env python3
"""Benchmark hatch-pex against the PEX CLI, shiv and plain venvs: start time (warm and first),
build time and size, for the small fixture app; with `--mid`, for a small Django project, and with
`--large`, for the large-closure app (torch, numpy, pandas, scipy, pyarrow), with the memory of each
start and build too. For every app, hatch-pex's first start is also taken apart (extra PEX_VERBOSE=1
runs). Writes docs/benchmarks.md (all three apps) and docs/benchmarks.png (the small app's chart).

    python3 benchmarks/run.py [--quick] [--warm-rounds N] [--cold-rounds N] [--build-rounds N]
    python3 benchmarks/run.py --mid [--quick]     # the Django app (about 15 minutes; --quick: 7)
    python3 benchmarks/run.py --large [--quick]   # the large app (about 25 minutes; --quick: 13-15)
    python3 benchmarks/run.py --baseline REV   # also hatch-pex@REV: the plugin at REV, before vs after

Everything it installs (pex, shiv, hatch, matplotlib, this repository's plugin) goes into a private
venv under benchmarks/work/ (gitignored). Timings are reported, never asserted.

docs/benchmarks.md and docs/benchmarks.png are written only from a clean work tree (files git ignores
aside), and the page records the commit measured: with uncommitted changes the run stops before it
measures anything. `--markdown PATH --chart PATH` elsewhere are written from any tree; the page then
says the tree had uncommitted changes.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from harness.builds import BuildRecord, measure_builds
from harness.contenders import HATCH_PEX, HATCH_PEX_ONE_VERSION, VENV, Contender, artifact_size
from harness.document import render_document
from harness.facts import WorkTree, collect_facts, work_tree
from harness.measure import (
    VARIANTS,
    Launch,
    StartRecord,
    empty_samples,
    measure_first_starts,
    measure_warm_starts,
)
from harness.progress import log
from harness.report import BARE_PYTHON, BARE_VENV_PYTHON, large_tables, mid_tables, tables
from harness.results import DOES_NOT_RUN, MEASURED, NOT_BUILT, Outcome, Results
from harness.revision import Revision, prepare_revision, resolve_revision, revision_contender
from harness.scenario import LARGE, MID, SMALL, Scenario
from harness.shell import CommandFailed, clean_environment, run
from harness.toolchain import ensure_tools, find_interpreter, install_plugin, interpreter_version
from harness.workspace import BENCHMARKS_DIR, REPO_ROOT, Workspace

SCENARIOS = (SMALL, MID, LARGE)


def rounds_help(kind: str) -> str:
    full = SMALL.full_rounds, MID.full_rounds, LARGE.full_rounds
    return f"(default {full[0][kind]}; --mid: {full[1][kind]}; --large: {full[2][kind]})"


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    app = parser.add_mutually_exclusive_group()
    app.add_argument(
        "--mid",
        action="store_true",
        help="the mid-size Django app (benchmarks/app-mid/) instead of the small one; results in "
        f"{MID.results_name}, its tables on the same page",
    )
    app.add_argument(
        "--large",
        action="store_true",
        help="the large-closure app (benchmarks/app-large/) instead of the small one; results in "
        f"{LARGE.results_name}, its tables on the same page",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"fewer rounds: {SMALL.quick_rounds} (--mid: {MID.quick_rounds}; --large: {LARGE.quick_rounds})",
    )
    parser.add_argument("--warm-rounds", type=int, help=f"warm-start rounds {rounds_help('warm')}")
    parser.add_argument("--cold-rounds", type=int, help=f"first-start rounds {rounds_help('cold')}")
    parser.add_argument(
        "--build-rounds",
        type=int,
        help="cold builds and warm rebuilds each (--mid, --large: warm rebuilds only) "
        f"{rounds_help('build')}",
    )
    parser.add_argument(
        "--variants",
        help=f"comma-separated subset of: {', '.join(VARIANTS)} (default: both; --large: default)",
    )
    parser.add_argument("--python", help="the CPython 3.11 to use (default: `pyenv prefix 3.11`, python3.11)")
    keys = ", ".join(contender.key for contender in SMALL.contenders)
    mid_keys = ", ".join(contender.key for contender in MID.contenders)
    large_keys = ", ".join(contender.key for contender in LARGE.contenders)
    parser.add_argument(
        "--contenders",
        help=f"comma-separated subset of: {keys} (--mid: {mid_keys}; --large: {large_keys})",
    )
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
        help=f"redraw the page and chart from the last runs' {SMALL.results_name}, {MID.results_name} "
        f"and {LARGE.results_name}, measure nothing",
    )
    return parser.parse_args(argv)


def chosen_scenario(options: argparse.Namespace) -> Scenario:
    return LARGE if options.large else MID if options.mid else SMALL


def chosen_rounds(options: argparse.Namespace, scenario: Scenario) -> dict[str, int]:
    rounds = dict(scenario.quick_rounds if options.quick else scenario.full_rounds)
    for kind in rounds:
        explicit = getattr(options, f"{kind}_rounds")
        if explicit is not None:
            rounds[kind] = max(explicit, 1)
    return rounds


def chosen_variants(options: argparse.Namespace, scenario: Scenario) -> tuple[str, ...]:
    if not options.variants:
        return scenario.variants
    wanted = [variant.strip() for variant in options.variants.split(",")]
    unknown = set(wanted) - set(VARIANTS)
    if unknown:
        raise SystemExit(f"unknown variants: {', '.join(sorted(unknown))}")
    return tuple(variant for variant in VARIANTS if variant in wanted)


def available_contenders(scenario: Scenario, before: Contender | None) -> list[Contender]:
    """Every contender, with the baseline's (if any) right after the `hatch-pex` it is compared with."""
    available: list[Contender] = []
    for contender in scenario.contenders:
        available.append(contender)
        if contender.key == HATCH_PEX and before is not None:
            available.append(before)
    return available


def chosen_contenders(
    options: argparse.Namespace, scenario: Scenario, before: Contender | None
) -> list[Contender]:
    """`--contenders` (default: all); the baseline and `hatch-pex` always, when there is a baseline."""
    available = available_contenders(scenario, before)
    if not options.contenders:
        return available
    wanted = {key.strip() for key in options.contenders.split(",")}
    unknown = wanted - {contender.key for contender in available}
    if unknown:
        raise SystemExit(f"unknown contenders: {', '.join(sorted(unknown))}")
    if before is not None:
        wanted |= {HATCH_PEX, before.key}
    return [contender for contender in available if contender.key in wanted]


def start_launches(
    record: BuildRecord, contenders: Sequence[Contender], interpreter: Path, scenario: Scenario
) -> list[Launch]:
    app = scenario.app
    return [
        Launch(
            contender.key,
            contender.launch_command(interpreter, record.artifacts[contender.key], app),
            app.success_marker,
        )
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
    workspace: Workspace, interpreter: Path, revision: Revision | None, scenario: Scenario
) -> dict[str, str]:
    """Install the plugin and prepare the baseline's; why a contender cannot be built, by key."""
    problems: dict[str, str] = {}
    plugin_problem = prepare_plugin(workspace)
    if plugin_problem:
        problems.update(dict.fromkeys((HATCH_PEX, HATCH_PEX_ONE_VERSION), plugin_problem))
    if revision is not None:
        revision_problem = prepare_revision(workspace, revision, interpreter, scenario.app)
        if revision_problem:
            problems[revision.key] = revision_problem
    return problems


def build_all(
    workspace: Workspace,
    interpreter: Path,
    contenders: list[Contender],
    rounds: int,
    revision: Revision | None,
    scenario: Scenario,
) -> BuildRecord:
    """Install the plugin (and the baseline's), then build every contender; one whose plugin does
    not install is "not built"."""
    problems = preparation_problems(workspace, interpreter, revision, scenario)
    workspace.reset_run_state()
    buildable = [contender for contender in contenders if contender.key not in problems]
    record = measure_builds(
        workspace,
        interpreter,
        buildable,
        rounds if scenario.cold_builds else 0,
        rounds,
        scenario.app,
        memory=scenario.memory,
        verify=scenario.verify,
    )
    for contender in contenders:
        if contender.key in problems:
            record.fail(contender.key, NOT_BUILT, problems[contender.key])
    return record


def this_command() -> str:
    return "python3 benchmarks/run.py" + "".join(f" {shlex.quote(argument)}" for argument in sys.argv[1:])


def memory_samples(
    record: BuildRecord, warm: StartRecord, first: StartRecord
) -> dict[str, dict[str, object]]:
    """What results.json keeps of the memory: bytes, by measure, then as the times are."""
    return {
        "warm": {"anonymous": warm.anonymous, "rss": warm.rss},
        "first": {"anonymous": first.anonymous, "rss": first.rss},
        "build": {"anonymous": record.anonymous, "rss": record.rss},
    }


def previous_hatch_pex(workspace: Workspace, scenario: Scenario) -> dict[str, object] | None:
    """The hatch-pex file of the last run of this app (its size, revision and date), if there was one."""
    path = workspace.results_file_for(scenario.results_name)
    if not path.is_file():
        return None
    try:
        previous = Results.load(path)
    except (OSError, ValueError, TypeError, KeyError):
        return None
    ours = previous.outcome(HATCH_PEX)
    if ours is None or ours.size_bytes is None:
        return None
    return {
        "size_bytes": ours.size_bytes,
        "revision": previous.meta.get("revision"),
        "date": previous.meta.get("date"),
    }


def measure(
    options: argparse.Namespace,
    scenario: Scenario,
    rounds: dict[str, int],
    workspace: Workspace,
    tree: WorkTree,
) -> Results:
    revision = resolve_revision(options.baseline) if options.baseline else None
    before = revision_contender(workspace, revision, scenario.app) if revision is not None else None
    contenders = chosen_contenders(options, scenario, before)
    variants = chosen_variants(options, scenario)
    previous = previous_hatch_pex(workspace, scenario)
    interpreter = find_interpreter(options.python)
    log(f"interpreter: {interpreter}")
    log("tools venv: pex, shiv, hatch, matplotlib (installed on the first run only), then the plugin")
    ensure_tools(workspace, interpreter, options.reinstall_tools)
    record = build_all(workspace, interpreter, contenders, rounds["build"], revision, scenario)
    launches = start_launches(record, contenders, interpreter, scenario)
    references = reference_launches(record, interpreter) if scenario.references else []
    # The large app: the warm starts' priming runs are the first round of first starts.
    first = StartRecord(empty_samples(launches, variants)) if scenario.first_start_primes_warm else None
    warm = measure_warm_starts(
        workspace, [*launches, *references], rounds["warm"], variants, scenario.memory, first
    )
    for key, detail in warm.failed.items():
        record.fail(key, DOES_NOT_RUN, detail)
    launches = [launch for launch in launches if launch.key not in warm.failed]
    # The hatch-pex files' first starts taken apart: extra PEX_VERBOSE=1 runs in the same rounds.
    traced = {contender.key for contender in contenders if contender.timeline}
    first = measure_first_starts(
        workspace,
        launches,
        rounds["cold"],
        variants,
        scenario.memory,
        scenario.first_start_warm_up,
        first,
        timelines=[launch for launch in launches if launch.key in traced],
    )
    meta = collect_facts(
        workspace, interpreter, interpreter_version(interpreter), this_command(), rounds, tree, scenario.app
    )
    meta["app"] = scenario.app.key
    meta["variants"] = list(variants)
    if previous is not None:
        meta["previous_hatch_pex"] = previous
    if revision is not None:
        meta["baseline"] = revision.facts()
    outcomes = [outcome(record, contender) for contender in contenders]
    memory = memory_samples(record, warm, first) if scenario.memory else {}
    return Results(
        meta, outcomes, warm.seconds, first.seconds, record.cold, record.warm, memory, first.timeline
    )


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


def load_results(workspace: Workspace, scenario: Scenario) -> Results | None:
    path = workspace.results_file_for(scenario.results_name)
    return Results.load(path) if path.is_file() else None


def publish(workspace: Workspace, options: argparse.Namespace, measured: Scenario | None) -> None:
    """Print the tables of the app just measured (of all three, with --report-only) and write the page
    from every app's results file; the small app's chart is redrawn when it has results."""
    small, mid, large = (load_results(workspace, scenario) for scenario in SCENARIOS)
    if small is None and mid is None and large is None:
        raise SystemExit(f"no results in {workspace.root}: run the benchmark first")
    if small is not None and measured in (None, SMALL):
        print("\n".join(tables(small)))
    if mid is not None and measured in (None, MID):
        print("\n".join(mid_tables(mid)))
    if large is not None and measured in (None, LARGE):
        print("\n".join(large_tables(large)))
    chart_link = None
    if small is not None:
        draw_chart(workspace, options.chart)
        chart_link = os.path.relpath(options.chart.resolve(), options.markdown.resolve().parent)
    options.markdown.parent.mkdir(parents=True, exist_ok=True)
    options.markdown.write_text(render_document(small, mid, large, chart_link))
    log(f"wrote {options.markdown}" + (f" and {options.chart}" if small is not None else ""))


DOCS_PAGE = REPO_ROOT / "docs" / "benchmarks.md"
DOCS_CHART = REPO_ROOT / "docs" / "benchmarks.png"


def writes_docs(options: argparse.Namespace) -> bool:
    """Whether the page or the chart goes to the repository's docs/ (the published figures)."""
    published = {DOCS_PAGE.resolve(), DOCS_CHART.resolve()}
    return any(path.resolve() in published for path in (options.markdown, options.chart))


def dirty_tree_problem(tree: WorkTree) -> str | None:
    """Why docs/ must not take figures from this work tree, or None when it is clean."""
    if tree.commit is None:
        return f"{REPO_ROOT} is not a git checkout with a commit, so the page could not name what it measured"
    if tree.changes:
        shown = "\n".join(f"    {line}" for line in tree.changes[:20])
        more = f"\n    ... and {len(tree.changes) - 20} more" if len(tree.changes) > 20 else ""
        return (
            f"the work tree has uncommitted changes (git status --porcelain):\n{shown}{more}\n"
            f"docs/benchmarks.md must hold the figures of one commit ({tree.commit[:12]} and nothing else): "
            "commit (or stash) the changes and run again"
        )
    return None


def results_problem(results: Results | None, path: Path) -> str | None:
    """Why a results file must not go into docs/ (measured from a dirty tree, or by an older harness that
    did not record the commit), or None."""
    if results is None:
        return None
    meta = results.meta
    if meta.get("work_tree_clean") is True and meta.get("commit"):
        return None
    return (
        f"{path} was measured from {meta.get('revision', 'an unknown revision')}, not from a clean "
        "commit: measure that app again from a clean work tree (or delete the file)"
    )


def refuse(problem: str) -> NoReturn:
    raise SystemExit(
        f"benchmarks/run.py: refusing to write docs/benchmarks.md and docs/benchmarks.png: {problem}.\n"
        "To see the figures anyway, write the page and chart elsewhere with --markdown PATH --chart PATH "
        "(the page then says the tree was dirty)."
    )


def check_docs_outputs(
    options: argparse.Namespace, workspace: Workspace, tree: WorkTree, measured: Scenario | None
) -> None:
    """Before anything is measured: stop if the run would write docs/ from a dirty tree, or put into
    docs/ results of the other apps (or, with --report-only, of any) that were measured from one."""
    if not writes_docs(options):
        return
    problem = dirty_tree_problem(tree)
    if problem is None:
        for scenario in SCENARIOS:
            if scenario is not measured:
                path = workspace.results_file_for(scenario.results_name)
                problem = results_problem(load_results(workspace, scenario), path)
                if problem:
                    break
    if problem:
        refuse(problem)


def main(argv: Sequence[str] | None = None) -> None:
    options = parse_arguments(argv)
    workspace = Workspace(options.work_dir.resolve())
    tree = work_tree()
    if options.report_only:
        check_docs_outputs(options, workspace, tree, None)
        publish(workspace, options, None)
        return
    scenario = chosen_scenario(options)
    check_docs_outputs(options, workspace, tree, scenario)
    results = measure(options, scenario, chosen_rounds(options, scenario), workspace, tree)
    after = work_tree()
    if after != tree:  # a commit or an edit during the run: the figures are of no one commit
        log(f"the work tree changed during the run: {dirty_tree_problem(after) or 'HEAD moved'}")
        changed = f"{tree.revision} (the work tree changed during the run)"
        results.meta.update(work_tree_clean=False, revision=changed)
    path = workspace.results_file_for(scenario.results_name)
    results.save(path)
    if writes_docs(options):
        problem = results_problem(results, path)
        if problem:
            refuse(problem)
    publish(workspace, options, scenario)


if __name__ == "__main__":
    main()
