"""Conditions ("Execute On", "Resume On"): clauses over a record, and their logic.

A condition is numbered clauses (``field operator value``) and a logic: ``ALL``
(every clause holds), ``ANY`` (one does) or custom, like ``(1 OR 2) AND NOT 3``:
clause numbers (1-based), ``AND``, ``OR``, ``NOT`` (any case) and parentheses.
As in Salesforce's filter logic, ``AND`` and ``OR`` are not mixed without
parentheses (``1 AND 2 OR 3`` is refused): whoever reads it later need not know
a precedence.

``parse_logic`` never raises: bad logic is a ``Problem`` with the 1-based column
of the fault. ``holds`` evaluates a condition over a *record*: a flat mapping of
dotted field names (``Order.Type``, ``Order.CustomFields.Channel``,
``Line.Product.BackendID``) to values, which the caller builds from the order
(and, for a line's step, the line). The rules of each operator are in
``holds``'s docstring and ``docs/plans.md`` ("Conditions").
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from .model import Condition
from .problems import Code, Problem

# A condition is read and edited by people in a form: beyond this many clauses it
# is no longer readable there, and belongs in a routing sheet's logic instead.
MAX_CLAUSES = 50
# Characters of custom logic: 50 clauses joined by AND/OR with parentheses take
# about 400; the cap keeps a pasted novel from being tokenized on every save.
MAX_LOGIC_LENGTH = 1_000
# Parentheses inside each other: the parser recurses once per level, and no
# readable logic over 50 clauses needs more.
MAX_LOGIC_NESTING = 20

ALL = "ALL"
ANY = "ANY"
OPERATORS = (
    "=",
    "<>",
    "<",
    "<=",
    ">",
    ">=",
    "in",
    "not in",
    "contains",
    "has value",
    "has no value",
)
VALUELESS = frozenset({"has value", "has no value"})
_TOKEN = re.compile(r"\s*(?:([0-9]+)|([A-Za-z]+)|(\()|(\))|(\S))")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


class ConditionError(ValueError):
    """A condition that cannot be evaluated (its logic is invalid): ``problem`` says why.

    ``validate.group_problems`` refuses such a condition before it is saved; this is
    for a condition that did not go through it."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


@dataclass(frozen=True, slots=True)
class Ref:
    """Clause ``number``'s truth."""

    number: int  # 1-based clause number


@dataclass(frozen=True, slots=True)
class Not:
    """The opposite of ``operand``."""

    operand: Node


@dataclass(frozen=True, slots=True)
class Junction:
    """Every operand (``AND``) or any (``OR``)."""

    operator: str  # "AND" or "OR"
    operands: tuple[Node, ...]


Node = Ref | Not | Junction


@dataclass(frozen=True, slots=True)
class Logic:
    """Parsed logic: ``evaluate`` it over the clauses' truth values."""

    text: str
    tree: Node

    @property
    def numbers(self) -> frozenset[int]:
        """The clause numbers the logic uses."""
        found: set[int] = set()
        stack: list[Node] = [self.tree]
        while stack:
            node = stack.pop()
            if isinstance(node, Ref):
                found.add(node.number)
            elif isinstance(node, Not):
                stack.append(node.operand)
            else:
                stack.extend(node.operands)
        return frozenset(found)

    def evaluate(self, values: Sequence[bool]) -> bool:
        """The logic's value, clause ``n`` being ``values[n - 1]``."""
        return _evaluate(self.tree, values)


def _evaluate(node: Node, values: Sequence[bool]) -> bool:
    if isinstance(node, Ref):
        return values[node.number - 1]
    if isinstance(node, Not):
        return not _evaluate(node.operand, values)
    if node.operator == "AND":
        return all(_evaluate(operand, values) for operand in node.operands)
    return any(_evaluate(operand, values) for operand in node.operands)


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "number", "AND", "OR", "NOT", "(", ")", "end"
    text: str
    column: int


def _describe(token: _Token) -> str:
    return "the end of the logic" if token.kind == "end" else f"'{token.text}'"


def _problem(code: Code, message: str, column: int) -> Problem:
    return Problem(code, message, column=column)


