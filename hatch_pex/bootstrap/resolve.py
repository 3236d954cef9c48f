"""The cold start: parse PEX-INFO, check the interpreter (re-exec if needed), pick the wheels, make sure
their cache entries exist and are intact, and write the warm record the next start reads instead."""

from __future__ import annotations

import os

from . import cache, codecache, overlap, pex_hash_of, record_path
from .interpreter import current_facts, describe, find_fitting, fit
from .locks import ROOT_LOCK, hold_shared, keep, lock_path, release
from .log import BootError, env_flag, log
from .pexinfo import PexInfo
from .record import build, build_reexec, save
from .reexec import reexec, reexec_check
from .trust import make_dirs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import CodeType

    from .cache import Manifest
    from .extract import Plan, WheelSource

    # directory, wheel, and its manifest: file names, sizes, modification times (record.build)
    Entry = tuple[str, str, list[str], list[int], list[int]]


def resolve(pex: str, raw: bytes, reexec_from: str | None) -> dict[str, object]:
    info = PexInfo(raw)
    root = cache.writable_root()
    found = current_facts(root)
    chosen, reasons = fit(info, found)
    here = describe(found)
    if reasons:
        if reexec_from:
            raise BootError(
                f"re-executed under {reexec_from} but {here} does not fit {info.project_name}: "
                + "; ".join(reasons)
            )
        log(f"{here} does not fit: {'; '.join(reasons)}; searching for an interpreter")
        target = find_fitting(pex, info, [(here, "; ".join(reasons))])
        save(build_reexec(codecache.current(), raw, root, target, reexec_check(target)))  # next: exec at once
        reexec(target)
    constraints = " or ".join(info.interpreter_constraints) or "any version"
    log(f"interpreter {here} fits ({constraints}, {len(chosen)} wheels)")

    # Prune waits while this start extracts, until its record is written and held (locks.py).
    root_lock, _ = hold_shared(os.path.join(root, ROOT_LOCK), wait=True)
    try:
        record = _prepare_entries(pex, raw, info, root, found, chosen)
    finally:
        release(root_lock)
    return record


def _prepare_entries(
    pex: str, raw: bytes, info: PexInfo, root: str, found: dict[str, object], chosen: dict[str, str]
) -> dict[str, object]:
    from .extract import WheelSource

    source = WheelSource(pex, info.distributions)
    wheels = [wheel for _, wheel in sorted(chosen.items())]
    # Unpacking is pread, zlib, hashing and file creation, which release the GIL: one thread per core.
    # More do not hide the file system's latency, they contend in the kernel: on two cores, a large
    # app's first start took 10.0-10.2 s with four threads, 9.2-9.4 s with three and 8.2-8.4 s with
    # two (system time 7.2 s against 5.2 s).
    workers = min(max(2, os.cpu_count() or 1), 8)
    plans: list[tuple[Plan, str]] = []
    try:
        manifests, missing = cache.reusable_entries(root, wheels, source)
        if missing and overlap.possible():
            # a damaged or hostile pex fails here, before the application. Then the wheels with .pth
            # files first (the start waits for them), and the smallest: many distributions are in
            # place early, the large ones follow
            planned = cache.plan_extraction(root, missing, source, hashed=True)
            plans = sorted(planned, key=lambda plan: (not _has_pth(plan[0]), plan[0].wheel.size))
        elif missing:
            planned = cache.plan_extraction(root, missing, source)
            manifests.update(cache.extract_planned(root, planned, source, workers))
    except OSError as exc:
        source.close()
        raise BootError(f"cannot unpack the wheels into the cache {root}: {exc}") from None
    except BaseException:
        source.close()
        raise
    names = {wheel: [relative for _, relative in plan.members] for plan, wheel in plans}

    def entries_of(manifests: dict[str, Manifest]) -> list[Entry]:
        """Every entry, with the manifest of those in place; the names only of those being extracted."""
        return [
            (os.path.join(root, "installs", info.distributions[wheel]), wheel, *manifests[wheel])
            if wheel in manifests
            else (os.path.join(root, "installs", info.distributions[wheel]), wheel, names[wheel], [], [])
            for wheel in wheels
        ]

    entries = entries_of(manifests)
    try:
        site = cache.ensure_site(root, [(entry[0], entry[2]) for entry in entries])
    except OSError as exc:  # pragma: no cover - ensure_site reports its own OSErrors as None
        log(f"no site directory: {exc}")
        site = None
    if site is not None:
        log(f"site {site[0]} ({len(site[1])} links)")
    if missing and info.data.get("bytecode"):  # precompiled.PEX_INFO_KEY: compiled only if used
        from . import precompiled  # the modules of the entries made now have no .pyc yet

        precompiled.install(pex, source, info, root, site)

    stdlib = found["stdlib"]

    def make_record(done: dict[str, Manifest], saved: bool = True) -> dict[str, object]:
        """The warm record; `saved=False`: only this process's copy, without the runtime's code."""
        return build(
            runtime_code(root) if saved else None,
            raw,
            root,
            [str(p) for p in stdlib] if isinstance(stdlib, (list, tuple)) else [],
            entries_of({**manifests, **done}),
            info.entry_point,
            info.inherit_path,
            info.inject_env,
            info.project_name,
            site,
            info.inject_args,
        )

    beside = plans and _beside(root, raw, info.entry_point, plans, source, workers, site, make_record)
    if isinstance(beside, str):
        path = beside
        record = make_record({}, saved=False)
        # the guard reads the manifests of the entries being extracted from installs/ (guard.py)
        record["entries"] = tuple(
            (directory, wheel, b"" if wheel in names else blob)
            for directory, wheel, blob in record["entries"]  # type: ignore[attr-defined]
        )
    else:
        try:
            if plans:  # the extractor could not be started: this process extracts, as before
                manifests.update(cache.extract_planned(root, plans, source, workers, hashed=True))
        except OSError as exc:
            raise BootError(f"cannot unpack the wheels into the cache {root}: {exc}") from None
        finally:
            source.close()
        record = make_record({})
        path = save(record) or ""
        if path:
            log(f"wrote warm record {path}", 2)
            keep(hold_shared(lock_path(path))[0])  # held while this process runs, as a warm start does
    if not path and not info.pex_hash:
        log("PEX-INFO has no pex_hash: every start of this pex is a cold start")
    elif not path:
        log(f"could not write the warm record under {root}/pexes: the next start is cold again")
    record["path"], record["mtime"] = path, float("inf")
    return record


