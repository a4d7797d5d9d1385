"""The expression compiler: sheet expressions become plain Python closures.

``compile_expression(node)`` builds, once per node, a closure ``f(context)`` that
evaluates the expression. A context is a callable that takes a variable's path
(``("Supplier", "Type")``) and returns its value, or ``MISSING``. Nothing is
``eval``-ed or ``exec``-ed, and a closure touches nothing but the values the
context returns: it only looks at their exact built-in type (``type(v) is str``)
before using them, so a value of any other type (a dict, an object, a ``str``
subclass with its own ``__eq__``) is an evaluation error, never called into.

Values
    Strings (``str``), numbers (``Decimal``), ``True``/``False``, lists (flat
    tuples) and ``MISSING`` (no value: ``nothing``, ``null``, a variable the
    context does not know, or ``None`` from the context). The context may return
    ``int``, ``float`` and ``Decimal`` numbers; they are read as exact decimals
    (a float by its shortest repr, so ``0.1`` is ``Decimal('0.1')``); NaN and
    infinities are errors. Arithmetic uses its own decimal context (28
    significant digits, half-even), so the caller's thread state never matters.
    Every compiled expression returns a value of this set, never an ``int`` or a
    ``float``. Fast paths compare ``int`` and ``float`` context values directly
    where that gives exactly the decimal answer (see ``_variable_vs_literal``).
    Only exact built-in types count: an ``IntEnum`` or a ``str`` subclass is an
    unsupported value.

Semantics (the reference says to test missing values with ``has value``)
    - ``=``/``<>``: equal kind and equal value. Numbers compare numerically
      (``1 = 1.0``), strings exactly, lists item by item. A string never equals
      a number and ``true`` never equals ``1``: values of different kinds are
      simply unequal, not an error. ``x = nothing`` is true when x has no value,
      ``x <> nothing`` when it has one.
    - ``< > <= >=``: two numbers or two strings (by code point), otherwise an
      ``InvalidExpressionValueType`` error naming both kinds and the operator;
      but any comparison with a missing value is false, not an error.
    - ``+`` adds numbers or joins strings; ``- * /`` take numbers; dividing by
      zero is ``DivisionByZero``; a result beyond the decimal range is
      ``NumberOutOfRange``. A missing operand makes the result missing (so
      ``score add 1.0 / [Distance]`` adds nothing when there is no distance).
    - ``x in L`` / ``x not in L``: x (a single value) is one of the items of L;
      a single value on the right counts as a one-item list. ``L contains x`` /
      ``not contains``: the list L has the item x, or the string L has the
      substring x. A missing x (or L) is in nothing and contains nothing, and the
      ``not`` forms are the exact negations. A list on the left of ``in`` is in
      L when one of its items is (the reference writes ``[Supplier.SetNames] in
      'PrintSuppliers'``; the checker warns and suggests ``contains``), so an
      empty list is in nothing. A list on the right of ``contains`` is a type
      error.
    - ``and``/``or`` short-circuit and take ``true``/``false``; a missing value
      counts as false (as do ``not`` and a ``when`` condition of a match); any
      other value is a type error. They always return ``True`` or ``False``.
    - ``has value`` is false only for a missing value (``''`` and an empty list
      have a value).
    - A match returns the value of the first branch whose condition is true,
      else its ``else then`` value, else ``MISSING``.
    - Lists are flat: a list item that is itself a list is spliced in, and a
      missing item is left out (the reference: "nothing is not included in the
      list").
    - Templates join their text with each value as text: a number in fixed
      notation as computed (``2.50`` stays ``2.50``, ``1 / 4`` is ``0.25``;
      scientific only beyond 1E+100 or below 1E-100), ``true``/``false``,
      nothing as the empty text, a list as ``a, b``.

Errors
    Every failure is an ``EvaluationError`` with a stable ``code``, a plain
    message and the ``span`` of the node whose operation failed (the whole
    binary expression for an operator, the variable for a value the language
    cannot use, the condition for a match whose condition is not true/false).
    Exceptions raised by the context itself are not caught: they are the
    caller's bugs, not the sheet's.

Caching
    ``compiled(node)`` memoises ``compile_expression``; ``compile_sheet(source)``
    parses and compiles a whole sheet once per distinct source (by SHA-256).
    ``mapping_context`` makes a fast context from a dict of dotted names.
"""

from __future__ import annotations

import functools
import hashlib
import operator
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, DivisionByZero, InvalidOperation, Overflow
from decimal import Context as DecimalContext
from types import MappingProxyType
from typing import Any

from . import nodes
from .errors import Code, Diagnostic, Span
from .parser import parse

