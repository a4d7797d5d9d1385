"""``manage.py purge_history [--dry-run] [--older-than-days N]``: purge the history the
retention rules let go (``orchestration/services/history.py``), as the hourly beat job
does, and print how many rows of each kind."""

from dataclasses import replace
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from ...services.history import KINDS, HistoryRetention, history_purge


class Command(BaseCommand):
    help = (
        "Purge timeline events, plan transitions and attempts of orders that ended long "
        "ago, expired orchestration details, idempotency keys and task results, in "
        "batches within ORCHESTRATION_HISTORY_TIME_BUDGET_SECONDS."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="count what would be purged; write nothing"
        )
        parser.add_argument(
            "--older-than-days",
            type=int,
            default=None,
            help="the age of events, plan transitions and attempts instead of "
            "ORCHESTRATION_HISTORY_EVENTS_DAYS and ORCHESTRATION_HISTORY_PLANS_DAYS",
        )
        parser.add_argument(
            "--kind", action="append", choices=KINDS, help="only this kind (repeatable)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        retention = HistoryRetention.from_settings()
        days = options["older_than_days"]
        if days is not None:
            if days < 1:
                raise CommandError("--older-than-days must be at least 1")
            retention = replace(retention, events_days=days, plans_days=days)
        dry_run = options["dry_run"]
        result = history_purge(
            now=timezone.now(),
            retention=retention,
            kinds=options["kind"] or KINDS,
            dry_run=dry_run,
        )
        verb = "Would purge" if dry_run else "Purged"
        for kind, count in result.counts.items():
            self.stdout.write(f"{verb} {count} {kind.replace('_', ' ')}.")
        for path in result.archive_files:
            self.stdout.write(f"Archived to {path}.")
        if not result.finished:
            self.stdout.write("The time budget ran out: run it again to go on.")
