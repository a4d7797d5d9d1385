"""Fulfilment plans at run time (``services/plans.py``), on the demo retailer with a
frozen clock and tasks inline: a plan is built when routing stores a fulfilment,
its steps run in dependency order, skip, retry, wait, pause and turn at risk, and
every transition is on the order's timeline."""

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User

from orchestration.errors import ApplicationError, ConflictError
from orchestration.models import (
    FalloutRule,
    FulfillmentStatus,
    Order,
    OrderFulfillment,
    Plan,
    PlanScenario,
    PlanState,
    PlanStep,
    PlanStepAttempt,
    PlanTransition,
    RetryKind,
    StepDefinition,
    StepDependency,
    StepGroup,
    StepGroupVersion,
    StepState,
    StepType,
)
from orchestration.services.fulfillments.steps import (
    fulfillment_pack,
    fulfillment_pick,
    fulfillment_ship,
    fulfillment_start,
)
from orchestration.services.plans import (
    plan_step_done,
    plan_step_run,
    plan_steps_complete,
    plan_steps_retry,
    plans_for_order_changed,
)
from orchestration.services.sweep import sweep
from tests.conftest import table_rows

pytestmark = pytest.mark.django_db


def group(*steps: dict[str, Any], edges: tuple[tuple[str, str], ...] = ()) -> StepGroupVersion:
    """An active one-version group for ship-from-store fulfilments, of ``steps``
    (StepDefinition fields) and ``edges`` (step, depends on)."""
    made = StepGroup.objects.create(key="Test", name="Test plan")
    version = StepGroupVersion.objects.create(group=made, number=1, is_active=True)
    by_key = {}
    for position, fields in enumerate(steps):
        fields = {"name": fields["key"].title(), **fields}
        by_key[fields["key"]] = StepDefinition.objects.create(
            version=version, position=position, **fields
        )
    for step, on in edges:
        StepDependency.objects.create(step=by_key[step], depends_on=by_key[on])
    # Ahead of the demo's own ship-from-store scenarios.
    PlanScenario.objects.create(group=made, action="SHIP_FROM_STORE", priority=100)
    return version


def auto(key: str, handler: str = "succeed", **fields: Any) -> dict[str, Any]:
    return {"key": key, "type": StepType.AUTO_TASK, "handler": handler, **fields}


def states(order: Order) -> dict[str, str]:
    return {
        step.definition.key: step.state
        for step in PlanStep.objects.filter(plan__order=order).select_related("definition")
    }


def step_events(order: Order) -> list[str]:
    return list(
        PlanTransition.objects.filter(plan__order=order, step__isnull=False)
        .order_by("id")
        .values_list("message", flat=True)
    )


def test_a_diamond_runs_in_dependency_order_and_the_plan_completes(
    place: Callable[..., Order],
) -> None:
    group(
        auto("a"),
        auto("b"),
        auto("c"),
        auto("d"),
        edges=(("b", "a"), ("c", "a"), ("d", "b"), ("d", "c")),
    )
    order = place("SNK-CANVAS-WHT")

    (plan,) = Plan.objects.filter(order=order)
    assert plan.fulfillment == OrderFulfillment.objects.get(order=order)
    assert states(order) == {key: StepState.COMPLETED for key in "abcd"}
    assert plan.state == PlanState.COMPLETED
    done = [m.split(":")[0] for m in step_events(order) if "Completed" in m]
    assert done[0] == "A" and done[-1] == "D" and sorted(done[1:3]) == ["B", "C"]
    assert PlanStepAttempt.objects.filter(step__plan=plan).count() == 4


def test_a_skipped_step_lets_its_dependants_run(place: Callable[..., Order]) -> None:
    condition = {
        "clauses": [{"field": "Order.CustomFields.Channel", "operator": "=", "value": "Popup"}],
        "logic": "ALL",
    }
    group(auto("a"), auto("b", condition=condition), auto("c"), edges=(("b", "a"), ("c", "b")))
    order = place("SNK-CANVAS-WHT", custom_fields={"Channel": "WEBSHOP"})

    assert states(order) == {
        "a": StepState.COMPLETED,
        "b": StepState.SKIPPED,
        "c": StepState.COMPLETED,
    }
    assert Plan.objects.get(order=order).state == PlanState.COMPLETED


