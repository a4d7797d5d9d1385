"""The expression compiler: exact results, exact errors, caching, and nothing but values."""

import pickle
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestration.language import nodes
from orchestration.language.compiler import (
    MAX_DEPTH,
    MISSING,
    CompiledSheet,
    EvaluationError,
    compile_expression,
    compile_sheet,
    compiled,
    mapping_context,
)
from orchestration.language.errors import Span
from orchestration.language.parser import parse

PREFIX = "with Result as "
SHIP_FROM_STORE = (
    Path(__file__).resolve().parents[2] / "orchestration/demo/sheets/ShipFromStore.sheet"
)


def expression(source: str) -> nodes.Expr:
    sheet, diagnostics = parse(PREFIX + source)
    assert diagnostics == []
    (statement,) = sheet.statements
    assert isinstance(statement, nodes.With)
    return statement.value


def evaluate(source: str, values: dict[str, object] | None = None) -> object:
    return compile_expression(expression(source))(mapping_context(values or {}))


def same(result: object, expected: object) -> bool:
    """Equal and of the same type (so True is not Decimal(1)), item by item."""
    if isinstance(expected, tuple):
        return (
            isinstance(result, tuple)
            and len(result) == len(expected)
            and all(same(a, b) for a, b in zip(result, expected, strict=True))
        )
    return type(result) is type(expected) and result == expected


