"""The blob: EVA's keys and numbers, explanations, fan-out, errors, stable JSON."""

import json
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

from orchestration.engine import route
from orchestration.engine.model import (
    Address,
    Order,
    OrderLine,
    OrganizationUnit,
    Product,
    Scenario,
    SheetSource,
)

AT = datetime(2026, 11, 18, 11, tzinfo=UTC)  # a Wednesday
SFS_DATA = """scope Shipment
data TravelDistanceText as Supplier.RouteToShippingAddressByBike.DistanceText
data TravelTimeText as Supplier.RouteToShippingAddressByBike.TimeText
data TravelTimeInMinutes as Supplier.RouteToShippingAddressByBike.TimeInMinutes
data TravelDistanceInKm as Supplier.RouteToShippingAddressByBike.DistanceInKm
"""


def _unit(id_: int, name: str, kind: str, latitude: str, longitude: str) -> OrganizationUnit:
    return OrganizationUnit(
        id=id_,
        name=name,
        backend_id=name.lower().replace(" ", "_"),
        type=kind,
        time_zone="Europe/Amsterdam",
        address=Address(latitude=Decimal(latitude), longitude=Decimal(longitude)),
    )


def _scenario(units, sheets, *, lines=((59, 1, 1), (60, 2, 1)), stock=None) -> Scenario:
    return Scenario(
        at=AT,
        order=Order(
            id=1,
            lines=tuple(OrderLine(id=i, product=p, quantity=q) for i, p, q in lines),
            shipping_address=Address(latitude=Decimal("52.37"), longitude=Decimal("4.90")),
        ),
        organization_units=tuple(units),
        products=(Product(id=1, name="Shoe"), Product(id=2, name="Sweater")),
        sheets=tuple(SheetSource(id=i, name=n, source=s) for i, n, s in sheets),
        stock=stock or {(u.id, p): 5 for u in units for p in (1, 2)},
    )


def test_the_reference_blob_example() -> None:
    # EVA's "Blob structure example": Urk store wins with 200 (100 per line from a
    # Supplier-scope boost), Lelystad warehouse is valid with 0.
    scenario = _scenario(
        [
            _unit(11, "Lelystad warehouse", "Warehouse", "52.52", "5.47"),
            _unit(12, "Urk store", "Shop", "52.66", "5.60"),
        ],
        [
            (
                3,
                "ShipFromStore",
                "fulfillment ShipFromStore\naction SHIP_FROM_STORE\nscope Supplier\n"
                "require Supplier.Type = 'Shop'\nscore add 100\n" + SFS_DATA,
            ),
            (
                4,
                "Warehouse",
                "fulfillment Warehouse\naction EXPORT_ORDER\nscope Supplier\n"
                "require Supplier.Type = 'Warehouse'\ndata ExporterName as 'WAREHOUSE'\n",
            ),
        ],
    )
    blob = route(scenario).blob
    assert list(blob) == [
        "Fulfillments",
        "OrderLines",
        "ValidSuppliers",
        "Rejections",
        "HasErrors",
        "Errors",
        "At",
        "Search",
        "Dropped",
    ]
    winner = blob["Fulfillments"][0]
    [shipment] = winner["Shipments"]
    assert shipment["FulfillmentAction"] == "SHIP_FROM_STORE"
    assert shipment["Sheet"] == {"ID": 3, "Name": "ShipFromStore"}
    assert shipment["Supplier"] == {"ID": 12, "Name": "Urk store", "BackendID": "urk_store"}
    assert shipment["OrderLines"][0] == {
        "ID": 59,
        "Score": 100.0,
        "Quantity": 1,
        "ScoreExplanations": [
            {
                "Description": "100 added to score of OrderLine due to a boost in the Supplier "
                "scope.",
                "Expression": "score add 100\n",
                "PreviousScore": 0.0,
                "NewScore": 100.0,
                "DeltaScore": 100.0,
                "Variables": {},
                "Line": 5,
            }
        ],
    }
    assert shipment["Score"] == 200.0
    assert shipment["ScoreExplanation"]["Description"] == (
        "Shipment score consists of: 0 from score boosts on the Shipment scope and 200 from "
        "the OrderLines in this shipment"
    )
    assert set(shipment["Data"]) == {
        "TravelDistanceText",
        "TravelTimeText",
        "TravelTimeInMinutes",
        "TravelDistanceInKm",
    }
    assert winner["Score"] == 200.0
    assert winner["ScoreExplanation"]["Description"] == (
        "Fulfillment proposition score consists of: 0 from score boosts on the Fulfillment "
        "Proposition scope and 200 from the shipments in this proposition."
    )
    assert blob["OrderLines"][0] == {
        "ID": 59,
        "PotentialSuppliers": [
            {"OrganizationUnitID": 12, "Score": 100.0, "Sheet": "ShipFromStore"},
            {"OrganizationUnitID": 11, "Score": 0.0, "Sheet": "Warehouse"},
        ],
    }
    assert [
        (s["SupplierID"], s["FulfillmentMethod"], s["Score"]) for s in blob["ValidSuppliers"]
    ] == [
        (11, "Warehouse", 0.0),
        (12, "ShipFromStore", 200.0),
    ]
    assert blob["ValidSuppliers"][1]["FulfillableOrderLineIDs"] == [59, 60]
    assert blob["ValidSuppliers"][1]["ScoreExplanations"][1]["OrderLineID"] == 60
    assert blob["Rejections"] == []
    assert blob["HasErrors"] is False
    assert blob["At"] == "2026-11-18T11:00:00+00:00"
    assert blob["Search"] == {
        "Exact": True,
        "Propositions": blob["Search"]["Propositions"],
        "Bound": None,
    }
    # Stable: the same scenario gives the same JSON, byte for byte.
    assert json.dumps(route(scenario).blob) == json.dumps(blob)


