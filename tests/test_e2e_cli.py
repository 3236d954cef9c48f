"""`python -m hatch_pex inspect|verify|diff` (and the `hatch-pex` script) and `PEX_TOOLS=1 app.pex
info|verify`, on files built with the real `hatch build -t pex`, damaged copies of them, and files of the
PEX CLI and shiv (docs/cli.md)."""

from __future__ import annotations

import hashlib
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

from hatch_pex.bootstrap import report

APP = """
import hp_pure


def main():
    print(hp_pure.__version__)
    return 0
"""
RUNTIME_MEMBER = ".bootstrap/_hatch_pex_boot/report.py"  # deflated
LOCAL_HEADER = struct.Struct("<4s22xHH")  # signature, ..., name length, extra length


def write_app(base: Path, pure: str) -> Path:
    """`cli-app` 0.1.0 with the script `cli-app`, needing hp-pure and hp-native (a wheel per CPython
    version), served for Python 3.11 and 3.12; a constraints file pins hp-pure to `pure`, so the
    project's own wheel is the same whatever `pure` is."""
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
    (project / "constraints.txt").write_text(f"hp-pure=={pure}\n")
    configure(project, 'python-versions = ["3.11", "3.12"]\nconstraints-files = ["constraints.txt"]')
    return project


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, index_url: str, uv_cache: Path) -> dict[str, Path]:
    """The app built twice in different directories, with hp-pure 1.0 ("old") and 2.0 ("new")."""
    base = tmp_path_factory.mktemp("cli-builds")
    env = helpers.make_env(index_url, base / ".home", uv_cache=uv_cache)
    found = {}
    for label, pure in (("old", "1.0"), ("new", "2.0")):
        project = write_app(base / label, pure)
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
    """A copy of `pex` rewritten by zipfile (valid CRCs): members replaced, removed (None) or added."""
    with zipfile.ZipFile(pex) as source, zipfile.ZipFile(dest, "w") as target:
        for info in source.infolist():
            data = replace.get(info.filename, source.read(info))
            if data is not None:
                target.writestr(info, data)
        for name, data in (add or {}).items():
            target.writestr(name, data)
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


def test_pex_tools_info_and_verify_share_the_cli_code(
    built: dict[str, Path], hatchling_venv: Path, env: dict[str, str], interpreters: dict[str, Path]
) -> None:
    """The same report from the file itself, under the oldest CPython (the runtime's floor)."""
    pex = built["old"].resolve()
    python = interpreters.get("3.9") or next(iter(interpreters.values()))
    tools = {**env, "PEX_TOOLS": "1"}
    from_cli = cli(hatchling_venv, "inspect", pex, env=env)
    from_pex = helpers.run_pex(pex, "info", python=python, env=tools)
    assert from_pex.returncode == 0, helpers.describe(from_pex)
    assert from_pex.stdout == from_cli.stdout
    as_json = helpers.run_pex(pex, "info", "--json", python=python, env=tools)
    assert json.loads(as_json.stdout) == inspected(hatchling_venv, pex, env)
    raw = helpers.run_pex(pex, "info", "--raw", python=python, env=tools)
    assert json.loads(raw.stdout) == pex_info(pex)
    verified = helpers.run_pex(pex, "verify", python=python, env=tools)
    assert verified.returncode == 0 and verified.stdout.startswith(f"{pex}: OK: "), helpers.describe(verified)
    bad = helpers.run_pex(pex, "info", "--frob", python=python, env=tools)
    assert bad.returncode == 2 and "usage: info [--json | --raw]" in bad.stderr


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
    }
    assert found["fields"] == {}
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
    }
    assert list(found["fields"]) == ["runs"]
    assert found["runtime_members"] == {"added": ["extra.py"], "removed": [], "changed": ["__main__.py"]}
    assert found["size"]["change"] == -10 and found["identical"] is False
    text = report.render_diff(found)
    assert "runs: console script a (a:b) -> a Python interpreter" in text
    assert "size: 100 B -> 90 B (-10 bytes)" in text


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
