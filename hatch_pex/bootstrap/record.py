"""The warm record: `$PEX_ROOT/pexes/<pex_hash>/<interpreter key>-<PEX-INFO hash>`, one marshal file.

It holds everything a warm start needs, so that start reads one file and parses no JSON: the PEX-INFO
bytes it was made from (compared byte for byte), the interpreter identity, the stdlib paths to keep,
each entry with its manifest (file names, sizes and modification times; guard.py and recheck.py
compare them), the .pth files, the
arguments to inject (`inject_args`), and the compiled code of the runtime modules the warm path imports.
Its mtime is the pex's last use (launch.py refreshes it once a day); a running pex holds a lock beside
it (locks.py) so that cache prune leaves it alone.
"""

from __future__ import annotations

import marshal
import os

from . import RECORD_FORMAT, interpreter_identity, pex_hash_of, record_path
from .bytecode import write_atomic

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import CodeType

PACKAGE = __name__.rpartition(".")[0]
# Every runtime module `launch` imports, each after the modules it imports: __init__ executes them in
# this order (tests/test_runtime_unit.py checks the list is complete and ordered).
WARM_MODULES = (
    "log", "rootpath", "trust", "locks", "guard", "bytecode", "cache", "isolation", "entry", "reexec",
    "launch",
)  # fmt: skip


def warm_code(codes: dict[str, CodeType]) -> bytes:
    """The code of WARM_MODULES, in that order, as __init__.boot executes it."""
    return marshal.dumps(tuple((f"{PACKAGE}.{name}", codes[f"{PACKAGE}.{name}"]) for name in WARM_MODULES))


def build(
    codes: dict[str, CodeType] | None,
    raw: bytes,
    root: str,
    stdlib: Sequence[str],
    entries: Sequence[tuple[str, str, Sequence[str], Sequence[int], Sequence[int]]],
    entry_point: str | None,
    inherit_path: str,
    inject_env: dict[str, str],
    project: str,
    site: tuple[str, dict[str, str]] | None = None,
    inject_args: Sequence[str] = (),
) -> dict[str, object]:
    """`site`: (its directory, {link: the entry directory it leads into}), as cache.ensure_site made it.
    `codes` None: a record for this process only, never saved (save refuses it), without the code."""
    if site is not None:  # the merged directory is the one sys.path entry; its .pth files are processed
        pth = [
            os.path.join(site[0], name)
            for name in sorted(site[1])
            if name.endswith(".pth") and "/" not in name
        ]
    else:
        pth = [
            os.path.join(entry, name)
            for entry, _, files, _, _ in entries
            for name in sorted(files)
            if name.endswith(".pth") and "/" not in name
        ]
    position = {entry[0]: index for index, entry in enumerate(entries)}
    return {
        "format": RECORD_FORMAT,
        "pexinfo": raw,
        "identity": interpreter_identity(),
        "root": root,
        "stdlib": tuple(stdlib),
        # each manifest nested, unmarshalled only when guard.py or recheck.py looks at that entry: a
        # warm start reads the record whatever the size of the closure in about the same time
        "entries": tuple(
            (entry, wheel, marshal.dumps((tuple(files), tuple(sizes), tuple(mtimes))))
            for entry, wheel, files, sizes, mtimes in entries
        ),
        "pth": tuple(pth),
        "site": site[0] if site is not None else None,
        "site_links": tuple(sorted(site[1])) if site is not None else (),
        # each link's entry, by its place in "entries": how guard.py finds the manifest of a file
        "site_map": tuple((name, position[owner]) for name, owner in sorted(site[1].items()))
        if site is not None
        else (),
        "entry_point": entry_point,
        "inherit_path": inherit_path,
        "inject_env": dict(inject_env),
        "inject_args": tuple(inject_args),
        "project": project,
        # nested so that any Python version can read the rest (cache prune reads every record)
        "code": warm_code(codes) if codes is not None else None,
    }


def build_reexec(
    codes: dict[str, CodeType], raw: bytes, root: str, target: str, check: tuple[object, ...]
) -> dict[str, object]:
    """Record for an interpreter that does not fit: which one to exec instead, while `check` holds."""
    return {
        "format": RECORD_FORMAT,
        "pexinfo": raw,
        "identity": interpreter_identity(),
        "root": root,
        "reexec": target,
        "reexec_check": check,
        "code": warm_code(codes),
    }


def save(record: dict[str, object]) -> str | None:
    """Writes the record next to its cache entries; None when the pex has no pex_hash or it failed."""
    raw = record["pexinfo"]
    pex_hash = pex_hash_of(raw) if isinstance(raw, bytes) else None
    if pex_hash is None or not isinstance(raw, bytes) or not isinstance(record["code"], bytes):
        return None
    path = record_path(str(record["root"]), raw, pex_hash)
    return path if write_atomic(path, marshal.dumps(record)) else None
