"""The build's reporter (hatch_pex/progress.py) on its own: what reaches hatch's app and stderr.
What a real `hatch build -t pex` prints is tests/test_e2e_output.py's business."""

from __future__ import annotations

import re
import time

import pytest

from hatch_pex import diagnosis, progress
from hatch_pex.platforms import Platform
from hatch_pex.resolve import ResolveError, _pip_failure


class RecordingApp:
    """What hatchling hands a builder as `self.app`: a verbosity and display methods."""

    def __init__(self, verbosity: int) -> None:
        self.verbosity = verbosity
        self.debug: list[str] = []

    def display_debug(self, message: str = "", level: int = 1) -> None:
        if self.verbosity >= level:
            self.debug.append(message)


def test_elapsed_reads_like_uvs_timings() -> None:
    assert re.fullmatch(r"\d{1,3}ms", progress.elapsed(time.monotonic()))
    assert re.fullmatch(r"2\.\d\ds", progress.elapsed(time.monotonic() - 2.5))
    assert re.fullmatch(r"12\.\ds", progress.elapsed(time.monotonic() - 12.5))


def test_tool_output_shows_at_verbose_only_and_without_credentials() -> None:
    text = "Looking in indexes: https://deployer:s3cr3t@example.org/simple\n\nWould install a-1.0\n"
    quiet, verbose = RecordingApp(0), RecordingApp(1)
    for app in (quiet, verbose):
        with progress.reporting(progress.Reporter(app, terminal=False)):
            assert progress.verbose() is (app.verbosity >= 1)
            progress.tool_output("pip (Python 3.12)", text)
    assert quiet.debug == []
    [block] = verbose.debug
    assert "s3cr3t" not in block and "deployer" not in block
    assert block.splitlines() == [
        "  pip (Python 3.12): Looking in indexes: https://****@example.org/simple",
        "  pip (Python 3.12): Would install a-1.0",
    ]
    assert progress.active() is None and not progress.verbose()  # restored on exit


