"""Conditions: custom logic parsed with the column of any fault, clauses over a record.

Every refusal is asserted with its exact code, message and 1-based column, and
rendered with the caret under the fault, as the Suite's form shows it.
"""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestration.plans.conditions import (
    MAX_LOGIC_LENGTH,
    MAX_LOGIC_NESTING,
    ConditionError,
    Logic,
    holds,
    parse_logic,
)
from orchestration.plans.model import Clause, Condition
from orchestration.plans.problems import Code, Problem


def _truth(logic: str, clauses: int, values: list[bool]) -> bool:
    parsed = parse_logic(logic, clauses)
    assert isinstance(parsed, Logic)
    return parsed.evaluate(values)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([True, False, True], True),
        ([False, True, True], True),
        ([False, False, True], False),
        ([True, True, False], False),
    ],
)
def test_custom_logic_combines_the_numbered_clauses(values: list[bool], expected: bool) -> None:
    assert _truth("(1 OR 2) AND 3", 3, values) is expected


def test_all_and_any_are_every_clause_and_one_clause_in_any_case() -> None:
    assert _truth("ALL", 2, [True, True]) is True
    assert _truth("all", 2, [True, False]) is False
    assert _truth(" Any ", 2, [False, True]) is True
    assert _truth("ANY", 2, [False, False]) is False


def test_not_binds_to_the_clause_or_parenthesis_after_it() -> None:
    assert _truth("NOT 1 AND 2", 2, [False, True]) is True
    assert _truth("not (1 or 2)", 2, [False, False]) is True
    assert _truth("NOT NOT 1", 1, [True]) is True


def test_logic_names_the_clauses_it_uses() -> None:
    parsed = parse_logic("(1 OR 3) AND 1", 3)
    assert isinstance(parsed, Logic)
    assert parsed.numbers == frozenset({1, 3})


@pytest.mark.parametrize(
    ("logic", "code", "message", "column"),
    [
        (
            "",
            Code.EMPTY_LOGIC,
            "the logic is empty: write ALL, ANY or clause numbers joined by AND and OR, "
            "e.g. (1 OR 2) AND 3",
            1,
        ),
        (
            "(1 OR 2) AND 4",
            Code.UNKNOWN_CLAUSE,
            "clause 4 does not exist: the condition has 3 clauses",
            14,
        ),
        ("0 OR 1", Code.UNKNOWN_CLAUSE, "clause 0 does not exist: the condition has 3 clauses", 1),
        ("(1 OR 2 AND 3", Code.UNBALANCED_PARENTHESES, "this '(' is never closed", 1),
        ("(1 OR 2)) AND 3", Code.UNBALANCED_PARENTHESES, "this ')' closes no '('", 9),
        (
            "1 AND 2 OR 3",
            Code.MIXED_LOGIC,
            "OR follows AND without parentheses: write (1 AND 2) OR 3 or 1 AND (2 OR 3), "
            "whichever is meant",
            9,
        ),
        (
            "1 AND",
            Code.INVALID_LOGIC,
            "expected a clause number, '(' or NOT, got the end of the logic",
            6,
        ),
        ("1 2", Code.INVALID_LOGIC, "expected AND or OR, got '2'", 3),
        ("(1 2)", Code.INVALID_LOGIC, "expected AND, OR or ')', got '2'", 4),
        ("() OR 1", Code.INVALID_LOGIC, "expected a clause number, '(' or NOT, got ')'", 2),
        (
            "1 XOR 2",
            Code.INVALID_LOGIC,
            "'XOR' is not AND, OR or NOT: write clause numbers joined by AND and OR, "
            "e.g. (1 OR 2) AND 3",
            3,
        ),
        (
            "1 & 2",
            Code.INVALID_LOGIC,
            "unexpected character '&': use clause numbers, AND, OR, NOT and parentheses",
            3,
        ),
    ],
)
def test_bad_logic_is_a_problem_at_its_column(
    logic: str, code: Code, message: str, column: int
) -> None:
    assert parse_logic(logic, 3) == Problem(code, message, column=column)


def test_a_problem_in_the_logic_renders_with_a_caret_under_the_fault() -> None:
    problem = parse_logic("(1 OR 2) AND 4", 3)
    assert isinstance(problem, Problem)
    assert problem.render("(1 OR 2) AND 4") == (
        "column 14: clause 4 does not exist: the condition has 3 clauses\n"
        "    (1 OR 2) AND 4\n"
        "                 ^"
    )


def test_logic_longer_than_the_limit_is_refused() -> None:
    logic = " OR ".join(["1"] * 300)
    assert len(logic) > MAX_LOGIC_LENGTH
    assert parse_logic(logic, 1) == Problem(
        Code.TOO_LARGE,
        f"the logic is {len(logic):,} characters long; at most 1,000 are allowed",
        column=MAX_LOGIC_LENGTH + 1,
    )


def test_parentheses_nested_beyond_the_limit_are_refused_where_they_go_too_deep() -> None:
    logic = "(" * (MAX_LOGIC_NESTING + 1) + "1" + ")" * (MAX_LOGIC_NESTING + 1)
    assert parse_logic(logic, 1) == Problem(
        Code.TOO_LARGE, "parentheses are nested more than 20 levels deep", column=21
    )
    deepest_allowed = "(" * MAX_LOGIC_NESTING + "1" + ")" * MAX_LOGIC_NESTING
    assert isinstance(parse_logic(deepest_allowed, 1), Logic)


