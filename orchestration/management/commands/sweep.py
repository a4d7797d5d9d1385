"""``manage.py sweep``: the every-minute job, for installs without a beat (cron it)."""

from typing import Any

from django.core.management.base import BaseCommand

from ...services.sweep import sweep


class Command(BaseCommand):
    help = (
        "Expire overdue ship-from-store tasks, retry waiting orders, resend lost "
        "orchestrations and send due exports and webhook events. Run it every minute "
        "from cron on an install without Celery beat."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        counts = sweep()
        self.stdout.write(", ".join(f"{name}: {count}" for name, count in counts.items()))
