"""Index credentials reach pip and uv through a private netrc file, never through a command line.

A URL given as an argument (`--index-url https://user:secret@host/simple`) can be read by any local
user from /proc/<pid>/cmdline, and pip hands its index URLs on to the pip it starts to install an
sdist's build requirements. So pip and uv are given the URLs without their user-info, and the
credentials go into a netrc file (mode 0600, in a private temporary directory, removed when the
build ends) that `NETRC` names in the environment of every pip and uv process: pip (through
requests) and uv read it, and the processes pip starts inherit it. The user's own netrc (`NETRC` or
~/.netrc) comes first in that file, so its other hosts keep working; ours come after, and win
(pip's and uv's readers take a host's last entry).
"""

from __future__ import annotations

import netrc
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit, urlunsplit

from .redact import redact


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
    if redact(clean) != clean:
        # `/`, `?` or `#` in a password end the network location early: pip would take the rest of
        # the password for the host and path, and pass it on in the URL.
        raise CredentialsError(
            f"The URL {redact(url)} carries credentials pip cannot read: percent-encode `/`, `?` and "
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
            raise CredentialsError(f"The URL {redact(url)} carries credentials but names no host")
        if host in logins and logins[host] != login:
            raise CredentialsError(
                f"The URLs {redact(sources[host])} and {redact(url)} carry different credentials for "
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


def write_netrc(path: str, logins: dict[str, Login]) -> None:
    """Write the user's netrc, then `logins`, to `path` (created with mode 0600). If the user's
    netrc cannot be parsed (pip would have ignored it), ours is written alone."""
    ours = netrc_text(logins)
    user = _user_netrc()
    if user.strip():
        _write_private(path, f"{user}\n\n{ours}")  # a blank line ends a trailing macdef
        if _parses(path):
            return
        os.unlink(path)
    _write_private(path, ours)


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


@dataclass(frozen=True)
class _Provided:
    logins: dict[str, Login]
    environment: dict[str, str]


_PROVIDED: _Provided | None = None


@contextmanager
def provide_credentials(urls: Iterable[str]) -> Iterator[dict[str, str]]:
    """While open, every pip and uv process started through `child_environment()` finds the
    credentials of `urls` in a private netrc file; yields the environment additions (`NETRC`).
    Nothing is written when no URL carries credentials. Inside an open one for the same
    credentials, that one is used."""
    global _PROVIDED
    logins = logins_by_host(urls)
    if not logins or (_PROVIDED is not None and _PROVIDED.logins == logins):
        yield dict(_PROVIDED.environment) if _PROVIDED else {}
        return
    directory = tempfile.mkdtemp(prefix="hatch-pex-netrc-")  # mode 0700, ours alone
    try:
        path = os.path.join(directory, "netrc")
        write_netrc(path, logins)
        previous, _PROVIDED = _PROVIDED, _Provided(logins, {"NETRC": path})
        try:
            yield dict(_PROVIDED.environment)
        finally:
            _PROVIDED = previous
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def child_environment() -> dict[str, str]:
    """The environment for a pip or uv process: ours, plus the open `provide_credentials`'s netrc."""
    environment = dict(os.environ)
    if _PROVIDED is not None:
        environment.update(_PROVIDED.environment)
    return environment
