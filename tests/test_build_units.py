"""Pure logic of the build side: redaction, module lookup in wheels, the archive writer, which
platforms may be left out."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from hatch_pex import archive, buildcache
from hatch_pex.platforms import Platform
from hatch_pex.redact import redact, strip_credentials
from hatch_pex.resolve import (
    IntegrityError,
    PlannedFile,
    PlatformsFailed,
    ResolveError,
    _hash_failure,
    _write_private,
    for_each_platform,
    hash_mismatches,
    hashed_requirement,
    sha256_of,
)
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


def test_partial_file_is_never_written_through_a_planted_link(tmp_path: Path) -> None:
    """dist/ may be shared: a link planted at the partial file's name is not followed (the build
    fails, naming it, and what the link points at is untouched)."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / f".app.pex{archive.PARTIAL_MARKER}{os.getpid()}").symlink_to(victim)
    with pytest.raises(FileExistsError, match=r"\.app\.pex\.partial-\d+ exists"):
        write(dist, "app.pex", [archive.Member("a.txt", b"a")])
    assert victim.read_text() == "precious\n" and not (dist / "app.pex").exists()


def test_output_mode_follows_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        path = write(tmp_path, "app.pex", [archive.Member("a.txt", b"a")])
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o700


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
    assert {platform: str(error) for platform, error in left_out.items()} == {
        mid: "no wheel of hp-x for Python 3.10"
    }
    (tmp_path / "b").mkdir()
    with pytest.raises(PlatformsFailed, match=r"for Python 3\.10: no wheel of hp-x$"):
        for_each_platform([new, mid], work, work_dir=str(tmp_path / "b"), optional=frozenset({new.text}))

    def tampered(platform: Platform, directory: str) -> str:
        raise IntegrityError(f"hp_x-1.0-cp{platform.abi[2:]}.whl does not match the lock")

    (tmp_path / "c").mkdir()
    with pytest.raises(IntegrityError, match="does not match the lock"):
        for_each_platform([old], tampered, work_dir=str(tmp_path / "c"), optional=optional)


# Hash-checked fetching and the build cache (issue 8) -----------------------------------------------

EXPECTED = "a" * 64
OTHER = "b" * 64
FOUND = "09a98a3c354cde4d2c4f058c109cb5deb5566daf9c1efda96edeb53b8b0e31e8"
# pip's words (26.3; 23.0 writes the same) for a download whose sha256 differs: a direct reference's, and a
# pinned requirement's with two sha256 allowed (its `Expected     or` line).
PIP_26 = f"""Processing ./hp_sdist_only-1.0.tar.gz (from -r req.txt (line 1))
ERROR: THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE. If you have updated the package versions, please update the hashes. Otherwise, examine the package contents carefully; someone may have tampered with them.
    hp-sdist-only @ http://127.0.0.1:8080/packages/hp_build_marker-1.0.tar.gz from http://127.0.0.1:8080/packages/hp_build_marker-1.0.tar.gz (from -r /w/hashed-requirements.txt (line 1)):
        Expected sha256 {EXPECTED}
             Got        {FOUND}

"""
PIP_23 = f"""ERROR: THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE. If you have updated the package versions, please update the hashes. Otherwise, examine the package contents carefully; someone may have tampered with them.
    hp-pure==1.0 from https://u:secret@host/packages/hp_pure-1.0-py3-none-any.whl#sha256={FOUND} (from -r /w/hashed-requirements.txt (line 2)):
        Expected sha256 {OTHER}
        Expected     or {EXPECTED}
             Got        {FOUND}
"""


def planned(name: str, url: str, sha256: str | None, *, direct: bool = True) -> PlannedFile:
    return PlannedFile(name, "1.0", url, sha256, direct, "the sha256 recorded in the lock pylock.toml")


