"""Nesting: deep text is a diagnostic with a position, and what the limits let through is
read by every reader with room to spare on the stack.

The readers of a parsed sheet (checker, compiler, formatter, visual editor, the
engine's plan) recurse over the depth of its expressions, which the parser caps
(``MAX_NESTING``, ``MAX_EXPRESSION_DEPTH``, ``MAX_TEMPLATE_DEPTH``); nothing recurses
once per line or token. The readers run inside a web request or a Celery task, whose
own frames come first: sheets at every limit must leave room for them.
"""

import sys
from collections.abc import Callable

import pytest

from orchestration.engine.plan import plan_for
from orchestration.language import visual
from orchestration.language.checker import analyze
from orchestration.language.compiler import compile_sheet
from orchestration.language.errors import Code, Span
from orchestration.language.formatter import format_source
from orchestration.language.parser import (
    MAX_EXPRESSION_DEPTH,
    MAX_NESTING,
    MAX_STATEMENT_TOKENS,
    MAX_TEMPLATE_DEPTH,
    parse,
)

HEAD = "fulfillment X\naction CANCEL\nscope Order\n"
DEEP = 10_000


NESTED = {
    "parentheses": (
        "(" * DEEP + "1" + ")" * DEEP,
        "this statement has 20,002 tokens; at most 5,000 are allowed",
        1,
    ),
    "open parentheses": (
        "(" * (MAX_STATEMENT_TOKENS // 2),
        "expressions are nested more than 100 levels deep",
        1,
    ),
    "not": (
        "not " * DEEP + "true",
        "this statement has 10,002 tokens; at most 5,000 are allowed",
        1,
    ),
    "minus": ("- " * 2_000 + "1", "expressions are nested more than 100 levels deep", 1),
    "matches": (
        "when true then " * 1_000 + "1",
        "expressions are nested more than 100 levels deep",
        1,
    ),
    "matches in parentheses": (
        "(when true then " * 1_000 + "1",
        "expressions are nested more than 100 levels deep",
        1,
    ),
    "operations": (
        " + ".join(["1"] * 2_000),
        "this expression is more than 200 operations deep; split it with 'with' names",
        1,
    ),
    "templates": (
        "$'{" * DEEP + "1" + "}'" * DEEP,
        "template strings are nested more than 5 deep",
        26,  # the sixth template, in ``score add $'{$'{...``
    ),
}


@pytest.mark.parametrize("case", list(NESTED))
def test_text_nested_beyond_the_limits_is_a_diagnostic_with_its_position(case: str) -> None:
    written, message, column = NESTED[case]
    source = HEAD + "score add " + written + "\n"
    first = analyze(source).diagnostics[0]
    assert (first.code, first.message, first.span.line, first.span.column) == (
        Code.TOO_LARGE,
        message,
        4,
        column,
    )


def _worst_cases() -> dict[str, str]:
    """Sheets at each nesting limit, every reader's deepest case."""
    and_chain = " and ".join(["true"] * MAX_EXPRESSION_DEPTH)
    return {
        "and": HEAD + f"require {and_chain}\n",
        "parentheses": HEAD + "score add " + "(1 - " * MAX_NESTING + "1" + ")" * MAX_NESTING,
        "matches": HEAD + "score add " + "when true then " * MAX_NESTING + "1\n",
        "matches in parentheses": HEAD
        + "score add "
        + "(when true then " * MAX_NESTING
        + "1"
        + ")" * MAX_NESTING,
        "not": HEAD + "require " + "not " * MAX_NESTING + "true\n",
        "templates": HEAD
        + "require true with reason 'R', "
        + "$'{" * MAX_TEMPLATE_DEPTH
        + "(1 - " * (MAX_NESTING - MAX_TEMPLATE_DEPTH)
        + "1"
        + ")" * (MAX_NESTING - MAX_TEMPLATE_DEPTH)
        + "}'" * MAX_TEMPLATE_DEPTH,
    }


READERS: dict[str, Callable[[str], object]] = {
    "check": lambda source: [d.message for d in analyze(source).diagnostics],
    "compile": lambda source: [d.message for d in compile_sheet(source).diagnostics],
    "format": format_source,
    "visual": lambda source: len(visual.describe(source).slots),
    "plan": lambda source: sorted(plan_for(source).blocks),
}
# Frames a web request or a worker uses before a reader starts, with room to spare.
CALLER_FRAMES = 250


def _from_deep_in_the_stack(frames: int, call: Callable[[], object]) -> object:
    if frames <= 0:
        return call()
    return _from_deep_in_the_stack(frames - 1, call)


@pytest.mark.parametrize("case", list(_worst_cases()))
@pytest.mark.parametrize("reader", list(READERS))
def test_sheets_at_every_nesting_limit_leave_room_on_the_stack(case: str, reader: str) -> None:
    source = _worst_cases()[case]
    assert parse(source)[1] == []  # at the limits, not over them
    compile_sheet.cache_clear()
    plan_for.cache_clear()
    assert sys.getrecursionlimit() == 1_000  # Python's default, as in production
    read = READERS[reader]
    expected = read(source)
    compile_sheet.cache_clear()
    plan_for.cache_clear()
    assert _from_deep_in_the_stack(CALLER_FRAMES, lambda: read(source)) == expected
    if reader == "check":
        assert expected == []


def test_the_diagnostic_of_deep_nesting_has_its_line_and_column() -> None:
    _, diagnostics = parse("fulfillment X\n\nscope Order\n  score add " + "(" * 200 + "1")
    assert [(d.code, d.span) for d in diagnostics] == [(Code.TOO_LARGE, Span(4, 3, 4, 12))]
