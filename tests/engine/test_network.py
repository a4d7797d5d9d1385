"""Routes over the same network share its indexes, and decide as if they did not.

``engine.network`` keeps what depends on the OUs and products alone (indexes,
coordinates, OU-only values, groupings, which OUs a static filter lets through)
for the next route given the same tuples. These tests route one network many
times, with different orders and clocks, and require the blob a fresh network
gives; they also pin the two things that vary per route although they concern an
OU (its open ship-from-store tasks and the clock), and the garbage collector's
state around a route.
"""

from __future__ import annotations

import gc
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from orchestration.benchmarks import worlds
from orchestration.engine import evaluate, network, route, variables
from orchestration.engine.model import Address, OrganizationUnit, Scenario, SheetSource
from orchestration.engine.network import Network, network_of
from orchestration.engine.routes import Route


def fresh(scenario: Scenario, monkeypatch: pytest.MonkeyPatch) -> dict:
    """The blob of ``scenario`` routed over a network built for it alone."""
    with monkeypatch.context() as patch:
        patch.setattr(variables, "network_of", lambda s: Network(s.organization_units, s.products))
        return route(scenario).blob


def orders(scenario: Scenario) -> list[Scenario]:
    """The same network with other orders: elsewhere, later, smaller."""
    order = scenario.order
    far = Address(
        city="Antwerpen",
        country_id="BE",
        latitude=Decimal("51.2194"),
        longitude=Decimal("4.4025"),
    )
    return [
        scenario,
        replace(scenario, order=replace(order, id=2, shipping_address=far)),
        replace(scenario, at=scenario.at + timedelta(hours=13)),  # the shops close
        replace(scenario, order=replace(order, id=3, lines=order.lines[:1])),
    ]


