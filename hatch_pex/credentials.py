"""Index credentials reach pip and uv through a private netrc file, never through a command line.

A URL given as an argument (`--index-url https://user:secret@host/simple`) can be read by any local
user from /proc/<pid>/cmdline, and pip hands its index URLs on to the pip it starts to install an
sdist's build requirements. So pip and uv are given the URLs without their user-info, and the
credentials go into a netrc file that `NETRC` names in the environment of every pip and uv process:
pip (through requests) and uv read it, and the processes pip starts inherit it. The user's own netrc
(`NETRC` or ~/.netrc) comes first in that file, so its other hosts keep working; ours come after, and
win (pip's and uv's readers take a host's last entry).

Nothing holding a credential may outlive the build, however it ends. On Linux the file is an
anonymous memory file (memfd, mode 0600) of the build process, which pip, uv and their subprocesses
open as /proc/<build pid>/fd/<n>: only the same user (and root) may open another process's
descriptors, and the file is gone with the last descriptor, when the build ends, is interrupted or is
killed (SIGKILL included). Elsewhere it is a file (mode 0600) in a private temporary directory,
removed when the build ends and on SIGTERM, SIGINT and SIGHUP (then the signal does what it did
before: the exit status stays that of the signal); only SIGKILL leaves it behind there.
"""

from __future__ import annotations

import netrc
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from urllib.parse import unquote, urlsplit, urlunsplit

from .redact import redact, redact_url


class CredentialsError(ValueError):
    """Credentials in the configured URLs that cannot be handed over safely (message redacted)."""


@dataclass(frozen=True)
class Login:
    """A user-info's user and password, percent-decoded; `https://token@host` has no password."""

    user: str
    password: str | None


def split_credentials(url: str) -> tuple[str, Login | None]:
    """(the URL without its user-info, the login it carried), read as pip reads it: the user-info is
    what precedes the last `@` of the network location, user and password part at the first `:`,
    both percent-decoded. A local path is returned as it is."""
    if "://" not in url:
        return url, None
    parts = urlsplit(url)
    userinfo, at, host = parts.netloc.rpartition("@")
    clean = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment)) if at else url
    # Whitespace has no place in an index URL but in its user-info: there, any later `@` before a host
    # ends the user-info, whatever the free-text rule of redact() concludes.
    if redact(clean) != clean or (any(c.isspace() for c in clean) and redact_url(clean) != clean):
        # `/`, `?` or `#` in a password end the network location early: pip would take the rest of
        # the password for the host and path, and pass it on in the URL.
        raise CredentialsError(
            f"The URL {redact_url(url)} carries credentials pip cannot read: percent-encode `/`, `?` and "
            f"`#` in the user name and password (%2F, %3F, %23)"
        )
    if not at:
        return url, None
    user, colon, password = userinfo.partition(":")
    return clean, Login(unquote(user), unquote(password) if colon else None)


def without_credentials(url: str) -> str:
    return split_credentials(url)[0]


def logins_by_host(urls: Iterable[str]) -> dict[str, Login]:
    """{host: login} of the URLs that carry credentials (hosts lowercased, without the port: netrc
    knows no ports). Two different logins for one host fail, naming it."""
    logins: dict[str, Login] = {}
    sources: dict[str, str] = {}
    for url in urls:
        clean, login = split_credentials(url)
        if login is None:
            continue
        host = urlsplit(clean).hostname
        if not host:
            raise CredentialsError(f"The URL {redact_url(url)} carries credentials but names no host")
        if host in logins and logins[host] != login:
            raise CredentialsError(
                f"The URLs {redact_url(sources[host])} and {redact_url(url)} carry different credentials for "
                f"the host {host}; pip and uv get them from a netrc file, which holds one login per host "
                f"(whatever the port): use one user and password for {host}"
            )
        logins[host] = login
        sources[host] = url
    return logins


