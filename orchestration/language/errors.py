"""Diagnostics: every problem found in a sheet, with a stable code and a position.

Modelled on sqlglot's ``errors.py`` (structured errors, collected rather than
raised one at a time) and DRF's stable error codes: editors and the API branch
on ``code``, people read ``message``.
"""

from dataclasses import dataclass, field
from enum import StrEnum

from .lines import split_lines


class Code(StrEnum):
    """Stable codes of sheet diagnostics (EVA's ParseSheet codes, and our own)."""

    INVALID_SYNTAX = "InvalidSyntax"
    INVALID_CHARACTER = "InvalidCharacter"
    UNTERMINATED_STRING = "UnterminatedString"
    UNKNOWN_VARIABLE = "UnknownVariable"
    DUPLICATE_VARIABLE_DECLARATION = "DuplicateVariableDeclaration"
    INVALID_SCOPE_TYPE = "InvalidScopeType"
    INVALID_SCOPE_ORDER = "InvalidScopeOrder"
    INVALID_OPTION = "InvalidOption"
    INVALID_ACTION = "InvalidAction"
    INVALID_EXPRESSION_VALUE_TYPE = "InvalidExpressionValueType"
    MISSING_FULFILLMENT = "MissingFulfillment"
    MISSING_REQUIRED_DATA = "MissingRequiredData"
    UNKNOWN_DATA_KEY = "UnknownDataKey"
    TOO_LARGE = "TooLarge"
    # Warnings: the sheet works, but says it in a way that reads otherwise.
    LIST_IN = "ListIn"


@dataclass(frozen=True, slots=True)
class Span:
    """Where something is in the source: 1-based line and column, in characters.

    ``end_line``/``end_column`` point just past the last character (exclusive),
    as CodeMirror ranges do.
    """

    line: int
    column: int
    end_line: int
    end_column: int


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem in a sheet."""

    code: Code
    message: str
    span: Span
    hint: str | None = field(default=None)

    def render(self, source: str) -> str:
        """``line L, column C: message``, the source line and a caret under the fault."""
        lines = split_lines(source)
        text = lines[self.span.line - 1] if 0 < self.span.line <= len(lines) else ""
        width = (
            self.span.end_column - self.span.column
            if self.span.end_line == self.span.line
            else len(text) - self.span.column + 1
        )
        caret = " " * (self.span.column - 1) + "^" * max(1, width)
        rendered = f"line {self.span.line}, column {self.span.column}: {self.message}\n"
        rendered += f"    {text}\n    {caret}"
        if self.hint:
            rendered += f"\n    hint: {self.hint}"
        return rendered
