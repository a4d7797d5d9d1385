"""A Celery worker process killed by SIGKILL in the middle of a plan's step leaves exactly
one completed attempt: the issue's requirement, proven on a real worker over Redis or
RabbitMQ and PostgreSQL.

A worker running a Ready automatic step (``services/plans.py``, ``plan_step_run``) first
commits the step In Progress with its attempt Running (the claim), then runs the handler
outside any transaction, then writes the outcome in one transaction: the attempt
Completed, the step Completed, the next steps moved (the next automatic one claimed, for
the same worker to run next), their transitions. Worker #1
(``killable_worker.py --hang-step``) is stopped at that last COMMIT, after its handler ran,
and is killed there: PostgreSQL throws the outcome away, so attempt 1 stays Running. The
task is acknowledged late, so the broker hands the message to worker #2 (Redis once its
visibility timeout is over, RabbitMQ at once); by then attempt 1 is past its lease (the
step's ``timeout_seconds`` and ``ORCHESTRATION_PLAN_STEP_LEASE_GRACE_SECONDS``, a second
each here), so worker #2 marks it Lost and runs attempt 2 with the step's same idempotency
key, which completes the step, and then runs the next step.

The test fails if the killed attempt's outcome survives, if the redelivery does nothing
(the step stuck In Progress), if a second attempt completes besides the first, if the
retry gets another idempotency key, or if the step's dependants move or run twice.

The workers are separate processes sharing PostgreSQL and the broker with the test
(``real_workers.py``, also used by ``test_worker_killed.py``).
"""

import io
import json
import signal
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from orchestration.celery import app
from orchestration.demo import demo_load
from orchestration.models import (
    AttemptOutcome,
    Plan,
    PlanState,
    PlanStep,
    PlanStepAttempt,
    PlanTransition,
    StepState,
)
from orchestration.services.step_groups import plan_scenario_set, step_group_version_save
from orchestration.tasks import (
    fulfillment_export_task,
    order_orchestrate_task,
    plan_step_run_task,
    webhook_deliver_task,
)
from tests.conftest import table_rows
from tests.lifecycle.killable_worker import JOURNALED_HANDLER
from tests.lifecycle.real_workers import (
    REAL_WORKERS,
    Broker,
    Workers,
    broker_fixture,  # noqa: F401 (the fixture)
    eventually,
    kill,
    order_placed_without_routing,
    stop,
    workers_fixture,  # noqa: F401 (the fixture)
)

pytestmark = [REAL_WORKERS, pytest.mark.django_db(transaction=True)]

# The workers' ORCHESTRATION_PLAN_STEP_LEASE_GRACE_SECONDS, and the step's timeout: an
# attempt left Running is lost 2 s after it started.
LEASE_GRACE = 1
TIMEOUT = 1


def book_invoice_group() -> None:
    """``book`` (run by the workers' ``journaled`` handler), then ``invoice`` (an automatic
    step, run next by the worker that completes ``book``) and ``booked`` (a milestone,
    reached as soon as it is), for every fulfilment the demo's routing may make at any
    hour."""
    step_group_version_save(
        key="KillTest",
        name="Book, then invoice",
        steps=[
            {
                "key": "book",
                "name": "Book",
                "type": "AUTO_TASK",
                "handler": "journaled",
                "timeout_seconds": TIMEOUT,
            },
            {"key": "invoice", "name": "Invoice", "type": "AUTO_TASK", "handler": "journaled"},
            {"key": "booked", "name": "Booked", "type": "MILESTONE"},
        ],
        dependencies=[{"step": "invoice", "on": "book"}, {"step": "booked", "on": "book"}],
    )
    # Ahead of the demo's own groups (priority 0), whether a shop ships or a warehouse.
    for action in ("SHIP_FROM_STORE", "EXPORT_ORDER"):
        plan_scenario_set(group_key="KillTest", action=action, priority=100)


def plan_routed_inline(monkeypatch: pytest.MonkeyPatch) -> tuple[Plan, dict[str, list[int]]]:
    """Route a new order in the test process, so its plan is built, keeping what the
    commit sends (the first step's task, exports, webhooks): the test sends the step
    itself, to its own workers."""
    order = order_placed_without_routing()
    sent: dict[str, list[int]] = {}
    with monkeypatch.context() as patch:
        for task in (plan_step_run_task, fulfillment_export_task, webhook_deliver_task):
            patch.setattr(task, "delay", sent.setdefault(task.name, []).append)
        order_orchestrate_task.apply(args=(order.pk,))
    return Plan.objects.get(order=order), sent


