"""The build cache (`default_build_cache()`): wheels downloaded, filed under their own sha256, and wheels
built from sdists, filed under the sdist's sha256 and the interpreter that built them.

    <cache>/wheels/<wheel sha256>/<name>.whl
    <cache>/built/<sha256 of (sdist sha256, interpreter identity)>/<name>.whl + build.json
    <cache>/bytecode/<sha256 of (wheel sha256, interpreter identity, format)>/<name>.zip + build.json

Every slot is checked before it is used: a downloaded wheel's sha256 is recomputed against its slot's
name; a built wheel's `build.json` must name the same sdist sha256 and interpreter, and the wheel's
sha256 is recomputed against the one recorded there. A slot failing a check is discarded (and the file
fetched or built again).

Nothing is read that another user could have written: the cache root must pass the runtime's rule for
a cache root (`trusted_root`, docs/security.md: owned by this user or root and writable by nobody else,
no directory on the way to it that anybody else could replace or write into, no symlink anybody else
could have placed) and is then used as the path it resolved to; every directory and file below it
must be owned by this user or root, writable by nobody else, and not a symlink. A slot that fails is
ignored like a missing one. What is written there is never group- or world-writable: directories 0755
and files 0644 at most, the umask applied, each slot staged in a private directory and renamed into
place whole.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
from functools import cache
from typing import Any

from .bootstrap import owned
from .bootstrap.trust import create, make_dirs, open_owned, restrict, trusted_path, trusted_root

WHEELS = "wheels"
BUILT = "built"
BYTECODE = "bytecode"
RECORD = "build.json"


# What identifies the interpreter that builds a wheel: a wheel built by another is not reused.
_IDENTITY_CODE = (
    "import json, platform, sys, sysconfig; print(json.dumps({"
    "'implementation': sys.implementation.name, 'version': platform.python_version(), "
    "'abi': sysconfig.get_config_var('SOABI') or sysconfig.get_config_var('EXT_SUFFIX') or '', "
    "'platform': sysconfig.get_platform()}))"
)


def _own_identity() -> dict[str, str]:
    return {
        "implementation": sys.implementation.name,
        "version": platform.python_version(),
        "abi": sysconfig.get_config_var("SOABI") or sysconfig.get_config_var("EXT_SUFFIX") or "",
        "platform": sysconfig.get_platform(),
    }


@cache
def interpreter_identity(python: str) -> tuple[tuple[str, str], ...] | None:
    """Implementation, version, ABI and platform of `python` (None if it cannot say)."""
    if python == sys.executable:
        return tuple(sorted(_own_identity().items()))
    try:
        result = subprocess.run(
            [python, "-I", "-c", _IDENTITY_CODE],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        described = json.loads(result.stdout) if result.returncode == 0 else None
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    if not isinstance(described, dict):
        return None
    return tuple(sorted((str(key), str(value)) for key, value in described.items()))


def built_key(sdist_sha256: str, interpreter: tuple[tuple[str, str], ...]) -> str:
    """The slot of a wheel built from the sdist with this sha256 by this interpreter."""
    described = {"sdist_sha256": sdist_sha256, "interpreter": dict(interpreter)}
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()


# Reading ------------------------------------------------------------------------------------------


def cached_wheel(cache: str, sha256: str) -> str | None:
    """The downloaded wheel filed under `sha256`, if it is there, trusted, and still has that sha256."""
    slot = _readable_slot(cache, WHEELS, sha256)
    if slot is None:
        return None
    wheel = _slot_wheel(slot)
    if wheel is None or _owned_sha256(wheel) != sha256:
        discard(slot)
        return None
    return wheel


def cached_build(
    cache: str, sdist_sha256: str, interpreter: tuple[tuple[str, str], ...]
) -> tuple[str, str] | None:
    """(wheel, its sha256) built from the sdist with `sdist_sha256` by `interpreter`, if a trusted
    slot holds it and its record and sha256 check out."""
    slot = _readable_slot(cache, BUILT, built_key(sdist_sha256, interpreter))
    if slot is None:
        return None
    wheel = _slot_wheel(slot)
    record = _owned_json(os.path.join(slot, RECORD)) if wheel else None
    if wheel and record_matches(record, sdist_sha256, interpreter, os.path.basename(wheel)):
        digest = _owned_sha256(wheel)
        if digest is not None and record is not None and digest == record.get("wheel_sha256"):
            return wheel, digest
    discard(slot)
    return None


def record_matches(
    record: Any, sdist_sha256: str, interpreter: tuple[tuple[str, str], ...], wheel_name: str
) -> bool:
    """Whether a built slot's record names this sdist, this interpreter and this wheel."""
    return (
        isinstance(record, dict)
        and record.get("sdist_sha256") == sdist_sha256
        and record.get("interpreter") == dict(interpreter)
        and record.get("wheel") == wheel_name
        and isinstance(record.get("wheel_sha256"), str)
    )


