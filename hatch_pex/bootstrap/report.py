"""What a .pex holds, whether it is intact, and how two differ: `inspect`, `verify`, `diff` and `info`
(PEX-INFO as PEX's `info` tool prints it) of `python -m hatch_pex` and `PEX_TOOLS=1 app.pex
inspect|verify|info` (one code path for both; docs/cli.md).

Reads the file with `zipfile` (the central directory every layout of ziplayout.py offers it, past 4 GiB
too), after zipcheck.py has checked that the file is laid out as the build writes it and that every
reader (zipimport of each Python, zipfile) finds the same members in it; streams every member, reads
PEX-INFO up to a cap, extracts nothing. Never imported by a start: only by the tools and the CLI.
Everything printed for people passes through `printable` (a name could hold terminal escapes).
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
import zlib

from . import zipcheck
from .extract import DEPS_DIR
from .log import BootError
from .pexinfo import FORMAT, PexInfo
from .printable import printable
from .wheels import WheelName, normalize, platform_python

TYPE_CHECKING = False
if TYPE_CHECKING:
    from argparse import ArgumentParser
    from collections.abc import Iterable, Mapping, Sequence
    from typing import Any, TextIO

PEX_INFO = "PEX-INFO"
SBOM_DIRECTORY = ".sbom/"  # sbom.py's SBOM_MEMBER lies here
CHUNK = 1 << 20
# The most the tools read of PEX-INFO (real ones hold well under 1 MB): a small file can deflate to
# gigabytes, so the declared size is checked before reading and the bytes counted while inflating.
MAX_PEX_INFO = 32 << 20
PREAMBLE_KEY = "preamble_sha256"
# Facts compared one to one by `diff` (distributions, runtime members and size have their own parts).
DIFF_FIELDS = (
    "project", "runs", "interpreter_constraints", "python_versions", "platforms", "inherit_path",
    "inject_env", "inject_args", "excluded", "requirements", "shebang", "format", "hatch_pex_version",
)  # fmt: skip
# PEX-INFO keys that `diff` reports through the facts above or its own parts: `runs` (entry_point,
# script), the distributions and which wheel serves which platform, runtime members, pex_hash. Any other
# key whose value differs is named as it is (a key a later release adds, a field edited by hand).
EXPLAINED_PEX_INFO = frozenset(DIFF_FIELDS) | {
    "entry_point", "script", "distributions", "platform_distributions", "requires_python",
    "member_hashes", "pex_hash", PREAMBLE_KEY,
}  # fmt: skip


# -- the hashes the builder records and verify recomputes ---------------------------------------------


def content_digest(hashes: Iterable[tuple[str, str]]) -> str:
    """sha256 over (member name, sha256 of its bytes) pairs, independent of their order: the content
    part of `pex_hash` (every member but PEX-INFO)."""
    digest = hashlib.sha256()
    for name, sha256 in sorted(hashes):
        digest.update(name.encode() + b"\0" + sha256.encode() + b"\n")
    return digest.hexdigest()


def pex_hash(content: str, info: Mapping[str, Any]) -> str:
    """PEX-INFO's `pex_hash`: the content digest and every other field of PEX-INFO."""
    described = json.dumps({k: v for k, v in info.items() if k != "pex_hash"}, sort_keys=True).encode()
    return hashlib.sha256(content.encode() + b"\n" + described).hexdigest()


# -- opening a file, and saying what it is when it is not ours ------------------------------------------


class DamagedPexInfo(BootError):
    """A file of ours (it has PEX-INFO) whose PEX-INFO cannot be read: `verify` reports it."""


class MemberTooLarge(BootError):
    """A member larger than the tools read of it (PEX-INFO past MAX_PEX_INFO)."""


