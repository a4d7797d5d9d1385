"""The reference's rules where the engine once read them otherwise (issue 19, part 3).

Each test starts from a scenario of ``tests/scenarios/`` written from the reference's
sentence and varies the one thing the rule is about.
"""

import dataclasses
from pathlib import Path

import pytest

from orchestration.engine import route
from orchestration.engine.model import HistoryEntry, Scenario
from orchestration.engine.scenario import load_scenario_text

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
    return [r["Reason"] for r in blob["Rejections"] if r.get("SupplierID") == unit]


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
        [rejection] = [r for r in blob["Rejections"] if r.get("SupplierID") == 1]
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
