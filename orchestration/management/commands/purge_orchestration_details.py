"""``manage.py purge_orchestration_details``: drop expired orchestration details (and the
API's idempotency keys older than 24 hours), in batches; two of the kinds of
``manage.py purge_history``, which the hourly beat job runs."""

from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone

from ...services.history import history_purge


class Command(BaseCommand):
    help = (
        "Drop the orchestration details (explanation blobs) whose lifetime "
        "(Symphony:OrchestrationDetailsLifetimeInDays) is over, and idempotency keys "
        "older than 24 hours."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        kinds = ("orchestration_details", "idempotency_keys")
        counts = history_purge(now=timezone.now(), kinds=kinds).counts
        self.stdout.write(
            f"Purged {counts['orchestration_details']} expired orchestration details."
        )
        self.stdout.write(f"Purged {counts['idempotency_keys']} expired idempotency keys.")
