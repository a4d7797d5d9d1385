"""A Shipment scope runs once per candidate when it is the same for every shipment.

The search tries many shipments per OU. A Shipment scope none of whose statements
reads the shipment (its totals) gives the same outcome for each of them, so it runs
once per candidate (``search._same_for_every_shipment``); one that reads them runs
per shipment, as before. Both must decide exactly as running it per shipment does.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from orchestration.benchmarks import worlds
from orchestration.engine import route, search
from orchestration.engine.model import OrganizationUnit, Scenario, SheetSource
from orchestration.engine.plan import plan_for
from orchestration.engine.search import _same_for_every_shipment


def shops(source: str, quantity: int) -> Scenario:
    base = worlds.make_scenario(ous=1, lines=1, sheets=1)
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


# What a ship-from-store sheet's Shipment scope must set (``MissingRequiredData``).
SHIPMENT_DATA = """\
scope Shipment

data [TravelDistanceText] as '1 km'
data [TravelTimeText] as '4 minutes'
data [TravelTimeInMinutes] as 4
data [TravelDistanceInKm] as 1
"""


def shops_sheet(
    shipment: str, *, name: str = "Shops", partial: bool = True, lines: str = "", more: str = ""
) -> str:
    """A ship-from-store sheet over shops: an OrderLine scope's ``lines``, then the
    Shipment scope's data and its statements ``shipment``, then ``more`` scopes."""
    option = "option AllowPartialFulfillment as true\n\n" if partial else ""
    line_scope = f"scope OrderLine\n\n{lines}\n" if lines else ""
    return (
        f"fulfillment {name}\n\naction 'SHIP_FROM_STORE'\n\n{option}"
        "scope Supplier\n\nrequire [Supplier.Type] = 'Shop'\n\n"
        f"{line_scope}{SHIPMENT_DATA}\n{shipment}{more}"
    )


FANNED_OUT = shops_sheet(
    "with [extra] as 2\n\nscore add 5\n",
    partial=False,
    more="\nscope Fanout\n\nfanout as [extra]\n",
)
AT_MOST_TWO = shops_sheet(
    "require [TotalQuantity] <= 2 with reason 'TooBig', 'A shop ships at most 2 units'\n"
)
# every shipment a shop makes is worth 100: the more shops, the better
SPREAD = shops_sheet("score add 100\n")


def test_a_fan_out_reads_the_names_a_shipment_scope_run_once_per_candidate_sets() -> None:
    plan = plan_for(FANNED_OUT)
    assert _same_for_every_shipment(plan.blocks["Shipment"])
    (shipment,) = route(shops(FANNED_OUT, 1)).shipments
    assert shipment.supplier is not None and shipment.supplier.id == 1
    assert [unit.id for unit in shipment.fanout] == [2, 3]


def test_a_shipment_requirement_on_its_totals_is_judged_for_each_shipment() -> None:
    plan = plan_for(AT_MOST_TWO)
    assert not _same_for_every_shipment(plan.blocks["Shipment"])
    shipments = route(shops(AT_MOST_TWO, 3)).shipments
    assert [
        (s.supplier and s.supplier.id, [line.quantity for line in s.lines]) for s in shipments
    ] == [(1, [1]), (2, [2])]


def test_a_trimmed_search_proposes_each_unit_where_it_adds_most_before_its_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """30 shops (more than the exact search takes), two lines of 3 units, each shop
    holding 3 of both. The 4 best shops per line are combined; with a budget of one
    proposition after the singles, only the unit-by-unit proposal reaches the answer
    that ships from all 4 of them (400 from shipments) rather than from one (100)."""
    monkeypatch.setattr(search, "MAX_PROPOSITIONS_BOUNDED", 1)
    base = worlds.make_scenario(ous=1, lines=2, sheets=1)
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


def tiers(statement: str, shops: int) -> Scenario:
    """``shops`` shops: 1-10 can ship 3 units of the order, 11-20 two, the rest one."""
    base = worlds.make_scenario(ous=1, lines=2, sheets=1)
    first, second = base.order.lines
    first, second = replace(first, quantity=2), replace(second, quantity=1)
    units = tuple(
        OrganizationUnit(id=unit_id, name=f"Store {unit_id}", type="Shop")
        for unit_id in range(1, shops + 1)
    )
    stock = {}
    for unit in units:
        stock[(unit.id, first.product)] = 2 if unit.id <= 20 else 1
        if unit.id <= 10:
            stock[(unit.id, second.product)] = 1
    return replace(
        base,
        order=replace(base.order, lines=(first, second), allow_partial_fulfillment=True),
        organization_units=units,
        sheets=(SheetSource(id=1, name="Shops", source=shops_sheet(statement + "\n")),),
        stock=stock,
        settings={},
    )


def test_a_shipment_rejection_of_a_candidate_the_ranking_never_reaches_is_recorded() -> None:
    """30 candidates (the pool is trimmed): store 25, among the smallest, is ranked
    last, and still told why its shipment is refused."""
    blob = route(tiers("require [Supplier.ID] <> 25 with reason 'Banned', 'Not 25'", 30)).blob
    assert blob["Search"]["Bound"].startswith("30 candidates")
    shipments = [r for r in blob["Rejections"] if r["Scope"] == "Shipment"]
    assert [(r["SupplierID"], r["Reason"], r["Description"]) for r in shipments] == [
        (25, "Banned", "Not 25")
    ]


