"""Every scenario file is decided as its ``expect`` says.

The scenarios are the project's own (``tests/scenarios/``: one routing rule of
``docs/routing.md`` each, and copies of the shared ones, see ``tests/sources.py``).
Each is run through ``manage.py simulate`` in-process and its blob compared with
``expect`` exactly as ``../shared/tools/check_scenarios.py`` compares them:

- the shipments of the winning proposition (``Fulfillments[0].Shipments``) as a
  multiset of (FulfillmentAction, Supplier.ID, {order line ID: quantity}), all
  CANCEL shipments counted as one;
- ``rejection_reasons``: {OU id: [codes]} that must appear among that OU's
  Rejections (those with a SupplierID and a Reason);
- ``no_rejection_reasons``: {OU id: [codes]} that must not;
- ``errors`` (ours): the blob's ``Errors`` exactly, as a multiset of
  ``{sheet, supplier, line, column, code}`` (``supplier`` null for a sheet's error);
- ``dropped_by`` (ours): {OU id: ["<sheet name>:<line>"]}, exactly the statements
  that dropped that OU without a reason (the blob's ``Dropped``).

The tool itself is run by ``tests/test_shared_copies.py`` when ``../shared`` is there.
"""

import collections
import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from orchestration.language.checker import analyze
from tests.sources import OWN_SCENARIOS

OWN_FILES = sorted(OWN_SCENARIOS.glob("*.json"))
MIN_OWN_FILES = 30

ShipmentKey = tuple[str, int | None, tuple[tuple[str, int], ...]]


# --- The comparison of check_scenarios.py ----------------------------------------------


def shipments_of(blob: dict[str, Any]) -> collections.Counter[ShipmentKey]:
    """The winning proposition's shipments; all CANCEL shipments merged into one."""
    found: collections.Counter[ShipmentKey] = collections.Counter()
    cancelled: collections.Counter[str] = collections.Counter()
    for shipment in blob["Fulfillments"][0]["Shipments"]:
        lines: collections.Counter[str] = collections.Counter()
        for line in shipment["OrderLines"]:
            lines[str(line["ID"])] += line["Quantity"]
        if shipment["FulfillmentAction"] == "CANCEL":
            cancelled.update(lines)
        else:
            supplier = (shipment.get("Supplier") or {}).get("ID")
            found[(shipment["FulfillmentAction"], supplier, tuple(sorted(lines.items())))] += 1
    if cancelled:
        found[("CANCEL", None, tuple(sorted(cancelled.items())))] += 1
    return found


def expected_shipments(expect: dict[str, Any]) -> collections.Counter[ShipmentKey]:
    """The shipments ``expect`` lists, in the form of ``shipments_of``."""
    return collections.Counter(
        (shipment["action"], shipment["supplier"], tuple(sorted(shipment["lines"].items())))
        for shipment in expect["shipments"]
    )


def reasons_of(blob: dict[str, Any]) -> dict[str, set[str]]:
    """{OU id (as text): reason codes} of the rejections that name an OU and a reason."""
    found: dict[str, set[str]] = collections.defaultdict(set)
    for rejection in blob.get("Rejections", []):
        if rejection.get("SupplierID") is not None and rejection.get("Reason"):
            found[str(rejection["SupplierID"])].add(rejection["Reason"])
    return found


def errors_of(blob: dict[str, Any]) -> collections.Counter[tuple[Any, ...]]:
    """The blob's Errors as (sheet, supplier, line, column, code)."""
    return collections.Counter(
        (e["Sheet"], e.get("SupplierID"), e["Line"], e["Column"], e["Code"])
        for e in blob.get("Errors", [])
    )


def dropped_of(blob: dict[str, Any]) -> dict[str, set[str]]:
    """{OU id (as text): {"<sheet name>:<line>"}} of the statements that dropped it."""
    dropped = blob.get("Dropped", {})
    statements = [f"{s['Sheet']['Name']}:{s['Line']}" for s in dropped.get("Statements", [])]
    found: dict[str, set[str]] = collections.defaultdict(set)
    for supplier, statement, _line, _values in dropped.get("Suppliers", []):
        found[str(supplier)].add(statements[statement])
    for group in dropped.get("Summary", []):
        for supplier in group["SupplierIDs"]:
            found[str(supplier)].add(statements[group["Statement"]])
    return found