__all__ = [
    "DIVISION_BY_ZERO",
    "INVALID_EXPRESSION_VALUE_TYPE",
    "MAX_DEPTH",
    "MISSING",
    "NUMBER_OUT_OF_RANGE",
    "TOO_LARGE",
    "CompiledSheet",
    "EvaluationError",
    "canonical_path",
    "compile_expression",
    "compile_sheet",
    "compiled",
    "mapping_context",
]

DIVISION_BY_ZERO = "DivisionByZero"
INVALID_EXPRESSION_VALUE_TYPE = Code.INVALID_EXPRESSION_VALUE_TYPE.value
NUMBER_OUT_OF_RANGE = "NumberOutOfRange"
TOO_LARGE = Code.TOO_LARGE.value

# The parser refuses trees deeper than 200 operations; this guards hand-built
# trees, so compiling and evaluating stay far from Python's recursion limit.
MAX_DEPTH = 256
# Lists from the context are flattened without recursion; this stops a list
# that contains itself.
MAX_LIST_NESTING = 32


class _Missing:
    """The type of ``MISSING``: one instance, falsy, and the same after pickling."""

    __slots__ = ()
    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()

Context = Callable[[tuple[str, ...]], object]
Compiled = Callable[[Context], object]


class EvaluationError(Exception):
    """An expression could not be evaluated: a type clash, a division by zero, ...

    ``code`` is stable (``DivisionByZero``, ``InvalidExpressionValueType``,
    ``NumberOutOfRange``, ``TooLarge``); ``span`` is where the failing node is.
    """

    def __init__(self, code: str, message: str, span: Span) -> None:
        super().__init__(code, message, span)
        self.code = code
        self.message = message
        self.span = span

    @property
    def line(self) -> int:
        """The 1-based line of the failing node."""
        return self.span.line

    @property
    def column(self) -> int:
        """The 1-based column of the failing node."""
        return self.span.column

    def __str__(self) -> str:
        return f"line {self.span.line}, column {self.span.column}: {self.message}"


# --- Values ----------------------------------------------------------------------

# Every decimal operation goes through this context: the thread's own decimal
# context may have been changed by anyone, and its traps must be ours.
_DECIMAL = DecimalContext(
    prec=28,
    rounding=ROUND_HALF_EVEN,
    Emin=-999_999,
    Emax=999_999,
    traps=[InvalidOperation, DivisionByZero, Overflow],
)

# Names for kinds of values in messages, by exact type: no attribute of a value
# (not even its class name) is read.
_KINDS: dict[type, str] = {
    str: "a string",
    Decimal: "a number",
    bool: "a true/false value",
    tuple: "a list",
    _Missing: "nothing",
}
# Looked up by identity, not hashing: a value's class could have a metaclass
# with its own __hash__ and __eq__.
_RAW_KINDS: tuple[tuple[type, str], ...] = (
    (dict, "an object"),
    (set, "a set"),
    (frozenset, "a set"),
    (bytes, "bytes"),
    (bytearray, "bytes"),
)


def _kind(value: object) -> str:
    """The kind of a sheet value (only ever given sheet values), for messages."""
    return _KINDS[type(value)]


def _type_error(message: str, node: nodes.Expr | nodes.Branch) -> EvaluationError:
    span = node.span if isinstance(node, nodes.Expr) else node.condition.span
    return EvaluationError(INVALID_EXPRESSION_VALUE_TYPE, message, span)


def _label(variable: nodes.Variable) -> str:
    return f"[{variable.name}]"


def _unsupported(raw: object, variable: nodes.Variable) -> EvaluationError:
    raw_type = type(raw)
    kind = next(
        (name for known, name in _RAW_KINDS if raw_type is known), "a value of an unsupported type"
    )
    return _type_error(
        f"{_label(variable)} holds {kind}; a sheet can use only strings, numbers, "
        "true/false, lists and nothing",
        variable,
    )


def _scalar(raw: object, variable: nodes.Variable) -> object:
    """A context value that is not a list, as a sheet value."""
    kind = type(raw)
    if kind is str or kind is bool:
        return raw
    if kind is int:
        return Decimal(raw)  # type: ignore[arg-type]
    if kind is Decimal:
        if raw.is_finite():  # type: ignore[attr-defined]
            return raw
    elif kind is float:
        if raw - raw == 0.0:  # type: ignore[operator]  # false for NaN and infinities
            return Decimal(repr(raw))
    elif raw is None or raw is MISSING:
        return MISSING
    else:
        raise _unsupported(raw, variable)
    raise _type_error(
        f"{_label(variable)} holds a number that is not finite (NaN or infinity)", variable
    )


