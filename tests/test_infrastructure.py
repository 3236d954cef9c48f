"""Tests of the test infrastructure itself: interpreters, the loopback index and what it serves,
and the isolation of the environment handed to subprocesses."""

from __future__ import annotations

import filecmp
import json
import sys
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

import helpers
import pytest
from packaging.version import Version


def test_supported_interpreters_are_found(interpreters: dict[str, Path]) -> None:
    missing = [v for v in helpers.PYTHON_VERSIONS if v not in interpreters]
    for version, exe in interpreters.items():
        out = helpers.run([exe, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], env={})
        assert out.stdout.strip() == version
    if missing:
        # The interpreters fixture has already failed in CI; elsewhere say what is missing.
        assert not helpers.in_ci()
        pytest.skip(f"not on this machine: Python {', '.join(missing)}")


def test_native_wheel_compiled_for_each_interpreter(
    interpreter: Path, artifacts: helpers.Artifacts, env: dict[str, str]
) -> None:
    query = (
        "import sys, sysconfig; print('%d.%d' % sys.version_info[:2], sysconfig.get_config_var('EXT_SUFFIX'))"
    )
    version, ext_suffix = helpers.run([interpreter, "-c", query], env=env).stdout.split()
    wheel = artifacts.native_wheels[version]
    tag = "cp" + version.replace(".", "")
    assert wheel.name.startswith(f"hp_native-1.0-{tag}-{tag}-")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        record = zf.read("hp_native-1.0.dist-info/RECORD").decode()
        wheel_meta = zf.read("hp_native-1.0.dist-info/WHEEL").decode()
    assert f"hp_native/_native{ext_suffix}" in names
    assert "Root-Is-Purelib: false" in wheel_meta
    assert f"Tag: {wheel.name[len('hp_native-1.0-') : -len('.whl')]}" in wheel_meta
    assert all(name in record for name in names)


def test_index_serves_the_fixture_packages(
    test_index: helpers.TestIndex, interpreters: dict[str, Path]
) -> None:
    assert test_index.url.startswith("http://127.0.0.1:")
    assert test_index.project_files("hp-pure") == [
        "hp_pure-1.0-py3-none-any.whl",
        "hp_pure-2.0-py3-none-any.whl",
    ]
    native = test_index.project_files("hp-native")
    assert "hp_native-1.0.tar.gz" in native
    assert len([n for n in native if n.endswith(".whl")]) == len(interpreters)
    assert test_index.project_files("hp-sdist-only") == ["hp_sdist_only-1.0.tar.gz"]
    assert test_index.project_files("hp-build-marker") == ["hp_build_marker-1.0.tar.gz"]
    assert test_index.project_files("hp-requires-pure") == ["hp_requires_pure-1.0-py3-none-any.whl"]
    assert test_index.project_files("certifi") == ["certifi-9999.0-py3-none-any.whl"]
    assert [n for n in test_index.project_files("hatch-pex-builder") if n.endswith(".whl")]
    assert [n for n in test_index.project_files("hatchling") if n.endswith(".whl")]


def test_index_does_not_fall_back_to_pypi(test_index: helpers.TestIndex) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with pytest.raises(urllib.error.HTTPError) as info:
        opener.open(f"{test_index.url}six/", timeout=10)
    assert info.value.code == 404


def test_env_has_no_public_index(env: dict[str, str], index_url: str, tmp_path: Path) -> None:
    assert helpers.public_index_leaks(env) == []
    assert env["PIP_INDEX_URL"] == env["UV_DEFAULT_INDEX"] == index_url
    for name in ("PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL", "VIRTUAL_ENV", "SOURCE_DATE_EPOCH"):
        assert name not in env
    for name in ("HATCH_DATA_DIR", "HATCH_CACHE_DIR", "XDG_CACHE_HOME", "PEX_ROOT"):
        assert Path(env[name]).is_relative_to(tmp_path)
    # pip sees no configuration file (not even /etc/pip.conf): only the variables set above.
    config = helpers.run([sys.executable, "-m", "pip", "config", "list"], env=env).stdout.splitlines()
    assert config and all(line.startswith(":env:.") for line in config), config
    assert not [line for line in config if "find-links" in line or "extra-index-url" in line]
    # A project that exists on PyPI but not on the loopback index cannot be found.
    proc = helpers.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "-d", tmp_path / "dl", "six"],
        env=env,
        check=False,
    )
    assert proc.returncode != 0
    assert "No matching distribution" in proc.stderr, helpers.describe(proc)


