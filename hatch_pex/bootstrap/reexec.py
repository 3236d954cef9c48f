"""Running this pex again under another interpreter (os.execv): the loop guard, the interpreter
options that travel with it, and what a cached re-exec decision depends on.

launch.py (a warm start that finds a re-exec record), resolve.py (a cold start whose interpreter does
not fit) and venvtool.py (the venv tool) use it; it imports none of them. On the warm path: listed in
record.WARM_MODULES.
"""

from __future__ import annotations

import os
import sys

from . import entry
from .log import BootError, log

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn

REEXEC_MARKER = "_HATCH_PEX_REEXEC"  # set before os.execv: a re-executed start never searches again


def reexec_check(target: str) -> tuple[object, ...]:
    """What a cached re-exec decision depends on: the search variables and the target binary."""
    try:
        st = os.stat(target)
        binary: tuple[int, ...] = (st.st_ino, st.st_size, st.st_mtime_ns)
    except OSError:
        binary = ()
    env = os.environ
    return (env.get("PEX_PYTHON"), env.get("PEX_PYTHON_PATH"), env.get("PATH"), binary)


def interpreter_options() -> list[str]:
    """The options of this interpreter that isolate it (-I, -E, -s, -S, -B) and its -X options, to be
    given again to the interpreter this pex moves to."""
    flags = sys.flags
    options = (
        ["-I"]
        if flags.isolated
        else [f for f, on in (("-E", flags.ignore_environment), ("-s", flags.no_user_site)) if on]
    )
    options += [f for f, on in (("-S", flags.no_site), ("-B", flags.dont_write_bytecode)) if on]
    for key, value in sys._xoptions.items():
        options.append(f"-X{key}" if value is True else f"-X{key}={value}")
    return options


def reexec(target: str) -> NoReturn:
    """Runs this pex again under `target`, same argv, interpreter options and environment (plus the
    loop guard)."""
    log(f"re-executing under {target}")
    os.environ[REEXEC_MARKER] = target
    if entry.safe_path() and not sys.flags.isolated:  # -I travels as an option, -P as a marker
        os.environ[entry.SAFE_PATH_MARKER] = "1"
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execv(target, [target, *interpreter_options(), sys.argv[0], *sys.argv[1:]])
    except OSError as exc:
        raise BootError(f"cannot execute {target}: {exc}") from None
