"""Proof of use for `cache prune` (docs/security.md, "Prune").

A running pex holds a lock on one byte of `<warm record>.lock` for as long as it runs; prune takes the
whole file exclusively before it forgets a record, so it forgets only records nobody holds. A cold start
holds one byte of `<root>/prune.lock` from before it extracts until its record is written and held;
prune holds the whole of that file while it runs, so it never sees extracted entries without their
record.

These are POSIX record locks through `os.lockf` (no fcntl import on the warm path): a lock on one byte
per process (at its pid, so several processes hold the file at once) stands for a shared lock, a lock
on the whole file for an exclusive one. The kernel releases them when the process ends, however it ends.
"""

from __future__ import annotations

import os

from . import owned
from .log import log
from .trust import NOFOLLOW

LOCKF = getattr(os, "lockf", None)
PID_SLOTS = 1 << 22  # pid_max is at most 2**22: another pid namespace may reuse ours, try further on
ROOT_LOCK = "prune.lock"
WAIT_SLICE = 0.05  # seconds between two tries of a lock a start waits for (hold_shared)
HELD: list[int] = []  # descriptors kept open, and so locked, until the process ends


def lock_path(record_path: str) -> str:
    return f"{record_path}.lock"


def _open(path: str) -> int | None:
    """The lock file opened for writing (lockf needs it), made if missing, if it is ours."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o644)
    except OSError:
        return None
    try:
        if owned(os.fstat(fd)):
            return fd
    except OSError:
        pass
    os.close(fd)
    return None


def hold_shared(path: str, wait: bool = False) -> tuple[int | None, bool]:
    """(descriptor, True) once this process holds a byte of `path`; (None, True) when the file cannot
    be locked at all (a read-only cache: nothing to prove); (None, False) when prune holds it now, or,
    with `wait`, after waiting for prune to finish."""
    if LOCKF is None:
        return None, True
    fd = _open(path)
    if fd is None:
        log(f"cannot lock {path}: cache prune cannot tell that this process uses it", 2)
        return None, True
    pid = os.getpid()
    for slot in range(4):
        try:
            os.lseek(fd, pid + slot * PID_SLOTS, os.SEEK_SET)
            LOCKF(fd, os.F_TLOCK, 1)
            return fd, True
        except OSError:
            continue
    # Prune holds the whole file: it is done in a moment. Tried again every WAIT_SLICE rather than
    # waited for with F_LOCK: a ^C whose handler ran just before a blocking lockf() began would not
    # interrupt it, and the start would exit only once prune is done (interpreter.run_probe).
    while wait:
        try:
            os.lseek(fd, pid, os.SEEK_SET)
            LOCKF(fd, os.F_TLOCK, 1)
            return fd, True
        except (BlockingIOError, PermissionError):  # EAGAIN or EACCES: held
            import time

            time.sleep(WAIT_SLICE)
        except OSError:
            break
    os.close(fd)
    return None, False


def hold_exclusive(path: str, wait: bool) -> int | None:
    """A descriptor holding all of `path` (made if missing), or None: somebody holds a part of it
    (without `wait`), or it cannot be opened or locked."""
    if LOCKF is None:
        return None
    fd = _open(path)
    if fd is None:
        return None
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        LOCKF(fd, os.F_LOCK if wait else os.F_TLOCK, 0)  # length 0: to the end of any file
        return fd
    except OSError:
        os.close(fd)
        return None


def still_linked(*fds: int | None) -> bool:
    """Whether every open file is still in the cache (prune or a newer start unlinks it)."""
    try:
        return all(fd is None or os.fstat(fd).st_nlink > 0 for fd in fds)
    except OSError:
        return False


def keep(fd: int | None) -> None:
    """Hold this lock until the process ends."""
    if fd is not None:
        HELD.append(fd)


def release(fd: int | None) -> None:
    if fd is not None:
        try:  # noqa: SIM105 - contextlib would be one more import on the warm path
            os.close(fd)  # closing the descriptor releases this process's locks on that file
        except OSError:
            pass