def read_member(archive: zipfile.ZipFile, name: str, cap: int) -> bytes:
    """The bytes of member `name`, at most `cap` of them: the size its directory entry declares is
    checked before anything is read, and what inflating yields is counted, so that a header that lies
    is caught too (zipfile stops at the declared size as well, and then reports the CRC)."""
    member = archive.getinfo(name)
    if member.file_size > cap:
        raise MemberTooLarge(
            f"{name} declares {member.file_size:,} bytes, more than the {cap:,} the tools read"
        )
    chunks: list[bytes] = []
    total = 0
    with archive.open(member) as stream:
        while True:
            chunk = stream.read(min(CHUNK, cap + 1 - total))
            if not chunk:
                return b"".join(chunks)
            total += len(chunk)
            if total > cap:
                raise MemberTooLarge(f"{name} inflates past {cap:,} bytes, more than the tools read")
            chunks.append(chunk)


def open_pex(path: str) -> zipfile.ZipFile:
    """The archive of a .pex this plugin wrote, laid out as the build writes it; a BootError that says
    what the file is otherwise, or what in its layout the build would not have written (`inspect`,
    `info` and `diff` read nothing else)."""
    _, problems = check_layout(path)
    archive = _open_ours(path)  # a file that is not ours is named for what it is, whatever its layout
    if problems:
        archive.close()
        raise BootError(f"{path}: refused: {problems[0]} (`verify` says more)")
    return archive


def check_layout(path: str) -> tuple[zipcheck.Layout | None, list[str]]:
    """(the layout, or None, and the layout problems: readers that disagree first): every byte as the
    build writes it, and the same members, offsets and sizes for zipfile and every zipimport. Reads the
    directories and local headers only. Directories past zipcheck's caps are refused outright, before
    zipfile parses them."""
    _check_exists(path)
    try:
        with open(path, "rb") as stream:
            size = os.fstat(stream.fileno()).st_size
            try:
                layout: zipcheck.Layout | None = zipcheck.check_layout(stream, size)
                problem = None
            except zipcheck.TooLarge as exc:
                raise BootError(f"{path}: refused: {exc}") from None
            except zipcheck.LayoutError as exc:
                layout, problem = None, str(exc)
            disagreement = zipcheck.disagreement(zipcheck.reader_views(path, stream, size))
    except OSError as exc:
        raise BootError(f"cannot read {path}: {exc.strerror or exc}") from None
    return layout, [p for p in (disagreement and f"readers disagree: {disagreement}", problem) if p]


def _open_ours(path: str) -> zipfile.ZipFile:
    """The archive of a file that says it is a hatch-pex file; a BootError naming what it is else."""
    _check_exists(path)
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise BootError(f"{path} is not a zip archive, so not a .pex file") from None
    except OSError as exc:
        raise BootError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        _check_written_by_us(path, archive)
    except BaseException:
        archive.close()
        raise
    return archive


def _check_exists(path: str) -> None:
    if not os.path.exists(path):
        raise BootError(f"{path}: no such file")
    if os.path.isdir(path):
        raise BootError(f"{path} is a directory, not a .pex file")


def _check_written_by_us(path: str, archive: zipfile.ZipFile) -> None:
    names = archive.namelist()
    if PEX_INFO not in names:
        if "environment.json" in names and any(n.startswith("_bootstrap/") for n in names):
            raise BootError(f"{path} is a shiv zipapp (environment.json, _bootstrap/), not a hatch-pex file")
        raise BootError(f"{path} is a zip archive without PEX-INFO: not a .pex file")
    try:
        data = json.loads(read_member(archive, PEX_INFO, MAX_PEX_INFO))
    except MemberTooLarge as exc:
        raise DamagedPexInfo(f"{path}: refused: {exc}") from None
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError) as exc:
        raise DamagedPexInfo(f"{path}: PEX-INFO is damaged ({exc}); `verify` says more") from None
    fmt = data.get("format") if isinstance(data, dict) else None
    if fmt == FORMAT:
        return
    if isinstance(data, dict) and (
        "code_hash" in data
        or "build_properties" in data
        or any(n.startswith(".bootstrap/pex/") for n in names)
    ):
        properties = data.get("build_properties")
        version = properties.get("pex_version") if isinstance(properties, dict) else None
        by = f"the PEX CLI (pex {version})" if version else "the PEX CLI"
        raise BootError(
            f"{path} was written by {by}, not by hatch-pex: inspect it with `pex-tools {path} info` "
            f"(or `PEX_TOOLS=1 {path} info` if it was built with --include-tools)"
        )
    raise BootError(f"{path}: PEX-INFO format is {fmt!r}, not {FORMAT!r}: not a file hatch-pex wrote")


