"""The bounded-by-nothing search stays exact where lines may split over 20 warehouses.

With ``option AllowPartialFulfillment as true`` and no score, every proposition
that ships all units scores 0, so the winner is the one with the fewest shipments:
the smallest set of warehouses whose stock covers the order. Brute force over
combinations of warehouses (1, then 2, ...) finds that size on its own here; the
engine must find a cover of that size, exactly (``Search.Exact``), not hit the
proposition cap, and ship every unit from stock the warehouses hold.
"""

import itertools
import random
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from orchestration.engine import route, search
from orchestration.engine.model import (
    Address,
    Order,
    OrderLine,
    OrganizationUnit,
    Product,
    Scenario,
    SheetSource,
)

AT = datetime(2026, 11, 20, 10, tzinfo=UTC)
WAREHOUSES = 20
LINES = 5
SPLIT_SHEET = (
    "fulfillment Split\naction EXPORT_ORDER\noption AllowPartialFulfillment as true\n"
    "scope Supplier\nrequire [Supplier.Type] = 'Warehouse'\n"
    "data [ExporterName] as 'WAREHOUSE'\n"
)


def _instance(seed: int) -> Scenario:
    """20 warehouses, 5 lines of 1 to 3 units (products may repeat), scarce stock."""
    rng = random.Random(seed)  # test data, seeded
    units = tuple(
        OrganizationUnit(
            id=i,
            name=f"WH{i}",
            backend_id=f"wh{i}",
            type="Warehouse",
            address=Address(latitude=Decimal("52.3"), longitude=Decimal("4.9")),
        )
        for i in range(1, WAREHOUSES + 1)
    )
    products = tuple(Product(id=i, name=f"P{i}") for i in range(1, 7))
    lines = tuple(
        OrderLine(id=10 + i, product=rng.randint(1, 6), quantity=rng.randint(1, 3))
        for i in range(LINES)
    )
    stock = {}
    for unit in units:
        for product in products:
            quantity = rng.choice((0, 0, 0, 1, 2, 3))
            if quantity:
                stock[(unit.id, product.id)] = quantity
    return Scenario(
        at=AT,
        order=Order(id=1, lines=lines),
        organization_units=units,
        products=products,
        sheets=(SheetSource(id=1, name="Split", source=SPLIT_SHEET),),
        stock=stock,
        settings={"Orders:Default:AllowPartialFulfillment": True},
    )


def _fewest_warehouses(scenario: Scenario) -> int:
    """The size of the smallest set of warehouses whose stock covers every line."""
    wanted = Counter()
    for line in scenario.order.lines:
        wanted[line.product] += line.quantity
    ids = [unit.id for unit in scenario.organization_units]
    for size in range(1, len(ids) + 1):
        for chosen in itertools.combinations(ids, size):
            if all(
                sum(scenario.stock.get((unit, product), 0) for unit in chosen) >= quantity
                for product, quantity in wanted.items()
            ):
                return size
    raise AssertionError("no cover")  # the instances below are all coverable


SEEDS = [seed for seed in range(40) if 2 <= _fewest_warehouses(_instance(seed)) <= 4][:12]


def test_the_instances_need_two_to_four_warehouses() -> None:
    assert len(SEEDS) == 12
    assert {_fewest_warehouses(_instance(seed)) for seed in SEEDS} >= {2, 3}


@pytest.mark.parametrize("seed", SEEDS)
def test_split_lines_over_20_warehouses_go_to_the_fewest_that_cover_them(seed: int) -> None:
    scenario = _instance(seed)
    blob = route(scenario).blob

    assert blob["Search"]["Exact"] is True
    shipments = blob["Fulfillments"][0]["Shipments"]
    assert all(s["FulfillmentAction"] == "EXPORT_ORDER" for s in shipments)  # nothing cancelled
    assert len(shipments) == _fewest_warehouses(scenario)
    shipped: Counter[int] = Counter()
    taken: Counter[tuple[int, int]] = Counter()
    products = {line.id: line.product for line in scenario.order.lines}
    for shipment in shipments:
        for line in shipment["OrderLines"]:
            shipped[line["ID"]] += line["Quantity"]
            taken[(shipment["Supplier"]["ID"], products[line["ID"]])] += line["Quantity"]
    assert shipped == {line.id: line.quantity for line in scenario.order.lines}
    assert all(q <= scenario.stock.get(key, 0) for key, q in taken.items())


def test_a_line_spread_over_shipments_that_each_score_is_not_cut_short() -> None:
    # Found by the brute-force comparison while the bounds were written: a score
    # per shipment (Shipment scope) makes two shipments of one unit score 2, one of
    # two units 1. The units a spread has yet to place may open new shipments, so
    # the bound on a spread counts their Shipment scores too.
    shipment = (
        "scope Shipment\ndata TravelDistanceText as 'x'\ndata TravelTimeText as 'x'\n"
        "data TravelTimeInMinutes as 1\ndata TravelDistanceInKm as 1\n"
    )
    source = (
        "fulfillment Stores\naction SHIP_FROM_STORE\noption AllowPartialFulfillment as true\n"
        "scope Supplier\nrequire Supplier.Type = 'Shop'\n" + shipment + "score add 1\n"
    )
    units = tuple(
        OrganizationUnit(id=i, name=f"Shop {i}", backend_id=f"s{i}", type="Shop")
        for i in range(1, 4)
    )
    scenario = Scenario(
        at=AT,
        order=Order(id=1, lines=(OrderLine(id=10, product=1, quantity=2),)),
        organization_units=units,
        products=(Product(id=1, name="P1"),),
        sheets=(SheetSource(id=1, name="Stores", source=source),),
        stock={(1, 1): 2, (2, 1): 2, (3, 1): 1},
        settings={"Orders:Default:AllowPartialFulfillment": True},
    )
    blob = route(scenario).blob

    assert blob["Search"]["Exact"] is True
    shipments = blob["Fulfillments"][0]["Shipments"]
    assert [
        (s["Supplier"]["ID"], [(x["ID"], x["Quantity"]) for x in s["OrderLines"]])
        for s in shipments
    ] == [
        (1, [(10, 1)]),
        (2, [(10, 1)]),
    ]
    assert blob["Fulfillments"][0]["Score"] == 2


def test_where_no_score_bound_holds_a_long_order_still_stops_on_shipment_lines(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A Shipment score that reads the shipment's contents turns the score bound off
    # (it could grow with any line added): the search prunes by units only and
    # stops on ``MAX_SHIPMENT_LINES`` (made small here), as it did before the bounds.
    monkeypatch.setattr(search, "MAX_SHIPMENT_LINES", 2_000)
    source = (
        "fulfillment Stores\naction EXPORT_ORDER\noption AllowPartialFulfillment as true\n"
        "scope Supplier\ndata ExporterName as 'W'\n"
        "scope Shipment\nscore add 1 when TotalQuantity > 3\n"
    )
    units = tuple(OrganizationUnit(id=i, name=f"WH {i}", type="Warehouse") for i in (1, 2))
    lines = tuple(OrderLine(id=100 + i, product=1, quantity=1) for i in range(60))
    scenario = Scenario(
        at=AT,
        order=Order(id=1, lines=lines),
        organization_units=units,
        products=(Product(id=1, name="P1"),),
        sheets=(SheetSource(id=1, name="Stores", source=source),),
        stock={(1, 1): 60, (2, 1): 60},
        settings={"Orders:Default:AllowPartialFulfillment": True},
    )
    found = route(scenario).blob["Search"]

    assert found["Exact"] is False
    assert found["Bound"].startswith("stopped after ")
    assert found["Bound"].endswith(" shipment lines)")
