"""Resolve the closure with pip and gather one wheel per distribution, for every target platform.

Two steps, both through pip run by the build environment's interpreter, so that pip's own
configuration (`PIP_*` variables, pip.conf, netrc, keyring) keeps working:

1. `pip install --dry-run --ignore-installed --report` decides the closure (names, versions, the
   exact files and their sha256) without installing anything.
2. Files the report names that are not yet in the build cache are fetched with `pip wheel --no-deps`,
   which also builds wheels from sdist-only distributions, in pip's hash-checking mode: every file is
   compared with its sha256 before it is used, an sdist before its build backend runs. Wheels are
   cached by the sha256 of the file the index served, wheels built from sdists by the sdist's sha256
   and the interpreter that built them (buildcache.py), so a rebuild only pays for step 1.

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
import re
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from functools import partial
from typing import Callable, TypeVar
from urllib.parse import unquote, urlsplit

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name, parse_wheel_filename

from . import buildcache, progress
from .credentials import provide_credentials, without_credentials, work_subdirectory
from .diagnosis import Cause, causes, project_name
from .piprunner import pip_servers, quiet_arguments, resolution_arguments, run_pip
from .platforms import CURRENT, Platform, first_patch


class ResolveError(Exception):
    """pip could not produce the closure; the message is safe to show (credentials removed)."""

    #: Whether resolving natively, with an interpreter of the platform's version, could succeed.
    native_might_help = True
    #: The Requires-Python of the releases pip passed over for the platform's Python ("3.11.0"): a
    #: later patch release of that Python may be served by them (`later_release`).
    skipped_requires_python: tuple[str, ...] = ()
    #: Why, as the distinct causes pip's output gives (diagnosis.py); none: the message says it all.
    causes: tuple[Cause, ...] = ()
    #: Whether that attempt could use wheels only (on another Python's or machine's behalf).
    binary_only = False
    #: Whether no interpreter of the platform's version was found to resolve it natively.
    no_interpreter = False


class PlatformsFailed(ResolveError):
    """Platforms the file must serve failed: every failure, its causes said once for the versions they
    apply to (progress.failure_lines)."""

    def __init__(self, failures: dict[Platform, ResolveError], no_index: bool = False) -> None:
        self.failures = failures
        context = progress.FailureContext(no_index=no_index)
        super().__init__(
            progress.failures_message("The dependency closure could not be resolved", failures, context)
        )
        self.native_might_help = False


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

    @property
    def urls(self) -> list[str]:
        """The index and find-links URLs as configured (credentials included: never pass these on)."""
        return [*([self.index_url] if self.index_url else []), *self.extra_index_urls, *self.find_links]

    def credentials(self) -> AbstractContextManager[dict[str, str]]:
        """While open, pip and uv find the URLs' credentials in a private netrc file (credentials.py)."""
        return provide_credentials(self.urls)

    def pip_arguments(self) -> list[str]:
        """pip's options; URLs without their credentials, which pip reads from `credentials()`'s netrc."""
        return self._arguments(pre=["--pre"])

    def uv_arguments(self) -> list[str]:
        """The same settings for `uv pip compile` (only `pre` is spelled differently)."""
        return self._arguments(pre=["--prerelease", "allow"])

    def _arguments(self, *, pre: list[str]) -> list[str]:
        arguments: list[str] = []
        if self.index_url:
            arguments += ["--index-url", without_credentials(self.index_url)]
        for url in self.extra_index_urls:
            arguments += ["--extra-index-url", without_credentials(url)]
        for link in self.find_links:
            arguments += ["--find-links", without_credentials(link)]
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


# Where a wheel of the closure came from, costliest last: a wheel several platforms share counts once,
# as its costliest.
ON_DISK, CACHED, DOWNLOADED, BUILT = "on disk", "from the build cache", "downloaded", "built from sdists"
ORIGINS = (ON_DISK, CACHED, DOWNLOADED, BUILT)
PLATFORMS_RESOLVED = "platforms resolved"  # what the status line counts (progress.py)


