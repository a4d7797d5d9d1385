"""The sheet tokenizer: source text in, tokens with exact positions out.

One tokenizer serves the parser (through lark's custom-lexer hook), the
Pygments highlighter and the editor, so none of them can drift from the
language. The keyword tables below are the only ones in the project.

Rules (from EVA's "Order orchestration" chapter and the language issue):

- Keywords are case-insensitive. Multi-word keywords (``with reason``,
  ``score add``, ``but continue``, ``has value``, ``has no value``, ``not in``,
  ``not contains``) become one token, so a bare ``reason`` or ``value`` stays
  a name.
- Variables are ``[A.B.C]`` (one token) or bare ``A.B.C``.
- Strings are ``'...'`` (may span lines, ``\\'`` escapes a quote); template
  strings are ``$'... {expression} ...'``.
- Comments run from ``#`` or ``//`` to the end of the line.
- A line break ends a statement, unless a parenthesis is still open or the
  next line (after blank and comment lines) begins with ``with reason``,
  ``when``, ``but continue``, ``else`` or ``end``.

The tokenizer never raises: a character it cannot read becomes an ``ERROR``
token and a diagnostic, and tokenizing goes on.
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum

from .errors import Code, Diagnostic, Span
from .lines import normalize


class TokenKind(Enum):
    """What a token is."""

    KEYWORD = "keyword"
    NAME = "name"  # bare, possibly dotted: Supplier.Type
    VARIABLE = "variable"  # bracketed: [Supplier.Type]
    STRING = "string"
    TEMPLATE = "template"  # $'... {expr} ...'
    NUMBER = "number"
    OPERATOR = "operator"
    PUNCTUATION = "punctuation"  # ( ) ,
    COMMENT = "comment"
    NEWLINE = "newline"  # the end of a statement
    ERROR = "error"


# Digits before a number's point. A score adds at most 1e300 (the engine's
# ``MAX_SCORE``), and no quantity, distance or price comes near it, so a longer
# number is a typo or an attack: refused where it is written rather than failing
# every supplier at routing time.
MAX_NUMBER_DIGITS = 300


# Single-word keywords; each is its own terminal (upper-cased) in the grammar.
KEYWORDS = frozenset(
    {
        "fulfillment", "action", "option", "scope", "require", "with", "when",
        "data", "as", "fanout", "then", "else", "end", "and", "or", "not", "in",
        "contains", "true", "false", "nothing", "null",
    }
)  # fmt: skip

# Multi-word keywords: the words, and the terminal they become.
COMPOUND_KEYWORDS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("has", "no", "value"), "HAS_NO_VALUE"),
    (("has", "value"), "HAS_VALUE"),
    (("not", "contains"), "NOT_CONTAINS"),
    (("not", "in"), "NOT_IN"),
    (("with", "reason"), "WITH_REASON"),
    (("score", "add"), "SCORE_ADD"),
    (("but", "continue"), "BUT_CONTINUE"),
)

# A line beginning with one of these continues the statement above it.
CONTINUATION_TERMINALS = frozenset({"WITH_REASON", "WHEN", "BUT_CONTINUE", "ELSE", "END"})

OPERATORS = {
    "<>": "NE",
    "<=": "LE",
    ">=": "GE",
    "=": "EQ",
    "<": "LT",
    ">": "GT",
    "+": "PLUS",
    "-": "MINUS",
    "*": "STAR",
    "/": "SLASH",
}
PUNCTUATION = {"(": "LPAREN", ")": "RPAREN", ",": "COMMA"}

# Curly quotes come from word processors; say so instead of "unexpected character".
_CURLY_QUOTES = "\u2018\u2019\u201c\u201d"
# A curly quote whose UTF-8 bytes were read in a Western or Greek code page, as the
# reference writes its own curly-quoted 'print' (beta, euro sign, small tilde before
# it): the quote each stands for. Read as that quote, then as the string it meant.
_GARBLED_QUOTES = {
    prefix + tail: quote
    for prefix in ("\u00e2\u20ac", "\u03b2\u20ac")
    for tail, quote in (
        ("\u02dc", "\u2018"),
        ("\u2122", "\u2019"),
        ("\u0153", "\u201c"),
        ("\u009d", "\u201d"),
    )
}
_GARBLE_STARTS = "\u00e2\u03b2"
# The ways a closing quote is written: itself, or garbled.
_CLOSERS = {
    quote: (quote, *(text for text, meant in _GARBLED_QUOTES.items() if meant == quote))
    for quote in ("\u2019", "\u201d")
}
_STRING_SPECIAL = re.compile(r"['\\]")  # what ends a plain run of a string's text
_VARIABLE_END = re.compile(r"[\]\n]")  # what ends a bracketed variable


def _shown(quote: str, written: str) -> str:
    """A curly quote as a message names it, and how it is written when garbled."""
    return quote if written == quote else f"{quote} (written {written})"


@dataclass(frozen=True, slots=True)
class Token:
    """One token: its kind, its grammar terminal, its exact text and where it is.

    ``value`` is the meaning: a keyword's canonical spelling, a string without
    its quotes and escapes, a number as ``Decimal``, a variable's path.
    """

    kind: TokenKind
    terminal: str
    text: str
    value: object
    span: Span
    start: int  # offsets into the source, for slicing
    end: int


class _Reader:
    """A cursor over the source that keeps line and column."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.offset = 0
        self.line = 1
        self.column = 1

    def peek(self, ahead: int = 0) -> str:
        index = self.offset + ahead
        return self.source[index] if index < len(self.source) else ""

    def advance(self, count: int = 1) -> None:
        # Whole runs at once: comments, strings and names can be 100,000 characters long.
        start = self.offset
        end = min(start + count, len(self.source))
        if end <= start:
            return
        newlines = self.source.count("\n", start, end)
        if newlines:
            self.line += newlines
            self.column = end - self.source.rfind("\n", start, end)
        else:
            self.column += end - start
        self.offset = end

    def skip_to(self, end: int) -> None:
        """Advance to offset ``end`` (at most the end of the source)."""
        self.advance(end - self.offset)


