"""Is what `python -m build` wrote ready to upload? The checks `twine check --strict` does not make.

    python3 -m tox -e release     (builds the sdist and the wheel into .tox/release/tmp/dist, then runs this)

Given the directory holding one sdist and one wheel of hatch-pex-builder, and a scratch directory:

1. `twine check --strict` on both (the README renders, the metadata is well formed);
2. the metadata twine does not judge, in the wheel's METADATA and the sdist's PKG-INFO alike: the version
   is pyproject.toml's, the project URLs are there, the licence is an SPDX expression with LICENSE
   shipped in both files, every classifier is a current trove classifier, no `License ::` classifier
   (PyPI rejects one beside a License-Expression), every `Python :: 3.X` is one Requires-Python admits;
3. contents: the wheel holds every file of hatch_pex/, the sdist every file git tracks (but .ci/ and
   benchmarks/, which need the checkout);
4. the wheel installs into a fresh venv, whose `hatch-pex --version` prints the wheel's version;
5. fixtures/apps/example-app, asking for the plugin by name as a user's project does, builds with the
   real `hatch build -t pex` (hatch's build environment takes the wheel from UV_FIND_LINKS), and the
   .pex runs and greets; the fresh venv's `hatch-pex verify` passes it.

Each failure is printed as `release-check: FAILED: ...` and makes the exit status 1; the checks of one
step all run before the step fails, so one run names every problem of the metadata.
"""

from __future__ import annotations

import email.parser
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from email.message import Message
from pathlib import Path

from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename
from trove_classifiers import classifiers as known_classifiers
from trove_classifiers import deprecated_classifiers

if sys.version_info >= (3, 11):
    import tomllib
else:  # tox.ini installs tomli for these
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
NAME = "hatch-pex-builder"
URL_LABELS = ("Homepage", "Documentation", "Source", "Issues")
# Tracked files the sdist leaves out on purpose: CI's scripts and the benchmark harness work on a git
# checkout and the network, and nothing in the sdist (tox.ini, the tests, the docs) needs them.
NOT_IN_SDIST = (".ci/", "benchmarks/")
EXAMPLE = ROOT / "fixtures" / "apps" / "example-app"
TIMEOUT = 900  # seconds for one command: installs and the example build reach the package registries


class Failed(Exception):
    """A check that failed; its message says what to fix."""


problems: list[str] = []


def check(ok: object, message: str) -> None:
    """Record a failed check and go on, so that one run names every problem of a step."""
    if not ok:
        problems.append(message)
        print(f"release-check: FAILED: {message}", file=sys.stderr, flush=True)


def step_done(name: str) -> None:
    if problems:
        raise Failed(f"{name}: {len(problems)} problem(s), listed above")
    print(f"release-check: ok: {name}", flush=True)


