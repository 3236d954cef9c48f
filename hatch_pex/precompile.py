"""Bytecode compiled at build time (`compile-bytecode`): for each wheel and each CPython version asked
for, a zip of the code of the wheel's modules, which a first start on that version reads instead of
compiling the sources (bootstrap/precompiled.py). docs/format.md describes the members.

Each bundle is compiled by an interpreter of its version (pythons.py finds it; none found fails the
build, so that the file does not depend on what a build machine happens to have) in a process of its
own, with hash randomization off and the members sorted, written with fixed timestamps and modes: the
same wheel compiled by the same CPython release gives the same bytes. Bundles are filed in the build
cache under the wheel's sha256 and the interpreter (buildcache.py), so a rebuild compiles nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import zipfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from . import buildcache
from .archive import BYTECODE_DIR, Member
from .bootstrap.extract import target_path
from .bootstrap.log import BootError
from .resolve import sha256_of

PEX_INFO_KEY = "bytecode"
# The bundles' layout: one member per module, named like the source's path in the cache entry,
# holding marshal.dumps of its code object, deflated. A new layout gets a new number.
BUNDLE_FORMAT = 1
# The compiler holds a source and its syntax tree whole: one larger than this (generated tables, a zip
# bomb) is not compiled at build time.
MAX_SOURCE = 32 << 20

# Run by the interpreter of the version compiled (any CPython from 3.9): job on stdin, counts on stdout.
_WORKER = r"""
import importlib.util, json, marshal, sys, zipfile
job = json.load(sys.stdin)
stamp = tuple(job["date_time"])
modules = 0
with zipfile.ZipFile(job["wheel"]) as wheel, zipfile.ZipFile(job["output"], "x") as bundle:
    for member, relative in job["modules"]:
        try:
            code = compile(wheel.read(member), relative, "exec", dont_inherit=True, optimize=0)
        except (SyntaxError, ValueError):  # as pip's compileall: compiled (or failing) at import
            continue
        info = zipfile.ZipInfo(relative, stamp)
        info.external_attr, info.create_system = 0o644 << 16, 3
        bundle.writestr(info, marshal.dumps(code), zipfile.ZIP_DEFLATED, 6)
        modules += 1
print(json.dumps({"cache_tag": sys.implementation.cache_tag, "magic": importlib.util.MAGIC_NUMBER.hex(),
                  "modules": modules}))
