"""Every key of `[tool.hatch.build.targets.pex]`: accepted values, and the error for each bad one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hatch_pex.builder import PexBuilder

FIELD = "tool.hatch.build.targets.pex"


def make_builder(tmp_path: Path, target: dict[str, Any], **project: Any) -> PexBuilder:
    raw = {
        "project": {
            "name": "my-app",
            "version": "1.2.3",
            "requires-python": ">=3.9",
            "scripts": {"one": "my_app.cli:one", "two": "my_app.cli:two"},
            "optional-dependencies": {"fast": ["hp-native"]},
            **project,
        },
        "tool": {"hatch": {"build": {"targets": {"pex": target}}}},
    }
    return PexBuilder(str(tmp_path), config=raw)


def error_of(tmp_path: Path, key: str, value: Any) -> str:
    builder = make_builder(tmp_path, {key: value})
    with pytest.raises((TypeError, ValueError)) as caught:
        builder.config.validate()
    return str(caught.value)


def test_defaults(tmp_path: Path) -> None:
    config = make_builder(tmp_path, {}).config
    config.validate()
    assert config.entry_selection is None
    assert config.python_shebang == "/usr/bin/env python3"
    assert config.interpreter_constraints == [">=3.9"]
    assert config.inherit_path == "false"
    assert config.env == {}
    assert config.compression == 0
    assert config.platforms == ["current"]
    assert config.reproducible is True
    assert config.output_name == "{name}-{version}"
    assert config.lock is None
    assert config.resolver == "pip"
    assert config.python_versions is None
    assert config.sbom is True


def test_accepted_values(tmp_path: Path) -> None:
    (tmp_path / "reqs.txt").write_text("hp-pure\n")
    config = make_builder(
        tmp_path,
        {
            "scripts": ["two", "one", "two"],
            "features": ["fast"],
            "requirements": ["hp-pure>=1", "certifi; python_version >= '3.9'"],
            "requirements-files": ["reqs.txt"],
            "python-shebang": "#!/opt/python/bin/python3.12",
            "interpreter-constraints": "CPython>=3.10,<3.14",
            "inherit-path": True,
            "env": {"B": "2", "A": "1"},
            "index-url": "https://user:secret@example.invalid/simple",
            "find-links": ["wheels"],
            "no-index": True,
            "compression": "deflated",
            "platforms": ["current", "linux_x86_64-cp-3.11-cp311"],
            "lock": "locks/pylock.prod.toml",
            "resolver": "uv",
            "python-versions": ["3.13", "3.11"],
            "sbom": False,
        },
    ).config
    config.validate()
    assert config.scripts == ["one", "two"]
    assert config.python_shebang == "/opt/python/bin/python3.12"
    assert config.interpreter_constraints == [">=3.10,<3.14"]
    assert config.inherit_path == "prefer"
    assert list(config.env) == ["A", "B"]
    assert config.requirements_files == [str(tmp_path / "reqs.txt")]
    assert config.find_links == [str(tmp_path / "wheels")]
    assert config.compression == 6
    assert config.lock == str(tmp_path / "locks" / "pylock.prod.toml")
    assert config.resolver == "uv"
    assert config.python_versions == ["3.11", "3.13"]
    assert config.sbom is False


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("entry-point", 3, "must be a string"),
        ("entry-point", "not valid!", "must look like `package.module:function`"),
        ("module", "pkg:func", "must be a dotted module name"),
        ("script", "missing", "Unknown script in field"),
        ("scripts", "one", "must be an array of strings"),
        ("scripts", ["one", 2], "Entry #2"),
        ("scripts", ["nope"], "Unknown script in field"),
        ("scripts", [], "must name at least one script"),
        ("features", ["slow"], "Unknown feature"),
        ("requirements", ["not a requirement!!"], "not a valid PEP 508 requirement"),
        ("requirements-files", ["missing.txt"], "names a file that does not exist"),
        ("constraints-files", ["missing.txt"], "names a file that does not exist"),
        ("python-shebang", "", "must be one line"),
        ("python-shebang", "python\nrm -rf /", "must be one line"),
        ("interpreter-constraints", [">=three"], "invalid version specifier"),
        ("interpreter-constraints", 3.9, "must be a string or an array of strings"),
        ("inherit-path", "sometimes", "must be one of 'false', 'prefer', 'fallback'"),
        ("env", ["A=1"], "must be a table"),
        ("env", {"1BAD": "x"}, "invalid variable name"),
        ("env", {"GOOD": 1}, "must be a string"),
        ("index-url", "example.org/simple", "must be a URL"),
        ("extra-index-urls", ["not a url"], "must be a URL"),
        ("find-links", [""], "non-empty string"),
        ("no-index", "yes", "must be a boolean"),
        ("pre", 1, "must be a boolean"),
        ("only-binary", ":all:", "must be an array of strings"),
        ("no-binary", [None], "Entry #1"),
        ("platforms", ["linux"], "invalid platform"),
        ("platforms", ["current", "current"], "lists a platform twice"),
        ("python-versions", "3.11", "must be an array of strings"),
        ("python-versions", ["3.8"], "unknown Python version '3.8'"),
        ("python-versions", ["3.11", "3.11"], "lists a version twice"),
        ("python-versions", [], "must list at least one version"),
        ("lock", "requirements.lock", "must name a PEP 751 lock file"),
        ("lock", 1, "must be a string"),
        ("resolver", "poetry", "must be 'pip' or 'uv'"),
        ("compression", 10, "deflate level from 0 to 9"),
        ("compression", "zstd", "deflate level from 0 to 9"),
        ("output-name", "{name}-{nope}", "may only use the placeholders"),
        ("output-name", "../{name}", "plain file name"),
        ("sbom", "no", "must be a boolean"),
        ("no-such-key", 1, "Unknown field"),
    ],
)
def test_bad_values_name_the_field(tmp_path: Path, key: str, value: Any, expected: str) -> None:
    message = error_of(tmp_path, key, value)
    assert f"{FIELD}.{key}" in message
    assert expected in message


@pytest.mark.parametrize(
    ("key", "suggested"),
    [
        ("python-version", "python-versions"),  # one letter short
        ("python_versions", "python-versions"),  # snake_case: TOML allows it, hatch keys use dashes
        ("Entry_Point", "entry-point"),
        ("extra-index-url", "extra-index-urls"),
        ("shebang", "python-shebang"),
        ("dependencie", "dependencies"),  # a key hatch owns for every target is suggested too
    ],
)
def test_unknown_key_suggests_the_closest_known_key(tmp_path: Path, key: str, suggested: str) -> None:
    message = error_of(tmp_path, key, ["3.12"])
    assert message.startswith(
        f"Unknown field `{FIELD}.{key}`; did you mean `{suggested}`? The pex target knows: args, "
    ), message


def test_unknown_key_without_a_close_one_suggests_nothing(tmp_path: Path) -> None:
    message = error_of(tmp_path, "colour", True)
    assert message.startswith(f"Unknown field `{FIELD}.colour`; the pex target knows: args, "), message
    assert "did you mean" not in message


def test_python_versions_outside_the_constraints(tmp_path: Path) -> None:
    builder = make_builder(tmp_path, {"python-versions": ["3.9", "3.12"]}, **{"requires-python": ">=3.10"})
    with pytest.raises(
        ValueError,
        match=r"python-versions` names Python 3.9, which the interpreter constraints \(>=3.10\) exclude",
    ):
        builder.config.validate()


def test_entry_keys_are_exclusive(tmp_path: Path) -> None:
    builder = make_builder(tmp_path, {"script": "one", "module": "my_app"})
    with pytest.raises(ValueError, match="mutually exclusive") as caught:
        builder.config.validate()
    assert f"{FIELD}.module" in str(caught.value)
    assert f"{FIELD}.script" in str(caught.value)


def test_credentials_never_in_errors(tmp_path: Path) -> None:
    message = error_of(tmp_path, "requirements", ["pkg @ https://alice:hunter2@example.invalid/x.whl ???"])
    assert "hunter2" not in message
    assert "alice" not in message


def test_reproducible_is_hatch_key(tmp_path: Path) -> None:
    builder = make_builder(tmp_path, {"reproducible": "no"})
    with pytest.raises(TypeError, match=f"{FIELD}.reproducible"):
        builder.config.reproducible  # noqa: B018


def test_compile_bytecode_values(tmp_path: Path) -> None:
    assert make_builder(tmp_path, {}).config.compile_bytecode is False
    assert make_builder(tmp_path, {"compile-bytecode": True}).config.compile_bytecode is True
    listed = make_builder(tmp_path, {"compile-bytecode": ["3.12", "3.10"]}).config
    assert listed.compile_bytecode == ["3.10", "3.12"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("yes", "must be true, false or an array of Python versions"),
        (["3.8"], "unknown Python version '3.8'"),
        (["3.12", "3.12"], "lists a version twice"),
        ([""], "must be a non-empty string"),
    ],
)
def test_compile_bytecode_errors(tmp_path: Path, value: Any, message: str) -> None:
    text = error_of(tmp_path, "compile-bytecode", value)
    assert f"{FIELD}.compile-bytecode" in text and message in text, text


def test_compile_bytecode_of_a_version_not_served(tmp_path: Path) -> None:
    builder = make_builder(tmp_path, {"python-versions": ["3.11"], "compile-bytecode": ["3.12"]})
    with pytest.raises(
        ValueError, match=r"compile-bytecode` names Python 3.12, which the file does not serve"
    ):
        builder.config.validate()