def _is_digit(char: str) -> bool:
    # str.isdigit() also accepts '²' and other digits Decimal cannot read.
    return "0" <= char <= "9" and char != ""


def _is_space(char: str) -> bool:
    # \ufeff: the byte-order mark Windows editors put at the start.
    return char in " \t\f\v\u00a0\ufeff" or (char.isspace() and char != "\n")


def _is_name_start(char: str) -> bool:
    return char.isalpha() or char == "_"


def _is_name_char(char: str) -> bool:
    return char.isalnum() or char == "_"


class Tokenizer:
    """Turns sheet source into tokens and diagnostics."""

    def __init__(self, source: str) -> None:
        self.source = normalize(source)  # positions are counted in this text (lines.py)
        self.reader = _Reader(self.source)
        self.diagnostics: list[Diagnostic] = []

    # --- helpers ------------------------------------------------------------

    def _make(
        self,
        kind: TokenKind,
        terminal: str,
        start: tuple[int, int, int],
        value: object = None,
    ) -> Token:
        offset, line, column = start
        text = self.source[offset : self.reader.offset]
        span = Span(line, column, self.reader.line, self.reader.column)
        value = text if value is None else value
        return Token(kind, terminal, text, value, span, offset, self.reader.offset)

    def _here(self) -> tuple[int, int, int]:
        return (self.reader.offset, self.reader.line, self.reader.column)

    def _error(self, code: Code, message: str, token: Token, hint: str | None = None) -> None:
        self.diagnostics.append(Diagnostic(code, message, token.span, hint))

    # --- raw tokens -----------------------------------------------------------

    def raw_tokens(self) -> Iterator[Token]:
        """Every token as written, comments and line breaks included."""
        reader = self.reader
        while reader.offset < len(self.source):
            char = reader.peek()
            start = self._here()
            if char == "\n":
                reader.advance()
                yield self._make(TokenKind.NEWLINE, "_NL", start, "\n")
            elif _is_space(char):
                end = reader.offset + 1
                while end < len(self.source) and _is_space(self.source[end]):
                    end += 1
                reader.skip_to(end)  # a run of spaces at once
            elif char == "#" or (char == "/" and reader.peek(1) == "/"):
                end = self.source.find("\n", reader.offset)
                reader.skip_to(len(self.source) if end < 0 else end)
                yield self._make(TokenKind.COMMENT, "COMMENT", start)
            elif char == "'" or (char == "$" and reader.peek(1) == "'"):
                yield self._string(start)
            elif char == "[":
                yield self._bracketed_variable(start)
            elif _is_digit(char):
                yield self._number(start)
            elif char in _GARBLE_STARTS and _GARBLED_QUOTES.get(
                self.source[reader.offset : reader.offset + 3]
            ) in ("\u2018", "\u201c"):
                yield self._curly_string(start)  # an opening quote, garbled
            elif _is_name_start(char):
                yield self._word(start)
            elif self.source.startswith(("<>", "<=", ">="), reader.offset):
                reader.advance(2)
                text = self.source[start[0] : reader.offset]
                yield self._make(TokenKind.OPERATOR, OPERATORS[text], start)
            elif char in OPERATORS:
                reader.advance()
                yield self._make(TokenKind.OPERATOR, OPERATORS[char], start)
            elif char in PUNCTUATION:
                reader.advance()
                yield self._make(TokenKind.PUNCTUATION, PUNCTUATION[char], start)
            elif char in "\u2018\u201c":
                yield self._curly_string(start)
            else:
                yield self._unexpected(start, char)

    def _number(self, start: tuple[int, int, int]) -> Token:
        """A number from ``start``: digits, and a fraction if a digit follows the point."""
        reader = self.reader
        reader.skip_to(self._digits_end(reader.offset))
        if reader.peek() == "." and _is_digit(reader.peek(1)):
            reader.skip_to(self._digits_end(reader.offset + 1))
        text = self.source[start[0] : reader.offset]
        token = self._make(TokenKind.NUMBER, "NUMBER", start, Decimal(text))
        digits = len(text.partition(".")[0].lstrip("0"))
        if digits > MAX_NUMBER_DIGITS:
            self._error(
                Code.TOO_LARGE,
                f"this number has {digits:,} digits before its point; a sheet's numbers "
                f"have at most {MAX_NUMBER_DIGITS}",
                token,
            )
        return token

    def _unexpected(self, start: tuple[int, int, int], char: str) -> Token:
        """An ERROR token for ``char``, which starts no token, and its diagnostic."""
        self.reader.advance()
        token = self._make(TokenKind.ERROR, "ERROR", start)
        if char in _CURLY_QUOTES:
            self._error(
                Code.INVALID_CHARACTER,
                f"curly quote {char} cannot start or end a string",
                token,
                "use straight single quotes: 'text'",
            )
        elif char == "\\":
            self._error(
                Code.INVALID_CHARACTER,
                "unexpected character '\\'",
                token,
                "sheets have no line-continuation character: a statement goes on when "
                "the next line begins with with reason, when, but continue, else or end",
            )
        else:
            shown = repr(char) if not char.isprintable() else f"'{char}'"
            self._error(Code.INVALID_CHARACTER, f"unexpected character {shown}", token)
        return token

    def _digits_end(self, offset: int) -> int:
        """Where the run of digits 0-9 from ``offset`` ends."""
        source = self.source
        end = len(source)
        while offset < end and "0" <= source[offset] <= "9":
            offset += 1
        return offset

    def _string(self, start: tuple[int, int, int]) -> Token:
        reader = self.reader
        is_template = reader.peek() == "$"
        reader.advance(2 if is_template else 1)
        chars: list[str] = []
        depth = 0  # inside {...} of a template, a quote does not end the string
        quoted = False  # inside a string within {...}: braces do not count
        while True:
            if not is_template:
                # Plain text up to the next quote or backslash, at once.
                special = _STRING_SPECIAL.search(self.source, reader.offset)
                end = len(self.source) if special is None else special.start()
                if end > reader.offset:
                    chars.append(self.source[reader.offset : end])
                    reader.skip_to(end)
            char = reader.peek()
            if char == "":
                kind = TokenKind.TEMPLATE if is_template else TokenKind.STRING
                token = self._make(kind, "ERROR", start)
                self._error(
                    Code.UNTERMINATED_STRING,
                    "string is never closed: expected ' before the end of the sheet",
                    token,
                )
                return token
            if char == "\\" and reader.peek(1) in ("'", "\\") and depth == 0:
                chars.append(reader.peek(1))
                reader.advance(2)
                continue
            if depth and quoted and char == "\\" and reader.peek(1):
                chars.append(char + reader.peek(1))
                reader.advance(2)
                continue
            if depth and char == "'":
                quoted = not quoted
            elif is_template and char == "{" and not quoted:
                depth += 1
            elif is_template and char == "}" and depth and not quoted:
                depth -= 1
            elif char == "'" and depth == 0:
                reader.advance()
                break
            chars.append(char)
            reader.advance()
        if is_template:
            return self._make(TokenKind.TEMPLATE, "TEMPLATE", start, "".join(chars))
        return self._make(TokenKind.STRING, "STRING", start, "".join(chars))

    def _curly_string(self, start: tuple[int, int, int]) -> Token:
        """Curly-quoted text from a word processor: reported, then read as the
        string it meant, so the rest of the statement is still parsed and checked."""
        reader = self.reader
        source = self.source
        written = source[reader.offset : reader.offset + 3]
        opening = _GARBLED_QUOTES.get(written) or reader.peek()
        width = 3 if written in _GARBLED_QUOTES else 1
        closing = "\u2019" if opening == "\u2018" else "\u201d"
        ends = [
            (at, len(text))
            for text in _CLOSERS[closing]
            if (at := source.find(text, reader.offset + width)) >= 0
        ]
        end, end_width = min(ends) if ends else (-1, 1)
        newline = source.find("\n", reader.offset + 1)
        for _ in range(width):
            reader.advance()
        opener = self._make(TokenKind.ERROR, "ERROR", start)
        self._error(
            Code.INVALID_CHARACTER,
            f"curly quote {_shown(opening, opener.text)} cannot start or end a string",
            opener,
            "use straight single quotes: 'text'",
        )
        if end < 0 or (0 <= newline < end):
            return opener
        while reader.offset < end:
            reader.advance()
        before_closing = self._here()
        for _ in range(end_width):
            reader.advance()
        closer = self._make(TokenKind.ERROR, "ERROR", before_closing)
        self._error(
            Code.INVALID_CHARACTER,
            f"curly quote {_shown(closing, closer.text)} cannot start or end a string",
            closer,
            "use straight single quotes: 'text'",
        )
        value = source[start[0] + width : end]
        return self._make(TokenKind.STRING, "STRING", start, value)

    def _bracketed_variable(self, start: tuple[int, int, int]) -> Token:
        reader = self.reader
        reader.advance()
        found = _VARIABLE_END.search(self.source, reader.offset)
        reader.skip_to(len(self.source) if found is None else found.start())
        if reader.peek() != "]":
            token = self._make(TokenKind.ERROR, "ERROR", start)
            self._error(Code.INVALID_SYNTAX, "expected ']' to close the variable", token)
            return token
        reader.advance()
        inner = self.source[start[0] + 1 : reader.offset - 1].strip()
        token = self._make(TokenKind.VARIABLE, "VARIABLE", start, inner)
        parts = inner.split(".")
        if not all(part and all(_is_name_char(c) for c in part) for part in parts) or not (
            _is_name_start(inner[:1])
        ):
            self._error(
                Code.INVALID_SYNTAX,
                f"'{token.text}' is not a variable name",
                token,
                "a variable is a name, or names joined by dots: [Supplier.Address.City]",
            )
            span = token.span
            return Token(TokenKind.ERROR, "ERROR", token.text, inner, span, token.start, token.end)
        return token

    def _word(self, start: tuple[int, int, int]) -> Token:
        reader = self.reader
        source = self.source
        end = len(source)
        offset = reader.offset
        # A name character, or a dot before a name's first character (no line breaks).
        while offset < end:
            char = source[offset]
            if _is_name_char(char) or (
                char == "." and offset + 1 < end and _is_name_start(source[offset + 1])
            ):
                offset += 1
            else:
                break
        reader.skip_to(offset)
        text = self.source[start[0] : reader.offset]
        lowered = text.lower()
        for words, terminal in COMPOUND_KEYWORDS:
            if lowered == words[0] and self._followed_by(words[1:]):
                return self._make(TokenKind.KEYWORD, terminal, start, " ".join(words))
        if lowered in KEYWORDS:
            return self._make(TokenKind.KEYWORD, lowered.upper(), start, lowered)
        return self._make(TokenKind.NAME, "NAME", start, text)

    def _followed_by(self, words: tuple[str, ...]) -> bool:
        """Consume ``words`` if they follow on this line, separated by spaces."""
        reader = self.reader
        saved = (reader.offset, reader.line, reader.column)
        for word in words:
            if reader.peek() not in (" ", "\t"):
                break
            while reader.peek() in (" ", "\t"):
                reader.advance()
            begin = reader.offset
            while _is_name_char(reader.peek()):
                reader.advance()
            if self.source[begin : reader.offset].lower() != word:
                break
        else:
            # "not In.Stock" is not followed by the keyword "in": a dotted name
            # starts there.
            if reader.peek() != "." or not _is_name_start(reader.peek(1)):
                return True
        reader.offset, reader.line, reader.column = saved
        return False


