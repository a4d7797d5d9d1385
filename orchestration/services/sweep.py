"""The periodic sweep (beat, every minute; or ``manage.py sweep`` from cron).

Everything time-driven happens here rather than in long-delayed tasks, which a
broker may lose or a deploy may drop: deadlines that passed, waiting orders due
for another try, orchestration messages that never arrived (and the drain slots
they held), exports and webhook
events due for a retry, backtests whose task never arrived. Each item is handled
in its own transaction.

This is also how work catches up after a broker outage: a write that could not
send its task left the work flagged (``services/sending.py``). While the broker is
still down, sending stops at the first refusal and the rest waits for the next sweep.
"""

from datetime import datetime

from django.utils import timezone

from ..models import ExportStatus, Order, OrderFulfillment
from ..tasks import fulfillment_export_task, order_orchestrate_task, webhook_deliver_task
from .backtests import backtests_resend
from .events import webhooks_due
from .fulfillments.cancellations import fulfillment_expire_overdue
from .orchestration_drains import CLAIM_LEASE, drains_sweep
from .orchestration_requests import order_orchestration_flag
from .plans import plans_sweep
from .sending import task_send

# An orchestration (or a backtest) asked for this long ago and still not run was
# lost: send it again. Longer than a busy worker's queue normally takes, so that a
# message merely waiting is seldom doubled (a doubled one finds nothing to do). The
# same span as a drain's claim on an order: when the claim lapses, the order is sent
# on its own.
LOST_AFTER = CLAIM_LEASE
BATCH = 500


def sweep(*, now: datetime | None = None) -> dict[str, int]:
    """Run every time-driven job once; return how many items each touched (sent, for
    the resends)."""
    now = now or timezone.now()
    expired = fulfillment_expire_overdue(now=now)
    due = list(
        Order.objects.filter(next_orchestration_at__lte=now, needs_orchestration=False)
        .order_by("pk")
        .values_list("pk", flat=True)[:BATCH]
    )
    order_orchestration_flag(
        order_ids=due, trigger="retry: the order was waiting for stock", now=now
    )
    waiting = task_send(task=order_orchestrate_task, ids=due, noun="order")
    lost = list(
        Order.objects.filter(
            needs_orchestration=True, orchestration_requested_at__lte=now - LOST_AFTER
        )
        .order_by("pk")  # oldest first
        .values_list("pk", flat=True)[:BATCH]
    )
    resent = task_send(task=order_orchestrate_task, ids=lost, noun="order")
    drains = drains_sweep(now=now, lost_after=LOST_AFTER)
    # Those sent are due again LOST_AFTER from now; those the broker refused, at the
    # next sweep.
    Order.objects.filter(pk__in=lost[:resent], needs_orchestration=True).update(
        orchestration_requested_at=now
    )
    exports = list(
        OrderFulfillment.objects.filter(
            export_status=ExportStatus.PENDING, export_next_at__lte=now
        ).values_list("pk", flat=True)[:BATCH]
    )
    exported = task_send(task=fulfillment_export_task, ids=exports, noun="fulfillment")
    webhooks = task_send(task=webhook_deliver_task, ids=webhooks_due(now=now), noun="order event")
    backtests = backtests_resend(now=now, lost_after=LOST_AFTER, limit=BATCH)
    plans = plans_sweep(now=now, lost_after=LOST_AFTER)
    return {
        **plans,
        "expired": expired,
        "waiting": waiting,
        "resent": resent,
        "drains": drains,
        "exports": exported,
        "webhooks": webhooks,
        "backtests": backtests,
    }
