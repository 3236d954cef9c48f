"""Unpacking one wheel as a site-packages directory (cold path only: imports zipfile).

`<name>.data/purelib` and `<name>.data/platlib` go to the top, `<name>.data/scripts` (and any other
`.data` directory) stay where they are for the venv tool; a member's execute bits decide 0755 or 0644.
"""

from __future__ import annotations

import io
import os
import shutil
import zipfile

from .log import BootError
from .trust import create, make_dirs, safe_parts


def target_path(member: str) -> str:
    """Where a wheel member lands, relative to the entry ('/'-separated); names escaping the entry
    are refused."""
    parts = member.split("/", 2)
    if len(parts) == 3 and parts[0].endswith(".data") and parts[1] in ("purelib", "platlib"):
        member = parts[2]
    return "/".join(safe_parts(member, "the cache entry", "wheel member"))


def unpack(wheel: bytes, dest: str) -> list[tuple[str, int, int]]:
    """Unpacks the wheel bytes into `dest` (which exists); returns [(relative path, size, mtime ns)].

    Files are new (never through an existing name or symlink), 0755 when the member has any execute
    bit and 0644 otherwise, directories 0755, the umask applied: whatever modes the wheel carries,
    nothing in the cache is writable by group or others."""
    files: dict[str, tuple[int, int]] = {}
    made: set[str] = {dest}
    with zipfile.ZipFile(io.BytesIO(wheel)) as archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            relative = target_path(info.filename)
            if relative in files:
                raise BootError(f"wheel member {info.filename!r}: two members unpack to {relative!r}")
            path = os.path.join(dest, *relative.split("/"))
            parent = os.path.dirname(path)
            if parent not in made:
                make_dirs(parent)
                made.add(parent)
            executable = bool((info.external_attr >> 16) & 0o111)
            with archive.open(info) as source, open(create(path, executable), "wb") as target:
                shutil.copyfileobj(source, target, 1 << 20)
                target.flush()
                st = os.fstat(target.fileno())
            files[relative] = (st.st_size, st.st_mtime_ns)
    return [(name, size, mtime) for name, (size, mtime) in sorted(files.items())]
