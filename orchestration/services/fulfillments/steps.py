"""The steps of a fulfilment: a shop starts, picks, packs, ships or declines its
ship-from-store task; a warehouse reports what it shipped of an export.

Each step is allowed only at its stage of the task (``OrderFulfillment.stage``, the one
state machine); otherwise it is refused (409) with nothing written. Each locks the order
first, then the fulfilment and the copies of its task, so two shops starting the same
fanned-out task at the same moment queue up: the first wins, the second finds the task
Deactivated and is told which shop has it. What a step leaves undone (units not picked,
not shipped, a declined task) is cancelled and routed again without this supplier
(``order_orchestration_request``). Each returns a small frozen result saying what
happened, for the caller to tell its user without reading the rows back.
"""

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from ...errors import ApplicationError, ConflictError
from ...models import (
    CancellationReason,
    FulfillmentAction,
    FulfillmentStatus,
    OrderFulfillment,
    OrderFulfillmentLine,
    OrderIntent,
    OrderLine,
)
from ...models.fulfillments import TaskStage
from ..events import actor_of, event_record
from ..orchestration_requests import order_orchestration_request
from ..plans import plan_manual_step_done, plans_of_ended_fulfillments_end
from ..progress import order_refresh_status
from ..stock import stock_consume, stock_release, stock_reserve
from .common import (
    cancel_open_lines,
    checked_reason,
    deadline_from,
    end_units,
    lock_fulfillment,
    lock_open_lines,
    quantities_or_whole,
    require_action,
    reroute_unless_covered,
    settle,
    shop_name,
    task_copies,
)


@dataclass(frozen=True)
class Started:
    """A task a shop took on, and its copies at other shops that were deactivated."""

    fulfillment_id: int
    deactivated: tuple[int, ...]


@dataclass(frozen=True)
class Picked:
    """What a shop picked of a task: units picked, units not picked (``missing``,
    cancelled and routed again) and the reason given for them (empty if none)."""

    fulfillment_id: int
    picked: int
    missing: int
    reason: str


@dataclass(frozen=True)
class Packed:
    """A packed task and when it must be shipped by (None: no deadline)."""

    fulfillment_id: int
    ship_deadline: datetime | None


@dataclass(frozen=True)
class Declined:
    """A declined task, the reason, and whether its lines were routed again (not when
    another shop's copy may still take them)."""

    fulfillment_id: int
    reason: str
    rerouted: bool


@dataclass(frozen=True)
class Shipped:
    """A shipment as stored (carrier and tracking number trimmed): units shipped, and
    units not shipped (``missing``, cancelled and routed again)."""

    fulfillment_id: int
    carrier: str
    tracking_number: str
    shipped: int
    missing: int


