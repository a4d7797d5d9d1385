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


@shared_task(name="orchestration.tasks.backtest_run_task", ignore_result=True)
def backtest_run_task(backtest_id: int) -> None:
    """Run a recorded backtest (started by ``services.backtest_start``)."""
    from .models import Backtest
    from .services.backtests import backtest_run

    backtest = Backtest.objects.filter(pk=backtest_id).first()
    if backtest is not None:  # deleted meanwhile: nothing to do
        backtest_run(backtest=backtest)