def _normalise(raw: object, variable: nodes.Variable) -> object:
    """Any context value as a sheet value; unsupported values are an error."""
    kind = type(raw)
    if kind is not list and kind is not tuple:
        return _scalar(raw, variable)
    items: list[object] = []
    # Flattened with a stack of iterators rather than recursion (see MAX_LIST_NESTING).
    stack: list[Iterator[object]] = [iter(raw)]  # type: ignore[call-overload]
    while stack:
        for item in stack[-1]:
            item_kind = type(item)
            if item_kind is list or item_kind is tuple:
                if len(stack) >= MAX_LIST_NESTING:
                    raise _type_error(
                        f"{_label(variable)} holds lists nested more than {MAX_LIST_NESTING} deep",
                        variable,
                    )
                stack.append(iter(item))  # type: ignore[call-overload]
                break
            value = _scalar(item, variable)
            if value is not MISSING:
                items.append(value)
        else:
            stack.pop()
    return tuple(items)


def _splice(values: list[object]) -> tuple[object, ...]:
    """Items of a list expression (sheet values): lists spliced in, nothing left out."""
    items: list[object] = []
    for value in values:
        if type(value) is tuple:
            items.extend(value)  # already flat, without MISSING
        elif value is not MISSING:
            items.append(value)
    return tuple(items)


def _equal(left: object, right: object) -> bool:
    """``=`` on sheet values: same kind and same value (so ``true`` is not ``1``)."""
    kind = type(left)
    if kind is not type(right):
        return False
    if kind is tuple:
        return len(left) == len(right) and all(  # type: ignore[arg-type]
            _equal(a, b)
            for a, b in zip(left, right, strict=True)  # type: ignore[call-overload]
        )
    return left == right


def _has_item(items: tuple[object, ...], value: object) -> bool:
    """Whether a flat list holds ``value``, by ``_equal``."""
    kind = type(value)
    if kind is str:
        # str == anything else is False, so plain membership is exact here.
        return value in items
    if kind is bool:
        return any(item is value for item in items)
    return any(type(item) is Decimal and item == value for item in items)


def _format_number(value: Decimal) -> str:
    if not value:
        value = value.copy_abs()  # no "-0"
    if -100 <= value.adjusted() <= 100:
        return format(value, "f")
    return str(value)  # scientific: a fixed notation of 1E+999999 would be a megabyte


def _text(value: object) -> str:
    """A sheet value as template text."""
    kind = type(value)
    if kind is str:
        return value  # type: ignore[return-value]
    if kind is Decimal:
        return _format_number(value)  # type: ignore[arg-type]
    if kind is bool:
        return "true" if value else "false"
    if kind is tuple:
        return ", ".join(_text(item) for item in value)  # type: ignore[attr-defined]
    return ""  # MISSING


# --- Operators on sheet values -----------------------------------------------------

_ORDERINGS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    ">": operator.gt,
    "<=": operator.le,
    ">=": operator.ge,
}
_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "<>": operator.ne,
    **_ORDERINGS,
}
_FLIPPED = {"=": "=", "<>": "<>", "<": ">", ">": "<", "<=": ">=", ">=": "<="}


def _order(op: str, left: object, right: object, node: nodes.Binary) -> bool:
    if left is MISSING or right is MISSING:
        return False
    kind = type(left)
    if kind is type(right) and (kind is Decimal or kind is str):
        return _ORDERINGS[op](left, right)
    raise _type_error(
        f"'{op}' needs two numbers or two strings, got {_kind(left)} and {_kind(right)}", node
    )


def _compare(op: str, left: object, right: object, node: nodes.Binary) -> bool:
    """Any comparison operator on sheet values, in source order."""
    if op == "=":
        return _equal(left, right)
    if op == "<>":
        return not _equal(left, right)
    return _order(op, left, right, node)


def _in(left: object, right: object, node: nodes.Binary) -> bool:
    if type(left) is tuple:
        # The reference's own `[Supplier.SetNames] in 'PrintSuppliers'`: a list on the
        # left is in the right when one of its items is (the checker warns, suggesting
        # `contains`).
        items = right if type(right) is tuple else (right,)
        return any(_has_item(items, item) for item in left)
    if left is MISSING:
        return False
    if type(right) is tuple:
        return _has_item(right, left)
    return _equal(left, right)  # one value is a one-item list


def _contains(left: object, right: object, node: nodes.Binary) -> bool:
    if type(right) is tuple:
        raise _type_error(f"'{node.operator}' needs a single value on its right, got a list", node)
    kind = type(left)
    if kind is tuple:
        return right is not MISSING and _has_item(left, right)  # type: ignore[arg-type]
    if kind is str:
        if type(right) is str:
            return right in left  # type: ignore[operator]
        if right is MISSING:
            return False
        raise _type_error(
            f"'{node.operator}' on a string needs a string on its right, got {_kind(right)}",
            node,
        )
    if left is MISSING:
        return False
    raise _type_error(
        f"'{node.operator}' needs a list or a string on its left, got {_kind(left)}", node
    )