def seen(plan: Plan) -> dict[str, tuple[str, int, list[tuple[int, str]]]]:
    """What other connections see of each step: its state, its attempts count, and its
    attempts' numbers and outcomes."""
    steps = PlanStep.objects.filter(plan=plan).select_related("definition").order_by("pk")
    return {
        step.definition.key: (
            step.state,
            step.attempts,
            list(step.attempt_rows.order_by("number").values_list("number", "outcome")),
        )
        for step in steps
    }


def handler_runs(journal: Path) -> list[list[Any]]:
    """``[worker, step, attempt, idempotency key]`` for each run of the handler."""
    if not journal.exists():
        return []
    return [json.loads(line) for line in journal.read_text().splitlines()]


def test_a_worker_killed_mid_step_leaves_exactly_one_completed_attempt(
    broker: Broker,
    workers: Workers,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    settings: Any,
) -> None:
    demo_load(stdout=io.StringIO(), password="demo-pass-123")
    # The workers' handler, known here too: a group naming an unknown one is refused.
    settings.ORCHESTRATION_STEP_HANDLERS = {"journaled": JOURNALED_HANDLER}
    book_invoice_group()
    plan, sent = plan_routed_inline(monkeypatch)
    steps = {
        step.definition.key: step
        for step in PlanStep.objects.filter(plan=plan).select_related("definition")
    }
    book, invoice = steps["book"], steps["invoice"]
    assert sent[plan_step_run_task.name] == [book.pk]
    ready: dict[str, tuple[str, int, list[tuple[int, str]]]] = {
        "book": (StepState.READY, 0, []),
        "invoice": (StepState.PENDING, 0, []),
        "booked": (StepState.PENDING, 0, []),
    }
    assert seen(plan) == ready

    # Worker #1 (prefork, as in production) takes the step; its pool's child runs the
    # handler and stops at the commit of the outcome.
    hung, ran = tmp_path / "hung.json", tmp_path / "handler-runs"
    plan_options = (f"--step-journal={ran}", f"--lease-grace={LEASE_GRACE}")
    first = workers.start("first", "--pool=prefork", f"--hang-step={hung}", *plan_options)
    monkeypatch.setattr(app.conf, "task_always_eager", False)  # the lifecycle tests run inline
    plan_step_run_task.apply_async(
        args=(book.pk,),
        queue=broker.route(),
    )
    eventually(hung.exists, "worker #1 reaching the commit of the step's outcome", tmp_path)
    # It wrote the whole outcome in that transaction (the attempt and the step Completed,
    # the milestone reached, the invoice claimed for this worker to run next), yet none
    # of it is visible outside it: the claim alone was committed.
    assert json.loads(hung.read_text()) == {
        "step": book.pk,
        "steps": {
            "book": [StepState.COMPLETED, [[1, AttemptOutcome.COMPLETED]]],
            "invoice": [StepState.IN_PROGRESS, [[1, AttemptOutcome.RUNNING]]],
            "booked": [StepState.COMPLETED, []],
        },
    }
    assert handler_runs(ran) == [["first", book.pk, 1, book.idempotency_key]]
    claimed = {**ready, "book": (StepState.IN_PROGRESS, 1, [(1, AttemptOutcome.RUNNING)])}
    assert seen(plan) == claimed

    # SIGKILL to the worker and its child: the connection drops, PostgreSQL rolls the
    # outcome back, and the message, acknowledged late, is kept for another worker
    # (unacknowledged in Redis, back in its queue on RabbitMQ).
    assert kill(first) == -signal.SIGKILL
    ((_, task_name, task_id, redelivered),) = workers.deliveries()
    assert (task_name, redelivered) == (plan_step_run_task.name, False)
    assert seen(plan) == claimed
    eventually(broker.held_for_redelivery, "the broker keeping the message", tmp_path)

    # Worker #2 starts once attempt 1's lease is over, so the redelivery (on Redis after
    # its visibility timeout, two seconds; on RabbitMQ at once) finds the attempt lost,
    # whenever it comes. Solo: it sweeps no more while it runs the task, so it cannot
    # hand its own message out again.
    started = PlanStepAttempt.objects.get(step=book, number=1).started_at
    eventually(
        lambda: timezone.now() > started + timedelta(seconds=TIMEOUT + LEASE_GRACE),
        "attempt 1's lease running out",
        tmp_path,
    )
    second = workers.start("second", "--pool=solo", "--visibility-timeout=2", *plan_options)
    eventually(
        lambda: seen(plan)["book"][0] == StepState.COMPLETED,
        "worker #2 completing the step on the redelivery",
        tmp_path,
    )
    # Worker #2 ran the invoice next, itself (a chain of automatic steps needs no
    # message): wait for the plan to be done.
    eventually(
        lambda: Plan.objects.get(pk=plan.pk).state == PlanState.COMPLETED,
        "worker #2 running the invoice after the step",
        tmp_path,
    )
    assert seen(plan) == {
        "book": (
            StepState.COMPLETED,
            2,
            [(1, AttemptOutcome.LOST), (2, AttemptOutcome.COMPLETED)],
        ),
        "invoice": (StepState.COMPLETED, 1, [(1, AttemptOutcome.COMPLETED)]),
        "booked": (StepState.COMPLETED, 0, []),
    }
    # Exactly one completed attempt a step.
    completed = PlanStepAttempt.objects.filter(
        step__plan=plan, outcome=AttemptOutcome.COMPLETED
    ).order_by("step_id", "number")
    assert list(completed.values_list("step_id", "number")) == [(book.pk, 2), (invoice.pk, 1)]
    # The handler ran the step twice, once a worker, with the step's one idempotency key;
    # the invoice once, after it, with its own.
    assert handler_runs(ran) == [
        ["first", book.pk, 1, book.idempotency_key],
        ["second", book.pk, 2, book.idempotency_key],
        ["second", invoice.pk, 1, invoice.idempotency_key],
    ]

    # Acknowledged, and nothing left to deliver: no third attempt can come. (Stopped
    # first: RabbitMQ tells unacknowledged messages apart only by handing them back.)
    assert stop(second) == 0
    eventually(broker.empty, "the broker holding nothing once worker #2 stopped", tmp_path)
    assert workers.deliveries() == [
        ["first", task_name, task_id, False],
        ["second", task_name, task_id, True],
    ]
    # The killed attempt sent nothing (it never committed); the completed one ran the
    # invoice itself: no message for it, none for the step again.
    assert broker.sent(plan_step_run_task.name) == []

    # Attempt 1 was taken for lost once its lease was over, and said why.
    attempts = PlanStepAttempt.objects.filter(step=book).order_by("number")
    assert [(a.number, a.outcome, a.error_code, a.error) for a in attempts] == [
        (1, AttemptOutcome.LOST, "WorkerLost", "the worker stopped before writing an outcome"),
        (2, AttemptOutcome.COMPLETED, "", ""),
    ]
    lost, done = attempts
    assert lost.finished_at is not None and done.finished_at is not None
    assert lost.finished_at >= started + timedelta(seconds=TIMEOUT + LEASE_GRACE)

    # The plan's timeline: attempt 1 lost, then the step completed by attempt 2, each of
    # the dependants' moves once, and the plan completed.
    timeline = PlanTransition.objects.filter(plan=plan).order_by("pk")
    assert list(
        timeline.values_list("step__definition__key", "from_state", "to_state", "actor", "message")
    ) == [
        (
            None,
            "",
            PlanState.NOT_STARTED,
            "system:plans",
            "Plan Book, then invoice, version 1 built with 3 steps.",
        ),
        (
            "book",
            StepState.PENDING,
            StepState.READY,
            "system:plans",
            "Book: Ready (no dependencies).",
        ),
        (
            None,
            PlanState.NOT_STARTED,
            PlanState.IN_PROGRESS,
            "system:plans",
            "Plan Book, then invoice: In progress.",
        ),
        (
            "book",
            StepState.IN_PROGRESS,
            StepState.READY,
            "system:plans",
            "Book: Ready (attempt 1 lost: the worker stopped before writing an outcome; "
            "run again).",
        ),
        (
            "book",
            StepState.IN_PROGRESS,
            StepState.COMPLETED,
            "system:plans",
            "Book: Completed (attempt 2).",
        ),
        (
            "invoice",
            StepState.PENDING,
            StepState.READY,
            "system:plans",
            "Invoice: Ready (dependencies done).",
        ),
        (
            "booked",
            StepState.PENDING,
            StepState.COMPLETED,
            "system:plans",
            "Booked: Completed (dependencies done: milestone reached).",
        ),
        (
            "invoice",
            StepState.IN_PROGRESS,
            StepState.COMPLETED,
            "system:plans",
            "Invoice: Completed (attempt 1).",
        ),
        (
            None,
            PlanState.IN_PROGRESS,
            PlanState.COMPLETED,
            "system:plans",
            "Plan Book, then invoice: Completed.",
        ),
    ]

    # One more delivery of the same task changes nothing either.
    before = table_rows()
    monkeypatch.setattr(app.conf, "task_always_eager", True)
    plan_step_run_task.apply(args=(book.pk,))
    assert table_rows() == before
