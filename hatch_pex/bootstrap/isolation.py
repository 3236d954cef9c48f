"""sys.path isolation: keep the stdlib, drop what site added, put the cache entries on, process their .pth.

Also purges modules imported from dropped paths before the pex ran (a site-packages .pth may import
certifi at interpreter start; the pex's own certifi must win).
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

PACKAGE = __name__.rpartition(".")[0]


def stdlib_paths() -> tuple[str, ...]:
    """The sys.path entries that belong to the interpreter itself (cold path: imports sysconfig)."""
    import sysconfig

    dirs: set[str] = set()
    for key in ("stdlib", "platstdlib"):
        path = sysconfig.get_path(key)
        if path:
            for form in (path, os.path.realpath(path)):
                dirs.update((form, os.path.join(form, "lib-dynload")))
    dirs.add(os.path.dirname(os.__file__))
    zip_name = f"python{sys.version_info[0]}{sys.version_info[1]}.zip"
    kept = {d for d in dirs if os.path.isdir(d)}
    for entry in sys.path:
        if entry in dirs or os.path.realpath(entry) in dirs or os.path.basename(entry) == zip_name:
            kept.add(entry)
    return tuple(sorted(kept))


def split_sys_path(path: Sequence[str], stdlib: Iterable[str]) -> tuple[list[str], list[str]]:
    """(stdlib entries, everything else: site-packages, user site, .pth additions, PYTHONPATH)."""
    keep = set(stdlib)
    return [p for p in path if p in keep], [p for p in path if p not in keep]


def build_sys_path(
    path: Sequence[str], stdlib: Iterable[str], entries: Sequence[str], inherit: str, extra: Sequence[str]
) -> tuple[list[str], list[str]]:
    """(new sys.path without .pth additions, the entries after which those go); see docs/runtime.md."""
    kept, inherited = split_sys_path(path, stdlib)
    if inherit == "prefer":
        head = kept + inherited + list(entries)
        tail = list(extra)
    elif inherit == "fallback":
        head = kept + list(entries)
        tail = inherited + list(extra)
    else:
        head = kept + list(entries)
        tail = list(extra)
    return head, tail


def foreign_modules(modules: Mapping[str, object], kept: Iterable[str], dropped: Iterable[str]) -> list[str]:
    """Loaded modules that do not come from a kept sys.path entry: the deepest entry holding the module's
    file decides (site-packages lies inside the stdlib directory). Never __main__ or this runtime."""
    owners = sorted(
        [(d.rstrip(os.sep) + os.sep, True) for d in kept]
        + [(d.rstrip(os.sep) + os.sep, False) for d in dropped],
        key=lambda owner: len(owner[0]),
        reverse=True,
    )

    def is_kept(file: str) -> bool:
        for prefix, keep in owners:
            if file.startswith(prefix):
                return keep
        return False

    foreign = []
    for name, module in list(modules.items()):
        if name == "__main__" or name == PACKAGE or name.startswith(PACKAGE + "."):
            continue
        file = getattr(module, "__file__", None)
        if isinstance(file, str):
            if not is_kept(file):
                foreign.append(name)
            continue
        path = getattr(module, "__path__", None)  # namespace packages have no __file__
        if path is not None and file is None:
            try:
                if not all(is_kept(str(p) + os.sep) for p in path):
                    foreign.append(name)
            except TypeError:
                pass
    return foreign


def purge(names: Iterable[str]) -> None:
    """Forget modules, and the meta path finders / path hooks they installed (e.g. _distutils_hack)."""
    gone = set(names)
    for name in gone:
        sys.modules.pop(name, None)

    def foreign(hook: object) -> bool:
        owner = getattr(hook, "__module__", None) or getattr(type(hook), "__module__", None)
        return owner in gone or getattr(hook, "__name__", None) in gone

    sys.meta_path[:] = [finder for finder in sys.meta_path if not foreign(finder)]
    sys.path_hooks[:] = [hook for hook in sys.path_hooks if not foreign(hook)]


def process_pth(pth_files: Iterable[str]) -> None:
    """Like site.addpackage: `import` lines run, other lines name directories appended to sys.path."""
    for pth in pth_files:
        base = os.path.dirname(pth)
        try:
            with open(pth, encoding="utf-8") as file:
                lines = file.read().splitlines()
        except (OSError, UnicodeDecodeError):
            continue
        for line in lines:
            if not line.strip() or line.startswith("#"):
                continue
            try:
                if line.startswith(("import ", "import\t")):
                    exec(line)
                    continue
                directory = os.path.join(base, line.rstrip())
                if directory not in sys.path and os.path.exists(directory):
                    sys.path.append(directory)
            except Exception as exc:
                sys.stderr.write(f"hatch-pex: error in {pth}: {type(exc).__name__}: {exc}\n")


def isolate(stdlib: Sequence[str], entries: Sequence[str], pth_files: Sequence[str], inherit: str) -> None:
    extra = [p for p in os.environ.get("PEX_EXTRA_SYS_PATH", "").split(os.pathsep) if p]
    head, tail = build_sys_path(sys.path, stdlib, entries, inherit, extra)
    _, dropped = split_sys_path(sys.path, stdlib)
    purge(foreign_modules(sys.modules, stdlib, dropped))
    for path in dropped:
        sys.path_importer_cache.pop(path, None)
    sys.path[:] = head
    process_pth(pth_files)
    sys.path.extend(p for p in tail if p not in sys.path)
