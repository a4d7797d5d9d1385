"""The sheets of the shared scenarios (../shared/scenarios/*.json) are valid sheets.

Deciding each scenario as its ``expect`` says needs the routing engine and
``manage.py simulate`` (the engine issue); until then this checks the part that
is the language's: every sheet in them passes the checker.
"""

import json
from pathlib import Path

import pytest

from orchestration.language.checker import analyze

SCENARIOS = Path(__file__).resolve().parents[3] / "shared" / "scenarios"
FILES = sorted(SCENARIOS.glob("*.json"))


@pytest.mark.skipif(not FILES, reason="the shared scenarios are not beside the project")
@pytest.mark.parametrize("path", FILES, ids=lambda path: path.name)
def test_every_scenario_sheet_passes_the_checker(path: Path) -> None:
    sheets = json.loads(path.read_text(encoding="utf-8"))["sheets"]
    assert sheets
    for sheet in sheets:
        source = sheet["source"]
        assert [d.render(source) for d in analyze(source).diagnostics] == [], sheet["name"]
