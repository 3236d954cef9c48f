"""Keep index credentials out of every message, log line and archive."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

# `scheme://user:secret@host` or `scheme://token@host`: everything between `//` and `@`.
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/@\s]+)@")
# `user:secret@host` without a well-formed scheme in front (a mistyped URL is still a secret).
_BARE_USERINFO = re.compile(r"(?P<lead>^|[\s'\"(=/])[^\s'\"/@:]+:[^\s'\"/@]+@")


def redact(text: str) -> str:
    """Replace the user-info part of every URL-like string in `text` with `****`."""
    text = _USERINFO.sub(lambda match: f"{match.group('scheme')}****@", text)
    return _BARE_USERINFO.sub(lambda match: f"{match.group('lead')}****@", text)


def strip_credentials(url: str) -> str:
    """The URL without its user-info part (for metadata, where `****` would be noise)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
