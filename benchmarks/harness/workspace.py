"""Where everything the benchmark makes lives: `benchmarks/work/` (gitignored)."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

BENCHMARKS_DIR = Path(__file__).resolve().parent.parent
REPO_ROOT = BENCHMARKS_DIR.parent


@dataclass(frozen=True)
class Workspace:
    """Paths under the work directory; nothing outside it is written except the docs."""

    root: Path

    @property
    def app(self) -> Path:
        return BENCHMARKS_DIR / "app"

    @property
    def tools_venv(self) -> Path:
        return self.root / "tools"

    @property
    def tools_python(self) -> Path:
        return self.tools_venv / "bin" / "python"

    def tool(self, name: str) -> Path:
        return self.tools_venv / "bin" / name

    @property
    def results_file(self) -> Path:
        """The small app's results (the chart is drawn from them)."""
        return self.results_file_for("results.json")

    def results_file_for(self, name: str) -> Path:
        return self.root / name

    def artifact_dir(self, key: str) -> Path:
        return self.root / "artifacts" / key

    def warm_build_cache(self, key: str) -> Path:
        return self.root / "build-caches" / key

    def warm_runtime_root(self, variant: str, key: str) -> Path:
        return self.root / "runtime-roots" / variant / key

    def revision_dir(self, commit: str) -> Path:
        """The plugin's source at `commit` (exported once, kept) and the app copy that builds with it."""
        return self.root / "revisions" / commit

    def fresh_dir(self, purpose: str) -> Path:
        """A new empty directory under `scratch/`, for one cold build or one first start."""
        scratch = self.root / "scratch"
        scratch.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f"{purpose}-", dir=scratch))

    def reset_run_state(self) -> None:
        """Forget artifacts, caches and runtime roots of an earlier run (the tools venv stays)."""
        for name in ("artifacts", "build-caches", "runtime-roots", "scratch", "app-one-version"):
            remove_tree(self.root / name)


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def reset_dir(path: Path) -> Path:
    remove_tree(path)
    path.mkdir(parents=True)
    return path
