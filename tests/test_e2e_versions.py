"""One .pex serves every CPython its constraints admit, each natively, whatever interpreter built it."""

from __future__ import annotations

import json
import os
import re
import zipfile
from pathlib import Path

import helpers
import pytest
from helpers import configure, pex_info
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from hatch_pex.lock import read_lock
from hatch_pex.platforms import KNOWN_PYTHON_VERSIONS
from hatch_pex.progress import SIZE_WARNING_EXTRA, versions_text


def versions_app(tmp_path: Path, *, requires_python: str, dependencies: list[str]) -> Path:
    project = helpers.copy_fixture_app("versions-app", tmp_path)
    text = (project / "pyproject.toml").read_text()
    text = text.replace('requires-python = ">=3.9"', f"requires-python = {json.dumps(requires_python)}")
    text = text.replace('dependencies = ["click>=8"]', f"dependencies = {json.dumps(dependencies)}")
    (project / "pyproject.toml").write_text(text)
    return project


def build_versions_app(
    tmp_path: Path, env: dict[str, str], *, dependencies: list[str], table: str = ""
) -> Path:
    """`hatch build -t pex` of a `>=3.9` versions-app (plus `table`); its one .pex."""
    project = versions_app(tmp_path, requires_python=">=3.9", dependencies=dependencies)
    if table:
        configure(project, table)
    helpers.hatch_build(project, env=env)
    [pex] = helpers.built_artifacts(project)
    return pex


def click_is_8_1(report: dict[str, object]) -> bool:
    click = report["click"]
    assert isinstance(click, dict)
    return Version(str(click["version"])).release[:2] == (8, 1)


def run_natively(pex: Path, python: Path, env: dict[str, str]) -> dict[str, object]:
    """Run the report under `python`; it must run there, with no search for another interpreter."""
    result = helpers.run_pex(pex, python=python, env={**env, "PEX_VERBOSE": "1"})
    assert result.returncode == 0, helpers.describe(result)
    assert "searching for an interpreter" not in result.stderr, helpers.describe(result)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["executable"] == str(python), helpers.describe(result)
    return report  # type: ignore[no-any-return]


def index_versions(test_index: helpers.TestIndex, project: str) -> list[Version]:
    names = test_index.project_files(project)
    return sorted({Version(n.split("-")[1]) for n in names if n.endswith(".whl")})


@pytest.fixture(scope="module")
def click_app(tmp_path_factory: pytest.TempPathFactory, index_url: str, uv_cache: Path) -> tuple[Path, str]:
    """A `>=3.9` app needing click>=8, built by `hatch build -t pex` (hatch's CPython 3.11)."""
    base = tmp_path_factory.mktemp("click-app")
    project = versions_app(base, requires_python=">=3.9", dependencies=["click>=8"])
    result = helpers.hatch_build(project, env=helpers.make_env(index_url, base / ".home", uv_cache=uv_cache))
    [pex] = helpers.built_artifacts(project)
    return pex, result.stdout + result.stderr


def test_click_app_serves_every_known_version(click_app: tuple[Path, str]) -> None:
    pex, output = click_app
    info = pex_info(pex)
    assert info["python_versions"] == list(KNOWN_PYTHON_VERSIONS), output
    assert "left out" not in output
    newest = KNOWN_PYTHON_VERSIONS[-1]
    major, minor = newest.split(".")
    assert info["interpreter_constraints"] == [f"<{major}.{int(minor) + 1},>=3.9"]
    clicks = sorted(name for name in info["distributions"] if name.startswith("click-"))  # type: ignore[union-attr]
    assert len(clicks) == 2 and clicks[0].startswith("click-8.1."), clicks
    # One set per version; a wheel serving several versions is stored once.
    sets = info["platform_distributions"]
    assert isinstance(sets, dict) and len(sets) == len(KNOWN_PYTHON_VERSIONS)
    stored = [name for name in info["distributions"]]  # type: ignore[union-attr]
    assert len(stored) == len(set(stored)) == 3  # versions_app, click 8.1.x, the newest click


