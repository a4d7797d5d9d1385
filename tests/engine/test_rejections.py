"""Every supplier a sheet drops is explained, and an error for one supplier is that supplier's.

Issue 19, parts 2 and 4: a statement that fails for one OU (a division by zero at
the customer's address, a custom field of the wrong type) rejects that OU for
that sheet only and is an ``Errors`` entry naming it, the statement and the
values it read; a requirement without ``with reason`` that drops an OU is in
``Dropped`` with the values it read. The scenario files of ``tests/scenarios/``
hold the routing outcome; these tests pin the blob entries exactly.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from orchestration.benchmarks import worlds
from orchestration.engine import blob as blobs
from orchestration.engine import route
from orchestration.engine.scenario import load_scenario
from tests.sources import OWN_SCENARIOS


def scenario_blob(name: str, change: Any = None) -> dict[str, Any]:
    data = json.loads((OWN_SCENARIOS / name).read_text(encoding="utf-8"))
    if change is not None:
        change(data)
    return route(load_scenario(data)).blob


def test_a_requirement_without_a_reason_records_the_statement_and_the_distance_it_read() -> None:
    blob = scenario_blob("requirement-without-reason-still-explains-the-dropped-supplier.json")
    dropped = blob["Dropped"]
    assert dropped["Statements"][0] == {
        "Sheet": {"ID": 1, "Name": "Ship from store"},
        "Scope": "Supplier",
        "Line": 6,
        "Column": 1,
        "Expression": "require [Supplier.DistanceToShippingAddressInKm] < 15\n",
        "Reads": ["Supplier.DistanceToShippingAddressInKm"],
    }
    assert dropped["Suppliers"][0] == [1, 0, None, [34.39]]
    # The same OU is not also in Rejections: the statement gave no reason.
    assert blob["Rejections"] == []


def test_a_requirement_with_a_reason_stays_in_rejections_and_is_not_dropped_again() -> None:
    blob = scenario_blob("orderline-requirement-without-reason-explains-the-line.json")
    assert [(r["SupplierID"], r["Reason"], r["Line"]) for r in blob["Rejections"]] == [
        (2, "NoGiftWrapping", 9)
    ]
    statements = blob["Dropped"]["Statements"]
    assert [(s["Scope"], s["Line"], s["Reads"]) for s in statements] == [
        ("OrderLine", 8, ["SupplierQuantityAvailable", "OrderLine.QuantityOrdered"])
    ]
    # Shop 1 holds none of the one unit ordered, for order line 1.
    assert blob["Dropped"]["Suppliers"] == [[1, 0, 1, [0, 1]]]


def test_an_orderline_scope_name_is_read_back_for_the_dropped_pair() -> None:
    def change(data: dict[str, Any]) -> None:
        data["sheets"][0]["source"] = data["sheets"][0]["source"].replace(
            "require [SupplierQuantityAvailable] >= [OrderLine.QuantityOrdered]\n",
            "with [wanted] as [OrderLine.QuantityOrdered] + 1\n"
            "require [SupplierQuantityAvailable] >= [wanted]\n",
        )

    blob = scenario_blob("orderline-requirement-without-reason-explains-the-line.json", change)
    [statement] = blob["Dropped"]["Statements"]
    assert (statement["Line"], statement["Reads"]) == (
        9,
        ["SupplierQuantityAvailable", "wanted"],
    )
    assert blob["Dropped"]["Suppliers"] == [[1, 0, 1, [0, 2]]]


def test_past_the_listing_limit_dropped_suppliers_are_summarised_per_statement(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(blobs, "DROPPED_LISTED", 2)
    blob = scenario_blob("requirement-without-reason-still-explains-the-dropped-supplier.json")
    dropped = blob["Dropped"]
    assert "Suppliers" not in dropped
    lines = {
        s["Sheet"]["Name"] + ":" + str(s["Line"]): i for i, s in enumerate(dropped["Statements"])
    }
    assert sorted(
        (g["Statement"], g["OrderLineID"], g["Count"], g["SupplierIDs"], g["First"])
        for g in dropped["Summary"]
    ) == sorted(
        [
            (lines["Ship from store:6"], None, 1, [1], [34.39]),
            (lines["Ship from store:5"], None, 1, [3], ["Warehouse"]),
            (lines["Warehouse:5"], None, 2, [1, 2], ["Shop"]),
        ]
    )


def test_a_division_by_zero_for_one_supplier_is_that_suppliers_error_only() -> None:
    blob = scenario_blob("supplier-division-by-zero-rejects-only-that-supplier.json")
    assert blob["HasErrors"] is True
    assert blob["Errors"] == [
        {
            "Sheet": "Ship from store",
            "Line": 6,
            "Column": 11,
            "Code": "DivisionByZero",
            "Message": "division by zero: the right side of '/' is 0",
            "SupplierID": 1,
            "SupplierName": "Amsterdam Vondelstraat",
            "Scope": "Supplier",
            "OrderLineID": None,
            "Expression": "score add 1.0 / [Supplier.DistanceToShippingAddressInKm]\n",
            "Variables": {"Supplier.DistanceToShippingAddressInKm": 0},
        }
    ]
    assert [(v["SupplierID"], v["FulfillmentMethod"]) for v in blob["ValidSuppliers"]] == [
        (2, "Ship from store"),
        (3, "Warehouse"),
    ]


def test_a_score_past_the_limit_is_each_suppliers_error_and_the_order_is_still_decided() -> None:
    """A ``score add`` of a 401-digit number (which made every route of its sheet fail
    with an OverflowError) is refused for each supplier, naming the limit; the
    warehouse sheet routes the order. (Such a literal no longer parses: the sheet
    computes it from two of 201 digits.)"""
    huge = "1" + "0" * 200 + " * 1" + "0" * 200

    def change(data: dict[str, Any]) -> None:
        data["sheets"][0]["source"] = data["sheets"][0]["source"].replace(
            "score add 1.0 / [Supplier.DistanceToShippingAddressInKm]", f"score add {huge}"
        )

    blob = scenario_blob("supplier-division-by-zero-rejects-only-that-supplier.json", change)
    assert [
        (e["SupplierID"], e["Line"], e["Column"], e["Code"], e["Message"]) for e in blob["Errors"]
    ] == [
        (
            unit,
            6,
            1,
            "TooLarge",
            "a score adds at most 1e+300 either way; this one adds 1.00000e+400",
        )
        for unit in (1, 2)
    ]
    assert [(v["SupplierID"], v["FulfillmentMethod"]) for v in blob["ValidSuppliers"]] == [
        (3, "Warehouse")
    ]


def test_a_custom_field_of_the_wrong_type_is_that_suppliers_error_with_the_value() -> None:
    blob = scenario_blob("supplier-custom-field-of-wrong-type-rejects-only-that-supplier.json")
    [error] = blob["Errors"]
    assert (error["SupplierID"], error["Line"], error["Column"], error["Message"]) == (
        1,
        6,
        9,
        "'>' needs two numbers or two strings, got a string and a number",
    )
    assert error["Variables"] == {"Supplier.CustomFields.PackingCapacity": "five"}


def test_an_orderline_error_names_the_order_line_and_rejects_the_supplier_for_every_line() -> None:
    blob = scenario_blob("orderline-error-rejects-only-that-supplier.json")
    [error] = blob["Errors"]
    assert (error["SupplierID"], error["Scope"], error["OrderLineID"], error["Variables"]) == (
        1,
        "OrderLine",
        1,
        {"Supplier.CustomFields.LinePenalty": 0},
    )
    assert 1 not in {v["SupplierID"] for v in blob["ValidSuppliers"]}


def test_an_order_scope_error_leaves_the_sheet_out_with_the_statement_and_its_values() -> None:
    blob = scenario_blob("order-scope-error-leaves-the-sheet-out.json")
    assert blob["Errors"] == [
        {
            "Sheet": "Ship from store",
            "Line": 5,
            "Column": 9,
            "Code": "DivisionByZero",
            "Message": "division by zero: the right side of '/' is 0",
            "SupplierID": None,
            "SupplierName": None,
            "Scope": "Order",
            "OrderLineID": None,
            "Expression": "require 10 / [Order.CustomFields.Divisor] > 1\n",
            "Variables": {"Order.CustomFields.Divisor": 0},
        }
    ]
    assert [v["FulfillmentMethod"] for v in blob["ValidSuppliers"]] == ["Warehouse"]


def test_past_the_error_limit_the_other_suppliers_are_named_in_one_entry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(blobs, "ERRORS_LISTED", 0)

    def change(data: dict[str, Any]) -> None:
        for unit in data["organization_units"][:2]:
            unit["custom_fields"] = {"LinePenalty": 0}

    blob = scenario_blob("orderline-error-rejects-only-that-supplier.json", change)
    [error] = blob["Errors"]
    assert (error["SupplierID"], error["SupplierIDs"], error["Line"], error["Code"]) == (
        None,
        [1, 2],
        8,
        "DivisionByZero",
    )
    assert error["Message"] == (
        "the same statement failed for more organization units: "
        "division by zero: the right side of '/' is 0"
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_ou_a_routing_sheet_does_not_keep_is_explained(seed: int) -> None:
    """In generated worlds, each (routing sheet, OU) is valid, or a Rejection, a Dropped
    entry or an Errors entry names that OU under that sheet."""
    scenario = worlds.make_scenario(ous=300, lines=3, sheets=4, seed=seed)
    blob = route(scenario).blob
    valid = {(v["FulfillmentMethod"], v["SupplierID"]) for v in blob["ValidSuppliers"]}
    explained = {(r["Sheet"], r["SupplierID"]) for r in blob["Rejections"]}
    statements = blob["Dropped"]["Statements"]
    explained |= {
        (statements[position]["Sheet"]["Name"], unit_id)
        for unit_id, position, _line, _values in blob["Dropped"]["Suppliers"]
    }
    explained |= {(e["Sheet"], e.get("SupplierID")) for e in blob["Errors"]}
    routing = [sheet.name for sheet in scenario.sheets if "CANCEL" not in sheet.source]
    assert routing
    unexplained = [
        (name, unit.id)
        for name in routing
        for unit in scenario.organization_units
        if (name, unit.id) not in valid and (name, unit.id) not in explained
    ]
    assert unexplained == []
    assert len(blob["Dropped"]["Suppliers"]) > len(scenario.organization_units)


def test_a_shipment_scope_error_rejects_that_supplier_and_the_search_runs_again() -> None:
    blob = scenario_blob("shipment-error-rejects-only-that-supplier.json")
    [error] = blob["Errors"]
    assert (error["SupplierID"], error["Scope"], error["Line"], error["Variables"]) == (
        1,
        "Shipment",
        15,
        {"Supplier.CustomFields.PackingMinutes": 0},
    )
    assert [(v["SupplierID"], v["FulfillmentMethod"]) for v in blob["ValidSuppliers"]] == [
        (2, "Ship from store"),
        (3, "Warehouse"),
    ]
    [shipment] = blob["Fulfillments"][0]["Shipments"]
    assert shipment["Supplier"]["ID"] == 2


@pytest.mark.parametrize(
    ("body", "line"),
    [
        (
            "scope Supplier\nrequire [Supplier.Type] = 'Warehouse' with reason 'NotWarehouse', "
            "$'{10 / [Supplier.CustomFields.PackingCapacity]}'\n\nscope OrderLine\nscore add 100\n",
            5,
        ),
        (
            "scope Supplier\nrequire [Supplier.Type] = 'Shop'\n\nscope OrderLine\n"
            "require [SupplierQuantityAvailable] > 100 with reason 'Few', "
            "$'{10 / [Supplier.CustomFields.PackingCapacity]}'\nscore add 100\n",
            8,
        ),
    ],
    ids=["supplier-scope", "orderline-scope"],
)
def test_a_reason_description_that_fails_for_one_ou_is_that_ous_error(body: str, line: int) -> None:
    def change(data: dict[str, Any]) -> None:
        data["organization_units"][0]["custom_fields"] = {"PackingCapacity": 0}
        shipment = data["sheets"][0]["source"].split("scope Shipment")[1]
        data["sheets"][0]["source"] = (
            "fulfillment ShipFromStore\naction SHIP_FROM_STORE\n\n"
            + body
            + "\nscope Shipment"
            + shipment
        )

    blob = scenario_blob(
        "supplier-custom-field-of-wrong-type-rejects-only-that-supplier.json", change
    )
    assert [(e["SupplierID"], e["Line"], e["Code"]) for e in blob["Errors"]] == [
        (1, line, "DivisionByZero")
    ]
    # Shop 2's description still reads its own capacity (10 / 5).
    assert [(r["SupplierID"], r["Description"]) for r in blob["Rejections"]] == [(2, "2")]


def test_a_fanout_error_for_the_winner_rejects_it_and_the_next_best_ships() -> None:
    def change(data: dict[str, Any]) -> None:
        source = data["sheets"][0]["source"]
        source = source.replace("score add 60 / [Supplier.CustomFields.PackingMinutes]\n", "")
        data["sheets"][0]["source"] = (
            source + "\nscope Fanout\nfanout as 20 / [Supplier.CustomFields.PackingMinutes]\n"
        )

    blob = scenario_blob("shipment-error-rejects-only-that-supplier.json", change)
    assert [(e["SupplierID"], e["Scope"], e["Code"], e["Variables"]) for e in blob["Errors"]] == [
        (1, "Fanout", "DivisionByZero", {"Supplier.CustomFields.PackingMinutes": 0})
    ]
    [shipment] = blob["Fulfillments"][0]["Shipments"]
    assert shipment["Supplier"]["ID"] == 2