D = Decimal
CASES = [
    # literals and variables
    ("'Shop'", {}, "Shop"),
    ("42", {}, D(42)),
    ("-1.5", {}, D("-1.5")),
    ("true", {}, True),
    ("False", {}, False),
    ("nothing", {}, MISSING),
    ("null", {}, MISSING),
    ("[A]", {"A": 5}, D(5)),
    ("[A]", {"A": 2.5}, D("2.5")),
    ("[A]", {"A": 0.1}, D("0.1")),
    ("[A]", {"A": D("1.50")}, D("1.50")),
    ("[A]", {"A": "x"}, "x"),
    ("[A]", {"A": True}, True),
    ("[A]", {"A": None}, MISSING),
    ("[A]", {}, MISSING),
    ("[A]", {"A": ["a", None, ["b", 1]]}, ("a", "b", D(1))),
    ("Supplier.Address.City", {"Supplier.Address.City": "Delft"}, "Delft"),
    # arithmetic, precedence, associativity
    ("1 + 2 * 3", {}, D(7)),
    ("(1 + 2) * 3", {}, D(9)),
    ("10 - 4 - 3", {}, D(3)),
    ("12 / 4 / 3", {}, D(1)),
    ("1 / 3", {}, D("0.3333333333333333333333333333")),
    ("1.0 / [D]", {"D": 4}, D("0.25")),
    ("0.1 + 0.2", {}, D("0.3")),
    ("[A] + [B]", {"A": 0.1, "B": 0.2}, D("0.3")),
    ("-[A] + 1", {"A": 3}, D(-2)),
    ("2 * -[A]", {"A": 3}, D(-6)),
    ("'ab' + 'cd'", {}, "abcd"),
    ("[A] + 1", {}, MISSING),
    ("1.0 / [A]", {"A": None}, MISSING),
    ("-[A]", {}, MISSING),
    # = and <>
    ("[A] = 'Shop'", {"A": "Shop"}, True),
    ("[A] = 'Shop'", {"A": "shop"}, False),
    ("[A] = 'Shop'", {}, False),
    ("[A] = 'Shop'", {"A": 1}, False),
    ("'Shop' = [A]", {"A": "Shop"}, True),
    ("[A] <> 'Shop'", {}, True),
    ("[A] <> 'Shop'", {"A": "Shop"}, False),
    ("1 = 1.0", {}, True),
    ("[A] = 1", {"A": 1.0}, True),
    ("[A] = 1", {"A": D("1.00")}, True),
    ("[A] = 1", {"A": True}, False),
    ("[A] = true", {"A": 1}, False),
    ("[A] = false", {"A": False}, True),
    ("[A] <> false", {"A": True}, True),
    ("[A] = nothing", {}, True),
    ("[A] = nothing", {"A": None}, True),
    ("[A] = nothing", {"A": ""}, False),
    ("nothing = [A]", {"A": 0}, False),
    ("[A] <> nothing", {"A": "x"}, True),
    ("[A] <> nothing", {}, False),
    ("nothing = nothing", {}, True),
    ("[A] = [B]", {"A": 1, "B": D("1.0")}, True),
    ("[A] = [B]", {"A": 0.1, "B": 0.1}, True),
    ("[A] = [B]", {"A": 1, "B": "1"}, False),
    ("[A] = [B]", {"A": True, "B": 1}, False),
    ("[A] = [B]", {}, True),
    ("[A] <> [B]", {"A": "a", "B": "b"}, True),
    ("[A] = [B]", {"A": ["a", 1], "B": ("a", 1.0)}, True),
    ("[A] = [B]", {"A": [True], "B": [1]}, False),
    ("'a', 'b' = 'a', 'b'", {}, ("a", False, "b")),  # a list: 'a', ('b' = 'a'), 'b'
    # < > <= >=
    ("[A] < 5", {"A": 4}, True),
    ("[A] < 5", {"A": 5}, False),
    ("[A] < 5", {"A": 4.99}, True),
    ("[A] < 5", {}, False),
    ("[A] >= 2", {"A": 2}, True),
    ("[A] >= 2", {"A": D("1.999")}, False),
    ("5 > [A]", {"A": 4}, True),
    ("5 <= [A]", {"A": 4}, False),
    ("[A] >= 0.1", {"A": 0.1}, True),
    ("[A] > 0.1", {"A": 0.1}, False),
    # The literal has more digits than a float holds: 0.3 (read as 0.3) is below it.
    ("[A] < 0.30000000000000001", {"A": 0.3}, True),
    ("[A] = 0.30000000000000001", {"A": 0.3}, False),
    ("'a' < 'b'", {}, True),
    ("[A] <= [B]", {"A": "abc", "B": "abd"}, True),
    ("[A] < [B]", {"B": 1}, False),
    ("[A] >= [B]", {"A": 2.5, "B": 2}, True),
    ("[A] >= [B]", {"A": 3, "B": 3.5}, False),
    ("[A] > [B]", {"A": 0.2, "B": 0.1}, True),
    ("nothing < 1", {}, False),
    # in / not in
    ("[A] in 'x', 'y'", {"A": "y"}, True),
    ("[A] in 'x', 'y'", {"A": "z"}, False),
    ("[A] in 'x', 'y'", {}, False),
    ("[A] not in 'x', 'y'", {}, True),
    ("[A] not in 'x', 'y'", {"A": "x"}, False),
    ("[A] in 1, 2", {"A": 2}, True),
    ("[A] in 1, 2", {"A": 2.0}, True),
    ("[A] in 1, 2", {"A": True}, False),
    ("[A] in true, 'x'", {"A": True}, True),
    ("[A] in true, 'x'", {"A": 1}, False),
    ("[A] in 'x'", {"A": "x"}, True),
    ("[A] in [L]", {"A": "a", "L": ["a", "b"]}, True),
    ("[A] in [L]", {"A": "c", "L": ["a", "b"]}, False),
    ("[A] in [L]", {"A": "a", "L": "a"}, True),
    ("[A] in [L]", {"A": "a"}, False),
    ("'b' in [L]", {"L": ["a", "b"]}, True),
    ("1 in [L]", {"L": [1.0]}, True),
    ("[A] not in [L]", {"A": "a", "L": ["a"]}, False),
    # contains / not contains: lists and strings
    ("[L] contains 'PrintSuppliers'", {"L": ["PrintSuppliers", "X"]}, True),
    ("[L] contains 'PrintSuppliers'", {"L": ["X"]}, False),
    ("[Supplier.BackendID] contains 'IBE'", {"Supplier.BackendID": "NL-IBE-3"}, True),
    ("[Supplier.BackendID] contains 'IBE'", {"Supplier.BackendID": "NL"}, False),
    ("[Supplier.BackendID] contains 'IBE'", {}, False),
    ("[Supplier.BackendID] not contains 'IBE'", {}, True),
    ("[Supplier.BackendID] not contains 'IBE'", {"Supplier.BackendID": "IBE"}, False),
    # A list left of `in` (the reference's `[Supplier.SetNames] in 'PrintSuppliers'`):
    # in the right side when one of its items is.
    (
        "[Supplier.SetNames] in 'PrintSuppliers'",
        {"Supplier.SetNames": ["A", "PrintSuppliers"]},
        True,
    ),
    ("[Supplier.SetNames] in 'PrintSuppliers'", {"Supplier.SetNames": ["A"]}, False),
    ("[Supplier.SetNames] in 'PrintSuppliers'", {"Supplier.SetNames": []}, False),
    ("[Supplier.SetNames] not in 'PrintSuppliers'", {"Supplier.SetNames": []}, True),
    (
        "[Supplier.SetNames] not in 'PrintSuppliers'",
        {"Supplier.SetNames": ["PrintSuppliers"]},
        False,
    ),
    ("[Supplier.SetNames] in 'B', 'C'", {"Supplier.SetNames": ["A", "C"]}, True),
    ("[Supplier.SetNames] in 'B', 'C'", {"Supplier.SetNames": ["A", "D"]}, False),
    ("[L] in 2", {"L": ["2", 1]}, False),
    ("[L] in 1", {"L": ["2", 1]}, True),
    ("[L] in true", {"L": [1]}, False),
    ("[L] contains 1", {"L": [1, 2]}, True),
    ("[L] contains 1", {"L": [True]}, False),
    ("[L] contains [X]", {"L": "abc", "X": "b"}, True),
    ("[L] contains [X]", {"L": ["abc"]}, False),
    ("'abc' contains 'bc'", {}, True),
    ("'abc' contains ''", {}, True),
    # and / or / not, precedence
    ("true and false", {}, False),
    ("true or false", {}, True),
    ("not true", {}, False),
    ("not [A]", {}, True),
    ("[A] and true", {}, False),
    ("[A] or true", {}, True),
    ("false and 'x'", {}, False),  # short-circuit: 'x' is never looked at
    ("true or 'x'", {}, True),
    ("true or false and false", {}, True),
    ("not false and false", {}, False),
    ("not [A] = 1", {"A": 1}, False),
    ("[A] = 1 or [B] = 2 and [C] = 3", {"A": 0, "B": 2, "C": 3}, True),
    ("([A] = 1 or [B] = 2) and [C] = 3", {"A": 1, "B": 0, "C": 0}, False),
    # has value / has no value
    ("[A] has value", {}, False),
    ("[A] has value", {"A": None}, False),
    ("[A] has value", {"A": ""}, True),
    ("[A] has value", {"A": []}, True),
    ("[A] has value", {"A": 0}, True),
    ("[A] has value", {"A": 1.5}, True),
    ("[A] has no value", {"A": None}, True),
    ("[A] has no value", {"A": "x"}, False),
    ("[A] + 1 has value", {}, False),
    ("[A] + 1 has no value", {"A": 1}, False),
    # match
    ("when [A] = 1 then 'one' else when [A] = 2 then 'two' else then 'many'", {"A": 1}, "one"),
    ("when [A] = 1 then 'one' else when [A] = 2 then 'two' else then 'many'", {"A": 2}, "two"),
    ("when [A] = 1 then 'one' else when [A] = 2 then 'two' else then 'many'", {"A": 3}, "many"),
    ("when [A] = 1 then 'one'", {"A": 2}, MISSING),
    ("when [A] = 1 then 'one' end", {"A": 1}, "one"),
    ("when [A] then 5 else then 0", {"A": True}, D(5)),
    ("when [A] then 5 else then 0", {}, D(0)),
    ("(when [A] = 1 then 2 else then 3) * 10", {"A": 1}, D(20)),
    ("when [A] has value then [A] else then 'None'", {}, "None"),
    ("when [A] has value then [A] else then 'None'", {"A": "Print"}, "Print"),
    # templates
    ("$'Shop not open on {[Day]}'", {"Day": "Sunday"}, "Shop not open on Sunday"),
    ("$'{[N]} km, {true}, {nothing}|{[L]}'", {"N": 2.5, "L": ["a", 1]}, "2.5 km, true, |a, 1"),
    ("$'{1.50} {1 / 4} {2 * 3}'", {}, "1.50 0.25 6"),
    ("$'{0 * -1}'", {}, "0"),
    ("$'{[A]}'", {"A": D("1E-8")}, "0.00000001"),
    ("$'{[A]}'", {"A": D("1E+300")}, "1E+300"),
    ("$'{[A]}'", {}, ""),
    ("$'no expressions'", {}, "no expressions"),
    # lists
    ("'a', nothing, 'b'", {}, ("a", "b")),
    ("[L], 'c'", {"L": ["a", "b"]}, ("a", "b", "c")),
    ("[P], 'SFS_task'", {}, ("SFS_task",)),
    ("1, 'a', true", {}, (D(1), "a", True)),
]


