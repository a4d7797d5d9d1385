"""docs/sheet-language.md cannot drift: its tables come from the catalogue and its
examples pass the checker."""

import re
from pathlib import Path

import pytest

from orchestration.language.checker import analyze
from orchestration.language.reference import generated_section, render

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "sheet-language.md"
EXAMPLES = re.findall(r"```sheet\n(.*?)```", DOCUMENT.read_text(), re.DOTALL)


def test_the_generated_tables_match_the_catalogue() -> None:
    """Regenerate with: python -m orchestration.language.reference docs/sheet-language.md"""
    assert generated_section(DOCUMENT.read_text()) == render()


def test_the_document_has_examples() -> None:
    assert len(EXAMPLES) >= 7


@pytest.mark.parametrize("example", EXAMPLES, ids=[f"example-{i}" for i in range(len(EXAMPLES))])
def test_every_example_passes_the_checker(example: str) -> None:
    # Fragments get the smallest header that needs no data.
    source = (
        example
        if example.lstrip().startswith(("fulfillment", "#"))
        else ("fulfillment Example\naction CANCEL\n" + example)
    )
    diagnostics = analyze(source).diagnostics
    assert [d.render(source) for d in diagnostics] == []
