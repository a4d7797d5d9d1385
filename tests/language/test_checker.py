"""The checker: one exact diagnostic (code, message, line, column, hint) per kind of fault."""

import difflib
from pathlib import Path
from typing import Any

import pytest

from orchestration.language import catalogue
from orchestration.language.checker import MAX_DIAGNOSTICS, MAX_HINT_COMPARISONS, analyze
from orchestration.language.errors import Code

HEADER = "fulfillment X\naction CANCEL\n"
DEMO_SHEETS = sorted(
    (Path(__file__).resolve().parents[2] / "orchestration/demo/sheets").glob("*.sheet")
)


def problems(source: str) -> list[tuple[str, str, int, int, str | None]]:
    return [
        (d.code, d.message, d.span.line, d.span.column, d.hint) for d in analyze(source).diagnostics
    ]


@pytest.mark.parametrize("path", DEMO_SHEETS, ids=lambda path: path.name)
def test_the_demo_sheets_are_valid(path: Path) -> None:
    assert problems(path.read_text()) == []


def test_a_valid_sheet_yields_its_meaning() -> None:
    analysis = analyze(
        "fulfillment Returns\naction 'EXPORT_RETURN_ORDER'\noption OrderIntents as 'Returns'\n"
        "option allowpartialfulfillment as TRUE\nscope order\nrequire Order.ID has value"
    )
    assert analysis.is_valid
    assert (analysis.fulfillment, analysis.action) == ("Returns", "EXPORT_RETURN_ORDER")
    assert analysis.options == {"OrderIntents": ("Returns",), "AllowPartialFulfillment": True}


