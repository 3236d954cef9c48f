"""docs/benchmarks.md: the three apps' tables with the method, the machine and the command around them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .contenders import APP_ARGUMENTS, APP_SCRIPT, LARGE_APP, MID_APP
from .measure import SETTLE_SECONDS
from .memory import BUILD_INTERVAL, START_INTERVAL
from .report import (
    BARE_PYTHON,
    BARE_VENV_PYTHON,
    format_ms,
    large_tables,
    median,
    mid_tables,
    revision_facts,
    tables,
)
from .results import Results

ARGUMENTS = " ".join(APP_ARGUMENTS)

METHOD = f"""\
## How it is measured

### The small app

- One fixture app, `benchmarks/app/` (the `{APP_SCRIPT}` script: imports click, requests and rich,
  reads their versions from their metadata, prepares an HTTP request without sending it and prints a
  small rich table), shipped nine ways: `hatch build -t pex` with this repository's plugin (in hatch's
  build environment, see the app's `pyproject.toml`), by default (one file serving every CPython the
  app admits, 3.9 to the newest), narrowed to the benchmark's interpreter (`python-versions =
  ["3.11"]`, one resolution, as every build was before), and with `compile-bytecode = ["3.11"]` (every
  module's bytecode compiled at build time for the benchmark's CPython: its first start compiles
  none; `true` would ask for every version the file serves, and this machine has no 3.14 or 3.15);
  the PEX CLI (`pex <app> -c {APP_SCRIPT} -o ...`),
  default zipapp layout, `--venv` and `--venv --sh-boot` (PEX's fastest start: a `/bin/sh` preamble
  that execs the installed venv directly once it exists; built with `--python-shebang <the
  interpreter>` and started as a program, `<file> {ARGUMENTS}`, so its boot picks the same
  interpreter);
  `shiv -c {APP_SCRIPT} -o ... <app>`; `pip install` into a plain venv and into a
  `--system-site-packages` venv. Every tool's defaults are kept otherwise.
- One interpreter for all: the real CPython 3.11 binary (not the pyenv shim). Archives run as
  `<python3.11> <file> {ARGUMENTS}`, so no shebang or shim differs; a venv runs as
  `<venv>/bin/python <venv>/bin/{APP_SCRIPT} {ARGUMENTS}`. Every run is checked for the app's output.
- Interleaved: each round starts every contender once, under both variants, in an order rotated by
  one each round. Time is `time.perf_counter()` around `subprocess.run`, i.e. fork to exit.
- Warm start: each contender and variant keeps one `PEX_ROOT` / `SHIV_ROOT`, populated by a discarded
  first run. First start: a new, empty `PEX_ROOT` / `SHIV_ROOT` for every run; one discarded
  warm-up round. A round's roots are removed together after it, and the next round waits
  {SETTLE_SECONDS} s: this machine's ext4 has no journal, and for 60 s after a removal each file
  created scans past the freed inodes (`recently_deleted()`), which made a first start several times
  slower right after another's root was removed. The venvs have no cache: their first start is any
  start, their cost is in the build column.
- Bytecode: the machine this ran on sets `PYTHONDONTWRITEBYTECODE=1` globally (common in containers),
  so both variants are measured: without the variable, and with it. The venvs' bytecode is compiled at
  install (pip `--compile`, then `compileall` to be sure), so with the variable set they are not left
  compiling their sources on every start; the archives' caches get whatever bytecode their own tool
  writes.
- The `--system-site-packages` venv is installed with `pip install --ignore-installed`, so it runs the
  same versions of click, requests and rich as everyone else; what it adds is the interpreter's own
  site-packages on `sys.path` and its `.pth` files. The bare interpreter pays for those too, on every
  start of every archive: the two reference rows show that floor.
- Build: cold means every cache empty (fresh `PIP_CACHE_DIR`, `XDG_CACHE_HOME`, `PEX_ROOT`,
  `UV_CACHE_DIR`, `HATCH_DATA_DIR` and `HATCH_CACHE_DIR` per build, so downloads from PyPI and hatch
  creating its build environment are included); warm means those kept from a discarded priming build
  (for the PEX CLI: its `PEX_ROOT`; for hatch: its build environment and hatch-pex's wheel cache). A
  venv's build is `python -m venv --without-pip` plus `pip install` and the compile step.
- Size: the file; for a venv, every regular file under it (it has no pip of its own).
- Noise: the machine may be shared, so read small differences with care. Two contenders that should
  start alike (the two venvs) show how large run-to-run differences are; the chart's whiskers span the
  middle half of each contender's runs, and the raw samples are in `benchmarks/work/results.json`.
"""

TIMELINE_METHOD = """\
### First start taken apart (every app, hatch-pex only)

- Extra runs, not the ones whose medians are the first-start figures (the runtime's log costs a
  little): in each first-start round (not the warm-up), every hatch-pex file starts once per variant
  with `PEX_VERBOSE=1` on a new, empty `PEX_ROOT`, then once more on that same root, now warm;
  interleaved with the other first starts of the round, in the same rotated order.
- The runtime writes `hatch-pex: ready in <t> ms` to stderr when it hands over to the application
  (`t` counted from the start of its `boot()`), and `extracted <wheel> to <entry> in <t> ms` for each
  wheel it unpacked (`t` counted from the start of the extraction of all of them, done in parallel:
  the largest is the extraction's wall time). The harness reads stderr as it is written (Python
  line-buffers it) and times the arrival of the `ready` line from the fork.
- A cold start may extract the wheels beside the application instead (an older runtime, such as a
  `--baseline`'s, never does). It then writes `extracting <n> wheels beside the application` before
  ready; the extraction runs on in a process of its own, its `extracted` lines counted from that
  process's start of it, and `ready in` no longer holds it. Each time the start needs a wheel not yet
  in place it writes `<what> waited <t> ms for the extraction of <n> wheels` (`<what>`: the .pth files
  or the start, before ready; an import or a metadata look-up, after it), and at exit, where it waits
  for the extraction to end so that the cache is complete when it returns, `the exit waited <t> ms
  for the extraction`.
- So a first start of total `T` splits into: the interpreter's start and the archive's stub, up to
  `boot()` (the `ready` line's arrival less its `ready in`); the runtime up to ready (`ready in`), of
  which extraction and the rest (interpreter check, site directory, warm record); and the app after
  ready (`T` less the `ready` line's arrival). The warm start that follows imports the same modules
  from the `.pyc` files the first start wrote (hatch-pex writes them into its cache whatever
  `PYTHONDONTWRITEBYTECODE` says), so its own part after ready is executing the modules and the app,
  and the first start's part after ready less that is compiling the sources and writing the `.pyc`
  files (strictly: that less reading them back, which a warm start does and a first one does not).
- When the extraction ran beside the application (in most rounds), it is no part of that sum, since
  it overlapped the rest: its wall time is shown, marked so. The runtime up to ready is then all of
  `ready in` (its waits before ready included); the app's waits, the `waited` lines after the `ready`
  line, are a part of their own, and compiling is what is left of the app's part after executing and
  those waits.
- Each figure is the median over rounds of what was measured (`T`, the arrival, `ready in`, the
  extraction, the waits in all and before ready, whether the extraction ran beside the application,
  the warm start's total and its arrival), and the parts are derived from those medians,
  so they add up to the median `PEX_VERBOSE=1` first start; the plain first start's median is beside
  it, to show what the log costs. A negative compiling part is noise. Raw figures: the `timeline` of
  each results file.
"""

MID_METHOD = f"""\
### The mid-size app (`--mid`)

- `benchmarks/app-mid/` (the `{MID_APP.script}` script: Django's `manage.py check` of a small project,
  settings in the package; installed apps admin, auth, contenttypes, sessions, messages, staticfiles,
  humanize, the REST framework and a catalog app of its own with two models, their admin, serializers,
  viewsets and a router). `check` sets Django up, imports every app's models and admin and the URL
  configuration, and runs the system checks: most of what a Django process imports before its first
  request, without a database. Its closure (Django, djangorestframework, asgiref, sqlparse) is about
  3,900 files as wheels. The app admits CPython 3.10 and later; hatch-pex is given
  `python-versions = ["3.11"]`, the benchmark's interpreter, as for the large app.
- Eight ways: the large app's seven (hatch-pex without and with `compile-bytecode = true`, the PEX
  CLI default, `--venv` and `--venv --sh-boot`, shiv, a plain venv) and the `--system-site-packages`
  venv, built and started as for the small app, on the same interpreter, without arguments.
- Both variants. Otherwise as for the large app: builds with warm caches only (the PEX CLI builds
  share one `PEX_ROOT`, shiv and the venvs one pip cache); the peak anonymous memory and peak RSS of
  every timed start and build; no discarded warm-up round (the page cache is warm from the builds): the
  warm starts' priming run of each artifact, on an empty runtime root, checks it and is round 1 of its
  first starts.
- The raw samples are in `benchmarks/work/results-mid.json`.
"""

LARGE_METHOD = f"""\
### The large app (`--large`)

- `benchmarks/app-large/` (the `{LARGE_APP.script}` script: imports torch, numpy, pandas, scipy and
  pyarrow, multiplies a small tensor, groups a DataFrame, multiplies a sparse matrix, builds an Arrow
  table and prints a line for each). torch is pinned to `2.13.0+cpu`, the CPU-only wheel this machine's
  pip configuration serves from `/opt/wheels` (an unpinned torch pulls some 3 GB of CUDA wheels); that
  wheel is cp311 only, so the app requires `>=3.11,<3.12` and hatch-pex is given
  `python-versions = ["3.11"]`. The rest comes from the machine's configured indexes. pip, shiv and
  hatch-pex read pip's configuration; the PEX CLI runs pip isolated from it, so it is given the
  find-links and a newer pip on the command line (`{" ".join(LARGE_APP.pex_resolver_arguments)}`):
  its vendored pip 20.3.4 resolves the CUDA torch 2.14.1 against the pin and fails.
- Seven ways: hatch-pex as the app's `pyproject.toml` says and with `compile-bytecode = true` added
  (the bytecode of every module compiled at build time, a larger file), the PEX CLI (default,
  `--venv`, `--venv --sh-boot`), shiv and a plain venv, built and started as for the small app, on the
  same interpreter.
- Rounds are fewer (a first start of an archive takes some 20 s, a PEX CLI or shiv build about a
  minute), one variant is measured (bytecode writes allowed, unless `--variants` says otherwise), and
  there is no discarded warm-up round: the page cache is warm from the builds. The warm starts'
  priming run of each artifact, on an empty runtime root, checks it and is recorded as round 1 of its
  first starts; later rounds use a new root each. Still interleaved round-robin, still medians.
- Build: warm caches only. Each cache is primed by one discarded build; the three PEX CLI builds share
  one `PEX_ROOT` and shiv and the venv one pip cache, so each group is primed once. hatch-pex keeps
  hatch's build environment and its wheel cache.
- Memory: every timed start and build also records (1) the peak **anonymous memory** of its whole
  process tree: `RssAnon` of `/proc/<pid>/status` summed over the process and all its descendants
  (children found from the parent pids in `/proc/<pid>/stat`; a process that re-execs keeps its pid)
  and every process of its process group (a start runs as the leader of a group of its own: the
  extractor hatch-pex forks beside the application leaves the tree, not the group), sampled every
  {START_INTERVAL * 1000:.0f} ms for a start and every {BUILD_INTERVAL * 1000:.0f} ms for a build (a
  sample costs about 0.1 ms of CPU), the largest sum kept; and (2) **peak RSS**, `ru_maxrss` from
  `wait4`: the largest RSS any single process of the tree reached (not the extractor, which nobody
  waits for). Anonymous memory is the measure of the targets: RSS also counts the page-cache pages
  of the files a process maps, and right after a first start extracted a few hundred MB of wheels
  those are many, shared and reclaimable. A build runs in a forked copy of the harness whose tree is
  sampled without the copy itself. The tables give the median over rounds of each run's peak.
- Size: the file; for the venv, every regular file under it.
- The raw samples are in `benchmarks/work/results-large.json`; the hatch-pex size of the run before
  (from the file this run replaced) is kept in it too, for the size row of the targets.
"""


def before_after_method(results: Results) -> list[str]:
    """The `--baseline` contender, when the run had one: what differs from `hatch-pex` (the plugin only)."""
    facts = revision_facts(results)
    if facts is None:
        return []
    short = facts["short"]
    return [
        f"- Before vs after (`--baseline {facts['requested']}`): `hatch-pex@{short}` is the `hatch-pex`",
        f"  contender with the plugin taken from commit {facts['commit']}",
        "  (`git archive` of it into `benchmarks/work/revisions/`, given to a copy of the app as its build",
        "  environment's dependency instead of the working tree). Same app, hatch, interpreter and rounds,",
        "  caches emptied or kept alike; built, started and timed interleaved with the others in this run,",
        "  so the two differ only in the plugin's code, the runtime each `.pex` carries included. The",
        "  middle-half columns show how far apart each one's own runs are: a ratio within that spread is",
        "  noise.",
    ]


def revision_line(results: Results) -> list[str]:
    facts = revision_facts(results)
    if facts is None:
        return []
    return [f"- Before (`--baseline {facts['requested']}`): hatch-pex@{facts['short']} = {facts['commit']}"]


def interpreter_floor(results: Results) -> str:
    """What the interpreter's own site-packages cost each start: bare interpreter minus venv python."""
    by_key = results.warm.get("default", {})
    bare, venv = median(by_key.get(BARE_PYTHON)), median(by_key.get(BARE_VENV_PYTHON))
    if bare is None or venv is None:
        return "not measured"
    return (
        f"`python3.11 -c pass` takes {format_ms(bare)} against {format_ms(venv)} for a venv's python, "
        "the difference being the processing of those entries and .pth files"
    )


def measured_commit(meta: dict[str, Any]) -> str:
    """The commit the figures are of, and whether the work tree had changes beside it."""
    commit = meta.get("commit")
    if not commit:  # results of a harness that recorded only `git describe`-like text
        return f"revision: {meta.get('revision')} (no commit hash recorded)"
    if meta.get("work_tree_clean"):
        return f"commit: `{commit}` (clean work tree)"
    return (
        f"commit: `{commit}`, **measured from a work tree with uncommitted changes** "
        f"({meta.get('revision')}): these figures are not of that commit alone"
    )


def facts_section(results: Results, title: str) -> list[str]:
    meta = results.meta
    tools = ", ".join(f"{name} {version}" for name, version in sorted(meta.get("tool_versions", {}).items()))
    app = ", ".join(f"{name} {version}" for name, version in sorted(meta.get("app_versions", {}).items()))
    return [
        f"### {title}",
        "",
        f"- Date: {meta.get('date')}; hatch-pex {measured_commit(meta)}",
        *revision_line(results),
        f"- CPU: {meta.get('cpu_count')} cores, {meta.get('cpu_model')}; memory: {meta.get('memory')}",
        f"- Platform: {meta.get('platform')}",
        f"- Interpreter: CPython {meta.get('interpreter_version')} (`{meta.get('interpreter')}`)",
        f"- Interpreter's own site-packages: {meta.get('base_site_packages')}; {interpreter_floor(results)}",
        f"- Tools: {tools}",
        f"- App dependencies (as resolved into the venv): {app or 'not known (no venv was built)'}",
        "",
    ]


def failure_section(results: Results) -> list[str]:
    """The contenders that dropped out, and why (a section one level down)."""
    lines = []
    for outcome in results.outcomes:
        if not outcome.measured:
            lines += [
                f"- **{outcome.label}**: {outcome.status}",
                "",
                "  ```",
                *(f"  {line}" for line in (outcome.detail or outcome.status).splitlines()),
                "  ```",
                "",
            ]
    return ["### Not measured", "", *lines] if lines else []


