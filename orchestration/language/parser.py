"""The sheet parser: source text in, a ``Sheet`` of frozen nodes and diagnostics out.

The grammar is ``grammar.lark`` (lark, LALR). Tokens come from ``tokens.py``
through lark's custom-lexer hook, which also splits the sheet into
statements: each statement is parsed on its own, so one broken statement is
reported and the rest of the sheet is still parsed (all problems at once).

``parse`` never raises on any text: whatever goes wrong is a diagnostic.
"""

import difflib
import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from lark import Lark, Transformer, v_args
from lark import Token as LarkToken
from lark.exceptions import UnexpectedInput, UnexpectedToken, VisitError
from lark.lexer import Lexer

from . import catalogue, nodes
from .errors import Code, Diagnostic, Span
from .tokens import Token, TokenKind, statements, tokenize

# Characters. The 500-line benchmark sheet has ~25,000; the cap bounds the
# time a save can cost (a megabyte of junk took seconds to diagnose).
MAX_SOURCE_LENGTH = 200_000
# Tokens (comments and line breaks not counted). Time goes with tokens more than with
# characters: 200,000 characters of short statements are 84,000 tokens, and the visual
# editor took 4.3 s over them, the checker 3.5 s (the fuzzer's hang limit is 5 s a
# reader); 30,000 take about 1.5 s. The 500-line benchmark sheet has 3,300 tokens, the
# demo sheets at most 400.
MAX_SHEET_TOKENS = 30_000
MAX_STATEMENT_TOKENS = 5_000  # deeper trees would exhaust Python's recursion
MAX_NESTING = 100  # parentheses and match expressions inside each other
# Depth of an expression tree (a + b + c is 2 deep). The checker, formatter and
# compiler recurse over trees, so this keeps them far from Python's limit.
MAX_EXPRESSION_DEPTH = 200
MAX_TEMPLATE_DEPTH = 5  # $'{ $'{ ... }' }': each level is parsed inside the one above

# How a terminal is named in "expected ..., got ..." messages.
DISPLAY = {
    "NAME": "a name",
    "VARIABLE": "a variable",
    "STRING": "a string",
    "TEMPLATE": "a template string",
    "NUMBER": "a number",
    "EQ": "'='",
    "NE": "'<>'",
    "LT": "'<'",
    "GT": "'>'",
    "LE": "'<='",
    "GE": "'>='",
    "PLUS": "'+'",
    "MINUS": "'-'",
    "STAR": "'*'",
    "SLASH": "'/'",
    "LPAREN": "'('",
    "RPAREN": "')'",
    "COMMA": "','",
    "HAS_NO_VALUE": "'has no value'",
    "HAS_VALUE": "'has value'",
    "NOT_CONTAINS": "'not contains'",
    "NOT_IN": "'not in'",
    "WITH_REASON": "'with reason'",
    "SCORE_ADD": "'score add'",
    "BUT_CONTINUE": "'but continue'",
}
EXPRESSION_STARTS = frozenset(
    {
        "VARIABLE",
        "NAME",
        "STRING",
        "TEMPLATE",
        "NUMBER",
        "TRUE",
        "FALSE",
        "NOTHING",
        "NULL",
        "LPAREN",
        "MINUS",
        "NOT",
        "WHEN",
    }
)
OPERATOR_TERMINALS = frozenset(
    {
        "EQ",
        "NE",
        "LT",
        "GT",
        "LE",
        "GE",
        "PLUS",
        "MINUS",
        "STAR",
        "SLASH",
        "IN",
        "NOT_IN",
        "CONTAINS",
        "NOT_CONTAINS",
        "HAS_VALUE",
        "HAS_NO_VALUE",
        "AND",
        "OR",
    }
)
# Tokens after which a '-' subtracts rather than negates.
VALUE_ENDS = frozenset(
    {"NAME", "VARIABLE", "NUMBER", "STRING", "TEMPLATE", "RPAREN", "TRUE", "FALSE", "NOTHING",
     "NULL", "END"}
)  # fmt: skip
STATEMENT_STARTS = [
    "fulfillment", "action", "option", "scope", "require", "with", "data", "score", "fanout",
]  # fmt: skip
STATEMENT_KEYWORDS = "fulfillment, action, option, scope, require, with, data, score add or fanout"


