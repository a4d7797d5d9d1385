"""The sheet formatter: a ``Sheet`` in, canonical source out, every comment kept.

``parse(format_sheet(sheet))`` gives back ``sheet`` (nodes compare without their
spans), and formatting formatted source changes nothing. The visual editor
writes sheets through this module, and ``checksheet --format`` prints it.

The canonical layout
--------------------
- Keywords are lower case (``null`` is written ``nothing``); single spaces
  between words and around operators; ``, `` between list items.
- One statement per line, in the sheet's order. The one exception is a match
  with three or more arms (``when``/``else when``/``else then``) that is the
  whole value of ``with``, ``data``, ``option`` or ``fanout``: each ``else``
  goes on its own line, indented four spaces, and ``end`` (if written) on a
  line of its own. Everything else, however long, stays on one line.
- Blank lines: at most one in a row, none at the start or the end. There is
  one wherever the original had one or more between two statements or
  comments (the spans tell, blank lines inside a statement do not count), and
  always one before each ``scope`` together with the comment lines directly
  above it (those not separated from it by a blank line).
- Comments are kept verbatim and in order:

  * a comment on a line of its own before a statement stays before it; the
    comments after the last statement stay at the end;
  * the comments within a statement's lines (after code on one of its lines,
    or on a line of their own inside it) are written on their own lines just
    before the statement, except the last one, which, if it was after code,
    goes after the statement's last line (two spaces, then the comment).

- Names are written as they were: ``[A.B]`` if bracketed, ``A.B`` if bare,
  except that a bare name that would not read back as the same name (a
  keyword, ``1x``, or ``with Reason.Code``, which the tokenizer reads as
  ``with reason``) is bracketed. ``action`` names are quoted if they were, or
  if they are not a plain name.
- Strings and template text are in single quotes, with ``\\`` and ``'``
  escaped by a backslash; a line break in a string stays a line break.
  Numbers are written in full (``0.0000001``, never ``1E-7``), negative ones as
  ``-5``.
- Parentheses only where the precedence of ``grammar.lark`` needs them (lowest
  first: ``or``, ``and``, ``not``, comparisons/``in``/``contains``/``has value``,
  ``+ -``, ``* /``, unary ``-``). The binary operators are left-associative,
  so a right operand of the same precedence is parenthesised: ``a - (b - c)``.
  Comparisons do not chain, so a comparison operand of a comparison is too.
  A list is written bare as the value of ``with``/``data``/``option`` and as the
  right side of ``in``/``contains``, in parentheses elsewhere; a list item
  that ends in ``in``/``contains`` with its own right side gets parentheses,
  since that right side would take the following items. A match is written
  bare as the whole value of ``with``/``data``/``option``/``fanout`` and inside
  a template's ``{...}``, in parentheses everywhere else (it would take
  whatever follows it, and a ``when`` clause after a bare match is hard to
  read). ``not (In.Stock = 1)`` keeps its parentheses: ``not In...`` would read
  as ``not in``.

Limits: a template string's ``{...}`` cannot hold a string or template text
with a quote, ``{`` or ``}`` (the tokenizer counts braces and quotes there
without escapes), and a template's literal text cannot hold ``{``: no parsed
sheet has them, and the formatter writes them as they are. ``-`` applied to a
number literal is written ``-5``, which reads back as the number -5 (the
parser folds it), with the same meaning.
"""

import dataclasses
import functools
import itertools
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple

from . import nodes
from .parser import parse
from .tokens import COMPOUND_KEYWORDS, TokenKind, tokenize

__all__ = ["format_expression", "format_sheet", "format_source", "format_statement"]

INDENT = "    "  # before the `else` lines of a multi-line match
COMMENT_GAP = "  "  # between code and a comment after it
MULTILINE_ARMS = 3  # a top-level match with this many arms gets a line per arm

# Binding strength, weakest first (grammar.lark). A list and a match bind
# weakest of all: both take everything after them, so anywhere but at the top
# of a value they need parentheses.
_WEAKEST = 0
_OR, _AND, _NOT, _PREDICATE, _SUM, _PRODUCT, _UNARY, _ATOM = range(1, 9)