def run(cmd: list[str | Path], *, cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run cmd (output shown as it comes); its stdout. A non-zero exit fails the check."""
    print("$", " ".join(str(c) for c in cmd), flush=True)
    proc = subprocess.run(
        [str(c) for c in cmd],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
        timeout=TIMEOUT,
    )
    sys.stdout.write(proc.stdout)
    if proc.returncode != 0:
        raise Failed(f"`{' '.join(str(c) for c in cmd)}` exited {proc.returncode}")
    return proc.stdout


# -- 1 and 2: the files and their metadata -----------------------------------------------------------


def find_artifacts(dist: Path) -> tuple[Path, Path]:
    wheels = sorted(dist.glob("*.whl"))
    sdists = sorted(dist.glob("*.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        raise Failed(f"expected one wheel and one sdist in {dist}, found {[p.name for p in dist.iterdir()]}")
    return wheels[0], sdists[0]


def parse(text: str) -> Message:
    return email.parser.Parser().parsestr(text)


def check_metadata(label: str, meta: Message, version: str) -> None:
    """The fields PyPI shows or enforces and twine does not check; `label` names the file."""
    check(
        canonicalize_name(meta.get("Name", "")) == NAME, f"{label}: Name is {meta.get('Name')!r}, not {NAME}"
    )
    check(
        meta.get("Version") == version, f"{label}: Version {meta.get('Version')} is not pyproject's {version}"
    )

    urls = {}
    for entry in meta.get_all("Project-URL") or []:
        name, _, url = entry.partition(",")
        urls[name.strip()] = url.strip()
    for name in URL_LABELS:
        check(name in urls, f"{label}: no Project-URL {name!r} ([project.urls] in pyproject.toml)")
        check(
            name not in urls or urls[name].startswith("https://"),
            f"{label}: Project-URL {name} is not an https URL: {urls.get(name)!r}",
        )

    check(
        meta.get("License-Expression") == "MIT",
        f"{label}: License-Expression is {meta.get('License-Expression')!r}, not 'MIT' "
        "(`license` in pyproject.toml)",
    )
    check(
        "LICENSE" in (meta.get_all("License-File") or []),
        f"{label}: License-File does not name LICENSE (`license-files` in pyproject.toml)",
    )

    requires_python = SpecifierSet(meta.get("Requires-Python", ""))
    classifiers = meta.get_all("Classifier") or []
    check(classifiers, f"{label}: no classifiers")
    for classifier in classifiers:
        check(
            classifier in known_classifiers,
            f"{label}: classifier {classifier!r} is not a trove classifier"
            + (
                f" (deprecated: {deprecated_classifiers[classifier]})"
                if classifier in deprecated_classifiers
                else ""
            ),
        )
        check(
            not classifier.startswith("License ::"),
            f"{label}: classifier {classifier!r}: PyPI rejects License classifiers beside a "
            "License-Expression",
        )
        minor = re.fullmatch(r"Programming Language :: Python :: (3\.\d+)", classifier)
        check(
            not minor or requires_python.contains(f"{minor.group(1)}.0"),
            f"{label}: classifier {classifier!r} names a version Requires-Python {requires_python} excludes",
        )


def check_files(wheel: Path, sdist: Path, version: str) -> str:
    """Metadata and contents of both files; returns the wheel's version."""
    name, wheel_version, _, _ = parse_wheel_filename(wheel.name)
    sdist_name, sdist_version = parse_sdist_filename(sdist.name)
    check(name == NAME and sdist_name == NAME, f"the files are {wheel.name} and {sdist.name}, not {NAME}'s")
    check(
        str(wheel_version) == str(sdist_version) == version,
        f"wheel {wheel_version} and sdist {sdist_version} are not both pyproject.toml's version {version}",
    )
    license_text = (ROOT / "LICENSE").read_bytes()

    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        dist_info = f"{wheel.name.split('-')[0]}-{wheel_version}.dist-info"
        wheel_meta = parse(archive.read(f"{dist_info}/METADATA").decode())
        check_metadata(wheel.name, wheel_meta, version)
        member = f"{dist_info}/licenses/LICENSE"
        check(member in names, f"{wheel.name}: no {member}")
        check(
            member not in names or archive.read(member) == license_text,
            f"{wheel.name}: {member} differs from LICENSE",
        )
        # The wheel is built from the sdist (python -m build), so this checks the sdist's package too.
        package = {
            path.relative_to(ROOT).as_posix()
            for path in (ROOT / "hatch_pex").rglob("*")
            if path.is_file() and "__pycache__" not in path.parts
        }
        for path in sorted(package - names):
            check(False, f"{wheel.name}: {path} is missing")

    with tarfile.open(sdist) as archive:
        top = f"{sdist.name[: -len('.tar.gz')]}/"
        members = {m.name[len(top) :]: m for m in archive.getmembers() if m.name.startswith(top)}
        pkg_info = archive.extractfile(members["PKG-INFO"]) if "PKG-INFO" in members else None
        check(pkg_info, f"{sdist.name}: no PKG-INFO")
        if pkg_info:
            sdist_meta = parse(pkg_info.read().decode())
            check_metadata(f"{sdist.name} PKG-INFO", sdist_meta, version)
            for field in (
                "Classifier",
                "Project-URL",
                "License-Expression",
                "Requires-Python",
                "Requires-Dist",
            ):
                check(
                    wheel_meta.get_all(field) == sdist_meta.get_all(field),
                    f"the wheel's {field} differs from the sdist's",
                )
        license_member = archive.extractfile(members["LICENSE"]) if "LICENSE" in members else None
        check(license_member, f"{sdist.name}: no LICENSE at its top")
        check(not license_member or license_member.read() == license_text, f"{sdist.name}: LICENSE differs")
        tracked = tracked_files()
        if tracked is None:
            print("release-check: not a git checkout: the sdist is not compared with the tracked files")
        for path in sorted(tracked or ()):
            check(
                path in members or path.startswith(NOT_IN_SDIST),
                f"{sdist.name}: tracked file {path} is missing: add it to [tool.hatch.build.targets.sdist] "
                "include in pyproject.toml, or to NOT_IN_SDIST in .ci/release-check.py if the sdist must "
                "not have it",
            )
    return str(wheel_version)


def tracked_files() -> set[str] | None:
    """What git tracks in the checkout (present in the work tree), or None outside a git checkout."""
    git = shutil.which("git")
    if not git or not (ROOT / ".git").exists():
        return None
    out = subprocess.run(
        [git, "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    ).stdout
    return {path for path in out.split("\0") if path and (ROOT / path).is_file()}


# -- 4 and 5: install it, build with it ----------------------------------------------------------------


def install(wheel: Path, work: Path, version: str) -> Path:
    """A fresh venv with the wheel (dependencies from the package registries); its bin directory."""
    venv = work / "venv"
    run([sys.executable, "-m", "venv", venv], cwd=work)
    bin_dir = venv / "bin"
    run([bin_dir / "python", "-m", "pip", "install", "--quiet", wheel], cwd=work)
    expected = f"hatch-pex {version}\n"
    # Run outside the checkout: `python -m` puts the working directory first on sys.path.
    commands: list[list[str | Path]] = [
        [bin_dir / "hatch-pex", "--version"],
        [bin_dir / "python", "-m", "hatch_pex", "--version"],
    ]
    for command in commands:
        out = run(command, cwd=work)
        check(out == expected, f"`{' '.join(map(str, command))}` printed {out!r}, not {expected!r}")
    located = run([bin_dir / "python", "-c", "import hatch_pex; print(hatch_pex.__file__)"], cwd=work)
    check(
        Path(located.strip()).is_relative_to(venv),
        f"hatch_pex was imported from {located.strip()}, not the venv",
    )
    return bin_dir


def example_project(work: Path, version: str) -> Path:
    """fixtures/apps/example-app as a user's project: `requires` names the plugin (the pinned version
    the wheel has), with no [tool.hatch.envs.hatch-build] table taking it from the checkout."""
    project = work / "example-app"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("dist", "__pycache__"))
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text()
    requires = 'requires = ["hatchling"]'
    table = re.search(r"^\[tool\.hatch\.envs\.hatch-build\]\n(?:[^\[\n].*\n?)*", text, re.MULTILINE)
    if requires not in text or not table:
        raise Failed(
            f"{EXAMPLE}/pyproject.toml changed: this script rewrites {requires!r} and drops the "
            "[tool.hatch.envs.hatch-build] table"
        )
    text = text.replace(requires, f'requires = ["hatchling", "{NAME}=={version}"]').replace(
        table.group(0), ""
    )
    pyproject.write_text(text)
    return project


def build_example(wheel: Path, work: Path, version: str, bin_dir: Path) -> None:
    project = example_project(work, version)
    env = dict(os.environ)
    env.update(
        {
            # The wheel is the only hatch-pex-builder anywhere: hatch's build environment (made with uv)
            # installs it from here, the rest from the registries.
            "UV_FIND_LINKS": str(wheel.parent),
            # Fresh hatch and uv state, so nothing installed before stands in for the wheel.
            "HATCH_DATA_DIR": str(work / "hatch-data"),
            "HATCH_CACHE_DIR": str(work / "hatch-cache"),
            "UV_CACHE_DIR": str(work / "uv-cache"),
        }
    )
    hatch = shutil.which("hatch", path=str(Path(sys.executable).parent)) or "hatch"
    run([hatch, "build", "-t", "pex"], cwd=project, env=env)
    pexes = sorted((project / "dist").rglob("*.pex"))
    if len(pexes) != 1:
        raise Failed(f"`hatch build -t pex` of the example wrote {pexes}, not one .pex")
    pex = pexes[0]

    with zipfile.ZipFile(pex) as archive:
        info = json.loads(archive.read("PEX-INFO"))
    check(
        info.get("hatch_pex_version") == version,
        f"{pex.name} was written by hatch-pex {info.get('hatch_pex_version')}, not the wheel's {version}",
    )
    check(
        installed_from(wheel, work / "hatch-data"), f"hatch's build environment did not install {wheel.name}"
    )
    for args, expected in (([], "Hello, world!"), (["Ada", "--shout"], "HELLO, ADA!")):
        out = run([pex, *args], cwd=work)
        check(expected in out, f"`{pex.name} {' '.join(args)}` printed {out!r}, not {expected!r}")
    run([bin_dir / "hatch-pex", "verify", pex], cwd=work)


def installed_from(wheel: Path, hatch_data: Path) -> bool:
    """Whether a hatch-pex-builder installed under hatch_data has exactly the wheel's files (RECORD
    hashes): a same-versioned build from elsewhere would differ."""
    with zipfile.ZipFile(wheel) as archive:
        [record] = [n for n in archive.namelist() if n.endswith(".dist-info/RECORD")]
        expected = {
            line.split(",")[0]: line.split(",")[1]
            for line in archive.read(record).decode().splitlines()
            if line.startswith("hatch_pex/")
        }
    for installed in hatch_data.rglob("hatch_pex_builder-*.dist-info/RECORD"):
        entries = {
            line.split(",")[0]: line.split(",")[1] for line in installed.read_text().splitlines() if line
        }
        if all(entries.get(path) == digest for path, digest in expected.items()):
            return True
    return False


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: release-check.py DIST_DIR WORK_DIR", file=sys.stderr)
        return 2
    dist, work = Path(argv[0]).resolve(), Path(argv[1]).resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    try:
        wheel, sdist = find_artifacts(dist)
        run([sys.executable, "-m", "twine", "check", "--strict", wheel, sdist], cwd=work)
        step_done("twine check --strict")
        wheel_version = check_files(wheel, sdist, version)
        step_done("metadata, licence, classifiers and contents of both files")
        bin_dir = install(wheel, work, wheel_version)
        step_done(f"the wheel installs into a fresh venv and says `hatch-pex {wheel_version}`")
        build_example(wheel, work, wheel_version, bin_dir)
        step_done("`hatch build -t pex` of the example with the wheel as the plugin; the .pex runs")
    except (Failed, subprocess.TimeoutExpired) as exc:
        print(f"release-check: FAILED: {exc}", file=sys.stderr)
        return 1
    print(f"release-check: OK: {wheel.name} and {sdist.name} are ready to upload")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
