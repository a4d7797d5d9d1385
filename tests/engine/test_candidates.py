"""A preview's whitelist: ``Scenario.candidate_units`` limits which OUs may fulfil."""

import dataclasses
from pathlib import Path

from orchestration.engine import route
from orchestration.engine.scenario import load_scenario_text

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "lowest-ou-id-tie-break.json"


def suppliers(blob: dict) -> list[int | None]:
    return [
        s["Supplier"]["ID"] if s["Supplier"] else None for s in blob["Fulfillments"][0]["Shipments"]
    ]


def test_only_whitelisted_ous_are_considered() -> None:
    scenario = load_scenario_text(SCENARIO.read_text(encoding="utf-8"))
    everyone = route(scenario).blob
    [winner] = suppliers(everyone)
    others = {u.id for u in scenario.organization_units} - {winner}

    limited = route(dataclasses.replace(scenario, candidate_units=frozenset(others))).blob
    [second] = suppliers(limited)
    assert second != winner and second in others
    mentioned = {s["SupplierID"] for s in limited["ValidSuppliers"]} | {
        r["SupplierID"] for r in limited["Rejections"]
    }
    assert winner not in mentioned  # not considered at all, so neither valid nor rejected


def test_an_empty_whitelist_leaves_nothing_to_fulfil() -> None:
    scenario = load_scenario_text(SCENARIO.read_text(encoding="utf-8"))
    blob = route(dataclasses.replace(scenario, candidate_units=frozenset())).blob
    assert blob["ValidSuppliers"] == []
    assert all(s["FulfillmentAction"] == "CANCEL" for s in blob["Fulfillments"][0]["Shipments"])
