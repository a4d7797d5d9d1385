"""The typed decision: what the domain stores, and the blob's account of it.

``route`` returns the propositions the search kept as frozen dataclasses (shipments,
lines with their products, scores, score explanations) and writes the blob's
``Fulfillments`` from them; the domain reads only the dataclasses. For every sheet
template of the generated worlds, and for return orders that are not orchestrated,
each dataclass says what its blob entry says.
"""

from dataclasses import replace
from typing import Any

import pytest

from orchestration.benchmarks import worlds
from orchestration.engine import route
from orchestration.engine.decision import CANCEL, Decision, Shipment
from orchestration.engine.model import RETURNS, OrganizationUnit


def as_blob(shipment: Shipment) -> dict[str, Any]:
    """The fields of a blob shipment that the typed one carries."""
    return {
        "FulfillmentAction": shipment.action,
        "Sheet": None
        if shipment.sheet_id is None
        else {"ID": shipment.sheet_id, "Name": shipment.sheet_name},
        "Supplier": None
        if shipment.supplier is None
        else {
            "ID": shipment.supplier.id,
            "Name": shipment.supplier.name,
            "BackendID": shipment.supplier.backend_id,
        },
        "OrderLines": [(line.order_line_id, line.quantity) for line in shipment.lines],
        "Data": dict(shipment.data),
        "FanoutSuppliers": [unit.id for unit in shipment.fanout],
        "Score": shipment.score,
    }


def from_blob(decision: Decision) -> list[dict[str, Any]]:
    return [
        {
            "FulfillmentAction": s["FulfillmentAction"],
            "Sheet": s["Sheet"],
            "Supplier": s["Supplier"],
            "OrderLines": [(line["ID"], line["Quantity"]) for line in s["OrderLines"]],
            "Data": s["Data"],
            "FanoutSuppliers": [unit["ID"] for unit in s["FanoutSuppliers"]],
            "Score": s["Score"],
        }
        for s in decision.blob["Fulfillments"][0]["Shipments"]
    ]


@pytest.mark.parametrize("seed", range(8))
def test_the_typed_shipments_say_what_the_blob_says(seed: int) -> None:
    decision = route(worlds.make_scenario(ous=120, lines=4, sheets=8, seed=seed))
    assert decision.shipments  # something is decided, so the comparison is not vacuous
    assert [as_blob(s) for s in decision.shipments] == from_blob(decision)
    assert decision.score == decision.blob["Fulfillments"][0]["Score"]


@pytest.mark.parametrize("seed", range(8))
def test_each_line_ships_the_products_the_blob_lists_or_the_ordered_one(seed: int) -> None:
    scenario = worlds.make_scenario(ous=120, lines=4, sheets=8, seed=seed)
    decision = route(scenario)
    ordered = {line.id: line.product for line in scenario.order.lines}
    for typed, entry in zip(
        decision.shipments, decision.blob["Fulfillments"][0]["Shipments"], strict=True
    ):
        for line, listed in zip(typed.lines, entry["OrderLines"], strict=True):
            if typed.action == CANCEL:
                assert line.products == ()
                continue
            expected = [(p["ID"], p["Quantity"]) for p in listed.get("Products", [])] or [
                (ordered[line.order_line_id], line.quantity)
            ]
            assert list(line.products) == expected
            assert sum(n for _product, n in line.products) == line.quantity


def test_what_nothing_can_fulfil_is_the_cancel_shipment_and_unfulfilled() -> None:
    scenario = worlds.make_scenario(ous=1, lines=2, sheets=1)  # only the sold-from company
    decision = route(scenario)
    assert [s.action for s in decision.shipments] == [CANCEL]
    assert decision.shipping == ()
    assert decision.unfulfilled == {line.id: line.quantity for line in scenario.order.lines}


def test_a_return_not_orchestrated_goes_whole_to_the_returns_unit() -> None:
    base = worlds.make_scenario(ous=1, lines=2, sheets=1)
    returns = OrganizationUnit(id=900, name="Returns", backend_id="RET", type="Warehouse")
    scenario = replace(
        base,
        order=replace(base.order, intent=RETURNS),
        organization_units=(*base.organization_units, returns),
        settings={"Returns:DefaultOrganizationUnitBackendID": "RET"},
    )
    decision = route(scenario)
    (shipment,) = decision.shipments
    assert shipment.action == "EXPORT_RETURN_ORDER"
    assert shipment.supplier is not None and shipment.supplier.id == 900
    assert [(line.order_line_id, line.quantity, line.products) for line in shipment.lines] == [
        (line.id, line.quantity, ((line.product, line.quantity),)) for line in scenario.order.lines
    ]
    assert [as_blob(s) for s in decision.shipments] == from_blob(decision)


@pytest.mark.parametrize("seed", range(4))
def test_the_blob_fulfillments_are_the_proposals_written_out(seed: int) -> None:
    decision = route(worlds.make_scenario(ous=150, lines=3, sheets=8, seed=seed))
    assert decision.blob["Fulfillments"] == [p.entry() for p in decision.proposals]
    assert len(decision.proposals) > 1  # runners-up kept, so more than the winner is typed
    for proposal in decision.proposals:
        assert proposal.explanation.score == proposal.score
        for shipment in proposal.shipments:
            assert shipment.explanation.score == shipment.score
            if not shipment.is_cancel:
                # Each line's explanations end at the part of its score this shipment carries.
                for line in shipment.lines:
                    assert line.explanations and line.explanations[-1].new_score == line.score
