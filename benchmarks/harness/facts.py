"""Machine and tool facts printed above the tables."""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .contenders import SMALL_APP, App
from .shell import clean_environment, run
from .toolchain import distribution_versions, tool_versions
from .workspace import REPO_ROOT, Workspace

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


@dataclass(frozen=True)
class WorkTree:
    """The repository's state: the commit checked out (None outside a git checkout) and what differs from
    it (`git status --porcelain` lines: changed tracked files and untracked files git does not ignore)."""

    commit: str | None
    changes: tuple[str, ...]

    @property
    def clean(self) -> bool:
        return self.commit is not None and not self.changes

    @property
    def revision(self) -> str:
        """The short form the page's headings use: `1a2b3c4`, `1a2b3c4 with uncommitted changes`."""
        if self.commit is None:
            return "not a git checkout"
        return self.commit[:7] + ("" if self.clean else " with uncommitted changes")

    def facts(self) -> dict[str, Any]:
        return {"revision": self.revision, "commit": self.commit, "work_tree_clean": self.clean}


def work_tree() -> WorkTree:
    def git(*arguments: str) -> str | None:
        try:
            completed = subprocess.run(
                ["git", *arguments], cwd=REPO_ROOT, capture_output=True, text=True, check=False
            )
        except OSError:  # no git
            return None
        return completed.stdout if completed.returncode == 0 else None

    commit = git("rev-parse", "--verify", "HEAD")
    status = git("status", "--porcelain")
    if commit is None or status is None:
        return WorkTree(None, ())
    return WorkTree(commit.strip(), tuple(line for line in status.splitlines() if line.strip()))


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
    tree: WorkTree,
    app: App | None = None,
) -> dict[str, Any]:
    venv_python = workspace.artifact_dir("venv") / "venv" / "bin" / "python"
    names = (app or SMALL_APP).distributions
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
        **tree.facts(),
    }
