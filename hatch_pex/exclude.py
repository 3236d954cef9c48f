"""`exclude`: leave distributions out of the file, with every distribution only they need (PEX's
`--exclude`).

The closure is resolved in full first (pip, uv or a lock decide it as usual); then, for each platform
the file serves, the graph of its wheels' `Requires-Dist` is walked from the project's own requirements
(the project with its features, `requirements`, the lines of `requirements-files`, the dependency
groups) with that platform's marker environment: once as resolved, once never entering an excluded
distribution. What the first walk reaches and the second does not is left out of that platform's set,
with the excluded distributions; what neither reaches stays (the resolver had its reasons). A
distribution of the set that no other one requires at all is a requirement of the project's too (pip
installs nothing else), so it starts both walks: a requirements-file line naming a bare URL cannot be
lost that way.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)

from .platforms import Platform
from .resolve import Closure, Distribution
from .wheel import wheel_metadata

_OPTION = re.compile(r"\s-{1,2}[A-Za-z]")


@dataclass(frozen=True)
class Pruned:
    """The closure without the excluded distributions, and per platform what was left out."""

    closure: Closure
    #: {platform text: sorted names left out there (the excluded ones and what only they need)}
    left_out: dict[str, list[str]]
    #: the excluded names some platform's closure held
    found: set[str]


def prune(
    closure: Closure, platforms: Sequence[Platform], roots: Sequence[str], excluded: Iterable[str]
) -> Pruned:
    """`closure` with `excluded` (canonical names) and whatever only they need left out of each
    platform's set; a wheel no set keeps any more leaves the file."""
    excluded = {str(canonicalize_name(name)) for name in excluded}
    sets: dict[str, list[str]] = {}
    left_out: dict[str, list[str]] = {}
    found: set[str] = set()
    for platform, distributions, requires in platform_closures(closure, platforms):
        environment = platform.marker_environment()
        before = set(walk(distributions, requires, roots, set(), environment))
        after = set(walk(distributions, requires, roots, excluded, environment))
        gone = (before - after) | excluded
        sets[platform.text] = sorted(d.filename for d in distributions if d.name not in gone)
        left_out[platform.text] = sorted({d.name for d in distributions if d.name in gone})
        found |= excluded & {d.name for d in distributions}
    used = {filename for filenames in sets.values() for filename in filenames}
    pruned = Closure([d for d in closure.distributions if d.filename in used], sets, dict(closure.left_out))
    return Pruned(pruned, left_out, found)


def platform_closures(
    closure: Closure, platforms: Sequence[Platform]
) -> Iterator[tuple[Platform, list[Distribution], dict[str, list[Requirement]]]]:
    """Each platform the file serves, with its set's distributions and {wheel: its Requires-Dist} (each
    wheel's METADATA read once, whatever the number of platforms sharing it)."""
    by_filename = {d.filename: d for d in closure.distributions}
    requires: dict[str, list[Requirement]] = {}
    for platform in platforms:
        filenames = closure.platform_sets.get(platform.text)
        if filenames is None:
            continue  # left out of the file
        distributions = [by_filename[name] for name in filenames]
        for distribution in distributions:
            if distribution.wheel not in requires:
                requires[distribution.wheel] = requires_dist(distribution.wheel)
        yield platform, distributions, requires


def walk(
    distributions: Sequence[Distribution],
    requires: Mapping[str, list[Requirement]],
    roots: Sequence[str],
    excluded: set[str],
    environment: Mapping[str, str],
) -> dict[str, set[str]]:
    """{name: extras requested of it} of the distributions the walk from `roots` reaches without
    entering an excluded one (markers evaluated in `environment`, extras followed)."""
    by_name = {d.name: d for d in distributions}
    reached: dict[str, set[str]] = {}
    queue: list[str] = []

    def reach(requirement: Requirement) -> None:
        name = str(canonicalize_name(requirement.name))
        if name in excluded or name not in by_name:
            return
        extras = {str(canonicalize_name(extra)) for extra in requirement.extras}
        known = reached.get(name)
        if known is not None and extras <= known:
            return
        reached[name] = (known or set()) | extras
        queue.append(name)

    for requirement in starting_points(distributions, requires, roots, environment):
        reach(requirement)
    while queue:
        name = queue.pop()
        extras = reached[name]
        for requirement in requires[by_name[name].wheel]:
            if holds(requirement.marker, environment, extras):
                reach(requirement)
    return reached


def starting_points(
    distributions: Sequence[Distribution],
    requires: Mapping[str, list[Requirement]],
    roots: Sequence[str],
    environment: Mapping[str, str],
) -> list[Requirement]:
    """Where a walk starts: the `roots` whose marker holds in `environment`, then every distribution
    no other one requires (pip installs nothing else, so the roots asked for it)."""
    starts = [r for r in map(Requirement, roots) if holds(r.marker, environment, ())]
    required = {
        str(canonicalize_name(r.name))
        for d in distributions
        for r in requires[d.wheel]
        if str(canonicalize_name(r.name)) != d.name
    }
    return starts + [Requirement(d.name) for d in distributions if d.name not in required]


def holds(marker: Marker | None, environment: Mapping[str, str], extras: Iterable[str]) -> bool:
    """Whether a requirement's marker holds with no extra or any of `extras` requested."""
    if marker is None:
        return True
    return any(marker.evaluate({**environment, "extra": extra}) for extra in ("", *extras))


def requires_dist(wheel: str) -> list[Requirement]:
    """The `Requires-Dist` of a wheel's METADATA (lines that do not parse are skipped)."""
    headers = wheel_metadata(wheel)
    requirements = []
    for value in (headers.get_all("Requires-Dist") if headers is not None else None) or []:
        try:
            requirements.append(Requirement(value))
        except InvalidRequirement:
            continue
    return requirements


def requirements_file_lines(paths: Sequence[str]) -> list[str]:
    """The requirements pip reads from requirements files (`-r` followed; options, constraints and
    lines naming no project left out; a URL or path to a wheel or sdist gives its project's name)."""
    found: list[str] = []
    seen: set[str] = set()

    def read(path: str) -> None:
        path = os.path.normpath(path)
        if path in seen:
            return
        seen.add(path)
        try:
            with open(path, encoding="utf-8") as stream:
                text = stream.read()
        except OSError:
            return
        for line in re.sub(r"\\\r?\n", " ", text).splitlines():
            line = re.sub(r"(^|\s)#.*$", "", line).strip()
            if not line:
                continue
            if line.startswith("-"):
                option, _, value = line.replace("=", " ", 1).partition(" ")
                if option in ("-r", "--requirement") and value.strip():
                    read(os.path.join(os.path.dirname(path), value.strip()))
                continue
            line = _OPTION.split(line, 1)[0].strip()  # per-requirement options: --hash=...
            try:
                found.append(str(Requirement(line)))
            except InvalidRequirement:
                name = _name_in_url(line)
                if name:
                    found.append(name)

    for path in paths:
        read(path)
    return found


def _name_in_url(text: str) -> str | None:
    filename = unquote(urlsplit(text).path.rstrip("/").rsplit("/", 1)[-1])
    try:
        if filename.endswith(".whl"):
            return str(parse_wheel_filename(filename)[0])
        return str(parse_sdist_filename(filename)[0])
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None