CASES = [
    (
        "action CANCEL",
        [(Code.MISSING_FULFILLMENT, "a sheet must begin with 'fulfillment NAME', its unique "
          "identifier", 1, 1, "e.g. fulfillment ShipFromStore")],
    ),
    (
        "fulfillment X\nscope Order",
        [(Code.INVALID_ACTION, "a sheet needs an 'action' after its fulfillment line", 1, 1,
          "one of: SHIP_FROM_STORE, EXPORT_ORDER, CANCEL, EXPORT_RETURN_ORDER")],
    ),
    (
        "fulfillment X\naction SHIP_FROM_STOR",
        [(Code.INVALID_ACTION, "unknown action 'SHIP_FROM_STOR'", 2, 1,
          "did you mean SHIP_FROM_STORE?")],
    ),
    (
        HEADER + "option AllowPartialFulfilment as true",
        [(Code.INVALID_OPTION, "unknown option 'AllowPartialFulfilment'", 3, 1,
          "did you mean AllowPartialFulfillment?")],
    ),
    (
        HEADER + "option DisableLineSplitting as 'yes'",
        [(Code.INVALID_OPTION, "option DisableLineSplitting must be true or false", 3, 32, None)],
    ),
    (
        HEADER + "option OrderIntents as 'Sales', 'Gifts'",
        [(Code.INVALID_OPTION, "option OrderIntents does not know 'Gifts'; use 'Sales', "
          "'Purchase', 'Returns'", 3, 24, None)],
    ),
    (
        HEADER + "option MaxRetryCountForDeactivatedLines as 1.5",
        [(Code.INVALID_OPTION, "option MaxRetryCountForDeactivatedLines must be a whole number, "
          "0 or more", 3, 44, None)],
    ),
    (
        HEADER + "scope Suppliers",
        [(Code.INVALID_SCOPE_TYPE, "unknown scope 'Suppliers'", 3, 1, "did you mean Supplier?")],
    ),
    (
        HEADER + "scope OrderLine\nscope Supplier",
        [(Code.INVALID_SCOPE_ORDER, "scope Supplier comes after OrderLine; scopes must come in the "
          "order Order, Supplier, OrderLine, OrderLineSuppliers, FulfillmentOptions, Shipment, "
          "Fanout, FulfillmentProposition", 4, 1, None)],
    ),
    (
        HEADER + "scope Order\noption AllowPartialFulfillment as true",
        [(Code.INVALID_SCOPE_ORDER, "options must come before the first scope", 4, 1, None)],
    ),
    (
        HEADER + "require Order.ID has value",
        [(Code.INVALID_SCOPE_ORDER, "'require' must be inside a scope; add a 'scope' line above "
          "it", 3, 1, "e.g. scope Supplier")],
    ),
    (
        HEADER + "scope Order\nrequire [Supplier.Type] = 'Shop'",
        [(Code.UNKNOWN_VARIABLE, "Supplier.Type cannot be read in scope Order", 4, 9,
          "it can be read in scope Supplier, OrderLine, FulfillmentOptions, Shipment, Fanout")],
    ),
    (
        HEADER + "scope Supplier\nrequire Supplier.Customfields.PrintingCapable = true",
        [(Code.UNKNOWN_VARIABLE, "unknown variable 'Supplier.Customfields.PrintingCapable'", 4, 9,
          "did you mean Supplier.CustomFields.PrintingCapable?")],
    ),
    (
        HEADER + "scope Order\nwith Weekend as 'Sunday'\nrequire 'x' in Weekedn",
        [(Code.UNKNOWN_VARIABLE, "unknown variable 'Weekedn'", 5, 16, "did you mean Weekend?")],
    ),
    (
        HEADER + "scope Order\nwith A as 1\nwith [A] as 2",
        [(Code.DUPLICATE_VARIABLE_DECLARATION, "'A' is already declared on line 4", 5, 1,
          "use another name, or change the first declaration")],
    ),
    (
        HEADER + "scope Order\nwith CurrentFulfillmentAttempts as 2",
        [(Code.DUPLICATE_VARIABLE_DECLARATION, "'CurrentFulfillmentAttempts' is a built-in "
          "variable and cannot be declared again", 4, 1, None)],
    ),
    (
        HEADER + "scope Order\nrequire 5",
        [(Code.INVALID_EXPRESSION_VALUE_TYPE, "the requirement must be true or false, but this is "
          "a number", 4, 9, None)],
    ),
    (
        HEADER + "scope Order\nrequire [Order.ID] + 'a' > 1",
        [(Code.INVALID_EXPRESSION_VALUE_TYPE, "cannot use '+' on a number and a string", 4, 9,
          None)],
    ),
    (
        HEADER + "scope Order\nscore add 'x' when Order.ID > 'a'",
        [
            (Code.INVALID_EXPRESSION_VALUE_TYPE, "a score is a number, but this is a string", 4, 11,
             None),
            (Code.INVALID_EXPRESSION_VALUE_TYPE, "cannot use '>' on a number and a string", 4, 20,
             None),
        ],
    ),
    (
        HEADER + "scope Shipment\nfanout as 3",
        [(Code.INVALID_SCOPE_TYPE, "'fanout' belongs in scope Fanout, not in scope Shipment", 4, 1,
          None)],
    ),
    (
        "fulfillment X\naction SHIP_FROM_STORE\nscope Shipment\n"
        "data [TravelTimeText] as [Supplier.RouteToShippingAddressByBike.TimeText]",
        [(Code.MISSING_REQUIRED_DATA, "action SHIP_FROM_STORE needs data TravelDistanceText, "
          "TravelTimeInMinutes, TravelDistanceInKm", 2, 1,
          "e.g. data [TravelDistanceText] as ... in scope Shipment")],
    ),
    (
        "fulfilment X\naction CANCEL",
        [
            (Code.INVALID_SYNTAX, "expected a statement (fulfillment, action, option, scope, "
             "require, with, data, score add or fanout), got 'fulfilment'", 1, 1,
             "did you mean 'fulfillment'?"),
            (Code.MISSING_FULFILLMENT, "a sheet must begin with 'fulfillment NAME', its unique "
             "identifier", 2, 1, "e.g. fulfillment ShipFromStore"),
        ],
    ),
]  # fmt: skip


@pytest.mark.parametrize(("source", "expected"), CASES, ids=[c[1][0][0] for c in CASES])
def test_each_fault_is_one_exact_diagnostic(source: str, expected: list[tuple]) -> None:
    assert problems(source) == expected


def test_every_code_the_checker_can_give_is_exercised() -> None:
    tested = {diagnostic[0] for _, expected in CASES for diagnostic in expected}
    assert tested >= {
        Code.MISSING_FULFILLMENT, Code.INVALID_ACTION, Code.INVALID_OPTION,
        Code.INVALID_SCOPE_TYPE, Code.INVALID_SCOPE_ORDER, Code.UNKNOWN_VARIABLE,
        Code.DUPLICATE_VARIABLE_DECLARATION, Code.INVALID_EXPRESSION_VALUE_TYPE,
        Code.MISSING_REQUIRED_DATA, Code.INVALID_SYNTAX,
    }  # fmt: skip


