"""End to end: restarts by re-exec land back in the .pex (docs/runtime.md, "What `__main__` looks like").

Servers restart themselves by running `sys.executable` again: Django's autoreloader with `-m` of
`__main__.__spec__` when `__main__` has a spec and with `sys.argv` otherwise; werkzeug's with
`sys.orig_argv` on 3.10+ and, on 3.9, from `__main__.__package__` and `sys.argv[0]`; gunicorn's USR2
upgrade and the `os.execv(sys.executable, [sys.executable] + sys.argv)` idiom with `sys.argv`. Each test
runs the real thing from a .pex built by hatch (fixtures/apps/django-app and reexec-app) and proves the
restarted process is the same .pex with the same arguments: it serves HTTP on 127.0.0.1 (the reloaders
start their child at once) or prints its report. Every process runs in a session of its own, killed
whole on teardown.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import helpers
import pytest
from helpers import ok, with_env
from test_e2e_runtime import shared_build

#: 3.9: werkzeug's reloader reads `__main__.__package__` and Django 4.2 runs; 3.12: werkzeug reads
#: `sys.orig_argv` and Django 5.2 runs.
VERSIONS = ("3.9", "3.12")
SERVED = f"python-versions = {json.dumps(list(VERSIONS))}"
SERVE_TIMEOUT = 120.0  # a first start extracts Django (~9 MB) on a shared 2-core machine


@pytest.fixture(scope="module")
def manage(tmp_path_factory: pytest.TempPathFactory, index_url: str, uv_cache: Path) -> Path:
    """fixtures/apps/django-app: `manage.pex`, the console script `mysite.manage:main`."""
    [pex] = shared_build(tmp_path_factory, index_url, uv_cache, "reexec-django", "django-app", SERVED)
    return pex


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory, index_url: str, uv_cache: Path) -> Path:
    """fixtures/apps/reexec-app built for its console script `reexec_app.serve:main`."""
    [pex] = shared_build(tmp_path_factory, index_url, uv_cache, "reexec-serve", "reexec-app", SERVED)
    return pex


@pytest.fixture(scope="module")
def module_entry(tmp_path_factory: pytest.TempPathFactory, index_url: str, uv_cache: Path) -> Path:
    """fixtures/apps/reexec-app built with the module entry point `reexec_app.serve` (python -m style)."""
    table = f'{SERVED}\nmodule = "reexec_app.serve"'
    [pex] = shared_build(tmp_path_factory, index_url, uv_cache, "reexec-module", "reexec-app", table)
    assert helpers.pex_info(pex)["entry_point"] == "reexec_app.serve"
    return pex


@pytest.fixture(params=VERSIONS)
def version(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def python(version: str, interpreters: dict[str, Path]) -> Path:
    if version not in interpreters:
        pytest.skip(f"no Python {version} on this machine")
    return interpreters[version]


@contextmanager
def started(cmd: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`cmd` running in a session of its own (the reloader and its children), output to `log`; the
    whole session is killed on exit."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=10)
                break
            except subprocess.TimeoutExpired:
                continue
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # children the reloader left behind


def served(
    url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = SERVE_TIMEOUT, not_pid: object = None
) -> dict[str, object]:
    """The JSON report served at `url`, once a process other than `not_pid` serves it; fails with the
    server's output when the server exits or nothing answers in time."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{proc.args} exited {proc.returncode}:\n{log.read_text(errors='replace')}")
        try:
            with opener.open(url, timeout=5) as response:
                report = json.loads(response.read())
            if report["pid"] != not_pid:
                return report  # type: ignore[no-any-return]
        except (urllib.error.URLError, OSError, ValueError):
            pass
        time.sleep(0.2)
    pytest.fail(f"nothing served {url} in {timeout}s:\n{log.read_text(errors='replace')}")


def from_cache(path: object, env: dict[str, str]) -> bool:
    """Whether a module file was loaded from the pex's cache under PEX_ROOT (not from anywhere else)."""
    return os.path.realpath(str(path)).startswith(os.path.realpath(env["PEX_ROOT"]) + os.sep)


# --------------------------------------------------------------------------------------------------
# Console script (module:function entry point)
# --------------------------------------------------------------------------------------------------


def test_django_runserver_autoreloader(
    manage: Path, version: str, python: Path, env: dict[str, str], tmp_path: Path
) -> None:
    """`manage runserver` with Django's autoreloader: the child it starts at once (RUN_MAIN=true) is the
    pex again, and a change to a watched file outside the pex (settings on PEX_EXTRA_SYS_PATH) restarts
    it once more."""
    port = helpers.free_port()
    settings = tmp_path / "settings"
    settings.mkdir()
    (settings / "local_settings.py").write_text("from mysite.settings import *  # noqa: F403\n")
    run_env = with_env(env, DJANGO_SETTINGS_MODULE="local_settings", PEX_EXTRA_SYS_PATH=settings)
    args = ["runserver", f"127.0.0.1:{port}"]
    log = tmp_path / "runserver.log"
    with started([str(python), str(manage), *args], run_env, log) as proc:
        first = served(f"http://127.0.0.1:{port}/", proc, log)
        assert first["run_main"] == "true", first  # the reloader's child serves
        assert first["pid"] != proc.pid
        assert first["argv"] == [str(manage), *args]
        assert (first["main_spec"], first["main_package"]) == (None, None)
        assert from_cache(first["mysite"], env), first
        assert str(first["django"]).startswith("4." if version == "3.9" else "5."), first

        time.sleep(1.1)  # past the reloader's first snapshot, and a new mtime for the file
        os.utime(settings / "local_settings.py")
        second = served(f"http://127.0.0.1:{port}/", proc, log, not_pid=first["pid"])
        assert second["run_main"] == "true" and second["argv"] == first["argv"], second
        assert "local_settings.py changed, reloading" in log.read_text(errors="replace")


