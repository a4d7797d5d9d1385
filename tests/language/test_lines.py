"""Line breaks: the tokenizer, the visual editor, the engine and diagnostics count alike."""

from pathlib import Path

import pytest

from orchestration.engine.plan import plan_for
from orchestration.language import visual
from orchestration.language.checker import analyze
from orchestration.language.errors import Code, Diagnostic, Span
from orchestration.language.lines import LineTable, normalize, split_lines

DEMO = (
    Path(__file__).resolve().parents[2]
    / "orchestration"
    / "demo"
    / "sheets"
    / "ShipFromStore.sheet"
).read_text()
VARIANTS = {
    "CR": DEMO.replace("\n", "\r"),
    "CRLF": DEMO.replace("\n", "\r\n"),
    "mixed": DEMO.replace("\n", "\r", 20).replace("\n", "\r\n", 20),
}


def test_every_line_break_is_written_newline_and_nothing_else_breaks_a_line() -> None:
    assert normalize("a\rb\r\nc\nd\r\r\ne") == "a\nb\nc\nd\n\ne"
    # str.splitlines breaks at these too; the tokenizer reads them as spaces.
    assert split_lines("a\x0bb\x0cc\x1cd\x85e\u2028f\u2029g") == [
        "a\x0bb\x0cc\x1cd\x85e\u2028f\u2029g"
    ]
    assert split_lines("a\rb") == ["a", "b"]


def test_the_line_table_gives_offsets_in_the_normalised_text() -> None:
    table = LineTable("ab\r\ncd\ref")
    assert table.text == "ab\ncd\nef"
    assert [table.offset(line, 1) for line in (1, 2, 3)] == [0, 3, 6]
    assert table.offsets(Span(2, 2, 3, 2)) == (4, 7)


@pytest.mark.parametrize("ending", list(VARIANTS))
def test_the_visual_editor_shows_a_sheet_with_any_line_breaks_as_with_newlines(
    ending: str,
) -> None:
    expected = visual.describe(DEMO)
    shown = visual.describe(VARIANTS[ending])
    assert shown.diagnostics == ()
    assert shown.sections == expected.sections
    assert shown.slots == expected.slots


@pytest.mark.parametrize("ending", list(VARIANTS))
def test_a_visual_edit_of_a_sheet_with_other_line_breaks_writes_newlines(ending: str) -> None:
    slot = next(s for s in visual.describe(DEMO).slots.values() if s.value == "Shop")
    edited = visual.apply_edits(VARIANTS[ending], {slot.id: "Warehouse"})
    assert edited == DEMO.replace("[Supplier.Type] = 'Shop'", "[Supplier.Type] = 'Warehouse'")


@pytest.mark.parametrize("ending", list(VARIANTS))
def test_the_engine_explains_statements_of_a_sheet_with_other_line_breaks_as_written(
    ending: str,
) -> None:
    """Found with the visual editor's fault: the engine's plan indexed lines split at
    newlines only, and a sheet with CR line breaks raised IndexError while routing."""
    expected = plan_for(DEMO)
    plan = plan_for(VARIANTS[ending])
    assert plan.diagnostics == ()
    assert {scope: [(s.line, s.text) for s in steps] for scope, steps in plan.blocks.items()} == {
        scope: [(s.line, s.text) for s in steps] for scope, steps in expected.blocks.items()
    }


def test_a_diagnostic_under_a_cr_line_break_shows_its_own_line() -> None:
    source = "fulfillment X\raction CANCEL\rscope Orders\r"
    (diagnostic,) = analyze(source).diagnostics
    assert diagnostic.render(source) == (
        "line 3, column 1: unknown scope 'Orders'\n"
        "    scope Orders\n"
        "    ^^^^^^^^^^^^\n"
        "    hint: did you mean Order?"
    )
    assert Diagnostic(Code.INVALID_SYNTAX, "x", Span(3, 7, 3, 13)).render(source).split("\n")[
        1:
    ] == [
        "    scope Orders",
        "          ^^^^^^",
    ]
