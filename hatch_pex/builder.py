"""The `pex` build target: project wheel -> pip closure -> archive, one .pex per entry point."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections import Counter
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from hatchling.builders.plugin.interface import BuilderInterface
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from . import archive, precompile
from . import version as own_version
from .bootstrap.report import pex_hash
from .config import PexBuilderConfig
from .credentials import scratch_directory, work_subdirectory
from .lock import Lock, LockError, inputs_hash, plan_from_lock, read_lock, unsatisfied, write_lock
from .piprunner import pip_servers
from .platforms import (
    CURRENT,
    KNOWN_PYTHON_VERSIONS,
    Platform,
    first_release_served,
    lowest_release,
    narrowed_constraints,
    served_versions,
    version_key,
)
from .progress import FailureContext, Reporter, elapsed, failures_message, platforms_text, reporting
from .progress import count as count_progress
from .pythons import find_python
from .redact import redact, strip_credentials
from .resolve import (
    ORIGINS,
    PLATFORMS_RESOLVED,
    Closure,
    Distribution,
    PlannedFile,
    Planner,
    ResolveError,
    ResolveOptions,
    default_build_cache,
    for_each_platform,
    plan_with_pip,
    resolve,
)
from .sbom import SBOM_MEMBER, side_file, write_side_file
from .uv import plan_from_universal_lock, universal_lock
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
        self._reporter = Reporter(self.app)

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
            for path in [artifact, *(path for path in self._built if path != artifact)]:
                if self.app.verbosity == -1:
                    # `hatch -q build`: hatchling names no artifact; the file names alone, on stdout
                    # for scripts (`pex=$(hatch -q build -t pex)`). Nothing at all at -qq.
                    self.app.display(os.path.relpath(path, self.root) if path.startswith(self.root) else path)
                yield path

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
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(side_file(path))  # its SBOM

    def build_standard(self, directory: str, **build_data: Any) -> str:
        return self._explained(lambda: self._build(directory))

    def build_lock(self, directory: str, **build_data: Any) -> str:
        return self._explained(self._write_lock)

    def _explained(self, action: Callable[[], str]) -> str:
        try:
            return action()
        except (
            BuildError,
            LockError,
            ResolveError,
            precompile.BytecodeError,
            OSError,
            TypeError,
            ValueError,
        ) as error:
            # One clear paragraph, not a traceback; credentials never reach the message.
            self.app.abort(f"hatch-pex: {redact(str(error))}")
            raise  # pragma: no cover - abort exits

    def _build(self, directory: str) -> str:
        self.config.validate()
        targets = self._targets()
        platforms = self._platforms()
        options = self._resolve_options()
        # Every pip and uv process, the pip servers started now included, finds the index credentials
        # in a private netrc file: none is ever on a command line (credentials.py).
        scratch = scratch_directory("hatch-pex-")
        reporter = self._reporter = Reporter(self.app)
        with scratch as work_dir, options.credentials(), pip_servers() as servers, reporting(reporter):
            if not self.config.lock and self.config.resolver == "pip":
                servers.start(len(platforms))  # pip starts up while hatchling builds the wheel
            started = time.monotonic()
            self.app.display_waiting("Building the project wheel")
            project_wheel = build_project_wheel(self, os.path.join(work_dir, "project"))
            self.app.display_success(f"Built {os.path.basename(project_wheel)} in {elapsed(started)}")
            started = time.monotonic()
            resolver = self._resolver_name()
            self.app.display_waiting(
                f"Resolving the dependency closure with {resolver} for {platforms_text(platforms)}"
            )
            with reporter.stage(f"Resolving with {resolver}", {PLATFORMS_RESOLVED: len(platforms)}):
                closure = resolve(
                    self._requirements(project_wheel),
                    options,
                    work_dir=work_dir,
                    platforms=platforms,
                    planner=self._planner(project_wheel, platforms, work_dir),
                    optional=self._optional(platforms),
                    find_python=find_python,
                )
            served = self._served(platforms, closure.left_out, {d.name for d in closure.distributions})
            if self.config.exclude:
                closure = self._excluded(closure, served)
            # Interpreters outside a wheel's Requires-Python cannot run this closure, whatever the
            # project's own constraints say; the runtime checks these too.
            requires_python = {
                d.filename: spec for d in closure.distributions if (spec := wheel_requires_python(d.wheel))
            }
            served = self._first_releases(served, closure, requires_python)
            self._report_closure(closure, served, started)
            sizes = {d.filename: os.path.getsize(d.wheel) for d in closure.distributions}
            reporter.size(served, closure.platform_sets, sizes, field=self.config.field)
            distributions = closure.distributions
            self._check_entry_points(targets, distributions)
            members = archive.bootstrap_members() + [
                archive.wheel_member(d.wheel, d.sha256) for d in distributions
            ]
            bundles = self._bytecode(closure, served, work_dir)
            members += precompile.members(bundles)
            timestamp = archive.zip_timestamp(self.config.reproducible)
            # One SBOM for every target (it names no entry point); a member like the runtime's.
            sbom = self._sbom(closure, served, timestamp) if self.config.sbom else None
            if sbom is not None:
                members.append(archive.Member(SBOM_MEMBER, sbom))
            # Every member but PEX-INFO belongs in `members`: pex_hash and `member_hashes` cover them,
            # and `verify` reports any member they do not record.
            content = archive.content_hash(members)
            self._built = []
            for target in targets:
                info = self._pex_info(
                    target, closure, content, requires_python, served, archive.member_hashes(members)
                )
                if bundles:  # before pex_hash, which covers every field
                    info[precompile.PEX_INFO_KEY] = precompile.pex_info(bundles)
                info["pex_hash"] = pex_hash(content, info)
                output = os.path.join(directory, f"{self._output_stem(target)}.pex")
                started = time.monotonic()
                with reporter.stage(f"Packing {os.path.basename(output)}"):
                    archive.write_pex(
                        output,
                        shebang=self.config.python_shebang,
                        members=[*members, archive.pex_info_member(info)],
                        compression=self.config.compression,
                        timestamp=timestamp,
                    )
                reporter.packed(output, started)
                if sbom is not None:
                    reporter.success(f"Wrote the SBOM {os.path.basename(write_side_file(output, sbom))}")
                else:  # one left by an earlier build would describe another file
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(side_file(output))
                self._built.append(output)
        return self._built[0]

    def _bytecode(self, closure: Closure, served: list[Platform], work_dir: str) -> list[precompile.Bundle]:
        """The bundles `compile-bytecode` asks for: each CPython version served, or those listed, for
        the wheels of that version's platforms."""
        wanted = self.config.compile_bytecode
        if not wanted:
            return []
        versions = {p.python_version for p in served if p.implementation == "cp"}
        if isinstance(wanted, list):
            versions &= set(wanted)
        by_name = {d.filename: d for d in closure.distributions}
        jobs = sorted(
            {
                (p.python_version, by_name[name].wheel, by_name[name].sha256)
                for p in served
                if p.python_version in versions
                for name in closure.platform_sets.get(p.text, ())
                if name in by_name
            }
        )
        ordered = sorted(versions, key=version_key)
        missing = [version for version in ordered if find_python(version) is None]
        if missing and wanted is True:
            found = [version for version in ordered if version not in missing]
            raise BuildError(
                f"Field `{self.config.field('compile-bytecode')}` is true: bytecode for every CPython the "
                f"file serves ({', '.join(ordered)}), but no CPython {', '.join(missing)} was found on this "
                f"machine (PEX_PYTHON_PATH, PATH, pyenv or uv): install "
                f"{'it' if len(missing) == 1 else 'them'}, or list the versions to compile"
                + (f", e.g. compile-bytecode = {json.dumps(found)}" if found else "")
            )
        started = time.monotonic()
        self.app.display_waiting(f"Compiling bytecode for CPython {', '.join(ordered)}")
        with self._reporter.stage("Compiling bytecode"):
            bundles = precompile.compile_bundles(
                jobs, find_python, default_build_cache(), work_dir, self.config.field("compile-bytecode")
            )
        size = sum(os.path.getsize(b.path) for b in bundles)
        self.app.display_success(
            f"Compiled the bytecode of {len(bundles)} wheels ({size / 2**20:.1f} MiB) in {elapsed(started)}"
        )
        return bundles

    def _platforms(self) -> list[Platform]:
        """The configured platforms, `current` expanded to this machine at every served version."""
        platforms = []
        for text in self.config.platforms:
            if text != CURRENT:
                platforms.append(Platform.parse(text))
                continue
            versions = served_versions(self.config.interpreter_constraints, self.config.python_versions)
            if not versions:
                raise BuildError(
                    f"The interpreter constraints ({' or '.join(self.config.interpreter_constraints)}) admit "
                    f"none of the CPython versions a .pex can serve ({', '.join(KNOWN_PYTHON_VERSIONS)}); "
                    f"check `project.requires-python` or "
                    f"`{self.config.field('interpreter-constraints')}`"
                )
            constraints = self.config.interpreter_constraints
            platforms += [Platform.local(v, lowest_release(constraints, v)) for v in versions]
        return platforms

    def _first_releases(
        self, served: list[Platform], closure: Closure, requires_python: dict[str, str]
    ) -> list[Platform]:
        """The served platforms, each from the first patch release its wheels all admit. A served
        version means every patch release of it: where a wheel needs a later one than the platform was
        resolved for (a lock's or uv's choice, or nothing serving X.Y.0), the file says it serves
        that version from there on, and the build says why in one line."""
        result = []
        for platform in served:
            if not platform.local_tags:  # another machine's platform is served as its string says
                result.append(platform)
                continue
            wheels = [name for name in closure.platform_sets[platform.text] if name in requires_python]
            specs = [requires_python[name] for name in wheels]
            micro = first_release_served(specs, platform.python_version, platform.micro)
            if micro > platform.micro:
                later = platform.from_micro(micro)
                needing = [
                    f"{name} requires Python {spec}"
                    for name in wheels
                    if not SpecifierSet(spec := requires_python[name]).contains(
                        platform.full_version, prereleases=True
                    )
                ]
                self._reporter.warning(
                    f"{platform.description} is served from {later.full_version} on, not "
                    f"{platform.full_version}: {'; '.join(needing)} (an older interpreter of it is refused "
                    f"at start)"
                )
                platform = later
            result.append(platform)
        return result

    def _optional(self, platforms: list[Platform]) -> frozenset[str]:
        """Versions that may be left out: those chosen by default, not listed by the user."""
        if self.config.python_versions is not None:
            return frozenset()
        return frozenset(p.text for p in platforms if p.local_tags)

    def _served(
        self, platforms: list[Platform], left_out: dict[Platform, ResolveError], resolved: set[str]
    ) -> list[Platform]:
        """The platforms served, with a line per cause of the versions left out. Nothing served fails."""
        served = [p for p in platforms if p not in left_out]
        context = FailureContext(no_index=self.config.no_index, resolved=frozenset(resolved))
        if not served:
            raise BuildError(
                failures_message("No Python version the project admits can be served", left_out, context)
            )
        self._reporter.left_out(left_out, context)
        return served

    def _excluded(self, closure: Closure, served: list[Platform]) -> Closure:
        """The closure without the `exclude`d distributions and what only they need (exclude.py)."""
        from .exclude import prune

        config = self.config
        project = str(canonicalize_name(self.metadata.core.name))
        pruned = prune(closure, served, self._roots(), config.exclude)
        unknown = [name for name in config.exclude if name not in pruned.found]
        if unknown:
            held = sorted({d.name for d in closure.distributions} - {project})
            raise BuildError(
                f"Field `{self.config.field('exclude')}` names "
                f"{', '.join(repr(n) for n in unknown)}, which the dependency closure does not hold for "
                f"any platform the file serves (it holds: {', '.join(held) or 'nothing but the project'})"
            )
        grouped: dict[tuple[str, ...], list[Platform]] = {}  # one line per distinct list
        for platform in served:
            grouped.setdefault(tuple(pruned.left_out.get(platform.text, [])), []).append(platform)
        for left_out, where in grouped.items():
            self._reporter.note(
                f"left out of the file for {platforms_text(where)}: {', '.join(left_out) or 'nothing'}"
            )
        return pruned.closure

    def _roots(self) -> list[str]:
        """What the closure was resolved from, by name: the project with its features, `requirements`,
        the dependency groups and the lines of `requirements-files` (where exclude and the SBOM's
        graph start)."""
        from .exclude import requirements_file_lines

        project = str(canonicalize_name(self.metadata.core.name))
        return [*self._requirements(project), *requirements_file_lines(self.config.requirements_files)]

    def _sbom(self, closure: Closure, served: list[Platform], timestamp: float) -> bytes:
        """The file's CycloneDX SBOM (sbom.py)."""
        from .sbom import Project, index_urls, sbom_document

        core = self.metadata.core
        project = Project(
            name=core.name,
            version=self.metadata.version,
            license_expression=core.license_expression,
            license_text=core.license,
            classifiers=core.classifiers,
            roots=self._roots(),
        )
        return sbom_document(
            project,
            closure,
            served,
            timestamp=timestamp,
            tool_version=own_version(),
            indexes=index_urls(self._resolve_options()),
        )

    def _report_closure(self, closure: Closure, served: list[Platform], started: float) -> None:
        """What the resolution gave: the distributions in the file, for which platforms, from where."""
        origins = Counter(d.origin for d in closure.distributions)
        sources = ", ".join(f"{origins[origin]} {origin}" for origin in ORIGINS if origins[origin])
        count = len(closure.distributions)
        self._reporter.success(
            f"Resolved {count} distribution{'s' if count != 1 else ''} for {platforms_text(served)} with "
            f"{self._resolver_name()} in {elapsed(started)} ({sources})"
        )

    def _resolver_name(self) -> str:
        return "the lock" if self.config.lock else self.config.resolver

    def _planner(self, project_wheel: str | None, platforms: list[Platform], work_dir: str) -> Planner | None:
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
            lock = self._current_lock(config.lock, platforms)
            return lambda platform, _: [*plan_from_lock(lock, platform), *own]
        if config.resolver == "uv":
            uv_dir = work_subdirectory(work_dir, "uv")
            lowest = min((p.python_version for p in platforms), key=version_key)
            requirements = self._dependency_requirements()
            options = self._resolve_options()
            universal = universal_lock(requirements, options, lowest_python=lowest, work_dir=uv_dir)
            return lambda platform, _: [*plan_from_universal_lock(universal, platform), *own]
        return None

    def _current_lock(self, path: str, platforms: list[Platform]) -> Lock:
        """The lock, if it still describes the project: else a LockError saying how to refresh it."""
        lock = read_lock(path)
        name = os.path.basename(path)
        refresh = "Refresh it with `hatch build -t pex:lock` and review the change"
        if lock.inputs_hash is not None and lock.inputs_hash != self._lock_inputs():
            raise LockError(
                f"The lock {name} is out of date: the project's dependencies or the pex target's "
                f"settings changed since it was written. {refresh}"
            )
        for platform in platforms:
            if not lock.covers(platform):
                continue  # left out of the file, with a line that says so
            missing = unsatisfied(lock, self._dependency_requirements(), platform)
            if missing:
                where = "" if platform.text == CURRENT else f" for {platform.description}"
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
        return requirements + self.config.requirements + self.config.dependency_group_requirements

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
                "python-versions": config.python_versions,
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
                f'`{self.config.field("lock")}`; set it first, e.g. lock = "pylock.toml"'
            )
        requirements = self._dependency_requirements()
        options = self._resolve_options()
        platforms = self._platforms()
        scratch = scratch_directory("hatch-pex-lock-")
        # pip's and uv's output at -v, a status line on a terminal
        reporter = self._reporter = Reporter(self.app)
        locking = reporter.stage(f"Locking with {self.config.resolver}", {PLATFORMS_RESOLVED: len(platforms)})
        with scratch as work_dir, options.credentials(), reporting(reporter), locking:
            planner = self._planner(None, platforms, work_dir)

            def plan(platform: Platform, platform_dir: str) -> list[PlannedFile]:
                planned = planner(platform, platform_dir) if planner else None
                if planned is None:
                    planned = plan_with_pip(requirements, options, platform, work_dir=platform_dir)
                count_progress(PLATFORMS_RESOLVED)
                return planned

            optional = self._optional(platforms)
            with pip_servers():
                plans, left_out = for_each_platform(
                    platforms,
                    plan,
                    work_dir=work_dir,
                    optional=optional,
                    find_python=find_python,
                    no_index=self.config.no_index,
                )
            resolved = {item.name for plan in plans.values() for item in plan}
            served = self._served(platforms, left_out, resolved)
        requires_python = self.metadata.core.requires_python or None
        before = _locked_versions(self.config.lock)
        path = write_lock(
            self.config.lock,
            plans,
            requires_python=requires_python,
            inputs=self._lock_inputs(),
            python_versions=[p.python_version for p in served if p.local_tags],
        )
        reporter.locked(path, before, _locked_versions(path), served)
        return path

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
        return [project, *self.config.requirements, *self.config.dependency_group_requirements]

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
                    f"wheel or any of its {len({d.name for d in distributions}) - 1} dependencies; check the "
                    f"name, or the wheel target's packages/include settings"
                )

    def _pex_info(
        self,
        target: Target,
        closure: Closure,
        content: str,
        requires_python: dict[str, str],
        served: list[Platform],
        member_hashes: dict[str, str],
    ) -> dict[str, Any]:
        from .bootstrap.report import PREAMBLE_KEY

        distributions = closure.distributions
        metadata = self.metadata
        features = self.config.features
        project_requirement = str(canonicalize_name(metadata.core.name))
        if features:
            project_requirement += f"[{','.join(features)}]"
        info: dict[str, Any] = {
            "format": archive.FORMAT,
            "hatch_pex_version": own_version(),
            "project": {"name": metadata.core.name, "version": metadata.version},
            "entry_point": target.entry_point,
            "script": target.script,
            # Only the versions the file serves (some may have been left out).
            "interpreter_constraints": narrowed_constraints(
                self.config.interpreter_constraints,
                [p.python_version for p in served],
                {p.python_version: p.micro for p in served if p.local_tags and p.micro},
            ),
            "python_versions": sorted({p.python_version for p in served}, key=version_key),
            "inherit_path": self.config.inherit_path,
            "inject_env": self.config.env,
            # PEX's `inject_args`: put before the user's arguments when the entry point runs.
            "inject_args": self.config.args,
            "requirements": [
                f"{project_requirement}=={metadata.version}",
                *(_public_requirement(r) for r in self.config.requirements),
                *(_public_requirement(r) for r in self.config.dependency_group_requirements),
            ],
            # PEX's `excluded`: left out of the file with what only they need; the runtime does not
            # miss them (it checks no requirement), so they may come from PEX_EXTRA_SYS_PATH or the
            # interpreter's site-packages (inherit_path).
            "excluded": self.config.exclude,
            "distributions": {d.filename: d.sha256 for d in distributions},
            "requires_python": requires_python,
            "platforms": [p.text for p in served],
            # Each platform's own closure: the runtime takes the set of its own Python version first,
            # then the first that fits it whole (platforms can resolve to different versions of one
            # project: click 8.1 on 3.9, the newest elsewhere).
            "platform_distributions": closure.platform_sets,
            # sha256 of each member but the wheels (in `distributions`): `verify` names the one altered.
            "member_hashes": member_hashes,
            PREAMBLE_KEY: archive.preamble_sha256(self.config.python_shebang),
        }
        return info

    def _output_stem(self, target: Target) -> str:
        return self.config.output_name.format(
            name=target.name,
            script=target.script or target.name,
            project=str(canonicalize_name(self.metadata.core.name)),
            version=self.metadata.version,
        )


def _locked_versions(path: str) -> dict[str, set[str]] | None:
    """{name: versions} of the lock at `path`; None when there is none (or none readable)."""
    if not os.path.exists(path):
        return None
    try:
        lock = read_lock(path)
    except LockError:
        return None
    versions: dict[str, set[str]] = {}
    for package in lock.packages:
        versions.setdefault(package.name, set()).add(package.version)
    return versions


def _public_requirement(requirement: str) -> str:
    """A requirement as recorded in PEX-INFO: a direct URL loses its credentials."""
    name, at, url = requirement.partition("@")
    return f"{name}@ {strip_credentials(url.strip())}" if at else requirement
