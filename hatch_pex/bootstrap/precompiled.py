"""Code compiled at build time (`compile-bytecode`, hatch_pex/precompile.py), read by a first start
instead of compiling the sources it imports from the entries it makes (bytecode.py asks first).

The bundle of a wheel for this interpreter is a stored member of the pex,
`.bytecode/<cache tag>/<wheel>`: a zip of marshal data, one member per module, named like the
module's source in the cache entry. It is read through the descriptor of the pex that was started (a
file swapped meanwhile changes nothing), and used only once its sha256 is the one PEX-INFO's
`member_hashes` records: a bundle that differs is not used (its modules are compiled from the
sources, as without bundles) and said so. The code is only ever that of the wheel's own sources: the
bundle is chosen by the cache entry the source lies in, and an entry is its wheel's content (the
guard checks the source file before this is asked). A warm start never reads bundles: the first
start wrote the .pyc files the import system reads from then on.
"""

from __future__ import annotations

import marshal
import os
import threading

from .bytecode import PRECOMPILED, pyc_header
from .log import log

TYPE_CHECKING = False
if TYPE_CHECKING:
    import zipfile
    from types import CodeType

    from .extract import WheelSource
    from .pexinfo import PexInfo

BYTECODE_DIR = ".bytecode"
PEX_INFO_KEY = "bytecode"


class Precompiled:
    """The bundles of one start: {entry directory: bundle member}, opened and checked at first use."""

    def __init__(
        self,
        pex: str,
        fd: int,
        bundles: dict[str, tuple[zipfile.ZipInfo, str]],
        installs: str,
        site: tuple[str, dict[str, str]] | None,
    ) -> None:
        self.pex, self.fd, self.bundles = pex, fd, bundles
        self.installs = installs.rstrip(os.sep) + os.sep
        self.site = site[0].rstrip(os.sep) + os.sep if site else None
        self.links = site[1] if site else {}
        self.opened: dict[str, zipfile.ZipFile | None] = {}
        self.lock = threading.Lock()  # imports on several threads: one reader of the descriptor at a time

    def entry_of(self, path: str) -> tuple[str, str] | None:
        """(entry directory, '/'-separated path within it) of a file under installs/ or the site."""
        if self.site and path.startswith(self.site):
            parts = path[len(self.site) :].split(os.sep)
            for count in range(1, len(parts)):  # a link is a top-level name, or one in a shared directory
                owner = self.links.get("/".join(parts[:count]))
                if owner is not None:
                    return owner, "/".join(parts)
            return None
        if path.startswith(self.installs):
            entry, _, relative = path[len(self.installs) :].partition(os.sep)
            return self.installs + entry, relative.replace(os.sep, "/")
        return None

    def code(self, source_path: str) -> CodeType | None:
        """The code compiled at build time from the source at `source_path`, or None (no bundle for
        its entry, the module not in it, a bundle that is not what the build wrote)."""
        found = self.entry_of(source_path)
        if found is None or found[0] not in self.bundles:
            return None
        import zipfile
        import zlib

        entry, relative = found
        with self.lock:
            archive = self.opened[entry] if entry in self.opened else self._open(entry)
            if archive is None:
                return None
            try:
                data = archive.read(relative)
            except KeyError:  # not compiled at build time (a syntax error there): compiled here
                return None
            except (OSError, EOFError, zlib.error, zipfile.BadZipFile) as exc:
                log(f"cannot read {relative} from {self.bundles[entry][0].filename}: {exc}")
                return None
        try:
            code = marshal.loads(data)
        except (EOFError, ValueError, TypeError):
            return None
        if not isinstance(code, type(pyc_header.__code__)):
            return None
        import _imp

        _imp._fix_co_filename(code, source_path)  # type: ignore[attr-defined]  # compiled with the path in the entry; as a .pyc is read
        return code

    def _open(self, entry: str) -> zipfile.ZipFile | None:
        from .extract import Region, data_start

        info, expected = self.bundles[entry]
        what = f"{self.pex}: {info.filename}"
        archive = None
        try:
            region = Region(self.fd, data_start(self.fd, 0, info.header_offset, what), info.file_size)
            digest = region.sha256()
            if digest != expected:
                log(f"{what} is damaged (sha256 {digest}, PEX-INFO records {expected}): not used", 0)
            else:
                archive = region.open_zip()
                log(
                    f"bytecode compiled at build time: {info.filename} ({len(archive.infolist())} modules)", 2
                )
        except Exception as exc:  # a damaged bundle costs a compile, never the start
            log(f"{what} cannot be read ({exc}): not used", 0)
        self.opened[entry] = archive
        return archive


def install(
    pex: str, source: WheelSource, info: PexInfo, root: str, site: tuple[str, dict[str, str]] | None
) -> None:
    """Makes the bundles of this interpreter's version available to bytecode.py, if the pex carries
    any (for this cache tag and magic number), reading them through a copy of `source`'s descriptor."""
    import sys

    from .bytecode import bx  # type: ignore[attr-defined]

    described = info.data.get(PEX_INFO_KEY)
    tag = sys.implementation.cache_tag
    ours = described.get(tag) if isinstance(described, dict) and tag else None
    hashes = info.data.get("member_hashes")
    if (
        not isinstance(ours, dict)
        or not isinstance(hashes, dict)
        or ours.get("magic") != bx.MAGIC_NUMBER.hex()
    ):
        return
    wheels = ours.get("wheels")
    if not isinstance(wheels, list):
        return
    source.open()
    bundles: dict[str, tuple[zipfile.ZipInfo, str]] = {}
    for wheel in wheels:
        name = f"{BYTECODE_DIR}/{tag}/{wheel}"
        member, expected = source.member(name), hashes.get(name)
        stored = member is not None and member.compress_type == 0  # as the build writes them
        if member is not None and stored and wheel in info.distributions and isinstance(expected, str):
            bundles[os.path.join(root, "installs", info.distributions[wheel])] = (member, expected)
    if bundles:
        PRECOMPILED[:] = [Precompiled(pex, os.dup(source.fd), bundles, os.path.join(root, "installs"), site)]
        log(f"bytecode compiled at build time for {len(bundles)} wheels", 2)
