"""Index credentials stay secret: never on any process's command line (/proc/<pid>/cmdline, which
every local user can read), never in the output, whatever characters the password holds.

A thread of the test process reads the command line of every process on the machine, pass after
pass (a pause of 2 ms between passes), while the real `hatch build -t pex` runs against a loopback
index that needs basic auth. The builds take the paths that used to put the index URL, with its
credentials, on a command line: pip run natively by another Python's interpreter (a subprocess), pip's
own build-isolation subprocess (`pip install ... -i <index>` for an sdist's build requirements), and
`uv pip compile`.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import helpers
import pytest
from helpers import configure, pex_info

USER = "deployer"
# '@' and '/' in the password; each fragment between them is long enough to be recognised anywhere.
PASSWORD = "Kq7Zv@wX3rJ/pL9sT"
WRONG_PASSWORD = "Wr0ngZ@yQ8dF/hN4cV"
OWN_VERSION = f"{sys.version_info[0]}.{sys.version_info[1]}"  # hatch's build environment runs this Python


def secret_forms(password: str) -> list[str]:
    """Every form in which a password, or a part of it, could show: raw, percent-encoded, and each
    piece between its '@' and '/'."""
    pieces = password.replace("@", "/").split("/")
    return sorted({password, quote(password, safe=""), quote(password, safe="@"), *pieces})


def url_with(index: helpers.TestIndex, password: str) -> str:
    """The index URL with credentials, written as pip needs it: '/' percent-encoded, '@' as it is
    (the user-info ends at the last '@' of the network location)."""
    return index.url_with(USER, quote(password, safe="@"))


def make_sdist(directory: Path) -> Path:
    """hp-cred-build 1.0 as an sdist only, built by hatchling: pip must build it, and installs
    hatchling from the index for that in a subprocess of its own (build isolation)."""
    files = {
        "pyproject.toml": (
            '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n\n'
            '[project]\nname = "hp-cred-build"\nversion = "1.0"\n\n'
            '[tool.hatch.build.targets.wheel]\npackages = ["hp_cred_build"]\n'
        ),
        "hp_cred_build/__init__.py": "VALUE = 'built from an sdist'\n",
        "PKG-INFO": "Metadata-Version: 2.1\nName: hp-cred-build\nVersion: 1.0\n",
    }
    path = directory / "hp_cred_build-1.0.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"hp_cred_build-1.0/{name}")
            info.size, info.mtime, info.mode = len(data), 315532800, 0o644
            archive.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture(scope="module")
def secret_index(
    tmp_path_factory: pytest.TempPathFactory, test_index: helpers.TestIndex
) -> Iterator[helpers.TestIndex]:
    """A pypiserver that needs basic auth (PASSWORD), serving the session's packages and the toolchain
    plus hp-cred-build's sdist."""
    base = tmp_path_factory.mktemp("secret-index")
    own = base / "own"
    own.mkdir()
    make_sdist(own)
    with helpers.second_index(own, test_index, base, (USER, PASSWORD)) as index:
        yield index


class ProcessWatch(threading.Thread):
    """Reads /proc/*/cmdline of every process, pass after pass, until stopped; keeps the command
    lines holding a secret (`leaks`) or the index's address (`seen`), and the modes of the netrc
    files hatch-pex writes under `scratch` (the build's TMPDIR)."""

    def __init__(self, secrets: list[str], address: str, scratch: Path) -> None:
        super().__init__(daemon=True)
        self.secrets = [s.encode() for s in secrets]
        self.address = address.encode()
        self.scratch = scratch
        self.leaks: set[str] = set()
        self.seen: set[str] = set()
        self.netrc_modes: set[tuple[int, int]] = set()
        self.passes = 0
        self.longest_pass = 0.0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            began = time.monotonic()
            for entry in os.scandir("/proc"):
                if not entry.name.isdigit():
                    continue
                try:
                    with open(f"/proc/{entry.name}/cmdline", "rb") as stream:
                        command = stream.read()
                except OSError:  # gone already
                    continue
                if any(secret in command for secret in self.secrets):
                    self.leaks.add(command.replace(b"\0", b" ").decode(errors="replace"))
                if self.address in command:
                    self.seen.add(command.replace(b"\0", b" ").decode(errors="replace"))
            for directory in self.scratch.glob("hatch-pex-netrc-*"):
                with contextlib.suppress(OSError):  # the build is removing it
                    modes = (directory.stat().st_mode & 0o777, (directory / "netrc").stat().st_mode & 0o777)
                    self.netrc_modes.add(modes)
            self.passes += 1
            self.longest_pass = max(self.longest_pass, time.monotonic() - began)
            time.sleep(0.002)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=30)