def _shebang(path: str) -> str | None:
    with open(path, "rb") as stream:
        head = stream.read(4096)
    if not head.startswith(b"#!") or b"\n" not in head:
        return None
    return head[2 : head.index(b"\n")].decode("utf-8", "replace")


# -- inspect ----------------------------------------------------------------------------------------------


def inspect(path: str) -> dict[str, Any]:
    """Every fact `inspect` reports, as JSON-ready data (docs/cli.md has the shape)."""
    with open_pex(path) as archive:
        raw = read_member(archive, PEX_INFO, MAX_PEX_INFO)
        members = {i.filename: i for i in archive.infolist()}
    info = PexInfo(raw)
    data = info.data
    serving: dict[str, list[str]] = {}
    for platform, wheels in info.platform_distributions.items():
        for wheel in wheels:
            serving.setdefault(wheel, []).append(platform)
    distributions: list[dict[str, Any]] = []
    for wheel in info.distributions:
        name = WheelName(wheel)
        member = members.get(f"{DEPS_DIR}/{wheel}")
        platforms = [p for p in info.platforms if p in serving.get(wheel, [])]
        distributions.append(
            {
                "name": name.project,
                "version": name.version,
                "wheel": wheel,
                "size": member.file_size if member else None,
                "sha256": info.distributions[wheel],
                "platforms": platforms,
                "python_versions": _versions(platform_python(p) for p in platforms),
                "requires_python": info.requires_python.get(wheel),
            }
        )
    distributions.sort(key=lambda d: (d["name"], [_version_key(v) for v in d["python_versions"]], d["wheel"]))
    wheel_bytes = sum(m.compress_size for n, m in members.items() if n.startswith(f"{DEPS_DIR}/"))
    project = data.get("project") if isinstance(data.get("project"), dict) else {}
    return {
        "file": path,
        "size": os.path.getsize(path),
        "wheels_size": wheel_bytes,
        "format": data.get("format"),
        "hatch_pex_version": data.get("hatch_pex_version"),
        "project": project,
        "pex_hash": info.pex_hash,
        "runs": _runs(info),
        "shebang": _shebang(path),
        "interpreter_constraints": info.interpreter_constraints,
        "python_versions": info.python_versions,
        "platforms": info.platforms,
        "inherit_path": info.inherit_path,
        "inject_env": info.inject_env,
        "inject_args": info.inject_args,
        "excluded": info.excluded,
        "requirements": data.get("requirements") or [],
        "distributions": distributions,
        "pex_info": data,
    }


def _runs(info: PexInfo) -> dict[str, Any]:
    if info.entry_point is None:
        return {"mode": "interpreter", "entry_point": None, "script": None}
    return {
        "mode": "script" if info.script else "entry point",
        "entry_point": info.entry_point,
        "script": info.script,
    }


def _versions(versions: Iterable[str]) -> list[str]:
    return sorted({v for v in versions if v}, key=_version_key)


def _version_key(version: str) -> tuple[tuple[int, ...], str]:
    """ "3.9" before "3.10"; versions of distributions by their leading numbers (then as text)."""
    numbers = []
    for part in version.split("."):
        if not part.isdigit():
            break
        numbers.append(int(part))
    return tuple(numbers), version


