"""What `hatch-pex verify` proves, against an attacker who edits a genuine file (docs/security.md, "What
`verify` proves"; docs/cli.md): every byte laid out as the build writes it, the same members for every
reader, the `#!` line covered, PEX-INFO read up to a cap, and names printed escaped.

Each attack is built from a genuine file that `hatch build -t pex` wrote, and each test first shows the
attack is real (the planted code runs under the real interpreters), then that the tools refuse it.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import struct
import subprocess
import sys
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Optional, Union

import helpers
import pytest
from helpers import configure, pex_info

from hatch_pex.bootstrap import report

VERSION = f"{sys.version_info[0]}.{sys.version_info[1]}"
LOCAL = struct.Struct("<4sHHHHHIIIHH")
CENTRAL = struct.Struct("<4sHHHHHHIIIHHHHHII")
END = struct.Struct("<4sHHHHIIH")
END64 = struct.Struct("<4sQHHIIQQQQ")
PLANTED = b'print("PLANTED")\n'
MEMORY_LIMIT = 300 << 20  # address space of the tool's process: PEX-INFO inflates to more than this
BOMB_SIZE = 400_000_000


@pytest.fixture(scope="module")
def genuine(tmp_path_factory: pytest.TempPathFactory, index_url: str, uv_cache: Path) -> Path:
    """`trust-app`, whose script prints GENUINE, built by hatch for the test runner's Python."""
    base = tmp_path_factory.mktemp("trust")
    project = base / "trust-app"
    (project / "trust_app").mkdir(parents=True)
    (project / "trust_app" / "__init__.py").write_text("def main():\n    print('GENUINE')\n    return 0\n")
    (project / "pyproject.toml").write_text(
        """
[build-system]
requires = ["hatchling", "hatch-pex-builder"]
build-backend = "hatchling.build"

[project]
name = "trust-app"
version = "0.1.0"
requires-python = ">=3.9"

[project.scripts]
trust-app = "trust_app:main"

[tool.hatch.build.targets.wheel]
packages = ["trust_app"]
"""
    )
    configure(project, f'python-versions = ["{VERSION}"]')
    helpers.hatch_build(project, env=helpers.make_env(index_url, base / ".home", uv_cache=uv_cache))
    [pex] = helpers.built_artifacts(project)
    return pex


