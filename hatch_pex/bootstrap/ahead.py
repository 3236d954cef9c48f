"""Compiling ahead of the application (docs/runtime.md, "Start sequence").

On a first start the application compiles every module it imports from the cache entries and writes
its .pyc (bytecode.py): on a large closure that is most of the start (torch's import compiles for
seconds). The extractor has a core to spare once the entries are in place and the warm record is
written: it walks the application's imports from the entry point's module in the order Python runs
them (depth first, each module's module-level imports in the order of its code) and compiles, and
writes the .pyc of, each module that has none yet, exactly as CachingSourceLoader would (the same path
through the site directory, the same header and code). Where it is ahead, the application reads the
.pyc instead of compiling; where both compile one module, the second rename wins with the same bytes.

It stops at the end of the walk, or as soon as the start asks (its exit writes a byte; the pipe's end
says the same when the start is gone): the start waits for at most one module's compilation.
"""

from __future__ import annotations

import marshal
import os
import time

from .bytecode import PRECOMPILED, bx, pyc_header, write_atomic  # type: ignore[attr-defined]
from .log import log, since
from .trust import read_owned

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from types import CodeType


def worthwhile() -> bool:
    """Only with a core for the extractor beside the application's (on one, it would take turns with
    the application for work the application does anyway), and when the pex does not carry the
    bytecode of this interpreter already (precompiled.py: the imports read it from there)."""
    if PRECOMPILED:
        return False
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return cores >= 2


def stop_requested(fd: int) -> bool:
    """A byte (the start's exit) or the end of the pipe (the start is gone) on `fd`."""
    import select

    return bool(select.select([fd], [], [], 0)[0])


def compile_ahead(site: str, module: str, stopped: Callable[[], bool]) -> None:
    """Walks the imports from `module` under `site` (the start's site directory), compiling as it goes,
    until the walk ends or `stopped()`; never raises but for ^C (it only saves the application work)."""
    started = time.perf_counter()
    compiled = read = 0
    try:
        for fresh in _walk(site, module, stopped):
            compiled += fresh
            read += not fresh
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:  # an optimisation: whatever goes wrong, the application compiles itself
        log(f"compiling ahead of the application stopped: {type(exc).__name__}: {exc}", 2)
    done = f"{compiled} modules ahead of the application ({read} compiled already)"
    log(f"compiled {done} in {since(started)}", 2)


def _walk(site: str, first: str, stopped: Callable[[], bool]) -> Iterator[bool]:
    """Depth first from `first`, as Python's import runs: a module, then the modules its code imports,
    in the order of that code, each with its parent packages before it. Only modules with a source
    file in the site directory are visited (the standard library and extension modules are not)."""
    scanner = ImportScanner()
    seen: set[str] = set()
    stack = [first]
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        parts = name.split(".")
        parents = [".".join(parts[:end]) for end in range(1, len(parts)) if ".".join(parts[:end]) not in seen]
        if parents:  # `import a.b.c` runs a, then a.b, then a.b.c
            seen.discard(name)
            stack.append(name)
            stack.extend(reversed(parents))
            continue
        found = source_path(site, parts)
        if found is None:
            continue
        if stopped():
            return
        path, is_package = found
        result = _compiled(path)
        if result is None:
            continue
        code, fresh = result
        yield fresh
        package = name if is_package else name.rpartition(".")[0]
        stack.extend(reversed(scanner.imports(code, package)))


def source_path(site: str, parts: list[str]) -> tuple[str, bool] | None:
    """The source file of the module `parts` in the site directory, as the path-based finder would
    name it, and whether it is a package; None for one without a source file there (a namespace
    package is looked through: its modules are found all the same)."""
    base = os.path.join(site, *parts)
    init = os.path.join(base, "__init__.py")
    if os.path.isfile(init):
        return init, True
    if os.path.isfile(base + ".py"):
        return base + ".py", False
    return None


