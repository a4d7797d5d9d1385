"""The formatter: canonical source that parses back to the same sheet, comments and all.

The properties (see ``orchestration/language/formatter.py`` for the layout rules):
``parse(format_sheet(sheet)) == sheet`` for every sheet the parser can produce,
formatting twice changes nothing, and every comment is kept, in order, next to
its statement.
"""

from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestration.language import catalogue, nodes
from orchestration.language.checker import analyze, fixed_source
from orchestration.language.formatter import format_sheet, format_source
from orchestration.language.parser import MAX_NESTING, parse
from orchestration.language.tokens import KEYWORDS

DEMO_SHEETS = sorted(
    (Path(__file__).resolve().parents[2] / "orchestration/demo/sheets").glob("*.sheet")
)


def round_trip(source: str) -> str:
    """Format ``source``, and check the result parses to the same sheet and comments."""
    sheet, diagnostics = parse(source)
    assert diagnostics == []
    formatted = format_sheet(sheet)
    again, diagnostics = parse(formatted)
    assert diagnostics == []
    assert again == sheet
    assert [c.text for c in again.comments] == [c.text for c in sheet.comments]
    assert format_sheet(again) == formatted
    return formatted


# --- The demo sheets -----------------------------------------------------------------


@pytest.mark.parametrize("path", DEMO_SHEETS, ids=lambda path: path.name)
def test_demo_sheets_round_trip_and_formatting_is_idempotent(path: Path) -> None:
    formatted = round_trip(path.read_text())
    assert format_source(path.read_text()) == formatted
    assert format_source(formatted) == formatted


def test_demo_sheets_exist() -> None:
    assert len(DEMO_SHEETS) >= 5


def test_a_long_match_gets_a_line_per_arm() -> None:
    source = (DEMO_SHEETS[0].parent / "WarehouseFulfillment.sheet").read_text()
    assert (
        "with [warehouseCountryID] as when [Order.ShippingAddress.CountryID] in 'GB' then 'GB'\n"
        "    else when [Order.ShippingAddress.CountryID] in 'SE', 'NO', 'DK' then 'SE'\n"
        "    else when [Order.ShippingAddress.CountryID] in 'US' then 'US'\n"
        "    else when [Order.ShippingAddress.CountryID] in 'CN', 'HK' then 'HK'\n"
        "    else then 'NL'\n"
        "end\n"
    ) in round_trip(source)


# --- Exact output ----------------------------------------------------------------------

MESSY = """\
FULFILLMENT   Messy
Action   'SHIP_FROM_STORE'
OPTION AllowPartialFulfillment AS TRUE



Scope   Order
REQUIRE [Order.TotalAmountInTax]>=10 AND NOT ( [A] = 1 OR [B] = 2 )
with reason 'TooCheap' ,  $'Only {  [Order.TotalAmountInTax]*2 } \\'euro\\''
BUT CONTINUE
scope Supplier
WITH   x   AS   'a','b' , 'c'
data  Y as ( WHEN [S.Type] = 'Shop' THEN 1 ELSE THEN NULL END )
score ADD (1 + 2) * -3 WHEN x CONTAINS ('a', 'b')
Fanout AS when a then 1 else when b then 2 else then 3
"""

MESSY_FORMATTED = """\
fulfillment Messy
action 'SHIP_FROM_STORE'
option AllowPartialFulfillment as true

scope Order
require [Order.TotalAmountInTax] >= 10 and not ([A] = 1 or [B] = 2) \
with reason 'TooCheap', $'Only {[Order.TotalAmountInTax] * 2} \\'euro\\'' but continue

scope Supplier
with x as 'a', 'b', 'c'
data Y as when [S.Type] = 'Shop' then 1 else then nothing end
score add (1 + 2) * -3 when x contains 'a', 'b'
fanout as when a then 1
    else when b then 2
    else then 3
"""


def test_a_messy_sheet_formats_exactly() -> None:
    assert round_trip(MESSY) == MESSY_FORMATTED
    assert format_source(MESSY_FORMATTED) == MESSY_FORMATTED


