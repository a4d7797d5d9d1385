"""The reference's rules where the engine once read them otherwise (issue 19, part 3).

Each test starts from a scenario of ``tests/scenarios/`` written from the reference's
sentence and varies the one thing the rule is about.
"""

import dataclasses
from decimal import Decimal
from pathlib import Path

import pytest

from orchestration.engine import route
from orchestration.engine.model import HistoryEntry, OrderLine, Scenario
from orchestration.engine.plan import plan_for
from orchestration.engine.scenario import load_scenario_text
from orchestration.engine.variables import World, path_key, shipment_values
from orchestration.language import catalogue
from orchestration.language.compiler import MISSING

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"


def load(name: str) -> Scenario:
    return load_scenario_text((SCENARIOS / name).read_text(encoding="utf-8"))


def winners(blob: dict) -> list[tuple[int | None, dict[int, int]]]:
    """The winning proposition: (supplier ID, {line ID: quantity}) per shipment."""
    return [
        (
            shipment["Supplier"]["ID"] if shipment["Supplier"] else None,
            {line["ID"]: line["Quantity"] for line in shipment["OrderLines"]},
        )
        for shipment in blob["Fulfillments"][0]["Shipments"]
    ]


def reasons_at(blob: dict, unit: int) -> list[str]:
    """The reasons recorded for the OU (rejections with a reason, as the reference's)."""
    return [r["Reason"] for r in blob["Rejections"] if r.get("SupplierID") == unit and r["Reason"]]


# --- MaxRetryCountForDeactivatedLines ------------------------------------------------


def with_deactivations(scenario: Scenario, option: str, count: int) -> Scenario:
    """Shop 1 (score 20, ahead of shop 2 at 10) lost ``count`` fan-out races for line 1;
    shop 3 (40) cancelled it, so never gets it again."""
    [sheet] = scenario.sheets
    source = sheet.source.replace("action SHIP_FROM_STORE\n", "action SHIP_FROM_STORE\n" + option)
    history = (
        HistoryEntry(1, 3, sheet.id, "Cancelled", 1, "Unknown", "t0", "a0"),
        *(
            HistoryEntry(1, 1, sheet.id, "Deactivated", 1, "Otherstore", f"t{n}", f"a{n}")
            for n in range(count)
        ),
    )
    return dataclasses.replace(
        scenario,
        sheets=(dataclasses.replace(sheet, source=source),),
        fulfillment_history=history,
    )


@pytest.mark.parametrize(
    ("option", "deactivations", "offered_again"),
    [
        ("", 1, True),  # the default 1: one deactivated line may exist
        ("", 2, False),
        ("option MaxRetryCountForDeactivatedLines as 0\n", 1, False),
        ("option MaxRetryCountForDeactivatedLines as 2\n", 2, True),
        ("option MaxRetryCountForDeactivatedLines as 2\n", 3, False),
        ("option MaxRetryCountForDeactivatedLines as 5\n", 5, True),
        ("option MaxRetryCountForDeactivatedLines as 5\n", 6, False),
    ],
)
def test_a_shop_gets_a_deactivated_line_again_while_no_more_than_the_maximum_exist(
    option: str, deactivations: int, offered_again: bool
) -> None:
    scenario = with_deactivations(
        load("history-deactivated-once-offered-again-by-default.json"), option, deactivations
    )
    blob = route(scenario).blob
    if offered_again:
        assert winners(blob) == [(1, {1: 1})]
        assert reasons_at(blob, 1) == []
    else:
        assert winners(blob) == [(2, {1: 1})]
        assert reasons_at(blob, 1) == ["MaxRetryCountForDeactivatedLines"]
        [rejection] = [r for r in blob["Rejections"] if r.get("SupplierID") == 1 and r["Reason"]]
        maximum = option.split(" as ")[1].strip() if option else "1"
        assert rejection["Description"] == (
            f"Order line 1 was deactivated at Amsterdam Centrum {deactivations} time(s) "
            f"under this sheet; MaxRetryCountForDeactivatedLines is {maximum}."
        )


