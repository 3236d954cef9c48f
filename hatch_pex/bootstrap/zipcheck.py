"""The zip of a .pex read strictly: every byte accounted for as ziplayout.py writes it, and the file read
as each reader that runs or inspects it finds its central directory (docs/format.md, docs/cli.md).

A zip can carry several central directories, and readers choose among them by different rules: zipimport
of CPython 3.9-3.12 takes the classic end record (the last 22 bytes, else the last end signature of the
tail), zipimport 3.13+ a ZIP64 end record placed just before the last end signature of the tail, and
`zipfile` the ZIP64 record the locator before the end record names. A file can so show one set of
members to `verify` and run another. `check_layout` accepts only what the build writes; `reader_views`
and `disagreement` read the file by each reader's rules and name any member two of them see differently.

Used by the tools only (report.py), never on a start.
"""

from __future__ import annotations

import struct
import zipfile
from typing import NamedTuple

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import BinaryIO

LOCAL = struct.Struct("<IHHHHHIIIHH")
CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
END = struct.Struct("<IHHHHIIH")
END64 = struct.Struct("<IQHHIIQQQQ")
LOCATOR64 = struct.Struct("<IIQI")
LENGTHS = struct.Struct("<HH")  # of the name and the extra field, at byte 26 of a local header
LOCAL_SIGNATURE, CENTRAL_SIGNATURE = b"PK\x03\x04", b"PK\x01\x02"
END_SIGNATURE, END64_SIGNATURE, LOCATOR64_SIGNATURE = b"PK\x05\x06", b"PK\x06\x06", b"PK\x06\x07"
DIRECTORY_MARK = b"PK\x05\x05\x00\x00"  # ends the runtime's directory of the split layout
LIMIT_32 = 0xFFFFFFFF
VERSIONS = (20, 45)  # "needed to extract" as ziplayout.py writes it: classic, ZIP64
UTF8_NAME = 0x800
METHODS = (0, 8)  # stored, deflated
ZIP64_TAG = 1
MAX_COMMENT = 0xFFFF
# Far beyond any real .pex (tens to a few hundred members), small enough to parse in memory.
MAX_MEMBERS = 100_000
MAX_DIRECTORY = 32 << 20
# Wheels and bytecode bundles: laid out before the runtime's members, unseen by zipimport before 3.13.
WHEELS = (".deps/", ".bytecode/")
LEGACY_ZIPIMPORT = "zipimport of Python 3.9-3.12"
ZIP64_ZIPIMPORT = "zipimport of Python 3.13+"
ZIPFILE = "zipfile"
ANOTHER = ": the file holds another central directory"


class LayoutError(Exception):
    """The file is not laid out as the build writes it: one line saying where."""


class TooLarge(LayoutError):
    """The file's directories exceed what the tools read: nothing else reads it either."""


class Seen(NamedTuple):
    """A member as one reader finds it in its central directory."""

    offset: int  # of the local header, in the file
    method: int
    crc: int
    compressed: int
    size: int

    def describe(self) -> str:
        return f"at byte {self.offset} ({self.compressed} bytes, crc {self.crc:08x})"


class Layout(NamedTuple):
    kind: str  # "classic" or "split"
    preamble: int  # bytes before the zip: the shebang line, or whatever stands in its place
    members: list[tuple[str, Seen]]  # in file order


class _Entry(NamedTuple):
    raw_name: bytes
    name: str
    flags: int
    seen: Seen  # offset counted from the zip's first byte, as the directory holds it
    length: int  # of the central header, name and extra


# -- the build's own layout, byte for byte -------------------------------------------------------------


