"""Every build error: one clear message, a non-zero exit, nothing in dist/, no credentials shown."""

from __future__ import annotations

from pathlib import Path

import helpers
import pytest
from helpers import configure

SECRET = "hunter2-s3cr3t"


def failed_build(tmp_path: Path, env: dict[str, str], table: str, app: str = "demo-app") -> str:
    """Build with `table`; assert the build failed and left nothing; return its whole output."""
    project = helpers.copy_fixture_app(app, tmp_path)
    configure(project, table)
    result = helpers.hatch_build(project, env=env, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0, helpers.describe(result)
    dist = project / "dist"
    leftovers = sorted(p.name for p in dist.iterdir()) if dist.exists() else []
    assert leftovers == [], leftovers
    assert SECRET not in output
    return output


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ('script = "nope"', "Unknown script in field `tool.hatch.build.targets.pex.script`: 'nope'"),
        ('scripts = ["demo", "nope"]', "Unknown script in field `tool.hatch.build.targets.pex.scripts`"),
        ("compression = 42", "Field `tool.hatch.build.targets.pex.compression` must be a deflate level"),
        ('inherit-path = "always"', "Field `tool.hatch.build.targets.pex.inherit-path` must be one of"),
        ("colour = true", "Unknown field `tool.hatch.build.targets.pex.colour`"),
        (
            'python-versions = ["3.8"]',
            "Field `tool.hatch.build.targets.pex.python-versions` has an unknown Python version '3.8'",
        ),
        (
            'interpreter-constraints = ">=3.99"',
            "The interpreter constraints (>=3.99) admit none of the CPython versions a .pex can serve",
        ),
        (
            f'index-url = "ftp//user:{SECRET}@nowhere"',
            "Field `tool.hatch.build.targets.pex.index-url` must be a URL",
        ),
    ],
)
def test_bad_configuration(tmp_path: Path, env: dict[str, str], table: str, expected: str) -> None:
    output = failed_build(tmp_path, env, table)
    assert expected in output
    assert "Traceback" not in output


def test_entry_point_module_missing(tmp_path: Path, env: dict[str, str]) -> None:
    output = failed_build(tmp_path, env, 'entry-point = "demo_app.missing:main"')
    assert "The module 'demo_app.missing' of the configured entry point" in output
    assert "is not in the project wheel or any of its 2 dependencies" in output  # hp-pure, hp-native


def test_script_pointing_at_missing_module(tmp_path: Path, env: dict[str, str]) -> None:
    project = helpers.copy_fixture_app("demo-app", tmp_path)
    text = (project / "pyproject.toml").read_text()
    (project / "pyproject.toml").write_text(text.replace('"demo_app.cli:echo"', '"demo_app.gone:echo"'))
    result = helpers.hatch_build(project, env=env, check=False)
    assert result.returncode != 0
    assert "The module 'demo_app.gone' of script 'demo-echo'" in result.stdout + result.stderr
    assert not (project / "dist").exists() or list((project / "dist").iterdir()) == []


def test_unresolvable_requirement_shows_pips_reason(tmp_path: Path, env: dict[str, str]) -> None:
    output = failed_build(tmp_path, env, 'requirements = ["hp-does-not-exist>=1"]')
    assert "No Python version the project admits can be served" in output
    assert "pip could not resolve the requirements" in output
    assert "No matching distribution found for hp-does-not-exist" in output


def test_conflicting_requirement_shows_pips_reason(tmp_path: Path, env: dict[str, str]) -> None:
    output = failed_build(tmp_path, env, 'requirements = ["hp-pure>=3"]')
    assert "hp-pure>=3" in output or "hp_pure>=3" in output
    assert "pip could not resolve the requirements" in output


def test_unreachable_index_with_credentials(tmp_path: Path, env: dict[str, str]) -> None:
    port = helpers.free_port()  # nothing listens there
    url = f"http://builder:{SECRET}@127.0.0.1:{port}/simple"
    env = {**env, "PIP_RETRIES": "1", "PIP_DEFAULT_TIMEOUT": "5"}
    output = failed_build(tmp_path, env, f'index-url = "{url}"')
    assert "pip could not resolve the requirements" in output
    assert "Connection refused" in output
    assert "builder" not in output