def test_names_are_visible_from_where_they_are_declared() -> None:
    source = HEADER + "scope Order\nrequire 'x' in Later\nwith Later as 'x'\nrequire 'x' in Later"
    assert [(p[0], p[2]) for p in problems(source)] == [(Code.UNKNOWN_VARIABLE, 4)]


def test_all_problems_of_a_sheet_come_at_once_in_source_order() -> None:
    source = "fulfillment X\naction NOPE\nscope Nope\nscope Order\nrequire 1\nrequire = 2"
    assert [p[2] for p in problems(source)] == [2, 3, 5, 6]


def test_options_come_after_the_action() -> None:
    assert problems("fulfillment X\noption AllowPartialFulfillment as true\naction CANCEL") == [
        (Code.INVALID_SCOPE_ORDER, "options come after the action line", 2, 1, None)
    ]


def test_a_known_data_key_in_the_wrong_case_is_reported() -> None:
    assert problems(HEADER + "scope Supplier\ndata DeadLineInMinutes as 600") == [
        (
            Code.UNKNOWN_DATA_KEY,
            "data 'DeadLineInMinutes' is not DeadlineInMinutes: data names are case-sensitive",
            4,
            1,
            "did you mean DeadlineInMinutes?",
        )
    ]
    assert problems(HEADER + "scope Supplier\ndata MyOwnKey as 600") == []


def test_junk_text_gets_at_most_a_thousand_problems_and_a_count_of_the_rest() -> None:
    found = problems("!" * 1500)
    assert len(found) == 1001
    # 1,500 bad characters and the missing fulfillment line: 1,501 problems.
    assert found[-1][:2] == (Code.TOO_LARGE, "501 more problems are not shown")


def test_a_name_of_thousands_of_parts_gets_its_did_you_mean_without_recursion() -> None:
    """Found while hunting recursion for issue 18: the did-you-mean walked the parts of
    a name recursively, and a declared name of 3,000 parts read with one letter more
    raised RecursionError out of the checker."""
    name = ".".join(["a"] * 3_000)
    source = (
        f"fulfillment X\naction CANCEL\nscope Order\nwith [{name}] as 1\nrequire [{name}x] = 1\n"
    )
    (diagnostic,) = analyze(source).diagnostics
    assert (diagnostic.code, diagnostic.message, diagnostic.hint) == (
        Code.UNKNOWN_VARIABLE,
        f"unknown variable '{name}x'",
        f"did you mean {name}?",
    )


def test_did_you_mean_hints_stop_after_a_bounded_number_of_comparisons() -> None:
    """Found while hunting for hangs for issue 18: every unknown name was compared with
    every declared one, and 2,000 of each took 17 s to check (a save, through the API).
    The first unknown names still get their hint; once MAX_HINT_COMPARISONS comparisons
    are spent, the rest are reported without one."""
    names = 2_000
    source = (
        "fulfillment X\naction CANCEL\nscope Order\n"
        + "".join(f"with count{i}x as 1\n" for i in range(names))
        + "".join(f"require count{i} = 1\n" for i in range(names))
    )
    unknown = [d for d in analyze(source).diagnostics if d.code is Code.UNKNOWN_VARIABLE]
    hinted = MAX_HINT_COMPARISONS // (names + len(catalogue.PROPERTIES))
    assert [d.hint for d in unknown[:hinted]] == [f"did you mean count{i}x?" for i in range(hinted)]
    assert {d.hint for d in unknown[hinted:]} == {None}
    assert len(unknown) == MAX_DIAGNOSTICS  # and "1,000 more problems are not shown"


