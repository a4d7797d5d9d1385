"""The history purge (``orchestration/services/history.py``): what each kind's rule lets
go and what it keeps, batches, the time budget, dry runs, the archive, the command, the
task and its beat entry."""

import gzip
import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.utils import timezone
from django_celery_results.models import TaskResult

from orchestration.celery import app
from orchestration.models import (
    IdempotencyKey,
    Order,
    OrderEvent,
    OrderStatus,
    Plan,
    PlanStep,
    PlanStepAttempt,
    PlanTransition,
    StepState,
    WebhookStatus,
)
from orchestration.services.history import KINDS, HistoryRetention, history_purge
from orchestration.services.orchestration_details import orchestration_details_create
from orchestration.services.step_groups import step_group_version_save
from orchestration.tasks import history_purge_task

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
RETENTION = HistoryRetention(
    events_days=365,
    plans_days=365,
    task_results_seconds=7 * 24 * 3600,
    batch_size=1_000,
    time_budget_seconds=3_600,
    pause_seconds=0,
    archive_dir="",
)
LONG_AGO = NOW - timedelta(days=400)
LATELY = NOW - timedelta(days=10)


def order(status: str, *, updated_at: datetime = LONG_AGO, original: Order | None = None) -> Order:
    """An order in ``status`` that last changed at ``updated_at``."""
    row = Order.objects.create(status=status, original_order=original)
    Order.objects.filter(pk=row.pk).update(updated_at=updated_at)
    return row


def event(of: Order, *, at: datetime = LONG_AGO, webhook: str = WebhookStatus.NONE) -> OrderEvent:
    return OrderEvent.objects.create(
        order=of, at=at, kind="order.created", message="Created", actor="system:test",
        webhook_status=webhook,
    )  # fmt: skip


def events_left() -> set[int]:
    return set(OrderEvent.objects.values_list("pk", flat=True))


def counts(**purged: int) -> dict[str, int]:
    return {kind: purged.get(kind, 0) for kind in KINDS}


@pytest.mark.django_db
def test_only_events_of_orders_that_ended_long_ago_are_purged() -> None:
    completed = order(OrderStatus.COMPLETED)
    cancelled = order(OrderStatus.CANCELLED)
    purged = {
        event(completed).pk,
        event(completed, webhook=WebhookStatus.SENT).pk,
        event(completed, webhook=WebhookStatus.FAILED).pk,
        event(cancelled).pk,
    }
    kept = {
        # Recent events of an order that ended long ago (a late note, say).
        event(completed, at=LATELY).pk,
        # A webhook still to be sent.
        event(completed, webhook=WebhookStatus.PENDING).pk,
        # Orders still open, however old.
        event(order(OrderStatus.ROUTED)).pk,
        event(order(OrderStatus.WAITING)).pk,
        event(order(OrderStatus.ORCHESTRATION_FAILED)).pk,
        # An order that ended lately.
        event(order(OrderStatus.COMPLETED, updated_at=LATELY)).pk,
    }
    # A sales order an open return refers to keeps its history; with the return over, not.
    returned = order(OrderStatus.COMPLETED)
    order(OrderStatus.NEW, original=returned)
    kept.add(event(returned).pk)
    returned_and_done = order(OrderStatus.COMPLETED)
    order(OrderStatus.COMPLETED, original=returned_and_done)
    purged.add(event(returned_and_done).pk)

    result = history_purge(now=NOW, retention=RETENTION)

    assert result.counts == counts(order_events=4 + 1)
    assert result.finished is True
    assert events_left() == kept
    assert purged.isdisjoint(events_left())


