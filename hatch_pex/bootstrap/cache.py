"""The cache under PEX_ROOT: content addressed install entries, their manifests, atomic creation.

    installs/<wheel sha256>/   the unpacked wheel + .hatch-pex-manifest (written last)
    tmp/                       extractions in progress; renamed into installs/ when complete
    sites/<key>/               one directory of symlinks into installs/ per set of entries (the one
                               sys.path entry of a warm start)
    pexes/<pex_hash>/<interp>  warm records (record.py), each with a `.lock` beside it (locks.py)
    interpreters/<interp>      per-interpreter facts (interpreter.py)
    code/<tag>-<hash>          the runtime's compiled code (codecache.py)
    prune.lock                 held by cold starts and by cache prune (locks.py)

Nothing here is used unless this user or root owns it and nobody else can write it (trust.py).
`verify` and `verify_site` are on the warm path (one stat per file, directory or link); everything
else runs only on a cold start.
"""

from __future__ import annotations

import os
import time

from . import SUBDIRECTORIES, configured_root, fallback_root, is_private_dir, owned
from .log import BootError, log, since
from .trust import NOFOLLOW, create, make_dirs, read_owned, restrict, trusted_path, trusted_root

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from .extract import Plan, WheelSource

    # (file names, sizes, modification times in ns), as the extraction left them
    Manifest = tuple[list[str], list[int], list[int]]

MANIFEST = ".hatch-pex-manifest"
MANIFEST_HEADER = "hatch-pex-manifest 2"
STALE_TMP_SECONDS = 3600


def verify(entry: str, files: Sequence[str], sizes: Sequence[int], mtimes: Sequence[int]) -> str | None:
    """None when the entry and every listed file are as its extraction left them, else what is wrong
    (first problem only): each file there (not a symlink) with its size and modification time, and
    the entry, each file and each directory holding one owned by us or root and writable by nobody
    else. One stat per file and directory; the content is not read (docs/security.md says why)."""
    fd, problem = _open_directory(entry)
    if fd is None:
        return problem
    try:
        stat = os.stat
        for name, size, mtime in zip(files, sizes, mtimes):
            try:
                st = stat(name, dir_fd=fd, follow_symlinks=False)  # relative to the open entry
            except OSError:
                return f"{name} is missing"
            if st.st_size != size or st.st_mtime_ns != mtime:
                return f"{name} was changed since it was extracted ({st.st_size} bytes, {size} expected)"
            if not owned(st):
                return f"{name} could be written by another user"
        return _directories_problem(fd, files)
    finally:
        os.close(fd)


def directory_problem(path: str) -> str | None:
    """None when `path` is a real directory (not a symlink) that is ours, else what is wrong. One lstat."""
    try:
        st = os.lstat(path)
    except OSError:
        return f"{path} is missing"
    if (st.st_mode & 0o170000) != 0o040000 or not owned(st):
        return f"{path} could be written by another user"
    return None


def verify_site(site: str, links: Sequence[str]) -> str | None:
    """None when the site directory (and each directory in it) is ours and every link resolves (one
    stat, following the link, each)."""
    fd, problem = _open_directory(site)
    if fd is None:
        return problem
    try:
        stat = os.stat
        for name in links:
            try:
                stat(name, dir_fd=fd)
            except OSError:
                return f"{site}/{name} is missing"
        problem = _directories_problem(fd, links)
        return f"{site}/{problem}" if problem else None
    finally:
        os.close(fd)


def site_problem(site: str, targets: dict[str, str]) -> str | None:
    """None when the site directory (and each directory in it) is ours and each link is there with
    the target planned for it (read, not followed: an entry still being extracted beside the
    application, overlap.py, is not there yet)."""
    fd, problem = _open_directory(site)
    if fd is None:
        return problem
    try:
        for name, target in targets.items():
            try:
                found = os.readlink(name, dir_fd=fd)
            except OSError:
                return f"{site}/{name} is missing"
            if found != target:
                return f"{site}/{name} leads to {found}, not {target}"
        problem = _directories_problem(fd, list(targets))
        return f"{site}/{problem}" if problem else None
    finally:
        os.close(fd)


