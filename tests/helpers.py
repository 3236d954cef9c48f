"""Helpers for the hatch-pex test suite: interpreters, the loopback package index, isolated
environments, and running the real `hatch`, `pip` and built `.pex` files in subprocesses.

Tests import it as `import helpers` / `from helpers import ...` (pytest puts tests/ on sys.path).
The fixtures that wrap these helpers live in tests/conftest.py:

    interpreters      session  {"3.9": Path, ..., "3.13": Path} of the CPythons found (CI: all or fail)
    interpreter       param    each of 3.9-3.13 in turn (missing: skipped; CI: failed)
    test_index        session  the running loopback index (TestIndex: url, artifact paths)
    index_url         session  its simple URL, http://127.0.0.1:PORT/simple/
    env               function an isolated environment (dict) for subprocesses, see make_env()
    hatchling_venv    session  python of a venv holding hatchling + hatch-pex from the index

Nothing here ever talks to the public index: every environment built by make_env() points pip and
uv at the loopback index only and ignores every pip/uv configuration file of the machine.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = REPO_ROOT / "fixtures"
FIXTURE_PACKAGES = FIXTURES / "packages"
FIXTURE_APPS = FIXTURES / "apps"

#: The CPython versions the project supports; the tests exercise each of them.
PYTHON_VERSIONS: tuple[str, ...] = ("3.9", "3.10", "3.11", "3.12", "3.13")

#: Names of the environment variable that points at the build-toolchain wheels (hatchling, pip, ...)
#: downloaded before the session (tox's commands_pre runs fixtures/fetch_toolchain.py).
TOOLCHAIN_ENV = "HATCH_PEX_TEST_TOOLCHAIN"
#: Set by the `lowest` tox env: a constraints file pinning the plugin's dependencies to their bounds.
LOWEST_CONSTRAINTS_ENV = "HATCH_PEX_TEST_CONSTRAINTS"

#: Default timeouts (seconds) of the subprocess helpers.
BUILD_TIMEOUT = 600
RUN_TIMEOUT = 180

#: Fixture packages built with hatchling into the index (directory names under fixtures/packages).
HATCHLING_FIXTURES = (
    "hp-pure-1.0", "hp-pure-2.0", "hp-requires-pure", "certifi-shadow", "hp-pth", "hp-patch-1.0", "hp-patch-2.0",
)  # fmt: skip
#: Fixture packages built by their in-tree backend: (directory, publish a wheel per interpreter?).
BACKEND_FIXTURES = (("hp-native", True), ("hp-sdist-only", False), ("hp-build-marker", False))


def in_ci() -> bool:
    """True when running in CI (CI=true): missing interpreters then fail instead of skipping."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}


# --------------------------------------------------------------------------------------------------
# Interpreters
# --------------------------------------------------------------------------------------------------


def _pyenv_candidates(version: str) -> list[Path]:
    pyenv = shutil.which("pyenv")
    if not pyenv:
        return []
    try:
        root = subprocess.run(
            [pyenv, "root"], capture_output=True, text=True, timeout=30, check=True
        ).stdout.strip()
        bare = subprocess.run(
            [pyenv, "versions", "--bare"], capture_output=True, text=True, timeout=30, check=True
        ).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return []

    def key(name: str) -> tuple[int, ...]:
        return tuple(int(p) if p.isdigit() else -1 for p in name.split("."))

    # Plain "3.X.Y" releases only (no "3.13.0t", "3.12-dev", virtualenvs), newest first.
    names = [n for n in bare if n.startswith(version + ".") and n[len(version) + 1 :].isdigit()]
    return [
        Path(root, "versions", n, "bin", f"python{version}") for n in sorted(names, key=key, reverse=True)
    ]