def check_layout(stream: BinaryIO, size: int) -> Layout:
    """The layout of the file open as `stream`, `size` bytes; LayoutError naming the first byte range
    or record that the build would not have written."""
    if size < END.size:
        raise LayoutError("too short to hold a zip end record")
    end = _end_record(_read(stream, size - END.size, END.size))
    if size >= END.size + LOCATOR64.size + END64.size:
        locator = _read(stream, size - END.size - LOCATOR64.size, LOCATOR64.size)
        if locator[:4] == LOCATOR64_SIGNATURE:
            return _split_layout(stream, size, end, locator)
    _, _, _, count, total, directory_size, directory_offset, _ = end
    if count != total:
        raise LayoutError(f"the end record counts {count} and {total} entries")
    directory_at = size - END.size - directory_size
    preamble = directory_at - directory_offset
    if directory_at < 0 or preamble < 0:
        raise LayoutError("the end record places the central directory before the file's start")
    entries = _directory(stream, directory_at, directory_size, count, zip64=False, what="central directory")
    members = _members(stream, entries, preamble, directory_offset)
    return Layout("classic", preamble, members)


def _end_record(data: bytes) -> tuple[int, ...]:
    end = END.unpack(data)
    if data[:4] != END_SIGNATURE:
        raise LayoutError("the file does not end with a zip end record")
    if end[1] or end[2]:
        raise LayoutError("the end record names another disk")
    if end[7]:
        raise LayoutError(f"the end record has a comment of {end[7]} bytes (the build writes none)")
    return end


def _split_layout(stream: BinaryIO, size: int, end: tuple[int, ...], locator: bytes) -> Layout:
    """Directory A (the runtime's members, for zipimport 3.9-3.12), the mark, directory B (every member),
    the ZIP64 end record and locator (-> B), the end record (-> A): ziplayout.ZipWriter.finish."""
    _, disk, end64_at, disks = LOCATOR64.unpack(locator)
    end64_here = size - END.size - LOCATOR64.size - END64.size
    if disk or disks != 1 or end64_at != end64_here:
        raise LayoutError("the ZIP64 locator does not name the ZIP64 end record just before it")
    record = _read(stream, end64_here, END64.size)
    fields = END64.unpack(record)
    _, length, _, needed, disk, disk_dir, count, total, directory_size, directory_offset = fields
    if record[:4] != END64_SIGNATURE or length != END64.size - 12 or needed != 45 or disk or disk_dir:
        raise LayoutError("the ZIP64 end record is not the one the build writes")
    if count != total:
        raise LayoutError(f"the ZIP64 end record counts {count} and {total} entries")
    full_at = end64_here - directory_size
    preamble = full_at - directory_offset
    if full_at < 0 or preamble < 0:
        raise LayoutError("the ZIP64 end record places the central directory before the file's start")
    full = _directory(stream, full_at, directory_size, count, zip64=True, what="central directory B")
    runtime_start = next((i for i, e in enumerate(full) if not e.name.startswith(WHEELS)), len(full))
    if any(not e.name.startswith(WHEELS) for e in full[:runtime_start]) or any(
        e.name.startswith(WHEELS) for e in full[runtime_start:]
    ):
        raise LayoutError("split layout: a wheel or bytecode bundle is written after the runtime's members")
    runtime = full[runtime_start:]
    _, _, _, small_count, small_total, directories_size, small_offset, _ = end
    members = _members(stream, full, preamble, None)
    last = members[-1][1] if members else None
    small_at = _data_end(stream, last) if last else preamble
    base = runtime[0].seen.offset if runtime else 0
    if small_count != small_total or small_count != len(runtime) or not runtime:
        raise LayoutError(
            f"split layout: the end record counts {small_count} entries, the runtime has {len(runtime)}"
        )
    if small_at + directories_size != size - END.size or small_offset != small_at - preamble - base:
        raise LayoutError("split layout: the end record does not name the directory after the last member")
    small_size = full_at - len(DIRECTORY_MARK) - small_at
    small = _directory(stream, small_at, small_size, small_count, zip64=False, what="central directory A")
    if _read(stream, full_at - len(DIRECTORY_MARK), len(DIRECTORY_MARK)) != DIRECTORY_MARK:
        raise LayoutError("split layout: directory A is not followed by the mark that ends it")
    for listed, entry in zip(small, runtime):
        moved = entry.seen._replace(offset=entry.seen.offset - base)
        if listed.raw_name != entry.raw_name or listed.flags != entry.flags or listed.seen != moved:
            raise LayoutError(f"{entry.name}: directory A and directory B describe it differently")
    return Layout("split", preamble, members)


