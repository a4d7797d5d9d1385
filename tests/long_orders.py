"""Long orders for the tests: a small network and an order of thousands of lines.

Two shops in Amsterdam with a pair of shoes per line in stock each, and a sheet that
may fulfil part of an order (so the search combines the shops line by line: before
issue 18 it recursed once per line and raised RecursionError near a thousand). The
better shop (a score boost) ships the whole order.
"""

from typing import Any

from orchestration.engine.limits import ORDER_LINES

LINES = ORDER_LINES.maximum  # the longest order every entrance accepts
AT = "2026-11-20T12:00:00+01:00"  # a Friday at noon
SHEET = """fulfillment ShipFromStore
action SHIP_FROM_STORE
option AllowPartialFulfillment as true

scope Supplier
require [Supplier.Type] = 'Shop'
score add 50 when [Supplier.BackendID] = 'shop_a'

scope OrderLine
require [SupplierQuantityAvailable] >= [OrderLine.QuantityOrdered] with reason 'InsufficientStock'
score add 100

scope Shipment
data [TravelDistanceText] as [Supplier.RouteToShippingAddressByBike.DistanceText]
data [TravelTimeText] as [Supplier.RouteToShippingAddressByBike.TimeText]
data [TravelTimeInMinutes] as [Supplier.RouteToShippingAddressByBike.TimeInMinutes]
data [TravelDistanceInKm] as [Supplier.RouteToShippingAddressByBike.DistanceInKm]
"""
ADDRESS = {
    "street": "Vondelstraat 1",
    "city": "Amsterdam",
    "zip_code": "1054 GB",
    "country_id": "NL",
    "latitude": 52.358,
    "longitude": 4.868,
    "is_pickup_point": False,
}
SHOPS = (
    ("shop_a", "Amsterdam Centrum", 52.3702, 4.891),
    ("shop_b", "Amsterdam Oost", 52.36, 4.927),
)


def long_order_scenario(lines: int = LINES, quantity: int = 1) -> dict[str, Any]:
    """A scenario (the scenario format) whose order has ``lines`` lines of ``quantity``."""
    return {
        "format": 1,
        "at": AT,
        "organization_units": [
            {
                "id": number,
                "name": name,
                "backend_id": backend_id,
                "type": "Shop",
                "time_zone": "Europe/Amsterdam",
                "address": {"city": "Amsterdam", "latitude": lat, "longitude": lon},
            }
            for number, (backend_id, name, lat, lon) in enumerate(SHOPS, start=1)
        ],
        "products": [{"id": 1, "backend_id": "SHOE-42", "name": "Leather shoes"}],
        "stock": [
            {"organization_unit": unit, "product": 1, "quantity_available": lines * quantity}
            for unit in (1, 2)
        ],
        "sheets": [{"id": 1, "name": "Ship from store", "source": SHEET}],
        "order": {
            "id": 1000,
            "shipping_address": ADDRESS,
            "lines": [
                {"id": line, "product": 1, "quantity": quantity, "unit_price": 50}
                for line in range(1, lines + 1)
            ],
        },
    }


def winning_shipments(blob: dict[str, Any]) -> list[tuple[str, int | None, int, int]]:
    """The winner's shipments as (action, supplier ID, lines, units)."""
    return [
        (
            shipment["FulfillmentAction"],
            (shipment["Supplier"] or {}).get("ID"),
            len(shipment["OrderLines"]),
            sum(line["Quantity"] for line in shipment["OrderLines"]),
        )
        for shipment in blob["Fulfillments"][0]["Shipments"]
    ]
