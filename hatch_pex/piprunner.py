"""How pip runs: a few long-lived pip processes of the build interpreter (one per core), or, for a
platform resolved natively by another interpreter, that interpreter's own pip.

A build that serves several Python versions asks pip for one resolution per version; in one process
the index pages are fetched and parsed once for all of them. Only the speed-ups touch pip's internals,
and each is skipped when a pip version lacks what it patches.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

from . import progress
from .credentials import child_environment, work_subdirectory
from .platforms import CURRENT, LAST_MICRO, Platform

# A pip process that runs many pip commands, one JSON line each on stdin, answering each with its exit
# status on stdout; each command's output goes to a file. Within one process, index pages are fetched
# and parsed, and wheel file names parsed, once for every command (a multi-version build asks the same
# pages once per version), and the marker environment is the one the job names: pip evaluates markers
# for the interpreter it runs on, whatever --python-version says. A job run natively (an sdist to build)
# may also name the patch release its Requires-Python checks are for: "3.11.0" under a 3.11.7 (pip
# takes --python-version only for wheels-only resolutions, and reads sys.version_info when it has none).
# An argument, when given, is a directory to import pip from (the build's own pip, run by another
# interpreter).
_PIP_SERVER = """\
import json, os, sys, traceback
if len(sys.argv) > 1:
    sys.path.insert(0, sys.argv[1])
replies = os.fdopen(os.dup(1), "w")
os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
real_version_info = sys.version_info
class VersionInfo(tuple):  # sys.version_info's shape: pip reads both items and names
    major, minor, micro, releaselevel, serial = (property(lambda self, i=i: self[i]) for i in range(5))
from pip._vendor.packaging import markers
default_environment, job_markers = markers.default_environment, {}
def environment():  # installed once: modules that imported it by name see each job's values too
    return dict(job_markers) if job_markers else default_environment()
markers.default_environment = environment
try:  # pip internals: a speed-up only, skipped if a pip version lacks them
    from pip._internal.index import collector, package_finder
    pages, links = {}, {}
    fetch, parse = collector.LinkCollector.fetch_response, package_finder.parse_links
    def fetch_response(self, location, *args, **kwargs):
        if location.url not in pages:
            pages[location.url] = fetch(self, location, *args, **kwargs)
        return pages[location.url]
    def parse_links(page):
        if page.url not in links:
            links[page.url] = list(parse(page))
        return links[page.url]
    wheels, wheel_class = {}, package_finder.Wheel
    def wheel_named(filename):  # a wheel file name parsed once, not once per version resolved
        if filename not in wheels:
            wheels[filename] = wheel_class(filename)
        return wheels[filename]
    collector.LinkCollector.fetch_response = fetch_response
    # pip logs an index page it could not fetch at debug level only, then reports "no version found":
    # one line of our own names the index and why (diagnosis.py's INDEX_FAILURE), each time the page
    # is asked for, cached failures included.
    from pip._internal.utils.misc import redact_auth_from_url
    fail, failed, failures = collector._handle_get_simple_fail, [], {}
    def handle_get_simple_fail(link, reason, meth=None):
        failed.append(reason)
        fail(link, reason, meth)
    def fetch_or_fail(self, location, *args, **kwargs):
        url = location.url
        if url not in pages:
            del failed[:]
            content = fetch_response(self, location, *args, **kwargs)
            if content is None and failed:
                scope = getattr(self, "search_scope", None)
                indexes = [u for u in getattr(scope, "index_urls", []) if url.startswith(u.rstrip("/") + "/")]
                where = redact_auth_from_url(indexes[0] if indexes else url)
                where = "the index " + where if indexes else where
                reason = " ".join(str(failed[-1]).split())
                failures[url] = "hatch-pex-index-failure\\t%s\\t%s" % (where, reason)
        if url in failures:
            sys.stderr.write(failures[url] + "\\n")
        return pages[url]
    collector._handle_get_simple_fail = handle_get_simple_fail
    collector.LinkCollector.fetch_response = fetch_or_fail
    package_finder.parse_links = parse_links
    package_finder.Wheel = wheel_named
except (ImportError, AttributeError):
    pass
from pip._internal.cli.main import main
try:  # imported now, while the build does other work, rather than by the first command
    import pip._internal.commands.download, pip._internal.commands.install, pip._internal.commands.wheel
except ImportError:
    pass