def test_werkzeug_reloader_console_script(
    serve: Path, version: str, python: Path, env: dict[str, str], tmp_path: Path
) -> None:
    """werkzeug's `run_simple(use_reloader=True)`: on 3.9 it restarts `sys.argv[0]` as a script because
    `__main__.__package__` is None (as under a pip console script), on 3.10+ `sys.orig_argv`."""
    port = helpers.free_port()
    log = tmp_path / "werkzeug.log"
    with started([str(python), str(serve)], with_env(env, REEXEC_PORT=str(port)), log) as proc:
        report = served(f"http://127.0.0.1:{port}/", proc, log)
    assert report["child"] is True and report["pid"] != proc.pid, report
    assert report["argv"] == [str(serve)], report
    assert (report["main_spec"], report["main_package"]) == (None, None)
    assert from_cache(report["module"], env) and report["version"] == version, report


def execv_reports(pex: Path, python: Path, env: dict[str, str], *args: str) -> list[dict[str, object]]:
    """The reports of a pex that re-executes itself once, as gunicorn's arbiter does (REEXEC_VIA=execv)."""
    result = ok(
        helpers.run_pex(pex, *args, python=python, env=with_env(env, REEXEC_VIA="execv"), timeout=120)
    )
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_execv_console_script(serve: Path, python: Path, env: dict[str, str]) -> None:
    """`os.execv(sys.executable, [sys.executable] + sys.argv)` (gunicorn's USR2 upgrade): same pex, same
    arguments; `__main__` as under a pip console script on both sides."""
    parent, child = execv_reports(serve, python, env, "a", "--b")
    assert parent["argv"] == child["argv"] == [str(serve), "a", "--b"]
    assert (parent["child"], child["child"]) == (False, True) and child["pid"] == parent["pid"]
    for report in (parent, child):
        assert (report["main_spec"], report["main_package"]) == (None, None), report


# --------------------------------------------------------------------------------------------------
# Module entry point (python -m style)
# --------------------------------------------------------------------------------------------------


def test_module_entry_point_reexec(
    module_entry: Path, version: str, python: Path, env: dict[str, str], tmp_path: Path
) -> None:
    """A module entry point runs as under `python -m`: `__main__` has the module's own spec (so
    multiprocessing's spawn and pickle find it), `sys.argv[0]` is the pex. Restarts from `sys.argv` or
    `sys.orig_argv` land back in the pex. (Django's autoreloader, and werkzeug's on 3.9, restart
    `sys.executable -m reexec_app.serve` from the spec, which a plain interpreter cannot find:
    docs/runtime.md says to use a `module:function` entry point with them.)"""
    parent, child = execv_reports(module_entry, python, env, "x")
    for report in (parent, child):
        assert report["argv"] == [str(module_entry), "x"], report
        assert (report["main_spec"], report["main_package"]) == ("reexec_app.serve", "reexec_app"), report
    assert child["child"] is True and from_cache(child["module"], env)

    if version == "3.9":
        return  # werkzeug on 3.9 restarts `-m` (see above)
    port = helpers.free_port()
    log = tmp_path / "werkzeug.log"
    with started([str(python), str(module_entry)], with_env(env, REEXEC_PORT=str(port)), log) as proc:
        report = served(f"http://127.0.0.1:{port}/", proc, log)
    assert report["child"] is True and report["pid"] != proc.pid, report
    assert report["main_spec"] == "reexec_app.serve" and report["argv"] == [str(module_entry)], report


# --------------------------------------------------------------------------------------------------
# PEX_SCRIPT
# --------------------------------------------------------------------------------------------------


def test_pex_script_reexec(
    manage: Path, module_entry: Path, python: Path, env: dict[str, str], tmp_path: Path
) -> None:
    """PEX_SCRIPT runs another console script of the pex: the restarted process inherits the variable
    and runs that script again. Django's `django-admin runserver` (its autoreloader) from manage.pex,
    and werkzeug's reloader by PEX_SCRIPT=reexec-serve from the module-entry-point pex."""
    port = helpers.free_port()
    args = ["runserver", f"127.0.0.1:{port}"]
    run_env = with_env(env, PEX_SCRIPT="django-admin", DJANGO_SETTINGS_MODULE="mysite.settings")
    log = tmp_path / "django-admin.log"
    with started([str(python), str(manage), *args], run_env, log) as proc:
        report = served(f"http://127.0.0.1:{port}/", proc, log)
    assert report["run_main"] == "true" and report["pid"] != proc.pid, report
    assert report["argv"] == [str(manage), *args]
    assert (report["main_spec"], report["main_package"]) == (None, None)

    port = helpers.free_port()
    run_env = with_env(env, PEX_SCRIPT="reexec-serve", REEXEC_PORT=str(port))
    log = tmp_path / "werkzeug.log"
    with started([str(python), str(module_entry)], run_env, log) as proc:
        report = served(f"http://127.0.0.1:{port}/", proc, log)
    assert report["child"] is True and report["argv"] == [str(module_entry)], report
    assert (report["main_spec"], report["main_package"]) == (None, None)
