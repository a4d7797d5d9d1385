"""Order and order-line statuses, derived from their fulfilment lines.

Statuses are never set by hand: every lifecycle service calls
``order_refresh_status`` at the end of its transaction, so they always follow
from the quantities (ordered, shipped, cancelled, in an open fulfilment).
"""

from collections import defaultdict
from datetime import datetime

from ..models import Order, OrderFulfillmentLine, OrderLine, OrderLineStatus, OrderStatus
from ..models.fulfillments import OPEN_FULFILLMENT_STATUSES
from .events import event_record


def order_refresh_status(*, order: Order, now: datetime, actor: str) -> str:
    """Recompute the statuses of ``order`` and its lines; return the order's status."""
    in_fulfilment: dict[int, int] = defaultdict(int)
    seen_tasks: set[tuple[int, str]] = set()
    for line_id, quantity, task in OrderFulfillmentLine.objects.filter(
        fulfillment__order=order, status__in=OPEN_FULFILLMENT_STATUSES
    ).values_list("order_line_id", "quantity", "fulfillment__task_key"):
        if task:  # the copies of a fanned-out task count once
            if (line_id, task) in seen_tasks:
                continue
            seen_tasks.add((line_id, task))
        in_fulfilment[line_id] += quantity
    statuses = []
    changes: dict[str, list[int]] = defaultdict(list)
    for line in OrderLine.objects.filter(order=order):
        remaining = line.quantity - line.quantity_shipped - line.quantity_cancelled
        if remaining <= 0:
            status = (
                OrderLineStatus.COMPLETED if line.quantity_shipped else OrderLineStatus.CANCELLED
            )
        elif in_fulfilment[line.pk]:
            status = OrderLineStatus.IN_FULFILLMENT
        else:
            status = OrderLineStatus.OPEN
        if status != line.status:
            changes[status].append(line.pk)
        statuses.append(status)
    for status, line_ids in changes.items():
        OrderLine.objects.filter(pk__in=line_ids).update(status=status)
    if all(s == OrderLineStatus.CANCELLED for s in statuses):
        status = OrderStatus.CANCELLED
    elif all(s in (OrderLineStatus.COMPLETED, OrderLineStatus.CANCELLED) for s in statuses):
        status = OrderStatus.COMPLETED
    elif any(s == OrderLineStatus.IN_FULFILLMENT for s in statuses):
        status = OrderStatus.ROUTED
    else:
        status = OrderStatus.WAITING
    # ``order`` is the row the caller locked: its status is current.
    if status != order.status:
        Order.objects.filter(pk=order.pk).update(status=status)
        order.status = status
        if status in (OrderStatus.COMPLETED, OrderStatus.CANCELLED):
            event_record(
                order=order,
                kind=f"order.{status.lower()}",
                message=f"The order is {status.lower()}.",
                at=now,
                actor=actor,
                data={"status": status},
            )
    return status
