"""`exclude`, `dependency-groups` and `args`: their validation, the PEP 735 expansion, the pruning of a
closure by its wheels' Requires-Dist, and the runtime's argument injection."""

from __future__ import annotations

import os
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from hatch_pex.builder import PexBuilder
from hatch_pex.exclude import prune, requirements_file_lines, requires_dist
from hatch_pex.groups import GroupError, expand, group_table
from hatch_pex.platforms import Platform
from hatch_pex.resolve import Closure, Distribution

FIELD = "tool.hatch.build.targets.pex"
GROUPS = {
    "Test_Utils": ["hp-pure>=1", {"include-group": "native"}],
    "native": ["hp-native; python_version >= '3.9'"],
    "all": [{"include-group": "test-utils"}, {"include-group": "NATIVE"}, "certifi"],
}


def make_builder(
    tmp_path: Path, target: dict[str, Any], groups: Any = None, scripts: dict[str, str] | None = None
) -> PexBuilder:
    raw: dict[str, Any] = {
        "project": {
            "name": "My_App",
            "version": "1.2.3",
            "requires-python": ">=3.9",
            "scripts": {"one": "my_app.cli:one"} if scripts is None else scripts,
        },
        "tool": {"hatch": {"build": {"targets": {"pex": target}}}},
    }
    if groups is not None:
        raw["dependency-groups"] = groups
    return PexBuilder(str(tmp_path), config=raw)


def error_of(builder: PexBuilder) -> str:
    with pytest.raises((TypeError, ValueError)) as caught:
        builder.config.validate()
    return str(caught.value)


# -- configuration ---------------------------------------------------------------------------------


def test_defaults(tmp_path: Path) -> None:
    config = make_builder(tmp_path, {}).config
    config.validate()
    assert config.exclude == []
    assert config.dependency_groups == []
    assert config.dependency_group_requirements == []
    assert config.args == []


def test_accepted_values(tmp_path: Path) -> None:
    config = make_builder(
        tmp_path,
        {
            "exclude": ["HP_Requires.Pure", "certifi"],
            "dependency-groups": ["ALL", "native"],
            "args": ["--flag", "", "two words"],
        },
        GROUPS,
    ).config
    config.validate()
    assert config.exclude == ["certifi", "hp-requires-pure"]
    assert config.dependency_groups == ["all", "native"]
    # includes followed, in order, each requirement once
    assert config.dependency_group_requirements == [
        "hp-pure>=1",
        "hp-native; python_version >= '3.9'",
        "certifi",
    ]
    assert config.args == ["--flag", "", "two words"]


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("exclude", "hp-pure", "must be an array of strings"),
        ("exclude", ["hp-pure", 3], "Entry #2"),
        ("exclude", [""], "Entry #1"),
        ("exclude", ["tests/*.py"], "must be a distribution name such as 'requests', not 'tests/*.py'"),
        ("exclude", ["hp-pure>=1"], "must be a distribution name"),
        ("exclude", ["my-app"], "names the project itself ('my-app')"),
        ("exclude", ["MY.APP"], "names the project itself"),
        ("exclude", ["hp-pure", "HP_Pure"], "names 'HP_Pure' twice"),
        ("dependency-groups", "all", "must be an array of strings"),
        (
            "dependency-groups",
            ["nope"],
            "unknown dependency group 'nope'; known groups: all, native, test-utils",
        ),
        ("dependency-groups", ["all", "ALL"], "names a group twice"),
        ("args", "--flag", "must be an array of strings"),
        ("args", ["--flag", 1], "Entry #2 of field"),
        ("args", ["a\0b"], "must not contain a NUL character"),
    ],
)
def test_bad_values_name_the_field(tmp_path: Path, key: str, value: Any, expected: str) -> None:
    message = error_of(make_builder(tmp_path, {key: value}, GROUPS))
    assert f"`{FIELD}.{key}`" in message
    assert expected in message


