"""The tokenizer: kinds, values, exact positions, continuation, and bad characters."""

import pytest

from orchestration.language.errors import Code, Span
from orchestration.language.tokens import MAX_NUMBER_DIGITS, TokenKind, statements, tokenize


def terminals(source: str) -> list[list[str]]:
    tokens, _ = tokenize(source)
    return [[token.terminal for token in statement] for statement in statements(tokens)]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("REQUIRE x", [["REQUIRE", "NAME"]]),
        ("Score Add 1", [["SCORE_ADD", "NUMBER"]]),
        ("require a HAS  NO value", [["REQUIRE", "NAME", "HAS_NO_VALUE"]]),
        ("require a has value", [["REQUIRE", "NAME", "HAS_VALUE"]]),
        ("require a not in 'x'", [["REQUIRE", "NAME", "NOT_IN", "STRING"]]),
        ("require a not contains 'x'", [["REQUIRE", "NAME", "NOT_CONTAINS", "STRING"]]),
        ("require not a", [["REQUIRE", "NOT", "NAME"]]),
        # "with reason" is always the keyword; brackets make it a variable.
        ("with reason as 1", [["WITH_REASON", "AS", "NUMBER"]]),
        ("with [reason] as 1", [["WITH", "VARIABLE", "AS", "NUMBER"]]),
        ("data value as 1", [["DATA", "NAME", "AS", "NUMBER"]]),
        (
            "require a <> b <= c >= d",
            [["REQUIRE", "NAME", "NE", "NAME", "LE", "NAME", "GE", "NAME"]],
        ),
    ],
)
def test_keywords_are_case_insensitive_and_multi_word(
    source: str, expected: list[list[str]]
) -> None:
    assert terminals(source) == expected


def test_dotted_names_and_bracketed_variables_carry_their_path() -> None:
    tokens, diagnostics = tokenize("require Supplier.Address.City = [Order.ShippingAddress.City]")
    assert diagnostics == []
    assert [(t.kind, t.value) for t in tokens[1:4:2]] == [
        (TokenKind.NAME, "Supplier.Address.City"),
        (TokenKind.VARIABLE, "Order.ShippingAddress.City"),
    ]


def test_strings_unescape_and_may_span_lines() -> None:
    tokens, diagnostics = tokenize("data X as 'it\\'s\nfine'\nscope Shipment")
    assert diagnostics == []
    string = tokens[3]
    assert (string.kind, string.value) == (TokenKind.STRING, "it's\nfine")
    assert string.span == Span(1, 11, 2, 6)
    assert terminals("data X as 'it\\'s\nfine'\nscope Shipment") == [
        ["DATA", "NAME", "AS", "STRING"],
        ["SCOPE", "NAME"],
    ]


def test_template_strings_keep_their_expressions() -> None:
    tokens, _ = tokenize("require a with reason 'R', $'Shop {[Supplier.Name]} can{'t'} {x}'")
    template = tokens[-1]
    assert template.kind is TokenKind.TEMPLATE
    # A quote inside {...} belongs to the expression, not the end of the string.
    assert template.value == "Shop {[Supplier.Name]} can{'t'} {x}"


def test_numbers_are_exact_decimals() -> None:
    tokens, _ = tokenize("score add 1.0 / 3")
    assert [str(t.value) for t in tokens if t.kind is TokenKind.NUMBER] == ["1.0", "3"]


def test_a_number_longer_than_the_limit_is_refused_where_it_is_written() -> None:
    longest = "9" * MAX_NUMBER_DIGITS
    assert tokenize(f"score add {longest}.5")[1] == []
    assert tokenize(f"score add 000{longest}")[1] == []

    _, diagnostics = tokenize(f"scope Supplier\nscore add 1{'0' * 400}")

    (problem,) = diagnostics
    assert problem.code is Code.TOO_LARGE
    assert problem.message == (
        "this number has 401 digits before its point; a sheet's numbers have at most 300"
    )
    assert (problem.span.line, problem.span.column) == (2, 11)


@pytest.mark.parametrize("comment", ["# note", "// note"])
def test_comments_are_kept_as_tokens_but_not_in_statements(comment: str) -> None:
    tokens, _ = tokenize(f"scope Order {comment}\n{comment}\nrequire a")
    assert [t.kind for t in tokens].count(TokenKind.COMMENT) == 2
    assert terminals(f"scope Order {comment}\n{comment}\nrequire a") == [
        ["SCOPE", "NAME"],
        ["REQUIRE", "NAME"],
    ]


def test_a_statement_continues_on_lines_that_begin_with_a_continuation_keyword() -> None:
    source = (
        "require [Supplier.DistanceToShippingAddressInKm] < 10\n"
        "\n"
        "# a comment in between\n"
        "with reason 'TooFarAway' when [X] < 20\n"
        "but continue\n"
        "with [w] as when a then 1\n"
        "else when b then 2\n"
        "else then 3\n"
        "end\n"
        "with [r] as (when a then 8\n"
        "  then)\n"
        "require b"
    )
    assert [len(group) for group in terminals(source)] == [11, 16, 10, 2]


def test_a_line_starting_with_with_but_not_reason_is_a_new_statement() -> None:
    assert len(terminals("require a\nwith b as 1")) == 2


