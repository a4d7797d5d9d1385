"""``manage.py purge_orchestration_details``: drop expired orchestration details (and the
API's idempotency keys older than 24 hours), as the daily beat job does."""

from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone

from ...services.idempotency import idempotency_keys_purge
from ...services.orchestration_details import orchestration_details_purge


class Command(BaseCommand):
    help = (
        "Drop the orchestration details (explanation blobs) whose lifetime "
        "(Symphony:OrchestrationDetailsLifetimeInDays) is over, and idempotency keys "
        "older than 24 hours."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        now = timezone.now()
        purged = orchestration_details_purge(now=now)
        self.stdout.write(f"Purged {purged} expired orchestration details.")
        keys = idempotency_keys_purge(now=now)
        self.stdout.write(f"Purged {keys} expired idempotency keys.")
