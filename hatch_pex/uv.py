"""`resolver = "uv"`: uv decides the closure (as a PEP 751 lock); pip still fetches the files.

uv reads its own configuration (`UV_*` variables, uv.toml), not pip's (`PIP_*`, pip.conf), and its
resolver may pick other versions where several satisfy the requirements; docs/resolvers.md says when.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from .lock import plan_from_lock, read_lock
from .platforms import Platform
from .redact import redact
from .resolve import PlannedFile, ResolveError, ResolveOptions

# uv names targets by triple; PEX's platform strings name wheel platform tags.
_UV_TRIPLES = {
    "macosx": {"arm64": "aarch64-apple-darwin", "x86_64": "x86_64-apple-darwin"},
    "win": {"amd64": "x86_64-pc-windows-msvc", "arm64": "aarch64-pc-windows-msvc"},
}


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


def uv_platform(platform: Platform) -> list[str]:
    """uv's `--python-platform`/`--python-version` options for a PEX platform string."""
    if platform.is_current:
        return ["--python", sys.executable]
    tag = platform.platform
    if tag.startswith("macosx_"):
        _, major, minor, arch = tag.split("_", 3)
        target = _UV_TRIPLES["macosx"].get(arch, f"{arch}-apple-darwin")
    elif tag.startswith("win"):
        target = _UV_TRIPLES["win"].get(tag.partition("_")[2], "x86_64-pc-windows-msvc")
    elif tag.startswith("musllinux_"):
        target = f"{tag.split('_', 3)[3]}-unknown-linux-musl"
    elif tag.startswith("linux_"):
        target = f"{tag[len('linux_') :]}-manylinux_2_17"
    elif tag.startswith("manylinux_"):
        _, major, minor, arch = tag.split("_", 3)
        target = f"{arch}-manylinux_{major}_{minor}"
    else:
        raise ResolveError(f"uv cannot resolve for platform {platform.text}; use the pip resolver for it")
    return [
        "--python-platform",
        target,
        "--python-version",
        platform.python_version,
        "--only-binary",
        ":all:",
    ]


def plan_with_uv(
    requirements: list[str], options: ResolveOptions, platform: Platform, *, work_dir: str
) -> list[PlannedFile]:
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
    command += ["--format", "pylock.toml", "--output-file", lock_path, "--quiet", "--no-header"]
    command += options.uv_arguments() + uv_platform(platform)
    result = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        reason = " ".join(line.strip() for line in redact(result.stderr).splitlines() if line.strip())
        where = "" if platform.is_current else f" for platform {platform.text}"
        raise ResolveError(f"uv could not resolve the requirements{where}: {reason or 'no reason given'}")
    lock = read_lock(lock_path)
    plan = plan_from_lock(lock, platform)
    return [
        PlannedFile(item.name, item.version, item.url, item.archive_sha256, True, "the sha256 uv reported")
        for item in plan
    ]
