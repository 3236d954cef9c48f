"""`PEX_TOOLS=1 ./app.pex venv DIR`: a virtualenv (no pip) with the pex's wheels installed as an
installer would: files in site-packages, .data/ parts in their scheme directories, console scripts with
the venv's python in their shebang, INSTALLER and a rewritten RECORD in each .dist-info.

What the pex does at start carries over, as in PEX's venv tool: the venv is made by an interpreter that
satisfies the interpreter constraints (else re-executed under one, or refused), `inject_env` is set by
a site hook at every start of the venv's Python, `inherit_path` prefer/fallback gives the venv the
system site-packages, and the pex's own console script puts `inject_args` before the user's."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import sys
import zipfile

from .log import BootError, log
from .trust import contained, create, make_dirs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import SimpleNamespace
    from typing import IO

SCRIPT_TEMPLATE = """\
#!{python}
# -*- coding: utf-8 -*-
import sys
from {module} import {head}
if __name__ == "__main__":
    if sys.argv[0].endswith("-script.pyw"):
        sys.argv[0] = sys.argv[0][: -len("-script.pyw")]
    elif sys.argv[0].endswith(".exe"):
        sys.argv[0] = sys.argv[0][: -len(".exe")]
{inject_args}    sys.exit({call}())
"""
# Written to site-packages with a .pth that imports it at every start of the venv's Python.
SITE_HOOK = "_hatch_pex_venv"
SITE_HOOK_TEMPLATE = """\
# Written by `PEX_TOOLS=1 {pex} venv`: what that pex does at start, done at every start of this venv.
import os
import sys

INJECT_ENV = {inject_env!r}  # PEX-INFO inject_env: set unless already set
INHERIT_PATH = {inherit_path!r}  # PEX-INFO inherit_path (prefer/fallback: pyvenv.cfg has system site)


def _prefer_system_site():
    \"\"\"`prefer`: the system site-packages go before this venv's own (site adds them after).\"\"\"
    import site

    here = os.path.dirname(os.path.realpath(__file__))
    prefix = os.path.realpath(sys.prefix) + os.sep
    system = [p for p in site.getsitepackages() if not os.path.realpath(p).startswith(prefix)]
    own = [i for i, p in enumerate(sys.path) if os.path.realpath(p) == here]
    at = own[0] if own else len(sys.path)
    sys.path[at:at] = [p for p in system if os.path.isdir(p) and p not in sys.path[:at]]


for _name, _value in INJECT_ENV.items():
    os.environ.setdefault(_name, _value)
if INHERIT_PATH == "prefer":
    _prefer_system_site()
