"""Delivery options at checkout: which can a webshop offer for a basket, and who would ship it.

``fulfillment_options`` builds the scenario of a basket that is not an order yet
(``basket_scenario``: the network snapshot and the basket's stock),
asks the engine for the decision under each delivery option
(``engine.fulfillment_options``: the call that routes real orders, once per
option) and shapes the answer for ``POST /api/fulfillment-options/``. Nothing is
written: a checkout page may ask on every change of the basket.

An option is available when the winning proposition ships every unit (nothing
left to CANCEL). Each shipment brings the data the sheets set for it, the
deadlines among them (``DeadlineInMinutes``: for a ship-from-store task, the
minutes the shop has to start it; ``PackDeadlineInMinutes``,
``ShipDeadlineInMinutes``), and ``start_deadline``, the moment the first one
would pass if the order were placed at ``at``.
"""

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from orchestration.selectors.scenario import BasketLine, basket_scenario

from .. import engine
from ..engine.decision import Shipment, Supplier
from ..engine.model import Address
from ..integrations.routes import route_provider

# The deadline data a sheet may set per shipment (docs/lifecycle.md), reported as numbers.
DEADLINES = {
    "deadline_in_minutes": "DeadlineInMinutes",
    "pack_deadline_in_minutes": "PackDeadlineInMinutes",
    "ship_deadline_in_minutes": "ShipDeadlineInMinutes",
}


def fulfillment_options(
    lines: Sequence[BasketLine],
    *,
    at: datetime,
    shipping_address: Mapping[str, Any],
    custom_fields: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The delivery options for a basket shipped to ``shipping_address`` at ``at``."""
    address = Address(
        street=shipping_address.get("street") or None,
        city=shipping_address.get("city") or None,
        zip_code=shipping_address.get("zip_code") or None,
        country_id=shipping_address.get("country_id") or None,
        latitude=_decimal(shipping_address.get("latitude")),
        longitude=_decimal(shipping_address.get("longitude")),
        is_pickup_point=bool(shipping_address.get("is_pickup_point", False)),
    )
    scenario = basket_scenario(lines, at=at, shipping_address=address, custom_fields=custom_fields)
    units = {unit.id: unit for unit in scenario.organization_units}
    outcomes = engine.fulfillment_options(scenario, route_provider=route_provider())
    return {
        "at": at.isoformat(),
        "options": [
            {
                "option": outcome.option,
                "available": outcome.available,
                "shipments": [_shipment(shipment, at, units) for shipment in outcome.shipments],
                "unfulfilled": [
                    {"line": line_id - 1, "quantity": quantity}
                    for line_id, quantity in sorted(outcome.unfulfilled.items())
                ],
            }
            for outcome in outcomes
        ],
    }


def _decimal(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(repr(value))


def _unit(supplier: Supplier | None, units: Mapping[int, Any]) -> dict[str, Any]:
    assert supplier is not None  # only shipments that ship are shown
    unit = units[supplier.id]
    return {"id": unit.id, "name": unit.name, "backend_id": unit.backend_id}


def _shipment(shipment: Shipment, at: datetime, units: Mapping[int, Any]) -> dict[str, Any]:
    data = shipment.data
    deadlines = {key: _number(data.get(name)) for key, name in DEADLINES.items()}
    minutes = deadlines["deadline_in_minutes"]
    return {
        "action": shipment.action,
        "sheet": shipment.sheet_name,
        "supplier": _unit(shipment.supplier, units),
        "fanout_suppliers": [_unit(other, units) for other in shipment.fanout],
        # Lines by their index in the basket (lines[0] is 0), as the errors name them.
        "lines": [
            {"line": line.order_line_id - 1, "quantity": line.quantity} for line in shipment.lines
        ],
        **deadlines,
        "start_deadline": _after(at, minutes),
        "data": data,
    }


def _after(at: datetime, minutes: int | float | None) -> str | None:
    """``at`` plus ``minutes``, or None when there is no such moment (none set, or past
    the calendar's end)."""
    if minutes is None:
        return None
    try:
        return (at + timedelta(minutes=minutes)).isoformat()
    except (OverflowError, ValueError):
        return None


def _number(value: object) -> int | float | None:
    """A deadline as the sheet set it, if it is a number; None otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value
