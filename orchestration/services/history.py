"""History retention: the rows that grow with every order are purged, in short batches.

Six kinds of rows pile up for as long as the suite runs. Each has its own rule of what a
retailer may lose, and what is never purged:

- ``idempotency_keys``: the API's keys older than their 24 hours (``KEY_LIFETIME``); a
  retry after that is a new request anyway (``docs/api.md``).
- ``task_results``: Celery task results older than ``CELERY_RESULT_EXPIRES``.
- ``orchestration_details``: the blob of a run whose lifetime
  (``Symphony:OrchestrationDetailsLifetimeInDays``) is over. The row stays, without its
  blob, so the order page can say its details expired (as before).
- ``order_events``: timeline events (and the webhook delivery state they carry) of an
  order that ended (Completed or Cancelled) and has not changed for
  ``ORCHESTRATION_HISTORY_EVENTS_DAYS``, older than that. Never an event of an open
  order, never one whose webhook is still Pending, never one of an order that an open
  return order refers to (the return still needs its history).
- ``plan_transitions``: a plan's state changes, by the same rule and
  ``ORCHESTRATION_HISTORY_PLANS_DAYS``.
- ``plan_step_attempts``: the runs of a plan step that is over (completed, fatally
  failed, skipped, cancelled or discarded), finished before that age, same rule.

An order's own rows (the order, its lines, fulfilments, plans and steps, changes) are
kept: they are the record, not its history.

Batches: each kind is taken ``batch_size`` rows at a time, one short transaction per
batch: the batch's rows are selected (on PostgreSQL with ``FOR UPDATE SKIP LOCKED`` of
those rows only: a row a worker holds is left for the next run, nothing waits on the
purge and the purge waits on nothing), archived if asked, deleted (or, for the details,
emptied) and committed. Row locks only, never a table lock. A kind whose rule keeps
some old rows (events, transitions, attempts: an open order's) is walked by primary key
up to the last key before its cutoff, ``batch_size`` keys a batch, so that a batch reads
its own keys by the primary key's index and nothing else, and a kept row once a run;
the others (keys, results, details) are taken in the order of their own index on the
moment, out of which a purged row drops. A run stops when its time budget
is spent; the next run starts over, and finds only what is left.

Archive: with ``archive_dir`` set, each batch's rows are appended to
``<archive_dir>/<kind>-<run start>.jsonl.gz`` (one JSON object a line, every column of
the row; a gzip member per batch) and flushed to disk before the batch's delete is
committed. A batch whose commit fails after its rows were written is written again by
the next run: a row may be in the archive twice, never missing from it.
"""

import gzip
import json
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models, transaction
from django.db.models import Exists, OuterRef, Q
from django_celery_results.models import TaskResult

from ..models import (
    IdempotencyKey,
    OrchestrationDetails,
    Order,
    OrderEvent,
    OrderStatus,
    PlanStepAttempt,
    PlanTransition,
    StepState,
    WebhookStatus,
)
from .idempotency import KEY_LIFETIME

# An order in one of these is over: nothing happens to it any more but a return, which
# is an order of its own (``original_order``).
ENDED_ORDER_STATUSES = (OrderStatus.COMPLETED, OrderStatus.CANCELLED)
# A step in one of these never runs again, so its attempts are only history.
ENDED_STEP_STATES = (
    StepState.COMPLETED,
    StepState.FATALLY_FAILED,
    StepState.SKIPPED,
    StepState.CANCELED,
    StepState.DISCARDED,
)
# The order of the kinds in a run: the small, daily-growing ones first, so that a long
# backlog of events (a first run on a years-old install) never starves them.
KINDS = (
    "idempotency_keys",
    "task_results",
    "orchestration_details",
    "order_events",
    "plan_transitions",
    "plan_step_attempts",
)


