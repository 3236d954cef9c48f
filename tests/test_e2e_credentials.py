"""Index credentials stay secret: never on any process's command line (/proc/<pid>/cmdline, which
every local user can read), never in the output, whatever characters the password holds.

A thread of the test process reads the command line of every process on the machine, pass after
pass (a pause of 2 ms between passes), while the real `hatch build -t pex` runs against a loopback
index that needs basic auth. The builds take the paths that used to put the index URL, with its
credentials, on a command line: pip run natively by another Python's interpreter (a subprocess), pip's
own build-isolation subprocess (`pip install ... -i <index>` for an sdist's build requirements), and
`uv pip compile`.

The netrc file that carries the credentials is an anonymous memory file of the build process where
the platform has one (Linux): builds ended by SIGTERM or SIGKILL, mid-resolution against an index
that never answers, leave no trace of the password on disk. A password with whitespace is read as
pip reads it, and no message shows a piece of it.
"""

from __future__ import annotations

import base64
import contextlib
import http.server
import io
import json
import os
import re
import signal
import subprocess
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
# Whitespace in the password: pip reads the user-info up to the last '@' of the network location.
SPACED_PASSWORD = "Tg4Kq Yh6Zr Uj8Wm"
# On Linux the netrc is a memory file of the build process, opened as /proc/<pid>/fd/<n>.
MEMFD = hasattr(os, "memfd_create") and os.path.isdir("/proc/self/fd")


def secret_forms(password: str) -> list[str]:
    """Every form in which a password, or a part of it, could show: raw, percent-encoded, and each
    piece between its '@', '/' and whitespace."""
    pieces = [piece for piece in re.split(r"[@/\s]", password) if piece]
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
    with authenticated_index(tmp_path_factory, test_index, "secret-index", PASSWORD) as index:
        yield index


@contextlib.contextmanager
def authenticated_index(
    tmp_path_factory: pytest.TempPathFactory, test_index: helpers.TestIndex, name: str, password: str
) -> Iterator[helpers.TestIndex]:
    """A pypiserver that needs USER and `password`, serving the session's packages and the toolchain
    plus hp-cred-build's sdist."""
    base = tmp_path_factory.mktemp(name)
    own = base / "own"
    own.mkdir()
    make_sdist(own)
    with helpers.second_index(own, test_index, base, (USER, password)) as index:
        yield index


class ProcessWatch(threading.Thread):
    """Reads /proc/*/cmdline of every process, pass after pass, until stopped; keeps the command
    lines holding a secret (`leaks`) or the index's address (`seen`), the modes of the netrc files
    hatch-pex writes under `scratch` (the build's TMPDIR: none where there are memory files), and what
    the NETRC of the processes naming the index is (`netrcs`: ("memory" or "file", mode))."""

    def __init__(self, secrets: list[str], address: str, scratch: Path) -> None:
        super().__init__(daemon=True)
        self.secrets = [s.encode() for s in secrets]
        self.address = address.encode()
        self.scratch = scratch
        self.leaks: set[str] = set()
        self.seen: set[str] = set()
        self.netrc_modes: set[tuple[int, int]] = set()
        self.netrcs: set[tuple[str, int]] = set()
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
                    with contextlib.suppress(OSError):  # gone already
                        self.netrcs.update(netrc_of(entry.name))
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


def netrc_of(pid: str) -> set[tuple[str, int]]:
    """("memory" or "file", mode) of the netrc NETRC names in the environment of process `pid`."""
    with open(f"/proc/{pid}/environ", "rb") as stream:
        variables = dict(item.partition(b"=")[::2] for item in stream.read().split(b"\0") if item)
    path = variables.get(b"NETRC", b"").decode()
    if not path:
        return set()
    memory = re.fullmatch(r"/proc/\d+/fd/\d+", path) is not None and os.readlink(path).startswith("/memfd:")
    return {("memory" if memory else "file", os.stat(path).st_mode & 0o777)}


def watched_build(
    project: Path,
    env: dict[str, str],
    index: helpers.TestIndex,
    *args: str,
    target: str | None = "pex",
    password: str = PASSWORD,
) -> ProcessWatch:
    """`hatch build` (TMPDIR private to the test) while a ProcessWatch runs; no command line may
    hold any form of `password`, and nothing holding it may be left afterwards."""
    scratch = project.parent / "tmp"
    scratch.mkdir(exist_ok=True)
    watch = ProcessWatch(secret_forms(password), f"127.0.0.1:{index.port}", scratch)
    watch.start()
    try:
        result = helpers.hatch_build(project, *args, env={**env, "TMPDIR": str(scratch)}, target=target)
    finally:
        watch.stop()
    output = result.stdout + result.stderr
    assert not watch.leaks, "\n".join(sorted(watch.leaks))
    assert watch.passes > 100, watch.passes
    for secret in secret_forms(password):
        assert secret not in output
    if MEMFD:  # never on disk: pip's and uv's processes were given the build's memory file
        assert watch.netrc_modes == set(), watch.netrc_modes
        assert watch.netrcs == {("memory", 0o600)}, watch.netrcs
    else:
        assert watch.netrc_modes == {(0o700, 0o600)}, watch.netrc_modes  # written, private
    assert not list(scratch.glob("hatch-pex-netrc-*"))  # removed when the build ended
    assert holding(password, [scratch, project / "dist"]) == []
    return watch


