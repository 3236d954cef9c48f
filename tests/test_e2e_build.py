"""End to end: the real `hatch build -t pex` against the loopback index, then the .pex run for real."""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
import zipfile
from pathlib import Path

import helpers
import pytest
from helpers import configure, pex_info


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, index_url: str, uv_cache: Path) -> dict[str, Path]:
    """demo-app built once for this module: {"demo": path, "demo-echo": path}."""
    base = tmp_path_factory.mktemp("demo-build")
    project = helpers.copy_fixture_app("demo-app", base)
    helpers.hatch_build(project, env=helpers.make_env(index_url, base / ".home", uv_cache=uv_cache))
    built = helpers.built_artifacts(project)
    assert [p.name for p in built] == ["demo-0.1.0.pex", "demo-echo-0.1.0.pex"]
    return {"demo": built[0], "demo-echo": built[1]}


def test_layout_and_metadata(demo: dict[str, Path]) -> None:
    pex = demo["demo"]
    assert pex.read_bytes().startswith(b"#!/usr/bin/env python3\n")
    assert os.stat(pex).st_mode & 0o777 == 0o755
    info = pex_info(pex)
    assert info["entry_point"] == "demo_app.cli:main"
    assert info["script"] == "demo"
    # Every version hp-native has a wheel for; the constraints narrowed to what the file serves.
    served = info["python_versions"]
    assert isinstance(served, list) and served[0] == "3.9" and {"3.11", "3.12", "3.13"} <= set(served)
    last_minor = int(served[-1].split(".")[1])
    assert info["interpreter_constraints"] == [f"<3.{last_minor + 1},>=3.9"]
    assert info["inherit_path"] == "false"
    distributions = info["distributions"]
    assert isinstance(distributions, dict)
    names = sorted({name.split("-")[0] for name in distributions})
    assert names == ["demo_app", "hp_native", "hp_pure"]
    natives = sorted(name.split("-")[2] for name in distributions if name.startswith("hp_native-"))
    assert natives == sorted("cp" + v.replace(".", "") for v in served)
    with zipfile.ZipFile(pex) as archive:
        for filename, digest in distributions.items():
            assert hashlib.sha256(archive.read(f".deps/{filename}")).hexdigest() == digest
        members = archive.namelist()
    assert "__main__.py" in members
    assert any(m.startswith(".bootstrap/_hatch_pex_boot/") for m in members)
    assert info["pex_hash"] != pex_info(demo["demo-echo"])["pex_hash"]


def test_demo_runs_under_every_python(
    demo: dict[str, Path], interpreter: Path, interpreters: dict[str, Path], env: dict[str, str]
) -> None:
    """argv, exit code and native code pass through; every CPython runs the file natively, with the
    native wheel built for it (no re-exec, whatever interpreter ran the build)."""
    result = helpers.run_pex(demo["demo"], "a", "b c", "--exit", "3", python=interpreter, env=env)
    assert result.returncode == 3, helpers.describe(result)
    report = helpers.parse_demo_output(result.stdout)
    assert report["argv"] == [str(demo["demo"]), "a", "b c", "--exit", "3"]
    assert report["native"] == 42
    assert report["executable"] == str(interpreter)
    [version] = [v for v, path in interpreters.items() if path == interpreter]
    assert report["native_built_for"] == report["python"] == version
    assert report["hp_pure"] == "2.0"
    assert report["hp_pure_greeting"]
    assert str(report["demo_app_file"]).startswith(env["PEX_ROOT"])


def test_stdin_and_stdout_pass_through(demo: dict[str, Path], env: dict[str, str]) -> None:
    text = "line one\nline two ünïcode\n" * 200
    result = helpers.run_pex(demo["demo-echo"], input=text, env=env)
    assert result.returncode == 0, helpers.describe(result)
    assert result.stdout == text


def test_uncaught_exception_gives_traceback_and_exit_1(demo: dict[str, Path], env: dict[str, str]) -> None:
    result = helpers.run_pex(demo["demo"], "--exit", "not-a-number", env=env)
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "ValueError: invalid literal for int()" in result.stderr


