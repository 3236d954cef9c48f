"""Keep index credentials out of every message, log line and archive.

The user-info of a URL is found the way pip finds it: everything between `//` and the last `@` of
the network location. A password that holds `/`, `?` or `#` ends the network location early (pip
cannot use it unless they are percent-encoded, but it is still a secret): then the user-info runs to
the `@` that is followed by a host[:port] and the end of the URL or its path. Over-redacting is
accepted; leaving a fragment of a password is not.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
# What may follow the `@` of a user-info: a host (name, address or [IPv6]), a port, then the end of
# the network location, of the URL, or of the quoted or bracketed text around it.
_HOST = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~%-]+)(:[0-9]*)?(?=[/?#'\"),;>\]]|$)")
# `user:secret@host` without a scheme in front (a mistyped URL is still a secret): where one may start.
_BARE_START = re.compile(r"(?:^|(?<=[\s'\"(=,;/<\[]))[^\s'\"/@:()<>\[\]]+:(?=[^/\s])")
_WHITESPACE = re.compile(r"\s")


def redact(text: str) -> str:
    """Replace the whole user-info part of every URL-like string in `text` with `****`."""
    return _replace_userinfo(_replace_userinfo(text, _SCHEME, bare=False), _BARE_START, bare=True)


def _replace_userinfo(text: str, start: re.Pattern[str], *, bare: bool) -> str:
    pieces: list[str] = []
    position = 0
    while True:
        match = start.search(text, position)
        if match is None:
            break
        begin = match.end() if not bare else match.start()
        space = _WHITESPACE.search(text, begin)
        end = space.start() if space else len(text)
        if not bare:  # a second URL run on to this one (`a=https://...,b=https://...`) is its own
            following = _SCHEME.search(text, begin, end)
            end = following.start() if following else end
        length = userinfo_length(text[begin:end], bare=bare)
        if length is None:
            pieces.append(text[position : match.end()])
            position = match.end()
            continue
        pieces += [text[position:begin], "****"]
        position = begin + length  # the `@` and what follows stay
    pieces.append(text[position:])
    return "".join(pieces)


def userinfo_length(token: str, *, bare: bool = False) -> int | None:
    """How many characters at the start of `token` (what follows `scheme://`, or a bare
    `user:secret@host...`) are user-info; None when there is none."""
    netloc_end = next((i for i, c in enumerate(token) if c in "/?#"), len(token))
    first = token[:netloc_end]
    # pip's reading: the last `@` of the network location.
    best = first.rfind("@")
    if best >= 0 and bare and not _HOST.match(token, best + 1):
        best = -1
    # A password with `/`, `?` or `#` in it: a later `@` followed by a host.
    for at in (i for i in range(netloc_end, len(token)) if token[i] == "@"):
        host = _HOST.match(token, at + 1)
        if host is None:
            continue
        user_and_password = ":" in first
        # `token/with-slash@host`: only when the first part cannot be a host of its own, and the
        # part after `@` looks like one (so that `git+https://localhost/x/y@v1` stays intact).
        token_only = bool(first) and "." not in first and ("." in host.group(1) or bool(host.group(2)))
        if user_and_password or token_only:
            best = at
    return best if best > 0 else None


def strip_credentials(url: str) -> str:
    """The URL without its user-info part (for metadata, where `****` would be noise)."""
    parts = urlsplit(url)
    _, at, host = parts.netloc.rpartition("@")
    if not at:
        return url
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