def _display(terminal: str) -> str:
    return DISPLAY.get(terminal, f"'{terminal.lower()}'")


def describe_expected(expected: set[str]) -> str:
    """Say what the parser was looking for, in words, summarising big sets."""
    remaining = set(expected) - {"$END"}
    parts = []
    if len(remaining & EXPRESSION_STARTS) >= 5:
        parts.append("an expression")
        remaining -= EXPRESSION_STARTS
    if len(remaining & OPERATOR_TERMINALS) >= 4:
        parts.append("an operator")
        remaining -= OPERATOR_TERMINALS
    parts += sorted(_display(terminal) for terminal in remaining)
    if "$END" in expected:
        parts.append("the end of the line")
    if not parts:
        return "nothing more"
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " or " + parts[-1]


class _TokenFeed(Lexer):
    """Hands lark the tokens the tokenizer already made."""

    def __init__(self, lexer_conf: Any) -> None:
        pass

    def lex(self, data: Any, *args: Any) -> Iterator[LarkToken]:
        for token in data:
            yield LarkToken(
                token.terminal,
                token.text,
                start_pos=token.start,
                line=token.span.line,
                column=token.span.column,
                end_line=token.span.end_line,
                end_column=token.span.end_column,
                end_pos=token.end,
            )


@functools.cache
def _lark() -> Lark:
    grammar = Path(__file__).with_name("grammar.lark").read_text()
    return Lark(
        grammar,
        parser="lalr",
        lexer=_TokenFeed,
        start=["statement", "expression"],
        propagate_positions=True,
    )


def _canonical(name: str, known: Iterable[str]) -> str:
    lowered = name.lower()
    return next((spelling for spelling in known if spelling.lower() == lowered), name)


def _span(meta: Any) -> Span:
    return Span(meta.line, meta.column, meta.end_line, meta.end_column)


