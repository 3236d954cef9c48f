"""End to end: the runtime (docs/runtime.md) of real `.pex` files built with `hatch build -t pex`.

Interpreter selection and re-exec, start failures, the cache (kills, damage, unwritable roots, shared
entries), lazy bytecode, the PEX_* controls and the PEX_TOOLS commands. Every fixture app is built once
per test run (shared by the xdist workers through a file lock), every test uses PEX_ROOTs of its own.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import helpers
import pytest
from filelock import FileLock
from helpers import configure, ok, pex_info, start_failure, with_env

from hatch_pex.platforms import KNOWN_PYTHON_VERSIONS

GREETING = (
    (helpers.FIXTURE_PACKAGES / "hp-pure-2.0" / "hp_pure" / "data" / "greeting.txt").read_text().strip()
)
BULK_MODULES = 3000  # files in the bulky project wheel: its extraction takes about a second here

# Interpreter-mode code reporting what the re-exec must preserve: executable, argv, stdin, exit code.
REPORT = (
    "import json, os, sys; data = sys.stdin.read(); "
    "print(json.dumps({'executable': sys.executable, 'version': '%d.%d' % sys.version_info[:2], "
    "'argv': sys.argv, 'stdin': data, 'marker': os.environ.get('_HATCH_PEX_REEXEC')})); sys.exit(7)"
)
STDIN_TEXT = "first line\nsecond line ünïcode\n"


# --------------------------------------------------------------------------------------------------
# Helpers and fixtures
# --------------------------------------------------------------------------------------------------


def distributions(path: Path) -> dict[str, str]:
    found = pex_info(path)["distributions"]
    assert isinstance(found, dict)
    return found


def sha_of(pex: Path, project: str) -> str:
    """sha256 (= cache entry name) of the one wheel of `project` (wheel name prefix) in the pex."""
    [sha] = [sha for wheel, sha in distributions(pex).items() if wheel.startswith(project + "-")]
    return sha


def installs(root: Path) -> set[str]:
    directory = root / "installs"
    return {p.name for p in directory.iterdir()} if directory.is_dir() else set()


def manifest(entry: Path) -> list[tuple[str, int]]:
    lines = (entry / ".hatch-pex-manifest").read_bytes().decode("utf-8").split("\n")
    assert lines[0] == "hatch-pex-manifest 2" and lines[-1] == "", lines[:1]
    return [(name, int(size)) for size, _, name in (line.split("\t", 2) for line in lines[1:-1])]


def assert_complete(root: Path) -> None:
    """Every installs/ entry has a manifest and every file it lists, with its size."""
    for name in installs(root):
        entry = root / "installs" / name
        files = manifest(entry)
        assert files, entry
        for relative, size in files:
            assert (entry / relative).stat().st_size == size, (entry, relative)


def session_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def shared_build(
    tmp_path_factory: pytest.TempPathFactory,
    index_url: str,
    uv_cache: Path,
    name: str,
    app: str,
    table: str = "",
    prepare: Callable[[Path], None] | None = None,
) -> list[Path]:
    """`hatch build -t pex` of a copy of fixtures/apps/<app> (plus `table`, `prepare`), done once per
    test run whatever the number of xdist workers; returns the built .pex files."""
    root = session_root(tmp_path_factory) / "e2e-runtime-builds"
    root.mkdir(exist_ok=True)
    done = root / f"{name}.json"
    with FileLock(str(root / f"{name}.lock")):
        if done.exists():
            return [Path(p) for p in json.loads(done.read_text())]
        base = root / name
        shutil.rmtree(base, ignore_errors=True)  # an earlier failed attempt
        base.mkdir()
        project = helpers.copy_fixture_app(app, base)
        if table:
            configure(project, table)
        if prepare is not None:
            prepare(project)
        helpers.hatch_build(project, env=helpers.make_env(index_url, base / ".home", uv_cache=uv_cache))
        built = helpers.built_artifacts(project)
        done.write_text(json.dumps([str(p) for p in built]))
        return built


# The cache and tool tests look at one set of wheels: their fixtures serve only the test runner's own
# Python version (the `python` fixture). test_e2e_versions.py covers files serving several.
ONE_VERSION = f'python-versions = ["{sys.version_info[0]}.{sys.version_info[1]}"]'


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, index_url: str, uv_cache: Path) -> dict[str, Path]:
    """demo-app for one Python version: {"demo": path, "demo-echo": path}."""
    built = shared_build(tmp_path_factory, index_url, uv_cache, "demo", "demo-app", ONE_VERSION)
    assert [p.name for p in built] == ["demo-0.1.0.pex", "demo-echo-0.1.0.pex"]
    return {"demo": built[0], "demo-echo": built[1]}


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory, index_url: str, uv_cache: Path) -> Path:
    """no-scripts-app for one Python version: an interpreter pex (no_scripts_app + hp-pure 2.0)."""
    [pex] = shared_build(tmp_path_factory, index_url, uv_cache, "library", "no-scripts-app", ONE_VERSION)
    return pex


def constraints_of(pex: Path) -> str:
    """The interpreter constraints a pex records, as its messages show them."""
    return " or ".join(pex_info(pex)["interpreter_constraints"])  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def needs312(tmp_path_factory: pytest.TempPathFactory, index_url: str, uv_cache: Path) -> Path:
    """no-scripts-app with interpreter-constraints = ">=3.12" (its closure is pure): it serves 3.12
    and every newer known version."""
    table = 'interpreter-constraints = ">=3.12"'
    [pex] = shared_build(tmp_path_factory, index_url, uv_cache, "needs312", "no-scripts-app", table)
    newest = KNOWN_PYTHON_VERSIONS[-1]
    assert pex_info(pex)["interpreter_constraints"] == [f"<3.{int(newest[2:]) + 1},>=3.12"]
    return pex


@pytest.fixture(scope="module")
def needs399(tmp_path_factory: pytest.TempPathFactory, index_url: str, uv_cache: Path) -> Path:
    """no-scripts-app for a release of the newest known CPython that does not exist (x.y.99): it
    is resolved on that version's behalf, and no interpreter fits it."""
    newest = KNOWN_PYTHON_VERSIONS[-1]
    table = f'interpreter-constraints = ">={newest}.99"'
    [pex] = shared_build(tmp_path_factory, index_url, uv_cache, "needs399", "no-scripts-app", table)
    return pex


def _add_bulk(project: Path) -> None:
    bulk = project / "no_scripts_app" / "bulk"
    bulk.mkdir()
    (bulk / "__init__.py").write_text("")
    for n in range(BULK_MODULES):
        (bulk / f"m{n:04d}.py").write_text(f"VALUE = {n}\n")
    (project / "no_scripts_app" / "waits_for_ahead.py").write_text(WAITS_FOR_AHEAD)
    names = ", ".join(f"m{n:04d}" for n in range(BULK_MODULES))
    (project / "no_scripts_app" / "never_imports.py").write_text(NEVER_IMPORTS.format(names=names))


# Entry modules (PEX_MODULE) of the compile-ahead tests (ahead.py). The first waits for the extractor
# to write the .pyc of a module it imports further down, which nothing imported yet, then imports it;
# the second names every bulk module in an import it never runs, and ends as soon as the extractor
# compiled the first (the bulk package), while the walk has thousands of modules to go.
WAITS_FOR_AHEAD = """
import json, os, sys, time
pyc = os.path.join(os.path.dirname(__file__), "bulk", "__pycache__", f"m2999.{sys.implementation.cache_tag}.pyc")
deadline = time.monotonic() + 60
while not os.path.exists(pyc) and time.monotonic() < deadline:
    time.sleep(0.01)
before = os.stat(pyc).st_ino if os.path.exists(pyc) else None
import no_scripts_app.bulk.m2999 as m
print(json.dumps({"ahead": before is not None, "read": os.stat(pyc).st_ino == before, "value": m.VALUE,
                  "cached": m.__cached__ == pyc}))
"""
NEVER_IMPORTS = """
import os, time
pycache = os.path.join(os.path.dirname(__file__), "bulk", "__pycache__")
deadline = time.monotonic() + 60
while not (os.path.isdir(pycache) and os.listdir(pycache)) and time.monotonic() < deadline:
    time.sleep(0.005)
if os.environ.get("HP_NEVER_SET"):
    from no_scripts_app.bulk import ({names})
print("walking" if os.path.isdir(pycache) else "no walk")
"""


