"""Every build error: one clear message, a non-zero exit, nothing in dist/, no credentials shown."""

from __future__ import annotations

import http.server
import re
import threading
import time
from pathlib import Path

import helpers
import pytest
from helpers import configure

SECRET = "hunter2-s3cr3t"


def failed_build(tmp_path: Path, env: dict[str, str], table: str, app: str = "demo-app") -> str:
    """Build with `table`; assert the build failed and left nothing; return its whole output."""
    project = helpers.copy_fixture_app(app, tmp_path)
    configure(project, table)
    result = helpers.hatch_build(project, env=env, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0, helpers.describe(result)
    dist = project / "dist"
    leftovers = sorted(p.name for p in dist.iterdir()) if dist.exists() else []
    assert leftovers == [], leftovers
    assert SECRET not in output
    return output


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ('script = "nope"', "Unknown script in field `tool.hatch.build.targets.pex.script`: 'nope'"),
        ('scripts = ["demo", "nope"]', "Unknown script in field `tool.hatch.build.targets.pex.scripts`"),
        ("compression = 42", "Field `tool.hatch.build.targets.pex.compression` must be a deflate level"),
        ('inherit-path = "always"', "Field `tool.hatch.build.targets.pex.inherit-path` must be one of"),
        ("colour = true", "Unknown field `tool.hatch.build.targets.pex.colour`"),
        (
            'python-versions = ["3.8"]',
            "Field `tool.hatch.build.targets.pex.python-versions` has an unknown Python version '3.8'",
        ),
        (
            'interpreter-constraints = ">=3.99"',
            "The interpreter constraints (>=3.99) admit none of the CPython versions a .pex can serve",
        ),
        (
            f'index-url = "ftp//user:{SECRET}@nowhere"',
            "Field `tool.hatch.build.targets.pex.index-url` must be a URL",
        ),
    ],
)
def test_bad_configuration(tmp_path: Path, env: dict[str, str], table: str, expected: str) -> None:
    output = failed_build(tmp_path, env, table)
    assert expected in output
    assert "Traceback" not in output


def test_entry_point_module_missing(tmp_path: Path, env: dict[str, str]) -> None:
    output = failed_build(tmp_path, env, 'entry-point = "demo_app.missing:main"')
    assert "The module 'demo_app.missing' of the configured entry point" in output
    assert "is not in the project wheel or any of its 2 dependencies" in output  # hp-pure, hp-native


def test_script_pointing_at_missing_module(tmp_path: Path, env: dict[str, str]) -> None:
    project = helpers.copy_fixture_app("demo-app", tmp_path)
    text = (project / "pyproject.toml").read_text()
    (project / "pyproject.toml").write_text(text.replace('"demo_app.cli:echo"', '"demo_app.gone:echo"'))
    result = helpers.hatch_build(project, env=env, check=False)
    assert result.returncode != 0
    assert "The module 'demo_app.gone' of script 'demo-echo'" in result.stdout + result.stderr
    assert not (project / "dist").exists() or list((project / "dist").iterdir()) == []


def resolution_message(output: str) -> list[str]:
    """The lines of the build's error: from its `hatch-pex:` line to the end, each checked for length."""
    lines = output.splitlines()
    start = next(
        i for i, line in enumerate(lines) if line.startswith("hatch-pex: ") and "warning" not in line
    )
    message = lines[start:]
    assert all(len(line) <= 400 for line in message), message
    assert len("\n".join(message)) < 1500, message
    assert "Traceback" not in output
    return message


def test_unknown_project_is_one_cause_for_every_version(tmp_path: Path, env: dict[str, str]) -> None:
    """A name no index has fails every default version (3.9 to 3.15) alike: said once, and neither a
    missing wheel nor a missing interpreter is blamed for the versions that have neither."""
    message = resolution_message(failed_build(tmp_path, env, 'requirements = ["hp-does-not-exist>=1"]'))
    assert message[0] == "hatch-pex: No Python version the project admits can be served:"
    assert re.fullmatch(
        r"  for Python 3\.9 to 3\.15: no index offers hp-does-not-exist \(the index http://127\.0\.0\.1:\d+/simple/ "
        r"answered HTTP 404 Not Found\); check the name",
        message[1],
    ), message
    assert len(message) == 2, message


def test_unknown_project_under_no_index_blames_no_index(tmp_path: Path, env: dict[str, str]) -> None:
    links = tmp_path / "links"
    links.mkdir()
    table = f'no-index = true\nfind-links = ["{links.as_uri()}"]\npython-versions = ["3.12"]'
    message = resolution_message(failed_build(tmp_path, env, table))
    assert message == [
        "hatch-pex: The dependency closure could not be resolved:",
        "  for Python 3.12: no find-links location (`no-index` is set) offers hp-native; check the name",
    ], message


def test_conflicting_requirement_shows_pips_reason(tmp_path: Path, env: dict[str, str]) -> None:
    message = resolution_message(failed_build(tmp_path, env, 'requirements = ["hp-pure>=3"]'))
    assert message[1:] == ["  for Python 3.9 to 3.15: no version of hp-pure>=3 is offered (found: 1.0, 2.0)"]


def test_unreachable_index_is_named_once_and_soon(tmp_path: Path, env: dict[str, str]) -> None:
    """pip's own schedule retries each page five times (8 s a page, minutes across seven versions): the
    build cuts it to one retry, names the index without its credentials, and says it once."""
    port = helpers.free_port()  # nothing listens there
    url = f"http://builder:{SECRET}@127.0.0.1:{port}/simple"
    env = {key: value for key, value in env.items() if key != "PIP_RETRIES"}
    started = time.monotonic()
    output = failed_build(tmp_path, env, f'index-url = "{url}"')
    took = time.monotonic() - started
    assert resolution_message(output) == [
        "hatch-pex: No Python version the project admits can be served:",
        f"  for Python 3.9 to 3.15: the index http://127.0.0.1:{port}/simple cannot be reached (connection "
        "refused); check the index URL and the network",
    ]
    assert "builder" not in output
    assert took < 30, f"{took:.1f} s to report an index that refuses connections"


class RefusingIndex(http.server.BaseHTTPRequestHandler):
    """An index that refuses every request, with a reason phrase that would rewrite the terminal."""

    def do_GET(self) -> None:
        self.send_response(403, "Forbidden\x1b[2K\x1b[1AOK")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_refusing_index_is_named_and_its_words_escaped(tmp_path: Path, env: dict[str, str]) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RefusingIndex)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/simple/"
        output = failed_build(tmp_path, env, f'index-url = "{url}"\npython-versions = ["3.12"]')
    finally:
        server.shutdown()
    assert resolution_message(output) == [
        "hatch-pex: The dependency closure could not be resolved:",
        f"  for Python 3.12: the index {url} refused the request (HTTP 403 Forbidden\\x1b[2K\\x1b[1AOK); check "
        "the credentials (user:password in the URL, netrc or keyring)",
    ]
    assert "\x1b" not in output
