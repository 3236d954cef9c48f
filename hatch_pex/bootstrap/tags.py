"""Wheel tags the running interpreter supports, best first, computed like packaging.tags.sys_tags()
(packaging 26.3: native linux_<arch> before manylinux/musllinux, abi3t for free-threaded builds).

The pure functions take their inputs as arguments (unit tested against packaging); `supported_tags()`
gathers those inputs from the running interpreter. The result is cached per interpreter (see
interpreter.py), so this module only runs on a cold start.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

_LEGACY_MANYLINUX = {(2, 17): "manylinux2014", (2, 12): "manylinux2010", (2, 5): "manylinux1"}


def cpython_tags(version: tuple[int, int], abis: Sequence[str], platforms: Sequence[str]) -> Iterator[str]:
    interpreter = f"cp{version[0]}{version[1]}"
    stable = "abi3t" if abis and "t" in abis[0][len(interpreter) :] else "abi3"  # free-threaded: abi3t
    for abi in abis:
        for platform in platforms:
            yield f"{interpreter}-{abi}-{platform}"
    for platform in platforms:
        yield f"{interpreter}-{stable}-{platform}"
    for platform in platforms:
        yield f"{interpreter}-none-{platform}"
    # A stable-ABI wheel built for an older CPython 3 still loads.
    for minor in range(version[1] - 1, 1, -1):
        for platform in platforms:
            yield f"cp{version[0]}{minor}-{stable}-{platform}"


def generic_tags(interpreter: str, abis: Sequence[str], platforms: Sequence[str]) -> Iterator[str]:
    """Tags of a non-CPython interpreter (e.g. PyPy: pp310-pypy310_pp73-<platform>)."""
    for abi in [*abis, "none"]:
        for platform in platforms:
            yield f"{interpreter}-{abi}-{platform}"


def _py_versions(version: tuple[int, int]) -> Iterator[str]:
    yield f"py{version[0]}{version[1]}"
    yield f"py{version[0]}"
    for minor in range(version[1] - 1, -1, -1):
        yield f"py{version[0]}{minor}"


def compatible_tags(
    version: tuple[int, int], interpreter: str | None, platforms: Sequence[str]
) -> Iterator[str]:
    """Pure-Python tags: py3X-none-<platform>, then <interpreter>-none-any, then py3X-none-any."""
    for py in _py_versions(version):
        for platform in platforms:
            yield f"{py}-none-{platform}"
    if interpreter:
        yield f"{interpreter}-none-any"
    for py in _py_versions(version):
        yield f"{py}-none-any"


def linux_platforms(arch: str, glibc: tuple[int, int] | None, musl: tuple[int, int] | None) -> list[str]:
    """linux_<arch>, manylinux (newest glibc first, legacy alias after its PEP 600 name), musllinux."""
    archs = ["armv8l", "armv7l"] if arch == "armv8l" else [arch]
    platforms = [f"linux_{a}" for a in archs]
    if glibc is not None and glibc[0] == 2:
        oldest = 5 if arch in ("x86_64", "i686") else 17
        for a in archs:
            for minor in range(glibc[1], oldest - 1, -1):
                platforms.append(f"manylinux_2_{minor}_{a}")
                legacy = _LEGACY_MANYLINUX.get((2, minor))
                if legacy:
                    platforms.append(f"{legacy}_{a}")
    if musl is not None:
        for a in archs:
            for minor in range(musl[1], -1, -1):
                platforms.append(f"musllinux_{musl[0]}_{minor}_{a}")
    return platforms


def _mac_binary_formats(version: tuple[int, int], arch: str) -> list[str]:
    formats = [arch]
    if arch == "x86_64":
        if version < (10, 4):
            return []
        formats.extend(["intel", "fat64", "fat3"])  # fat3: i386 + ppc + x86_64
    elif arch == "i386":
        if version < (10, 4):
            return []
        formats.extend(["intel", "fat3", "fat"])
    if arch in ("arm64", "x86_64"):
        formats.append("universal2")
    if arch in ("x86_64", "i386"):
        formats.append("universal")
    return formats


def mac_platforms(version: tuple[int, int], arch: str) -> list[str]:
    platforms: list[str] = []
    if (10, 0) <= version < (11, 0):
        for minor in range(version[1], -1, -1):
            platforms.extend(f"macosx_10_{minor}_{f}" for f in _mac_binary_formats((10, minor), arch))
    if version >= (11, 0):
        for major in range(version[0], 10, -1):
            platforms.extend(f"macosx_{major}_0_{f}" for f in _mac_binary_formats((major, 0), arch))
        # macOS 11+ still loads binaries built for 10.x (arm64 only through universal2 ones).
        for minor in range(16, 3, -1):
            if arch == "x86_64":
                platforms.extend(f"macosx_10_{minor}_{f}" for f in _mac_binary_formats((10, minor), arch))
            else:
                platforms.append(f"macosx_10_{minor}_universal2")
    return platforms


def _glibc_version() -> tuple[int, int] | None:
    try:
        text = os.confstr("CS_GNU_LIBC_VERSION")  # "glibc 2.36"
    except (AttributeError, OSError, ValueError):
        return None
    try:
        name, _, number = (text or "").partition(" ")
        major, minor = number.split(".")[:2]
        return (int(major), int(minor)) if name == "glibc" else None
    except ValueError:
        return None


def _musl_version() -> tuple[int, int] | None:
    """musl prints its version when its loader is run without arguments (only asked when no glibc)."""
    import glob
    import re
    import subprocess

    for loader in sorted(glob.glob("/lib/ld-musl-*.so.1")):
        try:
            out = subprocess.run([loader], capture_output=True, text=True, check=False).stderr
        except OSError:
            continue
        match = re.search(r"^Version (\d+)\.(\d+)", out, re.MULTILINE)
        if match:
            return int(match.group(1)), int(match.group(2))
    return None


def platform_tags() -> list[str]:
    import sysconfig

    platform = sysconfig.get_platform().replace("-", "_").replace(".", "_").replace(" ", "_")
    if sys.platform == "darwin":
        import platform as platform_module

        release, _, machine = platform_module.mac_ver()
        parts = [int(p) for p in (release or "10.0").split(".")[:2]] + [0]
        arch = machine or platform.rsplit("_", 1)[-1]
        if sys.maxsize <= 2**32:
            arch = "i386"
        return mac_platforms((parts[0], parts[1]), arch)
    if platform.startswith("linux_"):
        arch = platform[len("linux_") :]
        if sys.maxsize <= 2**32:  # 32-bit interpreter on a 64-bit kernel
            arch = {"x86_64": "i686", "aarch64": "armv8l"}.get(arch, arch)
        glibc = _glibc_version()
        musl = None if glibc else _musl_version()
        return linux_platforms(arch, glibc, musl)
    return [platform]


def cpython_abis(version: tuple[int, int]) -> list[str]:
    import sysconfig

    nodot = f"{version[0]}{version[1]}"
    debug = "d" if sysconfig.get_config_var("Py_DEBUG") or hasattr(sys, "gettotalrefcount") else ""
    threading = "t" if version >= (3, 13) and sysconfig.get_config_var("Py_GIL_DISABLED") else ""
    abis = [f"cp{nodot}{threading}{debug}"]
    if debug:
        abis.append(f"cp{nodot}{threading}")
    return abis


def supported_tags() -> list[str]:
    """Every tag the running interpreter accepts, best first ("py3-none-any" style strings)."""
    version = (sys.version_info[0], sys.version_info[1])
    platforms = platform_tags()
    name = sys.implementation.name
    if name == "cpython":
        tags = list(cpython_tags(version, cpython_abis(version), platforms))
        interpreter: str | None = f"cp{version[0]}{version[1]}"
    else:
        import sysconfig

        short = {"pypy": "pp"}.get(name, name)
        soabi = str(sysconfig.get_config_var("SOABI") or "")  # pypy310-pp73 -> pypy310_pp73
        abis = ["_".join(soabi.replace(".", "_").split("-")[:2])] if soabi else []
        tags = list(generic_tags(f"{short}{version[0]}{version[1]}", abis, platforms))
        interpreter = "pp3" if short == "pp" else None
    tags.extend(compatible_tags(version, interpreter, platforms))
    return tags