def test_deactivations_under_another_sheet_do_not_count() -> None:
    scenario = with_deactivations(
        load("history-deactivated-once-offered-again-by-default.json"), "", 2
    )
    history = scenario.fulfillment_history
    other_sheet = tuple(dataclasses.replace(entry, sheet=99) for entry in history)
    blob = route(dataclasses.replace(scenario, fulfillment_history=other_sheet)).blob
    assert winners(blob) == [(1, {1: 1})]


# --- Quantity splitting: a split-allowed line is read as single items -----------------

SPLIT = "quantity-splitting-line-read-as-single-items.json"
PARTIAL = "option AllowPartialFulfillment as true\n"


def splitting_variant(*, setting: bool, order_flag: bool | None, options: str) -> Scenario:
    scenario = load(SPLIT)
    [sheet] = scenario.sheets
    source = sheet.source.replace(PARTIAL, options)
    return dataclasses.replace(
        scenario,
        settings={"Orders:Default:AllowPartialFulfillment": setting},
        order=dataclasses.replace(scenario.order, allow_partial_fulfillment=order_flag),
        sheets=(dataclasses.replace(sheet, source=source),),
    )


@pytest.mark.parametrize(
    ("setting", "order_flag", "options", "split"),
    [
        (True, None, PARTIAL, True),
        (False, True, PARTIAL, True),
        (False, None, PARTIAL, False),
        (True, False, PARTIAL, False),
        (True, None, "", False),
        (True, None, PARTIAL + "option DisableLineSplitting as true\n", False),
        (True, None, PARTIAL + "option DisableLineSplitting as false\n", True),
    ],
)
def test_a_line_is_read_as_single_items_exactly_when_the_sheet_may_split_it(
    setting: bool, order_flag: bool | None, options: str, split: bool
) -> None:
    """Two shops hold 2 shoes each; the line asks 4; the sheet requires
    [SupplierQuantityAvailable] >= [OrderLine.QuantityOrdered]."""
    blob = route(splitting_variant(setting=setting, order_flag=order_flag, options=options)).blob
    if split:
        assert winners(blob) == [(1, {1: 2}), (2, {1: 2})]
        assert (reasons_at(blob, 1), reasons_at(blob, 2)) == ([], [])
    else:
        assert winners(blob) == [(None, {1: 4})]
        assert (reasons_at(blob, 1), reasons_at(blob, 2)) == (["NoStock"], ["NoStock"])
    assert reasons_at(blob, 3) == ["NoStock"]


def test_the_order_line_scopes_read_a_quantity_of_one_and_the_shipment_the_whole_line() -> None:
    scenario = load(SPLIT)
    [sheet] = scenario.sheets
    source = sheet.source.replace(
        "score add 100\n", "score add [OrderLine.QuantityOrdered]\n"
    ).replace(
        "scope Shipment\n",
        "scope OrderLineSuppliers\nscore add 10 * [OrderLine.QuantityOrdered]\n\n"
        "scope Shipment\nscore add [TotalQuantity]\n",
    )
    blob = route(
        dataclasses.replace(scenario, sheets=(dataclasses.replace(sheet, source=source),))
    ).blob
    shipment = blob["Fulfillments"][0]["Shipments"][0]
    [line] = shipment["OrderLines"]
    read = [(e["Expression"], e["Variables"]) for e in line["ScoreExplanations"]]
    assert read[:2] == [
        ("score add [OrderLine.QuantityOrdered]\n", {"OrderLine.QuantityOrdered": 1}),
        ("score add 10 * [OrderLine.QuantityOrdered]\n", {"OrderLine.QuantityOrdered": 1}),
    ]
    [boost] = shipment["ScoreExplanation"]["Boosts"]
    assert (line["Quantity"], boost["Variables"]) == (2, {"TotalQuantity": 2})


# --- Amounts: the discount is given in tax ------------------------------------------

DISCOUNT = "discount-in-tax-taken-off-without-tax.json"
# 100 - 10 / 1.21 as a sheet computes it (28 significant digits, half-even).
NET_EX_TAX = Decimal("91.73553719008264462809917355")


