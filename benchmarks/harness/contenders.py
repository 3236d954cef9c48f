"""The fixture apps, the ways of shipping each (the small app nine ways, the mid-size one eight, the
large one seven), how each is built and how each is started."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .shell import clean_environment, run
from .workspace import BENCHMARKS_DIR, REPO_ROOT, Workspace

APP_SCRIPT = "bench-app"
APP_ARGUMENTS = ("--name", "bench")
SUCCESS_MARKER = "bench-app ok"


@dataclass(frozen=True)
class App:
    """A fixture project: its directory, the console script every contender runs (with `arguments`),
    the line that script prints last when all went well, the PEX CLI's extra resolver options, and the
    distributions whose versions (as resolved into the venv) the page names."""

    key: str
    directory: Path
    script: str
    pex_resolver_arguments: tuple[str, ...] = ()
    arguments: tuple[str, ...] = APP_ARGUMENTS
    distributions: tuple[str, ...] = ("click", "requests", "rich")

    @property
    def success_marker(self) -> str:
        return f"{self.script} ok"


SMALL_APP = App("small", BENCHMARKS_DIR / "app", APP_SCRIPT)
# torch==2.13.0+cpu comes from this machine's pip configuration (find-links /opt/wheels): pip, shiv
# and hatch-pex read it; the PEX CLI runs pip `--isolated`, so it is given the find-links. Its
# vendored pip (20.3.4) resolves torch 2.14.1 (with CUDA) against that pin and fails, and `latest`
# (26.2.2) is not on this machine's index: a newer pip it knows and can bootstrap.
LARGE_APP = App(
    "large",
    BENCHMARKS_DIR / "app-large",
    "bench-app-large",
    ("--find-links", "/opt/wheels", "--pip-version", "26.2.1"),
    distributions=("torch", "numpy", "pandas", "scipy", "pyarrow"),
)
# A small Django project whose script runs `manage.py check` (no arguments of its own). Django and the
# REST framework come from the index like the small app's dependencies: no resolver options needed.
MID_APP = App(
    "mid",
    BENCHMARKS_DIR / "app-mid",
    "bench-app-mid",
    arguments=(),
    distributions=("django", "djangorestframework", "asgiref", "sqlparse"),
)


@dataclass(frozen=True)
class BuildContext:
    """What a build needs: the app, the tools, the interpreter, and an environment whose caches point
    at `cache_dir` (empty for a cold build, kept between warm rebuilds)."""

    workspace: Workspace
    interpreter: Path
    cache_dir: Path
    app: App = SMALL_APP

    @property
    def environment(self) -> dict[str, str]:
        return clean_environment(
            dont_write_bytecode=False,
            extra={
                "XDG_CACHE_HOME": str(self.cache_dir / "xdg"),
                "PIP_CACHE_DIR": str(self.cache_dir / "pip"),
                "PEX_ROOT": str(self.cache_dir / "pex"),
                "UV_CACHE_DIR": str(self.cache_dir / "uv"),
                "HATCH_CACHE_DIR": str(self.cache_dir / "hatch-cache"),
                "HATCH_DATA_DIR": str(self.cache_dir / "hatch-data"),
            },
        )


Builder = Callable[[BuildContext, Path], Path]


@dataclass(frozen=True)
class Contender:
    """One way of shipping the app. `build` writes into an empty output dir and returns the artifact.
    `executed` archives are started as programs (their own boot picks the interpreter); contenders
    with the same `cache_group` share one warm build cache (default: a cache of their own). `timeline`:
    a hatch-pex file, whose runtime says under PEX_VERBOSE=1 when it is ready (and what it extracted),
    so its first starts are also taken apart (measure.py, `Timeline`)."""

    key: str
    label: str
    build: Builder
    is_venv: bool = False
    executed: bool = False
    cache_group: str | None = None
    timeline: bool = False

    @property
    def cache_key(self) -> str:
        return self.cache_group or self.key

    def launch_command(self, interpreter: Path, artifact: Path, app: App = SMALL_APP) -> list[str]:
        """Every archive runs as `<python3.11> <file> args` (an `executed` one as `<file> args`); a
        venv runs its script with its python."""
        if self.is_venv:
            return [str(artifact / "bin" / "python"), str(artifact / "bin" / app.script), *app.arguments]
        if self.executed:
            return [str(artifact), *app.arguments]
        return [str(interpreter), str(artifact), *app.arguments]


def hatch_build(context: BuildContext, app: Path, output: Path) -> Path:
    """`hatch build -t pex` in `app`: hatch's build environment (the plugin, a dependency given in the
    app's pyproject.toml) lives in HATCH_DATA_DIR, so a cold build creates it and a warm one reuses it."""
    run([context.workspace.tool("hatch"), "build", "-t", "pex", output], context.environment, cwd=app)
    return only_file(output, ".pex")


def build_with_hatch_pex(context: BuildContext, output: Path) -> Path:
    """The fixture app as it is: its build environment takes the plugin from this repository."""
    return hatch_build(context, context.app.directory, output)