def _probe(candidate: Path | str, version: str) -> Path | None:
    """Run the candidate; return its real sys.executable when it is CPython `version`."""
    code = "import sys; print(sys.implementation.name, '%d.%d' % sys.version_info[:2], sys.executable)"
    try:
        out = subprocess.run(
            [str(candidate), "-I", "-c", code],
            capture_output=True,
            text=True,
            timeout=30,
            env={k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PYENV_VERSION"))},
        )
    except (OSError, subprocess.SubprocessError):
        return None
    parts = out.stdout.split(maxsplit=2)
    if out.returncode != 0 or len(parts) != 3 or parts[:2] != ["cpython", version]:
        return None
    return Path(parts[2].strip())


def find_interpreters(versions: Iterable[str] = PYTHON_VERSIONS) -> dict[str, Path]:
    """Find a CPython for each version: pyenv's installs first (`pyenv root`, `pyenv versions
    --bare`), then `python3.X` on PATH. Each candidate is run to confirm its version. Returns
    {"3.9": Path(".../python3.9"), ...} for the versions found, in the order asked."""
    found: dict[str, Path] = {}
    for version in versions:
        candidates: list[Path | str] = [*_pyenv_candidates(version)]
        on_path = shutil.which(f"python{version}")
        if on_path:
            candidates.append(on_path)
        for candidate in candidates:
            exe = _probe(candidate, version)
            if exe is not None:
                found[version] = exe
                break
    return found


# --------------------------------------------------------------------------------------------------
# Isolated environments
# --------------------------------------------------------------------------------------------------

#: Prefixes and names removed from os.environ before anything is set: every pip/uv/hatch/PEX
#: setting of the machine or the caller (PIP_FIND_LINKS, PIP_EXTRA_INDEX_URL, UV_INDEX, ...).
STRIPPED_PREFIXES = ("PIP_", "UV_", "HATCH_", "PEX_", "PYTHON", "VIRTUALENV_", "CONDA_", "TOX_", "PYTEST_")
STRIPPED_NAMES = frozenset({"VIRTUAL_ENV", "SOURCE_DATE_EPOCH", "__PYVENV_LAUNCHER__", "XDG_CONFIG_DIRS"})


def make_env(
    index_url: str,
    home: Path,
    *,
    uv_cache: Path | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """An environment for subprocesses that can reach the loopback index and nothing else.

    From os.environ it removes every PIP_*, UV_*, HATCH_*, PEX_*, PYTHON*, VIRTUALENV_*, VIRTUAL_ENV
    and SOURCE_DATE_EPOCH variable, and drops the test runner's own venv from PATH (so `python3`
    is the machine's). Then it sets:
      PIP_INDEX_URL, UV_INDEX_URL, UV_DEFAULT_INDEX  the loopback index
      PIP_CONFIG_FILE=/dev/null                      pip reads no config file (not even /etc/pip.conf)
      UV_NO_CONFIG=1, UV_PYTHON_DOWNLOADS=never      uv reads no uv.toml and downloads no Python
      PIP_NO_INPUT=1, PIP_DISABLE_PIP_VERSION_CHECK=1
      HATCH_DATA_DIR, HATCH_CACHE_DIR, HATCH_CONFIG  isolated hatch state (empty config), under `home`
      XDG_CACHE_HOME, XDG_CONFIG_HOME, XDG_DATA_HOME under `home` (pip's cache is XDG_CACHE_HOME/pip)
      PEX_ROOT                                       `home`/pex-root
      UV_CACHE_DIR                                   `uv_cache` (shared) or `home`/uv-cache
      NO_PROXY/no_proxy                              include 127.0.0.1 and localhost
    `extra` is applied last (a value of None is not allowed; pop keys from the result instead).
    """
    home = Path(home)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.upper().startswith(STRIPPED_PREFIXES) and k.upper() not in STRIPPED_NAMES
    }
    own_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", os.defpath).split(os.pathsep) if p and os.path.abspath(p) != own_bin
    )
    dirs = {
        "HATCH_DATA_DIR": home / "hatch-data",
        "HATCH_CACHE_DIR": home / "hatch-cache",
        "XDG_CACHE_HOME": home / "xdg-cache",
        "XDG_CONFIG_HOME": home / "xdg-config",
        "XDG_DATA_HOME": home / "xdg-data",
        "PEX_ROOT": home / "pex-root",
        "UV_CACHE_DIR": Path(uv_cache) if uv_cache else home / "uv-cache",
    }
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    env.update({k: str(v) for k, v in dirs.items()})
    hatch_config = home / "xdg-config" / "hatch" / "config.toml"
    hatch_config.parent.mkdir(parents=True, exist_ok=True)
    hatch_config.touch()
    env["HATCH_CONFIG"] = str(hatch_config)
    no_proxy = [p for p in env.get("NO_PROXY", env.get("no_proxy", "")).split(",") if p]
    no_proxy += [h for h in ("127.0.0.1", "localhost") if h not in no_proxy]
    env["NO_PROXY"] = env["no_proxy"] = ",".join(no_proxy)
    env.update(
        {
            "PIP_INDEX_URL": index_url,
            "UV_INDEX_URL": index_url,
            "UV_DEFAULT_INDEX": index_url,
            "PIP_CONFIG_FILE": os.devnull,
            "PIP_NO_INPUT": "1",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PIP_DEFAULT_TIMEOUT": "60",
            "UV_NO_CONFIG": "1",
            "UV_PYTHON_DOWNLOADS": "never",
            "UV_NO_PROGRESS": "1",
            "PYTHONUTF8": "1",
        }
    )
    constraints = os.environ.get(LOWEST_CONSTRAINTS_ENV)
    if constraints:  # the `lowest` tox env: hatch's build environment gets the plugin's lower bounds
        env["UV_CONSTRAINT"] = constraints
    if extra:
        env.update(extra)
    return env