def test_a_shipment_error_of_a_candidate_the_ranking_never_reaches_leaves_it_out() -> None:
    """25 candidates: store 25's shipment divides by zero, so it is left out before
    the search, and the 24 left are searched exactly."""
    blob = route(tiers("score add 10 / ([Supplier.ID] - 25)", 25)).blob
    assert [(e["SupplierID"], e["Code"], e["Scope"]) for e in blob["Errors"]] == [
        (25, "DivisionByZero", "Shipment")
    ]
    assert blob["Search"] == {"Exact": True, "Propositions": 26, "Bound": None}
    assert 25 not in [s["SupplierID"] for s in blob["ValidSuppliers"]]


def test_shipment_rejections_are_recorded_in_the_order_of_the_candidates() -> None:
    scenario = tiers("require [Supplier.ID] = 3 with reason 'OnlyThree', 'Only 3'", 3)
    first = scenario.order.lines[0]
    scenario = replace(
        scenario,
        order=replace(scenario.order, lines=(first,)),
        stock={(1, first.product): 1, (2, first.product): 2, (3, first.product): 2},
    )
    blob = route(scenario).blob
    assert [(r["SupplierID"], r["Reason"]) for r in blob["Rejections"]] == [
        (1, "OnlyThree"),
        (2, "OnlyThree"),
    ]
    assert [s["Supplier"]["ID"] for s in blob["Fulfillments"][0]["Shipments"]] == [3]


def test_shares_of_lines_shipped_in_part_are_summed_exactly_whatever_their_sizes() -> None:
    """Two sheets at one shop ship half of two lines; one adds 1E-72 to a line whose
    other line scores 1E+168. Exactly, that one is better (by half of 1E-72)."""
    big = " * ".join(["1000000000000000000000000"] * 7)  # 1E+168
    tiny = " * ".join(["0.000000000000000000000001"] * 3)  # 1E-72

    def sheet(name: str, extra: str) -> str:
        return shops_sheet(
            "", name=name, lines=f"score add {big} when [OrderLine.ID] = 1\n{extra}\n"
        )

    base = worlds.make_scenario(ous=1, lines=2, sheets=1)
    first, second = base.order.lines
    first, second = replace(first, id=1, quantity=2), replace(second, id=2, quantity=2)
    shop = OrganizationUnit(id=7, name="Store 7", type="Shop")
    scenario = replace(
        base,
        order=replace(base.order, lines=(first, second), allow_partial_fulfillment=True),
        organization_units=(shop,),
        sheets=(
            SheetSource(id=1, name="Plain", source=sheet("Plain", "")),
            SheetSource(
                id=2, name="Tiny", source=sheet("Tiny", f"score add {tiny} when [OrderLine.ID] = 2")
            ),
        ),
        stock={(7, first.product): 1, (7, second.product): 1},
        settings={},
    )
    fulfillments = route(scenario).blob["Fulfillments"]
    assert [f["Shipments"][0]["Sheet"]["Name"] for f in fulfillments[:2]] == ["Tiny", "Plain"]


def no_greedy(monkeypatch: pytest.MonkeyPatch, scenario: Scenario) -> dict:
    """The blob without the unit-by-unit proposal."""
    with monkeypatch.context() as patch:
        patch.setattr(search.Search, "_greedy", lambda self, pool: None)
        return route(scenario).blob


def test_no_unit_by_unit_proposal_where_a_proposition_scope_could_fail_on_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A FulfillmentProposition scope that divides by zero for 7 shipments: proposing
    one would leave the whole ship-from-store sheet out (the winner falls from 399.99
    to 80); the search decides as it does without proposals."""
    scenario = worlds.make_scenario(ous=600, lines=8, sheets=2, seed=0)
    judged = "\nscope FulfillmentProposition\n\nscore add 1 / ([ShipmentCount] - 7)\n"
    scenario = replace(
        scenario,
        sheets=tuple(
            replace(sheet, source=sheet.source + judged) if sheet.name == "ShipFromStore" else sheet
            for sheet in scenario.sheets
        ),
    )
    blob = route(scenario).blob
    assert blob["Errors"] == []
    assert round(blob["Fulfillments"][0]["Score"], 2) == 399.99
    assert blob == no_greedy(monkeypatch, scenario)


def test_no_unit_by_unit_proposal_where_a_shipment_scope_reads_the_shipment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Warehouse shipments of exactly 2 units divide by zero: proposed shipments would
    drop warehouses the search keeps. The same suppliers fail as without proposals."""
    scenario = worlds.make_scenario(ous=200, lines=8, sheets=2, seed=1)
    failing = SHIPMENT_DATA + "score add 10 / ([Shipment.TotalQuantity] - 2)\n"
    scenario = replace(
        scenario,
        sheets=tuple(
            replace(sheet, source=sheet.source + "\n" + failing)
            if "scope Shipment" not in sheet.source
            else sheet
            for sheet in scenario.sheets
        ),
    )
    blob = route(scenario).blob
    assert len([e for e in blob["Errors"] if e["SupplierID"] is not None]) == 15
    assert blob == no_greedy(monkeypatch, scenario)
