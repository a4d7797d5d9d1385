"""In-flight changes that wait for running steps, and the cancel and amend groups a
change runs (``services/order_changes.py``, ``services/plan_changes.py``), on the
demo retailer with a frozen clock and tasks inline.

The test plan is the shop's start, pick, pack (a point of no return) and ship, with
an automatic step "Book" after pick. Book's handler (``meanwhile``) runs what a
test gives it while the worker is in the middle of the step: the step is In
Progress, so a change then waits for it, and is applied or refused when it ends."""

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.test import APIClient

from orchestration.celery import app as celery_app
from orchestration.errors import ConflictError
from orchestration.integrations.steps import StepContext
from orchestration.models import (
    FulfillmentStatus,
    Order,
    OrderChange,
    OrderChangeStatus,
    OrderFulfillment,
    Plan,
    PlanPurpose,
    PlanScenario,
    PlanState,
    PlanStep,
    PlanStepAttempt,
    PlanTransition,
    StepDefinition,
    StepDependency,
    StepGroup,
    StepGroupVersion,
    StepState,
    StepType,
)
from orchestration.services import plans as plans_service
from orchestration.services.fulfillments.steps import (
    fulfillment_pack,
    fulfillment_pick,
    fulfillment_start,
)
from orchestration.services.order_changes import order_change
from orchestration.services.sweep import sweep
from tests.conftest import table_rows

pytestmark = pytest.mark.django_db

ROTTERDAM = {
    "street": "Coolsingel 40",
    "zip_code": "3011 AD",
    "city": "Rotterdam",
    "country_id": "NL",
    "latitude": 51.9225,
    "longitude": 4.4792,
}
WAITS_FOR = "step 'Book' of the plan 'Test plan'"
# What the running step does in the middle of its work (set by a test, run once).
MEANWHILE: list[Callable[[], object]] = []


def meanwhile(context: StepContext) -> None:
    """The Book step's handler: runs what the test put in ``MEANWHILE``, once."""
    if MEANWHILE:
        MEANWHILE.pop()()


@pytest.fixture(autouse=True)
def _handlers(settings: Any) -> None:
    settings.ORCHESTRATION_STEP_HANDLERS = {"meanwhile": f"{__name__}.meanwhile"}
    MEANWHILE.clear()


def group_of(
    key: str, name: str, *steps: dict[str, Any], edges: tuple[tuple[str, str], ...] = ()
) -> StepGroup:
    """An active one-version group of ``steps`` (StepDefinition fields) and ``edges``
    (step, depends on)."""
    made = StepGroup.objects.create(key=key, name=name)
    version = StepGroupVersion.objects.create(group=made, number=1, is_active=True)
    by_key = {}
    for position, fields in enumerate(steps):
        fields = {"name": fields["key"].title(), **fields}
        by_key[fields["key"]] = StepDefinition.objects.create(
            version=version, position=position, **fields
        )
    for step, on in edges:
        StepDependency.objects.create(step=by_key[step], depends_on=by_key[on])
    return made


def ship_from_store(*steps: dict[str, Any], edges: tuple[tuple[str, str], ...] = ()) -> StepGroup:
    """``group_of`` as the ship-from-store fulfilments' plan (ahead of the demo's)."""
    made = group_of("Test", "Test plan", *steps, edges=edges)
    PlanScenario.objects.create(group=made, action="SHIP_FROM_STORE", priority=100)
    return made


def manual(key: str, **fields: Any) -> dict[str, Any]:
    return {"key": key, "type": StepType.MANUAL, "handler": key, **fields}


def auto(key: str, handler: str = "succeed", **fields: Any) -> dict[str, Any]:
    return {"key": key, "type": StepType.AUTO_TASK, "handler": handler, **fields}


@pytest.fixture
def booking_plan(demo: None) -> StepGroup:
    return ship_from_store(
        manual("start"),
        manual("pick"),
        manual("pack", point_of_no_return=True),
        auto("book", handler="meanwhile"),
        manual("ship"),
        edges=(("pick", "start"), ("pack", "pick"), ("book", "pick"), ("ship", "pack"),
               ("ship", "book")),
    )  # fmt: skip


@pytest.fixture
def shop(demo: None) -> User:
    return User.objects.get(username="kalverstraat")


