"""The cache under PEX_ROOT: content addressed install entries, their manifests, atomic creation.

    installs/<wheel sha256>/   the unpacked wheel + .hatch-pex-manifest (written last)
    tmp/                       extractions in progress; renamed into installs/ when complete
    pexes/<pex_hash>/<interp>  warm records (record.py)
    interpreters/<interp>      per-interpreter facts (interpreter.py)

`verify` is on the warm path (one stat per file); everything else runs only on a cold start.
"""

from __future__ import annotations

import os
import time

from . import cache_roots, fallback_root, is_private_dir
from .log import BootError, log, since

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

MANIFEST = ".hatch-pex-manifest"
MANIFEST_HEADER = "hatch-pex-manifest 1"
STALE_TMP_SECONDS = 3600


def verify(entry: str, files: Sequence[str], sizes: Sequence[int]) -> str | None:
    """None when every listed file is there with its size, else what is wrong (first problem only)."""
    try:
        fd = os.open(entry, os.O_RDONLY)
    except OSError:
        return f"{entry} is missing"
    try:
        stat = os.stat
        for name, size in zip(files, sizes):
            try:
                actual = stat(name, dir_fd=fd).st_size  # relative to the open entry: shorter path walks
            except OSError:
                return f"{name} is missing"
            if actual != size:
                return f"{name} has {actual} bytes, {size} expected"
    finally:
        os.close(fd)
    return None


def manifest_path(root: str, sha256: str) -> str:
    return os.path.join(root, "installs", sha256, MANIFEST)


def read_manifest(entry: str) -> tuple[list[str], list[int]] | None:
    try:
        with open(os.path.join(entry, MANIFEST), encoding="utf-8") as file:
            lines = file.read().splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    if not lines or lines[0] != MANIFEST_HEADER:
        return None
    files, sizes = [], []
    for line in lines[1:]:
        size, _, name = line.partition("\t")
        if not name or not size.isdigit():
            return None
        files.append(name)
        sizes.append(int(size))
    return files, sizes


def write_manifest(entry: str, files: Sequence[tuple[str, int]]) -> None:
    lines = [MANIFEST_HEADER, *(f"{size}\t{name}" for name, size in files)]
    with open(os.path.join(entry, MANIFEST), "w", encoding="utf-8") as file:
        file.write("\n".join(lines) + "\n")


def writable_root() -> str:
    """PEX_ROOT when it can be written, else the private per-user temp fallback (made 0700)."""
    primary = cache_roots()[0]
    try:
        _prepare(primary)
        return primary
    except OSError as exc:
        reason = f"{exc.strerror or exc}"
    fallback = fallback_root()
    try:
        os.makedirs(fallback, mode=0o700, exist_ok=True)
        if not is_private_dir(fallback):
            raise BootError(
                f"cache {primary} cannot be written ({reason}) and the fallback {fallback} is not a "
                "directory owned by this user with mode 0700; set PEX_ROOT to a writable directory"
            )
        _prepare(fallback)
    except OSError as exc:
        raise BootError(
            f"no writable cache: {primary} ({reason}), {fallback} ({exc.strerror or exc}); "
            "set PEX_ROOT to a writable directory"
        ) from None
    log(f"cache {primary} cannot be written ({reason}); using {fallback}")
    return fallback


def _prepare(root: str) -> None:
    for sub in ("installs", "tmp", "pexes"):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    probe = os.path.join(root, "tmp", f".probe-{os.getpid()}")
    os.close(os.open(probe, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600))
    os.unlink(probe)


def new_tmp_dir(root: str, label: str) -> str:
    path = os.path.join(root, "tmp", f"{label}.{os.getpid()}.{time.monotonic_ns()}")
    os.mkdir(path)
    return path


def remove_tree(path: str) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def discard(root: str, path: str) -> None:
    """Moves a directory out of the way first (one rename, atomic), then deletes it."""
    aside = os.path.join(root, "tmp", f"discard.{os.getpid()}.{time.monotonic_ns()}")
    try:
        os.rename(path, aside)
    except OSError:
        return  # already gone: another process discarded it
    remove_tree(aside)


def clean_stale_tmp(root: str) -> None:
    """Leftovers of killed extractions: harmless (never looked at), deleted once an hour old."""
    tmp = os.path.join(root, "tmp")
    limit = time.time() - STALE_TMP_SECONDS
    try:
        names = os.listdir(tmp)
    except OSError:
        return
    for name in names:
        path = os.path.join(tmp, name)
        try:
            if os.lstat(path).st_mtime < limit:
                log(f"removing stale {path}", 2)
                if os.path.isdir(path):
                    remove_tree(path)
                else:
                    os.unlink(path)
        except OSError:
            pass


class WheelSource:
    """The wheels inside the running pex, read with zipfile (cold path) and checked against their sha256."""

    def __init__(self, pex: str, distributions: dict[str, str]) -> None:
        self.pex = pex
        self.distributions = distributions
        self._zip: object = None

    def open(self) -> None:
        import zipfile

        if self._zip is None:
            self._zip = zipfile.ZipFile(self.pex)

    def read(self, wheel: str) -> bytes:
        import hashlib
        import zipfile

        self.open()
        assert isinstance(self._zip, zipfile.ZipFile)
        try:
            data = self._zip.read(f".deps/{wheel}")
        except KeyError:
            raise BootError(f"{self.pex} lists {wheel} in PEX-INFO but has no .deps/{wheel}") from None
        digest = hashlib.sha256(data).hexdigest()
        if digest != self.distributions[wheel]:
            expected = self.distributions[wheel]
            raise BootError(
                f"{self.pex}: .deps/{wheel} is damaged (sha256 {digest}, PEX-INFO says {expected})"
            )
        return data

    def close(self) -> None:
        close = getattr(self._zip, "close", None)
        if close is not None:
            close()


def ensure_entry(root: str, sha256: str, wheel: str, source: WheelSource) -> tuple[list[str], list[int]]:
    """The installs/<sha256> entry of `wheel`, verified, or (re)built; returns its manifest."""
    entry = os.path.join(root, "installs", sha256)
    manifest = read_manifest(entry)
    if manifest is not None:
        problem = verify(entry, *manifest)
        if problem is None:
            log(f"reusing {entry} ({wheel}, {len(manifest[0])} files verified)")
            return manifest
        log(f"{entry} ({wheel}) is damaged: {problem}; rebuilding")
        discard(root, entry)
    elif os.path.lexists(entry):
        log(f"{entry} ({wheel}) has no valid manifest; rebuilding")
        discard(root, entry)
    return _extract(root, entry, sha256, wheel, source)


def _extract(
    root: str, entry: str, sha256: str, wheel: str, source: WheelSource
) -> tuple[list[str], list[int]]:
    from .extract import unpack

    started = time.perf_counter()
    clean_stale_tmp(root)
    tmp = new_tmp_dir(root, sha256[:16])
    try:
        files = unpack(source.read(wheel), tmp)
        write_manifest(tmp, files)  # last: an entry with a manifest is complete
        try:
            os.rename(tmp, entry)
            log(f"extracted {wheel} to {entry} in {since(started)}")
        except OSError:
            if read_manifest(entry) is None:
                raise
            log(f"{entry} ({wheel}) was extracted by another process meanwhile; using it")
            remove_tree(tmp)
    except BaseException:
        remove_tree(tmp)
        raise
    return [name for name, _ in files], [size for _, size in files]