@pytest.mark.parametrize(
    ("groups", "expected"),
    [
        (
            None,
            "unknown dependency group 'dev'; known groups: none: pyproject.toml has no [dependency-groups]",
        ),
        (
            {"dev": [{"include-group": "lint"}], "lint": [{"include-group": "dev"}]},
            "cycle: dev -> lint -> dev",
        ),
        ({"dev": [{"include-group": "Dev"}]}, "cycle: dev -> dev"),
        ({"dev": [{"include-group": "missing"}]}, "unknown dependency group 'missing' (included by 'dev')"),
        ({"dev": ["not a requirement!!"]}, "item #1 of dependency group 'dev' is not a valid PEP 508"),
        ({"dev": [{"include-group": "x", "extra": 1}]}, "must be a requirement string or {include-group"),
        ({"dev": "hp-pure"}, "dependency group 'dev' of pyproject.toml must be an array"),
        ({"dev": [], "DEV": []}, "names one group twice: 'dev' and 'DEV' both normalize to 'dev'"),
        ({"dev": [], "bad name": []}, "invalid group name: 'bad name'"),
    ],
)
def test_bad_groups_name_the_field(tmp_path: Path, groups: Any, expected: str) -> None:
    message = error_of(make_builder(tmp_path, {"dependency-groups": ["dev"]}, groups))
    assert f"`{FIELD}.dependency-groups`" in message
    assert expected in message


def test_args_need_an_entry_point(tmp_path: Path) -> None:
    message = error_of(make_builder(tmp_path, {"args": ["-v"]}, scripts={}))
    assert f"`{FIELD}.args` needs something to run" in message
    make_builder(tmp_path, {"args": ["-v"], "module": "my_app"}, scripts={}).config.validate()


def test_groups_join_the_requirements_and_the_lock_inputs(tmp_path: Path) -> None:
    plain = make_builder(tmp_path, {}, GROUPS)
    grouped = make_builder(tmp_path, {"dependency-groups": ["native"]}, GROUPS)
    assert grouped._dependency_requirements() == ["hp-native; python_version >= '3.9'"]
    assert grouped._requirements("/w/my_app.whl") == ["/w/my_app.whl", "hp-native; python_version >= '3.9'"]
    # a lock written without the group is out of date once the group is asked for
    assert plain._lock_inputs() != grouped._lock_inputs()
    # ...while excluding only changes what goes into the file, not what the lock resolved
    excluding = make_builder(tmp_path, {"exclude": ["hp-native"]}, GROUPS)
    assert excluding._lock_inputs() == plain._lock_inputs()


def test_expand_keeps_order_and_reports_unknown_includes() -> None:
    groups = group_table({"dependency-groups": GROUPS})
    assert list(groups) == ["test-utils", "native", "all"]
    assert expand(groups, ["native", "test_utils"]) == ["hp-native; python_version >= '3.9'", "hp-pure>=1"]
    with pytest.raises(GroupError, match="unknown dependency group 'other'"):
        expand(groups, ["other"])


# -- pruning the closure ---------------------------------------------------------------------------