@pytest.mark.parametrize(
    "text",
    ["((((", "))))", "NOT", "NOT NOT NOT " * 80, "1 " * 400, "é", "\x00", "1\n\tAND\r\n2"],
)
def test_the_parser_never_raises(text: str) -> None:
    result = parse_logic(text, 2)
    assert isinstance(result, Logic | Problem)


RECORD = {
    "Order.Type": "Sales",
    "Order.CustomFields.Channel": "WEB",
    "Order.Total": Decimal("120.50"),
    "Order.LineCount": 3,
    "Order.PaymentStatus": "",
    "Order.Tags": ["gift", "express"],
    "Order.IsPaid": True,
    "Line.Product.BackendID": "00123",
}


def _one(field: str, operator: str, value: object = None) -> bool:
    return holds(Condition((Clause(field, operator, value),), "ALL"), RECORD)


@pytest.mark.parametrize(
    ("field", "operator", "value", "expected"),
    [
        ("Order.Type", "=", "Sales", True),
        ("Order.Type", "=", "sales", False),  # strings exactly
        ("Order.Type", "<>", "Returns", True),
        ("Order.Total", "=", "120.5", True),  # numbers as Decimal
        ("Order.Total", ">", 100, True),
        ("Order.Total", "<=", 120.5, True),
        ("Order.Total", "<", "abc", False),  # not a number: never compared as one
        ("Order.LineCount", ">=", 3, True),
        ("Order.LineCount", "=", 3.0, True),
        ("Line.Product.BackendID", "=", "123", False),  # both strings: exact
        ("Line.Product.BackendID", "=", "00123", True),
        ("Order.CustomFields.Channel", "in", ["WEB", "APP"], True),
        ("Order.CustomFields.Channel", "in", "WEB, APP", True),
        ("Order.CustomFields.Channel", "not in", ["APP"], True),
        ("Order.CustomFields.Channel", "NOT  IN", ["WEB"], False),
        ("Order.Type", "contains", "ale", True),
        ("Order.Tags", "contains", "gift", True),
        ("Order.Tags", "contains", "gif", False),
        ("Order.PaymentStatus", "has value", None, False),
        ("Order.PaymentStatus", "has no value", None, True),
        ("Order.Type", "has value", None, True),
        ("Order.IsPaid", "=", "true", True),
        ("Order.IsPaid", "=", True, True),
    ],
)
def test_each_operator_over_a_record(
    field: str, operator: str, value: object, expected: bool
) -> None:
    assert _one(field, operator, value) is expected


@pytest.mark.parametrize(
    ("operator", "value", "expected"),
    [
        ("=", "x", False),
        ("<>", "x", False),
        ("not in", ["x"], False),
        ("<", 5, False),
        ("contains", "x", False),
        ("has value", None, False),
        ("has no value", None, True),
    ],
)
def test_a_missing_field_makes_its_clause_false_but_has_no_value_true(
    operator: str, value: object, expected: bool
) -> None:
    assert _one("Order.Missing", operator, value) is expected


def test_a_condition_with_custom_logic_over_the_record() -> None:
    condition = Condition(
        (
            Clause("Order.CustomFields.Channel", "=", "APP"),
            Clause("Order.Type", "=", "Sales"),
            Clause("Order.Total", ">", 100),
        ),
        "(1 OR 2) AND 3",
    )
    assert holds(condition, RECORD) is True
    assert holds(condition, {**RECORD, "Order.Total": 99}) is False


def test_a_condition_with_invalid_logic_cannot_be_evaluated() -> None:
    condition = Condition((Clause("Order.Type", "=", "Sales"),), "1 AND 2")
    with pytest.raises(ConditionError) as raised:
        holds(condition, RECORD)
    assert raised.value.problem == Problem(
        Code.UNKNOWN_CLAUSE, "clause 2 does not exist: the condition has 1 clause", column=7
    )


def test_a_condition_with_an_unknown_operator_cannot_be_evaluated() -> None:
    condition = Condition((Clause("Order.Type", "like", "S%"),), "NOT 1")
    with pytest.raises(ConditionError) as raised:
        holds(condition, RECORD)
    assert raised.value.problem == Problem(
        Code.UNKNOWN_OPERATOR,
        "clause 1: unknown operator 'like'; use one of =, <>, <, <=, >, >=, in, not in, "
        "contains, has value, has no value",
    )


def test_the_caret_stays_under_its_column_across_tabs_and_line_breaks() -> None:
    logic = "1\tAND\n2 AND 7"
    problem = parse_logic(logic, 2)
    assert problem == Problem(
        Code.UNKNOWN_CLAUSE, "clause 7 does not exist: the condition has 2 clauses", column=13
    )
    assert problem.render(logic) == (
        "column 13: clause 7 does not exist: the condition has 2 clauses\n"
        "    1 AND 2 AND 7\n"
        "                ^"
    )


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("0123456789 ()ANDORTandort&\t\n"), max_size=60))
def test_the_parser_never_raises_on_any_logic(text: str) -> None:
    result = parse_logic(text, 3)
    assert isinstance(result, Logic | Problem)
    if isinstance(result, Problem):
        assert result.column is not None and 1 <= result.column <= len(text) + 1
