"""Pure logic of the build side: redaction, module lookup in wheels, the archive writer, which
platforms may be left out."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import pytest

from hatch_pex import archive
from hatch_pex.platforms import Platform
from hatch_pex.redact import redact, strip_credentials
from hatch_pex.resolve import IntegrityError, ResolveError, for_each_platform
from hatch_pex.wheel import module_is_provided, wheel_module_files


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://alice:s3cret@host/simple", "https://****@host/simple"),
        (
            "see http://token@host:8080/x and https://u:p@other/y",
            "see http://****@host:8080/x and https://****@other/y",
        ),
        ("git+https://bob:pw@github.example/x.git", "git+https://****@github.example/x.git"),
        ("https://host/simple", "https://host/simple"),
        ("mail me at someone@example.org", "mail me at someone@example.org"),
        ("ftp//user:s3cret@nowhere", "ftp//****@nowhere"),
        ("'user:s3cret@host/simple'", "'****@host/simple'"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_strip_credentials() -> None:
    assert strip_credentials("https://u:p@host:81/a?b#c") == "https://host:81/a?b#c"
    assert strip_credentials("https://host/a") == "https://host/a"


def make_wheel(path: Path, names: list[str]) -> Path:
    with zipfile.ZipFile(path, "w") as wheel:
        for name in names:
            wheel.writestr(name, b"")
    return path


def test_module_lookup(tmp_path: Path) -> None:
    wheel = make_wheel(
        tmp_path / "demo-1.0-cp311-cp311-linux_x86_64.whl",
        [
            "demo/__init__.py",
            "demo/cli.py",
            "demo/_speed.cpython-311-x86_64-linux-gnu.so",
            "nspkg/part/mod.py",
            "demo-1.0.data/purelib/extra_mod.py",
            "demo-1.0.data/scripts/tool",
            "demo-1.0.dist-info/METADATA",
        ],
    )
    files = wheel_module_files(str(wheel))
    assert module_is_provided("demo", files)
    assert module_is_provided("demo.cli", files)
    assert module_is_provided("demo._speed", files)
    assert module_is_provided("nspkg.part", files)
    assert module_is_provided("extra_mod", files)
    assert not module_is_provided("demo.missing", files)
    assert not module_is_provided("tool", files)
    assert not module_is_provided("dem", files)


def write(tmp_path: Path, name: str, members: list[archive.Member], timestamp: float = 1580601600) -> Path:
    output = tmp_path / name
    archive.write_pex(
        str(output), shebang="/usr/bin/env python3", members=members, compression=6, timestamp=timestamp
    )
    return output


def test_archive_is_deterministic_and_executable(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path / "dep-1.0-py3-none-any.whl", ["dep/__init__.py"])
    members = [archive.Member("b.txt", b"b"), archive.wheel_member(str(wheel)), archive.Member("a.txt", b"a")]
    first = write(tmp_path, "one.pex", members)
    second = write(tmp_path, "two.pex", list(reversed(members)))
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes().startswith(b"#!/usr/bin/env python3\n")
    assert os.stat(first).st_mode & 0o777 == 0o755
    with zipfile.ZipFile(first) as result:
        assert result.namelist() == [".deps/dep-1.0-py3-none-any.whl", "a.txt", "b.txt"]
        assert result.getinfo(".deps/dep-1.0-py3-none-any.whl").compress_type == zipfile.ZIP_DEFLATED
        assert result.getinfo("a.txt").date_time == (2020, 2, 2, 0, 0, 0)
    other_time = write(tmp_path, "three.pex", members, timestamp=1700000000)
    assert other_time.read_bytes() != first.read_bytes()


def test_failed_write_leaves_nothing(tmp_path: Path) -> None:
    missing = archive.Member(".deps/gone.whl", source=str(tmp_path / "gone.whl"), compress=False)
    with pytest.raises(FileNotFoundError):
        write(tmp_path, "broken.pex", [archive.Member("a.txt", b"a"), missing])
    assert os.listdir(tmp_path) == []


def test_stale_partial_files_are_removed(tmp_path: Path) -> None:
    (tmp_path / ".app.pex.partial-999999999").write_bytes(b"half")
    write(tmp_path, "app.pex", [archive.Member("a.txt", b"a")])
    assert sorted(os.listdir(tmp_path)) == ["app.pex"]


def test_warm_path_members_are_stored() -> None:
    members = {m.name: m for m in archive.bootstrap_members()}
    assert not members["__main__.py"].compress
    assert not members[".bootstrap/_hatch_pex_boot/__init__.py"].compress
    assert members[".bootstrap/_hatch_pex_boot/extract.py"].compress
    assert not archive.pex_info_member({}).compress


def test_content_hash_ignores_order() -> None:
    a, b = archive.Member("a", b"1"), archive.Member("b", b"2")
    assert archive.content_hash([a, b]) == archive.content_hash([b, a])
    assert archive.content_hash([a, b]) != archive.content_hash([a, archive.Member("b", b"3")])


def test_read_pex_info_only_accepts_ours(tmp_path: Path) -> None:
    ours = write(tmp_path, "ours.pex", [archive.pex_info_member({"format": archive.FORMAT, "project": {}})])
    theirs = write(
        tmp_path, "theirs.pex", [archive.Member("PEX-INFO", json.dumps({"pex_hash": "x"}).encode())]
    )
    assert archive.read_pex_info(str(ours)) == {"format": archive.FORMAT, "project": {}}
    assert archive.read_pex_info(str(theirs)) is None
    assert archive.read_pex_info(str(tmp_path / "nothing.pex")) is None


def test_for_each_platform_leaves_out_only_what_may_be_left_out(tmp_path: Path) -> None:
    """An optional version that cannot be resolved is left out; a hash mismatch never is; a failing
    platform the user asked for fails the build; results keep the platforms' order."""
    old, mid, new = Platform.local("3.9"), Platform.local("3.10"), Platform.local("3.12")

    def work(platform: Platform, directory: str) -> str:
        assert Path(directory).is_dir()
        if platform is mid:
            raise ResolveError("no wheel of hp-x for Python 3.10")
        return platform.version

    optional = frozenset({old.text, mid.text, new.text})
    results, left_out = for_each_platform([new, mid, old], work, work_dir=str(tmp_path), optional=optional)
    assert list(results.values()) == ["3.12", "3.9"]
    assert left_out == {mid.text: "no wheel of hp-x for Python 3.10"}
    with pytest.raises(ResolveError, match="no wheel of hp-x"):
        for_each_platform([new, mid], work, work_dir=str(tmp_path / "b"), optional=frozenset({new.text}))

    def tampered(platform: Platform, directory: str) -> str:
        raise IntegrityError(f"hp_x-1.0-cp{platform.abi[2:]}.whl does not match the lock")

    with pytest.raises(IntegrityError, match="does not match the lock"):
        for_each_platform([old], tampered, work_dir=str(tmp_path / "c"), optional=optional)
