"""End to end: `exclude`, `dependency-groups` and `args`, with the real `hatch build -t pex` (pip, uv and a
lock) against the loopback index, and the built .pex run for real."""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path

import helpers
import pytest
from helpers import configure, pex_info

APP_CODE = """
import json, sys


def report():
    found = {}
    try:
        import hp_requires_pure
        found["hp_requires_pure"] = hp_requires_pure.describe()
    except ImportError:
        found["hp_requires_pure"] = None
    try:
        import hp_pure
        found["hp_pure"] = hp_pure.__version__
    except ImportError:
        found["hp_pure"] = None
    try:
        import hp_native
        found["hp_native"] = hp_native.answer()
    except ImportError:
        found["hp_native"] = None
    print(json.dumps({"argv": sys.argv, **found}))


def main():
    report()
    return 0


def other():
    report()
    return 0
"""


def write_app(base: Path, dependencies: list[str], groups: str = "") -> Path:
    """A project `closure-app` with scripts closure-app and closure-other that report argv and which of
    hp-requires-pure, hp-pure and hp-native they can import."""
    project = base / "closure-app"
    (project / "closure_app").mkdir(parents=True)
    (project / "closure_app" / "__init__.py").write_text(APP_CODE)
    (project / "pyproject.toml").write_text(
        f"""
[build-system]
requires = ["hatchling", "hatch-pex-builder"]
build-backend = "hatchling.build"

[project]
name = "closure-app"
version = "0.1.0"
requires-python = ">=3.9"
dependencies = {json.dumps(dependencies)}

[project.scripts]
closure-app = "closure_app:main"
closure-other = "closure_app:other"

[tool.hatch.build.targets.wheel]
packages = ["closure_app"]
{groups}
"""
    )
    return project


def distribution_names(info: dict[str, object]) -> list[str]:
    distributions = info["distributions"]
    assert isinstance(distributions, dict)
    return sorted({name.split("-")[0] for name in distributions})


def output_of(result: subprocess.CompletedProcess[str]) -> str:
    """stdout and stderr as one line (hatch wraps long lines)."""
    return " ".join((result.stdout + result.stderr).split())


def report_of(result: subprocess.CompletedProcess[str]) -> dict[str, object]:
    assert result.returncode == 0, helpers.describe(result)
    return helpers.parse_demo_output(result.stdout)


def outside_site(artifacts: helpers.Artifacts, directory: Path) -> Path:
    """hp-requires-pure 1.0 and hp-pure 1.0 unpacked into a directory, as a site-packages outside the pex."""
    directory.mkdir()
    for wheel in ("hp_requires_pure-1.0-py3-none-any.whl", "hp_pure-1.0-py3-none-any.whl"):
        with zipfile.ZipFile(artifacts.directory / wheel) as archive:
            archive.extractall(directory)
    return directory


# -- exclude -----------------------------------------------------------------------------------------


