"""Wheel file names: parsing them, and choosing the wheels an interpreter runs (docs/format.md): the first
platform set of `platform_distributions` that fits whole, else per project the best ranked wheel."""

from __future__ import annotations

from .specifiers import InvalidSpecifier, SpecifierSet

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence


class WheelName:
    """`{name}-{version}(-{build})?-{python}-{abi}-{platform}.whl`, compressed tag sets expanded."""

    def __init__(self, filename: str) -> None:
        if not filename.endswith(".whl"):
            raise ValueError(f"not a wheel file name: {filename!r}")
        parts = filename[:-4].split("-")
        if len(parts) not in (5, 6):
            raise ValueError(f"not a wheel file name: {filename!r}")
        self.filename = filename
        self.name = parts[0]
        self.project = normalize(parts[0])
        self.version = parts[1]
        self.build = parts[2] if len(parts) == 6 else ""
        pythons, abis, platforms = parts[-3:]
        self.tags = frozenset(
            f"{py}-{abi}-{plat}"
            for py in pythons.split(".")
            for abi in abis.split(".")
            for plat in platforms.split(".")
        )

    def rank(self, tag_rank: dict[str, int]) -> int | None:
        """Index of this wheel's best tag in the supported list (lower is better); None: unusable."""
        ranks = [tag_rank[tag] for tag in self.tags if tag in tag_rank]
        return min(ranks) if ranks else None


def normalize(project: str) -> str:
    """PEP 503 normalisation, so "Markup_Safe" and "markup-safe" group together."""
    out = []
    last_sep = False
    for char in project.lower():
        if char in "-_.":
            if not last_sep:
                out.append("-")
            last_sep = True
        else:
            out.append(char)
            last_sep = False
    return "".join(out)


def select(filenames: Iterable[str], supported: Sequence[str]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Returns ({project: best wheel}, {project without a usable wheel: [its wheels]}).

    Ties (same best tag) go to the file name that sorts first, so the choice is stable.
    """
    tag_rank: dict[str, int] = {}
    for index, tag in enumerate(supported):
        tag_rank.setdefault(tag, index)
    best: dict[str, tuple[int, str]] = {}
    seen: dict[str, list[str]] = {}
    for filename in sorted(filenames):
        wheel = WheelName(filename)
        seen.setdefault(wheel.project, []).append(filename)
        rank = wheel.rank(tag_rank)
        if rank is not None and (wheel.project not in best or rank < best[wheel.project][0]):
            best[wheel.project] = (rank, filename)
    chosen = {project: filename for project, (_, filename) in best.items()}
    missing = {project: names for project, names in seen.items() if project not in chosen}
    return chosen, missing


def python_fits(requires_python: str | None, version: str) -> bool:
    """A wheel's Requires-Python against the interpreter version (an invalid one restricts nothing)."""
    if not requires_python:
        return True
    try:
        return SpecifierSet(requires_python).contains(version)
    except InvalidSpecifier:
        return True


def platform_python(platform: str) -> str:
    """ "3.9" of a PEX platform string `PLATFORM-cp-3.9-cp39` (or `...-cp-39-...`); "" otherwise."""
    parts = platform.split("-")
    if len(parts) != 4:
        return ""
    version = parts[2] if "." in parts[2] else f"{parts[2][:1]}.{parts[2][1:]}"
    return ".".join(version.split(".")[:2])


def choose(
    distributions: Iterable[str],
    supported: Sequence[str],
    version: str,
    requires_python: Mapping[str, str],
    platforms: Sequence[str] = (),
    platform_sets: Mapping[str, Sequence[str]] | None = None,
) -> tuple[dict[str, str], list[str]]:
    """({project: wheel}, why nothing fits); an empty problem list means every project has its wheel."""
    tag_rank = {tag: index for index, tag in reversed(list(enumerate(supported)))}

    def problem(filename: str) -> str | None:
        if WheelName(filename).rank(tag_rank) is None:
            return f"{filename} does not match its tags"
        if not python_fits(requires_python.get(filename), version):
            return f"{filename} requires Python {requires_python[filename]}"
        return None

    if platform_sets:
        order = [p for p in platforms if p in platform_sets] + sorted(set(platform_sets) - set(platforms))
        running = ".".join(version.split(".")[:2])
        order.sort(key=lambda p: platform_python(p) != running)  # stable: the set made for this version first
        refused = []
        for platform in order:
            problems = [p for p in map(problem, platform_sets[platform]) if p]
            if not problems:
                return {WheelName(f).project: f for f in platform_sets[platform]}, []
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            refused.append(f"platform {platform}: {problems[0]}{more}")
        return {}, refused
    chosen, _ = select([f for f in distributions if python_fits(requires_python.get(f), version)], supported)
    by_project: dict[str, list[str]] = {}
    for filename in sorted(distributions):
        by_project.setdefault(WheelName(filename).project, []).append(filename)
    return chosen, [
        f"no compatible wheel for {project} (the pex has {', '.join(names)})"
        for project, names in sorted(by_project.items())
        if project not in chosen
    ]