def build_with_hatch_pex_in(app: Path) -> Builder:
    """`hatch build -t pex` in a copy of the fixture app whose build environment takes the plugin
    from elsewhere (`--baseline`: the plugin at an earlier revision)."""

    def build(context: BuildContext, output: Path) -> Path:
        return hatch_build(context, app, output)

    return build


def interpreter_version(context: BuildContext) -> str:
    """The benchmark interpreter's minor version, "3.11"."""
    return run(
        [context.interpreter, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], context.environment
    ).stdout.strip()


def build_with_hatch_pex_one_version(context: BuildContext, output: Path) -> Path:
    """`hatch build -t pex` with `python-versions` narrowed to the benchmark's interpreter: one
    resolution, as every build was before a file served each Python the project admits. A copy of
    the app (the plugin's location made absolute) with that one key added."""
    workspace = context.workspace
    version = interpreter_version(context)
    app = workspace.root / "app-one-version"
    if not app.is_dir():
        shutil.copytree(workspace.app, app)
        text = (app / "pyproject.toml").read_text(encoding="utf-8")
        text = text.replace("{root:parent:parent:uri}", REPO_ROOT.as_uri())
        text = text.replace('script = "bench-app"', f'script = "bench-app"\npython-versions = ["{version}"]')
        (app / "pyproject.toml").write_text(text, encoding="utf-8")
    return hatch_build(context, app, output)


def build_with_hatch_pex_compiled(context: BuildContext, output: Path) -> Path:
    """`hatch build -t pex` with `compile-bytecode`: the file carries the bytecode of every module,
    compiled at build time (hatch_pex/precompile.py). For an app that serves one Python (the large and
    mid-size apps) `true`; for the small app, which serves every Python and could not find an
    interpreter of each on a machine without 3.14 and 3.15, the benchmark's own version. A copy of the
    app (the plugin's location made absolute) with that one key added."""
    app = context.workspace.root / f"app-{context.app.key}-compile-bytecode"
    value = "true" if context.app.key != SMALL_APP.key else f'["{interpreter_version(context)}"]'
    if not app.is_dir():
        shutil.copytree(context.app.directory, app, ignore=shutil.ignore_patterns("dist", "build"))
    # written again on every run: a copy an earlier run left may hold another value
    text = (context.app.directory / "pyproject.toml").read_text(encoding="utf-8")
    text = text.replace("{root:parent:parent:uri}", REPO_ROOT.as_uri())
    header = "[tool.hatch.build.targets.pex]\n"
    assert header in text, f"{context.app.directory}/pyproject.toml has no {header.strip()} table"
    text = text.replace(header, f"{header}compile-bytecode = {value}\n", 1)
    (app / "pyproject.toml").write_text(text, encoding="utf-8")
    return hatch_build(context, app, output)


def build_with_pex_cli(extra_arguments: Sequence[str], sh_boot: bool = False) -> Builder:
    """`pex <app> -c <script> -o <file>` plus `extra_arguments` and the app's resolver options. With
    `sh_boot`, `--sh-boot --python-shebang <the benchmark's interpreter>`: the file is started as a
    program and its /bin/sh boot runs the same interpreter as every other contender."""

    def build(context: BuildContext, output: Path) -> Path:
        app = context.app
        artifact = output / f"{app.script}.pex"
        boot = ["--sh-boot", "--python-shebang", str(context.interpreter)] if sh_boot else []
        run(
            [
                context.workspace.tool("pex"),
                app.directory,
                "-c",
                app.script,
                "-o",
                artifact,
                *extra_arguments,
                *boot,
                *app.pex_resolver_arguments,
            ],
            context.environment,
        )
        return artifact

    return build


def build_with_shiv(context: BuildContext, output: Path) -> Path:
    app = context.app
    artifact = output / f"{app.script}.pyz"
    run(
        [context.workspace.tool("shiv"), "-c", app.script, "-o", artifact, app.directory], context.environment
    )
    return artifact


# compileall over site-packages, a file that does not compile skipped as pip's `--compile` skips it
# (torch ships sources for newer Pythons only: `python -m compileall` would exit 1).
COMPILE_SCRIPT = "import compileall, sys; compileall.compile_dir(sys.argv[1], quiet=2, workers=0)"


def build_venv(system_site_packages: bool) -> Builder:
    """`python -m venv` plus the app installed by pip, bytecode compiled (pip does it at install;
    compileall makes sure of it whatever PYTHONDONTWRITEBYTECODE says)."""

    def build(context: BuildContext, output: Path) -> Path:
        venv = output / "venv"
        site_flag = ["--system-site-packages"] if system_site_packages else []
        run([context.interpreter, "-m", "venv", "--without-pip", *site_flag, venv], context.environment)
        venv_python = venv / "bin" / "python"
        run(
            [
                context.workspace.tools_python,
                "-m",
                "pip",
                "--python",
                venv_python,
                "install",
                "--quiet",
                "--compile",
                "--ignore-installed",
                context.app.directory,
            ],
            context.environment,
        )
        run([venv_python, "-c", COMPILE_SCRIPT, site_packages(venv)], context.environment)
        return venv

    return build


