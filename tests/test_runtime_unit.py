"""Tests of the runtime in hatch_pex/bootstrap/: its pure logic on real files, then a few starts of .pex
files made by hand (tests/_make_test_pex.py) so the runtime is checked without the build side."""

from __future__ import annotations

import ast
import importlib.util
import json
import marshal
import os
import stat
import subprocess
import sys
import time
import types
import zipfile
from pathlib import Path

import pytest

import hatch_pex.bootstrap as boot
from hatch_pex.bootstrap import (
    ahead,
    bytecode,
    cache,
    entry,
    extract,
    isolation,
    locks,
    overlap,
    record,
    specifiers,
    tags,
    trust,
    wheels,
)
from hatch_pex.bootstrap.bytecode import CachingSourceLoader, path_hook, pyc_header
from hatch_pex.bootstrap.extract import WheelSource
from hatch_pex.bootstrap.interpreter import version_string
from hatch_pex.bootstrap.log import BootError

sys.path.insert(0, str(Path(__file__).parent))
from _make_test_pex import make_pex, make_wheel

BOOTSTRAP = Path(boot.__file__).parent

# ---------------------------------------------------------------------------------------------- specifiers

VERSIONS = [
    "3.8.10",
    "3.9.0",
    "3.9.18",
    "3.10.0",
    "3.11.7",
    "3.12.0a1",
    "3.12.0rc1",
    "3.12.0",
    "3.12.1",
    "3.12.1+local.7",
    "3.12.0.post1",
    "3.12.dev0",
    "3.13.0",
    "3.13.0rc2",
    "3.14.0",
    "4.0",
    "1!3.0",
]
SPECS = [
    ">=3.9",
    "<3.12",
    "<=3.12",
    ">3.12",
    ">3.12.0",
    ">=3.12.0rc1",
    "<3.13.0rc1",
    ">3.12.0rc1",
    "==3.12.*",
    "!=3.12.*",
    "==3.12",
    "==3.12.0",
    "!=3.12.0",
    "~=3.11",
    "~=3.11.2",
    "~=3.12.0",
    "===3.11.7",
    "==3.*",
    ">=3.9,<3.14",
    ">=3.9, !=3.10.*, <4",
    "==3.12.1+local.7",
    "==3.12.1",
    ">3.12.1",
    "<=3.12.0.post1",
    "==1!3.0",
    ">=3",
    "<3.12.1",
]


@pytest.mark.parametrize("spec", SPECS)
def test_specifier_sets_agree_with_packaging(spec: str) -> None:
    packaging_specifiers = pytest.importorskip("packaging.specifiers")
    theirs = packaging_specifiers.SpecifierSet(spec)
    mine = specifiers.SpecifierSet(spec)
    for version in VERSIONS:
        assert mine.contains(version) == theirs.contains(version, prereleases=True), (spec, version)


def test_implementation_prefix_and_any_of() -> None:
    assert specifiers.SpecifierSet("CPython>=3.9").contains("3.11.7", "cpython")
    assert not specifiers.SpecifierSet("CPython>=3.9").contains("3.11.7", "pypy")
    assert specifiers.SpecifierSet("cpython==3.12.*").contains("3.12.1")
    assert specifiers.satisfies_any([], "2.7.18")
    assert specifiers.satisfies_any(["<3", ">=3.12"], "3.12.0")
    assert not specifiers.satisfies_any(["<3", ">=3.12"], "3.11.0")


@pytest.mark.parametrize("bad", ["", ">=", "3.9", ">=3.x", "~=3", ">=3.*", "=>3.9", "==3.9.*.*"])
def test_invalid_specifiers_raise(bad: str) -> None:
    with pytest.raises(specifiers.InvalidSpecifier):
        specifiers.SpecifierSet(bad).contains("3.11.0")


def test_version_string() -> None:
    assert version_string((3, 11, 7, "final", 0)) == "3.11.7"
    assert version_string((3, 13, 0, "candidate", 1)) == "3.13.0rc1"
    assert version_string((3, 14, 0, "alpha", 2)) == "3.14.0a2"
    assert specifiers.SpecifierSet(">=3.9").contains(version_string())


# ---------------------------------------------------------------------------------------------- tags


def test_supported_tags_match_packaging() -> None:
    packaging = pytest.importorskip("packaging")
    from packaging import tags as ptags
    from packaging.version import Version

    if Version(packaging.__version__) < Version("26.3"):
        pytest.skip("packaging < 26.3 orders linux_<arch> after manylinux; the runtime follows 26.3")
    assert tags.supported_tags() == [str(tag) for tag in ptags.sys_tags()]


@pytest.mark.parametrize("version", [(10, 9), (10, 15), (11, 0), (12, 3), (14, 2)])
@pytest.mark.parametrize("arch", ["x86_64", "arm64", "i386"])
def test_mac_platforms_match_packaging(version: tuple[int, int], arch: str) -> None:
    ptags = pytest.importorskip("packaging.tags")
    assert tags.mac_platforms(version, arch) == list(ptags.mac_platforms(version, arch))


def test_linux_platforms() -> None:
    x86 = tags.linux_platforms("x86_64", (2, 36), None)
    assert x86[0] == "linux_x86_64"
    assert x86[1:3] == ["manylinux_2_36_x86_64", "manylinux_2_35_x86_64"]
    assert x86.index("manylinux2014_x86_64") == x86.index("manylinux_2_17_x86_64") + 1
    assert x86[-2:] == ["manylinux_2_5_x86_64", "manylinux1_x86_64"]
    arm = tags.linux_platforms("aarch64", (2, 31), None)
    assert arm[-2:] == ["manylinux_2_17_aarch64", "manylinux2014_aarch64"]
    musl = tags.linux_platforms("x86_64", None, (1, 2))
    assert musl == ["linux_x86_64", "musllinux_1_2_x86_64", "musllinux_1_1_x86_64", "musllinux_1_0_x86_64"]
    assert tags.linux_platforms("armv8l", None, None) == ["linux_armv8l", "linux_armv7l"]


def test_cpython_tags_order_and_free_threading() -> None:
    got = list(tags.cpython_tags((3, 12), ["cp312"], ["linux_x86_64"]))
    assert got[:3] == ["cp312-cp312-linux_x86_64", "cp312-abi3-linux_x86_64", "cp312-none-linux_x86_64"]
    assert got[-1] == "cp32-abi3-linux_x86_64"
    threaded = list(tags.cpython_tags((3, 13), ["cp313t"], ["linux_x86_64"]))
    assert "cp313-abi3t-linux_x86_64" in threaded
    assert not any("-abi3-" in tag for tag in threaded)
    compat = list(tags.compatible_tags((3, 12), "cp312", ["linux_x86_64"]))
    assert compat[0] == "py312-none-linux_x86_64"
    assert compat.index("cp312-none-any") < compat.index("py312-none-any") < compat.index("py3-none-any")


# ---------------------------------------------------------------------------------------------- wheels


def test_wheel_name_parsing() -> None:
    name = wheels.WheelName("Markup_Safe-3.0-1b-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl")
    assert (name.project, name.version, name.build) == ("markup-safe", "3.0", "1b")
    assert name.tags == {"cp312-cp312-manylinux_2_17_x86_64", "cp312-cp312-manylinux2014_x86_64"}
    assert wheels.WheelName("six-1.16-py2.py3-none-any.whl").tags == {"py2-none-any", "py3-none-any"}
    for bad in ("six-1.16.tar.gz", "six-py3-none-any.whl", "a-b-c-d-e-f-g.whl"):
        with pytest.raises(ValueError):
            wheels.WheelName(bad)
    assert wheels.normalize("Foo.Bar__baz") == "foo-bar-baz"


