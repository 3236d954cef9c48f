"""PEP 735 dependency groups: the `[dependency-groups]` table of pyproject.toml, flattened.

A group is a list whose items are PEP 508 requirement strings or `{include-group = "other"}` tables.
Group names compare normalized (PEP 503: runs of `-`, `_`, `.` are one `-`, lower case), so
`Test_Utils` and `test-utils` are one group and a table naming both is an error. An include that
leads back to a group being expanded is a cycle, and an error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from .redact import redact

_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)


class GroupError(ValueError):
    """The table or a request is wrong; the message says what (the caller names the field)."""


def normalize(name: str) -> str:
    return str(canonicalize_name(name))


def is_valid_name(name: str) -> bool:
    return bool(_NAME.match(name))


def group_table(document: Mapping[str, object]) -> dict[str, list[object]]:
    """{normalized name: items} of the `[dependency-groups]` table of a pyproject document."""
    table = document.get("dependency-groups", {})
    if not isinstance(table, Mapping):
        raise GroupError("[dependency-groups] of pyproject.toml must be a table of arrays")
    groups: dict[str, list[object]] = {}
    spelled: dict[str, str] = {}
    for name, items in table.items():
        if not isinstance(name, str) or not is_valid_name(name):
            raise GroupError(f"[dependency-groups] of pyproject.toml has an invalid group name: {name!r}")
        key = normalize(name)
        if key in spelled:
            raise GroupError(
                f"[dependency-groups] of pyproject.toml names one group twice: {spelled[key]!r} and "
                f"{name!r} both normalize to {key!r}"
            )
        if not isinstance(items, list):
            raise GroupError(f"dependency group {name!r} of pyproject.toml must be an array")
        spelled[key] = name
        groups[key] = items
    return groups


def expand(groups: Mapping[str, Sequence[object]], requested: Sequence[str]) -> list[str]:
    """The requirements of the `requested` groups, includes followed, in order, without repeats."""
    requirements: list[str] = []
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        key = normalize(name)
        if key in path:
            cycle = " -> ".join((*path[path.index(key) :], key))
            raise GroupError(f"dependency groups include each other in a cycle: {cycle}")
        if key not in groups:
            known = ", ".join(sorted(groups)) or "none: pyproject.toml has no [dependency-groups]"
            where = f" (included by {path[-1]!r})" if path else ""
            raise GroupError(f"unknown dependency group {name!r}{where}; known groups: {known}")
        if key in done:
            return
        for number, item in enumerate(groups[key], 1):
            if isinstance(item, str):
                try:
                    Requirement(item)
                except InvalidRequirement as error:
                    raise GroupError(
                        f"item #{number} of dependency group {key!r} is not a valid PEP 508 requirement: "
                        f"{redact(item)!r} ({redact(str(error))})"
                    ) from None
                if item not in requirements:
                    requirements.append(item)
            elif isinstance(item, Mapping) and set(item) == {"include-group"}:
                included = item["include-group"]
                if not isinstance(included, str):
                    raise GroupError(
                        f"item #{number} of dependency group {key!r}: include-group must be a string"
                    )
                visit(included, (*path, key))
            else:
                raise GroupError(
                    f"item #{number} of dependency group {key!r} must be a requirement string or "
                    f'{{include-group = "<name>"}}, not {item!r}'
                )
        done.add(key)

    for name in requested:
        visit(name, ())
    return requirements