class _ToNodes(Transformer[LarkToken, Any]):
    """Builds frozen nodes from lark's tree, bottom-up."""

    def __init__(
        self, by_offset: dict[int, Token], parse_template: Callable[[Token], nodes.Template]
    ) -> None:
        super().__init__()
        self.by_offset = by_offset
        self.parse_template = parse_template

    def _token(self, lark_token: LarkToken) -> Token:
        # _TokenFeed.lex gives every token its start_pos.
        return self.by_offset[lark_token.start_pos]  # type: ignore[index]

    # expressions
    @v_args(meta=True)
    def variable(self, meta: Any, children: list[LarkToken]) -> nodes.Variable:
        token = self._token(children[0])
        path = tuple(str(token.value).split("."))
        return nodes.Variable(path, token.kind is TokenKind.VARIABLE, span=_span(meta))

    @v_args(meta=True)
    def string(self, meta: Any, children: list[LarkToken]) -> nodes.String:
        return nodes.String(str(self._token(children[0]).value), span=_span(meta))

    @v_args(meta=True)
    def template(self, meta: Any, children: list[LarkToken]) -> nodes.Template:
        return self.parse_template(self._token(children[0]))

    @v_args(meta=True)
    def number(self, meta: Any, children: list[LarkToken]) -> nodes.Number:
        value = self._token(children[0]).value
        assert isinstance(value, Decimal)
        return nodes.Number(value, span=_span(meta))

    @v_args(meta=True)
    def true(self, meta: Any, children: list[Any]) -> nodes.Boolean:
        return nodes.Boolean(True, span=_span(meta))

    @v_args(meta=True)
    def false(self, meta: Any, children: list[Any]) -> nodes.Boolean:
        return nodes.Boolean(False, span=_span(meta))

    @v_args(meta=True)
    def nothing(self, meta: Any, children: list[Any]) -> nodes.Nothing:
        return nodes.Nothing(span=_span(meta))

    @v_args(meta=True)
    def items(self, meta: Any, children: list[Any]) -> nodes.ListExpr:
        items = tuple(child for child in children if isinstance(child, nodes.Expr))
        return nodes.ListExpr(items, span=_span(meta))

    @v_args(meta=True)
    def atom(self, meta: Any, children: list[Any]) -> nodes.Expr:
        # ( value ): the parentheses only group.
        return next(child for child in children if isinstance(child, nodes.Expr))

    def _fold(self, meta: Any, children: list[Any]) -> nodes.Expr:
        result: nodes.Expr = children[0]
        for operator, right in zip(children[1::2], children[2::2], strict=True):
            span = Span(
                result.span.line, result.span.column, right.span.end_line, right.span.end_column
            )
            result = nodes.Binary(str(operator).lower(), result, right, span=span)
        return result

    @v_args(meta=True)
    def or_(self, meta: Any, children: list[Any]) -> nodes.Expr:
        return self._fold(meta, children)

    and_ = or_
    sum = or_
    product = or_

    @v_args(meta=True)
    def compare(self, meta: Any, children: list[Any]) -> nodes.Binary:
        left, operator, right = children
        return nodes.Binary(str(operator.children[0]), left, right, span=_span(meta))

    @v_args(meta=True)
    def member(self, meta: Any, children: list[Any]) -> nodes.Binary:
        left, operator, right = children
        name = str(self._token(operator.children[0]).value)
        return nodes.Binary(name, left, right, span=_span(meta))

    @v_args(meta=True)
    def has_value(self, meta: Any, children: list[Any]) -> nodes.HasValue:
        return nodes.HasValue(children[0], False, span=_span(meta))

    @v_args(meta=True)
    def has_no_value(self, meta: Any, children: list[Any]) -> nodes.HasValue:
        return nodes.HasValue(children[0], True, span=_span(meta))

    @v_args(meta=True)
    def not_op(self, meta: Any, children: list[Any]) -> nodes.Unary:
        return nodes.Unary("not", children[-1], span=_span(meta))

    @v_args(meta=True)
    def negate(self, meta: Any, children: list[Any]) -> nodes.Expr:
        operand = children[-1]
        # -5 is a number, not an operation on one.
        if isinstance(operand, nodes.Number):
            # copy_negate is exact; unary minus would round to 28 digits.
            return nodes.Number(operand.value.copy_negate(), span=_span(meta))
        return nodes.Unary("-", operand, span=_span(meta))

    @v_args(meta=True)
    def match(self, meta: Any, children: list[Any]) -> nodes.Match:
        exprs = [child for child in children if isinstance(child, nodes.Expr)]
        keywords = [str(child).lower() for child in children if isinstance(child, LarkToken)]
        has_otherwise = "else" in keywords and len(exprs) % 2 == 1
        pairs = exprs[:-1] if has_otherwise else exprs
        branches = tuple(
            nodes.Branch(condition, value)
            for condition, value in zip(pairs[::2], pairs[1::2], strict=True)
        )
        otherwise = exprs[-1] if has_otherwise else None
        return nodes.Match(branches, otherwise, keywords[-1] == "end", span=_span(meta))

    # statements
    def _name(self, lark_token: LarkToken) -> tuple[str, bool]:
        token = self._token(lark_token)
        return str(token.value), token.kind is TokenKind.VARIABLE

    @v_args(meta=True)
    def fulfillment(self, meta: Any, children: list[Any]) -> nodes.Fulfillment:
        return nodes.Fulfillment(str(children[1]), span=_span(meta))

    # Scope, option and action names are case-insensitive: the nodes hold the
    # catalogue's spelling (unknown names as written, for the checker to report).
    @v_args(meta=True)
    def action(self, meta: Any, children: list[Any]) -> nodes.Action:
        token = self._token(children[1])
        name = _canonical(str(token.value), catalogue.ACTIONS)
        return nodes.Action(name, token.kind is TokenKind.STRING, span=_span(meta))

    @v_args(meta=True)
    def option(self, meta: Any, children: list[Any]) -> nodes.Option:
        name = _canonical(str(children[1]), catalogue.OPTIONS)
        return nodes.Option(name, children[3], span=_span(meta))

    @v_args(meta=True)
    def scope(self, meta: Any, children: list[Any]) -> nodes.Scope:
        return nodes.Scope(_canonical(str(children[1]), catalogue.SCOPES), span=_span(meta))

    def applies_when(self, children: list[Any]) -> tuple[str, nodes.Expr]:
        return ("applies_when", children[1])

    def reason_when(self, children: list[Any]) -> tuple[str, nodes.Expr]:
        return ("reason_when", children[1])

    def but_continue(self, children: list[Any]) -> tuple[str, bool]:
        return ("but_continue", True)

    @v_args(meta=True)
    def reason(self, meta: Any, children: list[Any]) -> tuple[str, nodes.Reason]:
        code = str(self._token(children[1]).value)
        description: nodes.Expr | None = None
        if len(children) > 2:
            token = self._token(children[3])
            if token.kind is TokenKind.TEMPLATE:
                description = self.parse_template(token)
            else:
                description = nodes.String(str(token.value), span=token.span)
        return ("reason", nodes.Reason(code, description, span=_span(meta)))

    @v_args(meta=True)
    def require(self, meta: Any, children: list[Any]) -> nodes.Require:
        parts: dict[str, Any] = dict(child for child in children[2:] if isinstance(child, tuple))
        return nodes.Require(children[1], **parts, span=_span(meta))

    def target(self, children: list[Any]) -> tuple[str, bool]:
        return self._name(children[0])

    @v_args(meta=True)
    def with_(self, meta: Any, children: list[Any]) -> nodes.With:
        name, bracketed = children[1]
        return nodes.With(name, children[3], bracketed, span=_span(meta))

    @v_args(meta=True)
    def data(self, meta: Any, children: list[Any]) -> nodes.Data:
        name, bracketed = children[1]
        return nodes.Data(name, children[3], bracketed, span=_span(meta))

    @v_args(meta=True)
    def score(self, meta: Any, children: list[Any]) -> nodes.ScoreAdd:
        when = children[3] if len(children) > 2 else None
        return nodes.ScoreAdd(children[1], when, span=_span(meta))

    @v_args(meta=True)
    def fanout(self, meta: Any, children: list[Any]) -> nodes.Fanout:
        return nodes.Fanout(children[2], span=_span(meta))


