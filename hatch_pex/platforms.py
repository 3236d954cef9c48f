"""Target platforms in PEX's string form, `PLATFORM-IMPL-PYVER-ABI`, e.g. `linux_x86_64-cp-3.11-cp311`.

A platform becomes pip's `--platform/--implementation/--python-version/--abi` options for
resolving on another machine's behalf, and a PEP 508 marker environment for evaluating markers
(pip's, a lock's) as that machine would.

`current` means this machine: one *local* platform per CPython minor version the file serves
(`KNOWN_PYTHON_VERSIONS` within the interpreter constraints), each with this machine's own platform
tags. A served minor means every patch release of it the constraints admit, so each is resolved for
its lowest admitted release (3.11.0, or 3.11.5 under `>=3.11.5`): its Requires-Python checks and
`python_full_version` markers never see the build interpreter's own patch level, and every version,
the build interpreter's own included, resolves the same way whichever interpreter builds: on its
behalf, or natively through an interpreter of that version when an sdist must be built.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

from packaging.markers import default_environment
from packaging.specifiers import SpecifierSet
from packaging.version import Version

CURRENT = "current"
#: Every CPython minor version a .pex can serve, oldest first: the runtime's floor (3.9) up to the
#: newest CPython release. The one list to extend when a new CPython is released (docs/configuration.md).
KNOWN_PYTHON_VERSIONS = ("3.9", "3.10", "3.11", "3.12", "3.13", "3.14", "3.15")
#: The highest patch release considered when asking which releases of a minor version a specifier admits.
LAST_MICRO = 99
# PEX's abbreviated `linux_<arch>` means "a manylinux2014 (glibc 2.17) machine", as here.
_DEFAULT_GLIBC = (2, 17)
_MANYLINUX = re.compile(r"^manylinux_(\d+)_(\d+)_(.+)$")
_LEGACY_MANYLINUX = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}


@dataclass(frozen=True)
class Platform:
    """A target machine: a foreign one parsed from PEX's form, or a local one (this machine at some
    CPython version; `python` names an interpreter that resolves it natively, sdists included)."""

    text: str
    platform: str = ""
    implementation: str = ""
    version: str = ""
    abi: str = ""
    local_tags: tuple[str, ...] = ()
    python: str | None = None
    #: A local platform's lowest patch release served (3.11.5 -> 5): what it is resolved for.
    micro: int = 0

    @classmethod
    def local(cls, version: str, micro: int = 0) -> Platform:
        """This machine at CPython `version` (e.g. "3.9"), from patch release `micro` on; resolved on
        its behalf (any version, the build interpreter's own too), natively only to build sdists."""
        tags = machine_platform_tags()
        nodot = version.replace(".", "")
        # Named after the plain `linux_<arch>` tag where there is one: readable, and PEX's own form.
        name = next((tag for tag in tags if tag.startswith("linux_")), tags[0])
        return cls(f"{name}-cp-{version}-cp{nodot}", name, "cp", version, f"cp{nodot}", tags, micro=micro)

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
        """Resolved by the build interpreter itself, as it would install."""
        return self.text == CURRENT or self.python == sys.executable

    @property
    def is_native(self) -> bool:
        """Resolved by an interpreter of its own version, which can build sdists."""
        return self.is_current or self.python is not None

    @property
    def python_version(self) -> str:
        if self.text == CURRENT:
            return build_python_version()
        return ".".join(self.version.split(".")[:2])

    @property
    def full_version(self) -> str:
        """The release resolved for: "3.11.0" (or "3.11.5" from `micro`), or the platform string's own
        full version ("3.9.18"). Requires-Python and `python_full_version` are evaluated for it."""
        if self.text == CURRENT:
            return ".".join(str(part) for part in sys.version_info[:3])
        if self.version.count(".") == 2:
            return self.version
        return f"{self.version}.{self.micro}"

    @property
    def description(self) -> str:
        """How messages name it: "Python 3.9" for a local platform, else the PEX string."""
        return f"Python {self.python_version}" if self.local_tags else f"platform {self.text}"

    def with_python(self, python: str) -> Platform:
        """The same local platform, resolved natively by `python`."""
        return dataclasses.replace(self, python=python)

    def from_micro(self, micro: int) -> Platform:
        """The same local platform, served from patch release `micro` on."""
        return dataclasses.replace(self, micro=micro)

    def platform_tag_list(self) -> list[str]:
        return list(self.local_tags) if self.local_tags else platform_tags(self.platform)

    def pip_arguments(self) -> list[str]:
        """pip's options to resolve for this platform (nothing when resolved natively)."""
        if self.is_native:
            return []
        arguments = []
        for tag in self.platform_tag_list():
            arguments += ["--platform", tag]
        return [
            *arguments,
            "--implementation",
            self.implementation,
            "--python-version",
            self.full_version,
            "--abi",
            self.abi,
            "--only-binary=:all:",
        ]

    def marker_environment(self) -> dict[str, str]:
        """PEP 508 marker variables as they would be on this platform."""
        environment = {key: str(value) for key, value in default_environment().items()}
        if self.text == CURRENT:
            return environment
        full_version = self.full_version
        if self.local_tags:  # this machine: only the Python differs (natively too: not its patch level)
            environment.update(
                {"python_version": self.python_version, "python_full_version": full_version,
                 "implementation_version": full_version}
            )  # fmt: skip
            return environment
        system, machine = _system_and_machine(self.platform)
        environment.update(
            {
                "implementation_name": "cpython",
                "platform_python_implementation": "CPython",
                "python_version": self.python_version,
                "python_full_version": full_version,
                "implementation_version": full_version,
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


def version_key(version: str) -> tuple[int, ...]:
    """Sorts "3.9" before "3.10"."""
    return tuple(int(part) for part in version.split("."))


def build_python_version() -> str:
    return f"{sys.version_info[0]}.{sys.version_info[1]}"


@lru_cache(maxsize=1)
def machine_platform_tags() -> tuple[str, ...]:
    """This machine's wheel platform tags, in packaging's order (linux_<arch> and manylinux_2_X down to
    2_5 with their legacy aliases, on Linux)."""
    from packaging.tags import platform_tags as running_platform_tags

    return tuple(dict.fromkeys(running_platform_tags()))


def served_versions(constraints: list[str], requested: list[str] | None) -> list[str]:
    """The known CPython versions (or those `requested`) that the constraints admit: a version is
    admitted when some release of it satisfies one of them (an empty list admits everything)."""
    candidates = requested if requested is not None else list(KNOWN_PYTHON_VERSIONS)
    return [v for v in candidates if not constraints or any(admits(c, v) for c in constraints)]


def first_patch(version: str, start: int, admitted: Callable[[str], bool]) -> int | None:
    """The lowest patch release of minor `version` ("3.11"), from `start` on, whose full version
    ("3.11.5") `admitted` accepts; None when none up to LAST_MICRO does."""
    return next((m for m in range(start, LAST_MICRO + 1) if admitted(f"{version}.{m}")), None)


def lowest_release(constraints: list[str], version: str) -> int:
    """The lowest patch release of minor `version` that one of the constraints admits (3 for ">=3.11.3";
    0 without constraints): what a local platform of that version is resolved for."""
    specs = [SpecifierSet(constraint) for constraint in constraints]
    found = first_patch(
        version, 0, lambda release: not specs or any(s.contains(release, prereleases=True) for s in specs)
    )
    return found if found is not None else 0


def first_release_served(requires_python: list[str], version: str, micro: int) -> int:
    """The lowest patch release of minor `version`, from `micro` on, that every Requires-Python admits:
    `micro` itself unless some wheel needs a later one (">=3.11.5" -> 5). `micro` when none would do."""
    specs = [SpecifierSet(text) for text in requires_python]
    found = first_patch(
        version, micro, lambda release: all(s.contains(release, prereleases=True) for s in specs)
    )
    return found if found is not None else micro


def admits(constraint: str, version: str) -> bool:
    """Whether any release of minor `version` ("3.12") satisfies `constraint` (">=3.12.1,<3.13")."""
    spec = SpecifierSet(constraint)
    return any(spec.contains(release, prereleases=True) for release in _releases(spec, version))


def _holds_throughout(constraint: str, versions: list[str], first: dict[str, int]) -> bool:
    """Whether every release served of these minor versions (from `first`'s patch release on)
    satisfies `constraint` (so it says nothing more)."""
    spec = SpecifierSet(constraint)
    releases = [release for v in versions for release in _releases(spec, v, first.get(v, 0))]
    return all(spec.contains(release, prereleases=True) for release in releases)


def _releases(spec: SpecifierSet, version: str, first: int = 0) -> list[str]:
    """Releases of minor `version` (from patch release `first` on) that tell a specifier's answer
    apart: the first, a late x.y.99, and the micro versions around any bound the specifier names."""
    minor = Version(version)
    micros = {first, LAST_MICRO}
    for item in spec:
        bound = Version(item.version.rstrip(".*"))
        if bound.release[:2] == minor.release[:2] and len(bound.release) > 2:
            micros |= {max(bound.release[2] - 1, 0), bound.release[2], bound.release[2] + 1}
    return [f"{version}.{micro}" for micro in sorted(micros) if micro >= first]


def narrowed_constraints(
    constraints: list[str], versions: list[str], first: dict[str, int] | None = None
) -> list[str]:
    """The constraints, restricted to the minor versions `versions` (each run of consecutive known
    versions becomes one range), as PEX-INFO records them: the runtime admits only what is served.
    `first` names the versions served from a later patch release than X.Y.0 ({"3.11": 5}); each
    starts a range of its own (">=3.11.5")."""
    first = first or {}
    runs: list[list[str]] = []
    for version in KNOWN_PYTHON_VERSIONS:
        if version not in versions:
            continue
        if runs and runs[-1][-1] == _previous(version) and not first.get(version):
            runs[-1].append(version)
        else:
            runs.append([version])
    narrowed = []
    for run in runs:
        major, minor = run[-1].split(".")
        start = f"{run[0]}.{first[run[0]]}" if first.get(run[0]) else run[0]
        window = f">={start},<{major}.{int(minor) + 1}"
        for constraint in constraints or [""]:
            if not constraint:
                narrowed.append(window)
            elif any(admits(constraint, version) for version in run):
                kept = [str(s) for s in SpecifierSet(constraint) if not _holds_throughout(str(s), run, first)]
                narrowed.append(str(SpecifierSet(window) & SpecifierSet(",".join(kept))))
    return list(dict.fromkeys(narrowed))


def _previous(version: str) -> str:
    index = KNOWN_PYTHON_VERSIONS.index(version)
    return KNOWN_PYTHON_VERSIONS[index - 1] if index else ""


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
