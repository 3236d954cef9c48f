"""A start that failed before the application ran: a damaged file, or a bug of the runtime.

zipimport checks no CRC, so a flipped byte in a runtime member surfaces as whatever reading or running
it raises (zlib.error, SyntaxError, ZipImportError, a NameError of garbled code...). `failed_start`
reads the runtime's members again with zipfile, which checks each CRC-32: a damaged one is named, with
exit 2 and no traceback (docs/runtime.md, "Exit codes and errors"); an intact file means a runtime bug.

The `__main__.py` stub imports it, only then, as the top-level module `damage` (whatever failed, maybe
`__init__.py` itself): so it imports nothing of the runtime, and needs no `from __future__` import.
"""

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn

EXIT_START_FAILURE = 2  # log.EXIT_START_FAILURE: log.py may be the damaged module
PACKAGE = os.path.basename(os.path.dirname(__file__))  # _hatch_pex_boot, this file's directory


def failed_start(pex: str, exc: BaseException) -> "NoReturn":
    """Reports `exc`, raised before the application ran, and exits 2: as damage when a runtime member
    is damaged (`PEX_TOOLS=1 ... verify` then gives its own report if its modules are intact), else
    as the internal error it is."""
    problem = damaged_member(pex)
    if problem is None:
        if _verbose():
            import traceback

            traceback.print_exception(type(exc), exc, exc.__traceback__)
        sys.stderr.write(
            f"hatch-pex: internal error: {type(exc).__name__}: {exc} (PEX_VERBOSE=1 shows the traceback)\n"
        )
        sys.exit(EXIT_START_FAILURE)
    if _tool() == ["verify"]:  # finding damage is verify's job: its report, if it can still run
        from importlib import import_module

        try:
            code = import_module(f"{PACKAGE}.report").verify_command(pex, sys.stdout)
        except Exception:  # verify's own modules (or __init__.py) are damaged
            pass
        else:
            sys.exit(code)
    sys.stderr.write(
        f"hatch-pex: error: this file's runtime is damaged: {problem}; rebuild it or copy it again\n"
    )
    sys.exit(EXIT_START_FAILURE)


def damaged_member(pex: str) -> "str | None":
    """'<member> could not be read (<why>)' for the first member of the runtime (`__main__.py`,
    PEX-INFO, `.bootstrap/`) that zipfile cannot read back intact, else None. The wheels are left out:
    the runtime checks each one's sha256 before it uses it."""
    import zipfile

    try:
        with zipfile.ZipFile(pex) as archive:
            for info in archive.infolist():
                name = info.filename
                if name in ("__main__.py", "PEX-INFO") or name.startswith(".bootstrap/"):
                    try:
                        archive.read(info)  # inflates it and checks its CRC-32
                    except Exception as exc:
                        why = "its CRC-32 does not match" if "CRC-32" in str(exc) else str(exc)
                        return f"{_printable(name)} could not be read ({_printable(why)})"
    except Exception as exc:  # zipimport found the members, zipfile does not
        return f"its zip directory could not be read ({_printable(str(exc))})"
    return None


def _printable(text: str) -> str:
    """A damaged member name may hold anything: escaped (printable.py may be the damaged module)."""
    return "".join(char if char.isprintable() else ascii(char)[1:-1] for char in text)


def _tool() -> "list[str] | None":
    """The tool's arguments when PEX_TOOLS is on (log.env_flag's rule for "on"), else None."""
    return sys.argv[1:] if os.environ.get("PEX_TOOLS", "").strip().lower() in ("1", "true") else None


def _verbose() -> bool:
    """PEX_VERBOSE is not 0 (log.VERBOSITY's rule: what is not a number counts as 1)."""
    try:
        return int(os.environ.get("PEX_VERBOSE") or 0) != 0
    except ValueError:
        return True