@transaction.atomic
def fulfillment_start(
    *, fulfillment_id: int, user: User | None, now: datetime | None = None
) -> Started:
    """A shop starts a ship-from-store task; its copies at other shops are deactivated."""
    now = now or timezone.now()
    order, fulfillment = lock_fulfillment(fulfillment_id, user)
    require_action(fulfillment, FulfillmentAction.SHIP_FROM_STORE, "started")
    copies = task_copies(fulfillment)
    if fulfillment.stage != TaskStage.NEW:
        winner = next((c for c in copies if c.started_at), None)
        if fulfillment.status == FulfillmentStatus.DEACTIVATED and winner is not None:
            raise ConflictError(
                f"{shop_name(winner)} started this task first; it is no longer yours.",
                code="other_store",
            )
        raise ConflictError(
            f"This task is {fulfillment.get_status_display()}; only a New task can be started.",
            code="not_new",
        )
    lines = lock_open_lines(fulfillment)
    holder = next((c for c in copies if c.holds_reservation), None)
    if order.intent == OrderIntent.SALES and not fulfillment.holds_reservation:
        # Reserve here before releasing there: if this shop lacks the stock the
        # whole start is refused and the other shop keeps its reservation. (No
        # holder at all: the shop that held it declined, and released it.)
        wanted: Counter[int] = Counter()
        for line in lines:
            wanted[line.product_id] += line.quantity
        for product_id, quantity in sorted(wanted.items()):
            if not stock_reserve(
                organization_unit_id=fulfillment.supplier_unit_id,
                product_id=product_id,
                quantity=quantity,
            ):
                raise ConflictError(
                    "This shop no longer has the stock for this task.", code="insufficient_stock"
                )
            if holder is not None:
                stock_release(
                    organization_unit_id=holder.supplier_unit_id,
                    product_id=product_id,
                    quantity=quantity,
                )
        if holder is not None:
            OrderFulfillment.objects.filter(pk=holder.pk).update(holds_reservation=False)
        fulfillment.holds_reservation = True
    OrderFulfillmentLine.objects.filter(pk__in=[line.pk for line in lines]).update(
        status=FulfillmentStatus.IN_PROGRESS, started_at=now, updated_at=now
    )
    others = [c for c in copies if c.pk != fulfillment.pk and c.status == FulfillmentStatus.NEW]
    OrderFulfillmentLine.objects.filter(
        fulfillment__in=others, status=FulfillmentStatus.NEW
    ).update(
        status=FulfillmentStatus.DEACTIVATED,
        cancellation_reason=CancellationReason.OTHER_STORE,
        updated_at=now,
    )
    OrderFulfillment.objects.filter(pk__in=[c.pk for c in others]).update(
        status=FulfillmentStatus.DEACTIVATED, updated_at=now
    )
    settle(
        fulfillment,
        now,
        status=FulfillmentStatus.IN_PROGRESS,
        started_at=now,
        started_by=user if user is not None and user.is_authenticated else None,
        holds_reservation=fulfillment.holds_reservation,
        pack_deadline=deadline_from(fulfillment, "PackDeadlineInMinutes", now),
    )
    message = f"{shop_name(fulfillment)} started the ship-from-store task."
    if others:
        message += " Deactivated at " + ", ".join(shop_name(c) for c in others) + " (Otherstore)."
    event_record(
        order=order,
        kind="fulfillment.started",
        message=message,
        at=now,
        actor=actor_of(user, "store"),
        user=user,
        fulfillment=fulfillment,
        data={"deactivated": [c.pk for c in others]},
    )
    order_refresh_status(order=order, now=now, actor=actor_of(user, "store"))
    plan_manual_step_done(fulfillment=fulfillment, handler="start", user=user, now=now)
    if others:  # their plans end with them
        plans_of_ended_fulfillments_end(now=now)
    return Started(fulfillment_id=fulfillment.pk, deactivated=tuple(c.pk for c in others))


@transaction.atomic
def fulfillment_pick(
    *,
    fulfillment_id: int,
    user: User | None,
    picked: Mapping[int, int] | None = None,
    reason: str | None = None,
    now: datetime | None = None,
) -> Picked:
    """Record what the shop picked; lines not listed in ``picked`` are picked in full.

    What was not picked is cancelled with ``reason`` and routed again without this shop.
    """
    now = now or timezone.now()
    order, fulfillment = lock_fulfillment(fulfillment_id, user)
    require_action(fulfillment, FulfillmentAction.SHIP_FROM_STORE, "picked")
    if fulfillment.stage != TaskStage.STARTED:
        raise ConflictError(
            "Only a started task that is not picked yet can be picked.", code="not_pickable"
        )
    lines = lock_open_lines(fulfillment)
    quantities = quantities_or_whole(lines, picked, "picked")
    missing_any = any(quantities[line.pk] < line.quantity for line in lines)
    reason = checked_reason(reason) if missing_any else ""
    missing = 0
    for line in lines:
        rest = line.quantity - quantities[line.pk]
        missing += rest
        end_units(
            fulfillment, line, rest, status=FulfillmentStatus.CANCELLED, reason=reason, now=now
        )
    settle(fulfillment, now, picked_at=now)
    actor = actor_of(user, "store")
    message = f"{shop_name(fulfillment)} picked the task"
    if missing:
        message += f"; {missing} units not picked ({reason}) are routed again without this shop"
    event_record(
        order=order,
        kind="fulfillment.picked",
        message=message + ".",
        at=now,
        actor=actor,
        user=user,
        fulfillment=fulfillment,
        data={"not_picked": missing, "reason": reason or None},
    )
    if missing:
        order_orchestration_request(
            order_id=order.pk,
            trigger=f"{shop_name(fulfillment)} did not pick {missing} units ({reason})",
            now=now,
        )
    order_refresh_status(order=order, now=now, actor=actor)
    plan_manual_step_done(fulfillment=fulfillment, handler="pick", user=user, now=now)
    return Picked(
        fulfillment_id=fulfillment.pk,
        picked=sum(quantities.values()),
        missing=missing,
        reason=reason,
    )


