"""The copies in ``tests/`` still match ``../shared/``, when it is there.

``../shared/`` sits beside the project on the developers' machines and in CI,
never on a user's: every other test reads only the copies (``tests/sources.py``).
These tests compare the copies with their originals and run the shared checker
tool; without ``../shared/`` they are skipped, and nothing else depends on it.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.sources import (
    GOLDEN_SHEETS,
    OWN_SCENARIOS,
    REFERENCE,
    REFERENCE_EXCERPT,
    ROOT,
    SHARED,
    SHARED_SCENARIO_NAMES,
    golden_reference_part,
    is_reference_text,
    reference_excerpt,
)

pytestmark = pytest.mark.skipif(
    not SHARED.is_dir(), reason="../shared is not beside the project (only the copies are used)"
)


def test_every_shared_scenario_has_an_identical_copy() -> None:
    shared = sorted(path.name for path in (SHARED / "scenarios").glob("*.json"))
    assert shared == sorted(SHARED_SCENARIO_NAMES)
    for name in shared:
        original = (SHARED / "scenarios" / name).read_bytes()
        assert (OWN_SCENARIOS / name).read_bytes() == original, name


def test_the_reference_excerpt_holds_every_line_of_the_reference_naming_a_variable() -> None:
    expected = reference_excerpt(REFERENCE.read_text(encoding="utf-8"))
    assert REFERENCE_EXCERPT.read_text(encoding="utf-8") == expected


def test_each_golden_sheet_is_the_references_text_under_our_header() -> None:
    reference = REFERENCE.read_text(encoding="utf-8")
    copies = sorted(GOLDEN_SHEETS.glob("*.sheet"))
    assert copies
    for path in copies:
        part = golden_reference_part(path.read_text(encoding="utf-8"))
        assert is_reference_text(part, reference), path.name


def test_check_scenarios_tool_passes() -> None:
    """../shared/tools/check_scenarios.py, run from the project's root, finds no failure."""
    python_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": python_dir + os.pathsep + os.environ.get("PATH", "")}
    run = subprocess.run(
        [sys.executable, str(SHARED / "tools" / "check_scenarios.py")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = run.stdout.strip().splitlines()
    assert lines, f"no output; stderr: {run.stderr[-2000:]}"
    assert lines[-1].endswith(" 0 failed"), run.stdout[-4000:] + run.stderr[-2000:]