def _tokens(text: str) -> list[_Token] | Problem:
    tokens: list[_Token] = []
    opened: list[int] = []
    depth = 0
    for match in _TOKEN.finditer(text):
        number, word, left, right, other = match.groups()
        start = match.start(match.lastindex or 0)
        column = start + 1
        if number is not None:
            tokens.append(_Token("number", number, column))
        elif word is not None:
            upper = word.upper()
            if upper not in ("AND", "OR", "NOT"):
                return _problem(
                    Code.INVALID_LOGIC,
                    f"'{word}' is not AND, OR or NOT: write clause numbers joined by "
                    "AND and OR, e.g. (1 OR 2) AND 3",
                    column,
                )
            tokens.append(_Token(upper, word, column))
        elif left is not None:
            opened.append(column)
            depth = max(depth, len(opened))
            if depth > MAX_LOGIC_NESTING:
                return _problem(
                    Code.TOO_LARGE,
                    f"parentheses are nested more than {MAX_LOGIC_NESTING} levels deep",
                    column,
                )
            tokens.append(_Token("(", left, column))
        elif right is not None:
            if not opened:
                return _problem(Code.UNBALANCED_PARENTHESES, "this ')' closes no '('", column)
            opened.pop()
            tokens.append(_Token(")", right, column))
        else:
            return _problem(
                Code.INVALID_LOGIC,
                f"unexpected character '{other}': use clause numbers, AND, OR, NOT and parentheses",
                column,
            )
    if opened:
        return _problem(Code.UNBALANCED_PARENTHESES, "this '(' is never closed", opened[0])
    tokens.append(_Token("end", "", len(text) + 1))
    return tokens


class _Refused(Exception):
    def __init__(self, problem: Problem) -> None:
        self.problem = problem


class _Parser:
    """Recursive descent over ``expression := term ((AND | OR) term)*``,
    ``term := NOT* (number | '(' expression ')')``; recursion only per parenthesis."""

    def __init__(self, tokens: list[_Token], clauses: int) -> None:
        self.tokens = tokens
        self.position = 0
        self.clauses = clauses

    def peek(self) -> _Token:
        return self.tokens[self.position]

    def take(self) -> _Token:
        token = self.tokens[self.position]
        self.position += 1
        return token

    def expression(self) -> Node:
        operands = [self.term()]
        operator: str | None = None
        while self.peek().kind in ("AND", "OR"):
            token = self.take()
            if operator is not None and token.kind != operator:
                raise _Refused(
                    _problem(
                        Code.MIXED_LOGIC,
                        f"{token.kind} follows {operator} without parentheses: write "
                        "(1 AND 2) OR 3 or 1 AND (2 OR 3), whichever is meant",
                        token.column,
                    )
                )
            operator = token.kind
            operands.append(self.term())
        if operator is None:
            return operands[0]
        return Junction(operator, tuple(operands))

    def term(self) -> Node:
        negations = 0
        while self.peek().kind == "NOT":
            self.take()
            negations += 1
        token = self.take()
        node: Node
        if token.kind == "number":
            number = int(token.text)
            if not 1 <= number <= self.clauses:
                count = f"{self.clauses} clause{'s' if self.clauses != 1 else ''}"
                raise _Refused(
                    _problem(
                        Code.UNKNOWN_CLAUSE,
                        f"clause {token.text} does not exist: the condition has {count}",
                        token.column,
                    )
                )
            node = Ref(number)
        elif token.kind == "(":
            node = self.expression()
            closing = self.take()
            if closing.kind != ")":
                raise _Refused(
                    _problem(
                        Code.INVALID_LOGIC,
                        f"expected AND, OR or ')', got {_describe(closing)}",
                        closing.column,
                    )
                )
        else:
            raise _Refused(
                _problem(
                    Code.INVALID_LOGIC,
                    f"expected a clause number, '(' or NOT, got {_describe(token)}",
                    token.column,
                )
            )
        return Not(node) if negations % 2 else node


@functools.lru_cache(maxsize=1024)
def parse_logic(text: str, clauses: int) -> Logic | Problem:
    """``ALL``, ``ANY`` or custom logic over ``clauses`` clauses, parsed; or the first
    problem in it, with its 1-based column. Never raises.

    Cached: ``runtime.advance`` evaluates the same few conditions for every line of
    an order, and both results are immutable."""
    stripped = text.strip()
    if not stripped:
        return _problem(
            Code.EMPTY_LOGIC,
            "the logic is empty: write ALL, ANY or clause numbers joined by AND and OR, "
            "e.g. (1 OR 2) AND 3",
            1,
        )
    if len(text) > MAX_LOGIC_LENGTH:
        return _problem(
            Code.TOO_LARGE,
            f"the logic is {len(text):,} characters long; at most {MAX_LOGIC_LENGTH:,} are allowed",
            MAX_LOGIC_LENGTH + 1,
        )
    if stripped.upper() in (ALL, ANY):
        operator = "AND" if stripped.upper() == ALL else "OR"
        if clauses == 0:
            return Logic(text, Junction(operator, ()))
        refs: tuple[Node, ...] = tuple(Ref(n) for n in range(1, clauses + 1))
        return Logic(text, Junction(operator, refs))
    tokens = _tokens(text)
    if isinstance(tokens, Problem):
        return tokens
    parser = _Parser(tokens, clauses)
    try:
        tree = parser.expression()
        extra = parser.peek()
        if extra.kind != "end":
            # Only a number or NOT can follow a finished expression here: ')' closes
            # nothing (refused by _tokens) and AND/OR would have been taken.
            raise _Refused(
                _problem(
                    Code.INVALID_LOGIC,
                    f"expected AND or OR, got {_describe(extra)}",
                    extra.column,
                )
            )
    except _Refused as refused:
        return refused.problem
    return Logic(text, tree)


