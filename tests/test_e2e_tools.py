"""End to end: `PEX_TOOLS` read as a boolean (as PEX reads it), the error of `PEX_TOOLS=1 app.pex` with no
tool, and what `PEX_TOOLS=1 app.pex venv DIR` carries over from the pex (docs/runtime.md, "Tools"):
`env` (inject_env), `args` (inject_args), `inherit-path` and the interpreter constraints.

The fixture pexes are built from fixtures/apps/demo-app for the test runner's Python version only, once
per module and worker.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import helpers
import pytest
from helpers import configure, ok, pex_info, start_failure, with_env

from hatch_pex.bootstrap.log import BootError, env_flag

ONE_VERSION = f'python-versions = ["{sys.version_info[0]}.{sys.version_info[1]}"]'
INJECTED = '{ HP_INJECTED = "from the pex", HP_PRESET = "from the pex" }'
ARGS = '["--injected", "two words"]'
# Prints what a start sees: the injected variables and where the base interpreter's site-packages are.
PROBE = (
    "import json, os, sys, sysconfig; "
    "base = sysconfig.get_paths(vars={'base': sys.base_prefix, 'platbase': sys.base_exec_prefix})['purelib']; "
    "own = [p for p in sys.path if p.startswith(sys.prefix + os.sep) and p.endswith('site-packages')]; "
    "print(json.dumps({'env': [os.environ.get('HP_INJECTED'), os.environ.get('HP_PRESET')], "
    "'base': sys.path.index(base) if base in sys.path else None, "
    "'own': sys.path.index(own[0]) if own else None}))"
)


def build(
    tmp_path_factory: pytest.TempPathFactory, index_url: str, uv_cache: Path, name: str, table: str
) -> Path:
    """`hatch build -t pex` of demo-app's `demo` script with `table` added; the one .pex."""
    base = tmp_path_factory.mktemp(name)
    project = helpers.copy_fixture_app("demo-app", base)
    configure(project, f'{ONE_VERSION}\nscripts = ["demo"]\n{table}')
    helpers.hatch_build(project, env=helpers.make_env(index_url, base / ".home", uv_cache=uv_cache))
    [pex] = helpers.built_artifacts(project)
    return pex


@pytest.fixture(scope="module")
def fallback_pex(tmp_path_factory: pytest.TempPathFactory, index_url: str, uv_cache: Path) -> Path:
    """demo with env, args and inherit-path = "fallback"."""
    return build(
        tmp_path_factory,
        index_url,
        uv_cache,
        "fallback",
        f'env = {INJECTED}\nargs = {ARGS}\ninherit-path = "fallback"',
    )


@pytest.fixture(scope="module")
def prefer_pex(tmp_path_factory: pytest.TempPathFactory, index_url: str, uv_cache: Path) -> Path:
    """demo with inherit-path = "prefer", nothing injected."""
    return build(tmp_path_factory, index_url, uv_cache, "prefer", 'inherit-path = "prefer"')


@pytest.fixture(scope="module")
def plain_pex(tmp_path_factory: pytest.TempPathFactory, index_url: str, uv_cache: Path) -> Path:
    """demo as configured by default (isolated, nothing injected)."""
    return build(tmp_path_factory, index_url, uv_cache, "plain", "")


@pytest.fixture
def python(interpreters: dict[str, Path]) -> Path:
    """The CPython the fixture pexes serve (the test runner's version)."""
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    if version not in interpreters:
        pytest.skip(f"no CPython {version} found")
    return interpreters[version]


def probe(python: Path, env: dict[str, str]) -> dict[str, object]:
    """What PROBE reports when `python` runs it."""
    return json.loads(ok(helpers.run([python, "-c", PROBE], env=env)).stdout)  # type: ignore[no-any-return]


# --------------------------------------------------------------------------------------------------
# PEX_TOOLS and PEX_INTERPRETER are booleans
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        *[("1", True), ("true", True), ("TRUE", True), (" True ", True)],
        *[("0", False), ("false", False), ("False", False), ("", False), (None, False)],
    ],
)
def test_env_flag_values(monkeypatch: pytest.MonkeyPatch, value: str | None, expected: bool) -> None:
    if value is None:
        monkeypatch.delenv("PEX_TOOLS", raising=False)
    else:
        monkeypatch.setenv("PEX_TOOLS", value)
    assert env_flag("PEX_TOOLS") is expected


