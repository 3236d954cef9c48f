"""End to end: a .pex whose runtime is damaged (docs/runtime.md, "Exit codes and errors") fails its start
with one `hatch-pex: error:` line naming the damaged member and exit 2, never a traceback; `PEX_TOOLS=1
... verify` gives its own report of the damage when its modules can still run; the application's own
errors stay its own (traceback, exit 1); damaged files the runtime wrote under PEX_ROOT are ignored.

zipimport checks no CRC: one changed byte in a deflated runtime module is a zlib.error when it is read,
in the stored `__init__.py` (compiled from source on every start) a SyntaxError. The files are built by
the real `hatch build -t pex` and damaged by one byte, as a bad copy would.
"""

from __future__ import annotations

import marshal
import os
import shutil
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import helpers
import pytest
from helpers import configure, ok, pex_info, start_failure, with_env

VERSION = f"{sys.version_info[0]}.{sys.version_info[1]}"
RUNTIME = ".bootstrap/_hatch_pex_boot"
LAUNCH = f"{RUNTIME}/launch.py"  # read by every cold start (its code is in the warm record)
INIT = f"{RUNTIME}/__init__.py"  # stored, compiled by zipimport on every start, warm ones too
MISSING = "damage_app_not_installed"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, index_url: str, uv_cache: Path) -> dict[str, Path]:
    """`damage-app` for the test runner's Python: {"app": prints RUNS, "broken": its entry point's
    module imports a module that is not there}."""
    base = tmp_path_factory.mktemp("damage")
    project = base / "damage-app"
    (project / "damage_app").mkdir(parents=True)
    (project / "damage_app" / "__init__.py").write_text("def main():\n    print('RUNS')\n    return 0\n")
    (project / "damage_app" / "broken.py").write_text(f"import {MISSING}\n\n\ndef main():\n    return 0\n")
    (project / "pyproject.toml").write_text(
        """
[build-system]
requires = ["hatchling", "hatch-pex-builder"]
build-backend = "hatchling.build"

[project]
name = "damage-app"
version = "0.1.0"
requires-python = ">=3.9"

[project.scripts]
damage-app = "damage_app:main"
damage-broken = "damage_app.broken:main"

[tool.hatch.build.targets.wheel]
packages = ["damage_app"]
"""
    )
    configure(project, f'python-versions = ["{VERSION}"]\nscripts = ["damage-app", "damage-broken"]')
    helpers.hatch_build(project, env=helpers.make_env(index_url, base / ".home", uv_cache=uv_cache))
    app, broken = helpers.built_artifacts(project)
    assert (app.name, broken.name) == ("damage-app-0.1.0.pex", "damage-broken-0.1.0.pex")
    return {"app": app, "broken": broken}


@pytest.fixture
def python(interpreters: dict[str, Path]) -> Path:
    """The CPython the files serve (the test runner's version)."""
    if VERSION not in interpreters:
        pytest.skip(f"no CPython {VERSION} found")
    return interpreters[VERSION]


def damaged(pex: Path, member: str, dest: Path) -> Path:
    """A copy of `pex` with the first byte of `member`'s data changed: for a deflated member, the first
    block's type becomes 3, which no deflate stream may use (zlib fails whatever follows); for a
    stored one, 0xFF, which UTF-8 never uses (compiling it fails)."""
    with zipfile.ZipFile(pex) as archive:
        info = archive.getinfo(member)  # header_offset counts the `#!` line: offsets in the file
    raw = bytearray(pex.read_bytes())
    name_length, extra_length = struct.unpack_from("<HH", raw, info.header_offset + 26)
    data = info.header_offset + 30 + name_length + extra_length
    raw[data] = raw[data] | 0b110 if info.compress_type == zipfile.ZIP_DEFLATED else 0xFF
    dest.write_bytes(bytes(raw))
    dest.chmod(0o755)
    return dest


