"""Machine and tool facts printed above the tables."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .contenders import LARGE_APP, App
from .shell import clean_environment, run
from .toolchain import distribution_versions, tool_versions
from .workspace import REPO_ROOT, Workspace

APP_DISTRIBUTIONS = ("click", "requests", "rich")
LARGE_APP_DISTRIBUTIONS = ("torch", "numpy", "pandas", "scipy", "pyarrow")
SITE_PACKAGES_SCRIPT = (
    "import os, site\n"
    "for d in site.getsitepackages():\n"
    "    names = os.listdir(d) if os.path.isdir(d) else []\n"
    "    print(d, len(names), sum(n.endswith('.pth') for n in names))\n"
)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
    except OSError:
        pass
    return "unknown"


def repository_revision() -> str:
    def git(*arguments: str) -> str:
        completed = subprocess.run(
            ["git", *arguments], cwd=REPO_ROOT, capture_output=True, text=True, check=False
        )
        return completed.stdout.strip() if completed.returncode == 0 else ""

    revision = git("rev-parse", "--short", "HEAD") or "no commit yet"
    return revision + (" with uncommitted changes" if git("status", "--porcelain") else "")


def base_site_packages(interpreter: Path) -> str:
    """Entries and .pth files in the interpreter's own site-packages: every start of the bare
    interpreter (so every archive) pays for them, a plain venv does not."""
    completed = run([interpreter, "-c", SITE_PACKAGES_SCRIPT], clean_environment(dont_write_bytecode=True))
    parts = []
    for line in completed.stdout.splitlines():
        directory, entries, pth_files = line.rsplit(" ", 2)
        parts.append(f"`{directory}`: {entries} entries, {pth_files} .pth files")
    return "; ".join(parts)


def collect_facts(
    workspace: Workspace,
    interpreter: Path,
    interpreter_version: str,
    command: str,
    rounds: dict[str, int],
    app: App | None = None,
) -> dict[str, Any]:
    venv_python = workspace.artifact_dir("venv") / "venv" / "bin" / "python"
    names = LARGE_APP_DISTRIBUTIONS if app == LARGE_APP else APP_DISTRIBUTIONS
    app_versions = distribution_versions(venv_python, names) if venv_python.exists() else {}
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command,
        "rounds": rounds,
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model(),
        "memory": memory_gib(),
        "platform": platform.platform(),
        "interpreter": str(interpreter),
        "interpreter_version": interpreter_version,
        "base_site_packages": base_site_packages(interpreter),
        "tool_versions": tool_versions(workspace),
        "app_versions": app_versions,
        "revision": repository_revision(),
    }