def demoted(lines: Sequence[str]) -> list[str]:
    """The console's `## ` sections as `### `, to sit under an app's own section."""
    return [f"#{line}" if line.startswith("## ") else line for line in lines]


def measured_with(results: Results) -> list[str]:
    meta = results.meta
    return [
        f"Measured {meta.get('date')} with",
        "",
        "```",
        meta.get("command", "python3 benchmarks/run.py"),
        "```",
        "",
    ]


def small_section(results: Results | None, chart_name: str | None) -> list[str]:
    lines = ["## Small app (`benchmarks/app/`: click, requests, rich)", ""]
    if results is None:
        return [*lines, "Not measured yet: `python3 benchmarks/run.py`.", ""]
    lines += measured_with(results)
    if chart_name:
        lines += [f"![start times, build times and sizes]({chart_name})", ""]
    return [*lines, *demoted(tables(results)), *failure_section(results)]


def mid_section(results: Results | None) -> list[str]:
    title = "Mid-size app (`benchmarks/app-mid/`: a Django project, `manage.py check`)"
    return memory_app_section(title, "--mid", results, mid_tables)


def large_section(results: Results | None) -> list[str]:
    title = "Large app (`benchmarks/app-large/`: torch, numpy, pandas, scipy, pyarrow)"
    return memory_app_section(title, "--large", results, large_tables)