@pytest.mark.parametrize("value", ["yes", "no", "2", "on"])
def test_env_flag_refuses_other_values(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("PEX_INTERPRETER", value)
    with pytest.raises(BootError, match=rf"^PEX_INTERPRETER='{value}': expected 1 or true"):
        env_flag("PEX_INTERPRETER")


def test_pex_tools_is_a_boolean(plain_pex: Path, python: Path, env: dict[str, str], tmp_path: Path) -> None:
    run_env = with_env(env, PEX_ROOT=tmp_path / "root", PEX_VERBOSE="1")
    for value in ("0", "false", "False", ""):  # off: the application runs, from its warm record once made
        result = ok(helpers.run_pex(plain_pex, "x", python=python, env=with_env(run_env, PEX_TOOLS=value)))
        assert helpers.parse_demo_output(result.stdout)["argv"] == [str(plain_pex), "x"], value
    assert "hatch-pex: warm start: " in result.stderr, helpers.describe(result)
    for value in ("1", "true", "TRUE"):  # on: a tool runs
        result = ok(
            helpers.run_pex(plain_pex, "info", "--raw", python=python, env=with_env(run_env, PEX_TOOLS=value))
        )
        assert json.loads(result.stdout) == pex_info(plain_pex), value
    quiet = with_env(run_env, PEX_VERBOSE=None)  # a start failure's stderr is its error line alone
    stderr = start_failure(helpers.run_pex(plain_pex, python=python, env=with_env(quiet, PEX_TOOLS="yes")))
    assert (
        stderr.splitlines()[-1]
        == "hatch-pex: error: PEX_TOOLS='yes': expected 1 or true (on), 0 or false (off)"
    )
    stderr = start_failure(
        helpers.run_pex(plain_pex, "-c", "pass", python=python, env=with_env(quiet, PEX_INTERPRETER="no"))
    )
    assert stderr == "hatch-pex: error: PEX_INTERPRETER='no': expected 1 or true (on), 0 or false (off)\n"
    result = ok(
        helpers.run_pex(
            plain_pex, "-c", "print('repl')", python=python, env=with_env(run_env, PEX_INTERPRETER="True")
        )
    )
    assert result.stdout == "repl\n"


def test_pex_tools_without_a_tool_is_an_error(plain_pex: Path, python: Path, env: dict[str, str]) -> None:
    result = helpers.run_pex(plain_pex, python=python, env=with_env(env, PEX_TOOLS="1"))
    stderr = start_failure(result)
    lines = stderr.splitlines()
    assert lines[0] == "hatch-pex: error: PEX_TOOLS is set but no tool was named"
    assert lines[1] == f"usage: PEX_TOOLS=1 {plain_pex.name} COMMAND [ARGS]"
    assert result.stdout == ""
    helped = ok(helpers.run_pex(plain_pex, "help", python=python, env=with_env(env, PEX_TOOLS="1")))
    assert helped.stderr == "" and helped.stdout.splitlines() == lines[1:]


# --------------------------------------------------------------------------------------------------
# What the venv tool carries over
# --------------------------------------------------------------------------------------------------


def test_venv_carries_env_args_and_fallback(
    fallback_pex: Path, python: Path, env: dict[str, str], tmp_path: Path
) -> None:
    venv = tmp_path / "venv"
    ok(helpers.run_pex(fallback_pex, "venv", str(venv), python=python, env=with_env(env, PEX_TOOLS="1")))
    run_env = with_env(env, PEX_ROOT=tmp_path / "root", HP_INJECTED=None, HP_PRESET="from the caller")

    # inject_args: the pex's own script puts them before the user's, as the pex does.
    from_pex = helpers.parse_demo_output(
        ok(helpers.run_pex(fallback_pex, "user", python=python, env=run_env)).stdout
    )
    from_venv = helpers.parse_demo_output(
        ok(helpers.run([venv / "bin" / "demo", "user"], env=run_env)).stdout
    )
    assert from_venv["argv"] == [str(venv / "bin" / "demo"), "--injected", "two words", "user"]
    assert from_venv["argv"][1:] == from_pex["argv"][1:]  # type: ignore[index]

    # inject_env: set unless already set, at every start of the venv's Python, as at every start of the pex.
    seen_by_venv = probe(helpers.venv_python(venv), run_env)
    seen_by_pex = json.loads(
        ok(
            helpers.run_pex(
                fallback_pex, "-c", PROBE, python=python, env=with_env(run_env, PEX_INTERPRETER="1")
            )
        ).stdout
    )
    assert seen_by_venv["env"] == seen_by_pex["env"] == ["from the pex", "from the caller"]

    # fallback: the system site-packages are visible, after the venv's own.
    assert "include-system-site-packages = true" in (venv / "pyvenv.cfg").read_text()
    assert isinstance(seen_by_venv["base"], int) and isinstance(seen_by_venv["own"], int), seen_by_venv
    assert seen_by_venv["own"] < seen_by_venv["base"]


def test_venv_prefer_puts_the_system_site_first(
    prefer_pex: Path, plain_pex: Path, python: Path, env: dict[str, str], tmp_path: Path
) -> None:
    tools = with_env(env, PEX_TOOLS="1")
    prefer, plain = tmp_path / "prefer", tmp_path / "plain"
    ok(helpers.run_pex(prefer_pex, "venv", str(prefer), python=python, env=tools))
    ok(helpers.run_pex(plain_pex, "venv", str(plain), python=python, env=tools))
    seen = probe(helpers.venv_python(prefer), env)
    assert isinstance(seen["base"], int) and isinstance(seen["own"], int), seen
    assert seen["base"] < seen["own"]
    assert seen["env"] == [None, env.get("HP_PRESET")]
    # The default (inherit-path = "false"): an isolated venv, no site hook.
    assert "include-system-site-packages = false" in (plain / "pyvenv.cfg").read_text()
    seen = probe(helpers.venv_python(plain), env)
    assert seen["base"] is None and isinstance(seen["own"], int), seen
    assert not list(plain.glob("lib/python*/site-packages/_hatch_pex_venv.*"))
    assert helpers.parse_demo_output(ok(helpers.run([plain / "bin" / "demo", "u"], env=env)).stdout)[
        "argv"
    ] == [
        str(plain / "bin" / "demo"),
        "u",
    ]


def test_venv_needs_an_interpreter_within_the_constraints(
    plain_pex: Path, python: Path, interpreters: dict[str, Path], env: dict[str, str], tmp_path: Path
) -> None:
    """Started by a CPython the pex does not serve, with none that it serves to be found: the venv is
    not made, and the message says what the pex needs and what was found."""
    others = [p for p in interpreters.values() if p != python]
    if not others:
        pytest.skip("needs a second CPython")
    empty = tmp_path / "empty-path"
    empty.mkdir()
    venv = tmp_path / "venv"
    tools = with_env(env, PEX_TOOLS="1", PATH=empty, PEX_PYTHON=None, PEX_PYTHON_PATH=None)
    stderr = start_failure(helpers.run_pex(plain_pex, "venv", str(venv), python=others[0], env=tools))
    constraints = " or ".join(pex_info(plain_pex)["interpreter_constraints"])  # type: ignore[arg-type]
    assert f"no interpreter fits demo-app: it needs Python {constraints}" in stderr, stderr
    assert not venv.exists()
    # With one on the search path, the venv is made by it.
    links = tmp_path / "links"
    links.mkdir()
    (links / python.name).symlink_to(python)
    ok(helpers.run_pex(plain_pex, "venv", str(venv), python=others[0], env=with_env(tools, PATH=links)))
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert f"\nversion = {version}." in "\n" + (venv / "pyvenv.cfg").read_text()
    assert os.access(venv / "bin" / "demo", os.X_OK)


# --------------------------------------------------------------------------------------------------
# cache
# --------------------------------------------------------------------------------------------------


def test_cache_shows_a_re_exec_record_for_what_it_is(
    plain_pex: Path, python: Path, interpreters: dict[str, Path], env: dict[str, str], tmp_path: Path
) -> None:
    """Started by a CPython the pex does not serve, the start re-executes under one it serves and leaves
    a record saying so for the next start (record.build_reexec): `cache` names both interpreters,
    where a warm record gives its entries."""
    others = [p for p in interpreters.values() if p != python]
    if not others:
        pytest.skip("needs a second CPython")
    other = others[0]
    other_version = ok(
        helpers.run([other, "-c", "import platform; print(platform.python_version())"], env=env)
    )
    run_env = with_env(env, PEX_ROOT=tmp_path / "root", PEX_PYTHON=python)
    assert helpers.parse_demo_output(ok(helpers.run_pex(plain_pex, python=other, env=run_env)).stdout)
    info = ok(helpers.run_pex(plain_pex, "cache", python=python, env=with_env(run_env, PEX_TOOLS="1"))).stdout
    records = [line.strip().split("  ", 1)[1] for line in info.splitlines() if line.startswith("    pexes/")]
    assert len(records) == 2, info  # the warm record of `python`, the re-exec record of `other`
    assert "demo-app, 3 entries, last used 0.0 days ago" in records, info
    assert (
        f"demo-app, re-exec record: {other} (CPython {other_version.stdout.strip()}) does not fit, runs "
        f"{python} instead, last used 0.0 days ago"
    ) in records, info


# --------------------------------------------------------------------------------------------------
# Ctrl-C during the start
# --------------------------------------------------------------------------------------------------


# Loaded by the interpreter that runs the pex (PYTHONPATH) to put a SIGINT at one precise point of the
# start, as HP_SIGINT_AT says:
#   handled-late  once the probe has started (HP_MARKER exists), sent to a thread of our own: Python's
#                 handler runs but the main thread's wait is not interrupted. That is what a SIGINT that
#                 lands just before the wait's system call starts does (rare, seen on a busy machine):
#                 the start must notice it without the wait being interrupted.
#   spawning      as the probe's child has been forked and executed, while subprocess.Popen() still runs
#   in-boot       at the first file boot() opens in the cache, before launch() runs
# Each probe child's pid is written to HP_CHILDREN (one a line).
SIGINT_AT = """\
import os, signal, subprocess, sys, threading, time

AT, ROOT, CHILDREN = os.environ["HP_SIGINT_AT"], os.environ["PEX_ROOT"], os.environ["HP_CHILDREN"]
_execute_child, _open = subprocess.Popen._execute_child, os.open


def execute_child(self, *args, **kwargs):
    _execute_child(self, *args, **kwargs)
    with open(CHILDREN, "a") as file:
        file.write(f"{self.pid}\\n")
    if AT == "spawning":
        os.kill(os.getpid(), signal.SIGINT)


def open_(path, *args, **kwargs):
    global AT
    if AT == "in-boot" and str(path).startswith(ROOT):
        AT = "sent"
        os.kill(os.getpid(), signal.SIGINT)
    return _open(path, *args, **kwargs)


def late():
    while not os.path.exists(os.environ["HP_MARKER"]):
        time.sleep(0.01)
    time.sleep(0.2)  # the start waits for the probe by then
    signal.pthread_kill(threading.get_ident(), signal.SIGINT)


subprocess.Popen._execute_child, os.open = execute_child, open_
if AT == "handled-late":
    threading.Thread(target=late, daemon=True).start()
"""


def _gone(pid: int) -> bool:
    """Not running any more: no such process, or a zombie (killed, not reaped yet by whoever
    inherited it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] in ("Z", "X")


@pytest.mark.parametrize("point", ["waiting", "handled-late", "spawning", "in-boot"])
def test_ctrl_c_during_the_start_exits_130(
    plain_pex: Path,
    python: Path,
    interpreters: dict[str, Path],
    env: dict[str, str],
    tmp_path: Path,
    point: str,
) -> None:
    """SIGINT at any point of the start exits 130 at once, no traceback, no error line (docs/runtime.md,
    "Exit codes and errors"), and leaves no probe child running. The start probes an interpreter that
    never answers (a cold start under an interpreter the pex does not serve). The SIGINT comes while the
    start waits for the probe (`waiting`, from here; `handled-late`, see SIGINT_AT), while the probe's
    child is being started (`spawning`) or in boot(), before launch() (`in-boot`)."""
    others = [p for p in interpreters.values() if p != python]
    if not others:
        pytest.skip("needs a second CPython")
    if not Path("/proc/self/stat").exists():
        pytest.skip("needs /proc")
    marker, children = tmp_path / "probed", tmp_path / "children"
    slow = tmp_path / "slow-python"
    sleep = shutil.which("sleep")
    assert sleep, "no sleep command"
    slow.write_text(f"#!/bin/sh\necho $$ > '{marker}'\nexec {sleep} 120\n")  # PATH has nothing in it
    slow.chmod(0o755)
    run_env = with_env(env, PEX_ROOT=tmp_path / "root", PEX_PYTHON=slow, PATH=tmp_path / "nothing")
    if point != "waiting":
        hooks = tmp_path / "hooks"
        hooks.mkdir()
        (hooks / "sitecustomize.py").write_text(SIGINT_AT)
        run_env = with_env(
            run_env, PYTHONPATH=hooks, HP_SIGINT_AT=point, HP_MARKER=marker, HP_CHILDREN=children
        )
    # SIGINT as a terminal's ^C leaves it, even if this test runs where it is ignored (a background job)
    default_sigint = signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    process = subprocess.Popen(
        [others[0], plain_pex, "x"],
        env=run_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)) if default_sigint else None,
    )
    try:
        if point == "waiting":
            for _ in range(600):
                if marker.exists() or process.poll() is not None:
                    break
                time.sleep(0.05)
            if not marker.exists():
                process.kill()
                pytest.fail(f"the start never probed the slow interpreter: {process.communicate()}")
            process.send_signal(signal.SIGINT)
        # Bounded well below the probe's own 60 s timeout, which a SIGINT left unnoticed waits for.
        stdout, stderr = process.communicate(timeout=40)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, (process.returncode, stdout, stderr)
    assert stdout == "" and stderr == "", (stdout, stderr)
    pids = {int(word) for path in (children, marker) if path.exists() for word in path.read_text().split()}
    for pid in pids:
        deadline = time.monotonic() + 10
        while not _gone(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _gone(pid), f"the probe's child still runs: {Path(f'/proc/{pid}/stat').read_text()}"