def _open_directory(path: str) -> tuple[int | None, str | None]:
    """(descriptor, None) of a directory that is ours (not through a symlink), else (None, why not)."""
    try:
        fd = os.open(path, os.O_RDONLY | NOFOLLOW)
    except OSError:
        return None, f"{path} is missing"
    if owned(os.fstat(fd)):
        return fd, None
    os.close(fd)
    return None, f"{path} could be written by another user"


def _directories_problem(fd: int, names: Sequence[str]) -> str | None:
    """None when every directory between the open directory `fd` and each of `names` is ours, else
    what is wrong with the first that is not."""
    directories: set[str] = set()
    for name in names:
        parent = name.rpartition("/")[0]
        while parent and parent not in directories:
            directories.add(parent)
            parent = parent.rpartition("/")[0]
    for name in directories:
        try:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except OSError:
            return f"{name}/ is missing"
        if not owned(st):
            return f"{name}/ could be written by another user"
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


def ensure_site(root: str, entries: Sequence[tuple[str, Sequence[str]]]) -> tuple[str, dict[str, str]] | None:
    """The sites/<key> directory of `entries`, verified or (re)built in tmp/ and renamed into place;
    (its path, {link: the entry directory it leads into}). None when it cannot be made: the entries
    then go on sys.path themselves."""
    key = site_key([os.path.basename(entry) for entry, _ in entries])
    site = os.path.join(root, "sites", key)
    directories, links = site_plan(entries)
    names = tuple(sorted(links))
    owners = {name: target[: -len(name) - 1] for name, target in links.items()}  # target: <entry>/<name>
    # relative: tmp/<x> and sites/<key> are both two levels below the root
    targets = {name: os.path.relpath(links[name], os.path.dirname(f"{site}/{name}")) for name in names}
    if site_problem(site, targets) is None:
        log(f"reusing {site} ({len(names)} links)", 2)
        return site, owners
    # a site appears complete (rename): one that exists now and still fails is damaged, not in progress
    if os.path.lexists(site) and site_problem(site, targets) is not None:
        log(f"{site} is damaged; rebuilding")
        discard(root, site)
    try:
        make_dirs(os.path.join(root, "sites"))
        tmp = new_tmp_dir(root, f"site-{key[:16]}")
        try:
            for directory in directories:  # parents first: merge() appends them in that order
                os.mkdir(os.path.join(tmp, directory), 0o755)
            for name in names:
                os.symlink(targets[name], os.path.join(tmp, name))
            try:
                os.rename(tmp, site)
                log(f"made {site} ({len(names)} links)", 2)
            except OSError:
                if site_problem(site, targets) is not None:
                    raise
                remove_tree(tmp)  # another process made it meanwhile
        except BaseException:
            remove_tree(tmp)
            raise
    except OSError as exc:
        log(f"cannot make {site} ({exc}); the cache entries go on sys.path one by one")
        return None
    return site, owners


def manifest_path(root: str, sha256: str) -> str:
    return os.path.join(root, "installs", sha256, MANIFEST)


def read_manifest(entry: str) -> Manifest | None:
    """The manifest, if it is ours and well formed. One name a line, split at "\\n" only: a name
    may hold any other character (U+2028 included) and still be found on the next start."""
    data = read_owned(os.path.join(entry, MANIFEST))
    try:
        lines = data.decode("utf-8").split("\n") if data else []
    except UnicodeDecodeError:
        return None
    if not lines or lines[0] != MANIFEST_HEADER or lines.pop() != "":
        return None
    files, sizes, mtimes = [], [], []
    for line in lines[1:]:
        size, _, rest = line.partition("\t")
        mtime, _, name = rest.partition("\t")
        if not name or not size.isdigit() or not mtime.isdigit():
            return None
        files.append(name)
        sizes.append(int(size))
        mtimes.append(int(mtime))
    return files, sizes, mtimes


def write_manifest(entry: str, files: Sequence[tuple[str, int, int]]) -> None:
    lines = [MANIFEST_HEADER, *(f"{size}\t{mtime}\t{name}" for name, size, mtime in files)]
    fd = create(os.path.join(entry, MANIFEST))
    with open(fd, "w", encoding="utf-8", newline="") as file:
        file.write("\n".join(lines) + "\n")


