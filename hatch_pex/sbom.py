"""The file's bill of materials: a CycloneDX 1.6 JSON SBOM, built with cyclonedx-python-lib.

One component per wheel in the file (a file serving several Python versions or platforms can hold
several wheels of one project: each is a component of its own, its purl qualified by its file name),
with the wheel's sha256, the licence its METADATA declares, and the platforms whose set holds it. The
dependency graph is the one `exclude` walks (exclude.py): each wheel's `Requires-Dist`, markers
evaluated per served platform with extras followed, linking only wheels of that platform's set. The
project is the metadata component; it depends on the root requirements.

A purl names the public project of that name unless it says otherwise: a wheel whose file came from
another index than PyPI carries the purl qualifier `repository_url`, that index's URL (the configured
or pip-configured index on the file's host, never with credentials); a file from elsewhere on the
network (a find-links page, a direct URL) `download_url`, the file's URL without user-info, query
or fragment. PyPI's files, and local ones (the project's own wheel, a find-links directory, a
path), keep the plain purl: a local path would say nothing to the reader and differ between
machines.

The document is deterministic: no path, the build's reproducible timestamp, and a serial number
derived from the content (uuid5), so two builds of the same inputs give the same bytes.
"""

from __future__ import annotations

import ast
import os
import re
import sys
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from packaging.utils import canonicalize_name

from .archive import atomic_output
from .exclude import holds, platform_closures, starting_points, walk
from .platforms import Platform
from .redact import strip_credentials
from .resolve import Closure, Distribution, ResolveOptions
from .wheel import wheel_metadata

if TYPE_CHECKING:
    from cyclonedx.contrib.license.factories import LicenseFactory
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component
    from cyclonedx.model.license import License
    from packageurl import PackageURL

