"""Builds for other machines, from PEP 751 locks, against a private index with basic auth."""

from __future__ import annotations

import json
import re
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path

import helpers
import pytest
from _make_test_pex import make_wheel
from helpers import configure, pex_info

USER = "deployer"
PASSWORD = "pa55-w0rd-xyzzy"
ALL_LINUX = [f"linux_x86_64-cp-3.{minor}-cp3{minor}" for minor in range(9, 14)]
MACOS = "macosx_11_0_arm64-cp-3.12-cp312"


@pytest.fixture(scope="module")
def private_index(
    tmp_path_factory: pytest.TempPathFactory, test_index: helpers.TestIndex
) -> Iterator[helpers.TestIndex]:
    """A second pypiserver that needs basic auth, serving the session's packages plus a directory
    of its own (`directories[0]`) that tests may change."""
    base = tmp_path_factory.mktemp("private-index")
    own = base / "own"
    own.mkdir()
    make_wheel(
        own,
        "hp_mac_only",
        "1.0",
        {"hp_mac_only.py": "WHERE = 'macos'\n"},
        tag="cp312-cp312-macosx_11_0_arm64",
    )
    make_wheel(
        own, "hp_mac_only", "1.0", {"hp_mac_only.py": "WHERE = 'linux'\n"}, tag="cp311-cp311-linux_x86_64"
    )
    with helpers.second_index(own, test_index, base, (USER, PASSWORD)) as index:
        yield index


def test_multi_platform_file_runs_under_every_python(
    tmp_path: Path, env: dict[str, str], interpreters: dict[str, Path]
) -> None:
    project = helpers.copy_fixture_app("demo-app", tmp_path)
    configure(project, f'scripts = ["demo"]\nplatforms = {json.dumps(ALL_LINUX)}')
    helpers.hatch_build(project, env=env)
    [pex] = helpers.built_artifacts(project)
    info = pex_info(pex)
    natives = sorted(n for n in info["distributions"] if n.startswith("hp_native"))  # type: ignore[union-attr]
    assert [n.split("-")[2] for n in natives] == ["cp310", "cp311", "cp312", "cp313", "cp39"]
    pure = [n for n in info["distributions"] if n.startswith("hp_pure")]  # type: ignore[union-attr]
    assert len(pure) == 1  # shared by every platform, stored once
    for version, python in interpreters.items():
        result = helpers.run_pex(pex, python=python, env=env)
        assert result.returncode == 0, helpers.describe(result)
        report = helpers.parse_demo_output(result.stdout)
        assert report["python"] == report["native_built_for"] == version
        assert report["native"] == 42


def test_cross_platform_build_for_macos(
    tmp_path: Path, env: dict[str, str], private_index: helpers.TestIndex
) -> None:
    project = helpers.copy_fixture_app("no-scripts-app", tmp_path)
    url = private_index.url_with(USER, PASSWORD)
    configure(project, f'index-url = "{url}"\nrequirements = ["hp-mac-only"]\nplatforms = ["{MACOS}"]')
    result = helpers.hatch_build(project, env=env)
    assert PASSWORD not in result.stdout + result.stderr
    [pex] = helpers.built_artifacts(project)
    names = sorted(pex_info(pex)["distributions"])  # type: ignore[arg-type]
    assert "hp_mac_only-1.0-cp312-cp312-macosx_11_0_arm64.whl" in names
    with zipfile.ZipFile(pex) as archive:
        assert ".deps/hp_mac_only-1.0-cp312-cp312-macosx_11_0_arm64.whl" in archive.namelist()
    started = helpers.run_pex(pex, "-c", "print('ran')", env=env)
    assert started.returncode != 0
    assert "ran" not in started.stdout
    assert MACOS in started.stderr  # the platforms the file supports...
    assert "linux" in started.stderr.lower()  # ...and the one it found itself on
    assert "Traceback" not in started.stderr