def human_size(size: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


def describe_runs(runs: Mapping[str, Any]) -> str:
    if runs["mode"] == "interpreter":
        return "a Python interpreter (no entry point: REPL, -c, -m, scripts)"
    if runs["mode"] == "script":
        return f"console script {runs['script']} ({runs['entry_point']})"
    return f"entry point {runs['entry_point']}"


def render_report(report: Mapping[str, Any]) -> str:
    """The readable table of `inspect`; every value escaped (`printable`), so that each line is one."""
    project = report["project"]
    size = report["size"]
    fields = [
        ("project", f"{project.get('name', '?')} {project.get('version', '?')}"),
        ("runs", describe_runs(report["runs"])),
        ("interpreter", " or ".join(report["interpreter_constraints"]) or "any CPython"),
        ("python versions", ", ".join(report["python_versions"]) or "-"),
        ("platforms", "\n".join(printable(p) for p in report["platforms"]) or "-"),
        ("size", f"{human_size(size)} ({size:,} bytes; wheels {human_size(report['wheels_size'])})"),
        ("format", f"{report['format']}, written by hatch-pex {report['hatch_pex_version']}"),
        ("shebang", f"#!{report['shebang']}" if report["shebang"] is not None else "none"),
        ("pex_hash", report["pex_hash"] or "-"),
    ]
    if report["inject_args"]:
        fields.insert(2, ("arguments", " ".join(report["inject_args"])))
    if report["inject_env"]:
        fields.insert(
            2, ("environment", " ".join(f"{k}={v}" for k, v in sorted(report["inject_env"].items())))
        )
    if report["excluded"]:
        fields.append(("excluded", ", ".join(report["excluded"])))
    lines = [printable(report["file"])]
    for label, value in fields:
        first, *rest = (value if label == "platforms" else printable(str(value))).split("\n")
        lines.append(f"  {label:<16} {first}")
        lines.extend(f"  {'':<16} {more}" for more in rest)
    everything = len(report["platforms"])
    rows: list[Sequence[str]] = [("name", "version", "size", "serves", "wheel")]
    for dist in report["distributions"]:
        served = dist["platforms"]
        if len(served) == everything:
            serves = "all"
        elif len({p.split("-")[0] for p in report["platforms"]}) == 1:  # one machine: versions say it
            serves = ", ".join(dist["python_versions"])
        else:
            serves = ", ".join(served)
        size_text = human_size(dist["size"]) if dist["size"] is not None else "missing"
        cells = (dist["name"], dist["version"], size_text, serves, dist["wheel"])
        rows.append([printable(str(cell)) for cell in cells])
    lines.append("")
    lines.append(f"distributions ({len(report['distributions'])} wheels)")
    lines.extend(_table(rows))
    return "\n".join(lines) + "\n"


def _table(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]


# -- verify ---------------------------------------------------------------------------------------------


def verify(path: str) -> tuple[list[str], dict[str, Any]]:
    """(problems, summary): the layout (every byte where the build puts it, the same members for every
    reader), the bytes before the zip against PEX-INFO's `preamble_sha256`, every member re-read (its
    CRC-32 checked by zipfile, its sha256 compared with the one recorded at build time), nothing
    unexpected or missing, and `pex_hash` recomputed. The first problem is the first that a reader
    meets: the layout's, PEX-INFO's own, the preamble's, then members in the archive's order."""
    layout, problems = check_layout(path)
    archive = open_pex_for_verify(path)
    summary: dict[str, Any] = {"file": path, "members": 0, "bytes": 0, "layout": layout and layout.kind}
    with archive:
        try:
            info = PexInfo(read_member(archive, PEX_INFO, MAX_PEX_INFO))
        except MemberTooLarge as exc:
            return [*problems, f"{PEX_INFO}: refused: {exc}"], summary
        except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, BootError) as exc:
            return [*problems, f"{PEX_INFO}: damaged ({exc})"], summary
        if layout is not None:
            problems.extend(_preamble_problems(path, layout.preamble, info.data.get(PREAMBLE_KEY)))
        expected = {f"{DEPS_DIR}/{wheel}": sha for wheel, sha in info.distributions.items()}
        data = info.data
        recorded = data.get("member_hashes")
        if isinstance(recorded, dict):
            expected.update({str(k): str(v) for k, v in recorded.items()})
        summary["pex_hash"] = info.pex_hash
        summary["per_member_hashes"] = isinstance(recorded, dict)
        actual: dict[str, str] = {}
        pex_infos = 0
        for member in archive.infolist():
            name = member.filename
            if name == PEX_INFO:
                pex_infos += 1
                if pex_infos == 2:  # zipfile read the last one; zipimport may read another
                    problems.append(f"{PEX_INFO}: present twice in the archive")
                continue
            summary["members"] += 1
            summary["bytes"] += member.file_size
            if name in actual:
                problems.append(f"{name}: present twice in the archive")
                continue
            try:
                actual[name] = _sha256(archive, member)
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
                problems.append(f"{name}: damaged ({exc})")
                actual[name] = ""
                continue
            want = expected.get(name)
            if want is None:
                if isinstance(recorded, dict) or name.startswith(f"{DEPS_DIR}/"):
                    problems.append(f"{name}: not recorded at build time (a member someone added)")
            elif want != actual[name]:
                problems.append(f"{name}: sha256 is {actual[name]}, the build recorded {want}")
        for name in sorted(set(expected) - set(actual)):
            problems.append(f"{name}: recorded at build time, missing from the archive")
        computed = pex_hash(content_digest(actual.items()), data)
        summary["computed_pex_hash"] = computed
        if not info.pex_hash:
            problems.append(f"{PEX_INFO}: no pex_hash recorded")
        elif computed != info.pex_hash:
            problems.append(
                f"{PEX_INFO}: pex_hash {info.pex_hash} does not match the content and PEX-INFO's other "
                f"fields (they give {computed})"
            )
    return problems, summary