def test_click_app_runs_natively_everywhere(
    click_app: tuple[Path, str], interpreter: Path, env: dict[str, str], test_index: helpers.TestIndex
) -> None:
    report = run_natively(click_app[0], interpreter, env)
    click = report["click"]
    assert isinstance(click, dict)
    newest = index_versions(test_index, "click")[-1]
    if report["python"] == "3.9":
        assert Version(str(click["version"])).release[:2] == (8, 1)
    else:
        assert Version(str(click["version"])) == newest
    assert str(click["file"]).startswith(env["PEX_ROOT"])


def test_markers_are_evaluated_for_each_version(
    tmp_path: Path, env: dict[str, str], interpreters: dict[str, Path]
) -> None:
    """Each version's closure follows the markers as that version reads them (pip alone would
    evaluate them for the build interpreter: hp-pure 2.0 everywhere)."""
    dependencies = ['hp-pure<2; python_version < "3.11"', 'hp-pure>=2; python_version >= "3.11"']
    pex = build_versions_app(tmp_path, env, dependencies=dependencies)
    assert sorted(n for n in pex_info(pex)["distributions"] if n.startswith("hp_pure-")) == [  # type: ignore[union-attr]
        "hp_pure-1.0-py3-none-any.whl",
        "hp_pure-2.0-py3-none-any.whl",
    ]
    for version, python in interpreters.items():
        hp_pure = run_natively(pex, python, env)["hp_pure"]
        assert isinstance(hp_pure, dict)
        assert hp_pure["version"] == ("1.0" if version in ("3.9", "3.10") else "2.0"), version


def test_python_versions_narrows_the_file(
    tmp_path: Path, env: dict[str, str], interpreters: dict[str, Path]
) -> None:
    """`python-versions` keeps only the versions listed; other interpreters move to one of them."""
    pex = build_versions_app(
        tmp_path, env, dependencies=["click>=8"], table='python-versions = ["3.9", "3.12"]'
    )
    info = pex_info(pex)
    assert info["python_versions"] == ["3.9", "3.12"]
    assert info["interpreter_constraints"] == ["<3.10,>=3.9", "<3.13,>=3.12"]
    assert len(info["platform_distributions"]) == 2  # type: ignore[arg-type]
    if "3.12" in interpreters:
        assert run_natively(pex, interpreters["3.12"], env)["python"] == "3.12"
    if "3.11" in interpreters and "3.12" in interpreters:
        # 3.11 is not served: the runtime finds a served interpreter (python3.12 from PEX_PYTHON_PATH).
        result = helpers.run_pex(
            pex, python=interpreters["3.11"], env={**env, "PEX_PYTHON_PATH": str(interpreters["3.12"])}
        )
        assert result.returncode == 0, helpers.describe(result)
        assert json.loads(result.stdout.strip().splitlines()[-1])["python"] == "3.12"


def test_no_fit_message_lists_the_served_versions(
    tmp_path: Path, env: dict[str, str], interpreters: dict[str, Path]
) -> None:
    if "3.9" not in interpreters:
        pytest.skip("needs CPython 3.9")
    pex = build_versions_app(tmp_path, env, dependencies=["click>=8"], table='python-versions = ["3.12"]')
    lonely = tmp_path / "only-3.9"
    lonely.mkdir()
    (lonely / "python3.9").symlink_to(interpreters["3.9"])
    result = helpers.run_pex(pex, python=interpreters["3.9"], env={**env, "PATH": str(lonely)})
    assert result.returncode != 0
    assert "This file serves CPython 3.12 (platforms: linux_" in result.stderr, helpers.describe(result)
    assert "does not satisfy <3.13,>=3.12" in result.stderr, helpers.describe(result)


