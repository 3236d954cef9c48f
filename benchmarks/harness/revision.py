"""`--baseline REV`: the plugin as it was at an earlier revision of this repository, built into the
same app the same way as the `hatch-pex` contender, so one run times before and after side by side."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from .contenders import SMALL_APP, App, Contender, build_with_hatch_pex_in
from .progress import log
from .shell import CommandFailed, clean_environment, run
from .workspace import REPO_ROOT, Workspace, remove_tree, reset_dir

KEY_PREFIX = "hatch-pex@"
# How benchmarks/app/pyproject.toml gives the working tree's plugin to hatch's build environment.
WORKING_TREE_DEPENDENCY = "hatch-pex-builder @ {root:parent:parent:uri}"
# The distribution was once called hatch-pex: the revision's own pyproject.toml says which name to ask for.
PROJECT_NAME_SCRIPT = "import sys, tomllib; print(tomllib.load(open(sys.argv[1], 'rb'))['project']['name'])"


@dataclass(frozen=True)
class Revision:
    """A commit of this repository: as given on the command line, in full, and abbreviated."""

    requested: str
    commit: str
    short: str

    @property
    def key(self) -> str:
        return KEY_PREFIX + self.short

    @property
    def label(self) -> str:
        return f"hatch-pex@{self.short} (before, every Python)"

    def facts(self) -> dict[str, str]:
        """What results.json keeps, for the report to find the contender and name the revision."""
        return {"key": self.key, "requested": self.requested, "commit": self.commit, "short": self.short}


def git(*arguments: str | Path) -> str:
    return run(
        ["git", "-C", REPO_ROOT, *arguments], clean_environment(dont_write_bytecode=True)
    ).stdout.strip()


def resolve_revision(requested: str) -> Revision:
    """`requested` (anything `git rev-parse` takes) as a commit; exits when it names none."""
    try:
        commit = git("rev-parse", "--verify", "--end-of-options", f"{requested}^{{commit}}")
    except CommandFailed:
        raise SystemExit(f"--baseline {requested}: not a commit of this repository") from None
    return Revision(requested, commit, git("rev-parse", "--short", commit))


def source_tree(workspace: Workspace, revision: Revision) -> Path:
    return workspace.revision_dir(revision.commit) / "source"


def app_copy(workspace: Workspace, revision: Revision, app: App = SMALL_APP) -> Path:
    return workspace.revision_dir(revision.commit) / app.directory.name


def revision_contender(workspace: Workspace, revision: Revision, app: App = SMALL_APP) -> Contender:
    """`hatch build -t pex` like the `hatch-pex` contender, in a copy of the app that takes the plugin
    from the revision (see `prepare_revision`)."""
    return Contender(
        revision.key,
        revision.label,
        build_with_hatch_pex_in(app_copy(workspace, revision, app)),
        timeline=True,  # a runtime older than PEX_VERBOSE's "ready in" line just gets no timeline
    )


def export_source(workspace: Workspace, revision: Revision) -> Path:
    """The repository's files at the revision (`git archive`), extracted once; a commit never changes."""
    tree = source_tree(workspace, revision)
    if tree.is_dir():
        return tree
    log(f"baseline: exporting {revision.short} into {tree}")
    partial = reset_dir(tree.with_name("source.partial"))
    archive = tree.with_name("source.tar")
    git("archive", "--format=tar", f"--output={archive}", revision.commit)
    run(["tar", "-xf", archive, "-C", partial], clean_environment(dont_write_bytecode=True))
    archive.unlink()
    partial.rename(tree)
    return tree


def project_name(interpreter: Path, source: Path) -> str:
    completed = run(
        [interpreter, "-c", PROJECT_NAME_SCRIPT, source / "pyproject.toml"],
        clean_environment(dont_write_bytecode=True),
    )
    return completed.stdout.strip()


def write_app_copy(
    workspace: Workspace, revision: Revision, interpreter: Path, source: Path, original: App
) -> None:
    """A fresh copy of the fixture app whose build environment depends on `source` instead of the
    working tree; everything else (app, hatch, caches, interpreter) is the `hatch-pex` contender's."""
    app = app_copy(workspace, revision, original)
    remove_tree(app)
    shutil.copytree(original.directory, app)
    pyproject = app / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    if WORKING_TREE_DEPENDENCY not in text:
        raise RuntimeError(
            f"{original.directory / 'pyproject.toml'} no longer has `{WORKING_TREE_DEPENDENCY}`"
        )
    dependency = f"{project_name(interpreter, source)} @ {source.as_uri()}"
    pyproject.write_text(text.replace(WORKING_TREE_DEPENDENCY, dependency), encoding="utf-8")


def prepare_revision(
    workspace: Workspace, revision: Revision, interpreter: Path, app: App = SMALL_APP
) -> str | None:
    """Export the revision and write the app copy that builds with it; the reason it could not be, if so."""
    try:
        write_app_copy(workspace, revision, interpreter, export_source(workspace, revision), app)
    except (CommandFailed, RuntimeError, OSError) as error:
        return f"the plugin at {revision.short} could not be prepared: {error}"
    return None