def open_pex_for_verify(path: str) -> zipfile.ZipFile:
    """The archive of a file of ours, whatever its layout (verify names what is wrong with it); a
    damaged PEX-INFO is a finding of verify too, not a reason to stop."""
    try:
        return _open_ours(path)
    except DamagedPexInfo:
        return zipfile.ZipFile(path)


def _preamble_problems(path: str, length: int, recorded: object) -> list[str]:
    """The bytes before the zip (the `#!` line the build wrote) against PEX-INFO's record of them: the
    kernel runs that line, so a file whose line was swapped for a script runs the script."""
    with open(path, "rb") as stream:
        head = stream.read(min(length, 200)).split(b"\n")[0]
        first = head.decode("utf-8", "replace")
        if not isinstance(recorded, str):
            return [
                f"preamble: PEX-INFO records no {PREAMBLE_KEY} (written before hatch-pex recorded it): "
                f"the {length} bytes before the zip ({first!r}...) cannot be checked"
            ]
        stream.seek(0)
        digest, left = hashlib.sha256(), length
        while left:
            chunk = stream.read(min(CHUNK, left))
            if not chunk:
                break
            digest.update(chunk)
            left -= len(chunk)
    if digest.hexdigest() != recorded:
        return [
            f"preamble: the {length} bytes before the zip (starting {first!r}) have sha256 "
            f"{digest.hexdigest()}, the build recorded {recorded}"
        ]
    return []