_DECIMAL_OPERATIONS: dict[str, Callable[[Any, Any], Decimal]] = {
    "+": _DECIMAL.add,
    "-": _DECIMAL.subtract,
    "*": _DECIMAL.multiply,
    "/": _DECIMAL.divide,
}


def _arithmetic(op: str, left: object, right: object, node: nodes.Binary) -> object:
    kind = type(left)
    if kind is Decimal and type(right) is Decimal:
        if op == "/" and not right:
            raise EvaluationError(
                DIVISION_BY_ZERO, "division by zero: the right side of '/' is 0", node.span
            )
        try:
            return _DECIMAL_OPERATIONS[op](left, right)
        except ArithmeticError:
            raise EvaluationError(
                NUMBER_OUT_OF_RANGE, f"the result of '{op}' is too large a number", node.span
            ) from None
    if op == "+" and kind is str and type(right) is str:
        return left + right  # type: ignore[operator]
    if left is MISSING or right is MISSING:
        return MISSING
    needs = "two numbers or two strings" if op == "+" else "two numbers"
    raise _type_error(f"'{op}' needs {needs}, got {_kind(left)} and {_kind(right)}", node)


def _truth(value: object, what: str, node: nodes.Expr | nodes.Branch) -> bool:
    """``value`` as a condition: true, false, or missing (false); else a type error."""
    if value is True:
        return True
    if value is False or value is MISSING:
        return False
    raise _type_error(f"{what} needs true or false, got {_kind(value)}", node)


# --- The compiler ------------------------------------------------------------------

_LITERALS = (nodes.String, nodes.Number, nodes.Boolean, nodes.Nothing)


def _literal_value(expr: nodes.Expr) -> object:
    if isinstance(expr, nodes.Nothing):
        return MISSING
    if isinstance(expr, nodes.Number):
        return Decimal(expr.value)  # accepts hand-built nodes holding an int
    return expr.value  # type: ignore[attr-defined]


def _constant_value(expr: nodes.Expr) -> tuple[bool, object]:
    """``(True, value)`` when ``expr`` needs no context (literals and lists of them)."""
    if isinstance(expr, _LITERALS):
        return True, _literal_value(expr)
    if isinstance(expr, nodes.ListExpr):
        values = []
        for item in expr.items:
            known, value = _constant_value(item)
            if not known:
                return False, None
            values.append(value)
        return True, _splice(values)
    if isinstance(expr, nodes.Template) and all(isinstance(part, str) for part in expr.parts):
        return True, "".join(expr.parts)  # type: ignore[arg-type]
    return False, None


def _constant(value: object) -> Compiled:
    def constant(context: Context) -> object:
        return value

    return constant


def compile_expression(expr: nodes.Expr) -> Compiled:
    """Compile an expression node to a closure ``f(context) -> value``.

    Raises ``EvaluationError`` (``TooLarge``) for a tree deeper than
    ``MAX_DEPTH``, which the parser never produces, and ``TypeError`` for
    something that is not an expression node.
    """
    return _compile(expr, 0)


def _compile(expr: nodes.Expr, depth: int) -> Compiled:
    if depth > MAX_DEPTH:
        raise EvaluationError(
            TOO_LARGE, f"this expression is more than {MAX_DEPTH} operations deep", expr.span
        )
    known, value = _constant_value(expr)
    if known:
        return _constant(value)
    builder = _BUILDERS.get(type(expr))
    if builder is None:
        raise TypeError(f"not an expression node: {type(expr).__name__}")
    return builder(expr, depth + 1)


@functools.lru_cache(maxsize=65_536)
def canonical_path(path: tuple[str, ...]) -> tuple[str, ...]:
    """One shared tuple of interned names per variable path.

    Compiled closures look their variables up with these tuples; a context
    whose keys are the same objects (``mapping_context``'s are) finds them by
    identity, without comparing strings. Only speed depends on this.
    """
    return tuple(sys.intern(name) for name in path)


def _compile_variable(expr: nodes.Variable, depth: int) -> Compiled:
    path = canonical_path(expr.path)

    def variable(context: Context) -> object:
        raw = context(path)
        kind = type(raw)
        if kind is str or kind is bool:
            return raw
        return _normalise(raw, expr)

    return variable


def _compile_template(expr: nodes.Template, depth: int) -> Compiled:
    parts = tuple(
        _constant(part) if isinstance(part, str) else _compile(part, depth) for part in expr.parts
    )

    def template(context: Context) -> str:
        return "".join([_text(part(context)) for part in parts])

    return template


