"""`PEX_TOOLS=1 ./app.pex COMMAND ...`: inspect the pex, turn it into a venv, unpack it, manage the cache."""

from __future__ import annotations

import contextlib
import os
import sys
import time

from . import cache_roots
from .log import BootError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

USAGE = """\
usage: PEX_TOOLS=1 {pex} COMMAND [ARGS]

commands:
  info                              print PEX-INFO as JSON
  venv [--force] [--no-compile] DIR create a virtualenv at DIR with the distributions installed
  extract DIR                       copy each wheel to DIR/<wheel> and unpack it into DIR/<wheel minus .whl>/
  cache [info]                      show the cache: location, entries, size, last use of each pex
  cache prune [--older-than DAYS]   forget pexes unused for DAYS (default 30), then unused entries
"""


def main(pex: str, raw: bytes, args: Sequence[str], reexec_from: str | None = None) -> int:
    """Run a PEX_TOOLS command; `reexec_from` is set when this process was re-executed to get here."""
    if not args or args[0] in ("-h", "--help", "help"):
        sys.stdout.write(USAGE.format(pex=os.path.basename(pex)))
        return 0 if args else 2
    command, rest = args[0], list(args[1:])
    if command == "info":
        return info(raw)
    if command == "venv":
        from .venvtool import venv_command

        return venv_command(pex, raw, rest, reexec_from)
    if command == "extract":
        return extract(pex, raw, rest)
    if command == "cache":
        sub = rest[0] if rest else "info"
        if sub == "info" and len(rest) <= 1:
            return cache_info()
        if sub == "prune":
            return cache_prune(_older_than(rest[1:]))
        raise BootError(f"cache: unknown arguments {' '.join(rest)!r}; use 'cache info' or 'cache prune'")
    raise BootError(f"unknown tool {command!r}; run with PEX_TOOLS=1 and 'help' to list the tools")


def info(raw: bytes) -> int:
    import json

    sys.stdout.write(json.dumps(json.loads(raw), indent=2, sort_keys=True) + "\n")
    return 0


def extract(pex: str, raw: bytes, args: Sequence[str]) -> int:
    from .cache import WheelSource
    from .extract import unpack
    from .pexinfo import PexInfo

    if len(args) != 1:
        raise BootError("usage: extract DIR")
    dest = os.path.abspath(args[0])
    info = PexInfo(raw)
    source = WheelSource(pex, info.distributions)
    try:
        os.makedirs(dest, exist_ok=True)
        for wheel in sorted(info.distributions):
            data = source.read(wheel)
            with open(os.path.join(dest, wheel), "wb") as file:
                file.write(data)
            target = os.path.join(dest, wheel[: -len(".whl")])
            os.makedirs(target, exist_ok=True)
            unpack(data, target)
            sys.stdout.write(f"{target}\n")
    except OSError as exc:
        raise BootError(f"extract: cannot write to {dest}: {exc}") from None
    finally:
        source.close()
    return 0


def _older_than(args: Sequence[str]) -> float:
    if not args:
        return 30.0
    if len(args) == 2 and args[0] == "--older-than":
        try:
            return float(args[1])
        except ValueError:
            pass
    raise BootError("usage: cache prune [--older-than DAYS]")


def _tree_size(path: str) -> int:
    total = 0
    for directory, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(directory, name)).st_size
    return total


def _records(root: str) -> list[tuple[str, float, dict[str, object] | None]]:
    """(path, mtime, record or None when unreadable) for every warm record under root/pexes."""
    import marshal

    found = []
    pexes = os.path.join(root, "pexes")
    for pex_hash in sorted(_listdir(pexes)):
        for name in sorted(_listdir(os.path.join(pexes, pex_hash))):
            path = os.path.join(pexes, pex_hash, name)
            try:
                mtime = os.stat(path).st_mtime
                with open(path, "rb") as file:
                    record = marshal.loads(file.read())
                found.append((path, mtime, record if isinstance(record, dict) else None))
            except (OSError, EOFError, ValueError, TypeError):
                found.append((path, 0.0, None))
    return found


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def _roots() -> list[str]:
    roots = cache_roots()
    return [root for root in roots if os.path.isdir(root)] or roots[:1]


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def cache_info() -> int:
    out = sys.stdout.write
    for root in _roots():
        fallback = (
            " (per-user fallback, used when PEX_ROOT cannot be written)" if root != cache_roots()[0] else ""
        )
        out(f"cache: {root}{fallback}\n")
        installs = os.path.join(root, "installs")
        names = sorted(_listdir(installs))
        size = sum(_tree_size(os.path.join(installs, name)) for name in names)
        out(f"  installs: {len(names)} entries, {_mb(size)}\n")
        out(f"  sites: {len(_listdir(os.path.join(root, 'sites')))} merged directories (symlinks)\n")
        records = _records(root)
        out(f"  pexes: {len(records)} warm records\n")
        now = time.time()
        for path, mtime, record in records:
            project = str(record.get("project") or "?") if record else "unreadable"
            used = f"{(now - mtime) / 86400:.1f} days ago" if mtime else "?"
            used_entries = record.get("entries") if record else None
            count = len(used_entries) if isinstance(used_entries, tuple) else 0
            out(f"    {os.path.relpath(path, root)}  {project}, {count} entries, last used {used}\n")
        leftovers = _listdir(os.path.join(root, "tmp"))
        if leftovers:
            out(f"  tmp: {len(leftovers)} leftovers of interrupted extractions (removed after an hour)\n")
    return 0


def cache_prune(days: float) -> int:
    from .cache import clean_stale_tmp, discard

    limit = time.time() - days * 86400
    for root in _roots():
        kept: set[str] = set()
        kept_sites: set[str] = set()
        removed_records = 0
        for path, mtime, record in _records(root):
            if record is None or mtime < limit:
                _unlink(path)
                removed_records += 1
                continue
            entries = record.get("entries")  # a re-exec record has none
            if isinstance(entries, tuple):
                kept.update(os.path.basename(str(entry[0])) for entry in entries)
            site = record.get("site")
            if isinstance(site, str):
                kept_sites.add(os.path.basename(site))
        for pex_hash in _listdir(os.path.join(root, "pexes")):
            with contextlib.suppress(OSError):
                os.rmdir(os.path.join(root, "pexes", pex_hash))  # only when empty
        freed, removed_entries = 0, 0
        installs = os.path.join(root, "installs")
        for name in _listdir(installs):
            if name not in kept:
                freed += _tree_size(os.path.join(installs, name))
                discard(root, os.path.join(installs, name))
                removed_entries += 1
        for name in _listdir(os.path.join(root, "sites")):
            if name not in kept_sites:
                discard(root, os.path.join(root, "sites", name))
        derived = [(d, n) for d in ("interpreters", "code") for n in _listdir(os.path.join(root, d))]
        for sub, name in derived:
            path = os.path.join(root, sub, name)  # recomputed by the next cold start that needs them
            with contextlib.suppress(OSError):
                if os.stat(path).st_mtime < limit:
                    _unlink(path)
        clean_stale_tmp(root)
        sys.stdout.write(
            f"{root}: removed {removed_records} pex records unused for {days:g} days and "
            f"{removed_entries} install entries ({_mb(freed)}); {len(kept)} entries still in use\n"
        )
    return 0


def _unlink(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
