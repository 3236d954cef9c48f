"""A misspelt key of `[tool.hatch.build.targets.pex]`, through the real `hatch build -t pex`: the build
stops before any work, names the field and suggests the key that was meant (config.py, validate)."""

from __future__ import annotations

from pathlib import Path

import helpers
import pytest
from helpers import configure


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        (
            'python-version = ["3.12"]',
            "Unknown field `tool.hatch.build.targets.pex.python-version`; did you mean `python-versions`? "
            "The pex target knows: args, ",
        ),
        (
            'python_versions = ["3.12"]',
            "Unknown field `tool.hatch.build.targets.pex.python_versions`; did you mean `python-versions`? ",
        ),
    ],
)
def test_misspelt_key_suggests_the_known_one(
    tmp_path: Path, env: dict[str, str], table: str, expected: str
) -> None:
    project = helpers.copy_fixture_app("demo-app", tmp_path)
    configure(project, table)
    result = helpers.hatch_build(project, env=env, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0, helpers.describe(result)
    assert expected in output, helpers.describe(result)
    assert "Traceback" not in output
    assert not (project / "dist").exists() or list((project / "dist").iterdir()) == []