@pytest.mark.django_db
def test_plan_transitions_and_attempts_of_steps_that_are_over_go_with_their_ended_order() -> None:
    version = step_group_version_save(
        key="Ship",
        name="Ship",
        steps=[
            {"key": "pack", "name": "Pack", "type": "MANUAL", "handler": "pack"},
            {"key": "ship", "name": "Ship", "type": "MANUAL", "handler": "ship"},
        ],
    )

    def plan_of(of: Order, *, ship_state: str) -> tuple[list[int], list[int]]:
        plan = Plan.objects.create(order=of, version=version)
        attempts, transitions = [], []
        for key, state in (("pack", StepState.COMPLETED), ("ship", ship_state)):
            step = PlanStep.objects.create(
                plan=plan, definition=version.steps.get(key=key), state=state
            )
            attempts.append(
                PlanStepAttempt.objects.create(
                    step=step, number=1, started_at=LONG_AGO, finished_at=LONG_AGO
                ).pk
            )
            transitions.append(
                PlanTransition.objects.create(
                    plan=plan, step=step, to_state=state, at=LONG_AGO, actor="a", message="m"
                ).pk
            )
        return attempts, transitions

    ended_attempts, ended_transitions = plan_of(
        order(OrderStatus.COMPLETED), ship_state=StepState.CANCELED
    )
    # A step that will retry keeps its attempt (however odd on an ended order).
    retrying_attempts, retrying_transitions = plan_of(
        order(OrderStatus.CANCELLED), ship_state=StepState.FAILED
    )
    open_attempts, open_transitions = plan_of(
        order(OrderStatus.ROUTED), ship_state=StepState.COMPLETED
    )

    result = history_purge(now=NOW, retention=RETENTION)

    assert result.counts == counts(plan_transitions=4, plan_step_attempts=3)
    assert set(PlanStepAttempt.objects.values_list("pk", flat=True)) == {
        retrying_attempts[1],
        *open_attempts,
    }
    assert set(PlanTransition.objects.values_list("pk", flat=True)) == set(open_transitions)
    assert not set(ended_attempts) & set(PlanStepAttempt.objects.values_list("pk", flat=True))
    assert not set(ended_transitions + retrying_transitions) & set(
        PlanTransition.objects.values_list("pk", flat=True)
    )


@pytest.mark.django_db
def test_expired_details_lose_their_blob_and_keep_their_row() -> None:
    of = order(OrderStatus.ROUTED)
    past = NOW - timedelta(days=30)
    expired = orchestration_details_create(order=of, blob={"old": 1}, at=past, now=past)
    kept = orchestration_details_create(order=of, blob={"new": 2}, at=NOW, now=NOW)

    result = history_purge(now=NOW, retention=RETENTION)

    assert result.counts == counts(orchestration_details=1)
    expired.refresh_from_db()
    kept.refresh_from_db()
    assert (expired.blob, expired.purged_at) == (None, NOW)
    assert (kept.blob, kept.purged_at) == ({"new": 2}, None)


@pytest.mark.django_db
def test_idempotency_keys_after_24_hours_and_task_results_after_their_expiry_are_purged(
    nobody: Any,
) -> None:
    def key(name: str, age: timedelta) -> IdempotencyKey:
        return IdempotencyKey.objects.create(
            user=nobody, key=name, request_hash="h", created_at=NOW - age
        )

    def task_result(name: str, age: timedelta) -> TaskResult:
        row = TaskResult.objects.create(task_id=name, status="SUCCESS")
        TaskResult.objects.filter(pk=row.pk).update(date_done=NOW - age)
        return row

    key("old", timedelta(hours=25))
    fresh_key = key("fresh", timedelta(hours=23))
    task_result("old", timedelta(days=8))
    fresh_result = task_result("fresh", timedelta(days=6))

    result = history_purge(now=NOW, retention=RETENTION)

    assert result.counts == counts(idempotency_keys=1, task_results=1)
    assert list(IdempotencyKey.objects.values_list("pk", flat=True)) == [fresh_key.pk]
    assert list(TaskResult.objects.values_list("pk", flat=True)) == [fresh_result.pk]


