"""`PEX_TOOLS=1 ./app.pex COMMAND ...`: inspect the pex, turn it into a venv, unpack it, manage the cache."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time

from . import CHECKED, cache_roots, configured_root
from .locks import ROOT_LOCK, hold_exclusive, lock_path, release
from .log import BootError
from .trust import contained, create, make_dirs, read_owned

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import NoReturn

USAGE = """\
usage: PEX_TOOLS=1 {pex} COMMAND [ARGS]

commands:
  info [-i N] [-o PATH]             PEX-INFO as JSON, as PEX's info tool prints it (-i: indent);
                                    --human, --json: the report of `inspect`; --raw: as -i 2
  inspect [--json]                  what the pex holds and runs (as `python -m hatch_pex inspect`)
  verify                            re-hash every member against the hashes recorded at build time
  venv [--force] [--no-compile] DIR create a virtualenv at DIR with the distributions installed
  extract DIR                       copy each wheel to DIR/<wheel> and unpack it into DIR/<wheel minus .whl>/
  cache [info]                      show the cache: location, entries, size, last use of each pex
  cache prune [--older-than DAYS]   forget pexes unused for DAYS (default 30), then unused entries
"""


def main(pex: str, raw: bytes, args: Sequence[str], reexec_from: str | None = None) -> int:
    """Run a PEX_TOOLS command; `reexec_from` is set when this process was re-executed to get here."""
    if not args:  # a start failure like any other: an error line, then what to type instead
        sys.stderr.write("hatch-pex: error: PEX_TOOLS is set but no tool was named\n")
        sys.stderr.write(USAGE.format(pex=os.path.basename(pex)))
        return 2
    if args[0] in ("-h", "--help", "help"):
        sys.stdout.write(USAGE.format(pex=os.path.basename(pex)))
        return 0
    command, rest = args[0], list(args[1:])
    if command in ("info", "inspect", "verify"):
        return report_command(pex, command, rest)
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


def report_command(pex: str, command: str, args: Sequence[str]) -> int:
    """`info`, `inspect` and `verify`: the code of `python -m hatch_pex info|inspect|verify` (report.py).
    Their error messages quote names out of the file: escaped here, as `hatch-pex` escapes them."""
    from . import report
    from .printable import printable

    try:
        if command == "info":
            return info(pex, args)
        if command == "verify" and not args:
            return report.verify_command(pex, sys.stdout)
        if command == "inspect" and list(args) in ([], ["--json"]):
            return report.inspect_command(pex, list(args) == ["--json"], sys.stdout)
    except BootError as exc:
        raise BootError(printable(str(exc))) from None
    raise BootError("usage: inspect [--json]" if command == "inspect" else "usage: verify")


class _ToolParser(argparse.ArgumentParser):
    """argparse, for PEX's option syntax (`-i2`, `--indent=2`), but a bad argument is a BootError: one
    `hatch-pex: error:` line and exit 2, as with every other tool."""

    def error(self, message: str) -> NoReturn:
        usage = " ".join(self.format_usage().split()[1:])  # one line, without "usage:"
        raise BootError(f"{message} (usage: {usage})")


def info(pex: str, args: Sequence[str]) -> int:
    """PEX-INFO as PEX's `info` tool prints it, with its `-i` and `-o`, so that scripts written for
    PEX's files (`PEX_TOOLS=1 ./app.pex info | jq ...`) read ours. `--human` and `--json` give the
    report of `inspect` (what `info` used to print), `--raw` is `-i 2` (what it printed before)."""
    from . import report

    parser = _ToolParser(
        prog=f"PEX_TOOLS=1 {os.path.basename(pex)} info",
        description="Print PEX-INFO as JSON, as the info tool of PEX does.",
    )
    report.add_pex_info_options(parser)
    instead = parser.add_mutually_exclusive_group()
    instead.add_argument("--human", action="store_true", help="the report of `inspect` instead")
    instead.add_argument("--json", action="store_true", help="the report of `inspect --json` instead")
    instead.add_argument("--raw", action="store_true", help="PEX-INFO indented by 2 (as -i 2)")
    options = parser.parse_args(args)
    if options.human or options.json:
        if options.indent is not None or options.output is not None:
            parser.error("-i and -o apply to PEX-INFO, not to the report of --human or --json")
        return report.inspect_command(pex, options.json, sys.stdout)
    if options.raw and options.indent is not None:
        parser.error("--raw is -i 2: give one of them")
    return report.info_command(pex, 2 if options.raw else options.indent, options.output, sys.stdout)


def extract(pex: str, raw: bytes, args: Sequence[str]) -> int:
    from .extract import WheelSource, unpack_file
    from .pexinfo import PexInfo

    if len(args) != 1:
        raise BootError("usage: extract DIR")
    dest = os.path.abspath(args[0])
    info = PexInfo(raw)
    source = WheelSource(pex, info.distributions)
    try:
        make_dirs(dest)
        for wheel in sorted(info.distributions):
            path = contained(dest, wheel, "wheel name")
            fd = create(path)
            try:
                source.copy(wheel, fd, dest)  # checked against PEX-INFO's sha256
            except BaseException:
                os.unlink(path)
                raise
            finally:
                os.close(fd)
            target = path[: -len(".whl")]
            os.mkdir(target, 0o755)
            unpack_file(path, target)
            sys.stdout.write(f"{target}\n")
    except FileExistsError as exc:
        raise BootError(
            f"extract: {exc.filename} already exists; extract into a new or empty directory"
        ) from None
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
    """(path, mtime, record or None when unreadable or not ours) for every warm record under root/pexes."""
    import marshal

    found = []
    pexes = os.path.join(root, "pexes")
    for pex_hash in sorted(_listdir(pexes)):
        for name in sorted(_listdir(os.path.join(pexes, pex_hash))):
            if name.endswith(".lock"):
                continue
            path = os.path.join(pexes, pex_hash, name)
            try:
                mtime = os.lstat(path).st_mtime
                data = read_owned(path)
                record = marshal.loads(data) if data is not None else None
                found.append((path, mtime, record if isinstance(record, dict) else None))
            except Exception:  # unreadable, or damaged: marshal raises SystemError too
                found.append((path, 0.0, None))
    return found


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def _roots() -> list[str]:
    """The roots to show or prune, resolved: those that exist and that nobody else could have written
    (trust.trusted_root, as for a start), else the configured one if it is trusted but not made yet."""
    roots = cache_roots()
    for root, (_, problem) in CHECKED.items():
        if problem:
            sys.stdout.write(f"cache: {root} is not used: {problem}\n")
    return [root for root in roots if os.path.isdir(root)] or roots[:1]


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def cache_info() -> int:
    out = sys.stdout.write
    for root in _roots():
        fallback = (
            " (per-user fallback, used when PEX_ROOT cannot be written)"
            if root != CHECKED[configured_root()][0]
            else ""
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
            used = f"{(now - mtime) / 86400:.1f} days ago" if mtime else "?"
            out(f"    {os.path.relpath(path, root)}  {_describe_record(record)}, last used {used}\n")
        leftovers = _listdir(os.path.join(root, "tmp"))
        if leftovers:
            out(f"  tmp: {len(leftovers)} leftovers of interrupted extractions (removed after an hour)\n")
    return 0


def _describe_record(record: dict[str, object] | None) -> str:
    """What a record under pexes/ is for: the cache entries a pex runs from, or, for an interpreter
    that does not fit the pex (record.build_reexec), the interpreter a start re-executes under."""
    if record is None:
        return "unreadable"
    if "reexec" not in record:
        entries = record.get("entries")
        return f"{record.get('project') or '?'}, {len(entries) if isinstance(entries, tuple) else 0} entries"
    from .interpreter import describe
    from .pexinfo import PexInfo

    raw, project = record.get("pexinfo"), "?"  # a re-exec record keeps no project name: PEX-INFO has it
    with contextlib.suppress(BootError):
        project = PexInfo(raw).project_name if isinstance(raw, bytes) else project
    identity = record.get("identity")
    if isinstance(identity, tuple) and len(identity) == 6:  # __init__.interpreter_identity()
        executable, version, _, _, _, implementation = (str(part) for part in identity)
        running = describe(
            {"executable": executable, "implementation": implementation, "version": version.split()[0]}
        )
    else:
        running = "?"
    return f"{project}, re-exec record: {running} does not fit, runs {record['reexec']} instead"


def cache_prune(days: float) -> int:
    """Forgets the records unused for `days` that no running pex holds, then the entries and sites no
    remaining record names. Cold starts hold prune.lock while they extract: prune waits for them, and
    they wait for prune (locks.py)."""
    from .cache import clean_stale_tmp, discard

    limit = time.time() - days * 86400
    for root in _roots():
        root_lock = hold_exclusive(os.path.join(root, ROOT_LOCK), wait=True)
        held: list[int] = []  # locks of the records removed: kept until their entries are gone
        try:
            kept, kept_sites, removed_records, running = _prune_records(root, limit, held)
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
                    if os.lstat(path).st_mtime < limit:
                        _unlink(path)
            clean_stale_tmp(root)
        finally:
            for fd in held:
                release(fd)
            release(root_lock)
        sys.stdout.write(
            f"{root}: removed {removed_records} pex records unused for {days:g} days and "
            f"{removed_entries} install entries ({_mb(freed)}); {len(kept)} entries still in use"
            f"{f' ({running} records held by running pex files)' if running else ''}\n"
        )
    return 0


def _prune_records(root: str, limit: float, held: list[int]) -> tuple[set[str], set[str], int, int]:
    """(entries kept, sites kept, records removed, records held by running processes)."""
    kept: set[str] = set()
    kept_sites: set[str] = set()
    removed, running = 0, 0
    for path, mtime, record in _records(root):
        lock = hold_exclusive(lock_path(path), wait=False)
        if lock is None:
            running += 1  # a running pex holds it (or it cannot be locked): whatever its age, it stays
        elif record is None or mtime < limit:
            _unlink(path)
            _unlink(lock_path(path))
            held.append(lock)
            removed += 1
            continue
        else:
            release(lock)
        if record is None:
            continue
        entries = record.get("entries")  # a re-exec record has none
        if isinstance(entries, tuple):
            kept.update(os.path.basename(str(entry[0])) for entry in entries)
        site = record.get("site")
        if isinstance(site, str):
            kept_sites.add(os.path.basename(site))
    pexes = os.path.join(root, "pexes")
    for pex_hash in _listdir(pexes):
        directory = os.path.join(pexes, pex_hash)
        for name in _listdir(directory):  # a lock whose record is gone, that nobody holds
            path = os.path.join(directory, name)
            if name.endswith(".lock") and not os.path.lexists(path[: -len(".lock")]):
                lock = hold_exclusive(path, wait=False)
                if lock is not None:
                    _unlink(path)
                    held.append(lock)
        with contextlib.suppress(OSError):
            os.rmdir(directory)  # only when empty
    return kept, kept_sites, removed, running


def _unlink(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
