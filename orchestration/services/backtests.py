"""Backtests: run the active sheets and the drafts over the latest orders and compare.

Each order is routed twice at its own original order time, on a clean slate (as
it was when it arrived): with the active sheets, and with the drafts in place.
Nothing but the backtest's own record is written.

A backtest is recorded ``pending`` and its task sent after commit. A task lost on
the way (a broker outage) is sent again by the sweep (``backtests_resend``); the
task claims the backtest (pending to running, a conditional update) before it runs
it, so a message that arrives twice runs it once.
"""

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from orchestration.selectors.scenario import SheetDraft

from ..engine.decision import Decision
from ..errors import ApplicationError
from ..models import Backtest, BacktestStatus, Order
from ..selectors import previews
from ..tasks import backtest_run_task
from .sending import task_send, task_send_on_commit

MAX_ORDERS = 10_000
PROGRESS_EVERY = 10  # orders between progress saves


def backtest_start(*, user: Any, drafts: list[dict[str, Any]], order_count: int = 100) -> Backtest:
    """Record a backtest and start it (a Celery task, after commit)."""
    if not drafts:
        raise ApplicationError("A backtest needs at least one draft sheet.", field="drafts")
    if not 1 <= order_count <= MAX_ORDERS:
        raise ApplicationError(
            f"Compare over 1 to {MAX_ORDERS:,} orders, not {order_count}.", field="order_count"
        )
    with transaction.atomic():
        backtest = Backtest.objects.create(
            created_by=user if getattr(user, "is_authenticated", False) else None,
            drafts=drafts,
            order_count=order_count,
        )
        task_send_on_commit(task=backtest_run_task, ids=[backtest.pk], noun="backtest")
    return backtest


def backtest_run_pending(*, backtest_id: int) -> Backtest | None:
    """Run the backtest if it is still pending (the task's entry); None if it was
    claimed already (by an earlier copy of its message) or deleted."""
    if not Backtest.objects.filter(pk=backtest_id, status=BacktestStatus.PENDING).update(
        status=BacktestStatus.RUNNING
    ):
        return None
    return backtest_run(backtest=Backtest.objects.get(pk=backtest_id))


def backtests_resend(*, now: datetime, lost_after: timedelta, limit: int) -> int:
    """Send again the task of each backtest still pending ``lost_after`` after it was
    sent (for the sweep); return how many were sent."""
    lost = list(
        Backtest.objects.filter(status=BacktestStatus.PENDING, requested_at__lte=now - lost_after)
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    sent = task_send(task=backtest_run_task, ids=lost, noun="backtest")
    Backtest.objects.filter(pk__in=lost[:sent], status=BacktestStatus.PENDING).update(
        requested_at=now
    )
    return sent


def _outcome(decision: Decision) -> dict[str, Any]:
    """What a decision comes to: its shipments, cancelled units and score."""
    shipments: list[dict[str, Any]] = []
    cancelled = 0
    for shipment in decision.shipments:
        lines = {str(line.order_line_id): line.quantity for line in shipment.lines}
        if shipment.is_cancel:
            cancelled += sum(lines.values())
        supplier = shipment.supplier
        shipments.append(
            {
                "action": shipment.action,
                "supplier": supplier.id if supplier else None,
                "supplier_name": supplier.name if supplier else None,
                "lines": lines,
            }
        )
    shipments.sort(key=lambda s: (s["action"], s["supplier"] or 0, sorted(s["lines"].items())))
    return {"shipments": shipments, "cancelled": cancelled, "score": decision.score}


def _key(outcome: dict[str, Any]) -> Counter[tuple[Any, ...]]:
    return Counter(
        (s["action"], s["supplier"], tuple(sorted(s["lines"].items())))
        for s in outcome["shipments"]
    )


def backtest_run(*, backtest: Backtest) -> Backtest:
    """Compare, order by order, saving progress as it goes; the result is kept."""
    drafts = [SheetDraft(d["source"], d.get("sheet"), d.get("name", "")) for d in backtest.drafts]
    orders = list(Order.objects.order_by("-placed_at", "-id")[: backtest.order_count])
    Backtest.objects.filter(pk=backtest.pk).update(
        status=BacktestStatus.RUNNING, total=len(orders), done=0
    )
    totals: dict[str, Counter[str]] = {"before": Counter(), "after": Counter()}
    changes = []
    try:
        for position, order in enumerate(orders, start=1):
            outcomes = {}
            for side, side_drafts in (("before", ()), ("after", drafts)):
                decision = previews.order_decision(
                    order, at=order.placed_at, drafts=side_drafts, respect_history=False
                )
                outcomes[side] = outcome = _outcome(decision)
                totals[side]["cancelled"] += outcome["cancelled"]
                totals[side]["shipments"] += sum(
                    1 for s in outcome["shipments"] if s["action"] != "CANCEL"
                )
                totals[side]["score"] += outcome["score"]
            if _key(outcomes["before"]) != _key(outcomes["after"]):
                changes.append(
                    {
                        "order": order.backend_id,
                        "at": order.placed_at.isoformat(),
                        "before": outcomes["before"],
                        "after": outcomes["after"],
                    }
                )
            if position % PROGRESS_EVERY == 0 or position == len(orders):
                Backtest.objects.filter(pk=backtest.pk).update(done=position)
    except Exception as error:  # the record says it failed, and why; the worker goes on
        Backtest.objects.filter(pk=backtest.pk).update(
            status=BacktestStatus.FAILED,
            error=f"{type(error).__name__}: {error}",
            finished_at=timezone.now(),
        )
        raise
    count = len(orders) or 1
    summary = {
        "orders": len(orders),
        "changed": len(changes),
        "cancelled_before": totals["before"]["cancelled"],
        "cancelled_after": totals["after"]["cancelled"],
        "shipments_per_order_before": round(totals["before"]["shipments"] / count, 3),
        "shipments_per_order_after": round(totals["after"]["shipments"] / count, 3),
        "average_score_before": round(totals["before"]["score"] / count, 4),
        "average_score_after": round(totals["after"]["score"] / count, 4),
    }
    Backtest.objects.filter(pk=backtest.pk).update(
        status=BacktestStatus.DONE,
        summary=summary,
        changes=changes,
        done=len(orders),
        finished_at=timezone.now(),
    )
    backtest.refresh_from_db()
    return backtest