def test_hash_mismatches_are_read_from_pip_output() -> None:
    [sdist] = hash_mismatches(PIP_26)
    assert sdist.url == "http://127.0.0.1:8080/packages/hp_build_marker-1.0.tar.gz"
    assert sdist.expected == (EXPECTED,) and sdist.found == FOUND
    assert sdist.requirement.startswith("hp-sdist-only @ http://")
    [wheel] = hash_mismatches(PIP_23)
    assert wheel.expected == (OTHER, EXPECTED) and wheel.found == FOUND
    assert wheel.url is not None and wheel.url.endswith(f"hp_pure-1.0-py3-none-any.whl#sha256={FOUND}")
    assert hash_mismatches("ERROR: No matching distribution found for hp-x") == []
    assert hash_mismatches(PIP_26 + PIP_23)[1].expected == (OTHER, EXPECTED)


def test_hash_failure_names_the_file_both_sha256_and_their_origin() -> None:
    sdist = planned("hp-sdist-only", "http://127.0.0.1:8080/packages/hp_sdist_only-1.0.tar.gz", EXPECTED)
    error = _hash_failure(PIP_26, [sdist])
    assert isinstance(error, IntegrityError)
    assert str(error) == (
        "The file hp_build_marker-1.0.tar.gz downloaded for hp-sdist-only 1.0 does not match the sha256 "
        f"recorded in the lock pylock.toml (expected sha256 {EXPECTED}, got {FOUND}); it was not built: "
        "no code of it ran"
    )
    wheel = planned("hp-pure", "https://host/packages/hp_pure-1.0-py3-none-any.whl", EXPECTED, direct=False)
    message = str(_hash_failure(PIP_23, [sdist, wheel]))
    assert message.startswith("The file hp_pure-1.0-py3-none-any.whl downloaded for hp-pure 1.0")
    assert "secret" not in message and "the index serves a different file under that name" in message
    # Unmatched, or not a mismatch at all.
    unrelated = planned("hp-pure", "https://host/packages/hp_pure-1.0-py3-none-any.whl", "c" * 64)
    assert "A downloaded file does not match its sha256" in str(_hash_failure(PIP_26, [unrelated]))
    assert _hash_failure("ERROR: No matching distribution found for hp-x", [sdist]) is None


def test_hashed_requirement_lines(tmp_path: Path) -> None:
    assert hashed_requirement(planned("hp-x", "https://h/p/hp_x-1.0.tar.gz", EXPECTED)) == (
        f"hp-x @ https://h/p/hp_x-1.0.tar.gz --hash=sha256:{EXPECTED}"
    )
    pinned = planned("hp-x", "https://h/p/hp_x-1.0.tar.gz", EXPECTED, direct=False)
    assert hashed_requirement(pinned) == f"hp-x==1.0 --hash=sha256:{EXPECTED}"
    path = tmp_path / "hashed-requirements.txt"
    path.write_text("old")
    path.chmod(0o644)
    _write_private(str(path), "new\n")
    assert path.read_text() == "new\n" and stat.S_IMODE(path.stat().st_mode) == 0o600


IDENTITY = (("abi", "cpython-312-x86_64-linux-gnu"), ("implementation", "cpython"), ("platform", "linux-x86_64"),
            ("version", "3.12.1"))  # fmt: skip


def test_built_slot_key_depends_on_the_sdist_and_every_part_of_the_interpreter() -> None:
    key = buildcache.built_key(EXPECTED, IDENTITY)
    assert key == buildcache.built_key(EXPECTED, tuple(reversed(IDENTITY))) and len(key) == 64
    assert buildcache.built_key(OTHER, IDENTITY) != key
    for index, (name, value) in enumerate(IDENTITY):
        changed = (*IDENTITY[:index], (name, value + "x"), *IDENTITY[index + 1 :])
        assert buildcache.built_key(EXPECTED, changed) != key, name
    own = buildcache.interpreter_identity(sys.executable)
    assert own is not None and dict(own)["version"].startswith(
        f"{sys.version_info[0]}.{sys.version_info[1]}."
    )
    assert buildcache.interpreter_identity(str(Path(sys.executable).parent / "no-such-python")) is None


