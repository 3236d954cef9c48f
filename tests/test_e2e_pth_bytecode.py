"""End to end: a closure whose wheel ships a `.pth` file with an `import` line (issue 9).

The site directory's `.pth` files are processed at every start. Before the fix they were processed
before the runtime's bytecode hook was installed: the modules their import lines imported, and every
top-level module and package `__init__` of the site directory imported afterwards (its finder was cached
then), were compiled from source at every warm start under PYTHONDONTWRITEBYTECODE=1, and written by
Python's own loader without it. A `sys.addaudithook` wrapper counts the `compile` events of files in
the cache on each start of a pex built with the real `hatch build -t pex`.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
from pathlib import Path

import helpers
import pytest
from filelock import FileLock

from hatch_pex.bootstrap import bytecode, isolation

# Runs the pex the way `python app.pex ARGS` does (runpy, the archive first on sys.path) under an
# audit hook that records the file name of every compile() of a file under PEX_ROOT (importlib's
# source loaders call compile(); a module served from a .pyc is never compiled).
AUDITED = """\
import json, os, sys

root = os.path.realpath(os.environ["PEX_ROOT"]) + os.sep
compiled = []


def audit(event, args):
    if event == "compile" and isinstance(args[1], str):
        if os.path.realpath(args[1]).startswith(root) or args[1].startswith(root):
            compiled.append(args[1])


sys.addaudithook(audit)
report, pex = sys.argv[1], sys.argv[2]
sys.argv[:] = sys.argv[2:]
import runpy

try:
    runpy.run_path(pex, run_name="__main__")
finally:
    with open(report, "w") as stream:
        json.dump(compiled, stream)
