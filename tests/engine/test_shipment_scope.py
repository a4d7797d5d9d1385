"""A Shipment scope runs once per candidate when it is the same for every shipment.

The search tries many shipments per OU. A Shipment scope none of whose statements
reads the shipment (its totals) gives the same outcome for each of them, so it runs
once per candidate (``search._same_for_every_shipment``); one that reads them runs
per shipment, as before. Both must decide exactly as running it per shipment does.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from orchestration.engine import bench, route, search
from orchestration.engine.model import OrganizationUnit, Scenario, SheetSource
from orchestration.engine.plan import plan_for
from orchestration.engine.search import _same_for_every_shipment


def shops(source: str, quantity: int) -> Scenario:
    base = bench.make_scenario(ous=1, lines=1, sheets=1)
    units = tuple(
        OrganizationUnit(id=unit_id, name=f"Store {unit_id}", type="Shop")
        for unit_id in range(1, 5)
    )
    line = replace(base.order.lines[0], quantity=quantity)
    return replace(
        base,
        order=replace(base.order, lines=(line,), allow_partial_fulfillment=True),
        organization_units=units,
        sheets=(SheetSource(id=1, name="Shops", source=source),),
        stock={(unit.id, line.product): 9 for unit in units},
        settings={},
    )


FANNED_OUT = """\
fulfillment Shops

action 'SHIP_FROM_STORE'

scope Supplier

require [Supplier.Type] = 'Shop'

scope Shipment

data [TravelDistanceText] as '1 km'
data [TravelTimeText] as '4 minutes'
data [TravelTimeInMinutes] as 4
data [TravelDistanceInKm] as 1

with [extra] as 2

score add 5

scope Fanout

fanout as [extra]
"""


def test_a_fan_out_reads_the_names_a_shipment_scope_run_once_per_candidate_sets() -> None:
    plan = plan_for(FANNED_OUT)
    assert _same_for_every_shipment(plan.blocks["Shipment"])
    (shipment,) = route(shops(FANNED_OUT, 1)).shipments
    assert shipment["Supplier"]["ID"] == 1
    assert [unit["ID"] for unit in shipment["FanoutSuppliers"]] == [2, 3]


AT_MOST_TWO = """\
fulfillment Shops

action 'SHIP_FROM_STORE'

option AllowPartialFulfillment as true

scope Supplier

require [Supplier.Type] = 'Shop'

scope Shipment

data [TravelDistanceText] as '1 km'
data [TravelTimeText] as '4 minutes'
data [TravelTimeInMinutes] as 4
data [TravelDistanceInKm] as 1

require [TotalQuantity] <= 2 with reason 'TooBig', 'A shop ships at most 2 units'
"""


def test_a_shipment_requirement_on_its_totals_is_judged_for_each_shipment() -> None:
    plan = plan_for(AT_MOST_TWO)
    assert not _same_for_every_shipment(plan.blocks["Shipment"])
    shipments = route(shops(AT_MOST_TWO, 3)).shipments
    assert [
        (s["Supplier"]["ID"], [line["Quantity"] for line in s["OrderLines"]]) for s in shipments
    ] == [(1, [1]), (2, [2])]


SPREAD = """\
fulfillment Shops

action 'SHIP_FROM_STORE'

option AllowPartialFulfillment as true

scope Supplier

require [Supplier.Type] = 'Shop'

scope Shipment

data [TravelDistanceText] as '1 km'
data [TravelTimeText] as '4 minutes'
data [TravelTimeInMinutes] as 4
data [TravelDistanceInKm] as 1

# every shipment a shop makes is worth 100: the more shops, the better
score add 100
"""


def test_a_trimmed_search_proposes_each_unit_where_it_adds_most_before_its_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """30 shops (more than the exact search takes), two lines of 3 units, each shop
    holding 3 of both. The 4 best shops per line are combined; with a budget of one
    proposition after the singles, only the unit-by-unit proposal reaches the answer
    that ships from all 4 of them (400 from shipments) rather than from one (100)."""
    monkeypatch.setattr(search, "MAX_PROPOSITIONS_BOUNDED", 1)
    base = bench.make_scenario(ous=1, lines=2, sheets=1)
    units = tuple(
        OrganizationUnit(id=unit_id, name=f"Store {unit_id}", type="Shop")
        for unit_id in range(1, 31)
    )
    lines = tuple(replace(line, quantity=3) for line in base.order.lines)
    scenario = replace(
        base,
        order=replace(base.order, lines=lines, allow_partial_fulfillment=True),
        organization_units=units,
        sheets=(SheetSource(id=1, name="Shops", source=SPREAD),),
        stock={(unit.id, line.product): 3 for unit in units for line in lines},
        settings={},
    )
    blob = route(scenario).blob
    assert blob["Search"]["Exact"] is False
    winner = blob["Fulfillments"][0]
    assert winner["Score"] == 400
    assert [
        (s["Supplier"]["ID"], [(line["ID"], line["Quantity"]) for line in s["OrderLines"]])
        for s in winner["Shipments"]
    ] == [
        (1, [(lines[0].id, 1), (lines[1].id, 2)]),  # ties go to the lowest ID
        (2, [(lines[0].id, 1)]),
        (3, [(lines[0].id, 1)]),
        (4, [(lines[1].id, 1)]),
    ]
    assert [f["Score"] for f in blob["Fulfillments"][1:]] == [100] * 4  # the singles