def watched_build(
    project: Path, env: dict[str, str], index: helpers.TestIndex, *args: str, target: str | None = "pex"
) -> ProcessWatch:
    """`hatch build` (TMPDIR private to the test) while a ProcessWatch runs; no command line may
    hold any form of PASSWORD, and the netrc files must be gone afterwards."""
    scratch = project.parent / "tmp"
    scratch.mkdir(exist_ok=True)
    watch = ProcessWatch(secret_forms(PASSWORD), f"127.0.0.1:{index.port}", scratch)
    watch.start()
    try:
        result = helpers.hatch_build(project, *args, env={**env, "TMPDIR": str(scratch)}, target=target)
    finally:
        watch.stop()
    output = result.stdout + result.stderr
    assert not watch.leaks, "\n".join(sorted(watch.leaks))
    assert watch.passes > 100, watch.passes
    for secret in secret_forms(PASSWORD):
        assert secret not in output
    assert watch.netrc_modes == {(0o700, 0o600)}, watch.netrc_modes  # written, private
    assert not list(scratch.glob("hatch-pex-netrc-*"))  # removed when the build ended
    return watch


def other_version(interpreters: dict[str, Path]) -> str:
    others = [v for v in interpreters if v != OWN_VERSION]
    if OWN_VERSION not in interpreters or not others:
        pytest.skip("needs the build interpreter's Python and another one")
    return others[0]  # the oldest: its own, older pip and netrc reader


def run_everywhere(pex: Path, pythons: list[Path], env: dict[str, str]) -> None:
    code = "import hp_cred_build, hp_sdist_only, hp_pure; print(hp_cred_build.VALUE)"
    for python in pythons:
        result = helpers.run_pex(pex, "-c", code, python=python, env=env)
        assert result.returncode == 0, helpers.describe(result)
        assert result.stdout.strip() == "built from an sdist", helpers.describe(result)


def credentials_app(tmp_path: Path, index: helpers.TestIndex, table: str) -> Path:
    project = helpers.copy_fixture_app("no-scripts-app", tmp_path)
    configure(
        project,
        f'index-url = "{url_with(index, PASSWORD)}"\nrequirements = ["hp-cred-build", "hp-sdist-only"]\n{table}',
    )
    return project


def uv_env(env: dict[str, str]) -> dict[str, str]:
    """`env` without UV_DEFAULT_INDEX: uv 0.13 lets that variable beat `--index-url` on its command
    line (UV_INDEX_URL, which hatch's own uv uses, it does not)."""
    return {k: v for k, v in env.items() if k != "UV_DEFAULT_INDEX"}


def pip_command_lines(watch: ProcessWatch) -> list[str]:
    """pip's processes that name the index: `python -m pip ...`, and those pip starts itself
    (`python .../pip/__pip-runner__.py install ...`, its build isolation). The pip servers hatch-pex runs
    take their arguments on stdin: they never name it on a command line."""
    return [c for c in watch.seen if " pip " in f" {c} " or "-m pip" in c or "__pip-runner__" in c]


def build_isolation_seen(watch: ProcessWatch) -> bool:
    """Whether pip's build-isolation subprocess (`pip install --prefix ... -i <index> -- hatchling`),
    which is given the index URL, was among the command lines watched."""
    return any(" install " in c and "--prefix" in c and "hatchling" in c for c in watch.seen)