_BINARY_LEVEL = {
    "or": _OR,
    "and": _AND,
    **dict.fromkeys(("=", "<>", "<", ">", "<=", ">="), _PREDICATE),
    **dict.fromkeys(("in", "not in", "contains", "not contains"), _PREDICATE),
    "+": _SUM,
    "-": _SUM,
    "*": _PRODUCT,
    "/": _PRODUCT,
}
_MEMBERSHIP = frozenset({"in", "not in", "contains", "not contains"})


class _Text(NamedTuple):
    """An expression's source, how strongly it binds, and whether it ends in a
    bare ``in``/``contains`` right side (which would take a following comma)."""

    text: str
    level: int
    open_tail: bool = False


def format_source(source: str) -> str | None:
    """Parse ``source`` and return its canonical form, or None if it has syntax errors.

    ``checker.fixed_source`` also writes what the checker's warnings suggest.
    """
    sheet, diagnostics = parse(source)
    if diagnostics:
        return None
    return format_sheet(sheet)


def format_sheet(sheet: nodes.Sheet, *, rewrites: Mapping[int, nodes.Expr] | None = None) -> str:
    """The canonical source of ``sheet``, with its comments (see the module docstring).

    ``rewrites`` (``Analysis.rewrites`` of this very ``sheet``: ``id()`` of one of its
    expressions -> the expression to write instead) are written in their place.
    """
    if rewrites:
        sheet = _rewritten(sheet, rewrites)
    return _Layout(sheet).render()


def format_expression(expr: nodes.Expr) -> str:
    """One expression's canonical source (as at the top of a ``require``)."""
    return _value(expr)


def _rewritten(node: Any, rewrites: Mapping[int, nodes.Expr]) -> Any:
    """``node`` with the expressions ``rewrites`` names replaced (a copy where needed)."""
    found = rewrites.get(id(node))
    if found is not None:
        return found
    if type(node) is tuple:
        items = tuple(_rewritten(item, rewrites) for item in node)
        return items if any(a is not b for a, b in zip(items, node, strict=True)) else node
    if not dataclasses.is_dataclass(node) or isinstance(node, type):
        return node
    changes = {}
    for spec in dataclasses.fields(node):
        value = getattr(node, spec.name)
        new = _rewritten(value, rewrites)
        if new is not value:
            changes[spec.name] = new
    return dataclasses.replace(node, **changes) if changes else node


# --- Layout: statements, comments and blank lines ---------------------------------


@dataclass(slots=True)
class _Block:
    """One or more output lines that move together: a comment, or a statement."""

    text: str
    first: int  # the original lines it came from; 0 if unknown (a node built in code)
    last: int
    blank_before: bool = False


class _Layout:
    """Places statements and comments, and decides where the blank lines go."""

    def __init__(self, sheet: nodes.Sheet) -> None:
        self.sheet = sheet
        self.blank_lines = _blank_lines(sheet)

    def render(self) -> str:
        statements = self.sheet.statements
        leading, inside, final = _assign_comments(self.sheet)
        blocks: list[_Block] = []
        for index, statement in enumerate(statements):
            group_start = len(blocks)
            blocks += [_Block(c.text, c.line, c.line) for c in leading[index]]
            comments = inside[index]
            # Only the last comment of a statement can stay after its code: a comment
            # runs to the end of the line, so two cannot share one.
            after = comments[-1] if comments and comments[-1].trailing else None
            blocks += [_Block(c.text, c.line, c.line) for c in comments if c is not after]
            text = format_statement(statement)
            if after is not None:
                text += COMMENT_GAP + after.text
            blocks.append(_Block(text, statement.span.line, statement.span.end_line))
            if isinstance(statement, nodes.Scope):
                self._separate_scope(blocks, group_start)
        blocks += [_Block(c.text, c.line, c.line) for c in final]

        lines: list[str] = []
        previous = 0  # the last original line placed so far, for blank-line gaps
        for position, block in enumerate(blocks):
            if position and (block.blank_before or self._gap(previous, block.first)):
                lines.append("")
            lines.append(block.text)
            if block.first:
                previous = block.last
        return "\n".join(lines) + "\n" if lines else ""

    def _separate_scope(self, blocks: list[_Block], group_start: int) -> None:
        # The blank line goes above the comments that sit directly on the scope
        # line, so a comment about the statement before it stays with that one.
        start = len(blocks) - 1
        while start > group_start and not self._gap(blocks[start - 1].last, blocks[start].first):
            start -= 1
        if start > 0:
            blocks[start].blank_before = True

    def _gap(self, before: int, after: int) -> bool:
        """Whether the original had a blank line between these two lines."""
        if not before or after <= before + 1:
            return False
        index = bisect_right(self.blank_lines, before)
        return index < len(self.blank_lines) and self.blank_lines[index] < after