def lowest_pins() -> dict[str, str]:
    """{name: version} pinned by the `lowest` tox env's constraints file ({} in other envs)."""
    path = os.environ.get(LOWEST_CONSTRAINTS_ENV)
    if not path:
        return {}
    pins = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        requirement = line.split(";")[0].strip()
        if "==" in requirement:
            name, _, version = requirement.partition("==")
            pins[name.strip()] = version.strip()
    return pins


def public_index_leaks(env: Mapping[str, str]) -> list[str]:
    """Problems with `env` that could let a subprocess reach an index other than the loopback one:
    forbidden variables present, or any pip/uv index setting that is not on 127.0.0.1."""
    problems = []
    forbidden = (
        "PIP_FIND_LINKS",
        "PIP_EXTRA_INDEX_URL",
        "PIP_NO_INDEX",
        "UV_EXTRA_INDEX_URL",
        "UV_FIND_LINKS",
        "UV_INDEX",
        "UV_INSECURE_HOST",
        "PIP_TRUSTED_HOST",
    )
    problems += [f"{name} is set" for name in forbidden if name in env]
    for name in ("PIP_INDEX_URL", "UV_INDEX_URL", "UV_DEFAULT_INDEX"):
        value = env.get(name, "")
        if not value.startswith("http://127.0.0.1:"):
            problems.append(f"{name}={value!r} is not the loopback index")
    if env.get("PIP_CONFIG_FILE") != os.devnull:
        problems.append("PIP_CONFIG_FILE is not /dev/null")
    if env.get("UV_NO_CONFIG") != "1":
        problems.append("UV_NO_CONFIG is not 1")
    for name, value in env.items():
        if "pypi.org" in value or "pythonhosted.org" in value:
            problems.append(f"{name} mentions the public index")
    return problems


# --------------------------------------------------------------------------------------------------
# Running things
# --------------------------------------------------------------------------------------------------


class CommandFailed(AssertionError):
    """A helper's command ended with an unexpected status; the message holds its whole output."""


def describe(proc: subprocess.CompletedProcess[str]) -> str:
    """The command, status, stdout and stderr of a finished process, for assertion messages."""
    cmd = proc.args if isinstance(proc.args, str) else " ".join(map(str, proc.args))
    return f"$ {cmd}\n[exit {proc.returncode}]\n--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"