@pytest.mark.parametrize(("source", "values", "expected"), CASES)
def test_expression_values(source: str, values: dict[str, object], expected: object) -> None:
    result = evaluate(source, values)
    if expected is MISSING:
        assert result is MISSING
    else:
        assert same(result, expected), result


# --- Errors: code, message, position ---------------------------------------------------

COLUMN = len(PREFIX) + 1  # where an expression starts in `with Result as ...`

ERRORS = [
    ("1 / 0", {}, "DivisionByZero", "division by zero: the right side of '/' is 0", 0),
    ("1 / [Z]", {"Z": 0.0}, "DivisionByZero", "division by zero: the right side of '/' is 0", 0),
    (
        "'a' < 1",
        {},
        "InvalidExpressionValueType",
        "'<' needs two numbers or two strings, got a string and a number",
        0,
    ),
    (
        "1 + 'a'",
        {},
        "InvalidExpressionValueType",
        "'+' needs two numbers or two strings, got a number and a string",
        0,
    ),
    (
        "'x' and true",
        {},
        "InvalidExpressionValueType",
        "'and' needs true or false, got a string on its left",
        0,
    ),
    (
        "true and 1",
        {},
        "InvalidExpressionValueType",
        "'and' needs true or false, got a number on its right",
        0,
    ),
    (
        "false or [A]",
        {"A": "yes"},
        "InvalidExpressionValueType",
        "'or' needs true or false, got a string on its right",
        0,
    ),
    (
        "'a' - 'b'",
        {},
        "InvalidExpressionValueType",
        "'-' needs two numbers, got a string and a string",
        0,
    ),
    ("-'a'", {}, "InvalidExpressionValueType", "'-' needs a number, got a string", 0),
    ("not 1", {}, "InvalidExpressionValueType", "'not' needs true or false, got a number", 0),
    (
        "when 1 then 2",
        {},
        "InvalidExpressionValueType",
        "a 'when' condition needs true or false, got a number",
        len("when "),
    ),
    (
        "[A] < 1",
        {"A": True},
        "InvalidExpressionValueType",
        "'<' needs two numbers or two strings, got a true/false value and a number",
        0,
    ),
    (
        "true < false",
        {},
        "InvalidExpressionValueType",
        "'<' needs two numbers or two strings, got a true/false value and a true/false value",
        0,
    ),
    (
        "[A] >= [B]",
        {"A": "a", "B": 1},
        "InvalidExpressionValueType",
        "'>=' needs two numbers or two strings, got a string and a number",
        0,
    ),
    (
        "1 > [A]",
        {"A": "a"},
        "InvalidExpressionValueType",
        "'>' needs two numbers or two strings, got a number and a string",
        0,
    ),
    (
        "[L] < 2",
        {"L": [1]},
        "InvalidExpressionValueType",
        "'<' needs two numbers or two strings, got a list and a number",
        0,
    ),
    (
        "[S] contains 'a', 'b'",
        {"S": "abc"},
        "InvalidExpressionValueType",
        "'contains' needs a single value on its right, got a list",
        0,
    ),
    (
        "5 contains 'a'",
        {},
        "InvalidExpressionValueType",
        "'contains' needs a list or a string on its left, got a number",
        0,
    ),
    (
        "'abc' not contains 1",
        {},
        "InvalidExpressionValueType",
        "'not contains' on a string needs a string on its right, got a number",
        0,
    ),
    (
        "[A] * 10",
        {"A": D("9E+999999")},
        "NumberOutOfRange",
        "the result of '*' is too large a number",
        0,
    ),
    # Values a sheet cannot use are errors at the variable, wherever it is read.
    (
        "1 + [A]",
        {"A": {"x": 1}},
        "InvalidExpressionValueType",
        "[A] holds an object; a sheet can use only strings, numbers, true/false, lists and nothing",
        len("1 + "),
    ),
    (
        "[A] = 'x'",
        {"A": {"x": 1}},
        "InvalidExpressionValueType",
        "[A] holds an object; a sheet can use only strings, numbers, true/false, lists and nothing",
        0,
    ),
    (
        "[A] has value",
        {"A": b"x"},
        "InvalidExpressionValueType",
        "[A] holds bytes; a sheet can use only strings, numbers, true/false, lists and nothing",
        0,
    ),
    (
        "[A] in 'x'",
        {"A": ["x", object()]},
        "InvalidExpressionValueType",
        "[A] holds a value of an unsupported type; a sheet can use only strings, numbers, "
        "true/false, lists and nothing",
        0,
    ),
    (
        "[A] < 1",
        {"A": float("nan")},
        "InvalidExpressionValueType",
        "[A] holds a number that is not finite (NaN or infinity)",
        0,
    ),
    (
        "[A] = [B]",
        {"A": 1.0, "B": float("inf")},
        "InvalidExpressionValueType",
        "[B] holds a number that is not finite (NaN or infinity)",
        len("[A] = "),
    ),
    (
        "[A] = 1",
        {"A": D("NaN")},
        "InvalidExpressionValueType",
        "[A] holds a number that is not finite (NaN or infinity)",
        0,
    ),
]


