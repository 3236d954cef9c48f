"""Every input of a build is hash-checked before it is used, sdists included, and the build cache is
read only where nobody but this user (or root) could have written it (issue 8)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import helpers
import pytest
from _make_test_pex import make_wheel
from helpers import configure

SDIST_CODE = "import hp_sdist_only; print(hp_sdist_only.hello())"
GENUINE = "hp-sdist-only 1.0 (built from sdist)"
PLANTED = "planted by someone else"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def artifact(test_index: helpers.TestIndex, name: str) -> Path:
    assert test_index.artifacts is not None
    return test_index.artifacts.directory / name


def no_pex_left(project: Path) -> bool:
    return not list((project / "dist").glob("*.pex")) if (project / "dist").exists() else True


def test_lock_sdist_pointing_at_another_file_is_never_built(
    tmp_path: Path, env: dict[str, str], test_index: helpers.TestIndex, interpreters: dict[str, Path]
) -> None:
    """A lock whose sdist URL points at another sdist, its sha256 kept, fails naming the file and both
    sha256, before that file's build backend runs; no .pex is written."""
    marker = tmp_path / "backend-ran.txt"
    marked = {**env, "HP_BUILD_MARKER": str(marker)}
    evil = artifact(test_index, "hp_build_marker-1.0.tar.gz")
    # The mark works: pip building that sdist runs its backend, which writes the file.
    python = interpreters.get("3.11") or next(iter(interpreters.values()))
    control = tmp_path / "control"
    helpers.run([python, "-m", "pip", "wheel", "--no-deps", "--no-index", "-w", control, evil], env=marked)
    assert marker.read_text().startswith("hp-build-marker backend imported")
    marker.unlink()

    project = helpers.copy_fixture_app("no-scripts-app", tmp_path)
    configure(project, 'requirements = ["hp-sdist-only"]\nlock = "pylock.toml"\npython-versions = ["3.11"]')
    helpers.hatch_build(project, "-t", "pex:lock", env=env, target=None)
    lock = project / "pylock.toml"
    text = lock.read_text()
    genuine = sha256(artifact(test_index, "hp_sdist_only-1.0.tar.gz").read_bytes())
    assert 'sdist = { name = "hp_sdist_only-1.0.tar.gz", url = ' in text and genuine in text
    tampered, count = re.subn(
        r'(url = "[^"]*/)hp_sdist_only-1\.0\.tar\.gz"', r'\1hp_build_marker-1.0.tar.gz"', text
    )
    assert count == 1
    lock.write_text(tampered)

    result = helpers.hatch_build(project, env={**marked, "PIP_NO_CACHE_DIR": "1"}, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0, helpers.describe(result)
    assert not marker.exists(), f"the backend ran: {marker.read_text()}\n{output}"
    assert no_pex_left(project)
    assert "hp_build_marker-1.0.tar.gz" in output, output
    assert f"expected sha256 {genuine}" in output, output
    assert f"got {sha256(evil.read_bytes())}" in output, output
    assert "does not match the sha256 recorded in the lock pylock.toml" in output, output


# The built-wheel cache --------------------------------------------------------------------------


@contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def build_sdist_app(project: Path, env: dict[str, str]) -> tuple[Path, str]:
    """Build the project; its .pex and the sha256 of the hp-sdist-only wheel inside."""
    for old in helpers.built_artifacts(project):
        old.unlink()
    helpers.hatch_build(project, env=env)
    [pex] = helpers.built_artifacts(project)
    with zipfile.ZipFile(pex) as archive:
        [name] = [n for n in archive.namelist() if n.startswith(".deps/hp_sdist_only-")]
        return pex, sha256(archive.read(name))


def runs(pex: Path, env: dict[str, str], python: Path) -> str:
    result = helpers.run_pex(pex, "-c", SDIST_CODE, python=python, env=env)
    assert result.returncode == 0, helpers.describe(result)
    return result.stdout.strip()


def built_slots(env: dict[str, str]) -> list[Path]:
    return sorted(
        p.parent for p in (Path(env["XDG_CACHE_HOME"]) / "hatch-pex" / "build" / "built").glob("*/build.json")
    )


def planted_wheel(directory: Path, name: str) -> Path:
    """A wheel of the same name as the genuine one, with other code."""
    directory.mkdir(parents=True, exist_ok=True)
    code = f"def hello():\n    return {PLANTED!r}\n"
    wheel = make_wheel(directory, "hp_sdist_only", "1.0", {"hp_sdist_only/__init__.py": code})
    assert wheel.name == name, (wheel.name, name)
    return wheel


def forge(slot: Path, planted: Path) -> None:
    """Replace the slot's wheel with `planted`, and its record so that every other check passes."""
    [wheel] = slot.glob("*.whl")
    wheel.write_bytes(planted.read_bytes())
    record = json.loads((slot / "build.json").read_text())
    record["wheel_sha256"] = sha256(planted.read_bytes())
    (slot / "build.json").write_text(json.dumps(record))


def sdist_app(tmp_path: Path) -> Path:
    project = helpers.copy_fixture_app("no-scripts-app", tmp_path)
    configure(project, 'requirements = ["hp-sdist-only"]\npython-versions = ["3.12"]')
    return project


def test_planned_sdist_builds_and_its_cached_wheel_is_checked_before_reuse(
    tmp_path: Path, env: dict[str, str], interpreters: dict[str, Path]
) -> None:
    """pip's planned sdist is built (by Python 3.12, natively) and the .pex runs; the wheel built is
    cached with nothing group- or world-writable even under a 002 umask; a cached wheel replaced by
    another, or forged consistently but in a group-writable file or a symlinked slot, is not used."""
    if "3.12" not in interpreters:
        pytest.skip("needs a Python 3.12 to build the sdist natively")
    python = interpreters["3.12"]
    project = sdist_app(tmp_path)
    with umask(0o002):
        pex, genuine = build_sdist_app(project, env)
    assert runs(pex, env, python) == GENUINE
    cache = Path(env["XDG_CACHE_HOME"]) / "hatch-pex" / "build"
    for path in [cache, *cache.rglob("*")]:
        mode = path.lstat().st_mode
        assert not stat.S_ISLNK(mode) and not mode & 0o022, f"{path} has mode {mode:o}"
    [slot] = built_slots(env)
    [wheel] = slot.glob("*.whl")
    planted = planted_wheel(tmp_path / "planted", wheel.name)
    record = json.loads((slot / "build.json").read_text())
    assert record["wheel_sha256"] == genuine == sha256(wheel.read_bytes())
    assert record["interpreter"]["version"].startswith("3.12.")

    # Replaced by another wheel of the same name: its sha256 is not the recorded one.
    wheel.write_bytes(planted.read_bytes())
    pex, inside = build_sdist_app(project, env)
    assert inside == genuine and runs(pex, env, python) == GENUINE
    assert sha256(wheel.read_bytes()) == genuine  # the slot was built again

    # Forged so that every check passes, but in a file others may write: not read either.
    forge(slot, planted)
    wheel.chmod(0o664)
    pex, inside = build_sdist_app(project, env)
    assert inside == genuine and runs(pex, env, python) == GENUINE

    # Forged elsewhere and linked into place: not read.
    [slot] = built_slots(env)
    elsewhere = tmp_path / "elsewhere"
    os.rename(slot, elsewhere)
    forge(elsewhere, planted)
    slot.symlink_to(elsewhere, target_is_directory=True)
    pex, inside = build_sdist_app(project, env)
    assert inside == genuine and runs(pex, env, python) == GENUINE

    # The control: the same forgery in a slot only this user could write IS taken (the cache trusts
    # this user), so the checks above are what kept it out.
    [slot] = built_slots(env)
    assert not slot.is_symlink()
    forge(slot, planted)
    pex, inside = build_sdist_app(project, env)
    assert inside == sha256(planted.read_bytes()) and runs(pex, env, python) == PLANTED


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="chown to another user needs root"
)
def test_cache_slot_of_another_user_is_not_read(
    tmp_path: Path, env: dict[str, str], interpreters: dict[str, Path]
) -> None:
    """A built-wheel slot forged consistently but owned by another user (nobody, 65534) is ignored, as
    is a cache directory owned by them."""
    if "3.12" not in interpreters:
        pytest.skip("needs a Python 3.12 to build the sdist natively")
    python = interpreters["3.12"]
    project = sdist_app(tmp_path)
    pex, genuine = build_sdist_app(project, env)
    [slot] = built_slots(env)
    [wheel] = slot.glob("*.whl")
    planted = planted_wheel(tmp_path / "planted", wheel.name)

    forge(slot, planted)
    for path in (slot, *slot.iterdir()):
        os.chown(path, 65534, 65534)
    pex, inside = build_sdist_app(project, env)
    assert inside == genuine and runs(pex, env, python) == GENUINE

    [slot] = built_slots(env)
    forge(slot, planted)
    os.chown(slot.parent, 65534, 65534)  # the `built` directory itself
    pex, inside = build_sdist_app(project, env)
    assert inside == genuine and runs(pex, env, python) == GENUINE
