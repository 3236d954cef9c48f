"""`python -m hatch_pex` and the `hatch-pex` console script: inspect, verify and diff .pex files, and
print their PEX-INFO as PEX's `info` tool does.

The work is done by the runtime's report module, which `PEX_TOOLS=1 app.pex info|inspect|verify` runs
too: one code path for both (docs/cli.md).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import version
from .bootstrap.log import BootError
from .bootstrap.printable import printable
from .bootstrap.report import (
    add_pex_info_options,
    diff_command,
    info_command,
    inspect_command,
    verify_command,
)

EXIT_ERROR = 2  # usage errors (argparse's own) and files that cannot be read as a hatch-pex file


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(
        prog="hatch-pex",
        description="Inspect, verify and compare .pex files written by hatch-pex.",
    )
    # argparse acts on --version as it meets it, before it asks for the required COMMAND.
    main.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    commands = main.add_subparsers(dest="command", required=True, metavar="COMMAND")
    inspect = commands.add_parser(
        "inspect", help="what a .pex runs and holds", description="What a .pex runs and holds (exit 0)."
    )
    inspect.add_argument("file", metavar="FILE")
    inspect.add_argument("--json", action="store_true", help="print the report as JSON")
    info = commands.add_parser(
        "info",
        help="PEX-INFO as JSON, as PEX's info tool prints it",
        description="PEX-INFO as JSON, as `pex-tools FILE info` prints a PEX CLI file's (exit 0).",
    )
    info.add_argument("file", metavar="FILE")
    add_pex_info_options(info)
    verify = commands.add_parser(
        "verify",
        help="re-hash every member against the hashes recorded at build time",
        description="Re-hash every member against the hashes recorded at build time and check pex_hash "
        "(exit 0: intact, 1: the first mismatch is named).",
    )
    verify.add_argument("file", metavar="FILE")
    diff = commands.add_parser(
        "diff",
        help="what changed from one .pex to another",
        description="Distributions added, removed and changed, and every other fact that differs "
        "(exit 0: no differences, 1: they differ).",
    )
    diff.add_argument("old", metavar="A")
    diff.add_argument("new", metavar="B")
    diff.add_argument("--json", action="store_true", help="print the differences as JSON")
    return main


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    out = sys.stdout
    try:
        if args.command == "inspect":
            return inspect_command(args.file, args.json, out)
        if args.command == "info":
            return info_command(args.file, args.indent, args.output, out)
        if args.command == "verify":
            return verify_command(args.file, out)
        return diff_command(args.old, args.new, args.json, out)
    except BootError as exc:  # it may quote a name out of the file: escaped, as every line printed
        sys.stderr.write(f"hatch-pex: error: {printable(str(exc))}\n")
        return EXIT_ERROR
