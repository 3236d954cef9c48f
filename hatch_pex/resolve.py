"""Resolve the closure with pip and gather one wheel per distribution.

Two steps, both through pip run by the build environment's interpreter, so that pip's own
configuration (`PIP_*` variables, pip.conf, netrc, keyring) keeps working:

1. `pip install --dry-run --ignore-installed --report` decides the closure (names, versions, the
   exact files and their sha256) without installing anything.
2. Files the report names that are not yet in the build cache are fetched with `pip wheel --no-deps`,
   which also builds wheels from sdist-only distributions. Wheels are cached by the sha256 of the file
   the index served, so a rebuild only pays for step 1.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import unquote, urlsplit

from packaging.utils import canonicalize_name, parse_wheel_filename

from .platforms import CURRENT, Platform
from .redact import redact


class ResolveError(Exception):
    """pip could not produce the closure; the message is safe to show (credentials removed)."""


@dataclass(frozen=True)
class ResolveOptions:
    """What pip needs to know besides the requirements."""

    index_url: str | None = None
    extra_index_urls: list[str] = field(default_factory=list)
    find_links: list[str] = field(default_factory=list)
    no_index: bool = False
    pre: bool = False
    only_binary: list[str] = field(default_factory=list)
    no_binary: list[str] = field(default_factory=list)
    requirements_files: list[str] = field(default_factory=list)
    constraints_files: list[str] = field(default_factory=list)

    def pip_arguments(self) -> list[str]:
        return self._arguments(pre=["--pre"])

    def uv_arguments(self) -> list[str]:
        """The same settings for `uv pip compile` (only `pre` is spelled differently)."""
        return self._arguments(pre=["--prerelease", "allow"])

    def _arguments(self, *, pre: list[str]) -> list[str]:
        arguments: list[str] = []
        if self.index_url:
            arguments += ["--index-url", self.index_url]
        for url in self.extra_index_urls:
            arguments += ["--extra-index-url", url]
        for link in self.find_links:
            arguments += ["--find-links", link]
        if self.no_index:
            arguments.append("--no-index")
        if self.pre:
            arguments += pre
        if self.only_binary:
            arguments += ["--only-binary", ",".join(self.only_binary)]
        if self.no_binary:
            arguments += ["--no-binary", ",".join(self.no_binary)]
        for path in self.constraints_files:
            arguments += ["--constraint", path]
        return arguments


@dataclass(frozen=True)
class Distribution:
    """One distribution of the closure, as a wheel file on disk."""

    name: str
    version: str
    wheel: str
    sha256: str

    @property
    def filename(self) -> str:
        return os.path.basename(self.wheel)


@dataclass(frozen=True)
class PlannedFile:
    """One distribution of a closure as decided (by pip's report, or read from a lock), not yet fetched."""

    name: str
    version: str
    url: str
    archive_sha256: str | None
    is_direct: bool
    origin: str = "the sha256 pip reported while resolving"

    @property
    def is_wheel(self) -> bool:
        return urlsplit(self.url).path.endswith(".whl")

    @property
    def local_path(self) -> str | None:
        parts = urlsplit(self.url)
        return unquote(parts.path) if parts.scheme == "file" else None


def default_build_cache() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "hatch-pex", "build")


@dataclass(frozen=True)
class Closure:
    """Every wheel needed, and which of them make up each platform's set."""

    distributions: list[Distribution]
    platform_sets: dict[str, list[str]]


def resolve(
    requirements: list[str],
    options: ResolveOptions,
    *,
    work_dir: str,
    platforms: list[Platform] | None = None,
    planner: Callable[[Platform, str], list[PlannedFile]] | None = None,
    cache_dir: str | None = None,
    python: str = sys.executable,
) -> Closure:
    """Resolve `requirements` for each platform (default: the build interpreter's own).

    `planner`, when given, decides each platform's closure instead of pip (a lock, or uv); the
    files are fetched and checked the same way. A wheel chosen for several platforms (pure Python,
    typically) is stored once.
    """
    cache = cache_dir or default_build_cache()
    distributions: dict[str, Distribution] = {}
    platform_sets: dict[str, list[str]] = {}
    for number, platform in enumerate(platforms or [Platform.parse(CURRENT)]):
        platform_dir = os.path.join(work_dir, f"platform-{number}")
        os.makedirs(platform_dir, exist_ok=True)
        plan = planner(platform, platform_dir) if planner else None
        if plan is None:
            plan = plan_with_pip(requirements, options, platform, work_dir=platform_dir, python=python)
        chosen = gather(plan, options, platform, platform_dir, cache, python)
        for distribution in chosen:
            distributions.setdefault(distribution.filename, distribution)
        platform_sets[platform.text] = sorted(d.filename for d in chosen)
    ordered = sorted(distributions.values(), key=lambda d: (d.name, d.filename))
    return Closure(ordered, platform_sets)


