"""``manage.py purge_orchestration_details``: drop expired orchestration details."""

from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone

from ...services import orchestration_details_purge


class Command(BaseCommand):
    help = (
        "Drop the orchestration details (explanation blobs) whose lifetime "
        "(Symphony:OrchestrationDetailsLifetimeInDays) is over."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        purged = orchestration_details_purge(now=timezone.now())
        self.stdout.write(f"Purged {purged} expired orchestration details.")
