"""``bench allocation``: 20 warehouses, 50 products, small orders, three sheets.

Timings are never asserted (the host's speed varies): the world's shape, that
every quick route is exact, and the table's shape are.
"""

import re
from collections import Counter
from io import StringIO

from django.core.management import call_command

from orchestration.benchmarks import allocation as bench
from orchestration.engine import route
from orchestration.language.checker import analyze


def test_the_world_is_seeded_and_has_the_shape_the_issue_asks() -> None:
    world = bench.make_world()

    assert world == bench.make_world()
    assert world != bench.make_world(seed=bench.SEED + 1)
    assert len(world.units) == 20
    assert {unit.type for unit in world.units} == {"Warehouse"}
    assert all(unit.address.latitude and unit.address.longitude for unit in world.units)
    assert len(world.products) == 50
    assert len(world.stock) == 20 * 50
    assert set(world.stock.values()) == set(range(13))
    assert len(world.orders) == 200
    assert Counter(len(order.lines) for order in world.orders) == {3: 200}
    quantities = {line.quantity for order in world.orders for line in order.lines}
    assert quantities == {1, 2, 3}


def test_the_three_sheets_check_clean_and_differ_in_how_lines_may_go() -> None:
    assert [name for name, _source in bench.SHEETS] == ["single", "whole", "split"]
    options = []
    for _name, source in bench.SHEETS:
        analysis = analyze(source)
        assert analysis.diagnostics == ()
        options.append(
            (
                "AllowPartialFulfillment as true" in source,
                "DisableLineSplitting as true" in source,
            )
        )
    assert options == [(False, False), (True, True), (True, False)]


def test_the_split_sheet_splits_a_line_no_warehouse_holds_whole() -> None:
    """Some order of the world needs a line split: the split sheet ships it, exactly."""
    world = bench.make_world()
    for order in world.orders:
        blob = route(bench.scenario(world, order, "split")).blob
        holders: Counter[int] = Counter(
            line["ID"]
            for shipment in blob["Fulfillments"][0]["Shipments"]
            if shipment["FulfillmentAction"] != "CANCEL"
            for line in shipment["OrderLines"]
        )
        if any(count > 1 for count in holders.values()):
            assert blob["Search"]["Exact"] is True
            return
    raise AssertionError("no order of the world had a line split")


def test_bench_allocation_quick_prints_a_row_per_sheet_every_route_exact() -> None:
    out = StringIO()

    call_command("bench", "allocation", "--quick", stdout=out)

    lines = out.getvalue().splitlines()
    assert lines[0] == ("route() per order, 5 orders of 3 lines, 20 warehouses, 50 products")
    assert lines[1].split() == ["sheet", "median", "p95", "exact", "shipments", "cpu", "median"]
    pattern = re.compile(r"(\w+)\s+[\d.]+ ms\s+[\d.]+ ms\s+(\d+)%\s+([\d.]+)\s+[\d.]+ ms")
    rows = [pattern.fullmatch(line) for line in lines[2:5]]
    assert all(rows), lines[2:5]
    assert [row[1] for row in rows] == ["single", "whole", "split"]
    assert [row[2] for row in rows] == ["100", "100", "100"]  # every route exact
    assert all(float(row[3]) >= 1 for row in rows)  # each ships something per order
    verdict = lines[5:]
    assert [line.split(None, 1)[1] for line in verdict][:2] == [
        "every route exact",
        "at most 3 ms per order (median) for each sheet",
    ]
    assert verdict[0].split()[0] == "met"
    assert verdict[2].split(None, 1)[1].startswith("split within 1.5x single")