COMMENTED = """\
# leading 1
fulfillment F // after fulfillment
# before scope, glued to the statement above
scope Order
require a   # trailing a
require b
# inside b
  with reason 'R'   // trailing on the reason line
require c # one
when d # two


# final 1

# final 2   \n"""

COMMENTED_FORMATTED = """\
# leading 1
fulfillment F  // after fulfillment

# before scope, glued to the statement above
scope Order
require a  # trailing a
# inside b
require b with reason 'R'  // trailing on the reason line
# one
require c when d  # two

# final 1

# final 2   \n"""


def test_every_comment_is_kept_in_order_at_its_statement() -> None:
    """Own-line comments stay before their statement, the last trailing one after it."""
    assert round_trip(COMMENTED) == COMMENTED_FORMATTED
    sheet, _ = parse(COMMENTED_FORMATTED)
    assert [(c.text, c.line, c.trailing) for c in sheet.comments] == [
        ("# leading 1", 1, False),
        ("// after fulfillment", 2, True),
        ("# before scope, glued to the statement above", 4, False),
        ("# trailing a", 6, True),
        ("# inside b", 7, False),
        ("// trailing on the reason line", 8, True),
        ("# one", 9, False),
        ("# two", 10, True),
        ("# final 1", 12, False),
        ("# final 2   ", 14, False),
    ]


def test_a_comment_after_a_statement_stays_with_it_when_a_scope_follows() -> None:
    """The blank line before a scope goes above the comments glued to the scope only."""
    source = "require a\n# about a\n\n# about the scope\nscope Order\n"
    assert round_trip(source) == source
    assert round_trip("require a\n# about the scope\nscope Order\n") == (
        "require a\n\n# about the scope\nscope Order\n"
    )


def test_blank_lines_collapse_to_one_and_none_at_the_ends() -> None:
    source = "\n\n# first\n\n\n\nfulfillment F\n\n\n\naction A\n\n\n"
    assert round_trip(source) == "# first\n\nfulfillment F\n\naction A\n"


def test_empty_and_comment_only_sheets() -> None:
    assert round_trip("") == ""
    assert round_trip("\n\n") == ""
    assert round_trip("# only\n\n// comments") == "# only\n\n// comments\n"


def test_source_with_syntax_errors_is_not_formatted() -> None:
    assert format_source("require = 1") is None
    assert format_source("require 'open") is None


# --- Expressions -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("require a - (b - c)", "require a - (b - c)"),
        ("require (a - b) - c", "require a - b - c"),
        ("require (a * b) + c / (d * e)", "require a * b + c / (d * e)"),
        ("require a * (b + c)", "require a * (b + c)"),
        ("require (not a) and (b or c)", "require not a and (b or c)"),
        ("require not (a and b)", "require not (a and b)"),
        ("require (a or b) or (c and d)", "require a or b or c and d"),
        ("require a or (b or c)", "require a or (b or c)"),
        ("require (a = b) = c", "require (a = b) = c"),
        ("require (a has value) = (b has no value)", "require (a has value) = (b has no value)"),
        ("require (a + b) has value", "require a + b has value"),
        ("require -(a + b) * - - c", "require -(a + b) * -(-c)"),
        ("require -(5) = - 2.50", "require -5 = -2.50"),
        ("require x = 0.0000001", "require x = 0.0000001"),
        ("require x in ('a', 'b')", "require x in 'a', 'b'"),
        ("require (x in 'a', 'b') = false", "require (x in 'a', 'b') = false"),
        ("require ('a', 'b') = x", "require ('a', 'b') = x"),
        ("with v as (x in a), b", "with v as (x in a), b"),
        ("with v as a, (x in b)", "with v as a, x in b"),
        ("with v as ((a, b), c)", "with v as (a, b), c"),
        ("require x = NULL or Y = Nothing", "require x = nothing or Y = nothing"),
        ("require 'it\\'s' = 'back\\\\slash'", "require 'it\\'s' = 'back\\\\slash'"),
        ("require a = 'two\nlines'", "require a = 'two\nlines'"),
        ("require [A.B] = A.B", "require [A.B] = A.B"),
        ("with [Reason.Code] as 1", "with [Reason.Code] as 1"),
        ("with [Reason] as [When]", "with [Reason] as [When]"),
        ("with Reasons as Has", "with Reasons as Has"),
        ("require not (In.Stock = 1)", "require not (In.Stock = 1)"),
        ("require not Stock.In", "require not Stock.In"),
        (
            "score add (when a then 1 else then 2) when b",
            "score add (when a then 1 else then 2) when b",
        ),
        ("require (when a then b end) = c", "require (when a then b end) = c"),
        ("require $'{when a then 1 else then 2}'", "require $'{when a then 1 else then 2}'"),
        ("require $'a}{(x, y)}\\\\'", "require $'a}{(x, y)}\\\\'"),
        ("action CANCEL", "action CANCEL"),
        ("action 'Not a name'", "action 'Not a name'"),
        ("fanout as (a, b)", "fanout as (a, b)"),
    ],
)
def test_expressions_get_minimal_parentheses(source: str, expected: str) -> None:
    assert round_trip(source) == expected + "\n"