for line in sys.stdin:
    job = json.loads(line)
    job_markers.clear()
    job_markers.update(job["markers"] or {})
    release = job.get("python_release")
    same_minor = release and tuple(release[:2]) == tuple(real_version_info[:2])
    sys.version_info = VersionInfo((*release, "final", 0)) if same_minor else real_version_info
    with open(job["output"], "w", encoding="utf-8") as output:
        sys.stdout = sys.stderr = output
        try:
            status = main(job["arguments"])
        except SystemExit as exit:
            status = exit.code if isinstance(exit.code, int) else 1
        except BaseException:
            traceback.print_exc()
            status = 1
        finally:
            sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
    replies.write(json.dumps({"status": status}) + "\\n")
    replies.flush()
"""


class PipServers:
    """Up to `size` pip server processes of `python`, each serving one job at a time; with
    `borrowed_pip`, a directory holding the build's pip, which they import instead of their own."""

    def __init__(self, python: str, size: int, borrowed_pip: str | None = None) -> None:
        self.python = python
        self.size = max(1, size)
        self.borrowed_pip = borrowed_pip
        self._idle: list[subprocess.Popen[str]] = []
        self._all: list[subprocess.Popen[str]] = []
        self._available = threading.Condition()

    def run(
        self,
        arguments: list[str],
        markers: dict[str, str] | None,
        output: str,
        release: tuple[int, int, int] | None = None,
    ) -> int:
        """pip `arguments`, markers evaluated in `markers`, Requires-Python checked for `release` (an
        interpreter of that minor version only); its exit status, its output written to `output`."""
        server = self._acquire()
        healthy = False
        try:
            assert server.stdin is not None and server.stdout is not None
            job = {"arguments": arguments, "markers": markers, "output": output, "python_release": release}
            server.stdin.write(json.dumps(job) + "\n")
            server.stdin.flush()
            reply = server.stdout.readline()
            status = int(json.loads(reply)["status"]) if reply else 1
            healthy = bool(reply)
            return status
        except (OSError, ValueError, KeyError):
            return 1
        finally:
            self._release(server, healthy)

    def _acquire(self) -> subprocess.Popen[str]:
        with self._available:
            while not self._idle and len(self._all) >= self.size:
                self._available.wait()
            return self._idle.pop() if self._idle else self._spawn()

    def start(self, count: int) -> None:
        """Start up to `count` servers now: pip imports itself while the build does other work."""
        with self._available:
            while len(self._all) < min(count, self.size):
                self._idle.append(self._spawn())
            self._available.notify_all()

    def _spawn(self) -> subprocess.Popen[str]:
        # The build interpreter runs as the build environment set it up; another one isolated (-I),
        # as `python -m pip` would run in it.
        command = [self.python, "-c", _PIP_SERVER]
        if self.python != sys.executable:
            command[1:1] = ["-I"]
        if self.borrowed_pip:
            command.append(self.borrowed_pip)
        server = subprocess.Popen(
            command,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True, encoding="utf-8", env=pip_environment(),
        )  # fmt: skip
        self._all.append(server)
        return server

    def _release(self, server: subprocess.Popen[str], healthy: bool) -> None:
        with self._available:
            if healthy:
                self._idle.append(server)
            else:  # a server that died or broke its protocol is not used again
                self._all.remove(server)
                server.kill()
            self._available.notify()

    def close(self) -> None:
        """Stop the servers. They are idle, waiting for a job: nothing is lost by terminating them,
        and a pip process takes a fifth of a second to wind down by itself."""
        for server in self._all:
            if server.stdin:
                server.stdin.close()
            server.terminate()
        for server in self._all:
            server.wait()
        self._all.clear()
        self._idle.clear()


_SERVERS: PipServers | None = None


@contextmanager
def pip_servers(python: str = sys.executable, size: int | None = None) -> Iterator[PipServers]:
    """While open, pip commands run by the build interpreter go to a few long-lived pip processes
    (one per core by default). Inside an open one, the same servers are used."""
    global _SERVERS
    if _SERVERS is not None and _SERVERS.python == python:
        yield _SERVERS
        return
    servers = PipServers(python, size or (os.cpu_count() or 1))
    _SERVERS = servers
    try:
        yield servers
    finally:
        _SERVERS = None
        servers.close()


