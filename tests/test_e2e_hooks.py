"""Build hooks: the global ones run once per `hatch build -t pex`, for the project wheel the file packs;
the pex target's own ones run for the pex target."""

from __future__ import annotations

import zipfile
from pathlib import Path

import helpers
from helpers import configure

#: A custom build hook that logs each run and, for the wheel, adds a generated file to it.
HOOK = """
from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class LoggingHook(BuildHookInterface):
    def initialize(self, version, build_data):
        with open(Path(self.root, "hook-runs.log"), "a", encoding="utf-8") as log:
            log.write(f"{self.config.get('label', 'global')}:{self.target_name}\\n")
        if self.target_name == "wheel":
            generated = Path(self.directory, "generated.txt")
            generated.parent.mkdir(parents=True, exist_ok=True)
            generated.write_text("made by the build hook\\n", encoding="utf-8")
            build_data["force_include"][str(generated)] = "versions_app/generated.txt"
"""


def hooked_app(tmp_path: Path) -> Path:
    project = helpers.copy_fixture_app("versions-app", tmp_path)
    (project / "hatch_build.py").write_text(HOOK)
    with open(project / "pyproject.toml", "a", encoding="utf-8") as stream:
        stream.write("\n[tool.hatch.build.hooks.custom]\n")
    return project


def runs(project: Path) -> list[str]:
    return (project / "hook-runs.log").read_text().split()


def project_wheel_names(pex: Path) -> list[str]:
    with zipfile.ZipFile(pex) as archive:
        [member] = [n for n in archive.namelist() if Path(n).name.startswith("versions_app-")]
        with archive.open(member) as stream, zipfile.ZipFile(stream) as wheel:
            return wheel.namelist()


def test_a_global_build_hook_runs_once_for_the_packed_wheel(tmp_path: Path, env: dict[str, str]) -> None:
    project = hooked_app(tmp_path)
    helpers.hatch_build(project, env=env)
    [pex] = helpers.built_artifacts(project)
    assert runs(project) == ["global:wheel"]
    assert "versions_app/generated.txt" in project_wheel_names(pex)
    result = helpers.run_pex(pex, env=env)
    assert result.returncode == 0, helpers.describe(result)


def test_the_pex_targets_own_hook_runs_for_the_pex_target(tmp_path: Path, env: dict[str, str]) -> None:
    project = hooked_app(tmp_path)
    configure(project, "")
    with open(project / "pyproject.toml", "a", encoding="utf-8") as stream:
        stream.write('[tool.hatch.build.targets.pex.hooks.custom]\nlabel = "pex-hook"\n')
    helpers.hatch_build(project, env=env)
    assert sorted(runs(project)) == ["global:wheel", "pex-hook:pex"]
