"""Server-side highlighting of sheets (and JSON) as HTML, with Pygments.

A regex lexer for now; the language issue replaces it with one driven by the
language's own tokenizer so the two cannot drift.
"""

import json
from typing import Any

from django.utils.safestring import SafeString, mark_safe
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexer import RegexLexer, bygroups, words
from pygments.lexers.data import JsonLexer
from pygments.token import Comment, Keyword, Name, Number, Operator, Punctuation, String, Text

KEYWORDS = (
    "fulfillment", "action", "option", "scope", "require", "with", "reason", "when",
    "but", "continue", "data", "as", "score", "add", "fanout", "then", "else", "end",
    "and", "or", "not", "in", "contains", "has", "value", "no",
)  # fmt: skip
CONSTANTS = ("true", "false", "nothing", "null")


class SheetLexer(RegexLexer):
    """Orchestration sheets (EVA's sheet language)."""

    name = "Orchestration sheet"
    aliases = ["orchestration-sheet"]
    filenames = ["*.sheet"]
    flags = 2  # re.IGNORECASE: keywords are case-insensitive

    tokens = {
        "root": [
            (r"\s+", Text),
            (r"(#|//).*?$", Comment.Single),
            (r"\$'", String, "template"),
            (r"'(\\'|[^'])*'", String),
            (r"\[[^\]\n]*\]", Name.Variable),
            (words(CONSTANTS, suffix=r"\b"), Keyword.Constant),
            (words(KEYWORDS, suffix=r"\b"), Keyword),
            (r"-?\d+(\.\d+)?", Number),
            (r"(<>|<=|>=|=|<|>|\+|-|\*|/)", Operator),
            (r"[(),]", Punctuation),
            (r"([A-Za-z_][\w]*)(\.)", bygroups(Name.Variable, Punctuation)),
            (r"[A-Za-z_][\w]*", Name),
            (r".", Text),
        ],
        "template": [
            (r"'", String, "#pop"),
            (r"\{[^}]*\}", String.Interpol),
            (r"[^'{]+", String),
        ],
    }


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