def test_a_failing_step_retries_by_its_policy_lands_in_fallout_and_a_bulk_retry_completes_it(
    place: Callable[..., Order], clock: Any, settings: Any, inline: Callable[..., Any]
) -> None:
    group(
        auto(
            "invoice",
            handler="flaky",
            retry_kind=RetryKind.STAGGERED,
            retry_intervals=[10, 15],
        ),
    )
    FalloutRule.objects.create(step_key="invoice", error_code="AlwaysFails", queue="finance")
    settings.ORCHESTRATION_STEP_HANDLERS = {"flaky": "orchestration.integrations.steps.fail"}
    order = place("SNK-CANVAS-WHT")
    step = PlanStep.objects.get(plan__order=order)
    assert (step.state, step.attempts) == (StepState.FAILED, 1)
    assert step.next_run_at == clock_now() + timedelta(minutes=10)

    clock.shift(timedelta(minutes=9))
    inline(sweep)
    step.refresh_from_db()
    assert (step.state, step.attempts) == (StepState.FAILED, 1)  # not due yet
    clock.shift(timedelta(minutes=1))
    inline(sweep)
    step.refresh_from_db()
    assert (step.state, step.attempts) == (StepState.FAILED, 2)
    clock.shift(timedelta(minutes=15))
    inline(sweep)
    step.refresh_from_db()
    assert (step.state, step.attempts, step.fallout_queue) == (
        StepState.FATALLY_FAILED,
        3,
        "finance",
    )
    assert step.error == "step invoice is configured to fail"

    # The handler is fixed; the fallout queue retries it with a note.
    settings.ORCHESTRATION_STEP_HANDLERS = {"flaky": "orchestration.integrations.steps.succeed"}
    admin = User.objects.get(username="admin")
    assert inline(
        plan_steps_retry, step_ids=[step.pk], user=admin, note="handler fixed", now=clock_now()
    )
    step.refresh_from_db()
    assert (step.state, step.attempts, step.note) == (StepState.COMPLETED, 4, "handler fixed")
    assert Plan.objects.get(order=order).state == PlanState.COMPLETED


def clock_now() -> Any:
    from django.utils import timezone

    return timezone.now()


def test_a_bulk_action_on_a_step_not_in_fallout_is_refused_and_nothing_changes(
    place: Callable[..., Order],
) -> None:
    group(auto("a"))
    order = place("SNK-CANVAS-WHT")
    step = PlanStep.objects.get(plan__order=order)
    admin = User.objects.get(username="admin")
    before = table_rows()

    with pytest.raises(ApplicationError) as refused:
        plan_steps_complete(step_ids=[step.pk, 999999], user=admin, note="x", now=clock_now())
    assert refused.value.message == (
        f"Only fatally failed steps can be completed by hand; not steps {step.pk}, 999999."
    )
    with pytest.raises(ApplicationError) as no_note:
        plan_steps_retry(step_ids=[step.pk], user=admin, note="  ", now=clock_now())
    assert no_note.value.message == "Say why in a note."
    assert table_rows() == before


def test_a_delayed_step_is_scheduled_and_runs_at_its_time(
    place: Callable[..., Order], clock: Any, inline: Callable[..., Any]
) -> None:
    group(auto("a"), auto("review", delay_minutes=60), edges=(("review", "a"),))
    order = place("SNK-CANVAS-WHT")
    review = PlanStep.objects.get(plan__order=order, definition__key="review")
    assert review.state == StepState.SCHEDULED
    assert review.next_run_at == clock_now() + timedelta(minutes=60)

    clock.shift(timedelta(minutes=59))
    inline(sweep)
    review.refresh_from_db()
    assert review.state == StepState.SCHEDULED
    clock.shift(timedelta(minutes=1))
    inline(sweep)
    review.refresh_from_db()
    assert review.state == StepState.COMPLETED