"""
# Interpreter-mode code: did the .pth import line run, and the modules of the hp-pth wheel load.
CODE = (
    "import os, sys, hp_pth, hp_pth_top; "
    "print(os.environ.get('HP_PTH_HOOK'), 'hp_pth.hook' in sys.modules, hp_pth.VALUE, hp_pth_top.VALUE)"
)
EXPECTED = "ran True hp-pth package hp-pth top-level module"
MODULES = {"hp_pth/__init__.py", "hp_pth/hook.py", "hp_pth_top.py"}


def _depend_on_hp_pth(project: Path) -> None:
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    old = 'dependencies = ["hp-pure"]'
    assert old in text
    pyproject.write_text(text.replace(old, 'dependencies = ["hp-pure", "hp-pth"]'), encoding="utf-8")


@pytest.fixture(scope="module")
def pth_app(tmp_path_factory: pytest.TempPathFactory, index_url: str, uv_cache: Path) -> Path:
    """no-scripts-app depending on hp-pth as well, built once per test run by `hatch build -t pex`
    (shared by the xdist workers): an interpreter pex serving every known Python version."""
    base = tmp_path_factory.getbasetemp()
    root = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "e2e-pth-builds"
    root.mkdir(exist_ok=True)
    done = root / "pth-app.json"
    with FileLock(str(root / "pth-app.lock")):
        if done.exists():
            return Path(json.loads(done.read_text()))
        work = root / "pth-app"
        shutil.rmtree(work, ignore_errors=True)  # an earlier failed attempt
        work.mkdir()
        project = helpers.copy_fixture_app("no-scripts-app", work)
        _depend_on_hp_pth(project)
        helpers.hatch_build(project, env=helpers.make_env(index_url, work / ".home", uv_cache=uv_cache))
        [pex] = helpers.built_artifacts(project)
        done.write_text(json.dumps(str(pex)))
        return pex


def audited_start(
    pex: Path, python: Path, env: dict[str, str], tmp_path: Path, dont_write: bool
) -> tuple[str, list[str]]:
    """(stdout, files under PEX_ROOT compiled from source) of one start of `pex -c CODE`."""
    wrapper = tmp_path / "audited.py"
    wrapper.write_text(AUDITED)
    report = tmp_path / "compiled.json"
    report.unlink(missing_ok=True)
    run_env = dict(env)
    if dont_write:
        run_env["PYTHONDONTWRITEBYTECODE"] = "1"
    else:
        run_env.pop("PYTHONDONTWRITEBYTECODE", None)
    result = helpers.run([python, wrapper, report, pex, "-c", CODE], env=run_env, cwd=tmp_path)
    return result.stdout.strip(), json.loads(report.read_text())


def in_closure(compiled: list[str], site: Path) -> set[str]:
    return {Path(file).relative_to(site).as_posix() for file in compiled}


def test_pth_imports_and_site_modules_use_cached_bytecode(
    pth_app: Path, interpreter: Path, env: dict[str, str], tmp_path: Path
) -> None:
    root = tmp_path / "root"
    env = dict(env, PEX_ROOT=str(root))

    # Cold start, as on a machine with PYTHONDONTWRITEBYTECODE=1: the hook's first imports compile.
    # This also shows the wrapper sees the compiles of closure modules.
    out, compiled = audited_start(pth_app, interpreter, env, tmp_path, dont_write=True)
    assert out == EXPECTED
    [site] = (root / "sites").iterdir()
    assert (site / "hp_pth.pth").is_symlink()
    assert in_closure(compiled, site) == MODULES, compiled

    # Every one of them got its .pyc from the runtime's loader (the .pth import as well): in the
    # entry's __pycache__ for the package, in the site's for the top-level module (Python's own loader
    # writes none under PYTHONDONTWRITEBYTECODE=1), not writable by others.
    tag = helpers.run([interpreter, "-c", "import sys; print(sys.implementation.cache_tag)"], env=env)
    cache_tag = tag.stdout.strip()
    pycs = [
        site / "hp_pth" / "__pycache__" / f"__init__.{cache_tag}.pyc",
        site / "hp_pth" / "__pycache__" / f"hook.{cache_tag}.pyc",
        site / "__pycache__" / f"hp_pth_top.{cache_tag}.pyc",
    ]
    for pyc in pycs:
        assert pyc.is_file(), pyc
        assert not stat.S_IMODE(pyc.stat().st_mode) & 0o022, pyc

    # Warm starts, with and without PYTHONDONTWRITEBYTECODE: nothing of the closure is compiled.
    # (Before the fix: each start with the variable, and the first without, compiled all three.)
    compiled_by_start = []
    for dont_write in (True, False, False, True):
        out, compiled = audited_start(pth_app, interpreter, env, tmp_path, dont_write=dont_write)
        assert out == EXPECTED
        compiled_by_start.append((f"PYTHONDONTWRITEBYTECODE={int(dont_write)}", in_closure(compiled, site)))
    assert all(not compiled for _, compiled in compiled_by_start), compiled_by_start

    # The ordinary start (`python app.pex`) runs the .pth import line too.
    result = helpers.run_pex(
        pth_app, "-c", CODE, python=interpreter, env=dict(env, PYTHONDONTWRITEBYTECODE="1")
    )
    assert result.returncode == 0, helpers.describe(result)
    assert result.stdout.strip() == EXPECTED


def test_install_forgets_finders_cached_before_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A finder cached for a cache directory before the hook existed is dropped (the next import asks
    the hook); finders of other directories stay."""
    installs, other = tmp_path / "installs", tmp_path / "other"
    entry = installs / "0123" / "pkg"
    entry.mkdir(parents=True)
    other.mkdir()
    monkeypatch.setattr(sys, "path_hooks", list(sys.path_hooks))
    monkeypatch.setattr(sys, "path_importer_cache", {})
    for path in (entry.parent, entry, other, installs):
        sys.path_importer_cache[str(path)] = bytecode.bx.FileFinder(str(path))
    bytecode.install(str(installs), str(tmp_path / "sites"))
    assert sorted(sys.path_importer_cache) == [str(installs), str(other)]
    finder = bytecode.bx.PathFinder._path_importer_cache(str(entry))
    assert finder is not None and sys.path_importer_cache[str(entry)] is finder
    loaders = {loader for _, loader in finder._loaders}  # type: ignore[attr-defined]
    assert bytecode.CachingSourceLoader in loaders and bytecode.bx.SourceFileLoader not in loaders
    # isolation.purge runs after install: a foreign module named like the hook does not take it away
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
    hook = sys.path_hooks[0]
    isolation.purge(["hook", "path_hook", "hatch_pex_bytecode"])
    assert sys.path_hooks[0] is hook