def test_project_excluding_the_build_python_builds_for_what_it_admits(
    tmp_path: Path, env: dict[str, str], hatchling_venv: Path, interpreters: dict[str, Path]
) -> None:
    """A `>=3.12,<3.13` app with PyYAML, built by `python -m hatchling build` under CPython 3.11,
    runs under 3.12 natively with PyYAML's C extension."""
    project = versions_app(tmp_path, requires_python=">=3.12,<3.13", dependencies=["pyyaml"])
    build = helpers.run(
        [hatchling_venv, "-m", "hatchling", "build", "-t", "pex"],
        env=env,
        cwd=project,
        timeout=helpers.BUILD_TIMEOUT,
    )
    assert "3.11" in helpers.run([hatchling_venv, "-c", "import sys; print(sys.version)"], env=env).stdout
    [pex] = helpers.built_artifacts(project)
    info = pex_info(pex)
    assert info["python_versions"] == ["3.12"], helpers.describe(build)
    assert info["interpreter_constraints"] == ["<3.13,>=3.12"]
    assert any(re.match(r"PyYAML-.*-cp312-cp312-.*\.whl", n, re.I) for n in info["distributions"])  # type: ignore[union-attr]
    if "3.12" not in interpreters:
        pytest.skip("no CPython 3.12 to run it")
    report = run_natively(pex, interpreters["3.12"], env)
    yaml = report["yaml"]
    assert isinstance(yaml, dict)
    assert yaml["libyaml"] is True
    assert str(yaml["extension"]).endswith(".so") and "cpython-312" in str(yaml["extension"])


def test_sdist_only_dependency_is_built_per_version(
    tmp_path: Path, env: dict[str, str], interpreters: dict[str, Path]
) -> None:
    """Every admitted version with an interpreter on this machine gets a wheel built by that
    interpreter; the others are left out, one line each, and the constraints narrowed."""
    project = versions_app(tmp_path, requires_python=">=3.9", dependencies=["hp-sdist-only"])
    result = helpers.hatch_build(project, env=env)
    output = result.stdout + result.stderr
    [pex] = helpers.built_artifacts(project)
    info = pex_info(pex)
    served = info["python_versions"]
    assert isinstance(served, list)
    for version in interpreters:
        assert version in served, helpers.describe(result)
    left_out = [v for v in KNOWN_PYTHON_VERSIONS if v not in served]
    # One line for the versions with neither a wheel nor an interpreter to build one.
    [line] = [line for line in output.splitlines() if "left out of the file" in line]
    assert line == (
        f"hatch-pex: warning: {versions_text(left_out)} left out of the file: no wheel of hp-sdist-only fits, "
        "and no interpreter of that version was found here to build one from its sdist (see PATH, pyenv, uv "
        "or PEX_PYTHON_PATH)"
    ), output
    constraints = [SpecifierSet(c) for c in info["interpreter_constraints"]]  # type: ignore[union-attr]
    for version in KNOWN_PYTHON_VERSIONS:
        admitted = any(c.contains(f"{version}.0") for c in constraints)
        assert admitted is (version in served), (version, constraints)
    # One wheel of hp-sdist-only per served version, each built by that version's interpreter.
    built = [n for n in info["distributions"] if n.startswith("hp_sdist_only-")]  # type: ignore[union-attr]
    assert len(built) == 1  # a pure wheel: identical bytes for every version, stored once
    for version, python in interpreters.items():
        report = run_natively(pex, python, env)
        assert report["python"] == version
        assert isinstance(report["sdist_only"], dict) and report["sdist_only"]["version"] == "1.0"


def test_lock_covers_every_version_and_builds_per_version(
    tmp_path: Path, env: dict[str, str], interpreters: dict[str, Path]
) -> None:
    """`hatch build -t pex:lock` writes one lock for every served version, with markers where the
    closures differ; a build from it picks each version's set."""
    project = versions_app(tmp_path, requires_python=">=3.9", dependencies=["click>=8"])
    configure(project, 'lock = "pylock.toml"')
    helpers.hatch_build(project, "-t", "pex:lock", env=env, target=None)
    lock = read_lock(str(project / "pylock.toml"))
    clicks = {p.version: p.marker or "" for p in lock.packages if p.name == "click"}
    [old] = [version for version in clicks if version.startswith("8.1.")]
    assert 'python_version == "3.9"' in clicks.pop(old)
    [marker] = clicks.values()  # the newest click, for every other version
    assert 'python_version == "3.9"' not in marker and 'python_version == "3.10"' in marker
    assert lock.python_versions == list(KNOWN_PYTHON_VERSIONS)
    helpers.hatch_build(project, env=env)
    [pex] = helpers.built_artifacts(project)
    for version in ("3.9", "3.12"):
        if version in interpreters:
            assert click_is_8_1(run_natively(pex, interpreters[version], env)) is (version == "3.9")