def site_packages(venv: Path) -> Path:
    return only_dir(venv / "lib", "python") / "site-packages"


def only_file(directory: Path, suffix: str) -> Path:
    found = [path for path in directory.iterdir() if path.is_file() and path.name.endswith(suffix)]
    if len(found) != 1:
        raise RuntimeError(f"expected one *{suffix} in {directory}, found {[p.name for p in found]}")
    return found[0]


def only_dir(directory: Path, prefix: str) -> Path:
    found = [path for path in directory.iterdir() if path.is_dir() and path.name.startswith(prefix)]
    if len(found) != 1:
        raise RuntimeError(f"expected one {prefix}* directory in {directory}, found {found}")
    return found[0]


def artifact_size(artifact: Path) -> int:
    """Bytes of the file, or of every regular file under a venv (symlinks not followed)."""
    if artifact.is_file():
        return artifact.stat().st_size
    total = 0
    for directory, _, names in os.walk(artifact):
        for name in names:
            path = Path(directory, name)
            if not path.is_symlink():
                total += path.stat().st_size
    return total


HATCH_PEX = "hatch-pex"
HATCH_PEX_ONE_VERSION = "hatch-pex-one-version"
HATCH_PEX_COMPILED = "hatch-pex-compile-bytecode"
PEX = "pex"
PEX_VENV = "pex-venv"
PEX_VENV_SH_BOOT = "pex-venv-sh-boot"
SHIV = "shiv"
VENV = "venv"
SYSTEM_SITE_VENV = "venv-system-site"

CONTENDERS: tuple[Contender, ...] = (
    Contender(
        HATCH_PEX, "hatch-pex (`hatch build -t pex`, every Python)", build_with_hatch_pex, timeline=True
    ),
    Contender(
        HATCH_PEX_ONE_VERSION,
        'hatch-pex, `python-versions = ["3.11"]`',
        build_with_hatch_pex_one_version,
        timeline=True,
    ),
    Contender(
        HATCH_PEX_COMPILED,
        'hatch-pex, `compile-bytecode = ["3.11"]` (every Python)',
        build_with_hatch_pex_compiled,
        timeline=True,
    ),
    Contender(PEX, "PEX CLI, default (zipapp)", build_with_pex_cli([])),
    Contender(PEX_VENV, "PEX CLI, `--venv`", build_with_pex_cli(["--venv"])),
    Contender(
        PEX_VENV_SH_BOOT,
        "PEX CLI, `--venv --sh-boot`",
        build_with_pex_cli(["--venv"], sh_boot=True),
        executed=True,
    ),
    Contender(SHIV, "shiv", build_with_shiv),
    Contender(VENV, "plain venv", build_venv(system_site_packages=False), is_venv=True),
    Contender(
        SYSTEM_SITE_VENV, "venv `--system-site-packages`", build_venv(system_site_packages=True), is_venv=True
    ),
)

# The large app: hatch-pex serves 3.11 only (its pyproject.toml says `python-versions = ["3.11"]`).
# The three PEX CLI builds share one warm PEX_ROOT, shiv and the venv one pip cache: each group's
# cache is primed once, by its first contender.
LARGE_CONTENDERS: tuple[Contender, ...] = (
    Contender(
        HATCH_PEX,
        'hatch-pex (`hatch build -t pex`, `python-versions = ["3.11"]`)',
        build_with_hatch_pex,
        timeline=True,
    ),
    Contender(
        HATCH_PEX_COMPILED,
        'hatch-pex, `python-versions = ["3.11"]`, `compile-bytecode = true`',
        build_with_hatch_pex_compiled,
        timeline=True,
    ),
    Contender(PEX, "PEX CLI, default (zipapp)", build_with_pex_cli([]), cache_group="pex-cli"),
    Contender(PEX_VENV, "PEX CLI, `--venv`", build_with_pex_cli(["--venv"]), cache_group="pex-cli"),
    Contender(
        PEX_VENV_SH_BOOT,
        "PEX CLI, `--venv --sh-boot`",
        build_with_pex_cli(["--venv"], sh_boot=True),
        executed=True,
        cache_group="pex-cli",
    ),
    Contender(SHIV, "shiv", build_with_shiv, cache_group="pip"),
    Contender(VENV, "plain venv", build_venv(system_site_packages=False), is_venv=True, cache_group="pip"),
)

# The mid-size app: the large app's six (hatch-pex serves 3.11 only, its pyproject.toml says so; the same
# cache groups) and the small app's `--system-site-packages` venv, in the pip group too.
MID_CONTENDERS: tuple[Contender, ...] = (
    *LARGE_CONTENDERS,
    Contender(
        SYSTEM_SITE_VENV,
        "venv `--system-site-packages`",
        build_venv(system_site_packages=True),
        is_venv=True,
        cache_group="pip",
    ),
)


def contender(key: str) -> Contender:
    return next(candidate for candidate in CONTENDERS if candidate.key == key)