def test_a_pause_completes_when_its_condition_becomes_true(
    place: Callable[..., Order], inline: Callable[..., Any]
) -> None:
    captured = {
        "clauses": [
            {"field": "Order.CustomFields.PaymentStatus", "operator": "=", "value": "Captured"}
        ],
        "logic": "ALL",
    }
    group(
        {"key": "payment", "type": StepType.PAUSE, "resume_condition": captured},
        auto("invoice"),
        edges=(("invoice", "payment"),),
    )
    order = place("SNK-CANVAS-WHT", custom_fields={"PaymentStatus": "Authorized"})
    assert states(order) == {"payment": StepState.IN_PROGRESS, "invoice": StepState.PENDING}

    order.custom_fields = {"PaymentStatus": "Captured"}
    order.save(update_fields=["custom_fields"])
    inline(plans_for_order_changed, order=order, now=clock_now())

    assert states(order) == {"payment": StepState.COMPLETED, "invoice": StepState.COMPLETED}


def test_a_manual_step_is_done_by_the_shops_action_and_waits_for_its_dependencies(
    place: Callable[..., Order], inline: Callable[..., Any]
) -> None:
    captured = {
        "clauses": [
            {"field": "Order.CustomFields.PaymentStatus", "operator": "=", "value": "Captured"}
        ],
        "logic": "ALL",
    }
    group(
        {"key": "payment", "type": StepType.PAUSE, "resume_condition": captured},
        {"key": "start", "type": StepType.MANUAL, "handler": "start"},
        edges=(("start", "payment"),),
    )
    order = place("SNK-CANVAS-WHT", custom_fields={"PaymentStatus": "Authorized"})
    task = OrderFulfillment.objects.get(order=order)
    shop = User.objects.get(username="kalverstraat")
    before = table_rows()

    with pytest.raises(ConflictError) as refused:
        fulfillment_start(fulfillment_id=task.pk, user=shop)
    assert refused.value.message == (
        "The plan's step 'Start' is Pending: it waits for the steps before it."
    )
    assert table_rows() == before

    order.custom_fields = {"PaymentStatus": "Captured"}
    order.save(update_fields=["custom_fields"])
    inline(plans_for_order_changed, order=order, now=clock_now())
    fulfillment_start(fulfillment_id=task.pk, user=shop)
    start = PlanStep.objects.get(plan__order=order, definition__key="start")
    assert (start.state, start.assignee) == (StepState.COMPLETED, shop)
    assert "Start: Completed (done by kalverstraat)." in step_events(order)


def test_a_step_turns_at_risk_at_its_jeopardy_threshold(
    place: Callable[..., Order], clock: Any, inline: Callable[..., Any]
) -> None:
    group(
        {
            "key": "start",
            "type": StepType.MANUAL,
            "handler": "start",
            "estimated_minutes": 10,
            "jeopardy_minutes": 2,
        }
    )
    order = place("SNK-CANVAS-WHT")
    step = PlanStep.objects.get(plan__order=order)
    assert step.state == StepState.READY

    clock.shift(timedelta(minutes=7, seconds=59))
    inline(sweep)
    step.refresh_from_db()
    assert step.at_risk is False
    clock.shift(timedelta(seconds=1))
    inline(sweep)
    step.refresh_from_db()
    assert step.at_risk is True


def test_a_step_delivered_twice_runs_once(place: Callable[..., Order]) -> None:
    group(auto("a", handler="succeed"))
    # Placed without running what is sent after commit: the step waits, Ready.
    order = place("SNK-CANVAS-WHT")
    step = PlanStep.objects.get(plan__order=order)
    PlanStep.objects.filter(pk=step.pk).update(state=StepState.READY, attempts=0)
    PlanStepAttempt.objects.filter(step=step).delete()

    plan_step_run(step_id=step.pk)
    plan_step_run(step_id=step.pk)

    step.refresh_from_db()
    assert (step.state, step.attempts) == (StepState.COMPLETED, 1)
    assert PlanStepAttempt.objects.filter(step=step).count() == 1


def test_without_a_scenario_no_plan_is_built_and_the_lifecycle_is_todays(
    demo: None, place: Callable[..., Order]
) -> None:
    PlanScenario.objects.all().delete()  # the demo's
    order = place("SNK-CANVAS-WHT")
    assert not Plan.objects.filter(order=order).exists()
    assert OrderFulfillment.objects.get(order=order).status == 0


