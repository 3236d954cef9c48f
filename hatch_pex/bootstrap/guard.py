"""The check of a cache entry's files at their point of use (docs/security.md, "What a warm start
checks").

A warm start checks only what does not grow with the closure: the record, each entry's own directory
and the site directory's links (launch.py). The files themselves are checked when the import system
uses them, with the `stat` it makes anyway: every module file loaded from an entry (source,
bytecode-only or extension) against the size and modification time the extraction recorded, and its
owner and mode, and every directory the import system lists, for its owner and mode. A module the
manifest lists that the import system does not find was deleted. Either way the entry is re-extracted
from the pex there and then (cache.ensure_entries, as a cold start would) and the import goes on with
the repaired files; the warm record is removed, so that the next start writes one with the new
manifest. What is never imported (data files) is checked after the start, away from it (recheck.py).
"""

from __future__ import annotations

import marshal
import os
import sys

from . import owned
from .log import log

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    Entry = tuple[str, str, bytes]  # directory, wheel, manifest (marshal: names, sizes, mtimes)

bx = sys.modules["_frozen_importlib_external"]
MODULE_SUFFIXES = (*bx.SOURCE_SUFFIXES, *bx.BYTECODE_SUFFIXES, *bx.EXTENSION_SUFFIXES)  # what an import finds


class Guard:
    """The entries of one start, their manifests (indexed on first use) and how paths reach them."""

    def __init__(
        self,
        pex: str,
        raw: bytes,
        root: str,
        record_path: str,
        entries: Sequence[Entry],
        site: str | None,
        site_map: Sequence[tuple[str, int]],
    ) -> None:
        self.pex, self.raw, self.root, self.record_path = pex, raw, root, record_path
        self.entries = {entry[0]: entry for entry in entries}
        self.order = [entry[0] for entry in entries]
        self.site_prefix = f"{site}/" if site else None
        self.links = {name: self.order[index] for name, index in site_map}  # site name -> entry dir
        self.indexes: dict[str, dict[str, tuple[int, int]]] = {}
        self.repaired: set[str] = set()
        import _thread  # built in: the repair of one entry at a time, whatever thread imports

        self.lock = _thread.allocate_lock()

    def locate(self, path: str) -> tuple[str, str] | None:
        """(entry directory, '/'-separated path inside it) of a path under the site or an entry."""
        if self.site_prefix and path.startswith(self.site_prefix):
            relative = path[len(self.site_prefix) :]
            end = relative.find("/")
            while True:  # the link that holds it: a top-level name, or one inside a merged directory
                entry = self.links.get(relative if end < 0 else relative[:end])
                if entry is not None:
                    return entry, relative
                if end < 0:
                    return None
                end = relative.find("/", end + 1)
        for entry in self.order:
            if path.startswith(entry) and path[len(entry) : len(entry) + 1] == "/":
                return entry, path[len(entry) + 1 :]
        return None

    def index(self, entry: str) -> dict[str, tuple[int, int]]:
        found = self.indexes.get(entry)
        if found is None:
            blob = self.entries[entry][2]
            if blob:
                files, sizes, mtimes = marshal.loads(blob)
            else:  # extracted beside this start (overlap.py): its manifest is in the entry, once there
                from .cache import read_manifest

                manifest = read_manifest(entry)
                if manifest is None:
                    return {}  # not there yet: nothing of it can have been found
                files, sizes, mtimes = manifest
            found = self.indexes[entry] = dict(zip(files, zip(sizes, mtimes)))
        return found

    def file_problem(self, path: str, st: os.stat_result) -> tuple[str, str] | None:
        """(entry, what is wrong) when the file at `path`, whose stat (following links) is `st`, is
        in an entry and is not as its extraction left it; None otherwise. A file the extraction did
        not make (one the application wrote there) need only be ours."""
        where = self.locate(path)
        if where is None:
            return None
        entry, relative = where
        expected = self.index(entry).get(relative)
        if not owned(st):
            return entry, f"{relative} could be written by another user"
        if expected is not None and (st.st_size, st.st_mtime_ns) != expected:
            changed = f"({st.st_size} bytes, {expected[0]} expected)"
            return entry, f"{relative} was changed since it was extracted {changed}"
        return None

    def directory_problem(self, path: str) -> tuple[str, str] | None:
        """(entry, what is wrong) when a directory of an entry could be written by someone else."""
        where = self.locate(path)
        if where is None:
            return None
        try:
            st = os.stat(path)
        except OSError:
            return None  # gone: the import system finds nothing there, and `missing` tells why
        return None if owned(st) else (where[0], f"{where[1]}/ could be written by another user")

    def missing(self, directory: str, name: str) -> tuple[str, str] | None:
        """(entry, what is wrong) when the manifest lists a module `name` (the last part of a dotted
        name) in `directory` that the import system did not find there: it was deleted."""
        for suffix in MODULE_SUFFIXES:
            for candidate in (f"{name}{suffix}", f"{name}/__init__{suffix}"):
                where = self.locate(f"{directory}/{candidate}")
                if where is not None and where[1] in self.index(where[0]):
                    return where[0], f"{where[1]} is missing"
        return None

    def repair(self, entry: str, problem: str) -> bool:
        """Re-extracts `entry` from the pex (once per start); True when it was."""
        with self.lock:
            if entry in self.repaired:
                return False
            self.repaired.add(entry)
            wheel = self.entries[entry][1]
            log(f"found at an import: {entry} ({wheel}): {problem}", 2)  # ensure_entries says the rest
            from .cache import ensure_entries
            from .extract import WheelSource
            from .locks import ROOT_LOCK, hold_shared, release
            from .pexinfo import PexInfo

            source = WheelSource(self.pex, PexInfo(self.raw).distributions)
            lock, _ = hold_shared(os.path.join(self.root, ROOT_LOCK), wait=True)  # prune waits
            try:
                [(files, sizes, mtimes)] = ensure_entries(self.root, [wheel], source)
            finally:
                source.close()
                release(lock)
            self.indexes[entry] = dict(zip(files, zip(sizes, mtimes)))
            forget_record(self.record_path)
            for finder in list(sys.path_importer_cache.values()):  # listings of the old directories
                if finder is not None and hasattr(finder, "invalidate_caches"):
                    finder.invalidate_caches()
            return True

    def checked_stat(self, path: str) -> os.stat_result:
        """The stat of a module file about to be loaded, once it passed file_problem (repairing its
        entry first if needed); ImportError when it cannot be made right."""
        st = os.stat(path)
        found = self.file_problem(path, st)
        if found is not None:
            self.repair_or_fail(*found)
            st = os.stat(path)
            found = self.file_problem(path, st)
            if found is not None:
                raise ImportError(f"hatch-pex: cache entry {found[0]}: {found[1]}", path=path)
        return st

    def repair_or_fail(self, entry: str, problem: str) -> None:
        from .log import BootError

        try:
            self.repair(entry, problem)
        except (BootError, OSError) as exc:
            why = f"{problem}, and it could not be re-extracted: {exc}"
            raise ImportError(f"hatch-pex: cache entry {entry}: {why}") from None