#: The member of the .pex that holds the document (docs/format.md).
SBOM_MEMBER = ".sbom/bom.cdx.json"
#: The document beside each output: `dist/<file>.pex.cdx.json`.
SIDE_FILE_SUFFIX = ".cdx.json"
TOOL_NAME = "hatch-pex-builder"
#: Property naming a platform whose set holds a wheel (CycloneDX property names are namespaced).
PLATFORM_PROPERTY = "hatch-pex:platform"
# A `License` header longer than this, or on several lines, is a licence's text, not its name.
_LICENSE_NAME_LIMIT = 100
# Trove classifiers that name one SPDX licence; the others (`BSD License`, `Apache Software License`:
# which version?) stay named licences. Classifiers ending in a valid SPDX id in parentheses, such as
# `... (MIT-0)` or `... (BSL-1.0)`, need no entry.
_CLASSIFIER_SPDX = {
    "OSI Approved :: MIT License": "MIT",
    "OSI Approved :: ISC License (ISCL)": "ISC",
    "OSI Approved :: Python Software Foundation License": "PSF-2.0",
    "OSI Approved :: Mozilla Public License 1.1 (MPL 1.1)": "MPL-1.1",
    "OSI Approved :: Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0",
    "OSI Approved :: GNU General Public License v2 (GPLv2)": "GPL-2.0-only",
    "OSI Approved :: GNU General Public License v2 or later (GPLv2+)": "GPL-2.0-or-later",
    "OSI Approved :: GNU General Public License v3 (GPLv3)": "GPL-3.0-only",
    "OSI Approved :: GNU General Public License v3 or later (GPLv3+)": "GPL-3.0-or-later",
    "OSI Approved :: GNU Lesser General Public License v2 (LGPLv2)": "LGPL-2.0-only",
    "OSI Approved :: GNU Lesser General Public License v2 or later (LGPLv2+)": "LGPL-2.0-or-later",
    "OSI Approved :: GNU Lesser General Public License v3 (LGPLv3)": "LGPL-3.0-only",
    "OSI Approved :: GNU Lesser General Public License v3 or later (LGPLv3+)": "LGPL-3.0-or-later",
    "OSI Approved :: GNU Affero General Public License v3": "AGPL-3.0-only",
    "OSI Approved :: GNU Affero General Public License v3 or later (AGPLv3+)": "AGPL-3.0-or-later",
    "OSI Approved :: Eclipse Public License 1.0 (EPL-1.0)": "EPL-1.0",
    "OSI Approved :: European Union Public Licence 1.1 (EUPL 1.1)": "EUPL-1.1",
    "OSI Approved :: European Union Public Licence 1.2 (EUPL 1.2)": "EUPL-1.2",
    "OSI Approved :: Universal Permissive License (UPL)": "UPL-1.0",
    "OSI Approved :: zlib/libpng License": "Zlib",
    "CC0 1.0 Universal (CC0 1.0) Public Domain Dedication": "CC0-1.0",
}
_PARENTHESIZED = re.compile(r"\(([^()]+)\)$")
#: Hosts of PyPI's pages and files: a wheel from them keeps the plain purl (`repository_url`'s default
#: is https://pypi.org/).
PYPI_HOSTS = frozenset({"pypi.org", "files.pythonhosted.org", "pypi.python.org"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
# `pip config list`'s lines for the index settings: `global.index-url='https://...'`.
_PIP_INDEX_SETTING = re.compile(r"^\S*\.(?:index-url|extra-index-url)=(.+)$")
#: uv's variables naming indexes (uv.toml is not read: its indexes' files get `download_url`).
_UV_INDEX_VARIABLES = ("UV_INDEX_URL", "UV_DEFAULT_INDEX", "UV_EXTRA_INDEX_URL", "UV_INDEX")


@dataclass(frozen=True)
class Project:
    """What the SBOM says of the project itself (from its core metadata)."""

    name: str
    version: str
    license_expression: str = ""
    license_text: str = ""
    classifiers: Sequence[str] = ()
    #: The requirements the closure was resolved from (the project with its features, `requirements`,
    #: the dependency groups, the lines of `requirements-files`): the roots of the graph.
    roots: Sequence[str] = field(default_factory=list)


@dataclass(frozen=True)
class Graph:
    """The dependency graph over every served platform, by wheel file name."""

    roots: set[str]
    edges: dict[str, set[str]]


def dependency_graph(closure: Closure, platforms: Sequence[Platform], roots: Sequence[str]) -> Graph:
    """Each wheel's `Requires-Dist` links, per platform the file serves, to the wheels of that
    platform's set the walk from `roots` follows (markers and extras as there); the union of all."""
    graph = Graph(set(), {d.filename: set() for d in closure.distributions})
    for platform, distributions, requires in platform_closures(closure, platforms):
        by_name = {d.name: d for d in distributions}
        environment = platform.marker_environment()
        for requirement in starting_points(distributions, requires, roots, environment):
            start = by_name.get(str(canonicalize_name(requirement.name)))
            if start is not None:
                graph.roots.add(start.filename)
        for name, extras in walk(distributions, requires, roots, set(), environment).items():
            wheel = by_name[name]
            for requirement in requires[wheel.wheel]:
                target = by_name.get(str(canonicalize_name(requirement.name)))
                if (
                    target is not None
                    and target is not wheel
                    and holds(requirement.marker, environment, extras)
                ):
                    graph.edges[wheel.filename].add(target.filename)
    return graph


def licenses(expression: str, classifiers: Iterable[str], text: str, owner: str) -> list[License]:
    """The licence a project declares: its License-Expression, else its `License ::` classifiers,
    else its `License` field (`owner` names the project when that field holds a licence's text)."""
    factory = _license_factory()
    if expression.strip():
        return [factory.make_from_string(expression.strip())]
    from_classifiers = _classifier_licenses(classifiers)
    if from_classifiers:
        return from_classifiers
    text = text.strip()
    if not text or text.upper() == "UNKNOWN":
        return []
    if "\n" in text or len(text) > _LICENSE_NAME_LIMIT:
        from cyclonedx.model import AttachedText
        from cyclonedx.model.license import DisjunctiveLicense

        return [DisjunctiveLicense(name=f"declared license of '{owner}'", text=AttachedText(content=text))]
    return [factory.make_from_string(text)]


def classifier_license(classifier: str) -> str | None:
    """The SPDX id a `License ::` classifier (without that prefix) names, or None when it names no
    one licence (`BSD License`: which one?)."""
    from cyclonedx.spdx import fixup_id

    if classifier in _CLASSIFIER_SPDX:
        return _CLASSIFIER_SPDX[classifier]
    parenthesized = _PARENTHESIZED.search(classifier)
    return fixup_id(parenthesized.group(1)) if parenthesized else None


def _classifier_licenses(classifiers: Iterable[str]) -> list[License]:
    """One licence per `License ::` classifier: an SPDX id where it names one, else named by its
    last segment."""
    factory = _license_factory()
    prefix = "License :: "
    named = sorted({c[len(prefix) :].strip() for c in classifiers if c.startswith(prefix)})
    # `License :: OSI Approved` says nothing once a classifier below it names the licence.
    specific = [c for c in named if not any(other.startswith(f"{c} :: ") for other in named)]
    found: list[License] = []
    for classifier in specific:
        spdx = classifier_license(classifier)
        found.append(
            factory.make_with_id(spdx) if spdx else factory.make_with_name(classifier.split(" :: ")[-1])
        )
    return found


def purl(
    name: str, version: str, filename: str | None = None, source: Mapping[str, str] | None = None
) -> PackageURL:
    """`pkg:pypi/<name>@<version>`, qualified by `?file_name=` when `filename` is given and by
    `source` (source_qualifiers: where the file came from)."""
    from packageurl import PackageURL

    qualifiers = {**(source or {}), **({"file_name": filename} if filename else {})}
    return PackageURL(
        type="pypi", name=str(canonicalize_name(name)), version=version, qualifiers=qualifiers or None
    )


def source_qualifiers(url: str, indexes: Sequence[str]) -> dict[str, str]:
    """The purl qualifiers saying where a wheel's file (`url`, as its plan named it) came from, never
    with credentials: none for PyPI's files and local ones; `repository_url`, the index of `indexes`
    on the file's host (the one sharing the longest path with it), without its trailing `/`; else
    `download_url`, the file's URL without user-info, query (a signed URL's signature) or fragment."""
    parts = urlsplit(url)
    address = _address(url)
    if address is None or address[1] in PYPI_HOSTS:
        return {}
    candidates = [index for index in indexes if _address(index) == address]
    if candidates:
        index = max(candidates, key=lambda index: _common_path(urlsplit(index).path, parts.path))
        return {"repository_url": strip_credentials(index).rstrip("/")}
    host = strip_credentials(urlunsplit((parts.scheme, parts.netloc, "", "", "")))
    return {"download_url": f"{host}{parts.path}"}


def _address(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) URL, None for anything else (a path, file:, a VCS URL)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return parts.scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[parts.scheme]


def _common_path(first: str, second: str) -> int:
    """How many leading segments the two URL paths share."""
    shared = 0
    for mine, theirs in zip(first.split("/"), second.split("/")):
        if mine != theirs:
            break
        shared += 1
    return shared


def index_urls(options: ResolveOptions, python: str = sys.executable) -> list[str]:
    """The index URLs the build's files may have come from (credentials included: for matching
    only): the configured ones, pip's own settings (environment and configuration files, as `pip
    config list` shows them) and uv's index variables. None with `no-index`."""
    if options.no_index:
        return []
    from .piprunner import run_pip

    found = [*([options.index_url] if options.index_url else []), *options.extra_index_urls]
    status, output = run_pip(python, ["config", "list"])
    for line in output.splitlines() if status == 0 else []:
        setting = _PIP_INDEX_SETTING.match(line.strip())
        if setting is not None:
            try:
                found += str(ast.literal_eval(setting.group(1))).split()
            except (ValueError, SyntaxError):
                continue
    for variable in _UV_INDEX_VARIABLES:  # UV_INDEX holds `name=url` entries too
        found += [entry.rpartition("=")[2] for entry in os.environ.get(variable, "").split()]
    return list(dict.fromkeys(found))


def sbom_document(
    project: Project,
    closure: Closure,
    platforms: Sequence[Platform],
    *,
    timestamp: float,
    tool_version: str,
    indexes: Sequence[str] = (),
) -> bytes:
    """The CycloneDX 1.6 JSON document of the file: the same bytes for the same inputs. `indexes`:
    the index URLs its files may have come from (index_urls), for the purls' `repository_url`."""
    from cyclonedx.model.bom import Bom, BomMetaData
    from cyclonedx.model.component import Component, ComponentType

    graph = dependency_graph(closure, platforms, project.roots)
    served = [p.text for p in platforms if p.text in closure.platform_sets]
    components = {d.filename: _component(d, closure, served, indexes) for d in closure.distributions}
    root = Component(
        type=ComponentType.APPLICATION,
        name=project.name,
        version=project.version,
        bom_ref=str(purl(project.name, project.version)),
        purl=purl(project.name, project.version),
        licenses=licenses(
            project.license_expression, project.classifiers, project.license_text, project.name
        ),
    )
    metadata = BomMetaData(
        timestamp=datetime.fromtimestamp(timestamp, tz=timezone.utc),
        component=root,
    )
    metadata.tools.components.add(
        Component(
            type=ComponentType.APPLICATION,
            name=TOOL_NAME,
            version=tool_version,
            purl=purl(TOOL_NAME, tool_version),
        )
    )
    bom = Bom(metadata=metadata, components=components.values(), serial_number=uuid.UUID(int=0))
    bom.register_dependency(root, [components[name] for name in sorted(graph.roots)])
    for filename, component in components.items():
        bom.register_dependency(component, [components[name] for name in sorted(graph.edges[filename])])
    # The serial number is derived from everything else the document says.
    bom.serial_number = uuid.uuid5(uuid.NAMESPACE_URL, f"{TOOL_NAME}:{_serialized(bom)}")
    return _serialized(bom).encode("utf-8")


def _serialized(bom: Bom) -> str:
    from cyclonedx.output.json import JsonV1Dot6

    return JsonV1Dot6(bom).output_as_string(indent=2) + "\n"


def _component(
    distribution: Distribution, closure: Closure, served: Sequence[str], indexes: Sequence[str]
) -> Component:
    from cyclonedx.model import HashAlgorithm, HashType, Property
    from cyclonedx.model.component import Component, ComponentType

    headers = wheel_metadata(distribution.wheel)

    def header(name: str) -> str:
        return str(headers.get(name, "")) if headers is not None else ""

    name = header("Name").strip() or distribution.name
    several = sum(d.name == distribution.name for d in closure.distributions) > 1
    return Component(
        type=ComponentType.LIBRARY,
        name=name,
        version=distribution.version,
        bom_ref=distribution.filename,
        purl=purl(
            name,
            distribution.version,
            distribution.filename if several else None,
            source_qualifiers(distribution.url, indexes),
        ),
        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=distribution.sha256)],
        licenses=licenses(
            header("License-Expression"),
            (headers.get_all("Classifier") or []) if headers is not None else [],
            header("License"),
            name,
        ),
        properties=[
            Property(name=PLATFORM_PROPERTY, value=text)
            for text in served
            if distribution.filename in closure.platform_sets[text]
        ],
    )


def _license_factory() -> LicenseFactory:
    try:  # where newer releases keep it (the old path still works there, with a DeprecationWarning)
        from cyclonedx.contrib.license.factories import LicenseFactory
    except ImportError:  # older releases
        from cyclonedx.factory.license import LicenseFactory
    return LicenseFactory()


def side_file(output: str) -> str:
    """Where the document is written beside an output: `<file>.pex.cdx.json`."""
    return f"{output}{SIDE_FILE_SUFFIX}"


def write_side_file(output: str, document: bytes) -> str:
    """Write `document` beside `output` atomically, as the .pex itself is; return its path."""
    path = side_file(output)
    with atomic_output(path, 0o644) as stream:
        stream.write(document)
    return path