def _blank_lines(sheet: nodes.Sheet) -> list[int]:
    """The original lines with neither a statement nor a comment on them, in order.

    Formatting needs no source text: a line no statement span or comment
    covers was blank. Lines inside a statement (a blank line within
    parentheses or a string) are covered, so they never count.
    """
    last = max(
        [s.span.end_line for s in sheet.statements] + [c.line for c in sheet.comments],
        default=0,
    )
    covered = bytearray(last + 2)
    for statement in sheet.statements:
        if statement.span.line > 0:
            covered[statement.span.line : statement.span.end_line + 1] = b"\x01" * (
                statement.span.end_line - statement.span.line + 1
            )
    for comment in sheet.comments:
        if comment.line > 0:
            covered[comment.line] = 1
    return [line for line in range(1, last + 1) if not covered[line]]


def _assign_comments(
    sheet: nodes.Sheet,
) -> tuple[list[list[nodes.Comment]], list[list[nodes.Comment]], list[nodes.Comment]]:
    """Each comment's place: before a statement, within one, or at the end.

    A comment within a statement's lines belongs to it; any other comment goes
    before the first statement that starts after it. Statements without a
    position (built in code) get no comments, so the comments stay with the
    statements they were written next to.
    """
    count = len(sheet.statements)
    leading: list[list[nodes.Comment]] = [[] for _ in range(count)]
    inside: list[list[nodes.Comment]] = [[] for _ in range(count)]
    final: list[nodes.Comment] = []
    placed = sorted(
        (s.span.line, s.span.end_line, i) for i, s in enumerate(sheet.statements) if s.span.line
    )
    starts = [line for line, _, _ in placed]
    for comment in sheet.comments:
        position = bisect_right(starts, comment.line)
        if position and placed[position - 1][1] >= comment.line:
            inside[placed[position - 1][2]].append(comment)
        elif position < len(placed):
            leading[placed[position][2]].append(comment)
        else:
            final.append(comment)
    return leading, inside, final


# --- Statements -----------------------------------------------------------------------


def format_statement(statement: nodes.Statement) -> str:
    """One statement's canonical source, without comments (one line, see the docstring)."""
    match statement:
        case nodes.Fulfillment(name=name):
            return f"fulfillment {name}"
        case nodes.Action(name=name, quoted=quoted):
            written = _string(name) if quoted or not _is_bare_name(name) else name
            return f"action {written}"
        case nodes.Option(name=name, value=value):
            return f"option {name} as {_value(value, lists=True, bare_match=True, multiline=True)}"
        case nodes.Scope(name=name):
            return f"scope {name}"
        case nodes.Require():
            return _require(statement)
        case nodes.With(name=name, value=value, bracketed=bracketed):
            target = _target("with", name, bracketed)
            return f"with {target} as {_value(value, lists=True, bare_match=True, multiline=True)}"
        case nodes.Data(name=name, value=value, bracketed=bracketed):
            target = _target("data", name, bracketed)
            return f"data {target} as {_value(value, lists=True, bare_match=True, multiline=True)}"
        case nodes.ScoreAdd(value=value, when=when):
            text = f"score add {_value(value)}"
            return text if when is None else f"{text} when {_value(when)}"
        case nodes.Fanout(value=value):
            return f"fanout as {_value(value, bare_match=True, multiline=True)}"
    raise TypeError(f"not a statement the formatter knows: {statement!r}")