def _compile_list(expr: nodes.ListExpr, depth: int) -> Compiled:
    items = tuple(_compile(item, depth) for item in expr.items)

    def list_(context: Context) -> tuple[object, ...]:
        return _splice([item(context) for item in items])

    return list_


def _compile_unary(expr: nodes.Unary, depth: int) -> Compiled:
    operand = _compile(expr.operand, depth)
    if expr.operator == "not":

        def not_(context: Context) -> bool:
            return not _truth(operand(context), "'not'", expr)

        return not_

    def negate(context: Context) -> object:
        value = operand(context)
        if type(value) is Decimal:
            try:
                return _DECIMAL.minus(value)
            except ArithmeticError:
                raise EvaluationError(
                    NUMBER_OUT_OF_RANGE, "the result of '-' is too large a number", expr.span
                ) from None
        if value is MISSING:
            return MISSING
        raise _type_error(f"'-' needs a number, got {_kind(value)}", expr)

    return negate


def _compile_has_value(expr: nodes.HasValue, depth: int) -> Compiled:
    negated = expr.negated
    if isinstance(expr.operand, nodes.Variable):
        return _has_value_variable(expr.operand, negated)
    operand = _compile(expr.operand, depth)

    def has_value(context: Context) -> bool:
        return (operand(context) is MISSING) is negated

    return has_value


def _has_value_variable(variable: nodes.Variable, negated: bool) -> Compiled:
    path = canonical_path(variable.path)

    def has_value(context: Context) -> bool:
        raw = context(path)
        if raw is MISSING or raw is None:
            return negated
        kind = type(raw)
        if kind is not str and kind is not int and kind is not bool:
            _normalise(raw, variable)  # an unsupported value is an error here too
        return not negated

    return has_value


def _compile_match(expr: nodes.Match, depth: int) -> Compiled:
    branches = tuple(
        (_compile(branch.condition, depth), _compile(branch.value, depth), branch)
        for branch in expr.branches
    )
    otherwise = _compile(expr.otherwise, depth) if expr.otherwise is not None else None

    def match(context: Context) -> object:
        for condition, value, branch in branches:
            chosen = condition(context)
            if chosen is True:
                return value(context)
            if chosen is not False and chosen is not MISSING:
                _truth(chosen, "a 'when' condition", branch)  # raises
        return otherwise(context) if otherwise is not None else MISSING

    return match


def _compile_binary(expr: nodes.Binary, depth: int) -> Compiled:
    op = expr.operator
    special = _binary_fast_path(expr)
    if special is not None:
        return special
    left = _compile(expr.left, depth)
    right = _compile(expr.right, depth)
    if op == "and":
        return _and(expr, left, right)
    if op == "or":
        return _or(expr, left, right)
    if op == "=":

        def equal(context: Context) -> bool:
            return _equal(left(context), right(context))

        return equal
    if op == "<>":

        def not_equal(context: Context) -> bool:
            return not _equal(left(context), right(context))

        return not_equal
    if op in _ORDERINGS:

        def ordering(context: Context) -> bool:
            return _order(op, left(context), right(context), expr)

        return ordering
    if op in _DECIMAL_OPERATIONS:

        def arithmetic(context: Context) -> object:
            return _arithmetic(op, left(context), right(context), expr)

        return arithmetic
    if op in ("in", "not in", "contains", "not contains"):
        test = _in if op.endswith("in") else _contains
        negated = op.startswith("not")

        def membership(context: Context) -> bool:
            return test(left(context), right(context), expr) is not negated

        return membership
    raise TypeError(f"unknown operator {op!r}")


def _binary_fast_path(expr: nodes.Binary) -> Compiled | None:
    """A fast path for ``expr`` (see below), or None where only the general one applies."""
    op = expr.operator
    if op in _FLIPPED:
        return _compare_variable(expr)
    if op in ("in", "not in"):
        return _in_constant(expr)
    if op in ("contains", "not contains") and _is_variable_and_string(expr):
        return _contains_string(expr)
    return None


def _and(expr: nodes.Binary, left: Compiled, right: Compiled) -> Compiled:
    def and_(context: Context) -> bool:
        first = left(context)
        if first is True:
            second = right(context)
            if second is True:
                return True
            if second is False or second is MISSING:
                return False
            raise _type_error(f"'and' needs true or false, got {_kind(second)} on its right", expr)
        if first is False or first is MISSING:
            return False
        raise _type_error(f"'and' needs true or false, got {_kind(first)} on its left", expr)

    return and_


