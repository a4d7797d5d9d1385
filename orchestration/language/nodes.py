"""The sheet AST: frozen dataclasses, one per construct, each with its source span.

Spans do not take part in equality (``compare=False``), so two parses of the
same sheet formatted differently compare equal; position tests look at spans
explicitly. Frozen nodes can be cached and shared between threads and workers.
"""

from dataclasses import dataclass, field
from decimal import Decimal

from .errors import Span

NO_SPAN = Span(0, 0, 0, 0)


# --- Expressions ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Expr:
    """Any expression."""

    span: Span = field(default=NO_SPAN, compare=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class Variable(Expr):
    """A variable: ``[Supplier.Type]`` (bracketed) or ``Supplier.Type``."""

    path: tuple[str, ...]
    bracketed: bool = field(default=True, compare=False)

    @property
    def name(self) -> str:
        """The dotted name, as written."""
        return ".".join(self.path)


@dataclass(frozen=True, slots=True)
class String(Expr):
    """A string literal."""

    value: str


@dataclass(frozen=True, slots=True)
class Template(Expr):
    """A template string ``$'text {expression} text'``: literal text and expressions."""

    parts: tuple["str | Expr", ...]


@dataclass(frozen=True, slots=True)
class Number(Expr):
    """A number, exact."""

    value: Decimal


@dataclass(frozen=True, slots=True)
class Boolean(Expr):
    """``true`` or ``false`` (any case)."""

    value: bool


@dataclass(frozen=True, slots=True)
class Nothing(Expr):
    """``nothing`` or ``null``: no value."""


@dataclass(frozen=True, slots=True)
class ListExpr(Expr):
    """A list: ``'a', 'b', 'c'``."""

    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Unary(Expr):
    """``-x`` or ``not x``."""

    operator: str  # "-" or "not"
    operand: Expr


@dataclass(frozen=True, slots=True)
class Binary(Expr):
    """``left operator right``: arithmetic, comparison, membership, and/or."""

    operator: str  # + - * / = <> < > <= >= in "not in" contains "not contains" and or
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class HasValue(Expr):
    """``x has value`` or ``x has no value``."""

    operand: Expr
    negated: bool


@dataclass(frozen=True, slots=True)
class Branch:
    """One ``when condition then value`` of a match."""

    condition: Expr
    value: Expr


@dataclass(frozen=True, slots=True)
class Match(Expr):
    """``when C then X else when C2 then Y else then Z [end]``."""

    branches: tuple[Branch, ...]
    otherwise: Expr | None
    has_end: bool = field(default=False, compare=False)


# --- Statements ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Statement:
    """Any statement."""

    span: Span = field(default=NO_SPAN, compare=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class Fulfillment(Statement):
    """``fulfillment NAME``: the sheet's identifier."""

    name: str


@dataclass(frozen=True, slots=True)
class Action(Statement):
    """``action NAME`` or ``action 'NAME'``."""

    name: str
    quoted: bool = field(default=False, compare=False)


@dataclass(frozen=True, slots=True)
class Option(Statement):
    """``option NAME as VALUE``."""

    name: str
    value: Expr


@dataclass(frozen=True, slots=True)
class Scope(Statement):
    """``scope NAME``."""

    name: str


@dataclass(frozen=True, slots=True)
class Reason:
    """``with reason 'CODE'[, 'description' | $'template']`` of a requirement."""

    code: str
    description: Expr | None
    span: Span = field(default=NO_SPAN, compare=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class Require(Statement):
    """``require C [when W] [with reason ...] [when W2] [but continue]``.

    ``applies_when`` (a ``when`` before ``with reason``) limits where the
    requirement applies; ``reason_when`` (a ``when`` after it) limits only where
    its reason is recorded.
    """

    condition: Expr
    applies_when: Expr | None = None
    reason: Reason | None = None
    reason_when: Expr | None = None
    but_continue: bool = False


@dataclass(frozen=True, slots=True)
class With(Statement):
    """``with NAME as EXPR``: a name for the rest of the sheet."""

    name: str
    value: Expr
    bracketed: bool = field(default=False, compare=False)


@dataclass(frozen=True, slots=True)
class Data(Statement):
    """``data NAME as EXPR``: a value set on what the scope is about."""

    name: str
    value: Expr
    bracketed: bool = field(default=False, compare=False)


@dataclass(frozen=True, slots=True)
class ScoreAdd(Statement):
    """``score add EXPR [when W]``."""

    value: Expr
    when: Expr | None = None


@dataclass(frozen=True, slots=True)
class Fanout(Statement):
    """``fanout as EXPR``."""

    value: Expr


@dataclass(frozen=True, slots=True)
class Comment:
    """A comment, kept for the formatter: its text and the line it is on."""

    text: str
    line: int
    trailing: bool  # after code on the same line


@dataclass(frozen=True, slots=True)
class Sheet:
    """A whole sheet: its statements in order, and its comments."""

    statements: tuple[Statement, ...]
    comments: tuple[Comment, ...] = field(default=(), compare=False)
