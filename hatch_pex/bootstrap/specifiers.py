"""A small PEP 440 version and specifier evaluator, enough for interpreter constraints.

Only used when a start has to check an interpreter (cold path), so importing `re` here costs nothing on
the warm path. Pre-releases are always allowed: a 3.13.0rc1 interpreter satisfies ">=3.9".
"""

from __future__ import annotations

import re

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

_VERSION = re.compile(
    r"""^\s*v?
    (?:(?P<epoch>[0-9]+)!)?
    (?P<release>[0-9]+(?:\.[0-9]+)*)
    (?:[-_.]?(?P<pre_l>a|b|c|rc|alpha|beta|pre|preview)[-_.]?(?P<pre_n>[0-9]+)?)?
    (?:-(?P<post_n1>[0-9]+)|[-_.]?(?P<post_l>post|rev|r)[-_.]?(?P<post_n2>[0-9]+)?)?
    (?:[-_.]?(?P<dev_l>dev)[-_.]?(?P<dev_n>[0-9]+)?)?
    (?:\+(?P<local>[a-z0-9]+(?:[-_.][a-z0-9]+)*))?
    \s*$""",
    re.VERBOSE | re.IGNORECASE,
)
_PRE_NAMES = {
    "a": "a",
    "alpha": "a",
    "b": "b",
    "beta": "b",
    "c": "rc",
    "rc": "rc",
    "pre": "rc",
    "preview": "rc",
}
_OPERATORS = ("===", "~=", "==", "!=", "<=", ">=", "<", ">")


class InvalidSpecifier(ValueError):
    pass


class Version:
    """A parsed PEP 440 version; compares like packaging.version.Version."""

    def __init__(self, text: str) -> None:
        match = _VERSION.match(text)
        if not match:
            raise InvalidSpecifier(f"invalid version {text!r}")
        self.text = text.strip()
        self.epoch = int(match["epoch"] or 0)
        self.release = tuple(int(part) for part in match["release"].split("."))
        self.pre: tuple[str, int] | None = None
        if match["pre_l"]:
            self.pre = (_PRE_NAMES[match["pre_l"].lower()], int(match["pre_n"] or 0))
        post = match["post_n1"] or match["post_n2"]
        self.post = int(post) if post else (0 if match["post_l"] else None)
        self.dev = int(match["dev_n"] or 0) if match["dev_l"] else None
        self.local = match["local"].lower().replace("-", ".").replace("_", ".") if match["local"] else None

    def key(self, with_local: bool = True) -> tuple[object, ...]:
        release = list(self.release)
        while len(release) > 1 and release[-1] == 0:
            release.pop()
        # Order within one release: dev-only < pre-releases < final < post-releases (ints only).
        if self.pre is None and self.post is None and self.dev is not None:
            pre: tuple[int, ...] = (-1, 0, 0)
        elif self.pre is None:
            pre = (1, 0, 0)
        else:
            pre = (0, ("a", "b", "rc").index(self.pre[0]), self.pre[1])
        post = (-1,) if self.post is None else (self.post,)
        dev = (1, 0) if self.dev is None else (0, self.dev)
        local: tuple[object, ...] = ()
        if with_local and self.local is not None:
            local = tuple((1, int(p), "") if p.isdigit() else (0, 0, p) for p in self.local.split("."))
        return (self.epoch, tuple(release), pre, post, dev, local)

    def __repr__(self) -> str:
        return f"Version({self.text!r})"


def _padded(release: tuple[int, ...], length: int) -> tuple[int, ...]:
    return release + (0,) * (length - len(release))