def _or(expr: nodes.Binary, left: Compiled, right: Compiled) -> Compiled:
    def or_(context: Context) -> bool:
        first = left(context)
        if first is True:
            return True
        if first is False or first is MISSING:
            second = right(context)
            if second is True:
                return True
            if second is False or second is MISSING:
                return False
            raise _type_error(f"'or' needs true or false, got {_kind(second)} on its right", expr)
        raise _type_error(f"'or' needs true or false, got {_kind(first)} on its left", expr)

    return or_


# --- Fast paths -----------------------------------------------------------------
#
# The common predicates compare a variable with a literal or with another
# variable. These closures read the raw context value and, when its exact type
# already gives the answer the general rules would (a str against a string
# literal, an int against a number), compare directly; anything else goes
# through the general path (normalise, then _compare), so semantics and error
# messages are the same either way.


def _compare_variable(expr: nodes.Binary) -> Compiled | None:
    left, right, op = expr.left, expr.right, expr.operator
    if isinstance(left, nodes.Variable) and isinstance(right, nodes.Variable):
        return _variable_vs_variable(expr, left, right)
    if isinstance(left, nodes.Variable) and isinstance(right, _LITERALS):
        return _variable_vs_literal(expr, left, right, op, flipped=False)
    if isinstance(right, nodes.Variable) and isinstance(left, _LITERALS):
        return _variable_vs_literal(expr, right, left, _FLIPPED[op], flipped=True)
    return None


def _variable_vs_literal(
    expr: nodes.Binary,
    variable: nodes.Variable,
    literal_node: nodes.Expr,
    op: str,  # as if the variable were on the left
    flipped: bool,
) -> Compiled | None:
    path = canonical_path(variable.path)
    literal = _literal_value(literal_node)
    if literal is MISSING:
        if op == "=":
            return _has_value_variable(variable, negated=True)
        if op == "<>":
            return _has_value_variable(variable, negated=False)
        return None  # an ordering with nothing: rare, the general path says false

    def slow(raw: object) -> bool:
        value = _normalise(raw, variable)
        if flipped:
            return _compare(expr.operator, literal, value, expr)
        return _compare(expr.operator, value, literal, expr)

    if type(literal) is str:
        return _variable_vs_string(path, literal, op, slow)
    if type(literal) is bool:
        return _variable_vs_boolean(path, literal, op, slow)
    assert isinstance(literal, Decimal)
    return _variable_vs_number(path, literal, op, slow)


def _variable_vs_string(
    path: tuple[str, ...], literal: str, op: str, slow: Callable[[object], bool]
) -> Compiled:
    """The variable at ``path`` against a string literal: a ``str`` compares directly."""
    if op == "=":

        def equal_string(context: Context) -> bool:
            raw = context(path)
            if type(raw) is str:
                return raw == literal
            return slow(raw)

        return equal_string
    if op == "<>":

        def not_equal_string(context: Context) -> bool:
            raw = context(path)
            if type(raw) is str:
                return raw != literal
            return slow(raw)

        return not_equal_string
    compare = _ORDERINGS[op]

    def order_string(context: Context) -> bool:
        raw = context(path)
        if type(raw) is str:
            return compare(raw, literal)
        return slow(raw)

    return order_string


def _variable_vs_boolean(
    path: tuple[str, ...], literal: bool, op: str, slow: Callable[[object], bool]
) -> Compiled | None:
    """The variable at ``path`` against ``true``/``false``: only ``=`` and ``<>`` are fast."""
    if op not in ("=", "<>"):
        return None
    equal = op == "="

    def equal_bool(context: Context) -> bool:
        raw = context(path)
        if type(raw) is bool:
            return (raw is literal) is equal
        return slow(raw)

    return equal_bool


def _variable_vs_number(
    path: tuple[str, ...], literal: Decimal, op: str, slow: Callable[[object], bool]
) -> Compiled:
    """The variable at ``path`` against a number literal.

    An int compares exactly with the literal (as an int when it is whole, which
    is faster). A finite float compares with the literal's nearest float exactly
    as its shortest-repr decimal compares with the literal, provided the literal
    is itself that float's shortest repr: the shortest repr is strictly
    increasing in the float.
    """
    compare = _COMPARISONS[op]
    whole = literal.adjusted() < 30 and literal == literal.to_integral_value()
    as_int: object = int(literal) if whole else literal
    as_float = float(literal)
    float_exact = Decimal(repr(as_float)) == literal

    def compare_number(context: Context) -> bool:
        raw = context(path)
        kind = type(raw)
        if kind is int:
            return compare(raw, as_int)
        # raw is a float here (kind is float); mypy does not narrow through the local kind.
        if kind is float and float_exact and raw - raw == 0.0:  # type: ignore[operator]
            return compare(raw, as_float)
        return slow(raw)

    return compare_number


