"""Running commands: one place that knows the environment every measured process gets."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

# Variables that would change what an interpreter or a tool does, whatever the machine has set.
# PYTHONDONTWRITEBYTECODE is set again per variant; the others stay unset for every contender.
SCRUBBED_PREFIXES = ("PEX_", "SHIV_")
SCRUBBED_NAMES = (
    "PYTHONDONTWRITEBYTECODE",
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONPYCACHEPREFIX",
    "PYTHONSTARTUP",
    "PYTHONSAFEPATH",
    "VIRTUAL_ENV",
    "__PYVENV_LAUNCHER__",
)
OUTPUT_TAIL_CHARS = 2000


class CommandFailed(RuntimeError):
    """A command exited non-zero; the message carries the command and the end of its output."""


def clean_environment(dont_write_bytecode: bool, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The machine's environment without the scrubbed variables, plus `extra`."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in SCRUBBED_NAMES and not name.startswith(SCRUBBED_PREFIXES)
    }
    environment["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    if dont_write_bytecode:
        environment["PYTHONDONTWRITEBYTECODE"] = "1"
    environment.update(extra or {})
    return environment


def output_tail(completed: subprocess.CompletedProcess[str]) -> str:
    combined = (completed.stdout or "") + (completed.stderr or "")
    return combined[-OUTPUT_TAIL_CHARS:].strip()


def run(
    command: Sequence[str | Path],
    environment: Mapping[str, str],
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `command` to completion, capturing its output; raise CommandFailed on a non-zero exit."""
    arguments = [str(part) for part in command]
    completed = subprocess.run(
        arguments, env=dict(environment), cwd=cwd, capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        raise CommandFailed(
            f"`{' '.join(arguments)}` exited {completed.returncode}:\n{output_tail(completed)}"
        )
    return completed