def test_the_demos_ship_from_store_plan_follows_the_shop_step_by_step(
    place: Callable[..., Order],
) -> None:
    order = place("SNK-CANVAS-WHT")
    task = OrderFulfillment.objects.get(order=order)
    shop = User.objects.get(username="kalverstraat")
    (plan,) = Plan.objects.filter(order=order)
    assert plan.version.group.key == "ShipFromStore"
    assert states(order) == {
        "start": StepState.READY,
        "pick": StepState.PENDING,
        "pack": StepState.PENDING,
        "ship": StepState.PENDING,
    }

    fulfillment_start(fulfillment_id=task.pk, user=shop)
    fulfillment_pick(fulfillment_id=task.pk, user=shop)
    assert states(order) == {
        "start": StepState.COMPLETED,
        "pick": StepState.COMPLETED,
        "pack": StepState.READY,
        "ship": StepState.PENDING,
    }
    fulfillment_pack(fulfillment_id=task.pk, user=shop)
    fulfillment_ship(
        fulfillment_id=task.pk, user=shop, carrier="PostNL", tracking_number="3SABC123"
    )

    assert set(states(order).values()) == {StepState.COMPLETED}
    plan.refresh_from_db()
    assert plan.state == PlanState.COMPLETED
    seen = list(
        PlanTransition.objects.filter(plan=plan).order_by("id").values_list("message", "actor")
    )
    assert seen == [
        ("Plan Ship from store, version 1 built with 4 steps.", "system:plans"),
        ("Start: Ready (no dependencies).", "system:plans"),
        ("Plan Ship from store: In progress.", "system:plans"),
        ("Start: Completed (done by kalverstraat).", "kalverstraat"),
        ("Pick: Ready (dependencies done).", "kalverstraat"),
        ("Pick: Completed (done by kalverstraat).", "kalverstraat"),
        ("Pack: Ready (dependencies done).", "kalverstraat"),
        ("Pack: Completed (done by kalverstraat).", "kalverstraat"),
        ("Ship: Ready (dependencies done).", "kalverstraat"),
        ("Ship: Completed (done by kalverstraat).", "kalverstraat"),
        ("Plan Ship from store: Completed.", "system:plans"),
    ]


def test_a_manual_step_with_an_assignment_rule_is_assigned_when_the_plan_is_built(
    place: Callable[..., Order],
) -> None:
    group(
        {
            "key": "start",
            "type": StepType.MANUAL,
            "handler": "start",
            "assignment": "ROUND_ROBIN",
            "queue": "shop:1187",
        }
    )
    order = place("SNK-CANVAS-WHT")
    step = PlanStep.objects.get(plan__order=order)
    assert (step.state, step.assignee, step.queue) == (
        StepState.READY,
        User.objects.get(username="kalverstraat"),
        "shop:1187",
    )


def test_a_cross_plan_milestone_waits_for_every_plan_of_the_same_customer(
    place: Callable[..., Order],
) -> None:
    version = group(
        {"key": "start", "type": StepType.MANUAL, "handler": "start"},
        {"key": "together", "type": StepType.MILESTONE},
    )
    StepDependency.objects.create(
        step=version.steps.get(key="together"),
        depends_on=version.steps.get(key="start"),
        scope="CROSS_PLAN",
    )
    shop = User.objects.get(username="kalverstraat")
    first = place("SNK-CANVAS-WHT", customer_email="pat@example.com")
    second = place("SCF-WOOL-RED", customer_email="pat@example.com")

    fulfillment_start(fulfillment_id=OrderFulfillment.objects.get(order=first).pk, user=shop)
    assert states(first) == {"start": StepState.COMPLETED, "together": StepState.PENDING}

    fulfillment_start(fulfillment_id=OrderFulfillment.objects.get(order=second).pk, user=shop)
    assert states(second) == {"start": StepState.COMPLETED, "together": StepState.COMPLETED}
    assert states(first) == {"start": StepState.COMPLETED, "together": StepState.COMPLETED}


def test_the_plan_of_a_task_that_expires_ends_with_it(
    place: Callable[..., Order], clock: Any, inline: Callable[..., Any]
) -> None:
    order = place("SNK-CANVAS-WHT")  # the demo's plan: Start Ready, 600 minutes to start
    clock.shift(timedelta(minutes=601))
    inline(sweep)

    first = OrderFulfillment.objects.filter(order=order).order_by("pk").first()
    assert first is not None and first.status == FulfillmentStatus.CANCELLED
    plan = Plan.objects.get(fulfillment=first)
    assert plan.state == PlanState.FROZEN
    assert set(PlanStep.objects.filter(plan=plan).values_list("state", flat=True)) == {
        StepState.DISCARDED
    }


