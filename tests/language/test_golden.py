"""Golden tests: every sheet and snippet of the EVA reference, with its exact diagnostics.

``golden/NN-name.sheet`` holds one sheet or snippet of the reference chapter
(``../shared/reference/004_*.txt``), in order of appearance, copied as written;
fragments are wrapped in ``fulfillment Snippet`` / ``action CANCEL`` and the
scope the reference puts them in (the comment at the top of each file says
which). ``golden/NN-name.expected`` holds what ``manage.py checksheet`` prints
for it, with the bare file name as the path; it is empty for a valid sheet.
A ``# KNOWN ISSUE:`` comment at the top of a sheet marks output that is
recorded as it is but is not what the language should say.
"""

from pathlib import Path

import pytest

from orchestration.language.checker import analyze
from orchestration.language.errors import Diagnostic
from orchestration.language.parser import parse

GOLDEN = Path(__file__).resolve().parent / "golden"
SHEETS = sorted(GOLDEN.glob("*.sheet"))
VALID = [path for path in SHEETS if not path.with_suffix(".expected").read_text(encoding="utf-8")]
GOLDEN_COUNT = 32  # the sheets and snippets of the reference; a lost file fails


def render(name: str, diagnostics: tuple[Diagnostic, ...]) -> str:
    """The diagnostics as ``manage.py checksheet`` prints them, for the file ``name``."""
    lines = []
    for diagnostic in diagnostics:
        span = diagnostic.span
        lines.append(f"{name}:{span.line}:{span.column}: {diagnostic.code} {diagnostic.message}")
        if diagnostic.hint:
            lines.append(f"    {diagnostic.hint}")
    return "".join(line + "\n" for line in lines)


def test_the_golden_folder_holds_every_sheet() -> None:
    assert len(SHEETS) >= GOLDEN_COUNT
    names = [path.name for path in SHEETS]
    assert len({name[:2] for name in names}) == len(names), "two golden sheets share a number"
    for path in SHEETS:
        assert path.with_suffix(".expected").is_file(), f"{path.name} has no .expected file"


@pytest.mark.parametrize("path", SHEETS, ids=lambda path: path.stem)
def test_golden_diagnostics(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    expected = path.with_suffix(".expected").read_text(encoding="utf-8")
    assert render(path.name, analyze(source).diagnostics) == expected


@pytest.mark.parametrize("path", VALID, ids=lambda path: path.stem)
def test_golden_formatter_round_trip(path: Path) -> None:
    try:
        from orchestration.language.formatter import format_sheet
    except ImportError:
        pytest.skip("orchestration.language.formatter does not exist yet")
    sheet = analyze(path.read_text(encoding="utf-8")).sheet
    formatted = format_sheet(sheet)
    again, diagnostics = parse(formatted)
    assert diagnostics == []
    assert again == sheet
    assert [c.text.rstrip() for c in again.comments] == [c.text.rstrip() for c in sheet.comments]
    assert format_sheet(again) == formatted