def test_sixteen_simultaneous_first_starts(
    demo: dict[str, Path], env: dict[str, str], tmp_path: Path
) -> None:
    root = tmp_path / "empty-root"
    env = {**env, "PEX_ROOT": str(root)}
    processes = [
        subprocess.Popen(
            [str(demo["demo"]), str(n)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(16)
    ]
    for n, process in enumerate(processes):
        stdout, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr
        report = helpers.parse_demo_output(stdout)
        assert report["argv"][1:] == [str(n)]  # type: ignore[index]
        assert report["native"] == 42
    entries = sorted(p.name for p in (root / "installs").iterdir())
    info = pex_info(demo["demo"])
    version = str(report["python"])
    [wheels] = [w for p, w in info["platform_distributions"].items() if f"-cp-{version}-" in p]  # type: ignore[union-attr]
    assert entries == sorted(info["distributions"][w] for w in wheels)  # type: ignore[index]
    leftovers = list((root / "tmp").iterdir()) if (root / "tmp").exists() else []
    assert leftovers == []


def test_interpreter_pex_under_every_python(
    tmp_path: Path, env: dict[str, str], interpreters: dict[str, Path]
) -> None:
    project = helpers.copy_fixture_app("no-scripts-app", tmp_path)
    helpers.hatch_build(project, env=env)
    [pex] = helpers.built_artifacts(project)
    assert pex.name == "no-scripts-app-0.1.0.pex"
    assert pex_info(pex)["entry_point"] is None
    script = tmp_path / "script.py"
    script.write_text("import sys, hp_pure\nprint('script', hp_pure.__version__, sys.argv[1:])\n")
    for version, python in interpreters.items():
        code = "import sys, hp_pure, no_scripts_app; print(sys.version_info[:2], hp_pure.__version__, sys.argv[1:])"
        result = helpers.run_pex(pex, "-c", code, "x", python=python, env=env)
        assert result.returncode == 0, helpers.describe(result)
        major, minor = version.split(".")
        assert result.stdout.strip() == f"({major}, {minor}) 2.0 ['x']"
        result = helpers.run_pex(pex, str(script), "y", python=python, env=env)
        assert result.stdout.strip() == "script 2.0 ['y']", helpers.describe(result)
    result = helpers.run_pex(pex, "-m", "no_scripts_app", "z", env=env)
    assert result.stdout.strip() == "no-scripts-app 0.1.0 using hp-pure 2.0 ['z']", helpers.describe(result)
    result = helpers.run_pex(pex, "-", input="import hp_pure; print('stdin', hp_pure.__version__)\n", env=env)
    assert result.stdout.strip() == "stdin 2.0", helpers.describe(result)
    repl = helpers.run_pex(pex, input="import hp_pure\nprint('repl', hp_pure.__version__)\n", env=env)
    assert "repl 2.0" in repl.stdout, helpers.describe(repl)


def test_two_builds_are_byte_identical(tmp_path: Path, env: dict[str, str]) -> None:
    digests = []
    for name in ("first", "second"):
        project = helpers.copy_fixture_app("demo-app", tmp_path / name)
        for path in project.rglob("*.py"):  # different mtimes on disk, and a later wall clock
            os.utime(path, (time.time() + len(digests) * 1000, time.time() + len(digests) * 1000))
        helpers.hatch_build(project, env=env)
        digests.append([sha256(p) for p in helpers.built_artifacts(project)])
        time.sleep(1.1)
    assert digests[0] == digests[1]


def test_source_date_epoch_sets_timestamps(tmp_path: Path, env: dict[str, str]) -> None:
    project = helpers.copy_fixture_app("no-scripts-app", tmp_path)
    helpers.hatch_build(project, env={**env, "SOURCE_DATE_EPOCH": "1700000000"})
    [pex] = helpers.built_artifacts(project)
    with zipfile.ZipFile(pex) as archive:
        assert {info.date_time for info in archive.infolist()} == {(2023, 11, 14, 22, 13, 20)}


def test_entry_point_module_and_script_keys(tmp_path: Path, env: dict[str, str]) -> None:
    cases = {
        'entry-point = "demo_app.cli:echo"': ("demo-app-0.1.0.pex", "echo-me"),
        'module = "demo_app.cli"': ("demo-app-0.1.0.pex", '"native": 42'),
        'script = "demo-echo"': ("demo-echo-0.1.0.pex", "echo-me"),
        'scripts = ["demo-echo"]\noutput-name = "{script}-v{version}-linux"': (
            "demo-echo-v0.1.0-linux.pex",
            "echo-me",
        ),
    }
    for number, (table, (name, expected)) in enumerate(cases.items()):
        project = helpers.copy_fixture_app("demo-app", tmp_path / str(number))
        configure(project, table)
        helpers.hatch_build(project, env=env)
        assert [p.name for p in helpers.built_artifacts(project)] == [name]
        result = helpers.run_pex(project / "dist" / name, input="echo-me", env=env)
        assert result.returncode == 0, helpers.describe(result)
        assert expected in result.stdout


def test_features_requirements_env_and_files(tmp_path: Path, env: dict[str, str]) -> None:
    project = helpers.copy_fixture_app("no-scripts-app", tmp_path)
    (project / "requirements.txt").write_text("hp-sdist-only\n")
    (project / "constraints.txt").write_text("hp-pure<2\n")
    configure(
        project,
        'requirements = ["hp-requires-pure[fast]"]\n'
        'requirements-files = ["requirements.txt"]\n'
        'constraints-files = ["constraints.txt"]\n'
        'env = { HP_GREETING = "from-pex" }',
    )
    helpers.hatch_build(project, env=env)
    [pex] = helpers.built_artifacts(project)
    names = sorted({n.split("-")[0] for n in pex_info(pex)["distributions"]})  # type: ignore[union-attr]
    assert names == ["hp_native", "hp_pure", "hp_requires_pure", "hp_sdist_only", "no_scripts_app"]
    code = (
        "import os, hp_pure, hp_native, hp_sdist_only, importlib.metadata as md;"
        "print(hp_pure.__version__, hp_native.answer(), md.version('hp-sdist-only'), os.environ['HP_GREETING'])"
    )
    result = helpers.run_pex(pex, "-c", code, env=env)
    assert result.stdout.split() == ["1.0", "42", "1.0", "from-pex"], helpers.describe(result)
    result = helpers.run_pex(
        pex, "-c", "import os; print(os.environ['HP_GREETING'])", env={**env, "HP_GREETING": "mine"}
    )
    assert result.stdout.strip() == "mine"


def test_base_interpreter_packages_do_not_leak(
    tmp_path: Path, env: dict[str, str], interpreters: dict[str, Path]
) -> None:
    """The pex's own certifi wins over one a .pth imported at start-up; site-packages stay out
    unless inherit-path says otherwise."""
    project = helpers.copy_fixture_app("no-scripts-app", tmp_path)
    configure(project, 'requirements = ["certifi==9999.0"]')
    helpers.hatch_build(project, env=env)
    [pex] = helpers.built_artifacts(project)
    python = interpreters["3.11"]
    site_packages = helpers.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], env=env
    )
    purelib = site_packages.stdout.strip()
    code = f"import sys, certifi; print(certifi.where()); print(any(p.startswith({purelib!r}) for p in sys.path))"
    result = helpers.run_pex(pex, "-c", code, python=python, env=env)
    assert result.returncode == 0, helpers.describe(result)
    assert result.stdout.split() == ["hatch-pex-fixture-certifi-9999", "False"]
    # PEX_INHERIT_PATH=fallback brings the base site-packages back, after the pex's own.
    result = helpers.run_pex(pex, "-c", code, python=python, env={**env, "PEX_INHERIT_PATH": "fallback"})
    assert result.stdout.split() == ["hatch-pex-fixture-certifi-9999", "True"], helpers.describe(result)