@dataclass(frozen=True)
class HistoryRetention:
    """How long each kind is kept, and how a run goes (``settings.py`` for each)."""

    events_days: int
    plans_days: int
    task_results_seconds: int
    batch_size: int
    time_budget_seconds: float
    pause_seconds: float
    archive_dir: str

    @classmethod
    def from_settings(cls) -> "HistoryRetention":
        return cls(
            events_days=settings.ORCHESTRATION_HISTORY_EVENTS_DAYS,
            plans_days=settings.ORCHESTRATION_HISTORY_PLANS_DAYS,
            task_results_seconds=int(settings.CELERY_RESULT_EXPIRES),
            batch_size=settings.ORCHESTRATION_HISTORY_BATCH_SIZE,
            time_budget_seconds=settings.ORCHESTRATION_HISTORY_TIME_BUDGET_SECONDS,
            pause_seconds=settings.ORCHESTRATION_HISTORY_BATCH_PAUSE_SECONDS,
            archive_dir=settings.ORCHESTRATION_ARCHIVE_DIR,
        )


@dataclass
class HistoryPurgeResult:
    """What a run purged (or, dry, would purge) per kind, and whether it got through."""

    counts: dict[str, int]
    # False when the time budget ran out first: the next run goes on.
    finished: bool = True
    batches: int = 0
    # Each batch's transaction, select to commit (how long its row locks were held).
    batch_seconds: list[float] = field(default_factory=list)
    archive_files: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Kind:
    name: str
    model: type[models.Model]
    due: Callable[[datetime, HistoryRetention], "models.QuerySet[Any]"]
    # The time column that rises with the primary key (each row's own moment, written
    # when it is inserted), and the kind's cutoff on it: the walk by primary key stops
    # where the cutoff is passed. None: the kind's due rows are taken in the order of
    # an index of their own (``due``'s order), out of which each purged row drops.
    clock: str | None = None
    cutoff: Callable[[datetime, HistoryRetention], datetime] | None = None
    # None deletes the rows; else the values they are updated with.
    update: Callable[[datetime], dict[str, Any]] | None = None


def _ended(prefix: str, cutoff: datetime) -> Any:
    """An order (reached through ``prefix``) that ended and has not changed since
    ``cutoff``, and that no open return order refers to."""
    open_return = Order.objects.filter(original_order=OuterRef(f"{prefix}pk")).exclude(
        status__in=ENDED_ORDER_STATUSES
    )
    return Q(
        **{f"{prefix}status__in": ENDED_ORDER_STATUSES, f"{prefix}updated_at__lt": cutoff}
    ) & ~Exists(open_return)


def _events_cutoff(now: datetime, retention: HistoryRetention) -> datetime:
    return now - timedelta(days=retention.events_days)


def _plans_cutoff(now: datetime, retention: HistoryRetention) -> datetime:
    return now - timedelta(days=retention.plans_days)


def _keys_cutoff(now: datetime, retention: HistoryRetention) -> datetime:
    return now - KEY_LIFETIME


def _results_cutoff(now: datetime, retention: HistoryRetention) -> datetime:
    return now - timedelta(seconds=retention.task_results_seconds)


def _events_due(now: datetime, retention: HistoryRetention) -> "models.QuerySet[Any]":
    cutoff = _events_cutoff(now, retention)
    return (
        OrderEvent.objects.filter(at__lt=cutoff)
        .exclude(webhook_status=WebhookStatus.PENDING)
        .filter(_ended("order__", cutoff))
    )


def _transitions_due(now: datetime, retention: HistoryRetention) -> "models.QuerySet[Any]":
    cutoff = _plans_cutoff(now, retention)
    return PlanTransition.objects.filter(at__lt=cutoff).filter(_ended("plan__order__", cutoff))


def _attempts_due(now: datetime, retention: HistoryRetention) -> "models.QuerySet[Any]":
    cutoff = _plans_cutoff(now, retention)
    return PlanStepAttempt.objects.filter(
        finished_at__lt=cutoff, step__state__in=ENDED_STEP_STATES
    ).filter(_ended("step__plan__order__", cutoff))


def _details_due(now: datetime, retention: HistoryRetention) -> "models.QuerySet[Any]":
    # In the order of the partial index of blobs still kept (``details_blob_kept``): an
    # emptied row leaves it, so each batch reads only rows it empties.
    return OrchestrationDetails.objects.filter(
        expires_at__lte=now, purged_at__isnull=True
    ).order_by("expires_at", "pk")


