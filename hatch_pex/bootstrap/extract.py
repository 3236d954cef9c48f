"""Unpacking one wheel as a site-packages directory (cold path only: imports zipfile).

`<name>.data/purelib` and `<name>.data/platlib` go to the top, `<name>.data/scripts` (and any other
`.data` directory) stay where they are for the venv tool, file modes come from the zip's external_attr.
"""

from __future__ import annotations

import io
import os
import posixpath
import shutil
import zipfile

from .log import BootError


def target_path(member: str) -> str:
    """Where a wheel member lands, relative to the entry; rejects names escaping the entry."""
    parts = member.split("/", 2)
    if len(parts) == 3 and parts[0].endswith(".data") and parts[1] in ("purelib", "platlib"):
        member = parts[2]
    normal = posixpath.normpath(member)
    if (
        normal.startswith(("/", "../"))
        or normal == ".."
        or "\\" in normal
        or "\n" in normal
        or "\t" in normal
    ):
        raise BootError(f"wheel member {member!r} has an unsafe path")
    return normal


def unpack(wheel: bytes, dest: str) -> list[tuple[str, int]]:
    """Unpacks the wheel bytes into `dest` (which exists); returns [(relative path, size)]."""
    files: dict[str, int] = {}
    made: set[str] = {dest}
    umask = _umask()
    created = None if umask is None else 0o666 & ~umask  # what open() gives: no chmod needed then
    with zipfile.ZipFile(io.BytesIO(wheel)) as archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            relative = target_path(info.filename)
            path = os.path.join(dest, *relative.split("/"))
            parent = os.path.dirname(path)
            if parent not in made:
                os.makedirs(parent, exist_ok=True)
                made.add(parent)
            with archive.open(info) as source, open(path, "wb") as target:
                shutil.copyfileobj(source, target, 1 << 20)
            mode = (info.external_attr >> 16) & 0o777
            wanted = (mode | 0o400) if mode else 0o644
            if wanted != created:
                os.chmod(path, wanted)
            files[relative] = info.file_size
    return sorted(files.items())


def _umask() -> int | None:
    """The process umask as /proc tells it (Linux 4.7+), without changing it; None if unknown."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return None
