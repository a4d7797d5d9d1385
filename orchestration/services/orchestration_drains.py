"""Draining the orchestration queue: one message for many new orders.

A new order used to send its own orchestration task: a broker publish in the request
(0.5 to 1 ms of the web's CPU) and a message for a worker to take, hand to its child
and acknowledge (about 3 ms of the worker's), an order. Now it asks for a *drain*
after it commits (``drain_ask``): it takes one of ``ORCHESTRATION_DRAIN_SLOTS`` slots
(a row of ``OrchestrationDrain``) and sends ``orders_drain_task`` only if it got one.
If every slot is taken, a drain already sent and not started yet will route it. A
drain frees its slot as it starts, then claims the flagged orders one by one, oldest
first (``persistence.claim_order``: a claim committed before the run, which no other
drain overrides for ``CLAIM_LEASE``; on from the last order claimed, then once from
the oldest, so one that committed after a newer one is not passed over), each routed in
its own transaction
(``services/orchestration.py``, ``orders_drain``). So under load one message routes
many orders, two drains share the queue between them, and at a trickle each order
still gets its drain at once.

Why nothing is missed: an order commits before it rings. Either it finds a free slot
and sends a drain itself, or a taken one: a drain that has not started, so has not
claimed yet, and will see it. A drain freed its slot before its first claim, so a
ringer that finds the slot free sends a new one.

When a message cannot be sent, or is lost, the orders stay flagged and the sweep sends
them one by one as it always has (``LOST_AFTER``); a slot taken longer than that is
freed by the sweep (``drains_sweep``), so a lost drain does not hold its slot forever,
and a drain is asked for then.
In eager mode (no broker) an order is routed inline by its own task, as before: there
is no broker to save messages on, and a request routes its own order.

The other things that flag an order (a decline, an expiry, new stock, a retry) still
send its own task: they are rare beside new orders, and aimed at one order.
"""

import contextlib
import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import Error as DatabaseError
from django.db import transaction
from django.utils import timezone

from ..models import OrchestrationClaim, OrchestrationDrain
from ..tasks import orders_drain_task
from .orchestration_requests import order_orchestration_send_on_commit
from .persistence import drain_answer, drain_ring
from .sending import task_send

logger = logging.getLogger(__name__)

# A drain claims an order (``persistence.claim_order``) before its run; no other drain
# claims it for this long. So an order whose run killed its worker (out of memory) is
# not claimed first by every drain after it, holding up every new order: the sweep
# sends it on its own once it has waited as long (``sweep.LOST_AFTER`` is this span).
# And two drains never run one order at once, not even while a run whose stock was
# taken starts over.
CLAIM_LEASE = timedelta(minutes=2)


def order_orchestration_drain_on_commit(*, order_id: int) -> None:
    """Once the caller's transaction commits, see that a drain will route the order
    the caller created flagged (``drain_ask``); in eager mode (no broker) route it
    inline, as ``order_orchestration_send_on_commit`` does: a drain saves messages,
    and there is no broker to save them on."""
    if orders_drain_task.app.conf.task_always_eager:
        order_orchestration_send_on_commit(order_id=order_id)
    else:
        # Robust: whatever happens here, the order is committed and its request answers
        # success (the sweep routes it); drain_ask logs what it catches itself.
        transaction.on_commit(lambda: drain_ask(asker=f"order {order_id}"), robust=True)


def drain_ask(*, asker: str) -> bool:
    """Ask for a drain, outside any transaction, after the orders it is for committed:
    take a free slot and send ``orders_drain_task`` for it; True if a drain is asked for
    (one sent, or every slot taken: a drain sent and not started yet will see them).
    ``asker`` names what it is asked for in the warning when the broker is down
    ("order 12", or a drain that handed over).

    A drain frees its slot before it claims its first order, so an order committed
    before this either finds a slot taken by a drain not started yet, which will see
    it, or a free one, and sends a drain itself. When the broker refuses the message
    the slot is freed again (for the next order to try) and the orders are left to
    the sweep, as with any send; if even that fails, the sweep frees slots taken for
    longer than a drain waits (``drains_sweep``).
    """
    try:
        slot = drain_ring(slots=settings.ORCHESTRATION_DRAIN_SLOTS, now=timezone.now())
    except DatabaseError:
        # The orders committed; the sweep sends what stays flagged.
        logger.warning(
            "Could not ask for a drain for %s (the database refused); the sweep sends it.",
            asker,
            exc_info=True,
        )
        return False
    if slot is None:
        return True
    if task_send(task=orders_drain_task, ids=[slot], noun=f"{asker}: drain slot"):
        return True
    with contextlib.suppress(DatabaseError):  # else the sweep frees it
        drain_answer(slot=slot)
    return False


def drains_sweep(*, now: datetime, lost_after: timedelta) -> int:
    """Free the slots taken before ``now - lost_after``: their drain was lost (a
    message the broker dropped, a send that failed after the slot was taken, a worker
    of an older release that did not know the task) or is that late; drop the claims
    older than ``CLAIM_LEASE``. Then ask for a drain, for the orders those slots were
    holding up that are too recent for the sweep's own resend. Return how many slots
    were freed."""
    freed, _ = OrchestrationDrain.objects.filter(rung_at__lte=now - lost_after).delete()
    # The claims that lapsed: kept no longer, so the table holds a few minutes' orders.
    OrchestrationClaim.objects.filter(claimed_at__lte=now - CLAIM_LEASE).delete()
    if freed:
        drain_ask(asker="the sweep (slots of lost drains freed)")
    return freed
