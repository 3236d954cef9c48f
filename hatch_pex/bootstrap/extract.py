"""Unpacking wheels into site-packages directories (cold path only: imports zipfile, zlib, hashlib).

Streaming, with flat memory: a wheel is read where it lies in the pex, through one descriptor shared by
every thread (`os.pread`: no shared file position), and nothing holds a whole wheel or member. Each
wheel's sha256 is computed over every byte while other threads unpack its members: stored members are
copied by the kernel (`os.copy_file_range`), deflated ones inflated in bounded pieces. The caller
commits an entry only once its hash matched (cache.py).

`<name>.data/purelib` and `<name>.data/platlib` go to the top, `<name>.data/scripts` (and any other
`.data` directory) stay where they are for the venv tool; a member's execute bits decide 0755 or 0644.
"""

from __future__ import annotations

import io
import os
import struct

from .log import BootError
from .trust import create, make_dirs, safe_parts

TYPE_CHECKING = False
if TYPE_CHECKING:
    import zipfile
    import zlib
    from collections.abc import Callable, Iterator, Sequence

CHUNK = 1 << 20
DEPS_DIR = ".deps"
BATCH_BYTES = 8 << 20  # members per unpacking task: about this many bytes of the wheel,
BATCH_MEMBERS = 256  # or this many files (a wheel of small files, whose cost is creating them, is shared)
LOCAL_HEADER = struct.Struct("<4s22xHH")  # signature, ..., name length, extra length
STORED, DEFLATED = (
    0,
    8,
)  # zipfile's ZIP_STORED and ZIP_DEFLATED: zipfile is imported only when a wheel is read


class Region(io.RawIOBase):
    """Bytes [offset, offset + size) of the open descriptor `fd`, read with pread: seekable, and safe
    to use beside other Regions of the same descriptor on other threads. Closing it leaves `fd` open."""

    def __init__(self, fd: int, offset: int, size: int) -> None:
        self.fd, self.offset, self.size, self.position = fd, offset, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, position: int, whence: int = 0) -> int:
        base = (0, self.position, self.size)[whence]
        self.position = max(0, base + position)
        return self.position

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        wanted = min(len(buffer), self.size - self.position)
        if wanted <= 0:
            return 0
        data = os.pread(self.fd, wanted, self.offset + self.position)
        buffer[: len(data)] = data
        self.position += len(data)
        return len(data)

    def open_zip(self) -> zipfile.ZipFile:
        import zipfile

        return zipfile.ZipFile(io.BufferedReader(self, 64 << 10))

    def sha256(self) -> str:
        import hashlib

        digest = hashlib.sha256()
        for position in range(0, self.size, 4 * CHUNK):
            data = os.pread(self.fd, min(4 * CHUNK, self.size - position), self.offset + position)
            if not data:
                raise BootError(f"read past the end of the file at {self.offset + position}")
            digest.update(data)
        return digest.hexdigest()