def _variable_vs_variable(
    expr: nodes.Binary, left: nodes.Variable, right: nodes.Variable
) -> Compiled:
    op = expr.operator
    left_path, right_path = canonical_path(left.path), canonical_path(right.path)

    def slow(first: object, second: object) -> bool:
        if (
            type(first) is float
            and type(second) is float
            and first - first == 0.0  # two finite floats: see _variable_vs_literal
            and second - second == 0.0
        ):
            return compare(first, second)
        return _compare(op, _normalise(first, left), _normalise(second, right), expr)

    if op in ("=", "<>"):
        compare: Callable[[Any, Any], bool] = operator.eq if op == "=" else operator.ne

        # Two values of the same exact type among these: == on them is _equal.
        def equal_variables(context: Context) -> bool:
            first = context(left_path)
            second = context(right_path)
            kind = type(first)
            if type(second) is kind and (
                kind is str
                or kind is int
                or kind is bool
                # Decimals here (kind is Decimal); mypy does not narrow through the local kind.
                or (kind is Decimal and first.is_finite() and second.is_finite())  # type: ignore[attr-defined]
            ):
                return compare(first, second)
            return slow(first, second)

        return equal_variables
    compare = _ORDERINGS[op]

    def order_variables(context: Context) -> bool:
        first = context(left_path)
        second = context(right_path)
        kind = type(first)
        if type(second) is kind and (
            kind is int
            or kind is str
            # Decimals here (kind is Decimal); mypy does not narrow through the local kind.
            or (kind is Decimal and first.is_finite() and second.is_finite())  # type: ignore[attr-defined]
        ):
            return compare(first, second)
        return slow(first, second)

    return order_variables


def _in_constant(expr: nodes.Binary) -> Compiled | None:
    """``[Variable] in 'a', 'b'``: membership in a constant list, by hashing."""
    if not isinstance(expr.left, nodes.Variable):
        return None
    known, right = _constant_value(expr.right)
    if not known:
        return None
    variable = expr.left
    path = canonical_path(variable.path)
    items = right if type(right) is tuple else ((right,) if right is not MISSING else ())
    strings = frozenset(item for item in items if type(item) is str)
    # Kept apart from the strings and booleans: True == 1 and hash(True) == hash(1).
    numbers = frozenset(item for item in items if type(item) is Decimal)
    negated = expr.operator == "not in"

    def member(context: Context) -> bool:
        raw = context(path)
        kind = type(raw)
        if kind is str:
            return (raw in strings) is not negated
        if kind is int:
            return (raw in numbers) is not negated
        return _in(_normalise(raw, variable), right, expr) is not negated

    return member


def _is_variable_and_string(expr: nodes.Binary) -> bool:
    return isinstance(expr.left, nodes.Variable) and isinstance(expr.right, nodes.String)


def _contains_string(expr: nodes.Binary) -> Compiled:
    """``[Supplier.BackendID] contains 'IBE'``, and the same on a list."""
    variable = expr.left
    assert isinstance(variable, nodes.Variable) and isinstance(expr.right, nodes.String)
    path = canonical_path(variable.path)
    literal = expr.right.value
    negated = expr.operator == "not contains"

    def contains(context: Context) -> bool:
        raw = context(path)
        if type(raw) is str:
            return (literal in raw) is not negated
        return _contains(_normalise(raw, variable), literal, expr) is not negated

    return contains


_BUILDERS: dict[type, Callable[[Any, int], Compiled]] = {
    nodes.Variable: _compile_variable,
    nodes.Template: _compile_template,
    nodes.ListExpr: _compile_list,
    nodes.Unary: _compile_unary,
    nodes.HasValue: _compile_has_value,
    nodes.Match: _compile_match,
    nodes.Binary: _compile_binary,
}


# --- Caches -------------------------------------------------------------------------


def _spans(expr: nodes.Expr) -> tuple[Span, ...]:
    """Every span in the tree, in a fixed order (iteratively)."""
    spans: list[Span] = []
    stack: list[object] = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, nodes.Expr):
            spans.append(node.span)
        if isinstance(node, nodes.Binary):
            stack += (node.left, node.right)
        elif isinstance(node, nodes.Unary | nodes.HasValue):
            stack.append(node.operand)
        elif isinstance(node, nodes.ListExpr):
            stack += node.items
        elif isinstance(node, nodes.Template):
            stack += [part for part in node.parts if not isinstance(part, str)]
        elif isinstance(node, nodes.Match):
            stack += [node.otherwise] if node.otherwise is not None else []
            for branch in node.branches:
                stack += (branch.condition, branch.value)
    return tuple(spans)