"""


def venv_command(pex: str, raw: bytes, args: Sequence[str], reexec_from: str | None = None) -> int:
    from .interpreter import current_facts, describe, find_fitting, fit
    from .pexinfo import PexInfo
    from .reexec import reexec

    force = "--force" in args
    compile_bytecode = "--no-compile" not in args
    rest = [a for a in args if a not in ("--force", "--no-compile")]
    if len(rest) != 1 or rest[0].startswith("-"):
        raise BootError("usage: venv [--force] [--no-compile] DIR")
    dest = os.path.abspath(rest[0])
    info = PexInfo(raw)
    found = current_facts(None)
    chosen, reasons = fit(info, found)
    if reasons:
        if reexec_from:  # launch() took the marker out of the environment: never search twice
            raise BootError(
                f"re-executed under {reexec_from} but {describe(found)} does not fit: {'; '.join(reasons)}"
            )
        reexec(find_fitting(pex, info, [(describe(found), "; ".join(reasons))]))
    if os.path.exists(dest) and os.listdir(dest):
        if not force:
            raise BootError(f"venv: {dest} exists and is not empty (--force replaces it)")
        if not os.path.isfile(os.path.join(dest, "pyvenv.cfg")) or os.path.islink(dest):
            raise BootError(
                f"venv: {dest} is not a virtualenv (no pyvenv.cfg): --force only replaces a virtualenv"
            )
    from .extract import WheelSource

    source = WheelSource(pex, info.distributions)
    try:
        context = create_venv(dest, clear=force, system_site_packages=info.inherit_path != "false")
        paths = scheme_paths(dest)
        python = str(context.env_exe)
        own_script = (info.script, info.inject_args) if info.script else None
        for _, wheel in sorted(chosen.items()):
            region = source.region(wheel, dest)
            source.check(wheel, region.sha256())  # before anything of it is installed
            with region.open_zip() as archive:
                install_wheel(archive, wheel, paths, python, own_script)
            log(f"installed {wheel}")
        if info.inject_env or info.inherit_path == "prefer":
            write_site_hook(paths["purelib"], os.path.basename(pex), info.inject_env, info.inherit_path)
        if compile_bytecode:
            import compileall

            compileall.compile_dir(paths["purelib"], quiet=1)
            if paths["platlib"] != paths["purelib"]:
                compileall.compile_dir(paths["platlib"], quiet=1)
    except OSError as exc:
        raise BootError(f"venv: cannot create {dest}: {exc}") from None
    finally:
        source.close()
    sys.stdout.write(f"{dest}\n")
    return 0


def create_venv(dest: str, clear: bool, system_site_packages: bool = False) -> SimpleNamespace:
    import venv

    class Builder(venv.EnvBuilder):
        context: SimpleNamespace

        def post_setup(self, context: SimpleNamespace) -> None:
            self.context = context

    builder = Builder(
        with_pip=False, clear=clear, symlinks=os.name != "nt", system_site_packages=system_site_packages
    )
    builder.create(dest)
    return builder.context


def scheme_paths(dest: str) -> dict[str, str]:
    import sysconfig

    scheme = (
        "venv" if "venv" in sysconfig.get_scheme_names() else ("nt" if os.name == "nt" else "posix_prefix")
    )
    base = {"base": dest, "platbase": dest, "installed_base": dest, "installed_platbase": dest}
    return sysconfig.get_paths(scheme, vars=base)


def write_site_hook(site_packages: str, pex: str, inject_env: dict[str, str], inherit_path: str) -> None:
    """The module and .pth that apply the pex's `inject_env` (and `prefer`) at every start of the venv."""
    hook = SITE_HOOK_TEMPLATE.format(
        pex=pex, inject_env=dict(sorted(inject_env.items())), inherit_path=inherit_path
    )
    _write(contained(site_packages, f"{SITE_HOOK}.py", "site hook"), hook.encode("utf-8"))
    _write(contained(site_packages, f"{SITE_HOOK}.pth", "site hook"), f"import {SITE_HOOK}\n".encode())


def _record_hash(data: bytes) -> str:
    return _record_digest(hashlib.sha256(data))


def _record_digest(digest: hashlib._Hash) -> str:
    return f"sha256={base64.urlsafe_b64encode(digest.digest()).rstrip(b'=').decode()}"


def install_wheel(
    archive: zipfile.ZipFile,
    filename: str,
    paths: dict[str, str],
    python: str,
    own_script: tuple[str, Sequence[str]] | None = None,
) -> None:
    """Installs one wheel into the scheme `paths` (purelib, platlib, scripts, data, include), a
    member at a time and a MiB at a time. `own_script`: (the pex's console script, its inject_args)."""
    name = filename.split("-")[0]
    members = [i for i in archive.infolist() if not i.is_dir()]
    tops = {i.filename.split("/")[0] for i in members if "/" in i.filename}
    dist_info = next((top for top in sorted(tops) if top.endswith(".dist-info")), None)
    data_dir = next((f"{top}/" for top in sorted(tops) if top.endswith(".data")), "\0")
    if dist_info is None:
        raise BootError(f"{filename} has no .dist-info directory")
    wheel_meta = archive.read(f"{dist_info}/WHEEL").decode("utf-8")
    purelib = "root-is-purelib: true" in wheel_meta.lower()
    base = paths["purelib"] if purelib else paths["platlib"]
    targets = {
        "purelib": paths["purelib"],
        "platlib": paths["platlib"],
        "scripts": paths["scripts"],
        "headers": contained(paths["include"], name, "project name"),
        "data": paths["data"],
    }
    record: list[tuple[str, str, str]] = []
    for member in members:
        if member.filename == f"{dist_info}/RECORD":
            continue
        target, is_script = _target(member.filename, data_dir, base, targets)
        with archive.open(member) as stream:
            executable = is_script or bool((member.external_attr >> 16) & 0o111)
            digest, size = _write_stream(target, stream, python if is_script else None, executable)
        record.append((_relative(target, base), digest, str(size)))
    entry_points = os.path.join(base, dist_info, "entry_points.txt")
    for target, content in _console_scripts(entry_points, paths["scripts"], python, own_script):
        _write(target, content, executable=True)
        record.append((_relative(target, base), _record_hash(content), str(len(content))))
    installer = os.path.join(base, dist_info, "INSTALLER")
    _write(installer, b"hatch-pex\n")
    record.append((_relative(installer, base), _record_hash(b"hatch-pex\n"), "10"))
    record.append((f"{dist_info}/RECORD", "", ""))
    import csv

    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(record)
    _write(os.path.join(base, dist_info, "RECORD"), text.getvalue().encode())