def damage_reported(result: subprocess.CompletedProcess[str], member: str) -> str:
    """The start failed as documented (exit 2, one `hatch-pex: error:` line, no traceback), naming
    `member` as the damaged part of the file's runtime; returns that line."""
    stderr = start_failure(result)
    assert stderr.count("\n") == 1, helpers.describe(result)
    assert stderr.startswith(f"hatch-pex: error: this file's runtime is damaged: {member} could not be "), (
        stderr
    )
    assert stderr.endswith("; rebuild it or copy it again\n"), stderr
    return stderr


@pytest.mark.parametrize(
    "member",
    [
        LAUNCH,  # a deflated module: zlib.error when the cold start reads the runtime's sources
        INIT,  # the package itself: SyntaxError when zipimport compiles it
        f"{RUNTIME}/damage.py",  # the module that tells damage from a bug: the stub says so
    ],
)
def test_cold_start_names_the_damaged_member(
    built: dict[str, Path], python: Path, env: dict[str, str], tmp_path: Path, member: str
) -> None:
    pex = damaged(built["app"], member, tmp_path / "damaged.pex")
    root = tmp_path / "root"
    stderr = damage_reported(helpers.run_pex(pex, python=python, env=with_env(env, PEX_ROOT=root)), member)
    if member == LAUNCH:  # zipfile finds what zipimport tripped on, and names the cause once
        assert stderr == (
            f"hatch-pex: error: this file's runtime is damaged: {LAUNCH} could not be read (Error -3 while "
            "decompressing data: invalid block type); rebuild it or copy it again\n"
        )
    # the intact file starts, cold, from the same (empty) PEX_ROOT: the damaged one left nothing wrong
    assert (
        ok(helpers.run_pex(built["app"], python=python, env=with_env(env, PEX_ROOT=root))).stdout == "RUNS\n"
    )


def test_warm_start_of_a_damaged_copy(
    built: dict[str, Path], python: Path, env: dict[str, str], tmp_path: Path
) -> None:
    """The intact file ran first, so a damaged copy (another path, the same PEX-INFO) finds its warm
    record: the runtime's code comes from the record, compiled from intact sources, so a damaged
    launch.py is never read and the application runs. What a warm start does read is reported."""
    root = tmp_path / "root"
    run_env = with_env(env, PEX_ROOT=root)
    assert ok(helpers.run_pex(built["app"], python=python, env=run_env)).stdout == "RUNS\n"
    copies = tmp_path / "copies"
    copies.mkdir()
    launch = damaged(built["app"], LAUNCH, copies / "launch.pex")
    assert ok(helpers.run_pex(launch, python=python, env=run_env)).stdout == "RUNS\n"

    # __init__.py is compiled from the zip on every start, warm ones too
    init = damaged(built["app"], INIT, copies / "init.pex")
    damage_reported(helpers.run_pex(init, python=python, env=run_env), INIT)

    # a warm start whose cache entry was removed starts cold: resolve.py is imported from the zip then
    resolve = damaged(built["app"], f"{RUNTIME}/resolve.py", copies / "resolve.pex")
    sha = next(sha for wheel, sha in distributions(built["app"]).items() if wheel.startswith("damage_app-"))
    shutil.rmtree(root / "installs" / sha)
    damage_reported(helpers.run_pex(resolve, python=python, env=run_env), f"{RUNTIME}/resolve.py")


def distributions(pex: Path) -> dict[str, str]:
    found = pex_info(pex)["distributions"]
    assert isinstance(found, dict)
    return found