def problems_with(blob: dict[str, Any], expect: dict[str, Any]) -> list[str]:
    """Where the blob differs from ``expect``; empty when it is decided as expected."""
    if not blob.get("Fulfillments"):
        return ["the blob has no Fulfillments"]
    problems = []
    got, want = shipments_of(blob), expected_shipments(expect)
    if got != want:
        problems.append(f"shipments {sorted(got.items())} but expected {sorted(want.items())}")
    found = reasons_of(blob)
    for ou, codes in expect.get("rejection_reasons", {}).items():
        if not set(codes) <= found.get(ou, set()):
            problems.append(f"OU {ou}: reasons {sorted(found.get(ou, set()))} lack {codes}")
    for ou, codes in expect.get("no_rejection_reasons", {}).items():
        if set(codes) & found.get(ou, set()):
            problems.append(f"OU {ou}: must not have reasons {codes}")
    if "errors" in expect:
        got_errors = errors_of(blob)
        want_errors = collections.Counter(
            (e["sheet"], e["supplier"], e["line"], e["column"], e["code"]) for e in expect["errors"]
        )
        if got_errors != want_errors:
            problems.append(
                f"errors {sorted(got_errors.items(), key=str)} but expected "
                f"{sorted(want_errors.items(), key=str)}"
            )
    dropped = dropped_of(blob)
    for ou, statements in expect.get("dropped_by", {}).items():
        if set(statements) != dropped.get(ou, set()):
            problems.append(
                f"OU {ou}: dropped by {sorted(dropped.get(ou, set()))}, expected {statements}"
            )
    return problems


def explain(blob: dict[str, Any], expect: dict[str, Any], problems: list[str]) -> str:
    """An assertion message: what differs, the rule, and every reason found per OU."""
    found = {ou: sorted(codes) for ou, codes in sorted(reasons_of(blob).items())}
    errors = [f"{e.get('Code')}: {e.get('Message')}" for e in blob.get("Errors", [])]
    return "\n".join(
        [
            *problems,
            f"note: {expect.get('note')}",
            f"reasons found: {found}",
            *([f"sheet errors: {errors}"] if errors else []),
        ]
    )


def simulate(path: Path) -> dict[str, Any]:
    """The blob ``manage.py simulate PATH`` prints, run in-process."""
    buffer = io.StringIO()
    call_command("simulate", str(path), stdout=buffer)
    return json.loads(buffer.getvalue())


def read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


# --- The scenario files are there -------------------------------------------------------


def test_own_scenarios_are_there() -> None:
    """The project keeps a scenario per routing rule of docs/routing.md."""
    assert len(OWN_FILES) >= MIN_OWN_FILES, [path.name for path in OWN_FILES]


@pytest.mark.parametrize("path", OWN_FILES, ids=lambda path: path.name)
def test_scenario_states_what_it_expects(path: Path) -> None:
    """Each own file is format 1 and its expect has a note, the shipments and nothing unknown."""
    scenario = read(path)
    assert scenario["format"] == 1
    expect = scenario["expect"]
    assert isinstance(expect.get("note"), str) and expect["note"].strip()
    assert isinstance(expect.get("shipments"), list)
    known = {
        "note",
        "shipments",
        "rejection_reasons",
        "no_rejection_reasons",
        "errors",
        "dropped_by",
    }
    assert {key for key in expect if not key.startswith("_")} <= known  # _: a comment


@pytest.mark.parametrize("path", OWN_FILES, ids=lambda path: path.name)
def test_scenario_sheets_pass_the_checker_or_the_note_says_why(path: Path) -> None:
    """A sheet with problems is only there on purpose: the note names each problem's code."""
    scenario = read(path)
    note = scenario["expect"]["note"]
    for sheet in scenario["sheets"]:
        source = sheet["source"]
        diagnostics = analyze(source).diagnostics
        unexplained = [d.render(source) for d in diagnostics if d.code.value not in note]
        assert not unexplained, f"sheet {sheet['name']!r}:\n" + "\n".join(unexplained)


# --- Each scenario is decided as expected ---------------------------------------------


@pytest.mark.parametrize("path", OWN_FILES, ids=lambda path: path.name)
def test_scenario_is_decided_as_expected(path: Path) -> None:
    """The winning proposition and the rejection reasons are those of ``expect``."""
    expect = read(path)["expect"]
    blob = simulate(path)
    problems = problems_with(blob, expect)
    assert not problems, explain(blob, expect, problems)