def holding(password: str, directories: list[Path]) -> list[str]:
    """The files under `directories` that hold any form of `password`."""
    secrets = [s.encode() for s in secret_forms(password)]
    found = []
    for directory in directories:
        for path in directory.rglob("*") if directory.is_dir() else []:
            with contextlib.suppress(OSError):  # a socket, a link to nowhere, ...
                if path.is_file() and any(secret in path.read_bytes() for secret in secrets):
                    found.append(str(path))
    return found


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
    # The SBOM names the index each distribution came from, without its credentials.
    sbom = pex.with_name(f"{pex.name}.cdx.json").read_text()
    purls = {c["name"]: c["purl"] for c in json.loads(sbom)["components"]}
    assert purls["hp-cred-build"] == (
        f"pkg:pypi/hp-cred-build@1.0?repository_url=http://127.0.0.1:{secret_index.port}/simple"
    )
    assert USER not in sbom and not [secret for secret in secret_forms(PASSWORD) if secret in sbom]
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
    if resolver == "uv":  # uv says why
        assert "uv could not resolve the requirements" in output, output
        assert "401" in output or "403" in output or "credentials" in output, output
    else:  # pip, quietly refused, finds no version: the build names the index and the refusal
        assert re.search(r"refused the request \(HTTP 40[13] \w+\); check the credentials", output), output
    assert not (project / "dist").exists() or list((project / "dist").iterdir()) == []


# -- a build ended by a signal ----------------------------------------------------------------------


class StalledIndex(http.server.ThreadingHTTPServer):
    """A loopback index that needs basic auth and never answers an authenticated request (it holds
    each one until `release`): a build asking it is stuck mid-resolution, its credentials in use.
    `authorized` is set when a request with the right login arrives."""

    daemon_threads = True

    def __init__(self, user: str, password: str) -> None:
        super().__init__(("127.0.0.1", 0), _StalledHandler)
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self.expected = f"Basic {token}"
        self.authorized = threading.Event()
        self.release = threading.Event()

    @property
    def port(self) -> int:
        return int(self.server_address[1])


class _StalledHandler(http.server.BaseHTTPRequestHandler):
    server: StalledIndex

    def do_GET(self) -> None:  # the name http.server calls
        if self.headers.get("Authorization") != self.server.expected:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="stalled"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.server.authorized.set()
        self.server.release.wait(timeout=600)
        self.send_error(503)

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


@pytest.fixture
def stalled_index() -> Iterator[StalledIndex]:
    server = StalledIndex(USER, PASSWORD)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=30)


def group_members(group: int) -> list[str]:
    """The command lines of the processes still in process group `group` (zombies included)."""
    members = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            with open(f"/proc/{entry.name}/stat", encoding="utf-8", errors="replace") as stream:
                fields = stream.read().rpartition(")")[2].split()
            if int(fields[2]) == group:
                with open(f"/proc/{entry.name}/cmdline", "rb") as stream:
                    members.append(stream.read().replace(b"\0", b" ").decode(errors="replace"))
    return members


