"""Why pip failed, read from its output as a few distinct causes: an index it could not reach or that
refused it, a project no index offers, no version matching a requirement, conflicting requirements.

pip says little at `--quiet` and repeats itself across the versions a build serves; the build reports
each distinct cause once, with the versions it applies to (progress.py writes the sentences). An index
page that could not be fetched is logged by pip at debug level only: the pip server (piprunner.py)
writes one line of its own for each (`INDEX_FAILURE`), which is what is read here; pip's own retry
warnings are the fallback when that hook is missing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from packaging.utils import canonicalize_name

from .bootstrap.printable import printable
from .redact import redact

# What went wrong, from the most fundamental: when an index fails, "no version found" is its echo.
INDEX_UNREACHABLE = "index unreachable"
INDEX_REFUSED = "index refused"
NOT_FOUND = "not found"  # no index or find-links location offers any file of the project
NO_MATCHING_VERSION = "no matching version"
OTHER_PYTHON = "other python"  # every release of it requires another Python
CONFLICT = "conflict"
OTHER = "other"

#: The line the pip server writes for each index or find-links page it could not fetch:
#: `INDEX_FAILURE <tab> "the index <URL>" or the page's URL <tab> reason` (without credentials).
INDEX_FAILURE = "hatch-pex-index-failure"
#: The longest piece of pip's own text a cause carries: messages stay short.
DETAIL_LIMIT = 240


@dataclass(frozen=True)
class Cause:
    """One reason a resolution failed. `subject`: the index URL or the project; `detail`: a short
    reason (`connection refused`, `HTTP 401 Unauthorized`) or pip's own words, shortened."""

    kind: str
    subject: str = ""
    detail: str = ""

    @property
    def is_index_failure(self) -> bool:
        return self.kind in (INDEX_UNREACHABLE, INDEX_REFUSED)


_NOT_FOUND = re.compile(
    r"Could not find a version that satisfies the requirement (.+?) \(from versions: ([^)]*)\)"
)
_IGNORED = "Ignored the following versions that require a different python version:"
_CONFLICT_HEAD = "The conflict is caused by:"
_RETRYING = re.compile(r"connection broken by '?(\w+)\((.*)\)'?: (/\S*)")
_HOST = re.compile(r"(HTTPS?)Connection\(host='([^']+)', port=(\d+)\)|(HTTPS?)Connection object")
_HTTP_STATUS = re.compile(r"\b([45]\d\d) (?:Client|Server) Error: ([^\n]+?) for url")
_TOO_MANY = re.compile(r"too many ([45]\d\d) error responses")
_USERINFO = re.compile(r"//[^/@\s]*@")  # `user:****@` of a URL pip printed: the index is named without it
_REQUIREMENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*")


def causes(output: str) -> tuple[Cause, ...]:
    """The distinct causes pip's `output` gives for a failed resolution, most fundamental first."""
    text = redact(output)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    failures = _index_failures(lines)
    # 404 is how an index says it has no such project (or, for every project, that its URL is wrong):
    # the "no version found" that follows says which.
    missing = [cause for cause in failures if cause.detail.startswith(("HTTP 404", "HTTP 410"))]
    found: dict[Cause, None] = dict.fromkeys(cause for cause in failures if cause not in missing)
    if found:  # every "no version found" that follows is the index's failure, not the project's
        return tuple(found)
    answered = f"{missing[0].subject} answered {missing[0].detail}" if missing else ""
    skipped = [line.partition(_IGNORED)[2].strip() for line in lines if _IGNORED in line]
    for line in lines:
        match = _NOT_FOUND.search(line)
        if not match:
            continue
        requirement, versions = match.group(1), match.group(2).strip()
        name = _project(requirement)
        if skipped and versions == "none":
            found[Cause(OTHER_PYTHON, name, _shortened(skipped[0]))] = None
        elif versions == "none":
            found[Cause(NOT_FOUND, name, answered)] = None
        else:
            listed = [v.strip() for v in versions.split(",")]
            shown = ", ".join(listed[-6:])
            shown = shown if len(listed) <= 6 else f"..., {shown}"
            found[Cause(NO_MATCHING_VERSION, _shortened(requirement), _shortened(shown))] = None
    if _CONFLICT_HEAD in text:
        head = text.index(_CONFLICT_HEAD) + len(_CONFLICT_HEAD)
        reasons: list[str] = []
        for line in text[head:].splitlines():
            if not line.strip():
                if reasons:
                    break
                continue
            if not line.startswith(" "):
                break
            reasons.append(line.strip())
        found[Cause(CONFLICT, "", _shortened("; ".join(reasons)))] = None
    if not found:
        errors = [line.removeprefix("ERROR: ") for line in lines if line.startswith("ERROR:")]
        if "Exception:" in errors and lines:  # pip crashed: its traceback's last line says why
            errors = [lines[-1]]
        found[
            Cause(OTHER, "", _shortened(" ".join(errors or lines[-3:]) or "pip failed without saying why"))
        ] = None
    return tuple(found)