def test_exclude_with_pip(
    tmp_path: Path, env: dict[str, str], interpreters: dict[str, Path], artifacts: helpers.Artifacts
) -> None:
    """hp-requires-pure is left out with hp-pure, which only it needs, for each version the file serves;
    the app still starts, and the left-out distributions can come from outside the file."""
    project = write_app(tmp_path, ["hp-requires-pure", "hp-native"])
    configure(project, 'exclude = ["HP_Requires_Pure"]\npython-versions = ["3.11", "3.12"]')
    build = helpers.hatch_build(project, env=env)
    assert "hatch-pex: left out of the file for Python 3.11 and 3.12: hp-pure, hp-requires-pure" in output_of(
        build
    )
    pexes = helpers.built_artifacts(project)
    assert [p.name for p in pexes] == ["closure-app-0.1.0.pex", "closure-other-0.1.0.pex"]
    info = pex_info(pexes[0])
    assert info["excluded"] == ["hp-requires-pure"]
    assert info["inject_args"] == []
    assert distribution_names(info) == ["closure_app", "hp_native"]
    sets = info["platform_distributions"]
    assert isinstance(sets, dict) and len(sets) == 2
    for wheels in sets.values():
        assert sorted(w.split("-")[0] for w in wheels) == ["closure_app", "hp_native"]

    for version in ("3.11", "3.12"):
        if version not in interpreters:
            continue
        report = report_of(helpers.run_pex(pexes[0], "x", python=interpreters[version], env=env))
        assert report == {
            "argv": [str(pexes[0]), "x"],
            "hp_requires_pure": None,
            "hp_pure": None,
            "hp_native": 42,
        }

    # The runtime checks no requirement: the excluded distributions may be provided from outside.
    site = outside_site(artifacts, tmp_path / "outside")
    report = report_of(helpers.run_pex(pexes[0], env={**env, "PEX_EXTRA_SYS_PATH": str(site)}))
    assert report["hp_requires_pure"] == "hp-requires-pure 1.0 with hp-pure 1.0, hp-native 42"
    assert report["hp_pure"] == "1.0"


def test_exclude_and_dependency_groups_with_uv(tmp_path: Path, env: dict[str, str]) -> None:
    """A group (included through another, names normalized) joins the closure; what the group requires
    itself stays when the distribution that also needed it is excluded."""
    groups = """
[dependency-groups]
Pure_Deps = ["hp-pure"]
runtime = [{include-group = "pure-deps"}]
"""
    project = write_app(tmp_path, ["hp-requires-pure", "hp-native"], groups)
    configure(
        project,
        'resolver = "uv"\nexclude = ["hp-requires-pure"]\ndependency-groups = ["Runtime"]\npython-versions = ["3.11"]',
    )
    helpers.hatch_build(project, env=env)
    pex = helpers.built_artifacts(project)[0]
    info = pex_info(pex)
    assert info["excluded"] == ["hp-requires-pure"]
    assert distribution_names(info) == ["closure_app", "hp_native", "hp_pure"]
    assert "hp-pure" in info["requirements"]  # type: ignore[operator]
    report = report_of(helpers.run_pex(pex, env=env))
    assert report["hp_requires_pure"] is None
    assert report["hp_pure"] == "1.0"  # hp-requires-pure (resolved, then left out) wants hp-pure<2


def test_exclude_and_dependency_groups_with_a_lock(tmp_path: Path, env: dict[str, str]) -> None:
    """The lock holds the whole resolution; the build from it leaves the excluded out. A lock written
    before a dependency group was asked for is out of date."""
    groups = '\n[dependency-groups]\nextra = ["hp-pure"]\n'
    project = write_app(tmp_path, ["hp-requires-pure", "hp-native"], groups)
    table = 'lock = "pylock.toml"\nexclude = ["hp-requires-pure"]\npython-versions = ["3.11"]'
    configure(project, table)
    helpers.hatch_build(project, "-t", "pex:lock", env=env, target=None)
    lock = (project / "pylock.toml").read_text()
    for name in ("hp-requires-pure", "hp-pure", "hp-native"):
        assert f'name = "{name}"' in lock
    helpers.hatch_build(project, env=env)
    pex = helpers.built_artifacts(project)[0]
    info = pex_info(pex)
    assert info["excluded"] == ["hp-requires-pure"]
    assert distribution_names(info) == ["closure_app", "hp_native"]
    report = report_of(helpers.run_pex(pex, env=env))
    assert (report["hp_requires_pure"], report["hp_pure"], report["hp_native"]) == (None, None, 42)

    with open(project / "pyproject.toml", "a", encoding="utf-8") as stream:
        stream.write('dependency-groups = ["extra"]\n')
    stale = helpers.hatch_build(project, env=env, check=False)
    assert stale.returncode != 0
    assert "The lock pylock.toml is out of date" in output_of(stale)
    helpers.hatch_build(project, "-t", "pex:lock", env=env, target=None)
    helpers.hatch_build(project, env=env)
    info = pex_info(helpers.built_artifacts(project)[0])
    assert distribution_names(info) == ["closure_app", "hp_native", "hp_pure"]