def forget_record(path: str) -> None:
    """The warm record names manifests that are out of date once an entry was re-extracted: the next
    start is a cold one, which writes a new record (it keeps the use lock beside it)."""
    if path:
        try:  # noqa: SIM105 - contextlib would be one more import on the warm path
            os.unlink(path)
        except OSError:
            pass


GUARD: list[Guard] = []  # the one of this start (launch.py), for the bytecode hook's loaders


RECHECK_EVERY_SECONDS = 60
RECHECK = (  # the checker's interpreter runs the runtime from the pex, as its cold start would
    "import os, sys; os.closerange(3, 1 << 16); os.nice(10); sys.path[:0] = [sys.argv[1] + '/.bootstrap']; "
    "import _hatch_pex_boot.recheck as r; r.main(sys.argv[2])"
)


def recheck_later(pex: str, record_path: str) -> bool:
    """Starts the full check of every file of the record's entries (recheck.py) in a process that
    nothing waits for, at most once a minute per record (the mtime of its use lock says when it last
    ran): the files that are never imported are checked too, off the start's path. True when it was
    started.

    `sh` starts the checker in the background and exits at once: the checker is nobody's child, so no
    zombie is left to a long-running application, and this start waits only for `sh` (~5 ms, once a
    minute at most). Its own session (setsid): the terminal's signals are not for it. No terminal:
    its standard streams are /dev/null, and it closes every other descriptor it inherited first."""
    import time

    lock = f"{record_path}.lock"
    try:
        if time.time() - os.stat(lock).st_mtime < RECHECK_EVERY_SECONDS or not sys.executable:
            return False
        os.utime(lock)
        null = os.open(os.devnull, os.O_RDWR)
        try:
            quiet = [(os.POSIX_SPAWN_DUP2, null, fd) for fd in (0, 1, 2)]
            argv = ["sh", "-c", '"$0" -I -S -c "$1" "$2" "$3" &', sys.executable, RECHECK, pex, record_path]
            pid = os.posix_spawn("/bin/sh", argv, os.environ, file_actions=quiet, setsid=True)
        finally:
            os.close(null)
        os.waitpid(pid, 0)
    except (OSError, AttributeError, NotImplementedError):  # no posix_spawn, no sh, no lock file
        return False
    return True
