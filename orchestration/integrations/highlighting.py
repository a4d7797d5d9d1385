"""Server-side highlighting of sheets (and JSON) as HTML, with Pygments.

``SheetLexer`` does not re-describe the language with regexes: it runs the
language's own tokenizer (``orchestration.language.tokens``) and maps each
token kind to a Pygments token type, so highlighting can never drift from
the parser. It is registered as the Pygments lexer ``orchestration-sheet``
(``pygmentize -l orchestration-sheet FILE.sheet``).
"""

import json
from collections.abc import Iterator
from typing import Any

from django.utils.safestring import SafeString, mark_safe
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers.data import JsonLexer
from pygments.token import (
    Comment,
    Error,
    Keyword,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
    Text,
    _TokenType,
)

from ..language.tokens import TokenKind, tokenize

_CONSTANTS = frozenset({"true", "false", "nothing", "null"})
_TOKEN_TYPES = {
    TokenKind.KEYWORD: Keyword,
    TokenKind.NAME: Name.Variable,
    TokenKind.VARIABLE: Name.Variable,
    TokenKind.STRING: String,
    TokenKind.TEMPLATE: String.Interpol,
    TokenKind.NUMBER: Number,
    TokenKind.OPERATOR: Operator,
    TokenKind.PUNCTUATION: Punctuation,
    TokenKind.COMMENT: Comment.Single,
    TokenKind.NEWLINE: Text,
    TokenKind.ERROR: Error,
}


class SheetLexer(Lexer):
    """Orchestration sheets (EVA's sheet language), from the language's tokenizer."""

    name = "Orchestration sheet"
    aliases = ["orchestration-sheet", "sheet"]
    filenames = ["*.sheet"]
    mimetypes = ["text/x-orchestration-sheet"]

    def get_tokens_unprocessed(self, text: str) -> Iterator[tuple[int, _TokenType, str]]:
        tokens, _ = tokenize(text)
        position = 0
        for token in tokens:
            if token.start > position:  # spaces between tokens
                yield position, Text, text[position : token.start]
            kind = _TOKEN_TYPES[token.kind]
            if token.kind is TokenKind.KEYWORD and token.value in _CONSTANTS:
                kind = Keyword.Constant
            yield token.start, kind, token.text
            position = token.end
        if position < len(text):
            yield position, Text, text[position:]


_FORMATTER = HtmlFormatter(cssclass="highlight", linenos="table")


def highlight_sheet(source: str) -> SafeString:
    """The sheet as highlighted HTML, with line numbers."""
    # Pygments escapes everything it emits.
    return mark_safe(highlight(source, SheetLexer(), _FORMATTER))  # noqa: S308


def highlight_json(value: Any) -> SafeString:
    """A JSON value as highlighted, indented HTML."""
    text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    return mark_safe(highlight(text, JsonLexer(), HtmlFormatter(cssclass="highlight")))  # noqa: S308


def highlight_css() -> str:
    """The stylesheet the highlighted HTML needs."""
    return _FORMATTER.get_style_defs(".highlight")