class WheelSource:
    """The wheels inside the running pex. The pex is opened once, so that every wheel is read from the
    file that was started even if it is replaced meanwhile; its directory is read with zipfile, which
    understands every layout the builder writes (ziplayout.py)."""

    def __init__(self, pex: str, distributions: dict[str, str]) -> None:
        self.pex = pex
        self.distributions = distributions
        self.fd = -1
        self._members: dict[str, zipfile.ZipInfo] = {}
        self._spilled: list[int] = []

    def open(self) -> None:
        if self.fd < 0:
            self.fd = os.open(self.pex, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
            with Region(self.fd, 0, os.fstat(self.fd).st_size).open_zip() as archive:
                self._members = {info.filename: info for info in archive.infolist()}

    def member(self, name: str) -> zipfile.ZipInfo | None:
        """The directory entry of the member `name` of the pex, if it has one."""
        self.open()
        return self._members.get(name)

    def region(self, wheel: str, spill_dir: str) -> Region:
        """Where the bytes of `wheel` lie: in the pex itself when it is stored (the default), else in
        an unnamed file under `spill_dir` that it is inflated into first (a `compression` level)."""
        self.open()
        info = self._members.get(f"{DEPS_DIR}/{wheel}")
        if info is None:
            raise BootError(f"{self.pex} lists {wheel} in PEX-INFO but has no {DEPS_DIR}/{wheel}")
        if info.compress_type == STORED:
            start = data_start(self.fd, 0, info.header_offset, f"{self.pex}: {DEPS_DIR}/{wheel}")
            return Region(self.fd, start, info.file_size)
        fd = _unnamed_file(spill_dir)
        self._spilled.append(fd)
        with Region(self.fd, 0, os.fstat(self.fd).st_size).open_zip() as archive, archive.open(info) as data:
            for chunk in iter(lambda: data.read(CHUNK), b""):
                _write_all(fd, chunk)
        return Region(fd, 0, info.file_size)

    def copy(self, wheel: str, target: int, spill_dir: str) -> str:
        """Copies the wheel file to the descriptor `target`; returns its sha256, checked."""
        region = self.region(wheel, spill_dir)
        if _copy(region.fd, target, region.offset, region.size) != region.size:
            raise BootError(f"{self.pex}: {DEPS_DIR}/{wheel} is truncated")
        return self.check(wheel, region.sha256())

    def check(self, wheel: str, digest: str) -> str:
        if digest != self.distributions[wheel]:
            expected = self.distributions[wheel]
            raise BootError(
                f"{self.pex}: {DEPS_DIR}/{wheel} is damaged (sha256 {digest}, PEX-INFO says {expected})"
            )
        return digest

    def close(self) -> None:
        for fd in [self.fd, *self._spilled]:
            if fd >= 0:
                os.close(fd)
        self.fd, self._spilled = -1, []


def target_path(member: str) -> str:
    """Where a wheel member lands, relative to the entry ('/'-separated); names escaping the entry
    are refused."""
    parts = member.split("/", 2)
    if len(parts) == 3 and parts[0].endswith(".data") and parts[1] in ("purelib", "platlib"):
        member = parts[2]
    return "/".join(safe_parts(member, "the cache entry", "wheel member"))


class Plan:
    """One wheel to unpack into `dest` (an empty directory): its members, where they go, and the
    batches of members that threads unpack."""

    def __init__(self, wheel: Region, dest: str, label: str) -> None:
        self.wheel, self.dest, self.label = wheel, dest, label
        self.made = {dest}
        with wheel.open_zip() as archive:
            infos = [info for info in archive.infolist() if not info.is_dir()]
        self.members: list[tuple[zipfile.ZipInfo, str]] = []
        seen: set[str] = set()
        for info in infos:
            relative = target_path(info.filename)
            if relative in seen:
                raise BootError(f"wheel member {info.filename!r}: two members unpack to {relative!r}")
            if info.flag_bits & 0x1 or info.compress_type not in (STORED, DEFLATED):
                raise BootError(
                    f"{label}: member {info.filename!r} is encrypted or compressed in a way wheels are not"
                )
            seen.add(relative)
            self.members.append((info, relative))

    def make_parents(self, batch: Sequence[tuple[zipfile.ZipInfo, str]]) -> None:
        """The directories `batch` writes into, made by the batch itself: a wheel's first files are
        written without waiting for the directories of all the others. Several threads may make one
        at once (make_dirs takes that); `made` only saves the stat of those made already."""
        for _, relative in batch:
            parent = os.path.dirname(os.path.join(self.dest, *relative.split("/")))
            if parent not in self.made:
                make_dirs(parent)
                self.made.add(parent)

    def batches(self) -> Iterator[list[tuple[zipfile.ZipInfo, str]]]:
        batch: list[tuple[zipfile.ZipInfo, str]] = []
        weight = 0
        for member in self.members:
            batch.append(member)
            weight += member[0].compress_size
            if weight >= BATCH_BYTES or len(batch) >= BATCH_MEMBERS:
                yield batch
                batch, weight = [], 0
        if batch:
            yield batch

    def unpack(self, batch: Sequence[tuple[zipfile.ZipInfo, str]]) -> list[tuple[str, int, int]]:
        """Writes `batch`; returns [(relative path, size, mtime ns)]."""
        self.make_parents(batch)
        return [(relative, *self._write(info, relative)) for info, relative in batch]

    def _write(self, info: zipfile.ZipInfo, relative: str) -> tuple[int, int]:
        what = f"{self.label}: member {info.filename!r}"
        start = data_start(self.wheel.fd, self.wheel.offset, info.header_offset, what) - self.wheel.offset
        if start + info.compress_size > self.wheel.size:
            raise BootError(f"{self.label}: member {info.filename!r} runs past the end of the wheel")
        path = os.path.join(self.dest, *relative.split("/"))
        fd = create(path, bool((info.external_attr >> 16) & 0o111))
        try:
            if info.compress_type == STORED:
                written = _copy(self.wheel.fd, fd, self.wheel.offset + start, info.compress_size)
            else:
                written = _inflate(
                    self.wheel.fd, fd, self.wheel.offset + start, info.compress_size, info.file_size
                )
            if written != info.file_size:
                found = "a broken deflate stream" if written < 0 else f"{written} bytes"
                raise BootError(
                    f"{self.label}: member {info.filename!r} holds {found}, "
                    f"its directory says {info.file_size}"
                )
            st = os.fstat(fd)
        finally:
            os.close(fd)
        return st.st_size, st.st_mtime_ns


def data_start(fd: int, base: int, header_offset: int, what: str) -> int:
    """Where the data of the zip member whose local header is `header_offset` bytes after `base`
    begins in `fd` (past the header, its name and its extra field, whose lengths only it gives)."""
    header = os.pread(fd, LOCAL_HEADER.size, base + header_offset)
    if len(header) != LOCAL_HEADER.size or LOCAL_HEADER.unpack(header)[0] != b"PK\x03\x04":
        raise BootError(f"{what} has no local header where its directory says")
    _, name_length, extra_length = LOCAL_HEADER.unpack(header)
    return base + header_offset + LOCAL_HEADER.size + int(name_length) + int(extra_length)


def _unnamed_file(directory: str) -> int:
    """A new file in `directory` that has no name (gone with its descriptor), mode 0600."""
    try:
        return os.open(directory, os.O_RDWR | os.O_TMPFILE | os.O_CLOEXEC, 0o600)
    except (AttributeError, OSError):
        import tempfile

        with tempfile.TemporaryFile(dir=directory) as file:
            return os.dup(file.fileno())


def _copy(source: int, target: int, offset: int, size: int) -> int:
    """size bytes of `source` from `offset` to `target`, in the kernel where it can."""
    done = 0
    copy_range = getattr(os, "copy_file_range", None)
    while done < size and copy_range is not None:
        try:
            count = copy_range(source, target, size - done, offset + done)
        except OSError:  # another file system, an old kernel, a seccomp filter: copy by hand
            break
        if count == 0:
            return done
        done += count
    while done < size:
        data = os.pread(source, min(CHUNK, size - done), offset + done)
        if not data:
            break
        _write_all(target, data)
        done += len(data)
    return done


def _inflate(source: int, target: int, offset: int, size: int, expected: int) -> int:
    """Inflates the raw deflate stream of `size` bytes at `offset`, never more than `expected` bytes
    (plus one, to notice a member larger than its directory says) and a few MiB at a time."""
    import zlib

    inflater = zlib.decompressobj(-15)
    try:
        return _inflate_into(inflater, source, target, offset, size, expected)
    except zlib.error:
        return -1  # a broken deflate stream: reported as a size mismatch


def _inflate_into(
    inflater: zlib._Decompress, source: int, target: int, offset: int, size: int, expected: int
) -> int:
    written = done = 0
    while done < size and written <= expected:
        data = os.pread(source, min(CHUNK, size - done), offset + done)
        if not data:
            break
        done += len(data)
        while data and written <= expected:
            out = inflater.decompress(data, 4 * CHUNK)
            data = inflater.unconsumed_tail
            written += len(out)
            _write_all(target, out)
    if written <= expected:
        out = inflater.flush()
        written += len(out)
        _write_all(target, out)
    if not inflater.eof:
        return -1  # the deflate stream did not end where the member does: reported as a size mismatch
    return written


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def unpack_file(path: str, dest: str) -> list[tuple[str, int, int]]:
    """Unpacks the wheel file at `path` into `dest` (which exists), on this thread; returns
    [(relative path, size, mtime ns)] (the extract tool, and tests)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        plan = Plan(Region(fd, 0, os.fstat(fd).st_size), dest, path)
        return sorted(plan.unpack(plan.members))
    finally:
        os.close(fd)


def unpack_all(
    plans: Sequence[Plan],
    workers: int,
    on_done: Callable[[Plan, str, list[tuple[str, int, int]]], None],
    in_order: bool = False,
    hashed: bool = False,
) -> None:
    """Unpacks every plan on `workers` threads (hashing, inflating and writing release the GIL); calls
    `on_done(plan, sha256, files)` on this thread as each wheel completes. The largest work goes first
    (the shortest run in all), or, `in_order`, the plans' work in their order (the first wheels
    complete first: an application started beside the extraction waits less, overlap.py). `hashed`:
    the caller hashed the wheels already, and on_done gets "" for the sha256. On any error the
    remaining work is cancelled and the error raised."""
    tasks: list[tuple[int, Plan, list[tuple[zipfile.ZipInfo, str]] | None]] = []
    for plan in plans:
        if not hashed:
            tasks.append((plan.wheel.size, plan, None))  # None: the hash of the whole wheel
        tasks.extend((sum(i.compress_size for i, _ in batch), plan, batch) for batch in plan.batches())
    rank = {id(plan): index for index, plan in enumerate(plans)}
    tasks.sort(key=(lambda task: (rank[id(task[1])], -task[0])) if in_order else (lambda task: -task[0]))
    if workers <= 1 or len(tasks) < 2:
        results = [(plan, _run(plan, batch)) for _, plan, batch in tasks]
        _collect(plans, results, on_done)
        return
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        futures = {pool.submit(_run, plan, batch): plan for _, plan, batch in tasks}
        pending = set(futures)
        remaining = {id(plan): sum(1 for p in futures.values() if p is plan) for plan in plans}
        partial: dict[int, list[str | list[tuple[str, int, int]]]] = {id(plan): [] for plan in plans}
        _collect([plan for plan in plans if not remaining[id(plan)]], [], on_done)  # nothing to unpack
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)  # each wheel committed once complete
            for future in done:
                plan = futures[future]
                partial[id(plan)].append(future.result())  # raises what the task raised
                remaining[id(plan)] -= 1
                if remaining[id(plan)] == 0:
                    _collect([plan], [(plan, result) for result in partial.pop(id(plan))], on_done)
    except BaseException:
        # A failed task, a damaged wheel or ^C: nothing queued starts, what runs finishes first.
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown()


def _run(plan: Plan, batch: list[tuple[zipfile.ZipInfo, str]] | None) -> str | list[tuple[str, int, int]]:
    return plan.wheel.sha256() if batch is None else plan.unpack(batch)


def _collect(
    plans: Sequence[Plan],
    results: Sequence[tuple[Plan, str | list[tuple[str, int, int]]]],
    on_done: Callable[[Plan, str, list[tuple[str, int, int]]], None],
) -> None:
    for plan in plans:
        digest = ""
        files: list[tuple[str, int, int]] = []
        for owner, result in results:
            if owner is plan:
                if isinstance(result, str):
                    digest = result
                else:
                    files.extend(result)
        on_done(plan, digest, sorted(files))
