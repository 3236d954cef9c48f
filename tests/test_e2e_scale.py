"""A .pex past 4 GiB: its closure holds a wheel (written here, served through find-links) with one
stored member just over 4 GiB. Built by the real `hatch build -t pex`, it must start under Python 3.9,
whose zipimport reads no ZIP64 records, and 3.13, whose zipimport does; and the first start must
unpack it with flat memory: the anonymous memory of the start and of the extractor it forks (its process
group) is sampled from /proc while they run (peak RSS would also count the page-cache pages of the files
they write).

Disk: about 13 GB at the peak (the wheel, pip's and the build cache's copies, the .pex, one cache
entry), all removed afterwards; time: disk speed and sha256, no deflate."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest
from helpers import built_artifacts, configure, hatch_build, pex_info

BLOB = "hp_huge/blob.bin"
BLOB_SIZE = (4 << 30) + 65537  # just over 4 GiB: ZIP64 sizes in the wheel, ZIP64 offsets in the .pex
HEAD, TAIL = b"HP-HUGE-HEAD", b"HP-HUGE-TAIL"
ANONYMOUS_LIMIT_KIB = 128 * 1024

HUGE_INIT = f"""\
import json, os

def report():
    path = os.path.join(os.path.dirname(__file__), "blob.bin")
    with open(path, "rb") as blob:
        head = blob.read({len(HEAD)})
        blob.seek(-{len(TAIL)}, 2)
        tail = blob.read()
    return {{"size": os.path.getsize(path), "head": head.decode(), "tail": tail.decode()}}
"""

APP_MAIN = """\
import json, sys
import hp_huge

def main():
    report = hp_huge.report()
    report["python"] = "%d.%d" % sys.version_info[:2]
    print(json.dumps(report))