def test_env_keeps_uv_on_the_loopback_index(env: dict[str, str], tmp_path: Path) -> None:
    from uv import find_uv_bin

    uv = find_uv_bin()
    venv = tmp_path / "venv"
    helpers.run([uv, "venv", "--python", sys.executable, venv], env=env)
    proc = helpers.run([uv, "pip", "install", "--python", venv, "--dry-run", "six"], env=env, check=False)
    assert proc.returncode != 0, helpers.describe(proc)
    ok = helpers.run([uv, "pip", "install", "--python", venv, "hp-requires-pure"], env=env)
    assert "hp-pure==1.0" in ok.stderr, helpers.describe(ok)


def test_install_and_import_native_from_index(interpreter: Path, env: dict[str, str], tmp_path: Path) -> None:
    python = helpers.make_venv(tmp_path / "venv", interpreter, env=env, packages=["hp-requires-pure[fast]"])
    code = (
        "import json, sys, hp_native, hp_pure, hp_requires_pure; print(json.dumps({"
        "'built_for': hp_native.built_for(), 'answer': hp_native.answer(), 'pure': hp_pure.__version__,"
        "'greeting': hp_pure.greeting(), 'describe': hp_requires_pure.describe(),"
        "'python': '%d.%d' % sys.version_info[:2]}))"
    )
    report = json.loads(helpers.run([python, "-c", code], env=env).stdout)
    assert report["built_for"] == report["python"]
    assert report["answer"] == 42
    assert report["pure"] == "1.0"  # hp-requires-pure pins hp-pure<2
    assert report["greeting"] == "hello from hp-pure 1.0"
    assert report["describe"] == "hp-requires-pure 1.0 with hp-pure 1.0, hp-native 42"


def test_version_selection_and_certifi_shadow(env: dict[str, str], tmp_path: Path) -> None:
    python = helpers.make_venv(tmp_path / "venv", sys.executable, env=env, packages=["hp-pure", "certifi"])
    code = "import certifi, hp_pure; print(hp_pure.__version__, certifi.where())"
    assert helpers.run([python, "-c", code], env=env).stdout.split() == [
        "2.0",
        "hatch-pex-fixture-certifi-9999",
    ]
    script = helpers.run([python.parent / "hp-pure", "x"], env=env).stdout
    assert script.splitlines() == ["hp-pure 2.0: hello from hp-pure 2.0", "args: x"]


def test_pip_builds_sdists_offline(env: dict[str, str], tmp_path: Path) -> None:
    python = helpers.make_venv(tmp_path / "venv", sys.executable, env=env, packages=[])
    proc = helpers.run(
        [python, "-m", "pip", "install", "-v", "--no-binary", "hp-native", "hp-sdist-only", "hp-native"],
        env=env,
    )
    assert "hp_sdist_only-1.0.tar.gz" in proc.stdout and "hp_native-1.0.tar.gz" in proc.stdout
    code = "import hp_native, hp_sdist_only; print(hp_sdist_only.hello(), hp_native.answer())"
    assert (
        helpers.run([python, "-c", code], env=env).stdout.strip() == "hp-sdist-only 1.0 (built from sdist) 42"
    )


def test_hatch_builds_from_the_loopback_index(env: dict[str, str], tmp_path: Path) -> None:
    """hatch creates its build environment (hatchling + hatch-pex, with uv) from the loopback index."""
    app = helpers.copy_fixture_app("demo-app", tmp_path)
    helpers.hatch_build(app, env=env, target="wheel")
    assert [p.name for p in helpers.built_artifacts(app, ".whl")] == ["demo_app-0.1.0-py3-none-any.whl"]
    # The build environment got the hatch-pex wheel this session built, not anything else.
    data_dir = Path(env["HATCH_DATA_DIR"])
    installed = sorted(p.name for p in data_dir.rglob("hatch_pex_builder-*.dist-info"))
    assert installed == ["hatch_pex_builder-0.1.0.dist-info"]


