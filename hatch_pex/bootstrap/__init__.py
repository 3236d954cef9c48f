"""hatch-pex runtime, copied into every .pex as `.bootstrap/_hatch_pex_boot/` (stdlib only).

The archive's `__main__.py` (main_stub.py) calls `boot(pex)`. zipimport compiles this file from source on
every start, so it only finds the warm record of this pex for this interpreter and loads the rest of the
runtime from the code objects kept in it (docs/runtime.md: "Start sequence").
"""

# No `from __future__ import annotations` here: it would import the __future__ module on every start
# (~0.4 ms), so the few annotations are strings.
import marshal
import os
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any

RECORD_FORMAT = 5  # 2: sites/; 3: mtimes, use locks; 4: inject_args; 5: site_map (guard.py)
ZIP = globals()["__loader__"]  # zipimporter of .bootstrap/: reads archive members without zipfile


def boot(pex: str) -> "Callable[[], None]":
    """Everything of the start but the application, which the returned function runs: the stub calls
    it outside its error handling (damage.py), so that the application's exceptions stay its own."""
    started = time.perf_counter()
    pex = os.path.abspath(pex)
    own = (pex, os.path.join(pex, ".bootstrap"))
    sys.path[:] = [entry for entry in sys.path if os.path.abspath(entry) not in own]
    raw = ZIP.get_data("PEX-INFO")
    # PEX_TOOLS on (or invalid: launch reports it) skips the record; log.env_flag is the full rule.
    tools = os.environ.get("PEX_TOOLS", "").strip().lower() not in ("", "0", "false")
    record = None if tools else warm_record(raw)
    if record is not None:
        for name, code in record["code"]:  # in dependency order: a module's imports come first
            module = sys.modules[name] = type(sys)(name)
            module.__file__, module.__package__ = code.co_filename, __name__
            exec(code, module.__dict__)
            setattr(sys.modules[__name__], name.rpartition(".")[2], module)
    else:  # cold start: the runtime's code from an earlier cold start of any pex, if there is one
        from .codecache import install

        install(cache_roots())
    from .launch import launch

    return launch(pex, raw, record, started)


def configured_root() -> str:
    """PEX_ROOT, default $XDG_CACHE_HOME/hatch-pex or ~/.cache/hatch-pex."""
    root = os.environ.get("PEX_ROOT")
    if not root:
        xdg = os.environ.get("XDG_CACHE_HOME")
        root = os.path.join(
            xdg if xdg and os.path.isabs(xdg) else os.path.expanduser("~/.cache"), "hatch-pex"
        )
    return os.path.abspath(os.path.expanduser(root))


def cache_roots() -> "list[str]":
    """Where records may be found, each checked before anything in it is read, and resolved (no
    symlink left): the configured root, then the private per-user fallback used when that cannot be
    written or is not trusted (only if it is a directory of ours, mode 0700). A refused root is left
    out; CHECKED keeps why."""
    return list(checked_roots())


def checked_roots() -> "Iterator[str]":
    """cache_roots, one at a time: the fallback is checked only when it is asked for (a warm start
    that finds its record in the configured root never looks at it). Each root is checked once per
    process: the path it resolves to is made of directories nobody else can change (a root not made
    yet is checked again by whoever makes it)."""
    for path in (configured_root(), fallback_root()):
        if path not in CHECKED:
            CHECKED[path] = (path, None) if plainly_trusted(path) else _full_check(path)
        resolved = CHECKED[path][0]
        if resolved is not None and (path != fallback_root() or is_private_dir(resolved)):
            yield resolved


CHECKED: "dict[str, tuple[str | None, str | None]]" = {}  # root as configured -> (resolved, why not)
SUBDIRECTORIES = ("installs", "tmp", "pexes", "sites", "code", "interpreters")  # checked with the root