def test_positions_are_one_based_and_exclusive_at_the_end() -> None:
    tokens, _ = tokenize("scope Order\n  require [A.B]")
    variable = tokens[-1]
    assert variable.span == Span(2, 11, 2, 16)
    assert variable.text == "[A.B]"


def test_windows_line_breaks_count_as_one() -> None:
    tokens, _ = tokenize("scope Order\r\nrequire a")
    assert tokens[-1].span == Span(2, 9, 2, 10)


@pytest.mark.parametrize(
    ("source", "code", "message", "span", "hint"),
    [
        (
            "require \u2018print",
            Code.INVALID_CHARACTER,
            "curly quote \u2018 cannot start or end a string",
            Span(1, 9, 1, 10),
            "use straight single quotes: 'text'",
        ),
        (
            "require a ? b",
            Code.INVALID_CHARACTER,
            "unexpected character '?'",
            Span(1, 11, 1, 12),
            None,
        ),
        (
            "require a\x00",
            Code.INVALID_CHARACTER,
            "unexpected character '\\x00'",
            Span(1, 10, 1, 11),
            None,
        ),
        (
            "data X as 'open\nstill",
            Code.UNTERMINATED_STRING,
            "string is never closed: expected ' before the end of the sheet",
            Span(1, 11, 2, 6),
            None,
        ),
        (
            "require [A.B",
            Code.INVALID_SYNTAX,
            "expected ']' to close the variable",
            Span(1, 9, 1, 13),
            None,
        ),
        (
            "require [A..B]",
            Code.INVALID_SYNTAX,
            "'[A..B]' is not a variable name",
            Span(1, 9, 1, 15),
            "a variable is a name, or names joined by dots: [Supplier.Address.City]",
        ),
    ],
)
def test_bad_characters_are_diagnostics_with_exact_positions(
    source, code, message, span, hint
) -> None:
    _, diagnostics = tokenize(source)
    assert [(d.code, d.message, d.span, d.hint) for d in diagnostics] == [
        (code, message, span, hint)
    ]


def test_the_demo_sheets_tokenize_cleanly() -> None:
    from pathlib import Path

    folder = Path(__file__).resolve().parents[2] / "orchestration" / "demo" / "sheets"
    for path in sorted(folder.glob("*.sheet")):
        _, diagnostics = tokenize(path.read_text())
        assert diagnostics == [], path.name


def test_each_curly_quote_is_reported() -> None:
    _, diagnostics = tokenize("require x = \u2018print\u2019")
    assert [(d.span.column, d.message) for d in diagnostics] == [
        (13, "curly quote \u2018 cannot start or end a string"),
        (19, "curly quote \u2019 cannot start or end a string"),
    ]


CURLY_HINT = "use straight single quotes: 'text'"


@pytest.mark.parametrize(
    ("written", "opening", "closing", "closing_end"),
    [
        # The reference's own: the opening quote's UTF-8 bytes read as Greek, a real closer.
        ("\u03b2\u20ac\u02dcprint\u2019", "\u2018 (written \u03b2\u20ac\u02dc)", "\u2019", 22),
        # Read as Western (cp1252): both quotes garbled, double quotes.
        (
            "\u00e2\u20ac\u0153print\u00e2\u20ac\u009d",
            "\u201c (written \u00e2\u20ac\u0153)",
            "\u201d (written \u00e2\u20ac\u009d)",
            24,
        ),
    ],
)
def test_a_curly_quote_garbled_by_another_code_page_is_read_as_the_quote_it_was(
    written: str, opening: str, closing: str, closing_end: int
) -> None:
    tokens, diagnostics = tokenize("require x = " + written + " and y")
    assert [(t.kind, t.value) for t in tokens[3:5]] == [
        (TokenKind.STRING, "print"),
        (TokenKind.KEYWORD, "and"),
    ]
    assert [(d.span.column, d.span.end_column, d.message, d.hint) for d in diagnostics] == [
        (13, 16, f"curly quote {opening} cannot start or end a string", CURLY_HINT),
        (21, closing_end, f"curly quote {closing} cannot start or end a string", CURLY_HINT),
    ]


def test_a_greek_word_is_still_a_name() -> None:
    tokens, diagnostics = tokenize("require \u03b2eta = 1")
    assert (tokens[1].kind, tokens[1].value, diagnostics) == (TokenKind.NAME, "\u03b2eta", [])


def test_only_ascii_digits_make_numbers() -> None:
    """'²' passes str.isdigit() but is no number (found by the fuzz run)."""
    _, diagnostics = tokenize("score add ²")
    assert [(d.code, d.message) for d in diagnostics] == [
        (Code.INVALID_CHARACTER, "unexpected character '²'")
    ]


def test_curly_quoted_text_is_reported_then_read_as_a_string() -> None:
    """So the rest of the statement is still checked (the reference's print example)."""
    tokens, diagnostics = tokenize("require x = \u2018print\u2019 and y")
    assert [(t.kind, t.value) for t in tokens[3:5]] == [
        (TokenKind.STRING, "print"),
        (TokenKind.KEYWORD, "and"),
    ]
    assert len(diagnostics) == 2