def _target(member: str, data_dir: str, base: str, targets: dict[str, str]) -> tuple[str, bool]:
    """Where a member goes: under its scheme directory for `.data/<scheme>/...`, else under `base`;
    refused (naming it) when it would leave that directory."""
    if member.startswith(data_dir):
        kind, _, rest = member[len(data_dir) :].partition("/")
        if kind not in targets or not rest:
            raise BootError(f"wheel member {member!r}: unknown .data directory {kind!r}")
        return contained(targets[kind], rest, "wheel member"), kind == "scripts"
    return contained(base, member, "wheel member"), False


def _relative(path: str, base: str) -> str:
    return os.path.relpath(path, base).replace(os.sep, "/")


def _write(path: str, content: bytes, executable: bool = False) -> None:
    """A new file (an earlier one of that name is replaced, never written through), 0755 or 0644 with
    the umask applied."""
    _write_stream(path, io.BytesIO(content), None, executable)


def _write_stream(path: str, content: IO[bytes], python: str | None, executable: bool) -> tuple[str, int]:
    """Writes `content` to `path` a MiB at a time, as _write does; a script's `#!python` line becomes
    `python`. Returns the RECORD hash and size of what was written."""
    make_dirs(os.path.dirname(path))
    if os.path.lexists(path) and not os.path.isdir(path):
        os.unlink(path)
    digest, size = hashlib.sha256(), 0
    with open(create(path, executable), "wb") as file:
        first = content.readline(1 << 16) if python is not None else b""
        if first.startswith((b"#!python", b"#!pythonw")):
            first = b"#!" + python.encode() + b"\n"  # type: ignore[union-attr]
        for chunk in [first] if first else []:
            digest.update(chunk)
            size += file.write(chunk)
        for chunk in iter(lambda: content.read(1 << 20), b""):
            digest.update(chunk)
            size += file.write(chunk)
    return _record_digest(digest), size


def _console_scripts(
    entry_points: str, scripts_dir: str, python: str, own_script: tuple[str, Sequence[str]] | None
) -> list[tuple[str, bytes]]:
    from .entry import parse_entry_points

    try:
        with open(entry_points, encoding="utf-8") as file:
            text = file.read()
    except OSError:
        return []
    out = []
    for name, value in parse_entry_points(text, ("console_scripts", "gui_scripts")):
        spec = value.split("[", 1)[0].strip()
        module, _, attrs = spec.partition(":")
        if not attrs:
            continue
        head = attrs.strip().split(".")[0]
        args = own_script[1] if own_script and own_script[0] == name else ()
        inject = f"    sys.argv[1:1] = {list(args)!r}  # the pex's inject_args\n" if args else ""
        script = SCRIPT_TEMPLATE.format(
            python=python, module=module.strip(), head=head, call=attrs.strip(), inject_args=inject
        )
        if "/" in name or name in (".", ".."):
            raise BootError(f"console script name {name!r} in {entry_points} is not a file name: refused")
        out.append((contained(scripts_dir, name, "console script name"), script.encode()))
    return out
