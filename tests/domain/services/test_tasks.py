"""Celery tasks run inline by default, and through a real worker over the broker.

With ``CELERY_BROKER_URL`` unset the worker uses the in-memory broker; with
``CELERY_BROKER_URL=redis://...`` or ``amqp://...`` (as ``.ci/run`` sets them) the
same test goes through Redis or RabbitMQ.
"""

from collections.abc import Iterator
from datetime import timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from orchestration.celery import app
from orchestration.models import OrchestrationDetails, Order
from orchestration.services.orchestration_details import orchestration_details_create
from orchestration.tasks import orchestration_details_purge_task


def _expired_details() -> OrchestrationDetails:
    order = Order.objects.create()
    past = timezone.now() - timedelta(days=30)
    return orchestration_details_create(order=order, blob={"x": 1}, at=past, now=past)


@pytest.mark.django_db
def test_tasks_run_inline_in_eager_mode() -> None:
    """The embedded default (no broker): ``delay()`` runs the task at once."""
    app.conf.task_always_eager = True
    try:
        details = _expired_details()
        assert orchestration_details_purge_task.delay().get() == 1
    finally:
        app.conf.task_always_eager = settings.CELERY_TASK_ALWAYS_EAGER
    details.refresh_from_db()
    assert details.blob is None


@pytest.fixture
def worker() -> Iterator[None]:
    """A real worker thread consuming from the configured broker."""
    app.conf.task_always_eager = False
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            yield
    finally:
        app.conf.task_always_eager = settings.CELERY_TASK_ALWAYS_EAGER


@pytest.mark.real_worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_purges_expired_orchestration_details(worker: None) -> None:
    details = _expired_details()
    kept = orchestration_details_create(
        order=details.order, blob={"y": 2}, at=timezone.now(), now=timezone.now()
    )
    result = orchestration_details_purge_task.delay()
    assert result.get(timeout=30) == 1
    details.refresh_from_db()
    kept.refresh_from_db()
    assert (details.blob, kept.blob) == (None, {"y": 2})


@pytest.mark.django_db
def test_the_purge_also_runs_as_a_command(capsys: pytest.CaptureFixture[str]) -> None:
    _expired_details()
    call_command("purge_orchestration_details")
    assert capsys.readouterr().out == (
        "Purged 1 expired orchestration details.\nPurged 0 expired idempotency keys.\n"
    )
