"""Target platforms in PEX's string form, `PLATFORM-IMPL-PYVER-ABI`, e.g. `linux_x86_64-cp-3.11-cp311`.

A platform becomes pip's `--platform/--implementation/--python-version/--abi` options for
resolving on another machine's behalf, and a PEP 508 marker environment for evaluating a lock's
markers as that machine would.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from packaging.markers import default_environment

CURRENT = "current"
# PEX's abbreviated `linux_<arch>` means "a manylinux2014 (glibc 2.17) machine", as here.
_DEFAULT_GLIBC = (2, 17)
_MANYLINUX = re.compile(r"^manylinux_(\d+)_(\d+)_(.+)$")
_LEGACY_MANYLINUX = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}


@dataclass(frozen=True)
class Platform:
    """A target machine; `current` is the build interpreter itself."""

    text: str
    platform: str = ""
    implementation: str = ""
    version: str = ""
    abi: str = ""

    @classmethod
    def parse(cls, text: str) -> Platform:
        if text == CURRENT:
            return cls(text)
        parts = text.split("-")
        if len(parts) != 4 or not all(parts):
            raise ValueError(f"invalid platform {text!r}: expected PLATFORM-IMPL-PYVER-ABI")
        platform, implementation, version, abi = parts
        if implementation != "cp":
            raise ValueError(f"invalid platform {text!r}: only CPython ('cp') is supported")
        if not re.fullmatch(r"3(\.?\d+){1,2}", version):
            raise ValueError(f"invalid platform {text!r}: Python version must look like 3.11 or 311")
        if "." not in version:
            version = f"{version[0]}.{version[1:]}"
        return cls(text, platform, implementation, version, abi)

    @property
    def is_current(self) -> bool:
        return self.text == CURRENT

    @property
    def python_version(self) -> str:
        return ".".join(self.version.split(".")[:2])

    def pip_arguments(self) -> list[str]:
        """pip's options to resolve for this platform (nothing for the current one)."""
        if self.is_current:
            return []
        arguments = []
        for tag in platform_tags(self.platform):
            arguments += ["--platform", tag]
        return [
            *arguments,
            "--implementation",
            self.implementation,
            "--python-version",
            self.python_version,
            "--abi",
            self.abi,
            "--only-binary=:all:",
        ]

    def marker_environment(self) -> dict[str, str]:
        """PEP 508 marker variables as they would be on this platform."""
        environment = {key: str(value) for key, value in default_environment().items()}
        if self.is_current:
            return environment
        system, machine = _system_and_machine(self.platform)
        environment.update(
            {
                "implementation_name": "cpython",
                "platform_python_implementation": "CPython",
                "python_version": self.python_version,
                "python_full_version": self.version if self.version.count(".") == 2 else f"{self.version}.0",
                "implementation_version": self.version
                if self.version.count(".") == 2
                else f"{self.version}.0",
                "sys_platform": {"Linux": "linux", "Darwin": "darwin", "Windows": "win32"}.get(
                    system, system.lower()
                ),
                "platform_system": system,
                "os_name": "nt" if system == "Windows" else "posix",
                "platform_machine": machine,
                "platform_release": "",
                "platform_version": "",
            }
        )
        return environment


def platform_tags(platform: str) -> list[str]:
    """The wheel platform tags a machine of `platform` accepts, newest first, as pip would list them."""
    if platform.startswith("linux_"):
        arch = platform[len("linux_") :]
        return [*_manylinux_tags(_DEFAULT_GLIBC, arch), platform]
    match = _MANYLINUX.match(platform)
    if match:
        return _manylinux_tags((int(match.group(1)), int(match.group(2))), match.group(3))
    for legacy, glibc in _LEGACY_MANYLINUX.items():
        if platform.startswith(f"{legacy}_"):
            return _manylinux_tags(glibc, platform[len(legacy) + 1 :])
    return [platform]  # macOS versions are expanded by pip itself


def _manylinux_tags(glibc: tuple[int, int], arch: str) -> list[str]:
    tags = []
    for minor in range(glibc[1], 4, -1):
        tags.append(f"manylinux_2_{minor}_{arch}")
        tags += [f"{legacy}_{arch}" for legacy, version in _LEGACY_MANYLINUX.items() if version == (2, minor)]
    return tags


def _system_and_machine(platform: str) -> tuple[str, str]:
    if platform.startswith("macosx_"):
        return "Darwin", platform.rsplit("_", 1)[1].replace("universal2", "arm64")
    if platform.startswith("win"):
        return "Windows", "AMD64" if platform.endswith("amd64") else platform.partition("_")[2]
    for prefix in ("linux_", "musllinux_"):
        if platform.startswith(prefix):
            return "Linux", platform[len(prefix) :].split("_", 2)[-1] if prefix == "musllinux_" else platform[
                6:
            ]
    match = _MANYLINUX.match(platform)
    if match:
        return "Linux", match.group(3)
    for legacy in _LEGACY_MANYLINUX:
        if platform.startswith(f"{legacy}_"):
            return "Linux", platform[len(legacy) + 1 :]
    return platform, ""
