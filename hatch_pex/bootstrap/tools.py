"""PEX_TOOLS=1 ./app.pex <command>: placeholder."""

from __future__ import annotations


def main(pex: str, raw: bytes, args: list[str]) -> int:
    return 0