def test_platform_without_a_wheel_fails_naming_both(tmp_path: Path, env: dict[str, str]) -> None:
    project = helpers.copy_fixture_app("demo-app", tmp_path)
    configure(project, f'platforms = ["{MACOS}"]')
    result = helpers.hatch_build(project, env=env, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"for platform {MACOS}" in output
    assert "hp-native" in output or "hp_native" in output
    assert not (project / "dist").exists() or list((project / "dist").iterdir()) == []


def test_credentials_never_reach_the_file(
    tmp_path: Path, env: dict[str, str], private_index: helpers.TestIndex
) -> None:
    project = helpers.copy_fixture_app("demo-app", tmp_path)
    url = private_index.url_with(USER, PASSWORD)
    configure(project, f'index-url = "{url}"\nlock = "pylock.toml"')
    locked = helpers.hatch_build(project, "-t", "pex:lock", env=env, target=None)
    built = helpers.hatch_build(project, env=env)
    for output in (locked.stdout + locked.stderr, built.stdout + built.stderr):
        assert PASSWORD not in output
    lock_text = (project / "pylock.toml").read_text()
    assert PASSWORD not in lock_text and USER not in lock_text
    for pex in helpers.built_artifacts(project):
        data = pex.read_bytes()
        assert PASSWORD.encode() not in data and USER.encode() not in data
        with zipfile.ZipFile(pex) as archive:  # inside the stored wheels too
            for name in archive.namelist():
                assert PASSWORD.encode() not in archive.read(name)


def test_wrong_password_fails_cleanly(
    tmp_path: Path, env: dict[str, str], private_index: helpers.TestIndex
) -> None:
    project = helpers.copy_fixture_app("demo-app", tmp_path)
    configure(project, f'index-url = "{private_index.url_with(USER, "not-the-" + PASSWORD)}"')
    result = helpers.hatch_build(project, env={**env, "PIP_RETRIES": "1"}, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    # pip, refused, finds no version; the build names the index (without credentials) and why.
    refused = rf"the index {re.escape(private_index.url)} refused the request \(HTTP 40[13] \w+\); check the credentials"
    assert re.search(refused, output), output
    assert USER not in output
    assert PASSWORD not in output
    assert not (project / "dist").exists() or list((project / "dist").iterdir()) == []


def test_lock_build_needs_no_resolution_and_is_reproducible(
    tmp_path: Path, env: dict[str, str], private_index: helpers.TestIndex
) -> None:
    project = helpers.copy_fixture_app("demo-app", tmp_path / "a")
    configure(
        project,
        f'index-url = "{private_index.url_with(USER, PASSWORD)}"\nlock = "pylock.toml"\nplatforms = {json.dumps(ALL_LINUX)}',
    )
    helpers.hatch_build(project, "-t", "pex:lock", env=env, target=None)
    lock_text = (project / "pylock.toml").read_text()
    assert lock_text.count("[[packages]]") >= 2
    assert "hp_native-1.0-cp39-cp39-linux_x86_64.whl" in lock_text
    helpers.hatch_build(project, env=env)
    first = {p.name: p.read_bytes() for p in helpers.built_artifacts(project)}
    # Same lock, another directory, the index gone: only the build cache serves the files.
    other = helpers.copy_fixture_app("demo-app", tmp_path / "b")
    shutil.copy(project / "pyproject.toml", other / "pyproject.toml")
    shutil.copy(project / "pylock.toml", other / "pylock.toml")
    private_index.stop()
    try:
        helpers.hatch_build(other, env=env)
    finally:
        private_index.start()
    second = {p.name: p.read_bytes() for p in helpers.built_artifacts(other)}
    assert first == second


def test_stale_lock_is_reported(tmp_path: Path, env: dict[str, str]) -> None:
    project = helpers.copy_fixture_app("demo-app", tmp_path)
    configure(project, 'lock = "pylock.toml"')
    helpers.hatch_build(project, "-t", "pex:lock", env=env, target=None)
    text = (project / "pyproject.toml").read_text()
    (project / "pyproject.toml").write_text(
        text.replace('dependencies = ["hp-pure", "hp-native"]', 'dependencies = ["hp-pure<2", "hp-native"]')
    )
    result = helpers.hatch_build(project, env=env, check=False)
    assert result.returncode != 0
    assert "The lock pylock.toml is out of date" in result.stdout + result.stderr
    assert "hatch build -t pex:lock" in result.stdout + result.stderr


def test_tampered_artifact_fails_naming_the_file(
    tmp_path: Path, env: dict[str, str], private_index: helpers.TestIndex
) -> None:
    own = private_index.directories[0]
    original = make_wheel(own, "hp_tamper", "1.0", {"hp_tamper.py": "VALUE = 'original'\n"})
    project = helpers.copy_fixture_app("no-scripts-app", tmp_path)
    configure(
        project,
        f'index-url = "{private_index.url_with(USER, PASSWORD)}"\nrequirements = ["hp-tamper"]\nlock = "pylock.toml"',
    )
    helpers.hatch_build(project, "-t", "pex:lock", env=env, target=None)
    try:
        make_wheel(own, "hp_tamper", "1.0", {"hp_tamper.py": "VALUE = 'evil'\n"})  # same name, other bytes
        result = helpers.hatch_build(project, env={**env, "PIP_NO_CACHE_DIR": "1"}, check=False)
    finally:
        original.unlink()
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "hp_tamper-1.0-py3-none-any.whl" in output
    assert "does not match the sha256 recorded in the lock pylock.toml" in output
    assert not (project / "dist").exists() or list((project / "dist").iterdir()) == []


def test_uv_resolver_gives_the_same_closure(tmp_path: Path, env: dict[str, str]) -> None:
    closures = {}
    for resolver in ("pip", "uv"):
        project = helpers.copy_fixture_app("demo-app", tmp_path / resolver)
        configure(project, f'resolver = "{resolver}"\nscripts = ["demo"]')
        helpers.hatch_build(project, env=env)
        [pex] = helpers.built_artifacts(project)
        closures[resolver] = pex_info(pex)["distributions"]
        result = helpers.run_pex(pex, env=env)
        assert helpers.parse_demo_output(result.stdout)["native"] == 42, helpers.describe(result)
    assert closures["pip"] == closures["uv"]


def test_damaged_build_cache_is_fetched_again(tmp_path: Path, env: dict[str, str]) -> None:
    """A cached wheel whose bytes no longer match the sha256 it is filed under never reaches a .pex."""
    project = helpers.copy_fixture_app("no-scripts-app", tmp_path)
    configure(project, 'lock = "pylock.toml"')
    helpers.hatch_build(project, "-t", "pex:lock", env=env, target=None)
    helpers.hatch_build(project, env=env)
    [pex] = helpers.built_artifacts(project)
    expected = pex_info(pex)["distributions"]
    cache = Path(env["XDG_CACHE_HOME"]) / "hatch-pex" / "build" / "wheels"
    [damaged] = [p for p in cache.glob("*/hp_pure-*.whl")]
    damaged.write_bytes(damaged.read_bytes() + b"garbage")
    pex.unlink()
    helpers.hatch_build(project, env=env)
    assert pex_info(pex)["distributions"] == expected
    assert damaged.read_bytes() == zipfile.ZipFile(pex).read(f".deps/{damaged.name}")