def plainly_trusted(root: str) -> bool:
    """The usual cases of the cache-root rule, decided here with one lstat per directory: every
    directory from `/` down to `root` is a real directory owned by this user or root that nobody else
    can write, or is sticky (as /tmp: only the owner of the next one, this user or root, can rename
    it), and the root and each of its SUBDIRECTORIES that exists is one nobody else can write.
    Anything else (a symlink, a group-writable directory, a part not made yet) goes to
    rootpath.trusted_root, the whole rule, compiled only then: zipimport compiles this file on every
    start."""
    uid, parts = os.getuid(), root.split("/")
    if root != os.path.normpath(root) or parts[0]:
        return False
    above = ["/".join(parts[:end]) or "/" for end in range(1, len(parts))]
    try:
        for path in above:
            st = os.lstat(path)
            if st.st_uid not in (uid, 0) or st.st_mode & 0o170000 != 0o040000:
                return False
            if st.st_mode & 0o022 and not st.st_mode & 0o1000:
                return False
        for path in [root] + [f"{root}/{sub}" for sub in SUBDIRECTORIES]:
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                if path == root:
                    return False
                continue
            if st.st_uid not in (uid, 0) or st.st_mode & 0o170022 != 0o040000:
                return False
    except OSError:
        return False
    return True


def _full_check(root: str) -> "tuple[str | None, str | None]":
    from .rootpath import trusted_root

    return trusted_root(root, SUBDIRECTORIES)


def fallback_root() -> str:
    return os.path.abspath(os.path.join(os.environ.get("TMPDIR") or "/tmp", f"hatch-pex-{os.getuid()}"))


def is_private_dir(path: str) -> bool:
    """A real directory (not a symlink) owned by us that group and others cannot use."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return st.st_uid == os.getuid() and (st.st_mode & 0o170077) == 0o040000


def owned(st: "os.stat_result") -> bool:
    """Owned by this user or root, and writable by nobody else: what the runtime reads or runs from a
    cache must be (trust.py says how the rest is checked)."""
    return st.st_uid in (os.getuid(), 0) and not st.st_mode & 0o022


def interpreter_identity() -> "tuple[str, ...]":
    return (sys.executable, sys.version, sys.prefix, sys.base_prefix, sys.platform, sys.implementation.name)


def short_hash(data: bytes) -> str:
    """16 hex digits, computed in C without importing hashlib (~3 ms). Only names files: whatever a
    name leads to is compared in full before use."""
    return f"{int.from_bytes(data, 'little') % 0xFFFFFFFFFFFFFFC5:016x}"  # mod the largest 64-bit prime


def interpreter_key() -> str:
    return f"{sys.implementation.cache_tag}-{short_hash(repr(interpreter_identity()).encode())}"


def pex_hash_of(raw: bytes) -> "str | None":
    """`pex_hash` out of the PEX-INFO text without json (json imports `re`: ~8 ms)."""
    start = raw.find(b'"', raw.find(b":", raw.find(b'"pex_hash"')) + 1) + 1
    value = raw[start : raw.find(b'"', start)]
    found = b'"pex_hash"' in raw and len(value) == 64 and not value.strip(b"0123456789abcdef")
    return value.decode() if found else None


def record_path(root: str, raw: bytes, pex_hash: str) -> str:
    """One record per pex, interpreter and PEX-INFO text (hashed in too, in case a builder's pex_hash
    leaves PEX-INFO out: two such pexes then still get records of their own)."""
    return os.path.join(root, "pexes", pex_hash, f"{interpreter_key()}-{short_hash(raw)}")


def warm_record(raw: bytes, roots: "list[str] | None" = None) -> "dict[str, Any] | None":
    """The record a previous start of this pex left for this interpreter, if it still matches, from the
    first of the `roots` (checked and resolved: cache_roots) that has one. Its file must be ours
    (checked on the open descriptor, kept open in "fd" for launch.py) and name the root it is in: the
    paths it holds were made under that one."""
    pex_hash = pex_hash_of(raw)
    identity = interpreter_identity()
    for root in (checked_roots() if roots is None else roots) if pex_hash else []:
        path = record_path(root, raw, pex_hash)  # type: ignore[arg-type]
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            continue
        try:
            st = os.fstat(fd)
            if not owned(st):
                continue
            record = marshal.loads(os.read(fd, st.st_size + 1))  # one read: load(file) is 10x slower
            found = (record["format"], record["pexinfo"], record["identity"], record["root"])
            if found == (RECORD_FORMAT, raw, identity, root):
                record["code"] = marshal.loads(record["code"])
                record["path"], record["mtime"], record["fd"] = path, st.st_mtime, fd
                fd = -1  # launch.py closes it
                return dict(record)
        except Exception:  # unreadable, or damaged: marshal raises SystemError too (then: a cold start)
            continue
        finally:
            if fd >= 0:
                os.close(fd)
    return None