def pip_environment() -> dict[str, str]:
    """pip's environment: ours, with the netrc of the configured index credentials when there is one
    (credentials.provide_credentials), so that no credential is ever on a command line."""
    environment = child_environment()
    environment.setdefault("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    environment["PYTHONIOENCODING"] = "utf-8"
    return environment


@cache
def _has_own_pip(python: str) -> bool:
    """Whether `python` has a pip of its own that writes resolution reports (22.2 or newer)."""
    try:
        result = subprocess.run(
            [python, "-I", "-m", "pip", "--version"],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return False
    words = result.stdout.split()
    if result.returncode != 0 or len(words) < 2:
        return False
    release = tuple(int(part) for part in words[1].split(".")[:2] if part.isdigit())
    return release >= (22, 2)


def run_pip(python: str, arguments: list[str], platform: Platform | None = None) -> tuple[int, str]:
    """pip `arguments` for `platform` (None: the build interpreter's own): (exit status, output).

    A local platform's markers and Requires-Python are evaluated for the release it is resolved for
    (3.11.0, say), natively too: never for the patch level of the interpreter that happens to run pip.
    """
    markers = None
    release = None
    if platform is not None and platform.text != CURRENT:
        markers = platform.marker_environment()
        if platform.is_native:
            major, minor, micro = (int(part) for part in platform.full_version.split("."))
            release = (major, minor, micro)
    scratch = tempfile.TemporaryDirectory(prefix="hatch-pex-pip-")
    with scratch as directory:
        log = os.path.join(directory, "output.txt")
        if platform is None or platform.python in (None, python):
            with pip_servers(python, 1) as servers:  # the build's servers, else one for this command
                status = servers.run(arguments, markers, log, release)
        else:
            # Natively, under an interpreter of that version: the build's pip run by it where that pip
            # supports its Python (one pip, one behaviour: an old pip of its own builds sdists without
            # PEP 517 isolation), else its own (22.2 or newer writes reports), else the build's anyway.
            interpreter = str(platform.python)
            own = not _build_pip_supports(platform.python_version) and _has_own_pip(interpreter)
            borrowed = None if own else _borrowed_pip(directory)
            servers = PipServers(interpreter, 1, borrowed)
            try:
                status = servers.run(arguments, markers, log, release)
            finally:
                servers.close()
        try:
            with open(log, encoding="utf-8", errors="replace") as stream:
                output = stream.read()
        except FileNotFoundError:  # the pip process ended before it took the command
            runner = platform.python if platform and platform.python else python
            output = f"ERROR: pip ({runner}) ended without running the command"
            status = status or 1
    # `hatch -v build` shows it (redacted); platforms resolve at once, so each block names its own.
    progress.tool_output(f"pip ({platform.description})" if platform else "pip", output)
    return status, output


@cache
def _build_pip_supports(version: str) -> bool:
    """Whether the build environment's pip runs under CPython `version` ("3.9"): its Requires-Python."""
    from importlib.metadata import PackageNotFoundError, metadata

    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    try:
        requires = metadata("pip")["Requires-Python"] or ""
        return SpecifierSet(requires).contains(f"{version}.{LAST_MICRO}", prereleases=True)
    except (PackageNotFoundError, InvalidSpecifier):
        return False


def _borrowed_pip(directory: str) -> str:
    """A directory holding only the build environment's pip (a link to it), for another interpreter to
    import it from: none of the build environment's other packages, built for another Python, with it."""
    import pip

    holder = work_subdirectory(directory, "borrowed-pip")
    os.symlink(os.path.dirname(os.path.abspath(pip.__file__)), os.path.join(holder, "pip"))
    return holder


def resolution_arguments() -> list[str]:
    """pip's options for a resolution: `--quiet` (quiet_arguments) and one retry per request.

    pip retries each request five times with a growing pause: 8 s for each page of an index that
    refuses connections, minutes across the versions a build serves, before it says anything. One retry
    rides out a blip; a PIP_RETRIES variable or a `retries` in pip's configuration is honoured instead.
    Downloads keep pip's schedule: their index answered a moment ago.
    """
    return [*quiet_arguments(), *([] if _retries_configured() else ["--retries", "1"])]


@cache
def _retries_configured() -> bool:
    if "PIP_RETRIES" in os.environ:
        return True
    try:  # pip's configuration files, read as pip reads them (the build's own pip)
        from pip._internal.configuration import Configuration

        configuration = Configuration(isolated=False)
        configuration.load()
        return any(key.rpartition(".")[2] == "retries" for key, _ in configuration.items())
    except Exception:  # an internal API: if it changed, cut the retries anyway
        return False


def quiet_arguments() -> list[str]:
    """pip's and uv's `--quiet`, except at `hatch -v build`, which shows what they say."""
    return [] if progress.verbose() else ["--quiet"]
