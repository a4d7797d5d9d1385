"""The periodic sweep (beat, every minute; or ``manage.py sweep`` from cron).

Everything time-driven happens here rather than in long-delayed tasks, which a
broker may lose or a deploy may drop: deadlines that passed, waiting orders due
for another try, orchestration messages that never arrived, exports and webhook
events due for a retry. Each item is handled in its own transaction.
"""

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from ..models import ExportStatus, Order, OrderFulfillment
from .events import webhooks_due
from .fulfillments import fulfillment_expire_overdue
from .orchestration import order_orchestration_request, order_orchestration_send

# An orchestration asked for this long ago and still not run was lost: send it again.
LOST_AFTER = timedelta(minutes=2)
BATCH = 500


def sweep(*, now: datetime | None = None) -> dict[str, int]:
    """Run every time-driven job once; return how many items each touched."""
    from ..tasks import fulfillment_export_task, webhook_deliver_task

    now = now or timezone.now()
    expired = fulfillment_expire_overdue(now=now)
    waiting = 0
    for order_id in Order.objects.filter(
        next_orchestration_at__lte=now, needs_orchestration=False
    ).values_list("pk", flat=True)[:BATCH]:
        with transaction.atomic():
            order_orchestration_request(
                order_id=order_id, trigger="retry: the order was waiting for stock", now=now
            )
        waiting += 1
    lost = 0
    for order_id in Order.objects.filter(
        needs_orchestration=True, orchestration_requested_at__lte=now - LOST_AFTER
    ).values_list("pk", flat=True)[:BATCH]:
        with transaction.atomic():
            Order.objects.filter(pk=order_id).update(orchestration_requested_at=now)
            order_orchestration_send(order_id=order_id)
        lost += 1
    exports = list(
        OrderFulfillment.objects.filter(
            export_status=ExportStatus.PENDING, export_next_at__lte=now
        ).values_list("pk", flat=True)[:BATCH]
    )
    for fulfillment_id in exports:
        fulfillment_export_task.delay(fulfillment_id)
    webhooks = webhooks_due(now=now)
    for event_id in webhooks:
        webhook_deliver_task.delay(event_id)
    return {
        "expired": expired,
        "waiting": waiting,
        "resent": lost,
        "exports": len(exports),
        "webhooks": len(webhooks),
    }