def _require(statement: nodes.Require) -> str:
    parts = [f"require {_value(statement.condition)}"]
    if statement.applies_when is not None:
        parts.append(f"when {_value(statement.applies_when)}")
    if statement.reason is not None:
        reason = f"with reason {_string(statement.reason.code)}"
        if statement.reason.description is not None:
            reason += f", {_render(statement.reason.description).text}"
        parts.append(reason)
    if statement.reason_when is not None:
        parts.append(f"when {_value(statement.reason_when)}")
    if statement.but_continue:
        parts.append("but continue")
    return " ".join(parts)


def _target(keyword: str, name: str, bracketed: bool) -> str:
    # `with Reason.Code` would read as `with reason` + `.Code`.
    if bracketed or not _is_bare_name(name) or _joins_keyword(keyword, name):
        return f"[{name}]"
    return name


# --- Expressions ----------------------------------------------------------------------


def _value(
    expr: nodes.Expr, *, lists: bool = False, bare_match: bool = False, multiline: bool = False
) -> str:
    """An expression at the top of a statement part (or of a template's ``{...}``)."""
    if isinstance(expr, nodes.Match) and bare_match:
        return _match(expr, multiline=multiline)
    if isinstance(expr, nodes.ListExpr) and lists:
        return _list(expr).text
    return _operand(expr, _OR).text


def _operand(expr: nodes.Expr, minimum: int) -> _Text:
    """``expr`` where at least ``minimum`` binding strength is needed."""
    rendered = _render(expr)
    if rendered.level < minimum:
        return _Text(f"({rendered.text})", _ATOM)
    return rendered


def _render(expr: nodes.Expr) -> _Text:
    match expr:
        case nodes.Variable(bracketed=bracketed):
            name = expr.name
            if bracketed or not _is_bare_name(name):
                return _Text(f"[{name}]", _ATOM)
            return _Text(name, _ATOM)
        case nodes.String(value=value):
            return _Text(_string(value), _ATOM)
        case nodes.Template(parts=parts):
            return _Text(_template(parts), _ATOM)
        case nodes.Number(value=value):
            text = format(value, "f")  # never exponent notation, which does not parse
            return _Text(text, _UNARY if text.startswith("-") else _ATOM)
        case nodes.Boolean(value=value):
            return _Text("true" if value else "false", _ATOM)
        case nodes.Nothing():
            return _Text("nothing", _ATOM)
        case nodes.ListExpr():
            return _Text(_list(expr).text, _WEAKEST)
        case nodes.Match():
            return _Text(_match(expr, multiline=False), _WEAKEST)
        case nodes.Unary(operator="not", operand=operand):
            return _not(operand)
        case nodes.Unary(operator="-", operand=operand):
            return _negative(operand)
        case nodes.HasValue(operand=operand, negated=negated):
            inner = _operand(operand, _SUM)
            return _Text(f"{inner.text} has {'no value' if negated else 'value'}", _PREDICATE)
        case nodes.Binary(operator=operator, left=left, right=right):
            return _binary(operator, left, right)
    raise TypeError(f"not an expression the formatter knows: {expr!r}")


def _not(operand: nodes.Expr) -> _Text:
    """``not x``, with ``x`` in parentheses where it would run into the keyword."""
    inner = _operand(operand, _NOT)
    if _joins_keyword("not", inner.text):
        inner = _Text(f"({inner.text})", _ATOM)  # `not In.Stock` reads as `not in`
    return _Text(f"not {inner.text}", _NOT, inner.open_tail)


def _negative(operand: nodes.Expr) -> _Text:
    """``-x``, with a negative ``x`` in parentheses."""
    inner = _operand(operand, _UNARY)
    if inner.text.startswith("-"):
        inner = _Text(f"({inner.text})", _ATOM)  # -(-a) reads better than --a
    return _Text(f"-{inner.text}", _UNARY, inner.open_tail)