def _directory(stream: BinaryIO, at: int, size: int, count: int, zip64: bool, what: str) -> list[_Entry]:
    """The `count` entries filling exactly `size` bytes at `at`, each as ziplayout.Entry.central writes it."""
    if count > MAX_MEMBERS or size > MAX_DIRECTORY:
        raise TooLarge(f"the {what} holds {count} entries in {size} bytes, more than the tools read")
    data = _read(stream, at, size)
    entries: list[_Entry] = []
    position = 0
    while position < size:
        entry = _central(data, position, zip64, what)
        entries.append(entry)
        position += entry.length
    if len(entries) != count or position != size:
        raise LayoutError(
            f"the {what} holds {len(entries)} entries in {position} bytes, "
            f"its end record says {count} in {size}"
        )
    return entries


def _central(data: bytes, position: int, zip64: bool, what: str) -> _Entry:
    if len(data) - position < CENTRAL.size or data[position : position + 4] != CENTRAL_SIGNATURE:
        raise LayoutError(f"the {what} holds something else than entries at its byte {position}")
    fields = CENTRAL.unpack_from(data, position)
    needed, flags, method, _, _, crc, compressed, size = fields[2:10]
    name_length, extra_length, comment_length, disk, _, _, offset = fields[10:]
    start = position + CENTRAL.size
    raw_name = data[start : start + name_length]
    extra = data[start + name_length : start + name_length + extra_length]
    if len(raw_name) + len(extra) != name_length + extra_length:
        raise LayoutError(f"an entry of the {what} runs past its end")
    name = _name(raw_name, flags, what)
    if comment_length:
        raise LayoutError(f"{name}: its {what} entry has a comment (the build writes none)")
    if needed not in VERSIONS or method not in METHODS or disk:
        raise LayoutError(
            f"{name}: its {what} entry is not one the build writes (version {needed}, method {method})"
        )
    values = {"size": size, "compressed": compressed, "offset": offset}
    if extra:
        if not zip64:
            raise LayoutError(f"{name}: its {what} entry has an extra field (the build writes none there)")
        values = _zip64_values(name, extra, values)
    elif LIMIT_32 in values.values():
        raise LayoutError(f"{name}: its {what} entry has a 32-bit field at its limit and no ZIP64 extra")
    seen = Seen(values["offset"], method, crc, values["compressed"], values["size"])
    return _Entry(raw_name, name, flags, seen, CENTRAL.size + name_length + extra_length)


def _name(raw: bytes, flags: int, where: str) -> str:
    """The name as every reader decodes it: the build flags a non-ASCII name as UTF-8, no other."""
    try:
        name = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise LayoutError(f"a name in the {where} is not UTF-8: {raw!r}") from None
    if flags != (0 if name.isascii() else UTF8_NAME):
        raise LayoutError(
            f"{name}: general purpose flags {flags:#06x} in the {where} (the build sets only UTF-8)"
        )
    if "\0" in name or not name:
        raise LayoutError(f"a name in the {where} is empty or holds a NUL byte: {name!r}")
    return name


def _zip64_values(name: str, extra: bytes, values: dict[str, int]) -> dict[str, int]:
    """ziplayout.py's ZIP64 extra: one block holding, in order, the values too large for their field."""
    wide = [key for key in ("size", "compressed", "offset") if values[key] == LIMIT_32]
    if len(extra) != 4 + 8 * len(wide) or not wide:
        raise LayoutError(f"{name}: an extra field the build would not write")
    tag, length = struct.unpack_from("<HH", extra)
    if tag != ZIP64_TAG or length != 8 * len(wide):
        raise LayoutError(f"{name}: an extra field the build would not write")
    found = dict(values)
    for index, key in enumerate(wide):
        (found[key],) = struct.unpack_from("<Q", extra, 4 + 8 * index)
        if found[key] < LIMIT_32:
            raise LayoutError(f"{name}: a ZIP64 value that fits its 32-bit field")
    return found