def run(
    cmd: Sequence[str | os.PathLike[str]],
    *,
    env: Mapping[str, str],
    cwd: str | os.PathLike[str] | None = None,
    input: str | None = None,
    timeout: float = RUN_TIMEOUT,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run `cmd` with `env` (required: use the `env` fixture), capture text stdout/stderr.
    With check=True (default) a non-zero exit raises CommandFailed carrying the full output.
    stdin is `input` or empty (never the terminal)."""
    proc = subprocess.run(
        [str(c) for c in cmd],
        env=dict(env),
        cwd=cwd,
        input=input if input is not None else "",
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise CommandFailed(describe(proc))
    return proc


def hatch_command() -> list[str]:
    """The `hatch` of the test environment: the script next to sys.executable, else `python -m hatch`."""
    script = Path(sys.executable).parent / "hatch"
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-m", "hatch"]


def hatch_build(
    project_dir: str | os.PathLike[str],
    *args: str,
    env: Mapping[str, str],
    target: str | None = "pex",
    check: bool = True,
    timeout: float = BUILD_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """Run the real `hatch build -t <target> *args` in project_dir (target=None: no -t at all).
    Hatch creates its build environment with uv from the loopback index given by `env`.
    Artifacts land in project_dir/dist unless args give a location. check as in run()."""
    cmd = [*hatch_command(), "build"]
    if target:
        cmd += ["-t", target]
    return run([*cmd, *args], env=env, cwd=project_dir, timeout=timeout, check=check)


def built_artifacts(project_dir: str | os.PathLike[str], suffix: str = ".pex") -> list[Path]:
    """Files ending in `suffix` under project_dir/dist (recursively), sorted."""
    return sorted(p for p in Path(project_dir, "dist").rglob(f"*{suffix}") if p.is_file())


def run_pex(
    pex_path: str | os.PathLike[str],
    *args: str,
    python: str | os.PathLike[str] | None = None,
    env: Mapping[str, str],
    input: str | None = None,
    check: bool = False,
    timeout: float = RUN_TIMEOUT,
    cwd: str | os.PathLike[str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a built .pex: directly (its shebang picks `python3` from env's PATH) or, with
    python=..., as `python pex_path *args`. check=False by default: tests look at the status."""
    cmd = [str(python), str(pex_path)] if python else [str(pex_path)]
    return run([*cmd, *args], env=env, cwd=cwd, input=input, timeout=timeout, check=check)


def parse_demo_output(stdout: str) -> dict[str, object]:
    """The JSON report the `demo` script of fixtures/apps/demo-app prints (its last JSON line)."""
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)  # type: ignore[no-any-return]
    raise AssertionError(f"no JSON report in output:\n{stdout}")


def configure(project: Path, table: str) -> None:
    """Append a `[tool.hatch.build.targets.pex]` table (TOML lines) to the project's pyproject.toml."""
    with open(project / "pyproject.toml", "a", encoding="utf-8") as stream:
        stream.write(f"\n[tool.hatch.build.targets.pex]\n{table}\n")


def pex_info(path: Path) -> dict[str, object]:
    """The PEX-INFO of a built .pex, parsed."""
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("PEX-INFO"))  # type: ignore[no-any-return]


def copy_fixture_app(name: str, tmp_path: str | os.PathLike[str]) -> Path:
    """Copy fixtures/apps/<name> to tmp_path/<name> (build output, caches excluded) and return it.
    Tests build the copy, never the fixture itself. The example-app's `{root:parent:parent:parent}`
    reference to the repository only holds for the original, not for a copy."""
    return _copy_tree(FIXTURE_APPS / name, Path(tmp_path) / name)


def copy_fixture_package(name: str, tmp_path: str | os.PathLike[str]) -> Path:
    """Copy fixtures/packages/<name> to tmp_path/<name> and return it."""
    return _copy_tree(FIXTURE_PACKAGES / name, Path(tmp_path) / name)


