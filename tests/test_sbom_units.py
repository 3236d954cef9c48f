"""The SBOM's pure logic (sbom.py): the licence a wheel declares, purls, the dependency graph over
several platforms, and a document that validates and comes out the same for the same inputs."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.model.license import DisjunctiveLicense, LicenseExpression
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from hatch_pex.archive import PARTIAL_MARKER
from hatch_pex.platforms import Platform
from hatch_pex.resolve import Closure, Distribution
from hatch_pex.sbom import (
    Project,
    classifier_license,
    dependency_graph,
    licenses,
    purl,
    sbom_document,
    write_side_file,
)

PY39 = Platform.local("3.9")
PY312 = Platform.local("3.12")


def make_wheel(
    directory: Path,
    name: str,
    version: str = "1.0",
    requires: Sequence[str] = (),
    headers: Sequence[str] = (),
) -> Distribution:
    """A real wheel file whose METADATA has `requires` (Requires-Dist) and other `headers`."""
    stem = name.replace("-", "_")
    dist_info = f"{stem}-{version}.dist-info"
    metadata = ["Metadata-Version: 2.4", f"Name: {name}", f"Version: {version}", *headers]
    metadata += [f"Requires-Dist: {requirement}" for requirement in requires]
    path = directory / f"{stem}-{version}-py3-none-any.whl"
    directory.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr(f"{stem}/__init__.py", "")
        wheel.writestr(f"{dist_info}/METADATA", "\n".join(metadata) + "\n")
    return Distribution(name, version, str(path), hashlib.sha256(path.read_bytes()).hexdigest())


def described(found: list[Any]) -> list[str]:
    """Each licence as `id:X`, `name:X` or `expression:X`."""
    out = []
    for item in found:
        if isinstance(item, LicenseExpression):
            out.append(f"expression:{item.value}")
        else:
            assert isinstance(item, DisjunctiveLicense)
            out.append(f"id:{item.id}" if item.id else f"name:{item.name}")
    return out


# -- licences --------------------------------------------------------------------------------------


def test_license_expression_comes_first() -> None:
    found = licenses("MIT OR Apache-2.0", ["License :: OSI Approved :: BSD License"], "GPL", "x")
    assert described(found) == ["expression:MIT OR Apache-2.0"]
    assert described(licenses("BSD-3-Clause", [], "", "x")) == ["id:BSD-3-Clause"]


def test_classifiers_come_before_the_license_field() -> None:
    classifiers = [
        "License :: OSI Approved",
        "License :: OSI Approved :: MIT License",
        "Programming Language :: Python :: 3",
    ]
    # `OSI Approved` alone adds nothing once a classifier below it names the licence.
    assert described(licenses("", classifiers, "Apache-2.0", "x")) == ["id:MIT"]


@pytest.mark.parametrize(
    ("classifier", "expected"),
    [
        ("OSI Approved :: MIT License", "MIT"),
        ("OSI Approved :: GNU General Public License v3 or later (GPLv3+)", "GPL-3.0-or-later"),
        ("OSI Approved :: Mozilla Public License 2.0 (MPL 2.0)", "MPL-2.0"),
        ("OSI Approved :: MIT No Attribution License (MIT-0)", "MIT-0"),  # the id in parentheses
        ("OSI Approved :: Boost Software License 1.0 (BSL-1.0)", "BSL-1.0"),
        ("OSI Approved :: BSD License", None),  # which BSD licence? stays named
        ("OSI Approved :: Apache Software License", None),
        ("Other/Proprietary License", None),
    ],
)
def test_classifier_mapping(classifier: str, expected: str | None) -> None:
    assert classifier_license(classifier) == expected


def test_unknown_classifiers_stay_named_licences() -> None:
    classifiers = ["License :: OSI Approved :: BSD License", "License :: OSI Approved :: MIT License"]
    assert described(licenses("", classifiers, "", "x")) == ["name:BSD License", "id:MIT"]


def test_license_field() -> None:
    assert described(licenses("", [], "Apache-2.0", "x")) == ["id:Apache-2.0"]
    assert described(licenses("", [], "MIT or Apache 2", "x")) == ["name:MIT or Apache 2"]
    assert licenses("", [], "UNKNOWN", "x") == []
    assert licenses("", [], "  ", "x") == []
    # A licence's whole text: named after its project, the text attached.
    text = "Copyright (c) someone\n\nPermission is hereby granted, free of charge, ..."
    [found] = licenses("", [], text, "some-project")
    assert isinstance(found, DisjunctiveLicense)
    assert found.name == "declared license of 'some-project'"
    assert found.text is not None and found.text.content == text


# -- purls -----------------------------------------------------------------------------------------


def test_purl() -> None:
    assert str(purl("Foo_Bar", "1.0")) == "pkg:pypi/foo-bar@1.0"
    assert (
        str(purl("click", "8.1.8", "click-8.1.8-py3-none-any.whl"))
        == "pkg:pypi/click@8.1.8?file_name=click-8.1.8-py3-none-any.whl"
    )


INDEXES = [
    "https://user:s3cret@pkgs.example.com/team/simple/",
    "https://pkgs.example.com/other/simple",
    "http://127.0.0.1:8080/simple/",
]


@pytest.mark.parametrize(
    ("url", "qualifiers"),
    [
        # PyPI's files: the public project, the plain purl.
        ("https://files.pythonhosted.org/packages/ab/cd/click-8.1.8-py3-none-any.whl#sha256=0", {}),
        # An index's file: that index (on the file's host, the longest shared path), no credentials.
        (
            "https://pkgs.example.com/team/packages/lib-1.0-py3-none-any.whl#sha256=0",
            {"repository_url": "https://pkgs.example.com/team/simple"},
        ),
        (
            "https://user:s3cret@pkgs.example.com/other/files/lib-1.0-py3-none-any.whl",
            {"repository_url": "https://pkgs.example.com/other/simple"},
        ),
        (
            "http://127.0.0.1:8080/packages/hp_pure-1.0-py3-none-any.whl",
            {"repository_url": "http://127.0.0.1:8080/simple"},
        ),
        # Elsewhere on the network (a find-links page, a direct URL): the file, without secrets.
        (
            "https://u:p4ss@cdn.example.net/wheels/lib-1.0-py3-none-any.whl?token=s1gned#sha256=0",
            {"download_url": "https://cdn.example.net/wheels/lib-1.0-py3-none-any.whl"},
        ),
        (
            "http://127.0.0.1:9090/lib-1.0-py3-none-any.whl",
            {"download_url": "http://127.0.0.1:9090/lib-1.0-py3-none-any.whl"},
        ),
        # Local files (the project's own wheel, a find-links directory, a path): nothing.
        ("file:///home/me/project/dist/my_app-1.0-py3-none-any.whl", {}),
        ("/srv/wheels/lib-1.0-py3-none-any.whl", {}),
        ("", {}),
    ],
)
def test_source_qualifiers(url: str, qualifiers: dict[str, str]) -> None:
    from hatch_pex.sbom import source_qualifiers

    assert source_qualifiers(url, INDEXES) == qualifiers


def test_purl_names_the_index_it_came_from() -> None:
    from hatch_pex.sbom import source_qualifiers

    source = source_qualifiers("http://127.0.0.1:8080/packages/hp_pure-1.0-py3-none-any.whl", INDEXES)
    assert str(purl("hp_pure", "1.0", None, source)) == (
        "pkg:pypi/hp-pure@1.0?repository_url=http://127.0.0.1:8080/simple"
    )
    assert str(purl("hp_pure", "1.0", "hp_pure-1.0-py3-none-any.whl", source)) == (
        "pkg:pypi/hp-pure@1.0?file_name=hp_pure-1.0-py3-none-any.whl&repository_url=http://127.0.0.1:8080/simple"
    )


def test_document_purls_carry_the_index_without_credentials(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, "lib")
    private = dataclasses.replace(wheel, url="https://user:s3cret@pkgs.example.com/team/packages/lib.whl")
    pypi = make_wheel(tmp_path, "click")
    public = dataclasses.replace(
        pypi, url="https://files.pythonhosted.org/packages/click-1.0-py3-none-any.whl"
    )
    closure = Closure([public, private], {PY312.text: [public.filename, private.filename]})
    text = sbom_document(
        Project(name="my-app", version="1.0", roots=["lib", "click"]),
        closure,
        [PY312],
        timestamp=1580601600.0,
        tool_version="9.9",
        indexes=INDEXES,
    ).decode()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    purls = {c["bom-ref"]: c["purl"] for c in json.loads(text)["components"]}
    assert purls == {
        "click-1.0-py3-none-any.whl": "pkg:pypi/click@1.0",
        "lib-1.0-py3-none-any.whl": "pkg:pypi/lib@1.0?repository_url=https://pkgs.example.com/team/simple",
    }
    assert "s3cret" not in text and "user" not in text


# -- the graph -------------------------------------------------------------------------------------


@pytest.fixture
def closure(tmp_path: Path) -> Closure:
    """my-app -> lib[fast] -> (helper, speedup via the extra); my-app -> old-only on Python < 3.10;
    lib -> never (Windows only); two versions of `versioned` (3.9 and 3.12), required by helper."""
    wheels = {
        "app": make_wheel(tmp_path, "my-app", requires=["lib[fast]", "old-only; python_version < '3.10'"]),
        "lib": make_wheel(
            tmp_path,
            "lib",
            requires=["helper>=1", "speedup; extra == 'fast'", "never; sys_platform == 'win32'"],
            headers=["License-Expression: MIT"],
        ),
        "helper": make_wheel(tmp_path, "helper", requires=["versioned"]),
        "speedup": make_wheel(tmp_path, "speedup"),
        "never": make_wheel(tmp_path, "never"),
        "old-only": make_wheel(tmp_path, "old-only"),
        "v1": make_wheel(tmp_path, "versioned", "1.0"),
        "v2": make_wheel(tmp_path, "versioned", "2.0"),
    }
    common = ["app", "lib", "helper", "speedup", "never"]
    sets = {
        PY39.text: sorted(wheels[k].filename for k in [*common, "old-only", "v1"]),
        PY312.text: sorted(wheels[k].filename for k in [*common, "v2"]),
    }
    return Closure(sorted(wheels.values(), key=lambda d: (d.name, d.filename)), sets)


def test_graph_follows_markers_and_extras_per_platform(closure: Closure) -> None:
    graph = dependency_graph(closure, [PY39, PY312], ["my-app"])
    edges = {k: sorted(v) for k, v in graph.edges.items() if v}
    assert edges == {
        "my_app-1.0-py3-none-any.whl": ["lib-1.0-py3-none-any.whl", "old_only-1.0-py3-none-any.whl"],
        "lib-1.0-py3-none-any.whl": ["helper-1.0-py3-none-any.whl", "speedup-1.0-py3-none-any.whl"],
        # Each platform's own version, never the other's.
        "helper-1.0-py3-none-any.whl": ["versioned-1.0-py3-none-any.whl", "versioned-2.0-py3-none-any.whl"],
    }
    # `never` is required by nothing that holds here, and by something: no root either.
    assert graph.roots == {"my_app-1.0-py3-none-any.whl"}


def test_graph_of_one_platform(closure: Closure) -> None:
    graph = dependency_graph(closure, [PY312], ["my-app"])
    assert sorted(graph.edges["my_app-1.0-py3-none-any.whl"]) == ["lib-1.0-py3-none-any.whl"]
    assert sorted(graph.edges["helper-1.0-py3-none-any.whl"]) == ["versioned-2.0-py3-none-any.whl"]


def test_graph_roots_include_what_nothing_requires(closure: Closure, tmp_path: Path) -> None:
    """A requirements-file line naming a URL gives no name: the wheel nothing requires is a root."""
    extra = make_wheel(tmp_path / "more", "from-url")
    sets = {text: sorted([*names, extra.filename]) for text, names in closure.platform_sets.items()}
    graph = dependency_graph(Closure([*closure.distributions, extra], sets), [PY39, PY312], ["my-app"])
    assert graph.roots == {"my_app-1.0-py3-none-any.whl", "from_url-1.0-py3-none-any.whl"}


# -- the document ----------------------------------------------------------------------------------


def document(closure: Closure, platforms: Sequence[Platform] = (PY39, PY312), **project: Any) -> bytes:
    fields: dict[str, Any] = {"name": "My_App", "version": "1.0", "roots": ["my-app"], **project}
    return sbom_document(Project(**fields), closure, platforms, timestamp=1580601600.0, tool_version="9.9")


def test_document_validates_and_describes_every_wheel(closure: Closure) -> None:
    text = document(closure, classifiers=["License :: OSI Approved :: MIT License"]).decode()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    bom = json.loads(text)
    assert bom["specVersion"] == "1.6"
    assert bom["metadata"]["timestamp"] == "2020-02-02T00:00:00+00:00"
    assert bom["metadata"]["tools"]["components"] == [
        {
            "name": "hatch-pex-builder",
            "purl": "pkg:pypi/hatch-pex-builder@9.9",
            "type": "application",
            "version": "9.9",
        }
    ]
    root = bom["metadata"]["component"]
    assert (root["name"], root["version"], root["purl"]) == ("My_App", "1.0", "pkg:pypi/my-app@1.0")
    assert root["licenses"] == [{"license": {"id": "MIT"}}]
    components = {c["bom-ref"]: c for c in bom["components"]}
    assert sorted(components) == sorted(d.filename for d in closure.distributions)
    for distribution in closure.distributions:
        component = components[distribution.filename]
        assert component["hashes"] == [{"alg": "SHA-256", "content": distribution.sha256}]
        assert component["version"] == distribution.version
        platforms = sorted(p["value"] for p in component["properties"])
        assert platforms == sorted(
            t for t, names in closure.platform_sets.items() if distribution.filename in names
        )
    # The file name qualifies the purl only where one project has several wheels.
    assert components["versioned-1.0-py3-none-any.whl"]["purl"] == (
        "pkg:pypi/versioned@1.0?file_name=versioned-1.0-py3-none-any.whl"
    )
    assert components["lib-1.0-py3-none-any.whl"]["purl"] == "pkg:pypi/lib@1.0"
    assert components["lib-1.0-py3-none-any.whl"]["licenses"] == [{"license": {"id": "MIT"}}]
    dependencies = {d["ref"]: d.get("dependsOn", []) for d in bom["dependencies"]}
    assert dependencies[root["bom-ref"]] == ["my_app-1.0-py3-none-any.whl"]
    assert dependencies["lib-1.0-py3-none-any.whl"] == [
        "helper-1.0-py3-none-any.whl",
        "speedup-1.0-py3-none-any.whl",
    ]
    assert dependencies["never-1.0-py3-none-any.whl"] == []


def test_document_is_deterministic(closure: Closure, tmp_path: Path) -> None:
    first = document(closure)
    assert document(closure) == first
    # The same wheels elsewhere on disk: no path in the document.
    moved = []
    for distribution in closure.distributions:
        target = tmp_path / "elsewhere" / distribution.filename
        target.parent.mkdir(exist_ok=True)
        target.write_bytes(Path(distribution.wheel).read_bytes())
        moved.append(Distribution(distribution.name, distribution.version, str(target), distribution.sha256))
    assert document(Closure(moved, closure.platform_sets)) == first
    assert str(tmp_path).encode() not in first


def test_serial_number_follows_the_content(closure: Closure) -> None:
    def serial(data: bytes) -> str:
        value = json.loads(data)["serialNumber"]
        assert isinstance(value, str) and value.startswith("urn:uuid:")
        return value

    assert serial(document(closure)) != serial(document(closure, version="1.1"))
    assert serial(document(closure)) != serial(document(closure, platforms=[PY312]))


# -- the file beside the output --------------------------------------------------------------------


def test_side_file_is_replaced_whole(tmp_path: Path) -> None:
    output = tmp_path / "app-1.0.pex"
    (tmp_path / "app-1.0.pex.cdx.json").write_text("an earlier build's")
    assert write_side_file(str(output), b"{}\n") == str(tmp_path / "app-1.0.pex.cdx.json")
    assert (tmp_path / "app-1.0.pex.cdx.json").read_bytes() == b"{}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app-1.0.pex.cdx.json"]  # no temporary left


def test_side_file_never_written_through_a_planted_name(tmp_path: Path) -> None:
    output = tmp_path / "app-1.0.pex"
    planted = tmp_path / f".app-1.0.pex.cdx.json{PARTIAL_MARKER}{os.getpid()}"
    planted.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(FileExistsError, match="someone else put there"):
        write_side_file(str(output), b"{}\n")
    assert planted.is_symlink() and not (tmp_path / "elsewhere").exists()
    assert not (tmp_path / "app-1.0.pex.cdx.json").exists()