def gather(
    plan: list[PlannedFile],
    options: ResolveOptions,
    platform: Platform,
    work_dir: str,
    cache: str,
    python: str,
) -> list[Distribution]:
    """One wheel per planned distribution: from disk, from the cache, or fetched through pip; every
    one checked against the sha256 its plan names (a cached copy that fails is fetched again)."""
    found: dict[str, tuple[str, str]] = {}
    to_fetch: list[PlannedFile] = []
    for item in plan:
        local = item.local_path
        if local and item.is_wheel and os.path.isfile(local):
            found[item.name] = (local, _verified_sha256(item, local, "on disk"))
            continue
        cached = _cached_wheel(item, cache)
        digest = sha256_of(cached) if cached else None
        if cached and digest and (not item.is_wheel or digest == item.archive_sha256):
            found[item.name] = (cached, digest)
            continue
        if cached:  # damaged in the cache: drop the slot, download again
            shutil.rmtree(os.path.dirname(cached), ignore_errors=True)
        to_fetch.append(item)
    if to_fetch:
        wheels_dir = os.path.join(work_dir, "wheels")
        os.makedirs(wheels_dir, exist_ok=True)
        found.update(_fetch(to_fetch, options, platform, wheels_dir, cache, python))
    return [Distribution(item.name, item.version, *found[item.name]) for item in plan]


def _verified_sha256(item: PlannedFile, path: str, where: str, hint: str = "") -> str:
    """The file's sha256, which must be the one the plan names (wheels; a wheel built from an
    sdist has no sha256 to match)."""
    digest = sha256_of(path)
    if item.is_wheel and item.archive_sha256 and digest != item.archive_sha256:
        raise ResolveError(
            f"The file {os.path.basename(path)} {where} for {item.name} {item.version} does not match "
            f"{item.origin} (expected sha256 {item.archive_sha256}, got {digest}){hint}"
        )
    return digest


def plan_with_pip(
    requirements: list[str],
    options: ResolveOptions,
    platform: Platform,
    *,
    work_dir: str,
    python: str = sys.executable,
) -> list[PlannedFile]:
    report_path = os.path.join(work_dir, "pip-report.json")
    arguments = ["install", "--dry-run", "--ignore-installed", "--report", report_path, "--quiet"]
    arguments += options.pip_arguments() + platform.pip_arguments()
    for path in options.requirements_files:
        arguments += ["--requirement", path]
    arguments += ["--", *requirements]
    _run_pip(python, arguments, action=f"resolve the requirements{_for(platform)}")
    with open(report_path, encoding="utf-8") as stream:
        report = json.load(stream)
    plan = []
    for entry in report.get("install", []):
        download = entry.get("download_info", {})
        hashes = download.get("archive_info", {}).get("hashes", {})
        plan.append(
            PlannedFile(
                name=str(canonicalize_name(entry["metadata"]["name"])),
                version=entry["metadata"]["version"],
                url=download.get("url", ""),
                archive_sha256=hashes.get("sha256"),
                is_direct=bool(entry.get("is_direct")),
            )
        )
    return plan


def _cache_slot(cache: str, item: PlannedFile) -> str | None:
    if not item.archive_sha256:
        return None
    # A wheel built from an sdist depends on the interpreter that built it.
    kind = "wheels" if item.is_wheel else f"built-{sys.implementation.cache_tag}"
    return os.path.join(cache, kind, item.archive_sha256)