@pytest.fixture
def inline(django_capture_on_commit_callbacks: Any) -> Callable[..., Any]:
    """Call a function and run what it sends after commit (the worker's tasks) inline."""

    def call(function: Callable[..., Any], **kwargs: Any) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return function(**kwargs)

    return call


def states(plan: Plan) -> dict[str, str]:
    return dict(PlanStep.objects.filter(plan=plan).values_list("definition__key", "state"))


def undone_key(plan: Plan) -> str:
    """The key of the step a Cancel or Amend plan answers."""
    assert plan.undoes_step is not None
    return plan.undoes_step.definition.key


def api_for(username: str) -> APIClient:
    api = APIClient()
    api.force_authenticate(User.objects.get(username=username))
    return api


def fulfilment_rows() -> dict[str, list[tuple[Any, ...]]]:
    """The rows a change writes when it is made: the order, its lines, fulfilments,
    their lines and the stock."""
    rows = table_rows()
    return {
        label: rows[label]
        for label in (
            "orchestration.Order",
            "orchestration.OrderLine",
            "orchestration.OrderFulfillment",
            "orchestration.OrderFulfillmentLine",
            "orchestration.Stock",
        )
    }


def test_a_change_meeting_a_running_step_waits_and_is_applied_when_the_step_ends(
    place: Callable[..., Order], booking_plan: StepGroup, shop: User, inline: Callable[..., Any]
) -> None:
    order = place("SNK-CANVAS-WHT")
    task = OrderFulfillment.objects.get(order=order)
    plan = Plan.objects.get(order=order)
    fulfillment_start(fulfillment_id=task.pk, user=shop)
    seen: dict[str, Any] = {}

    def change_while_booking() -> None:
        response = api_for("admin").post(
            f"/api/orders/{order.pk}/changes/", {"shipping_address": ROTTERDAM}, format="json"
        )
        seen["response"] = response
        seen["plan"] = Plan.objects.get(pk=plan.pk).state
        seen["book"] = PlanStep.objects.get(plan=plan, definition__key="book").state
        seen["task"] = OrderFulfillment.objects.get(pk=task.pk).status

    MEANWHILE.append(change_while_booking)
    inline(fulfillment_pick, fulfillment_id=task.pk, user=shop)

    response = seen["response"]
    assert response.status_code == 202, response.json()
    url = f"http://testserver/api/orders/{order.pk}/changes/1/"
    assert response["Location"] == url
    body = response.json()
    assert {key: body[key] for key in ("number", "status", "summary", "waits_for", "url")} == {
        "number": 1,
        "status": "PENDING",
        "summary": "the shipping address",
        "waits_for": WAITS_FOR,
        "url": url,
    }
    assert (body["decided_at"], body["before"], body["undone"]) == (None, {}, {})
    # While Book ran: the plan Freezing, the task untouched.
    assert (seen["plan"], seen["book"]) == (PlanState.FREEZING, StepState.IN_PROGRESS)
    assert seen["task"] != FulfillmentStatus.CANCELLED

    # Book ended: the change was applied as an immediate one is.
    change = OrderChange.objects.get(order=order)
    assert (change.status, change.number, change.reason) == (OrderChangeStatus.APPLIED, 1, "")
    assert change.decided_at is not None
    assert change.after["shipping_address"]["city"] == "Rotterdam"
    plan.refresh_from_db()
    assert plan.state == PlanState.FROZEN
    assert states(plan) == {
        "start": StepState.CANCELED,
        "pick": StepState.CANCELED,
        "book": StepState.CANCELED,
        "pack": StepState.DISCARDED,
        "ship": StepState.DISCARDED,
    }
    task.refresh_from_db()
    assert task.status == FulfillmentStatus.CANCELLED
    (again,) = OrderFulfillment.objects.filter(order=order).exclude(pk=task.pk)
    assert again.supplier_organization_unit_id != task.supplier_organization_unit_id
    assert Plan.objects.filter(fulfillment=again, purpose=PlanPurpose.MAIN).exists()
    plan_moves = list(
        PlanTransition.objects.filter(plan=plan, step__isnull=True)
        .order_by("id")
        .values_list("message", flat=True)
    )
    assert plan_moves[-2:] == [
        f"Plan Test plan: Freezing (change 1 waits for {WAITS_FOR} to finish).",
        "Plan Test plan: Frozen (the order changed: the shipping address).",
    ]
    assert list(order.events.filter(kind__startswith="order.change").values_list("message")) == [
        (f"Change 1: the shipping address: pending; it waits for {WAITS_FOR} to finish (its "
         "plan is Freezing).",),
        ("Change 1: the shipping address. 1 fulfilment(s) cancelled to route again. It waited "
         f"for {WAITS_FOR}.",),
    ]  # fmt: skip

    polled = api_for("admin").get(url)
    assert polled.status_code == 200
    assert (polled.json()["status"], polled.json()["undone"]["plans"]) == ("APPLIED", [plan.pk])


