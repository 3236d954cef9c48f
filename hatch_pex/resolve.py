"""Resolve the closure with pip and gather one wheel per distribution, for every target platform.

Two steps, both through pip run by the build environment's interpreter, so that pip's own
configuration (`PIP_*` variables, pip.conf, netrc, keyring) keeps working:

1. `pip install --dry-run --ignore-installed --report` decides the closure (names, versions, the
   exact files and their sha256) without installing anything.
2. Files the report names that are not yet in the build cache are fetched with `pip wheel --no-deps`,
   which also builds wheels from sdist-only distributions. Wheels are cached by the sha256 of the file
   the index served, so a rebuild only pays for step 1.

Platforms resolve concurrently. A platform that is not the build interpreter's resolves on its
behalf (`--python-version/--platform/--abi`, wheels only), with pip's marker environment set to that
platform's: pip alone would evaluate `tomli; python_version < "3.11"` for the build interpreter. A
local platform that fails so (an sdist-only dependency) is resolved again natively by an interpreter
of its version, found on this machine, which can build the sdist. How pip itself is run (a few
long-lived pip processes, the marker environment) is piprunner.py's business.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, TypeVar
from urllib.parse import unquote, urlsplit

from packaging.utils import canonicalize_name, parse_wheel_filename

from .piprunner import pip_servers, run_pip
from .platforms import CURRENT, Platform
from .redact import redact


class ResolveError(Exception):
    """pip could not produce the closure; the message is safe to show (credentials removed)."""

    #: Whether resolving natively, with an interpreter of the platform's version, could succeed.
    native_might_help = True


class IntegrityError(ResolveError):
    """A file does not match the sha256 its plan names: the build fails, whatever version needed it."""

    native_might_help = False


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
    """Every wheel needed, which of them make up each platform's set, and the platforms left out
    (platform text -> why)."""

    distributions: list[Distribution]
    platform_sets: dict[str, list[str]]
    left_out: dict[str, str] = field(default_factory=dict)


Planner = Callable[[Platform, str], "list[PlannedFile] | None"]
T = TypeVar("T")


def for_each_platform(
    platforms: list[Platform],
    work: Callable[[Platform, str], T],
    *,
    work_dir: str,
    optional: frozenset[str] = frozenset(),
    find_python: Callable[[str], str | None] | None = None,
) -> tuple[dict[Platform, T], dict[str, str]]:
    """`work(platform, its own directory)` for every platform, concurrently, in platform order.

    A local platform that fails on another Python's behalf is tried again natively by an interpreter
    of its version (`find_python`). A failure of a platform in `optional` (by text) is returned as
    left out; any other failure is raised.
    """

    def attempt(number: int, platform: Platform) -> T:
        directory = os.path.join(work_dir, f"platform-{number}")
        os.makedirs(directory, exist_ok=True)
        try:
            return work(platform, directory)
        except ResolveError as error:
            retry = platform.local_tags and not platform.is_native and error.native_might_help
            if not retry or find_python is None:
                raise
            python = find_python(platform.python_version)
            if python is None:
                raise ResolveError(
                    f"{error} (and no Python {platform.python_version} interpreter was found on this "
                    f"machine to build from source: see PATH, pyenv, uv or PEX_PYTHON_PATH)"
                ) from None
            native = os.path.join(directory, "native")
            os.makedirs(native, exist_ok=True)
            return work(platform.with_python(python), native)

    results: dict[Platform, T] = {}
    left_out: dict[str, str] = {}
    workers = max(1, min(len(platforms), (os.cpu_count() or 1) + 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(attempt, number, p) for number, p in enumerate(platforms)]
        for platform, future in zip(platforms, futures):
            try:
                results[platform] = future.result()
            except ResolveError as error:
                if platform.text not in optional or isinstance(error, IntegrityError):
                    raise
                left_out[platform.text] = str(error)
    return results, left_out


def resolve(
    requirements: list[str],
    options: ResolveOptions,
    *,
    work_dir: str,
    platforms: list[Platform] | None = None,
    planner: Planner | None = None,
    cache_dir: str | None = None,
    python: str = sys.executable,
    optional: frozenset[str] = frozenset(),
    find_python: Callable[[str], str | None] | None = None,
) -> Closure:
    """Resolve `requirements` for each platform (default: the build interpreter's own).

    `planner`, when given, decides each platform's closure instead of pip (a lock, or uv); the
    files are fetched and checked the same way. A wheel chosen for several platforms (pure Python,
    typically) is stored once. `optional` and `find_python` as in `for_each_platform`.
    """
    cache = cache_dir or default_build_cache()

    def work(platform: Platform, platform_dir: str) -> list[Distribution]:
        plan = planner(platform, platform_dir) if planner else None
        if plan is None:
            plan = plan_with_pip(requirements, options, platform, work_dir=platform_dir, python=python)
        return gather(plan, options, platform, platform_dir, cache, python)

    with pip_servers(python):
        chosen, left_out = for_each_platform(
            platforms or [Platform.parse(CURRENT)],
            work,
            work_dir=work_dir,
            optional=optional,
            find_python=find_python,
        )
    distributions: dict[str, Distribution] = {}
    platform_sets: dict[str, list[str]] = {}
    for platform, wheels in chosen.items():
        for distribution in wheels:
            distributions.setdefault(distribution.filename, distribution)
        platform_sets[platform.text] = sorted(d.filename for d in wheels)
    ordered = sorted(distributions.values(), key=lambda d: (d.name, d.filename))
    return Closure(ordered, platform_sets, left_out)


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
        cached = _cached_wheel(item, cache, platform)
        try:
            digest = sha256_of(cached) if cached else None
        except OSError:  # platforms resolve concurrently: another one is replacing a damaged copy
            cached = digest = None
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
        raise IntegrityError(
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
    _run_pip(python, arguments, action=f"resolve the requirements{_for(platform)}", platform=platform)
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


def _cache_slot(cache: str, item: PlannedFile, platform: Platform) -> str | None:
    if not item.archive_sha256:
        return None
    # A wheel built from an sdist depends on the interpreter (version) that built it.
    builder = sys.implementation.cache_tag if platform.is_current else f"cpython-{platform.abi[2:]}"
    kind = "wheels" if item.is_wheel else f"built-{builder}"
    return os.path.join(cache, kind, item.archive_sha256)


def _cached_wheel(item: PlannedFile, cache: str, platform: Platform) -> str | None:
    slot = _cache_slot(cache, item, platform)
    try:
        wheels = [name for name in os.listdir(slot) if name.endswith(".whl")] if slot else []
    except OSError:  # not cached, or being replaced by another platform's thread
        return None
    return os.path.join(slot, wheels[0]) if slot and len(wheels) == 1 else None


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
    if platform.is_native:  # `pip wheel` also builds wheels from sdist-only distributions
        arguments = ["wheel", "--no-deps", "--wheel-dir", wheels_dir]
    else:  # another machine's wheels can only be downloaded, never built here
        arguments = ["download", "--no-deps", "--dest", wheels_dir, *platform.pip_arguments()]
    arguments += ["--quiet", *options.pip_arguments()]
    _run_pip(
        python,
        [*arguments, "--", *specs],
        action=f"download or build the wheels{_for(platform)}",
        platform=platform,
    )

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
        fetched[item.name] = (_store_in_cache(item, wheel, cache, platform) or wheel, digest)
    return fetched


def _store_in_cache(item: PlannedFile, wheel: str, cache: str, platform: Platform) -> str | None:
    """Copy `wheel` into its cache slot atomically; return the cached path, or None if not cacheable."""
    slot = _cache_slot(cache, item, platform)
    if slot is None:
        return None
    if os.path.isdir(slot):
        return _cached_wheel(item, cache, platform)
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
    return "" if platform.text == CURRENT else f" for {platform.description}"


def _run_pip(python: str, arguments: list[str], *, action: str, platform: Platform | None = None) -> None:
    status, output = run_pip(python, arguments, platform)
    if status != 0:
        binary_only = platform is not None and not platform.is_native
        raise ResolveError(f"pip could not {action}: {_reason(output, binary_only)}")


def _reason(output: str, binary_only: bool = False) -> str:
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
    if "ERROR: Exception:" in errors and lines:  # pip crashed: its traceback's last line says why
        chosen.append(lines[-1])
    if not chosen:
        chosen = lines[-8:]
    if any("(from versions: none)" in line for line in errors) and not unreachable:
        chosen.append(
            "(no index offered a wheel for it: on another Python's or machine's behalf only wheels can "
            "be used)"
            if binary_only
            else "(no index offered any version: check the project name, and that the index is reachable)"
        )
    return " ".join(chosen) or "pip failed without saying why"


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
