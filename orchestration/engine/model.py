"""What the engine takes in: one order and the world it is routed in, as frozen dataclasses.

These are the dataclass form of the scenario format (``docs/scenario-format.md``):
``scenario.load_scenario`` builds them from JSON, the Django side builds them from
the database, and ``route`` (``orchestration.engine``) takes them and nothing else.
Money is ``Decimal``; the clock is an aware ``datetime`` passed in, never read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Any

# Net amounts are computed as a sheet computes (the language's 28 significant digits,
# half-even), so a sheet's own 100 - 10 / 1.21 gives the same number.
AMOUNTS = Context(prec=28, rounding=ROUND_HALF_EVEN)

SALES, RETURNS, PURCHASE = "Sales", "Returns", "Purchase"
INTENTS = (SALES, RETURNS, PURCHASE)

# Fulfilment line statuses and cancellation reasons of the history (EVA's names).
NEW, IN_PROGRESS, CANCELLED, DEACTIVATED, COMPLETED = (
    "New",
    "InProgress",
    "Cancelled",
    "Deactivated",
    "Completed",
)
HISTORY_STATUSES = (NEW, IN_PROGRESS, CANCELLED, DEACTIVATED, COMPLETED)
CANCELLATION_REASONS = (None, "Otherstore", "FulfillmentCancelled", "Unknown", "Expired")


@dataclass(frozen=True, slots=True)
class Address:
    """A postal address with optional coordinates (degrees)."""

    street: str | None = None
    city: str | None = None
    zip_code: str | None = None
    country_id: str | None = None
    latitude: Decimal | None = None
    longitude: Decimal | None = None
    is_pickup_point: bool = False


@dataclass(frozen=True, slots=True)
class OrganizationUnit:
    """A store, warehouse, returns portal, ...: a possible supplier."""

    id: int
    name: str
    backend_id: str | None = None
    type: str = "Shop"
    status: str = "Open"
    country_id: str | None = None
    time_zone: str = "UTC"
    address: Address = field(default_factory=Address)
    set_names: tuple[str, ...] = ()
    custom_fields: Mapping[str, Any] = field(default_factory=dict)
    active_ship_from_store_tasks: int = 0


@dataclass(frozen=True, slots=True)
class Product:
    """A product; ``replacements`` may stand in for it (option UseReplacementProductsForStock)."""

    id: int
    name: str = ""
    backend_id: str | None = None
    content: Mapping[str, Any] = field(default_factory=dict)
    replacements: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class SheetSource:
    """A sheet as stored: its text is parsed and checked by the engine."""

    id: int
    name: str
    source: str
    active: bool = True


@dataclass(frozen=True, slots=True)
class OrderLine:
    """One line of the order."""

    id: int
    product: int
    quantity: int
    unit_price: Decimal = Decimal(0)
    unit_price_in_tax: Decimal = Decimal(0)
    discount_amount: Decimal = Decimal(0)  # zero or negative, for the whole line
    is_gift_wrapped: bool = False
    preferred_fulfillment_organization_unit: int | None = None
    custom_fields: Mapping[str, Any] = field(default_factory=dict)

    @property
    def total_amount(self) -> Decimal:
        """Ex-tax, before discounts."""
        return self.unit_price * self.quantity

    @property
    def total_amount_in_tax(self) -> Decimal:
        """In-tax, before discounts."""
        return self.unit_price_in_tax * self.quantity

    @property
    def discount_amount_ex_tax(self) -> Decimal:
        """The discount without tax. ``discount_amount`` is in tax, like the order's
        other amounts; without tax it is that at the line's own rate (ex-tax total over
        in-tax total: 10 at 21% is 10 / 1.21). A line with no in-tax total has no rate
        to take off: its discount is as given."""
        in_tax = self.total_amount_in_tax
        if not in_tax:
            return self.discount_amount
        return AMOUNTS.divide(AMOUNTS.multiply(self.discount_amount, self.total_amount), in_tax)

    @property
    def net_total_amount(self) -> Decimal:
        """Ex-tax, after discounts: the ex-tax total less the discount without tax."""
        return AMOUNTS.add(self.total_amount, self.discount_amount_ex_tax)

    @property
    def net_total_amount_in_tax(self) -> Decimal:
        """In-tax, after discounts: the in-tax total less the discount."""
        return AMOUNTS.add(self.total_amount_in_tax, self.discount_amount)


@dataclass(frozen=True, slots=True)
class Order:
    """The order to route. ``allow_partial_fulfillment`` None means: the setting decides."""

    id: int
    lines: tuple[OrderLine, ...]
    intent: str = SALES
    sold_from_organization_unit: int | None = None
    shipping_address: Address = field(default_factory=Address)
    billing_address: Address = field(default_factory=Address)
    custom_fields: Mapping[str, Any] = field(default_factory=dict)
    allow_partial_fulfillment: bool | None = None
    # The delivery option the customer chose (``variables.FULFILLMENT_OPTIONS``); None: any. A
    # supplier whose sheet rejects it in the FulfillmentOptions scope cannot fulfil.
    requested_fulfillment_option: str | None = None


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """What an earlier run did with (part of) an order line.

    ``task`` groups the copies of one fanned-out task (the same lines, New at
    several stores): they count once towards the quantity already routed.
    ``attempt`` names the orchestration run that made the entry.
    """

    order_line: int
    organization_unit: int | None
    sheet: int | None
    status: str
    quantity: int
    cancellation_reason: str | None = None
    task: str | None = None
    attempt: str | None = None


@dataclass(frozen=True, slots=True)
class Scenario:
    """Everything one orchestration run needs. ``at`` is the clock (aware)."""

    at: datetime
    order: Order
    organization_units: tuple[OrganizationUnit, ...]
    products: tuple[Product, ...]
    sheets: tuple[SheetSource, ...]
    stock: Mapping[tuple[int, int], int] = field(
        default_factory=dict
    )  # (OU id, product id) -> available
    settings: Mapping[str, Any] = field(default_factory=dict)
    fulfillment_history: tuple[HistoryEntry, ...] = ()
    # Only these OUs may fulfil (a preview's whitelist); None: any. The others stay
    # known, e.g. as the order's sold-from OU.
    candidate_units: frozenset[int] | None = None
    # Open ship-from-store tasks per OU ID (``Supplier.ActiveShipFromStoreTasks``), when
    # the caller counts them apart from the OUs (they change with every order, the OUs
    # do not: ``engine.network``). None: each OU's own ``active_ship_from_store_tasks``.
    active_tasks: Mapping[int, int] | None = None
