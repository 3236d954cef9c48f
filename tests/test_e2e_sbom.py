"""End to end: the CycloneDX SBOM inside every .pex and beside it, from the real `hatch build -t pex`.

A multi-version app (click 8.1 for Python 3.9, the newest elsewhere; hp-native, one wheel per version,
through an extra) gives several wheels of one project. The document is checked with
cyclonedx-python-lib's own JSON schema validator for CycloneDX 1.6, then against the wheels PEX-INFO
lists. Every distribution here comes from the loopback index, not from PyPI: the purls say so.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path
from typing import Any

import helpers
import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from helpers import configure, pex_info
from packaging.utils import canonicalize_name, parse_wheel_filename

MEMBER = ".sbom/bom.cdx.json"
PROJECT_WHEEL = "versions_app-0.1.0-py3-none-any.whl"


def side_file(pex: Path) -> Path:
    return pex.with_name(f"{pex.name}.cdx.json")


def member(pex: Path) -> bytes:
    with zipfile.ZipFile(pex) as archive:
        return archive.read(MEMBER)


def make_app(base: Path) -> Path:
    """versions-app needing click and hp-requires-pure[fast], with an MIT licence classifier."""
    project = helpers.copy_fixture_app("versions-app", base)
    text = (project / "pyproject.toml").read_text()
    text = text.replace(
        'dependencies = ["click>=8"]',
        'dependencies = ["click>=8", "hp-requires-pure[fast]"]\n'
        'classifiers = ["License :: OSI Approved :: MIT License"]',
    )
    (project / "pyproject.toml").write_text(text)
    return project


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory, index_url: str, uv_cache: Path) -> list[Path]:
    """The app built twice, in two directories: the .pex of each."""
    base = tmp_path_factory.mktemp("sbom")
    built = []
    for name in ("first", "second"):
        project = make_app(base / name)
        env = helpers.make_env(index_url, base / name / ".home", uv_cache=uv_cache)
        result = helpers.hatch_build(project, env=env)
        assert "Warning" not in result.stdout + result.stderr, helpers.describe(
            result
        )  # none of the library's
        [pex] = helpers.built_artifacts(project)
        built.append(pex)
    return built


@pytest.fixture(scope="module")
def bom(builds: list[Path]) -> dict[str, Any]:
    return json.loads(member(builds[0]))  # type: ignore[no-any-return]


def test_member_and_side_file_validate(builds: list[Path]) -> None:
    pex = builds[0]
    inside = member(pex)
    assert side_file(pex).read_bytes() == inside
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(inside.decode("utf-8")) is None
    document = json.loads(inside)
    assert (document["bomFormat"], document["specVersion"]) == ("CycloneDX", "1.6")
    # The build's reproducible timestamp (hatchling's default SOURCE_DATE_EPOCH), not the wall clock.
    assert document["metadata"]["timestamp"] == "2020-02-02T00:00:00+00:00"
    tools = [t["name"] for t in document["metadata"]["tools"]["components"]]
    assert tools == ["hatch-pex-builder"]
    # Part of the content every hash covers.
    digest = hashlib.sha256(inside).hexdigest()
    assert pex_info(pex)["member_hashes"] == {**pex_info(pex)["member_hashes"], MEMBER: digest}  # type: ignore[dict-item]


def test_identical_across_builds_in_different_directories(builds: list[Path]) -> None:
    first, second = builds
    assert str(first.parent.parent) != str(second.parent.parent)
    assert side_file(first).read_bytes() == side_file(second).read_bytes()
    assert first.read_bytes() == second.read_bytes()
    assert str(first.parent.parent).encode() not in member(first)


def test_one_component_per_wheel(builds: list[Path], bom: dict[str, Any], index_url: str) -> None:
    info = pex_info(builds[0])
    distributions = info["distributions"]
    assert isinstance(distributions, dict)
    components = {c["bom-ref"]: c for c in bom["components"]}
    assert sorted(components) == sorted(distributions)
    projects = [str(parse_wheel_filename(f)[0]) for f in distributions]
    several = {name for name in projects if projects.count(name) > 1}
    assert {"click", "hp-native"} <= several  # the file serves several Python versions
    sets = info["platform_distributions"]
    assert isinstance(sets, dict)
    for filename, sha256 in distributions.items():
        component = components[filename]
        name, version, _, _ = parse_wheel_filename(filename)
        assert canonicalize_name(component["name"]) == name
        assert component["version"] == str(version)
        assert component["hashes"] == [{"alg": "SHA-256", "content": sha256}]
        with zipfile.ZipFile(builds[0]) as archive:
            assert hashlib.sha256(archive.read(f".deps/{filename}")).hexdigest() == sha256
        qualifiers = [f"file_name={filename}"] if name in several else []
        if filename != PROJECT_WHEEL:  # the project's own wheel was built here: no index
            qualifiers.append(f"repository_url={index_url.rstrip('/')}")
        assert component["purl"] == f"pkg:pypi/{name}@{version}" + "?" * bool(qualifiers) + "&".join(
            qualifiers
        )
        served = sorted(p["value"] for p in component.get("properties", []))
        assert served == sorted(platform for platform, names in sets.items() if filename in names)


def test_purls_name_the_index_the_distributions_came_from(bom: dict[str, Any], index_url: str) -> None:
    """Not `pkg:pypi/<name>@<version>` alone, which names the public project of that name on PyPI:
    each distribution from the loopback index carries `repository_url`, the index's URL (purl-spec,
    PyPI type); the project's own wheel, built from the local project, carries none."""
    from packageurl import PackageURL

    repositories = {
        c["bom-ref"]: PackageURL.from_string(c["purl"]).qualifiers.get("repository_url")  # type: ignore[union-attr]
        for c in bom["components"]
    }
    assert repositories.pop(PROJECT_WHEEL) is None
    assert set(repositories.values()) == {index_url.rstrip("/")}, repositories
    assert PackageURL.from_string(bom["metadata"]["component"]["purl"]).qualifiers == {}


