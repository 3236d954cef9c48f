"""What `hatch build -t pex` prints: the stage lines at the default verbosity (checked against the
file built), pip's and uv's own output at `-v` (never a credential), the file names alone at `-q`,
and a status line while a stage runs on a terminal, never elsewhere."""

from __future__ import annotations

import hashlib
import os
import pty
import re
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import helpers
import pytest
from helpers import configure, pex_info

from hatch_pex.progress import versions_text

OWN_VERSION = f"{sys.version_info[0]}.{sys.version_info[1]}"  # hatch's build environment runs this Python
ESCAPES = ("\r", "\x1b")
TIME = r"\d+(?:ms|\.\d+s)"  # 85ms, 2.31s, 12.4s
STAGE_LINES = ("Building the project wheel", "Built ", "Resolving ", "Resolved ", "Packed ")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def hatch_build_at(
    verbosity: str, project: Path, env: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    """`hatch <verbosity> build -t pex`: -v and -q are options of hatch itself, not of `build`."""
    return helpers.run([*helpers.hatch_command(), verbosity, "build", "-t", "pex", *args], env=env, cwd=project,
                       timeout=helpers.BUILD_TIMEOUT)  # fmt: skip


def output_of(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def builds(
    tmp_path_factory: pytest.TempPathFactory, index_url: str, uv_cache: Path
) -> dict[str, subprocess.CompletedProcess[str] | dict[str, object]]:
    """demo-app built three times in one place: at the default verbosity with a cold build cache,
    then with `-v` and `-q` (warm). The files of the first build are described under "files"."""
    base = tmp_path_factory.mktemp("output")
    project = helpers.copy_fixture_app("demo-app", base)
    env = helpers.make_env(index_url, base / ".home", uv_cache=uv_cache)
    default = helpers.hatch_build(project, env=env)
    files = {p.name: (p.stat().st_size, sha256(p), pex_info(p)) for p in helpers.built_artifacts(project)}
    verbose = hatch_build_at("-v", project, env)
    quiet = hatch_build_at("-q", project, env)
    quietest = hatch_build_at("-qq", project, env)
    return {"default": default, "verbose": verbose, "quiet": quiet, "quietest": quietest, "files": files}


def test_default_verbosity_reports_each_stage(builds: dict) -> None:
    result = builds["default"]
    files: dict[str, tuple[int, str, dict]] = builds["files"]
    lines = result.stderr.splitlines()
    assert sorted(files) == ["demo-0.1.0.pex", "demo-echo-0.1.0.pex"], files

    built = [
        i for i, line in enumerate(lines) if re.fullmatch(rf"Built demo_app-0\.1\.0-\S+\.whl in {TIME}", line)
    ]
    assert len(built) == 1, result.stderr

    # The resolution: as many distributions as the file holds, for the versions it serves.
    info = files["demo-0.1.0.pex"][2]
    versions = versions_text(info["python_versions"])  # "Python 3.9 to 3.13"
    resolved = [
        (i, match)
        for i, line in enumerate(lines)
        if (
            match := re.fullmatch(rf"Resolved (\d+) distributions for (.+) with pip in {TIME} \((.+)\)", line)
        )
    ]
    assert len(resolved) == 1, result.stderr
    position, match = resolved[0]
    assert int(match.group(1)) == len(info["distributions"]) > 3
    assert match.group(2) == versions
    # A cold build cache: the project's wheel is on disk, every other wheel downloaded.
    assert match.group(3) == f"1 on disk, {len(info['distributions']) - 1} downloaded"
    assert built[0] < position

    # One pack line per file, with its real size and sha256, before hatch names the files.
    for name, (size, digest, _) in files.items():
        pattern = (
            rf"Packed {re.escape(name)} in {TIME}: {size / 1e6:.1f} MB \({size} bytes\), sha256 {digest}"
        )
        packed = [i for i, line in enumerate(lines) if re.fullmatch(pattern, line)]
        assert len(packed) == 1, f"{pattern}\n{result.stderr}"
        assert position < packed[0] < lines.index(f"dist{os.sep}{name}")

    # pip's own output only at -v; no status line or escape sequence off a terminal.
    assert "Collecting" not in output_of(result) and "pip (" not in output_of(result)
    assert not [e for e in ESCAPES if e in output_of(result)], repr(output_of(result))


def test_a_warm_build_cache_is_reported(builds: dict) -> None:
    files: dict[str, tuple[int, str, dict]] = builds["files"]
    count = len(files["demo-0.1.0.pex"][2]["distributions"])
    assert f"({count - 1} from the build cache, 1 on disk)" not in builds["verbose"].stderr  # order: ORIGINS
    assert f"(1 on disk, {count - 1} from the build cache)" in builds["verbose"].stderr, builds[
        "verbose"
    ].stderr


def test_verbose_shows_pips_own_output(builds: dict) -> None:
    output = output_of(builds["verbose"])
    info = builds["files"]["demo-0.1.0.pex"][2]
    # Each served version's resolution, in pip's own words, named by the version it is for.
    for version in info["python_versions"]:
        block = [line for line in output.splitlines() if line.startswith(f"  pip (Python {version}): ")]
        assert any("Would install" in line and "hp-pure-2.0" in line for line in block), output
        assert any(line.endswith("Collecting hp-pure") or "Collecting hp-pure" in line for line in block), (
            output
        )
    assert not [e for e in ESCAPES if e in output], repr(output)


def test_quiet_shows_only_the_file_names(builds: dict) -> None:
    """On stdout, after hatch's own header (`──── pex ────`, which hatch prints at -q too), the file
    names; on stderr no stage line (warnings still show at -q, as hatch's own do)."""
    result = builds["quiet"]
    header, *names = result.stdout.splitlines()
    assert re.fullmatch(r"─+ pex ─+", header), result.stdout
    assert names == [f"dist{os.sep}{name}" for name in sorted(builds["files"])]
    assert not [line for line in result.stderr.splitlines() if line.startswith(STAGE_LINES)], result.stderr
    assert "pip (" not in result.stderr
    # At the default verbosity hatch's build names the files on stderr, and stdout has only its header.
    assert [line for line in builds["default"].stdout.splitlines() if line.strip()] == [header]


#: What hatch itself prints at -qq around a build (its target header, its build environment's set-up):
#: docs/getting-started.md names them; the plugin adds nothing.
HATCH_OWN_LINES = (r"─+ pex ─+", "Inspecting build dependencies", "Creating environment: .*", "Checking dependencies",
                   "Syncing dependencies")  # fmt: skip


def test_quietest_prints_nothing_of_its_own(builds: dict) -> None:
    """`hatch -qq build -t pex`: no stage line, no warning (demo-app's default build has some: 3.14 and
    3.15 are left out), no file name; only hatch's own lines."""
    assert "warning" in output_of(builds["default"]), output_of(builds["default"])  # there was one to hide
    result = builds["quietest"]
    lines = [line for line in output_of(result).splitlines() if line.strip()]
    theirs = [line for line in lines if not any(re.fullmatch(own, line) for own in HATCH_OWN_LINES)]
    assert theirs == [], output_of(result)


def test_every_file_written_is_named(tmp_path: Path, env: dict[str, str]) -> None:
    """The SBOM beside each .pex is named as it is written."""
    project = helpers.copy_fixture_app("demo-app", tmp_path)
    configure(project, 'sbom = true\npython-versions = ["3.12"]')
    lines = helpers.hatch_build(project, env=env).stderr.splitlines()
    for name in ("demo-0.1.0.pex", "demo-echo-0.1.0.pex"):
        assert f"Wrote the SBOM {name}.cdx.json" in lines, lines
        assert (project / "dist" / f"{name}.cdx.json").is_file()


def test_a_lock_says_what_it_locked_and_what_changed(tmp_path: Path, env: dict[str, str]) -> None:
    project = helpers.copy_fixture_app("demo-app", tmp_path)
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"hp-pure"', '"hp-pure<2"'))
    configure(project, 'lock = "pylock.toml"\npython-versions = ["3.11", "3.12"]')
    first = helpers.hatch_build(project, env=env, target="pex:lock").stderr.splitlines()
    # hp-pure 1.0, hp-native 1.0 (one release, a wheel per version)
    assert "Locked 2 distributions for Python 3.11 and 3.12 in pylock.toml (a new lock)" in first, first
    pyproject.write_text(pyproject.read_text().replace('"hp-pure<2"', '"hp-pure"'))
    second = helpers.hatch_build(project, env=env, target="pex:lock").stderr.splitlines()
    assert (
        "Locked 2 distributions for Python 3.11 and 3.12 in pylock.toml (1 changed: hp-pure 1.0 -> 2.0)"
        in second
    )
    third = helpers.hatch_build(project, env=env, target="pex:lock").stderr.splitlines()
    assert "Locked 2 distributions for Python 3.11 and 3.12 in pylock.toml (nothing changed)" in third


def test_uv_speaks_at_verbose(tmp_path: Path, env: dict[str, str]) -> None:
    project = helpers.copy_fixture_app("demo-app", tmp_path)
    configure(project, f'resolver = "uv"\npython-versions = ["{OWN_VERSION}"]')
    output = output_of(hatch_build_at("-v", project, env))
    assert re.search(r"^  uv: Resolved \d+ packages in ", output, re.MULTILINE), output
    assert re.search(r"^Resolved 3 distributions for Python \S+ with uv in ", output, re.MULTILINE), output
    assert "  pip (Python" in output  # pip still fetches the files uv chose


def test_wheels_built_from_sdists_are_counted(tmp_path: Path, env: dict[str, str]) -> None:
    """hp-sdist-only exists only as an sdist: pip builds its wheel, and the summary says so."""
    project = helpers.copy_fixture_app("demo-app", tmp_path)
    configure(project, f'requirements = ["hp-sdist-only"]\npython-versions = ["{OWN_VERSION}"]')
    result = helpers.hatch_build(project, env=env)
    [pex, _] = helpers.built_artifacts(project)
    count = len(pex_info(pex)["distributions"])  # type: ignore[arg-type]
    expected = (
        f"Resolved {count} distributions for Python {OWN_VERSION} with pip in {TIME} "
        rf"\(1 on disk, {count - 2} downloaded, 1 built from sdists\)"
    )
    assert re.search(f"^{expected}$", result.stderr, re.MULTILINE), result.stderr


USER, PASSWORD = "deployer", "Kq7Zv@wX3rJ/pL9sT"


@pytest.fixture
def secret_index(tmp_path: Path, test_index: helpers.TestIndex) -> Iterator[helpers.TestIndex]:
    own = tmp_path / "own"
    own.mkdir()
    with helpers.second_index(own, test_index, tmp_path, (USER, PASSWORD)) as index:
        yield index


@pytest.mark.parametrize("resolver", ["pip", "uv"])
def test_verbose_output_holds_no_credential(
    tmp_path: Path, env: dict[str, str], secret_index: helpers.TestIndex, resolver: str
) -> None:
    project = helpers.copy_fixture_app("demo-app", tmp_path)
    url = secret_index.url_with(USER, quote(PASSWORD, safe="@"))
    configure(project, f'index-url = "{url}"\nresolver = "{resolver}"\npython-versions = ["{OWN_VERSION}"]')
    # uv 0.13 lets UV_DEFAULT_INDEX beat --index-url: the index must come from the configuration.
    env = {k: v for k, v in env.items() if k != "UV_DEFAULT_INDEX"}
    output = output_of(hatch_build_at("-vvv", project, env))
    assert "  pip (Python" in output and f"127.0.0.1:{secret_index.port}" in output, output
    pieces = PASSWORD.replace("@", "/").split("/")
    for secret in {PASSWORD, quote(PASSWORD, safe=""), quote(PASSWORD, safe="@"), *pieces}:
        assert secret not in output


def run_in_terminal(command: list[str], *, env: dict[str, str], cwd: Path, timeout: float) -> tuple[int, str]:
    """`command` with a pseudo-terminal as stdin, stdout and stderr: (exit status, all it wrote)."""
    main, child = pty.openpty()
    process = subprocess.Popen(command, stdin=child, stdout=child, stderr=child, env=env, cwd=cwd)
    os.close(child)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([main], [], [], 1.0)
            if not ready:
                if process.poll() is not None:
                    break
                continue
            try:
                data = os.read(main, 65536)
            except OSError:  # EIO: every writer has closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        status = process.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if process.poll() is None:
            process.kill()
        os.close(main)
    return status, b"".join(chunks).decode(errors="replace")


def test_progress_shows_on_a_terminal_only(tmp_path: Path, env: dict[str, str]) -> None:
    """A cold build cache, every version, and an sdist each version's pip builds: the resolution lasts
    well past the status line's first second."""
    project = helpers.copy_fixture_app("demo-app", tmp_path)
    configure(project, 'requirements = ["hp-sdist-only"]')
    terminal_env = {**env, "TERM": "xterm", "COLUMNS": "200", "LINES": "50"}
    command = [*helpers.hatch_command(), "build", "-t", "pex"]
    status, output = run_in_terminal(command, env=terminal_env, cwd=project, timeout=helpers.BUILD_TIMEOUT)
    assert status == 0, output
    frames = re.findall(r"\r\x1b\[K([|/\\-] Resolving with pip[^\r]*)", output)
    assert frames, repr(output)
    # Counts as platforms resolve and wheels arrive (of the versions tried: every one the project admits).
    assert any(re.search(r": .*\d+/\d+ platforms resolved", frame) for frame in frames), frames
    assert any(re.search(r"\d+ wheels downloaded", frame) for frame in frames), frames
    # Cleared before any other line: no line ends on the status.
    for line in output.split("\r\n"):
        assert not re.match(r"[|/\\-] Resolving", line.rpartition("\r\x1b[K")[2]), repr(line)
    assert re.search(r"\r\nResolved \d+ distributions", output), repr(output)
    assert len(helpers.built_artifacts(project)) == 2
