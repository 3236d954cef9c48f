"""The cache under PEX_ROOT: content addressed install entries, their manifests, atomic creation.

    installs/<wheel sha256>/   the unpacked wheel + .hatch-pex-manifest (written last)
    tmp/                       extractions in progress; renamed into installs/ when complete
    sites/<key>/               one directory of symlinks into installs/ per set of entries (the one
                               sys.path entry of a warm start)
    pexes/<pex_hash>/<interp>  warm records (record.py)
    interpreters/<interp>      per-interpreter facts (interpreter.py)

`verify` and `verify_site` are on the warm path (one stat per file or link); everything else runs only
on a cold start.
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


def verify_site(site: str, links: Sequence[str]) -> str | None:
    """None when every link of the site directory resolves (one stat, following the link, each)."""
    try:
        fd = os.open(site, os.O_RDONLY)
    except OSError:
        return f"{site} is missing"
    try:
        stat = os.stat
        for name in links:
            try:
                stat(name, dir_fd=fd)
            except OSError:
                return f"{site}/{name} is missing"
    finally:
        os.close(fd)
    return None


def site_key(shas: Sequence[str]) -> str:
    """The site directory of a list of entries (in sys.path order): shared by every pex using that list."""
    import hashlib

    return hashlib.sha256("\n".join(shas).encode()).hexdigest()[:32]


def site_plan(entries: Sequence[tuple[str, Sequence[str]]]) -> tuple[list[str], dict[str, str]]:
    """(real directories, {link: target}) of the merged site of `entries` ((entry dir, manifest files),
    first entry first). A top-level item is one link; a directory found in several entries (a namespace
    package) becomes a real directory whose children are merged the same way. Where a name is taken,
    the first entry wins, as it would on sys.path. The manifest, `__pycache__` and `*.data` stay out."""
    sources: list[tuple[str, dict[str, object]]] = []
    for entry, files in entries:
        tree: dict[str, object] = {}
        for name in files:
            parts = name.split("/")
            top = parts[0]
            if top in (MANIFEST, "__pycache__") or (len(parts) > 1 and top.endswith(".data")):
                continue
            node = tree
            for part in parts[:-1]:
                child = node.setdefault(part, {})
                if not isinstance(child, dict):
                    break
                node = child
            else:
                node.setdefault(parts[-1], None)
        sources.append((entry, tree))
    directories: list[str] = []
    links: dict[str, str] = {}

    def merge(found: list[tuple[str, dict[str, object]]], prefix: str) -> None:
        names: dict[str, list[tuple[str, object]]] = {}
        for base, tree in found:
            for name, sub in tree.items():
                names.setdefault(name, []).append((os.path.join(base, name), sub))
        for name, hits in names.items():
            subdirs = [(path, sub) for path, sub in hits if isinstance(sub, dict)]
            if len(subdirs) > 1 and isinstance(hits[0][1], dict):
                directories.append(prefix + name)
                merge(subdirs, f"{prefix}{name}/")
            else:
                links[prefix + name] = hits[0][0]

    merge(sources, "")
    return directories, links


def ensure_site(
    root: str, entries: Sequence[tuple[str, Sequence[str]]]
) -> tuple[str, tuple[str, ...]] | None:
    """The sites/<key> directory of `entries`, verified or (re)built in tmp/ and renamed into place;
    (its path, its links). None when it cannot be made: the entries then go on sys.path themselves."""
    key = site_key([os.path.basename(entry) for entry, _ in entries])
    site = os.path.join(root, "sites", key)
    directories, links = site_plan(entries)
    names = tuple(sorted(links))
    if verify_site(site, names) is None:
        log(f"reusing {site} ({len(names)} links)", 2)
        return site, names
    # a site appears complete (rename): one that exists now and still fails is damaged, not in progress
    if os.path.lexists(site) and verify_site(site, names) is not None:
        log(f"{site} is damaged; rebuilding")
        discard(root, site)
    try:
        os.makedirs(os.path.join(root, "sites"), exist_ok=True)
        tmp = new_tmp_dir(root, f"site-{key[:16]}")
        try:
            for directory in directories:  # parents first: merge() appends them in that order
                os.mkdir(os.path.join(tmp, directory))
            for name in names:
                final_dir = os.path.dirname(os.path.join(site, name))
                # relative: tmp/<x> and sites/<key> are both two levels below the root
                os.symlink(os.path.relpath(links[name], final_dir), os.path.join(tmp, name))
            try:
                os.rename(tmp, site)
                log(f"made {site} ({len(names)} links)", 2)
            except OSError:
                if verify_site(site, names) is not None:
                    raise
                remove_tree(tmp)  # another process made it meanwhile
        except BaseException:
            remove_tree(tmp)
            raise
    except OSError as exc:
        log(f"cannot make {site} ({exc}); the cache entries go on sys.path one by one")
        return None
    return site, names


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
    for sub in ("installs", "tmp", "pexes", "sites"):
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