"""


def write_huge_wheel(directory: Path) -> Path:
    """hp_huge-1.0-py3-none-any.whl with BLOB stored: HEAD, zeros, TAIL (RECORD without hashes: only
    its names matter to resolving and installing here)."""
    wheel = directory / "hp_huge-1.0-py3-none-any.whl"
    dist_info = "hp_huge-1.0.dist-info"
    small = {
        "hp_huge/__init__.py": HUGE_INIT,
        f"{dist_info}/METADATA": "Metadata-Version: 2.1\nName: hp-huge\nVersion: 1.0\n",
        f"{dist_info}/WHEEL": "Wheel-Version: 1.0\nGenerator: hatch-pex tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, text in small.items():
            archive.writestr(name, text, zipfile.ZIP_DEFLATED)
        info = zipfile.ZipInfo(BLOB, date_time=(2020, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_STORED
        info.file_size = BLOB_SIZE
        zeros = bytes(8 << 20)
        with archive.open(info, "w", force_zip64=True) as target:
            target.write(HEAD)
            left = BLOB_SIZE - len(HEAD) - len(TAIL)
            while left:
                left -= target.write(zeros[: min(left, len(zeros))])
            target.write(TAIL)
        record = [*small, BLOB, f"{dist_info}/RECORD"]
        archive.writestr(f"{dist_info}/RECORD", "".join(f"{name},,\n" for name in record))
    return wheel


def group_anonymous_kib(group: int) -> int:
    """The anonymous memory (RssAnon, KiB) of every process in process group `group`, summed: the
    start and the extractor it forks beside the application (overlap.py), which leaves the start's
    process tree but not its group."""
    total = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as stat:
                fields = stat.read().rpartition(b")")[2].split()
            if int(fields[2]) != group:  # state, ppid, pgrp
                continue
            with open(f"/proc/{name}/status") as status:
                total += next((int(line.split()[1]) for line in status if line.startswith("RssAnon:")), 0)
        except (OSError, IndexError, ValueError):
            pass
    return total


def start_sampling(cmd: list[str], env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], int]:
    """Runs cmd in a process group of its own; returns its result and the peak of the group's anonymous
    memory (KiB), sampled every 5 ms from /proc."""
    proc = subprocess.Popen(
        cmd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, group_anonymous_kib(proc.pid))
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        stdout, stderr = proc.communicate(timeout=900)
    finally:
        done.set()
        sampler.join()
    return subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr), peak


@pytest.fixture(scope="module")
def huge_pex(tmp_path_factory: pytest.TempPathFactory, index_url: str, uv_cache: Path) -> Path:
    import helpers

    base = tmp_path_factory.mktemp("huge")
    if shutil.disk_usage(base).free < 16 << 30:
        pytest.fail(f"the 4 GiB test needs 16 GB free under {base}")
    wheels = base / "wheels"
    wheels.mkdir()
    write_huge_wheel(wheels)
    project = base / "huge-app"
    (project / "huge_app").mkdir(parents=True)
    (project / "huge_app" / "__init__.py").write_text(APP_MAIN)
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["hatchling", "hatch-pex-builder"]\nbuild-backend = "hatchling.build"\n\n'
        '[project]\nname = "huge-app"\nversion = "1.0"\nrequires-python = ">=3.9"\ndependencies = ["hp-huge"]\n'
        '\n[project.scripts]\nhuge-app = "huge_app:main"\n'
    )
    configure(project, f'script = "huge-app"\nfind-links = ["{wheels}"]\npython-versions = ["3.9", "3.13"]')
    env = helpers.make_env(index_url, base / ".home", uv_cache=uv_cache)
    try:
        hatch_build(project, env=env, timeout=1800)
        (pex,) = built_artifacts(project)
        yield pex
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_the_file_is_past_4_gib_and_zipfile_reads_every_member(huge_pex: Path) -> None:
    assert huge_pex.stat().st_size > 4 << 30
    with zipfile.ZipFile(huge_pex) as archive:
        infos = {info.filename: info for info in archive.infolist()}
        assert json.loads(archive.read("PEX-INFO")) == pex_info(huge_pex)
    wheel = infos[".deps/hp_huge-1.0-py3-none-any.whl"]
    assert wheel.compress_type == zipfile.ZIP_STORED and wheel.file_size > 4 << 30
    # The runtime's members come last, within 32-bit reach of each other (docs/format.md).
    runtime = [info for name, info in infos.items() if not name.startswith(".deps/")]
    assert min(info.header_offset for info in runtime) > wheel.header_offset + wheel.file_size
    assert "__main__.py" in infos and "PEX-INFO" in infos
    if shutil.which("unzip"):
        listing = subprocess.run(["unzip", "-l", str(huge_pex)], capture_output=True, text=True).stdout
        assert "__main__.py" in listing and "hp_huge-1.0" not in listing  # what docs/format.md says


@pytest.mark.parametrize("version", ["3.9", "3.13"])
def test_starts_under_python_with_flat_memory(
    huge_pex: Path, version: str, interpreters: dict[str, Path], env: dict[str, str], tmp_path: Path
) -> None:
    python = interpreters.get(version)
    if python is None:
        pytest.skip(f"no Python {version} here")
    root = tmp_path / "pex-root"
    run_env = {**env, "PEX_ROOT": str(root), "PEX_VERBOSE": "1"}
    try:
        result, anonymous = start_sampling([str(python), str(huge_pex)], run_env)
        assert result.returncode == 0, result.stderr[-3000:]
        report = json.loads(result.stdout.strip().splitlines()[-1])
        assert report == {"size": BLOB_SIZE, "head": HEAD.decode(), "tail": TAIL.decode(), "python": version}
        assert "re-exec" not in result.stderr  # started natively
        print(f"first start under {version}: peak anonymous memory {anonymous} KiB")  # shown by -rP
        assert 0 < anonymous < ANONYMOUS_LIMIT_KIB, f"first start used {anonymous} KiB of anonymous memory"
        warm, _ = start_sampling([str(python), str(huge_pex)], run_env)
        assert warm.returncode == 0 and json.loads(warm.stdout.strip().splitlines()[-1]) == report
    finally:
        shutil.rmtree(root, ignore_errors=True)


# ------------------------------------------------------------------------------ wheels deflated again


@pytest.fixture(scope="module")
def deflated(tmp_path_factory: pytest.TempPathFactory, index_url: str, uv_cache: Path) -> Path:
    """demo-app built with `compression = 6`: its wheels deflated once more inside the .pex."""
    import helpers

    base = tmp_path_factory.mktemp("deflated")
    project = helpers.copy_fixture_app("demo-app", base)
    configure(project, f'compression = 6\npython-versions = ["{sys.version_info[0]}.{sys.version_info[1]}"]')
    hatch_build(project, env=helpers.make_env(index_url, base / ".home", uv_cache=uv_cache))
    return next(p for p in built_artifacts(project) if p.name.startswith("demo-0"))


def test_deflated_wheels_start_and_extract(deflated: Path, env: dict[str, str], tmp_path: Path) -> None:
    """With `compression` set, each wheel is inflated into an unnamed scratch file on a first start
    (and by the tools), then read in place as a stored one is."""
    import helpers

    with zipfile.ZipFile(deflated) as archive:
        wheels = [info for info in archive.infolist() if info.filename.startswith(".deps/")]
        assert wheels and all(info.compress_type == zipfile.ZIP_DEFLATED for info in wheels)
        runtime = archive.getinfo(".bootstrap/_hatch_pex_boot/__init__.py")
        assert runtime.compress_type == zipfile.ZIP_STORED  # what every warm start reads
    root = tmp_path / "root"
    run_env = {**env, "PEX_ROOT": str(root)}
    python = sys.executable
    first = helpers.run_pex(deflated, "a", "--exit", "3", python=python, env=run_env)
    assert first.returncode == 3, first.stderr
    assert helpers.parse_demo_output(first.stdout)["native"] == 42
    assert os.listdir(root / "tmp") == []  # no scratch file left behind
    tools = {**env, "PEX_TOOLS": "1"}
    dest = tmp_path / "extracted"
    helpers.run_pex(deflated, "extract", str(dest), python=python, env=tools, check=True)
    for name, sha in pex_info(deflated)["distributions"].items():  # type: ignore[union-attr]
        assert hashlib.sha256((dest / name).read_bytes()).hexdigest() == sha
    venv = tmp_path / "venv"
    helpers.run_pex(deflated, "venv", str(venv), python=python, env=tools, check=True)
    again = helpers.run([str(venv / "bin" / "demo"), "b"], env=env, check=True)
    assert helpers.parse_demo_output(again.stdout)["native"] == 42
