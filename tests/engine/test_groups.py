"""Statements run once for many OUs decide exactly as when run per OU.

``evaluate.supplier_groups`` runs the Supplier scope's leading statements (those
reading only the order, names and cheap supplier values) once per group of OUs
sharing those values; a first plain ``require`` after them is tried per OU before
the OU's values are built; and ``evaluate.LineOutcomes`` shares the OrderLine scope's
outcome between (OU, line) pairs that read the same. These tests route the same
scenarios with both and with everything run one by one, and require identical
blobs: the same winner, the same explanations, the same rejections in the same
order, descriptions naming each OU included.
"""

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from orchestration.benchmarks import worlds
from orchestration.engine import evaluate, route, variables
from orchestration.engine.model import (
    Address,
    Order,
    OrderLine,
    OrganizationUnit,
    Product,
    Scenario,
    SheetSource,
)
from orchestration.engine.network import Network
from orchestration.engine.plan import Outcome, Values
from orchestration.engine.scenario import load_scenario_text
from tests.sources import OWN_SCENARIOS

SCENARIOS = sorted(OWN_SCENARIOS.glob("*.json"))


def one_by_one(world: evaluate.World, run: evaluate.SheetRun) -> evaluate.Groups:
    """No grouping: every OU starts the Supplier scope from its first statement."""
    group = evaluate.Group(set(world.units), Values(resolve=run.values.__getitem__))
    return evaluate.Groups(0, dict.fromkeys(world.units, group), {})


def run_for_the_pair(
    self: evaluate.LineOutcomes,
    line: OrderLine,
    stock: int,
    rejected: bool,
    supplier: Values,
    unit_id: int,
) -> Outcome:
    """``LineOutcomes.outcome`` without sharing: the scope run for every pair."""
    return self.run(line, stock, rejected, supplier)