@transaction.atomic
def fulfillment_pack(
    *, fulfillment_id: int, user: User | None, now: datetime | None = None
) -> Packed:
    """The shop packed the picked lines; the ship deadline starts."""
    now = now or timezone.now()
    order, fulfillment = lock_fulfillment(fulfillment_id, user)
    require_action(fulfillment, FulfillmentAction.SHIP_FROM_STORE, "packed")
    if fulfillment.stage != TaskStage.PICKED:
        raise ConflictError(
            "Only a picked task that is not packed yet can be packed.", code="not_packable"
        )
    ship_deadline = deadline_from(fulfillment, "ShipDeadlineInMinutes", now)
    settle(fulfillment, now, packed_at=now, ship_deadline=ship_deadline)
    event_record(
        order=order,
        kind="fulfillment.packed",
        message=f"{shop_name(fulfillment)} packed the task.",
        at=now,
        actor=actor_of(user, "store"),
        user=user,
        fulfillment=fulfillment,
    )
    plan_manual_step_done(fulfillment=fulfillment, handler="pack", user=user, now=now)
    return Packed(fulfillment_id=fulfillment.pk, ship_deadline=ship_deadline)


# The stages at which a shop may still give a task back.
DECLINABLE = (TaskStage.NEW, TaskStage.STARTED, TaskStage.PICKED, TaskStage.PACKED)


@transaction.atomic
def fulfillment_decline(
    *,
    fulfillment_id: int,
    user: User | None,
    reason: str | None = None,
    now: datetime | None = None,
) -> Declined:
    """A shop declines a task: its lines are cancelled and routed again without it."""
    now = now or timezone.now()
    order, fulfillment = lock_fulfillment(fulfillment_id, user)
    require_action(fulfillment, FulfillmentAction.SHIP_FROM_STORE, "declined")
    if fulfillment.stage not in DECLINABLE:
        raise ConflictError(
            f"This task is {fulfillment.get_status_display()}; it can no longer be declined.",
            code="not_declinable",
        )
    reason = checked_reason(reason)
    cancel_open_lines(fulfillment, reason, now)
    actor = actor_of(user, "store")
    rerouted = reroute_unless_covered(
        order, fulfillment, f"{shop_name(fulfillment)} declined ({reason})", now
    )
    event_record(
        order=order,
        kind="fulfillment.declined",
        message=f"{shop_name(fulfillment)} declined the task ({reason})"
        + (
            "; its lines are routed again without this shop."
            if rerouted
            else "; other shops still have it."
        ),
        at=now,
        actor=actor,
        user=user,
        fulfillment=fulfillment,
        data={"reason": reason},
    )
    order_refresh_status(order=order, now=now, actor=actor)
    plans_of_ended_fulfillments_end(now=now)
    return Declined(fulfillment_id=fulfillment.pk, reason=reason, rerouted=rerouted)


