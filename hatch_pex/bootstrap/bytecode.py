"""Reading and writing the .pyc files of modules imported from cache entries, even when
sys.dont_write_bytecode is set.

Many machines set PYTHONDONTWRITEBYTECODE=1; without bytecode every warm start would recompile the
application and its dependencies (~5 us a source line). Only directories under `<PEX_ROOT>/installs/`
and `<PEX_ROOT>/sites/` get this path hook (a package imported through a site's symlink writes its .pyc
into the cache entry's own __pycache__), so the user's other code is left alone. The .pyc is written
lazily, when a module is first imported (a timestamp pyc, PEP 552 flags 0, written to a temp name then
renamed into place).
"""

from __future__ import annotations

import marshal
import os
import sys

from .guard import GUARD
from .trust import create, make_dirs, new_name, read_owned

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from importlib import _bootstrap_external as bx
    from importlib.machinery import ModuleSpec
    from types import CodeType, ModuleType
    from typing import Protocol

    class CodeSource(Protocol):
        """Code compiled at build time (precompiled.Precompiled): None for a module it lacks."""

        def code(self, source_path: str) -> CodeType | None: ...
else:
    bx = sys.modules["_frozen_importlib_external"]  # always loaded; importing importlib.util costs ms


# The code compiled at build time that a first start reads (precompiled.Precompiled, installed by the
# cold start; kept here so that a warm start imports nothing more).
PRECOMPILED: list[CodeSource] = []


def pyc_header(mtime: float, size: int) -> bytes:
    return (
        bx.MAGIC_NUMBER
        + b"\0\0\0\0"
        + (int(mtime) & 0xFFFFFFFF).to_bytes(4, "little")
        + (size & 0xFFFFFFFF).to_bytes(4, "little")
    )


class CachingSourceLoader(bx.SourceFileLoader):
    """SourceFileLoader that reads and writes its own timestamp .pyc whatever sys.dont_write_bytecode says."""

    def get_code(self, fullname: str) -> CodeType:
        source_path = self.get_filename(fullname)
        try:
            pyc_path = bx.cache_from_source(source_path)
            st = GUARD[0].checked_stat(source_path) if GUARD else os.stat(source_path)
        except (NotImplementedError, OSError):
            return super().get_code(fullname)  # type: ignore[return-value]
        header = pyc_header(st.st_mtime, st.st_size)
        data = read_owned(pyc_path)  # a .pyc someone else could have written is compiled afresh
        if data is not None and data[:16] == header:
            try:
                code = marshal.loads(memoryview(data)[16:])
                if isinstance(code, type(pyc_header.__code__)):
                    return code
            except (EOFError, ValueError, TypeError):
                pass
        # a first start reads the code compiled at build time, when the pex carries it (precompiled.py)
        built = PRECOMPILED[0].code(source_path) if PRECOMPILED else None
        compiled: CodeType = built or self.source_to_code(self.get_data(source_path), source_path)
        write_atomic(pyc_path, header + marshal.dumps(compiled))
        return compiled


class CheckedExtensionLoader(bx.ExtensionFileLoader):
    """ExtensionFileLoader that checks the file (guard.py) before the dynamic loader maps it."""

    def create_module(self, spec: ModuleSpec) -> ModuleType:
        if GUARD:
            GUARD[0].checked_stat(self.path)
        return super().create_module(spec)


class CheckedSourcelessLoader(bx.SourcelessFileLoader):
    """SourcelessFileLoader (a wheel that ships .pyc files only) that checks the file first."""

    def get_code(self, fullname: str) -> CodeType | None:
        if GUARD:
            GUARD[0].checked_stat(self.get_filename(fullname))
        return super().get_code(fullname)


LOADERS = {
    bx.ExtensionFileLoader: CheckedExtensionLoader,
    bx.SourceFileLoader: CachingSourceLoader,
    bx.SourcelessFileLoader: CheckedSourcelessLoader,
}


class CheckedFileFinder(bx.FileFinder):
    """FileFinder of a directory in the cache (guard.py): a package it finds has its directory checked
    before its code runs, and a module it does not find there that the manifest lists is a deleted
    file; either way the entry is repaired and the search made again."""

    def find_spec(self, fullname: str, target: ModuleType | None = None) -> ModuleSpec | None:
        spec = super().find_spec(fullname, target)
        if not GUARD:
            return spec
        guard = GUARD[0]
        if spec is None or spec.loader is None:  # not found, or a namespace portion
            problem = guard.missing(self.path, fullname.rpartition(".")[2])
        else:
            problem = next(
                filter(None, map(guard.directory_problem, spec.submodule_search_locations or ())), None
            )
        if problem is not None:
            guard.repair_or_fail(*problem)
            self.invalidate_caches()
            spec = super().find_spec(fullname, target)
        return spec


def write_atomic(path: str, data: bytes) -> bool:
    """A new file under a fresh name, renamed into place: readers never see a partial file, and a
    planted name or symlink is never written through (trust.create). False when it cannot be
    written (a read-only cache still runs, just without bytecode)."""
    tmp = new_name(path)
    try:
        make_dirs(os.path.dirname(path))
        with open(create(tmp), "wb") as file:
            file.write(data)
        os.replace(tmp, path)
        return True
    except OSError:
        try:  # noqa: SIM105 - contextlib would be one more import on the warm path
            os.unlink(tmp)
        except OSError:
            pass
        return False


def prefixes(directories: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(directory.rstrip(os.sep) + os.sep for directory in directories)


def path_hook(*directories: str) -> Callable[[str], bx.FileFinder]:
    prefix = prefixes(directories)
    loaders = [
        (LOADERS.get(loader, loader), suffixes)
        for loader, suffixes in bx._get_supported_file_loaders()  # type: ignore[attr-defined]
    ]

    # Named so that isolation.purge, which drops hooks named like a module loaded from outside the
    # pex, never takes it for one: it is installed before that purge (launch.py).
    def hatch_pex_bytecode_hook(path: str) -> bx.FileFinder:
        if not path.startswith(prefix):
            raise ImportError("not a hatch-pex cache entry")
        return CheckedFileFinder(path, *loaders)

    return hatch_pex_bytecode_hook


def install(*directories: str) -> None:
    """Adds the hook for directories under `directories`: their .pyc files are written whatever
    sys.dont_write_bytecode says, and read and written as trust.py wants, never as Python's own
    loader would (it reads a .pyc whoever wrote it, and makes __pycache__ 0777 minus the umask).

    Installed before the site directory's .pth files are processed (launch.py), so that their import
    lines and the finder cached for the site directory use it. A finder some earlier import cached for
    one of these directories is forgotten: the next import asks the hook (a handful of keys to look at)."""
    sys.path_hooks.insert(0, path_hook(*directories))
    prefix = prefixes(directories)
    cache = sys.path_importer_cache
    for path in [p for p in cache if isinstance(p, str) and p.startswith(prefix)]:
        del cache[path]
