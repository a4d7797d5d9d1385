"""What one orchestration run stores: the plan ``store_run`` takes, and what
``lock_order`` gives the run to start from; a new order as ``store_orders`` takes
it (``NewOrder``), a fulfilment's step as ``store_fulfillment_progress`` does
(``FulfillmentProgress``), an export as ``claim_export`` claims it
(``ClaimedExport``), and what a new order names as ``order_references`` reads it
(``OrderReferences``).

``services/orchestration.py`` builds a plan from the engine's decision (``Routing``:
the fulfilments, their lines, the reservations and what a CANCEL sheet cancels),
then the run's details, statuses and timeline around it (``RunPlan``), and hands it
to ``store_run``. The plan is frozen: once built, what the run stores is fixed.
The model instances it carries are unsaved; ``store_run`` saves them and leaves
them as the ORM leaves saved objects (primary keys set, ``_state.adding`` False,
foreign keys pointing at the saved rows), so the caller reads the stored IDs off
them.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ...models import (
    FulfillmentStatus,
    OrchestrationDetails,
    Order,
    OrderEvent,
    OrderFulfillment,
    OrderFulfillmentLine,
    OrderLine,
    Product,
)


@dataclass(frozen=True, slots=True)
class LockedOrder:
    """The order a run holds the lock of, and what it read with the lock.

    ``order`` is None when there is no such order. ``lines`` are its lines in ID
    order, each pointing at that one ``order`` object. ``network_token`` is the
    network's version as the lock read it (None without one), for
    ``order_scenario``. ``stock_rows`` are the stock rows ``order_scenario`` would
    read (``(OU, product, available)``), read in the lock's round trip, or None
    where they were not read (``order_scenario`` reads them); ``open_tasks`` likewise
    the shops' open ship-from-store tasks.
    """

    order: Order | None
    lines: list[OrderLine]
    network_token: str | None
    stock_rows: list[tuple[int, int, int]] | None
    # The open ship-from-store tasks per OU, read in the lock's round trip when the
    # caller asked (``with_tasks``), else None (``order_scenario`` counts them).
    open_tasks: dict[int, int] | None = None


@dataclass(frozen=True, slots=True)
class PlannedLine:
    """A fulfilment line, and which of the routing's fulfilments it belongs to."""

    fulfillment: int  # index into Routing.fulfillments
    line: OrderFulfillmentLine


@dataclass(frozen=True, slots=True)
class Routing:
    """What the winning proposition makes of the order, before it is a stored run."""

    fulfillments: tuple[OrderFulfillment, ...]
    lines: tuple[PlannedLine, ...]
    reservations: Mapping[tuple[int, int], int]  # (OU, product) -> quantity
    cancelled: Mapping[int, int]  # order line -> quantity the CANCEL sheet cancels
    uncovered: int  # units nothing can fulfil now and no CANCEL sheet takes
    names: Mapping[int, str]  # OU ID -> how the timeline names it, from the blob


@dataclass(frozen=True, slots=True)
class RunPlan:
    """Everything one run writes, in the order ``store_run`` writes it.

    ``details`` is the run (``OrchestrationDetails``, unique per order and attempt);
    the routing's fulfilments and the ``events`` (its timeline entries) are stored
    pointing at it. ``cancelled`` quantities are added to the order lines'
    ``quantity_cancelled``; ``line_statuses`` (new status -> order line IDs) and
    ``order_fields`` (the order's columns this run sets) are what the run leaves
    the order and its lines at.
    """

    order_id: int
    details: OrchestrationDetails
    routing: Routing
    order_fields: Mapping[str, Any]
    line_statuses: Mapping[str, list[int]]
    events: tuple[OrderEvent, ...]


@dataclass(frozen=True, slots=True)
class NewOrder:
    """A new order as ``store_orders`` stores it: the unsaved ``order``, its unsaved
    ``lines`` and its first timeline entry ``created`` (``order.created``), whose
    order they are once stored."""

    order: Order
    lines: list[OrderLine]
    created: OrderEvent


@dataclass(frozen=True, slots=True)
class FulfillmentProgress:
    """One step of a fulfilment, as ``store_fulfillment_progress`` stores it: the
    fulfilment's new ``fields``, the new ``line_fields`` of its lines in status
    ``lines_in``, and the unsaved timeline entry ``event``, under the lock of its order
    ``order_id``. ``handler`` is the action (``export``) whose open manual plan steps
    the caller then completes."""

    fulfillment_id: int
    order_id: int
    fields: Mapping[str, Any]
    lines_in: FulfillmentStatus
    line_fields: Mapping[str, Any]
    event: OrderEvent
    handler: str


# An open line of an export, as the warehouse gets it: its ID, its order line's ID, its
# product's backend ID, its quantity.
ExportLine = tuple[int, int, str, int]


@dataclass(frozen=True, slots=True)
class ClaimedExport:
    """A pending export ``claim_export`` claimed: the fulfilment as it now stands (the
    lease in ``export_next_at``), its ``order`` and ``supplier_organization_unit``
    attached as objects (the unit None for a fulfilment without one), and its open
    lines in ID order."""

    fulfillment: OrderFulfillment
    lines: list[ExportLine]


@dataclass(frozen=True, slots=True)
class OrderReferences:
    """What ``order_references`` read for new orders: the products named by backend ID
    that exist (by backend ID), and the order backend IDs asked about that are taken."""

    products: dict[str, Product]
    taken_backend_ids: set[str]
