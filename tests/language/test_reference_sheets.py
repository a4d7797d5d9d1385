"""Every sheet and snippet of the reference checks clean, but for the reference's own
mistakes, each with the did-you-mean that mends it (issue 19).

The copies are ``golden/*.sheet`` (see ``test_golden.py``; ``tests/test_shared_copies.py``
checks each against the reference when ``../shared`` is there). The reference's own
``[Supplier.SetNames] in 'PrintSuppliers'`` is valid, with a warning suggesting
``contains``: until issue 19 it checked clean and failed at every order.
"""

from pathlib import Path

import pytest

from orchestration.language.checker import analyze, fixed_source

GOLDEN = Path(__file__).resolve().parent / "golden"
SHEETS = sorted(GOLDEN.glob("*.sheet"))
CURLY = "use straight single quotes: 'text'"
CONTINUATION = (
    "sheets have no line-continuation character: a statement goes on when the next line "
    "begins with with reason, when, but continue, else or end"
)
SFS_DATA = "e.g. data [TravelDistanceText] as ... in scope Shipment"

# (code, line, column, hint) of each error, in the copies' lines.
MISTAKES: dict[str, list[tuple[str, int, int, str]]] = {
    # Fragments: a sheet's first line, then its first two lines, alone.
    "07-fulfillment-header": [
        (
            "InvalidAction",
            3,
            1,
            "one of: SHIP_FROM_STORE, EXPORT_ORDER, CANCEL, EXPORT_RETURN_ORDER",
        )
    ],
    "08-action-header": [("MissingRequiredData", 4, 1, SFS_DATA)],
    # Custom fields: wrong-case names, and curly quotes garbled by the page's encoding.
    "13-custom-fields-printing-capable": [
        ("UnknownVariable", 9, 9, "did you mean Supplier.CustomFields.PrintingCapable?"),
        ("UnknownVariable", 9, 59, "did you mean OrderLine.CustomFields.CustomizationType?"),
        ("InvalidCharacter", 9, 102, CURLY),
        ("InvalidCharacter", 9, 110, CURLY),
    ],
    # The SHIP_FROM_STORE data lines end in a stray backslash.
    "22-ship-from-store-data": [
        ("InvalidCharacter", 6, 82, CONTINUATION),
        ("InvalidCharacter", 7, 74, CONTINUATION),
        ("InvalidCharacter", 8, 84, CONTINUATION),
    ],
    # `with PopupLabel as ...` then `data TaskLabels as AmazonLabel`.
    "24-popup-task-label": [("UnknownVariable", 9, 20, "did you mean PopupLabel?")],
    # Two SHIP_FROM_STORE sheets without the data the action needs.
    "25-task-labels-sheet": [("MissingRequiredData", 5, 1, SFS_DATA)],
    "28-ship-from-store-example-2-ibe": [("MissingRequiredData", 7, 1, SFS_DATA)],
}
WARNINGS = {
    "14-custom-fields-print-suppliers": [
        ("ListIn", 8, 9, "write [Supplier.SetNames] contains 'PrintSuppliers'")
    ],
}


def test_every_sheet_of_the_reference_is_here() -> None:
    assert len(SHEETS) == 32
    assert set(MISTAKES) | set(WARNINGS) <= {path.stem for path in SHEETS}


@pytest.mark.parametrize("path", SHEETS, ids=lambda path: path.stem)
def test_a_reference_sheet_has_no_error_but_the_references_own_each_with_its_mend(
    path: Path,
) -> None:
    analysis = analyze(path.read_text(encoding="utf-8"))
    found = [(str(d.code), d.span.line, d.span.column, d.hint) for d in analysis.diagnostics]
    assert found == MISTAKES.get(path.stem, [])
    warned = [(str(w.code), w.span.line, w.span.column, w.hint) for w in analysis.warnings]
    assert warned == WARNINGS.get(path.stem, [])


def test_the_reference_set_names_example_fixed_checks_without_a_warning() -> None:
    source = (GOLDEN / "14-custom-fields-print-suppliers.sheet").read_text(encoding="utf-8")
    fixed = fixed_source(source)
    assert fixed is not None
    assert "require [Supplier.SetNames] contains 'PrintSuppliers' when" in fixed
    analysis = analyze(fixed)
    assert (analysis.diagnostics, analysis.warnings) == ((), ())
