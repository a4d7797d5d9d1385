"""How a worker stores an automatic step's outcome (``services/plans.plan_step_run``,
``services/persistence/steps.py``), on the demo retailer with a frozen clock and
tasks inline.

The outcome is decided on what the claim read and stored only if nothing changed
the plan since (its revision): two branches of a diamond finishing on the same
read both count, and their join runs once. A worker that dies between its claim
and its outcome leaves an attempt Running; once its lease is over, a redelivery or
the sweep marks it Lost and runs the step again with the same idempotency key;
three lost attempts in a row send the step to fallout. On PostgreSQL a step
transition is two statements: the claim and the outcome.
"""

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from orchestration.integrations.steps import StepContext
from orchestration.models import (
    AttemptOutcome,
    Order,
    Plan,
    PlanState,
    PlanStep,
    PlanStepAttempt,
    PlanTransition,
    StepState,
)
from orchestration.services.plans import plan_step_run
from orchestration.services.sweep import sweep
from tests.lifecycle.test_plans import auto, group, states

pytestmark = pytest.mark.django_db

HERE = "tests.lifecycle.test_plan_step_outcomes"
# The keys the handlers below were called with, in order: (step key, attempt, key).
called: list[tuple[str, int, str]] = []


class WorkerKilled(BaseException):
    """What a SIGKILL is to the code it stops: nothing after it runs (no ``except
    Exception`` catches it)."""


def record(context: StepContext) -> None:
    called.append((context.step_key, context.attempt, context.idempotency_key))


def runs_its_sibling_first(context: StepContext) -> None:
    """Step b's handler: step c runs and completes while b's is still running, so b's
    outcome meets a plan changed since its claim."""
    record(context)
    sibling = PlanStep.objects.get(plan__order_id=context.order_id, definition__key="c")
    plan_step_run(step_id=sibling.pk)


# The frozen clock, for a handler that lets time pass while it runs.
CLOCK: list[Any] = []


def slow_then_redelivered(context: StepContext) -> None:
    """Attempt 1 takes longer than its lease: meanwhile its message is delivered
    again, and that delivery takes the attempt for lost and runs attempt 2."""
    record(context)
    if context.attempt == 1:
        CLOCK[0].shift(timedelta(seconds=70))
        plan_step_run(step_id=context.step_id)


def dies(context: StepContext) -> None:
    record(context)
    raise WorkerKilled


def dies_once(context: StepContext) -> None:
    record(context)
    if context.attempt == 1:
        raise WorkerKilled


@pytest.fixture(autouse=True)
def handlers(settings: Any) -> None:
    called.clear()
    settings.ORCHESTRATION_STEP_HANDLERS = {
        name: f"{HERE}.{name}"
        for name in (
            "record",
            "runs_its_sibling_first",
            "dies",
            "dies_once",
            "slow_then_redelivered",
        )
    }
    settings.ORCHESTRATION_PLAN_STEP_LEASE_GRACE_SECONDS = 60


def attempts(step: PlanStep) -> list[tuple[int, str]]:
    return list(
        PlanStepAttempt.objects.filter(step=step)
        .order_by("number")
        .values_list("number", "outcome")
    )


def messages(step: PlanStep) -> list[str]:
    return list(
        PlanTransition.objects.filter(step=step).order_by("id").values_list("message", flat=True)
    )


def test_two_branches_finishing_on_one_read_of_the_plan_both_count_and_their_join_runs_once(
    place: Callable[..., Order],
) -> None:
    group(
        auto("a", handler="record"),
        auto("b", handler="runs_its_sibling_first"),
        auto("c", handler="record"),
        auto("d", handler="record"),
        edges=(("b", "a"), ("c", "a"), ("d", "b"), ("d", "c")),
    )
    order = place("SNK-CANVAS-WHT")

    assert states(order) == {key: StepState.COMPLETED for key in "abcd"}
    assert Plan.objects.get(order=order).state == PlanState.COMPLETED
    # c ran inside b's handler; b's outcome found the plan changed, decided again
    # under the plan's lock, and saw c done: d ran once.
    assert [key for key, _attempt, _key in called] == ["a", "b", "c", "d"]
    d = PlanStep.objects.get(plan__order=order, definition__key="d")
    assert messages(d) == ["D: Ready (dependencies done).", "D: Completed (attempt 1)."]
    assert PlanStepAttempt.objects.filter(step__plan__order=order).count() == 4


