"""The interpreter every contender runs on and the private venv with the tools that build them."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from .shell import clean_environment, run
from .workspace import REPO_ROOT, Workspace

TARGET_VERSION = "3.11"
# Installed latest from PyPI into the tools venv; the plugin comes from the repository root.
TOOL_REQUIREMENTS = ("pex", "shiv", "hatch", "hatchling", "matplotlib", "pip")
TOOLS_STAMP = ".bench-tools-installed"
REPORTED_DISTRIBUTIONS = ("hatch-pex-builder", "pex", "shiv", "hatch", "hatchling", "pip")


def find_interpreter(explicit: str | None) -> Path:
    """The real CPython 3.11 binary (never the pyenv bash shim, which adds ~30 ms per start)."""
    for candidate in _interpreter_candidates(explicit):
        real = _real_executable(candidate)
        if real is not None:
            return real
    raise SystemExit(f"No CPython {TARGET_VERSION} found: install it (pyenv install 3.11) or pass --python")


def _interpreter_candidates(explicit: str | None) -> list[str]:
    if explicit:
        return [explicit]
    candidates = []
    pyenv_prefix = _pyenv_prefix()
    if pyenv_prefix is not None:
        candidates.append(str(pyenv_prefix / "bin" / f"python{TARGET_VERSION}"))
    on_path = shutil.which(f"python{TARGET_VERSION}")
    if on_path:
        candidates.append(on_path)
    return candidates


def _pyenv_prefix() -> Path | None:
    if shutil.which("pyenv") is None:
        return None
    completed = subprocess.run(
        ["pyenv", "prefix", TARGET_VERSION], capture_output=True, text=True, check=False
    )
    lines = completed.stdout.strip().splitlines()
    return Path(lines[0]) if completed.returncode == 0 and lines else None


def _real_executable(candidate: str) -> Path | None:
    """Ask the candidate for `sys.executable`: resolves shims to the binary they would start."""
    try:
        completed = subprocess.run(
            [candidate, "-c", "import sys; print(sys.executable); print(sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return None
    lines = completed.stdout.strip().splitlines()
    if completed.returncode != 0 or len(lines) != 2:
        return None
    major, minor = TARGET_VERSION.split(".")
    return Path(lines[0]) if lines[1] == f"({major}, {minor})" else None


def ensure_tools(workspace: Workspace, interpreter: Path, reinstall: bool) -> None:
    """Create the tools venv and install the tools (once; `--reinstall-tools` to refresh)."""
    stamp = workspace.tools_venv / TOOLS_STAMP
    if stamp.exists() and not reinstall:
        return
    environment = clean_environment(dont_write_bytecode=False)
    if not workspace.tools_python.exists():
        run([interpreter, "-m", "venv", workspace.tools_venv], environment)
    run([workspace.tools_python, "-m", "pip", "install", "--upgrade", *TOOL_REQUIREMENTS], environment)
    stamp.write_text(" ".join(TOOL_REQUIREMENTS) + "\n")


def install_plugin(workspace: Workspace) -> None:
    """(Re)install hatch-pex from the repository root, so every run measures the current code."""
    run(
        [
            workspace.tools_python,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--force-reinstall",
            "--no-build-isolation",
            REPO_ROOT,
        ],
        clean_environment(dont_write_bytecode=False),
    )


def distribution_versions(python: Path, names: tuple[str, ...]) -> dict[str, str]:
    """Versions of `names` as `python` sees them ("-" when not installed)."""
    script = (
        "import importlib.metadata as m, json, sys\n"
        "def v(n):\n"
        "    try:\n"
        "        return m.version(n)\n"
        "    except m.PackageNotFoundError:\n"
        "        return '-'\n"
        "print(json.dumps({n: v(n) for n in sys.argv[1:]}))\n"
    )
    completed = run([python, "-c", script, *names], clean_environment(dont_write_bytecode=True))
    versions: dict[str, str] = json.loads(completed.stdout)
    return versions


def tool_versions(workspace: Workspace) -> dict[str, str]:
    return distribution_versions(workspace.tools_python, REPORTED_DISTRIBUTIONS)


def interpreter_version(interpreter: Path) -> str:
    completed = run([interpreter, "-c", "import sys; print(sys.version.split()[0])"], clean_environment(True))
    return completed.stdout.strip()
