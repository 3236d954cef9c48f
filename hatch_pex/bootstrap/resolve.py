"""The cold start: parse PEX-INFO, check the interpreter (re-exec if needed), pick the wheels, make sure
their cache entries exist and are intact, and write the warm record the next start reads instead."""

from __future__ import annotations

import os

from . import cache, codecache
from .interpreter import current_facts, describe, find_fitting, fit
from .locks import ROOT_LOCK, hold_shared, keep, lock_path, release
from .log import BootError, log
from .pexinfo import PexInfo
from .record import build, build_reexec, save
from .reexec import reexec, reexec_check


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
    try:
        # Unpacking is pread, zlib, hashing and file creation, which release the GIL: one thread
        # per core, and a few more for the file system's latency.
        workers = min(max(2, os.cpu_count() or 1) + 2, 8)
        manifests = cache.ensure_entries(root, wheels, source, workers)
    except OSError as exc:
        raise BootError(f"cannot unpack the wheels into the cache {root}: {exc}") from None
    finally:
        source.close()
    entries = [
        (os.path.join(root, "installs", info.distributions[wheel]), wheel, *manifest)
        for wheel, manifest in zip(wheels, manifests)
    ]

    try:
        site = cache.ensure_site(root, [(entry[0], entry[2]) for entry in entries])
    except OSError as exc:  # pragma: no cover - ensure_site reports its own OSErrors as None
        log(f"no site directory: {exc}")
        site = None
    if site is not None:
        log(f"site {site[0]} ({len(site[1])} links)")

    stdlib = found["stdlib"]
    codes = codecache.current()
    codecache.save(root, codes)
    record = build(
        codes,
        raw,
        root,
        [str(p) for p in stdlib] if isinstance(stdlib, (list, tuple)) else [],
        entries,
        info.entry_point,
        info.inherit_path,
        info.inject_env,
        info.project_name,
        site,
        info.inject_args,
    )
    path = save(record)
    if path:
        log(f"wrote warm record {path}", 2)
        keep(hold_shared(lock_path(path))[0])  # held while this process runs, as a warm start does
    elif not info.pex_hash:
        log("PEX-INFO has no pex_hash: every start of this pex is a cold start")
    else:
        log(f"could not write the warm record under {root}/pexes: the next start is cold again")
    record["path"], record["mtime"] = path or "", float("inf")
    return record
