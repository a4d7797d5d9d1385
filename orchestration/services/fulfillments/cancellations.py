"""Cancellations that no shop asked for: a client cancels fulfilment lines or an order
line itself, or a task's deadline passes.

Cancelled units release their stock. Cancelled fulfilment lines (reason Unknown, or
Expired) are routed again without their supplier, unless another shop's copy of the
task may still take them; a cancelled order line (reason FulfillmentCancelled) is not
routed again: it is gone from the order. Each cancellation locks the order first, runs
in one transaction and returns a small frozen result saying what it did.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from ...errors import ApplicationError, NotFoundError
from ...models import (
    CancellationReason,
    FulfillmentAction,
    FulfillmentStatus,
    Order,
    OrderFulfillment,
    OrderFulfillmentLine,
    OrderLine,
)
from ...models.fulfillments import OPEN_FULFILLMENT_STATUSES, TaskStage
from ...selectors.settings import setting_value
from ..events import actor_of, event_record
from ..plans import plans_point_of_no_return_check
from ..progress import order_refresh_status
from .common import (
    LineError,
    cancel_open_lines,
    checked_line_quantities,
    end_units,
    lock_fulfillment,
    lock_open_lines,
    reroute_unless_covered,
    settle,
    shop_name,
)


@dataclass(frozen=True)
class LinesCancelled:
    """Units cancelled of a fulfilment, and whether they were routed again."""

    fulfillment_id: int
    cancelled: int
    rerouted: bool


@dataclass(frozen=True)
class OrderLineCancelled:
    """Units cancelled of an order line, and of them how many were in no fulfilment."""

    order_line_id: int
    cancelled: int
    unrouted: int


@transaction.atomic
def fulfillment_lines_cancel(
    *,
    fulfillment_id: int,
    user: User | None,
    quantities: Mapping[int, int],
    now: datetime | None = None,
) -> LinesCancelled:
    """Cancel open fulfilment lines (reason Unknown), release their stock, route them again.

    ``quantities``: fulfilment line ID -> quantity to cancel. Part of a line only
    when the setting ``OrderFulfillment:AllowPartialCancellation`` is on.
    """
    now = now or timezone.now()
    order, fulfillment = lock_fulfillment(fulfillment_id, user)
    if not quantities:
        raise ApplicationError("Name at least one line to cancel.", code="required", field="lines")
    lines = checked_line_quantities(
        lock_open_lines(fulfillment), quantities, minimum=1, what="to cancel"
    )
    partial_allowed = setting_value("OrderFulfillment:AllowPartialCancellation")
    for line_id, quantity in quantities.items():
        line = lines[line_id]
        if quantity < line.quantity and not partial_allowed:
            raise LineError(
                f"Line {line_id} has {line.quantity} units: cancel all of them, or turn on the "
                "setting OrderFulfillment:AllowPartialCancellation to cancel part of a line.",
                code="partial_cancellation_not_allowed",
                line_id=line_id,
                part="quantity",
            )
    for line_id, quantity in quantities.items():
        end_units(
            fulfillment,
            lines[line_id],
            quantity,
            status=FulfillmentStatus.CANCELLED,
            reason=CancellationReason.UNKNOWN,
            now=now,
        )
    settle(fulfillment, now)
    total = sum(quantities.values())
    actor = actor_of(user, "api")
    rerouted = reroute_unless_covered(
        order, fulfillment, f"{total} units cancelled at {shop_name(fulfillment)}", now
    )
    event_record(
        order=order,
        kind="fulfillment.lines_cancelled",
        message=f"{total} units cancelled at {shop_name(fulfillment)} (Unknown)"
        + ("; routed again without it." if rerouted else "."),
        at=now,
        actor=actor,
        user=user,
        fulfillment=fulfillment,
        data={"lines": [{"id": i, "quantity": q} for i, q in quantities.items()]},
    )
    order_refresh_status(order=order, now=now, actor=actor)
    return LinesCancelled(fulfillment_id=fulfillment.pk, cancelled=total, rerouted=rerouted)


@transaction.atomic
def order_line_cancel(
    *,
    order_line_id: int,
    quantity: int,
    user: User | None,
    now: datetime | None = None,
) -> OrderLineCancelled:
    """Cancel (part of) an order line itself: nothing is routed again.

    Its open fulfilment lines are cancelled with reason FulfillmentCancelled and
    their stock released; units not in any fulfilment are cancelled too.
    """
    now = now or timezone.now()
    order_id = OrderLine.objects.filter(pk=order_line_id).values_list("order_id", flat=True).first()
    if order_id is None:
        raise NotFoundError(f"There is no order line {order_line_id}.", code="not_found")
    order = Order.objects.select_for_update().get(pk=order_id)
    line = OrderLine.objects.select_related("product").get(pk=order_line_id)
    cancellable = line.quantity - line.quantity_shipped - line.quantity_cancelled
    if not 1 <= quantity <= cancellable:
        raise ApplicationError(
            f"{cancellable} units of this line can still be cancelled; {quantity} asked."
            if cancellable
            else "Nothing of this line can be cancelled any more: it is shipped or cancelled.",
            code="invalid_quantity",
            field="quantity",
        )
    # A plan past its point of no return for this line (the demo: packed) refuses it.
    plans_point_of_no_return_check(order_line_ids=[line.pk], change=f"Cancelling line {line.pk}")
    left = quantity
    open_lines = (
        OrderFulfillmentLine.objects.select_for_update(of=("self",))
        .filter(order_line=line, status__in=OPEN_FULFILLMENT_STATUSES)
        .select_related("fulfillment")
        .order_by("-pk")
    )
    groups: dict[str, list[OrderFulfillmentLine]] = {}
    for fulfillment_line in open_lines:
        key = fulfillment_line.fulfillment.task_key or f"#{fulfillment_line.fulfillment_id}"
        groups.setdefault(key, []).append(fulfillment_line)
    touched: dict[int, OrderFulfillment] = {}
    for copies in groups.values():
        if not left:
            break
        # Every copy of a fanned-out task holds the same units: cancel them alike.
        take = min(left, min(c.quantity for c in copies))
        for fulfillment_line in copies:
            end_units(
                fulfillment_line.fulfillment,
                fulfillment_line,
                take,
                status=FulfillmentStatus.CANCELLED,
                reason=CancellationReason.FULFILLMENT_CANCELLED,
                now=now,
            )
            touched[fulfillment_line.fulfillment_id] = fulfillment_line.fulfillment
        left -= take
    for fulfillment in touched.values():
        settle(fulfillment, now)
    unrouted_units_cancel(order=order, line=line, quantity=left, now=now)
    OrderLine.objects.filter(pk=line.pk).update(
        quantity_cancelled=F("quantity_cancelled") + quantity
    )
    actor = actor_of(user, "api")
    product = line.product.backend_id or line.product.name
    event_record(
        order=order,
        kind="lines.cancelled",
        message=f"{quantity} x {product} cancelled on the order line (FulfillmentCancelled).",
        at=now,
        actor=actor,
        user=user,
        data={
            "lines": [{"order_line": line.pk, "quantity": quantity}],
            "reason": CancellationReason.FULFILLMENT_CANCELLED,
        },
    )
    order_refresh_status(order=order, now=now, actor=actor)
    return OrderLineCancelled(order_line_id=line.pk, cancelled=quantity, unrouted=left)


def unrouted_units_cancel(*, order: Order, line: OrderLine, quantity: int, now: datetime) -> None:
    """Record ``quantity`` units of ``line`` that no fulfilment holds as cancelled on the
    order line (a CANCEL fulfilment, reason FulfillmentCancelled), so the engine counts
    them as done and never routes them again; nothing for 0."""
    if quantity <= 0:
        return
    cancel = OrderFulfillment.objects.create(
        order=order,
        action=FulfillmentAction.CANCEL,
        status=FulfillmentStatus.CANCELLED,
        cancelled_at=now,
    )
    OrderFulfillmentLine.objects.create(
        fulfillment=cancel,
        order_line=line,
        product=line.product,
        quantity=quantity,
        status=FulfillmentStatus.CANCELLED,
        cancellation_reason=CancellationReason.FULFILLMENT_CANCELLED,
        cancelled_at=now,
    )


def fulfillment_expire_overdue(*, now: datetime | None = None) -> int:
    """Cancel (reason Expired) every task whose deadline passed; route its lines again.

    Run every minute by the sweep; each task expires in its own transaction so
    one failure does not hold up the rest. Returns how many fulfilments expired.
    """
    now = now or timezone.now()
    candidates = OrderFulfillment.objects.filter(action=FulfillmentAction.SHIP_FROM_STORE).filter(
        Q(status=FulfillmentStatus.NEW, start_deadline__lte=now)
        | Q(status=FulfillmentStatus.IN_PROGRESS, packed_at__isnull=True, pack_deadline__lte=now)
        | Q(status=FulfillmentStatus.IN_PROGRESS, shipped_at__isnull=True, ship_deadline__lte=now)
    )
    expired = 0
    for fulfillment_id in candidates.values_list("pk", flat=True).order_by("pk")[:1000]:
        expired += _expire(fulfillment_id, now)
    return expired


def _passed_deadline(fulfillment: OrderFulfillment, now: datetime) -> str | None:
    """Which deadline of its stage the task let pass (start, pack, ship), if any."""
    stage = fulfillment.stage
    if stage == TaskStage.NEW:
        return "start" if _passed(fulfillment.start_deadline, now) else None
    if stage in (TaskStage.STARTED, TaskStage.PICKED) and _passed(fulfillment.pack_deadline, now):
        return "pack"
    if stage in (TaskStage.STARTED, TaskStage.PICKED, TaskStage.PACKED) and _passed(
        fulfillment.ship_deadline, now
    ):
        return "ship"
    return None


@transaction.atomic
def _expire(fulfillment_id: int, now: datetime) -> int:
    order, fulfillment = lock_fulfillment(fulfillment_id)
    which = _passed_deadline(fulfillment, now)
    if which is None:  # started, packed or shipped meanwhile
        return 0
    cancel_open_lines(fulfillment, CancellationReason.EXPIRED, now)
    rerouted = reroute_unless_covered(
        order, fulfillment, f"{shop_name(fulfillment)} let the {which} deadline pass", now
    )
    event_record(
        order=order,
        kind="fulfillment.expired",
        message=f"The {which} deadline passed at {shop_name(fulfillment)}: cancelled (Expired)"
        + ("; routed again without this shop." if rerouted else "."),
        at=now,
        actor="system:deadlines",
        fulfillment=fulfillment,
        data={"deadline": which},
    )
    order_refresh_status(order=order, now=now, actor="system:deadlines")
    return 1


def _passed(deadline: datetime | None, now: datetime) -> bool:
    return deadline is not None and deadline <= now