def test_fan_out_lists_the_next_best_shops_in_order() -> None:
    shops = [
        _unit(1, "Far", "Shop", "52.50", "4.90"),
        _unit(2, "Near", "Shop", "52.371", "4.901"),
        _unit(3, "Middle", "Shop", "52.40", "4.90"),
        _unit(4, "Close", "Shop", "52.38", "4.90"),
    ]
    sheet = (
        "fulfillment ShipFromStore\naction SHIP_FROM_STORE\n"
        + SFS_DATA
        + "score add 10 / Supplier.DistanceToShippingAddressInKm\nscope Fanout\nfanout as 2\n"
    )
    blob = route(_scenario(shops, [(1, "ShipFromStore", sheet)], lines=((59, 1, 1),))).blob
    [shipment] = blob["Fulfillments"][0]["Shipments"]
    assert shipment["Supplier"]["Name"] == "Near"
    assert [s["Name"] for s in shipment["FanoutSuppliers"]] == ["Close", "Middle"]
    boost = shipment["ScoreExplanation"]["Boosts"][0]
    assert boost["Expression"] == "score add 10 / Supplier.DistanceToShippingAddressInKm\n"
    assert boost["Variables"] == {"Supplier.DistanceToShippingAddressInKm": 0.13}


def test_a_split_line_explains_its_share_and_errors_name_the_place() -> None:
    shops = [_unit(1, "A", "Shop", "52.37", "4.90"), _unit(2, "B", "Shop", "52.36", "4.90")]
    splitting = (
        "fulfillment ShipFromStore\naction SHIP_FROM_STORE\n"
        "option AllowPartialFulfillment as true\nscope OrderLine\nscore add 100\n" + SFS_DATA
    )
    broken = "fulfillment Broken\naction CANCEL\nscope Order\nrequire Order.ID = = 1\n"
    scenario = _scenario(
        shops,
        [(1, "ShipFromStore", splitting), (2, "Broken", broken)],
        lines=((59, 1, 4),),
        stock={(1, 1): 2, (2, 1): 2},
    )
    scenario = replace(scenario, settings={"Orders:Default:AllowPartialFulfillment": True})
    blob = route(scenario).blob
    shipments = blob["Fulfillments"][0]["Shipments"]
    assert [(s["Supplier"]["ID"], s["OrderLines"][0]["Quantity"]) for s in shipments] == [
        (1, 2),
        (2, 2),
    ]
    share = shipments[0]["OrderLines"][0]["ScoreExplanations"][-1]
    assert share["Description"] == (
        "2 of the line's 4 units are in this shipment, so 50 of its score 100 counts here."
    )
    assert blob["Fulfillments"][0]["Score"] == 100.0
    assert blob["HasErrors"] is True
    assert blob["Errors"] == [
        {
            "Sheet": "Broken",
            "Line": 4,
            "Column": 20,
            "Code": "InvalidSyntax",
            "Message": "expected an expression, got '='",
        }
    ]
