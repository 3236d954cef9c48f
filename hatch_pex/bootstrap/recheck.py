"""The full check of a warm record's entries, run after a warm start in a process of its own
(guard.recheck_later starts it, niced; nothing waits for it): every file of every entry against the manifest
the record holds (size, modification time, owner and mode, one stat each) and every directory holding
one, and the site directory's links. When something differs, the record is removed: the next start is
a cold one, which re-extracts the damaged entry (cache.ensure_entries) and writes a new record. Nothing
else is written, and nothing is printed (the process has no terminal).
"""

from __future__ import annotations

import marshal
import os

from .cache import verify, verify_site
from .trust import open_owned, read_all


def main(record_path: str) -> None:
    fd = open_owned(record_path)
    if fd is None:
        return
    try:
        identity = os.fstat(fd).st_ino
        record = marshal.loads(read_all(fd))
    except Exception:  # unreadable or damaged: the next start finds that itself
        return
    finally:
        os.close(fd)
    problem = damage(record)
    if problem is not None:
        try:
            if os.stat(record_path).st_ino == identity:  # not one a newer start wrote meanwhile
                os.unlink(record_path)
        except OSError:
            pass


def damage(record: dict[str, object]) -> str | None:
    """What is wrong with the record's entries or site, else None."""
    for directory, wheel, manifest in record.get("entries", ()):  # type: ignore[attr-defined]
        problem = verify(directory, *marshal.loads(manifest))
        if problem:
            return f"{directory} ({wheel}): {problem}"
    site, links = record.get("site"), record.get("site_links")
    if isinstance(site, str) and isinstance(links, tuple):
        return verify_site(site, links)
    return None