def test_names_that_would_read_differently_bare_are_bracketed() -> None:
    """A node's ``bracketed`` flag does not take part in equality; the formatter checks."""
    sheet = nodes.Sheet(
        (
            nodes.With("Reason.Code", nodes.Variable(("When",), bracketed=False)),
            nodes.Data("A.1st", nodes.Variable(("In", "Stock"), bracketed=False)),
            nodes.Require(nodes.Unary("not", nodes.Variable(("In", "Stock"), bracketed=False))),
            nodes.Action("SHIP FROM STORE"),
        )
    )
    assert format_sheet(sheet) == (
        "with [Reason.Code] as [When]\n"
        "data [A.1st] as In.Stock\n"
        "require not (In.Stock)\n"
        "action 'SHIP FROM STORE'\n"
    )
    assert parse(format_sheet(sheet)) == (sheet, [])


def test_the_deepest_trees_the_parser_accepts_format_without_recursion_errors() -> None:
    round_trip("score add " + " + ".join(["1"] * 199))
    round_trip("require " + "(a - " * 90 + "b" + ")" * 90)


# --- Parser bugs found while testing the formatter (fixed; kept as regressions) -----


@pytest.mark.parametrize("source", ["require not In.Stock = 1", "with Reason.Code as 1"])
def test_parser_reads_dotted_names_after_not_and_with(source: str) -> None:
    _, diagnostics = parse(source)
    assert diagnostics == []


@pytest.mark.parametrize("source", ["require $'{'it\\'s'}' = 1", "require $'{'}'}' = 1"])
def test_parser_reads_quotes_and_braces_in_template_expression_strings(source: str) -> None:
    _, diagnostics = parse(source)
    assert diagnostics == []


def test_parser_counts_only_real_nesting() -> None:
    _, diagnostics = parse("with x as " + " else ".join(f"when a then {i}" for i in range(101)))
    assert diagnostics == []


def test_parser_reports_long_unary_chains_as_diagnostics() -> None:
    _, diagnostics = parse("require " + "-" * 500 + "a")
    assert len(diagnostics) == 1


def test_parser_keeps_every_digit_of_negative_numbers() -> None:
    sheet, _ = parse("require -1.2345678901234567890123456789012")
    assert sheet.statements[0].condition == nodes.Number(
        Decimal("-1.2345678901234567890123456789012")
    )


def test_parser_limits_nesting_inside_templates() -> None:
    _, diagnostics = parse("require $'{" + "(" * 150 + "a" + ")" * 150 + "}'")
    assert len(diagnostics) == 1


# --- Hypothesis: random sheets round-trip ----------------------------------------------

_SAFE_CHARS = 'abcXYZ019 _.,()[]=<>+-*/#$"\t\n\u00e9\u2019\U0001f4bb'
ANY_TEXT = st.one_of(
    st.text(st.sampled_from(_SAFE_CHARS + "'\\{}"), max_size=10),
    st.text(st.characters(exclude_characters="\r", exclude_categories=("Cs",)), max_size=6),
)
# Left out of the generator: quotes and braces in strings inside a template's {...}
# (parsed since, see the regressions above) and `{` in a template's own text.
IN_TEMPLATE_TEXT = st.text(st.sampled_from(_SAFE_CHARS + "\\"), max_size=8)
TEMPLATE_TEXT = st.text(st.sampled_from(_SAFE_CHARS + "'\\}"), max_size=8)

