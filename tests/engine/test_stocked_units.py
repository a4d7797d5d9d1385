"""A sales order routed over only the OUs with its products in stock decides the same.

An orchestration run gives the engine, as ``candidate_units``, only the OUs with
available stock of a line's product or of one of its replacements
(``engine.stocked_units``; ``selectors.scenario.order_scenario(stocked_only=True)``).
No other OU can be a candidate of a sales order, so the decision, the valid
suppliers and the search must be those of a route over every OU; the explanation
keeps every rejection of the OUs considered, and leaves out the others. These tests
route generated worlds both ways, and pin that the two ways the engine gathers a
short list of candidates (sorted into the network's order, or filtered from every
OU; each candidate's latitude against the distance band, or the band's OUs looked
up) give the same blob.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from orchestration.benchmarks import worlds
from orchestration.engine import nearby, route, stocked_units, variables
from orchestration.engine.model import RETURNS, Scenario


def thinned(scenario: Scenario, keep_every: int) -> Scenario:
    """``scenario`` with stock only at every ``keep_every``-th OU (a national network:
    most OUs hold none of an order's few products)."""
    stock = {
        (unit_id, product_id): quantity if unit_id % keep_every == 0 else 0
        for (unit_id, product_id), quantity in scenario.stock.items()
    }
    return replace(scenario, stock=stock)


def supplier_of(entry: dict[str, Any]) -> Any:
    return entry.get("SupplierID")


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("sheets", [4, 8])
def test_a_sales_order_routed_over_its_stocked_ous_only_decides_the_same(
    seed: int, sheets: int
) -> None:
    scenario = thinned(worlds.make_scenario(ous=300, lines=3, sheets=sheets, seed=seed), 7)
    stocked = stocked_units(scenario)
    assert stocked is not None
    assert 0 < len(stocked) < len(scenario.organization_units) // 5

    everyone = route(scenario)
    pruned = route(replace(scenario, candidate_units=stocked))

    assert pruned.shipments == everyone.shipments
    for key in ("Fulfillments", "OrderLines", "ValidSuppliers", "Search", "At"):
        assert pruned.blob[key] == everyone.blob[key], key
    # Every rejection and error of the OUs considered, in the same order; none of the others.
    for key in ("Rejections", "Errors"):
        assert pruned.blob[key] == [
            entry
            for entry in everyone.blob[key]
            if supplier_of(entry) is None or supplier_of(entry) in stocked
        ], key
    assert len(pruned.blob["Rejections"]) < len(everyone.blob["Rejections"])


def test_the_stocked_ous_count_a_replacement_in_stock_and_nothing_else() -> None:
    scenario = worlds.make_scenario(ous=30, lines=3, sheets=4, seed=1)
    products = {product.id: product for product in scenario.products}
    line = scenario.order.lines[0]
    replacement = next(
        r for line in scenario.order.lines for r in products[line.product].replacements
    )
    unrelated = max(products)
    assert unrelated not in {line.product for line in scenario.order.lines}
    stock = {
        (5, line.product): 2,  # the line's own product
        (6, replacement): 1,  # a replacement of a line's product
        (7, unrelated): 9,  # a product no line wants
        (8, line.product): 0,  # none available
    }
    if unrelated in {r for p in products.values() for r in p.replacements}:
        stock.pop((7, unrelated))
    assert stocked_units(replace(scenario, stock=stock)) == {5, 6}


def test_a_return_is_not_limited_to_the_ous_with_stock() -> None:
    scenario = worlds.make_scenario(ous=30, lines=2, sheets=4, seed=0)
    returned = replace(scenario, order=replace(scenario.order, intent=RETURNS))
    assert stocked_units(returned) is None


@pytest.mark.parametrize("few", [0, 10**9])
@pytest.mark.parametrize("walk", [0, 10**9])
@pytest.mark.parametrize("seed", range(3))
def test_a_short_list_of_candidates_routes_the_same_however_it_is_gathered(
    few: int, walk: int, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario = thinned(worlds.make_scenario(ous=400, lines=3, sheets=8, seed=seed), 9)
    # The tuple out of ID order: the candidates keep the network's order, not the IDs'.
    units = scenario.organization_units
    scenario = replace(scenario, organization_units=units[::2] + units[1::2])
    short = replace(scenario, candidate_units=stocked_units(scenario))
    expected = route(short).blob
    with monkeypatch.context() as patch:
        patch.setattr(variables, "FEW_CANDIDATES", few)
        patch.setattr(nearby, "WALK_CANDIDATES", walk)
        assert route(short).blob == expected
