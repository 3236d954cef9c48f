"""hatch-pex: a Hatch build target that writes one executable .pex file."""

from __future__ import annotations

DISTRIBUTION = "hatch-pex-builder"


def version() -> str:
    """The installed distribution's version, or `0+unknown` when running from a source tree that was
    never installed (no metadata to read: a local version label that sorts below every release).

    Read from the metadata rather than written here, so that pyproject.toml stays the one place the
    version is set.
    """
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed_version

    try:
        return installed_version(DISTRIBUTION)
    except PackageNotFoundError:
        return "0+unknown"