def test_record_must_name_the_sdist_the_interpreter_and_the_wheel() -> None:
    record = {
        "sdist_sha256": EXPECTED,
        "interpreter": dict(IDENTITY),
        "wheel": "x.whl",
        "wheel_sha256": FOUND,
    }
    assert buildcache.record_matches(record, EXPECTED, IDENTITY, "x.whl")
    assert not buildcache.record_matches(record, OTHER, IDENTITY, "x.whl")
    assert not buildcache.record_matches(record, EXPECTED, IDENTITY[1:], "x.whl")
    assert not buildcache.record_matches(record, EXPECTED, IDENTITY, "y.whl")
    assert not buildcache.record_matches({**record, "wheel_sha256": None}, EXPECTED, IDENTITY, "x.whl")
    assert not buildcache.record_matches([record], EXPECTED, IDENTITY, "x.whl")


def stored_build(tmp_path: Path) -> tuple[str, Path]:
    cache = str(tmp_path / "cache")
    wheel = make_wheel(tmp_path / "x-1.0-py3-none-any.whl", ["x/__init__.py"])
    digest = sha256_of(str(wheel))
    stored = buildcache.store_build(cache, EXPECTED, IDENTITY, str(wheel), digest)
    assert stored is not None and buildcache.cached_build(cache, EXPECTED, IDENTITY) == (stored, digest)
    return cache, Path(stored)


def test_build_cache_round_trip_and_modes(tmp_path: Path) -> None:
    old = os.umask(0o002)
    try:
        cache, stored = stored_build(tmp_path)
    finally:
        os.umask(old)
    for path in [Path(cache), *Path(cache).rglob("*")]:
        assert not path.stat().st_mode & 0o022, path
    assert sorted(p.name for p in stored.parent.iterdir()) == ["build.json", stored.name]
    assert buildcache.cached_build(cache, OTHER, IDENTITY) is None  # another sdist
    assert buildcache.cached_build(cache, EXPECTED, IDENTITY[1:]) is None  # another interpreter
    wheel = make_wheel(tmp_path / "y-1.0-py3-none-any.whl", ["y/__init__.py"])
    assert buildcache.store_wheel(cache, sha256_of(str(wheel)), str(wheel)) is not None
    assert buildcache.cached_wheel(cache, sha256_of(str(wheel))) is not None
    assert buildcache.cached_wheel(cache, OTHER) is None


@pytest.mark.parametrize("damage", ["content", "record", "file-mode", "slot-mode", "symlink", "kind-mode"])
def test_build_cache_slot_failing_a_check_is_not_used(tmp_path: Path, damage: str) -> None:
    cache, stored = stored_build(tmp_path)
    slot = stored.parent
    if damage == "content":
        stored.write_bytes(stored.read_bytes() + b"x")
    elif damage == "record":
        (slot / "build.json").write_text(json.dumps({"sdist_sha256": EXPECTED}))
    elif damage == "file-mode":
        stored.chmod(0o666)
    elif damage == "slot-mode":
        slot.chmod(0o775)
    elif damage == "symlink":
        slot.rename(tmp_path / "elsewhere")
        slot.symlink_to(tmp_path / "elsewhere")
    elif damage == "kind-mode":
        slot.parent.chmod(0o777)
    assert buildcache.cached_build(cache, EXPECTED, IDENTITY) is None
    # A failing slot is discarded, so the wheel fetched again can be stored; a directory above it that
    # others may write is left alone, and nothing below it read.
    assert slot.exists() is (damage == "kind-mode")


def test_cache_root_others_could_rename_is_not_trusted(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    root = shared / "cache"
    root.mkdir(mode=0o755)
    assert buildcache.trusted_cache(str(root)) is not None
    shared.chmod(0o777)  # anybody could rename `cache` away and put their own in its place
    assert buildcache.trusted_cache(str(root)) is None
    shared.chmod(0o1777)  # as /tmp: only the owner may rename
    assert buildcache.trusted_cache(str(root)) is not None
    assert buildcache.trusted_cache(str(shared / "missing")) is None


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="chown to another user needs root"
)
def test_cache_slot_owned_by_another_user_is_not_used(tmp_path: Path) -> None:
    cache, stored = stored_build(tmp_path)
    os.chown(stored, 65534, 65534)
    assert buildcache.cached_build(cache, EXPECTED, IDENTITY) is None


