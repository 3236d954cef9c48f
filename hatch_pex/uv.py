"""`resolver = "uv"`: uv's universal resolution decides the closure (as a PEP 751 lock) for every
version and platform at once; each platform takes its files from it, and pip still fetches them.

uv reads its own configuration (`UV_*` variables, uv.toml), not pip's (`PIP_*`, pip.conf), and its
resolver may pick other versions where several satisfy the requirements;
docs/platforms-and-locks.md says when.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from . import progress
from .credentials import child_environment
from .lock import Lock, plan_from_lock, read_lock
from .piprunner import quiet_arguments
from .platforms import Platform
from .redact import redact
from .resolve import PlannedFile, ResolveError, ResolveOptions


def find_uv() -> str | None:
    """hatch's own uv (it exposes it as HATCH_UV), else uv on PATH, else the `uv` package's binary."""
    candidate = os.environ.get("HATCH_UV") or shutil.which("uv")
    if candidate:
        return candidate
    try:
        from uv import find_uv_bin  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    try:
        return str(find_uv_bin())
    except FileNotFoundError:
        return None


def universal_lock(
    requirements: list[str], options: ResolveOptions, *, lowest_python: str, work_dir: str
) -> Lock:
    """uv's universal resolution: one PEP 751 lock for every Python from `lowest_python` up and every
    platform, with markers where closures differ (e.g. click 8.1 below 3.10, the newest above)."""
    uv = find_uv()
    if uv is None:
        raise ResolveError(
            'resolver = "uv" needs uv: none found in HATCH_UV, on PATH or as the `uv` package; '
            "install uv or use the default pip resolver"
        )
    requirements_in = os.path.join(work_dir, "requirements.in")
    with open(requirements_in, "w", encoding="utf-8") as stream:
        stream.write("\n".join(requirements) + "\n")
    lock_path = os.path.join(work_dir, "pylock.toml")
    command = [uv, "pip", "compile", requirements_in, *options.requirements_files]
    command += ["--format", "pylock.toml", "--output-file", lock_path, *quiet_arguments(), "--no-header"]
    command += ["--universal", "--python-version", lowest_python, *options.uv_arguments()]
    # The URLs in `command` carry no credentials: uv reads them from the netrc file NETRC names.
    with options.credentials():
        result = subprocess.run(
            command, stdin=subprocess.DEVNULL, capture_output=True, text=True, env=child_environment(),
            check=False,
        )  # fmt: skip
    progress.tool_output("uv", result.stderr)  # at `-v` (stdout repeats the lock it wrote)
    if result.returncode != 0:
        reason = " ".join(line.strip() for line in redact(result.stderr).splitlines() if line.strip())
        raise ResolveError(f"uv could not resolve the requirements: {reason or 'no reason given'}")
    return read_lock(lock_path)


def plan_from_universal_lock(lock: Lock, platform: Platform) -> list[PlannedFile]:
    return [
        PlannedFile(item.name, item.version, item.url, item.archive_sha256, True, "the sha256 uv reported")
        for item in plan_from_lock(lock, platform)
    ]