@pytest.mark.django_db
def test_a_small_batch_size_purges_everything_in_several_batches() -> None:
    ended = order(OrderStatus.COMPLETED)
    for _ in range(5):
        event(ended)
    kept = event(order(OrderStatus.ROUTED)).pk

    result = history_purge(
        now=NOW, retention=replace(RETENTION, batch_size=2), kinds=["order_events"]
    )

    assert (result.counts, result.batches, result.finished) == ({"order_events": 5}, 3, True)
    assert events_left() == {kept}


def ticking_clock() -> Callable[[], float]:
    """A clock one second later at each reading: the budget is read before each batch."""
    ticks = iter(range(1_000_000))
    return lambda: float(next(ticks))


@pytest.mark.django_db
def test_a_run_stops_when_its_time_budget_is_spent_and_the_next_goes_on() -> None:
    ended = order(OrderStatus.COMPLETED)
    for _ in range(5):
        event(ended)
    retention = replace(RETENTION, batch_size=2, time_budget_seconds=2.5)

    # Read at 0 (the start), 1 and 2 (a batch each), 3: spent.
    first = history_purge(
        now=NOW, retention=retention, kinds=["order_events"], clock=ticking_clock()
    )
    assert (first.counts, first.batches, first.finished) == ({"order_events": 4}, 2, False)
    assert OrderEvent.objects.count() == 1

    second = history_purge(
        now=NOW, retention=retention, kinds=["order_events"], clock=ticking_clock()
    )
    assert (second.counts, second.batches, second.finished) == ({"order_events": 1}, 1, True)
    assert OrderEvent.objects.count() == 0


@pytest.mark.django_db
def test_the_pause_is_taken_between_full_batches() -> None:
    ended = order(OrderStatus.COMPLETED)
    for _ in range(5):
        event(ended)
    pauses: list[float] = []

    history_purge(
        now=NOW,
        retention=replace(RETENTION, batch_size=2, pause_seconds=0.25),
        kinds=["order_events"],
        sleep=pauses.append,
    )

    assert pauses == [0.25, 0.25]


@pytest.mark.django_db
def test_a_dry_run_counts_and_writes_nothing(nobody: Any) -> None:
    ended = order(OrderStatus.COMPLETED)
    events = {event(ended).pk, event(ended).pk}
    past = NOW - timedelta(days=30)
    details = orchestration_details_create(order=ended, blob={"x": 1}, at=past, now=past)
    IdempotencyKey.objects.create(
        user=nobody, key="old", request_hash="h", created_at=NOW - timedelta(days=2)
    )

    result = history_purge(now=NOW, retention=RETENTION, dry_run=True)

    assert result.counts == counts(order_events=2, orchestration_details=1, idempotency_keys=1)
    assert events_left() == events
    details.refresh_from_db()
    assert (details.blob, details.purged_at) == ({"x": 1}, None)
    assert IdempotencyKey.objects.count() == 1


