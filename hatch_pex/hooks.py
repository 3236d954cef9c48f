"""Registers the `pex` target with hatch (entry point group `hatch`)."""

from __future__ import annotations

from hatchling.plugin import hookimpl

from .builder import PexBuilder


@hookimpl
def hatch_register_builder() -> type[PexBuilder]:
    return PexBuilder