# Scope, option and action names other than the catalogue's (which the parser
# re-spells canonically, so a random 'ORDER' would not read back as written).
_KNOWN_HEADER_NAMES = {
    name.lower() for name in (*catalogue.SCOPES, *catalogue.OPTIONS, *catalogue.ACTIONS)
}

NAME_PART = st.from_regex(r"[A-Z][A-Za-z0-9_]{1,6}", fullmatch=True).filter(
    lambda name: name.lower() not in KEYWORDS
)
# Words that are keywords, or that the tokenizer joins to the word before them.
TRICKY_PART = st.sampled_from(
    [
        *("Reason", "Value", "Has", "No", "Score", "Add", "But", "Continue", "In", "Contains"),
        *("When", "Not", "End", "Else", "True", "Null", "Fanout"),
    ]
)
PATH = st.tuples(
    st.one_of(NAME_PART, TRICKY_PART),
    st.lists(st.one_of(NAME_PART, TRICKY_PART, st.from_regex(r"[0-9][a-z]?", fullmatch=True))),
).map(lambda parts: (parts[0], *parts[1][:2]))
NAME = st.lists(NAME_PART, min_size=1, max_size=3).map(".".join)
HEADER_NAME = NAME.filter(lambda name: name.lower() not in _KNOWN_HEADER_NAMES)

VARIABLES = st.one_of(
    st.builds(nodes.Variable, PATH, st.booleans()),
    # Bare, these need care after `not`: `not In.Stock` would read as `not in`.
    st.builds(
        nodes.Variable,
        st.tuples(st.sampled_from(["In", "Contains", "contains"]), NAME_PART),
        st.just(False),
    ),
)
NUMBERS = st.one_of(
    st.integers(-(10**6), 10**6).map(Decimal),
    st.decimals(-(10**9), 10**9, allow_nan=False, allow_infinity=False),
).map(nodes.Number)
LITERALS = st.one_of(NUMBERS, st.booleans().map(nodes.Boolean), st.just(nodes.Nothing()), VARIABLES)


def _template_parts(text: st.SearchStrategy[str], exprs: st.SearchStrategy[nodes.Expr]):
    def merge(parts: list[str | nodes.Expr]) -> nodes.Template:
        # The parser joins adjacent text and drops empty text.
        merged: list[str | nodes.Expr] = []
        for part in parts:
            if isinstance(part, str) and merged and isinstance(merged[-1], str):
                merged[-1] += part
            elif part != "":
                merged.append(part)
        return nodes.Template(tuple(part for part in merged if part != ""))

    return st.lists(st.one_of(text, exprs), max_size=4).map(merge)


MEMBERSHIP = ["in", "not in", "contains", "not contains"]
BINARY_OPERATORS = ["or", "and", "=", "<>", "<", ">", "<=", ">=", "+", "-", "*", "/", *MEMBERSHIP]


def expressions(in_template: bool, template_exprs=None) -> st.SearchStrategy[nodes.Expr]:
    """Random expressions; ``in_template`` ones can go inside a template's {...}."""
    strings = (IN_TEMPLATE_TEXT if in_template else ANY_TEXT).map(nodes.String)
    template_text = IN_TEMPLATE_TEXT if in_template else TEMPLATE_TEXT

    def extend(children: st.SearchStrategy[nodes.Expr]) -> st.SearchStrategy[nodes.Expr]:
        lists = st.lists(children, min_size=2, max_size=3).map(
            lambda items: nodes.ListExpr(tuple(items))
        )
        branches = st.lists(st.builds(nodes.Branch, children, children), min_size=1, max_size=3)
        return st.one_of(
            st.builds(nodes.Binary, st.sampled_from(BINARY_OPERATORS), children, children),
            st.builds(nodes.Binary, st.sampled_from(MEMBERSHIP), children, lists),
            st.builds(nodes.Unary, st.just("not"), children),
            # The parser folds `-5` and `-(5)` into the number -5.
            st.builds(
                nodes.Unary,
                st.just("-"),
                children.filter(lambda expr: not isinstance(expr, nodes.Number)),
            ),
            st.builds(nodes.HasValue, children, st.booleans()),
            lists,
            st.builds(
                nodes.Match,
                branches.map(tuple),
                st.none() | children,
                has_end=st.booleans(),
            ),
            _template_parts(template_text, children if template_exprs is None else template_exprs),
        )

    leaves = st.one_of(LITERALS, strings, _template_parts(template_text, st.nothing()))
    return st.recursive(leaves, extend, max_leaves=8)


