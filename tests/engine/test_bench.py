"""The engine benchmark: a deterministic, realistic world whose sheets pass the checker.

Timings are never asserted: ``bench engine --quick`` only has to run and print
its table with one row per configuration.
"""

import re
from collections import Counter
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from orchestration.benchmarks import engine as bench
from orchestration.benchmarks import worlds
from orchestration.engine import route
from orchestration.language.checker import analyze


def test_same_seed_gives_an_equal_scenario() -> None:
    """The generator is deterministic: same arguments, equal scenario; another seed differs."""
    first = worlds.make_scenario(ous=60, lines=4, sheets=8, seed=3)
    again = worlds.make_scenario(ous=60, lines=4, sheets=8, seed=3)
    other = worlds.make_scenario(ous=60, lines=4, sheets=8, seed=4)

    assert first == again
    assert first != other


def test_world_has_the_requested_size_and_shape() -> None:
    """OUs mostly shops and warehouses in NL/BE, one product per line plus some, 60 % no stock."""
    scenario = worlds.make_scenario(ous=1_000, lines=5, sheets=4)

    units = scenario.organization_units
    assert len(units) == 1_000
    assert len({unit.id for unit in units}) == 1_000
    types = Counter(unit.type for unit in units)
    assert 0.65 < types["Shop"] / 1_000 < 0.75
    assert 0.20 < types["Warehouse"] / 1_000 < 0.30
    assert set(types) <= {"Shop", "Warehouse", *worlds.OTHER_TYPES}
    assert {unit.time_zone for unit in units} == {"Europe/Amsterdam"}
    assert {unit.country_id for unit in units} == {"NL", "BE"}
    assert len({unit.address.city for unit in units}) > 20
    for unit in units:
        assert Decimal("50.8") <= unit.address.latitude <= Decimal("53.4")
        assert Decimal("3.4") <= unit.address.longitude <= Decimal("7.1")

    order = scenario.order
    assert [line.id for line in order.lines] == [1, 2, 3, 4, 5]
    assert {line.quantity for line in order.lines} <= {1, 2, 3}
    assert order.shipping_address.city == "Amsterdam"
    assert len(scenario.products) > len(order.lines)
    assert {line.product for line in order.lines} <= {p.id for p in scenario.products}
    assert scenario.settings == {"Orders:Default:AllowPartialFulfillment": True}
    assert scenario.at.tzinfo is not None

    quantities = list(scenario.stock.values())
    assert len(quantities) == 1_000 * len(scenario.products)
    assert set(quantities) <= set(range(6))
    assert 0.55 < quantities.count(0) / len(quantities) < 0.65


def test_sheets_cycle_through_the_templates_and_pass_the_checker() -> None:
    """Every generated sheet has no diagnostic; 8 sheets are each template twice, distinct."""
    sheets = worlds.make_sheets(8)

    assert [sheet.id for sheet in sheets] == list(range(1, 9))
    assert [sheet.name for sheet in sheets] == [
        "ShipFromStore",
        "WarehouseFulfillment",
        "IBE",
        "CancelFallback",
        "ShipFromStore2",
        "WarehouseFulfillment2",
        "IBE2",
        "CancelFallback2",
    ]
    assert len({sheet.source for sheet in sheets}) == 8
    actions = [analyze(sheet.source).action for sheet in sheets]
    assert actions == ["SHIP_FROM_STORE", "EXPORT_ORDER", "SHIP_FROM_STORE", "CANCEL"] * 2
    for sheet in sheets:
        assert analyze(sheet.source).diagnostics == ()


@pytest.mark.parametrize("template", worlds.TEMPLATES, ids=lambda t: t.__name__)
@pytest.mark.parametrize("variant", range(5))
def test_every_template_variant_passes_the_checker(template, variant: int) -> None:
    """Every variant of every template checks clean (the generator asserts it as well)."""
    assert analyze(template(variant)).diagnostics == ()


def test_generated_order_routes_without_errors() -> None:
    """The engine runs every sheet of a small world and ships something."""
    decision = route(worlds.make_scenario(ous=40, lines=3, sheets=4))

    assert decision.blob["HasErrors"] is False
    assert decision.blob["Errors"] == []
    assert decision.shipping


def test_bench_engine_quick_prints_one_row_per_configuration() -> None:
    """``bench engine --quick`` prints the header and a row per quick size."""
    out = StringIO()

    call_command("bench", "engine", "--quick", "--repeat", "1", stdout=out)

    lines = out.getvalue().splitlines()
    assert lines[0] == "route() per order, median and 95th percentile of 1 runs"
    assert lines[1].split() == ["OUs", "lines", "sheets", "median", "p95", "search", "propositions"]
    rows = lines[2:]
    assert len(rows) == len(bench.QUICK_SIZES)
    pattern = re.compile(
        r"\s*([\d,]+)\s+(\d+)\s+(\d+)\s+[\d.]+ ms\s+[\d.]+ ms\s+(exact|bounded)\s+[\d,]+"
    )
    sizes = []
    for row in rows:
        match = pattern.fullmatch(row)
        assert match, row
        sizes.append((int(match[1].replace(",", "")), int(match[2]), int(match[3])))
    assert sizes == list(bench.QUICK_SIZES)


def test_bench_engine_refuses_a_repeat_below_one() -> None:
    """``--repeat 0`` is an error, not a division by nothing."""
    with pytest.raises(CommandError, match="--repeat must be at least 1"):
        call_command("bench", "engine", "--quick", "--repeat", "0", stdout=StringIO())