@pytest.mark.parametrize("seed", range(3))
def test_routes_over_one_network_decide_as_over_fresh_ones(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = worlds.make_scenario(ous=200, lines=3, sheets=8, seed=seed)
    for scenario in orders(base) + orders(base):  # twice: the second round reads the cache
        assert route(scenario).blob == fresh(scenario, monkeypatch)
    assert network_of(base) is network_of(orders(base)[1])


def test_a_new_tuple_of_ous_is_a_new_network() -> None:
    """Edited OUs come as new tuples: nothing derived from the old ones is used."""
    scenario = worlds.make_scenario(ous=50, lines=2, sheets=4)
    before = network_of(scenario)
    renamed = tuple(
        replace(unit, name=unit.name + " (new)") for unit in scenario.organization_units
    )
    edited = replace(scenario, organization_units=renamed)
    assert network_of(edited) is not before
    assert network_of(edited).units[renamed[0].id].name.endswith("(new)")
    names = {r["SupplierName"] for r in route(edited).blob["Rejections"] if r["SupplierName"]}
    assert names and all(name.endswith("(new)") for name in names)


FILTERED = """\
fulfillment Filtered

action 'EXPORT_ORDER'

scope Supplier

require [Supplier.BackendID] contains 'IBE'

score add 1

data [ExporterName] as 'WMS'
"""


def shop(unit_id: int, backend_id: str | None) -> OrganizationUnit:
    return OrganizationUnit(id=unit_id, name=f"Store {unit_id}", backend_id=backend_id)


def filtered(units: tuple[OrganizationUnit, ...], source: str = FILTERED) -> Scenario:
    base = worlds.make_scenario(ous=1, lines=1, sheets=1)
    return replace(
        base,
        organization_units=units,
        sheets=(SheetSource(id=1, name="Filtered", source=source),),
        stock={(unit.id, base.order.lines[0].product): 9 for unit in units},
        settings={},
    )


def test_a_filter_on_the_ou_alone_lets_the_same_ous_through(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """40 OUs, a backend ID each (too varied to group): told once, then looked up."""
    kinds = ("IBE-{}", "WH-{}", None, "x-IBE-{}")
    units = tuple(
        shop(i, kinds[i % 4] and kinds[i % 4].format(i))  # type: ignore[union-attr]
        for i in range(1, 41)
    )
    scenario = filtered(units)
    through = [i for i in range(1, 41) if i % 4 in (0, 3)]
    for _ in range(2):
        blob = route(scenario).blob
        assert [s["SupplierID"] for s in blob["ValidSuppliers"]] == through
        assert blob["Rejections"] == []  # a plain require records nothing
        assert blob == fresh(scenario, monkeypatch)
    ((_step, passing),) = network_of(scenario).filters.values()
    assert passing == frozenset(through)


def test_a_filter_failing_for_one_ou_rejects_that_ou_alone_as_when_run_one_by_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A type clash in one OU's value: that OU is rejected with the same error, grouped or not."""
    source = FILTERED.replace(
        "[Supplier.BackendID] contains 'IBE'", "[Supplier.CustomFields.N] > 2"
    )
    units = (
        replace(shop(1, "A"), custom_fields={"N": 5}),
        replace(shop(2, "B"), custom_fields={"N": "five"}),
    )
    scenario = filtered(units, source)
    blob = route(scenario).blob
    assert blob == fresh(scenario, monkeypatch)
    assert [(e["Sheet"], e["SupplierID"], e["Line"]) for e in blob["Errors"]] == [
        ("Filtered", 2, 7)
    ]
    assert [c["SupplierID"] for c in blob["ValidSuppliers"]] == [1]


def test_open_tasks_are_read_per_route_not_with_the_network() -> None:
    source = FILTERED.replace(
        "[Supplier.BackendID] contains 'IBE'", "[Supplier.ActiveShipFromStoreTasks] < 3"
    )
    units = (replace(shop(1, "A"), active_ship_from_store_tasks=5), shop(2, "B"))
    scenario = filtered(units, source)
    assert [s["SupplierID"] for s in route(scenario).blob["ValidSuppliers"]] == [2]
    counted = replace(scenario, active_tasks={1: 0, 2: 7})
    assert [s["SupplierID"] for s in route(counted).blob["ValidSuppliers"]] == [1]
    busy = replace(scenario, active_tasks={1: 2, 2: 2})
    assert [s["SupplierID"] for s in route(busy).blob["ValidSuppliers"]] == [1, 2]


class Watching:
    """A route provider that notes whether the garbage collector runs meanwhile."""

    def __init__(self) -> None:
        self.seen: list[bool] = []

    def route(self, origin: Address, destination: Address) -> Route | None:
        self.seen.append(gc.isenabled())
        return Route(Decimal("1.000"), 4)


@pytest.mark.parametrize("enabled", [True, False])
def test_the_garbage_collector_pauses_during_a_route_and_comes_back_as_it_was(
    enabled: bool,
) -> None:
    scenario = worlds.make_scenario(ous=30, lines=2, sheets=4)
    provider = Watching()
    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        route(scenario, route_provider=provider)
        assert gc.isenabled() is enabled
    finally:
        gc.enable() if was else gc.disable()
    assert provider.seen and not any(provider.seen)


def test_only_the_last_few_networks_are_kept() -> None:
    scenarios = [worlds.make_scenario(ous=5, lines=1, sheets=1, seed=seed) for seed in range(6)]
    for scenario in scenarios:
        network_of(scenario)
    kept = {id(n.unit_tuple) for n in network._networks.values()}
    assert len(network._networks) == network.KEEP
    assert id(scenarios[-1].organization_units) in kept
    assert id(scenarios[0].organization_units) not in kept


DESCRIBED = """\
fulfillment {name}

action 'EXPORT_ORDER'

scope Supplier

require [Supplier.Type] = 'Warehouse' with reason 'NotAWarehouse', {text}

data [ExporterName] as 'WMS'
"""


def described(text: str) -> Scenario:
    units = (
        OrganizationUnit(id=1, name="Depot", type="Warehouse"),
        OrganizationUnit(id=2, name="Store Delft", type="Shop"),
        OrganizationUnit(id=3, name="Store Gouda", type="Shop"),
    )
    scenario = filtered(units)
    return replace(
        scenario,
        sheets=(
            SheetSource(
                id=1, name="Described", source=DESCRIBED.format(name="Described", text=text)
            ),
        ),
    )


def descriptions(scenario: Scenario) -> list[tuple[int, str]]:
    return [(r["SupplierID"], r["Description"]) for r in route(scenario).blob["Rejections"]]


def test_a_description_of_the_ou_alone_is_written_once_per_network_and_follows_a_renamed_ou() -> (
    None
):
    scenario = described("$'{[Supplier.Name]} is not a warehouse'")
    expected = [(2, "Store Delft is not a warehouse"), (3, "Store Gouda is not a warehouse")]
    assert descriptions(scenario) == expected
    assert descriptions(scenario) == expected  # the second route reads the network's texts
    (texts,) = [texts for _step, texts in network_of(scenario).texts.values()]
    assert texts == {2: "Store Delft is not a warehouse", 3: "Store Gouda is not a warehouse"}
    renamed = replace(
        scenario,
        organization_units=tuple(
            replace(unit, name=unit.name.replace("Store", "Shop"))
            for unit in scenario.organization_units
        ),
    )
    assert descriptions(renamed) == [
        (2, "Shop Delft is not a warehouse"),
        (3, "Shop Gouda is not a warehouse"),
    ]


def test_a_description_that_also_reads_the_order_is_written_again_for_each_order() -> None:
    scenario = described("$'{[Supplier.Name]} cannot ship to {[Order.ShippingAddress.City]}'")
    elsewhere = replace(
        scenario,
        order=replace(
            scenario.order,
            id=2,
            shipping_address=replace(scenario.order.shipping_address, city="Utrecht"),
        ),
    )
    city = scenario.order.shipping_address.city
    assert city != "Utrecht"
    assert descriptions(scenario) == [
        (2, f"Store Delft cannot ship to {city}"),
        (3, f"Store Gouda cannot ship to {city}"),
    ]
    assert descriptions(elsewhere) == [
        (2, "Store Delft cannot ship to Utrecht"),
        (3, "Store Gouda cannot ship to Utrecht"),
    ]
    assert network_of(scenario) is network_of(elsewhere)
    assert not any(texts for _step, texts in network_of(scenario).texts.values())


NO_STOCK = """\
fulfillment Described

action 'EXPORT_ORDER'

scope Supplier

data [ExporterName] as 'WMS'

scope OrderLine

require [SupplierQuantityAvailable] >= [OrderLine.QuantityOrdered] with reason 'NoStock', \
$'{[Supplier.Name]} only has {[SupplierQuantityAvailable]}'
"""


def test_a_stock_description_kept_with_the_network_says_the_stock_of_each_order() -> None:
    """Texts are kept by (OU, stock): the same OU with other stock is told its own."""
    units = tuple(
        OrganizationUnit(id=unit_id, name=f"Store {unit_id}", type="Warehouse")
        for unit_id in range(1, 8)
    )
    empty = filtered(units, NO_STOCK)
    line = empty.order.lines[0]
    empty = replace(
        empty,
        order=replace(empty.order, lines=(replace(line, quantity=3),)),
        stock={(1, line.product): 3},
    )
    nothing = [(unit_id, f"Store {unit_id} only has 0") for unit_id in range(2, 8)]
    assert descriptions(empty) == nothing
    some = replace(
        empty,
        stock={(1, line.product): 3}
        | {(unit_id, line.product): unit_id // 2 - 1 for unit_id in range(2, 8)},
    )
    assert descriptions(some) == [
        (2, "Store 2 only has 0"),
        (3, "Store 3 only has 0"),
        (4, "Store 4 only has 1"),
        (5, "Store 5 only has 1"),
        (6, "Store 6 only has 2"),
        (7, "Store 7 only has 2"),
    ]
    assert descriptions(empty) == nothing
    (texts,) = [texts for _step, texts in network_of(empty).texts.values() if texts]
    assert texts[(5, 1)] == "Store 5 only has 1"
    assert texts[(5, 0)] == "Store 5 only has 0"


def test_kept_descriptions_stop_at_their_limit_and_are_written_per_order_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A long-lived snapshot keeps at most ``TEXTS_KEPT`` texts per statement."""
    monkeypatch.setattr(evaluate, "TEXTS_KEPT", 2)
    scenario = described("$'{[Supplier.Name]} is not a warehouse'")
    units = scenario.organization_units + tuple(
        OrganizationUnit(id=unit_id, name=f"Store {unit_id}", type="Shop") for unit_id in (4, 5)
    )
    scenario = replace(scenario, organization_units=units)
    expected = [
        (unit_id, units[unit_id - 1].name + " is not a warehouse") for unit_id in (2, 3, 4, 5)
    ]
    assert descriptions(scenario) == expected
    assert descriptions(scenario) == expected
    (texts,) = [texts for _step, texts in network_of(scenario).texts.values()]
    assert texts == {2: "Store Delft is not a warehouse", 3: "Store Gouda is not a warehouse"}


def test_filters_one_after_another_drop_each_ou_by_the_first_it_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two plain filters of OU-alone values after the grouped statements: each is told
    by a set once per network, and an OU is dropped by the first one it fails, as when
    every OU runs them one by one."""
    source = FILTERED.replace(
        "require [Supplier.BackendID] contains 'IBE'\n",
        "require [Supplier.BackendID] contains 'IBE'\n\nrequire [Supplier.CountryID] = 'NL'\n",
    )
    kinds = ("IBE-{}", "WH-{}", None, "x-IBE-{}")
    units = tuple(
        replace(
            shop(i, kinds[i % 4] and kinds[i % 4].format(i)),  # type: ignore[union-attr]
            country_id="NL" if i % 3 else "BE",
        )
        for i in range(1, 41)
    )
    scenario = filtered(units, source)
    blob = route(scenario).blob
    ibe = [i for i in range(1, 41) if i % 4 in (0, 3)]
    assert [s["SupplierID"] for s in blob["ValidSuppliers"]] == [i for i in ibe if i % 3]
    statements = [s["Expression"].strip() for s in blob["Dropped"]["Statements"]]
    assert statements == [
        "require [Supplier.BackendID] contains 'IBE'",
        "require [Supplier.CountryID] = 'NL'",
    ]
    by_statement = [
        [row[0] for row in blob["Dropped"]["Suppliers"] if row[1] == position]
        for position in range(2)
    ]
    assert by_statement == [
        [i for i in range(1, 41) if i not in ibe],
        [i for i in ibe if not i % 3],
    ]
    assert blob == fresh(scenario, monkeypatch)
    with monkeypatch.context() as patch:
        patch.setattr(evaluate, "_static_filter", lambda world, step, base: None)
        assert route(scenario).blob == blob  # run per OU: the same drops, in the same order