class Parser:
    """Parses one sheet; collects every diagnostic."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.diagnostics: list[Diagnostic] = []
        self.template_depth = 0

    def parse(self) -> nodes.Sheet:
        if len(self.source) > MAX_SOURCE_LENGTH:
            self.diagnostics.append(
                Diagnostic(
                    Code.TOO_LARGE,
                    f"the sheet has {len(self.source):,} characters; at most "
                    f"{MAX_SOURCE_LENGTH:,} are allowed",
                    Span(1, 1, 1, 1),
                )
            )
            return nodes.Sheet(())
        tokens, diagnostics = tokenize(self.source)
        significant = [t for t in tokens if t.kind not in (TokenKind.COMMENT, TokenKind.NEWLINE)]
        if len(significant) > MAX_SHEET_TOKENS:
            self.diagnostics.append(
                Diagnostic(
                    Code.TOO_LARGE,
                    f"the sheet has {len(significant):,} tokens (names, values, operators); "
                    f"at most {MAX_SHEET_TOKENS:,} are allowed",
                    significant[MAX_SHEET_TOKENS].span,
                )
            )
            return nodes.Sheet(())
        self.diagnostics.extend(diagnostics)
        comments = tuple(self._comments(tokens))
        parsed = []
        for group in statements(tokens):
            statement = self._statement(group)
            if statement is not None:
                parsed.append(statement)
        return nodes.Sheet(tuple(parsed), comments)

    def _comments(self, tokens: Sequence[Token]) -> Iterator[nodes.Comment]:
        last_code_line = 0
        for token in tokens:
            if token.kind is TokenKind.COMMENT:
                yield nodes.Comment(token.text, token.span.line, token.span.line == last_code_line)
            elif token.kind is not TokenKind.NEWLINE:
                last_code_line = token.span.end_line

    def _statement(self, group: list[Token]) -> nodes.Statement | None:
        if any(token.terminal == "ERROR" for token in group):
            return None  # the tokenizer has said what is wrong
        if not self._within_limits(group):
            return None
        result = self._run(group, "statement")
        if not isinstance(result, nodes.Statement):
            return None
        if _statement_depth(result) > MAX_EXPRESSION_DEPTH:
            self._fail(
                Code.TOO_LARGE,
                f"this expression is more than {MAX_EXPRESSION_DEPTH} operations deep; "
                "split it with 'with' names",
                result.span,
            )
            return None
        return result

    def _within_limits(self, group: list[Token]) -> bool:
        first = group[0]
        if len(group) > MAX_STATEMENT_TOKENS:
            self._fail(
                Code.TOO_LARGE,
                f"this statement has {len(group):,} tokens; at most "
                f"{MAX_STATEMENT_TOKENS:,} are allowed",
                first.span,
            )
            return False
        # Nesting: parentheses, and matches inside matches. "else when" is one
        # more arm of the same match; a ')' or 'end' closes what it opened. A match
        # in parentheses, "(when ...)", is one level, not two: the formatter writes a
        # match inside another in parentheses, and its text must parse as the
        # original did.
        stack: list[str] = []
        deepest = 0
        previous = ""
        for token in group:
            if token.terminal == "LPAREN":
                stack.append("(")
            elif token.terminal == "WHEN" and previous == "LPAREN":
                stack[-1] = "(when"  # closed by its ')', as a '(' is
            elif token.terminal == "WHEN" and previous != "ELSE":
                stack.append("when")
            elif token.terminal == "END" and stack and stack[-1] == "when":
                stack.pop()
            elif token.terminal == "RPAREN":
                while stack and stack.pop() not in ("(", "(when"):
                    pass
            deepest = max(deepest, len(stack))
            previous = token.terminal
        # Prefix operators nest too: '- - - x' is three levels deep. A '-' after
        # a value is subtraction, not a prefix.
        # Only a run of them nests ('not a and not b' is two runs of one).
        run = longest = 0
        for before, token in zip([None, *group], group, strict=False):
            after_value = before is not None and before.terminal in VALUE_ENDS
            if token.terminal == "NOT" or (token.terminal == "MINUS" and not after_value):
                run += 1
                longest = max(longest, run)
            else:
                run = 0
        deepest += longest
        if deepest > MAX_NESTING:
            self._fail(
                Code.TOO_LARGE,
                f"expressions are nested more than {MAX_NESTING} levels deep",
                first.span,
            )
            return False
        return True

    def _run(self, group: list[Token], start: str) -> Any:
        by_offset = {token.start: token for token in group}
        try:
            tree = _lark().parse(group, start=start)
            return _ToNodes(by_offset, self._template).transform(tree)
        except UnexpectedToken as error:
            self._syntax_error(error, group, start)
        except UnexpectedInput as error:  # pragma: no cover - lark's other parse errors
            self._fail(Code.INVALID_SYNTAX, str(error).splitlines()[0], group[0].span)
        except RecursionError:
            # A last resort: the limits above should make this unreachable.
            self._fail(Code.TOO_LARGE, "this statement is nested too deeply", group[0].span)
        except VisitError as error:
            if isinstance(error.orig_exc, RecursionError):
                self._fail(Code.TOO_LARGE, "this statement is nested too deeply", group[0].span)
                return None
            # A template's inner expression failed: it has reported itself.
            if not isinstance(error.orig_exc, _TemplateFailed):
                raise
        return None

    def _syntax_error(self, error: UnexpectedToken, group: list[Token], start: str) -> None:
        expected = set(error.expected)
        if error.token.type == "$END":
            last = group[-1]
            span = Span(
                last.span.end_line,
                last.span.end_column,
                last.span.end_line,
                last.span.end_column + 1,
            )
            got = "the end of the line"
        else:
            token = next(t for t in group if t.start == error.token.start_pos)
            span = token.span
            got = f"'{token.text}'" if token.kind is not TokenKind.STRING else "a string"
            if token is group[0] and start == "statement":
                close = difflib.get_close_matches(token.text.lower(), STATEMENT_STARTS, n=1)
                self._fail(
                    Code.INVALID_SYNTAX,
                    f"expected a statement ({STATEMENT_KEYWORDS}), got {got}",
                    span,
                    f"did you mean '{close[0]}'?" if close else None,
                )
                return
        self._fail(Code.INVALID_SYNTAX, f"expected {describe_expected(expected)}, got {got}", span)

    def _fail(self, code: Code, message: str, span: Span, hint: str | None = None) -> None:
        self.diagnostics.append(Diagnostic(code, message, span, hint))

    # template strings: $'text {expression} text'
    def _template(self, token: Token) -> nodes.Template:
        # Walk the source text (not the unescaped value), so positions stay exact
        # after escapes; literal text is unescaped here.
        raw = token.text[2:-1]
        parts: list[str | nodes.Expr] = []
        text: list[str] = []
        index = 0
        # Where the content starts in the source: after $'
        line, column = token.span.line, token.span.column + 2
        self.template_depth += 1
        try:
            if self.template_depth > MAX_TEMPLATE_DEPTH:
                self._fail(
                    Code.TOO_LARGE,
                    f"template strings are nested more than {MAX_TEMPLATE_DEPTH} deep",
                    token.span,
                )
                raise _TemplateFailed
            while index < len(raw):
                char = raw[index]
                if char == "\\" and raw[index + 1 : index + 2] in ("'", "\\"):
                    text.append(raw[index + 1])
                    index += 2
                    column += 2
                    continue
                if char == "{":
                    close = _matching_brace(raw, index)
                    if close < 0:
                        self._fail(
                            Code.INVALID_SYNTAX,
                            "'{' in a template string is never closed: expected '}'",
                            Span(line, column, line, column + 1),
                        )
                        raise _TemplateFailed
                    if text:
                        parts.append("".join(text))
                        text = []
                    inner = raw[index + 1 : close]
                    parts.append(self._template_expression(inner, line, column + 1))
                    for skipped in raw[index : close + 1]:
                        line, column = (line + 1, 1) if skipped == "\n" else (line, column + 1)
                    index = close + 1
                    continue
                text.append(char)
                line, column = (line + 1, 1) if char == "\n" else (line, column + 1)
                index += 1
        finally:
            self.template_depth -= 1
        if text:
            parts.append("".join(text))
        return nodes.Template(tuple(parts), span=token.span)

    def _template_expression(self, inner: str, line: int, column: int) -> nodes.Expr:
        tokens, diagnostics = tokenize(inner)
        for token in tokens:
            if token.kind is TokenKind.COMMENT:
                # The formatter could not keep it: say so rather than lose it.
                self._fail(
                    Code.INVALID_SYNTAX,
                    "a comment cannot stand inside {...} of a template string",
                    _shift_span(token.span, line, column),
                )
                raise _TemplateFailed
        shifted = [
            _shift(token, line, column)
            for token in tokens
            if token.kind not in (TokenKind.COMMENT, TokenKind.NEWLINE)
        ]
        for diagnostic in diagnostics:
            self.diagnostics.append(
                Diagnostic(
                    diagnostic.code,
                    diagnostic.message,
                    _shift_span(diagnostic.span, line, column),
                    diagnostic.hint,
                )
            )
        if diagnostics:
            raise _TemplateFailed
        if not shifted:
            self._fail(
                Code.INVALID_SYNTAX,
                "empty {} in a template string: expected an expression",
                Span(line, column - 1, line, column + 1),
            )
            raise _TemplateFailed
        if not self._within_limits(shifted):
            raise _TemplateFailed
        # Offsets must be unique in one parse: make them relative to the whole source.
        before = len(self.diagnostics)
        result: nodes.Expr | None = self._run(shifted, "expression")
        if result is None or len(self.diagnostics) > before:
            raise _TemplateFailed
        return result


def _children(node: object) -> list[object]:
    """The nodes directly inside ``node`` (expressions, branches, reasons)."""
    match node:
        case nodes.Binary():
            return [node.left, node.right]
        case nodes.Unary() | nodes.HasValue():
            return [node.operand]
        case nodes.ListExpr():
            return list(node.items)
        case nodes.Template():
            return [part for part in node.parts if isinstance(part, nodes.Expr)]
        case nodes.Match():
            inner: list[object] = [node.otherwise] if node.otherwise is not None else []
            for branch in node.branches:
                inner += [branch.condition, branch.value]
            return inner
        case nodes.Reason():
            return [node.description] if node.description is not None else []
        case nodes.Statement():
            return [
                getattr(node, name)
                for name in node.__dataclass_fields__
                if isinstance(getattr(node, name), (nodes.Expr, nodes.Reason))
            ]
    return []


def _statement_depth(statement: nodes.Statement) -> int:
    """How deep the statement's expression trees go, measured without recursion."""
    deepest = 0
    stack: list[tuple[object, int]] = [(statement, 0)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in _children(node))
    return deepest