def archive_lines(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rt") as archive:
        return [json.loads(line) for line in archive]


@pytest.mark.django_db
def test_the_archive_holds_every_purged_row_before_it_is_deleted(tmp_path: Path) -> None:
    ended = order(OrderStatus.COMPLETED)
    purged = [event(ended, webhook=WebhookStatus.SENT) for _ in range(3)]
    OrderEvent.objects.filter(pk=purged[0].pk).update(data={"reason": "late"})
    past = NOW - timedelta(days=30)
    details = orchestration_details_create(order=ended, blob={"x": [1, 2]}, at=past, now=past)
    folder = tmp_path / "archive"

    result = history_purge(
        now=NOW,
        retention=replace(RETENTION, batch_size=2, archive_dir=str(folder)),
        kinds=["orchestration_details", "order_events"],
    )

    assert result.counts == {"orchestration_details": 1, "order_events": 3}
    events_file = folder / "order_events-20261201T120000.jsonl.gz"
    details_file = folder / "orchestration_details-20261201T120000.jsonl.gz"
    assert result.archive_files == [str(details_file), str(events_file)]
    assert archive_lines(events_file) == [
        {
            "id": row.pk,
            "order_id": ended.pk,
            "at": "2025-10-27T12:00:00Z",
            "kind": "order.created",
            "message": "Created",
            "actor": "system:test",
            "user_id": None,
            "fulfillment_id": None,
            "orchestration_details_id": None,
            "data": {"reason": "late"} if row is purged[0] else {},
            "webhook_status": "Sent",
            "webhook_attempts": 0,
            "webhook_next_at": None,
        }
        for row in purged
    ]
    [archived_details] = archive_lines(details_file)
    assert (archived_details["id"], archived_details["blob"]) == (details.pk, {"x": [1, 2]})
    assert OrderEvent.objects.count() == 0


@pytest.mark.django_db
def test_without_an_archive_folder_no_file_is_written(tmp_path: Path) -> None:
    event(order(OrderStatus.COMPLETED))

    result = history_purge(now=NOW, retention=RETENTION)

    assert (result.counts["order_events"], result.archive_files) == (1, [])
    assert list(tmp_path.iterdir()) == []


@pytest.mark.django_db
def test_an_unknown_kind_or_an_empty_batch_is_refused_and_nothing_purged() -> None:
    event(order(OrderStatus.COMPLETED))

    with pytest.raises(ValueError) as unknown:
        history_purge(now=NOW, retention=RETENTION, kinds=["order_events", "orders"])
    with pytest.raises(ValueError) as empty:
        history_purge(now=NOW, retention=replace(RETENTION, batch_size=0))

    assert str(unknown.value) == (
        "Unknown history kind 'orders'; known: idempotency_keys, task_results, "
        "orchestration_details, order_events, plan_transitions, plan_step_attempts."
    )
    assert str(empty.value) == "The batch size must be at least 1, not 0."
    assert OrderEvent.objects.count() == 1


@pytest.mark.django_db
def test_the_command_prints_each_kind_and_takes_an_age(
    capsys: pytest.CaptureFixture[str],
) -> None:
    now = timezone.now()
    ended = order(OrderStatus.COMPLETED, updated_at=now - timedelta(days=40))
    event(ended, at=now - timedelta(days=40))

    call_command("purge_history", "--dry-run")
    call_command("purge_history", "--dry-run", "--older-than-days", "30")
    assert OrderEvent.objects.count() == 1
    call_command("purge_history", "--older-than-days", "30")

    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines == [
        "Would purge 0 idempotency keys.",
        "Would purge 0 task results.",
        "Would purge 0 orchestration details.",
        "Would purge 0 order events.",
        "Would purge 0 plan transitions.",
        "Would purge 0 plan step attempts.",
        "Would purge 0 idempotency keys.",
        "Would purge 0 task results.",
        "Would purge 0 orchestration details.",
        "Would purge 1 order events.",
        "Would purge 0 plan transitions.",
        "Would purge 0 plan step attempts.",
        "Purged 0 idempotency keys.",
        "Purged 0 task results.",
        "Purged 0 orchestration details.",
        "Purged 1 order events.",
        "Purged 0 plan transitions.",
        "Purged 0 plan step attempts.",
    ]
    assert OrderEvent.objects.count() == 0


def test_the_command_refuses_an_age_below_one_day() -> None:
    with pytest.raises(Exception, match="--older-than-days must be at least 1"):
        call_command("purge_history", "--older-than-days", "0")


@pytest.mark.django_db
def test_the_beat_runs_the_purge_task_hourly_which_returns_its_counts() -> None:
    assert settings.CELERY_BEAT_SCHEDULE["purge-history"] == {
        "task": "orchestration.tasks.history_purge_task",
        "schedule": 3600,
    }
    assert "orchestration.tasks.history_purge_task" in app.tasks
    event(order(OrderStatus.COMPLETED, updated_at=timezone.now() - timedelta(days=400)),
          at=timezone.now() - timedelta(days=400))  # fmt: skip

    assert history_purge_task() == counts(order_events=1)


@pytest.fixture
def locked_event() -> Iterator[Callable[[int], None]]:
    """Hold a row lock on an event from another connection until the test ends."""
    release = threading.Event()
    locked = threading.Event()
    threads: list[threading.Thread] = []

    def hold(event_id: int) -> None:
        def run() -> None:
            try:
                with transaction.atomic():
                    OrderEvent.objects.select_for_update().get(pk=event_id)
                    locked.set()
                    release.wait(30)
            finally:
                connection.close()

        threads.append(threading.Thread(target=run))
        threads[-1].start()
        assert locked.wait(30)

    yield hold
    release.set()
    for thread in threads:
        thread.join(30)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SKIP LOCKED is PostgreSQL's")
@pytest.mark.django_db(transaction=True)
def test_a_row_another_transaction_holds_is_skipped_not_waited_for(
    locked_event: Callable[[int], None],
) -> None:
    ended = order(OrderStatus.COMPLETED)
    held, free = event(ended), event(ended)
    locked_event(held.pk)

    result = history_purge(now=NOW, retention=RETENTION, kinds=["order_events"])

    assert result.counts == {"order_events": 1}
    assert events_left() == {held.pk}
    assert free.pk not in events_left()


@pytest.mark.django_db
def test_the_walk_by_key_stops_at_the_cutoff_and_purges_every_row_before_it() -> None:
    ended = order(OrderStatus.COMPLETED, updated_at=NOW - timedelta(days=380))
    # One event a day, from 400 days ago: the first 35 are more than 365 days old.
    events = [event(ended, at=LONG_AGO + timedelta(days=day)) for day in range(50)]

    result = history_purge(
        now=NOW, retention=replace(RETENTION, batch_size=7), kinds=["order_events"]
    )

    assert result.counts == {"order_events": 35}
    assert events_left() == {row.pk for row in events[35:]}


def test_bench_purge_refuses_a_database_other_than_postgresql() -> None:
    if connection.vendor == "postgresql":
        pytest.skip("the refusal is for SQLite")
    with pytest.raises(CommandError) as refused:
        call_command("bench", "purge", "--rows", "10")
    assert str(refused.value) == "bench purge needs PostgreSQL (DATABASE_URL=postgres://...)"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="bench purge is PostgreSQL's")