def test_the_hints_of_a_sheet_compare_at_most_max_hint_comparisons_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Found by ``manage.py fuzz_sheets`` (seed 18, input 5,954: 1,670 names declared and
    read misspelt): the first budget, 200,000 comparisons, still took 4.9 s of CPU, a
    hang by the fuzzer's measure. The names a did-you-mean compares are counted here."""
    compared = []
    real = difflib.get_close_matches

    def counting(word: str, possibilities: Any, *args: Any, **kwargs: Any) -> list[str]:
        possibilities = list(possibilities)
        compared.append(len(possibilities))
        return real(word, possibilities, *args, **kwargs)

    monkeypatch.setattr(difflib, "get_close_matches", counting)
    names = 1_670
    source = (
        "fulfillment X\naction CANCEL\nscope Order\n"
        + "".join(f"with count{i}x as {i}\n" for i in range(names))
        + "".join(f"require count{i} = 1\n" for i in range(names))
    )
    analyze(source)
    assert 0 < sum(compared) <= 20_000


# --- Warnings: valid, but reads otherwise than it works ------------------------------

SET_NAMES = HEADER + "scope Supplier\nrequire [Supplier.SetNames] in 'PrintSuppliers'\n"


def warnings(source: str) -> list[tuple[str, str, int, int, str | None]]:
    return [
        (w.code, w.message, w.span.line, w.span.column, w.hint) for w in analyze(source).warnings
    ]


def test_a_list_in_one_value_as_the_reference_writes_it_is_valid_with_a_warning() -> None:
    analysis = analyze(SET_NAMES)
    assert analysis.diagnostics == () and analysis.is_valid
    assert warnings(SET_NAMES) == [
        (
            Code.LIST_IN,
            "[Supplier.SetNames] is a list: 'in' asks whether one of its items is in the "
            "right side; 'contains' says so",
            4,
            9,
            "write [Supplier.SetNames] contains 'PrintSuppliers'",
        )
    ]


@pytest.mark.parametrize(
    ("condition", "message_part", "hint"),
    [
        (
            "[Supplier.SetNames] not in 'A'",
            "'not in' asks whether none of its items is in the right side; 'not contains'",
            "write [Supplier.SetNames] not contains 'A'",
        ),
        (
            "[Supplier.SetNames] in 'A', 'B'",
            "'in' asks whether one of its items",
            "write [Supplier.SetNames] contains 'A' or [Supplier.SetNames] contains 'B'",
        ),
        (
            "[Supplier.SetNames] not in 'A', 'B'",
            "'not in' asks whether none",
            "write [Supplier.SetNames] not contains 'A' and [Supplier.SetNames] not contains 'B'",
        ),
        (
            "[Supplier.SetNames] in [Supplier.CustomFields.Sets]",
            "'in' asks whether one",
            "write [Supplier.SetNames] contains X for one value X",
        ),
    ],
)
def test_each_list_in_gets_the_contains_it_means(
    condition: str, message_part: str, hint: str
) -> None:
    source = HEADER + "scope Supplier\nrequire " + condition + "\n"
    [(code, message, line, column, found_hint)] = warnings(source)
    assert (code, line, column, found_hint) == (Code.LIST_IN, 4, 9, hint)
    assert message_part in message
    assert analyze(source).diagnostics == ()


@pytest.mark.parametrize(
    "condition",
    [
        "[Supplier.BackendID] in 'A', 'B'",  # one value in a list: what 'in' is for
        "[Supplier.SetNames] contains 'A'",
        "[Supplier.CustomFields.Sets] in 'A'",  # not known to be a list
    ],
)
def test_membership_as_meant_gets_no_warning(condition: str) -> None:
    assert warnings(HEADER + "scope Supplier\nrequire " + condition + "\n") == []


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "fulfillment Big\naction CANCEL\n" + "#" * 200_000,
            "the sheet has 200,030 characters; at most 200,000 are allowed",
        ),
        (
            "fulfillment Big\naction CANCEL\nscope Supplier\n" + "require [X] = 1\n" * 7_500,
            "the sheet has 30,006 tokens (names, values, operators); at most 30,000 are allowed",
        ),
    ],
    ids=["characters", "tokens"],
)
def test_a_sheet_refused_whole_for_its_size_is_not_also_said_to_lack_its_fulfillment_line(
    source: str, message: str
) -> None:
    """The parser reads no statement of a sheet over the limits; the checker then found
    no 'fulfillment' line and said so first (line 1), though the sheet begins with one."""
    assert [(d.code, d.message) for d in analyze(source).diagnostics] == [(Code.TOO_LARGE, message)]