def writable_root() -> str:
    """PEX_ROOT, resolved (trusted_root), when it can be written and nobody else can write it, else the
    private per-user temp fallback (made 0700). Every path the start uses in it is built on the path
    returned: no symlink is followed again."""
    primary = configured_root()
    resolved, reason, _ = trusted_path(primary)
    if resolved is not None:
        _restrict(resolved)
        resolved, reason = trusted_root(resolved, SUBDIRECTORIES)  # before anything is written there
    if resolved is not None:
        try:
            _prepare(resolved)
            resolved, reason = trusted_root(resolved, SUBDIRECTORIES)  # what was made, or made meanwhile
        except OSError as exc:
            resolved, reason = None, f"it cannot be written ({exc.strerror or exc})"
    if resolved is not None:
        return resolved
    fallback = fallback_root()
    try:
        private, problem, _ = trusted_path(fallback)
        if private is None:
            raise BootError(
                f"cache {primary} is not used ({reason}) and the fallback is not either: {problem}"
            )
        os.makedirs(private, mode=0o700, exist_ok=True)
        if not is_private_dir(private):
            raise BootError(
                f"cache {primary} is not used ({reason}) and the fallback {fallback} is not a "
                "directory owned by this user with mode 0700; set PEX_ROOT to a directory of yours"
            )
        _prepare(private)
    except OSError as exc:
        raise BootError(
            f"no usable cache: {primary} ({reason}), {fallback} ({exc.strerror or exc}); "
            "set PEX_ROOT to a directory of yours"
        ) from None
    log(f"cache {primary} is not used: {reason}; using {private}")
    return private


def _prepare(root: str) -> None:
    for sub in SUBDIRECTORIES:
        make_dirs(os.path.join(root, sub))
    probe = os.path.join(root, "tmp", f".probe-{os.getpid()}-{os.urandom(6).hex()}")
    os.close(create(probe))
    os.unlink(probe)


def _restrict(root: str) -> None:
    """The root (resolved) and its directories, where they are ours but group or others could write
    them (boot() read nothing from such a root: it was refused until now)."""
    taken = [path for path in (root, *(os.path.join(root, sub) for sub in SUBDIRECTORIES)) if restrict(path)]
    if taken:
        log(f"cache {root}: group and other write taken off {', '.join(taken)}; its content is checked")


def new_tmp_dir(root: str, label: str) -> str:
    path = os.path.join(root, "tmp", f"{label}.{os.getpid()}.{os.urandom(6).hex()}")
    os.mkdir(path, 0o755)
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
            st = os.lstat(path)
            if st.st_mtime < limit:
                log(f"removing stale {path}", 2)
                if (st.st_mode & 0o170000) == 0o040000:
                    remove_tree(path)
                else:
                    os.unlink(path)
        except OSError:
            pass


def ensure_entries(root: str, wheels: Sequence[str], source: WheelSource, workers: int = 1) -> list[Manifest]:
    """The installs/<sha256> entry of each wheel, in order: verified and reused, or (re)built. The
    missing ones are unpacked together on `workers` threads (extract.unpack_all)."""
    manifests, missing = reusable_entries(root, wheels, source)
    if missing:
        manifests.update(extract_planned(root, plan_extraction(root, missing, source), source, workers))
    return [manifests[wheel] for wheel in wheels]


def reusable_entries(
    root: str, wheels: Sequence[str], source: WheelSource
) -> tuple[dict[str, Manifest], list[str]]:
    """({wheel: manifest} of the entries there and intact, [the wheels whose entry must be made]);
    a damaged entry is moved out of the way."""
    manifests: dict[str, Manifest] = {}
    missing = []
    for wheel in wheels:
        entry = os.path.join(root, "installs", source.distributions[wheel])
        manifest = _reusable(root, entry, wheel)
        if manifest is None:
            missing.append(wheel)
        else:
            manifests[wheel] = manifest
    return manifests, missing


def ensure_entry(root: str, sha256: str, wheel: str, source: WheelSource) -> Manifest:
    """The installs/<sha256> entry of one wheel (ensure_entries)."""
    if source.distributions.get(wheel) != sha256:
        raise BootError(f"{wheel}: PEX-INFO lists it with another sha256 than {sha256}")
    return ensure_entries(root, [wheel], source)[0]


def _reusable(root: str, entry: str, wheel: str) -> Manifest | None:
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
    return None


