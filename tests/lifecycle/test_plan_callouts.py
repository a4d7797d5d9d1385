"""A callout step against a real HTTP server (``receiver``, a thread of this process),
on the demo retailer with a frozen clock and tasks inline: each retry policy retries
as it says, every request of the step carries the same ``Idempotency-Key``, the last
failure sends the step to the fallout queue its rule names, and a bulk retry from the
queue completes it once the carrier answers again."""

import http.server
import threading
from collections.abc import Callable
from datetime import timedelta
from ipaddress import ip_address
from typing import Any

import pytest
from django.contrib.auth.models import User

from orchestration.integrations.steps import StepError, callout
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
from orchestration.plans import callouts
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


def test_a_callout_reaching_a_refused_address_after_dns_sends_nothing(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The name is harmless when saved; what counts is the address the worker reaches
    # (a name pointed at 169.254.169.254). Here loopback stands in for that address.
    monkeypatch.setattr(
        callouts, "METADATA_ADDRESSES", callouts.METADATA_ADDRESSES | {ip_address("127.0.0.1")}
    )
    url = receiver.url.replace("127.0.0.1", "localhost") + "/bookings"

    with pytest.raises(StepError) as refused:
        callout(url=url, payload={"step": "book"}, idempotency_key="k", timeout=5)

    assert (refused.value.code, refused.value.message) == (
        "CalloutFailed",
        f"{url} was not called: callouts may not go to 127.0.0.1: it is a cloud metadata service.",
    )
    assert receiver.received == []


def test_a_callout_follows_no_redirect() -> None:
    asked: list[str] = []

    class Redirects(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            asked.append(self.path)
            self.send_response(302)
            self.send_header("Location", "/elsewhere")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirects)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/bookings"
    try:
        with pytest.raises(StepError) as refused:
            callout(url=url, payload={"step": "book"}, idempotency_key="k", timeout=5)
    finally:
        server.shutdown()

    assert refused.value.message == f"{url} answered 302 Found."
    assert asked == ["/bookings"]