def make_wheel(directory: Path, name: str, requires: list[str], extras: Sequence[str] = ()) -> Distribution:
    """A real wheel file whose METADATA declares `requires` (Requires-Dist) and `extras`."""
    stem = name.replace("-", "_")
    dist_info = f"{stem}-1.0.dist-info"
    metadata = ["Metadata-Version: 2.1", f"Name: {name}", "Version: 1.0"]
    metadata += [f"Provides-Extra: {extra}" for extra in extras]
    metadata += [f"Requires-Dist: {requirement}" for requirement in requires]
    path = directory / f"{stem}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr(f"{stem}/__init__.py", "")
        wheel.writestr(f"{dist_info}/METADATA", "\n".join(metadata) + "\n")
        wheel.writestr(f"{dist_info}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
    return Distribution(name, "1.0", str(path), "0" * 64)


@pytest.fixture
def graph(tmp_path: Path) -> dict[str, Distribution]:
    """app -> lib[extra] -> (shared, only-lib, via-extra); app -> shared; app -> old-only on 3.9;
    lib -> never (a marker false everywhere)."""
    wheels = [
        make_wheel(tmp_path, "app", ["lib[extra]", "shared", "old-only; python_version < '3.10'"]),
        make_wheel(
            tmp_path,
            "lib",
            ["shared", "only-lib>=1", "via-extra; extra == 'extra'", "never; sys_platform == 'nope'"],
            ["extra"],
        ),
        make_wheel(tmp_path, "shared", []),
        make_wheel(tmp_path, "only-lib", ["deep"]),
        make_wheel(tmp_path, "deep", ["only-lib"]),  # a cycle
        make_wheel(tmp_path, "via-extra", []),
        make_wheel(tmp_path, "old-only", []),
        make_wheel(tmp_path, "never", []),
        make_wheel(tmp_path, "top", []),  # required by no one: a requirement of the project's
    ]
    return {d.name: d for d in wheels}


def closure_of(graph: dict[str, Distribution], platforms: dict[str, list[str]]) -> Closure:
    sets = {text: sorted(graph[name].filename for name in names) for text, names in platforms.items()}
    return Closure(sorted(graph.values(), key=lambda d: d.name), sets)


def test_requires_dist_reads_the_metadata(graph: dict[str, Distribution]) -> None:
    assert [str(r) for r in requires_dist(graph["app"].wheel)] == [
        "lib[extra]",
        "shared",
        'old-only; python_version < "3.10"',
    ]


def test_prune_leaves_out_what_only_the_excluded_need(graph: dict[str, Distribution]) -> None:
    old, new = Platform.local("3.9"), Platform.local("3.12")
    everything = list(graph)
    closure = closure_of(graph, {old.text: everything, new.text: [n for n in everything if n != "old-only"]})
    pruned = prune(closure, [old, new], ["app"], ["LIB"])
    names = {
        text: sorted(f.split("-")[0] for f in files) for text, files in pruned.closure.platform_sets.items()
    }
    # `never` (required by nothing here: its marker is false) stays as the resolver chose it
    assert names[old.text] == ["app", "never", "old_only", "shared", "top"]
    assert names[new.text] == ["app", "never", "shared", "top"]
    assert pruned.left_out[new.text] == ["deep", "lib", "only-lib", "via-extra"]
    assert pruned.found == {"lib"}
    assert sorted(d.name for d in pruned.closure.distributions) == [
        "app",
        "never",
        "old-only",
        "shared",
        "top",
    ]


def test_prune_follows_markers_and_extras_of_each_platform(graph: dict[str, Distribution]) -> None:
    old, new = Platform.local("3.9"), Platform.local("3.12")
    closure = closure_of(graph, {old.text: list(graph), new.text: list(graph)})
    pruned = prune(closure, [old, new], ["app"], ["old-only"])
    assert pruned.left_out == {old.text: ["old-only"], new.text: ["old-only"]}
    # reached only through lib's extra, which app asks for
    pruned = prune(closure, [old, new], ["app"], ["via-extra"])
    assert pruned.left_out[new.text] == ["via-extra"]
    # excluding `never` removes it although nothing needs it anywhere
    pruned = prune(closure, [old, new], ["app"], ["never"])
    assert pruned.left_out[new.text] == ["never"]
    # a project that asks for lib without its extra: via-extra was never needed, and stays
    closure = closure_of(graph, {new.text: [name for name in graph if name != "app"]})
    pruned = prune(closure, [new], ["lib", "shared"], ["only-lib"])
    assert pruned.left_out[new.text] == ["deep", "only-lib"]
    pruned = prune(closure, [new], ["lib", "shared"], ["lib"])
    assert pruned.left_out[new.text] == ["deep", "lib", "only-lib"]


def test_roots_keep_what_the_project_itself_requires(graph: dict[str, Distribution]) -> None:
    new = Platform.local("3.12")
    closure = closure_of(graph, {new.text: list(graph)})
    pruned = prune(closure, [new], ["app", "only-lib"], ["lib"])
    assert "only-lib" not in pruned.left_out[new.text]
    assert "deep" not in pruned.left_out[new.text]
    # a root whose marker is false on the platform keeps nothing
    pruned = prune(closure, [new], ["app", "only-lib; python_version < '3.10'"], ["lib"])
    assert "only-lib" in pruned.left_out[new.text]


def test_excluded_names_missing_from_the_closure_are_not_found(graph: dict[str, Distribution]) -> None:
    new = Platform.local("3.12")
    pruned = prune(closure_of(graph, {new.text: ["app", "shared"]}), [new], ["app"], ["lib", "nothing"])
    assert pruned.found == set()


def test_requirements_file_lines(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "more.txt").write_text("shared==1.0 \\\n  --hash=sha256:abc\n-r ../main.txt\n")
    (tmp_path / "main.txt").write_text(
        "# a comment\n"
        "--index-url https://example.invalid/simple\n"
        "-c constraints.txt\n"
        "lib[extra]>=1 ; python_version >= '3.9'  # trailing comment\n"
        "--requirement=sub/more.txt\n"
        "https://example.invalid/files/only_lib-1.0-py3-none-any.whl\n"
        "./local/deep-2.0.tar.gz\n"
        "-e ./editable\n"
        "./some-directory\n"
    )
    assert requirements_file_lines([os.path.join(tmp_path, "main.txt")]) == [
        'lib[extra]>=1; python_version >= "3.9"',
        "shared==1.0",
        "only-lib",
        "deep",
    ]


# -- the runtime's argument injection --------------------------------------------------------------


@pytest.mark.parametrize(
    ("environment", "entry_point", "expected"),
    [
        ({}, "app:main", ["app.pex", "--injected", "two words", "user"]),
        ({}, None, ["app.pex", "user"]),
        ({"PEX_MODULE": "other"}, "app:main", ["app.pex", "user"]),
        ({"PEX_SCRIPT": "other"}, "app:main", ["app.pex", "user"]),
        ({"PEX_INTERPRETER": "1"}, "app:main", ["app.pex", "user"]),
        ({"PEX_INTERPRETER": "0"}, "app:main", ["app.pex", "--injected", "two words", "user"]),
    ],
)
def test_inject_args(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], entry_point: str | None, expected: list[str]
) -> None:
    from hatch_pex.bootstrap import entry

    for name in ("PEX_MODULE", "PEX_SCRIPT", "PEX_INTERPRETER"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "argv", ["app.pex", "user"])
    entry.inject_args(("--injected", "two words"), entry_point)
    assert sys.argv == expected


def test_the_wait_for_a_resolution_lets_a_signal_end_the_build() -> None:
    """A signal whose C handler runs while the main thread waits for a resolution (here delivered to
    another thread, as it may land just before a long wait begins) runs its Python handler within a
    slice of result_in_slices, not when the resolution ends (never, against an index that holds)."""
    import signal
    import threading
    import time
    from concurrent.futures import Future

    from hatch_pex.resolve import result_in_slices

    class Ended(Exception):
        pass

    def ended(number: int, frame: object) -> None:
        raise Ended

    never: Future[int] = Future()
    ready, done = threading.Event(), threading.Event()
    other = threading.Thread(target=lambda: (ready.set(), done.wait(30)))
    previous = signal.signal(signal.SIGUSR1, ended)
    try:
        other.start()
        ready.wait(5)
        timer = threading.Timer(0.3, signal.pthread_kill, (other.ident, signal.SIGUSR1))
        timer.start()
        started = time.monotonic()
        with pytest.raises(Ended):
            result_in_slices(never)
        assert time.monotonic() - started < 10
    finally:
        done.set()
        other.join()
        signal.signal(signal.SIGUSR1, previous)