def test_a_pending_change_meeting_a_point_of_no_return_passed_meanwhile_is_refused(
    place: Callable[..., Order], booking_plan: StepGroup, shop: User, inline: Callable[..., Any]
) -> None:
    order = place("SNK-CANVAS-WHT")
    task = OrderFulfillment.objects.get(order=order)
    plan = Plan.objects.get(order=order)
    fulfillment_start(fulfillment_id=task.pk, user=shop)
    seen: dict[str, Any] = {}

    def change_then_pack() -> None:
        seen["change"] = order_change(order_id=order.pk, user=shop, shipping_address=ROTTERDAM)
        fulfillment_pack(fulfillment_id=task.pk, user=shop)  # Pack was Ready: done meanwhile
        seen["rows"] = fulfilment_rows()

    MEANWHILE.append(change_then_pack)
    inline(fulfillment_pick, fulfillment_id=task.pk, user=shop)

    assert seen["change"].status == OrderChangeStatus.PENDING
    change = OrderChange.objects.get(order=order)
    message = (
        "Changing the shipping address is refused: step 'Pack' of the plan 'Test plan' is "
        "Completed, and it is a point of no return."
    )
    assert (change.status, change.reason) == (OrderChangeStatus.REFUSED, message)
    assert (change.before, change.after, change.undone) == ({}, {}, {})
    # Nothing of the change was made: the order, its lines, the task and the stock are
    # as they were when Pack was done; the plan runs on, Ship is next.
    assert fulfilment_rows() == seen["rows"]
    assert Order.objects.values_list("shipping_city", flat=True).get(pk=order.pk) == "Amsterdam"
    assert OrderFulfillment.objects.filter(order=order).count() == 1
    plan.refresh_from_db()
    assert plan.state == PlanState.IN_PROGRESS
    assert states(plan)["ship"] == StepState.READY
    assert list(
        PlanTransition.objects.filter(plan=plan, step__isnull=True)
        .order_by("id")
        .values_list("message", flat=True)
    )[-2:] == [
        f"Plan Test plan: Freezing (change 1 waits for {WAITS_FOR} to finish).",
        "Plan Test plan: In progress again (change 1 refused).",
    ]
    assert order.events.get(kind="order.change_refused").message == f"Change 1 refused: {message}"
    assert not order.events.filter(kind="order.changed").exists()


def test_nothing_starts_in_a_freezing_plan_and_a_ready_step_runs_once_it_thaws(
    place: Callable[..., Order], demo: None, shop: User, inline: Callable[..., Any]
) -> None:
    ship_from_store(
        manual("start"),
        manual("pick"),
        manual("pack", point_of_no_return=True),
        auto("book", handler="meanwhile"),
        auto("label"),
        edges=(("pick", "start"), ("pack", "pick"), ("book", "pick"), ("label", "pick")),
    )
    order = place("SNK-CANVAS-WHT")
    task = OrderFulfillment.objects.get(order=order)
    plan = Plan.objects.get(order=order)
    fulfillment_start(fulfillment_id=task.pk, user=shop)

    def change_then_pack() -> None:
        order_change(order_id=order.pk, user=shop, shipping_address=ROTTERDAM)
        fulfillment_pack(fulfillment_id=task.pk, user=shop)

    MEANWHILE.append(change_then_pack)
    # Book and Label become Ready together; Book runs first and the change freezes
    # the plan meanwhile, so the worker leaves Label Ready until the plan thaws
    # (the change refused: Pack was done meanwhile).
    inline(fulfillment_pick, fulfillment_id=task.pk, user=shop)

    assert OrderChange.objects.get(order=order).status == OrderChangeStatus.REFUSED
    label = PlanStep.objects.get(plan=plan, definition__key="label")
    assert (label.state, label.attempts) == (StepState.COMPLETED, 1)
    moves = list(
        PlanTransition.objects.filter(plan=plan).order_by("id").values_list("message", flat=True)
    )
    thawed = moves.index("Plan Test plan: In progress again (change 1 refused).")
    assert moves.index("Label: Completed (attempt 1).") > thawed
    assert moves.index("Book: Completed (attempt 1).") < thawed


