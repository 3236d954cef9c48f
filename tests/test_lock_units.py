"""Platform strings and PEP 751 locks: parsing, tag expansion, markers, round trips."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from hatch_pex.lock import LockError, plan_from_lock, read_lock, supported_tags, unsatisfied, write_lock
from hatch_pex.platforms import (
    KNOWN_PYTHON_VERSIONS,
    Platform,
    first_release_served,
    lowest_release,
    narrowed_constraints,
    platform_tags,
    served_versions,
)
from hatch_pex.resolve import PlannedFile, later_release, skipped_requires_python

LINUX = Platform.parse("linux_x86_64-cp-3.11-cp311")
MAC = Platform.parse("macosx_11_0_arm64-cp-312-cp312")


def test_parse_and_pip_arguments() -> None:
    assert MAC.python_version == "3.12"
    arguments = LINUX.pip_arguments()
    assert arguments[-7:] == [
        "--implementation",
        "cp",
        "--python-version",
        "3.11.0",  # the whole minor: Requires-Python is checked for its first release
        "--abi",
        "cp311",
        "--only-binary=:all:",
    ]
    platforms = arguments[1:-7:2]
    assert platforms[0] == "manylinux_2_17_x86_64"
    assert {"manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64", "linux_x86_64"} <= set(
        platforms
    )
    assert "manylinux_2_28_x86_64" not in platforms
    assert Platform.parse("current").pip_arguments() == []


@pytest.mark.parametrize(
    "text", ["linux", "linux_x86_64-pp-3.11-pypy311", "linux_x86_64-cp-three-cp311", "a-cp-3.11"]
)
def test_invalid_platforms(text: str) -> None:
    with pytest.raises(ValueError, match="invalid platform"):
        Platform.parse(text)


def test_manylinux_expansion() -> None:
    tags = platform_tags("manylinux_2_28_aarch64")
    assert tags[0] == "manylinux_2_28_aarch64"
    assert tags[-1] == "manylinux1_aarch64"
    assert platform_tags("macosx_11_0_arm64") == ["macosx_11_0_arm64"]


def test_marker_environment_of_another_machine() -> None:
    environment = MAC.marker_environment()
    assert environment["sys_platform"] == "darwin"
    assert environment["platform_machine"] == "arm64"
    assert environment["python_version"] == "3.12"
    assert LINUX.marker_environment()["sys_platform"] == "linux"


def planned(name: str, version: str, filename: str, sha: str) -> PlannedFile:
    return PlannedFile(name, version, f"https://user:secret@files.example/{filename}", sha, False)


def test_round_trip_markers_and_wheel_choice(tmp_path: Path) -> None:
    shared = planned("click", "8.1.8", "click-8.1.8-py3-none-any.whl", "a" * 64)
    plans = {
        LINUX: [
            shared,
            planned(
                "markupsafe", "3.0.4", "markupsafe-3.0.4-cp311-cp311-manylinux_2_17_x86_64.whl", "b" * 64
            ),
        ],
        MAC: [
            shared,
            planned("markupsafe", "3.0.4", "markupsafe-3.0.4-cp312-cp312-macosx_11_0_arm64.whl", "c" * 64),
            planned("appnope", "0.1.4", "appnope-0.1.4-py2.py3-none-any.whl", "d" * 64),
        ],
    }
    path = write_lock(str(tmp_path / "pylock.toml"), plans, requires_python=">=3.9", inputs="f" * 64)
    text = Path(path).read_text()
    assert "secret" not in text and "user" not in text
    lock = read_lock(path)
    assert lock.inputs_hash == "f" * 64
    by_name = {p.name: p for p in lock.packages}
    assert by_name["click"].marker is None
    assert (
        by_name["appnope"].marker
        == 'sys_platform == "darwin" and platform_machine == "arm64" and python_version == "3.12"'
    )

    linux_plan = {item.name: item for item in plan_from_lock(lock, LINUX)}
    assert sorted(linux_plan) == ["click", "markupsafe"]
    assert linux_plan["markupsafe"].url.endswith("manylinux_2_17_x86_64.whl")
    assert linux_plan["markupsafe"].archive_sha256 == "b" * 64
    mac_plan = {item.name: item for item in plan_from_lock(lock, MAC)}
    assert sorted(mac_plan) == ["appnope", "click", "markupsafe"]
    assert mac_plan["markupsafe"].url.endswith("macosx_11_0_arm64.whl")

    with pytest.raises(
        LockError, match=r"no wheel of markupsafe 3.0.4 for platform linux_aarch64-cp-3.11-cp311"
    ):
        plan_from_lock(lock, Platform.parse("linux_aarch64-cp-3.11-cp311"))

    assert unsatisfied(lock, ["click>=8", "appnope; sys_platform == 'darwin'"], LINUX) == []
    assert unsatisfied(lock, ["click>=9"], LINUX) == ["click>=9"]
    assert unsatisfied(lock, ["appnope"], LINUX) == ["appnope"]
    assert unsatisfied(lock, ["appnope"], MAC) == []


def test_foreign_lock_and_bad_locks(tmp_path: Path) -> None:
    lock_path = tmp_path / "pylock.toml"
    lock_path.write_text(
        'lock-version = "1.0"\ncreated-by = "uv"\n\n[[packages]]\nname = "Click"\nversion = "8.5.1"\n'
        'wheels = [{ url = "https://files.example/click-8.5.1-py3-none-any.whl", hashes = { sha256 = "'
        + "e" * 64
        + '" } }]\n'
    )
    lock = read_lock(str(lock_path))
    assert lock.inputs_hash is None
    assert [p.name for p in lock.packages] == ["click"]
    lock_path.write_text('lock-version = "2.0"\n')
    with pytest.raises(LockError, match=r"only 1\.x is supported"):
        read_lock(str(lock_path))
    lock_path.write_text(
        'lock-version = "1.0"\n[[packages]]\nname = "x"\nversion = "1"\nwheels = [{ url = "https://h/x-1-py3-none-any.whl" }]\n'
    )
    with pytest.raises(LockError, match=r"Package #1 of the lock pylock\.toml is malformed"):
        read_lock(str(lock_path))
    with pytest.raises(LockError, match="does not exist; create it with `hatch build -t pex:lock`"):
        read_lock(str(tmp_path / "pylock.other.toml"))


def test_served_versions_and_narrowed_constraints() -> None:
    assert served_versions([">=3.9"], None) == list(KNOWN_PYTHON_VERSIONS)
    assert served_versions([">=3.12,<3.13"], None) == ["3.12"]
    assert served_versions([">=3.12.1"], ["3.11", "3.12"]) == ["3.12"]  # some 3.12 release admits it
    assert served_versions(["<3.12.1"], None) == ["3.9", "3.10", "3.11", "3.12"]
    assert served_versions(["!=3.10.*", "==3.10.2"], ["3.10"]) == ["3.10"]  # either constraint
    assert served_versions([], ["3.11"]) == ["3.11"]
    assert served_versions([">=4"], None) == []
    assert narrowed_constraints([">=3.9"], ["3.9", "3.10", "3.11"]) == ["<3.12,>=3.9"]
    assert narrowed_constraints([], ["3.9", "3.11", "3.12"]) == [">=3.9,<3.10", ">=3.11,<3.13"]
    assert narrowed_constraints(["==3.9.*", ">=3.12"], ["3.9", "3.12"]) == ["<3.10,>=3.9", "<3.13,>=3.12"]
    assert narrowed_constraints([">=3.9,!=3.12.1"], ["3.12"]) == ["!=3.12.1,<3.13,>=3.12"]
    # A version served from a later patch release starts a range of its own.
    assert narrowed_constraints([">=3.9"], ["3.9", "3.10", "3.11", "3.12"], {"3.11": 5}) == [
        "<3.11,>=3.9",
        "<3.13,>=3.11.5",
    ]
    assert narrowed_constraints([">=3.11.3"], ["3.11", "3.12"], {"3.11": 3}) == ["<3.13,>=3.11.3"]


def test_first_release_of_each_minor() -> None:
    """A served minor is every patch release the constraints admit, resolved for the first of them."""
    assert lowest_release([], "3.11") == 0
    assert lowest_release([">=3.9"], "3.11") == 0
    assert lowest_release([">=3.11.5"], "3.11") == 5
    assert lowest_release([">=3.12", "==3.11.*,!=3.11.0"], "3.11") == 1
    assert first_release_served([], "3.11", 0) == 0
    assert first_release_served([">=3.9", ">=3.11.5"], "3.11", 0) == 5
    assert first_release_served([">=3.11.5"], "3.12", 0) == 0
    assert first_release_served([">=3.11.2"], "3.11", 3) == 3


def test_a_later_patch_release_from_what_pip_passed_over() -> None:
    output = (
        "ERROR: Ignored the following versions that require a different python version: "
        "13.0 Requires-Python >=3.11.5; 13.1 Requires-Python >=3.11.5; 14.0 Requires-Python >=3.12\n"
        "ERROR: Could not find a version that satisfies the requirement pymdown-extensions>=13\n"
    )
    skipped = skipped_requires_python(output)
    assert skipped == (">=3.11.5", ">=3.12")
    assert later_release(Platform.local("3.11"), skipped) == 5
    assert later_release(Platform.local("3.11", 5), skipped) is None  # tried already: nothing later helps
    assert later_release(Platform.local("3.10"), skipped) is None  # no 3.10 release serves them
    assert later_release(LINUX, skipped) is None  # another machine's platform: served as written
    assert skipped_requires_python("ERROR: No matching distribution found for nothing") == ()
    refused = "ERROR: Package 'hp-patch' requires a different Python: 3.11.0 not in '>=3.11.5'"
    assert skipped_requires_python(refused) == (">=3.11.5",)


def test_local_platforms() -> None:
    own = f"{sys.version_info[0]}.{sys.version_info[1]}"
    # The build interpreter's own version resolves like any other: for its first patch release, not
    # for the build interpreter's (3.11.7), so which interpreter builds changes nothing.
    current = Platform.local(own)
    assert not current.is_current and not current.is_native
    assert current.pip_arguments()[-5:-3] == ["--python-version", f"{own}.0"]
    assert current.marker_environment()["python_full_version"] == f"{own}.0"
    later = Platform.local(own, 5)
    assert later.full_version == f"{own}.5" and later.text == current.text
    assert later.marker_environment()["python_full_version"] == f"{own}.5"
    other = Platform.local("3.9" if own != "3.9" else "3.10")
    assert not other.is_native and other.text.endswith(f"-cp-{other.version}-{other.abi}")
    arguments = other.pip_arguments()
    assert arguments[-7:] == [
        "--implementation",
        "cp",
        "--python-version",
        f"{other.version}.0",
        "--abi",
        other.abi,
        "--only-binary=:all:",
    ]
    assert arguments.count("--platform") == len(other.local_tags) > 1
    environment = other.marker_environment()
    assert environment["python_version"] == other.version
    assert environment["python_full_version"] == f"{other.version}.0"
    assert environment["sys_platform"] == sys.platform  # this machine, only the Python differs
    native = other.with_python("/usr/bin/python3.9")
    assert native.is_native and not native.is_current and native.pip_arguments() == []
    # Natively too, markers are evaluated for the first release, not for that interpreter's patch.
    assert native.marker_environment()["python_full_version"] == f"{other.version}.0"
    assert Platform.local(own).with_python(sys.executable).is_current
    # A lock's tags for a local platform are this machine's tags at that version.
    assert str(supported_tags(other)[0]).startswith(f"cp{other.version.replace('.', '')}-{other.abi}-")


def test_lock_for_local_versions(tmp_path: Path) -> None:
    """A lock over two versions of this machine: markers where the closures differ, its versions
    recorded, a version it was not written for refused (and not worth a native retry)."""
    old, new = Platform.local("3.9"), Platform.local("3.12")
    plans = {
        old: [planned("click", "8.1.8", "click-8.1.8-py3-none-any.whl", "a" * 64)],
        new: [planned("click", "8.5.1", "click-8.5.1-py3-none-any.whl", "b" * 64)],
    }
    path = write_lock(
        str(tmp_path / "pylock.toml"),
        plans,
        requires_python=">=3.9",
        inputs="f" * 64,
        python_versions=["3.9", "3.12"],
    )
    lock = read_lock(path)
    assert lock.python_versions == ["3.9", "3.12"]
    markers = {p.version: p.marker for p in lock.packages}
    assert markers["8.1.8"] is not None and 'python_version == "3.9"' in markers["8.1.8"]
    assert [item.version for item in plan_from_lock(lock, old)] == ["8.1.8"]
    assert [item.version for item in plan_from_lock(lock, new)] == ["8.5.1"]
    with pytest.raises(
        LockError, match=r"was not written for Python 3.13 \(it covers Python 3.9, 3.12\)"
    ) as caught:
        plan_from_lock(lock, Platform.local("3.13"))
    assert caught.value.native_might_help is False