@pytest.mark.parametrize(("source", "values", "code", "message", "offset"), ERRORS)
def test_evaluation_errors(
    source: str, values: dict[str, object], code: str, message: str, offset: int
) -> None:
    with pytest.raises(EvaluationError) as caught:
        evaluate(source, values)
    error = caught.value
    assert (error.code, error.message) == (code, message)
    assert (error.span.line, error.span.column) == (1, COLUMN + offset)
    assert str(error) == f"line 1, column {COLUMN + offset}: {message}"


def test_error_spans_cover_the_failing_node() -> None:
    with pytest.raises(EvaluationError) as caught:
        evaluate("2 + 'a' < 1 * 3")  # the '+' fails first
    assert caught.value.span == Span(1, COLUMN, 1, COLUMN + len("2 + 'a'"))


def test_errors_on_later_lines_and_inside_templates() -> None:
    source = (
        "fulfillment X\n"
        "scope Supplier\n"
        "require [Supplier.ActiveShipFromStoreTasks] / [Zero] > 1\n"
        "require [A] = 1 with reason 'R', $'ratio {1 / [Zero]}'\n"
    )
    result = compile_sheet(source)
    context = mapping_context({"Supplier.ActiveShipFromStoreTasks": 3, "Zero": 0})
    with pytest.raises(EvaluationError) as caught:
        result.expressions[2]["condition"](context)
    assert (caught.value.code, caught.value.line, caught.value.column) == ("DivisionByZero", 3, 9)
    with pytest.raises(EvaluationError) as caught:
        result.expressions[3]["reason_description"](context)
    assert (caught.value.line, caught.value.column) == (
        4,
        len("require [A] = 1 with reason 'R', $'ratio {") + 1,
    )