def _cached_wheel(item: PlannedFile, cache: str) -> str | None:
    slot = _cache_slot(cache, item)
    if slot and os.path.isdir(slot):
        wheels = [name for name in os.listdir(slot) if name.endswith(".whl")]
        if len(wheels) == 1:
            return os.path.join(slot, wheels[0])
    return None


def _fetch(
    items: list[PlannedFile],
    options: ResolveOptions,
    platform: Platform,
    wheels_dir: str,
    cache: str,
    python: str,
) -> dict[str, tuple[str, str]]:
    """Fetch `items` with pip; {name: (wheel path, sha256)}, each checked before it is cached."""
    specs = []
    for item in items:
        # Direct references (URLs, paths) are fetched from where the report says; the rest by pin,
        # from the same indexes with the same options, so pip picks the same file again.
        specs.append(f"{item.name} @ {item.url}" if item.is_direct else f"{item.name}=={item.version}")
    if platform.is_current:  # `pip wheel` also builds wheels from sdist-only distributions
        arguments = ["wheel", "--no-deps", "--wheel-dir", wheels_dir]
    else:  # another machine's wheels can only be downloaded, never built here
        arguments = ["download", "--no-deps", "--dest", wheels_dir, *platform.pip_arguments()]
    arguments += ["--quiet", *options.pip_arguments()]
    _run_pip(python, [*arguments, "--", *specs], action=f"download or build the wheels{_for(platform)}")

    by_name: dict[str, str] = {}
    for filename in os.listdir(wheels_dir):
        if filename.endswith(".whl"):
            name = str(canonicalize_name(parse_wheel_filename(filename)[0]))
            by_name[name] = os.path.join(wheels_dir, filename)
    fetched = {}
    for item in items:
        wheel = by_name.get(item.name)
        if wheel is None:
            raise ResolveError(f"pip did not produce a wheel for {item.name} {item.version}")
        digest = _verified_sha256(
            item, wheel, "downloaded", "; the index serves a different file under that name"
        )
        fetched[item.name] = (_store_in_cache(item, wheel, cache) or wheel, digest)
    return fetched


def _store_in_cache(item: PlannedFile, wheel: str, cache: str) -> str | None:
    """Copy `wheel` into its cache slot atomically; return the cached path, or None if not cacheable."""
    slot = _cache_slot(cache, item)
    if slot is None:
        return None
    if os.path.isdir(slot):
        return _cached_wheel(item, cache)
    try:
        os.makedirs(os.path.dirname(slot), exist_ok=True)
        staging = tempfile.mkdtemp(prefix=".tmp-", dir=os.path.dirname(slot))
        shutil.copy2(wheel, os.path.join(staging, os.path.basename(wheel)))
        try:
            os.rename(staging, slot)
        except OSError:  # another build stored it first
            shutil.rmtree(staging, ignore_errors=True)
    except OSError:
        return None  # an unwritable cache only costs speed
    return os.path.join(slot, os.path.basename(wheel))


def _for(platform: Platform) -> str:
    return "" if platform.is_current else f" for platform {platform.text}"


def _run_pip(python: str, arguments: list[str], *, action: str) -> None:
    command = [python, "-m", "pip", *arguments]
    environment = dict(os.environ)
    environment.setdefault("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    environment["PYTHONIOENCODING"] = "utf-8"
    result = subprocess.run(
        command, stdin=subprocess.DEVNULL, capture_output=True, text=True, env=environment, check=False
    )
    if result.returncode != 0:
        raise ResolveError(f"pip could not {action}: {_reason(result.stderr + result.stdout)}")


def _reason(output: str) -> str:
    """pip's own explanation, credentials removed: its ERROR lines, and why the index was unreachable."""
    lines = [line.strip() for line in redact(output).splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR:")]
    unreachable = [
        line
        for line in lines
        if "Retrying" in line
        or "Failed to establish a new connection" in line
        or "Connection refused" in line
    ]
    chosen = (unreachable[-1:] if unreachable else []) + errors
    if not chosen:
        chosen = lines[-8:]
    if any("(from versions: none)" in line for line in errors) and not unreachable:
        chosen.append(
            "(no index offered any version: check the project name, and that the index is reachable)"
        )
    return " ".join(chosen) or "pip failed without saying why"


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