def test_uv_universal_resolution_serves_every_version(
    tmp_path: Path, env: dict[str, str], interpreters: dict[str, Path]
) -> None:
    pex = build_versions_app(tmp_path, env, dependencies=["click>=8"], table='resolver = "uv"')
    assert pex_info(pex)["python_versions"] == list(KNOWN_PYTHON_VERSIONS)
    for version in ("3.9", "3.13"):
        if version in interpreters:
            assert click_is_8_1(run_natively(pex, interpreters[version], env)) is (version == "3.9")


def test_a_few_megabytes_more_for_more_versions_are_not_worth_a_warning(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """demo-app's native wheel is its largest part: one per version makes the wheels several times
    larger than one version's, yet a few hundred kB in all. Below SIZE_WARNING_EXTRA the build says nothing."""
    project = helpers.copy_fixture_app("demo-app", tmp_path)
    result = helpers.hatch_build(project, env=env)
    output = result.stdout + result.stderr
    pex = helpers.built_artifacts(project)[0]
    info = pex_info(pex)
    sets = info["platform_distributions"]
    assert isinstance(sets, dict)
    with zipfile.ZipFile(pex) as archive:
        sizes = {name: archive.getinfo(f".deps/{name}").file_size for name in info["distributions"]}  # type: ignore[union-attr]
    total, largest = sum(sizes.values()), max(sum(sizes[n] for n in wheels) for wheels in sets.values())
    assert 2 * largest < total < SIZE_WARNING_EXTRA, (total, largest)  # the case this test is about
    assert "makes the wheels" not in output, output


def big_wheels(directory: Path, megabytes: int, tags: list[str]) -> None:
    """hp-big 1.0: one wheel per tag, each holding `megabytes` of random bytes (stored: no deflate)."""
    directory.mkdir()
    for tag in tags:
        members = {
            "hp_big/__init__.py": b"",
            "hp_big/blob.bin": os.urandom(megabytes * 1_000_000),
            "hp_big-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: hp-big\nVersion: 1.0\n",
            "hp_big-1.0.dist-info/WHEEL": f"Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: {tag}\n".encode(),
        }
        record = "".join(f"{name},,\n" for name in [*members, "hp_big-1.0.dist-info/RECORD"])
        members["hp_big-1.0.dist-info/RECORD"] = record.encode()
        with zipfile.ZipFile(directory / f"hp_big-1.0-{tag}.whl", "w", zipfile.ZIP_STORED) as wheel:
            for name, data in members.items():
                wheel.writestr(name, data)


def test_the_size_warning_compares_like_for_like_on_several_machines(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """This machine and linux aarch64, at 3.11 and 3.12: one version needs both machines' wheels, so
    a second version adds 60 MB to 60 MB, not 90 MB to the build machine's 30 MB; the advice names the
    keys that set the versions, not a Python this machine happens to run."""
    links = tmp_path / "links"
    tags = [
        f"cp{v}-cp{v}-{machine}"
        for v in ("311", "312")
        for machine in ("linux_x86_64", "manylinux2014_aarch64")
    ]
    big_wheels(links, 30, tags)
    project = versions_app(tmp_path, requires_python=">=3.9", dependencies=["hp-big"])
    aarch64 = [f"manylinux2014_aarch64-cp-{v}-cp{v.replace('.', '')}" for v in ("3.11", "3.12")]
    configure(
        project,
        f'python-versions = ["3.11", "3.12"]\nplatforms = {json.dumps(["current", *aarch64])}\n'
        f'find-links = ["{links.as_uri()}"]',
    )
    result = helpers.hatch_build(project, env=env)
    [line] = [line for line in (result.stdout + result.stderr).splitlines() if "makes the wheels" in line]
    assert line == (
        "hatch-pex: warning: serving Python 3.11 and 3.12 makes the wheels 120.0 MB, against 60.0 MB for "
        "one version; keep only the Python version your servers run in `tool.hatch.build.targets.pex.platforms` "
        "and `tool.hatch.build.targets.pex.python-versions` for a smaller file"
    ), line