def cli(venv_python: Path, *args: str | Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return helpers.run([venv_python, "-m", "hatch_pex", *args], env=env, check=False)


def started(python: Path, pex: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return helpers.run([python, pex], env=env, check=False)


def has_no_controls(text: str) -> bool:
    return not any((ord(c) < 0x20 and c != "\n") or 0x7F <= ord(c) < 0xA0 for c in text)


# -- building the attacks ---------------------------------------------------------------------------------


def end_record(data: bytes) -> tuple[int, int, int, int]:
    """(entries, directory size, directory offset, bytes before the zip) of a classic file."""
    _, _, _, count, _, size, offset, _ = END.unpack(data[-END.size :])
    return count, size, offset, len(data) - END.size - size - offset


def planted_member(offset: int) -> tuple[bytes, bytes]:
    """(local header and data, central directory entry) of a stored `__main__.py` printing PLANTED,
    whose local header is `offset` bytes from where the reader counts."""
    name, crc = b"__main__.py", zlib.crc32(PLANTED)
    local = LOCAL.pack(b"PK\x03\x04", 20, 0, 0, 0, 0x21, crc, len(PLANTED), len(PLANTED), len(name), 0)
    central = CENTRAL.pack(
        b"PK\x01\x02", 0x314, 20, 0, 0, 0, 0x21, crc, len(PLANTED), len(PLANTED), len(name), 0, 0, 0, 0,
        0o100644 << 16, offset,
    )  # fmt: skip
    return local + name + PLANTED, central + name


def two_directories(pex: Path, dest: Path) -> Path:
    """The genuine file, untouched, then: a planted `__main__.py`, a classic directory listing it, the
    split layout's mark, a copy of the genuine directory, a ZIP64 end record naming that copy, a locator
    whose offset field (which zipfile ignores) holds a ZIP64 signature, and a classic end record naming
    the planted directory. zipfile follows the locator to the genuine members; zipimport 3.9-3.12 reads
    the classic record; zipimport 3.13 takes the last ZIP64 signature of the tail, finds it out of place
    and falls back to the classic record too."""
    data = pex.read_bytes()
    count, size, _, preamble = end_record(data)
    directory = data[len(data) - END.size - size : len(data) - END.size]
    planted_at = len(data)
    local, central = planted_member(0)
    mark = b"PK\x05\x05\x00\x00"
    small_at = planted_at + len(local)
    full_at = small_at + len(central) + len(mark)
    end64 = END64.pack(b"PK\x06\x06", 44, 0x32D, 45, 0, 0, count, count, size, full_at - preamble)
    locator = b"PK\x06\x07" + struct.pack("<I", 0) + b"PK\x06\x06\x00\x00\x00\x00" + struct.pack("<I", 1)
    end_at = full_at + size + len(end64) + len(locator)
    end = END.pack(b"PK\x05\x06", 0, 0, 1, 1, end_at - small_at, small_at - planted_at, 0)
    dest.write_bytes(data + local + central + mark + directory + end64 + locator + end)
    return dest


def comment_hidden_zip64(pex: Path, dest: Path) -> Path:
    """The genuine file whose last directory entry gets a comment holding a planted `__main__.py`, a
    directory listing it and a ZIP64 end record 76 bytes before the end record: where zipimport 3.13
    looks for one. zipfile and zipimport 3.9-3.12 read the genuine directory (the comment is skipped)."""
    data = pex.read_bytes()
    count, size, offset, preamble = end_record(data)
    directory_at = len(data) - END.size - size
    position = directory_at
    for _ in range(count - 1):  # to the last entry
        fields = CENTRAL.unpack_from(data, position)
        position += CENTRAL.size + fields[10] + fields[11] + fields[12]
    comment_at = len(data) - END.size  # the last entry ends there; its comment will follow
    local, central = planted_member(comment_at - preamble)
    small_at = comment_at + len(local)
    end64 = END64.pack(b"PK\x06\x06", 44, 0x32D, 45, 0, 0, 1, 1, len(central), small_at - preamble)
    comment = local + central + end64 + b"\x00" * 20  # 20 bytes where a locator would be: none
    entry = bytearray(data[position:comment_at])
    struct.pack_into("<H", entry, 32, len(comment))
    end = END.pack(b"PK\x05\x06", 0, 0, count, count, size + len(comment), offset, 0)
    dest.write_bytes(data[:position] + bytes(entry) + comment + end)
    return dest


Content = Optional[Union[bytes, tuple[Iterable[bytes], int]]]  # (chunks, size): deflated at level 9


def relaid(
    pex: Path,
    dest: Path,
    replace: dict[str, Content] | None = None,
    add: dict[str, bytes] | None = None,
    split: bool = False,
) -> Path:
    """The members of `pex` (replaced, removed or added) written again after its first line by the
    build's own zip writer, in the classic or the split layout: a file laid out as the build lays
    one out (`replace` may give (chunks, size) for content too large to hold)."""
    from hatch_pex.ziplayout import ZipWriter

    replace = replace or {}
    with open(pex, "rb") as stream:
        first_line = stream.readline()
    with zipfile.ZipFile(pex) as source, open(dest, "w+b") as out:
        out.write(first_line)
        writer = ZipWriter(out, (2020, 2, 2, 0, 0, 0))
        for info in source.infolist():
            content = replace[info.filename] if info.filename in replace else source.read(info)
            if content is None:
                continue
            if isinstance(content, bytes):
                writer.add(info.filename, [content], len(content), 6 if info.compress_type else 0)
            else:
                writer.add(info.filename, content[0], content[1], 9)
        for name, data in (add or {}).items():
            writer.add(name, [data], len(data), 6)
        writer.finish(lambda name: not name.startswith(".deps/"), split=split)
    return dest


def with_pex_info(pex: Path, dest: Path, drop: tuple[str, ...] = (), **changes: object) -> Path:
    """`pex` with PEX-INFO fields changed or dropped, and its pex_hash computed again (unless given): a
    self-consistent file."""
    info = {key: value for key, value in {**pex_info(pex), **changes}.items() if key not in drop}
    with zipfile.ZipFile(pex) as archive:
        hashes = [(i.filename, hashlib.sha256(archive.read(i)).hexdigest()) for i in archive.infolist()]
    if "pex_hash" not in changes:
        info["pex_hash"] = report.pex_hash(
            report.content_digest(h for h in hashes if h[0] != "PEX-INFO"), info
        )
    return relaid(pex, dest, {"PEX-INFO": json.dumps(info, indent=2, sort_keys=True).encode()})


# -- two central directories ------------------------------------------------------------------------------


def test_two_directories_run_planted_code_everywhere_and_verify_refuses(
    genuine: Path, interpreters: dict[str, Path], hatchling_venv: Path, env: dict[str, str], tmp_path: Path
) -> None:
    attack = two_directories(genuine, tmp_path / "attack.pex")
    with zipfile.ZipFile(attack) as archive:  # what verify used to read: the genuine members
        assert json.loads(archive.read("PEX-INFO")) == pex_info(genuine)
    assert started(interpreters[VERSION], genuine, env).stdout == "GENUINE\n"
    for version, python in interpreters.items():  # the attack is real: every CPython runs the plant
        ran = started(python, attack, env)
        assert ran.stdout == "PLANTED\n", (version, helpers.describe(ran))
    result = cli(hatchling_venv, "verify", attack, env=env)
    assert result.returncode == 1, helpers.describe(result)
    first = result.stdout.splitlines()[0]
    assert first.startswith(
        f"{attack}: FAILED: readers disagree: __main__.py: zipimport of Python 3.9-3.12 reads it at byte "
    ), first
    assert "zipfile at byte" in first and "another central directory" in first
    assert "pex_hash" not in first and ": OK" not in result.stdout


def test_inspect_info_and_diff_refuse_a_file_with_two_directories(
    genuine: Path, hatchling_venv: Path, env: dict[str, str], tmp_path: Path
) -> None:
    attack = two_directories(genuine, tmp_path / "attack.pex")
    for args in (
        ["inspect", attack],
        ["inspect", attack, "--json"],
        ["info", attack],
        ["diff", genuine, attack],
    ):
        result = cli(hatchling_venv, *args, env=env)
        assert result.returncode == 2, (args, helpers.describe(result))
        assert result.stdout == "" and len(result.stderr.splitlines()) == 1, result.stderr
        assert result.stderr.startswith(
            f"hatch-pex: error: {attack}: refused: readers disagree: __main__.py: "
        ), result.stderr


def test_zip64_record_hidden_in_a_comment_runs_on_313_and_verify_refuses(
    genuine: Path, interpreters: dict[str, Path], hatchling_venv: Path, env: dict[str, str], tmp_path: Path
) -> None:
    if "3.13" not in interpreters:
        pytest.skip("no CPython 3.13 here")
    attack = comment_hidden_zip64(genuine, tmp_path / "comment.pex")
    for version, python in interpreters.items():
        ran = started(python, attack, env)
        if version == "3.13":
            assert ran.stdout == "PLANTED\n", helpers.describe(ran)
        else:  # the genuine directory: the runtime starts (and serves only the runner's version)
            assert "PLANTED" not in ran.stdout, (version, helpers.describe(ran))
    assert cli(hatchling_venv, "verify", genuine, env=env).returncode == 0
    result = cli(hatchling_venv, "verify", attack, env=env)
    assert result.returncode == 1, helpers.describe(result)
    assert result.stdout.startswith(
        f"{attack}: FAILED: readers disagree: __main__.py: zipimport of Python 3.13+ reads it at byte "
    ), result.stdout
    assert "has a comment" in result.stdout  # the layout says it too
    refused = cli(hatchling_venv, "inspect", attack, env=env)
    assert refused.returncode == 2 and "refused: readers disagree" in refused.stderr, helpers.describe(
        refused
    )


# -- the preamble -------------------------------------------------------------------------------------------


def test_a_swapped_first_line_runs_its_command_and_verify_refuses(
    genuine: Path, interpreters: dict[str, Path], hatchling_venv: Path, env: dict[str, str], tmp_path: Path
) -> None:
    marker = tmp_path / "ran-the-command"
    script = f'#!/bin/sh\necho planted > {marker}\nexec {interpreters[VERSION]} "$0" "$@"\n'.encode()
    data = genuine.read_bytes()
    swapped = tmp_path / "swapped.pex"
    swapped.write_bytes(script + data[data.index(b"\n") + 1 :])
    swapped.chmod(0o755)
    ran = helpers.run([swapped], env=env, check=False)
    assert ran.stdout == "GENUINE\n" and marker.read_text() == "planted\n", helpers.describe(ran)
    result = cli(hatchling_venv, "verify", swapped, env=env)
    assert result.returncode == 1, helpers.describe(result)
    assert result.stdout.startswith(
        f"{swapped}: FAILED: preamble: the {len(script)} bytes before the zip (starting '#!/bin/sh') have sha256 "
    ), result.stdout
    assert "preamble_sha256" in pex_info(genuine)  # what verify compared the line with
    # a file whose PEX-INFO records no first line (as before this check) is not accepted either
    older = with_pex_info(genuine, tmp_path / "older.pex", drop=("preamble_sha256",))
    result = cli(hatchling_venv, "verify", older, env=env)
    assert result.returncode == 1, helpers.describe(result)
    assert result.stdout.startswith(f"{older}: FAILED: preamble: PEX-INFO records no preamble_sha256"), (
        result.stdout
    )


# -- PEX-INFO that inflates to hundreds of megabytes --------------------------------------------------------


def bomb(pex: Path, dest: Path, lying: bool) -> Path:
    """`pex` whose PEX-INFO is its own JSON with 400 MB of blanks after the `{`, deflated (a few hundred
    kB); `lying`: both headers then declare the genuine PEX-INFO's size instead."""
    with zipfile.ZipFile(pex) as archive:
        text = archive.read("PEX-INFO")
    blanks = BOMB_SIZE - len(text)
    chunks = [b"{", *(b" " * (1 << 20) for _ in range(blanks >> 20)), b" " * (blanks % (1 << 20)), text[1:]]
    relaid(pex, dest, {"PEX-INFO": (chunks, BOMB_SIZE)})
    if lying:
        with zipfile.ZipFile(dest) as archive:
            member = archive.getinfo("PEX-INFO")
        data = bytearray(dest.read_bytes())
        struct.pack_into("<I", data, member.header_offset + 22, len(text))
        _, size, _, _ = end_record(bytes(data))
        position = len(data) - END.size - size
        while data[position + 46 : position + 46 + 8] != b"PEX-INFO":
            fields = CENTRAL.unpack_from(data, position)
            position += CENTRAL.size + fields[10] + fields[11] + fields[12]
        struct.pack_into("<I", data, position + 24, len(text))
        dest.write_bytes(bytes(data))
    return dest


@pytest.mark.parametrize("lying", [False, True], ids=["declared", "lying-header"])
def test_a_pex_info_bomb_is_refused_within_a_memory_limit(
    lying: bool, genuine: Path, hatchling_venv: Path, env: dict[str, str], tmp_path: Path
) -> None:
    small = bomb(genuine, tmp_path / "bomb.pex", lying)
    assert small.stat().st_size < 2_000_000

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))

    for command in ("verify", "inspect", "info"):
        result = subprocess.run(
            [str(hatchling_venv), "-m", "hatch_pex", command, str(small)],
            env=env, capture_output=True, text=True, timeout=300, preexec_fn=limit,
        )  # fmt: skip
        shown = f"{command}: {result.returncode}\n{result.stdout}{result.stderr}"
        assert "MemoryError" not in shown and "Traceback" not in shown, shown
        assert result.returncode in (1, 2), shown
        message = result.stdout if command == "verify" else result.stderr
        if lying:  # zipfile stops at the declared size, then the CRC tells
            assert "PEX-INFO" in message and ("damaged" in message or "inflates past" in message), shown
        else:
            assert f"PEX-INFO declares {BOMB_SIZE:,} bytes, more than the " in message, shown


