"""PEX-INFO: reading it out of the running archive and checking its keys (see docs/format.md).

Only the cold path parses PEX-INFO: the warm path compares its raw bytes with the copy kept in the warm
record (json imports `re`: ~8 ms).
"""

from __future__ import annotations

from .log import BootError

FORMAT = "hatch-pex/1"
INHERIT_PATH_VALUES = ("false", "prefer", "fallback")


class PexInfo:
    """The parsed keys the runtime uses; `data` keeps the whole document for `PEX_TOOLS=1 ... info`."""

    def __init__(self, raw: bytes) -> None:
        import json

        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise BootError(f"PEX-INFO is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise BootError("PEX-INFO is not a JSON object")
        self.data: dict[str, object] = data
        if data.get("format") != FORMAT:
            raise BootError(f"PEX-INFO format is {data.get('format')!r}, this runtime reads {FORMAT!r}")
        self.entry_point = _optional_str(data, "entry_point")
        self.script = _optional_str(data, "script")
        self.pex_hash = _optional_str(data, "pex_hash")
        self.interpreter_constraints = _str_list(data, "interpreter_constraints")
        self.inherit_path = str(data.get("inherit_path") or "false")
        if self.inherit_path not in INHERIT_PATH_VALUES:
            raise BootError(
                f"PEX-INFO inherit_path is {self.inherit_path!r}, expected one of false/prefer/fallback"
            )
        self.inject_env = _str_dict(data, "inject_env")
        self.inject_args = _str_list(data, "inject_args")
        self.excluded = _str_list(data, "excluded")  # informative: nothing at start checks requirements
        self.distributions = _str_dict(data, "distributions")
        self.requires_python = _str_dict(data, "requires_python")
        self.platforms = _str_list(data, "platforms")
        self.python_versions = _str_list(data, "python_versions")
        sets = data.get("platform_distributions") or {}
        if not isinstance(sets, dict) or not all(
            isinstance(v, list) and all(isinstance(f, str) and f in self.distributions for f in v)
            for v in sets.values()
        ):
            raise BootError("PEX-INFO platform_distributions must map platforms to wheels of distributions")
        self.platform_distributions: dict[str, list[str]] = {str(k): list(v) for k, v in sets.items()}
        project = data.get("project")
        self.project_name = str(project.get("name", "?")) if isinstance(project, dict) else "?"


def _optional_str(data: dict[str, object], key: str) -> str | None:
    value = data.get(key)
    if value is None or isinstance(value, str):
        return value or None
    raise BootError(f"PEX-INFO {key} must be a string or null, found {value!r}")


def _str_list(data: dict[str, object], key: str) -> list[str]:
    value = data.get(key) or []
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return list(value)
    raise BootError(f"PEX-INFO {key} must be a list of strings, found {value!r}")


def _str_dict(data: dict[str, object], key: str) -> dict[str, str]:
    value = data.get(key) or {}
    if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
        return {str(k): v for k, v in value.items()}
    raise BootError(f"PEX-INFO {key} must be an object of strings, found {value!r}")
