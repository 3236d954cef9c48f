"""Zip records of the .pex, written here rather than by `zipfile`, so that every CPython from 3.9 starts
a file of any size (docs/format.md, "Files past 2 GiB and 4 GiB").

`zipfile` switches to ZIP64 records once an offset passes 2 GiB, and zipimport reads ZIP64 only from
Python 3.13: before that it sees no member at all. So:

- a file whose offsets and sizes fit 32 bits (up to 4 GiB) gets classic records only;
- a larger one gets two central directories. The full one, with ZIP64 extras where needed and the
  ZIP64 end records after it, lists every member: `zipfile`, `unzip` and zipimport 3.13+ read it. Before
  it, ended by a mark that is not a central directory header, a classic directory lists only the
  runtime's members (written last, so they sit within 4 GiB of each other), with offsets counted from
  the first of them: zipimport 3.9-3.12 finds it through the classic end record, which must be the
  file's last 22 bytes, and takes everything before the runtime for a prefix, like the shebang line.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import BinaryIO

# The records' shapes, the split layout's directory mark (a "central directory digital signature"
# record with no data: what ends the runtime's directory for zipimport 3.9-3.12, which reads central
# directory headers until it meets another signature) and the flag values are those `verify` reads the
# file by (bootstrap/zipcheck.py): one definition for the writer and the checker.
from .bootstrap.zipcheck import CENTRAL, DIRECTORY_MARK, END, END64, LIMIT_32, LOCAL, LOCATOR64, UTF8_NAME

LIMIT_16 = 0xFFFF
# A member this large gets ZIP64 sizes in its local header up front (deflate may grow data a little).
ZIP64_MEMBER = 0xF0000000
LOCAL_SIGNATURE, CENTRAL_SIGNATURE = 0x04034B50, 0x02014B50
END_SIGNATURE, END64_SIGNATURE, LOCATOR64_SIGNATURE = 0x06054B50, 0x06064B50, 0x07064B50
VERSION, VERSION_ZIP64 = 20, 45
MADE_BY_UNIX = 3 << 8
FILE_MODE = (0o100644 & 0xFFFF) << 16


class ZipTooLarge(ValueError):
    """The runtime's members cannot be laid out where zipimport before 3.13 finds them."""


@dataclass
class Entry:
    name: bytes
    flags: int
    method: int
    crc: int = 0
    compressed: int = 0
    size: int = 0
    offset: int = 0  # of the local header, from the start of the zip (after the shebang line)
    stamp: tuple[int, int] = (0, 0)  # MS-DOS time and date

    def central(self, offset: int, zip64: bool) -> bytes:
        """The central directory header, with `offset` for the local header (as the reader counts)."""
        fields = [self.size, self.compressed, offset]
        extra = b""
        if zip64:
            wide = [value for value in fields if value >= LIMIT_32]
            if wide:
                extra = struct.pack(f"<HH{len(wide)}Q", 1, 8 * len(wide), *wide)
            fields = [min(value, LIMIT_32) for value in fields]
        elif max(fields) >= LIMIT_32:
            raise ZipTooLarge(f"{self.name.decode()}: does not fit a classic zip record")
        version = VERSION_ZIP64 if extra else VERSION
        size, compressed, offset = fields
        return (
            CENTRAL.pack(
                CENTRAL_SIGNATURE,
                MADE_BY_UNIX | version,
                version,
                self.flags,
                self.method,
                *self.stamp,
                self.crc,
                compressed,
                size,
                len(self.name),
                len(extra),
                0,
                0,
                0,
                FILE_MODE,
                offset,
            )
            + self.name
            + extra
        )


