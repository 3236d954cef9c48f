"""Text from a .pex made safe to print on a terminal, as git quotes the paths it prints.

Member names and PEX-INFO strings are whatever the file says: an escape sequence in one of them could
move the cursor and rewrite a `FAILED` line as `OK`, a bidi override could reorder what is read, a line
separator could start a line of its own. The tools pass every piece of text they print for people
through `printable`; JSON output needs nothing (json escapes control characters itself).
"""

from __future__ import annotations

# Characters that change how the rest of a line is shown rather than showing themselves: line and
# paragraph separators, the bidi marks, embeddings, overrides and isolates, the Arabic letter mark.
LAYOUT_CONTROLS = frozenset(
    "\u2028\u2029\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u061c"
)
SHORT_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str) -> str:
    """`text` with each C0 and C1 control, DEL, layout control and backslash escaped (`\\x1b`,
    `\\u202e`, `\\\\`): what is printed is what the file holds, and nothing acts on the terminal."""
    if text.isprintable() and "\\" not in text:  # the common case: nothing to do
        return text
    return "".join(_escaped(char) for char in text)


def _escaped(char: str) -> str:
    if char in SHORT_ESCAPES:
        return SHORT_ESCAPES[char]
    code = ord(char)
    if code < 0x20 or 0x7F <= code < 0xA0:
        return f"\\x{code:02x}"
    if char in LAYOUT_CONTROLS:
        return f"\\u{code:04x}"
    return char
