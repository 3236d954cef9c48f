"""mkdocs hook: a page can show a section of another page where it says `<!-- include: PAGE#Heading -->`.

docs/comparison.md shows the small app's measured tables from docs/benchmarks.md this way, so the numbers
stay the ones benchmarks/run.py wrote there (never copied by hand). The section runs from its `## Heading`
line to the next heading of the same or a higher level; put the marker under a heading of that level.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

INCLUDE = re.compile(r"^<!-- include: (?P<page>[\w.-]+\.md)#(?P<heading>.+?) -->$", re.MULTILINE)
HEADING = re.compile(r"^(#+) ")


def section(text: str, heading: str) -> str:
    """The lines under the heading whose title starts with `heading`, up to its next sibling."""
    lines = text.splitlines()
    levels = headings(lines)
    starts = [n for n, level in levels.items() if lines[n][level + 1 :].startswith(heading)]
    if not starts:
        raise ValueError(f"no heading starting with {heading!r}")
    start = starts[0]
    end = next((n for n in sorted(levels) if n > start and levels[n] <= levels[start]), len(lines))
    return "\n".join(lines[start + 1 : end]).strip("\n")


def headings(lines: list[str]) -> dict[int, int]:
    """Line number -> level of each `#` heading, outside fenced code blocks (where `#` is a comment)."""
    found, fenced = {}, False
    for number, line in enumerate(lines):
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced and (match := HEADING.match(line)):
            found[number] = len(match.group(1))
    return found


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    from mkdocs.exceptions import PluginError  # here, so that the tests import `section` without mkdocs

    docs = Path(config["docs_dir"])

    def included(match: re.Match[str]) -> str:
        try:
            return section((docs / match["page"]).read_text(encoding="utf-8"), match["heading"])
        except (OSError, ValueError) as error:  # a strict build must not pass with a hole in a page
            raise PluginError(f"{page.file.src_path}: cannot include {match[0]}: {error}") from None

    return INCLUDE.sub(included, markdown)