@pytest.mark.django_db(transaction=True)
def test_bench_purge_purges_the_old_events_both_ways_and_keeps_the_recent(
    capsys: pytest.CaptureFixture[str],
) -> None:
    call_command("bench", "purge", "--rows", "200", "--repeat", "1", "--batch", "50")

    out = capsys.readouterr().out
    assert "unbatched DELETE: 200 rows in " in out
    assert re.search(
        r"history_purge, batches of 50, pauses of 0 s: (200|199) rows in .* batches, a batch's", out
    )
    # The batched run may leave a row the bench's updater held (SKIP LOCKED): the next
    # run takes it.
    assert re.search(r"recent events kept: 20; old events left: 0\n.*\n.*batches of 50,", out)
    assert re.search(
        r"recent events kept: 20; old events left: (0|1, 0 after the next run)\n\Z", out
    )
    assert Order.objects.filter(backend_id__startswith="BENCH-PURGE-").count() == 0


@pytest.mark.skipif(connection.vendor != "postgresql", reason="bench purge is PostgreSQL's")
@pytest.mark.django_db(transaction=True)
def test_bench_purge_details_empties_every_expired_blob_both_ways(
    capsys: pytest.CaptureFixture[str],
) -> None:
    call_command("bench", "purge", "--details", "--rows", "100", "--repeat", "1", "--batch", "30")

    out = capsys.readouterr().out
    # The template's own expired row is the 101st.
    assert re.search(r"before: orchestration_details_purge: 101 emptied .*; blobs left: 0\n", out)
    assert re.search(r"history_purge, batches of 30: (101|100) emptied .* batches, a batch", out)
    assert Order.objects.filter(backend_id__startswith="BENCH-PURGE-").count() == 0