def _index_failures(lines: list[str]) -> list[Cause]:
    """The index pages pip could not fetch: the pip server's own lines, else pip's retry warnings."""
    failures = []
    for line in lines:
        if line.startswith(INDEX_FAILURE):
            _, _, rest = line.partition("\t")
            url, _, reason = rest.partition("\t")
            failures.append(_index_cause(_USERINFO.sub("//", url), reason))
    if failures:
        return failures
    for line in lines:  # without the hook: `Retrying (...) after connection broken by '...': /simple/x/`
        match = _RETRYING.search(line)
        if match:
            host = _HOST.search(match.group(2))
            where = (
                f"{host.group(1).lower()}://{host.group(2)}:{host.group(3)}" if host and host.group(2) else ""
            )
            path = match.group(3).rstrip("/").rsplit("/", 1)[0] + "/"
            failures.append(_index_cause(f"the index {where}{path}" if where else path, match.group(0)))
    return failures[-1:]


def _index_cause(url: str, reason: str) -> Cause:
    status = _HTTP_STATUS.search(reason) or _TOO_MANY.search(reason)
    if status:
        phrase = status.group(2) if status.re is _HTTP_STATUS else "error responses"
        return Cause(INDEX_REFUSED, _shortened(url), _shortened(f"HTTP {status.group(1)} {phrase}"))
    lowered = reason.lower()
    if "refused" in lowered:
        detail = "connection refused"
    elif "resolve" in lowered or "name or service not known" in lowered or "getaddrinfo" in lowered:
        detail = "its host name does not resolve"
    elif "timed out" in lowered or "timeout" in lowered:
        detail = "timed out"
    elif "ssl" in lowered or "certificate" in lowered:
        detail = "its TLS certificate could not be verified" if "verif" in lowered else "TLS failed"
    elif "proxy" in lowered:
        detail = "the proxy failed"
    else:
        detail = _shortened(reason, 120)
    return Cause(INDEX_UNREACHABLE, _shortened(url), detail)


def project_name(requirement: str) -> str | None:
    """The normalized project name a requirement pip echoed starts with (`hp_pure>=3 (from x)`: hp-pure)."""
    match = _REQUIREMENT_NAME.match(requirement)
    return str(canonicalize_name(match.group(0))) if match else None


def _project(requirement: str) -> str:
    return project_name(requirement) or _shortened(requirement)


def one_line(text: str, limit: int) -> str:
    """`text` on one line of at most `limit` characters (cut with "...")."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def _shortened(text: str, limit: int = DETAIL_LIMIT) -> str:
    """one_line, escape sequences shown rather than acted on: an index's HTTP reason phrase or a
    project's name is whatever a server sent."""
    return one_line(printable(" ".join(text.split())), limit)