def two_line_order() -> Scenario:
    """Two shoes at 50 (60.50 in tax) with a discount of 10, and a scarf at 20 (24.20)."""
    scenario = load(DISCOUNT)
    [shoes] = scenario.order.lines
    scarf = OrderLine(2, shoes.product, 1, Decimal("20.0"), Decimal("24.2"))
    assert (shoes.quantity, shoes.unit_price, shoes.unit_price_in_tax) == (2, 50, Decimal("60.5"))
    assert shoes.discount_amount == -10
    return dataclasses.replace(
        scenario, order=dataclasses.replace(scenario.order, lines=(shoes, scarf))
    )


PRICES = {
    "OrderLine.UnitPrice": (Decimal(50), Decimal(20)),
    "OrderLine.UnitPriceInTax": (Decimal("60.5"), Decimal("24.2")),
    "OrderLine.TotalAmount": (Decimal(100), Decimal(20)),
    "OrderLine.TotalAmountInTax": (Decimal(121), Decimal("24.2")),
    "OrderLine.DiscountAmount": (Decimal(-10), Decimal(0)),
    "OrderLine.NetTotalAmount": (NET_EX_TAX, Decimal(20)),
    "OrderLine.NetTotalAmountInTax": (Decimal(111), Decimal("24.2")),
    "Order.TotalAmount": Decimal(120),
    "Order.TotalAmountInTax": Decimal("145.2"),
    "Order.NetTotalAmount": NET_EX_TAX + 20,
    "Order.NetTotalAmountInTax": Decimal("135.2"),
    # A shipment's amounts are of the units in it, before discounts.
    "TotalAmount": Decimal(120),
    "TotalAmountInTax": Decimal("145.2"),
    "Shipment.TotalAmount": Decimal(120),
    "Shipment.TotalAmountInTax": Decimal("145.2"),
}


def test_every_price_property_of_the_catalogue_is_covered_here() -> None:
    prices = {p.path for p in catalogue.PROPERTIES if "Amount" in p.path or "Price" in p.path}
    assert prices == set(PRICES)


@pytest.mark.parametrize("name", sorted(PRICES))
def test_each_price_property_has_its_amount(name: str) -> None:
    scenario = two_line_order()
    world = World(scenario, None)
    path = path_key(name)
    expected = PRICES[name]
    if name.startswith("OrderLine."):
        found = tuple(world.line_value(line, path) for line in scenario.order.lines)
    elif name.startswith("Order."):
        found = world.order_value(path)
    else:
        shipment = [(line, line.quantity) for line in scenario.order.lines]
        found = shipment_values(shipment)[path]
    assert found == expected


def test_the_ex_tax_net_amount_is_what_a_sheet_computes_from_the_in_tax_discount() -> None:
    source = "fulfillment X\naction CANCEL\nscope Order\nwith N as 100 - 10 / 1.21\n"
    [step] = plan_for(source).blocks["Order"]
    assert step.value(lambda path: MISSING) == NET_EX_TAX


@pytest.mark.parametrize(
    ("unit_price", "unit_price_in_tax", "discount", "net", "net_in_tax"),
    [
        ("50", "60.5", "-10", NET_EX_TAX, "111"),  # 21% tax: 10 in tax is 8.26... without
        ("50", "50", "-10", "90", "90"),  # no tax: the discount is the same either way
        ("50", "54.5", "0", "100", "109"),  # no discount
        ("0", "0", "-5", "-5", "-5"),  # no amount to take a rate from: as given
    ],
)
def test_the_discount_is_taken_off_the_ex_tax_total_at_the_lines_own_rate(
    unit_price: str, unit_price_in_tax: str, discount: str, net: Decimal | str, net_in_tax: str
) -> None:
    line = OrderLine(1, 1, 2, Decimal(unit_price), Decimal(unit_price_in_tax), Decimal(discount))
    assert (line.net_total_amount, line.net_total_amount_in_tax) == (
        Decimal(net),
        Decimal(net_in_tax),
    )


def test_an_order_scope_requirement_on_the_ex_tax_net_amount_routes_the_order() -> None:
    blob = route(load(DISCOUNT)).blob
    assert winners(blob) == [(1, {1: 2})]
    assert blob["Errors"] == []
    found = [(r["SupplierID"], r["Reason"]) for r in blob["Rejections"] if r["Reason"]]
    assert found == [(2, "NotEnoughStockForWholeLine")]  # one shoe: no sheet requirement failed
