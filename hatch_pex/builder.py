"""The `pex` build target: project wheel -> pip closure -> archive, one .pex per entry point."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from hatchling.builders.plugin.interface import BuilderInterface
from packaging.utils import canonicalize_name

from . import archive
from .config import PexBuilderConfig
from .lock import Lock, LockError, inputs_hash, plan_from_lock, read_lock, unsatisfied, write_lock
from .platforms import Platform
from .redact import redact, strip_credentials
from .resolve import Closure, Distribution, PlannedFile, ResolveError, ResolveOptions, plan_with_pip, resolve
from .uv import plan_with_uv
from .wheel import build_project_wheel, module_is_provided, wheel_module_files, wheel_requires_python


class BuildError(Exception):
    """A problem with the project or its configuration, explained in one paragraph."""


@dataclass(frozen=True)
class Target:
    """One .pex to write: its name and what it runs (no entry point: the interpreter mode)."""

    name: str
    entry_point: str | None
    script: str | None


class PexBuilder(BuilderInterface[PexBuilderConfig, Any]):
    """Build a single-file executable (.pex) of the project and its dependency closure."""

    PLUGIN_NAME = "pex"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._built: list[str] = []

    @classmethod
    def get_config_class(cls) -> type[PexBuilderConfig]:
        return PexBuilderConfig

    def get_version_api(self) -> dict[str, Callable[..., str]]:
        return {"standard": self.build_standard, "lock": self.build_lock}

    def get_default_versions(self) -> list[str]:
        return ["standard"]  # `hatch build -t pex:lock` writes or refreshes the lock instead

    def build(self, **kwargs: Any) -> Generator[str, None, None]:
        # hatchling expects one artifact per version; with several scripts there are several files.
        for artifact in super().build(**kwargs):
            yield artifact
            yield from (path for path in self._built if path != artifact)

    def clean(self, directory: str, versions: list[str]) -> None:
        """Remove the .pex files this target built for this project, and nothing else."""
        if not os.path.isdir(directory):
            return
        project = str(canonicalize_name(self.metadata.core.name))
        for name in sorted(os.listdir(directory)):
            path = os.path.join(directory, name)
            if not name.endswith(".pex") or not os.path.isfile(path):
                continue
            info = archive.read_pex_info(path)
            owner = info.get("project") if info else None
            if isinstance(owner, dict) and canonicalize_name(str(owner.get("name", ""))) == project:
                os.unlink(path)

    def build_standard(self, directory: str, **build_data: Any) -> str:
        return self._explained(lambda: self._build(directory))

    def build_lock(self, directory: str, **build_data: Any) -> str:
        return self._explained(self._write_lock)

    def _explained(self, action: Callable[[], str]) -> str:
        try:
            return action()
        except (BuildError, LockError, ResolveError, TypeError, ValueError) as error:
            # One clear paragraph, not a traceback; credentials never reach the message.
            self.app.abort(f"hatch-pex: {redact(str(error))}")
            raise  # pragma: no cover - abort exits

    def _build(self, directory: str) -> str:
        self.config.validate()
        targets = self._targets()
        with tempfile.TemporaryDirectory(prefix="hatch-pex-") as work_dir:
            self.app.display_waiting("Building the project wheel")
            project_wheel = build_project_wheel(self, os.path.join(work_dir, "project"))
            self.app.display_waiting("Resolving the dependency closure with pip")
            closure = resolve(
                self._requirements(project_wheel),
                self._resolve_options(),
                work_dir=work_dir,
                platforms=self._platforms(),
                planner=self._planner(project_wheel),
            )
            distributions = closure.distributions
            self._check_entry_points(targets, distributions)
            members = archive.bootstrap_members() + [
                archive.wheel_member(d.wheel, d.sha256) for d in distributions
            ]
            content = archive.content_hash(members)
            timestamp = archive.zip_timestamp(self.config.reproducible)
            # Interpreters outside a wheel's Requires-Python cannot run this closure, whatever the
            # project's own constraints say; the runtime checks these too.
            requires_python = {
                d.filename: spec for d in distributions if (spec := wheel_requires_python(d.wheel))
            }
            self._built = []
            for target in targets:
                info = self._pex_info(target, closure, content, requires_python)
                output = os.path.join(directory, f"{self._output_stem(target)}.pex")
                archive.write_pex(
                    output,
                    shebang=self.config.python_shebang,
                    members=[*members, archive.pex_info_member(info)],
                    compression=self.config.compression,
                    timestamp=timestamp,
                )
                self._built.append(output)
        return self._built[0]

    def _platforms(self) -> list[Platform]:
        return [Platform.parse(text) for text in self.config.platforms]

    def _planner(self, project_wheel: str | None) -> Callable[[Platform, str], list[PlannedFile]] | None:
        """Who decides the closure: None for pip (the default), else the lock or uv.

        With `project_wheel`, the project's own wheel joins every platform's plan.
        """
        config = self.config
        own: list[PlannedFile] = []
        if project_wheel:
            name = str(canonicalize_name(self.metadata.core.name))
            url = Path(project_wheel).as_uri()
            own = [PlannedFile(name, self.metadata.version, url, None, True, "the project wheel just built")]
        if config.lock and project_wheel:
            lock = self._current_lock(config.lock)
            return lambda platform, _: [*plan_from_lock(lock, platform), *own]
        if config.resolver == "uv":
            requirements = self._dependency_requirements()
            options = self._resolve_options()
            return lambda platform, work_dir: [
                *plan_with_uv(requirements, options, platform, work_dir=work_dir),
                *own,
            ]
        return None

    def _current_lock(self, path: str) -> Lock:
        """The lock, if it still describes the project: else a LockError saying how to refresh it."""
        lock = read_lock(path)
        name = os.path.basename(path)
        refresh = "Refresh it with `hatch build -t pex:lock` and review the change"
        if lock.inputs_hash is not None and lock.inputs_hash != self._lock_inputs():
            raise LockError(
                f"The lock {name} is out of date: the project's dependencies or the pex target's "
                f"settings changed since it was written. {refresh}"
            )
        for platform in self._platforms():
            missing = unsatisfied(lock, self._dependency_requirements(), platform)
            if missing:
                where = "" if platform.is_current else f" for platform {platform.text}"
                raise LockError(
                    f"The lock {name} is out of date: nothing in it satisfies "
                    f"{', '.join(missing)}{where}. {refresh}"
                )
        return lock

    def _dependency_requirements(self) -> list[str]:
        """The project's requirements without the project itself (for uv and for locks)."""
        core = self.metadata.core
        requirements = list(core.dependencies)
        for feature in self.config.features:
            requirements += core.optional_dependencies[feature]
        return requirements + self.config.requirements

    def _lock_inputs(self) -> str:
        config = self.config

        def contents(paths: list[str]) -> dict[str, str]:
            return {os.path.relpath(p, self.root): Path(p).read_text(encoding="utf-8") for p in paths}

        return inputs_hash(
            {
                "requirements": sorted(self._dependency_requirements()),
                "requirements-files": contents(config.requirements_files),
                "constraints-files": contents(config.constraints_files),
                "platforms": config.platforms,
                "pre": config.pre,
                "only-binary": config.only_binary,
                "no-binary": config.no_binary,
            }
        )

    def _write_lock(self) -> str:
        """`hatch build -t pex:lock`: resolve every platform and write the lock the target names."""
        self.config.validate()
        if not self.config.lock:
            raise BuildError(
                f"`hatch build -t pex:lock` writes the file named by "
                f'`tool.hatch.build.targets.{self.PLUGIN_NAME}.lock`; set it first, e.g. lock = "pylock.toml"'
            )
        planner = self._planner(None)
        requirements = self._dependency_requirements()
        options = self._resolve_options()
        plans = {}
        with tempfile.TemporaryDirectory(prefix="hatch-pex-lock-") as work_dir:
            for number, platform in enumerate(self._platforms()):
                platform_dir = os.path.join(work_dir, str(number))
                os.makedirs(platform_dir)
                if planner:
                    plans[platform] = planner(platform, platform_dir)
                else:
                    plans[platform] = plan_with_pip(requirements, options, platform, work_dir=platform_dir)
        requires_python = self.metadata.core.requires_python or None
        return write_lock(
            self.config.lock, plans, requires_python=requires_python, inputs=self._lock_inputs()
        )

    def _targets(self) -> list[Target]:
        config = self.config
        project = str(canonicalize_name(self.metadata.core.name))
        scripts = self.metadata.core.scripts
        selected = config.entry_selection
        if selected == "entry-point":
            return [Target(project, config.entry_point, None)]
        if selected == "module":
            return [Target(project, config.module, None)]
        if selected == "script" and config.script:
            return [Target(config.script, scripts[config.script], config.script)]
        names = config.scripts if selected == "scripts" else sorted(scripts)
        if not names:
            return [Target(project, None, None)]  # no scripts: an interpreter .pex
        return [Target(name, scripts[name], name) for name in names]

    def _requirements(self, project_wheel: str) -> list[str]:
        features = self.config.features
        project = f"{project_wheel}[{','.join(features)}]" if features else project_wheel
        return [project, *self.config.requirements]

    def _resolve_options(self) -> ResolveOptions:
        config = self.config
        return ResolveOptions(
            index_url=config.index_url,
            extra_index_urls=config.extra_index_urls,
            find_links=config.find_links,
            no_index=config.no_index,
            pre=config.pre,
            only_binary=config.only_binary,
            no_binary=config.no_binary,
            requirements_files=config.requirements_files,
            constraints_files=config.constraints_files,
        )

    def _check_entry_points(self, targets: list[Target], distributions: list[Distribution]) -> None:
        """An entry point whose module is nowhere in the closure fails now, not on the server."""
        files: set[str] = set()
        for distribution in distributions:
            files |= wheel_module_files(distribution.wheel)
        for target in targets:
            if target.entry_point is None:
                continue
            module = target.entry_point.partition(":")[0]
            if not module_is_provided(module, files):
                origin = f"script {target.script!r}" if target.script else "the configured entry point"
                raise BuildError(
                    f"The module {module!r} of {origin} ({target.entry_point}) is not in the project "
                    f"wheel or any of its {len(distributions) - 1} dependencies; check the name, or the "
                    f"wheel target's packages/include settings"
                )

    def _pex_info(
        self, target: Target, closure: Closure, content: str, requires_python: dict[str, str]
    ) -> dict[str, Any]:
        import hashlib
        import json

        distributions = closure.distributions
        metadata = self.metadata
        features = self.config.features
        project_requirement = str(canonicalize_name(metadata.core.name))
        if features:
            project_requirement += f"[{','.join(features)}]"
        info: dict[str, Any] = {
            "format": archive.FORMAT,
            "hatch_pex_version": _own_version(),
            "project": {"name": metadata.core.name, "version": metadata.version},
            "entry_point": target.entry_point,
            "script": target.script,
            "interpreter_constraints": self.config.interpreter_constraints,
            "inherit_path": self.config.inherit_path,
            "inject_env": self.config.env,
            "requirements": [
                f"{project_requirement}=={metadata.version}",
                *(_public_requirement(r) for r in self.config.requirements),
            ],
            "distributions": {d.filename: d.sha256 for d in distributions},
            "requires_python": requires_python,
            "platforms": self.config.platforms,
            # Each platform's own closure: the runtime takes the first set that fits it whole, since
            # platforms can resolve to different versions of one project.
            "platform_distributions": closure.platform_sets,
        }
        described = json.dumps(info, sort_keys=True).encode()
        info["pex_hash"] = hashlib.sha256(content.encode() + b"\n" + described).hexdigest()
        return info

    def _output_stem(self, target: Target) -> str:
        return self.config.output_name.format(
            name=target.name,
            script=target.script or target.name,
            project=str(canonicalize_name(self.metadata.core.name)),
            version=self.metadata.version,
        )


def _public_requirement(requirement: str) -> str:
    """A requirement as recorded in PEX-INFO: a direct URL loses its credentials."""
    name, at, url = requirement.partition("@")
    return f"{name}@ {strip_credentials(url.strip())}" if at else requirement


def _own_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("hatch-pex")
    except PackageNotFoundError:  # running from a source tree
        return "0+unknown"