def test_select_takes_best_rank_per_project() -> None:
    platforms = ["linux_x86_64", "manylinux_2_17_x86_64"]
    supported = [
        *tags.cpython_tags((3, 12), ["cp312"], platforms),
        *tags.compatible_tags((3, 12), "cp312", platforms),
    ]
    names = [
        "ms-1.0-cp311-cp311-manylinux_2_17_x86_64.whl",
        "ms-1.0-cp312-abi3-manylinux_2_17_x86_64.whl",
        "ms-1.0-cp312-cp312-manylinux_2_17_x86_64.whl",
        "ms-1.0-py3-none-any.whl",
        "pure-2.0-py3-none-any.whl",
        "pure-2.0-py2.py3-none-any.whl",
        "native-1.0-cp313-cp313-manylinux_2_17_x86_64.whl",
        "native-1.0-cp312-cp312-win_amd64.whl",
    ]
    chosen, missing = wheels.select(names, supported)
    assert chosen == {
        "ms": "ms-1.0-cp312-cp312-manylinux_2_17_x86_64.whl",
        "pure": "pure-2.0-py2.py3-none-any.whl",
    }
    assert missing == {"native": sorted(n for n in names if n.startswith("native"))}


def test_choose_takes_first_platform_set_that_fits_whole() -> None:
    platforms = ["linux_x86_64", "manylinux_2_17_x86_64"]
    supported = [
        *tags.cpython_tags((3, 12), ["cp312"], platforms),
        *tags.compatible_tags((3, 12), "cp312", platforms),
    ]
    p311 = ["ms-1.0-cp311-cp311-manylinux_2_17_x86_64.whl", "pure-1.0-py3-none-any.whl"]
    p312 = ["ms-1.0-cp312-cp312-manylinux_2_17_x86_64.whl", "pure-2.0-py3-none-any.whl"]
    sets = {"cp311": p311, "cp312": p312}
    names = sorted({*p311, *p312})
    chosen, problems = wheels.choose(names, supported, "3.12.1", {}, ["cp311", "cp312"], sets)
    assert (chosen, problems) == ({"ms": p312[0], "pure": p312[1]}, [])
    chosen, problems = wheels.choose(
        names, supported, "3.12.1", {p312[1]: ">=3.13"}, ["cp311", "cp312"], sets
    )
    assert chosen == {}
    assert problems == [
        f"platform cp311: {p311[0]} does not match its tags",
        f"platform cp312: {p312[1]} requires Python >=3.13",
    ]


def test_choose_prefers_the_set_made_for_the_running_version() -> None:
    """Two pure sets both fit CPython 3.12: the one resolved for 3.12 wins, whatever the order."""
    supported = list(tags.compatible_tags((3, 12), "cp312", ["linux_x86_64"]))
    old = ["click-8.1.8-py3-none-any.whl"]
    new = ["click-8.5.1-py3-none-any.whl"]
    sets = {"linux_x86_64-cp-3.9-cp39": old, "linux_x86_64-cp-3.12-cp312": new}
    chosen, problems = wheels.choose([*old, *new], supported, "3.12.1", {}, list(sets), sets)
    assert (chosen, problems) == ({"click": new[0]}, [])
    chosen, _ = wheels.choose([*old, *new], supported, "3.11.7", {}, list(sets), sets)
    assert chosen == {"click": old[0]}  # no set of its own: the first that fits
    assert wheels.platform_python("linux_x86_64-cp-311-cp311") == "3.11"
    assert wheels.platform_python("current") == ""


def test_choose_without_platform_sets_honours_requires_python() -> None:
    supported = list(tags.compatible_tags((3, 9), "cp39", ["linux_x86_64"]))
    names = ["pure-1.0-py3-none-any.whl", "pure-2.0-py3-none-any.whl", "new-1.0-py3-none-any.whl"]
    rp = {"pure-1.0-py3-none-any.whl": "<3.9", "new-1.0-py3-none-any.whl": ">=3.10", "x": "garbage"}
    chosen, problems = wheels.choose(names, supported, "3.9.18", rp)
    assert chosen == {"pure": "pure-2.0-py3-none-any.whl"}
    assert problems == ["no compatible wheel for new (the pex has new-1.0-py3-none-any.whl)"]
    assert wheels.python_fits("not a specifier", "3.9.0") and not wheels.python_fits(">=3.10", "3.9.18")


# ---------------------------------------------------------------------------------------------- cache