@functools.lru_cache(maxsize=4096)
def _compiled(expr: nodes.Expr, spans: tuple[Span, ...]) -> Compiled:
    return compile_expression(expr)


def compiled(expr: nodes.Expr) -> Compiled:
    """``compile_expression``, memoised for up to 4096 expressions.

    Nodes compare equal whatever their position, but a closure reports errors at
    the positions it was compiled from, so the key is the node and its spans.
    """
    try:
        return _compiled(expr, _spans(expr))
    except RecursionError:  # hashing a hand-built tree deeper than MAX_DEPTH
        return compile_expression(expr)


# The names under which CompiledSheet.expressions holds a statement's expressions.
_STATEMENT_EXPRESSIONS: dict[type, tuple[str, ...]] = {
    nodes.Require: ("condition", "applies_when", "reason_when"),
    nodes.Option: ("value",),
    nodes.With: ("value",),
    nodes.Data: ("value",),
    nodes.ScoreAdd: ("value", "when"),
    nodes.Fanout: ("value",),
}


@dataclass(frozen=True, slots=True)
class CompiledSheet:
    """A parsed sheet and its compiled expressions, shared by every evaluation.

    ``expressions[i]`` maps names to the compiled expressions of statement ``i``
    of ``sheet.statements`` (every index is present; header statements map to
    nothing): ``condition``, ``applies_when``, ``reason_when`` and
    ``reason_description`` of a ``require``; ``value`` of ``option``, ``with``,
    ``data``, ``score add`` and ``fanout``; ``when`` of ``score add``. Only
    expressions the statement has are there. Statements that did not parse are
    not in ``sheet`` at all: a sheet with ``diagnostics`` should not be run.
    """

    digest: str
    sheet: nodes.Sheet
    diagnostics: tuple[Diagnostic, ...]
    expressions: Mapping[int, Mapping[str, Compiled]]


class _Source:
    """An lru_cache key: equal by digest; the text is dropped once compiled."""

    __slots__ = ("digest", "text")

    def __init__(self, digest: str, text: str | None) -> None:
        self.digest = digest
        self.text = text

    def __hash__(self) -> int:
        return hash(self.digest)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Source) and other.digest == self.digest


def compile_sheet_uncached(digest: str, source: str) -> CompiledSheet:
    """Parse and compile ``source`` now, without the cache ``compile_sheet`` keeps
    (``digest`` names the result); for measuring what a first compile costs."""
    sheet, diagnostics = parse(source)
    problems = list(diagnostics)
    expressions: dict[int, Mapping[str, Compiled]] = {}
    for index, statement in enumerate(sheet.statements):
        found: dict[str, nodes.Expr] = {}
        for name in _STATEMENT_EXPRESSIONS.get(type(statement), ()):
            expr = getattr(statement, name)
            if expr is not None:
                found[name] = expr
        reason = getattr(statement, "reason", None)
        if reason is not None and reason.description is not None:
            found["reason_description"] = reason.description
        try:
            expressions[index] = MappingProxyType(
                {name: compile_expression(expr) for name, expr in found.items()}
            )
        except EvaluationError as error:  # only trees the parser would refuse
            problems.append(Diagnostic(Code.TOO_LARGE, error.message, error.span))
            expressions[index] = MappingProxyType({})
    return CompiledSheet(digest, sheet, tuple(problems), MappingProxyType(expressions))


@functools.lru_cache(maxsize=256)
def _compile_sheet_cached(key: _Source) -> CompiledSheet:
    assert key.text is not None
    result = compile_sheet_uncached(key.digest, key.text)
    # The cache keeps this key: without its text it keeps only the digest alive.
    key.text = None
    return result


def compile_sheet(source: str) -> CompiledSheet:
    """Parse and compile a sheet, once per distinct source (by SHA-256; 256 kept)."""
    # surrogatepass: text decoded with surrogateescape must still hash, not raise.
    digest = hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()
    return _compile_sheet_cached(_Source(digest, source))


compile_sheet.cache_clear = _compile_sheet_cached.cache_clear  # type: ignore[attr-defined]
compile_sheet.cache_info = _compile_sheet_cached.cache_info  # type: ignore[attr-defined]


class _Values(dict):  # type: ignore[type-arg]
    """A dict whose unknown keys are MISSING, so its ``__getitem__`` is a context."""

    def __missing__(self, key: object) -> object:
        return MISSING


def mapping_context(values: Mapping[str, object]) -> Context:
    """A context from ``{"Supplier.Type": "Shop", ...}``: dotted names to values."""
    return _Values(
        {canonical_path(tuple(name.split("."))): value for name, value in values.items()}
    ).__getitem__