"""
_DATE_TIME = (1980, 1, 1, 0, 0, 0)


class BytecodeError(Exception):
    """Bytecode asked for cannot be compiled (no interpreter of that version, a failed worker)."""


@dataclass(frozen=True)
class Bundle:
    """The compiled modules of one wheel for one interpreter version."""

    wheel_filename: str
    cache_tag: str  # "cpython-311"
    magic: str  # the interpreter's importlib MAGIC_NUMBER, hex
    path: str
    sha256: str

    @property
    def member_name(self) -> str:
        return f"{BYTECODE_DIR}/{self.cache_tag}/{self.wheel_filename}"


def modules_of(wheel: str) -> list[tuple[str, str]]:
    """[(wheel member, its path in the cache entry)] of every .py file the extraction puts on
    sys.path: the top and `.data/purelib|platlib`, not scripts, headers or other `.data` files. A
    source larger than MAX_SOURCE is left to be compiled at import, as it would be without bundles."""
    found = []
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            if info.is_dir() or not info.filename.endswith(".py") or info.file_size > MAX_SOURCE:
                continue
            try:
                relative = target_path(info.filename)
            except BootError as exc:  # the runtime would refuse to unpack it too
                raise BytecodeError(f"{os.path.basename(wheel)}: {exc}") from None
            top = relative.split("/", 1)[0]
            if not (top.endswith(".data") or top.endswith(".dist-info")):
                found.append((info.filename, relative))
    return sorted(found, key=lambda pair: pair[1])


def compile_bundles(
    jobs: Sequence[tuple[str, str, str]],
    find_python: Callable[[str], str | None],
    cache: str | None,
    work_dir: str,
    field: str,
) -> list[Bundle]:
    """Bundles for `jobs` [(version, wheel path, its sha256)], taken from the build cache or compiled,
    several at once (one process each)."""
    pythons: dict[str, str] = {}
    for version in sorted({version for version, _, _ in jobs}):
        python = find_python(version)
        if python is None:
            raise BytecodeError(
                f"Field `{field}` asks for bytecode for CPython {version}, but no CPython {version} was "
                f"found on this machine (PEX_PYTHON_PATH, PATH, pyenv or uv): install it, or leave "
                f"{version} out of the field"
            )
        pythons[version] = python
    os.makedirs(os.path.join(work_dir, BYTECODE_DIR), exist_ok=True)

    def one(job: tuple[str, str, str]) -> Bundle | None:
        version, wheel, sha256 = job
        return _bundle(pythons[version], wheel, sha256, cache, work_dir)

    ordered = sorted(jobs, key=lambda job: -os.path.getsize(job[1]))  # the largest first: the shortest run
    with ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as pool:
        return [bundle for bundle in pool.map(one, ordered) if bundle is not None]


def _bundle(python: str, wheel: str, sha256: str, cache: str | None, work_dir: str) -> Bundle | None:
    """One wheel's bundle for `python`; None when the wheel has no module to compile."""
    modules = modules_of(wheel)
    if not modules:
        return None
    identity = buildcache.interpreter_identity(python)
    if cache and identity:
        cached = buildcache.cached_bytecode(cache, sha256, identity, BUNDLE_FORMAT)
        if cached is not None:
            path, digest, recorded = cached
            return Bundle(os.path.basename(wheel), recorded["cache_tag"], recorded["magic"], path, digest)
    output = os.path.join(work_dir, BYTECODE_DIR, f"{sha256}-{os.path.basename(python)}.zip")
    job = {"wheel": wheel, "output": output, "modules": modules, "date_time": _DATE_TIME}
    try:
        result = subprocess.run(
            [python, "-I", "-c", _WORKER], input=json.dumps(job), capture_output=True, text=True,
            env={**os.environ, "PYTHONHASHSEED": "0"}, check=False,
        )  # fmt: skip
        described = json.loads(result.stdout) if result.returncode == 0 else None
    except (OSError, ValueError) as exc:
        raise BytecodeError(f"cannot compile {os.path.basename(wheel)} with {python}: {exc}") from None
    if not isinstance(described, dict):
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise BytecodeError(f"compiling {os.path.basename(wheel)} with {python} failed: {last}")
    digest = sha256_of(output)
    if cache and identity:
        output = (
            buildcache.store_bytecode(cache, sha256, identity, BUNDLE_FORMAT, output, digest, described)
            or output
        )
    return Bundle(os.path.basename(wheel), described["cache_tag"], described["magic"], output, digest)


def members(bundles: Sequence[Bundle]) -> list[Member]:
    """The bundles as members of the .pex: stored (their own members are deflated)."""
    return [Member(b.member_name, source=b.path, compress=False, digest=b.sha256) for b in bundles]


def pex_info(bundles: Sequence[Bundle]) -> dict[str, dict[str, object]]:
    """PEX-INFO's `bytecode`: {cache tag: {"magic": hex, "wheels": [file names]}}; the members'
    sha256 are in `member_hashes`, with every other member's."""
    described: dict[str, dict[str, object]] = {}
    for bundle in sorted(bundles, key=lambda b: (b.cache_tag, b.wheel_filename)):
        entry = described.setdefault(bundle.cache_tag, {"magic": bundle.magic, "wheels": []})
        if entry["magic"] != bundle.magic:
            raise BytecodeError(
                f"two interpreters of {bundle.cache_tag} with different bytecode magic numbers"
            )
        wheels = entry["wheels"]
        assert isinstance(wheels, list)
        wheels.append(bundle.wheel_filename)
    return described