def test_short_circuit_skips_errors() -> None:
    assert evaluate("[A] = 1 and 1 / 0 = 1", {"A": 2}) is False
    assert evaluate("[A] = 1 or 1 / 0 = 1", {"A": 1}) is True
    assert evaluate("when true then 1 else then 1 / 0") == 1


def test_evaluation_error_pickles() -> None:
    with pytest.raises(EvaluationError) as caught:
        evaluate("1 / 0")
    # Workers may pass errors between processes; this pickle is our own.
    copy = pickle.loads(pickle.dumps(caught.value))  # noqa: S301
    assert (copy.code, copy.message, copy.span) == (
        "DivisionByZero",
        caught.value.message,
        caught.value.span,
    )


def test_missing() -> None:
    assert repr(MISSING) == "MISSING"
    assert not MISSING
    assert pickle.loads(pickle.dumps(MISSING)) is MISSING  # noqa: S301
    assert type(MISSING)() is MISSING


def test_too_deep_hand_built_trees_are_refused() -> None:
    tree: nodes.Expr = nodes.Boolean(True)
    for _ in range(MAX_DEPTH + 5):
        tree = nodes.Unary("not", tree)
    with pytest.raises(EvaluationError) as caught:
        compile_expression(tree)
    assert caught.value.code == "TooLarge"
    shallow: nodes.Expr = nodes.Boolean(True)
    for _ in range(200):  # as deep as the parser allows
        shallow = nodes.Unary("not", shallow)
    assert compile_expression(shallow)(mapping_context({})) is True


