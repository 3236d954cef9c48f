"""Builds .pex files by hand (without the build side) to exercise the runtime in hatch_pex/bootstrap/.

    python tests/_make_test_pex.py OUT.pex WHEEL... [--entry-point EP] [--constraint SPEC]...

Layout per docs/format.md. Used by tests/test_runtime_unit.py and for the timings in docs/runtime.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import zipfile
from pathlib import Path

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
) -> Path:
    """A minimal valid wheel: `files` maps archive paths to text."""
    dist_info = f"{name}-{version}.dist-info"
    members = dict(files)
    members[f"{dist_info}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
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
    compress_bootstrap: bool = False,
    with_pex_hash: bool = True,
    requires_python: dict[str, str] | None = None,
    platform_distributions: dict[str, list[str]] | None = None,
) -> Path:
    members: dict[str, bytes] = {"__main__.py": (BOOTSTRAP / "main_stub.py").read_bytes()}
    for source in sorted(BOOTSTRAP.glob("*.py")):
        members[f".bootstrap/_hatch_pex_boot/{source.name}"] = source.read_bytes()
    distributions = {}
    for wheel in wheels:
        data = Path(wheel).read_bytes()
        members[f".deps/{Path(wheel).name}"] = data
        distributions[Path(wheel).name] = hashlib.sha256(data).hexdigest()
    digest = hashlib.sha256()
    for name in sorted(members):
        digest.update(name.encode() + b"\0" + members[name])
    info = {
        "format": "hatch-pex/1",
        "hatch_pex_version": "0.1.0",
        "project": {"name": project, "version": "1.0"},
        "entry_point": entry_point,
        "script": None,
        "interpreter_constraints": constraints or [],
        "inherit_path": inherit_path,
        "inject_env": inject_env or {},
        "requirements": [],
        "distributions": distributions,
        "requires_python": requires_python or {},
        "platforms": list(platform_distributions or ["current"]),
        # none given: per project the best ranked wheel (several wheels of one project may be given)
        "platform_distributions": platform_distributions or {},
    }
    if with_pex_hash:
        info["pex_hash"] = digest.hexdigest()
    members["PEX-INFO"] = json.dumps(info, sort_keys=True, indent=2).encode()
    tmp = out.with_suffix(".tmp")
    with open(tmp, "wb") as file:
        file.write(b"#!/usr/bin/env python3\n")
        with zipfile.ZipFile(file, "w") as archive:
            for name in sorted(members):
                zinfo = zipfile.ZipInfo(name, EPOCH)
                zinfo.external_attr = 0o644 << 16
                stored = name.startswith(".deps/") or not compress_bootstrap
                zinfo.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
                archive.writestr(zinfo, members[name])
    os.chmod(tmp, 0o755)
    os.replace(tmp, out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("wheels", nargs="*", type=Path)
    parser.add_argument("--entry-point")
    parser.add_argument("--constraint", action="append", default=[])
    parser.add_argument("--inherit-path", default="false")
    parser.add_argument("--compress-bootstrap", action="store_true")
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
        compress_bootstrap=args.compress_bootstrap,
    )


if __name__ == "__main__":
    main()
