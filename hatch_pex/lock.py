"""PEP 751 locks (`pylock.toml`): write one from resolved closures, read one back into a plan.

A build from a lock does no resolution: for each target platform it keeps the packages whose
marker holds there, takes the wheel whose tags suit that platform best, and checks every file
against the lock's sha256. The lock carries, under `[tool.hatch-pex]`, a hash of the inputs it was
made from, so a lock made before the project's dependencies changed is reported, not used.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from dataclasses import dataclass, field
from typing import Any

from packaging.markers import InvalidMarker, Marker
from packaging.tags import Tag, compatible_tags, cpython_tags, mac_platforms, sys_tags
from packaging.utils import canonicalize_name, parse_wheel_filename

from .platforms import Platform
from .redact import strip_credentials
from .resolve import PlannedFile, ResolveError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.9/3.10 build environments
    import tomli as tomllib

LOCK_NAME = re.compile(r"^pylock(\.[^.]+)?\.toml$")


class LockError(ResolveError):
    """The lock is missing, malformed, stale, or lacks what a platform needs."""


@dataclass(frozen=True)
class LockedFile:
    url: str
    sha256: str

    @property
    def filename(self) -> str:
        return self.url.rstrip("/").rsplit("/", 1)[-1]


@dataclass(frozen=True)
class LockedPackage:
    name: str
    version: str
    marker: str | None
    wheels: list[LockedFile] = field(default_factory=list)
    sdist: LockedFile | None = None


@dataclass(frozen=True)
class Lock:
    path: str
    packages: list[LockedPackage]
    inputs_hash: str | None
    #: The CPython versions of this machine's kind it was written for (hatch-pex's own locks; None:
    #: every version, as for a universal lock).
    python_versions: list[str] | None = None

    def covers(self, platform: Platform) -> bool:
        if self.python_versions is None or not platform.local_tags:
            return True
        return platform.python_version in self.python_versions


def inputs_hash(inputs: dict[str, Any]) -> str:
    """A stable hash of what a lock was made from (dependencies, settings; never credentials)."""
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def read_lock(path: str) -> Lock:
    name = os.path.basename(path)
    try:
        with open(path, "rb") as stream:
            document = tomllib.load(stream)
    except FileNotFoundError:
        raise LockError(f"The lock {name} does not exist; create it with `hatch build -t pex:lock`") from None
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise LockError(f"The lock {name} cannot be read: {error}") from None
    if str(document.get("lock-version", "")).split(".")[0] != "1":
        raise LockError(
            f"The lock {name} has lock-version {document.get('lock-version')!r}; only 1.x is supported"
        )
    packages = []
    for number, entry in enumerate(document.get("packages", []), 1):
        try:
            packages.append(_package(entry))
        except (KeyError, TypeError, ValueError) as error:
            raise LockError(f"Package #{number} of the lock {name} is malformed: {error}") from None
    tool = document.get("tool", {}).get("hatch-pex", {})
    versions = tool.get("python-versions")
    return Lock(path, packages, tool.get("inputs-hash"), [str(v) for v in versions] if versions else None)


def _package(entry: dict[str, Any]) -> LockedPackage:
    def file_of(item: dict[str, Any]) -> LockedFile:
        url = item.get("url") or item.get("path")
        sha256 = item.get("hashes", {}).get("sha256")
        if not url or not sha256:
            raise ValueError(f"{entry.get('name')}: every file needs a url (or path) and a sha256 hash")
        return LockedFile(str(url), str(sha256))

    marker = entry.get("marker")
    if marker is not None:
        try:
            Marker(marker)
        except InvalidMarker as error:
            raise ValueError(f"{entry.get('name')}: invalid marker {marker!r} ({error})") from None
    sdist = entry.get("sdist")
    return LockedPackage(
        name=str(canonicalize_name(entry["name"])),
        version=str(entry["version"]),
        marker=marker,
        wheels=[file_of(item) for item in entry.get("wheels", [])],
        sdist=file_of(sdist) if sdist else None,
    )


def unsatisfied(lock: Lock, requirements: list[str], platform: Platform) -> list[str]:
    """Requirements (whose markers hold on `platform`) that no package of the lock satisfies there.

    This catches a stale lock from any tool; hatch-pex's own locks also carry an inputs hash.
    """
    from packaging.requirements import Requirement

    environment = platform.marker_environment()
    versions: dict[str, list[str]] = {}
    for package in lock.packages:
        if not package.marker or Marker(package.marker).evaluate(environment):
            versions.setdefault(package.name, []).append(package.version)
    missing = []
    for text in requirements:
        requirement = Requirement(text)
        if requirement.marker and not requirement.marker.evaluate(environment):
            continue
        candidates = versions.get(str(canonicalize_name(requirement.name)), [])
        if not any(requirement.specifier.contains(v, prereleases=True) for v in candidates):
            missing.append(text)
    return missing


def plan_from_lock(lock: Lock, platform: Platform) -> list[PlannedFile]:
    """The files `platform` needs, one per package whose marker holds there."""
    if not lock.covers(platform):
        error = LockError(
            f"the lock {os.path.basename(lock.path)} was not written for {platform.description} "
            f"(it covers Python {', '.join(lock.python_versions or [])})"
        )
        error.native_might_help = False
        raise error
    environment = platform.marker_environment()
    tags = {tag: rank for rank, tag in enumerate(supported_tags(platform))}
    origin = f"the sha256 recorded in the lock {os.path.basename(lock.path)}"
    plan = []
    for package in lock.packages:
        if package.marker and not Marker(package.marker).evaluate(environment):
            continue
        chosen = _best_wheel(package, tags)
        if chosen is None and package.sdist is not None and platform.is_native:
            chosen = package.sdist  # built into a wheel by pip, by an interpreter of that version
        if chosen is None:
            offered = ", ".join(w.filename for w in package.wheels) or "no wheels"
            if package.sdist is not None:
                offered += f", sdist {package.sdist.filename}"
            raise LockError(
                f"The lock {os.path.basename(lock.path)} has no wheel of {package.name} {package.version} "
                f"for {platform.description} (it offers: {offered})"
            )
        plan.append(PlannedFile(package.name, package.version, chosen.url, chosen.sha256, True, origin))
    return plan


def _best_wheel(package: LockedPackage, tags: dict[Tag, int]) -> LockedFile | None:
    ranked = []
    for wheel in package.wheels:
        ranks = [tags[tag] for tag in parse_wheel_filename(wheel.filename)[3] if tag in tags]
        if ranks:
            ranked.append((min(ranks), wheel.filename, wheel))
    return min(ranked)[2] if ranked else None


def supported_tags(platform: Platform) -> list[Tag]:
    """Wheel tags a platform accepts, best first (for `current`, the build interpreter's own)."""
    if platform.is_current:
        return list(sys_tags())
    version = tuple(int(part) for part in platform.python_version.split("."))
    platforms = platform.platform_tag_list()
    if platform.platform.startswith("macosx_") and not platform.local_tags:
        _, major, minor, arch = platform.platform.split("_", 3)
        platforms = list(mac_platforms((int(major), int(minor)), arch))
    interpreter = f"cp{version[0]}{version[1]}"
    return [
        *cpython_tags(version, abis=[platform.abi], platforms=platforms),
        *compatible_tags(version, interpreter=interpreter, platforms=platforms),
    ]


def write_lock(
    path: str,
    plans: dict[Platform, list[PlannedFile]],
    *,
    requires_python: str | None,
    inputs: str,
    python_versions: list[str] | None = None,
) -> str:
    """Write the union of each platform's plan as a PEP 751 lock; return the path."""
    by_package: dict[tuple[str, str], dict[str, Any]] = {}
    for platform, plan in plans.items():
        for item in plan:
            entry = by_package.setdefault(
                (item.name, item.version), {"wheels": {}, "sdist": None, "platforms": []}
            )
            entry["platforms"].append(platform)
            if not item.archive_sha256:
                raise LockError(
                    f"{item.name} {item.version} has no sha256 from its index, so it cannot be locked"
                )
            locked = LockedFile(strip_credentials(item.url), item.archive_sha256)
            if item.is_wheel:
                entry["wheels"][locked.filename] = locked
            else:
                entry["sdist"] = locked
    lines = [
        "# Written by hatch-pex (`hatch build -t pex:lock`): the closure of the pex target, per platform.",
        'lock-version = "1.0"',
        'created-by = "hatch-pex"',
    ]
    if requires_python:
        lines.append(f"requires-python = {_toml(requires_python)}")
    for (name, version), entry in sorted(by_package.items()):
        lines += ["", "[[packages]]", f"name = {_toml(name)}", f"version = {_toml(version)}"]
        if len(entry["platforms"]) < len(plans):
            lines.append(f"marker = {_toml(_marker_for(entry['platforms']))}")
        if entry["sdist"]:
            lines.append(f"sdist = {_file_table(entry['sdist'])}")
        if entry["wheels"]:
            wheels = ",\n".join(f"  {_file_table(w)}" for _, w in sorted(entry["wheels"].items()))
            lines.append(f"wheels = [\n{wheels},\n]")
    lines += ["", "[tool.hatch-pex]", f"inputs-hash = {_toml(inputs)}"]
    if python_versions is not None:
        lines.append(f"python-versions = [{', '.join(_toml(v) for v in python_versions)}]")
    lines.append("")
    partial = f"{path}.partial-{os.getpid()}"
    with open(partial, "w", encoding="utf-8") as stream:
        stream.write("\n".join(lines))
    os.replace(partial, path)
    return path


def _marker_for(platforms: list[Platform]) -> str:
    """A marker that holds on exactly these platforms (as far as markers can tell them apart)."""
    keys = ("sys_platform", "platform_machine", "python_version")
    clauses = []
    for platform in platforms:
        environment = platform.marker_environment()
        clauses.append(" and ".join(f"{key} == {json.dumps(environment[key])}" for key in keys))
    unique = sorted(set(clauses))
    return unique[0] if len(unique) == 1 else " or ".join(f"({clause})" for clause in unique)


def _file_table(locked: LockedFile) -> str:
    key = "url" if "://" in locked.url else "path"
    hashes = f"{{ sha256 = {_toml(locked.sha256)} }}"
    return f"{{ name = {_toml(locked.filename)}, {key} = {_toml(locked.url)}, hashes = {hashes} }}"


def _toml(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string