def tokenize(source: str) -> tuple[list[Token], list[Diagnostic]]:
    """All tokens of ``source`` (comments and line breaks included), and diagnostics."""
    tokenizer = Tokenizer(source)
    tokens = list(tokenizer.raw_tokens())
    return tokens, tokenizer.diagnostics


def statements(tokens: list[Token]) -> list[list[Token]]:
    """Group tokens into statements, without comments or continuation line breaks.

    A line break ends a statement unless a parenthesis is open or the next
    significant token continues it (``with reason``, ``when``, ``but continue``,
    ``else``, ``end``).
    """
    significant = [token for token in tokens if token.kind is not TokenKind.COMMENT]
    # The terminal of the next token that is not a line break, for each position.
    following: list[str | None] = [None] * len(significant)
    upcoming: str | None = None
    for index in range(len(significant) - 1, -1, -1):
        following[index] = upcoming
        if significant[index].kind is not TokenKind.NEWLINE:
            upcoming = significant[index].terminal
    groups: list[list[Token]] = []
    current: list[Token] = []
    depth = 0
    for index, token in enumerate(significant):
        if token.kind is TokenKind.NEWLINE:
            if not current or depth > 0 or following[index] in CONTINUATION_TERMINALS:
                continue
            groups.append(current)
            current = []
            continue
        if token.terminal == "LPAREN":
            depth += 1
        elif token.terminal == "RPAREN" and depth:
            depth -= 1
        current.append(token)
    if current:
        groups.append(current)
    return groups