def _check_shippable(fulfillment: OrderFulfillment, shipped: Mapping[int, int] | None) -> None:
    """Refuse a shipment the fulfilment cannot take: a shop ships a packed task whole; a
    warehouse reports on a New or InProgress export; nothing else is shipped."""
    if fulfillment.action == FulfillmentAction.SHIP_FROM_STORE:
        if fulfillment.stage != TaskStage.PACKED:
            raise ConflictError("Only a packed task can be shipped.", code="not_shippable")
        if shipped:
            raise ApplicationError(
                "A shop ships what it packed; unpicked lines are given when picking.",
                code="invalid",
                field="lines",
            )
    elif fulfillment.action == FulfillmentAction.EXPORT_ORDER:
        if fulfillment.status not in (FulfillmentStatus.NEW, FulfillmentStatus.IN_PROGRESS):
            raise ConflictError(
                f"This fulfilment is {fulfillment.get_status_display()}; it cannot be shipped.",
                code="not_shippable",
            )
    else:
        raise ConflictError(
            f"A {fulfillment.action} fulfilment is not shipped.", code="wrong_action"
        )


@transaction.atomic
def fulfillment_ship(
    *,
    fulfillment_id: int,
    user: User | None,
    carrier: str,
    tracking_number: str,
    shipped: Mapping[int, int] | None = None,
    now: datetime | None = None,
) -> Shipped:
    """Shipped: the lines are Completed and their stock leaves the supplier.

    A shop ships a packed task in full. A warehouse reports what it shipped of
    an export (``shipped``: fulfilment line ID -> quantity; lines not listed
    shipped in full); the rest is cancelled (NotShipped) and routed again.
    """
    now = now or timezone.now()
    order, fulfillment = lock_fulfillment(fulfillment_id, user)
    for field, value in (("carrier", carrier), ("tracking_number", tracking_number)):
        if not value or not value.strip():
            raise ApplicationError(
                f"A shipment needs a {field.replace('_', ' ')}.", code="required", field=field
            )
    _check_shippable(fulfillment, shipped)
    lines = lock_open_lines(fulfillment)
    quantities = quantities_or_whole(lines, shipped, "shipped")
    total = missing = 0
    for line in lines:
        quantity = quantities[line.pk]
        rest = line.quantity - quantity
        end_units(
            fulfillment,
            line,
            rest,
            status=FulfillmentStatus.CANCELLED,
            reason=CancellationReason.NOT_SHIPPED,
            now=now,
        )
        missing += rest
        if quantity:
            total += quantity
            OrderFulfillmentLine.objects.filter(pk=line.pk).update(
                status=FulfillmentStatus.COMPLETED, completed_at=now, updated_at=now
            )
            OrderLine.objects.filter(pk=line.order_line_id).update(
                quantity_shipped=F("quantity_shipped") + quantity
            )
            if fulfillment.holds_reservation:
                stock_consume(
                    organization_unit_id=fulfillment.supplier_unit_id,
                    product_id=line.product_id,
                    quantity=quantity,
                )
    settle(
        fulfillment,
        now,
        shipped_at=now if total else None,
        carrier=carrier.strip(),
        tracking_number=tracking_number.strip(),
        holds_reservation=False,
    )
    actor = actor_of(user, "warehouse" if fulfillment.exporter_name else "store")
    message = f"{shop_name(fulfillment)} shipped {total} units with {carrier} ({tracking_number})"
    if missing:
        message += f"; {missing} units not shipped are routed again without it"
    event_record(
        order=order,
        kind="fulfillment.shipped",
        message=message + ".",
        at=now,
        actor=actor,
        user=user,
        fulfillment=fulfillment,
        data={
            "carrier": carrier,
            "tracking_number": tracking_number,
            "shipped": total,
            "not_shipped": missing,
        },
    )
    if missing:
        order_orchestration_request(
            order_id=order.pk,
            trigger=f"{shop_name(fulfillment)} did not ship {missing} units",
            now=now,
        )
    order_refresh_status(order=order, now=now, actor=actor)
    plan_manual_step_done(fulfillment=fulfillment, handler="ship", user=user, now=now)
    return Shipped(
        fulfillment_id=fulfillment.pk,
        carrier=carrier.strip(),
        tracking_number=tracking_number.strip(),
        shipped=total,
        missing=missing,
    )
