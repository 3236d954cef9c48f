"""`[tool.hatch.build.targets.pex]`: one validated property per key.

Every error names the field (`tool.hatch.build.targets.pex.<key>`) and says what is wrong, in the
style of hatchling's own builders. Keys that hatch itself owns for every target (`dependencies`,
`reproducible`, `directory`, `hooks`, ...) are handled by `BuilderConfig`.
"""

from __future__ import annotations

import difflib
import re
from functools import cached_property
from typing import Any

from hatchling.builders.config import BuilderConfig
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet

from .platforms import KNOWN_PYTHON_VERSIONS, served_versions
from .redact import redact

INHERIT_PATH_VALUES = ("false", "prefer", "fallback")
COMPRESSION_NAMES = {"stored": 0, "deflated": 6}
DEFAULT_SHEBANG = "/usr/bin/env python3"

_ENTRY_POINT = re.compile(r"^[A-Za-z_][\w.]*(:[A-Za-z_][\w.]*)?$")
_MODULE = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")
_PLATFORM = re.compile(r"^[^-\s]+-(cp|pp)-\d+(\.\d+){0,2}-[^-\s]+$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Keys that select what runs; at most one may be set.
ENTRY_KEYS = ("entry-point", "module", "script", "scripts")


class PexBuilderConfig(BuilderConfig):
    """Configuration of the `pex` target."""

    # -- helpers ---------------------------------------------------------------------------------

    def field(self, key: str) -> str:
        """How messages name a key of this target: `tool.hatch.build.targets.pex.<key>`."""
        return f"tool.hatch.build.targets.{self.plugin_name}.{key}"

    def _string(self, key: str, default: str | None = None) -> str | None:
        value = self.target_config.get(key, default)
        if value is not None and not isinstance(value, str):
            raise TypeError(f"Field `{self.field(key)}` must be a string, not {type(value).__name__}")
        return value

    def _boolean(self, key: str, default: bool) -> bool:
        value = self.target_config.get(key, default)
        if not isinstance(value, bool):
            raise TypeError(f"Field `{self.field(key)}` must be a boolean (true or false), not {value!r}")
        return value

    def _strings(self, key: str) -> list[str]:
        value = self.target_config.get(key, [])
        if not isinstance(value, list):
            raise TypeError(f"Field `{self.field(key)}` must be an array of strings")
        for number, item in enumerate(value, 1):
            if not isinstance(item, str) or not item.strip():
                raise TypeError(f"Entry #{number} of field `{self.field(key)}` must be a non-empty string")
        return [item.strip() for item in value]

    def _python_version_list(self, key: str) -> list[str]:
        """An array of known CPython minor versions ("3.12"), none twice."""
        values = self._strings(key)
        for value in values:
            if value not in KNOWN_PYTHON_VERSIONS:
                raise ValueError(
                    f"Field `{self.field(key)}` has an unknown Python version {value!r}: "
                    f"expected minor versions from {', '.join(KNOWN_PYTHON_VERSIONS)}"
                )
        if len(set(values)) != len(values):
            raise ValueError(f"Field `{self.field(key)}` lists a version twice")
        return values

    def _url(self, key: str, value: str) -> str:
        if not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", value) and not value.startswith("/"):
            raise ValueError(f"Field `{self.field(key)}` must be a URL or an absolute path: {redact(value)}")
        return value

    # -- build hooks -----------------------------------------------------------------------------

    @cached_property
    def hook_config(self) -> dict[str, Any]:
        """Only the pex target's own hooks (`tool.hatch.build.targets.pex.hooks`). The global ones
        (`tool.hatch.build.hooks`) shape the project's files: they run once, for the project wheel this
        target builds in-process and packs, as under `hatch build -t wheel`. Run for this target too,
        they ran twice per build, the second time with nothing of theirs reaching the file."""
        every = super().hook_config  # hatchling's: validated, enable-by-default and HATCH_BUILD_* applied
        own = self.target_config.get("hooks", {})  # a table: hatchling's validation above says so
        return {name: config for name, config in every.items() if name in own}

    # -- what runs -------------------------------------------------------------------------------

    @cached_property
    def entry_selection(self) -> str | None:
        """The one entry key the user set, if any."""
        chosen = [key for key in ENTRY_KEYS if key in self.target_config]
        if len(chosen) > 1:
            fields = ", ".join(f"`{self.field(key)}`" for key in chosen)
            raise ValueError(f"Fields {fields} are mutually exclusive: set at most one of them")
        return chosen[0] if chosen else None

    @cached_property
    def entry_point(self) -> str | None:
        value = self._string("entry-point")
        if value is not None and not _ENTRY_POINT.match(value):
            raise ValueError(
                f"Field `{self.field('entry-point')}` must look like `package.module:function` "
                f"or `package.module`, not {value!r}"
            )
        return value

    @cached_property
    def module(self) -> str | None:
        value = self._string("module")
        if value is not None and not _MODULE.match(value):
            raise ValueError(f"Field `{self.field('module')}` must be a dotted module name, not {value!r}")
        return value

    @cached_property
    def script(self) -> str | None:
        value = self._string("script")
        if value is not None:
            self._check_script_known("script", value)
        return value

    @cached_property
    def scripts(self) -> list[str]:
        names = self._strings("scripts")
        for name in names:
            self._check_script_known("scripts", name)
        if "scripts" in self.target_config and not names:
            raise ValueError(f"Field `{self.field('scripts')}` must name at least one script")
        return sorted(set(names))

    def _check_script_known(self, key: str, name: str) -> None:
        known = self.builder.metadata.core.scripts
        if name not in known:
            listed = ", ".join(sorted(known)) or "none: [project.scripts] is empty"
            raise ValueError(
                f"Unknown script in field `{self.field(key)}`: {name!r} (known scripts: {listed})"
            )

    # -- what goes in ----------------------------------------------------------------------------

    @cached_property
    def features(self) -> list[str]:
        names = self._strings("features")
        known = self.builder.metadata.core.optional_dependencies
        for name in names:
            if name not in known:
                listed = ", ".join(sorted(known)) or "none"
                raise ValueError(
                    f"Unknown feature in field `{self.field('features')}`: {name!r} "
                    f"(optional-dependencies groups: {listed})"
                )
        return names

    @cached_property
    def requirements(self) -> list[str]:
        values = self._strings("requirements")
        for number, value in enumerate(values, 1):
            try:
                Requirement(value)
            except InvalidRequirement as error:
                raise ValueError(
                    f"Entry #{number} of field `{self.field('requirements')}` is not a valid "
                    f"PEP 508 requirement: {redact(value)!r} ({redact(str(error))})"
                ) from None
        return values

    @cached_property
    def dependency_groups(self) -> list[str]:
        """PEP 735 groups of the project's `[dependency-groups]` to include (normalized names)."""
        from .groups import normalize

        key = "dependency-groups"
        names = self._strings(key)
        self._dependency_group_requirements(names)
        normalized = [normalize(name) for name in names]
        if len(set(normalized)) != len(normalized):
            raise ValueError(f"Field `{self.field(key)}` names a group twice (names compare normalized)")
        return normalized

    @cached_property
    def dependency_group_requirements(self) -> list[str]:
        """The requirements of the `dependency-groups`, includes followed."""
        return self._dependency_group_requirements(self.dependency_groups)

    def _dependency_group_requirements(self, names: list[str]) -> list[str]:
        from .groups import GroupError, expand, group_table

        if not names:
            return []
        try:
            return expand(group_table(self.builder.metadata.config), names)
        except GroupError as error:
            raise ValueError(f"Field `{self.field('dependency-groups')}`: {error}") from None

    @cached_property
    def exclude(self) -> list[str]:
        """Normalized names of the distributions to leave out, with whatever only they need."""
        from packaging.utils import canonicalize_name

        from .groups import is_valid_name

        key = "exclude"
        values = self._strings(key)
        names = []
        for number, value in enumerate(values, 1):
            if not is_valid_name(value):
                raise ValueError(
                    f"Entry #{number} of field `{self.field(key)}` must be a distribution name such as "
                    f"'requests', not {value!r} (this table's `exclude` names distributions to leave out "
                    f"of the .pex; the project wheel's files are chosen by the wheel target)"
                )
            name = str(canonicalize_name(value))
            if name == canonicalize_name(self.builder.metadata.core.name):
                raise ValueError(
                    f"Field `{self.field(key)}` names the project itself ({value!r}): only its "
                    f"dependencies can be excluded"
                )
            if name in names:
                raise ValueError(f"Field `{self.field(key)}` names {value!r} twice")
            names.append(name)
        return sorted(names)

    @cached_property
    def requirements_files(self) -> list[str]:
        return self._existing_files("requirements-files")

    @cached_property
    def constraints_files(self) -> list[str]:
        return self._existing_files("constraints-files")

    def _existing_files(self, key: str) -> list[str]:
        import os

        paths = []
        for value in self._strings(key):
            path = os.path.normpath(os.path.join(self.root, value))
            if not os.path.isfile(path):
                raise ValueError(f"Field `{self.field(key)}` names a file that does not exist: {value}")
            paths.append(path)
        return paths

    # -- how it runs -----------------------------------------------------------------------------

    @cached_property
    def python_shebang(self) -> str:
        value = self._string("python-shebang", DEFAULT_SHEBANG) or ""
        value = value.strip()
        if value.startswith("#!"):
            value = value[2:].strip()
        if not value or "\n" in value or "\r" in value:
            raise ValueError(
                f"Field `{self.field('python-shebang')}` must be one line naming an interpreter, "
                f"e.g. {DEFAULT_SHEBANG!r}"
            )
        return value

    @cached_property
    def interpreter_constraints(self) -> list[str]:
        key = "interpreter-constraints"
        if key in self.target_config:
            raw = self.target_config[key]
            values = [raw] if isinstance(raw, str) else raw
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise TypeError(f"Field `{self.field(key)}` must be a string or an array of strings")
        else:
            requires_python = self.builder.metadata.core.requires_python
            values = [requires_python] if requires_python else []
        constraints = []
        for value in values:
            # PEX writes `CPython>=3.9`; only CPython is supported, so the prefix is accepted and dropped.
            spec = value.strip()
            if spec.startswith("CPython"):
                spec = spec[len("CPython") :].strip()
            try:
                SpecifierSet(spec)
            except InvalidSpecifier:
                raise ValueError(
                    f"Field `{self.field(key)}` has an invalid version specifier: {value!r} "
                    f"(expected something like '>=3.9' or '>=3.10,<3.14')"
                ) from None
            constraints.append(spec)
        return constraints

    @cached_property
    def args(self) -> list[str]:
        """Arguments put before the user's own when the entry point runs (PEX's `inject_args`)."""
        key = "args"
        value = self.target_config.get(key, [])
        if not isinstance(value, list):
            raise TypeError(f"Field `{self.field(key)}` must be an array of strings")
        for number, item in enumerate(value, 1):
            if not isinstance(item, str):
                raise TypeError(
                    f"Entry #{number} of field `{self.field(key)}` must be a string, not {item!r}"
                )
            if "\0" in item:
                raise ValueError(
                    f"Entry #{number} of field `{self.field(key)}` must not contain a NUL character"
                )
        if value and self.entry_selection is None and not self.builder.metadata.core.scripts:
            raise ValueError(
                f"Field `{self.field(key)}` needs something to run: the project has no scripts, so the "
                f".pex is an interpreter; set `{self.field('entry-point')}`, `module` or `script`"
            )
        return list(value)

    @cached_property
    def inherit_path(self) -> str:
        value = self.target_config.get("inherit-path", "false")
        if isinstance(value, bool):
            value = "prefer" if value else "false"
        if value not in INHERIT_PATH_VALUES:
            raise ValueError(
                f"Field `{self.field('inherit-path')}` must be one of "
                f"{', '.join(repr(v) for v in INHERIT_PATH_VALUES)}, not {value!r}"
            )
        return str(value)

    @cached_property
    def env(self) -> dict[str, str]:
        value = self.target_config.get("env", {})
        if not isinstance(value, dict):
            raise TypeError(f'Field `{self.field("env")}` must be a table of NAME = "value"')
        for name, setting in value.items():
            if not _ENV_NAME.match(name):
                raise ValueError(f"Field `{self.field('env')}` has an invalid variable name: {name!r}")
            if not isinstance(setting, str):
                raise TypeError(f"Variable {name!r} of field `{self.field('env')}` must be a string")
        return dict(sorted(value.items()))

    # -- resolution ------------------------------------------------------------------------------

    @cached_property
    def index_url(self) -> str | None:
        value = self._string("index-url")
        return None if value is None else self._url("index-url", value)

    @cached_property
    def extra_index_urls(self) -> list[str]:
        return [self._url("extra-index-urls", value) for value in self._strings("extra-index-urls")]

    @cached_property
    def find_links(self) -> list[str]:
        import os

        links = []
        for value in self._strings("find-links"):
            if "://" in value:
                links.append(value)
            else:  # a local directory, relative to the project root
                links.append(os.path.normpath(os.path.join(self.root, value)))
        return links

    @cached_property
    def no_index(self) -> bool:
        return self._boolean("no-index", False)

    @cached_property
    def pre(self) -> bool:
        return self._boolean("pre", False)

    @cached_property
    def only_binary(self) -> list[str]:
        return self._strings("only-binary")

    @cached_property
    def no_binary(self) -> list[str]:
        return self._strings("no-binary")

    @cached_property
    def platforms(self) -> list[str]:
        values = self._strings("platforms")
        for value in values:
            if value != "current" and not _PLATFORM.match(value):
                raise ValueError(
                    f"Field `{self.field('platforms')}` has an invalid platform {value!r}: expected "
                    f"'current' or PLATFORM-IMPL-PYVER-ABI, e.g. 'linux_x86_64-cp-3.11-cp311'"
                )
        if len(set(values)) != len(values):
            raise ValueError(f"Field `{self.field('platforms')}` lists a platform twice")
        return values or ["current"]

    @cached_property
    def python_versions(self) -> list[str] | None:
        """CPython minor versions the `current` platform serves (None: every known one the
        interpreter constraints admit)."""
        key = "python-versions"
        if key not in self.target_config:
            return None
        values = self._python_version_list(key)
        if not values:
            raise ValueError(f'Field `{self.field(key)}` must list at least one version, e.g. ["3.12"]')
        admitted = served_versions(self.interpreter_constraints, values)
        excluded = [v for v in values if v not in admitted]
        if excluded:
            raise ValueError(
                f"Field `{self.field(key)}` names Python {', '.join(excluded)}, which the interpreter "
                f"constraints ({' or '.join(self.interpreter_constraints)}) exclude"
            )
        return [v for v in KNOWN_PYTHON_VERSIONS if v in values]

    @cached_property
    def compile_bytecode(self) -> list[str] | bool:
        """Whether the file carries bytecode compiled at build time (precompile.py): False (the default),
        True for every CPython version it serves, or a list of those versions."""
        key = "compile-bytecode"
        value = self.target_config.get(key, False)
        if isinstance(value, bool):
            return value
        if not isinstance(value, list):
            raise TypeError(
                f'Field `{self.field(key)}` must be true, false or an array of Python versions (["3.12"]), '
                f"not {value!r}"
            )
        values = self._python_version_list(key)
        served = served_versions(self.interpreter_constraints, self.python_versions)
        unserved = [v for v in values if v not in served]
        if unserved:
            raise ValueError(
                f"Field `{self.field(key)}` names Python {', '.join(unserved)}, which the file does not "
                f"serve (it serves {', '.join(served) or 'no version'})"
            )
        return [v for v in KNOWN_PYTHON_VERSIONS if v in values]

    @cached_property
    def lock(self) -> str | None:
        """Absolute path of the PEP 751 lock to build from, if any."""
        import os

        from .lock import LOCK_NAME

        value = self._string("lock")
        if value is None:
            return None
        if not LOCK_NAME.match(os.path.basename(value)):
            raise ValueError(
                f"Field `{self.field('lock')}` must name a PEP 751 lock file, `pylock.toml` or "
                f"`pylock.<name>.toml`, not {value!r}"
            )
        return os.path.normpath(os.path.join(self.root, value))

    @cached_property
    def resolver(self) -> str:
        value = self._string("resolver", "pip")
        if value not in ("pip", "uv"):
            raise ValueError(f"Field `{self.field('resolver')}` must be 'pip' or 'uv', not {value!r}")
        return str(value)

    # -- output ----------------------------------------------------------------------------------

    @cached_property
    def compression(self) -> int:
        """Deflate level 0-9 of the wheels in the archive; 0 (the default) stores them as they are."""
        value = self.target_config.get("compression", 0)
        if isinstance(value, str) and value in COMPRESSION_NAMES:
            return COMPRESSION_NAMES[value]
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 9:
            raise ValueError(
                f"Field `{self.field('compression')}` must be a deflate level from 0 to 9, "
                f"or 'stored' or 'deflated', not {value!r}"
            )
        return value

    @cached_property
    def output_name(self) -> str:
        """File name template; `{name}` is the script or project name, `{version}` the project's."""
        value = self._string("output-name", "{name}-{version}") or ""
        try:
            rendered = value.format(name="n", version="1", script="s", project="p")
        except (KeyError, IndexError, ValueError):
            raise ValueError(
                f"Field `{self.field('output-name')}` may only use the placeholders "
                f"{{name}}, {{version}}, {{script}} and {{project}}: {value!r}"
            ) from None
        if not rendered or "/" in rendered or rendered.startswith("."):
            raise ValueError(f"Field `{self.field('output-name')}` must give a plain file name: {value!r}")
        return value

    @cached_property
    def sbom(self) -> bool:
        """Whether the file carries a CycloneDX SBOM, also written beside it (sbom.py)."""
        return self._boolean("sbom", True)

    def validate(self) -> None:
        """Read every key once so that a bad value fails before any work is done."""
        known = set(_OWN_KEYS) | _HATCH_KEYS
        unknown = sorted(set(self.target_config) - known)
        if unknown:
            suggestion = _closest_key(unknown[0], known)
            hint = f"did you mean `{suggestion}`? The" if suggestion else "the"
            raise ValueError(
                f"Unknown field `{self.field(unknown[0])}`; "
                f"{hint} pex target knows: {', '.join(sorted(_OWN_KEYS))}"
            )
        for key in _OWN_KEYS:
            getattr(self, key.replace("-", "_"))
        self.entry_selection  # noqa: B018 - validation side effect


def _closest_key(key: str, known: set[str]) -> str | None:
    """The known key `key` most likely misspells, if one is close (difflib's default ratio, 0.6).

    Keys are compared as dashed lower case first, so that the snake_case or capitalised spelling of a
    key (`python_versions`, `Entry-Point`), the commonest slip, always finds it.
    """
    spelled = key.strip().lower().replace("_", "-")
    if spelled in known:
        return spelled
    close = difflib.get_close_matches(spelled, sorted(known), n=1)
    return close[0] if close else None


_OWN_KEYS = (
    "entry-point",
    "module",
    "script",
    "scripts",
    "features",
    "dependency-groups",
    "exclude",
    "requirements",
    "requirements-files",
    "constraints-files",
    "python-shebang",
    "interpreter-constraints",
    "inherit-path",
    "env",
    "args",
    "index-url",
    "extra-index-urls",
    "find-links",
    "no-index",
    "pre",
    "only-binary",
    "no-binary",
    "platforms",
    "python-versions",
    "lock",
    "resolver",
    "compression",
    "compile-bytecode",
    "output-name",
    "sbom",
)
# Keys every hatch target accepts (hatchling's BuilderConfig validates them itself). Not `exclude`:
# in this table it names distributions (PEX's `--exclude`); hatchling reads a target's file patterns
# only for the files a target collects itself, and this one collects none (the project wheel is built
# by the wheel target, with the wheel target's `include` and `exclude`).
_HATCH_KEYS = {
    "dependencies",
    "require-runtime-dependencies",
    "require-runtime-features",
    "reproducible",
    "directory",
    "hooks",
    "versions",
    "include",
    "artifacts",
    "packages",
    "only-include",
    "sources",
    "force-include",
    "only-packages",
    "skip-excluded-dirs",
    "ignore-vcs",
    "dev-mode-dirs",
    "dev-mode-exact",
    "exclude-all",
    "strict-naming",
}

__all__ = ["PexBuilderConfig"]