def test_licences_from_the_wheels_metadata(bom: dict[str, Any]) -> None:
    by_name: dict[str, list[Any]] = {}
    for component in bom["components"]:
        by_name.setdefault(component["bom-ref"].split("-")[0], []).append(component)
    clicks = sorted(by_name["click"], key=lambda c: tuple(int(p) for p in c["version"].split(".")))
    # click 8.1 declares a classifier only (which BSD licence? a named one), the newest an expression.
    assert clicks[0]["licenses"] == [{"license": {"name": "BSD License"}}]
    assert clicks[-1]["licenses"] == [{"license": {"id": "BSD-3-Clause"}}]
    [project_wheel] = by_name["versions_app"]
    assert project_wheel["licenses"] == [{"license": {"id": "MIT"}}]
    assert "licenses" not in by_name["hp_pure"][0]  # declares none
    root = bom["metadata"]["component"]
    assert (root["name"], root["version"], root["type"]) == ("versions-app", "0.1.0", "application")
    assert root["purl"] == "pkg:pypi/versions-app@0.1.0"
    assert root["licenses"] == [{"license": {"id": "MIT"}}]


def test_dependency_graph(builds: list[Path], bom: dict[str, Any]) -> None:
    depends = {d["ref"]: sorted(d.get("dependsOn", [])) for d in bom["dependencies"]}
    wheels = sorted(pex_info(builds[0])["distributions"])  # type: ignore[call-overload]

    def named(project: str) -> list[str]:
        return [w for w in wheels if w.startswith(f"{project}-")]

    assert depends[bom["metadata"]["component"]["bom-ref"]] == [PROJECT_WHEEL]
    assert depends[PROJECT_WHEEL] == sorted([*named("click"), *named("hp_requires_pure")])
    # hp-native only through the [fast] extra the project asks for; every version's wheel.
    [requires_pure] = named("hp_requires_pure")
    assert depends[requires_pure] == sorted([*named("hp_native"), *named("hp_pure")])
    # colorama is for Windows only (and not in the file).
    for click in named("click"):
        assert depends[click] == []


def test_sbom_off_and_clean(tmp_path: Path, env: dict[str, str]) -> None:
    project = helpers.copy_fixture_app("no-scripts-app", tmp_path)
    helpers.hatch_build(project, env=env)
    [pex] = helpers.built_artifacts(project)
    assert side_file(pex).is_file() and member(pex) == side_file(pex).read_bytes()
    helpers.run([*helpers.hatch_command(), "clean", "-t", "pex"], env=env, cwd=project)
    assert sorted(p.name for p in (project / "dist").iterdir()) == []

    helpers.hatch_build(project, env=env)
    configure(project, "sbom = false")
    helpers.hatch_build(project, env=env)  # no clean: the earlier side file would describe another file
    [pex] = helpers.built_artifacts(project)
    with zipfile.ZipFile(pex) as archive:
        assert not [name for name in archive.namelist() if name.startswith(".sbom/")]
    assert MEMBER not in pex_info(pex)["member_hashes"]  # type: ignore[operator]
    assert sorted(p.name for p in (project / "dist").iterdir()) == [pex.name]