def _binary(operator: str, left: nodes.Expr, right: nodes.Expr) -> _Text:
    level = _BINARY_LEVEL[operator]
    if level == _PREDICATE:
        # Comparisons do not chain: both sides are sums.
        left_text = _operand(left, _SUM)
        if operator in _MEMBERSHIP and isinstance(right, nodes.ListExpr):
            items = ", ".join(_operand(item, _SUM).text for item in _items(right))
            return _Text(f"{left_text.text} {operator} {items}", level, True)
        right_text = _operand(right, _SUM)
        return _Text(
            f"{left_text.text} {operator} {right_text.text}", level, operator in _MEMBERSHIP
        )
    # Left-associative: an equal-strength right operand needs parentheses.
    left_text = _operand(left, level)
    right_text = _operand(right, level + 1)
    return _Text(f"{left_text.text} {operator} {right_text.text}", level, right_text.open_tail)


def _items(expr: nodes.ListExpr) -> tuple[nodes.Expr, ...]:
    if len(expr.items) < 2:
        raise ValueError("a list needs at least two items: 'a', 'b'")
    return expr.items


def _list(expr: nodes.ListExpr) -> _Text:
    """A list's items, ``a, b, c``, without parentheses around the whole."""
    items = _items(expr)
    texts = []
    for position, item in enumerate(items):
        text = _operand(item, _OR)
        # `x in a, b` inside a list would take `b` as a second value of the `in`.
        if text.open_tail and position < len(items) - 1:
            text = _Text(f"({text.text})", _ATOM)
        texts.append(text)
    return _Text(", ".join(text.text for text in texts), _WEAKEST, texts[-1].open_tail)


def _match(expr: nodes.Match, *, multiline: bool) -> str:
    if not expr.branches:
        raise ValueError("a match needs at least one 'when ... then ...'")
    arms = [
        f"when {_operand(branch.condition, _OR).text} then {_operand(branch.value, _OR).text}"
        for branch in expr.branches
    ]
    if expr.otherwise is not None:
        arms.append(f"then {_operand(expr.otherwise, _OR).text}")
    if multiline and len(arms) >= MULTILINE_ARMS:
        text = f"\n{INDENT}else ".join(arms)
        return text + "\nend" if expr.has_end else text
    text = " else ".join(arms)
    return text + " end" if expr.has_end else text


# --- Literals and names ---------------------------------------------------------------


def format_literal(value: str | Decimal | bool) -> str:
    """A value written as the formatter writes literals: ``'it\\'s'``, ``12.5``, ``true``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return _render(nodes.Number(value)).text
    return _string(value)


def _string(value: str) -> str:
    """A string literal: single quotes, ``\\`` and ``'`` escaped."""
    return "'" + _escape(value) + "'"


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")


def _template(parts: Sequence[str | nodes.Expr]) -> str:
    written = []
    for part in parts:
        if isinstance(part, str):
            written.append(_escape(part))
        else:
            written.append("{" + _value(part, bare_match=True) + "}")
    return "$'" + "".join(written) + "'"


@functools.lru_cache(maxsize=4096)
def _is_bare_name(name: str) -> bool:
    """Whether ``name`` written bare reads back as exactly this name (not a keyword)."""
    tokens, diagnostics = tokenize(name)
    return (
        not diagnostics
        and len(tokens) == 1
        and tokens[0].kind is TokenKind.NAME
        and tokens[0].text == name
    )


def _joins_keyword(word: str, text: str) -> bool:
    """Whether ``word`` followed by ``text`` would read as a multi-word keyword.

    The tokenizer matches the next word up to the first character that is not
    a name character, so ``not In.Stock`` starts with ``not in``.
    """
    head = "".join(itertools.takewhile(lambda char: char.isalnum() or char == "_", text))
    return any(words[0] == word and words[1] == head.lower() for words, _ in COMPOUND_KEYWORDS)
