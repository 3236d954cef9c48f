"""What the runtime trusts in a cache, and how it writes there (docs/security.md).

A cache directory may have been made, or written since, by another user. The runtime reads nothing that
another user could have written: a root is used only once `trusted_root` accepts the path as
configured, component by component from `/` (no directory on the way that anybody else could replace
or write into, no symlink anybody else could have placed), and then only as the path it resolved to;
every directory it uses in the root is owned by this user or root and writable by nobody else (see
`owned`), and files are opened without following symlinks and checked on the open descriptor. It
writes only new files (`O_EXCL`: a planted name or symlink makes the write fail, never redirects it),
with modes no wider than 0755/0644 and the umask applied, and every path it writes under a base
directory passes `contained`.

`trusted_root` and `trusted_path` are defined in rootpath.py (the warm start decides the usual case with
__init__.plainly_trusted before it reads the warm record, which holds the code of this module).
"""

from __future__ import annotations

import os

from . import owned
from .log import BootError
from .rootpath import own_group, trusted_path, trusted_root

# The one rule for a cache root, for cache, tools and the build cache.
__all__ = ["own_group", "trusted_path", "trusted_root"]

NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
# Refused in every name the runtime writes: the manifest is one name a line (split at "\n" only, so
# U+2028 and the other characters str.splitlines also breaks at are kept), a backslash is a Windows
# separator, NUL ends a path.
UNSAFE_CHARACTERS = frozenset("\\\0\n")


def open_owned(path: str) -> int | None:
    """A read-only descriptor of `path` if it is a regular file owned by this user or root that nobody
    else can write (checked on the descriptor: a symlink is never followed), else None."""
    try:
        fd = os.open(path, os.O_RDONLY | NOFOLLOW)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
    except OSError:
        st = None
    if st is None or not owned(st) or (st.st_mode & 0o170000) != 0o100000:
        os.close(fd)
        return None
    return fd


def read_owned(path: str) -> bytes | None:
    """The content of `path` when `open_owned` accepts it, else None."""
    fd = open_owned(path)
    if fd is None:
        return None
    try:
        return read_all(fd)
    except OSError:
        return None
    finally:
        os.close(fd)


def read_all(fd: int) -> bytes:
    chunks: list[bytes] = []
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def create(path: str, executable: bool = False) -> int:
    """A new file for writing: never an existing name, never through a symlink. Mode 0644 (0755 when
    executable) with the umask applied by the kernel: nobody else can write it."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    return os.open(path, flags, 0o755 if executable else 0o644)


def make_dirs(path: str) -> None:
    """os.makedirs with mode 0755 for every directory it makes (os.makedirs gives intermediate ones
    0777), the umask applied. Symlinks on the way are followed: the cache's own site directories are
    made of them, and nobody else can put one where the runtime writes (trusted_root)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        parent = os.path.dirname(path)
        if parent and parent != path:
            make_dirs(parent)
        try:
            os.mkdir(path, 0o755)
            return
        except FileExistsError:
            st = os.stat(path)
    if (st.st_mode & 0o170000) != 0o040000:
        raise NotADirectoryError(f"{path} is not a directory")


def new_name(path: str) -> str:
    """A fresh name beside `path` (same directory) for a file renamed into place afterwards."""
    return f"{path}.{os.getpid()}.{os.urandom(6).hex()}.tmp"


def safe_parts(relative: str, base: str, what: str = "name") -> list[str]:
    """The components of the '/'-separated `relative` once `.` and `..` are resolved; refused
    (BootError naming it) when it would not stay inside `base`: absolute, `..` beyond the start, empty,
    or holding an UNSAFE_CHARACTERS character."""
    parts: list[str] = []
    for part in relative.split("/"):
        if part == "..":
            if not parts:
                raise BootError(f"{what} {relative!r} escapes {base}: refused")
            parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    if relative.startswith("/") or not parts or UNSAFE_CHARACTERS.intersection(relative):
        raise BootError(f"{what} {relative!r} is not a safe relative path under {base}: refused")
    return parts


def contained(base: str, relative: str, what: str = "name") -> str:
    """`base` joined with `relative`, which must stay inside it (safe_parts): the one rule for every
    path the runtime and its tools write under a directory."""
    return os.path.join(base, *safe_parts(relative, base, what))


def restrict(directory: str) -> bool:
    """Takes the group and other write bits off a directory of ours (one made under a umask of 002 by
    an earlier version): what is in it is checked item by item anyway. Nothing else is touched. True
    when it did."""
    try:
        st = os.lstat(directory)
        if st.st_uid == os.getuid() and (st.st_mode & 0o170000) == 0o040000 and st.st_mode & 0o022:
            os.chmod(directory, st.st_mode & 0o7755)
            return True
    except OSError:
        pass
    return False
