"""Find a CPython of a given minor version on this machine, to build sdists for that version.

The build interpreter serves its own version. For the others, searched in this order, each candidate
run once to learn what it really is: `PEX_PYTHON_PATH`
(directories or interpreter paths, as the runtime reads it), `python3.X` on PATH, pyenv's versions
(`$PYENV_ROOT`, else `~/.pyenv`), then `uv python find` (installed interpreters only, never a download).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from functools import cache

_PROBE = "import sys; print('%d.%d %s' % (sys.version_info[0], sys.version_info[1], sys.implementation.name))"


@cache
def find_python(version: str) -> str | None:
    """An interpreter path for CPython `version` ("3.12"), the build's own first, or None."""
    if version == "{}.{}".format(*sys.version_info[:2]):
        return sys.executable
    own = os.path.realpath(sys.executable)
    seen = {own}
    for candidate in _candidates(version):
        real = os.path.realpath(candidate)
        if real in seen or not os.access(candidate, os.X_OK):
            continue
        seen.add(real)
        if _version_of(candidate) == version:
            return candidate
    return None


def _candidates(version: str) -> list[str]:
    name = f"python{version}"
    found = []
    for entry in filter(None, os.environ.get("PEX_PYTHON_PATH", "").split(os.pathsep)):
        found.append(os.path.join(entry, name) if os.path.isdir(entry) else entry)
    on_path = shutil.which(name)
    if on_path:
        found.append(on_path)
    pyenv_root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    patterns = (f"{version}", f"{version}.*")  # newest patch release first
    for directory in sorted(
        (d for pattern in patterns for d in glob.glob(os.path.join(pyenv_root, "versions", pattern))),
        key=_release_key,
        reverse=True,
    ):
        found.append(os.path.join(directory, "bin", name))
    uv_found = _uv_find(version)
    if uv_found:
        found.append(uv_found)
    return found


def _release_key(directory: str) -> tuple[int, ...]:
    parts = os.path.basename(directory).split(".")
    return tuple(int(part) if part.isdigit() else -1 for part in parts)


def _uv_find(version: str) -> str | None:
    from .uv import find_uv

    uv = find_uv()
    if uv is None:
        return None
    environment = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    try:
        result = subprocess.run(
            [uv, "python", "find", "--no-project", f"cpython@{version}"],
            capture_output=True, text=True, stdin=subprocess.DEVNULL, env=environment, timeout=60,
            check=False,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    path = result.stdout.strip()
    return path if result.returncode == 0 and path else None


def _version_of(python: str) -> str | None:
    """ "3.12" for a CPython 3.12, None for anything else or anything that does not run."""
    try:
        result = subprocess.run(
            [python, "-I", "-c", _PROBE],
            capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60, check=False,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    version, _, implementation = result.stdout.strip().partition(" ")
    return version if result.returncode == 0 and implementation == "cpython" else None
