"""hatch-pex runtime, copied into every .pex as `.bootstrap/_hatch_pex_boot/` (stdlib only).

The archive's `__main__.py` (main_stub.py) calls `boot(pex)`. This module is compiled from source on
every start (zipimport caches no bytecode), so it holds only the warm-path lookup: find this pex's warm
record for this interpreter and serve the rest of the runtime from the code objects kept in it.
Everything else lives in the submodules; docs/runtime.md describes the whole start.
"""

from __future__ import annotations

import marshal
import os
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from importlib.machinery import ModuleSpec
    from types import CodeType, ModuleType

RECORD_FORMAT = 1
ZIP = globals()["__loader__"]  # the zipimporter of .bootstrap/: reads members without zipfile


def boot(pex: str) -> None:
    started = time.perf_counter()
    pex = os.path.abspath(pex)
    own = (pex, os.path.join(pex, ".bootstrap"))
    sys.path[:] = [entry for entry in sys.path if os.path.abspath(entry) not in own]
    raw = ZIP.get_data("PEX-INFO")
    record = None if "PEX_TOOLS" in os.environ else warm_record(raw)
    finder = None
    if record is not None:
        finder = _CodeCache(record["code"])
        sys.meta_path.insert(0, finder)
    from .launch import launch

    if finder is not None:
        sys.meta_path.remove(finder)
    launch(pex, raw, record, started)


def cache_roots() -> Iterator[str]:
    """PEX_ROOT (default $XDG_CACHE_HOME/hatch-pex or ~/.cache/hatch-pex), then the private temp
    fallback used when that cannot be written, if it exists and is safe (ours, not group/world open)."""
    root = os.environ.get("PEX_ROOT")
    if not root:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = xdg if xdg and os.path.isabs(xdg) else os.path.join(os.path.expanduser("~"), ".cache")
        root = os.path.join(base, "hatch-pex")
    yield os.path.abspath(os.path.expanduser(root))
    fallback = fallback_root()
    if fallback_is_safe(fallback):
        yield fallback


def fallback_root() -> str:
    return os.path.join(os.environ.get("TMPDIR") or "/tmp", f"hatch-pex-{os.getuid()}")


def fallback_is_safe(path: str) -> bool:
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return st.st_uid == os.getuid() and (st.st_mode & 0o170077) == 0o040000  # a dir, mode 0700 or less


def interpreter_identity() -> tuple[str, ...]:
    """What the chosen wheels, tags and stdlib paths depend on."""
    return (sys.executable, sys.version, sys.prefix, sys.base_prefix, sys.platform, sys.implementation.name)


def interpreter_key() -> str:
    """Short file name for this interpreter: cache tag + FNV-1a of the identity (hashlib costs ~3 ms)."""
    value = 0xCBF29CE484222325
    for char in repr(interpreter_identity()):
        value = ((value ^ ord(char)) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{sys.implementation.cache_tag}-{value:016x}"


def pex_hash_of(raw: bytes) -> str | None:
    """`pex_hash` from the PEX-INFO text without json (json imports `re`: ~8 ms)."""
    key = raw.find(b'"pex_hash"')
    if key < 0:
        return None
    start = raw.find(b'"', raw.find(b":", key) + 1) + 1
    value = raw[start : raw.find(b'"', start)]
    return value.decode() if len(value) == 64 and not value.strip(b"0123456789abcdef") else None


def record_path(root: str, pex_hash: str) -> str:
    return os.path.join(root, "pexes", pex_hash, interpreter_key())


def warm_record(raw: bytes) -> dict[str, object] | None:
    """The record a previous start of this pex left for this interpreter, if it still matches."""
    pex_hash = pex_hash_of(raw)
    if pex_hash is None:
        return None
    identity = interpreter_identity()
    for root in cache_roots():
        path = record_path(root, pex_hash)
        try:
            with open(path, "rb") as file:
                record = marshal.load(file)
                mtime = os.fstat(file.fileno()).st_mtime
        except (OSError, EOFError, ValueError, TypeError):
            continue
        if (
            isinstance(record, dict)
            and record.get("format") == RECORD_FORMAT
            and record.get("pexinfo") == raw
            and record.get("identity") == identity
        ):
            record["path"] = path
            record["mtime"] = mtime
            return record
    return None


class _CodeCache:
    """Meta path finder serving this package's modules from the code objects kept in the warm record:
    compiling them from the zip's sources would cost ~5 us a line on every start."""

    def __init__(self, codes: object) -> None:
        self.codes: dict[str, CodeType] = codes if isinstance(codes, dict) else {}

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> ModuleSpec | None:
        code = self.codes.get(fullname)
        if code is None:
            return None
        spec = type(__spec__)(fullname, self, origin=code.co_filename)  # type: ignore[arg-type] # ModuleSpec
        spec.has_location = True
        return spec

    def create_module(self, spec: ModuleSpec) -> None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        exec(self.codes[module.__name__], module.__dict__)

    def get_source(self, fullname: str) -> str:  # for tracebacks through the runtime's frames
        path = f".bootstrap/{__name__}/{fullname.rpartition('.')[2]}.py"
        source: bytes = ZIP.get_data(path)
        return source.decode("utf-8")
