"""Celery tasks: thin wrappers that call a service (HackSoft style).

Each task's work is also a management command, so a worker-less install (the
embedded default) can run it from cron. Every task is safe to run twice: the
services check state under a lock (orchestration), claim their work with a
conditional update (exports, webhooks) or are idempotent by nature (purge).
"""

from celery import shared_task
from django.utils import timezone


@shared_task(name="orchestration.tasks.history_purge_task")
def history_purge_task() -> dict[str, int]:
    """Purge the history the retention rules let go, in batches, within the run's time
    budget (hourly, by beat); return how many rows of each kind."""
    from .services.history import history_purge

    return history_purge(now=timezone.now()).counts


@shared_task(name="orchestration.tasks.orchestration_details_purge_task")
def orchestration_details_purge_task() -> int:
    """Drop the orchestration details whose lifetime is over, and the API's idempotency
    keys older than 24 hours; return how many details were dropped. (The daily beat
    entry of old: a schedule stored in the database may still name it.)"""
    from .services.history import history_purge

    kinds = ("idempotency_keys", "orchestration_details")
    return history_purge(now=timezone.now(), kinds=kinds).counts["orchestration_details"]


@shared_task(name="orchestration.tasks.order_orchestrate_task", ignore_result=True)
def order_orchestrate_task(order_id: int) -> None:
    """Route an order that needs it (sent after commit by ``order_orchestration_request``)."""
    from .services.orchestration import order_orchestrate

    order_orchestrate(order_id=order_id)


@shared_task(name="orchestration.tasks.orders_orchestrate_task", ignore_result=True)
def orders_orchestrate_task(order_ids: list[int]) -> None:
    """Route several orders that need it, one after the other (sent after each chunk of
    a bulk import by ``services.order_imports``: one message for many orders). Each
    order's run is its own: an order that fails does not stop the others."""
    from .services.orchestration import order_orchestrate

    for order_id in order_ids:
        order_orchestrate(order_id=order_id)


@shared_task(name="orchestration.tasks.orders_drain_task", ignore_result=True)
def orders_drain_task(slot: int) -> None:
    """Route every order flagged for orchestration, oldest first, freeing drain slot
    ``slot`` first (sent after commit by ``orchestration_drains.drain_ask``: a
    message for many new orders rather than one each)."""
    from .services.orchestration import orders_drain

    orders_drain(slot=slot)


@shared_task(name="orchestration.tasks.fulfillment_export_task", ignore_result=True)
def fulfillment_export_task(fulfillment_id: int) -> None:
    """Send one pending export to its warehouse (retries are scheduled by the sweep)."""
    from .services.fulfillments.exports import fulfillment_export

    fulfillment_export(fulfillment_id=fulfillment_id)


@shared_task(name="orchestration.tasks.plan_step_run_task", ignore_result=True)
def plan_step_run_task(step_id: int) -> None:
    """Run one attempt of a Ready automatic plan step (sent on commit by ``services/plans.py``)."""
    from .services.plans import plan_step_run

    plan_step_run(step_id=step_id)


@shared_task(name="orchestration.tasks.order_changes_apply_task", ignore_result=True)
def order_changes_apply_task(order_id: int) -> None:
    """Apply the order's pending in-flight changes whose plans stopped running (sent on
    commit when a Freezing plan's step ends, and by the sweep)."""
    from .services.order_changes import order_changes_pending_apply

    order_changes_pending_apply(order_id=order_id)


@shared_task(name="orchestration.tasks.webhook_deliver_task", ignore_result=True)
def webhook_deliver_task(event_id: int) -> None:
    """Post one pending timeline event to the webhook receiver."""
    from .services.events import webhook_deliver

    webhook_deliver(event_id=event_id, now=timezone.now())


@shared_task(name="orchestration.tasks.sweep_task")
def sweep_task() -> dict[str, int]:
    """Deadlines, waiting orders, lost tasks and due retries (every minute, by beat)."""
    from .services.sweep import sweep

    return sweep()


@shared_task(name="orchestration.tasks.backtest_run_task", ignore_result=True)
def backtest_run_task(backtest_id: int) -> None:
    """Run a recorded backtest (started by ``services.backtest_start``) still pending."""
    from .services.backtests import backtest_run_pending

    backtest_run_pending(backtest_id=backtest_id)