def test_manifest_verification_detects_deleted_changed_and_foreign_files(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.py").write_text("x = 1\n")
    (tmp_path / "b\u2028c.txt").write_text("hello")  # a line separator for str.splitlines, not for us
    found = [(name, (tmp_path / name).stat()) for name in ("pkg/a.py", "b\u2028c.txt")]
    cache.write_manifest(str(tmp_path), [(name, st.st_size, st.st_mtime_ns) for name, st in found])
    files, sizes, mtimes = cache.read_manifest(str(tmp_path)) or ([], [], [])
    assert (files, sizes) == (["pkg/a.py", "b\u2028c.txt"], [6, 5])
    assert cache.verify(str(tmp_path), files, sizes, mtimes) is None
    os.chmod(tmp_path / "pkg", 0o775)  # a directory the group could write
    assert cache.verify(str(tmp_path), files, sizes, mtimes) == "pkg/ could be written by another user"
    os.chmod(tmp_path / "pkg", 0o755)
    (tmp_path / "b\u2028c.txt").write_text("HELLO")  # same size, rewritten: the mtime tells
    os.utime(tmp_path / "b\u2028c.txt", ns=(0, mtimes[1] + 1000))
    assert cache.verify(str(tmp_path), files, sizes, mtimes) == (
        "b\u2028c.txt was changed since it was extracted (5 bytes, 5 expected)"
    )
    (tmp_path / "pkg" / "a.py").unlink()
    (tmp_path / "pkg" / "a.py").symlink_to(tmp_path / "b\u2028c.txt")
    problem = cache.verify(str(tmp_path), files, sizes, mtimes) or ""  # a symlink is never followed
    assert problem.startswith("pkg/a.py "), problem
    assert cache.verify(str(tmp_path / "gone"), files, sizes, mtimes) == f"{tmp_path / 'gone'} is missing"
    (tmp_path / cache.MANIFEST).unlink()
    (tmp_path / cache.MANIFEST).write_text("something else\n1\t1\tb.txt\n")
    assert cache.read_manifest(str(tmp_path)) is None


def _tiny_pex(tmp_path: Path, **kwargs: object) -> tuple[Path, Path]:
    """A pex with one app wheel (console script `tiny`, module `tinyapp`) and one dependency wheel."""
    wheel_dir = tmp_path / "wheels"
    wheel_dir.mkdir(parents=True, exist_ok=True)
    app = make_wheel(
        wheel_dir,
        "tinyapp",
        "1.0",
        {
            "tinyapp/__init__.py": (
                "import os, sys, tinydep\n"
                "def main():\n"
                "    print('dep', tinydep.WHERE)\n"
                "    print('argv', sys.argv[1:])\n"
                "    print('env', os.environ.get('TINY_INJECTED'))\n"
                "    if sys.argv[1:] == ['boom']:\n"
                "        raise RuntimeError('boom')\n"
                "    return int(sys.argv[1]) if sys.argv[1:2] and sys.argv[1].isdigit() else 0\n"
            ),
            "tinyapp-1.0.data/scripts/tiny-tool": "#!python\nprint('tool')\n",
        },
        "[console_scripts]\ntiny = tinyapp:main\n",
        modes={"tinyapp-1.0.data/scripts/tiny-tool": 0o755},
    )
    dep = make_wheel(
        wheel_dir, "tinydep", "2.0", {"tinydep.py": "WHERE = 'pex'\n", "tinydep.pth": "import sys\n"}
    )
    options = {"entry_point": "tinyapp:main", **kwargs}
    pex = make_pex(tmp_path / "tiny.pex", [app, dep], **options)  # type: ignore[arg-type]
    return pex, dep


def test_ensure_entry_extracts_reuses_and_rebuilds(tmp_path: Path) -> None:
    pex, dep = _tiny_pex(tmp_path)
    root = tmp_path / "root"
    for sub in ("installs", "tmp"):
        (root / sub).mkdir(parents=True)
    sha = boot_hash(dep)
    source = WheelSource(str(pex), {dep.name: sha})
    files, sizes, mtimes = cache.ensure_entry(str(root), sha, dep.name, source)
    entry_dir = root / "installs" / sha
    assert "tinydep.py" in files and (entry_dir / cache.MANIFEST).is_file()
    assert cache.ensure_entry(str(root), sha, dep.name, source) == (files, sizes, mtimes)
    (entry_dir / "tinydep.py").write_text("")  # truncated later: detected and rebuilt
    cache.ensure_entry(str(root), sha, dep.name, source)
    assert (entry_dir / "tinydep.py").read_text() == "WHERE = 'pex'\n"
    assert os.listdir(root / "tmp") == []
    bad = WheelSource(str(pex), {dep.name: "0" * 64})
    with pytest.raises(BootError, match="damaged"):
        cache.ensure_entry(str(root), "0" * 64, dep.name, bad)
    assert not (root / "installs" / ("0" * 64)).exists() and os.listdir(root / "tmp") == []
    bad.close()
    source.close()


def test_what_an_import_waits_for_during_the_extraction(tmp_path: Path) -> None:
    """overlap.Beside: an import waits for the wheel of the name's site link; a wheel with compiled
    code also for its requirements (transitively through other compiled wheels, an extra's left out),
    a pure one for itself only; pkg_resources for all. A wait ends when the entry is in place, and
    fails, naming the wheel, when the extractor ended without it."""
    wheel_dir = tmp_path / "wheels"
    wheel_dir.mkdir()
    so = "nat/_c.cpython-311-x86_64-linux-gnu.so"
    made = [
        make_wheel(
            wheel_dir,
            "nat",
            "1.0",
            {"nat/__init__.py": "", so: ""},
            requires=("Dep.One>=1", "dep-extra ; extra == 'x'"),
        ),
        make_wheel(wheel_dir, "dep_one", "1.0", {"dep_one.py": ""}, requires=("dep_two",)),
        make_wheel(wheel_dir, "dep_two", "1.0", {"dep_two/__init__.py": ""}),
        make_wheel(wheel_dir, "dep_extra", "1.0", {"dep_extra.py": ""}),
        make_wheel(wheel_dir, "app", "1.0", {"app.py": "", "ns/app_part/__init__.py": ""}, requires=("nat",)),
    ]
    pex = make_pex(tmp_path / "t.pex", made)
    with zipfile.ZipFile(pex) as archive:
        distributions: dict[str, str] = json.loads(archive.read("PEX-INFO"))["distributions"]
    root = tmp_path / "root"
    for sub in ("installs", "tmp"):
        (root / sub).mkdir(parents=True)
    source = WheelSource(str(pex), distributions)
    plans = cache.plan_extraction(str(root), sorted(distributions), source, hashed=True)
    wheel = {name.split("-")[0]: name for name in distributions}
    assert overlap.required_names(next(p for p, w in plans if w == wheel["nat"])) == ["dep-one"]
    assert overlap.required_names(next(p for p, w in plans if w == wheel["dep_one"])) == []  # pure
    entries = {w: str(root / "installs" / distributions[w]) for w in distributions}
    names = [(entries[w], [relative for _, relative in p.members]) for p, w in plans]
    _, links = cache.site_plan(names)
    read, write = os.pipe()
    stop_read, stop_write = os.pipe()
    pairs = [(link, os.path.dirname(target)) for link, target in links.items()]
    beside = overlap.Beside(str(root), (read, stop_write), entries, plans, pairs)
    assert beside.closure[wheel["nat"]] == {wheel["nat"], wheel["dep_one"]}
    assert beside.closure[wheel["app"]] == {wheel["app"]}
    assert beside.modules["nat"] == {wheel["nat"]} and beside.modules["ns"] == {wheel["app"]}
    assert beside.modules["pkg_resources"] == set(distributions)
    assert overlap.module_key("ns/app_part") == "ns.app_part" and overlap.module_key("numpy.libs") == "numpy"
    assert overlap.module_key(so.split("/")[1]) == "_c" and wheels.normalize("Dep.One") == "dep-one"

    for w in (wheel["nat"], wheel["dep_one"]):  # in place: renamed there with the manifest
        os.mkdir(entries[w])
        (Path(entries[w]) / cache.MANIFEST).write_text("hatch-pex-manifest 2\n")
    os.write(write, overlap.IN_PLACE)
    beside.wait(beside.closure[wheel["nat"]], "import nat")
    assert wheel["nat"] not in beside.pending
    os.close(write)  # the extractor is gone without dep_two
    with pytest.raises(ImportError, match=rf"import dep_two: {wheel['dep_two']} could not be extracted"):
        beside.wait(beside.closure[wheel["dep_two"]], "import dep_two")
    os.close(read)
    os.close(stop_write)
    os.close(stop_read)
    source.close()


def test_ensure_entries_on_threads_commits_only_what_matched(tmp_path: Path) -> None:
    """Several wheels on several threads: each entry is renamed into place once its own sha256
    matched; a damaged one fails the start, naming it, and leaves nothing in tmp/."""
    pex, dep = _tiny_pex(tmp_path)
    root = tmp_path / "root"
    for sub in ("installs", "tmp"):
        (root / sub).mkdir(parents=True)
    with zipfile.ZipFile(pex) as archive:
        distributions: dict[str, str] = json.loads(archive.read("PEX-INFO"))["distributions"]
    assert len(distributions) == 2
    source = WheelSource(str(pex), distributions)
    manifests = cache.ensure_entries(str(root), sorted(distributions), source, workers=4)
    for name, (files, _, _) in zip(sorted(distributions), manifests):
        with zipfile.ZipFile(tmp_path / "wheels" / name) as wheel:
            assert sorted(files) == sorted(i.filename for i in wheel.infolist() if not i.is_dir())
    assert sorted(os.listdir(root / "installs")) == sorted(distributions.values())
    source.close()
    for installed in os.listdir(root / "installs"):
        cache.discard(str(root), str(root / "installs" / installed))
    damaged = {**distributions, dep.name: "0" * 64}
    source = WheelSource(str(pex), damaged)
    with pytest.raises(BootError, match=rf"\.deps/{dep.name} is damaged \(sha256 {distributions[dep.name]}"):
        cache.ensure_entries(str(root), sorted(damaged), source, workers=4)
    source.close()
    assert "0" * 64 not in os.listdir(root / "installs") and os.listdir(root / "tmp") == []


def test_site_directory_merges_entries(tmp_path: Path) -> None:
    """One link per top-level item; a directory in several entries (namespace package) becomes a real
    directory of links; the first entry wins a name; manifest, __pycache__ and .data stay out."""
    root = tmp_path / "root"
    layouts = {
        "a" * 64: ["ns/one/__init__.py", "six.py", "a-1.dist-info/METADATA", "a.pth", "a-1.data/scripts/x"],
        "b" * 64: ["ns/two/__init__.py", "six.py", "b-1.dist-info/METADATA", "__pycache__/six.pyc"],
    }
    entries = []
    for sha, files in layouts.items():
        entry = root / "installs" / sha
        for name in [*files, cache.MANIFEST]:
            (entry / name).parent.mkdir(parents=True, exist_ok=True)
            (entry / name).write_text(sha[0])
        entries.append((str(entry), [*files, cache.MANIFEST]))
    (root / "tmp").mkdir()
    made = cache.ensure_site(str(root), entries)
    assert made is not None
    site, owners = made
    first, second = (str(root / "installs" / sha) for sha in layouts)
    assert owners == {  # each link and the entry it leads into (guard.py finds manifests with it)
        "a-1.dist-info": first, "a.pth": first, "b-1.dist-info": second, "ns/one": first, "ns/two": second,
        "six.py": first,
    }  # fmt: skip
    links = tuple(sorted(owners))
    assert sorted(os.listdir(site)) == ["a-1.dist-info", "a.pth", "b-1.dist-info", "ns", "six.py"]
    assert not os.path.islink(os.path.join(site, "ns")) and os.path.islink(os.path.join(site, "ns", "one"))
    assert Path(site, "six.py").read_text() == "a"  # first entry wins
    assert os.path.realpath(os.path.join(site, "ns", "two")) == str(
        root / "installs" / ("b" * 64) / "ns" / "two"
    )
    assert cache.verify_site(site, links) is None
    assert cache.ensure_site(str(root), entries) == made  # reused
    os.unlink(os.path.join(site, "ns", "one"))
    assert cache.verify_site(site, links) == f"{site}/ns/one is missing"
    assert cache.ensure_site(str(root), entries) == made  # rebuilt
    assert cache.verify_site(site, links) is None
    assert os.listdir(root / "tmp") == []


def boot_hash(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_stale_tmp_dirs_are_removed(tmp_path: Path) -> None:
    (tmp_path / "tmp" / "old").mkdir(parents=True)
    (tmp_path / "tmp" / "new").mkdir()
    os.utime(tmp_path / "tmp" / "old", (1, 1))
    cache.clean_stale_tmp(str(tmp_path))
    assert os.listdir(tmp_path / "tmp") == ["new"]


def test_unwritable_root_falls_back_to_private_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("PEX_ROOT", str(tmp_path / "file" / "root"))  # below a file: cannot be created
    monkeypatch.setenv("TMPDIR", str(tmp_path / "t"))
    root = cache.writable_root()
    assert root == str(tmp_path / "t" / f"hatch-pex-{os.getuid()}")
    assert stat.S_IMODE(os.stat(root).st_mode) == 0o700
    assert boot.cache_roots() == [str(tmp_path / "file" / "root"), root]
    os.chmod(root, 0o755)  # no longer private: refused
    assert not boot.is_private_dir(root)
    with pytest.raises(BootError, match="not a directory owned by this user"):
        cache.writable_root()


def test_default_root_honours_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("PEX_ROOT", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert boot.cache_roots()[0] == str(tmp_path / "hatch-pex")
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert boot.cache_roots()[0] == str(tmp_path / "home" / ".cache" / "hatch-pex")


def test_pex_hash_scan_and_short_hash() -> None:
    digest = "ab" * 32
    assert boot.pex_hash_of(b'{"format": "x", "pex_hash": "' + digest.encode() + b'"}') == digest
    assert boot.pex_hash_of(b'{"pex_hash":"' + digest.encode() + b'","z":1}') == digest
    assert boot.pex_hash_of(b'{"pex_hash": null}') is None
    assert boot.pex_hash_of(b'{"pex_hash": "xyz"}') is None
    assert boot.pex_hash_of(b"{}") is None
    assert boot.short_hash(b"abc") == boot.short_hash(b"abc") != boot.short_hash(b"abd")
    assert len(boot.short_hash(b"x" * 5000)) == 16
    assert boot.interpreter_key().startswith(sys.implementation.cache_tag + "-")


# ---------------------------------------------------------------------------------------------- extraction


def test_target_path_maps_data_dirs_and_rejects_escapes() -> None:
    assert extract.target_path("a-1.data/purelib/a/x.py") == "a/x.py"
    assert extract.target_path("a-1.data/platlib/a/y.so") == "a/y.so"
    assert extract.target_path("a-1.data/scripts/run") == "a-1.data/scripts/run"
    assert extract.target_path("a/./b.py") == "a/b.py"
    assert extract.target_path("a/../b\u2028.txt") == "b\u2028.txt"
    for bad in ("../evil.py", "/etc/passwd", "a/../../x", "a\\b.py", "a\nb.py", "a-1.data/purelib/../../x"):
        with pytest.raises(BootError):
            extract.target_path(bad)


def test_unpack_keeps_exec_bits(tmp_path: Path) -> None:
    wheel = make_wheel(
        tmp_path,
        "w",
        "1",
        {"w/__init__.py": "", "w-1.data/purelib/w/extra.py": "", "w-1.data/scripts/go": "#!python\n"},
        modes={"w-1.data/scripts/go": 0o755},
    )
    dest = tmp_path / "out"
    dest.mkdir()
    files = {name: size for name, size, _ in extract.unpack_file(str(wheel), str(dest))}
    assert "w/extra.py" in files and "w-1.data/scripts/go" in files
    assert os.stat(dest / "w-1.data" / "scripts" / "go").st_mode & 0o111
    assert not os.stat(dest / "w" / "__init__.py").st_mode & 0o111


# ---------------------------------------------------------------------------------------------- isolation


def test_build_sys_path_modes() -> None:
    path = ["/py/lib/python312.zip", "/py/lib/python3.12", "/py/lib/python3.12/site-packages", "/user/site"]
    stdlib = ["/py/lib/python312.zip", "/py/lib/python3.12", "/py/lib/python3.12/lib-dynload"]
    std, site = path[:2], path[2:]
    assert isolation.build_sys_path(path, stdlib, ["/e1", "/e2"], "false", ["/x"]) == (
        [*std, "/e1", "/e2"],
        ["/x"],
    )
    assert isolation.build_sys_path(path, stdlib, ["/e1"], "prefer", []) == ([*std, *site, "/e1"], [])
    assert isolation.build_sys_path(path, stdlib, ["/e1"], "fallback", ["/x"]) == (
        [*std, "/e1"],
        [*site, "/x"],
    )


def test_foreign_modules_uses_deepest_sys_path_entry() -> None:
    def module(name: str, file: str | None, path: list[str] | None = None) -> types.ModuleType:
        mod = types.ModuleType(name)
        mod.__file__ = file
        if path is not None:
            mod.__path__ = path
        return mod

    stdlib = ["/py/lib/python3.12", "/py/lib/python3.12/lib-dynload"]
    dropped = ["/py/lib/python3.12/site-packages", "/extra"]
    modules = {
        "os": module("os", "/py/lib/python3.12/os.py"),
        "_json": module("_json", "/py/lib/python3.12/lib-dynload/_json.so"),
        "certifi": module("certifi", "/py/lib/python3.12/site-packages/certifi/__init__.py"),
        "nsp": module("nsp", None, ["/extra/nsp"]),
        "stray": module("stray", "/somewhere/stray.py"),
        "sys": module("sys", None),
        "__main__": module("__main__", "/app.pex/__main__.py"),
        isolation.PACKAGE + ".log": module("x", "/app.pex/.bootstrap/x.py"),
    }
    assert sorted(isolation.foreign_modules(modules, stdlib, dropped)) == ["certifi", "nsp", "stray"]


def test_process_pth(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "sub").mkdir()
    pth = tmp_path / "x.pth"
    pth.write_text("# comment\nsub\nmissing\nimport os; os.environ['HP_PTH_RAN'] = '1'\n")
    monkeypatch.setattr(sys, "path", [str(tmp_path)])
    monkeypatch.delenv("HP_PTH_RAN", raising=False)
    isolation.process_pth([str(pth)])
    assert sys.path == [str(tmp_path), str(tmp_path / "sub")]
    assert os.environ["HP_PTH_RAN"] == "1"


def test_stdlib_paths_cover_the_stdlib() -> None:
    paths = isolation.stdlib_paths()
    assert os.path.dirname(os.__file__) in paths
    assert not any(p.endswith(("site-packages", "dist-packages")) for p in paths)


# ---------------------------------------------------------------------------------------------- entry


def test_entry_point_parsing() -> None:
    assert entry.parse_entry_point("pkg.mod:main") == ("call", "pkg.mod:main")
    assert entry.parse_entry_point(" pkg.mod : Cls.run [extra] ") == ("call", "pkg.mod:Cls.run")
    assert entry.parse_entry_point("pkg.mod") == ("module", "pkg.mod")
    for bad in (":main", "pkg:", ""):
        with pytest.raises(BootError):
            entry.parse_entry_point(bad)
    text = "[console_scripts]\nfoo = a:b\n; c\n[gui_scripts]\ng=x:y\n[other]\nz = q:r\n"
    assert entry.parse_entry_points(text, ("console_scripts", "gui_scripts")) == [
        ("foo", "a:b"),
        ("g", "x:y"),
    ]


def test_script_lookup(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    (one / "a-1.dist-info").mkdir(parents=True)
    (one / "a-1.dist-info" / "entry_points.txt").write_text("[console_scripts]\nrun-a = a.cli:main\n")
    (two / "b-1.data" / "scripts").mkdir(parents=True)
    (two / "b-1.data" / "scripts" / "tool").write_text("print(1)\n")
    entries = [str(one), str(two)]
    assert entry.script_target("run-a", entries) == ("call", "a.cli:main")
    assert entry.script_target("tool", entries) == ("path", str(two / "b-1.data" / "scripts" / "tool"))
    with pytest.raises(BootError, match="available: run-a, tool"):
        entry.script_target("nope", entries)


MAIN_REPORT = """
import json, sys
def report(*args):
    main = sys.modules["__main__"]
    def annotated(x: int): pass
    print(json.dumps([getattr(main.__spec__, "name", None), main.__package__, getattr(main, "__file__", None),
                      sys.argv, annotated.__annotations__["x"] is int]))
"""


def test_main_module_of_a_call_and_a_plain_script(tmp_path: Path) -> None:
    """`__main__` as docs/runtime.md's table has it: for a call and a wheel's plain script, no spec and
    `__package__` None (the script's `__file__` is the script); sys.argv[0] left as it is (the pex path);
    the script compiled without the runtime's `from __future__ import annotations`."""
    (tmp_path / "target.py").write_text(MAIN_REPORT)
    script = tmp_path / "tool"
    script.write_text(MAIN_REPORT + "report()\n")
    for kind, value, file in (("call", "target:report", None), ("path", str(script), str(script))):
        code = (  # __main__ first made like the archive's stub: a spec named __main__, __package__ ''
            "import importlib.machinery, sys, __main__; __main__.__package__ = ''; "
            "__main__.__spec__ = importlib.machinery.ModuleSpec('__main__', None); "
            f"sys.path.insert(0, {str(tmp_path)!r}); sys.argv[0] = '/app.pex'; "
            f"from hatch_pex.bootstrap import entry; entry.run({kind!r}, {value!r})"
        )
        result = subprocess.run([sys.executable, "-c", code, "x"], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == [None, None, file, ["/app.pex", "x"], True], kind


# ---------------------------------------------------------------------------------------------- warm record


def _relative_imports(name: str) -> list[str]:
    """Runtime modules a module imports at its top level (what executing its code object needs)."""
    tree = ast.parse((BOOTSTRAP / f"{name}.py").read_text())
    found = []
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            found.extend([node.module] if node.module else [alias.name for alias in node.names])
    return [name for name in found if (BOOTSTRAP / f"{name}.py").is_file()]  # not names from __init__


def test_warm_modules_are_complete_and_in_dependency_order() -> None:
    order = list(record.WARM_MODULES)
    for position, name in enumerate(order):
        for dependency in _relative_imports(name):
            assert dependency in order[:position], f"{name} imports {dependency}: list it before {name}"
    # nothing the warm path imports is left out: the closure of launch is exactly the list
    closure, todo = set(), ["launch"]
    while todo:
        name = todo.pop()
        if name not in closure:
            closure.add(name)
            todo.extend(_relative_imports(name))
    assert closure == set(order)


def _all_relative_imports(name: str) -> set[str]:
    """Runtime modules a module imports anywhere (top level or inside a function): `from .x import`
    and `from . import x`, where x is a module (not a name of __init__)."""
    tree = ast.parse((BOOTSTRAP / f"{name}.py").read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            found.update([node.module] if node.module else [alias.name for alias in node.names])
    return {module for module in found if (BOOTSTRAP / f"{module}.py").is_file()}


def test_runtime_imports_form_no_cycle() -> None:
    """Modules import downward only: no runtime module imports one that (transitively) imports it back,
    and only __init__.boot imports launch (re-exec is reexec.py, for launch, resolve and the tools)."""
    graph = {p.stem: _all_relative_imports(p.stem) for p in BOOTSTRAP.glob("*.py") if p.stem != "main_stub"}
    assert {name for name, imports in graph.items() if "launch" in imports} == {"__init__"}
    state: dict[str, str] = {}  # "open" while its imports are walked, then "done"

    def walk(name: str, path: list[str]) -> None:
        state[name] = "open"
        for dependency in sorted(graph[name] - {"__init__"}):  # the package is loaded before any module
            assert state.get(dependency) != "open", " -> ".join([*path, name, dependency])
            if dependency not in state:
                walk(dependency, [*path, name])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            walk(name, [])


def test_code_cache_lists_every_runtime_module() -> None:
    from hatch_pex.bootstrap import codecache

    on_disk = {p.stem for p in BOOTSTRAP.glob("*.py")} - {"__init__", "main_stub"}
    assert set(codecache.RUNTIME_MODULES) == on_disk


def test_runtime_modules_use_relative_imports_only() -> None:
    for source in BOOTSTRAP.glob("*.py"):
        tree = ast.parse(source.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                assert not (node.module or "").startswith("hatch_pex"), source.name


def test_warm_path_imports_no_heavy_stdlib_modules() -> None:
    heavy = {
        "json",
        "re",
        "zipfile",
        "hashlib",
        "subprocess",
        "typing",
        "tempfile",
        "contextlib",
        "importlib.util",
    }
    for name in (*record.WARM_MODULES, "__init__"):
        tree = ast.parse((BOOTSTRAP / f"{name}.py").read_text())
        for node in tree.body:
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            assert not heavy.intersection(names), (name, names)


# ---------------------------------------------------------------------------------------------- bytecode


def test_pyc_written_despite_dont_write_bytecode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    installs = tmp_path / "installs"
    package = installs / "entry"
    package.mkdir(parents=True)
    (package / "mod_hp_test.py").write_text("VALUE = 41 + 1\n")
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    hook = path_hook(str(installs))
    with pytest.raises(ImportError):
        hook(str(tmp_path / "elsewhere"))
    spec = hook(str(package)).find_spec("mod_hp_test")
    assert spec is not None and isinstance(spec.loader, CachingSourceLoader)
    code = spec.loader.get_code("mod_hp_test")
    pyc = Path(importlib.util.cache_from_source(str(package / "mod_hp_test.py")))
    data = pyc.read_bytes()
    st = os.stat(package / "mod_hp_test.py")
    assert data[:16] == pyc_header(st.st_mtime, st.st_size)
    assert data[:4] == importlib.util.MAGIC_NUMBER and data[4:8] == b"\0\0\0\0"
    namespace: dict[str, object] = {}
    exec(code, namespace)
    assert namespace["VALUE"] == 42
    # the next load reads the .pyc instead of compiling: prove it by planting other code there
    pyc.write_bytes(data[:16] + marshal.dumps(compile("VALUE = 'from pyc'", "x", "exec")))
    planted: dict[str, object] = {}
    exec(spec.loader.get_code("mod_hp_test"), planted)
    assert planted["VALUE"] == "from pyc"


# ---------------------------------------------------------------------------------------------- whole starts


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PEX_", "PYTHON", "_HATCH_PEX"))}
    env.update({"PEX_ROOT": str(tmp_path / "root"), "PYTHONDONTWRITEBYTECODE": "1", **extra})
    return env


def _run(python: str | Path, pex: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), str(pex), *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_start_cold_then_warm_isolated(tmp_path: Path) -> None:
    pex, _ = _tiny_pex(tmp_path, inject_env={"TINY_INJECTED": "yes"})
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "tinydep.py").write_text("WHERE = 'PYTHONPATH'\n")
    env = _env(tmp_path, PYTHONPATH=str(shadow), PEX_VERBOSE="1")
    cold = _run(sys.executable, pex, "7", env=env)
    assert cold.returncode == 7, cold.stderr
    assert "dep pex" in cold.stdout and "argv ['7']" in cold.stdout and "env yes" in cold.stdout
    warm = _run(sys.executable, pex, env=env)
    assert warm.returncode == 0 and "warm start" in warm.stderr, warm.stderr
    assert list((tmp_path / "root" / "installs").glob("*/tinyapp/__pycache__/*.pyc"))


def test_errors_exit_2_without_traceback(tmp_path: Path) -> None:
    pex, _ = _tiny_pex(tmp_path)
    env = _env(tmp_path, PEX_SCRIPT="nope")
    result = _run(sys.executable, pex, env=env)
    assert result.returncode == 2
    assert (
        result.stderr
        == "hatch-pex: error: PEX_SCRIPT=nope: no such console script in this pex; available: tiny, tiny-tool\n"
    )
    strict, _ = _tiny_pex(tmp_path / "c", constraints=["<3"])
    result = _run(sys.executable, strict, env=_env(tmp_path, PATH=str(tmp_path / "empty")))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "does not satisfy <3" in result.stderr and sys.executable in result.stderr


def test_app_exception_gives_traceback_and_exit_1(tmp_path: Path) -> None:
    pex, _ = _tiny_pex(tmp_path)
    result = _run(sys.executable, pex, "boom", env=_env(tmp_path))
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "RuntimeError: boom" in result.stderr


def test_damaged_entry_is_rebuilt(tmp_path: Path) -> None:
    pex, dep = _tiny_pex(tmp_path)
    env = _env(tmp_path)
    assert _run(sys.executable, pex, env=env).returncode == 0
    (tmp_path / "root" / "installs" / boot_hash(dep) / "tinydep.py").unlink()
    result = _run(sys.executable, pex, env=env)
    assert result.returncode == 0 and "dep pex" in result.stdout, result.stderr


def test_concurrent_cold_starts_share_one_entry(tmp_path: Path) -> None:
    pex, _ = _tiny_pex(tmp_path)
    env = _env(tmp_path)
    procs = [
        subprocess.Popen([sys.executable, str(pex)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(8)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    installs = list((tmp_path / "root" / "installs").iterdir())
    assert len(installs) == 2 and all((e / cache.MANIFEST).is_file() for e in installs)
    assert os.listdir(tmp_path / "root" / "tmp") == []


def test_interpreter_mode_and_tools(tmp_path: Path) -> None:
    pex, _ = _tiny_pex(tmp_path, entry_point=None)
    env = _env(tmp_path)
    result = _run(
        sys.executable, pex, "-c", "import sys, tinydep; print(tinydep.WHERE, sys.argv)", "a", env=env
    )
    assert result.stdout == "pex ['-c', 'a']\n", result.stderr
    info = _run(sys.executable, pex, "info", "--raw", env={**env, "PEX_TOOLS": "1"})
    assert '"format": "hatch-pex/1"' in info.stdout
    venv = tmp_path / "venv"
    made = _run(sys.executable, pex, "venv", "--no-compile", str(venv), env={**env, "PEX_TOOLS": "1"})
    assert made.returncode == 0, made.stderr
    script = subprocess.run(
        [str(venv / "bin" / "tiny"), "3"], capture_output=True, text=True, env=env, check=False
    )
    assert script.returncode == 3 and "dep pex" in script.stdout
    assert (venv / "bin" / "tiny-tool").read_text().startswith(f"#!{venv / 'bin'}")


def test_runs_under_each_python(interpreter: Path, tmp_path: Path) -> None:
    pex, _ = _tiny_pex(tmp_path)
    for _ in range(2):  # cold, then warm
        result = _run(interpreter, pex, "5", env=_env(tmp_path))
        assert result.returncode == 5 and "dep pex" in result.stdout, result.stderr


def test_leftovers_of_a_killed_extraction_do_not_matter(tmp_path: Path) -> None:
    pex, dep = _tiny_pex(tmp_path)
    root = tmp_path / "root"
    partial = root / "installs" / boot_hash(dep)  # as if renamed without manifest: must be rebuilt
    partial.mkdir(parents=True)
    (partial / "tinydep.py").write_text("WHERE = 'half'\n")
    (root / "tmp" / "0123.999.1").mkdir(parents=True)  # an interrupted extraction
    (root / "tmp" / "0123.999.1" / "x.py").write_text("")
    result = _run(sys.executable, pex, env=_env(tmp_path))
    assert result.returncode == 0 and "dep pex" in result.stdout, result.stderr
    assert (partial / cache.MANIFEST).is_file()


def test_unwritable_root_second_start_is_warm(tmp_path: Path) -> None:
    pex, _ = _tiny_pex(tmp_path)
    (tmp_path / "file").write_text("")
    env = _env(
        tmp_path, PEX_ROOT=str(tmp_path / "file" / "root"), TMPDIR=str(tmp_path / "t"), PEX_VERBOSE="1"
    )
    first = _run(sys.executable, pex, env=env)
    assert first.returncode == 0 and "cannot be written" in first.stderr, first.stderr
    second = _run(sys.executable, pex, env=env)
    assert second.returncode == 0 and "warm start" in second.stderr, second.stderr
    assert str(tmp_path / "t" / f"hatch-pex-{os.getuid()}") in second.stderr


def test_reexec_under_a_fitting_interpreter(interpreters: dict[str, Path], tmp_path: Path) -> None:
    if "3.12" not in interpreters or "3.11" not in interpreters:
        pytest.skip("needs CPython 3.11 and 3.12")
    pex, _ = _tiny_pex(tmp_path, constraints=["==3.12.*"])
    env = _env(tmp_path, PEX_PYTHON=str(interpreters["3.12"]), PEX_VERBOSE="1")
    for _ in range(2):  # the second start execs at once, from the record of 3.11
        result = _run(interpreters["3.11"], pex, "4", env=env)
        assert result.returncode == 4 and "dep pex" in result.stdout, result.stderr
        assert f"re-executing under {interpreters['3.12']}" in result.stderr
    assert "found" not in result.stderr  # no probing the second time


def test_cache_tools(tmp_path: Path) -> None:
    pex, _ = _tiny_pex(tmp_path)
    env = _env(tmp_path)
    assert _run(sys.executable, pex, env=env).returncode == 0
    tools = {**env, "PEX_TOOLS": "1"}
    info = _run(sys.executable, pex, "cache", env=tools)
    assert info.returncode == 0, info.stderr
    assert "installs: 2 entries" in info.stdout and "pexes: 1 warm records" in info.stdout
    kept = _run(sys.executable, pex, "cache", "prune", env=tools)
    assert "removed 0 pex records" in kept.stdout and "2 entries still in use" in kept.stdout
    pruned = _run(sys.executable, pex, "cache", "prune", "--older-than", "0", env=tools)
    assert "removed 1 pex records" in pruned.stdout and "2 install entries" in pruned.stdout
    assert os.listdir(tmp_path / "root" / "installs") == []
    bad = _run(sys.executable, pex, "cache", "prune", "--older-than", "x", env=tools)
    assert bad.returncode == 2 and bad.stderr.startswith("hatch-pex: error: usage: cache prune")
    extracted = _run(sys.executable, pex, "extract", str(tmp_path / "x"), env=tools)
    assert extracted.returncode == 0
    assert (tmp_path / "x" / "tinydep-2.0-py3-none-any" / "tinydep.py").is_file()
    assert (tmp_path / "x" / "tinydep-2.0-py3-none-any.whl").is_file()
    assert _run(sys.executable, pex, "nope", env=tools).returncode == 2


# ---------------------------------------------------------------------------------------------- trust


def test_contained_refuses_escapes_and_unsafe_names(tmp_path: Path) -> None:
    base = str(tmp_path)
    assert trust.contained(base, "a/./b/../c.txt") == os.path.join(base, "a", "c.txt")
    assert trust.contained(base, "line\u2028sep.txt") == os.path.join(base, "line\u2028sep.txt")
    for bad in ("../x", "a/../../x", "/etc/passwd", "", ".", "a\\b", "a\nb", "a\0b"):
        with pytest.raises(BootError) as error:
            trust.contained(base, bad, "console script name")
        assert repr(bad) in str(error.value) and "console script name" in str(error.value)


def test_create_never_writes_through_a_planted_name(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    planted = tmp_path / "new.txt"
    planted.symlink_to(victim)
    with pytest.raises(FileExistsError):
        trust.create(str(planted))
    assert victim.read_text() == "precious"
    # write_atomic replaces a symlink at the final name itself, never what it points to
    assert bytecode.write_atomic(str(planted), b"fresh")
    assert victim.read_text() == "precious" and not planted.is_symlink() and planted.read_bytes() == b"fresh"


def test_files_and_directories_made_are_never_group_or_world_writable(tmp_path: Path) -> None:
    old = os.umask(0o002)
    try:
        trust.make_dirs(str(tmp_path / "a" / "b" / "c"))
        os.close(trust.create(str(tmp_path / "a" / "f"), executable=True))
    finally:
        os.umask(old)
    for path in (tmp_path / "a", tmp_path / "a" / "b", tmp_path / "a" / "b" / "c"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o755, path
    assert stat.S_IMODE((tmp_path / "a" / "f").stat().st_mode) == 0o755


def test_trusted_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir(mode=0o755)
    assert trust.trusted_root(str(root))[1] is None
    assert trust.trusted_root(str(tmp_path / "not-yet"))[1] is None  # made (and checked) later
    (root / "installs").mkdir()
    os.chmod(root / "installs", 0o777)
    assert "installs is owned by uid" in (trust.trusted_root(str(root), ("installs",))[1] or "")
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)  # like /tmp: others may write, but not rename what is ours
    (shared / "mine").mkdir(mode=0o755)
    assert trust.trusted_root(str(shared / "mine"))[1] is None
    os.chmod(shared, 0o777)  # without the sticky bit anybody could swap "mine" for their own
    assert "above it" in (trust.trusted_root(str(shared / "mine"))[1] or "")
    os.chmod(shared, 0o775)  # group write above the root: ~/.cache under a umask of 002
    assert trust.trusted_root(str(shared / "mine"))[1] is None
    if os.getuid() == 0:
        os.chown(root, 65534, 65534)
        assert "owned by uid 65534" in (trust.trusted_root(str(root))[1] or "")
        assert trust.read_owned(str(root)) is None


# A SIGINT whose handler runs while the main thread's blocking call goes on: what a SIGINT that lands
# just before that call's system call starts does. Sent to a thread of our own, so that the main
# thread's call is not interrupted; then the code `HP_CODE` runs on the main thread.
HANDLED_LATE = """\
import os, signal, sys, threading, time
sys.path.insert(0, os.environ["HP_SOURCE"])
def late():
    time.sleep(float(os.environ["HP_AFTER"]))
    signal.pthread_kill(threading.get_ident(), signal.SIGINT)
threading.Thread(target=late, daemon=True).start()
started = time.monotonic()
try:
    exec(compile(os.environ["HP_CODE"], "<HP_CODE>", "exec"))  # exec(str) would make the exit a SIGINT
except KeyboardInterrupt:
    print("interrupted after", round(time.monotonic() - started, 1))
"""


def _handled_late(code: str, after: float, timeout: float = 30) -> str:
    env = {**os.environ, "HP_SOURCE": str(BOOTSTRAP.parent.parent), "HP_CODE": code, "HP_AFTER": str(after)}
    done = subprocess.run(
        [sys.executable, "-c", HANDLED_LATE], env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0 and not done.stderr, (done.returncode, done.stderr)
    return done.stdout


def test_run_probe_notices_a_sigint_its_wait_missed_and_reaps_the_child(tmp_path: Path) -> None:
    """A probe that never answers: the ^C ends the wait within a slice, not when the probe's timeout
    expires, and the child is killed and reaped before the KeyboardInterrupt goes on."""
    pid_file = tmp_path / "pid"
    slow = tmp_path / "slow"
    slow.write_text(f"#!/bin/sh\necho $$ > '{pid_file}'\nexec sleep 60\n")
    slow.chmod(0o755)
    code = (
        "from hatch_pex.bootstrap.interpreter import run_probe\n"
        f"try:\n    run_probe([{str(slow)!r}], 50)\n"
        "finally:\n"
        f"    pid = int(open({str(pid_file)!r}).read())\n"
        "    print('reaped' if not os.path.exists(f'/proc/{pid}') else open(f'/proc/{pid}/stat').read())\n"
    )
    out = _handled_late(code, after=1.0)
    assert out.split()[0] == "reaped", out
    assert out.split()[1:3] == ["interrupted", "after"] and float(out.split()[3]) < 10, out


def test_run_probe_output_exit_status_and_timeout(tmp_path: Path) -> None:
    from hatch_pex.bootstrap.interpreter import run_probe

    code = "import sys, time; time.sleep(0.3); print('out'); sys.exit('err')"
    assert run_probe([sys.executable, "-c", code], 30) == (1, "out\n", "err\n")  # waited for in slices
    started = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired, match=r"timed out after 0\.5 seconds"):
        run_probe(["sleep", "30"], 0.5)
    assert time.monotonic() - started < 10


def test_a_cold_start_waits_for_prune_and_notices_a_sigint_meanwhile(tmp_path: Path) -> None:
    """hold_shared(wait=True) while prune holds the whole lock: it gets its byte once prune is done, and
    a ^C meanwhile ends the wait at once, even one its wait did not see."""
    lock = str(tmp_path / "prune.lock")
    code = f"from hatch_pex.bootstrap import locks\nfd, ok = locks.hold_shared({lock!r}, wait=True)\nprint(ok, fd)"
    prune = locks.hold_exclusive(lock, wait=False)
    assert prune is not None
    try:
        out = _handled_late(code, after=0.5)
        assert out.split()[:2] == ["interrupted", "after"] and float(out.split()[2]) < 10, out
        waiter = subprocess.Popen(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONPATH": str(BOOTSTRAP.parent.parent)},
            stdout=subprocess.PIPE,
            text=True,
        )
        time.sleep(0.5)
        assert waiter.poll() is None  # still waiting for prune
    finally:
        locks.release(prune)
    out, _ = waiter.communicate(timeout=30)
    assert out.split()[0] == "True" and out.split()[1] != "None", out


def test_read_owned_refuses_symlinks_and_files_others_can_write(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.write_bytes(b"data")
    mine.chmod(0o644)
    assert trust.read_owned(str(mine)) == b"data"
    (tmp_path / "link").symlink_to(mine)
    assert trust.read_owned(str(tmp_path / "link")) is None
    mine.chmod(0o666)
    assert trust.read_owned(str(mine)) is None


def test_use_locks_between_processes(tmp_path: Path) -> None:
    """A process holding a byte of the lock (a running pex) keeps prune's exclusive lock away; once it
    ends, the kernel releases it. Real processes: POSIX locks are per process."""
    lock = tmp_path / "record.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from hatch_pex.bootstrap import locks; "
         "fd, ok = locks.hold_shared(sys.argv[1]); print(ok, fd is not None, flush=True); sys.stdin.read()",
         str(lock)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=str(Path(__file__).parent.parent),
    )  # fmt: skip
    assert holder.stdout is not None and holder.stdin is not None
    assert holder.stdout.readline().split() == ["True", "True"]
    second = subprocess.run(
        [sys.executable, "-c", "import sys; from hatch_pex.bootstrap import locks; "
         "fd, ok = locks.hold_shared(sys.argv[1]); print(ok, fd is not None)", str(lock)],
        capture_output=True, text=True, cwd=str(Path(__file__).parent.parent), check=True,
    )  # fmt: skip
    assert second.stdout.split() == ["True", "True"]  # shared: several pex files run at once
    assert locks.hold_exclusive(str(lock), wait=False) is None
    holder.stdin.close()
    holder.wait()
    fd = locks.hold_exclusive(str(lock), wait=False)
    assert fd is not None
    locks.release(fd)


def test_guard_finds_the_manifest_of_a_path(tmp_path: Path) -> None:
    """guard.py: which entry and manifest line a path under the site or an entry is, through the
    site's links (merged namespace directories too); what a changed, foreign or deleted file is."""
    from hatch_pex.bootstrap.guard import Guard

    first, second = tmp_path / "installs" / "a", tmp_path / "installs" / "b"
    (first / "pkg").mkdir(parents=True)
    (first / "pkg" / "__init__.py").write_text("x = 1\n")
    init = os.stat(first / "pkg" / "__init__.py")
    manifests = [
        (["pkg/__init__.py", "pkg/gone.py", "six.py"], [init.st_size, 3, 4], [init.st_mtime_ns, 1, 2]),
        (["ns/two/__init__.py", "django/db/x.py"], [1, 2], [1, 2]),
    ]
    entries = [(str(d), f"{d.name}.whl", marshal.dumps(m)) for d, m in zip((first, second), manifests)]
    site = str(tmp_path / "sites" / "k")
    links = [("pkg", 0), ("six.py", 0), ("ns/two", 1), ("django", 1)]
    guard = Guard("app.pex", b"", str(tmp_path), "", entries, site, links)
    assert guard.locate(f"{site}/ns/two/x/y.py") == (str(second), "ns/two/x/y.py")
    assert guard.locate(f"{site}/django/db/x.py") == (str(second), "django/db/x.py")
    assert guard.locate(f"{site}/six.py") == (str(first), "six.py")
    assert guard.locate(f"{site}/ns") is None and guard.locate(f"{site}/other.py") is None
    assert guard.locate(f"{first}/pkg/__init__.py") == (str(first), "pkg/__init__.py")
    assert guard.locate(f"{first}x/pkg/__init__.py") is None  # a sibling with the same prefix
    path = f"{site}/pkg/__init__.py"
    assert guard.file_problem(path, init) is None
    assert guard.file_problem(f"{site}/six.py", init) == (
        str(first),
        f"six.py was changed since it was extracted ({init.st_size} bytes, 4 expected)",
    )
    foreign = os.stat_result((init.st_mode | 0o002, *init[1:]))
    assert guard.file_problem(path, foreign) == (
        str(first),
        "pkg/__init__.py could be written by another user",
    )
    assert guard.file_problem(f"{site}/pkg/new.py", init) is None  # the app's own file: only ours
    assert guard.missing(f"{site}/pkg", "gone") == (str(first), "pkg/gone.py is missing")
    assert guard.missing(site, "pkg") == (str(first), "pkg/__init__.py is missing")
    assert guard.missing(f"{site}/pkg", "never") is None and guard.missing(site, "json") is None


# --------------------------------------------------------------------------------------------------
# Compiling ahead of the application (ahead.py)
# --------------------------------------------------------------------------------------------------

AHEAD_SOURCE = """
import os, a.b.c as q
from x.y import z, w
from . import sibling
from .mod import f
from ..up import g
try:
    import json
except ImportError:
    pass
def later():
    import never_followed
"""


def test_the_import_scanner_reads_module_level_imports_in_order() -> None:
    """Absolute names in the order the code imports them; `from m import n` gives m then m.n; relative
    imports resolved against the package; a function's imports left out (they run later, if ever)."""
    code = compile(AHEAD_SOURCE, "t.py", "exec")
    assert ahead.ImportScanner().imports(code, "pkg.sub") == [
        "os", "a.b.c", "x.y", "x.y.z", "x.y.w", "pkg.sub", "pkg.sub.sibling", "pkg.sub.mod",
        "pkg.sub.mod.f", "pkg.up", "pkg.up.g", "json",
    ]  # fmt: skip
    assert ahead.ImportScanner().imports(compile("from ... import x", "t.py", "exec"), "top") == []


def test_the_walk_compiles_in_import_order_as_the_loader_would(tmp_path: Path) -> None:
    """Depth first as Python runs imports (a package before its modules, a module's imports before its
    next statement); each .pyc is the one CachingSourceLoader reads back; a .pyc already there is read,
    not rewritten; a module that does not compile is left to the application; `stopped` ends the walk."""
    site = tmp_path / "site"
    (site / "app").mkdir(parents=True)
    (site / "app" / "__init__.py").write_text("")
    (site / "app" / "main.py").write_text("import os\nfrom app import first\nimport second\nimport broken\n")
    (site / "app" / "first.py").write_text("from . import deep\n")
    (site / "app" / "deep.py").write_text("VALUE = 1\n")
    (site / "second.py").write_text("import app.first\n")
    (site / "broken.py").write_text("def (:\n")
    order: list[str] = []
    real = ahead._compiled

    def spy(path: str) -> tuple[types.CodeType, bool] | None:
        order.append(os.path.relpath(path, site))
        return real(path)

    ahead._compiled = spy  # type: ignore[assignment]
    try:
        assert list(ahead._walk(str(site), "app.main", lambda: False)) == [True] * 5
        assert order == [
            "app/__init__.py", "app/main.py", "app/first.py", "app/deep.py", "second.py", "broken.py",
        ]  # fmt: skip
        order.clear()
        assert list(ahead._walk(str(site), "app.main", lambda: False)) == [False] * 5  # read back
        calls: list[int] = []
        assert (
            list(ahead._walk(str(site), "app.main", lambda: calls.append(1) or len(calls) > 2)) == [False] * 2
        )
    finally:
        ahead._compiled = real  # type: ignore[assignment]
    sys.path.insert(0, str(site))
    sys.path_hooks.insert(0, path_hook(str(site)))
    sys.path_importer_cache.pop(str(site), None)
    try:
        deep = str(site / "app" / "deep.py")
        loader = CachingSourceLoader("app.deep", deep)
        pyc = importlib.util.cache_from_source(deep)
        inode = os.stat(pyc).st_ino
        assert loader.get_code("app.deep").co_filename == deep
        assert os.stat(pyc).st_ino == inode  # read, not compiled and written again
    finally:
        sys.path.remove(str(site))
        sys.path_hooks.pop(0)
        sys.path_importer_cache.pop(str(site), None)
    assert not os.path.exists(importlib.util.cache_from_source(str(site / "broken.py")))