def test_a_pending_change_of_quantities_and_added_lines_is_applied_as_it_was_asked(
    place: Callable[..., Order], booking_plan: StepGroup, shop: User, inline: Callable[..., Any]
) -> None:
    order = place("SNK-CANVAS-WHT")
    task = OrderFulfillment.objects.get(order=order)
    fulfillment_start(fulfillment_id=task.pk, user=shop)
    line = order.lines.get()
    seen: dict[str, Any] = {}

    def change_while_booking() -> None:
        seen["response"] = api_for("admin").post(
            f"/api/orders/{order.pk}/changes/",
            {
                "lines": [{"id": line.pk, "quantity": 2}],
                "add_lines": [{"product": "SCF-WOOL-RED", "quantity": 3, "unit_price": "12.50"}],
            },
            format="json",
        )

    MEANWHILE.append(change_while_booking)
    inline(fulfillment_pick, fulfillment_id=task.pk, user=shop)

    assert seen["response"].status_code == 202
    change = OrderChange.objects.get(order=order)
    assert change.status == OrderChangeStatus.APPLIED
    assert change.summary == f"line {line.pk} to 2, 1 line added"
    line.refresh_from_db()
    assert line.quantity == 2
    added = order.lines.exclude(pk=line.pk).get()
    assert (added.product.backend_id, added.quantity, str(added.unit_price)) == (
        "SCF-WOOL-RED",
        3,
        "12.5000",
    )


def test_a_second_change_while_one_is_pending_is_refused_naming_it_and_nothing_changes(
    place: Callable[..., Order], booking_plan: StepGroup, shop: User, inline: Callable[..., Any]
) -> None:
    order = place("SNK-CANVAS-WHT")
    task = OrderFulfillment.objects.get(order=order)
    fulfillment_start(fulfillment_id=task.pk, user=shop)
    line = order.lines.get()
    seen: dict[str, Any] = {}

    def two_changes() -> None:
        order_change(order_id=order.pk, user=shop, shipping_address=ROTTERDAM)
        before = table_rows()
        with pytest.raises(ConflictError) as refused:
            order_change(order_id=order.pk, user=shop, quantities={line.pk: 2})
        seen["refused"] = refused.value
        seen["api"] = api_for("admin").post(
            f"/api/orders/{order.pk}/changes/",
            {"lines": [{"id": line.pk, "quantity": 2}]},
            format="json",
        )
        seen["unchanged"] = table_rows() == before

    MEANWHILE.append(two_changes)
    inline(fulfillment_pick, fulfillment_id=task.pk, user=shop)

    message = (
        f"Change 1 (the shipping address) is pending: it waits for {WAITS_FOR} to finish. "
        "Make another change once it is applied or refused."
    )
    assert (seen["refused"].status, seen["refused"].code) == (409, "change_pending")
    assert seen["refused"].message == message
    assert seen["api"].status_code == 409
    assert (seen["api"].json()["code"], seen["api"].json()["message"]) == (
        "change_pending",
        message,
    )
    assert seen["unchanged"] is True
    # The first one was applied when Book ended; the second was never recorded.
    assert list(OrderChange.objects.filter(order=order).values_list("number", "status")) == [
        (1, OrderChangeStatus.APPLIED)
    ]