def _sha256(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> str:
    """sha256 of the member's bytes, read in pieces; zipfile checks its CRC-32 at the end."""
    digest = hashlib.sha256()
    with archive.open(member) as stream:
        for chunk in iter(lambda: stream.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


# -- diff ------------------------------------------------------------------------------------------------


def diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """What changed between two `inspect` reports: distributions by project name (a project may have
    several versions in one file, one per platform), which wheel serves which platform, the other facts
    one by one, any other PEX-INFO key, the runtime's members, and the size."""
    before, after = _by_project(old["distributions"]), _by_project(new["distributions"])
    added = [_dist_entry(name, after[name]) for name in sorted(set(after) - set(before))]
    removed = [_dist_entry(name, before[name]) for name in sorted(set(before) - set(after))]
    changed, rebuilt = [], []
    for name in sorted(set(before) & set(after)):
        old_versions, new_versions = _versions_of(before[name]), _versions_of(after[name])
        if old_versions != new_versions:
            changed.append({"name": name, "old": old_versions, "new": new_versions})
        elif _hashes(before[name]) != _hashes(after[name]):  # same versions, other bytes or wheels
            rebuilt.append({"name": name, "versions": new_versions})
    common = [p for p in new["platforms"] if p in old["platforms"]]  # a platform added or removed: `fields`
    both = set(before) & set(after)
    moved = _moved(
        old, new, common, {name for name in both if not _implied(before[name], after[name], common)}
    )
    fields = {
        key: {"old": old.get(key), "new": new.get(key)} for key in DIFF_FIELDS if old.get(key) != new.get(key)
    }
    pex_info = _other_pex_info(old["pex_info"], new["pex_info"])
    old_runtime, new_runtime = _runtime_hashes(old), _runtime_hashes(new)
    runtime = {
        "added": sorted(set(new_runtime) - set(old_runtime)),
        "removed": sorted(set(old_runtime) - set(new_runtime)),
        "changed": sorted(n for n in set(old_runtime) & set(new_runtime) if old_runtime[n] != new_runtime[n]),
    }
    result: dict[str, Any] = {
        "old": old["file"],
        "new": new["file"],
        "distributions": {
            "added": added,
            "removed": removed,
            "changed": changed,
            "rebuilt": rebuilt,
            "moved": moved,
        },
        "fields": fields,
        "pex_info": pex_info,
        "runtime_members": runtime,
        "size": {"old": old["size"], "new": new["size"], "change": new["size"] - old["size"]},
        "pex_hash": {"old": old["pex_hash"], "new": new["pex_hash"]},
    }
    result["identical"] = not (
        added or removed or changed or rebuilt or moved or fields or pex_info or any(runtime.values())
        or old["size"] != new["size"] or old["pex_hash"] != new["pex_hash"]
    )  # fmt: skip
    return result


def _by_project(distributions: Iterable[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    grouped: dict[str, list[Mapping[str, Any]]] = {}
    for dist in distributions:
        grouped.setdefault(normalize(dist["name"]), []).append(dist)
    return grouped


def _versions_of(dists: Iterable[Mapping[str, Any]]) -> list[str]:
    return sorted({str(d["version"]) for d in dists}, key=_version_key)


def _hashes(dists: Iterable[Mapping[str, Any]]) -> set[str]:
    return {str(d["sha256"]) for d in dists}


def _dist_entry(name: str, dists: list[Mapping[str, Any]]) -> dict[str, Any]:
    return {"name": name, "versions": _versions_of(dists), "wheels": sorted(str(d["wheel"]) for d in dists)}


def _serving(report: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """{platform: {project: wheel}}: the wheel of each project that serves each platform of the file."""
    serving: dict[str, dict[str, str]] = {}
    for dist in report["distributions"]:
        for platform in dist.get("platforms", []):
            serving.setdefault(platform, {})[normalize(dist["name"])] = dist["wheel"]
    return serving


def _implied(
    old: Sequence[Mapping[str, Any]], new: Sequence[Mapping[str, Any]], platforms: Sequence[str]
) -> bool:
    """Whether a project's `changed` or `rebuilt` line already says which wheel serves each of
    `platforms`: one version in each file, serving the same of them, each by another wheel (hp-pure
    1.0 -> 2.0 everywhere; a native wheel per platform, each replaced)."""
    if len(_versions_of(old)) != 1 or len(_versions_of(new)) != 1:
        return False
    old_wheels = {p: d["wheel"] for d in old for p in d.get("platforms", []) if p in platforms}
    new_wheels = {p: d["wheel"] for d in new for p in d.get("platforms", []) if p in platforms}
    return old_wheels.keys() == new_wheels.keys() and all(old_wheels[p] != new_wheels[p] for p in old_wheels)


def _moved(
    old: Mapping[str, Any], new: Mapping[str, Any], platforms: Sequence[str], projects: set[str]
) -> list[dict[str, Any]]:
    """Where one of `projects` is served, on one of `platforms` (those both files serve), by another
    wheel (or by none, or newly by one): one entry per project and (old wheel, new wheel), with the
    platforms it concerns. This is the only trace of a change that keeps the set of wheels but moves
    them between Pythons (hp-pure 1.0 for 3.11 and 2.0 for 3.12, then the other way round)."""
    before, after = _serving(old), _serving(new)
    groups: dict[tuple[str, str | None, str | None], list[str]] = {}
    for platform in platforms:
        was, now = before.get(platform, {}), after.get(platform, {})
        for name in sorted((set(was) | set(now)) & projects):
            if was.get(name) != now.get(name):
                groups.setdefault((name, was.get(name), now.get(name)), []).append(platform)
    return [
        {
            "name": name,
            "old": old_wheel,
            "new": new_wheel,
            "platforms": served,
            "python_versions": _versions(platform_python(p) for p in served),
        }
        for (name, old_wheel, new_wheel), served in sorted(
            groups.items(), key=lambda item: (item[0][0], platforms.index(item[1][0]))
        )
    ]


def _other_pex_info(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Every PEX-INFO key outside EXPLAINED_PEX_INFO whose value differs: {"old": ..., "new": ...}, a side
    left out where the key is absent from that file."""
    changes: dict[str, dict[str, Any]] = {}
    for key in sorted((set(old) | set(new)) - EXPLAINED_PEX_INFO):
        if key not in old or key not in new or old[key] != new[key]:
            changes[key] = {side: info[key] for side, info in (("old", old), ("new", new)) if key in info}
    return changes


def _runtime_hashes(report: Mapping[str, Any]) -> dict[str, str]:
    """The members `diff` compares one by one: the runtime's. The SBOM is left out: it follows the
    distributions, whose changes `diff` reports already."""
    recorded = report["pex_info"].get("member_hashes")
    if not isinstance(recorded, dict):
        return {}
    return {name: sha for name, sha in recorded.items() if not name.startswith(SBOM_DIRECTORY)}


def render_diff(result: Mapping[str, Any]) -> str:
    """The readable form of `diff`: one line per difference, or one saying there is none."""
    lines = [f"--- {result['old']}", f"+++ {result['new']}"]
    dists = result["distributions"]
    for entry in dists["added"]:
        lines.append(f"distribution added:   {entry['name']} {', '.join(entry['versions'])}")
    for entry in dists["removed"]:
        lines.append(f"distribution removed: {entry['name']} {', '.join(entry['versions'])}")
    for entry in dists["changed"]:
        lines.append(
            f"distribution changed: {entry['name']} {', '.join(entry['old'])} -> {', '.join(entry['new'])}"
        )
    for entry in dists["rebuilt"]:
        lines.append(
            f"distribution rebuilt: {entry['name']} {', '.join(entry['versions'])} "
            "(same version, other bytes)"
        )
    for entry in dists["moved"]:
        lines.append(
            f"distribution moved: {entry['name']} for {_platforms_text(entry['platforms'])}: "
            f"{entry['old'] or '(none)'} -> {entry['new'] or '(none)'}"
        )
    for key, change in result["fields"].items():
        lines.append(
            f"{key.replace('_', ' ')}: {_field_text(key, change['old'])} -> {_field_text(key, change['new'])}"
        )
    for key, change in result["pex_info"].items():
        lines.append(f"PEX-INFO {key}: {_pex_info_text(change, 'old')} -> {_pex_info_text(change, 'new')}")
    for kind, names in result["runtime_members"].items():
        for name in names:
            lines.append(f"runtime member {kind}: {name}")
    size = result["size"]
    if size["change"]:
        lines.append(
            f"size: {human_size(size['old'])} -> {human_size(size['new'])} ({size['change']:+,} bytes)"
        )
    if result["identical"]:
        lines.append("no differences (same pex_hash, same size)")
    elif result["pex_hash"]["old"] != result["pex_hash"]["new"]:
        lines.append(f"pex_hash: {result['pex_hash']['old']} -> {result['pex_hash']['new']}")
    # Each line escaped whole: whatever a name or a PEX-INFO value holds, it stays on its line.
    return "".join(printable(line) + "\n" for line in lines)


def _platforms_text(platforms: Sequence[str]) -> str:
    """`3.11, 3.12 (linux_x86_64)` for platforms of one machine, one per Python version; the platform
    strings otherwise."""
    machines = {p.split("-")[0] for p in platforms}
    versions = _versions(platform_python(p) for p in platforms)
    if len(machines) == 1 and len(versions) == len(platforms):
        return f"{', '.join(versions)} ({machines.pop()})"
    return ", ".join(platforms)


def _pex_info_text(change: Mapping[str, Any], side: str) -> str:
    if side not in change:
        return "(absent)"
    value = change[side]
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _field_text(key: str, value: Any) -> str:
    if key == "runs" and isinstance(value, dict):
        return describe_runs(value)
    if key == "project" and isinstance(value, dict):
        return f"{value.get('name')} {value.get('version')}"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "(none)"
    return json.dumps(value) if not isinstance(value, str) else value


# -- the commands, shared by the CLI and PEX_TOOLS ------------------------------------------------------


def inspect_command(path: str, as_json: bool, out: TextIO) -> int:
    report = inspect(path)
    out.write(_json(report) if as_json else render_report(report))
    return 0


def add_pex_info_options(parser: ArgumentParser) -> None:
    """The options of PEX's `info` tool, with its meanings: `hatch-pex info` and the `info` tool."""
    parser.add_argument(
        "-i", "--indent", type=int, default=None, metavar="N", help="pretty-print with this indent"
    )
    parser.add_argument(
        "-o", "--output", metavar="PATH", help="write to PATH (default: standard output, also for `-`)"
    )


def pex_info_json(data: Mapping[str, Any], indent: int | None = None) -> str:
    """PEX-INFO as PEX's own `info` tool prints it (pex/tools/commands/info.py, whose JsonMixin.dump_json
    calls `json.dump(data, indent=indent)`): the keys in the file's order; without an indent one line
    with json's default separators (`, ` and `: `); with one, `,` ends each line (PEX sets `(",", ": ")`
    for an indent above 0, which Python 3 uses anyway); then a newline. So `| jq` scripts written
    against PEX's files read ours."""
    return json.dumps(data, indent=indent) + "\n"


def info_command(path: str, indent: int | None, output: str | None, out: TextIO) -> int:
    """`info`: PEX-INFO as JSON, as PEX's `info` tool prints it; to `output` (a path) unless it is
    None or `-` (PEX's `-o`), else to `out`."""
    with open_pex(path) as archive:
        data = json.loads(read_member(archive, PEX_INFO, MAX_PEX_INFO))
    text = pex_info_json(data, indent)
    if output is None or output == "-":
        out.write(text)
        return 0
    try:
        with open(output, "w", encoding="utf-8") as stream:
            stream.write(text)
    except OSError as exc:
        raise BootError(f"cannot write {output}: {exc.strerror or exc}") from None
    return 0


def verify_command(path: str, out: TextIO) -> int:
    """0: intact; 1: the first problem (and any others) named."""
    problems, summary = verify(path)
    if problems:  # each line escaped whole: a name in it cannot start a line or move the cursor
        out.write(printable(f"{path}: FAILED: {problems[0]}") + "\n")
        for problem in problems[1:]:
            out.write(printable(f"  also: {problem}") + "\n")
        return 1
    scope = (
        "" if summary["per_member_hashes"] else " (no per-member hashes recorded: runtime checked as a whole)"
    )
    line = (
        f"{path}: OK: {summary['members']} members ({human_size(summary['bytes'])}), the preamble and "
        f"PEX-INFO match the hashes recorded at build time and every reader finds the same members "
        f"({summary['layout']} layout), pex_hash {summary['pex_hash']}{scope}"
    )
    out.write(printable(line) + "\n")
    return 0


def diff_command(old: str, new: str, as_json: bool, out: TextIO) -> int:
    """0: no differences; 1: they differ (as diff(1) does)."""
    result = diff(inspect(old), inspect(new))
    out.write(_json(result) if as_json else render_diff(result))
    return 0 if result["identical"] else 1


def _json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True) + "\n"
