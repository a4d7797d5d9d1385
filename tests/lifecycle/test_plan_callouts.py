"""A callout step against a real HTTP server (``receiver``, a thread of this process),
on the demo retailer with a frozen clock and tasks inline: each retry policy retries
as it says, every request of the step carries the same ``Idempotency-Key``, the last
failure sends the step to the fallout queue its rule names, and a bulk retry from the
queue completes it once the carrier answers again."""

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User

from orchestration.models import (
    FalloutRule,
    Order,
    Plan,
    PlanState,
    PlanStep,
    PlanStepAttempt,
    RetryKind,
    StepState,
    StepType,
)
from orchestration.services.plans import plan_steps_retry
from orchestration.services.sweep import sweep
from tests.lifecycle.conftest import Receiver
from tests.lifecycle.test_plans import clock_now, group

pytestmark = pytest.mark.django_db


def book(url: str, **fields: Any) -> dict[str, Any]:
    return {
        "key": "book",
        "name": "Book carrier",
        "type": StepType.CALLOUT,
        "url": f"{url}/bookings",
        "timeout_seconds": 5,
        **fields,
    }


# Each policy: its fields, and the minutes from each failure to its retry (0: at once).
POLICIES = {
    "immediate": ({"retry_kind": RetryKind.IMMEDIATE, "retry_count": 2}, [0, 0]),
    "monotonous": (
        {"retry_kind": RetryKind.MONOTONOUS, "retry_count": 2, "retry_interval_minutes": 5},
        [5, 5],
    ),
    "staggered": ({"retry_kind": RetryKind.STAGGERED, "retry_intervals": [10, 15]}, [10, 15]),
}


@pytest.mark.parametrize("policy", POLICIES)
def test_a_failing_callout_retries_by_its_policy_lands_in_fallout_and_a_bulk_retry_completes_it(
    policy: str,
    place: Callable[..., Order],
    clock: Any,
    receiver: Receiver,
    inline: Callable[..., Any],
) -> None:
    fields, waits = POLICIES[policy]
    group(book(receiver.url, **fields))
    FalloutRule.objects.create(step_key="book", error_code="CalloutFailed", queue="carrier-desk")
    receiver.answers = [503, 503, 503]  # the carrier is down

    order = place("SNK-CANVAS-WHT")
    step = PlanStep.objects.get(plan__order=order)
    for number, minutes in enumerate(waits, start=1):
        if not minutes:
            continue  # run again at once, not at the sweep's next tick
        # Run again by the sweep at its time, not a minute before.
        step.refresh_from_db()
        assert (step.state, step.attempts) == (StepState.FAILED, number)
        assert step.next_run_at == clock_now() + timedelta(minutes=minutes)
        clock.shift(timedelta(minutes=minutes - 1))
        inline(sweep)
        assert len(receiver.received) == number
        clock.shift(timedelta(minutes=1))
        inline(sweep)
        assert len(receiver.received) == number + 1
    assert len(receiver.received) == 3

    step.refresh_from_db()
    assert (step.state, step.attempts, step.fallout_queue, step.error_code) == (
        StepState.FATALLY_FAILED,
        3,
        "carrier-desk",
        "CalloutFailed",
    )
    assert step.error == f"{receiver.url}/bookings answered 503 Service Unavailable."
    outcomes = PlanStepAttempt.objects.filter(step=step).values_list("outcome", flat=True)
    assert list(outcomes) == ["Failed"] * 3

    # The carrier is back: the fallout queue retries the step with a note.
    admin = User.objects.get(username="admin")
    inline(plan_steps_retry, step_ids=[step.pk], user=admin, note="carrier back", now=clock_now())

    step.refresh_from_db()
    assert (step.state, step.attempts) == (StepState.COMPLETED, 4)
    assert Plan.objects.get(order=order).state == PlanState.COMPLETED
    # One booking, as the carrier sees it: every request carried the step's one key.
    keys = {headers["Idempotency-Key"] for _path, _body, headers in receiver.received}
    assert keys == {step.idempotency_key}
    assert [body["attempt"] for body in receiver.bodies("/bookings")] == [1, 2, 3, 4]
    assert set(receiver.methods) == {"POST"}


def test_a_callout_is_sent_with_its_steps_method(
    place: Callable[..., Order], receiver: Receiver
) -> None:
    group(book(receiver.url, method="PUT"))

    order = place("SNK-CANVAS-WHT")

    assert PlanStep.objects.get(plan__order=order).state == StepState.COMPLETED
    assert receiver.methods == ["PUT"]
    ((body),) = receiver.bodies("/bookings")
    assert (body["step"], body["attempt"]) == ("book", 1)