def _readable_slot(cache: str, kind: str, key: str) -> str | None:
    """The slot's path (under the root resolved) if it exists below a trusted root and kind directory
    (else None)."""
    root = trusted_cache(cache)
    if root is None:
        return None
    slot = os.path.join(root, kind, key)
    if not os.path.lexists(slot) or not _owned_dir(os.path.join(root, kind)):
        return None
    return slot


def _slot_wheel(slot: str, suffix: str = ".whl") -> str | None:
    """The one wheel (or other file ending in `suffix`) of a trusted slot directory."""
    if not _owned_dir(slot):
        return None
    try:
        wheels = [name for name in os.listdir(slot) if name.endswith(suffix)]
    except OSError:
        return None
    return os.path.join(slot, wheels[0]) if len(wheels) == 1 else None


def bytecode_key(wheel_sha256: str, interpreter: tuple[tuple[str, str], ...], layout: int) -> str:
    """The slot of the bytecode bundle of the wheel with this sha256, compiled by this interpreter."""
    described = {"wheel_sha256": wheel_sha256, "interpreter": dict(interpreter), "format": layout}
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()


def cached_bytecode(
    cache: str, wheel_sha256: str, interpreter: tuple[tuple[str, str], ...], layout: int
) -> tuple[str, str, dict[str, Any]] | None:
    """(bundle, its sha256, what the compiler said of itself) of the wheel with `wheel_sha256`
    compiled by `interpreter` (precompile.py), if a trusted slot holds it and it checks out."""
    slot = _readable_slot(cache, BYTECODE, bytecode_key(wheel_sha256, interpreter, layout))
    if slot is None:
        return None
    bundle = _slot_wheel(slot, ".zip")
    record = _owned_json(os.path.join(slot, RECORD)) if bundle else None
    if (
        bundle
        and isinstance(record, dict)
        and record.get("wheel_sha256") == wheel_sha256
        and record.get("interpreter") == dict(interpreter)
        and record.get("format") == layout
        and record.get("bundle") == os.path.basename(bundle)
        and isinstance(record.get("described"), dict)
        and all(isinstance(record["described"].get(key), str) for key in ("cache_tag", "magic"))
    ):
        digest = _owned_sha256(bundle)
        if digest is not None and digest == record.get("bundle_sha256"):
            return bundle, digest, record["described"]
    discard(slot)
    return None


def store_bytecode(
    cache: str,
    wheel_sha256: str,
    interpreter: tuple[tuple[str, str], ...],
    layout: int,
    bundle: str,
    bundle_sha256: str,
    described: dict[str, Any],
) -> str | None:
    """File a bytecode bundle with the record a later build checks it against."""
    record = {
        "wheel_sha256": wheel_sha256,
        "interpreter": dict(interpreter),
        "format": layout,
        "bundle": os.path.basename(bundle),
        "bundle_sha256": bundle_sha256,
        "described": described,
    }
    return _store(cache, BYTECODE, bytecode_key(wheel_sha256, interpreter, layout), bundle, record)