def netrc_text(logins: dict[str, Login]) -> str:
    """netrc entries for `logins`, quoted where netrc needs it (a value with spaces, a backslash, a
    leading quote, or none at all: Python 3.11+'s and uv's readers understand the quotes; Python
    3.9's and 3.10's do not, so such values only work where pip runs under 3.11 or newer)."""
    lines = []
    for host, login in logins.items():
        lines += [
            f"machine {_quoted(host)}",
            f"  login {_quoted(login.user)}",
            f"  password {_quoted(login.password or '')}",
            "",
        ]
    return "\n".join(lines)


def _quoted(value: str) -> str:
    if value and not any(c.isspace() for c in value) and "\\" not in value and not value.startswith('"'):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _user_netrc() -> str:
    """The text of the netrc pip and uv would read without us ("" if none can be read)."""
    named = os.environ.get("NETRC")
    home = os.path.expanduser("~")
    candidates = [named] if named else [os.path.join(home, ".netrc"), os.path.join(home, "_netrc")]
    for path in candidates:
        try:
            with open(path, encoding="utf-8") as stream:
                return stream.read()
        except (OSError, UnicodeDecodeError):
            continue
    return ""


def netrc_versions(logins: dict[str, Login]) -> list[str]:
    """The texts to try, in turn, for the netrc file of `logins`: the user's netrc followed by ours,
    then ours alone (for a user's netrc that cannot be parsed: pip would have ignored it)."""
    ours = netrc_text(logins)
    user = _user_netrc()
    # A blank line ends a macdef the user's file may end with.
    return [f"{user}\n\n{ours}", ours] if user.strip() else [ours]


def write_netrc(path: str, logins: dict[str, Login]) -> None:
    """Write the first of `netrc_versions(logins)` that parses to `path` (created with mode 0600)."""
    *earlier, last = netrc_versions(logins)
    for text in earlier:
        _write_private(path, text)
        if _parses(path):
            return
        os.unlink(path)
    _write_private(path, last)


def _write_private(path: str, text: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with open(descriptor, "w", encoding="utf-8") as stream:
        stream.write(text)


def _parses(path: str) -> bool:
    try:
        netrc.netrc(path)
    except (netrc.NetrcParseError, OSError, UnicodeDecodeError):
        return False
    return True


def memory_netrc(texts: list[str]) -> tuple[int, str] | None:
    """(descriptor, path) of an anonymous memory file holding the first of `texts` that parses (the
    last one whatever it holds), which other processes of this user open by that path
    (/proc/<pid>/fd/<n>); None where there is no such file (no memfd, or no /proc to open it by)."""
    create = getattr(os, "memfd_create", None)
    if create is None:
        return None
    try:
        descriptor = create("hatch-pex-netrc", getattr(os, "MFD_CLOEXEC", 0))
    except OSError:
        return None
    path = f"/proc/{os.getpid()}/fd/{descriptor}"
    try:
        os.fchmod(descriptor, 0o600)  # /proc guards it already: only this user may open it by path
        for number, text in enumerate(texts):
            data = text.encode("utf-8")
            os.ftruncate(descriptor, 0)
            os.pwrite(descriptor, data, 0)
            # What pip and uv will do: open it by its path, and read it whole.
            with open(path, "rb") as stream:
                if stream.read() != data:
                    raise OSError(f"{path} does not read back what was written")
            if number == len(texts) - 1 or _parses(path):
                return descriptor, path
    except OSError:
        pass
    os.close(descriptor)
    return None


#: The signals that end a build early (CI cancelling a job, a closed terminal, Ctrl-C).
ENDING_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGHUP") if hasattr(signal, name)
)


