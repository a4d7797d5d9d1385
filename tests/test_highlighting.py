"""Sheets are highlighted by the language's own tokenizer, registered with Pygments."""

from pathlib import Path

import pytest
from pygments.lexers import get_lexer_by_name, get_lexer_for_filename
from pygments.token import Comment, Error, Keyword, Name, Number, Operator, Punctuation, String

from orchestration.integrations.highlighting import SheetLexer, highlight_sheet

DEMO_SHEETS = sorted(
    (Path(__file__).resolve().parent.parent / "orchestration/demo/sheets").glob("*.sheet")
)


@pytest.mark.parametrize("path", DEMO_SHEETS, ids=lambda path: path.name)
def test_highlighting_loses_no_character(path: Path) -> None:
    source = path.read_text()
    assert "".join(value for _, value in SheetLexer().get_tokens(source)) == source


def test_token_kinds_map_to_pygments_types() -> None:
    source = "REQUIRE [A.B] >= 2 and x = nothing with reason 'R', $'{x}' # note\nrequire \u2018"
    kinds = [(kind, value) for kind, value in SheetLexer().get_tokens(source) if value.strip()]
    assert kinds == [
        (Keyword, "REQUIRE"),
        (Name.Variable, "[A.B]"),
        (Operator, ">="),
        (Number, "2"),
        (Keyword, "and"),
        (Name.Variable, "x"),
        (Operator, "="),
        (Keyword.Constant, "nothing"),
        (Keyword, "with reason"),
        (String, "'R'"),
        (Punctuation, ","),
        (String.Interpol, "$'{x}'"),
        (Comment.Single, "# note"),
        (Keyword, "require"),
        (Error, "\u2018"),
    ]


def test_the_lexer_is_registered_with_pygments() -> None:
    """`pygmentize -l orchestration-sheet` and *.sheet files find it (an entry point)."""
    assert isinstance(get_lexer_by_name("orchestration-sheet"), SheetLexer)
    assert isinstance(get_lexer_for_filename("ship.sheet"), SheetLexer)


def test_html_output_escapes_the_source() -> None:
    html = highlight_sheet("require [A] = '<script>'")
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