def test_pip_resolver_keeps_credentials_off_every_command_line(
    tmp_path: Path, env: dict[str, str], secret_index: helpers.TestIndex, interpreters: dict[str, Path]
) -> None:
    """The build interpreter's pip servers, the other version's pip server (its interpreter: its sdists
    cannot be built on its behalf), and pip's build-isolation `pip install -i <index> hatchling`."""
    other = other_version(interpreters)
    project = credentials_app(tmp_path, secret_index, f'python-versions = ["{OWN_VERSION}", "{other}"]')
    watch = watched_build(project, env, secret_index)
    commands = pip_command_lines(watch)
    # What was watched: pip's build-isolation subprocess, under the other version's interpreter too.
    assert any(c.startswith(str(interpreters[other])) or f"python{other}" in c for c in commands), commands
    assert build_isolation_seen(watch), watch.seen
    assert all(f"{USER}:" not in c and f"{USER}%" not in c for c in watch.seen)
    [pex] = helpers.built_artifacts(project)
    assert pex_info(pex)["python_versions"] == sorted(
        [OWN_VERSION, other], key=lambda v: int(v.split(".")[1])
    )
    run_everywhere(pex, [interpreters[OWN_VERSION], interpreters[other]], env)


def test_uv_resolver_keeps_credentials_off_every_command_line(
    tmp_path: Path, env: dict[str, str], secret_index: helpers.TestIndex, interpreters: dict[str, Path]
) -> None:
    if OWN_VERSION not in interpreters:
        pytest.skip(f"no Python {OWN_VERSION}")
    project = credentials_app(tmp_path, secret_index, f'resolver = "uv"\npython-versions = ["{OWN_VERSION}"]')
    watch = watched_build(project, uv_env(env), secret_index)
    assert any(" pip compile " in c for c in watch.seen), watch.seen  # uv was watched
    [pex] = helpers.built_artifacts(project)
    run_everywhere(pex, [interpreters[OWN_VERSION]], env)


def test_lock_and_build_from_it_keep_credentials_off_every_command_line(
    tmp_path: Path, env: dict[str, str], secret_index: helpers.TestIndex, interpreters: dict[str, Path]
) -> None:
    other = other_version(interpreters)
    project = credentials_app(
        tmp_path, secret_index, f'lock = "pylock.toml"\npython-versions = ["{OWN_VERSION}", "{other}"]'
    )
    watched_build(project, env, secret_index, "-t", "pex:lock", target=None)
    lock = (project / "pylock.toml").read_text()
    assert "hp_cred_build-1.0.tar.gz" in lock
    for secret in [*secret_forms(PASSWORD), USER]:
        assert secret not in lock
    watch = watched_build(project, env, secret_index)
    # The sdist, named by its URL in the lock, is built by each version's pip, with build isolation.
    assert build_isolation_seen(watch), watch.seen
    [pex] = helpers.built_artifacts(project)
    run_everywhere(pex, [interpreters[OWN_VERSION], interpreters[other]], env)


@pytest.mark.parametrize("resolver", ["pip", "uv", "pip-unencoded"])
def test_wrong_password_with_at_and_slash_leaves_no_fragment_in_the_output(
    tmp_path: Path, env: dict[str, str], secret_index: helpers.TestIndex, resolver: str
) -> None:
    """A password pip refuses; and one whose '/' is not percent-encoded, which pip would read as
    the end of the host (`http://deployer:Wr0ngZ@yQ8dF/hN4cV@127.0.0.1:...`)."""
    project = helpers.copy_fixture_app("no-scripts-app", tmp_path)
    unencoded = resolver == "pip-unencoded"
    resolver = resolver.partition("-")[0]
    url = secret_index.url_with(USER, WRONG_PASSWORD) if unencoded else url_with(secret_index, WRONG_PASSWORD)
    configure(
        project,
        f'index-url = "{url}"\nresolver = "{resolver}"\n'
        f'requirements = ["hp-cred-build"]\npython-versions = ["{OWN_VERSION}"]',
    )
    result = helpers.hatch_build(project, env={**uv_env(env), "PIP_RETRIES": "1"}, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    for secret in secret_forms(WRONG_PASSWORD):
        assert secret not in output, secret
    if unencoded:  # refused before any pip runs, saying how to write it
        assert "percent-encode" in output, output
        return
    assert f"{resolver} could not resolve the requirements" in output, output
    if resolver == "uv":  # uv says why; pip, quietly refused, finds no version at all
        assert "401" in output or "403" in output or "credentials" in output, output
    else:
        assert "(from versions: none)" in output, output
    assert not (project / "dist").exists() or list((project / "dist").iterdir()) == []
