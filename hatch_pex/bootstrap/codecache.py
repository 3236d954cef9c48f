"""Compiled code of the whole runtime, shared by every pex that carries the same runtime sources.

zipimport caches no bytecode: a cold start would compile ~2,400 lines of runtime from the zip (~50 ms).
Instead the first cold start under an interpreter writes `$PEX_ROOT/code/<cache tag>-<hash of the
sources>` (marshal {module: code}) and later cold starts, of any pex with the same runtime, load it and
serve the runtime's modules from it through a meta path finder; without it, the same finder compiles
each module from its source when first imported. Warm starts do not use this file: their record
carries the code they need.
"""

from __future__ import annotations

import marshal
import os
import sys

from . import ZIP, owned, short_hash

TYPE_CHECKING = False
if TYPE_CHECKING:
    from importlib.machinery import ModuleSpec
    from types import CodeType, ModuleType

PACKAGE = __name__.rpartition(".")[0]
SOURCES_KEY = "sources"  # the digest of the sources compiled, kept in the file beside the code
# Every module of the runtime but __init__ and main_stub (tests/test_runtime_unit.py checks the list).
RUNTIME_MODULES = (
    "ahead", "bytecode", "cache", "codecache", "damage", "entry", "extract", "guard", "interpreter",
    "isolation", "launch", "locks", "log", "overlap", "pexinfo", "precompiled", "printable", "recheck",
    "record", "reexec", "report", "resolve", "rootpath", "specifiers", "tags", "tools", "trust",
    "venvtool", "wheels", "zipcheck",
)  # fmt: skip


SOURCES: list[tuple[dict[str, bytes], str]] = []  # read and hashed once per process (~2 ms a time)


def sources() -> dict[str, bytes]:
    return _read()[0]


def sources_digest() -> str:
    return _read()[1]


def _read() -> tuple[dict[str, bytes], str]:
    if not SOURCES:
        texts = {name: ZIP.get_data(f".bootstrap/{PACKAGE}/{name}.py") for name in RUNTIME_MODULES}
        SOURCES.append((texts, short_hash(b"\0".join(texts[name] for name in RUNTIME_MODULES))))
    return SOURCES[0]


def path(root: str) -> str:
    return os.path.join(root, "code", f"{sys.implementation.cache_tag}-{sources_digest()}")


def compile_all(texts: dict[str, bytes]) -> dict[str, CodeType]:
    """File names "<pex>/.bootstrap/..." as the code is shared by every pex with this runtime.

    `from __future__ import annotations` becomes a compiler flag: same code, but executing it does not
    import the __future__ module (~0.4 ms of a warm start)."""
    import __future__

    future = b"from __future__ import annotations\n"
    flags = __future__.annotations.compiler_flag
    return {
        f"{PACKAGE}.{name}": compile(
            text.replace(future, b"\n", 1),
            f"<pex>/.bootstrap/{PACKAGE}/{name}.py",
            "exec",
            flags=flags if future in text else 0,
            dont_inherit=True,
        )
        for name, text in texts.items()
    }


def current() -> dict[str, CodeType]:
    """The runtime's code, every module of it: from the finder install() put in place (what it has not
    compiled yet compiled now), else compiled now."""
    for finder in sys.meta_path:
        if isinstance(finder, CodeFinder):
            if finder.from_sources:
                texts = sources()
                missing = {
                    name: texts[name] for name in RUNTIME_MODULES if f"{PACKAGE}.{name}" not in finder.codes
                }
                finder.codes.update(compile_all(missing))
            return finder.codes
    return compile_all(sources())


class CodeFinder:
    """Meta path finder serving the runtime's modules from compiled code (removed by launch.py before
    the application runs). `from_sources`: no code cache was found, and each module is compiled from
    its source when first imported. zipimport would compile it twice: its find_spec compiles a module
    to name its file (get_filename), and get_code compiles it again (~50 ms of a first start)."""

    hatch_pex_code_cache = True

    def __init__(self, codes: dict[str, CodeType], from_sources: bool = False) -> None:
        self.codes, self.from_sources = codes, from_sources

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> ModuleSpec | None:
        code = self.codes.get(fullname)
        if code is None and self.from_sources and fullname.startswith(f"{PACKAGE}."):
            name = fullname[len(PACKAGE) + 1 :]
            if name in RUNTIME_MODULES:
                code = self.codes[fullname] = compile_all({name: sources()[name]})[fullname]
        if code is None:
            return None
        spec = type(__spec__)(fullname, self, origin=code.co_filename)  # type: ignore[arg-type]
        spec.has_location = True
        return spec

    def create_module(self, spec: ModuleSpec) -> None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        exec(self.codes[module.__name__], module.__dict__)


def install(roots: list[str]) -> None:
    """Serves the runtime from the code cache of the first root that has it, else from its sources.
    The roots are checked and resolved already (cache_roots: nothing is read from a refused one). The
    file must be ours (as trust.open_owned checks, written out here: this runs before the runtime's
    other modules are available) and name the sources it was compiled from."""
    digest = sources_digest()
    for root in roots:
        try:
            fd = os.open(path(root), os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            continue
        try:
            st = os.fstat(fd)
            codes = marshal.loads(os.read(fd, st.st_size + 1)) if owned(st) else None
        except Exception:  # unreadable, or damaged: marshal raises SystemError too (then: compiled)
            codes = None
        finally:
            os.close(fd)
        if isinstance(codes, dict) and codes.pop(SOURCES_KEY, None) == digest:
            sys.meta_path.insert(0, CodeFinder(codes))
            return
    sys.meta_path.insert(0, CodeFinder({}, from_sources=True))


def save(root: str, codes: dict[str, CodeType]) -> None:
    """Writes the code cache for this runtime under root when it is not there yet."""
    from .bytecode import write_atomic

    target = path(root)
    if not os.path.exists(target):
        write_atomic(target, marshal.dumps({**codes, SOURCES_KEY: sources_digest()}))