def test_the_sweep_applies_a_pending_change_whose_plans_stopped_running(
    place: Callable[..., Order],
    booking_plan: StepGroup,
    shop: User,
    inline: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    order = place("SNK-CANVAS-WHT")
    task = OrderFulfillment.objects.get(order=order)
    fulfillment_start(fulfillment_id=task.pk, user=shop)
    MEANWHILE.append(lambda: order_change(order_id=order.pk, user=shop, shipping_address=ROTTERDAM))
    # The message sent when Book ended is lost (a broker outage): the change waits on.
    lost = SimpleNamespace(app=celery_app, name="lost", delay=lambda order_id: None)
    with monkeypatch.context() as patched:
        patched.setattr(plans_service, "order_changes_apply_task", lost)
        inline(fulfillment_pick, fulfillment_id=task.pk, user=shop)
    plan = Plan.objects.get(order=order, fulfillment=task)
    assert plan.state == PlanState.FREEZING
    assert OrderChange.objects.get(order=order).status == OrderChangeStatus.PENDING

    assert inline(sweep)["changes_due"] == 1

    assert OrderChange.objects.get(order=order).status == OrderChangeStatus.APPLIED
    plan.refresh_from_db()
    assert plan.state == PlanState.FROZEN
    assert inline(sweep)["changes_due"] == 0


def test_an_undone_plan_runs_the_cancel_groups_of_its_completed_steps_in_reverse_order(
    place: Callable[..., Order], shop: User, inline: Callable[..., Any]
) -> None:
    refund = group_of("RefundPayment", "Refund payment", auto("refund"))
    release = group_of("ReleaseCarrier", "Release carrier", auto("release"), auto("notify"),
                       edges=(("notify", "release"),))  # fmt: skip
    ship_from_store(
        auto("pay", cancel_group=refund),
        auto("book", cancel_group=release),
        manual("start"),
        auto("unbooked"),  # no cancel group: nothing to undo
        edges=(("book", "pay"),),
    )
    order = place("SNK-CANVAS-WHT")
    task = OrderFulfillment.objects.get(order=order)
    plan = Plan.objects.get(order=order)
    assert states(plan)["book"] == StepState.COMPLETED

    change = inline(order_change, order_id=order.pk, user=shop, shipping_address=ROTTERDAM)

    assert change.status == OrderChangeStatus.APPLIED
    cancels = list(
        Plan.objects.filter(purpose=PlanPurpose.CANCEL).order_by("pk").select_related("version")
    )
    # Book was done after Pay: it is undone first.
    assert [
        (p.version.group.key, p.undoes_id, undone_key(p), p.fulfillment_id) for p in cancels
    ] == [("ReleaseCarrier", plan.pk, "book", task.pk), ("RefundPayment", plan.pk, "pay", task.pk)]
    assert [p.state for p in cancels] == [PlanState.COMPLETED, PlanState.COMPLETED]
    # One after another: the refund starts when the carrier's release (both steps)
    # has completed.
    ran = PlanStepAttempt.objects.filter(step__plan__in=cancels).order_by("pk")
    assert [a.step.definition.key for a in ran] == ["release", "notify", "refund"]
    assert (cancels[0].after_id, cancels[1].after_id) == (None, cancels[0].pk)
    assert change.undone["cancel_plans"] == [p.pk for p in cancels]
    assert PlanTransition.objects.filter(plan=cancels[0]).order_by("id")[0].message == (
        "Plan Release carrier, version 1 built with 2 steps, to cancel step 'Book' of plan "
        f"{plan.pk} (Test plan)."
    )
    assert PlanTransition.objects.filter(plan=cancels[1]).order_by("id")[0].message == (
        "Plan Refund payment, version 1 built with 1 step, to cancel step 'Pay' of plan "
        f"{plan.pk} (Test plan); it starts when plan {cancels[0].pk} has completed."
    )
    # The plan view's table names each cancel plan's purpose and the step it undoes.
    desk = Client()
    desk.force_login(User.objects.get(username="admin"))
    page = _text(desk.get(f"/orders/{order.pk}/").content.decode())
    assert (
        f"Release carrier, version 1: Completed · Cancel for step Book of plan {plan.pk} · "
        f"fulfilment {task.pk}"
    ) in page
    # The new fulfilment has one main plan, and no cancel plan of its own.
    (again,) = OrderFulfillment.objects.filter(order=order).exclude(pk=task.pk)
    assert list(Plan.objects.filter(fulfillment=again).values_list("purpose", flat=True)) == [
        PlanPurpose.MAIN
    ]


def test_a_shrunk_plan_runs_the_amend_groups_of_its_done_steps(
    place: Callable[..., Order], shop: User, inline: Callable[..., Any]
) -> None:
    adjust = group_of("AdjustInvoice", "Adjust invoice", auto("reinvoice"))
    ship_from_store(
        auto("invoice", amend_group=adjust),
        manual("start", amend_group=adjust),  # Ready: neither done nor running
    )
    order = place("SNK-CANVAS-WHT", "SCF-WOOL-RED")
    (task,) = OrderFulfillment.objects.filter(order=order)
    assert task.lines.count() == 2
    plan = Plan.objects.get(order=order)
    scarf = order.lines.get(product__backend_id="SCF-WOOL-RED")

    change = inline(order_change, order_id=order.pk, user=shop, remove_lines=[scarf.pk])

    task.refresh_from_db()
    assert task.status != FulfillmentStatus.CANCELLED  # it keeps the sneakers
    plan.refresh_from_db()
    assert plan.state == PlanState.IN_PROGRESS
    (amend,) = Plan.objects.filter(purpose=PlanPurpose.AMEND)
    assert (amend.undoes_id, undone_key(amend), amend.fulfillment_id) == (
        plan.pk,
        "invoice",
        task.pk,
    )
    assert (amend.version.group.key, amend.state) == ("AdjustInvoice", PlanState.COMPLETED)
    assert change.undone["amend_plans"] == [amend.pk]
    assert change.undone["cancel_plans"] == []


def test_the_api_reads_a_change_by_its_number_and_an_unknown_one_is_a_404(
    place: Callable[..., Order], shop: User, inline: Callable[..., Any]
) -> None:
    order = place("SNK-CANVAS-WHT")
    inline(order_change, order_id=order.pk, user=shop, shipping_address=ROTTERDAM)
    api = api_for("admin")

    read = api.get(f"/api/orders/{order.pk}/changes/1/")
    assert read.status_code == 200
    assert {k: read.json()[k] for k in ("number", "status", "summary", "created_by")} == {
        "number": 1,
        "status": "APPLIED",
        "summary": "the shipping address",
        "created_by": "kalverstraat",
    }
    assert read.json()["url"] == f"http://testserver/api/orders/{order.pk}/changes/1/"
    assert api.get(f"/api/orders/{order.pk}/changes/2/").status_code == 404
    assert api.get(f"/api/orders/{order.pk}/changes/99999999999/").status_code == 404
    assert api.get("/api/orders/999999/changes/1/").status_code == 404


def test_the_suite_says_a_change_waits_for_a_running_step_on_both_pages(
    place: Callable[..., Order], booking_plan: StepGroup, shop: User, inline: Callable[..., Any]
) -> None:
    order = place("SNK-CANVAS-WHT")
    task = OrderFulfillment.objects.get(order=order)
    fulfillment_start(fulfillment_id=task.pk, user=shop)
    desk = Client()
    desk.force_login(User.objects.get(username="admin"))
    seen: dict[str, Any] = {}

    def change_on_the_page() -> None:
        line = order.lines.get()
        posted = desk.post(
            f"/orders/{order.pk}/change/",
            {**ROTTERDAM, f"quantity-{line.pk}": line.quantity},
        )
        seen["posted"] = posted
        seen["detail"] = desk.get(posted["Location"]).content.decode()
        seen["form"] = desk.get(f"/orders/{order.pk}/change/").content.decode()
        seen["again"] = desk.post(
            f"/orders/{order.pk}/change/", {**ROTTERDAM, f"quantity-{line.pk}": 2}
        )

    MEANWHILE.append(change_on_the_page)
    inline(fulfillment_pick, fulfillment_id=task.pk, user=shop)

    assert seen["posted"].status_code == 302
    waiting = f"Change 1 (the shipping address) is pending: it waits for {WAITS_FOR} to finish"
    assert f"{waiting}, so its plan is Freezing. It is made then" in _text(seen["detail"])
    assert 'id="pending-change-1"' in seen["detail"]
    assert f"{waiting}, so its plan is Freezing. Another change" in _text(seen["form"])
    assert seen["again"].status_code == 409
    assert f"Not changed: {waiting}. Make another change once it is applied or refused." in _text(
        seen["again"].content.decode()
    )
    # Applied once Book ended: the order page says nothing is pending any more.
    page = desk.get(f"/orders/{order.pk}/").content.decode()
    assert 'id="pending-change-1"' not in page
    assert "Applied" in _text(desk.get(f"/orders/{order.pk}/change/").content.decode())


def _text(body: str) -> str:
    import html
    import re

    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)))
