"""Keep index credentials out of every message, log line and archive.

The user-info of a URL is found the way pip finds it: the network location runs from `//` to the
first `/`, `?` or `#` (whitespace does not end it: a password may hold spaces, tabs or newlines), and
the user-info is everything up to its last `@`. Where that crosses whitespace, the `@` must be
followed by a host (and a port): the end of the network location, of the URL or of the text around
it. A password that holds `/`, `?` or `#` ends the network location early (pip cannot use it unless
they are percent-encoded, but it is still a secret): then the user-info runs to a later `@` that is
followed by a host, on the same line. Over-redacting is accepted; leaving a fragment of a password
is not.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
# What may follow the `@` of a user-info: a host (name, address or [IPv6]), a port, then the end of
# the network location, of the URL, or of the quoted or bracketed text around it.
_HOST = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~%-]+)(:[0-9]*)?(?=[/?#'\"),;>\]]|$)")
# The same, where whitespace may end the URL (its user-info ran across whitespace).
_HOST_IN_TEXT = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~%-]+)(:[0-9]*)?(?=[/?#'\"),;>\]\s]|$)")
# A network location that is a host and a port, nothing else (`host:8080`): no user-info.
_HOST_AND_PORT = re.compile(r"[A-Za-z0-9._~%-]+:[0-9]*")
# `user:secret@host` without a scheme in front (a mistyped URL is still a secret): where one may start.
_BARE_START = re.compile(r"(?:^|(?<=[\s'\"(=,;/<\[]))[^\s'\"/@:()<>\[\]]+:(?=[^/\s])")
_WHITESPACE = re.compile(r"\s")


def redact(text: str) -> str:
    """Replace the whole user-info part of every URL-like string in `text` with `****`."""
    return _replace_userinfo(_replace_userinfo(text, _SCHEME, bare=False), _BARE_START, bare=True)


def redact_url(url: str) -> str:
    """`url`, known to carry credentials, with everything between `scheme://` and its last `@` that
    is followed by a host replaced with `****` (for messages that quote a configured URL whole)."""
    scheme = _SCHEME.match(url)
    if scheme is not None:
        ats = [i for i in range(len(url) - 1, scheme.end() - 1, -1) if url[i] == "@"]
        at = next((i for i in ats if _HOST.match(url, i + 1)), None)
        if at is not None and at > scheme.end():
            return f"{url[: scheme.end()]}****{redact(url[at:])}"
    return redact(url)


def _replace_userinfo(text: str, start: re.Pattern[str], *, bare: bool) -> str:
    pieces: list[str] = []
    position = 0
    while True:
        match = start.search(text, position)
        if match is None:
            break
        begin = match.end() if not bare else match.start()
        if bare:  # a bare `user:secret@host` is one word
            space = _WHITESPACE.search(text, begin)
            end = space.start() if space else len(text)
        else:  # a second URL run on to this one (`a=https://...,b=https://...`) is its own
            following = _SCHEME.search(text, begin)
            end = following.start() if following else len(text)
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
    """How many characters at the start of `token` (what follows `scheme://` up to the end of the
    text or the next URL, or a bare `user:secret@host...` word) are user-info; None when there is
    none."""
    space = _WHITESPACE.search(token)
    word_end = space.start() if space else len(token)
    netloc_end = next((i for i, c in enumerate(token) if c in "/?#"), len(token))
    # pip's reading: the last `@` of the network location; across whitespace only one followed by a
    # host, and the last such one (`https://host:8080 failed for a@b.example` is over-redacted).
    best = next(
        (
            at
            for at in range(netloc_end - 1, word_end - 1, -1)
            if token[at] == "@" and _HOST_IN_TEXT.match(token, at + 1)
        ),
        token.rfind("@", 0, min(netloc_end, word_end)),
    )
    if best >= 0 and bare and not _HOST.match(token, best + 1):
        best = -1
    # A password with `/`, `?` or `#` in it: a later `@` followed by a host.
    first = token[: min(netloc_end, word_end)]
    line_end = token.find("\n", netloc_end)
    for at in (i for i in range(netloc_end, len(token) if line_end < 0 else line_end) if token[i] == "@"):
        within_word = at < word_end
        host = (_HOST if within_word else _HOST_IN_TEXT).match(token, at + 1)
        if host is None:
            continue
        user_and_password = ":" in first
        # `token/with-slash@host`: only when the first part cannot be a host of its own, and the
        # part after `@` looks like one (so that `git+https://localhost/x/y@v1` stays intact).
        token_only = bool(first) and "." not in first and ("." in host.group(1) or bool(host.group(2)))
        if within_word and (user_and_password or token_only):
            best = at
        elif not within_word and user_and_password and not _HOST_AND_PORT.fullmatch(first):
            # Whitespace and `/` in the password: `https://host:8080/simple failed for a@b.example`
            # stays, as `first` is a host and a port.
            best = at
    return best if best > 0 else None


def strip_credentials(url: str) -> str:
    """The URL without its user-info part (for metadata, where `****` would be noise)."""
    parts = urlsplit(url)
    _, at, host = parts.netloc.rpartition("@")
    if not at:
        return url
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
