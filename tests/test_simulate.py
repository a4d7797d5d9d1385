"""``manage.py simulate``: a scenario file in, the orchestration details out, no database.

None of these tests may use the database (pytest-django refuses it without the
``db`` fixture), so the command is shown to need none. Faults exit with status 2
and one line ``simulate: PATH: message``.
"""

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from orchestration.engine.model import Address
from orchestration.engine.routes import Route
from tests.sources import LINE_SPLITTING

ROOT = Path(__file__).resolve().parent.parent
BLOB_KEYS = (
    "Fulfillments",
    "OrderLines",
    "ValidSuppliers",
    "Rejections",
    "HasErrors",
    "Errors",
    "At",
)


def simulate(*args: str, capsys: pytest.CaptureFixture[str]) -> str:
    call_command("simulate", *args)
    return capsys.readouterr().out


def refusal(*args: str) -> CommandError:
    with pytest.raises(CommandError) as caught:
        call_command("simulate", *args)
    assert caught.value.returncode == 2
    return caught.value


def scenario_file(tmp_path: Path, change: Any = None) -> Path:
    """A copy of line-splitting.json, passed through ``change(data)`` first."""
    data = json.loads(LINE_SPLITTING.read_text(encoding="utf-8"))
    if change is not None:
        change(data)
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


# --- The blob on standard output -------------------------------------------------------


def test_a_scenario_prints_its_blob_as_one_line_of_json(capsys) -> None:
    out = simulate(str(LINE_SPLITTING), capsys=capsys)
    assert out.endswith("\n")
    assert out.count("\n") == 1
    blob = json.loads(out)
    for key in BLOB_KEYS:
        assert key in blob, key
    assert blob["At"] == "2026-11-20T10:00:00+01:00"
    assert blob["HasErrors"] is False


def test_at_overrides_the_clock(capsys) -> None:
    out = simulate(str(LINE_SPLITTING), "--at", "2026-11-22T09:00:00+01:00", capsys=capsys)
    assert json.loads(out)["At"] == "2026-11-22T09:00:00+01:00"


def test_pretty_indents_the_json(capsys) -> None:
    out = simulate(str(LINE_SPLITTING), "--pretty", capsys=capsys)
    assert out.startswith('{\n  "')
    assert '\n    "' in out
    assert json.loads(out) == json.loads(simulate(str(LINE_SPLITTING), capsys=capsys))


class FixedRoute:
    """A route provider that answers 12.345 km and 42 minutes for every route."""

    calls = 0

    def route(self, origin: Address, destination: Address) -> Route | None:
        FixedRoute.calls += 1
        return Route(Decimal("12.345"), 42)


def test_the_route_provider_comes_from_the_setting(settings, capsys) -> None:
    settings.ORCHESTRATION_ROUTE_PROVIDER = "tests.test_simulate.FixedRoute"
    FixedRoute.calls = 0
    blob = json.loads(simulate(str(LINE_SPLITTING), capsys=capsys))
    assert FixedRoute.calls > 0
    data = blob["Fulfillments"][0]["Shipments"][0]["Data"]
    assert (data["TravelTimeInMinutes"], data["TravelTimeText"]) == (42, "42 min")


# --- Faults: status 2, the path and what is wrong ------------------------------------------


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "nope.json"
    assert str(refusal(str(path))) == f"{path}: cannot read it: No such file or directory"


def test_a_directory_is_refused(tmp_path: Path) -> None:
    assert str(refusal(str(tmp_path))) == f"{tmp_path}: cannot read it: Is a directory"


def test_a_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes(b'{"format": 1, "x": "caf\xe9"}')
    assert str(refusal(str(path))) == f"{path}: not UTF-8 text (byte 0xe9 at offset 23)"


def test_malformed_json_is_refused_with_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"format": 1,\n "at": }\n', encoding="utf-8")
    assert str(refusal(str(path))) == "line 2, column 8: not valid JSON: expecting value"


def test_a_schema_fault_is_refused_with_its_path(tmp_path: Path) -> None:
    def unknown_product(data: dict[str, Any]) -> None:
        data["order"]["lines"][1]["product"] = 7

    path = scenario_file(tmp_path, unknown_product)
    assert str(refusal(str(path))) == "order.lines[1].product: unknown product 7"


def test_an_unknown_setting_is_refused(tmp_path: Path) -> None:
    def misspelt(data: dict[str, Any]) -> None:
        data["settings"] = {"Orders:Default:AllowPartialFulfilment": True}

    path = scenario_file(tmp_path, misspelt)
    assert str(refusal(str(path))) == (
        "settings.Orders:Default:AllowPartialFulfilment: unknown setting; "
        "did you mean 'Orders:Default:AllowPartialFulfillment'?"
    )


@pytest.mark.parametrize(
    ("at", "message"),
    [
        ("tomorrow", "--at: not an ISO-8601 date and time: 'tomorrow'"),
        (
            "2026-11-22T09:00:00",
            "--at: '2026-11-22T09:00:00' has no UTC offset (add one, e.g. +01:00 or Z)",
        ),
    ],
)
def test_a_bad_at_is_refused(at: str, message: str) -> None:
    assert str(refusal(str(LINE_SPLITTING), "--at", at)) == message


def test_a_route_provider_that_does_not_import_is_refused(settings) -> None:
    settings.ORCHESTRATION_ROUTE_PROVIDER = "tests.test_simulate.Nowhere"
    assert str(refusal(str(LINE_SPLITTING))) == (
        "ORCHESTRATION_ROUTE_PROVIDER: cannot import 'tests.test_simulate.Nowhere': "
        'Module "tests.test_simulate" does not define a "Nowhere" attribute/class'
    )


def test_from_the_command_line_a_fault_is_one_line_on_stderr_and_status_2(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"format": 1,\n "at": }\n', encoding="utf-8")
    env = {key: value for key, value in os.environ.items() if key != "ORCHESTRATION_ROUTE_PROVIDER"}
    # A database that cannot be opened: the command must not need one.
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'missing' / 'db.sqlite3'}"
    result = subprocess.run(
        [sys.executable, "manage.py", "simulate", str(path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == "simulate: line 2, column 8: not valid JSON: expecting value\n"
    assert "Traceback" not in result.stderr