def runtime_code(root: str) -> dict[str, CodeType]:
    """The runtime's code for the warm record, also kept in the code cache for the cold starts of
    other pexes. On the first start under an interpreter it is compiled from the sources (~60 ms on two
    cores): with the extraction beside the application, the extractor does it once the entries are in
    place (its `finish`), off the start's path."""
    codes = codecache.current()
    codecache.save(root, codes)
    return codes


def _is_pth(name: str) -> bool:
    """A .pth file at the top of an entry or site, which the start processes (isolation.py)."""
    return name.endswith(".pth") and "/" not in name


def _has_pth(plan: Plan) -> bool:
    return any(_is_pth(relative) for _, relative in plan.members)


def _beside(
    root: str,
    raw: bytes,
    entry_point: str | None,
    plans: list[tuple[Plan, str]],
    source: WheelSource,
    workers: int,
    site: tuple[str, dict[str, str]] | None,
    make_record: Callable[[dict[str, Manifest]], dict[str, object]],
) -> str | None:
    """Starts the extraction beside the application (overlap.py); the path of the warm record the
    extractor writes once it is done ("" when none will be: no pex_hash, an unwritable pexes/), of
    which this process holds the use lock from now on; None when the extractor could not be started."""
    pex_hash = pex_hash_of(raw)
    path = record_path(root, raw, pex_hash) if pex_hash else ""
    if path:
        try:
            make_dirs(os.path.dirname(path))
            keep(hold_shared(lock_path(path))[0])  # held while this process runs, as a warm start does
        except OSError:
            path = ""

    def finish(done: dict[str, Manifest]) -> None:  # in the extractor, once every entry is in place
        written = save(make_record(done))
        if written:
            log(f"wrote warm record {written}", 2)

    # the module of the entry point, imported first
    target = "" if env_flag("PEX_INTERPRETER") else os.environ.get("PEX_MODULE") or entry_point or ""
    module = target.partition(":")[0].partition("[")[0].strip()
    whole = site is None or bool(os.environ.get("PEX_SCRIPT"))  # entries on sys.path, or a script looked for
    ahead = (site[0], module) if site is not None and module and not whole else None
    links = site[1].items() if site else ()
    beside = overlap.start(root, plans, source, workers, finish, links, ahead)
    if beside is None:
        return None
    source.close()
    try:
        if whole:
            beside.wait(beside.closure, "the start")
            return path
        # the .pth files are processed before the application runs (isolation.py)
        beside.wait({wheel for link, wheel in beside.links.items() if _is_pth(link)}, "the .pth files")
        # an entry that could not be made fails the start
        beside.wait_for_modules([module] if module else [], f"the entry point {module}")
    except overlap.ExtractionFailed as exc:
        raise BootError(str(exc).removeprefix("hatch-pex: ")) from None
    return path
