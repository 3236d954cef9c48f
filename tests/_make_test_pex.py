"""Builds .pex files by hand (without the build side) to exercise the runtime in hatch_pex/bootstrap/.

    python tests/_make_test_pex.py OUT.pex WHEEL... [--entry-point EP] [--constraint SPEC]...

Layout per docs/format.md. Used by tests/test_runtime_unit.py and for the timings in docs/runtime.md.
"""

from __future__ import annotations

import argparse
import zipfile
from pathlib import Path

from hatch_pex import archive

BOOTSTRAP = Path(__file__).resolve().parent.parent / "hatch_pex" / "bootstrap"
EPOCH = (1980, 1, 1, 0, 0, 0)


def make_wheel(
    directory: Path,
    name: str,
    version: str,
    files: dict[str, str],
    entry_points: str = "",
    tag: str = "py3-none-any",
    modes: dict[str, int] | None = None,
    requires: tuple[str, ...] = (),
) -> Path:
    """A minimal valid wheel: `files` maps archive paths to text; `requires` its Requires-Dist."""
    dist_info = f"{name}-{version}.dist-info"
    members = dict(files)
    members[f"{dist_info}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + "".join(
        f"Requires-Dist: {requirement}\n" for requirement in requires
    )
    members[f"{dist_info}/WHEEL"] = (
        f"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: {tag}\n"
    )
    if entry_points:
        members[f"{dist_info}/entry_points.txt"] = entry_points
    record = [f"{path},," for path in members] + [f"{dist_info}/RECORD,,"]
    members[f"{dist_info}/RECORD"] = "\n".join(record) + "\n"
    path = directory / f"{name}-{version}-{tag}.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as wheel:
        for member, text in members.items():
            info = zipfile.ZipInfo(member, EPOCH)
            info.external_attr = ((modes or {}).get(member, 0o644) | 0o100000) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            wheel.writestr(info, text)
    return path


def make_pex(
    out: Path,
    wheels: list[Path],
    entry_point: str | None = None,
    constraints: list[str] | None = None,
    inherit_path: str = "false",
    inject_env: dict[str, str] | None = None,
    project: str = "app",
    compression: int = 0,
    with_pex_hash: bool = True,
    requires_python: dict[str, str] | None = None,
    platform_distributions: dict[str, list[str]] | None = None,
) -> Path:
    """A .pex of `wheels`, written by the build side's own archive writer (hatch_pex.archive)."""
    members = archive.bootstrap_members() + [archive.wheel_member(str(wheel)) for wheel in wheels]
    info: dict[str, object] = {
        "format": archive.FORMAT,
        "hatch_pex_version": "0.1.0",
        "project": {"name": project, "version": "1.0"},
        "entry_point": entry_point,
        "script": None,
        "interpreter_constraints": constraints or [],
        "inherit_path": inherit_path,
        "inject_env": inject_env or {},
        "requirements": [],
        "distributions": {Path(m.source or "").name: m.sha256() for m in members if m.source},
        "requires_python": requires_python or {},
        "platforms": list(platform_distributions or ["current"]),
        # none given: per project the best ranked wheel (several wheels of one project may be given)
        "platform_distributions": platform_distributions or {},
    }
    if with_pex_hash:
        info["pex_hash"] = archive.content_hash(members)
    archive.write_pex(
        str(out),
        shebang="/usr/bin/env python3",
        members=[*members, archive.pex_info_member(info)],
        compression=compression,
        timestamp=float(archive.zip_timestamp(True)),
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("wheels", nargs="*", type=Path)
    parser.add_argument("--entry-point")
    parser.add_argument("--constraint", action="append", default=[])
    parser.add_argument("--inherit-path", default="false")
    parser.add_argument("--compression", type=int, default=0)
    parser.add_argument("--app", help="also make an app wheel: NAME=module:func body given via --app-code")
    parser.add_argument("--app-code", default="")
    args = parser.parse_args()
    wheels = list(args.wheels)
    if args.app:
        name, _, ep = args.app.partition("=")
        module = ep.split(":")[0]
        wheels.append(
            make_wheel(
                args.out.parent,
                name,
                "1.0",
                {f"{module}.py": args.app_code.replace("\\n", "\n")},
                f"[console_scripts]\n{name} = {ep}\n",
            )
        )
    make_pex(
        args.out,
        wheels,
        args.entry_point,
        args.constraint,
        args.inherit_path,
        compression=args.compression,
    )


if __name__ == "__main__":
    main()
