"""Write the .pex: a shebang line, then a zip, laid out as docs/format.md describes.

The file is reproducible (sorted members, fixed timestamps and modes, sorted JSON) and written
atomically: a temporary file beside the output is renamed into place only once complete.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import time
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .ziplayout import ZipWriter

FORMAT = "hatch-pex/1"
BOOTSTRAP_SOURCE = Path(__file__).parent / "bootstrap"
BOOTSTRAP_PACKAGE = ".bootstrap/_hatch_pex_boot"
MAIN_STUB = "main_stub.py"
DEPS_DIR = ".deps"
BYTECODE_DIR = ".bytecode"  # precompile.py
PEX_INFO = "PEX-INFO"
PARTIAL_MARKER = ".partial-"
_ZIP_EPOCH = 315532800  # 1980-01-01, the earliest time a zip entry can hold
RUNTIME_LEVEL = 6
CHUNK = 4 << 20


@dataclass(frozen=True)
class Member:
    """One zip member: bytes in memory, or a file on disk (wheels, which can be large)."""

    name: str
    data: bytes | None = None
    source: str | None = None
    compress: bool = True
    digest: str | None = None  # sha256 of the content, when already known (wheels are hashed at resolve)

    def chunks(self) -> Iterator[bytes]:
        if self.data is not None:
            yield self.data
            return
        assert self.source is not None
        with open(self.source, "rb") as stream:
            yield from iter(lambda: stream.read(CHUNK), b"")

    def size(self) -> int:
        return len(self.data) if self.data is not None else os.path.getsize(self.source or "")

    def sha256(self) -> str:
        if self.digest is not None:
            return self.digest
        digest = hashlib.sha256()
        for chunk in self.chunks():
            digest.update(chunk)
        return digest.hexdigest()


# What a warm start reads is stored, not deflated: reading a deflated member imports zlib (~0.7 ms).
# Everything else is only read on a first start, which needs zlib anyway.
WARM_PATH_MODULE = "__init__.py"


def bootstrap_members() -> list[Member]:
    """The stdlib-only runtime and the `__main__.py` stub that starts it."""
    members = [Member("__main__.py", (BOOTSTRAP_SOURCE / MAIN_STUB).read_bytes(), compress=False)]
    for path in sorted(BOOTSTRAP_SOURCE.glob("*.py")):
        if path.name != MAIN_STUB:
            name = f"{BOOTSTRAP_PACKAGE}/{path.name}"
            members.append(Member(name, path.read_bytes(), compress=path.name != WARM_PATH_MODULE))
    return members


def wheel_member(wheel_path: str, sha256: str | None = None) -> Member:
    # Deflating a wheel again saves ~2% (its zip headers and names) for three times the build time
    # and a slower first start, so wheels are stored unless `compression` says otherwise.
    return Member(f"{DEPS_DIR}/{os.path.basename(wheel_path)}", source=wheel_path, digest=sha256)


def content_hash(members: list[Member]) -> str:
    """sha256 over the names and contents of `members`, independent of their order (the formula
    `verify` recomputes: bootstrap/report.py)."""
    from .bootstrap.report import content_digest

    return content_digest((member.name, member.sha256()) for member in members)


def member_hashes(members: list[Member]) -> dict[str, str]:
    """{name: sha256} of every member but the wheels (PEX-INFO's `distributions` records those)."""
    return {member.name: member.sha256() for member in members if not is_wheel(member.name)}


def pex_info_member(pex_info: dict[str, object]) -> Member:
    text = json.dumps(pex_info, sort_keys=True, indent=2) + "\n"
    return Member(PEX_INFO, text.encode("utf-8"), compress=False)  # read by every warm start


def zip_timestamp(reproducible: bool) -> float:
    if not reproducible:
        return time.time()
    from hatchling.builders.utils import get_reproducible_timestamp

    return float(max(get_reproducible_timestamp(), _ZIP_EPOCH))


def write_pex(output: str, *, shebang: str, members: list[Member], compression: int, timestamp: float) -> str:
    """Write the archive to `output` atomically, executable; return `output`.

    Wheels (and bytecode bundles) come first, each stored unless `compression` asks for deflate
    (their members are deflated already); the runtime's members come last, so that a file past 4 GiB
    can still be started by zipimport before Python 3.13 (ziplayout.py)."""
    date_time = time.gmtime(timestamp)[:6]
    with _terminate_as_exception(), atomic_output(output, 0o755) as stream:
        stream.write(preamble(shebang))
        writer = ZipWriter(stream, date_time)
        for member in sorted(members, key=lambda m: (not is_bulk(m.name), m.name)):
            writer.add(member.name, member.chunks(), member.size(), member_level(member, compression))
        writer.finish(lambda name: not is_bulk(name))
    return output


def preamble(shebang: str) -> bytes:
    """The bytes written before the zip: the `#!` line."""
    return f"#!{shebang}\n".encode()


def preamble_sha256(shebang: str) -> str:
    """PEX-INFO's `preamble_sha256`: the kernel runs the `#!` line, so `verify` checks it like every
    member (docs/format.md)."""
    return hashlib.sha256(preamble(shebang)).hexdigest()


@contextlib.contextmanager
def atomic_output(output: str, mode: int) -> Iterator[BinaryIO]:
    """A new file that appears at `output` only once written whole (fsync, then rename); removed on any
    failure. It is created with O_EXCL and without following a link, so never through a name someone
    planted in a shared dist/; `mode` is narrowed by the umask."""
    directory = os.path.dirname(os.path.abspath(output))
    os.makedirs(directory, exist_ok=True)
    remove_stale_partials(directory)
    partial = os.path.join(directory, f".{os.path.basename(output)}{PARTIAL_MARKER}{os.getpid()}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        with open(os.open(partial, flags, mode), "w+b") as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(partial, output)
    except FileExistsError:
        raise FileExistsError(
            f"{partial} exists (a file or link someone else put there): not written"
        ) from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
        raise


def is_wheel(name: str) -> bool:
    return name.startswith(f"{DEPS_DIR}/")


def is_bulk(name: str) -> bool:
    """A wheel or a bytecode bundle: read only by a first start, laid out before the runtime."""
    return is_wheel(name) or name.startswith(f"{BYTECODE_DIR}/")


def member_level(member: Member, compression: int) -> int:
    """Deflate level of a member: the runtime's (but what every warm start reads) at level 6, wheels
    at `compression` (default 0: stored)."""
    if not member.compress:
        return 0
    return compression if is_wheel(member.name) else RUNTIME_LEVEL


def remove_stale_partials(directory: str) -> None:
    """Remove temporary files left by builds that were killed (they never reach an output name)."""
    with contextlib.suppress(OSError):
        for name in os.listdir(directory):
            if name.startswith(".") and PARTIAL_MARKER in name:
                pid = name.rpartition(PARTIAL_MARKER)[2]
                if not (pid.isdigit() and _process_alive(int(pid))):
                    with contextlib.suppress(OSError):
                        os.unlink(os.path.join(directory, name))


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def _terminate_as_exception() -> Iterator[None]:
    """Turn SIGTERM into an exception while writing, so that the partial file is removed."""
    try:
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    except ValueError:  # not the main thread: nothing to install
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _raise_terminated(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def read_pex_info(path: str) -> dict[str, object] | None:
    """PEX-INFO of a file this plugin wrote, or None for anything else (a PEX-INFO past the tools' cap
    included: a small file can inflate to gigabytes)."""
    from .bootstrap.log import BootError
    from .bootstrap.report import MAX_PEX_INFO, read_member

    try:
        with zipfile.ZipFile(path) as archive:
            info = json.loads(read_member(archive, PEX_INFO, MAX_PEX_INFO))
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, BootError):
        return None
    if not isinstance(info, dict) or not str(info.get("format", "")).startswith("hatch-pex/"):
        return None
    return info