def _members(
    stream: BinaryIO, entries: list[_Entry], preamble: int, directory: int | None
) -> list[tuple[str, Seen]]:
    """Each entry's local header and data, one after another from the zip's first byte, once each;
    ending where the directory starts (`directory`, from the zip's start) when given."""
    members: list[tuple[str, Seen]] = []
    names: set[str] = set()
    expected = 0
    for entry in entries:
        if entry.name in names:
            raise LayoutError(f"{entry.name}: present twice in the archive")
        names.add(entry.name)
        if entry.seen.offset != expected:
            where = (
                "overlaps the member before it" if entry.seen.offset < expected else "leaves a gap before it"
            )
            raise LayoutError(
                f"{entry.name}: its local header at byte {preamble + entry.seen.offset} {where}"
            )
        seen = entry.seen._replace(offset=preamble + entry.seen.offset)
        _check_local(stream, entry, seen)
        members.append((entry.name, seen))
        expected = _data_end(stream, seen) - preamble
    if directory is not None and expected != directory:
        raise LayoutError(f"bytes {preamble + expected} to {preamble + directory} belong to no member")
    return members


def _data_end(stream: BinaryIO, seen: Seen) -> int:
    name_length, extra_length = LENGTHS.unpack(_read(stream, seen.offset + 26, 4))
    end: int = seen.offset + LOCAL.size + name_length + extra_length + seen.compressed
    return end


def _check_local(stream: BinaryIO, entry: _Entry, seen: Seen) -> None:
    """The local header agrees with the directory: name, flags, method, CRC, sizes (ZIP64 or not)."""
    header = _read(stream, seen.offset, LOCAL.size)
    _, needed, flags, method, _, _, crc, compressed, size, name_length, extra_length = LOCAL.unpack(header)
    name = _read(stream, seen.offset + LOCAL.size, name_length)
    extra = _read(stream, seen.offset + LOCAL.size + name_length, extra_length)
    if header[:4] != LOCAL_SIGNATURE or name != entry.raw_name:
        raise LayoutError(f"{entry.name}: no local header of that name where the directory places it")
    if needed not in VERSIONS or flags != entry.flags or method != seen.method or crc != seen.crc:
        raise LayoutError(
            f"{entry.name}: its local header and its directory entry differ (flags, method or CRC)"
        )
    if extra:
        if extra != struct.pack("<HHQQ", ZIP64_TAG, 16, seen.size, seen.compressed) or (compressed, size) != (
            LIMIT_32,
            LIMIT_32,
        ):
            raise LayoutError(f"{entry.name}: its local header has an extra field the build would not write")
    elif (compressed, size) != (seen.compressed, seen.size):
        raise LayoutError(f"{entry.name}: its local header and its directory entry give other sizes")


def _read(stream: BinaryIO, at: int, length: int) -> bytes:
    stream.seek(at)
    data = stream.read(length)
    if len(data) != length:
        raise LayoutError(f"the file ends before byte {at + length}, where a record should end")
    return data


# -- the file as each reader finds it --------------------------------------------------------------------


class ReaderError(Exception):
    """A reader cannot read the file at all (a start under that Python fails)."""


def reader_views(path: str, stream: BinaryIO, size: int) -> dict[str, dict[str, Seen] | str]:
    """{reader: {name: Seen} or the error that reader stops with}, for the three readers."""
    views: dict[str, dict[str, Seen] | str] = {}
    readers: list[tuple[str, Callable[[], dict[str, Seen]]]] = [
        (ZIPFILE, lambda: _zipfile_view(path)),
        (LEGACY_ZIPIMPORT, lambda: _legacy_zipimport_view(stream, size)),
        (ZIP64_ZIPIMPORT, lambda: _zip64_zipimport_view(stream, size)),
    ]
    for reader, read in readers:
        try:
            views[reader] = read()
        except (ReaderError, zipfile.BadZipFile, NotImplementedError, ValueError, EOFError, OSError) as exc:
            views[reader] = str(exc) or type(exc).__name__
    return views