IN_TEMPLATE_EXPRESSIONS = expressions(in_template=True)
EXPRESSIONS = expressions(in_template=False, template_exprs=IN_TEMPLATE_EXPRESSIONS)
DESCRIPTIONS = st.one_of(
    st.none(),
    ANY_TEXT.map(nodes.String),
    _template_parts(TEMPLATE_TEXT, IN_TEMPLATE_EXPRESSIONS),
)
REASONS = st.builds(nodes.Reason, ANY_TEXT, DESCRIPTIONS)


@st.composite
def requires(draw: st.DrawFn) -> nodes.Require:
    """``require`` with the optional parts the grammar allows together."""
    condition = draw(EXPRESSIONS)
    shape = draw(st.sampled_from(["plain", "applies", "reason"]))
    applies_when = draw(EXPRESSIONS) if shape == "applies" else None
    reason = draw(REASONS if shape == "reason" else st.none() | REASONS)
    reason_when = draw(st.none() | EXPRESSIONS) if shape == "reason" else None
    but_continue = draw(st.booleans())
    return nodes.Require(condition, applies_when, reason, reason_when, but_continue)


TARGETS = PATH.map(".".join)
STATEMENTS = st.one_of(
    requires(),
    st.builds(nodes.With, TARGETS, EXPRESSIONS, st.booleans()),
    st.builds(nodes.Data, TARGETS, EXPRESSIONS, st.booleans()),
    st.builds(nodes.ScoreAdd, EXPRESSIONS, st.none() | EXPRESSIONS),
    st.builds(nodes.Fanout, EXPRESSIONS),
    st.builds(nodes.Option, HEADER_NAME, EXPRESSIONS),
    # A parsed scope name has the catalogue's spelling (scope fanout -> Fanout).
    st.builds(
        nodes.Scope, st.one_of(HEADER_NAME, st.sampled_from(["Fanout", "Order", "Supplier"]))
    ),
    st.builds(nodes.Action, HEADER_NAME, st.booleans()),
    st.builds(
        nodes.Action,
        ANY_TEXT.filter(lambda text: text.lower() not in _KNOWN_HEADER_NAMES),
        st.booleans(),
    ),
    st.builds(nodes.Fulfillment, NAME),
)
SHEETS = st.lists(STATEMENTS, max_size=6).map(lambda statements: nodes.Sheet(tuple(statements)))


@settings(
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(SHEETS)
def test_random_sheets_parse_back_to_themselves(sheet: nodes.Sheet) -> None:
    formatted = format_sheet(sheet)
    assert parse(formatted) == (sheet, [])
    assert format_sheet(parse(formatted)[0]) == formatted


# --- Hypothesis: random layouts keep their comments -----------------------------------

# Statements as lines; a comment may go after any line but the ones inside a string,
# and on a line of its own between any two lines of a statement.
STATEMENT_LINES = [
    (["fulfillment F"], True),
    (["scope Order"], True),
    (["scope Supplier"], True),
    (["require [A] = 1"], True),
    (["require a", "with reason 'R', 'd'", "but continue"], True),
    (["with x as when a then 1", "else when b then 2", "else then 3", "end"], True),
    (["data D as (when a then 'x'", "else then 'y')"], True),
    (["require (a", "and b)"], True),
    (["score add 1", "when c"], True),
    (["with s as 'multi", "", "line'"], False),
]
COMMENT_TEXT = st.tuples(
    st.sampled_from(["#", "//", "##", "# "]),
    st.text(st.characters(exclude_characters="\r\n", exclude_categories=("Cs",)), max_size=8),
).map("".join)


@st.composite
def layouts(draw: st.DrawFn) -> str:
    """Source with statements, own-line and trailing comments, and blank lines."""
    lines: list[str] = []
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["statement", "statement", "comment", "blank"]))
        if kind == "comment":
            lines.append(draw(COMMENT_TEXT))
        elif kind == "blank":
            lines.append(draw(st.sampled_from(["", "  "])))
        else:
            statement, commentable = draw(st.sampled_from(STATEMENT_LINES))
            for position, line in enumerate(statement):
                last = position == len(statement) - 1
                if (commentable or last) and draw(st.booleans()):
                    line += draw(st.sampled_from([" ", "   "])) + draw(COMMENT_TEXT)
                lines.append(line)
                if commentable and not last and draw(st.integers(0, 3)) == 0:
                    lines.append(draw(COMMENT_TEXT))
    return "\n".join(lines) + draw(st.sampled_from(["", "\n", "\n\n"]))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layouts())