class ZipWriter:
    """Members one after another (`add`), then the directories (`finish`), on a seekable stream."""

    def __init__(self, stream: BinaryIO, date_time: tuple[int, ...]) -> None:
        self.stream = stream
        self.start = stream.tell()
        self.entries: list[Entry] = []
        year, month, day, hour, minute, second = date_time[:6]
        self.stamp = (hour << 11 | minute << 5 | second // 2, (year - 1980) << 9 | month << 5 | day)

    def tell(self) -> int:
        return self.stream.tell() - self.start

    def add(self, name: str, chunks: Iterable[bytes], size: int, level: int) -> Entry:
        """Write one member of `size` bytes: stored when `level` is 0, else deflated at that level.
        The local header is written first with room for the sizes, then filled in."""
        entry = Entry(
            name.encode("utf-8"), 0 if name.isascii() else UTF8_NAME, 8 if level else 0, stamp=self.stamp
        )
        entry.offset = self.tell()
        zip64 = size >= ZIP64_MEMBER
        header_at = self.stream.tell()
        self.stream.write(self._local(entry, zip64))
        compressor = zlib.compressobj(level, zlib.DEFLATED, -15) if level else None
        for chunk in chunks:
            entry.crc = zlib.crc32(chunk, entry.crc)
            entry.size += len(chunk)
            data = compressor.compress(chunk) if compressor else chunk
            entry.compressed += len(data)
            self.stream.write(data)
        if compressor:
            tail = compressor.flush()
            entry.compressed += len(tail)
            self.stream.write(tail)
        if entry.size != size:
            raise OSError(
                f"{name}: read {entry.size} bytes where {size} were expected (changed while written)"
            )
        if not zip64 and entry.compressed >= LIMIT_32:
            raise ZipTooLarge(f"{name}: deflated to {entry.compressed} bytes, too many for its header")
        end = self.stream.tell()
        self.stream.seek(header_at)
        self.stream.write(self._local(entry, zip64))
        self.stream.seek(end)
        self.entries.append(entry)
        return entry

    @staticmethod
    def _local(entry: Entry, zip64: bool) -> bytes:
        extra = struct.pack("<HHQQ", 1, 16, entry.size, entry.compressed) if zip64 else b""
        sizes = (LIMIT_32, LIMIT_32) if zip64 else (entry.compressed, entry.size)
        version = VERSION_ZIP64 if zip64 else VERSION
        header = LOCAL.pack(
            LOCAL_SIGNATURE, version, entry.flags, entry.method, *entry.stamp, entry.crc, *sizes,
            len(entry.name), len(extra),
        )  # fmt: skip
        return header + entry.name + extra

    def finish(self, is_runtime: Callable[[str], bool], split: bool = False) -> str:
        """Write the central directory (or directories) and end records; returns the layout used:
        "classic" or "split" (module docstring). `split` asks for the split layout whatever the size."""
        start = self.tell()
        full = b"".join(entry.central(entry.offset, zip64=True) for entry in self.entries)
        fits = len(self.entries) < LIMIT_16 and start + len(full) < LIMIT_32
        if fits and not split and all(max(e.size, e.compressed, e.offset) < LIMIT_32 for e in self.entries):
            self.stream.write(full)
            self.stream.write(
                END.pack(END_SIGNATURE, 0, 0, len(self.entries), len(self.entries), len(full), start, 0)
            )
            return "classic"
        runtime = [entry for entry in self.entries if is_runtime(entry.name.decode("utf-8"))]
        others = [entry for entry in self.entries if not is_runtime(entry.name.decode("utf-8"))]
        base = min((entry.offset for entry in runtime), default=start)
        if any(entry.offset > base for entry in others) or len(runtime) >= LIMIT_16:
            raise ZipTooLarge("the runtime's members are not the last ones written")
        small = b"".join(entry.central(entry.offset - base, zip64=False) for entry in runtime)
        if start - base >= LIMIT_32:
            raise ZipTooLarge(
                f"the runtime's members span {start - base} bytes: zipimport before Python 3.13 "
                "reads at most 4 GiB of them"
            )
        self.stream.write(small + DIRECTORY_MARK)
        full_start = self.tell()
        self.stream.write(full)
        end64_at = self.tell()
        count = len(self.entries)
        self.stream.write(
            END64.pack(
                END64_SIGNATURE,
                44,
                MADE_BY_UNIX | VERSION_ZIP64,
                VERSION_ZIP64,
                0,
                0,
                count,
                count,
                len(full),
                full_start,
            )
        )
        self.stream.write(LOCATOR64.pack(LOCATOR64_SIGNATURE, 0, end64_at + self.start, 1))
        # zipimport 3.9-3.12: the directory starts `size` bytes before this record and `offset` bytes
        # after the first runtime member, which is where its entries' offsets count from.
        directories = self.tell() - start
        if directories >= LIMIT_32:
            raise ZipTooLarge(
                f"the central directories take {directories} bytes, more than a classic record holds"
            )
        self.stream.write(
            END.pack(END_SIGNATURE, 0, 0, len(runtime), len(runtime), directories, start - base, 0)
        )
        return "split"