def test_users_install_the_plugin_as_hatch_pex_builder(env: dict[str, str], tmp_path: Path) -> None:
    """A project whose [build-system].requires names `hatch-pex-builder` gets this session's wheel of
    the plugin from the index and builds its .pex with `hatch build -t pex`, as after the release."""
    app = helpers.copy_fixture_app("no-scripts-app", tmp_path)
    assert 'requires = ["hatchling", "hatch-pex-builder"]' in (app / "pyproject.toml").read_text()
    build = helpers.hatch_build(app, env=env)
    assert "left out" not in build.stdout + build.stderr, helpers.describe(build)
    [pex] = helpers.built_artifacts(app)
    assert helpers.pex_info(pex)["hatch_pex_version"] == "0.1.0"
    installed = sorted(p.name for p in Path(env["HATCH_DATA_DIR"]).rglob("hatch_pex*.dist-info"))
    assert installed == ["hatch_pex_builder-0.1.0.dist-info"]
    # In the `lowest` env the build environment holds the plugin's dependencies at their lower bounds.
    for name, version in helpers.lowest_pins().items():
        stem = name.replace("-", "_")  # cyclonedx-python-lib: cyclonedx_python_lib-8.0.0.dist-info
        found = {
            Version(p.name[len(stem) + 1 : -len(".dist-info")])
            for p in Path(env["HATCH_DATA_DIR"]).rglob(f"{stem}-*.dist-info")
        }
        if name == "tomli" and not found:
            continue  # only installed below Python 3.11
        assert found == {Version(version)}, (name, version, found)
    out = helpers.run_pex(pex, "-c", "import no_scripts_app, hp_pure; print(hp_pure.__version__)", env=env)
    assert out.returncode == 0 and out.stdout.strip() == "2.0", helpers.describe(out)


def test_hatchling_venv_has_the_plugin(hatchling_venv: Path, env: dict[str, str]) -> None:
    code = (
        "from importlib.metadata import entry_points, version; "
        "print(version('hatch-pex-builder'), sorted(e.name for e in entry_points(group='hatch')))"
    )
    out = helpers.run([hatchling_venv, "-c", code], env=env).stdout
    assert "'pex'" in out


def test_subprocess_path_is_not_the_test_venv(env: dict[str, str]) -> None:
    own_bin = str(Path(sys.executable).parent)
    assert own_bin not in env["PATH"].split(":")


def test_in_tree_backend_copies_are_identical() -> None:
    copies = sorted(helpers.FIXTURE_PACKAGES.glob("*/_backend/hp_backend.py"))
    assert len(copies) == 3
    assert all(filecmp.cmp(copies[0], copy, shallow=False) for copy in copies[1:])


def test_example_app_points_at_this_repository() -> None:
    from hatchling.metadata.core import ProjectMetadata

    root = helpers.FIXTURE_APPS / "example-app"
    metadata: ProjectMetadata[Any] = ProjectMetadata(str(root), None)
    assert metadata.context.format("{root:parent:parent:parent:uri}") == helpers.REPO_ROOT.as_uri()


def test_fixture_app_copy(tmp_path: Path) -> None:
    app = helpers.copy_fixture_app("demo-app", tmp_path)
    assert (app / "pyproject.toml").is_file() and (app / "demo_app" / "cli.py").is_file()
    assert app.parent == tmp_path


def test_interpreter_discovery_without_pyenv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Without pyenv, python3.X found on PATH is used, once running it confirms the version."""
    monkeypatch.setattr(helpers, "_pyenv_candidates", lambda version: [])
    version = "{}.{}".format(*sys.version_info[:2])
    (tmp_path / f"python{version}").symlink_to(sys.executable)
    (tmp_path / "python3.99").symlink_to(sys.executable)  # claims a version it does not have
    monkeypatch.setenv("PATH", str(tmp_path))
    found = helpers.find_interpreters([version, "3.99"])
    assert list(found) == [version]
    assert helpers.run([found[version], "-c", "print(1)"], env={}).stdout.strip() == "1"