@pytest.mark.parametrize("terminal", [True, False])
def test_status_line_on_a_terminal_only(
    terminal: bool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(progress, "STATUS_DELAY", 0.0)
    reporter = progress.Reporter(RecordingApp(0), terminal=terminal)
    with progress.reporting(reporter), reporter.stage("Resolving with pip", {"platforms resolved": 5}):
        progress.count("platforms resolved", 2)
        progress.count("wheels downloaded", 3)
        time.sleep(0.35)
    written = capsys.readouterr().err
    if not terminal:
        assert written == ""
        return
    assert re.search(
        r"\r\x1b\[K[|/\\-] Resolving with pip: 2/5 platforms resolved, 3 wheels downloaded", written
    )
    assert written.endswith("\r\x1b[K")  # cleared: the next line starts clean
    assert "\n" not in written


# Failed resolutions: pip's output read as causes (diagnosis.py), said once per cause (progress.py) ------

# pip 26.3's words (--quiet), and the pip server's own line for an index page it could not fetch.
REFUSED_OUTPUT = (
    "WARNING: Retrying (Retry(total=0, connect=None, read=None, redirect=None, status=None)) after "
    "connection broken by 'NewConnectionError(\"HTTPConnection(host='127.0.0.1', port=9): Failed to "
    "establish a new connection: [Errno 111] Connection refused\")': /simple/click/\n"
    "hatch-pex-index-failure\tthe index http://deployer:****@127.0.0.1:9/simple\tHTTPConnectionPool(host="
    "'127.0.0.1', port=9): Max retries exceeded with url: /simple/click/ (Caused by NewConnectionError("
    "'Failed to establish a new connection: [Errno 111] Connection refused'))\n"
    "ERROR: Could not find a version that satisfies the requirement click (from versions: none)\n"
    "ERROR: No matching distribution found for click\n"
)
NOT_FOUND_OUTPUT = (
    "ERROR: Could not find a version that satisfies the requirement hp_does_not_exist>=1 (from versions: none)\n"
    "ERROR: No matching distribution found for hp_does_not_exist>=1\n"
)


def failure(output: str, platform: Platform, *, no_interpreter: bool = False) -> ResolveError:
    error = _pip_failure("resolve the requirements", output, platform)
    error.no_interpreter = no_interpreter
    return error


def test_an_unreachable_index_is_one_cause_naming_the_index() -> None:
    found = diagnosis.causes(REFUSED_OUTPUT)
    assert found == (
        diagnosis.Cause(
            diagnosis.INDEX_UNREACHABLE, "the index http://127.0.0.1:9/simple", "connection refused"
        ),
    )
    # Without the pip server's line (a pip whose internals changed): pip's retry warning names it.
    fallback = diagnosis.causes("\n".join(REFUSED_OUTPUT.splitlines()[:1] + REFUSED_OUTPUT.splitlines()[2:]))
    assert fallback == (
        diagnosis.Cause(
            diagnosis.INDEX_UNREACHABLE, "the index http://127.0.0.1:9/simple/", "connection refused"
        ),
    )


@pytest.mark.parametrize(
    ("reason", "kind", "detail"),
    [
        ("401 Client Error: Unauthorized for url: http://h/simple/x/", diagnosis.INDEX_REFUSED, "HTTP 401 Unauthorized"),
        ("RetryError(... too many 503 error responses)", diagnosis.INDEX_REFUSED, "HTTP 503 error responses"),
        ("[Errno -2] Name or service not known", diagnosis.INDEX_UNREACHABLE, "its host name does not resolve"),
        ("connection error: timed out", diagnosis.INDEX_UNREACHABLE, "timed out"),
        ("There was a problem confirming the ssl certificate: CERTIFICATE_VERIFY_FAILED", diagnosis.INDEX_UNREACHABLE,
         "its TLS certificate could not be verified"),
    ],
)  # fmt: skip
def test_index_failures_are_named_by_kind(reason: str, kind: str, detail: str) -> None:
    output = f"hatch-pex-index-failure\tthe index http://h/simple\t{reason}\n{NOT_FOUND_OUTPUT}"
    assert diagnosis.causes(output) == (diagnosis.Cause(kind, "the index http://h/simple", detail),)


def test_a_404_is_the_projects_absence_not_the_indexs_refusal() -> None:
    output = f"hatch-pex-index-failure\tthe index https://pypi.org/simple\t404 Client Error: Not Found for url: x\n{NOT_FOUND_OUTPUT}"
    [cause] = diagnosis.causes(output)
    assert (cause.kind, cause.subject) == (diagnosis.NOT_FOUND, "hp-does-not-exist")
    assert cause.detail == "the index https://pypi.org/simple answered HTTP 404 Not Found"


def test_conflicts_and_versions_are_read_from_pips_words() -> None:
    conflict = (
        "ERROR: Cannot install app because these package versions have conflicting dependencies.\n\n"
        "The conflict is caused by:\n    app 1.0 depends on hp-pure>=3\n    hp-requires-pure 1.0 depends on hp-pure<2\n\n"
        "To fix this you could try to:\n1. loosen the range of package versions you've specified\n"
    )
    [cause] = diagnosis.causes(conflict)
    assert cause == diagnosis.Cause(
        diagnosis.CONFLICT, "", "app 1.0 depends on hp-pure>=3; hp-requires-pure 1.0 depends on hp-pure<2"
    )
    versions = "ERROR: Could not find a version that satisfies the requirement hp-pure>=3 (from versions: 1.0, 2.0)\n"
    assert diagnosis.causes(versions) == (
        diagnosis.Cause(diagnosis.NO_MATCHING_VERSION, "hp-pure>=3", "1.0, 2.0"),
    )
    crash = "ERROR: Exception:\nTraceback (most recent call last):\n  File x\nOSError: [Errno 28] No space left on device\n"
    assert diagnosis.causes(crash) == (
        diagnosis.Cause(diagnosis.OTHER, "", "OSError: [Errno 28] No space left on device"),
    )


def test_versions_are_grouped_as_ranges() -> None:
    assert progress.versions_text(["3.11", "3.9", "3.10", "3.12"]) == "Python 3.9 to 3.12"
    assert progress.versions_text(["3.14", "3.15"]) == "Python 3.14 and 3.15"
    assert progress.versions_text(["3.9", "3.11", "3.13"]) == "Python 3.9, 3.11, 3.13"
    assert progress.versions_text(["3.12"]) == "Python 3.12"


def test_each_cause_is_said_once_for_the_versions_it_applies_to() -> None:
    """The unreachable index fails every version alike: one line. An unknown project is unknown
    everywhere once a native attempt (sdists allowed) did not find it: no wrong "no wheel" or missing
    interpreter for the versions that had neither."""
    versions = [Platform.local(v) for v in ("3.9", "3.10", "3.11", "3.12", "3.13", "3.14", "3.15")]
    context = progress.FailureContext()
    unreachable = {p: failure(REFUSED_OUTPUT, p) for p in versions}
    [line] = progress.failure_lines(unreachable, context)
    assert (
        line
        == "for Python 3.9 to 3.15: the index http://127.0.0.1:9/simple cannot be reached (connection refused); check the index URL and the network"
    )
    absent = {p: failure(NOT_FOUND_OUTPUT, p.with_python("/usr/bin/python3") if p.version < "3.14" else p,
                         no_interpreter=p.version >= "3.14") for p in versions}  # fmt: skip
    absent = {p: absent[p] for p in versions}
    [line] = progress.failure_lines(absent, context)
    assert line == "for Python 3.9 to 3.15: no index offers hp-does-not-exist; check the name"
    [line] = progress.failure_lines(absent, progress.FailureContext(no_index=True))
    assert (
        "reachable" not in line
        and "no find-links location (`no-index` is set) offers hp-does-not-exist" in line
    )


def test_versions_without_a_wheel_or_an_interpreter_take_one_line() -> None:
    newest = [Platform.local("3.14"), Platform.local("3.15")]
    missing = NOT_FOUND_OUTPUT.replace("hp_does_not_exist>=1", "hp-native")
    failures = {p: failure(missing, p, no_interpreter=True) for p in newest}
    context = progress.FailureContext(resolved=frozenset({"hp-native"}))
    [(where, sentence)] = progress.grouped_failures(failures, context)
    assert where == "Python 3.14 and 3.15"
    assert sentence.startswith(
        "no wheel of hp-native fits, and no interpreter of that version was found here"
    )


class WarningApp(RecordingApp):
    def __init__(self) -> None:
        super().__init__(0)
        self.warnings: list[str] = []

    def display_warning(self, message: str = "") -> None:
        self.warnings.append(message)


def sized(platforms: list[Platform], megabytes: float) -> tuple[dict[str, list[str]], dict[str, int]]:
    """One wheel of `megabytes` per platform (a native wheel each) and a shared pure one."""
    sets = {p.text: [f"native-{p.text}.whl", "pure.whl"] for p in platforms}
    sizes = {f"native-{p.text}.whl": int(megabytes * 1e6) for p in platforms}
    return sets, {**sizes, "pure.whl": 100_000}


def test_the_size_warning_counts_like_for_like_above_the_threshold() -> None:
    """Two machines at two versions: one version costs both machines' wheels, not the build machine's alone."""
    machines = ("linux_x86_64", "manylinux2014_aarch64")
    platforms = [
        Platform.parse(f"{m}-cp-{v}-cp{v.replace('.', '')}") for v in ("3.11", "3.12") for m in machines
    ]
    key = "tool.hatch.build.targets.pex"

    def field(name: str) -> str:  # PexBuilderConfig.field's form
        return f"{key}.{name}"

    app = WarningApp()
    progress.Reporter(app, terminal=False).size(platforms, *sized(platforms, 20), field=field)
    assert app.warnings == []  # 40 MB more for the second version: below SIZE_WARNING_EXTRA
    progress.Reporter(app, terminal=False).size(platforms, *sized(platforms, 30), field=field)
    [line] = app.warnings
    assert line.startswith(
        "hatch-pex: warning: serving Python 3.11 and 3.12 makes the wheels 120.1 MB, against 60.1 MB for one version;"
    )
    assert f"`{key}.platforms`" in line


def test_a_servers_words_cannot_act_on_the_terminal() -> None:
    """An index's HTTP reason phrase is whatever it sent: escape sequences are shown, not acted on."""
    # As the pip server writes it: on one line, its whitespace (\r, \n) made spaces.
    reason = "403 Client Error: \x1b[2K\x1b[1AOK\u202e for url: http://h/simple/x/"
    [cause] = diagnosis.causes(
        f"hatch-pex-index-failure\tthe index http://h/simple\t{reason}\n{NOT_FOUND_OUTPUT}"
    )
    assert cause.detail == "HTTP 403 \\x1b[2K\\x1b[1AOK\\u202e"
    assert not any(char in cause.detail for char in "\x1b\u202e")