def _compiled(path: str) -> tuple[CodeType, bool] | None:
    """The code of `path` and whether it was compiled now: read from its .pyc when CachingSourceLoader
    would accept that (the application, or an earlier walk, wrote it), else compiled and written."""
    try:
        pyc_path = bx.cache_from_source(path)
        st = os.stat(path)
    except (NotImplementedError, OSError):
        return None
    header = pyc_header(st.st_mtime, st.st_size)
    data = read_owned(pyc_path)
    if data is not None and data[:16] == header:
        try:
            code = marshal.loads(memoryview(data)[16:])
            if isinstance(code, type(_compiled.__code__)):
                return code, False
        except (EOFError, ValueError, TypeError):
            pass
    try:
        with open(path, "rb") as file:
            source = file.read()
        # what SourceLoader.source_to_code does: the same file name, flags and optimisation level
        code = compile(source, path, "exec", dont_inherit=True)
    except (OSError, SyntaxError, ValueError):
        return None  # the application's import reports it, if it ever imports the module
    write_atomic(pyc_path, header + marshal.dumps(code))
    return code, True


class ImportScanner:
    """The modules a code object's `import` statements name, read from its bytecode (not from the code
    objects nested in it: a function's imports run later, if ever). Each IMPORT_NAME instruction comes
    after the instructions that push its level and its from-list."""

    def __init__(self) -> None:
        import opcode

        self.import_name = bytes([opcode.opmap["IMPORT_NAME"]])
        self.extended_arg = opcode.EXTENDED_ARG
        self.load_const = opcode.opmap["LOAD_CONST"]
        self.load_small_int = opcode.opmap.get("LOAD_SMALL_INT", -1)  # 3.14: the level is pushed so

    def imports(self, code: CodeType, package: str) -> list[str]:
        """Absolute module names in the order the code imports them; for `from x import y`, x then x.y
        (y may be a submodule; a name that is not one is not found and so skipped)."""
        names: list[str] = []
        raw = code.co_code
        at = raw.find(self.import_name)
        while at != -1:
            if at % 2 == 0:  # an opcode, not an argument byte
                arg, start = self._argument(raw, at)
                level, fromlist = 0, None
                pushed = self._pushed(code, raw, start)
                if pushed is not None:
                    fromlist = pushed
                    level_value = self._pushed(code, raw, self._start(raw, start - 2))
                    level = level_value if isinstance(level_value, int) else 0
                name = self._absolute(code.co_names[arg], package, level)
                if name is not None:
                    names.append(name)
                    if isinstance(fromlist, tuple):
                        items = (item for item in fromlist if isinstance(item, str) and item != "*")
                        names.extend(f"{name}.{item}" for item in items)
            at = raw.find(self.import_name, at + 1)
        return names

    def _start(self, raw: bytes, at: int) -> int:
        """Where the instruction whose opcode is at `at` begins, its EXTENDED_ARG prefixes included."""
        while at >= 2 and raw[at - 2] == self.extended_arg:
            at -= 2
        return at

    def _argument(self, raw: bytes, at: int) -> tuple[int, int]:
        """The full argument of the instruction at `at`, and where it begins."""
        start = self._start(raw, at)
        arg = 0
        for position in range(start, at + 2, 2):
            arg = (arg << 8) | raw[position + 1]
        return arg, start

    def _pushed(self, code: CodeType, raw: bytes, start: int) -> object:
        """The constant the instruction just before `start` pushes, or None when it is not a constant."""
        if start < 2:
            return None
        at = start - 2
        op = raw[at]
        if op == self.load_const:
            arg, _ = self._argument(raw, at)
            return code.co_consts[arg] if arg < len(code.co_consts) else None
        if op == self.load_small_int:
            return self._argument(raw, at)[0]
        return None

    @staticmethod
    def _absolute(name: str, package: str, level: int) -> str | None:
        if level <= 0:
            return name or None
        bits = package.rsplit(".", level - 1)
        if not package or len(bits) < level:
            return None  # beyond the top-level package: the application's import fails as it should
        return f"{bits[0]}.{name}" if name else bits[0]
