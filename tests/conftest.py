"""Session infrastructure of the hatch-pex tests: interpreters, the loopback package index, and
isolated environments for every subprocess. The helpers themselves are in tests/helpers.py.

Fixtures (see helpers.py for the functions they wrap):
    interpreters    session   {"3.9": Path, ...} CPythons found; in CI any of 3.9-3.13 missing fails
    interpreter     function  parametrized over 3.9-3.13 -> Path (missing: skip, CI: fail)
    test_index      session   helpers.TestIndex, running pypiserver on 127.0.0.1 (stopped at the end)
    index_url       session   "http://127.0.0.1:PORT/simple/"
    artifacts       session   helpers.Artifacts: fixture wheels/sdists + hatch-pex wheel of the session
    env             function  helpers.make_env(...) for this test: loopback index only, own
                              HATCH_DATA_DIR/HATCH_CACHE_DIR/XDG_*/PEX_ROOT, uv cache shared per session
    hatchling_venv  session   python of a venv (default python3) with hatchling + hatch-pex from the index

Under pytest-xdist the index content is built once (file lock) and each worker serves it with its
own pypiserver.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import helpers
import pytest
from filelock import FileLock


def _session_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory shared by all xdist workers of this run (the basetemp itself without xdist)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session")
def interpreters() -> dict[str, Path]:
    """CPython 3.9-3.13 found on this machine: {"3.9": Path, ...}. In CI all must be present."""
    found = helpers.find_interpreters()
    missing = [v for v in helpers.PYTHON_VERSIONS if v not in found]
    if missing and helpers.in_ci():
        pytest.fail(f"CI=true and no interpreter found for Python {', '.join(missing)}", pytrace=False)
    if not found:
        pytest.skip("no CPython 3.9-3.13 found")
    return found


@pytest.fixture(params=helpers.PYTHON_VERSIONS)
def interpreter(request: pytest.FixtureRequest, interpreters: dict[str, Path]) -> Path:
    """Each supported CPython in turn (test ids [3.9] ... [3.13]); its executable."""
    version = request.param
    if version not in interpreters:
        pytest.skip(f"no Python {version} on this machine")
    return interpreters[version]


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory, interpreters: dict[str, Path]) -> helpers.Artifacts:
    """The fixture packages and the hatch-pex wheel, built once per test run (shared by workers)."""
    root = _session_root(tmp_path_factory)
    directory = root / "hp-index"
    done = root / "hp-index.json"
    with FileLock(str(root / "hp-index.lock")):
        if done.exists():
            return helpers.Artifacts.from_json(done.read_text())
        try:
            built = helpers.build_index_artifacts(directory, interpreters)
        except RuntimeError as e:
            pytest.fail(str(e), pytrace=False)
        done.write_text(built.to_json())
        return built


@pytest.fixture(scope="session")
def test_index(
    tmp_path_factory: pytest.TempPathFactory, artifacts: helpers.Artifacts
) -> Iterator[helpers.TestIndex]:
    """A pypiserver on 127.0.0.1:<free port> serving the session's artifacts and the toolchain."""
    try:
        toolchain = helpers.check_toolchain(helpers.toolchain_dir())
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)
    log = tmp_path_factory.getbasetemp() / "pypiserver.log"
    index = helpers.TestIndex(directories=[artifacts.directory, toolchain], log_path=log, artifacts=artifacts)
    try:
        index.start()
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)
    try:
        yield index
    finally:
        index.stop()


@pytest.fixture(scope="session")
def index_url(test_index: helpers.TestIndex) -> str:
    """The loopback index's simple URL: http://127.0.0.1:PORT/simple/"""
    return test_index.url


@pytest.fixture(scope="session")
def uv_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A uv cache shared by the tests of this worker (uv locks it itself)."""
    return tmp_path_factory.mktemp("uv-cache")


@pytest.fixture
def env(tmp_path: Path, index_url: str, uv_cache: Path) -> dict[str, str]:
    """The environment for this test's subprocesses (helpers.make_env): only the loopback index,
    and its own hatch/XDG/PEX_ROOT directories under tmp_path/.home."""
    return helpers.make_env(index_url, tmp_path / ".home", uv_cache=uv_cache)


@pytest.fixture(scope="session")
def hatchling_venv(
    tmp_path_factory: pytest.TempPathFactory, index_url: str, uv_cache: Path, interpreters: dict[str, Path]
) -> Path:
    """The python of a venv holding hatchling + hatch-pex (from the loopback index), for
    `python -m hatchling build -t pex` tests. Built once per session with Python 3.11 if present."""
    base = tmp_path_factory.mktemp("hatchling-venv")
    python = interpreters.get("3.11") or next(iter(interpreters.values()))
    session_env = helpers.make_env(index_url, base / ".home", uv_cache=uv_cache)
    return helpers.make_venv(base / "venv", python, env=session_env)