def _copy_tree(src: Path, dest: Path) -> Path:
    if not src.is_dir():
        raise FileNotFoundError(f"no fixture {src}")
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "dist", "build", ".*"))
    return dest


def venv_python(venv: str | os.PathLike[str]) -> Path:
    """The python executable inside a venv directory."""
    return Path(venv, "bin", "python")


def make_venv(
    path: str | os.PathLike[str],
    python: str | os.PathLike[str],
    *,
    env: Mapping[str, str],
    packages: Sequence[str] = ("hatchling", "hatch-pex-builder"),
    timeout: float = BUILD_TIMEOUT,
) -> Path:
    """Create a venv at `path` with `python -m venv`, pip install `packages` into it from the
    loopback index (env must come from make_env / the `env` fixture); return the venv's python.
    The default packages give a venv for `python -m hatchling build -t pex`."""
    run([str(python), "-m", "venv", str(path)], env=env, timeout=timeout)
    exe = venv_python(path)
    if packages:
        constraints = ["--constraint", env["UV_CONSTRAINT"]] if "UV_CONSTRAINT" in env else []
        run([exe, "-m", "pip", "install", *constraints, *packages], env=env, timeout=timeout)
    return exe


# --------------------------------------------------------------------------------------------------
# The loopback index: building its content
# --------------------------------------------------------------------------------------------------


def toolchain_dir() -> Path | None:
    """The directory of build-toolchain wheels ($HATCH_PEX_TEST_TOOLCHAIN, else .tox/toolchain of
    the repository when present), or None."""
    value = os.environ.get(TOOLCHAIN_ENV)
    if value:
        return Path(value)
    default = REPO_ROOT / ".tox" / "toolchain"
    return default if default.is_dir() else None


def check_toolchain(path: Path | None) -> Path:
    """Raise RuntimeError with instructions unless `path` holds the wheels hatch needs."""
    how = (
        "run the tests through tox (`python3 -m tox -e py`), or download the toolchain once with "
        f"`python3 fixtures/fetch_toolchain.py DIR` and set {TOOLCHAIN_ENV}=DIR"
    )
    if path is None or not path.is_dir():
        raise RuntimeError(f"no build-toolchain wheels ({TOOLCHAIN_ENV} unset or missing): {how}")
    names = {p.name.split("-")[0].lower() for p in path.glob("*.whl")}
    missing = [n for n in ("hatchling", "pip", "packaging", "pluggy", "pathspec") if n not in names]
    if missing:
        raise RuntimeError(f"{path} lacks wheels of {', '.join(missing)}: {how}")
    return path


@dataclass
class Artifacts:
    """What the session built from fixtures/ and the repository, all in `directory`."""

    directory: Path
    native_wheels: dict[str, Path] = field(default_factory=dict)  # "3.9" -> hp_native wheel
    hatch_pex_wheel: Path | None = None
    files: list[Path] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(
            {
                "directory": str(self.directory),
                "native_wheels": {k: str(v) for k, v in self.native_wheels.items()},
                "hatch_pex_wheel": str(self.hatch_pex_wheel) if self.hatch_pex_wheel else None,
                "files": [str(p) for p in self.files],
            },
            indent=1,
        )

    @classmethod
    def from_json(cls, text: str) -> Artifacts:
        data = json.loads(text)
        return cls(
            directory=Path(data["directory"]),
            native_wheels={k: Path(v) for k, v in data["native_wheels"].items()},
            hatch_pex_wheel=Path(data["hatch_pex_wheel"]) if data["hatch_pex_wheel"] else None,
            files=[Path(p) for p in data["files"]],
        )


