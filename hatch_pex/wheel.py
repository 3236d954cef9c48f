"""Build the project's own wheel in-process with hatchling's wheel builder.

Running the real `WheelBuilder` (rather than copying files ourselves) means build hooks, includes,
excludes, `only-include`, `force-include` and `artifacts` apply exactly as in `hatch build -t wheel`.
"""

from __future__ import annotations

import os
import zipfile
from typing import TYPE_CHECKING, Any

from hatchling.builders.wheel import WheelBuilder

if TYPE_CHECKING:
    from email.message import Message

    from hatchling.builders.plugin.interface import BuilderInterface


def build_project_wheel(builder: BuilderInterface[Any, Any], directory: str) -> str:
    """Build the project's standard wheel into `directory`; return its path."""
    wheel_builder = WheelBuilder(
        builder.root,
        plugin_manager=builder.plugin_manager,
        config=builder.raw_config,
        metadata=builder.metadata,
        app=builder.app,
    )
    artifacts = list(wheel_builder.build(directory=directory, versions=["standard"]))
    if len(artifacts) != 1:  # pragma: no cover - hatchling yields one artifact per version
        raise RuntimeError(f"hatchling built {len(artifacts)} wheels, expected one")
    return os.path.abspath(artifacts[0])


def wheel_module_files(wheel_path: str) -> set[str]:
    """Importable file paths of a wheel, as they will lie on `sys.path` once installed."""
    with zipfile.ZipFile(wheel_path) as archive:
        names = archive.namelist()
    files = set()
    for name in names:
        head, _, rest = name.partition("/")
        if head.endswith(".data") and rest.startswith(("purelib/", "platlib/")):
            name = rest.partition("/")[2]
        elif head.endswith(".data"):
            continue
        files.add(name)
    return files


def module_is_provided(module: str, files: set[str]) -> bool:
    """Whether `module` (dotted) can be imported from a tree holding `files`."""
    path = module.replace(".", "/")
    if f"{path}.py" in files or f"{path}/__init__.py" in files:
        return True
    prefix = f"{path}/"
    if any(name.startswith(prefix) for name in files):  # a namespace package
        return True
    # Extension modules: `pkg/mod.cpython-311-x86_64-linux-gnu.so`, `pkg/mod.abi3.so`, `pkg/mod.pyd`.
    directory, _, stem = path.rpartition("/")
    for name in files:
        folder, _, base = name.rpartition("/")
        if folder == directory and base.startswith(f"{stem}.") and base.endswith((".so", ".pyd")):
            return True
    return False


def wheel_metadata(wheel_path: str) -> Message | None:
    """The headers of the wheel's `<name>.dist-info/METADATA`, or None when it has none."""
    from email.parser import HeaderParser

    with zipfile.ZipFile(wheel_path) as archive:
        for name in archive.namelist():
            head, _, rest = name.partition("/")
            if head.endswith(".dist-info") and rest == "METADATA":
                return HeaderParser().parsestr(archive.read(name).decode("utf-8", "replace"))
    return None


def wheel_requires_python(wheel_path: str) -> str | None:
    """The wheel's `Requires-Python` (from its METADATA), or None when it sets none."""
    headers = wheel_metadata(wheel_path)
    value = headers.get("Requires-Python") if headers is not None else None
    return value.strip() if value and value.strip() else None
