"""The sheets of the shared scenarios are valid sheets.

The shared scenarios (``../shared/scenarios/*.json``) are copied into
``tests/scenarios/`` (see ``tests/sources.py``); deciding each as its ``expect``
says is ``tests/engine/test_scenarios.py``'s. This checks the language's part:
every sheet in them passes the checker without a single diagnostic.
"""

import json
from pathlib import Path

import pytest

from orchestration.language.checker import analyze
from tests.sources import SHARED_SCENARIO_COPIES


@pytest.mark.parametrize("path", SHARED_SCENARIO_COPIES, ids=lambda path: path.name)
def test_every_scenario_sheet_passes_the_checker(path: Path) -> None:
    sheets = json.loads(path.read_text(encoding="utf-8"))["sheets"]
    assert sheets
    for sheet in sheets:
        source = sheet["source"]
        assert [d.render(source) for d in analyze(source).diagnostics] == [], sheet["name"]
