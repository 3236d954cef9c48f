"""The start after PEX-INFO is read: verify the warm record (or resolve a new one), isolate sys.path,
install the bytecode hook, inject the environment, then hand back what runs the target: the stub runs it
outside any error handling.

Every runtime module imported at the top of this file is on the warm path and must be listed in
record.WARM_MODULES (their compiled code is kept in the warm record).
"""

from __future__ import annotations

import os
import sys
import time

from . import CHECKED, bytecode, entry, isolation
from .cache import directory_problem, verify_site
from .guard import GUARD, Guard, recheck_later
from .locks import hold_shared, keep, lock_path, release, still_linked
from .log import EXIT_START_FAILURE, BootError, env_flag, log, since
from .reexec import REEXEC_MARKER, reexec, reexec_check

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    Entry = tuple[str, str, bytes]  # directory, wheel, manifest (record.py)

TOUCH_EVERY_SECONDS = 86400


def launch(pex: str, raw: bytes, record: dict[str, object] | None, started: float) -> Callable[[], None]:
    """Everything of the start after boot(); returns what runs the application (see boot)."""
    try:
        reexec_from = os.environ.pop(REEXEC_MARKER, None)  # not inherited by the app's own children
        if env_flag("PEX_TOOLS"):
            from .tools import main

            sys.exit(main(pex, raw, sys.argv[1:], reexec_from))
        if record is not None:  # boot() read nothing from a refused root; on a cold start
            for refused, (_, why) in CHECKED.items():  # cache.writable_root says why itself
                if why:
                    log(f"cache {refused} is not used: {why}; using {record['root']}")
        if record is not None and "reexec" in record:  # this interpreter does not fit; one that did:
            release(record.pop("fd"))  # type: ignore[arg-type]
            if not reexec_from and record["reexec_check"] == reexec_check(str(record["reexec"])):
                reexec(str(record["reexec"]))
            record = None  # the search environment or that interpreter changed: search again
        if record is not None:
            problem = _in_use(record)
            if problem:
                log(f"{problem}; starting cold")
                record = None
            elif problem := _damaged(record):
                log(f"cache entry damaged: {problem}; rebuilding")
                record = None
            else:
                log(f"warm start: record {record['path']} ({since(started)})")
        warm = record is not None
        if record is None:
            from .resolve import resolve

            record = resolve(pex, raw, reexec_from)
        kind, value = _prepare(pex, raw, record, started)
        if warm and recheck_later(pex, str(record["path"])):
            log("started the check of every file of the cache entries, beside the application", 2)
    except BootError as exc:
        sys.stderr.write(f"hatch-pex: error: {exc}\n")
        sys.exit(EXIT_START_FAILURE)
    # ^C (KeyboardInterrupt) goes up to the stub (main_stub.py), which exits 130 wherever in boot() it came.
    # Any other exception is a damaged runtime module (a tool's, resolve's...) or a runtime bug: the
    # stub reports it (damage.py).
    log(f"ready in {since(started)}")
    sys.meta_path[:] = [f for f in sys.meta_path if not hasattr(f, "hatch_pex_code_cache")]  # cold start's
    project = str(record.get("project") or "")
    return lambda: entry.run(kind, value, project)


def _in_use(record: dict[str, object]) -> str | None:
    """Holds this record's use lock for as long as the process runs (cache prune leaves it alone);
    None once held, else why the record cannot be used now."""
    record_fd = record.pop("fd", None)
    fd, free = hold_shared(lock_path(str(record["path"])))
    current = free and still_linked(fd, record_fd)  # type: ignore[arg-type]
    release(record_fd)  # type: ignore[arg-type]
    if current:
        keep(fd)
        return None
    release(fd)
    return f"cache prune is removing {record['path']}"


def _entries(record: dict[str, object]) -> Sequence[Entry]:
    entries = record["entries"]
    assert isinstance(entries, tuple)
    return entries


def _damaged(record: dict[str, object]) -> str | None:
    """What a warm start checks before it goes on, which does not grow with the number of files: each
    entry's directory (there, a real directory, ours) and each link of the site directory (it leads
    somewhere). The files and directories inside the entries are checked when they are used (guard.py)
    and, for what is never imported, after the start (recheck.py)."""
    started = time.perf_counter()
    entries = _entries(record)
    for directory, wheel, *_ in entries:
        problem = directory_problem(directory)
        if problem:
            return f"{directory} ({wheel}): {problem}"
    site, links = record.get("site"), record.get("site_links")
    if isinstance(site, str) and isinstance(links, tuple):
        problem = verify_site(site, links)
        if problem:
            return problem
        log(f"checked {len(entries)} entries and {len(links)} links in {since(started)}", 2)
    else:
        log(f"checked {len(entries)} entries in {since(started)}", 2)
    return None


def _prepare(pex: str, raw: bytes, record: dict[str, object], started: float) -> tuple[str, str]:
    directories = [entry[0] for entry in _entries(record)]
    entry_point = record["entry_point"]
    kind, value = entry.choose(entry_point if isinstance(entry_point, str) else None, directories)
    entry.inject_args(record.get("inject_args"), entry_point)
    inherit = os.environ.get("PEX_INHERIT_PATH") or str(record["inherit_path"])
    inherit = {"true": "prefer", "1": "prefer", "0": "false"}.get(inherit.lower(), inherit.lower())
    if inherit not in ("false", "prefer", "fallback"):
        raise BootError(f"PEX_INHERIT_PATH={inherit!r}: expected false, prefer or fallback")
    stdlib, pth = record["stdlib"], record["pth"]
    assert isinstance(stdlib, tuple) and isinstance(pth, tuple)
    site = record.get("site")
    root = str(record["root"])  # the hook before the .pth files: their imports get cached bytecode too
    site_map = record.get("site_map", ())
    assert isinstance(site_map, tuple)
    own_site = site if isinstance(site, str) else None
    GUARD[:] = [Guard(pex, raw, root, str(record["path"]), _entries(record), own_site, site_map)]
    bytecode.install(os.path.join(root, "installs"), os.path.join(root, "sites"))
    isolation.isolate(stdlib, [site] if isinstance(site, str) else directories, pth, inherit)
    log(f"sys.path = {sys.path}")
    log(f"isolated sys.path ({since(started)})", 2)
    inject = record["inject_env"]
    if isinstance(inject, dict):
        for key, value_ in inject.items():
            os.environ.setdefault(key, value_)
    mtime = record["mtime"]
    if isinstance(mtime, float) and time.time() - mtime > TOUCH_EVERY_SECONDS:  # last use, for cache prune
        try:  # noqa: SIM105 - contextlib would be one more import on the warm path
            os.utime(str(record["path"]))
        except OSError:
            pass
    return kind, value
