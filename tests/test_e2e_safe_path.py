"""End to end: the interpreter mode puts on sys.path what the interpreter itself would (docs/runtime.md,
"The interpreter mode").

`python -c/-m/-/script` put the working directory (or the script's) first on sys.path, except under -I
(isolated, every version) and -P or PYTHONSAFEPATH=1 (3.11+), which exist so that a module planted in
the directory one happens to be in is never imported. `python FLAGS app.pex ...` in the interpreter
mode must follow the same rule, also when the pex moves to another interpreter (a 3.9 knows no -P).
Each case runs the plain interpreter and the pex side by side in a directory holding a planted module
and compares whether it was imported.
"""

from __future__ import annotations

import json
from pathlib import Path

import helpers
import pytest
from helpers import with_env
from test_e2e_runtime import shared_build

SERVED = 'python-versions = ["3.9", "3.12"]'  # as tests/test_e2e_reexec.py: one build serves both
PLANTED = "planted_here"
PROBE = f"import sys\ntry:\n    import {PLANTED}\nexcept ImportError:\n    print('clean')\n"


@pytest.fixture(scope="module")
def pex(tmp_path_factory: pytest.TempPathFactory, index_url: str, uv_cache: Path) -> Path:
    [built] = shared_build(tmp_path_factory, index_url, uv_cache, "reexec-serve", "reexec-app", SERVED)
    return built


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A working directory with a module nobody should import under -I or -P, and a script beside it."""
    (tmp_path / f"{PLANTED}.py").write_text("print('planted')\n")
    (tmp_path / "script.py").write_text(PROBE)
    return tmp_path


def python(interpreters: dict[str, Path], version: str) -> Path:
    if version not in interpreters:
        pytest.skip(f"no Python {version} on this machine")
    return interpreters[version]


def outcomes(
    interpreter: Path, flags: list[str], pex: Path, workdir: Path, env: dict[str, str], **changes: str
) -> tuple[list[str], list[str]]:
    """(plain interpreter, pex) outputs of each form: -c, -m, stdin, script."""
    forms: list[tuple[list[str], str | None]] = [
        (["-c", PROBE], None),
        (["-m", PLANTED], None),
        (["-"], PROBE),
        ([str(workdir / "script.py")], None),
    ]
    environment = with_env(env, PEX_INTERPRETER="1", **changes)
    plain, ours = [], []
    for args, stdin in forms:
        for command, into in (
            ([str(interpreter), *flags, *args], plain),
            ([str(interpreter), *flags, str(pex), *args], ours),
        ):
            result = helpers.run(command, env=environment, cwd=workdir, input=stdin, check=False)
            last = " ".join(result.stdout.split()) or result.stderr.strip().splitlines()[-1]
            into.append(last.partition(": ")[2] if last.startswith("/") else last)  # "<python>: No module"
    return plain, ours


@pytest.mark.parametrize(
    ("version", "flags", "changes"),
    [
        ("3.9", [], {}),
        ("3.9", ["-I"], {}),
        ("3.12", ["-I"], {}),
        ("3.12", ["-P"], {}),
        ("3.12", [], {"PYTHONSAFEPATH": "1"}),
    ],
    ids=["3.9-default", "3.9-I", "3.12-I", "3.12-P", "3.12-PYTHONSAFEPATH"],
)
def test_interpreter_mode_follows_the_interpreters_sys_path_rule(
    version: str,
    flags: list[str],
    changes: dict[str, str],
    pex: Path,
    workdir: Path,
    interpreters: dict[str, Path],
    env: dict[str, str],
) -> None:
    plain, ours = outcomes(python(interpreters, version), flags, pex, workdir, env, **changes)
    assert ours == plain, json.dumps({"python": plain, "pex": ours}, indent=1)
    safe = bool(flags) or bool(changes)
    # -m of the planted module finds nothing under -I/-P; everything else prints 'clean'.
    assert all(("planted" in out) != safe for out in (plain[0], plain[2], plain[3])), plain


def test_safe_path_travels_to_the_interpreter_the_pex_moves_to(
    pex: Path, workdir: Path, interpreters: dict[str, Path], env: dict[str, str]
) -> None:
    """3.11 -P runs a pex that serves 3.9 and 3.12; PEX_PYTHON sends it to 3.9, which has no -P."""
    source, target = python(interpreters, "3.11"), python(interpreters, "3.9")
    plain, ours = outcomes(source, ["-P"], pex, workdir, env, PEX_PYTHON=str(target), PEX_VERBOSE="1")
    assert ours == plain, json.dumps({"python": plain, "pex": ours}, indent=1)
    assert plain[0] == "clean"
    # ... and the application's own children do not inherit the marker.
    code = "import os, sys; print(sys.version_info[:2], sorted(k for k in os.environ if k.startswith('_HATCH_PEX')))"
    result = helpers.run(
        [str(source), "-P", str(pex), "-c", code],
        env=with_env(env, PEX_INTERPRETER="1", PEX_PYTHON=str(target)),
        cwd=workdir,
    )
    assert result.stdout.strip() == "(3, 9) []"