def test_python_m_hatchling_and_target_dependencies(
    tmp_path: Path, env: dict[str, str], hatchling_venv: Path
) -> None:
    """The plugin works from [build-system].requires, from the target's own dependencies, and
    through `python -m hatchling build -t pex`."""
    project = helpers.copy_fixture_app("no-scripts-app", tmp_path / "target-deps")
    text = (
        (project / "pyproject.toml")
        .read_text()
        .replace('requires = ["hatchling", "hatch-pex-builder"]', 'requires = ["hatchling"]')
    )
    (project / "pyproject.toml").write_text(text)
    configure(project, 'dependencies = ["hatch-pex-builder"]')
    helpers.hatch_build(project, env=env)
    [pex] = helpers.built_artifacts(project)
    assert (
        helpers.run_pex(pex, "-c", "import hp_pure; print(hp_pure.__version__)", env=env).stdout.strip()
        == "2.0"
    )

    project = helpers.copy_fixture_app("no-scripts-app", tmp_path / "hatchling")
    helpers.run([hatchling_venv, "-m", "hatchling", "build", "-t", "pex"], env=env, cwd=project)
    [pex] = helpers.built_artifacts(project)
    assert (
        helpers.run_pex(pex, "-c", "import hp_pure; print(hp_pure.__version__)", env=env).stdout.strip()
        == "2.0"
    )


def test_clean_removes_only_what_it_built(tmp_path: Path, env: dict[str, str]) -> None:
    project = helpers.copy_fixture_app("no-scripts-app", tmp_path)
    helpers.hatch_build(project, env=env)
    keep = [project / "dist" / "other.pex", project / "dist" / "notes.txt"]
    keep[0].write_bytes(b"#!/bin/sh\nnot ours\n")
    keep[1].write_text("keep me")
    helpers.hatch_build(project, env=env, target="wheel")
    helpers.run([*helpers.hatch_command(), "clean", "-t", "pex"], env=env, cwd=project)
    remaining = sorted(p.name for p in (project / "dist").iterdir())
    assert remaining == ["no_scripts_app-0.1.0-py3-none-any.whl", "notes.txt", "other.pex"]