class _TemplateFailed(Exception):
    """A template's expression did not parse (its diagnostic is recorded)."""


def _matching_brace(text: str, start: int) -> int:
    depth = 0
    quoted = False
    escaped = False
    for index in range(start, len(text)):
        char = text[index]
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == "'":
            quoted = not quoted
        elif not quoted and char == "{":
            depth += 1
        elif not quoted and char == "}":
            depth -= 1
            if depth == 0:
                return index
    return -1


def _shift_span(span: Span, line: int, column: int) -> Span:
    def move(at_line: int, at_column: int) -> tuple[int, int]:
        if at_line == 1:
            return line, column + at_column - 1
        return line + at_line - 1, at_column

    start = move(span.line, span.column)
    end = move(span.end_line, span.end_column)
    return Span(start[0], start[1], end[0], end[1])


def _shift(token: Token, line: int, column: int) -> Token:
    # Template tokens get offsets beyond the sheet's, so they never collide.
    offset = 10 * MAX_SOURCE_LENGTH + line * 100_000 + column * 1_000
    return Token(
        token.kind,
        token.terminal,
        token.text,
        token.value,
        _shift_span(token.span, line, column),
        token.start + offset,
        token.end + offset,
    )


def decode(data: bytes) -> tuple[str, list[Diagnostic]]:
    """Sheet text from bytes, or a diagnostic at the first byte that is not UTF-8."""
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError as error:
        before = data[: error.start].decode("utf-8", errors="replace")
        line = before.count("\n") + 1
        column = len(before) - (before.rfind("\n") + 1) + 1
        message = f"the file is not UTF-8 text (byte 0x{data[error.start]:02x})"
        span = Span(line, column, line, column + 1)
        return "", [Diagnostic(Code.INVALID_CHARACTER, message, span)]