def test_self_containing_lists_are_an_error_not_a_hang() -> None:
    looped: list[object] = ["a"]
    looped.append(looped)
    with pytest.raises(EvaluationError, match="nested more than"):
        evaluate("[L] contains 'a'", {"L": looped})


# --- Nothing but values ------------------------------------------------------------------


class _Watched(type):
    """A metaclass that records any use of the class itself (hashing, comparing).

    Armed only while the test evaluates, so pytest may look at the class freely.
    """

    touched: list[str] = []
    armed = False

    def __hash__(cls) -> int:
        if _Watched.armed:
            _Watched.touched.append("class __hash__")
            raise AssertionError("the class was hashed")
        return id(cls)

    def __eq__(cls, other: object) -> bool:
        if _Watched.armed:
            _Watched.touched.append("class __eq__")
            raise AssertionError("the class was compared")
        return cls is other


DUNDERS = [
    "__eq__",
    "__ne__",
    "__lt__",
    "__le__",
    "__gt__",
    "__ge__",
    "__hash__",
    "__str__",
    "__repr__",
    "__format__",
    "__bool__",
    "__len__",
    "__iter__",
    "__contains__",
    "__add__",
    "__radd__",
    "__sub__",
    "__rsub__",
    "__mul__",
    "__rmul__",
    "__truediv__",
    "__rtruediv__",
    "__neg__",
    "__index__",
    "__int__",
    "__float__",
    "__getattr__",
    "__getitem__",
    "__round__",
    "__abs__",
]