def test_a_redelivery_before_the_lease_is_over_does_nothing_and_after_it_runs_the_step_again(
    place: Callable[..., Order], clock: Any
) -> None:
    group(auto("a", handler="dies_once", timeout_seconds=10))
    with pytest.raises(WorkerKilled):
        place("SNK-CANVAS-WHT")
    order = Order.objects.latest("id")
    step = PlanStep.objects.get(plan__order=order)
    assert (step.state, attempts(step)) == (StepState.IN_PROGRESS, [(1, AttemptOutcome.RUNNING)])

    # The step's timeout (10 s) and the grace (60 s) are not over: the worker may be
    # running it still.
    clock.shift(timedelta(seconds=69))
    plan_step_run(step_id=step.pk)
    step.refresh_from_db()
    assert (step.state, attempts(step)) == (StepState.IN_PROGRESS, [(1, AttemptOutcome.RUNNING)])

    clock.shift(timedelta(seconds=1))
    plan_step_run(step_id=step.pk)

    step.refresh_from_db()
    assert step.state == StepState.COMPLETED
    assert attempts(step) == [(1, AttemptOutcome.LOST), (2, AttemptOutcome.COMPLETED)]
    lost = PlanStepAttempt.objects.get(step=step, number=1)
    assert (lost.error_code, lost.error) == (
        "WorkerLost",
        "the worker stopped before writing an outcome",
    )
    # Both runs carried the step's one idempotency key.
    assert called == [("a", 1, step.idempotency_key), ("a", 2, step.idempotency_key)]
    assert messages(step) == [
        "A: Ready (no dependencies).",
        "A: Ready (attempt 1 lost: the worker stopped before writing an outcome; run again).",
        "A: Completed (attempt 2).",
    ]
    assert Plan.objects.get(order=order).state == PlanState.COMPLETED


