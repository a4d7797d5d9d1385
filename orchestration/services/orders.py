"""Order writes."""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from ..errors import ApplicationError, NotFoundError
from ..models import Order, OrderLine
from .events import actor_of, event_build, event_record, event_stored
from .orchestration_drains import order_orchestration_drain_on_commit
from .orchestration_requests import order_orchestration_flag, order_orchestration_request
from .persistence import store_orders
from .persistence.plan import NewOrder
from .plans import plans_for_order_changed

# What a new order's orchestration was asked for by (``Order.orchestration_trigger``).
CREATED_TRIGGER = "order created"

LINE_FIELDS = frozenset(
    {
        "product",
        "quantity",
        "unit_price",
        "unit_price_in_tax",
        "discount_amount",
        "is_gift_wrapped",
        "preferred_fulfillment_organization_unit",
        "custom_fields",
        # A return order's lines (services.returns.return_order_create).
        "original_line",
        "return_reason",
    }
)


def order_create(
    *,
    lines: Sequence[Mapping[str, Any]],
    created_by: User | None = None,
    now: datetime | None = None,
    send_task: bool = True,
    **fields: Any,
) -> Order:
    """Create an order with all its lines in one transaction.

    ``fields`` are the order's own fields (intent, addresses, custom fields,
    ...); each line a mapping of ``LINE_FIELDS``. Either all of it is stored
    or none of it. The order comes back with its lines attached, as
    ``selectors.orders.order_list`` prefetches them: it serializes without being
    read back (the API's answer to a new order). ``now`` is when it is announced
    (the demo's clock; else now).
    Once it commits, it asks for a drain to route it (``orchestration_drains``; in
    eager mode, its own task inline). ``send_task=False`` flags the order for
    orchestration without asking: the caller routes it itself (the demo, at its own
    clock), and should it not, the next drain or the sweep does.
    """
    fields = order_fields_checked(lines=lines, fields=fields)
    now = now or timezone.now()
    # Flagged for orchestration as it is inserted (a new order is never
    # OrchestrationFailed), rather than by an UPDATE after: one statement fewer.
    order = Order(
        created_by=created_by,
        needs_orchestration=True,
        orchestration_trigger=CREATED_TRIGGER,
        orchestration_requested_at=now,
        **fields,
    )
    try:
        with transaction.atomic():
            orders_store(
                orders=[(order, [OrderLine(**line) for line in lines])],
                created_by=created_by,
                via="api",
                now=now,
            )
            if send_task:
                order_orchestration_drain_on_commit(order_id=order.pk)
    except IntegrityError as error:
        if (
            fields.get("backend_id")
            and Order.objects.filter(backend_id=fields["backend_id"]).exists()
        ):
            raise ApplicationError(
                f"An order with backend ID {fields['backend_id']!r} already exists.",
                code="unique",
                field="backend_id",
            ) from error
        raise
    return order


def orders_store(
    *,
    orders: Sequence[tuple[Order, list[OrderLine]]],
    created_by: User | None,
    via: str,
    now: datetime,
) -> None:
    """Store new orders (each checked and flagged, with its unsaved lines) and their
    ``order.created`` timeline entries in the caller's transaction, in one statement on
    PostgreSQL (``persistence.store_orders``); each order is left with its lines
    attached (``order_lines_attach``). Sends nothing: the caller asks for the
    orchestration after commit. ``order_create`` and the bulk import store through it."""
    new = [
        NewOrder(
            order=order,
            lines=lines,
            created=event_build(
                order=order, **_created_entry(lines=len(lines), user=created_by, via=via, at=now)
            ),
        )
        for order, lines in orders
    ]
    store_orders(orders=new)
    for entry in new:
        order_lines_attach(entry.order, entry.lines)
        event_stored(entry.created)


