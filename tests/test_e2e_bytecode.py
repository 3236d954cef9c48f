"""End to end: `compile-bytecode`, bytecode compiled at build time (issue 19; hatch_pex/precompile.py,
bootstrap/precompiled.py).

A pex built by the real `hatch build -t pex` with the key carries, for each version asked for, the code
of every module of every wheel; a first start on that version compiles none of them (an audit hook
counts the compile() calls of files in the cache), writes the .pyc files a warm start reads, and
tracebacks name the real files. A bundle altered after the build is not used (the modules are compiled,
as without the key), the start says so, and `verify` names the member. Two builds with empty build
caches compile the same bytes.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import zipfile
from pathlib import Path

import helpers
import pytest
from filelock import FileLock
from test_e2e_pth_bytecode import AUDITED

from hatch_pex.precompile import Bundle, BytecodeError, compile_bundles, modules_of
from hatch_pex.pythons import find_python

VERSIONS = ("3.9", "3.12")
# hp_pure's function comes from the bundle (or the source); its co_filename must be the module's file.
CODE = (
    "import hp_pure, no_scripts_app; "
    "print(no_scripts_app.greet(), hp_pure.greeting.__code__.co_filename == hp_pure.__file__)"
)
EXPECTED = "no-scripts-app 0.1.0 using hp-pure 2.0 True"
LOCAL = struct.Struct("<4s22xHH")


def _build(project: Path, home: Path, index_url: str, uv_cache: Path) -> Path:
    env = helpers.make_env(index_url, home, uv_cache=uv_cache)
    env["XDG_CACHE_HOME"] = str(home / "cache")  # an empty build cache: the bytecode is compiled
    helpers.hatch_build(project, env=env)
    [pex] = helpers.built_artifacts(project)
    return pex


@pytest.fixture(scope="module")
def compiled_app(tmp_path_factory: pytest.TempPathFactory, index_url: str, uv_cache: Path) -> Path:
    """no-scripts-app with `compile-bytecode = true` for Python 3.9 and 3.12, built once per test run
    (shared by the xdist workers)."""
    base = tmp_path_factory.getbasetemp()
    root = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "e2e-bytecode-builds"
    root.mkdir(exist_ok=True)
    done = root / "app.json"
    with FileLock(str(root / "app.lock")):
        if done.exists():
            return Path(json.loads(done.read_text()))
        work = root / "app"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        project = helpers.copy_fixture_app("no-scripts-app", work)
        helpers.configure(project, f"compile-bytecode = true\npython-versions = {json.dumps(list(VERSIONS))}")
        pex = _build(project, work / ".home", index_url, uv_cache)
        done.write_text(json.dumps(str(pex)))
        return pex


def audited(
    pex: Path, python: Path, env: dict[str, str], tmp_path: Path, root: Path
) -> tuple[str, str, set[str]]:
    """(stdout, stderr, modules of the site compiled from source) of one cold start of `pex -c CODE`
    with PYTHONDONTWRITEBYTECODE=1, in the runtime root `root`."""
    wrapper = tmp_path / "audited.py"
    wrapper.write_text(AUDITED)
    report = tmp_path / "compiled.json"
    report.unlink(missing_ok=True)
    run_env = dict(env, PEX_ROOT=str(root), PYTHONDONTWRITEBYTECODE="1")
    result = helpers.run([python, wrapper, report, pex, "-c", CODE], env=run_env, cwd=tmp_path)
    compiled = json.loads(report.read_text())
    [site] = (root / "sites").iterdir()
    return result.stdout.strip(), result.stderr, {Path(f).relative_to(site).as_posix() for f in compiled}


@pytest.mark.parametrize("version", VERSIONS)
def test_a_first_start_compiles_nothing_the_build_compiled(
    compiled_app: Path, interpreters: dict[str, Path], env: dict[str, str], tmp_path: Path, version: str
) -> None:
    python = interpreters[version]
    info = helpers.pex_info(compiled_app)
    tag = f"cpython-{version.replace('.', '')}"
    described = info["bytecode"]
    assert isinstance(described, dict) and sorted(described) == sorted(
        f"cpython-{v.replace('.', '')}" for v in VERSIONS
    )
    wheels = described[tag]["wheels"]
    assert sorted(w.split("-")[0] for w in wheels) == ["hp_pure", "no_scripts_app"], wheels
    hashes = info["member_hashes"]
    assert isinstance(hashes, dict)
    assert all(f".bytecode/{tag}/{wheel}" in hashes for wheel in wheels)

    out, err, compiled = audited(compiled_app, python, env, tmp_path, tmp_path / "root")
    assert out == EXPECTED, err
    assert compiled == set(), compiled
    # the .pyc files a warm start reads were written, from the code the build compiled
    [site] = (tmp_path / "root" / "sites").iterdir()
    assert (site / "hp_pure" / "__pycache__" / f"__init__.{tag}.pyc").is_file()
    out, err, compiled = audited(compiled_app, python, env, tmp_path, tmp_path / "root")  # warm
    assert (out, compiled) == (EXPECTED, set()), err


def _altered(pex: Path, member: str, dest: Path) -> Path:
    """A copy of `pex` with one byte in the middle of `member`'s data flipped (the sizes unchanged)."""
    with zipfile.ZipFile(pex) as archive:
        info = archive.getinfo(member)
    data = bytearray(pex.read_bytes())
    header = info.header_offset  # zipfile counts it from the file's start, the shebang line included
    _, name_length, extra_length = LOCAL.unpack_from(data, header)
    start = header + LOCAL.size + name_length + extra_length
    data[start + info.file_size // 2] ^= 0xFF
    dest.write_bytes(bytes(data))
    dest.chmod(0o755)
    return dest


def test_an_altered_bundle_is_not_used_and_verify_names_it(
    compiled_app: Path,
    interpreters: dict[str, Path],
    env: dict[str, str],
    tmp_path: Path,
    hatchling_venv: Path,
) -> None:
    info = helpers.pex_info(compiled_app)
    [wheel] = [w for w in info["bytecode"]["cpython-312"]["wheels"] if w.startswith("hp_pure-")]  # type: ignore[index]
    member = f".bytecode/cpython-312/{wheel}"
    altered = _altered(compiled_app, member, tmp_path / "altered.pex")

    out, err, compiled = audited(altered, interpreters["3.12"], env, tmp_path, tmp_path / "root")
    assert out == EXPECTED, err
    assert "hp_pure/__init__.py" in compiled, compiled  # compiled from the source, as without bundles
    assert "no_scripts_app/__init__.py" not in compiled  # its own bundle is intact
    assert f"{member} is damaged" in err, err

    genuine = helpers.run([hatchling_venv, "-m", "hatch_pex", "verify", compiled_app], env=env, check=False)
    assert genuine.returncode == 0, helpers.describe(genuine)
    result = helpers.run([hatchling_venv, "-m", "hatch_pex", "verify", altered], env=env, check=False)
    assert result.returncode != 0 and member in result.stdout + result.stderr, helpers.describe(result)


def test_two_builds_with_empty_caches_compile_the_same_bytes(
    compiled_app: Path, tmp_path: Path, index_url: str, uv_cache: Path
) -> None:
    project = helpers.copy_fixture_app("no-scripts-app", tmp_path)
    helpers.configure(project, f"compile-bytecode = true\npython-versions = {json.dumps(list(VERSIONS))}")
    again = _build(project, tmp_path / ".home", index_url, uv_cache)
    # each test worker has its own index, whose URL the SBOM names: the bundles are compared
    with zipfile.ZipFile(compiled_app) as first, zipfile.ZipFile(again) as second:
        names = [name for name in first.namelist() if name.startswith(".bytecode/")]
        assert names and names == [name for name in second.namelist() if name.startswith(".bytecode/")]
        assert all(first.read(name) == second.read(name) for name in names)


def test_a_version_without_an_interpreter_fails_naming_the_field(tmp_path: Path) -> None:
    wheel = tmp_path / "w-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("w/__init__.py", "X = 1\n")
        archive.writestr("w-1.0.data/purelib/w_top.py", "Y = 2\n")
        archive.writestr("w-1.0.data/scripts/tool.py", "print(1)\n")
        archive.writestr("w-1.0.dist-info/METADATA", "Name: w\n")
    assert modules_of(str(wheel)) == [
        ("w/__init__.py", "w/__init__.py"),
        ("w-1.0.data/purelib/w_top.py", "w_top.py"),
    ]
    field = "tool.hatch.build.targets.pex.compile-bytecode"
    with pytest.raises(BytecodeError) as caught:
        compile_bundles([("3.12", str(wheel), "0" * 64)], lambda version: None, None, str(tmp_path), field)
    assert str(caught.value).startswith(
        f"Field `{field}` asks for bytecode for CPython 3.12, but no CPython 3.12"
    )


def test_bundle_member_names() -> None:
    bundle = Bundle("w-1.0-py3-none-any.whl", "cpython-312", "cb0d0d0a", "/x", "0" * 64)
    assert bundle.member_name == ".bytecode/cpython-312/w-1.0-py3-none-any.whl"


def test_a_wheel_member_escaping_the_entry_fails_the_build(tmp_path: Path) -> None:
    wheel = tmp_path / "w-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("../../evil.py", "X = 1\n")
    with pytest.raises(BytecodeError, match=r"^w-1.0-py3-none-any.whl: "):
        modules_of(str(wheel))


def test_true_without_an_interpreter_of_every_served_version_fails_naming_the_field(
    tmp_path: Path, index_url: str, uv_cache: Path
) -> None:
    """The fixture app serves every known version (3.9 to 3.15) and the machine has CPython 3.9 to
    3.13 only: `true` fails, says which are missing and what to write instead; nothing in dist/."""
    project = helpers.copy_fixture_app("no-scripts-app", tmp_path)
    helpers.configure(project, "compile-bytecode = true")
    env = helpers.make_env(index_url, tmp_path / ".home", uv_cache=uv_cache)
    missing = [v for v in ("3.14", "3.15") if find_python(v) is None]
    if not missing:
        pytest.skip("this machine has CPython 3.14 and 3.15")
    result = helpers.hatch_build(project, env=env, check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "Field `tool.hatch.build.targets.pex.compile-bytecode` is true" in output, output
    assert f"no CPython {', '.join(missing)} was found" in output, output
    assert 'e.g. compile-bytecode = ["3.9", "3.10", "3.11", "3.12", "3.13"]' in output, output
    assert "Traceback" not in output
    assert helpers.built_artifacts(project) == []