def _keys_due(now: datetime, retention: HistoryRetention) -> "models.QuerySet[Any]":
    # By their index on the moment: every row before the cutoff goes. (A key claimed
    # again after its lifetime gets a new moment: its key does not rise with it.)
    return IdempotencyKey.objects.filter(created_at__lte=_keys_cutoff(now, retention)).order_by(
        "created_at", "pk"
    )


def _results_due(now: datetime, retention: HistoryRetention) -> "models.QuerySet[Any]":
    return TaskResult.objects.filter(date_done__lt=_results_cutoff(now, retention)).order_by(
        "date_done", "pk"
    )


_KINDS = {
    kind.name: kind
    for kind in (
        _Kind("idempotency_keys", IdempotencyKey, _keys_due),
        _Kind("task_results", TaskResult, _results_due),
        _Kind(
            "orchestration_details",
            OrchestrationDetails,
            _details_due,
            update=lambda now: {"blob": None, "purged_at": now},
        ),
        _Kind("order_events", OrderEvent, _events_due, "at", _events_cutoff),
        _Kind("plan_transitions", PlanTransition, _transitions_due, "at", _plans_cutoff),
        # Attempts are inserted when they start; their end is what the rule looks at.
        _Kind("plan_step_attempts", PlanStepAttempt, _attempts_due, "started_at", _plans_cutoff),
    )
}


def history_due(*, kind: str, now: datetime, retention: HistoryRetention) -> "models.QuerySet[Any]":
    """The rows of ``kind`` the rules let go at ``now`` (all of them, unbatched: for
    counting, and for ``bench purge``'s single-statement reference)."""
    return _KINDS[kind].due(now, retention)