def memory_app_section(
    title: str, option: str, results: Results | None, app_tables: Callable[..., list[str]]
) -> list[str]:
    """The section of an app measured with memory (mid, large), its tables from `app_tables`."""
    lines = [f"## {title}", ""]
    if results is None:
        return [*lines, f"Not measured yet: `python3 benchmarks/run.py {option}`.", ""]
    lines += [
        "Memory is the peak anonymous memory of the whole process tree (see below), with the largest",
        "single process's peak RSS beside it.",
        "",
        *measured_with(results),
    ]
    return [*lines, *demoted(app_tables(results, prefix="")), *failure_section(results)]


def render_document(
    small: Results | None, mid: Results | None, large: Results | None, chart_name: str | None
) -> str:
    lines = [
        "# Benchmarks",
        "",
        "hatch-pex against the PEX CLI, shiv and plain venvs, for three apps: a small one (start time,",
        "warm and on an empty cache, build time and size), a mid-size Django project and one with a large",
        "native closure (the same, plus the memory of each start and build). For each, hatch-pex's first",
        "start is also taken apart: the runtime's part, compiling, executing. Lower is better everywhere;",
        "a ratio divides a contender's median by the named baseline's.",
        "",
    ]
    lines += small_section(small, chart_name)
    lines += mid_section(mid)
    lines += large_section(large)
    lines += [METHOD.rstrip("\n"), *(before_after_method(small) if small else []), ""]
    lines += [TIMELINE_METHOD.rstrip("\n"), ""]
    lines += [MID_METHOD.rstrip("\n"), *(before_after_method(mid) if mid else []), ""]
    lines += [LARGE_METHOD.rstrip("\n"), *(before_after_method(large) if large else []), ""]
    lines += ["## Machine and versions", ""]
    if small is not None:
        lines += facts_section(small, "Small app run")
    if mid is not None:
        lines += facts_section(mid, "Mid-size app run")
    if large is not None:
        lines += facts_section(large, "Large app run")
    lines += [
        "## Reproduce",
        "",
        "```",
        "python3 benchmarks/run.py                  # small app, full run: rewrites this page, its chart",
        "python3 benchmarks/run.py --quick          # fewer rounds",
        "python3 benchmarks/run.py --mid            # mid-size app (about 15 minutes on two cores)",
        "python3 benchmarks/run.py --mid --quick    # fewer rounds (about 7 minutes)",
        "python3 benchmarks/run.py --large          # large app (about 25 minutes on two cores)",
        "python3 benchmarks/run.py --large --quick  # fewer rounds (about 13-15 minutes)",
        "python3 benchmarks/run.py --report-only    # redraw this page from the last runs' results",
        "python3 benchmarks/run.py --help           # rounds, variants, interpreter, contenders, paths",
        "```",
        "",
        "It needs CPython 3.11 (pyenv or on PATH) and PyPI (the large app: also the CPU torch wheel, see",
        "above); it installs pex, shiv, hatch, matplotlib and this repository's plugin into",
        "`benchmarks/work/` (gitignored). The raw samples of the last runs are in",
        "`benchmarks/work/results.json` (small app), `benchmarks/work/results-mid.json` (mid-size app) and",
        "`benchmarks/work/results-large.json` (large app).",
        'Run it from a clean checkout of the commit named under "Machine and versions": it refuses to',
        "write this page (or its chart) from a work tree with uncommitted changes, before it measures",
        "anything; `--markdown PATH --chart PATH` write elsewhere from any tree.",
        "",
    ]
    return "\n".join(lines)