def order_fields_checked(
    *, lines: Sequence[Mapping[str, Any]], fields: Mapping[str, Any]
) -> dict[str, Any]:
    """A new order's own fields, billed where it ships to unless a billing address is
    given, once its lines are checked: at least one, each of ``LINE_FIELDS`` only
    (``ApplicationError`` naming the first that is not). ``order_create`` and the bulk
    import (``order_imports``) both take their orders through it."""
    if not lines:
        raise ApplicationError("An order needs at least one line.", code="required", field="lines")
    for index, line in enumerate(lines):
        unknown = set(line) - LINE_FIELDS
        if unknown:
            raise ApplicationError(
                f"Unknown line field {sorted(unknown)[0]!r}.",
                code="unknown_field",
                field=f"lines[{index}].{sorted(unknown)[0]}",
            )
    checked = dict(fields)
    if not any(name.startswith("billing_") for name in checked):
        # Most orders are billed where they ship to; EVA copies it likewise.
        checked.update(
            {
                f"billing_{name.removeprefix('shipping_')}": value
                for name, value in fields.items()
                if name.startswith("shipping_")
            }
        )
    return checked


def order_announce(
    *,
    order: Order,
    user: User | None,
    via: str,
    now: datetime | None = None,
    send_task: bool = True,
) -> None:
    """Record a new order on its timeline and have it orchestrated after commit
    (or only flag it, with ``send_task=False``: see ``order_create``).

    Called in the transaction that created the order (the API, the admin, the demo).
    """
    now = now or timezone.now()
    event_record(
        order=order, **_created_entry(lines=order.lines.count(), user=user, via=via, at=now)
    )
    if send_task:
        order_orchestration_request(order_id=order.pk, trigger=CREATED_TRIGGER, now=now)
    else:
        order_orchestration_flag(order_ids=[order.pk], trigger=CREATED_TRIGGER, now=now)


def order_lines_attach(order: Order, lines: list[OrderLine]) -> None:
    """``order.lines.all()`` gives ``lines`` without a query, as Django's prefetch leaves
    it: an order just created is answered as created, not read back."""
    queryset = order.lines.all()
    queryset._result_cache = lines
    queryset._prefetch_done = True  # type: ignore[attr-defined]
    order._prefetched_objects_cache = {"lines": queryset}  # type: ignore[attr-defined]


def _created_entry(*, lines: int, user: User | None, via: str, at: datetime) -> dict[str, Any]:
    """A new order's first timeline entry (``order.created``), as ``event_build`` and
    ``event_record`` take it."""
    return {
        "kind": "order.created",
        "message": f"Order created with {lines} line{'s' if lines != 1 else ''}.",
        "at": at,
        "actor": actor_of(user, via),
        "user": user,
    }


@transaction.atomic
def order_custom_fields_set(
    *, order_id: int, values: Mapping[str, Any], user: User | None, now: datetime | None = None
) -> Order:
    """Set some of an order's custom fields (a ``None`` removes one), e.g. the payment
    status a downstream system reports; the order's plans look again at what they
    wait for (a pause on ``Order.CustomFields.PaymentStatus``)."""
    now = now or timezone.now()
    order = Order.objects.select_for_update().filter(pk=order_id).first()
    if order is None:
        raise NotFoundError(f"There is no order {order_id}.", code="not_found")
    if not values:
        raise ApplicationError(
            "Give at least one custom field.", code="required", field="custom_fields"
        )
    fields = dict(order.custom_fields or {})
    for name, value in values.items():
        if value is None:
            fields.pop(name, None)
        else:
            fields[name] = value
    order.custom_fields = fields
    order.save(update_fields=["custom_fields", "updated_at"])
    event_record(
        order=order,
        kind="order.updated",
        message="Custom fields set: "
        + ", ".join(f"{name} = {value!r}" for name, value in sorted(values.items()))
        + ".",
        at=now,
        actor=actor_of(user, "api"),
        user=user,
        data={"custom_fields": dict(values)},
    )
    plans_for_order_changed(order=order, now=now)
    return order