def disagreement(views: dict[str, dict[str, Seen] | str]) -> str | None:
    """The first member two readers see differently, else one a reader sees and zipfile does not, else
    one zipfile reads and a reader does not see; None when they all agree. zipimport before 3.13 may
    see the runtime's members only, none of the wheels: that is the split layout."""
    reference = views[ZIPFILE]
    if isinstance(reference, str):
        return f"{ZIPFILE} cannot read the file ({reference})"
    for reader, view in views.items():
        if isinstance(view, str):
            return f"{reader} cannot read the file ({view}); {ZIPFILE} can"
        for name in sorted(set(view) & set(reference)):
            if view[name] != reference[name]:
                return (
                    f"{name}: {reader} reads it {view[name].describe()}, {ZIPFILE} "
                    f"{reference[name].describe()}{ANOTHER}"
                )
        for name in sorted(set(view) - set(reference)):
            return f"{reader} sees {name} {view[name].describe()}, which {ZIPFILE} does not list{ANOTHER}"
        wheels_unseen = reader == LEGACY_ZIPIMPORT and not any(n.startswith(WHEELS) for n in view)
        for name in sorted(set(reference) - set(view)):
            if not (wheels_unseen and name.startswith(WHEELS)):
                return f"{reader} does not see {name}, which {ZIPFILE} reads{ANOTHER}"
    return None


def _zipfile_view(path: str) -> dict[str, Seen]:
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        if len(infos) > MAX_MEMBERS:
            raise ReaderError(f"more than {MAX_MEMBERS} members")
        return {
            i.filename: Seen(i.header_offset, i.compress_type, i.CRC, i.compress_size, i.file_size)
            for i in infos
        }


def _legacy_zipimport_view(stream: BinaryIO, size: int) -> dict[str, Seen]:
    """What zipimport of CPython 3.9-3.12 finds: the classic end record at the very end, else the last
    end signature in the tail; entries read until something else than an entry signature follows;
    no ZIP64; a later name replaces an earlier one."""
    if size < END.size:
        raise ReaderError("can't read Zip file")
    record = _read(stream, size - END.size, END.size)
    end_at = size - END.size
    if record[:4] != END_SIGNATURE:
        tail_at = max(size - MAX_COMMENT - END.size, 0)
        tail = _read(stream, tail_at, size - tail_at)
        found = tail.rfind(END_SIGNATURE)
        record = tail[found : found + END.size]
        if found < 0 or len(record) != END.size:
            raise ReaderError("not a Zip file")
        end_at = tail_at + found
    directory_size, directory_offset = struct.unpack_from("<II", record, 12)
    return _zipimport_entries(stream, size, end_at, directory_size, directory_offset, None, zip64=False)


def _zip64_zipimport_view(stream: BinaryIO, size: int) -> dict[str, Seen]:
    """What zipimport of CPython 3.13+ finds: in the tail, the last end signature; a ZIP64 end record
    counts when the last ZIP64 signature stands exactly 76 bytes before it (then its size, offset and
    count are used), else the classic record; entries must number what the record says."""
    window = MAX_COMMENT + END.size + END64.size + LOCATOR64.size
    tail_at = max(size - window, 0)
    tail = _read(stream, tail_at, size - tail_at)
    found, found64 = tail.rfind(END_SIGNATURE), tail.rfind(END64_SIGNATURE)
    if found64 >= 0 and found64 + END64.size + LOCATOR64.size == found:
        record = tail[found64 : found64 + END64.size]
        if len(record) != END64.size:
            raise ReaderError("corrupt Zip64 file")
        count, _, directory_size, directory_offset = struct.unpack_from("<QQQQ", record, 24)
        end_at = tail_at + found64
    elif found >= 0:
        record = tail[found : found + END.size]
        if len(record) != END.size:
            raise ReaderError("corrupt Zip file")
        (count,) = struct.unpack_from("<H", record, 8)
        directory_size, directory_offset = struct.unpack_from("<II", record, 12)
        end_at = tail_at + found
    else:
        raise ReaderError("not a Zip file")
    return _zipimport_entries(stream, size, end_at, directory_size, directory_offset, count, zip64=True)


