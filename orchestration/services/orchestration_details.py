"""Storing and purging the orchestration details (explanation blob) of runs."""

from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Max

from ..models import OrchestrationDetails, Order
from ..selectors.settings import setting_value


def orchestration_details_create(
    *, order: Order, blob: dict[str, Any], at: datetime, now: datetime
) -> OrchestrationDetails:
    """Keep the blob of a run until the configured lifetime has passed."""
    days = setting_value("Symphony:OrchestrationDetailsLifetimeInDays")
    with transaction.atomic():
        last = order.orchestration_details.aggregate(last=Max("attempt"))["last"] or 0
        return OrchestrationDetails.objects.create(
            order=order,
            attempt=last + 1,
            blob=blob,
            at=at,
            expires_at=now + timedelta(days=days),
        )


def orchestration_details_purge(*, now: datetime) -> int:
    """Drop every blob whose lifetime is over; return how many were dropped.

    The rows stay (without their blob) so fulfilments can say their details
    expired instead of pretending they never had any.
    """
    with transaction.atomic():
        return OrchestrationDetails.objects.filter(
            expires_at__lte=now, purged_at__isnull=True
        ).update(blob=None, purged_at=now)