def test_random_layouts_keep_every_comment_in_order(source: str) -> None:
    formatted = round_trip(source)
    assert "\n\n\n" not in formatted and not formatted.startswith("\n")
    assert formatted == "" or (formatted.endswith("\n") and not formatted.endswith("\n\n"))


def test_matches_nested_up_to_the_limit_format_to_text_that_parses() -> None:
    """Found by ``manage.py fuzz_sheets``: the formatter writes a match inside another in
    parentheses, and the parser counted '(' and 'when' as two levels of nesting, so 57
    nested matches (within the limit of 100) formatted to text over the limit."""
    depth = MAX_NESTING
    source = "scope Order\nscore add " + "when true then " * depth + "1\n"
    formatted = round_trip(source)
    assert "(when true then " * (depth - 1) in formatted
    assert parse("scope Order\nscore add " + "when true then " * (depth + 1) + "1")[1] != []
    _, diagnostics = parse("scope Order\nscore add " + "(when true then " * (depth + 1) + "1")
    assert [d.message for d in diagnostics] == [
        f"expressions are nested more than {MAX_NESTING} levels deep"
    ]


def test_fix_writes_contains_where_the_checker_warns_of_a_list_in() -> None:
    source = (
        "fulfillment X\naction CANCEL\nscope OrderLine\n"
        "# the reference's example\n"
        "require [Supplier.SetNames] in 'PrintSuppliers' when [OrderLine.ID] > 0\n"
        "with reason 'NoPrinting'  // why\n"
        "require true and [Supplier.SetNames] not in 'A', 'B'\n"
        "require [Supplier.BackendID] in 'A', 'B'\n"
    )
    fixed = fixed_source(source)
    assert fixed == (
        "fulfillment X\naction CANCEL\n\nscope OrderLine\n"
        "# the reference's example\n"
        "require [Supplier.SetNames] contains 'PrintSuppliers' when [OrderLine.ID] > 0 "
        "with reason 'NoPrinting'  // why\n"
        "require true and ([Supplier.SetNames] not contains 'A' and "
        "[Supplier.SetNames] not contains 'B')\n"
        "require [Supplier.BackendID] in 'A', 'B'\n"
    )
    assert fixed_source(fixed) == fixed
    assert "[Supplier.SetNames] in 'PrintSuppliers'" in (format_source(source) or "")


GOLDEN_SHEETS = sorted((Path(__file__).resolve().parent / "golden").glob("*.sheet"))


@pytest.mark.parametrize("path", DEMO_SHEETS + GOLDEN_SHEETS, ids=lambda path: path.name)
def test_fixing_keeps_the_meaning_and_leaves_no_warning(path: Path) -> None:
    """Only the warned expressions change; a sheet without warnings formats as without fix."""
    source = path.read_text(encoding="utf-8")
    fixed = fixed_source(source)
    if fixed is None:  # syntax errors: not formatted either way
        assert format_source(source) is None
        return
    before, after = analyze(source), analyze(fixed)
    assert after.warnings == ()
    assert [d.code for d in after.diagnostics] == [d.code for d in before.diagnostics]
    if not before.warnings:
        assert fixed == format_source(source)
    assert fixed_source(fixed) == fixed