def _offline_env() -> dict[str, str]:
    """Environment for the builds of the session setup: no index at all."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.upper().startswith(STRIPPED_PREFIXES) and k.upper() not in STRIPPED_NAMES
    }
    env.update(
        {
            "PIP_CONFIG_FILE": os.devnull,
            "PIP_NO_INDEX": "1",
            "PIP_NO_INPUT": "1",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "SOURCE_DATE_EPOCH": "315532800",
        }
    )
    return env


def _wait_all(procs: list[tuple[str, subprocess.Popen[str]]], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    failures = []
    for what, proc in procs:
        try:
            out, _ = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
            failures.append(f"{what}: timed out\n{out}")
            continue
        if proc.returncode != 0:
            failures.append(f"{what}: exit {proc.returncode}\n{out}")
    if failures:
        raise RuntimeError("building the test index failed:\n" + "\n\n".join(failures))


def build_index_artifacts(
    dest: Path, interpreters: Mapping[str, Path], *, timeout: float = BUILD_TIMEOUT
) -> Artifacts:
    """Build everything the loopback index serves besides the toolchain, into `dest`:
    - hatchling wheels of hp-pure 1.0 and 2.0, hp-requires-pure, certifi 9999.0 (the shadow);
    - hp-native: one wheel per interpreter (`python3.X -m pip wheel --no-deps`, pip's isolated
      build env, no index) plus its sdist; hp-sdist-only and hp-build-marker: their sdists only;
    - the hatch-pex wheel, built from this repository with hatchling.
    Builds run in parallel (offline); each source is copied to a scratch directory first."""
    dest.mkdir(parents=True, exist_ok=True)
    env = _offline_env()
    with tempfile.TemporaryDirectory(prefix="hp-index-src-") as scratch_name:
        scratch = Path(scratch_name)
        procs: list[tuple[str, subprocess.Popen[str]]] = []

        def start(what: str, cmd: list[str], cwd: Path) -> None:
            procs.append(
                (
                    what,
                    subprocess.Popen(
                        cmd,
                        cwd=cwd,
                        env=env,
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT,
                        text=True,
                    ),
                )
            )

        hatchling_build = [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(dest)]
        for name in HATCHLING_FIXTURES:
            src = _copy_tree(FIXTURE_PACKAGES / name, scratch / name)
            start(f"hatchling wheel of {name}", hatchling_build, src)
        start("hatch-pex wheel", hatchling_build, REPO_ROOT)

        for name, per_interpreter in BACKEND_FIXTURES:
            src = _copy_tree(FIXTURE_PACKAGES / name, scratch / name)
            sdist_code = (
                "import sys; sys.path.insert(0, '_backend'); import hp_backend; "
                f"print(hp_backend.build_sdist({str(dest)!r}))"
            )
            start(f"sdist of {name}", [sys.executable, "-c", sdist_code], src)
            if per_interpreter:
                for version, python in interpreters.items():
                    vsrc = _copy_tree(src, scratch / f"{name}-{version}")
                    cmd = [str(python), "-m", "pip", "wheel", "--no-deps", "--no-index", "-w", str(dest), "."]
                    start(f"{name} wheel for Python {version}", cmd, vsrc)
        _wait_all(procs, timeout)

    artifacts = Artifacts(directory=dest, files=sorted(p for p in dest.iterdir() if p.is_file()))
    for version in interpreters:
        tag = "cp" + version.replace(".", "")
        wheels = list(dest.glob(f"hp_native-1.0-{tag}-{tag}-*.whl"))
        if len(wheels) != 1:
            raise RuntimeError(f"expected one hp-native wheel for {version} in {dest}, found {wheels}")
        artifacts.native_wheels[version] = wheels[0]
    hatch_pex = list(dest.glob("hatch_pex_builder-*.whl"))
    if len(hatch_pex) != 1:
        raise RuntimeError(f"expected one hatch-pex wheel in {dest}, found {hatch_pex}")
    artifacts.hatch_pex_wheel = hatch_pex[0]
    return artifacts


# --------------------------------------------------------------------------------------------------
# The loopback index: serving it
# --------------------------------------------------------------------------------------------------


def write_htpasswd(path: Path, user: str, password: str) -> Path:
    """An htpasswd file with one user (bcrypt-free, so pypiserver's passlib reads it anywhere)."""
    from passlib.apache import HtpasswdFile

    htpasswd = HtpasswdFile(str(path), new=True, default_scheme="sha256_crypt")
    htpasswd.set_password(user, password)
    htpasswd.save()
    return path


@contextmanager
def second_index(
    own: Path, session_index: TestIndex, base: Path, login: tuple[str, str] | None = None
) -> Iterator[TestIndex]:
    """A pypiserver serving `own` and everything the session index serves, needing basic auth with
    `login` (user, password) when given; its files under `base`; stopped on exit."""
    password_file = write_htpasswd(base / "htpasswd", *login) if login else None
    index = TestIndex(
        directories=[own, *session_index.directories],
        log_path=base / "pypiserver.log",
        password_file=password_file,
    )
    index.start()
    try:
        yield index
    finally:
        index.stop()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _http_ok(url: str, timeout: float = 2.0) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@dataclass
class TestIndex:
    """A pypiserver process serving `directories` on 127.0.0.1:`port` (no fallback to PyPI)."""

    __test__ = False  # not a test class, despite the name

    directories: list[Path]
    log_path: Path
    artifacts: Artifacts | None = None
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    # With a password file (htpasswd), every download and listing needs basic auth.
    password_file: Path | None = None

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The simple-API URL to give pip and uv: http://127.0.0.1:PORT/simple/"""
        return f"{self.root_url}/simple/"

    def start(self, *, startup_timeout: float = 30.0, attempts: int = 3) -> None:
        """Start pypiserver on a free port and wait (at most startup_timeout) until it answers."""
        errors = []
        for _ in range(attempts):
            self.port = free_port()
            cmd = [
                sys.executable, "-m", "pypiserver", "run",
                "--host", "127.0.0.1", "--port", str(self.port),
                "-a", "download,list" if self.password_file else ".",
                "-P", str(self.password_file) if self.password_file else ".",
                "--disable-fallback",
                "--backend", "simple-dir",
                "--hash-algo", "sha256",
                "--health-endpoint", "/health",
            ]  # fmt: skip
            # No --server: pypiserver's "auto" takes waitress (threaded) when installed, else wsgiref.
            cmd += [str(d) for d in self.directories]
            log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child process
            try:
                self.process = subprocess.Popen(
                    cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=_offline_env()
                )
            finally:
                log.close()
            deadline = time.monotonic() + startup_timeout
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    break
                if _http_ok(f"{self.root_url}/health") and (self.password_file or _http_ok(self.url)):
                    return
                time.sleep(0.1)
            self.stop()
            errors.append(f"port {self.port}: not answering after {startup_timeout}s or exited")
        log_text = self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""
        raise RuntimeError(f"pypiserver did not start: {errors}\n{log_text}")

    def stop(self) -> None:
        """Terminate the server (kill after 10 s) and reap it."""
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def url_with(self, user: str, password: str) -> str:
        """The simple-API URL with basic-auth credentials in it."""
        return f"http://{user}:{password}@127.0.0.1:{self.port}/simple/"

    def project_files(self, project: str) -> list[str]:
        """File names the index lists for `project` (fetched from its simple page)."""
        import re

        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(f"{self.url}{project}/", timeout=10) as response:
            html = response.read().decode()
        return sorted(set(re.findall(r">([^<>]+\.(?:whl|tar\.gz|zip))</a>", html)))


def with_env(env: dict[str, str], **changes: str | Path | None) -> dict[str, str]:
    """A copy of env with variables set (str/Path) or removed (None)."""
    result = dict(env)
    for key, value in changes.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = str(value)
    return result


def ok(result: subprocess.CompletedProcess[str], code: int = 0) -> subprocess.CompletedProcess[str]:
    assert result.returncode == code, describe(result)
    return result


def start_failure(result: subprocess.CompletedProcess[str]) -> str:
    """A start failure as documented: exit 2, `hatch-pex: error: ...`, no traceback; returns stderr."""
    assert result.returncode == 2, describe(result)
    assert result.stderr.startswith("hatch-pex: error: "), describe(result)
    assert "Traceback" not in result.stderr, describe(result)
    return result.stderr
