"""`python -m hatch_pex inspect|verify|diff` (and the `hatch-pex` script) and `PEX_TOOLS=1 app.pex
info|verify`, on files built with the real `hatch build -t pex`, damaged copies of them, and files of the
PEX CLI and shiv (docs/cli.md)."""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import shutil
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import helpers
import pytest
from helpers import configure, pex_info
from packaging.utils import parse_wheel_filename

from hatch_pex.bootstrap import report

APP = """
import hp_pure


def main():
    print(hp_pure.__version__)
    return 0
"""
RUNTIME_MEMBER = ".bootstrap/_hatch_pex_boot/report.py"  # deflated
LOCAL_HEADER = struct.Struct("<4s22xHH")  # signature, ..., name length, extra length


def write_app(base: Path, constraints: str) -> Path:
    """`cli-app` 0.1.0 with the script `cli-app`, needing hp-pure and hp-native (a wheel per CPython
    version), served for Python 3.11 and 3.12; a constraints file (`constraints`) pins hp-pure, so the
    project's own wheel is the same whatever it pins."""
    project = base / "cli-app"
    (project / "cli_app").mkdir(parents=True)
    (project / "cli_app" / "__init__.py").write_text(APP)
    (project / "pyproject.toml").write_text(
        """
[build-system]
requires = ["hatchling", "hatch-pex-builder"]
build-backend = "hatchling.build"

[project]
name = "cli-app"
version = "0.1.0"
requires-python = ">=3.9"
dependencies = ["hp-pure", "hp-native"]

[project.scripts]
cli-app = "cli_app:main"

[tool.hatch.build.targets.wheel]
packages = ["cli_app"]
"""
    )
    (project / "constraints.txt").write_text(constraints)
    configure(project, 'python-versions = ["3.11", "3.12"]\nconstraints-files = ["constraints.txt"]')
    return project


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, index_url: str, uv_cache: Path) -> dict[str, Path]:
    """The app built twice in different directories, with hp-pure 1.0 ("old") and 2.0 ("new")."""
    base = tmp_path_factory.mktemp("cli-builds")
    env = helpers.make_env(index_url, base / ".home", uv_cache=uv_cache)
    found = {}
    for label, pure in (("old", "1.0"), ("new", "2.0")):
        project = write_app(base / label, f"hp-pure=={pure}\n")
        helpers.hatch_build(project, env=env)
        [found[label]] = helpers.built_artifacts(project)
    return found


@pytest.fixture(scope="module")
def swapped(tmp_path_factory: pytest.TempPathFactory, index_url: str, uv_cache: Path) -> dict[str, Path]:
    """The app built twice with both hp-pure 1.0 and 2.0: "old" serves 3.11 with 1.0 and 3.12 with 2.0,
    "new" the other way round. The same wheels in both files, each serving another Python."""
    base = tmp_path_factory.mktemp("cli-swapped")
    env = helpers.make_env(index_url, base / ".home", uv_cache=uv_cache)
    found = {}
    for label, (below, above) in (("old", ("1.0", "2.0")), ("new", ("2.0", "1.0"))):
        constraints = (
            f'hp-pure=={below}; python_version < "3.12"\nhp-pure=={above}; python_version >= "3.12"\n'
        )
        project = write_app(base / label, constraints)
        helpers.hatch_build(project, env=env)
        [found[label]] = helpers.built_artifacts(project)
    return found