def test_a_scenario_chooses_its_group_by_a_product_field_of_the_fulfillments_lines(
    place: Callable[..., Order],
) -> None:
    version = group(auto("gift_note"))
    scenario = PlanScenario.objects.get(group=version.group)
    scenario.condition = {
        "clauses": [{"field": "Line.Product.BackendID", "operator": "=", "value": "SCF-WOOL-RED"}],
        "logic": "ALL",
    }
    scenario.save()

    scarf = place("SCF-WOOL-RED")
    sneaker = place("SNK-CANVAS-WHT")

    assert Plan.objects.get(order=scarf).version.group.key == "Test"
    assert Plan.objects.get(order=sneaker).version.group.key == "ShipFromStore"


def test_the_demos_paid_plan_waits_for_the_payment_the_api_reports(
    place: Callable[..., Order], django_capture_on_commit_callbacks: Any
) -> None:
    """The demo's 'paid by bank transfer' group: the shop cannot start until the
    payment is captured; the payment system reports it through the API, the pause
    resumes and Start is Ready."""
    from rest_framework.test import APIClient

    order = place(
        "SNK-CANVAS-WHT",
        custom_fields={"PaymentMethod": "BankTransfer", "PaymentStatus": "Authorized"},
    )
    assert Plan.objects.get(order=order).version.group.key == "PaidShipFromStore"
    assert states(order)["payment"] == StepState.IN_PROGRESS
    assert states(order)["start"] == StepState.PENDING

    api = APIClient()
    api.force_authenticate(User.objects.get(username="admin"))
    refused = api.post(
        f"/api/orders/{order.pk}/custom-fields/", {"custom_fields": []}, format="json"
    )
    assert refused.status_code == 400
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            f"/api/orders/{order.pk}/custom-fields/",
            {"custom_fields": {"PaymentStatus": "Captured"}},
            format="json",
        )
    assert response.status_code == 200, response.json()
    assert response.json()["custom_fields"] == {
        "PaymentMethod": "BankTransfer",
        "PaymentStatus": "Captured",
    }
    assert states(order)["payment"] == StepState.COMPLETED
    assert states(order)["start"] == StepState.READY
    assert order.events.filter(kind="order.updated").get().message == (
        "Custom fields set: PaymentStatus = 'Captured'."
    )


def test_a_delivery_date_at_the_calendars_end_fails_its_step_and_the_order_is_still_routed(
    place: Callable[..., Order],
) -> None:
    group(auto("review", delay_from="field:Order.CustomFields.DeliveryDate"))

    order = place("SNK-CANVAS-WHT", custom_fields={"DeliveryDate": "9999-12-31T20:00:00-14:00"})

    assert order.status == "Routed"
    assert states(order) == {"review": StepState.FATALLY_FAILED}
    step = PlanStep.objects.get(plan__order=order)
    assert step.next_run_at is None
    assert step_events(order)[-1] == (
        "Review: Fatally failed (the delay counts from Order.CustomFields.DeliveryDate, "
        "9999-12-31T20:00:00-14:00, and ends after 9999)."
    )
    # In the fallout queue with its reason, for a person and for the rules.
    assert (step.error_code, step.error, step.fallout_queue) == (
        "DelayFailed",
        "the delay counts from Order.CustomFields.DeliveryDate, 9999-12-31T20:00:00-14:00, "
        "and ends after 9999",
        "operations",  # the demo's catch-all rule
    )


def test_a_delay_that_cannot_be_computed_later_sends_its_step_to_fallout_with_why(
    place: Callable[..., Order], inline: Callable[..., Any]
) -> None:
    group(
        {"key": "approve", "type": StepType.MANUAL},
        auto("review", delay_from="field:Order.CustomFields.DeliveryDate", delay_minutes=60),
        edges=(("review", "approve"),),
    )
    order = place("SNK-CANVAS-WHT", custom_fields={"DeliveryDate": "soon"})
    approve = PlanStep.objects.get(plan__order=order, definition__key="approve")

    inline(
        plan_step_done,
        step_id=approve.pk,
        user=User.objects.get(username="admin"),
        note="approved",
    )

    review = PlanStep.objects.get(plan__order=order, definition__key="review")
    assert (review.state, review.error_code, review.fallout_queue) == (
        StepState.FATALLY_FAILED,
        "DelayFailed",
        "operations",
    )
    assert review.error == (
        "the delay counts from Order.CustomFields.DeliveryDate, which is not a date: 'soon'"
    )
    assert step_events(order)[-1] == f"Review: Fatally failed ({review.error})."