@pytest.fixture(scope="module")
def bulky(tmp_path_factory: pytest.TempPathFactory, index_url: str, uv_cache: Path) -> Path:
    """no-scripts-app with BULK_MODULES extra modules in its wheel, to be killed mid-extraction."""
    [pex] = shared_build(
        tmp_path_factory, index_url, uv_cache, "bulky", "no-scripts-app", ONE_VERSION, prepare=_add_bulk
    )
    return pex


@pytest.fixture(scope="module")
def python(demo: dict[str, Path], interpreters: dict[str, Path]) -> Path:
    """A CPython the demo serves (3.11 where there is one): every pex here runs under it as is."""
    served = pex_info(demo["demo"])["python_versions"]
    assert isinstance(served, list)
    version = (
        "3.11"
        if "3.11" in served and "3.11" in interpreters
        else next(v for v in served if v in interpreters)
    )
    return interpreters[version]


def link(directory: Path, name: str, target: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.symlink_to(target)
    return path


# --------------------------------------------------------------------------------------------------
# 1. Interpreter selection and re-exec
# --------------------------------------------------------------------------------------------------


def test_interpreter_constraints_run_as_is_or_reexec(
    needs312: Path, interpreter: Path, interpreters: dict[str, Path], env: dict[str, str], tmp_path: Path
) -> None:
    """A `>=3.12` pex under every CPython: 3.12+ runs as is; older ones re-exec into a 3.12+ found
    through PEX_PYTHON (path or name), PEX_PYTHON_PATH (directories or interpreter paths) or PATH.
    argv, stdin, the exit code survive; the decision is cached and invalidated when the search changes."""
    version = next(v for v, p in interpreters.items() if p == interpreter)
    newer = {v: p for v, p in interpreters.items() if v in ("3.12", "3.13")}
    if not newer:
        pytest.skip("no CPython >= 3.12 on this machine")
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    base = with_env(env, PATH=empty, PEX_VERBOSE="1")

    def check(result: subprocess.CompletedProcess[str], executable: Path, expected_version: str) -> None:
        assert result.returncode == 7, helpers.describe(result)
        assert json.loads(result.stdout) == {
            "executable": str(executable),
            "version": expected_version,
            "argv": ["-c", "a", "b c"],
            "stdin": STDIN_TEXT,
            "marker": None,  # _HATCH_PEX_REEXEC is not left to the application
        }, helpers.describe(result)

    if version in newer:
        other = next((p for v, p in newer.items() if v != version), interpreter)
        for _ in range(2):  # cold, then warm
            result = helpers.run_pex(
                needs312, "-c", REPORT, "a", "b c", python=interpreter, input=STDIN_TEXT,
                env=with_env(base, PEX_PYTHON=other),
            )  # fmt: skip
            check(result, interpreter, version)
            assert "re-executing" not in result.stderr
        return

    newest, oldest = max(newer, key=lambda v: int(v[2:])), min(newer, key=lambda v: int(v[2:]))
    links = tmp_path / "links"  # python3.X links to every interpreter, the running one included
    for v, path in interpreters.items():
        link(links, f"python{v}", path)
    link(links, "python3", interpreter)
    path_dir = tmp_path / "path-dir"
    shutil.copytree(links, path_dir, symlinks=True)
    missing = tmp_path / "no-such-dir"
    # (label, extra env, run through the shebang?, expected sys.executable, expected version)
    modes = [
        ("PEX_PYTHON path", {"PEX_PYTHON": newer[oldest]}, False, newer[oldest], oldest),
        ("PEX_PYTHON name", {"PEX_PYTHON": f"python{oldest}", "PATH": links}, False, links / f"python{oldest}", oldest),
        ("PEX_PYTHON_PATH dirs", {"PEX_PYTHON_PATH": f"{missing}{os.pathsep}{links}"}, False, links / f"python{newest}", newest),
        ("PEX_PYTHON_PATH file", {"PEX_PYTHON_PATH": f"{missing}{os.pathsep}{newer[oldest]}"}, False, newer[oldest], oldest),
        ("PATH", {"PATH": f"{path_dir}{os.pathsep}/usr/bin{os.pathsep}/bin"}, True, path_dir / f"python{newest}", newest),
    ]  # fmt: skip
    for label, extra, shebang, expected, expected_version in modes:
        run_env = with_env(base, **extra)
        for attempt in ("first", "cached"):
            result = helpers.run_pex(
                needs312, "-c", REPORT, "a", "b c", python=None if shebang else interpreter,
                input=STDIN_TEXT, env=run_env,
            )  # fmt: skip
            check(result, expected, expected_version)
            assert f"re-executing under {expected}\n" in result.stderr, (label, attempt, result.stderr)
            if attempt == "first":
                assert "does not fit" in result.stderr and "searching for an interpreter" in result.stderr, (
                    label,
                    result.stderr,
                )
            else:  # the decision recorded by the first start: exec at once, no probing
                assert "searching for an interpreter" not in result.stderr, (label, result.stderr)

    if newest != oldest:  # the recorded target disappears: the next start searches again
        run_env = with_env(base, PEX_PYTHON_PATH=links)
        for _ in range(2):
            result = helpers.run_pex(
                needs312, "-c", REPORT, "a", "b c", python=interpreter, input=STDIN_TEXT, env=run_env
            )
            check(result, links / f"python{newest}", newest)
        (links / f"python{newest}").unlink()
        result = helpers.run_pex(
            needs312, "-c", REPORT, "a", "b c", python=interpreter, input=STDIN_TEXT, env=run_env
        )
        check(result, links / f"python{oldest}", oldest)


# --------------------------------------------------------------------------------------------------
# 2. Clear failures
# --------------------------------------------------------------------------------------------------


def test_no_interpreter_fits(
    needs399: Path, interpreters: dict[str, Path], env: dict[str, str], tmp_path: Path
) -> None:
    running = interpreters.get("3.11") or next(iter(interpreters.values()))
    bindir = tmp_path / "bin"
    for v, path in interpreters.items():
        link(bindir, f"python{v}", path)
    (bindir / "python3.50").write_text("#!/bin/sh\nexit 0\n")  # not executable (mode 0644)
    broken = bindir / "python3.40"
    broken.write_text("#!/bin/sh\necho 'boom: broken interpreter' >&2\nexit 3\n")
    broken.chmod(0o755)
    missing = tmp_path / "missing-python"
    old = [p for v in ("2.7", "3.8") for p in helpers._pyenv_candidates(v)[:1] if p.exists()]
    python_path = os.pathsep.join([str(missing), *map(str, old)])
    result = helpers.run_pex(
        needs399,
        "-c",
        "print('ran')",
        python=running,
        env=with_env(env, PATH=bindir, PEX_PYTHON_PATH=python_path),
    )
    stderr = start_failure(result)
    assert result.stdout == ""
    wanted = constraints_of(needs399)
    assert stderr.startswith(
        f"hatch-pex: error: no interpreter fits no-scripts-app: it needs Python {wanted} "
    )
    assert f"This file serves CPython {KNOWN_PYTHON_VERSIONS[-1]} (platforms: " in stderr
    lines = stderr.splitlines()

    def line_of(pattern: str) -> int:
        found = [n for n, line in enumerate(lines) if re.fullmatch(pattern, line)]
        assert len(found) == 1, (pattern, stderr)
        return found[0]

    def refused(version: str) -> str:
        v = re.escape(version)
        return rf"\(CPython {v}\.\d+\S*\): version {v}\.\d+\S* does not satisfy {re.escape(wanted)}"

    running_version = next(v for v, p in interpreters.items() if p == running)
    order = [line_of(rf"  {re.escape(str(running))} " + refused(running_version))]
    order.append(line_of(rf"  PEX_PYTHON_PATH entry {re.escape(str(missing))}: does not exist"))
    for path in old:  # too old for the runtime: refused with a reason, not a crash
        order.append(line_of(rf"  {re.escape(str(path))} \(CPython [23]\.\d+\.\d+\): .*needs Python >= 3\.9"))
    order.append(line_of(rf"  {re.escape(str(bindir / 'python3.50'))}: not executable"))
    order.append(
        line_of(rf"  {re.escape(str(broken))}: could not run it \(exit 3: boom: broken interpreter\)")
    )
    for v in sorted((v for v in interpreters if interpreters[v] != running), key=lambda v: -int(v[2:])):
        order.append(line_of(rf"  {re.escape(str(bindir / f'python{v}'))} " + refused(v)))
    assert order == sorted(order), stderr  # search order: running, PEX_PYTHON_PATH, PATH newest first
    assert lines[-1] == "Point PEX_PYTHON or PEX_PYTHON_PATH at a suitable interpreter."


def test_reexec_never_loops(
    needs312: Path, interpreters: dict[str, Path], env: dict[str, str], tmp_path: Path
) -> None:
    """A candidate whose probe fits but which runs an interpreter that does not (a wrapper script that
    runs 3.12+ only for the probe's `-E -s -S`): the re-executed start stops with exit 2 instead of
    searching and re-executing again, for the application and for the venv tool alike."""
    older = [p for v, p in interpreters.items() if v not in ("3.12", "3.13")]
    newer = [p for v, p in interpreters.items() if v in ("3.12", "3.13")]
    if not older or not newer:
        pytest.skip("needs a CPython < 3.12 and one >= 3.12")
    wrapper = tmp_path / "bin" / "python3.12"
    wrapper.parent.mkdir()
    wrapper.write_text(
        f'#!/bin/sh\ncase "$1" in\n  -E) exec "{newer[0]}" "$@";;\n  *) exec "{older[0]}" "$@";;\nesac\n'
    )
    wrapper.chmod(0o755)
    run_env = with_env(env, PATH=wrapper.parent)
    stderr = start_failure(helpers.run_pex(needs312, "-c", "print('ran')", python=older[0], env=run_env))
    assert f"re-executed under {wrapper} but {older[0]} (CPython " in stderr, stderr
    try:
        result = helpers.run_pex(
            needs312,
            "venv",
            str(tmp_path / "venv"),
            python=older[0],
            env=with_env(run_env, PEX_TOOLS="1"),
            timeout=30,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(
            f"`PEX_TOOLS=1 app.pex venv DIR` re-executes under {wrapper} forever: its loop guard "
            "(_HATCH_PEX_REEXEC) was removed from os.environ by launch() before the tool ran"
        )
    assert "does not fit" in start_failure(result)


def test_pex_python_that_does_not_exist(
    needs312: Path, interpreters: dict[str, Path], env: dict[str, str], tmp_path: Path
) -> None:
    older = [p for v, p in interpreters.items() if v not in ("3.12", "3.13")]
    if not older:
        pytest.skip("no CPython < 3.12 on this machine")
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    missing = tmp_path / "nowhere" / "python3.12"
    for pex_python, expected in [
        (str(missing), rf"  {re.escape(str(missing))}: (not executable|does not exist|not found)"),
        ("python3.77", r"  PEX_PYTHON=python3\.77: not found on PATH"),
    ]:
        result = helpers.run_pex(
            needs312,
            "-c",
            "print('ran')",
            python=older[0],
            env=with_env(env, PATH=empty, PEX_PYTHON=pex_python),
        )
        stderr = start_failure(result)
        assert f"it needs Python {constraints_of(needs312)}" in stderr
        assert any(re.fullmatch(expected, line) for line in stderr.splitlines()), stderr
        assert "ran" not in result.stdout


# --------------------------------------------------------------------------------------------------
# 3. The cache
# --------------------------------------------------------------------------------------------------


def test_sigkill_mid_extraction(bulky: Path, python: Path, env: dict[str, str], tmp_path: Path) -> None:
    """A first start SIGKILLed while it unpacks the bulky wheel leaves a tmp/ directory only; the next
    start succeeds, installs/ holds complete entries only, and old leftovers are cleaned."""
    sha = sha_of(bulky, "no_scripts_app")
    attempts = 5
    for attempt in range(1, attempts + 1):
        root = tmp_path / f"root-{attempt}"
        process = subprocess.Popen(
            [str(python), str(bulky), "-c", "print('finished')"],
            env=with_env(env, PEX_ROOT=root),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        partial = None
        deadline = time.monotonic() + 60
        while partial is None and process.poll() is None and time.monotonic() < deadline:
            for candidate in (root / "tmp").glob(f"{sha[:16]}.*"):
                try:
                    if len(os.listdir(candidate / "no_scripts_app" / "bulk")) >= 50:
                        partial = candidate
                except OSError:
                    pass
            time.sleep(0.002)
        with contextlib.suppress(ProcessLookupError):  # it may have finished already
            os.killpg(process.pid, signal.SIGKILL)
        stdout, _ = process.communicate(timeout=60)
        if partial is not None and process.returncode == -signal.SIGKILL and sha not in installs(root):
            break
    else:
        pytest.fail(f"no start was caught mid-extraction in {attempts} attempts")
    assert b"finished" not in stdout
    assert partial.is_dir() and not (partial / ".hatch-pex-manifest").exists()
    assert_complete(root)  # whatever was renamed into installs/ before the kill is whole
    records = [p for p in (root / "pexes").rglob("*") if p.is_file() and p.suffix != ".lock"]
    assert not records, "a warm record before all entries"

    os.utime(partial, (time.time() - 7200, time.time() - 7200))  # two hours old: a stale leftover
    run_env = with_env(env, PEX_ROOT=root, PEX_VERBOSE="1")
    code = "import no_scripts_app.bulk.m2999 as m, hp_pure; print(m.VALUE, hp_pure.__version__)"
    result = ok(helpers.run_pex(bulky, "-c", code, python=python, env=run_env))
    assert result.stdout.split() == [str(BULK_MODULES - 1), "2.0"]
    assert installs(root) == set(distributions(bulky).values())
    assert_complete(root)
    assert len(manifest(root / "installs" / sha)) > BULK_MODULES
    assert not partial.exists(), "the cold start that extracted did not remove the stale tmp/ leftover"
    result = ok(helpers.run_pex(bulky, "-c", code, python=python, env=run_env))
    assert "warm start" in result.stderr


# What the application does first: import the small distribution (in place early), note whether the
# bulky one is in place yet, then import from it in a process it forks and in itself, and list it.
DURING_EXTRACTION = """
import importlib.metadata, json, os, sys
import hp_pure
entry = sys.argv[1]
early = os.path.exists(entry)
read, write = os.pipe()
pid = os.fork()
if pid == 0:
    import no_scripts_app.bulk.m2999 as m
    os.write(write, str(m.VALUE).encode())
    os._exit(0)
os.close(write)
os.waitpid(pid, 0)
child = os.read(read, 100).decode()
import no_scripts_app.bulk.m1234 as m
bulk = os.path.dirname(m.__file__)
files = len([name for name in os.listdir(bulk) if name.endswith(".py")])
print(json.dumps({"early": early, "child": child, "value": m.VALUE, "files": files,
                  "version": importlib.metadata.version("no-scripts-app"), "pure": hp_pure.__version__}))
"""


def test_an_import_during_the_extraction_gets_the_whole_distribution(
    bulky: Path, python: Path, env: dict[str, str], tmp_path: Path
) -> None:
    """A first start runs the application while the wheels are still being unpacked (overlap.py): the
    small hp-pure is imported before the bulky project's entry is in place; an import from the bulky
    one, in the start and in a process it forked, waits for the whole entry (every module there, its
    metadata found); when the start returns, the cache is complete and the next start is warm."""
    sha = sha_of(bulky, "no_scripts_app")
    for attempt in range(1, 4):
        root = tmp_path / f"root-{attempt}"
        entry = root / "installs" / sha
        run_env = with_env(env, PEX_ROOT=root, PEX_VERBOSE="2")
        result = ok(helpers.run_pex(bulky, "-c", DURING_EXTRACTION, str(entry), python=python, env=run_env))
        found = json.loads(result.stdout.splitlines()[-1])
        if not found["early"]:
            break  # the application ran before the bulky entry was in place: what this test is about
    else:
        pytest.fail("the bulky entry was in place before the application ran, in 3 first starts")
    assert found == {
        "early": False,
        "child": str(BULK_MODULES - 1),
        "value": 1234,
        "files": BULK_MODULES + 1,  # and __init__.py
        "version": "0.1.0",
        "pure": "2.0",
    }
    assert "extracting 2 wheels beside the application" in result.stderr, result.stderr
    assert re.search(r"import no_scripts_app waited [\d.]+ ms for the extraction of 1 wheels", result.stderr)
    assert installs(root) == set(distributions(bulky).values())
    assert_complete(root)
    again = ok(helpers.run_pex(bulky, "-c", DURING_EXTRACTION, str(entry), python=python, env=run_env))
    assert "warm start" in again.stderr
    assert json.loads(again.stdout.splitlines()[-1])["early"] is True


def running_in_group(group: int) -> list[int]:
    """The processes of process group `group` that still run (an exited one that nobody reaped yet, a
    zombie, does not: PID 1 of some containers never reaps the orphans it inherits)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rpartition(")")[2].split()
            if int(fields[2]) == group and fields[0] not in ("Z", "X"):
                found.append(int(stat.parent.name))
    return found


needs_two_cores = pytest.mark.skipif(
    len(os.sched_getaffinity(0)) < 2, reason="the extractor compiles ahead only with a core of its own"
)


@needs_two_cores
def test_the_extractor_compiles_ahead_of_the_application(
    bulky: Path, python: Path, env: dict[str, str], tmp_path: Path
) -> None:
    """Once every entry is in place, the extractor compiles the modules the entry point's module
    imports, before the application gets there (ahead.py): the application finds the .pyc of a module
    nothing imported yet and reads it, as CachingSourceLoader writes and checks it; the next start is
    warm and reads it too."""
    root = tmp_path / "root"
    run_env = with_env(env, PEX_ROOT=root, PEX_VERBOSE="2", PEX_MODULE="no_scripts_app.waits_for_ahead")
    result = ok(helpers.run_pex(bulky, python=python, env=run_env))
    assert json.loads(result.stdout.splitlines()[-1]) == {
        "ahead": True,
        "read": True,  # the import read the extractor's .pyc: compiling would have written a new file
        "value": BULK_MODULES - 1,
        "cached": True,
    }
    assert re.search(r"compiled [1-9]\d* modules ahead of the application", result.stderr), result.stderr
    assert_complete(root)
    again = ok(helpers.run_pex(bulky, python=python, env=run_env))
    assert "warm start" in again.stderr
    assert json.loads(again.stdout.splitlines()[-1])["read"] is True


@needs_two_cores
def test_the_start_does_not_wait_for_the_compilation_ahead(
    bulky: Path, python: Path, env: dict[str, str], tmp_path: Path
) -> None:
    """An application that ends while the extractor still compiles ahead of it (here, the bulk modules
    an import it never runs names) asks it to stop: the extractor stops after the module at hand and
    has ended when the start returns (nothing of the start's process group runs, nothing is written
    after), and the cache is whole."""
    root = tmp_path / "root"
    run_env = with_env(env, PEX_ROOT=root, PEX_VERBOSE="2", PEX_MODULE="no_scripts_app.never_imports")
    process = subprocess.Popen(
        [str(python), str(bulky)],
        env=run_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    assert stdout.split() == ["walking"]
    assert running_in_group(process.pid) == []  # the extractor (same process group) has ended too
    found = re.search(r"compiled (\d+) modules ahead of the application", stderr)
    assert found and 0 < int(found.group(1)) < BULK_MODULES, stderr
    pycache = root / "installs" / sha_of(bulky, "no_scripts_app") / "no_scripts_app" / "bulk" / "__pycache__"
    written = sorted(pycache.iterdir()) if pycache.exists() else []
    time.sleep(0.5)
    assert (sorted(pycache.iterdir()) if pycache.exists() else []) == written
    assert_complete(root)
    assert "warm start" in ok(helpers.run_pex(bulky, python=python, env=run_env)).stderr


def test_damaged_entries_are_rebuilt(
    demo: dict[str, Path], python: Path, env: dict[str, str], tmp_path: Path
) -> None:
    pex = demo["demo"]
    root = tmp_path / "root"
    run_env = with_env(env, PEX_ROOT=root, PEX_VERBOSE="1")
    expected = helpers.parse_demo_output(ok(helpers.run_pex(pex, python=python, env=run_env)).stdout)
    assert expected["hp_pure_greeting"] == GREETING

    # Warm path: the import of a truncated module finds it (guard.py) before its code runs; the entry
    # is re-extracted there and then, a deleted data file with it, and the start goes on.
    entry = root / "installs" / sha_of(pex, "hp_pure")
    init, greeting = entry / "hp_pure" / "__init__.py", entry / "hp_pure" / "data" / "greeting.txt"
    original = {init: init.read_bytes(), greeting: greeting.read_bytes()}
    greeting.unlink()
    init.write_bytes(original[init][: len(original[init]) // 2])
    result = ok(helpers.run_pex(pex, python=python, env=run_env))
    assert helpers.parse_demo_output(result.stdout) == expected
    assert "warm start" in result.stderr, result.stderr
    assert f"{entry} (hp_pure-" in result.stderr, result.stderr
    assert ") is damaged: hp_pure/__init__.py was changed since it was extracted" in result.stderr, (
        result.stderr
    )
    assert {p: p.read_bytes() for p in original} == original
    assert_complete(root)
    # The record named the old files: the next start is cold (it reuses every entry) and writes a new one.
    result = ok(helpers.run_pex(pex, python=python, env=run_env))
    assert "warm start" not in result.stderr and "rebuilding" not in result.stderr, result.stderr
    assert "warm start" in ok(helpers.run_pex(pex, python=python, env=run_env)).stderr

    # Cold path (no warm record): a missing file and a garbled manifest are found from the manifests.
    shutil.rmtree(root / "pexes")
    cli = root / "installs" / sha_of(pex, "demo_app") / "demo_app" / "cli.py"
    cli_bytes = cli.read_bytes()
    cli.unlink()
    native_manifest = root / "installs" / sha_of(pex, "hp_native") / ".hatch-pex-manifest"
    native_manifest.write_text("garbage\n")
    result = ok(helpers.run_pex(pex, python=python, env=run_env))
    assert helpers.parse_demo_output(result.stdout) == expected
    assert "cli.py is missing" in result.stderr, result.stderr
    assert "has no valid manifest; rebuilding" in result.stderr, result.stderr
    assert cli.read_bytes() == cli_bytes
    assert installs(root) == set(distributions(pex).values())
    assert_complete(root)

    # A whole entry gone (warm path again).
    shutil.rmtree(root / "installs" / sha_of(pex, "hp_native"))
    result = ok(helpers.run_pex(pex, python=python, env=run_env))
    assert helpers.parse_demo_output(result.stdout) == expected
    assert "is missing" in result.stderr and "rebuilding" in result.stderr, result.stderr
    assert installs(root) == set(distributions(pex).values())
    assert_complete(root)

    # A link of the merged site directory deleted (warm path): the site is rebuilt.
    [site] = (root / "sites").iterdir()
    (site / "hp_pure").unlink()
    result = ok(helpers.run_pex(pex, python=python, env=run_env))
    assert helpers.parse_demo_output(result.stdout) == expected
    assert f"{site}/hp_pure is missing" in result.stderr and "rebuilding" in result.stderr, result.stderr
    assert (site / "hp_pure").is_symlink()
    assert "warm start" in ok(helpers.run_pex(pex, python=python, env=run_env)).stderr


def test_damage_inside_an_entry_is_found_where_it_is_used(
    demo: dict[str, Path], python: Path, env: dict[str, str], tmp_path: Path
) -> None:
    """A warm start checks each entry's directory and the site's links only (guard.py): what is inside
    an entry is checked when the import system uses it, and the rest after the start, away from it
    (recheck.py). Each kind of damage is still found, and repaired, where docs/security.md says."""
    pex = demo["demo"]
    root = tmp_path / "root"
    run_env = with_env(env, PEX_ROOT=root, PEX_VERBOSE="1")
    expected = helpers.parse_demo_output(ok(helpers.run_pex(pex, python=python, env=run_env)).stdout)
    pure = root / "installs" / sha_of(pex, "hp_pure")
    native = root / "installs" / sha_of(pex, "hp_native")

    def warm_and_repaired(entry: Path, problem: str) -> None:
        result = ok(helpers.run_pex(pex, python=python, env=run_env))
        assert helpers.parse_demo_output(result.stdout) == expected
        assert "warm start" in result.stderr, result.stderr
        assert f"{entry} (" in result.stderr and f") is damaged: {problem}" in result.stderr, result.stderr
        assert_complete(root)
        cold = ok(helpers.run_pex(pex, python=python, env=run_env))  # the record named the old files
        assert "warm start" not in cold.stderr and "rebuilding" not in cold.stderr, cold.stderr

    # A deleted module: the import system does not find it, the manifest lists it.
    (pure / "hp_pure" / "__init__.py").unlink()
    warm_and_repaired(pure, "hp_pure/__init__.py is missing")

    # A truncated extension module, found before the dynamic loader maps it.
    [extension] = [p for p in (native / "hp_native").iterdir() if p.name.startswith("_native.")]
    extension.write_bytes(extension.read_bytes()[:100])
    warm_and_repaired(native, f"hp_native/{extension.name} was changed since it was extracted (100 bytes")

    # A module another user owns (root handed it over): refused before its code runs.
    if os.getuid() == 0:
        init = native / "hp_native" / "__init__.py"
        os.chown(init, 65534, 65534)
        warm_and_repaired(native, "hp_native/__init__.py could be written by another user")

    # A file no import reads (a dist-info file) truncated: the warm start goes on; the check after it
    # (at most once a minute per record: the use lock's mtime says when it last ran, set back here)
    # removes the record, so the next start is cold and re-extracts the entry.
    ok(helpers.run_pex(pex, python=python, env=run_env))
    [metadata] = pure.glob("*.dist-info/METADATA")
    original = metadata.read_bytes()
    metadata.write_bytes(original[:10])
    [record] = [p for p in (root / "pexes").glob("*/*") if not p.name.endswith(".lock")]
    lock = Path(f"{record}.lock")
    os.utime(lock, (0, 0))
    result = ok(helpers.run_pex(pex, python=python, env=with_env(run_env, PEX_VERBOSE="2")))
    assert "warm start" in result.stderr and "started the check of every file" in result.stderr, result.stderr
    assert lock.stat().st_mtime > time.time() - 60
    deadline = time.monotonic() + 60
    while record.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not record.exists(), "the check after the start did not find the truncated METADATA"
    result = ok(helpers.run_pex(pex, python=python, env=run_env))
    assert f"{pure} (hp_pure" in result.stderr and "METADATA was changed" in result.stderr, result.stderr
    assert "rebuilding" in result.stderr and metadata.read_bytes() == original, result.stderr
    # Within the minute, a warm start starts no check; an intact cache keeps its record.
    result = ok(helpers.run_pex(pex, python=python, env=with_env(run_env, PEX_VERBOSE="2")))
    assert "warm start" in result.stderr and "started the check" not in result.stderr, result.stderr
    os.utime(lock, (0, 0))
    ok(helpers.run_pex(pex, python=python, env=run_env))
    time.sleep(3)
    assert record.exists()


def test_damaged_wheel_in_the_pex_is_named_on_first_start(
    demo: dict[str, Path], python: Path, env: dict[str, str], tmp_path: Path
) -> None:
    """One changed byte inside a deflated member of a wheel breaks its deflate stream before the
    wheel's sha256 is known: the start still names the damaged wheel and both hashes, not zlib's
    error, and leaves nothing in installs/ or tmp/ for it."""
    pex = tmp_path / "demo.pex"
    shutil.copyfile(demo["demo"], pex)
    pex.chmod(0o755)
    wheel = next(name for name in distributions(pex) if name.startswith("hp_pure-"))
    with zipfile.ZipFile(pex) as outer:
        outer_info = outer.getinfo(f".deps/{wheel}")
        assert outer_info.compress_type == zipfile.ZIP_STORED
        with zipfile.ZipFile(outer.open(outer_info)) as inner:
            member = max(
                (i for i in inner.infolist() if i.compress_type == zipfile.ZIP_DEFLATED),
                key=lambda i: i.compress_size,
            )
    raw = bytearray(pex.read_bytes())

    def data_offset(header: int) -> int:  # where a member's data starts, after its local header
        name_length, extra_length = struct.unpack_from("<HH", raw, header + 26)
        return header + 30 + name_length + extra_length

    # zipfile's header offsets are absolute (the shebang line counted); the wheel's are its own.
    data = data_offset(data_offset(outer_info.header_offset) + member.header_offset)
    raw[data] |= 0b110  # the first block's type becomes 3, which no deflate stream may use
    pex.write_bytes(bytes(raw))
    root = tmp_path / "root"
    stderr = start_failure(helpers.run_pex(pex, python=python, env=with_env(env, PEX_ROOT=root)))
    expected = distributions(pex)[wheel]
    assert f".deps/{wheel} is damaged (sha256 " in stderr and f"PEX-INFO says {expected}" in stderr, stderr
    assert "internal error" not in stderr and "decompress" not in stderr, stderr
    assert expected not in installs(root)
    assert not list((root / "tmp").iterdir())


def test_unwritable_pex_root_uses_the_fallback(
    demo: dict[str, Path], python: Path, env: dict[str, str], tmp_path: Path
) -> None:
    """PEX_ROOT, or the home directory, cannot be written (a path under a regular file): the start
    uses $TMPDIR/hatch-pex-<uid>, says so under PEX_VERBOSE, and the second start is warm."""
    pex = demo["demo"]
    blocker = tmp_path / "a-file"
    blocker.write_text("a regular file: nothing can be created under it\n")
    cases = {
        "PEX_ROOT": ({"PEX_ROOT": blocker / "root"}, blocker / "root"),
        "HOME": ({"PEX_ROOT": None, "XDG_CACHE_HOME": None, "HOME": blocker / "home"}, blocker / "home" / ".cache" / "hatch-pex"),
    }  # fmt: skip
    for label, (changes, primary) in cases.items():
        tmpdir = tmp_path / f"tmpdir-{label}"
        tmpdir.mkdir()
        fallback = tmpdir / f"hatch-pex-{os.getuid()}"
        run_env = with_env(env, **changes, TMPDIR=tmpdir, PEX_VERBOSE="1")
        first = ok(helpers.run_pex(pex, "x", python=python, env=run_env))
        report = helpers.parse_demo_output(first.stdout)
        assert report["argv"] == [str(pex), "x"] and report["native"] == 42
        assert str(report["demo_app_file"]).startswith(f"{fallback}/sites/"), (label, report)
        assert f"cache {primary} is not used: it cannot be written" in first.stderr, (label, first.stderr)
        assert f"using {fallback}\n" in first.stderr, (label, first.stderr)
        second = ok(helpers.run_pex(pex, "x", python=python, env=run_env))
        assert helpers.parse_demo_output(second.stdout) == report
        assert f"warm start: record {fallback}/pexes/" in second.stderr, (label, second.stderr)
        assert fallback.stat().st_mode & 0o777 == 0o700
        info = ok(helpers.run_pex(pex, "cache", python=python, env=with_env(run_env, PEX_TOOLS="1")))
        assert f"cache: {fallback} (per-user fallback" in info.stdout, info.stdout

        # A fallback that others could write is not used: exit 2.
        fallback.chmod(0o777)
        other = with_env(run_env, PEX_ROOT=blocker / "other")
        stderr = start_failure(helpers.run_pex(pex, python=python, env=other))
        assert f"the fallback {fallback} is not a directory owned by this user with mode 0700" in stderr

    # A home that does not exist yet (but can be made): runs, and the second start is warm.
    (tmp_path / "tmpdir-new-home").mkdir()
    run_env = with_env(
        env, PEX_ROOT=None, XDG_CACHE_HOME=None, HOME=tmp_path / "new-home", TMPDIR=tmp_path / "tmpdir-new-home",
        PEX_VERBOSE="1",
    )  # fmt: skip
    report = helpers.parse_demo_output(ok(helpers.run_pex(pex, python=python, env=run_env)).stdout)
    assert report["native"] == 42
    second = ok(helpers.run_pex(pex, python=python, env=run_env))
    assert helpers.parse_demo_output(second.stdout) == report
    assert "warm start: record " in second.stderr, second.stderr


def test_entries_are_shared_between_pex_files(
    demo: dict[str, Path], library: Path, python: Path, env: dict[str, str], tmp_path: Path
) -> None:
    root = tmp_path / "root"
    run_env = with_env(env, PEX_ROOT=root, PEX_VERBOSE="1")
    shared = set(distributions(demo["demo"]).values()) & set(distributions(library).values())
    assert shared == {sha_of(library, "hp_pure")}
    ok(helpers.run_pex(demo["demo"], python=python, env=run_env))
    result = ok(
        helpers.run_pex(
            library,
            "-c",
            "import os, hp_pure; print(hp_pure.__file__); print(os.path.realpath(hp_pure.__file__))",
            python=python,
            env=run_env,
        )
    )
    [sha] = shared
    through_site, real = result.stdout.split()
    assert through_site.startswith(f"{root}/sites/") and through_site.endswith("/hp_pure/__init__.py")
    assert real == str(root / "installs" / sha / "hp_pure" / "__init__.py")
    assert len(list((root / "sites").iterdir())) == 2  # one merged directory per set of entries
    assert f"reusing {root}/installs/{sha} (hp_pure-2.0-py3-none-any.whl" in result.stderr, result.stderr
    assert f"extracted no_scripts_app-0.1.0-py3-none-any.whl to {root}/installs/" in result.stderr
    assert installs(root) == set(distributions(demo["demo"]).values()) | set(distributions(library).values())
    assert len(installs(root)) == 4


# --------------------------------------------------------------------------------------------------
# 4. Bytecode with PYTHONDONTWRITEBYTECODE=1
# --------------------------------------------------------------------------------------------------


def test_bytecode_in_the_cache_only(library: Path, python: Path, env: dict[str, str], tmp_path: Path) -> None:
    root = tmp_path / "root"
    user = tmp_path / "user"
    user.mkdir()
    (user / "helper.py").write_text("VALUE = 'helped'\n")
    (user / "script.py").write_text(
        "import sys, helper, hp_pure, no_scripts_app\nprint(helper.VALUE, sys.argv[1:])\n"
    )
    facts = helpers.run(
        [
            python,
            "-c",
            "import sys, importlib.util as u; print(sys.implementation.cache_tag, u.MAGIC_NUMBER.hex())",
        ],
        env=env,
    ).stdout.split()
    tag, magic = facts[0], bytes.fromhex(facts[1])
    run_env = with_env(env, PEX_ROOT=root, PYTHONDONTWRITEBYTECODE="1")
    for _ in range(2):  # cold, then warm
        result = ok(helpers.run_pex(library, "script.py", "arg", python=python, env=run_env, cwd=user))
        assert result.stdout.strip() == "helped ['arg']"
    for project, module in (("hp_pure", "hp_pure"), ("no_scripts_app", "no_scripts_app")):
        source = root / "installs" / sha_of(library, project) / module / "__init__.py"
        pyc = source.parent / "__pycache__" / f"__init__.{tag}.pyc"
        assert pyc.is_file(), sorted(p.name for p in source.parent.rglob("*"))
        data = pyc.read_bytes()
        st = source.stat()
        assert data[:8] == magic + b"\0\0\0\0"  # a timestamp pyc (PEP 552 flags 0)
        assert int.from_bytes(data[8:12], "little") == int(st.st_mtime) & 0xFFFFFFFF
        assert int.from_bytes(data[12:16], "little") == st.st_size
    assert not (user / "__pycache__").exists(), (
        "the user's own module got a .pyc despite PYTHONDONTWRITEBYTECODE"
    )
    # Control: without the variable Python writes the user's .pyc itself.
    ok(helpers.run_pex(library, "script.py", python=python, env=with_env(env, PEX_ROOT=root), cwd=user))
    assert (user / "__pycache__" / f"helper.{tag}.pyc").is_file()


# --------------------------------------------------------------------------------------------------
# 5. Runtime controls
# --------------------------------------------------------------------------------------------------


def test_pex_verbose(library: Path, python: Path, env: dict[str, str], tmp_path: Path) -> None:
    root = tmp_path / "root"
    code = "import sys; print(repr(sys.path))"
    run_env = with_env(env, PEX_ROOT=root, PEX_VERBOSE="1")

    def logged_path(stderr: str) -> list[str]:
        [line] = [line for line in stderr.splitlines() if line.startswith("hatch-pex: sys.path = ")]
        return ast.literal_eval(line[len("hatch-pex: sys.path = ") :])  # type: ignore[no-any-return]

    cold = ok(helpers.run_pex(library, "-c", code, python=python, env=run_env))
    assert all(line.startswith("hatch-pex: ") for line in cold.stderr.splitlines()), cold.stderr
    assert re.search(
        rf"^hatch-pex: interpreter {re.escape(str(python))} \(CPython 3\.\d+\.\d+\S*\) fits",
        cold.stderr,
        re.M,
    )
    for wheel, sha in distributions(library).items():
        assert f"hatch-pex: extracted {wheel} to {root}/installs/{sha} " in cold.stderr, cold.stderr
    path = logged_path(cold.stderr)
    [site] = [p for p in path if p.startswith(str(root))]  # one merged directory of links to the entries
    assert os.path.dirname(site) == str(root / "sites")
    targets = {os.path.realpath(link) for link in Path(site).iterdir()}
    assert {os.path.dirname(t) for t in targets} == {
        str(root / "installs" / sha) for sha in distributions(library).values()
    }
    assert ast.literal_eval(cold.stdout.strip()) == ["", *path]  # -c puts "" first, like python -c
    assert re.search(r"^hatch-pex: ready in \d+\.\d ms$", cold.stderr, re.M)

    warm = ok(helpers.run_pex(library, "-c", code, python=python, env=run_env))
    pex_hash = pex_info(library)["pex_hash"]
    assert f"hatch-pex: warm start: record {root}/pexes/{pex_hash}/" in warm.stderr, warm.stderr
    assert "extracted" not in warm.stderr and "reusing" not in warm.stderr
    assert logged_path(warm.stderr) == path
    assert re.search(r"^hatch-pex: ready in \d+\.\d ms$", warm.stderr, re.M)

    entries = len(distributions(library))
    level2 = ok(helpers.run_pex(library, "-c", code, python=python, env=with_env(run_env, PEX_VERBOSE="2")))
    assert re.search(rf"^hatch-pex: checked {entries} entries and \d+ links in ", level2.stderr, re.M), (
        level2.stderr
    )
    quiet = ok(helpers.run_pex(library, "-c", code, python=python, env=with_env(run_env, PEX_VERBOSE=None)))
    assert quiet.stderr == ""


def test_inherit_path_and_extra_sys_path(
    library: Path, python: Path, env: dict[str, str], tmp_path: Path
) -> None:
    """The base interpreter is a venv whose site-packages has its own hp_pure and a module of its
    own: hidden by default, before the pex's entries with prefer, after them with fallback."""
    venv = tmp_path / "venv"
    helpers.run([python, "-m", "venv", "--without-pip", venv], env=env)
    base_python = helpers.venv_python(venv)
    site = Path(
        helpers.run(
            [base_python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], env=env
        ).stdout.strip()
    )
    (site / "hp_pure").mkdir()
    (site / "hp_pure" / "__init__.py").write_text("__version__ = 'from-base'\n")
    (site / "base_only.py").write_text("")
    extra = [tmp_path / "extra1", tmp_path / "extra2"]
    for n, directory in enumerate(extra):
        directory.mkdir()
        (directory / f"extra_mod{n}.py").write_text(f"N = {n}\n")
    root = tmp_path / "root"
    code = (
        "import json, sys, importlib.util as u, hp_pure; "
        f"entries = [i for i, p in enumerate(sys.path) if p.startswith({str(root)!r})]; "
        f"site = [i for i, p in enumerate(sys.path) if p == {str(site)!r}]; "
        "print(json.dumps({'hp_pure': hp_pure.__version__, 'entries': entries, 'site': site, "
        "'base_only': u.find_spec('base_only') is not None, 'tail': sys.path[-2:], "
        "'extra': [u.find_spec(m) is not None for m in ('extra_mod0', 'extra_mod1')]}))"
    )
    run_env = with_env(env, PEX_ROOT=root)

    def report(**changes: str) -> dict[str, object]:
        result = ok(
            helpers.run_pex(library, "-c", code, python=base_python, env=with_env(run_env, **changes))
        )
        return json.loads(result.stdout)  # type: ignore[no-any-return]

    default = report()
    assert (default["hp_pure"], default["site"], default["base_only"]) == ("2.0", [], False)
    prefer = report(PEX_INHERIT_PATH="prefer")
    assert (prefer["hp_pure"], prefer["base_only"]) == ("from-base", True)
    assert len(prefer["site"]) == 1 and prefer["site"][0] < min(prefer["entries"])  # type: ignore[arg-type]
    assert report(PEX_INHERIT_PATH="true")["hp_pure"] == "from-base"
    fallback = report(PEX_INHERIT_PATH="fallback")
    assert (fallback["hp_pure"], fallback["base_only"]) == ("2.0", True)
    assert len(fallback["site"]) == 1 and fallback["site"][0] > max(fallback["entries"])  # type: ignore[arg-type]
    assert report(PEX_INHERIT_PATH="false") == default

    extra_path = os.pathsep.join(map(str, extra))
    with_extra = report(PEX_EXTRA_SYS_PATH=extra_path)
    assert with_extra["tail"] == [str(p) for p in extra] and with_extra["extra"] == [True, True]
    assert default["extra"] == [False, False]
    both = report(PEX_EXTRA_SYS_PATH=extra_path, PEX_INHERIT_PATH="fallback")
    assert both["tail"] == [str(p) for p in extra] and both["site"] == fallback["site"]

    bad = helpers.run_pex(
        library, "-c", "print(1)", python=base_python, env=with_env(run_env, PEX_INHERIT_PATH="always")
    )
    assert "PEX_INHERIT_PATH='always': expected false, prefer or fallback" in start_failure(bad)


def test_cache_location(demo: dict[str, Path], python: Path, env: dict[str, str], tmp_path: Path) -> None:
    pex = demo["demo"]
    cases = [
        ({"PEX_ROOT": tmp_path / "custom"}, tmp_path / "custom"),
        ({"PEX_ROOT": None, "XDG_CACHE_HOME": tmp_path / "xdg"}, tmp_path / "xdg" / "hatch-pex"),
        ({"PEX_ROOT": None, "XDG_CACHE_HOME": "relative/xdg", "HOME": tmp_path / "home"}, tmp_path / "home" / ".cache" / "hatch-pex"),
    ]  # fmt: skip
    for changes, root in cases:
        result = ok(helpers.run_pex(pex, python=python, env=with_env(env, **changes), cwd=tmp_path))
        report = helpers.parse_demo_output(result.stdout)
        assert str(report["demo_app_file"]).startswith(f"{root}/sites/"), (changes, report)
        assert installs(root) == set(distributions(pex).values())
    assert not (tmp_path / "relative").exists()


def test_pex_interpreter_module_and_script(
    demo: dict[str, Path], library: Path, python: Path, env: dict[str, str]
) -> None:
    pex = demo["demo"]

    def run(
        *args: str, pex_path: Path = pex, input: str | None = None, **changes: str
    ) -> subprocess.CompletedProcess[str]:
        return helpers.run_pex(pex_path, *args, python=python, input=input, env=with_env(env, **changes))

    # PEX_INTERPRETER=1: the interpreter mode instead of the entry point.
    code = "import sys, demo_app, hp_native; print(hp_native.answer(), sys.argv)"
    assert ok(run("-c", code, "x", PEX_INTERPRETER="1")).stdout.strip() == "42 ['-c', 'x']"
    assert (
        ok(
            run("-", input="import hp_pure; print('stdin', hp_pure.__version__)\n", PEX_INTERPRETER="1")
        ).stdout
        == "stdin 2.0\n"
    )
    assert helpers.parse_demo_output(ok(run("-c", "x", PEX_INTERPRETER="0")).stdout)["argv"] == [
        str(pex),
        "-c",
        "x",
    ]

    # PEX_MODULE: pkg.mod:func is called, pkg.mod runs as __main__ with argv[0] the pex.
    assert ok(run(input="echoed\n", PEX_MODULE="demo_app.cli:echo")).stdout == "echoed\n"
    report = helpers.parse_demo_output(ok(run("m", "--exit", "5", PEX_MODULE="demo_app.cli"), 5).stdout)
    assert report["argv"] == [str(pex), "m", "--exit", "5"]
    result = ok(run("z", pex_path=library, PEX_MODULE="no_scripts_app"))
    assert result.stdout.strip() == "no-scripts-app 0.1.0 using hp-pure 2.0 ['z']"
    missing = ok(run(PEX_MODULE="demo_app.nope:main"), 1)
    assert "ModuleNotFoundError: No module named 'demo_app.nope'" in missing.stderr

    # PEX_SCRIPT: any console script of the closure.
    assert ok(run("x", "y", PEX_SCRIPT="hp-pure")).stdout == f"hp-pure 2.0: {GREETING}\nargs: x y\n"
    assert ok(run(input="through demo-echo\n", PEX_SCRIPT="demo-echo")).stdout == "through demo-echo\n"
    assert ok(run(PEX_SCRIPT="hp-pure", PEX_MODULE="demo_app.cli:echo")).stdout.startswith("hp-pure 2.0: ")
    assert ok(run("-c", "print('interp')", PEX_SCRIPT="hp-pure", PEX_INTERPRETER="1")).stdout == "interp\n"
    unknown = run(PEX_SCRIPT="nope")
    assert start_failure(unknown) == (
        "hatch-pex: error: PEX_SCRIPT=nope: no such console script in this pex; available: demo, demo-echo, hp-pure\n"
    )
    assert unknown.stdout == ""


# --------------------------------------------------------------------------------------------------
# 6. Tools
# --------------------------------------------------------------------------------------------------


def test_tools_info_and_extract(
    demo: dict[str, Path], python: Path, env: dict[str, str], tmp_path: Path
) -> None:
    pex = demo["demo"]
    tools = with_env(env, PEX_TOOLS="1")
    result = ok(helpers.run_pex(pex, "info", "--raw", python=python, env=tools))
    assert json.loads(result.stdout) == pex_info(pex)
    assert '\n  "distributions": {' in result.stdout  # indented
    assert start_failure(helpers.run_pex(pex, "frobnicate", python=python, env=tools)).startswith(
        "hatch-pex: error: unknown tool 'frobnicate'"
    )

    dest = tmp_path / "extracted"
    result = ok(helpers.run_pex(pex, "extract", str(dest), python=python, env=tools))
    with zipfile.ZipFile(pex) as archive:
        for wheel, sha in distributions(pex).items():
            assert hashlib.sha256((dest / wheel).read_bytes()).hexdigest() == sha
            unpacked = dest / wheel[: -len(".whl")]
            assert str(unpacked) in result.stdout.splitlines()
            with zipfile.ZipFile(archive.open(f".deps/{wheel}")) as inner:
                members = [m for m in inner.infolist() if not m.is_dir()]
                assert members
                for member in members:
                    assert (unpacked / member.filename).read_bytes() == inner.read(member), member.filename
            assert not (unpacked / ".hatch-pex-manifest").exists()
    assert sorted(p.name for p in dest.iterdir()) == sorted(
        [*distributions(pex), *(w[: -len(".whl")] for w in distributions(pex))]
    )


def test_tools_venv(
    demo: dict[str, Path], python: Path, interpreters: dict[str, Path], env: dict[str, str], tmp_path: Path
) -> None:
    pex = demo["demo"]
    tools = with_env(env, PEX_TOOLS="1")
    venv = tmp_path / "venv"
    result = ok(helpers.run_pex(pex, "venv", str(venv), python=python, env=tools))
    assert result.stdout.strip() == str(venv)
    run_env = with_env(env, PEX_ROOT=tmp_path / "unused-root")
    demo_run = ok(helpers.run([venv / "bin" / "demo", "a", "--exit", "4"], env=run_env, check=False), 4)
    report = helpers.parse_demo_output(demo_run.stdout)
    assert report["argv"] == [str(venv / "bin" / "demo"), "a", "--exit", "4"]
    assert report["native"] == 42 and report["hp_pure_greeting"] == GREETING
    executable = Path(str(report["executable"]))  # the venv's python (named python3.X by venv)
    assert executable.parent == venv / "bin" and executable.name.startswith("python"), executable
    assert str(report["demo_app_file"]).startswith(f"{venv}/lib/")
    code = "import demo_app, hp_pure, hp_native; print(hp_native.answer(), hp_pure.__version__, demo_app.__version__)"
    assert ok(helpers.run([helpers.venv_python(venv), "-c", code], env=run_env)).stdout.split() == [
        "42",
        "2.0",
        "0.1.0",
    ]
    assert ok(helpers.run([venv / "bin" / "hp-pure"], env=run_env)).stdout.startswith("hp-pure 2.0: ")
    assert ok(helpers.run([venv / "bin" / "demo-echo"], env=run_env, input="venv echo")).stdout == "venv echo"
    assert not (tmp_path / "unused-root").exists() or installs(tmp_path / "unused-root") == set()
    installers = sorted(venv.glob("lib/python*/site-packages/*.dist-info/INSTALLER"))
    assert len(installers) == 3 and {p.read_text().strip() for p in installers} == {"hatch-pex"}

    assert "exists and is not empty" in start_failure(
        helpers.run_pex(pex, "venv", str(venv), python=python, env=tools)
    )
    ok(helpers.run_pex(pex, "venv", "--force", str(venv), python=python, env=tools))
    assert ok(helpers.run([venv / "bin" / "hp-pure"], env=run_env)).stdout.startswith("hp-pure 2.0: ")

    # Started by a CPython the native wheel does not fit: the tool re-executes under one that does.
    others = [p for p in interpreters.values() if p != python]
    if others:
        links = tmp_path / "links"
        link(links, python.name, python)
        other_venv = tmp_path / "other-venv"
        ok(helpers.run_pex(pex, "venv", str(other_venv), python=others[0], env=with_env(tools, PATH=links)))
        report = helpers.parse_demo_output(ok(helpers.run([other_venv / "bin" / "demo"], env=run_env)).stdout)
        assert report["native"] == 42 and report["python"] == report["native_built_for"]


def test_tools_cache_info_and_prune(
    demo: dict[str, Path], library: Path, python: Path, env: dict[str, str], tmp_path: Path
) -> None:
    root = tmp_path / "root"
    run_env = with_env(env, PEX_ROOT=root, TMPDIR=tmp_path)  # no per-user fallback of earlier runs
    tools = with_env(run_env, PEX_TOOLS="1")
    ok(helpers.run_pex(demo["demo"], python=python, env=run_env))
    ok(helpers.run_pex(library, "-c", "pass", python=python, env=run_env))
    (root / "tmp" / "leftover.1.2").mkdir()

    size = sum(os.lstat(os.path.join(d, f)).st_size for d, _, fs in os.walk(root / "installs") for f in fs)
    info = ok(helpers.run_pex(library, "cache", python=python, env=tools)).stdout
    assert info == ok(helpers.run_pex(library, "cache", "info", python=python, env=tools)).stdout
    lines = info.splitlines()
    assert lines[0] == f"cache: {root}"
    assert f"  installs: 4 entries, {size / 1e6:.1f} MB" in lines
    assert "  pexes: 2 warm records" in lines
    for pex, project, count in ((demo["demo"], "demo-app", 3), (library, "no-scripts-app", 2)):
        pattern = (
            rf"    pexes/{pex_info(pex)['pex_hash']}/\S+  {project}, {count} entries, last used 0\.0 days ago"
        )
        assert any(re.fullmatch(pattern, line) for line in lines), (pattern, info)
    assert any(line.startswith("  tmp: 1 leftovers") for line in lines), info

    # demo's record unused for 40 days: prune forgets it and the entries only it used.
    demo_records = root / "pexes" / str(pex_info(demo["demo"])["pex_hash"])
    [record] = [path for path in demo_records.iterdir() if path.suffix != ".lock"]  # beside it: its lock
    old = time.time() - 40 * 86400
    os.utime(record, (old, old))
    pruned = ok(helpers.run_pex(library, "cache", "prune", python=python, env=tools)).stdout
    assert re.fullmatch(
        rf"{re.escape(str(root))}: removed 1 pex records unused for 30 days and 2 install entries "
        r"\(\d+\.\d MB\); 2 entries still in use\n",
        pruned,
    ), pruned
    assert installs(root) == set(distributions(library).values())
    assert len(list((root / "sites").iterdir())) == 1  # the pruned record's site went with it
    assert not (root / "pexes" / str(pex_info(demo["demo"])["pex_hash"])).exists()
    assert (
        ok(
            helpers.run_pex(
                library, "-c", "import hp_pure; print(hp_pure.__version__)", python=python, env=run_env
            )
        ).stdout
        == "2.0\n"
    )
    assert (
        helpers.parse_demo_output(ok(helpers.run_pex(demo["demo"], python=python, env=run_env)).stdout)[
            "native"
        ]
        == 42
    )
    assert len(installs(root)) == 4

    pruned = ok(
        helpers.run_pex(library, "cache", "prune", "--older-than", "0", python=python, env=tools)
    ).stdout
    assert "removed 2 pex records unused for 0 days and 4 install entries" in pruned, pruned
    assert installs(root) == set()
    assert list((root / "sites").iterdir()) == []
    usage = start_failure(
        helpers.run_pex(library, "cache", "prune", "--older-than", "soon", python=python, env=tools)
    )
    assert "usage: cache prune [--older-than DAYS]" in usage