def test_verify_reports_the_damage(
    built: dict[str, Path], python: Path, env: dict[str, str], tmp_path: Path
) -> None:
    """`PEX_TOOLS=1 ... verify` is how a damaged file is found: with launch.py damaged, verify's own
    modules still load and it gives its report (exit 1, as for any damaged file); with one of its own
    modules or the package damaged, it cannot run and the start fails as any other does."""
    tools = with_env(env, PEX_ROOT=tmp_path / "root", PEX_TOOLS="1")
    pex = damaged(built["app"], LAUNCH, tmp_path / "launch.pex")
    result = helpers.run_pex(pex, "verify", python=python, env=tools)
    assert result.returncode == 1 and "Traceback" not in result.stderr, helpers.describe(result)
    assert result.stdout.startswith(f"{pex}: FAILED: {LAUNCH}: damaged (Error -3 "), result.stdout
    for tool in (["info"], ["inspect"]):  # the other tools need the whole runtime: the start fails
        damage_reported(helpers.run_pex(pex, *tool, python=python, env=tools), LAUNCH)

    for member in (f"{RUNTIME}/report.py", INIT):
        pex = damaged(built["app"], member, tmp_path / "verify.pex")
        damage_reported(helpers.run_pex(pex, "verify", python=python, env=tools), member)


def test_the_applications_import_error_is_its_own(
    built: dict[str, Path], python: Path, env: dict[str, str], tmp_path: Path
) -> None:
    """An ImportError raised by the entry point's module is the application's, as in a venv: the
    traceback and exit 1, on the cold start and the warm one, with nothing from hatch-pex."""
    root = tmp_path / "root"
    for start in ("cold", "warm"):
        result = helpers.run_pex(built["broken"], python=python, env=with_env(env, PEX_ROOT=root))
        assert result.returncode == 1, helpers.describe(result)
        assert result.stderr.startswith("Traceback (most recent call last):"), result.stderr
        assert result.stderr.endswith(f"ModuleNotFoundError: No module named '{MISSING}'\n"), result.stderr
        assert not [line for line in result.stderr.splitlines() if line.startswith("hatch-pex")], start
        assert list((root / "pexes").iterdir()), start  # the record is written before the app runs


def unmarshallable_code() -> bytes:
    """Marshal data that makes marshal.loads raise SystemError (not one of the ValueError, EOFError or
    TypeError of a truncated file), as some flipped bytes of a code object do: a name that is an int."""
    data = marshal.dumps(compile("hatch_pex_name = 1", "<damaged>", "exec"))
    name = b"hatch_pex_name"
    at = data.index(bytes([len(name)]) + name) - 1  # its type code: a short interned string
    crafted = data[:at] + bytes([data[at] & 0x80 | ord("i")]) + (7).to_bytes(4, "little")
    crafted += data[at + 2 + len(name) :]
    with pytest.raises(SystemError):
        marshal.loads(crafted)
    return crafted


@pytest.mark.parametrize("damaged_file", ["record", "code cache"])
def test_damaged_files_under_pex_root_are_ignored(
    built: dict[str, Path], python: Path, env: dict[str, str], tmp_path: Path, damaged_file: str
) -> None:
    """A warm record or code cache that marshal cannot load is not used, however marshal fails: the
    start goes cold (record) or compiles the runtime from the zip (code cache), and the app runs."""
    root = tmp_path / "root"
    run_env = with_env(env, PEX_ROOT=root)
    assert ok(helpers.run_pex(built["app"], python=python, env=run_env)).stdout == "RUNS\n"
    [records] = (root / "pexes").iterdir()
    [record] = [path for path in records.iterdir() if path.suffix != ".lock"]
    if damaged_file == "record":  # its outer part matches, so the code in it is loaded
        content = marshal.loads(record.read_bytes())
        content["code"] = unmarshallable_code()
        target, data = record, marshal.dumps(content)
    else:
        record.unlink()  # the next start is cold, and loads the code cache
        [target] = (root / "code").iterdir()
        data = unmarshallable_code()
    mtime = target.stat().st_mtime_ns
    target.write_bytes(data)
    os.utime(target, ns=(mtime, mtime))
    result = ok(helpers.run_pex(built["app"], python=python, env=with_env(run_env, PEX_VERBOSE="1")))
    assert result.stdout == "RUNS\n" and "warm start" not in result.stderr, helpers.describe(result)