def plan_extraction(
    root: str, wheels: Sequence[str], source: WheelSource, hashed: bool = False
) -> list[tuple[Plan, str]]:
    """(plan, wheel) of each wheel, each into a new directory under tmp/: its members read from the
    wheel's own directory, their paths checked (a hostile name is refused here, before anything is
    written). `hashed`: each wheel's sha256 is checked too, on two threads while this one reads the
    directories (BootError naming a damaged wheel); the threads are gone when this returns."""
    from .extract import Plan

    clean_stale_tmp(root)
    spill = os.path.join(root, "tmp")
    regions = [(wheel, source.region(wheel, spill)) for wheel in wheels]  # a deflated wheel inflated once
    pool = digests = None
    if hashed:
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(max_workers=2)
        largest_first = sorted(regions, key=lambda item: -item[1].size)  # two threads end together
        digests = {wheel: pool.submit(region.sha256) for wheel, region in largest_first}
    plans: list[tuple[Plan, str]] = []
    try:
        for wheel, region in regions:
            tmp = new_tmp_dir(root, source.distributions[wheel][:16])
            plans.append((Plan(region, tmp, f"{source.pex}: .deps/{wheel}"), wheel))
        for wheel, digest in (digests or {}).items():
            source.check(wheel, digest.result())
    except Exception:
        for plan, _ in plans:
            remove_tree(plan.dest)
        # A damaged wheel usually breaks its own directory before its hash is known: say which wheel
        # is damaged, with both hashes, rather than what zipfile found (the threads' hashes, if any).
        if digests is None:
            check_hashes(root, wheels, source)
        for wheel, digest in (digests or {}).items():
            source.check(wheel, digest.result())
        raise
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    return plans


def check_hashes(root: str, wheels: Sequence[str], source: WheelSource) -> None:
    """BootError naming the first wheel whose bytes in the pex do not have the sha256 PEX-INFO lists."""
    for wheel in wheels:
        source.check(wheel, source.region(wheel, os.path.join(root, "tmp")).sha256())


def extract_planned(
    root: str,
    plans: Sequence[tuple[Plan, str]],
    source: WheelSource,
    workers: int,
    in_order: bool = False,
    hashed: bool = False,
    on_commit: Callable[[str, Manifest], None] | None = None,
) -> dict[str, Manifest]:
    """Unpacks the planned wheels into their tmp/ directories and renames each into installs/ once
    complete and its sha256 (of every byte read, unless the caller checked it already: `hashed`)
    matched PEX-INFO; nothing half-written is ever renamed. `on_commit(wheel, manifest)` as each
    entry is in place (unpack_all says what `in_order` does)."""
    from .extract import unpack_all

    started = time.perf_counter()
    wheels = {id(plan): wheel for plan, wheel in plans}
    done: dict[str, Manifest] = {}

    def commit(plan: Plan, digest: str, files: list[tuple[str, int, int]]) -> None:
        wheel = wheels[id(plan)]
        sha256 = source.check(wheel, digest) if not hashed else source.distributions[wheel]
        entry = os.path.join(root, "installs", sha256)
        write_manifest(plan.dest, files)  # last: an entry with a manifest is complete
        try:
            os.rename(plan.dest, entry)
            log(f"extracted {wheel} to {entry} in {since(started)}")
            done[wheel] = ([n for n, _, _ in files], [s for _, s, _ in files], [m for _, _, m in files])
        except OSError:
            theirs = read_manifest(entry)
            if theirs is None or verify(entry, *theirs) is not None:
                raise
            log(f"{entry} ({wheel}) was extracted by another process meanwhile; using it")
            remove_tree(plan.dest)
            done[wheel] = theirs
        if on_commit is not None:
            on_commit(wheel, done[wheel])

    try:
        unpack_all([plan for plan, _ in plans], workers, commit, in_order, hashed)
    except Exception:
        # A damaged wheel usually breaks a deflate stream before its hash is known: say which wheel
        # is damaged, with both hashes, rather than what zlib found.
        check_hashes(root, [wheel for _, wheel in plans], source)
        raise
    finally:
        for plan, _ in plans:
            if os.path.lexists(plan.dest):
                remove_tree(plan.dest)
    return done