@contextmanager
def cleaned_up_on_signals(cleanup: Callable[[], None]) -> Iterator[None]:
    """While open, SIGTERM, SIGINT and SIGHUP run `cleanup`, then do what they did before: the
    previous Python handler runs (SIGINT's raises KeyboardInterrupt, hatch's own handling stays), a
    default action is taken again by sending the signal anew (the exit status stays that of the
    signal), an ignored signal stays ignored. The previous handlers are restored on exit. Outside the
    main thread, where Python installs no handlers, nothing is changed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[int, Callable[[int, FrameType | None], object] | int] = {}

    def handler(number: int, frame: FrameType | None) -> None:
        cleanup()
        earlier = previous.get(number, signal.SIG_DFL)
        if callable(earlier):
            earlier(number, frame)
        elif earlier == signal.SIG_DFL:
            signal.signal(number, signal.SIG_DFL)
            os.kill(os.getpid(), number)

    try:
        for number in ENDING_SIGNALS:
            earlier = signal.signal(number, handler)
            # None: a handler installed outside Python, which cannot be restored; the default then.
            previous[number] = signal.SIG_DFL if earlier is None else earlier
        yield
    finally:
        for number, earlier in previous.items():
            signal.signal(number, earlier)


@contextmanager
def scratch_directory(prefix: str) -> Iterator[str]:
    """A private temporary directory (mode 0700) for a build's own files, some of which may hold a URL
    with credentials (a requirements file naming a direct reference of a lock): removed on exit and
    on the signals that end a build (cleaned_up_on_signals). Only SIGKILL leaves it behind."""
    scratch = tempfile.TemporaryDirectory(prefix=prefix)
    with scratch as directory, cleaned_up_on_signals(lambda: _remove_in_use(directory)):
        yield directory


def work_subdirectory(parent: str, name: str) -> str:
    """`parent`/`name`, made if missing, inside a scratch directory that must still exist: unlike
    os.makedirs, never made again once a signal has removed it (a resolution thread whose pip was ended
    by the same signal could otherwise bring the work directory back before the build dies)."""
    path = os.path.join(parent, name)
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        if not os.path.isdir(path):
            raise
    return path


def _remove_in_use(directory: str) -> None:
    """Removes a directory that other threads and processes (pip) may still be writing into: renamed
    first, so that no file they make by its old path can land in what is being removed."""
    away = f"{directory}.removed"
    try:
        os.rename(directory, away)
    except OSError:
        away = directory
    shutil.rmtree(away, ignore_errors=True)


@contextmanager
def private_netrc(logins: dict[str, Login]) -> Iterator[str]:
    """While open, the path of a netrc file holding `logins` (netrc_versions) that only this user
    can read: a memory file where there is one, else a file in a private temporary directory,
    removed on exit and on the signals that end a build (scratch_directory)."""
    texts = netrc_versions(logins)
    memory = memory_netrc(texts)
    if memory is not None:
        descriptor, path = memory
        try:
            yield path
        finally:
            os.close(descriptor)
        return
    with scratch_directory("hatch-pex-netrc-") as directory:  # mode 0700, ours alone
        path = os.path.join(directory, "netrc")
        write_netrc(path, logins)
        yield path


@dataclass(frozen=True)
class _Provided:
    logins: dict[str, Login]
    environment: dict[str, str]


_PROVIDED: _Provided | None = None


@contextmanager
def provide_credentials(urls: Iterable[str]) -> Iterator[dict[str, str]]:
    """While open, every pip and uv process started through `child_environment()` finds the
    credentials of `urls` in a private netrc file (private_netrc); yields the environment additions
    (`NETRC`). Nothing is written when no URL carries credentials. Inside an open one for the same
    credentials, that one is used."""
    global _PROVIDED
    logins = logins_by_host(urls)
    if not logins or (_PROVIDED is not None and _PROVIDED.logins == logins):
        yield dict(_PROVIDED.environment) if _PROVIDED else {}
        return
    with private_netrc(logins) as path:
        previous, _PROVIDED = _PROVIDED, _Provided(logins, {"NETRC": path})
        try:
            yield dict(_PROVIDED.environment)
        finally:
            _PROVIDED = previous


def child_environment() -> dict[str, str]:
    """The environment for a pip or uv process: ours, plus the open `provide_credentials`'s netrc."""
    environment = dict(os.environ)
    if _PROVIDED is not None:
        environment.update(_PROVIDED.environment)
    return environment
