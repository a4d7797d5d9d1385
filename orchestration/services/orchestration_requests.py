"""Asking for an order to be orchestrated: the flag, and the task sent on commit.

Whatever changes what an order can get (an order created, a decline, a partial
pick, new stock, a person's retry) flags the order here in its own transaction;
the orchestration task goes to the broker only once that commits, so the worker
always sees the change that asked for it. If the broker is down, the flag stays
and the sweep sends the task later (``services/sweep.py``): nothing is lost.
The routing itself is ``services/orchestration.py``; this module sits below it,
so that stock, orders and fulfillments can ask without importing the router.
"""

from collections.abc import Sequence
from datetime import datetime

from ..models import Order, OrderStatus
from ..tasks import order_orchestrate_task
from .sending import task_send_on_commit


def order_orchestration_request(*, order_id: int, trigger: str, now: datetime) -> None:
    """Flag, in the caller's transaction, that the order must be routed (again).

    The orchestration task is sent once the caller's transaction commits, so it
    always sees the change that asked for it. An order whose orchestration failed
    (``OrchestrationFailed``) is left for a person: nothing is flagged or sent.
    """
    if order_orchestration_flag(order_ids=[order_id], trigger=trigger, now=now):
        order_orchestration_send_on_commit(order_id=order_id)


def order_orchestration_send_on_commit(*, order_id: int) -> None:
    """Send the orchestration task for an order the caller flagged (or created flagged)
    once the caller's transaction commits."""
    task_send_on_commit(task=order_orchestrate_task, ids=[order_id], noun="order")


def order_orchestration_flag(*, order_ids: Sequence[int], trigger: str, now: datetime) -> int:
    """Flag the orders for orchestration without sending anything (the caller sends);
    return how many were flagged (those not ``OrchestrationFailed``)."""
    return (
        Order.objects.filter(pk__in=order_ids)
        .exclude(status=OrderStatus.ORCHESTRATION_FAILED)
        .update(
            needs_orchestration=True,
            orchestration_trigger=trigger[:200],
            orchestration_requested_at=now,
        )
    )