# -- escape sequences ----------------------------------------------------------------------------------------


def test_names_and_pex_info_strings_are_printed_escaped(
    genuine: Path, hatchling_venv: Path, env: dict[str, str], tmp_path: Path
) -> None:
    fake = f"\r\x1b[2K{genuine}: OK: everything matches"
    named = relaid(genuine, tmp_path / "named.pex", add={f"x\x1b[1A{fake}\u202e.py": b"x = 1\n"})
    result = cli(hatchling_venv, "verify", named, env=env)
    assert result.returncode == 1, helpers.describe(result)
    assert has_no_controls(result.stdout) and "\u202e" not in result.stdout, repr(result.stdout)
    line = result.stdout.splitlines()[0]  # then `also:` the pex_hash, which covers the added member
    assert (
        line.startswith(f"{named}: FAILED: x\\x1b[1A\\r\\x1b[2K")
        and "\\u202e.py: not recorded at build time" in line
    )

    hostile = "evil\x1b]0;pwned\x07\x1b[2K\u2028\x9b31m"
    edited = with_pex_info(genuine, tmp_path / "edited.pex", project={"name": hostile, "version": "1\x1b[0m"})
    assert (
        cli(hatchling_venv, "verify", edited, env=env).returncode == 0
    )  # self-consistent: only the text is hostile
    for args in (["inspect", edited], ["info", edited, "--indent", "2"], ["diff", genuine, edited]):
        shown = cli(hatchling_venv, *args, env=env)
        assert shown.returncode in (0, 1), helpers.describe(shown)
        assert has_no_controls(shown.stdout) and "\u2028" not in shown.stdout, (args, repr(shown.stdout))
    text = cli(hatchling_venv, "inspect", edited, env=env).stdout
    assert "evil\\x1b]0;pwned\\x07\\x1b[2K\\u2028\\x9b31m 1\\x1b[0m" in text, text
    as_json = cli(hatchling_venv, "inspect", edited, "--json", env=env)
    assert has_no_controls(as_json.stdout) and json.loads(as_json.stdout)["project"]["name"] == hostile

    forged = with_pex_info(genuine, tmp_path / "forged.pex", pex_hash=f"\x1b[2K\r{genuine}: OK")
    result = cli(hatchling_venv, "verify", forged, env=env)
    assert result.returncode == 1 and has_no_controls(result.stdout), repr(result.stdout)
    assert result.stdout.startswith(
        f"{forged}: FAILED: PEX-INFO: pex_hash \\x1b[2K\\r{genuine}: OK does not match"
    )


# -- genuine files ---------------------------------------------------------------------------------------------


def test_genuine_classic_and_split_files_verify(
    genuine: Path, interpreters: dict[str, Path], hatchling_venv: Path, env: dict[str, str], tmp_path: Path
) -> None:
    split = relaid(genuine, tmp_path / "split.pex", split=True)
    with open(split, "rb") as stream:
        stream.seek(-22 - 20, os.SEEK_END)
        assert stream.read(4) == b"PK\x06\x07"  # the split layout's ZIP64 locator
    assert started(interpreters[VERSION], split, env).stdout == "GENUINE\n"
    for pex, kind in ((genuine, "classic"), (split, "split")):
        result = cli(hatchling_venv, "verify", pex, env=env)
        assert result.returncode == 0, helpers.describe(result)
        assert result.stdout.startswith(f"{pex}: OK: "), result.stdout
        assert (
            f"the preamble and PEX-INFO match the hashes recorded at build time and every reader finds the same members ({kind} layout)"
            in result.stdout
        )
        assert cli(hatchling_venv, "inspect", pex, env=env).returncode == 0
    assert cli(hatchling_venv, "diff", genuine, split, env=env).returncode == 1  # the size differs only