def test_bad_exclude_and_groups_fail_the_build(tmp_path: Path, env: dict[str, str]) -> None:
    # (a cycle in [dependency-groups] is refused by uv, which makes hatch's build environment, before
    # the builder runs: test_closure_units.py covers it)
    project = write_app(tmp_path, ["hp-pure"], '\n[dependency-groups]\ndev = ["hp-pure"]\n')
    pyproject = (project / "pyproject.toml").read_text()
    cases = [
        (
            'exclude = ["hp-nothing"]\npython-versions = ["3.11"]',
            "Field `tool.hatch.build.targets.pex.exclude` names 'hp-nothing', which the dependency closure "
            "does not hold for any platform the file serves (it holds: hp-pure)",
        ),
        (
            'exclude = ["closure_app"]',
            "Field `tool.hatch.build.targets.pex.exclude` names the project itself",
        ),
        (
            'dependency-groups = ["test"]',
            "Field `tool.hatch.build.targets.pex.dependency-groups`: unknown dependency group 'test'; "
            "known groups: dev",
        ),
    ]
    for table, expected in cases:
        (project / "pyproject.toml").write_text(pyproject)
        configure(project, table)
        result = helpers.hatch_build(project, env=env, check=False)
        assert result.returncode != 0 and expected in output_of(result), helpers.describe(result)
        assert helpers.built_artifacts(project) == []


# -- args --------------------------------------------------------------------------------------------


def test_args_come_before_the_users_on_cold_and_warm_starts(tmp_path: Path, env: dict[str, str]) -> None:
    project = write_app(tmp_path, ["hp-pure"])
    configure(project, 'args = ["--injected", "two words", ""]\npython-versions = ["3.11"]')
    helpers.hatch_build(project, env=env)
    pexes = helpers.built_artifacts(project)
    assert len(pexes) == 2
    verbose = {**env, "PEX_VERBOSE": "1"}
    for pex in pexes:
        assert pex_info(pex)["inject_args"] == ["--injected", "two words", ""]
        expected = [str(pex), "--injected", "two words", "", "user", "--flag"]
        cold = helpers.run_pex(pex, "user", "--flag", env=verbose)
        assert report_of(cold)["argv"] == expected
        assert "warm start" not in cold.stderr, cold.stderr
        warm = helpers.run_pex(pex, "user", "--flag", env=verbose)
        assert "warm start" in warm.stderr, warm.stderr
        assert report_of(warm)["argv"] == expected

    # As in PEX: what the user runs instead of the entry point gets only the user's arguments.
    pex = pexes[0]
    other = report_of(helpers.run_pex(pex, "user", env={**env, "PEX_SCRIPT": "closure-other"}))
    assert other["argv"] == [str(pex), "user"]
    result = helpers.run_pex(
        pex, "-c", "import sys; print(sys.argv)", "user", env={**env, "PEX_INTERPRETER": "1"}
    )
    assert result.stdout.strip() == "['-c', 'user']", helpers.describe(result)


@pytest.mark.parametrize("key", ["module", "entry-point"])
def test_args_with_a_module_or_entry_point(tmp_path: Path, env: dict[str, str], key: str) -> None:
    project = write_app(tmp_path, ["hp-pure"])
    (project / "closure_app" / "__main__.py").write_text("from closure_app import report\nreport()\n")
    value = "closure_app" if key == "module" else "closure_app:main"
    configure(project, f'{key} = "{value}"\nargs = ["--injected"]\npython-versions = ["3.11"]')
    helpers.hatch_build(project, env=env)
    [pex] = helpers.built_artifacts(project)
    for _ in range(2):  # cold, then warm
        assert report_of(helpers.run_pex(pex, "user", env=env))["argv"] == [str(pex), "--injected", "user"]
