"""Line breaks in sheet source: one rule for everything that counts lines.

A line ends at ``\\n``, at ``\\r\\n`` (Windows) or at a lone ``\\r`` (old Mac
editors, some clipboards and browsers' form posts); nothing else ends one.
``\\v``, ``\\f``, ``\\x1c``-``\\x1e``, ``\\x85``, U+2028 and U+2029 are spaces
inside a line, although ``str.splitlines`` breaks at them, so nothing here uses
``splitlines``.

The tokenizer reads ``normalize(source)``, so every 1-based line and column in a
diagnostic or a node's span is a position in that text. ``LineTable`` turns
them back into offsets in it: the visual editor, the engine's statement texts
and the diagnostics' carets use it, and sheets are stored normalised
(``services.sheet_create``), so stored text and positions agree.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # errors.py imports this module
    from .errors import Span


def normalize(source: str) -> str:
    """``source`` with every line break written ``\\n``."""
    if "\r" not in source:
        return source
    return source.replace("\r\n", "\n").replace("\r", "\n")


def split_lines(source: str) -> list[str]:
    """The lines of ``source`` as the tokenizer counts them (line 1 is ``[0]``)."""
    return normalize(source).split("\n")


class LineTable:
    """Offsets of 1-based lines and columns in ``normalize(source)``, which is ``text``."""

    def __init__(self, source: str) -> None:
        self.text = normalize(source)
        self.starts = [0]
        for line in self.text.split("\n"):
            self.starts.append(self.starts[-1] + len(line) + 1)

    def offset(self, line: int, column: int) -> int:
        """The offset of a position; positions beyond the text clamp to its ends."""
        if line < 1:
            return 0
        if line > len(self.starts) - 1:
            return len(self.text)
        return min(self.starts[line - 1] + max(column, 1) - 1, len(self.text))

    def offsets(self, span: Span) -> tuple[int, int]:
        """Where a span starts and ends (exclusive) in ``text``."""
        return self.offset(span.line, span.column), self.offset(span.end_line, span.end_column)
