"""Celery tasks: thin wrappers that call a service (HackSoft style).

Each task's work is also a management command, so a worker-less install (the
embedded default) can run it from cron.
"""

from celery import shared_task
from django.utils import timezone

from .services import orchestration_details_purge


@shared_task(name="orchestration.tasks.orchestration_details_purge_task")
def orchestration_details_purge_task() -> int:
    """Drop the orchestration details whose lifetime is over (daily, by beat)."""
    return orchestration_details_purge(now=timezone.now())