def test_the_sweep_runs_again_a_step_whose_worker_was_lost(
    place: Callable[..., Order], clock: Any, django_capture_on_commit_callbacks: Any
) -> None:
    group(auto("a", handler="dies_once", timeout_seconds=10))
    with pytest.raises(WorkerKilled):
        place("SNK-CANVAS-WHT")
    step = PlanStep.objects.get(plan__order=Order.objects.latest("id"))

    clock.shift(timedelta(seconds=69))
    assert sweep()["steps_lost"] == 0
    clock.shift(timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep()["steps_lost"] == 1

    step.refresh_from_db()
    assert step.state == StepState.COMPLETED
    assert attempts(step) == [(1, AttemptOutcome.LOST), (2, AttemptOutcome.COMPLETED)]


def test_a_slow_attempt_taken_for_lost_stays_lost_and_the_step_completes_once(
    place: Callable[..., Order], clock: Any
) -> None:
    CLOCK[:] = [clock]
    group(auto("a", handler="slow_then_redelivered", timeout_seconds=10), auto("b"))
    order = place("SNK-CANVAS-WHT")

    step = PlanStep.objects.get(plan__order=order, definition__key="a")
    assert step.state == StepState.COMPLETED
    # Attempt 1's own outcome came last and changed nothing: the step was attempt 2's.
    assert attempts(step) == [(1, AttemptOutcome.LOST), (2, AttemptOutcome.COMPLETED)]
    assert messages(step) == [
        "A: Ready (no dependencies).",
        "A: Ready (attempt 1 lost: the worker stopped before writing an outcome; run again).",
        "A: Completed (attempt 2).",
    ]
    assert states(order) == {"a": StepState.COMPLETED, "b": StepState.COMPLETED}
    assert PlanStepAttempt.objects.filter(step__plan__order=order).count() == 3


def test_three_lost_attempts_in_a_row_send_the_step_to_fallout(
    place: Callable[..., Order], clock: Any
) -> None:
    group(auto("a", handler="dies", timeout_seconds=10))
    with pytest.raises(WorkerKilled):
        place("SNK-CANVAS-WHT")
    step = PlanStep.objects.get(plan__order=Order.objects.latest("id"))
    for _ in range(2):
        clock.shift(timedelta(seconds=70))
        with pytest.raises(WorkerKilled):
            plan_step_run(step_id=step.pk)
    clock.shift(timedelta(seconds=70))
    plan_step_run(step_id=step.pk)  # finds the third lost: no fourth run

    step.refresh_from_db()
    assert (step.state, step.error_code, step.fallout_queue) == (
        StepState.FATALLY_FAILED,
        "WorkerLost",
        "operations",  # the demo's catch-all fallout rule
    )
    assert attempts(step) == [(n, AttemptOutcome.LOST) for n in (1, 2, 3)]
    assert len(called) == 3
    assert messages(step)[-1] == (
        "A: Fatally failed (attempt 3: WorkerLost: the worker stopped before writing an "
        "outcome; to the fallout queue operations)."
    )


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the one-statement writes are PostgreSQL's"
)
def test_a_step_transition_is_one_statement_after_the_first_claim_on_postgresql(
    place: Callable[..., Order],
) -> None:
    group(auto("a", handler="record"), auto("b", handler="record"), edges=(("b", "a"),))
    order = place("SNK-CANVAS-WHT")
    # As the plan was before its first step ran: a Ready, b waiting for it.
    plan = Plan.objects.get(order=order)
    Plan.objects.filter(pk=plan.pk).update(state=PlanState.IN_PROGRESS, completed_at=None)
    PlanStepAttempt.objects.filter(step__plan=plan).delete()
    a = PlanStep.objects.get(plan=plan, definition__key="a")
    PlanStep.objects.filter(pk=a.pk).update(state=StepState.READY, attempts=0, completed_at=None)
    PlanStep.objects.filter(plan=plan, definition__key="b").update(
        state=StepState.PENDING, attempts=0, started_at=None, completed_at=None
    )

    with CaptureQueriesContext(connection) as queries:
        plan_step_run(step_id=a.pk)

    # Less the savepoints the test's own transaction turns BEGIN and COMMIT into.
    statements = [
        query["sql"][:16]
        for query in queries.captured_queries
        if not query["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))
    ]
    # a's claim; a's outcome with b's claim (b runs next in this worker: no message);
    # b's outcome. Three statements for two steps.
    assert statements == [
        "WITH claimed AS ",
        "WITH bumped AS (",
        "WITH bumped AS (",
    ]
    assert states(order) == {"a": StepState.COMPLETED, "b": StepState.COMPLETED}
    assert Plan.objects.get(order=order).state == PlanState.COMPLETED


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The keys of the steps sent to the worker as messages, in order."""
    from orchestration.services import plans as planning

    keys: list[str] = []
    send = planning.task_send_on_commit

    def recording(*, task: Any, ids: Any, noun: str) -> None:
        if noun == "plan step":
            keys.extend(PlanStep.objects.get(pk=pk).definition.key for pk in ids)
        send(task=task, ids=ids, noun=noun)

    monkeypatch.setattr(planning, "task_send_on_commit", recording)
    return keys


def test_a_worker_runs_the_next_ready_step_itself_and_sends_only_a_parallel_branch(
    place: Callable[..., Order], sent: list[str]
) -> None:
    group(
        auto("a", handler="record"),
        auto("b", handler="record"),
        auto("c", handler="record"),
        auto("d", handler="record"),
        edges=(("b", "a"), ("c", "a"), ("d", "b"), ("d", "c")),
    )
    order = place("SNK-CANVAS-WHT")

    assert states(order) == {key: StepState.COMPLETED for key in "abcd"}
    # a's message ran a, then b (claimed with a's outcome); c went as a message of its
    # own, and its worker ran d, the join, once b and c were done.
    assert sent == ["a", "c"]
    assert [key for key, _attempt, _key in called] == ["a", "b", "c", "d"]
    assert PlanStepAttempt.objects.filter(step__plan__order=order).count() == 4
    b = PlanStep.objects.get(plan__order=order, definition__key="b")
    assert messages(b) == ["B: Ready (dependencies done).", "B: Completed (attempt 1)."]


def test_a_chain_stops_at_its_limit_and_sends_the_next_step(
    place: Callable[..., Order], sent: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestration.services import plans as planning

    monkeypatch.setattr(planning, "MAX_CHAIN", 2)
    group(
        auto("a", handler="record"),
        auto("b", handler="record"),
        auto("c", handler="record"),
        edges=(("b", "a"), ("c", "b")),
    )
    order = place("SNK-CANVAS-WHT")

    assert states(order) == {key: StepState.COMPLETED for key in "abc"}
    assert sent == ["a", "c"]  # a's message ran a and b; c went as a message