def discard(slot: str) -> None:
    """Remove a slot that failed a check (a symlink itself, never what it points at)."""
    try:
        if os.path.islink(slot) or not os.path.isdir(slot):
            os.unlink(slot)
        else:
            shutil.rmtree(slot)
    except OSError:  # another build removed it first, or it is not ours to remove: it stays ignored
        pass


# Trust: the runtime's rules (hatch_pex/bootstrap/trust.py), applied to the build cache -------------


def trusted_cache(root: str) -> str | None:
    """`root` resolved when it is a directory that nobody but this user (or root) can change, or
    replace (trust.trusted_root: the runtime's rule for its cache), else None."""
    resolved = trusted_root(root)[0]
    return resolved if resolved is not None and _owned_dir(resolved) else None


def _owned_dir(path: str) -> bool:
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and owned(st)


def _owned_sha256(path: str) -> str | None:
    fd = open_owned(path)
    if fd is None:
        return None
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


def _owned_json(path: str) -> Any:
    fd = open_owned(path)
    if fd is None:
        return None
    try:
        with os.fdopen(fd, "rb") as stream:
            return json.loads(stream.read(1 << 16))
    except (OSError, ValueError):
        return None


# Writing ------------------------------------------------------------------------------------------


def store_wheel(cache: str, sha256: str, wheel: str) -> str | None:
    """File a downloaded wheel under its sha256; the cached path, or None if it was not stored."""
    return _store(cache, WHEELS, sha256, wheel, None)


def store_build(
    cache: str, sdist_sha256: str, interpreter: tuple[tuple[str, str], ...], wheel: str, wheel_sha256: str
) -> str | None:
    """File a wheel built from an sdist, with the record a later build checks it against."""
    record = {
        "sdist_sha256": sdist_sha256,
        "interpreter": dict(interpreter),
        "wheel": os.path.basename(wheel),
        "wheel_sha256": wheel_sha256,
    }
    return _store(cache, BUILT, built_key(sdist_sha256, interpreter), wheel, record)


def _store(cache: str, kind: str, key: str, wheel: str, record: dict[str, Any] | None) -> str | None:
    """Stage the slot privately, then rename it into place whole. None when the cache cannot be used
    (not trusted, not writable) or another build stored the slot first: an unusable cache only costs
    speed, and the caller keeps its own, checked, copy."""
    try:
        resolved = trusted_path(cache)[0]  # nothing is made on a path somebody else could redirect
        if resolved is None:
            return None
        _make_owned_dir(resolved)
        root = trusted_cache(resolved)
        if root is None:
            return None
        kind_dir = os.path.join(root, kind)
        slot = os.path.join(kind_dir, key)
        _make_owned_dir(kind_dir)
        if not _owned_dir(kind_dir) or os.path.lexists(slot):
            return None
        staging = tempfile.mkdtemp(prefix=".tmp-", dir=kind_dir)  # mode 0700
    except OSError:
        return None
    try:
        name = os.path.basename(wheel)
        with open(wheel, "rb") as source, _create(os.path.join(staging, name)) as target:
            shutil.copyfileobj(source, target, 1 << 20)
        if record is not None:
            with _create(os.path.join(staging, RECORD)) as target:
                target.write(json.dumps(record, sort_keys=True).encode())
        os.rename(staging, slot)
    except OSError:  # another build stored it first, or the disk is full
        shutil.rmtree(staging, ignore_errors=True)
        return None
    return os.path.join(slot, name)


def _create(path: str) -> Any:
    """A new file (never an existing one, nor through a symlink), mode 0644 with the umask applied."""
    return os.fdopen(create(path), "wb")


def _make_owned_dir(path: str) -> None:
    """Create `path` and missing parents with mode 0755 (the umask applied). One of ours that others
    may write to (made by an older version under a 002 umask) loses that: what is below it is checked
    one by one anyway."""
    make_dirs(path)
    restrict(path)
