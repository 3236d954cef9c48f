"""What a .pex holds, whether it is intact, and how two differ: `inspect`, `verify` and `diff` of
`python -m hatch_pex` and `PEX_TOOLS=1 app.pex info|verify` (one code path for both; docs/cli.md).

Reads the file with `zipfile` (the central directory every layout of ziplayout.py offers it, past 4 GiB
too), streams every member, extracts nothing. Never imported by a start: only by the tools and the CLI.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
import zlib

from .extract import DEPS_DIR
from .log import BootError
from .pexinfo import FORMAT, PexInfo
from .wheels import WheelName, normalize, platform_python

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from typing import Any, TextIO

PEX_INFO = "PEX-INFO"
SBOM_DIRECTORY = ".sbom/"  # sbom.py's SBOM_MEMBER lies here
CHUNK = 1 << 20
# Facts compared one to one by `diff` (distributions, runtime members and size have their own parts).
DIFF_FIELDS = (
    "project", "runs", "interpreter_constraints", "python_versions", "platforms", "inherit_path",
    "inject_env", "inject_args", "excluded", "requirements", "shebang", "format", "hatch_pex_version",
)  # fmt: skip


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


def open_pex(path: str) -> zipfile.ZipFile:
    """The archive of a .pex this plugin wrote; a BootError that says what the file is otherwise."""
    if not os.path.exists(path):
        raise BootError(f"{path}: no such file")
    if os.path.isdir(path):
        raise BootError(f"{path} is a directory, not a .pex file")
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


def _check_written_by_us(path: str, archive: zipfile.ZipFile) -> None:
    names = archive.namelist()
    if PEX_INFO not in names:
        if "environment.json" in names and any(n.startswith("_bootstrap/") for n in names):
            raise BootError(f"{path} is a shiv zipapp (environment.json, _bootstrap/), not a hatch-pex file")
        raise BootError(f"{path} is a zip archive without PEX-INFO: not a .pex file")
    try:
        data = json.loads(archive.read(PEX_INFO))
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
        raw = archive.read(PEX_INFO)
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
    """The readable table of `inspect`."""
    project = report["project"]
    size = report["size"]
    fields = [
        ("project", f"{project.get('name', '?')} {project.get('version', '?')}"),
        ("runs", describe_runs(report["runs"])),
        ("interpreter", " or ".join(report["interpreter_constraints"]) or "any CPython"),
        ("python versions", ", ".join(report["python_versions"]) or "-"),
        ("platforms", "\n".join(report["platforms"]) or "-"),
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
    lines = [report["file"]]
    for label, value in fields:
        first, *rest = str(value).split("\n")
        lines.append(f"  {label:<16} {first}")
        lines.extend(f"  {'':<16} {more}" for more in rest)
    everything = len(report["platforms"])
    rows = [("name", "version", "size", "serves", "wheel")]
    for dist in report["distributions"]:
        served = dist["platforms"]
        if len(served) == everything:
            serves = "all"
        elif len({p.split("-")[0] for p in report["platforms"]}) == 1:  # one machine: versions say it
            serves = ", ".join(dist["python_versions"])
        else:
            serves = ", ".join(served)
        size_text = human_size(dist["size"]) if dist["size"] is not None else "missing"
        rows.append((dist["name"], dist["version"], size_text, serves, dist["wheel"]))
    lines.append("")
    lines.append(f"distributions ({len(report['distributions'])} wheels)")
    lines.extend(_table(rows))
    return "\n".join(lines) + "\n"


def _table(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]


# -- verify ---------------------------------------------------------------------------------------------


def verify(path: str) -> tuple[list[str], dict[str, Any]]:
    """(problems, summary): every member re-read (its CRC-32 checked by zipfile, its sha256 compared with
    the one recorded at build time), nothing unexpected or missing, and `pex_hash` recomputed. The first
    problem is the first that a reader meets: PEX-INFO's own, then members in the archive's order."""
    archive = open_pex_for_verify(path)
    problems: list[str] = []
    summary: dict[str, Any] = {"file": path, "members": 0, "bytes": 0}
    with archive:
        try:
            info = PexInfo(archive.read(PEX_INFO))
        except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, BootError) as exc:
            return [f"{PEX_INFO}: damaged ({exc})"], summary
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
    """As open_pex, but a damaged PEX-INFO is a finding of verify, not a reason to stop."""
    try:
        return open_pex(path)
    except DamagedPexInfo:
        return zipfile.ZipFile(path)


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
    several versions in one file, one per platform), the other facts one by one, the runtime's members,
    and the size."""
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
    fields = {
        key: {"old": old.get(key), "new": new.get(key)} for key in DIFF_FIELDS if old.get(key) != new.get(key)
    }
    old_runtime, new_runtime = _runtime_hashes(old), _runtime_hashes(new)
    runtime = {
        "added": sorted(set(new_runtime) - set(old_runtime)),
        "removed": sorted(set(old_runtime) - set(new_runtime)),
        "changed": sorted(n for n in set(old_runtime) & set(new_runtime) if old_runtime[n] != new_runtime[n]),
    }
    result: dict[str, Any] = {
        "old": old["file"],
        "new": new["file"],
        "distributions": {"added": added, "removed": removed, "changed": changed, "rebuilt": rebuilt},
        "fields": fields,
        "runtime_members": runtime,
        "size": {"old": old["size"], "new": new["size"], "change": new["size"] - old["size"]},
        "pex_hash": {"old": old["pex_hash"], "new": new["pex_hash"]},
    }
    result["identical"] = not (
        added or removed or changed or rebuilt or fields or any(runtime.values())
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
    for key, change in result["fields"].items():
        lines.append(
            f"{key.replace('_', ' ')}: {_field_text(key, change['old'])} -> {_field_text(key, change['new'])}"
        )
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
    return "\n".join(lines) + "\n"


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


def raw_info_command(path: str, out: TextIO) -> int:
    with open_pex(path) as archive:
        data = json.loads(archive.read(PEX_INFO))
    out.write(_json(data))
    return 0


def verify_command(path: str, out: TextIO) -> int:
    """0: intact; 1: the first problem (and any others) named."""
    problems, summary = verify(path)
    if problems:
        out.write(f"{path}: FAILED: {problems[0]}\n")
        for problem in problems[1:]:
            out.write(f"  also: {problem}\n")
        return 1
    scope = (
        "" if summary["per_member_hashes"] else " (no per-member hashes recorded: runtime checked as a whole)"
    )
    out.write(
        f"{path}: OK: {summary['members']} members ({human_size(summary['bytes'])}) and PEX-INFO match "
        f"the hashes recorded at build time, pex_hash {summary['pex_hash']}{scope}\n"
    )
    return 0


def diff_command(old: str, new: str, as_json: bool, out: TextIO) -> int:
    """0: no differences; 1: they differ (as diff(1) does)."""
    result = diff(inspect(old), inspect(new))
    out.write(_json(result) if as_json else render_diff(result))
    return 0 if result["identical"] else 1


def _json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True) + "\n"