@dataclass(frozen=True)
class Distribution:
    """One distribution of the closure, as a wheel file on disk."""

    name: str
    version: str
    wheel: str
    sha256: str
    #: Where the wheel came from for this build: ORIGINS' keys; the build's summary counts them.
    origin: str = field(default=CACHED, compare=False)
    #: The URL of the file its plan named (an index's file, a file: URL; credentials possible): where
    #: the SBOM says it came from.
    url: str = field(default="", compare=False)

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
    left_out: dict[Platform, ResolveError] = field(default_factory=dict)


Planner = Callable[[Platform, str], "list[PlannedFile] | None"]
T = TypeVar("T")


def for_each_platform(
    platforms: list[Platform],
    work: Callable[[Platform, str], T],
    *,
    work_dir: str,
    optional: frozenset[str] = frozenset(),
    find_python: Callable[[str], str | None] | None = None,
    no_index: bool = False,
) -> tuple[dict[Platform, T], dict[Platform, ResolveError]]:
    """`work(platform, its own directory)` for every platform, concurrently, in platform order; the
    directories are made inside `work_dir`, which must exist (it is never made again: see
    `work_subdirectory`).

    A local platform that fails on another Python's behalf is tried again natively by an interpreter
    of its version (`find_python`). Failures of platforms in `optional` (by text) are returned, as
    left out; if any other platform fails, PlatformsFailed names every failure (`no_index` for its
    words). A file that does not match its sha256 (IntegrityError) fails the build whichever platform
    needed it.
    """

    def attempt(number: int, platform: Platform) -> T:
        parent, name = work_dir, f"platform-{number}"
        while True:  # each retry serves a later patch release, or goes native once: it ends
            directory = work_subdirectory(parent, name)
            try:
                return work(platform, directory)
            except ResolveError as error:
                micro = later_release(platform, error.skipped_requires_python)
                if micro is not None:
                    # Nothing serves X.Y.0 (every release of something needs X.Y.5): serve X.Y.5 on.
                    platform = platform.from_micro(micro)
                    parent, name = directory, f"from-{platform.full_version}"
                    continue
                retry = platform.local_tags and not platform.is_native and error.native_might_help
                if not retry or find_python is None:
                    raise
                python = find_python(platform.python_version)
                if python is None:
                    error.no_interpreter = True
                    raise
                platform = platform.with_python(python)
                parent, name = directory, "native"

    results: dict[Platform, T] = {}
    failures: dict[Platform, ResolveError] = {}
    workers = max(1, min(len(platforms), (os.cpu_count() or 1) + 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(attempt, number, p) for number, p in enumerate(platforms)]
        for platform, future in zip(platforms, futures):
            try:
                results[platform] = result_in_slices(future)
            except IntegrityError:
                raise
            except ResolveError as error:
                failures[platform] = error
    if any(platform.text not in optional for platform in failures):
        raise PlatformsFailed(failures, no_index)
    return results, failures


def result_in_slices(future: Future[T]) -> T:
    """future.result(), waited for a tenth of a second at a time. A signal whose C handler ran just
    before one long wait began would not interrupt it: its Python handler (credentials.py: SIGTERM
    removes the scratch files, then ends the build) would run only once every resolution is done, and
    never against an index that does not answer. Between two slices it runs at once."""
    while True:
        try:
            return future.result(timeout=0.1)
        except FutureTimeout:
            continue


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
        progress.count(PLATFORMS_RESOLVED)
        return gather(plan, options, platform, platform_dir, cache, python)

    with options.credentials(), pip_servers(python):
        chosen, left_out = for_each_platform(
            platforms or [Platform.parse(CURRENT)],
            work,
            work_dir=work_dir,
            optional=optional,
            find_python=find_python,
            no_index=options.no_index,
        )
    distributions: dict[str, Distribution] = {}
    platform_sets: dict[str, list[str]] = {}
    for platform, wheels in chosen.items():
        for distribution in wheels:
            known = distributions.setdefault(distribution.filename, distribution)
            if ORIGINS.index(distribution.origin) > ORIGINS.index(known.origin):
                distributions[distribution.filename] = distribution
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
    """One wheel per planned distribution: from disk, from the build cache, or fetched through pip;
    every file with a sha256 checked against it before it is used or built (a cache slot that fails
    its checks is discarded and fetched or built again)."""
    found: dict[str, tuple[str, str]] = {}
    origins: dict[str, str] = {}
    to_fetch: list[PlannedFile] = []
    for item in plan:
        local = item.local_path
        if local and item.is_wheel and os.path.isfile(local):
            found[item.name] = (local, _verified_sha256(item, local, "on disk"))
            origins[item.name] = ON_DISK
            continue
        cached = _from_cache(item, cache, platform, python)
        if cached:
            found[item.name] = cached
            origins[item.name] = CACHED
        else:
            to_fetch.append(item)
    if to_fetch:
        wheels_dir = work_subdirectory(work_dir, "wheels")
        found.update(_fetch(to_fetch, options, platform, wheels_dir, cache, python))
        for item in to_fetch:
            origins[item.name] = DOWNLOADED if item.is_wheel else BUILT
            progress.count(f"wheels {origins[item.name]}")
    return [
        Distribution(item.name, item.version, *found[item.name], origins[item.name], item.url)
        for item in plan
    ]


def _verified_sha256(item: PlannedFile, path: str, where: str, hint: str = "") -> str:
    """The file's sha256, which must be the one the plan names (wheels; a wheel built from an
    sdist has no sha256 to match: pip compared the sdist's before building it)."""
    digest = sha256_of(path)
    if item.is_wheel and item.archive_sha256 and digest != item.archive_sha256:
        raise _mismatch(item, os.path.basename(path), where, digest, hint)
    return digest


def _mismatch(item: PlannedFile, filename: str, where: str, found: str, hint: str = "") -> IntegrityError:
    return IntegrityError(
        f"The file {filename} {where} for {item.name} {item.version} does not match "
        f"{item.origin} (expected sha256 {item.archive_sha256}, got {found}){hint}"
    )


def plan_with_pip(
    requirements: list[str],
    options: ResolveOptions,
    platform: Platform,
    *,
    work_dir: str,
    python: str = sys.executable,
) -> list[PlannedFile]:
    report_path = os.path.join(work_dir, "pip-report.json")
    arguments = [
        "install",
        "--dry-run",
        "--ignore-installed",
        "--report",
        report_path,
        *resolution_arguments(),
    ]
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


def _builder(platform: Platform, python: str) -> str | None:
    """The interpreter that builds this platform's wheels from sdists (None: nothing is built)."""
    return python if platform.is_current else platform.python


def _from_cache(item: PlannedFile, cache: str, platform: Platform, python: str) -> tuple[str, str] | None:
    """(wheel, sha256) from the build cache, checked (see buildcache.py), or None."""
    if not item.archive_sha256:
        return None
    if item.is_wheel:
        wheel = buildcache.cached_wheel(cache, item.archive_sha256)
        return (wheel, item.archive_sha256) if wheel else None
    builder = _builder(platform, python)
    interpreter = buildcache.interpreter_identity(builder) if builder else None
    return buildcache.cached_build(cache, item.archive_sha256, interpreter) if interpreter else None


def _to_cache(item: PlannedFile, wheel: str, digest: str, cache: str, platform: Platform, python: str) -> str:
    """Store a fetched (and checked) wheel in the build cache; the path to use from now on."""
    if not item.archive_sha256:
        return wheel
    if item.is_wheel:
        return buildcache.store_wheel(cache, item.archive_sha256, wheel) or wheel
    builder = _builder(platform, python)
    interpreter = buildcache.interpreter_identity(builder) if builder else None
    if interpreter is None:
        return wheel
    return buildcache.store_build(cache, item.archive_sha256, interpreter, wheel, digest) or wheel


def _fetch(
    items: list[PlannedFile],
    options: ResolveOptions,
    platform: Platform,
    wheels_dir: str,
    cache: str,
    python: str,
) -> dict[str, tuple[str, str]]:
    """Fetch `items` with pip; {name: (wheel path, sha256)}, each checked before it is cached.

    Files with a sha256 are fetched in pip's hash-checking mode (`--require-hashes`, from a
    requirements file): pip compares each download with its sha256 before it unpacks it, so an sdist
    that does not match is never built, its build backend never run. The others (local directories,
    VCS links: nothing to compare) in a call of their own, as hash-checking is all or nothing.
    """
    if platform.is_native:  # `pip wheel` also builds wheels from sdist-only distributions
        arguments = ["wheel", "--no-deps", "--wheel-dir", wheels_dir]
    else:  # another machine's wheels can only be downloaded, never built here
        arguments = ["download", "--no-deps", "--dest", wheels_dir, *platform.pip_arguments()]
    arguments += [*quiet_arguments(), *options.pip_arguments()]
    action = f"download or build the wheels{_for(platform)}"
    checked = [item for item in items if item.archive_sha256]
    if checked:
        requirements = os.path.join(os.path.dirname(wheels_dir), "hashed-requirements.txt")
        _write_private(requirements, "".join(f"{hashed_requirement(item)}\n" for item in checked))
        status, output = run_pip(python, [*arguments, "--require-hashes", "-r", requirements], platform)
        if status != 0:
            raise _hash_failure(output, checked) or _pip_failure(action, output, platform)
    unchecked = [_requirement(item) for item in items if not item.archive_sha256]
    if unchecked:
        status, output = run_pip(python, [*arguments, "--", *unchecked], platform)
        if status != 0:
            raise _pip_failure(action, output, platform)

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
        fetched[item.name] = (_to_cache(item, wheel, digest, cache, platform, python), digest)
    return fetched


def _requirement(item: PlannedFile) -> str:
    # Direct references (URLs, paths) are fetched from where the plan says; the rest by pin, from the
    # same indexes with the same options, so pip picks the same file again (its sha256 makes sure).
    return f"{item.name} @ {item.url}" if item.is_direct else f"{item.name}=={item.version}"


def hashed_requirement(item: PlannedFile) -> str:
    """A requirements-file line pinning the item to its file's sha256."""
    return f"{_requirement(item)} --hash=sha256:{item.archive_sha256}"


def _write_private(path: str, text: str) -> None:
    """Write a file only this user can read (it may hold URLs with credentials)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as stream:
        os.chmod(path, 0o600)  # an existing file keeps its mode through os.open
        stream.write(text)


@dataclass(frozen=True)
class HashMismatch:
    """One file pip refused in hash-checking mode: what it downloaded, and both sha256."""

    requirement: str
    url: str | None
    expected: tuple[str, ...]
    found: str


_MISMATCH_HEAD = "THESE PACKAGES DO NOT MATCH THE HASHES"
_MISMATCH_REQUIREMENT = re.compile(r"^ {4}(\S.*):\s*$")
_MISMATCH_EXPECTED = re.compile(r"^\s+Expected\s+(?:sha256|or)\s+([0-9a-f]{64})\s*$")
_MISMATCH_FOUND = re.compile(r"^\s+Got\s+([0-9a-f]{64})\s*$")
_MISMATCH_URL = re.compile(r"\sfrom\s+(\S+://\S+)")


def hash_mismatches(output: str) -> list[HashMismatch]:
    """The files pip's output says do not match their sha256 (`THESE PACKAGES DO NOT MATCH THE
    HASHES ...`, then per file its requirement, `Expected sha256 X` [`or Y`...] and `Got Z`)."""
    mismatches: list[HashMismatch] = []
    requirement: str | None = None
    expected: list[str] = []
    inside = False
    for line in output.splitlines():
        if _MISMATCH_HEAD in line:
            inside = True
            continue
        if not inside:
            continue
        if match := _MISMATCH_EXPECTED.match(line):
            expected.append(match.group(1))
        elif match := _MISMATCH_FOUND.match(line):
            if requirement is not None:
                url = _MISMATCH_URL.search(requirement)
                where = url.group(1) if url else None
                mismatches.append(HashMismatch(requirement, where, tuple(expected), match.group(1)))
            requirement, expected = None, []
        elif match := _MISMATCH_REQUIREMENT.match(line):
            requirement, expected = match.group(1), []
        elif line.strip() and not line.startswith(" "):
            inside = False  # another section of pip's output
    return mismatches


def _hash_failure(output: str, items: list[PlannedFile]) -> IntegrityError | None:
    """pip's hash mismatch as an IntegrityError naming each file, both sha256 and where the expected one
    came from; None when pip failed for another reason."""
    if _MISMATCH_HEAD not in output:
        return None
    problems = []
    for mismatch in hash_mismatches(output):
        candidates = [i for i in items if i.archive_sha256 in mismatch.expected]
        name = project_name(mismatch.requirement)
        item = next((i for i in candidates if i.name == name), candidates[0] if candidates else None)
        if item is None:
            continue
        url = mismatch.url or item.url
        filename = unquote(urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]) or url
        hint = (
            "; the index serves a different file under that name"
            if item.is_wheel
            else "; it was not built: no code of it ran"
        )
        problems.append(str(_mismatch(item, filename, "downloaded", mismatch.found, hint)))
    if not problems:
        reasons = "; ".join(cause.detail or cause.subject for cause in causes(output))
        return IntegrityError(f"A downloaded file does not match its sha256: {reasons}")
    return IntegrityError(" ".join(problems))


def _pip_failure(action: str, output: str, platform: Platform | None) -> ResolveError:
    """pip's failure, with its causes (diagnosis.py) for the build's report."""
    error = ResolveError()
    error.causes = causes(output)
    error.binary_only = platform is not None and not platform.is_native
    # An index that cannot be reached or refuses is no closer natively: say so now.
    error.native_might_help = not any(cause.is_index_failure for cause in error.causes)
    error.skipped_requires_python = skipped_requires_python(output)
    # Its message, for where it is shown alone (a lock's build); the build's report words its causes anew.
    sentences = progress.cause_sentences(error, platform, progress.FailureContext())
    error.args = (f"pip could not {action}: {'; '.join(sentences)}",)
    return error


def _for(platform: Platform) -> str:
    return "" if platform.text == CURRENT else f" for {platform.description}"


def _run_pip(python: str, arguments: list[str], *, action: str, platform: Platform | None = None) -> None:
    status, output = run_pip(python, arguments, platform)
    if status != 0:
        raise _pip_failure(action, output, platform)


_SKIPPED_HEAD = "Ignored the following versions that require a different python version:"
_SKIPPED_ITEM = re.compile(r"(\S+) Requires-Python ([^;]+)")
_REFUSED = re.compile(r"requires a different Python: \S+ not in '([^']+)'")


def skipped_requires_python(output: str) -> tuple[str, ...]:
    """The Requires-Python of each release pip passed over (`Ignored the following versions that
    require a different python version: 13.0 Requires-Python >=3.11.5; ...`, or, for the one release
    a requirement allows, `Package 'x' requires a different Python: 3.11.0 not in '>=3.11.5'`)."""
    found: dict[str, None] = {}
    for line in output.splitlines():
        _, head, items = line.partition(_SKIPPED_HEAD)
        if head:
            found.update((match.group(2).strip(), None) for match in _SKIPPED_ITEM.finditer(items))
        found.update((match.group(1).strip(), None) for match in _REFUSED.finditer(line))
    return tuple(found)


def later_release(platform: Platform, skipped: tuple[str, ...]) -> int | None:
    """The lowest later patch release of a local platform's Python that a passed-over release serves
    (5, for `>=3.11.5` on 3.11.0), or None: then no later patch release would resolve differently."""
    if not platform.local_tags:
        return None
    micros = []
    for text in skipped:
        try:
            specifier = SpecifierSet(text)
        except InvalidSpecifier:
            continue
        if specifier.contains(platform.full_version, prereleases=True):
            continue  # it was passed over for another reason
        admitted = partial(specifier.contains, prereleases=True)
        micro = first_patch(platform.python_version, platform.micro + 1, admitted)
        if micro is not None:
            micros.append(micro)
    return min(micros, default=None)


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