def test_setting_no_custom_field_is_refused_naming_the_api_field_and_nothing_is_written(
    place: Callable[..., Order],
) -> None:
    from rest_framework.test import APIClient

    order = place("SNK-CANVAS-WHT")
    api = APIClient()
    api.force_authenticate(User.objects.get(username="admin"))
    before = table_rows()

    refused = api.post(
        f"/api/orders/{order.pk}/custom-fields/", {"custom_fields": {}}, format="json"
    )

    assert refused.status_code == 400
    assert refused.json() == {
        "code": "required",
        "message": "Give at least one custom field.",
        "errors": [
            {
                "code": "required",
                "message": "Give at least one custom field.",
                "field": "custom_fields",
            }
        ],
    }
    assert table_rows() == before


def test_a_person_marks_a_manual_step_done_on_the_order_page(
    place: Callable[..., Order],
) -> None:
    from django.test import Client

    group(
        {"key": "start", "type": StepType.MANUAL, "handler": "start"},
        {"key": "call", "name": "Call the customer", "type": StepType.MANUAL, "handler": "call"},
        auto("invoice"),
        edges=(("invoice", "call"),),
    )
    order = place("SNK-CANVAS-WHT")
    call = PlanStep.objects.get(plan__order=order, definition__key="call")
    start = PlanStep.objects.get(plan__order=order, definition__key="start")
    shop = Client()
    shop.force_login(User.objects.get(username="kalverstraat"))
    page = shop.get(f"/orders/{order.pk}/").content.decode()
    assert f'action="/orders/{order.pk}/plan-steps/{call.pk}/done/"' in page
    assert f'action="/orders/{order.pk}/plan-steps/{start.pk}/done/"' not in page

    before = table_rows()
    refused = shop.post(f"/orders/{order.pk}/plan-steps/{start.pk}/done/", {"note": ""})
    assert refused.status_code == 302
    assert table_rows() == before
    shown = shop.get(refused["Location"]).content.decode()
    assert (
        "&#x27;Start&#x27; is done by the fulfilment&#x27;s own action (start), on the "
        "shop&#x27;s task list or by the warehouse."
    ) in shown

    with_note = shop.post(
        f"/orders/{order.pk}/plan-steps/{call.pk}/done/", {"note": "called her, all fine"}
    )
    assert with_note.status_code == 302
    assert states(order) == {
        "start": StepState.READY,
        "call": StepState.COMPLETED,
        "invoice": StepState.READY,  # sent to the worker after commit
    }
    assert "Call the customer: Completed (done by kalverstraat: called her, all fine)." in (
        step_events(order)
    )
    assert shop.post(f"/orders/{order.pk}/plan-steps/999999/done/").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_bench_plans_measures_a_plan_and_a_step_and_leaves_nothing_behind() -> None:
    """``manage.py bench plans`` (docs/performance.md): runs with and without a plan,
    alternately, and one step transition; what it made is gone afterwards."""
    import re
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("bench", "plans", "--repeat", "10", stdout=out)

    line = out.getvalue()
    assert re.fullmatch(
        r"plans on \w+, 10 runs each, alternating in blocks of 10: a run without a plan "
        r"median [\d.]+ ms \(\d+ statements\), with one [\d.]+ ms \(\d+ statements\): "
        r"\+-?[\d.]+ ms, \+[13] statements; a step \(a plan of 2 auto tasks run, per step\) "
        r"median [\d.]+ ms, [\d.]+ statements \(each under the plan's lock, as before: "
        r"[\d.]+ ms, [\d.]+ statements\)\n",
        line,
    ), line
    assert not Plan.objects.exists()
    assert not StepGroup.objects.filter(key="BENCH_plan").exists()
    assert not Order.objects.filter(backend_id__startswith="BENCH-").exists()