def cli(venv_python: Path, *args: str | Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`python -m hatch_pex ...` of a venv where the plugin is installed from the loopback index."""
    return helpers.run([venv_python, "-m", "hatch_pex", *args], env=env, check=False)


def inspected(venv_python: Path, pex: Path, env: dict[str, str]) -> dict[str, object]:
    result = cli(venv_python, "inspect", pex, "--json", env=env)
    assert result.returncode == 0, helpers.describe(result)
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def data_offset(pex: Path, member: str) -> tuple[int, int]:
    """(offset in the file of the member's stored bytes, their length)."""
    with zipfile.ZipFile(pex) as archive:
        info = archive.getinfo(member)
    with open(pex, "rb") as stream:
        stream.seek(info.header_offset)
        signature, name_length, extra_length = LOCAL_HEADER.unpack(stream.read(LOCAL_HEADER.size))
    assert signature == b"PK\x03\x04"
    return info.header_offset + LOCAL_HEADER.size + name_length + extra_length, info.compress_size


def flipped(pex: Path, member: str, dest: Path) -> Path:
    """A copy of `pex` with one bit changed in the middle of the stored bytes of `member`."""
    shutil.copyfile(pex, dest)
    offset, size = data_offset(pex, member)
    with open(dest, "r+b") as stream:
        stream.seek(offset + size // 2)
        byte = stream.read(1)
        stream.seek(offset + size // 2)
        stream.write(bytes([byte[0] ^ 0x01]))
    return dest


def rewritten(
    pex: Path, dest: Path, replace: dict[str, bytes | None], add: dict[str, bytes] | None = None
) -> Path:
    """A copy of `pex` rewritten by zipfile (valid CRCs): members replaced, removed (None) or added;
    the first line kept before the zip, whose offsets count from its own start, as the build writes."""
    zipped = io.BytesIO()
    with zipfile.ZipFile(pex) as source, zipfile.ZipFile(zipped, "w") as target:
        for info in source.infolist():
            data = replace.get(info.filename, source.read(info))
            if data is not None:
                target.writestr(info, data)
        for name, data in (add or {}).items():
            target.writestr(name, data)
    with open(pex, "rb") as stream:
        dest.write_bytes(stream.readline() + zipped.getvalue())
    return dest


# -- inspect -------------------------------------------------------------------------------------------


def test_inspect_reports_what_pex_info_and_the_archive_hold(
    built: dict[str, Path], hatchling_venv: Path, env: dict[str, str]
) -> None:
    pex = built["old"]
    info = pex_info(pex)
    facts = inspected(hatchling_venv, pex, env)
    assert facts["pex_info"] == info
    assert facts["project"] == {"name": "cli-app", "version": "0.1.0"}
    assert facts["runs"] == {"mode": "script", "entry_point": "cli_app:main", "script": "cli-app"}
    assert facts["python_versions"] == ["3.11", "3.12"]
    assert facts["interpreter_constraints"] == info["interpreter_constraints"]
    assert facts["platforms"] == info["platforms"]
    assert facts["size"] == pex.stat().st_size
    assert facts["format"] == "hatch-pex/1" and facts["pex_hash"] == info["pex_hash"]
    with zipfile.ZipFile(pex) as archive:
        sizes = {
            i.filename[len(".deps/") :]: i.file_size
            for i in archive.infolist()
            if i.filename.startswith(".deps/")
        }
    dists = facts["distributions"]
    assert isinstance(dists, list)
    assert {d["wheel"]: d["sha256"] for d in dists} == info["distributions"]
    assert {d["wheel"]: d["size"] for d in dists} == sizes
    by_name: dict[str, list[dict[str, object]]] = {}
    for dist in dists:
        by_name.setdefault(dist["name"], []).append(dist)
    assert sorted(by_name) == ["cli-app", "hp-native", "hp-pure"]
    assert [d["version"] for d in by_name["hp-pure"]] == ["1.0"]
    assert by_name["hp-pure"][0]["python_versions"] == ["3.11", "3.12"]
    # hp-native has a wheel per version: each serves its own
    assert sorted(tuple(d["python_versions"]) for d in by_name["hp-native"]) == [("3.11",), ("3.12",)]

    table = cli(hatchling_venv, "inspect", pex, env=env)
    assert table.returncode == 0, helpers.describe(table)
    assert "console script cli-app (cli_app:main)" in table.stdout
    for dist in dists:
        assert dist["wheel"] in table.stdout
    assert f"{facts['pex_hash']}" in table.stdout
    assert f"distributions ({len(dists)} wheels)" in table.stdout


def test_pex_tools_inspect_and_verify_share_the_cli_code(
    built: dict[str, Path], hatchling_venv: Path, env: dict[str, str], interpreters: dict[str, Path]
) -> None:
    """The same report from the file itself, under the oldest CPython (the runtime's floor)."""
    pex = built["old"].resolve()
    python = interpreters.get("3.9") or next(iter(interpreters.values()))
    tools = {**env, "PEX_TOOLS": "1"}
    from_cli = cli(hatchling_venv, "inspect", pex, env=env)
    for args in (["inspect"], ["info", "--human"]):
        from_pex = helpers.run_pex(pex, *args, python=python, env=tools)
        assert from_pex.returncode == 0, helpers.describe(from_pex)
        assert from_pex.stdout == from_cli.stdout
    for args in (["inspect", "--json"], ["info", "--json"]):
        as_json = helpers.run_pex(pex, *args, python=python, env=tools)
        assert json.loads(as_json.stdout) == inspected(hatchling_venv, pex, env)
    verified = helpers.run_pex(pex, "verify", python=python, env=tools)
    assert verified.returncode == 0 and verified.stdout.startswith(f"{pex}: OK: "), helpers.describe(verified)
    bad = helpers.run_pex(pex, "inspect", "--frob", python=python, env=tools)
    assert bad.returncode == 2 and "hatch-pex: error: usage: inspect [--json]" in bad.stderr


def pex_cli_info(pex_info_bytes: bytes, indent: int | None) -> str:
    """What PEX's own `info` tool prints for this PEX-INFO, by PEX's own code (JsonMixin.dump_json, as
    pex/tools/commands/info.py calls it, then its newline), on the keys in the file's order."""
    from pex.commands.command import JsonMixin

    out = io.StringIO()
    JsonMixin.dump_json(argparse.Namespace(indent=indent), json.loads(pex_info_bytes), out)
    return out.getvalue() + "\n"


def test_pex_tools_info_prints_pex_info_as_pex_does(
    built: dict[str, Path],
    hatchling_venv: Path,
    env: dict[str, str],
    interpreters: dict[str, Path],
    tmp_path: Path,
) -> None:
    """`PEX_TOOLS=1 ./app.pex info | jq ...` of PEX users keeps working: PEX-INFO as JSON, byte for byte
    as PEX's `info` prints it, with its -i and -o; on the oldest and the newest CPython."""
    pex = built["old"].resolve()
    with zipfile.ZipFile(pex) as archive:
        stored = archive.read("PEX-INFO")
    tools = {**env, "PEX_TOOLS": "1"}
    found = list(interpreters.values())  # in version order
    for python in dict.fromkeys([found[0], found[-1]]):
        for args, indent in (([], None), (["-i", "2"], 2), (["-i0"], 0), (["--indent=4"], 4)):
            printed = helpers.run_pex(pex, "info", *args, python=python, env=tools)
            assert printed.returncode == 0, helpers.describe(printed)
            assert printed.stdout == pex_cli_info(stored, indent), (python, args)
            assert json.loads(printed.stdout) == pex_info(pex)
        raw = helpers.run_pex(pex, "info", "--raw", python=python, env=tools)
        assert raw.stdout == pex_cli_info(stored, 2)
        written = tmp_path / "pex-info.json"
        to_file = helpers.run_pex(pex, "info", "-o", str(written), python=python, env=tools)
        assert to_file.returncode == 0 and to_file.stdout == "", helpers.describe(to_file)
        assert written.read_text() == pex_cli_info(stored, None)
        written.unlink()
    from_cli = cli(hatchling_venv, "info", pex, "-i", "2", env=env)
    assert from_cli.returncode == 0 and from_cli.stdout == pex_cli_info(stored, 2), helpers.describe(from_cli)
    for bad in (["--frob"], ["-i", "two"], ["--human", "-i", "2"], ["--raw", "-i", "4"]):
        refused = helpers.run_pex(pex, "info", *bad, env=tools)
        assert refused.returncode == 2, helpers.describe(refused)
        assert refused.stderr.startswith("hatch-pex: error: ") and "usage: PEX_TOOLS=1 " in refused.stderr


def test_pex_info_json_matches_the_pex_cli_byte_for_byte(env: dict[str, str], tmp_path: Path) -> None:
    """The formatting of `info` against the real PEX CLI's `info` tool, on a file PEX built."""
    site = tmp_path / "site"
    (site / "mymod").mkdir(parents=True)
    (site / "mymod" / "__init__.py").write_text("def main():\n    print('hi')\n")
    pex_file = tmp_path / "pex-cli.pex"
    build = [sys.executable, "-m", "pex", "--no-pypi", "--include-tools", "-D", site, "-e", "mymod:main"]
    helpers.run([*build, "-o", pex_file], env=env)
    tools = {**env, "PEX_TOOLS": "1"}
    for indent in (None, 0, 1, 2, 4):
        args = [] if indent is None else ["-i", str(indent)]
        printed = helpers.run([sys.executable, pex_file, "info", *args], env=tools).stdout
        # PEX adds keys of its own at run time (pex_root): formatted from what it printed, in its order
        assert report.pex_info_json(json.loads(printed), indent) == printed, indent


# -- verify --------------------------------------------------------------------------------------------


def test_verify_passes_an_intact_file_with_both_entry_points(
    built: dict[str, Path], hatchling_venv: Path, env: dict[str, str]
) -> None:
    pex = built["new"]
    with zipfile.ZipFile(pex) as archive:
        count = len(archive.infolist()) - 1  # PEX-INFO is checked through pex_hash
    for command in ([hatchling_venv, "-m", "hatch_pex"], [hatchling_venv.parent / "hatch-pex"]):
        result = helpers.run([*command, "verify", pex], env=env, check=False)
        assert result.returncode == 0, helpers.describe(result)
        assert result.stdout.startswith(f"{pex}: OK: {count} members")
        assert pex_info(pex)["pex_hash"] in result.stdout


@pytest.mark.parametrize(
    "member",
    [
        "wheel",  # stored: the wheel's own bytes
        RUNTIME_MEMBER,  # deflated runtime module
        "__main__.py",  # stored runtime member
        "PEX-INFO",
    ],
)
def test_verify_names_the_member_with_a_flipped_byte(
    member: str, built: dict[str, Path], hatchling_venv: Path, env: dict[str, str], tmp_path: Path
) -> None:
    pex = built["old"]
    if member == "wheel":
        [wheel] = [w for w in pex_info(pex)["distributions"] if w.startswith("hp_pure-")]  # type: ignore[union-attr]
        member = f".deps/{wheel}"
    damaged = flipped(pex, member, tmp_path / "damaged.pex")
    result = cli(hatchling_venv, "verify", damaged, env=env)
    assert result.returncode == 1, helpers.describe(result)
    assert result.stdout.startswith(f"{damaged}: FAILED: {member}: damaged ("), result.stdout


def test_verify_names_rewritten_added_and_missing_members(
    built: dict[str, Path], hatchling_venv: Path, env: dict[str, str], tmp_path: Path
) -> None:
    """Changes with valid CRCs: only the hashes recorded at build time can tell."""
    pex = built["old"]
    info = pex_info(pex)
    cases = {
        "changed.pex": ({RUNTIME_MEMBER: b"print('replaced')\n"}, None, f"{RUNTIME_MEMBER}: sha256 is "),
        "added.pex": ({}, {"extra.py": b"x = 1\n"}, "extra.py: not recorded at build time"),
        "removed.pex": ({RUNTIME_MEMBER: None}, None, f"{RUNTIME_MEMBER}: recorded at build time, missing"),
        "retargeted.pex": (
            {"PEX-INFO": json.dumps({**info, "entry_point": "os:getcwd"}, indent=2, sort_keys=True).encode()},
            None,
            f"PEX-INFO: pex_hash {info['pex_hash']} does not match",
        ),
    }
    for name, (replace, add, expected) in cases.items():
        copy = rewritten(pex, tmp_path / name, replace, add)
        result = cli(hatchling_venv, "verify", copy, env=env)
        assert result.returncode == 1, helpers.describe(result)
        assert result.stdout.startswith(f"{copy}: FAILED: {expected}"), result.stdout
    with pytest.warns(UserWarning, match="Duplicate name"):
        twice = rewritten(pex, tmp_path / "twice.pex", {}, {"__main__.py": b"print('second')\n"})
    result = cli(hatchling_venv, "verify", twice, env=env)
    assert result.returncode == 1
    assert result.stdout.startswith(f"{twice}: FAILED: __main__.py: present twice in the archive"), (
        result.stdout
    )
    unchanged = rewritten(pex, tmp_path / "unchanged.pex", {})
    assert cli(hatchling_venv, "verify", unchanged, env=env).returncode == 0

    # A file from before `member_hashes`: the wheels are checked one by one, the rest through pex_hash.
    older = {k: v for k, v in info.items() if k != "member_hashes"}
    with zipfile.ZipFile(pex) as archive:
        hashes = [(i.filename, hashlib.sha256(archive.read(i)).hexdigest()) for i in archive.infolist()]
    older["pex_hash"] = report.pex_hash(report.content_digest(h for h in hashes if h[0] != "PEX-INFO"), older)
    legacy = rewritten(pex, tmp_path / "legacy.pex", {"PEX-INFO": json.dumps(older).encode()})
    result = cli(hatchling_venv, "verify", legacy, env=env)
    assert result.returncode == 0 and "(no per-member hashes recorded" in result.stdout, helpers.describe(
        result
    )
    changed = rewritten(legacy, tmp_path / "legacy-changed.pex", {RUNTIME_MEMBER: b"x = 1\n"})
    result = cli(hatchling_venv, "verify", changed, env=env)
    assert result.returncode == 1 and result.stdout.startswith(f"{changed}: FAILED: PEX-INFO: pex_hash ")


# -- diff ----------------------------------------------------------------------------------------------


def test_diff_names_exactly_the_changed_dependency(
    built: dict[str, Path], hatchling_venv: Path, env: dict[str, str]
) -> None:
    old, new = built["old"], built["new"]
    result = cli(hatchling_venv, "diff", old, new, "--json", env=env)
    assert result.returncode == 1, helpers.describe(result)
    found = json.loads(result.stdout)
    assert found["distributions"] == {
        "added": [],
        "removed": [],
        "changed": [{"name": "hp-pure", "old": ["1.0"], "new": ["2.0"]}],
        "rebuilt": [],
        "moved": [],  # 1.0 -> 2.0 everywhere: the `changed` line says which serves what
    }
    assert found["fields"] == {} and found["pex_info"] == {}
    assert found["runtime_members"] == {"added": [], "removed": [], "changed": []}
    assert found["size"] == {
        "old": old.stat().st_size,
        "new": new.stat().st_size,
        "change": new.stat().st_size - old.stat().st_size,
    }
    assert found["identical"] is False
    text = cli(hatchling_venv, "diff", old, new, env=env)
    assert text.returncode == 1
    changes = [line for line in text.stdout.splitlines() if not line.startswith(("---", "+++", "pex_hash:"))]
    assert changes[0] == "distribution changed: hp-pure 1.0 -> 2.0"
    # the files' sizes may happen to be equal (then no size line)
    assert [line.split(":")[0] for line in changes[1:]] == (["size"] if found["size"]["change"] else []), (
        text.stdout
    )

    same = cli(hatchling_venv, "diff", old, old, env=env)
    assert same.returncode == 0, helpers.describe(same)
    assert "no differences" in same.stdout


def hp_pure_by_platform(pex: Path) -> dict[str, str]:
    """{platform: the hp-pure wheel serving it}, from PEX-INFO."""
    sets = pex_info(pex)["platform_distributions"]
    assert isinstance(sets, dict)
    return {
        platform: next(w for w in wheels if w.startswith("hp_pure-")) for platform, wheels in sets.items()
    }


def test_diff_names_wheels_that_moved_between_pythons(
    swapped: dict[str, Path], hatchling_venv: Path, env: dict[str, str]
) -> None:
    """The same wheels, each serving another Python: no distribution added, removed or changed, yet
    `diff` says which wheel now serves 3.11 and which 3.12."""
    old, new = swapped["old"], swapped["new"]
    assert pex_info(old)["distributions"] == pex_info(new)["distributions"]  # the same wheels, same bytes
    before, after = hp_pure_by_platform(old), hp_pure_by_platform(new)
    assert before.keys() == after.keys() and len(set(before.values())) == 2
    assert all(before[p] != after[p] for p in before)  # every platform served by the other release
    platforms = pex_info(new)["platforms"]
    assert isinstance(platforms, list) and len(platforms) == 2

    result = cli(hatchling_venv, "diff", old, new, "--json", env=env)
    assert result.returncode == 1, helpers.describe(result)
    found = json.loads(result.stdout)
    assert found["distributions"] == {
        "added": [],
        "removed": [],
        "changed": [],
        "rebuilt": [],
        "moved": [
            {
                "name": "hp-pure",
                "old": before[platform],
                "new": after[platform],
                "platforms": [platform],
                "python_versions": [version],
            }
            for platform, version in zip(platforms, ["3.11", "3.12"])
        ],
    }
    assert found["identical"] is False

    text = cli(hatchling_venv, "diff", old, new, env=env)
    assert text.returncode == 1, helpers.describe(text)
    machine = platforms[0].split("-")[0]
    moved = [line for line in text.stdout.splitlines() if line.startswith("distribution ")]
    assert moved == [
        f"distribution moved: hp-pure for {version} ({machine}): {before[platform]} -> {after[platform]}"
        for platform, version in zip(platforms, ["3.11", "3.12"])
    ], text.stdout


def test_diff_names_every_other_pex_info_key_that_differs(
    built: dict[str, Path], hatchling_venv: Path, env: dict[str, str], tmp_path: Path
) -> None:
    """A PEX-INFO key `diff` has no part of its own for (one a later release adds, one edited by
    hand) is named with both values, or as absent from one file."""
    pex = built["old"]
    info = pex_info(pex)

    def with_keys(name: str, **keys: object) -> Path:
        edited = {**info, **keys}
        with zipfile.ZipFile(pex) as archive:
            hashes = [(i.filename, hashlib.sha256(archive.read(i)).hexdigest()) for i in archive.infolist()]
        edited["pex_hash"] = report.pex_hash(
            report.content_digest(h for h in hashes if h[0] != "PEX-INFO"), edited
        )
        return rewritten(
            pex, tmp_path / name, {"PEX-INFO": json.dumps(edited, indent=2, sort_keys=True).encode()}
        )

    first = with_keys("first.pex", build_note="nightly", layout="zip")
    second = with_keys("second.pex", build_note="release", max_install_jobs=4)
    result = cli(hatchling_venv, "diff", first, second, "--json", env=env)
    assert result.returncode == 1, helpers.describe(result)
    found = json.loads(result.stdout)
    assert found["pex_info"] == {
        "build_note": {"old": "nightly", "new": "release"},
        "layout": {"old": "zip"},
        "max_install_jobs": {"new": 4},
    }
    assert found["fields"] == {} and found["distributions"]["moved"] == []
    text = cli(hatchling_venv, "diff", first, second, env=env)
    lines = [line for line in text.stdout.splitlines() if line.startswith("PEX-INFO ")]
    assert lines == [
        "PEX-INFO build_note: nightly -> release",
        "PEX-INFO layout: zip -> (absent)",
        "PEX-INFO max_install_jobs: (absent) -> 4",
    ], text.stdout
    # only a key that differs: the same extra key on both sides is no difference
    assert (
        json.loads(cli(hatchling_venv, "diff", first, first, "--json", env=env).stdout)["identical"] is True
    )


# -- --version -------------------------------------------------------------------------------------------


def test_version_is_the_installed_distributions(
    hatchling_venv: Path, artifacts: helpers.Artifacts, env: dict[str, str]
) -> None:
    """`hatch-pex --version` and `python -m hatch_pex --version`, from a venv where the session's wheel
    is installed, print the wheel's version (read from the installed metadata) and nothing else."""
    assert artifacts.hatch_pex_wheel is not None
    wheel_version = str(parse_wheel_filename(artifacts.hatch_pex_wheel.name)[1])
    script = hatchling_venv.parent / "hatch-pex"
    for command in ([script, "--version"], [hatchling_venv, "-m", "hatch_pex", "--version"]):
        result = helpers.run(command, env=env, check=False)
        assert result.returncode == 0, helpers.describe(result)
        assert result.stdout == f"hatch-pex {wheel_version}\n", helpers.describe(result)
        assert result.stderr == ""


def test_version_from_a_source_tree(
    interpreters: dict[str, Path], env: dict[str, str], tmp_path: Path
) -> None:
    """Run from a checkout that was never installed there is no metadata to read: `0+unknown`, not a
    traceback. -S keeps site-packages (where a hatch-pex-builder might be installed) off sys.path."""
    python = next(iter(interpreters.values()))
    result = helpers.run(
        [python, "-S", "-m", "hatch_pex", "--version"],
        env={**env, "PYTHONPATH": str(helpers.REPO_ROOT)},
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, helpers.describe(result)
    assert result.stdout == "hatch-pex 0+unknown\n", helpers.describe(result)


# -- errors --------------------------------------------------------------------------------------------


def test_errors_name_what_the_file_is(hatchling_venv: Path, env: dict[str, str], tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "mymod").mkdir(parents=True)
    (site / "mymod" / "__init__.py").write_text("def main():\n    print('hi')\n")
    pex_cli = tmp_path / "other.pex"
    helpers.run(
        [sys.executable, "-m", "pex", "--no-pypi", "-D", site, "-e", "mymod:main", "-o", pex_cli], env=env
    )
    shiv = tmp_path / "other.pyz"
    helpers.run(
        [Path(sys.executable).parent / "shiv", "--site-packages", site, "-e", "mymod:main", "-o", shiv],
        env=env,
    )
    plain_zip = tmp_path / "plain.zip"
    with zipfile.ZipFile(plain_zip, "w") as archive:
        archive.writestr("hello.txt", "hello")
    text = tmp_path / "notes.txt"
    text.write_text("not a zip\n")
    cases = {
        tmp_path / "missing.pex": "no such file",
        text: "is not a zip archive, so not a .pex file",
        plain_zip: "is a zip archive without PEX-INFO: not a .pex file",
        pex_cli: "was written by the PEX CLI (pex ",
        shiv: "is a shiv zipapp",
    }
    for path, message in cases.items():
        for command in ("inspect", "verify"):
            result = cli(hatchling_venv, command, path, env=env)
            assert result.returncode == 2, helpers.describe(result)
            assert result.stderr.startswith(f"hatch-pex: error: {path}"), result.stderr
            assert message in result.stderr and result.stdout == ""
    usage = cli(hatchling_venv, "diff", text, env=env)
    assert usage.returncode == 2 and "usage: hatch-pex diff" in usage.stderr
    assert cli(hatchling_venv, env=env).returncode == 2


# -- pure logic ------------------------------------------------------------------------------------------


def _report(dists: list[tuple[str, str, str]], **fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "file": "x.pex",
        "platforms": [],
        "size": 100,
        "pex_hash": "h",
        "pex_info": {"member_hashes": {"__main__.py": "m", ".sbom/bom.cdx.json": "s1"}},
        "runs": {"mode": "script", "entry_point": "a:b", "script": "a"},
        "distributions": [
            {"name": n, "version": v, "sha256": s, "wheel": f"{n}-{v}-py3-none-any.whl"} for n, v, s in dists
        ],
    }
    return {**base, **fields}


def test_diff_logic() -> None:
    old = _report([("a", "1", "x"), ("b", "1", "y"), ("c", "1", "z")])
    assert report.diff(old, old)["identical"] is True
    new = _report(
        [("a", "2", "x2"), ("c", "1", "z2"), ("d", "1", "w")],
        size=90,
        pex_hash="i",
        runs={"mode": "interpreter", "entry_point": None, "script": None},
        # the SBOM follows the distributions: not reported as a runtime member of its own
        pex_info={"member_hashes": {"__main__.py": "n", "extra.py": "e", ".sbom/bom.cdx.json": "s2"}},
    )
    found = report.diff(old, new)
    assert found["distributions"] == {
        "added": [{"name": "d", "versions": ["1"], "wheels": ["d-1-py3-none-any.whl"]}],
        "removed": [{"name": "b", "versions": ["1"], "wheels": ["b-1-py3-none-any.whl"]}],
        "changed": [{"name": "a", "old": ["1"], "new": ["2"]}],
        "rebuilt": [{"name": "c", "versions": ["1"]}],
        "moved": [],
    }
    assert list(found["fields"]) == ["runs"] and found["pex_info"] == {}
    assert found["runtime_members"] == {"added": ["extra.py"], "removed": [], "changed": ["__main__.py"]}
    assert found["size"]["change"] == -10 and found["identical"] is False
    text = report.render_diff(found)
    assert "runs: console script a (a:b) -> a Python interpreter" in text
    assert "size: 100 B -> 90 B (-10 bytes)" in text


def _served(serving: dict[str, list[str]], platforms: list[str]) -> dict[str, object]:
    """An `inspect` report whose wheels (`name-version-tag.whl`) serve the given Python versions."""
    dists = [
        {
            "name": wheel.split("-")[0],
            "version": wheel.split("-")[1],
            "sha256": wheel,
            "wheel": wheel,
            "platforms": [f"linux_x86_64-cp-{v}-cp{v.replace('.', '')}" for v in versions],
        }
        for wheel, versions in serving.items()
    ]
    every = [f"linux_x86_64-cp-{v}-cp{v.replace('.', '')}" for v in platforms]
    return _report([], distributions=dists, platforms=every)


def test_diff_moved_logic() -> None:
    everything = ["3.9", "3.10", "3.11"]
    old = _served(
        {
            "click-8.1.8-py3-none-any.whl": everything,
            "tomli-2.0-py3-none-any.whl": ["3.9"],
            **{f"native-1.0-cp{v.replace('.', '')}.whl": [v] for v in everything},
        },
        everything,
    )
    new = _served(
        {
            "click-8.1.8-py3-none-any.whl": ["3.9"],
            "click-8.5.1-py3-none-any.whl": ["3.10", "3.11", "3.12"],
            "tomli-2.0-py3-none-any.whl": ["3.9", "3.10"],  # now needed by 3.10 too
            **{f"native-1.1-cp{v.replace('.', '')}.whl": [v] for v in [*everything, "3.12"]},
        },
        [*everything, "3.12"],  # 3.12 is new: the platforms field says so, not a move
    )
    found = report.diff(old, new)
    assert found["distributions"]["changed"] == [
        {"name": "click", "old": ["8.1.8"], "new": ["8.1.8", "8.5.1"]},
        {"name": "native", "old": ["1.0"], "new": ["1.1"]},
    ]
    # native: one version each side, every platform's wheel replaced: its `changed` line says it all
    assert found["distributions"]["moved"] == [
        {
            "name": "click",
            "old": "click-8.1.8-py3-none-any.whl",
            "new": "click-8.5.1-py3-none-any.whl",
            "platforms": ["linux_x86_64-cp-3.10-cp310", "linux_x86_64-cp-3.11-cp311"],
            "python_versions": ["3.10", "3.11"],
        },
        {
            "name": "tomli",
            "old": None,
            "new": "tomli-2.0-py3-none-any.whl",
            "platforms": ["linux_x86_64-cp-3.10-cp310"],
            "python_versions": ["3.10"],
        },
    ]
    text = report.render_diff(found)
    assert (
        "distribution moved: click for 3.10, 3.11 (linux_x86_64): "
        "click-8.1.8-py3-none-any.whl -> click-8.5.1-py3-none-any.whl\n" in text
    )
    assert "distribution moved: tomli for 3.10 (linux_x86_64): (none) -> tomli-2.0-py3-none-any.whl\n" in text
    # the same wheels, served the other way round, with an extra PEX-INFO key on one side
    swapped = _served({"a-1-x.whl": ["3.9"], "a-2-x.whl": ["3.10"]}, ["3.9", "3.10"])
    back = _served({"a-1-x.whl": ["3.10"], "a-2-x.whl": ["3.9"]}, ["3.9", "3.10"])
    back["pex_info"] = {**back["pex_info"], "note": {"k": 1}}  # type: ignore[dict-item]
    found = report.diff(swapped, back)
    assert [(m["python_versions"], m["old"], m["new"]) for m in found["distributions"]["moved"]] == [
        (["3.9"], "a-1-x.whl", "a-2-x.whl"),
        (["3.10"], "a-2-x.whl", "a-1-x.whl"),
    ]
    assert found["pex_info"] == {"note": {"new": {"k": 1}}}
    assert 'PEX-INFO note: (absent) -> {"k": 1}\n' in report.render_diff(found)
    # on several machines, the platforms are named whole
    assert report._platforms_text(["linux_x86_64-cp-3.11-cp311", "macosx_11_0_arm64-cp-3.11-cp311"]) == (
        "linux_x86_64-cp-3.11-cp311, macosx_11_0_arm64-cp-3.11-cp311"
    )


def test_content_digest_is_order_independent_and_matches_the_builder() -> None:
    from hatch_pex import archive

    members = [archive.Member("b", b"2"), archive.Member("a", b"1"), archive.Member(".deps/w.whl", b"3")]
    pairs = [(m.name, m.sha256()) for m in members]
    assert (
        report.content_digest(pairs)
        == report.content_digest(reversed(pairs))
        == archive.content_hash(members)
    )
    assert archive.member_hashes(members) == {"a": members[1].sha256(), "b": members[0].sha256()}
    info = {"format": "hatch-pex/1", "pex_hash": "ignored"}
    assert report.pex_hash("c", info) == report.pex_hash("c", {"format": "hatch-pex/1"})
    assert report.pex_hash("c", info) != report.pex_hash("d", info)
