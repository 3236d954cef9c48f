"""The build's reporter (hatch_pex/progress.py) on its own: what reaches hatch's app and stderr.
What a real `hatch build -t pex` prints is tests/test_e2e_output.py's business."""

from __future__ import annotations

import re
import time

import pytest

from hatch_pex import progress


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