def both_ways(scenario: Scenario, monkeypatch: pytest.MonkeyPatch) -> tuple[dict, dict]:
    grouped = route(scenario).blob
    with monkeypatch.context() as patch:
        # Nothing from the network cache either: a new network for each route.
        patch.setattr(variables, "network_of", lambda s: Network(s.organization_units, s.products))
        patch.setattr(evaluate, "supplier_groups", one_by_one)
        patch.setattr(evaluate.LineOutcomes, "outcome", run_for_the_pair)
        patch.setattr(evaluate, "_silent_filter", lambda steps: None)
        single = route(scenario).blob
    return grouped, single


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda path: path.stem)
def test_scenarios_decide_the_same_grouped_or_one_by_one(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario = load_scenario_text(path.read_text(encoding="utf-8"))
    grouped, single = both_ways(scenario, monkeypatch)
    assert grouped == single


@pytest.mark.parametrize("seed", range(6))
def test_generated_worlds_decide_the_same_grouped_or_one_by_one(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bench worlds: every sheet template, shops rejected with per-OU descriptions."""
    scenario = worlds.make_scenario(ous=150, lines=3, sheets=8, seed=seed)
    grouped, single = both_ways(scenario, monkeypatch)
    assert grouped == single
    assert any(r["Reason"] == "NotAShop" for r in grouped["Rejections"])


def unit(unit_id: int, flag: object, type_: str = "Shop") -> OrganizationUnit:
    return OrganizationUnit(
        id=unit_id,
        name=f"Store {unit_id}",
        backend_id=f"S{unit_id}",
        type=type_,
        country_id="NL",
        time_zone="Europe/Amsterdam",
        address=Address(latitude=Decimal("52.1"), longitude=Decimal(f"4.{unit_id}")),
        custom_fields={"Flag": flag},
    )


SHEET = """\
fulfillment Flags

action 'EXPORT_ORDER'

scope Supplier

require [Supplier.Type] = 'Shop' with reason 'NotAShop', $'{[Supplier.Name]} is no shop'

with [label] as $'flag {[Supplier.CustomFields.Flag]}'

data [Label] as [label]

data [ExporterName] as 'ARVATO'

require [Supplier.CustomFields.Flag] = true with reason 'NoFlag', $'{[label]}'

score add 5 when [Supplier.CustomFields.Flag] = true

with [far] as [Supplier.DistanceToShippingAddressInKm] > 50

scope OrderLine

score add 3 when [far]

with [need] as [OrderLine.QuantityOrdered]

require [SupplierQuantityAvailable] >= 1 with reason 'NoStock', \
$'{[Supplier.Name]} has none'

require [SupplierQuantityAvailable] >= [need] with reason 'Short', \
$'{[Supplier.Name]} has {[SupplierQuantityAvailable]} of {[need]}'
"""


def flags_scenario(flags: list[object]) -> Scenario:
    shops = [unit(i + 1, flag) for i, flag in enumerate(flags)]
    units = (*shops, unit(len(flags) + 1, True, type_="Warehouse"))
    return Scenario(
        at=worlds.AT,
        order=Order(
            id=1,
            lines=(OrderLine(id=1, product=1, quantity=1),),
            shipping_address=Address(latitude=Decimal("52.37"), longitude=Decimal("4.89")),
        ),
        organization_units=units,
        products=(Product(id=1),),
        sheets=(SheetSource(id=1, name="Flags", source=SHEET),),
        stock={(u.id, 1): 1 for u in units},
    )


def test_equal_values_of_another_type_are_not_one_group(monkeypatch: pytest.MonkeyPatch) -> None:
    """True and 1 (and 1 and 1.0) are equal in Python but not in a sheet: not one group."""
    scenario = flags_scenario([True, 1, Decimal("1.0"), Decimal("1"), "true", None, True])
    grouped, single = both_ways(scenario, monkeypatch)
    assert grouped == single

    reasons = {(r["SupplierID"], r["Reason"], r["Description"]) for r in grouped["Rejections"]}
    assert reasons == {
        (2, "NoFlag", "flag 1"),
        (3, "NoFlag", "flag 1.0"),
        (4, "NoFlag", "flag 1"),
        (5, "NoFlag", "flag true"),
        (6, "NoFlag", "flag "),
        (8, "NotAShop", "Store 8 is no shop"),
    }
    assert sorted(s["SupplierID"] for s in grouped["ValidSuppliers"]) == [1, 7]
    winner = grouped["Fulfillments"][0]["Shipments"][0]
    assert winner["Supplier"]["ID"] == 1  # equal scores: the lowest ID
    assert winner["Data"]["Label"] == "flag true"


def test_a_sheet_without_grouping_statements_still_routes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A first statement that reads a distance: nothing is grouped, the outcome is the same."""
    scenario = flags_scenario([True, True])
    sheet = scenario.sheets[0]
    source = sheet.source.replace(
        "scope Supplier\n",
        "scope Supplier\n\nrequire [Supplier.DistanceToShippingAddressInKm] < 100\n",
    )
    scenario = replace(scenario, sheets=(replace(sheet, source=source),))
    grouped, single = both_ways(scenario, monkeypatch)
    assert grouped == single
    assert sorted(s["SupplierID"] for s in grouped["ValidSuppliers"]) == [1, 2]


def test_shared_line_outcomes_describe_each_ou(monkeypatch: pytest.MonkeyPatch) -> None:
    """Twelve shops in four stock levels: each rejection names its own shop and stock."""
    scenario = flags_scenario([True] * 12)
    stock = {(unit_id, 1): (unit_id - 1) % 4 for unit_id in range(1, 14)}
    line = replace(scenario.order.lines[0], quantity=2)
    scenario = replace(scenario, stock=stock, order=replace(scenario.order, lines=(line,)))
    grouped, single = both_ways(scenario, monkeypatch)
    assert grouped == single

    reasons = [
        (r["SupplierID"], r["Reason"], r["Description"])
        for r in grouped["Rejections"]
        if r["Scope"] == "OrderLine"
    ]
    assert reasons == [
        (1, "NoStock", "Store 1 has none"),
        (2, "Short", "Store 2 has 1 of 2"),
        (5, "NoStock", "Store 5 has none"),
        (6, "Short", "Store 6 has 1 of 2"),
        (9, "NoStock", "Store 9 has none"),
        (10, "Short", "Store 10 has 1 of 2"),
    ]
    valid = {s["SupplierID"]: s["Score"] for s in grouped["ValidSuppliers"]}
    # 5 for the flag, 3 more on the line for the shops further than 50 km (a name
    # the Supplier scope sets per OU: pairs of different OUs do not share it).
    assert valid == {3: 8.0, 4: 5.0, 7: 5.0, 8: 5.0, 11: 8.0, 12: 8.0}