class Specifier:
    """One clause such as ">=3.9" or "==3.11.*"."""

    def __init__(self, text: str) -> None:
        text = text.strip()
        for operator in _OPERATORS:
            if text.startswith(operator):
                self.operator, self.version = operator, text[len(operator) :].strip()
                break
        else:
            raise InvalidSpecifier(f"invalid specifier {text!r}: no operator")
        if not self.version:
            raise InvalidSpecifier(f"invalid specifier {text!r}: no version")
        self.wildcard = self.version.endswith(".*")
        if self.wildcard and self.operator not in ("==", "!="):
            raise InvalidSpecifier(f"invalid specifier {text!r}: '.*' only goes with == and !=")
        if self.operator != "===":
            self.parsed = Version(self.version[:-2] if self.wildcard else self.version)
            if self.operator == "~=" and len(self.parsed.release) < 2:
                raise InvalidSpecifier(f"invalid specifier {text!r}: ~= needs two release numbers")
        self.text = text

    def contains(self, candidate: Version) -> bool:
        op = self.operator
        if op == "===":
            return candidate.text.lower() == self.version.lower()
        if op == "==":
            return self._equal(candidate)
        if op == "!=":
            return not self._equal(candidate)
        spec = self.parsed
        if op == "~=":
            prefix = spec.release[:-1]
            return (
                candidate.key(False) >= spec.key(False)
                and candidate.epoch == spec.epoch
                and _padded(candidate.release, len(prefix))[: len(prefix)] == prefix
            )
        if op == "<=":
            return candidate.key(False) <= spec.key(False)
        if op == ">=":
            return candidate.key(False) >= spec.key(False)
        if op == "<":
            if not candidate.key(False) < spec.key(False):
                return False
            # "<3.12" must not admit 3.12.0rc1 unless the bound is itself a pre-release.
            is_pre = candidate.pre is not None or candidate.dev is not None
            spec_pre = spec.pre is not None or spec.dev is not None
            return not (is_pre and not spec_pre and _same_release(candidate, spec))
        # op == ">"
        if not candidate.key(False) > spec.key(False):
            return False
        # ">3.12" must not admit 3.12.post1: a post-release of exactly the bound (PEP 440).
        if candidate.post is not None and spec.post is None and _without_post(candidate) == spec.key(False):
            return False
        return not (candidate.local is not None and _same_release(candidate, spec))

    def _equal(self, candidate: Version) -> bool:
        spec = self.parsed
        if self.wildcard:
            if candidate.epoch != spec.epoch:
                return False
            # "==3.13.*" admits 3.13.0rc1: the wildcard covers every version under that release prefix.
            width = len(spec.release)
            return _padded(candidate.release, width)[:width] == spec.release
        with_local = spec.local is not None
        return candidate.key(with_local) == spec.key(with_local)

    def __str__(self) -> str:
        return self.text


def _without_post(version: Version) -> tuple[object, ...]:
    key = version.key(False)
    return (*key[:3], (-1,), *key[4:])


def _same_release(a: Version, b: Version) -> bool:
    width = max(len(a.release), len(b.release))
    return a.epoch == b.epoch and _padded(a.release, width) == _padded(b.release, width)


class SpecifierSet:
    """Comma separated clauses, all of which must hold. An optional implementation name may lead, as in
    PEX's "CPython>=3.9" (case-insensitive; it must match sys.implementation.name)."""

    def __init__(self, text: str) -> None:
        self.text = text.strip()
        body = self.text
        self.implementation: str | None = None
        name = re.match(r"^([A-Za-z][A-Za-z0-9_]*)", body)
        if name:
            self.implementation = name.group(1).lower()
            body = body[name.end() :]
        self.clauses = [Specifier(part) for part in body.split(",") if part.strip()]
        if not self.clauses and self.implementation is None:
            raise InvalidSpecifier(f"invalid specifier set {text!r}")

    def contains(self, version: str, implementation: str = "cpython") -> bool:
        if self.implementation is not None and self.implementation != implementation.lower():
            return False
        candidate = Version(version)
        return all(clause.contains(candidate) for clause in self.clauses)

    def __str__(self) -> str:
        return self.text


def satisfies_any(constraints: Iterable[str], version: str, implementation: str = "cpython") -> bool:
    """True when `version` satisfies one of the constraint sets (an empty list admits everything)."""
    sets = [SpecifierSet(text) for text in constraints]
    return not sets or any(s.contains(version, implementation) for s in sets)
