"""docs/benchmarks.md: the tables with the method, the machine and the command around them."""

from __future__ import annotations

from .contenders import APP_ARGUMENTS, APP_SCRIPT
from .report import BARE_PYTHON, BARE_VENV_PYTHON, format_ms, median, revision_facts, tables
from .results import Results

ARGUMENTS = " ".join(APP_ARGUMENTS)

METHOD = f"""\
## How it is measured

- One fixture app, `benchmarks/app/` (the `{APP_SCRIPT}` script: imports click, requests and rich,
  reads their versions from their metadata, prepares an HTTP request without sending it and prints a
  small rich table), shipped seven ways: `hatch build -t pex` with this repository's plugin (in hatch's
  build environment, see the app's `pyproject.toml`), by default (one file serving every CPython the
  app admits, 3.9 to the newest) and narrowed to the benchmark's interpreter (`python-versions =
  ["3.11"]`, one resolution, as every build was before); the PEX CLI (`pex <app> -c {APP_SCRIPT} -o ...`),
  default zipapp layout and `--venv`; `shiv -c {APP_SCRIPT} -o ... <app>`; `pip install` into a plain
  venv and into a `--system-site-packages` venv. Every tool's defaults are kept.
- One interpreter for all: the real CPython 3.11 binary (not the pyenv shim). Archives run as
  `<python3.11> <file> {ARGUMENTS}`, so no shebang or shim differs; a venv runs as
  `<venv>/bin/python <venv>/bin/{APP_SCRIPT} {ARGUMENTS}`. Every run is checked for the app's output.
- Interleaved: each round starts every contender once, under both variants, in an order rotated by
  one each round. Time is `time.perf_counter()` around `subprocess.run`, i.e. fork to exit.
- Warm start: each contender and variant keeps one `PEX_ROOT` / `SHIV_ROOT`, populated by a discarded
  first run. First start: a new, empty `PEX_ROOT` / `SHIV_ROOT` for every run (removed afterwards,
  outside the timing); one discarded warm-up round. The venvs have no cache: their first start is any
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


def facts_section(results: Results) -> list[str]:
    meta = results.meta
    tools = ", ".join(f"{name} {version}" for name, version in sorted(meta.get("tool_versions", {}).items()))
    app = ", ".join(f"{name} {version}" for name, version in sorted(meta.get("app_versions", {}).items()))
    return [
        "## Machine and versions",
        "",
        f"- Date: {meta.get('date')}; hatch-pex revision: {meta.get('revision')}",
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
    return ["## Not measured", "", *lines] if lines else []


def render_document(results: Results, chart_name: str | None) -> str:
    meta = results.meta
    command = meta.get("command", "python3 benchmarks/run.py")
    lines = [
        "# Benchmarks",
        "",
        "hatch-pex against the PEX CLI, shiv and plain venvs, for one small app: start time (warm and on an",
        "empty cache), build time and size. Lower is better everywhere; a ratio divides a contender's median",
        f"by the named baseline's. Measured {meta.get('date')} with",
        "",
        "```",
        command,
        "```",
        "",
    ]
    if chart_name:
        lines += [f"![start times, build times and sizes]({chart_name})", ""]
    lines += tables(results)
    lines += failure_section(results)
    lines += [METHOD.rstrip("\n"), *before_after_method(results), ""]
    lines += facts_section(results)
    lines += [
        "## Reproduce",
        "",
        "```",
        "python3 benchmarks/run.py            # full run, rewrites this page and its chart",
        "python3 benchmarks/run.py --quick    # fewer rounds",
        "python3 benchmarks/run.py --help     # rounds, interpreter, contenders, output paths",
        "```",
        "",
        "It needs CPython 3.11 (pyenv or on PATH) and PyPI; it installs pex, shiv, hatch, matplotlib and",
        "this repository's plugin into `benchmarks/work/` (gitignored). The raw samples of the last run",
        "are in `benchmarks/work/results.json`.",
        "",
    ]
    return "\n".join(lines)