@pytest.mark.parametrize("ending", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_a_build_ended_by_a_signal_leaves_no_credential_behind(
    tmp_path: Path, env: dict[str, str], stalled_index: StalledIndex, ending: signal.Signals
) -> None:
    """`hatch build` in a process group of its own (as CI runs a job), stuck mid-resolution against
    an index that holds every authenticated request, is ended by `ending` sent to the whole group:
    afterwards no process of the group is left (no stray pip server), and no file under the build's
    TMPDIR, the dist directory or its home holds any form of the password."""
    project = helpers.copy_fixture_app("no-scripts-app", tmp_path)
    url = f"http://{USER}:{quote(PASSWORD, safe='@')}@127.0.0.1:{stalled_index.port}/simple/"
    configure(project, f'index-url = "{url}"\nrequirements = ["hp-cred-build"]')
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    log = tmp_path / "build.log"
    with open(log, "wb") as output:
        build = subprocess.Popen(
            [*helpers.hatch_command(), "build", "-t", "pex"],
            cwd=project, env={**env, "TMPDIR": str(scratch)}, stdin=subprocess.DEVNULL,
            stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    group = build.pid  # the session's leader leads its process group too
    try:
        # hatch sets up its build environment first (from the session index), then the resolution
        # asks the stalled index, with the credentials.
        assert stalled_index.authorized.wait(timeout=helpers.BUILD_TIMEOUT), log.read_text()
        netrcs: set[tuple[str, int]] = set()
        for member in (e.name for e in os.scandir("/proc") if e.name.isdigit()):
            with contextlib.suppress(OSError, ValueError):
                if os.getpgid(int(member)) == group:
                    netrcs |= netrc_of(member)
        os.killpg(group, ending)
        status = build.wait(timeout=60)
        # hatch's build process ends first; its children clean up on their own (as a CI runner would
        # let them before it sends SIGKILL): none may be left after that.
        deadline = time.monotonic() + 30
        while group_members(group) and time.monotonic() < deadline:
            time.sleep(0.2)
        lingering = group_members(group)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)
        build.wait(timeout=60)
    assert status == -ending, log.read_text()
    assert lingering == []
    output = log.read_text()
    assert not [secret for secret in secret_forms(PASSWORD) if secret in output]
    assert holding(PASSWORD, [scratch, project / "dist", tmp_path / ".home"]) == []
    assert not list(scratch.glob("hatch-pex-netrc-*"))
    if ending != signal.SIGKILL:  # the build's work directory (requirements files, reports) went too
        left = [p for p in scratch.glob("hatch-pex-*") if not p.name.startswith("hatch-pex-pip-")]
        assert not left, [str(p.relative_to(scratch)) for d in left for p in [d, *d.rglob("*")]]
    if MEMFD:  # the credentials in use were in memory only
        assert netrcs == {("memory", 0o600)}, netrcs


# -- whitespace in a password -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def spaced_index(
    tmp_path_factory: pytest.TempPathFactory, test_index: helpers.TestIndex
) -> Iterator[helpers.TestIndex]:
    """A pypiserver needing basic auth whose password holds spaces (SPACED_PASSWORD)."""
    with authenticated_index(tmp_path_factory, test_index, "spaced-index", SPACED_PASSWORD) as index:
        yield index


@pytest.mark.skipif(sys.version_info < (3, 11), reason="netrc readers before 3.11 know no quoted values")
@pytest.mark.parametrize("written", ["as-is", "percent-encoded"])
def test_password_with_spaces_works_and_never_shows(
    tmp_path: Path, env: dict[str, str], spaced_index: helpers.TestIndex, written: str
) -> None:
    """What a user writes in pyproject.toml: the password as it is (pip takes the user-info up to the
    last '@' of the network location, spaces included) or percent-encoded (`%20`, unquoted by pip).
    Either way pip, its build-isolation subprocess and the SBOM get it right and show none of it."""
    password = SPACED_PASSWORD if written == "as-is" else quote(SPACED_PASSWORD, safe="")
    project = helpers.copy_fixture_app("no-scripts-app", tmp_path)
    configure(
        project,
        f'index-url = "{spaced_index.url_with(USER, password)}"\nrequirements = ["hp-cred-build"]\n'
        f'python-versions = ["{OWN_VERSION}"]',
    )
    watch = watched_build(project, env, spaced_index, password=SPACED_PASSWORD)
    assert build_isolation_seen(watch), watch.seen
    [pex] = helpers.built_artifacts(project)
    sbom = pex.with_name(f"{pex.name}.cdx.json").read_text()
    assert f"repository_url=http://127.0.0.1:{spaced_index.port}/simple" in sbom
    assert not [secret for secret in secret_forms(SPACED_PASSWORD) if secret in sbom]


@pytest.mark.parametrize("case", ["two-logins", "slash-and-space"])
def test_a_message_quoting_a_password_with_whitespace_shows_none_of_it(
    tmp_path: Path, env: dict[str, str], case: str
) -> None:
    """Messages that quote the configured URLs as written, whitespace and all (a space, a tab, a
    newline in the password): the build fails before any pip runs, and no piece of either password
    is in its output."""
    project = helpers.copy_fixture_app("no-scripts-app", tmp_path)
    first, second = "Xc3Vb Nm5Qw", "Er7Ty\tUi9Op\nAs2Df"
    if case == "two-logins":  # one login per host: the message names both URLs
        escaped = json.dumps(second)[1:-1]  # a TOML string holds the tab and the newline as escapes
        table = (
            f'index-url = "http://{USER}:{first}@127.0.0.1:9/simple/"\n'
            f'extra-index-urls = ["http://{USER}:{escaped}@127.0.0.1:9/extra/"]'
        )
        expected = "one login per host"
    else:  # an unencoded '/' pip cannot read: the message says how to write it
        second = "Er7Ty Ui9Op"
        table = f'index-url = "http://{USER}:{first}/{second}@127.0.0.1:9/simple/"'
        expected = "percent-encode"
    configure(project, table)
    result = helpers.hatch_build(project, env=env, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and expected in output, output
    assert "127.0.0.1:9" in output, output
    for secret in [*secret_forms(first), *secret_forms(second)]:
        assert secret not in output, (secret, output)