def describe(condition: Condition) -> str:
    """The condition's logic as the timeline says it: ``(1 OR 2) AND 3``, ``ALL``."""
    return " ".join(condition.logic.split()) or ALL


def normalize_operator(operator: str) -> str:
    """``Not  In`` is ``not in``: operators are matched in lower case, spaces collapsed."""
    return " ".join(operator.lower().split())


def unknown_operator(number: int, operator: str) -> Problem:
    """Clause ``number``'s operator is none of ``OPERATORS``."""
    return Problem(
        Code.UNKNOWN_OPERATOR,
        f"clause {number}: unknown operator '{operator}'; use one of " + ", ".join(OPERATORS),
    )


def _is_missing(value: object) -> bool:
    if isinstance(value, list | tuple | set | frozenset):
        return not value
    return value is None or value == ""


def _decimal(value: object) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value)) if value == value and abs(value) != float("inf") else None
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        try:
            return Decimal(value.strip())
        except InvalidOperation:  # pragma: no cover - the pattern admits only numbers
            return None
    return None


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _compare(left: object, right: object) -> int | None:
    """-1, 0 or 1; None when the two cannot be compared. Numbers as ``Decimal`` when
    either side is a number and both read as one; otherwise strings, exactly."""
    if _is_number(left) or _is_number(right):
        a, b = _decimal(left), _decimal(right)
        if a is None or b is None:
            return None
        return (a > b) - (a < b)
    if isinstance(left, str | bool) and isinstance(right, str | bool):
        x, y = _text(left), _text(right)
        return (x > y) - (x < y)
    return None


def _equal(left: object, right: object) -> bool:
    return _compare(left, right) == 0


def _members(value: object) -> list[object]:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",")]
    if isinstance(value, list | tuple | set | frozenset):
        return list(value)
    return [value]


def clause_holds(field: str, operator: str, value: object, record: Mapping[str, object]) -> bool:
    """One clause over a record; see ``holds``."""
    operator = normalize_operator(operator)
    present = field in record
    actual = record.get(field)
    if operator == "has value":
        return present and not _is_missing(actual)
    if operator == "has no value":
        return not present or _is_missing(actual)
    if not present:
        return False
    if operator == "=":
        return _equal(actual, value)
    if operator == "<>":
        return not _equal(actual, value)
    if operator in ("<", "<=", ">", ">="):
        order = _compare(actual, value)
        if order is None:
            return False
        return {"<": order < 0, "<=": order <= 0, ">": order > 0, ">=": order >= 0}[operator]
    if operator == "in":
        return any(_equal(actual, member) for member in _members(value))
    if operator == "not in":
        return not any(_equal(actual, member) for member in _members(value))
    if operator == "contains":
        if isinstance(actual, str):
            return isinstance(value, str) and value in actual
        if isinstance(actual, list | tuple | set | frozenset):
            return any(_equal(member, value) for member in actual)
        return False
    return False  # unknown operators: validate.group_problems refuses them


def holds(condition: Condition, record: Mapping[str, object]) -> bool:
    """Whether the condition holds over ``record`` (flat dotted field names to values).

    - A field missing from the record makes its clause **false**, whatever the
      operator (``<>`` and ``not in`` included), except ``has no value``, which is
      true of a missing field (and of ``None``, ``""`` and an empty list);
      ``has value`` is its opposite.
    - Numbers compare as ``Decimal`` (``10`` = ``10.0`` = ``"10"``) when either side
      is a number; a string that is not a number never equals one.
    - Strings compare exactly: case and spaces count, ``"00123"`` is not ``"123"``;
      ``<``, ``>`` compare them character by character (ISO dates sort right).
      Booleans read as ``true``/``false``.
    - ``in``/``not in`` take a list, or a string of comma-separated values
      (``"WEB, APP"``); ``contains`` is a substring of a string, or a member of a list.

    Raises ``ConditionError`` if the logic is invalid or an operator unknown
    (``validate.group_problems`` refuses such a condition before it is saved).
    """
    logic = parse_logic(condition.logic, len(condition.clauses))
    if isinstance(logic, Problem):
        raise ConditionError(logic)
    for number, clause in enumerate(condition.clauses, 1):
        if normalize_operator(clause.operator) not in OPERATORS:
            raise ConditionError(unknown_operator(number, clause.operator))
    values = [
        clause_holds(clause.field, clause.operator, clause.value, record)
        for clause in condition.clauses
    ]
    return logic.evaluate(values)