def _layout_sample(path: Path, split: bool) -> str:
    """A small file in the given layout: two wheel-like members, then a runtime package and a
    __main__.py that imports it and prints which members zipimport sees."""
    from hatch_pex.ziplayout import ZipWriter

    main = (
        b"import os, sys, zipimport\n"
        b"here = os.path.dirname(__file__)\n"
        b"sys.path.insert(0, os.path.join(here, '.bootstrap'))\n"
        b"import runtime_pkg\n"
        b"seen = zipimport.zipimporter(here)\n"
        b"try:\n    seen.get_data('.deps/a-1.0-py3-none-any.whl'); wheels = 'wheels seen'\n"
        b"except OSError:\n    wheels = 'wheels unseen'\n"
        b"print(runtime_pkg.VALUE, wheels)\n"
    )
    with open(path, "w+b") as stream:
        stream.write(b"#!/usr/bin/env python3\n")
        writer = ZipWriter(stream, (2020, 2, 2, 0, 0, 0))
        writer.add(".deps/a-1.0-py3-none-any.whl", [b"A" * 70000], 70000, 0)
        writer.add(".deps/b-1.0-py3-none-any.whl", [b"B" * 5000, b"b" * 5000], 10000, 6)
        writer.add(".bootstrap/runtime_pkg/__init__.py", [b"VALUE = 'runtime ok'\n"], 21, 6)
        writer.add("__main__.py", [main], len(main), 0)
        return writer.finish(lambda name: not name.startswith(".deps/"), split=split)


@pytest.mark.parametrize("split", [False, True])
def test_zip_layouts_start_under_every_python_and_zipfile_reads_every_member(
    tmp_path: Path, split: bool, interpreters: dict[str, Path]
) -> None:
    """The split layout (used past 4 GiB) on a small file: zipimport before 3.13 sees the runtime's
    directory only, 3.13 and zipfile the full one; every interpreter starts it."""
    path = tmp_path / "sample.pex"
    assert _layout_sample(path, split) == ("split" if split else "classic")
    with zipfile.ZipFile(path) as result:
        assert result.testzip() is None
        assert result.read(".deps/a-1.0-py3-none-any.whl") == b"A" * 70000
        assert result.read(".deps/b-1.0-py3-none-any.whl") == b"B" * 5000 + b"b" * 5000
        assert [i.filename for i in result.infolist()][-1] == "__main__.py"
    assert interpreters
    for version, python in interpreters.items():
        out = subprocess.run([str(python), str(path)], capture_output=True, text=True, check=True).stdout
        zip64_reader = tuple(map(int, version.split("."))) >= (3, 13)
        seen = "wheels seen" if zip64_reader or not split else "wheels unseen"
        assert out == f"runtime ok {seen}\n", version
    if shutil.which("unzip"):
        listing = subprocess.run(["unzip", "-l", str(path)], capture_output=True, text=True).stdout
        assert ("a-1.0-py3-none-any.whl" in listing) is not split and "__main__.py" in listing


def test_split_layout_refuses_a_runtime_that_is_not_last(tmp_path: Path) -> None:
    from hatch_pex.ziplayout import ZipTooLarge, ZipWriter

    with open(tmp_path / "x.zip", "w+b") as stream:
        writer = ZipWriter(stream, (2020, 2, 2, 0, 0, 0))
        writer.add("__main__.py", [b"pass\n"], 5, 0)
        writer.add(".deps/a.whl", [b"a"], 1, 0)
        writer.add("PEX-INFO", [b"{}"], 2, 0)
        with pytest.raises(ZipTooLarge, match="not the last ones written"):
            writer.finish(lambda name: not name.startswith(".deps/"), split=True)