def _spy(name: str):  # type: ignore[no-untyped-def]
    def method(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        _Watched.touched.append(name)
        raise AssertionError(f"{name} was called")

    return method


def _getattribute(self, name):  # type: ignore[no-untyped-def]
    _Watched.touched.append(f"attribute {name}")
    raise AssertionError(f"attribute {name} was read")


Spy = _Watched(
    "Spy", (), {**{name: _spy(name) for name in DUNDERS}, "__getattribute__": _getattribute}
)
SpyString = type("SpyString", (str,), {name: _spy(name) for name in DUNDERS})
SpyInt = type("SpyInt", (int,), {name: _spy(name) for name in DUNDERS})

PROBES = [
    "[A]",
    "[A] = 'x'",
    "[A] <> 'x'",
    "[A] = 1",
    "[A] = true",
    "[A] = nothing",
    "[A] < 1",
    "[A] >= 'x'",
    "[A] = [B]",
    "[A] < [B]",
    "[A] in 'x', 1",
    "[A] not in [B]",
    "'x' in [A]",
    "[A] contains 'x'",
    "[A] contains [B]",
    "[A] has value",
    "[A] has no value",
    "[A] + 1",
    "-[A]",
    "[A] and true",
    "not [A]",
    "when [A] then 1",
    "$'{[A]}'",
    "[A], 'x'",
]


@pytest.mark.parametrize("value_type", [Spy, SpyString, SpyInt], ids=lambda t: t.__name__)
@pytest.mark.parametrize("source", PROBES)
def test_context_values_are_never_introspected(value_type: type, source: str) -> None:
    """Objects (and str/int subclasses) are refused without any of their code running."""
    value = value_type() if value_type is Spy else value_type("1")
    _Watched.touched.clear()
    context = mapping_context({"A": value, "B": value})
    function = compile_expression(expression(source))
    _Watched.armed = True
    try:
        with pytest.raises(EvaluationError) as caught:
            function(context)
    finally:
        _Watched.armed = False
    assert caught.value.code == "InvalidExpressionValueType"
    assert _Watched.touched == []


def test_closures_only_call_the_context_with_paths() -> None:
    seen: list[object] = []

    def context(path: tuple[str, ...]) -> object:
        seen.append(path)
        return {"Supplier.Type": "Shop", "N": 3}.get(".".join(path), MISSING)

    function = compile_expression(expression("[Supplier.Type] = 'Shop' and Supplier.Type <> [N]"))
    assert function(context) is True
    assert seen == [("Supplier", "Type"), ("Supplier", "Type"), ("N",)]


# --- Hypothesis: any JSON-like context -----------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.decimals()
    | st.text(max_size=5)
    | st.sampled_from(["x", "a", "Shop", "", "1"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.tuples(children, children)
        | st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=8,
)
NAMES = ("A", "B", "L", "Supplier.Type")
contexts = st.dictionaries(st.sampled_from(NAMES), json_values | st.just(MISSING))

PROPERTY_SOURCES = (
    [source for source, _, _ in CASES]
    + [source for source, *_ in ERRORS]
    + [
        "[A] + [B] * [A] - [B] / [A]",
        "[A] < [B] or [A] > [B] or [A] = [B]",
        "when [A] = [B] then [L] else when [A] has value then [A] + 1 else then [B]",
        "$'{[A]} and {[B]} of {[L]}'",
        "[A], [B], [L]",
        "[Supplier.Type] in [L] and not ([A] contains [B])",
        "-[A] <= [B]",
    ]
)
PROPERTY_FUNCTIONS = [compile_expression(expression(source)) for source in PROPERTY_SOURCES]


def is_sheet_value(value: object) -> bool:
    if value is MISSING or type(value) in (str, bool):
        return True
    if type(value) is Decimal:
        return value.is_finite()
    if type(value) is tuple:
        return all(
            item is not MISSING and type(item) is not tuple and is_sheet_value(item)
            for item in value
        )
    return False


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=contexts)
def test_any_context_gives_a_value_or_an_evaluation_error(values: dict[str, object]) -> None:
    context = mapping_context(values)
    for function in PROPERTY_FUNCTIONS:
        try:
            result = function(context)
        except EvaluationError as error:
            assert error.code in (
                "InvalidExpressionValueType",
                "DivisionByZero",
                "NumberOutOfRange",
            )
            assert error.span.line == 1 and error.span.column >= COLUMN
        else:
            assert is_sheet_value(result), result


# The fast paths (a variable against a literal or a variable) must agree with the general
# path. `(when true then [A])` is the same value as [A] but not a variable, so it takes it.
numbers_near = st.sampled_from(
    [0, 1, 2, 2.0, 2.5, 0.1, 0.3, -1, 10**20, 1e300, D("2.50"), D("0.1")]
)
scalars = (
    st.none()
    | st.booleans()
    | numbers_near
    | st.integers()
    | st.floats()
    | st.sampled_from(["x", "Shop", "", "a"])
)
fast_values = scalars | st.lists(scalars, max_size=3) | st.just(MISSING) | st.just({"k": 1})
LITERALS = [
    "'x'",
    "'Shop'",
    "2",
    "2.5",
    "0.1",
    "-1",
    "0.30000000000000001",
    "true",
    "false",
    "nothing",
]
FAST_SOURCES = (
    [
        f"{left} {op} {right}"
        for op in ("=", "<>", "<", ">", "<=", ">=")
        for literal in LITERALS
        for left, right in (("[A]", literal), (literal, "[A]"))
    ]
    + [f"[A] {op} [B]" for op in ("=", "<>", "<", ">", "<=", ">=")]
    + [
        "[A] in 'x', 2, true",
        "[A] not in 'x', 2.5",
        "[A] in 'x'",
        "[A] contains 'x'",
        "[A] not contains 'x'",
        "[A] has value",
        "[A] has no value",
    ]
)
GENERAL = "(when true then [A])", "(when true then [B])"
FAST_PAIRS = [
    (
        compile_expression(expression(source)),
        compile_expression(
            expression(source.replace("[A]", GENERAL[0]).replace("[B]", GENERAL[1]))
        ),
    )
    for source in FAST_SOURCES
]


def outcome(function, context):  # type: ignore[no-untyped-def]
    try:
        return ("value", function(context))
    except EvaluationError as error:
        return ("error", error.code, error.message)


@settings(max_examples=400, deadline=None)
@given(a=fast_values, b=fast_values)
def test_fast_paths_agree_with_the_general_path(a: object, b: object) -> None:
    context = mapping_context({"A": a, "B": b})
    for (fast, general), source in zip(FAST_PAIRS, FAST_SOURCES, strict=True):
        assert outcome(fast, context) == outcome(general, context), source


# --- Caches --------------------------------------------------------------------------------


def test_compile_sheet_is_cached_by_source() -> None:
    source = SHIP_FROM_STORE.read_text()
    first = compile_sheet(source)
    assert isinstance(first, CompiledSheet)
    assert compile_sheet(source) is first
    assert compile_sheet(str(source)) is first
    other = compile_sheet(source + "\n# a comment\n")
    assert other is not first
    assert other.digest != first.digest
    assert compile_sheet(source) is first


def test_compile_sheet_exposes_every_statement_expression() -> None:
    result = compile_sheet(SHIP_FROM_STORE.read_text())
    assert result.diagnostics == ()
    statements = result.sheet.statements
    assert set(result.expressions) == set(range(len(statements)))
    keys = {
        type(statement).__name__: set(result.expressions[index])
        for index, statement in enumerate(statements)
        if type(statement).__name__ in ("Fulfillment", "Scope", "Fanout", "Data")
    }
    assert keys == {"Fulfillment": set(), "Scope": set(), "Fanout": {"value"}, "Data": {"value"}}
    by_text = {}
    for index, statement in enumerate(statements):
        if isinstance(statement, nodes.Require | nodes.ScoreAdd):
            by_text[statement.span.line] = (statement, result.expressions[index])
    lines = SHIP_FROM_STORE.read_text().splitlines()
    opening = next(i + 1 for i, line in enumerate(lines) if "DayOfWeek] in [openingDays]" in line)
    _, expressions = by_text[opening]
    assert set(expressions) == {"condition", "reason_description"}
    context = mapping_context(
        {
            "Supplier.LocalTime.DayOfWeek": "Sunday",
            "openingDays": ("Monday", "Tuesday"),
        }
    )
    assert expressions["condition"](context) is False
    assert expressions["reason_description"](context) == "Shop not open on Sunday"
    boost = next(i + 1 for i, line in enumerate(lines) if line.startswith("score add 1000 when"))
    _, expressions = by_text[boost]
    assert set(expressions) == {"value", "when"}
    same_ou = mapping_context(
        {"Supplier.ID": 7, "OrderLine.PreferredFulfillmentOrganizationUnit.ID": 7.0}
    )
    assert expressions["value"](same_ou) == 1000
    assert expressions["when"](same_ou) is True
    with pytest.raises(TypeError):
        result.expressions[0]["x"] = expressions["value"]  # type: ignore[index]


def test_compile_sheet_keeps_parse_diagnostics() -> None:
    result = compile_sheet("fulfillment X\nrequire [A] =\nrequire [A] = 1\n")
    assert [d.code.value for d in result.diagnostics] == ["InvalidSyntax"]
    assert len(result.sheet.statements) == 2
    assert result.expressions[1]["condition"](mapping_context({"A": 1})) is True


def test_compiled_is_cached_per_position() -> None:
    first = parse("with R as 1 / [Z]")[0].statements[0].value  # type: ignore[attr-defined]
    moved = parse("\n\nwith R as   1 / [Z]")[0].statements[0].value  # type: ignore[attr-defined]
    assert first == moved  # equal nodes, different places
    assert compiled(first) is compiled(first)
    assert compiled(moved) is not compiled(first)
    context = mapping_context({"Z": 0})
    for expr, (line, column) in ((first, (1, 11)), (moved, (3, 13))):
        with pytest.raises(EvaluationError) as caught:
            compiled(expr)(context)
        assert (caught.value.line, caught.value.column) == (line, column)


def test_mapping_context() -> None:
    context = mapping_context({"Supplier.Type": "Shop", "X": None})
    assert context(("Supplier", "Type")) == "Shop"
    assert context(("X",)) is None
    assert context(("Nope",)) is MISSING


def test_negating_a_huge_number_is_an_evaluation_error() -> None:
    """Found in review: it raised decimal.Overflow."""
    from orchestration.language.compiler import EvaluationError, compile_expression
    from orchestration.language.parser import parse as parse_sheet

    sheet, _ = parse_sheet("score add -[X]")
    compiled = compile_expression(sheet.statements[0].value)
    with pytest.raises(EvaluationError) as error:
        compiled(lambda path: 10**1000001)
    assert error.value.code == "NumberOutOfRange"
