"""The seven ways of shipping the fixture app, how each is built and how each is started."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .shell import clean_environment, run
from .workspace import REPO_ROOT, Workspace

APP_SCRIPT = "bench-app"
APP_ARGUMENTS = ("--name", "bench")
SUCCESS_MARKER = "bench-app ok"


@dataclass(frozen=True)
class BuildContext:
    """What a build needs: the tools, the interpreter, and an environment whose caches point at
    `cache_dir` (empty for a cold build, kept between warm rebuilds)."""

    workspace: Workspace
    interpreter: Path
    cache_dir: Path

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
    """One way of shipping the app. `build` writes into an empty output dir and returns the artifact."""

    key: str
    label: str
    build: Builder
    is_venv: bool = False

    def launch_command(self, interpreter: Path, artifact: Path) -> list[str]:
        """Every archive runs as `<python3.11> <file> args`; a venv runs its script with its python."""
        if self.is_venv:
            return [str(artifact / "bin" / "python"), str(artifact / "bin" / APP_SCRIPT), *APP_ARGUMENTS]
        return [str(interpreter), str(artifact), *APP_ARGUMENTS]


def hatch_build(context: BuildContext, app: Path, output: Path) -> Path:
    """`hatch build -t pex` in `app`: hatch's build environment (the plugin, a dependency given in the
    app's pyproject.toml) lives in HATCH_DATA_DIR, so a cold build creates it and a warm one reuses it."""
    run([context.workspace.tool("hatch"), "build", "-t", "pex", output], context.environment, cwd=app)
    return only_file(output, ".pex")


def build_with_hatch_pex(context: BuildContext, output: Path) -> Path:
    """The fixture app as it is: its build environment takes the plugin from this repository."""
    return hatch_build(context, context.workspace.app, output)


def build_with_hatch_pex_in(app: Path) -> Builder:
    """`hatch build -t pex` in a copy of the fixture app whose build environment takes the plugin
    from elsewhere (`--baseline`: the plugin at an earlier revision)."""

    def build(context: BuildContext, output: Path) -> Path:
        return hatch_build(context, app, output)

    return build


def build_with_hatch_pex_one_version(context: BuildContext, output: Path) -> Path:
    """`hatch build -t pex` with `python-versions` narrowed to the benchmark's interpreter: one
    resolution, as every build was before a file served each Python the project admits. A copy of
    the app (the plugin's location made absolute) with that one key added."""
    workspace = context.workspace
    version = run(
        [context.interpreter, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], context.environment
    ).stdout.strip()
    app = workspace.root / "app-one-version"
    if not app.is_dir():
        shutil.copytree(workspace.app, app)
        text = (app / "pyproject.toml").read_text(encoding="utf-8")
        text = text.replace("{root:parent:parent:uri}", REPO_ROOT.as_uri())
        text = text.replace('script = "bench-app"', f'script = "bench-app"\npython-versions = ["{version}"]')
        (app / "pyproject.toml").write_text(text, encoding="utf-8")
    return hatch_build(context, app, output)


def build_with_pex_cli(extra_arguments: Sequence[str]) -> Builder:
    def build(context: BuildContext, output: Path) -> Path:
        artifact = output / f"{APP_SCRIPT}.pex"
        workspace = context.workspace
        run(
            [workspace.tool("pex"), workspace.app, "-c", APP_SCRIPT, "-o", artifact, *extra_arguments],
            context.environment,
        )
        return artifact

    return build


def build_with_shiv(context: BuildContext, output: Path) -> Path:
    artifact = output / f"{APP_SCRIPT}.pyz"
    workspace = context.workspace
    run([workspace.tool("shiv"), "-c", APP_SCRIPT, "-o", artifact, workspace.app], context.environment)
    return artifact


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
                context.workspace.app,
            ],
            context.environment,
        )
        run([venv_python, "-m", "compileall", "-q", "-j", "0", site_packages(venv)], context.environment)
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
PEX = "pex"
PEX_VENV = "pex-venv"
SHIV = "shiv"
VENV = "venv"
SYSTEM_SITE_VENV = "venv-system-site"

CONTENDERS: tuple[Contender, ...] = (
    Contender(HATCH_PEX, "hatch-pex (`hatch build -t pex`, every Python)", build_with_hatch_pex),
    Contender(
        HATCH_PEX_ONE_VERSION, 'hatch-pex, `python-versions = ["3.11"]`', build_with_hatch_pex_one_version
    ),
    Contender(PEX, "PEX CLI, default (zipapp)", build_with_pex_cli([])),
    Contender(PEX_VENV, "PEX CLI, `--venv`", build_with_pex_cli(["--venv"])),
    Contender(SHIV, "shiv", build_with_shiv),
    Contender(VENV, "plain venv", build_venv(system_site_packages=False), is_venv=True),
    Contender(
        SYSTEM_SITE_VENV, "venv `--system-site-packages`", build_venv(system_site_packages=True), is_venv=True
    ),
)


def contender(key: str) -> Contender:
    return next(candidate for candidate in CONTENDERS if candidate.key == key)