def _zipimport_entries(
    stream: BinaryIO,
    size: int,
    end_at: int,
    directory_size: int,
    directory_offset: int,
    count: int | None,
    zip64: bool,
) -> dict[str, Seen]:
    if end_at < directory_size or end_at < directory_offset or end_at - directory_size < directory_offset:
        raise ReaderError("bad central directory size or offset")
    start = end_at - directory_size
    shift = start - directory_offset  # bytes before the zip, as zipimport infers them
    data = _read(stream, start, min(size - start, MAX_DIRECTORY + END.size))
    files: dict[str, Seen] = {}
    position, read = 0, 0
    while True:
        if len(data) - position < 4:
            raise ReaderError("EOF read where not expected")
        if data[position : position + 4] != CENTRAL_SIGNATURE:
            if count is not None and read != count:
                raise ReaderError(f"mismatched num_entries: {read} should be {count}")
            return files
        if read >= MAX_MEMBERS:
            raise ReaderError(f"more than {MAX_MEMBERS} entries")
        if len(data) - position < CENTRAL.size:
            raise ReaderError("EOF read where not expected")
        fields = CENTRAL.unpack_from(data, position)
        flags, method, _, _, crc, compressed, file_size = fields[3:10]
        name_length, extra_length, comment_length, _, _, _, offset = fields[10:]
        start_name = position + CENTRAL.size
        raw = data[start_name : start_name + name_length]
        extra = data[start_name + name_length : start_name + name_length + extra_length + comment_length]
        if len(raw) + len(extra) != name_length + extra_length + comment_length:
            raise ReaderError("can't read Zip file")
        if zip64 and LIMIT_32 in (file_size, compressed, offset):
            file_size, compressed, offset = _zipimport_zip64(extra, file_size, compressed, offset)
        if offset > directory_offset:
            raise ReaderError("bad local header offset")
        name = _zipimport_name(raw, flags)
        files[name] = Seen(offset + shift, method, crc, compressed, file_size)
        position = start_name + name_length + extra_length + comment_length
        read += 1


def _zipimport_zip64(extra: bytes, file_size: int, compressed: int, offset: int) -> tuple[int, int, int]:
    """3.13's reading of the ZIP64 extra, quirks kept: the count of values comes from everything left of
    the extra field (and comment), not from the block's own length."""
    view = memoryview(extra)
    while view:
        if len(view) < 4:
            raise ReaderError("can't read header extra")
        tag, length = struct.unpack_from("<HH", view)
        if len(view) < 4 + length:
            raise ReaderError("can't read header extra")
        if tag == ZIP64_TAG:
            if (len(view) - 4) % 8 or (len(view) - 4) // 8 > 3:
                raise ReaderError("can't read header extra")
            values = list(struct.unpack_from(f"<{(len(view) - 4) // 8}Q", view, 4))
            try:
                if file_size == LIMIT_32:
                    file_size = values.pop(0)
                if compressed == LIMIT_32:
                    compressed = values.pop(0)
                if offset == LIMIT_32:
                    offset = values.pop(0)
            except IndexError:
                raise ReaderError("can't read header extra") from None
            break
        view = view[4 + length :]
    return file_size, compressed, offset


def _zipimport_name(raw: bytes, flags: int) -> str:
    try:
        if flags & UTF8_NAME:
            return raw.decode("utf-8")
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError:
            return raw.decode("cp437")
    except UnicodeDecodeError as exc:
        raise ReaderError(f"a name that is not UTF-8 ({exc})") from None