class _Budget:
    """The run's time budget, on the clock given (a test's clock ticks by hand)."""

    def __init__(self, seconds: float, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._end = clock() + seconds

    def spent(self) -> bool:
        return self._clock() >= self._end


def history_purge(
    *,
    now: datetime,
    retention: HistoryRetention | None = None,
    kinds: Iterable[str] = KINDS,
    dry_run: bool = False,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> HistoryPurgeResult:
    """Purge (or archive, then purge) what the retention rules let go, kind by kind, in
    batches of one transaction each, until done or the time budget is spent.

    ``dry_run`` writes nothing: it counts what a run would purge (all of it, whatever the
    budget). Raises ``ValueError`` for an unknown kind or a batch size below 1.
    """
    retention = retention or HistoryRetention.from_settings()
    names = list(kinds)
    unknown = [name for name in names if name not in _KINDS]
    if unknown:
        raise ValueError(f"Unknown history kind {unknown[0]!r}; known: {', '.join(KINDS)}.")
    if retention.batch_size < 1:
        raise ValueError(f"The batch size must be at least 1, not {retention.batch_size}.")
    result = HistoryPurgeResult(counts=dict.fromkeys(names, 0))
    if dry_run:
        for name in names:
            due = history_due(kind=name, now=now, retention=retention)
            result.counts[name] = due.order_by().count()
        return result
    budget = _Budget(retention.time_budget_seconds, clock)
    archive = Path(retention.archive_dir) if retention.archive_dir else None
    for name in names:
        if not _purge_kind(_KINDS[name], now, retention, budget, archive, result, sleep):
            result.finished = False
            break
    return result


def _purge_kind(
    kind: _Kind,
    now: datetime,
    retention: HistoryRetention,
    budget: _Budget,
    archive: Path | None,
    result: HistoryPurgeResult,
    sleep: Callable[[float], None],
) -> bool:
    """Purge one kind batch by batch; False if the budget ran out before it was done.

    A kind with a clock is walked by primary key, ``batch_size`` keys at a time, up to
    the last key before its cutoff: each batch reads those keys by the primary key's
    index, then purges the due rows among them; rows the rule keeps are read once a
    run, recent rows never. (Choosing the due rows first and their lowest keys after
    would read every due row, a million, for each batch: PostgreSQL plans such a query
    from the ended orders.) A kind without a clock takes its due rows in the order of
    its own index, out of which each purged row drops.
    """
    path = archive / f"{kind.name}-{now:%Y%m%dT%H%M%S}.jsonl.gz" if archive else None
    end = None
    if kind.clock is not None and kind.cutoff is not None:
        end = _walk_end(kind.model, kind.clock, kind.cutoff(now, retention))
        if end is None:
            return True
    last: Any = None
    while True:
        if budget.spent():
            return False
        started = time.perf_counter()
        with transaction.atomic():
            _nested_loops_only()
            due = kind.due(now, retention)
            if end is not None:
                keys = kind.model._default_manager.filter(pk__lte=end)
                if last is not None:
                    keys = keys.filter(pk__gt=last)
                window = list(
                    keys.order_by("pk").values_list("pk", flat=True)[: retention.batch_size]
                )
                if not window:
                    return True
                last = window[-1]
                due = due.filter(pk__gte=window[0], pk__lte=last).order_by("pk")
                done = len(window) < retention.batch_size
                ids = list(_locked(due).values_list("pk", flat=True))
            else:
                ids = list(_locked(due).values_list("pk", flat=True)[: retention.batch_size])
                done = len(ids) < retention.batch_size
            if ids:
                selected = kind.model._default_manager.filter(pk__in=ids)
                if path is not None:
                    _archive(path, selected)
                    if str(path) not in result.archive_files:
                        result.archive_files.append(str(path))
                if kind.update is None:
                    selected.delete()
                else:
                    selected.update(**kind.update(now))
        if ids:
            result.batch_seconds.append(time.perf_counter() - started)
            result.counts[kind.name] += len(ids)
            result.batches += 1
        if done:
            return True
        if ids and retention.pause_seconds > 0:
            sleep(retention.pause_seconds)


def _walk_end(model: type[models.Model], clock: str, cutoff: datetime) -> Any:
    """The key of the last row (by primary key) whose ``clock`` is before ``cutoff``, or
    None if the first row's is not: found by bisection on the keys, about 30 reads by
    the primary key's index for a billion keys, no index on the clock needed.

    The clock rises with the key (a row's moment is written when it is inserted), so
    the rows past this key are not due. A row whose moment is earlier than those of
    rows inserted before it (a clock a little behind on another machine) is beyond the
    end until the cutoff passes its neighbours': it is purged a run or two later.
    """
    rows = model._default_manager.order_by("pk").values_list("pk", clock)
    first = rows.first()
    if first is None or first[1] >= cutoff:
        return None
    last_row = rows.reverse().first()
    assert last_row is not None
    if last_row[1] < cutoff:
        return last_row[0]
    # Below: ``low`` is a row before the cutoff; no row from ``high`` on is.
    low, high = first[0], last_row[0]
    while high - low > 1:
        middle = (low + high) // 2
        row = rows.filter(pk__gte=middle, pk__lt=high).first()
        if row is not None and row[1] < cutoff:
            low = row[0]
        else:
            high = middle
    return low


def _nested_loops_only() -> None:
    """PostgreSQL: this batch's joins by nested loops over the indexes (for this
    transaction only). A batch joins at most ``batch_size`` rows to their orders; costing
    a thousand index lookups above one read of every order, the planner would otherwise
    hash every ended order (100,000 in the benchmark, 80 ms) for each batch."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('enable_hashjoin', 'off', true), "
                "set_config('enable_mergejoin', 'off', true)"
            )


def _locked(rows: "models.QuerySet[Any]") -> "models.QuerySet[Any]":
    """The batch's rows locked, skipping those another transaction holds (PostgreSQL);
    only the kind's own rows, never the orders joined to choose them."""
    features = connection.features
    if features.has_select_for_update_skip_locked and features.has_select_for_update_of:
        return rows.select_for_update(skip_locked=True, of=("self",))
    return rows


def _archive(path: Path, rows: "models.QuerySet[Any]") -> None:
    """Append the rows to the kind's archive as one gzip member, on disk before the
    delete is committed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = "".join(
        json.dumps(row, cls=DjangoJSONEncoder, sort_keys=True) + "\n"
        for row in rows.order_by("pk").values()
    )
    with path.open("ab") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb") as archive:
            archive.write(lines.encode())
        raw.flush()
        os.fsync(raw.fileno())