# One text is read several times in a row: a save checks, compiles and plans it, the
# editor checks and describes it, the fuzzer puts it through every reader. The last
# few parses are kept, by text: the nodes are frozen and each caller gets its own list
# of the (frozen) diagnostics, so sharing them is safe. A few, as a sheet's nodes may
# take megabytes (MAX_SHEET_TOKENS bounds them).
PARSES_KEPT = 8


def parse(source: str | bytes) -> tuple[nodes.Sheet, list[Diagnostic]]:
    """Parse a sheet (text, or UTF-8 bytes); return its nodes and every syntax diagnostic.

    The last ``PARSES_KEPT`` texts' results are kept; ``parse.cache_clear()`` drops them
    (a benchmark of parsing clears it before each round).
    """
    if isinstance(source, bytes):
        source, problems = decode(source)
        if problems:
            return nodes.Sheet(()), problems
    sheet, diagnostics = _parse_text(source)
    return sheet, list(diagnostics)


@functools.lru_cache(maxsize=PARSES_KEPT)
def _parse_text(source: str) -> tuple[nodes.Sheet, tuple[Diagnostic, ...]]:
    parser = Parser(source)
    sheet = parser.parse()
    return sheet, tuple(parser.diagnostics)


parse.cache_clear = _parse_text.cache_clear  # type: ignore[attr-defined]
