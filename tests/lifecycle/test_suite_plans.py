"""Plans in the Suite and the API (issue 22, run time): the order page's plan view
(``plan.json`` as ``PlanGraph`` takes it, the table of steps with their attempts and
transitions), the plans' transitions on the order's timeline, the fallout queue page
with its filters and bulk retry / complete, and ``/api/plan-steps/``.

On the demo retailer with the lifecycle fixtures: tasks inline, the clock frozen on a
Monday morning, orders placed through the service.
"""

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from rest_framework.test import APIClient

from orchestration.models import (
    DependencyScope,
    FalloutRule,
    FulfillmentAction,
    Order,
    Plan,
    PlanScenario,
    PlanStep,
    StepDefinition,
    StepDependency,
    StepGroup,
    StepGroupVersion,
    StepScope,
    StepState,
    StepType,
)
from orchestration.services.fulfillments.steps import fulfillment_start
from tests.conftest import table_rows

pytestmark = pytest.mark.django_db

FAIL = {"flaky": "orchestration.integrations.steps.fail"}
SUCCEED = {"flaky": "orchestration.integrations.steps.succeed"}


def login(username: str) -> Client:
    client = Client()
    client.force_login(User.objects.get(username=username))
    return client


def api(username: str) -> APIClient:
    client = APIClient()
    client.force_authenticate(User.objects.get(username=username))
    return client


def other_shop_staff() -> User:
    """Store staff at Den Haag (1109) only, with the store staff's permissions."""
    user = User.objects.create_user("denhaag", password="secret-pass-123")
    kalverstraat = User.objects.get(username="kalverstraat")
    user.groups.set(kalverstraat.groups.all())
    user.user_permissions.set(kalverstraat.user_permissions.all())
    from orchestration.models import OrganizationUnit

    OrganizationUnit.objects.get(backend_id="1109").staff.add(user)
    return user


def cell(html: str) -> str:
    """A cell's text: tags dropped, white space collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def text(response: Any) -> str:
    """The page as a person reads it: tags dropped, white space collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode())).strip()


def steps_of(order: Order) -> dict[str, PlanStep]:
    return {
        step.definition.key: step
        for step in PlanStep.objects.filter(plan__order=order).select_related("definition")
    }


def flaky_group(**fields: Any) -> StepGroupVersion:
    """A group for ship-from-store fulfilments, ahead of the demo's: one auto task
    ``invoice`` run by the handler ``flaky`` without retries."""
    group = StepGroup.objects.create(key="Flaky", name="Flaky invoice")
    version = StepGroupVersion.objects.create(group=group, number=1, is_active=True)
    StepDefinition.objects.create(
        version=version,
        key="invoice",
        name="Invoice",
        type=StepType.AUTO_TASK,
        handler="flaky",
        **fields,
    )
    PlanScenario.objects.create(group=group, action=FulfillmentAction.SHIP_FROM_STORE, priority=100)
    return version


@pytest.fixture
def failed(place: Callable[..., Order], settings: Any) -> Callable[..., PlanStep]:
    """Place an order whose plan's one step fails for good (fallout queue ``finance``)."""
    flaky_group()
    FalloutRule.objects.create(step_key="invoice", error_code="AlwaysFails", queue="finance")
    settings.ORCHESTRATION_STEP_HANDLERS = FAIL

    def make(**fields: Any) -> PlanStep:
        order = place("SNK-CANVAS-WHT", **fields)
        step = steps_of(order)["invoice"]
        assert step.state == StepState.FATALLY_FAILED
        return step

    return make


# --- The plan view --------------------------------------------------------------------


def test_plan_json_serves_the_demo_ship_from_store_plan_as_the_graph_takes_it(
    place: Callable[..., Order],
) -> None:
    order = place("SNK-CANVAS-WHT")
    plan = Plan.objects.get(order=order)
    ids = {key: step.pk for key, step in steps_of(order).items()}

    response = login("admin").get(f"/orders/{order.pk}/plan.json")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"

    def step(key: str, name: str, state: str) -> dict[str, Any]:
        return {
            "id": ids[key],
            "key": key,
            "name": name,
            "type": "MANUAL",
            "line": None,
            "state": state,
            "attempts": 0,
            "next_run_at": None,
            "at_risk": False,
            "assignee": "",
            "queue": "",
            "done_by": "",
            "waits_for": "",
            "holds": None,
            "error": "",
        }

    assert response.json() == {
        "plans": [
            {
                "id": plan.pk,
                "group": "Ship from store",
                "version": 1,
                "state": "InProgress",
                "steps": [
                    step("start", "Start", "Ready"),
                    step("pick", "Pick", "Pending"),
                    step("pack", "Pack", "Pending"),
                    step("ship", "Ship", "Pending"),
                ],
                "edges": [
                    {"from": ids["start"], "to": ids["pick"], "scope": "PLAN"},
                    {"from": ids["pick"], "to": ids["pack"], "scope": "PLAN"},
                    {"from": ids["pack"], "to": ids["ship"], "scope": "PLAN"},
                ],
            }
        ]
    }


def test_plan_json_draws_a_line_dependency_per_line_and_a_cross_plan_one_to_other_orders(
    place: Callable[..., Order], settings: Any
) -> None:
    group = StepGroup.objects.create(key="Lines", name="Per line")
    version = StepGroupVersion.objects.create(group=group, number=3, is_active=True)

    def define(key: str, scope: str = StepScope.LINE) -> StepDefinition:
        return StepDefinition.objects.create(
            version=version,
            key=key,
            name=key.title(),
            type=StepType.MILESTONE,
            scope=scope,
            position=StepDefinition.objects.filter(version=version).count(),
        )

    pick, ship, bundle = define("pick"), define("ship"), define("bundle", StepScope.ORDER)
    StepDependency.objects.create(step=ship, depends_on=pick, scope=DependencyScope.LINE)
    StepDependency.objects.create(step=bundle, depends_on=ship, scope=DependencyScope.CROSS_PLAN)
    PlanScenario.objects.create(group=group, action=FulfillmentAction.SHIP_FROM_STORE, priority=99)
    first = place("SNK-CANVAS-WHT")  # the same customer: the same plan group key
    second = place("SNK-CANVAS-WHT", "SCF-WOOL-RED")

    data = login("admin").get(f"/orders/{second.pk}/plan.json").json()

    (plan,) = data["plans"]
    assert (plan["group"], plan["version"]) == ("Per line", 3)
    by = {(s["key"], s["line"]): s["id"] for s in plan["steps"]}
    lines = sorted(line for key, line in by if key == "pick")
    assert len(lines) == 2
    other_ship = PlanStep.objects.get(plan__order=first, definition__key="ship").pk
    assert plan["edges"] == [
        {"from": by["pick", lines[0]], "to": by["ship", lines[0]], "scope": "LINE"},
        {"from": by["pick", lines[1]], "to": by["ship", lines[1]], "scope": "LINE"},
        {"from": by["ship", lines[0]], "to": by["bundle", None], "scope": "CROSS_PLAN"},
        {"from": by["ship", lines[1]], "to": by["bundle", None], "scope": "CROSS_PLAN"},
        {"from": other_ship, "to": by["bundle", None], "scope": "CROSS_PLAN"},
    ]


def test_plan_json_is_for_who_sees_the_order_and_answers_in_json(
    place: Callable[..., Order],
) -> None:
    order = place("SNK-CANVAS-WHT")  # a task at Kalverstraat (1187)
    other_shop_staff()

    assert login("kalverstraat").get(f"/orders/{order.pk}/plan.json").status_code == 200
    refused = login("denhaag").get(f"/orders/{order.pk}/plan.json")
    assert (refused.status_code, refused.json()) == (
        404,
        {"code": "not_found", "message": f"No order {order.pk}."},
    )
    anonymous = Client().get(f"/orders/{order.pk}/plan.json")
    assert (anonymous.status_code, anonymous.json()) == (
        403,
        {"code": "not_authenticated", "message": "Sign in first."},
    )


def test_the_order_page_lists_each_step_with_its_attempts_and_transitions(
    failed: Callable[..., PlanStep],
) -> None:
    step = failed()

    page = login("admin").get(f"/orders/{step.plan.order_id}/")

    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="plan-graph"' in html and 'id="plan-data"' in html
    assert "orders/plan-graph.js" in html and "orders/plan-view.js" in html
    row = re.search(rf'<tr id="plan-step-{step.pk}".*?</tr>', html, re.S)
    assert row is not None
    cells = [cell(c) for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row[0], re.S)]
    assert cells == [
        "Invoice",
        "Auto task",
        "—",
        "Fatally failed",
        "1",
        "—",
        "—",
        "— (fallout queue finance )",
        "AlwaysFails: step invoice is configured to fail",
    ]
    seen = text(page)
    assert (
        "Attempts Attempt Started Finished Outcome Error 1 Monday 23 Nov 2026, 10:00 "
        "Europe/Amsterdam Monday 23 Nov 2026, 10:00 Europe/Amsterdam Failed AlwaysFails: "
        "step invoice is configured to fail"
    ) in seen
    assert (
        "system:plans Invoice: Fatally failed (attempt 1: AlwaysFails: step invoice is "
        "configured to fail; to the fallout queue finance)."
    ) in seen


def step_cells(html: str, step: PlanStep) -> list[str]:
    """The cells of ``step``'s row in the plan's table, as a person reads them."""
    row = re.search(rf'<tr id="plan-step-{step.pk}".*?</tr>', html, re.S)
    assert row is not None
    return [cell(c) for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row[0], re.S)]


def graph_steps(order: Order) -> dict[str, dict[str, Any]]:
    body = login("admin").get(f"/orders/{order.pk}/plan.json").json()
    return {step["key"]: step for plan in body["plans"] for step in plan["steps"]}


def test_a_pause_shows_what_it_waits_for_and_whether_it_holds_now_not_attempts(
    place: Callable[..., Order],
) -> None:
    order = place("SNK-CANVAS-WHT", custom_fields={"PaymentMethod": "BankTransfer"})
    payment = steps_of(order)["payment"]
    assert payment.state == StepState.IN_PROGRESS  # paused

    seen = graph_steps(order)["payment"]
    assert (seen["type"], seen["attempts"], seen["waits_for"], seen["holds"]) == (
        "PAUSE",
        0,
        "Order.CustomFields.PaymentStatus = Captured",
        False,
    )
    html = login("admin").get(f"/orders/{order.pk}/").content.decode()
    assert step_cells(html, payment) == [
        "Wait for the payment",
        "Pause",
        "—",
        "In progress",
        "—",  # no attempts: nobody runs a pause
        "—",
        "—",
        "waits for Order.CustomFields.PaymentStatus = Captured : not yet",
        "—",
    ]
    # The payment is captured, and the sweep has not looked yet: it holds now.
    Order.objects.filter(pk=order.pk).update(
        custom_fields={"PaymentMethod": "BankTransfer", "PaymentStatus": "Captured"}
    )
    assert graph_steps(order)["payment"]["holds"] is True
    html = login("admin").get(f"/orders/{order.pk}/").content.decode()
    assert step_cells(html, payment)[7] == (
        "waits for Order.CustomFields.PaymentStatus = Captured : holds now"
    )


def test_a_manual_step_shows_who_it_is_assigned_to_and_who_did_it_not_attempts(
    place: Callable[..., Order], django_capture_on_commit_callbacks: Any
) -> None:
    StepDefinition.objects.filter(version__group__key="ShipFromStore", key="start").update(
        assignment="ROUND_ROBIN", queue="shop:1187"
    )
    from orchestration.selectors.network import network_changed

    network_changed()
    order = place("SNK-CANVAS-WHT")
    task = order.fulfillments.get(action=FulfillmentAction.SHIP_FROM_STORE)
    with django_capture_on_commit_callbacks(execute=True):
        fulfillment_start(fulfillment_id=task.pk, user=User.objects.get(username="kalverstraat"))
    steps = steps_of(order)

    seen = graph_steps(order)
    assert {key: (s["assignee"], s["queue"], s["done_by"]) for key, s in seen.items()} == {
        "start": ("kalverstraat", "shop:1187", "kalverstraat"),
        "pick": ("", "", ""),
        "pack": ("", "", ""),
        "ship": ("", "", ""),
    }
    html = login("admin").get(f"/orders/{order.pk}/").content.decode()
    assert step_cells(html, steps["start"]) == [
        "Start",
        "Manual task",
        "—",
        "Completed",
        "—",
        "—",
        "—",
        "kalverstraat; done by kalverstraat",
        "—",
    ]
    assert step_cells(html, steps["pick"])[3:8] == ["Ready", "—", "—", "—", "—"]
    page = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    assert (
        "No attempts: a person does this step (assigned to kalverstraat); done by kalverstraat."
        in page
    )


def test_an_attempt_whose_worker_stopped_shows_its_outcome_lost_and_why(
    failed: Callable[..., PlanStep],
) -> None:
    from orchestration.models import AttemptOutcome, PlanStepAttempt

    step = failed()
    first = PlanStepAttempt.objects.get(step=step)
    PlanStepAttempt.objects.create(
        step=step, number=2, started_at=first.started_at, outcome=AttemptOutcome.LOST
    )

    html = login("admin").get(f"/orders/{step.plan.order_id}/").content.decode()

    rows = re.findall(r'<tr data-outcome="(\w+)">(.*?)</tr>', html, re.S)
    assert [(outcome, cell(tds).split(" ")[0]) for outcome, tds in rows] == [
        ("Failed", "1"),
        ("Lost", "2"),
    ]
    assert '<td class="outcome">Lost: the worker stopped before writing an outcome</td>' in html
    assert step_cells(html, step)[4] == "1"  # an auto task's attempts are counted


def test_the_timeline_merges_the_plans_transitions_in_time_order_marked_as_plan_entries(
    place: Callable[..., Order], django_capture_on_commit_callbacks: Any, clock: Any
) -> None:
    from datetime import timedelta

    order = place("SNK-CANVAS-WHT")
    clock.shift(timedelta(minutes=5))
    task = order.fulfillments.get(action=FulfillmentAction.SHIP_FROM_STORE)
    with django_capture_on_commit_callbacks(execute=True):
        fulfillment_start(fulfillment_id=task.pk, user=User.objects.get(username="kalverstraat"))

    page = login("admin").get(f"/orders/{order.pk}/").content.decode()

    timeline = re.search(r'<table class="data" id="timeline">.*?</table>', page, re.S)
    assert timeline is not None
    rows = [
        [cell(html) for html in re.findall(r"<td>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", timeline[0], re.S)[1:]
    ]
    plan_rows = [(who, what) for _, who, what, _ in rows if what.startswith("Plan ")]
    assert plan_rows == [
        ("system:plans", "Plan Plan Ship from store, version 1 built with 4 steps."),
        ("system:plans", "Plan Start: Ready (no dependencies)."),
        ("system:plans", "Plan Plan Ship from store: In progress."),
        ("kalverstraat", "Plan Start: Completed (done by kalverstraat)."),
        ("kalverstraat", "Plan Pick: Ready (dependencies done)."),
    ]
    whats = [what for _, _, what, _ in rows]
    started = next(i for i, w in enumerate(whats) if "started the ship-from-store task" in w)
    assert whats[started + 1] == "Plan Start: Completed (done by kalverstraat)."
    assert whats.index("Plan Start: Ready (no dependencies).") < started
    assert page.count('class="plan-entry"') == 5


def test_an_order_without_a_plan_says_so(place: Callable[..., Order]) -> None:
    order = place("SNK-CANVAS-WHT")
    Plan.objects.filter(order=order).delete()

    page = login("admin").get(f"/orders/{order.pk}/")

    assert "No fulfilment plan." in text(page)
    assert "plan-graph.js" not in page.content.decode()


# --- The fallout queue ------------------------------------------------------------------


def fallout_rows(response: Any) -> list[list[str]]:
    table = re.search(
        r'<table class="data" id="fallout">.*?</table>', response.content.decode(), re.S
    )
    assert table is not None
    return [
        [cell(html) for html in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table[0], re.S)[1:]
    ]


HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'
ESCAPED = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"


def test_a_hostile_error_and_note_are_shown_as_text_on_the_fallout_queue_and_the_order_page(
    failed: Callable[..., PlanStep],
) -> None:
    from orchestration.models import PlanTransition

    step = failed()
    PlanStep.objects.filter(pk=step.pk).update(error_code=HOSTILE, error=HOSTILE, note=HOSTILE)
    step.attempt_rows.update(error=HOSTILE)
    PlanTransition.objects.filter(step=step).update(message=HOSTILE)
    admin = login("admin")

    fallout = admin.get("/orders/fallout/").content.decode()
    refused = admin.post("/orders/fallout/act/", {"note": HOSTILE, "action": "retry"})
    order = admin.get(f"/orders/{step.plan.order_id}/").content.decode()
    data = admin.get(f"/orders/{step.plan.order_id}/plan.json")

    assert refused.status_code == 400
    for page in (fallout, refused.content.decode(), order):
        assert "<script>alert" not in page and "<img src=x" not in page
    # The error (its code and message) in the queue and in its filter; the note typed
    # shown again after the refusal.
    assert f'<td class="error-text"><code>{ESCAPED}</code> {ESCAPED}</td>' in fallout
    assert f'<option value="{ESCAPED}">{ESCAPED}</option>' in fallout
    assert f'maxlength="2000" required>{ESCAPED}</textarea>' in refused.content.decode()
    # The order page: the step's error, its attempt's, its transition and its note in
    # the table and on the timeline, and the graph's JSON (its "<" written \u003C).
    assert f'<span class="error-text">{ESCAPED}: {ESCAPED}</span>' in order
    assert f'<p class="plan-note">Note: {ESCAPED}</p>' in order
    assert f'<td class="plan-message">{ESCAPED}</td>' in order
    assert f'<td><span class="badge plan">Plan</span> {ESCAPED}</td>' in order
    assert "\\u003Cscript\\u003Ealert" in order
    assert data.json()["plans"][0]["steps"][0]["error"] == f"{HOSTILE}: {HOSTILE}"


def test_the_fallout_queue_counts_attempts_of_automatic_steps_only(
    place: Callable[..., Order],
) -> None:
    order = place("SNK-CANVAS-WHT")
    start = steps_of(order)["start"]  # a manual step whose delay could not be read
    PlanStep.objects.filter(pk=start.pk).update(
        state=StepState.FATALLY_FAILED,
        fallout_queue="operations",
        error_code="DelayUnreadable",
        error="no date in Order.CustomFields.DeliveryDate",
    )

    rows = fallout_rows(login("admin").get("/orders/fallout/"))

    assert [row[1:6] for row in rows] == [
        [
            order.backend_id,
            "Start start",
            "DelayUnreadable no date in Order.CustomFields.DeliveryDate",
            "operations",
            "—",
        ]
    ]


def test_the_fallout_queue_lists_fatally_failed_steps_and_filters_them(
    failed: Callable[..., PlanStep],
) -> None:
    step = failed()
    other = failed(backend_id="WEB-7777")
    PlanStep.objects.filter(pk=other.pk).update(fallout_queue="default", error_code="Timeout")
    admin = login("admin")

    everything = admin.get("/orders/fallout/")

    assert everything.status_code == 200
    number = step.plan.order.backend_id
    assert fallout_rows(everything) == [
        [
            "",
            "WEB-7777",
            "Invoice invoice",
            "Timeout step invoice is configured to fail",
            "default",
            "1",
            "Monday 23 Nov 2026, 10:00 Europe/Amsterdam",
        ],
        [
            "",
            number,
            "Invoice invoice",
            "AlwaysFails step invoice is configured to fail",
            "finance",
            "1",
            "Monday 23 Nov 2026, 10:00 Europe/Amsterdam",
        ],
    ]
    assert [r[1] for r in fallout_rows(admin.get("/orders/fallout/?queue=finance"))] == [number]
    assert [r[1] for r in fallout_rows(admin.get("/orders/fallout/?error_code=Timeout"))] == [
        "WEB-7777"
    ]
    assert [
        r[1] for r in fallout_rows(admin.get("/orders/fallout/?step=invoice&queue=default"))
    ] == ["WEB-7777"]
    assert fallout_rows(admin.get("/orders/fallout/?step=pick")) == [
        ["No fatally failed steps match these filters."]
    ]
    assert 'href="/orders/fallout/"' in everything.content.decode()  # the nav link


def test_a_bulk_retry_with_a_note_runs_the_steps_again_and_they_leave_the_queue(
    failed: Callable[..., PlanStep], settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    first, second = failed(), failed()
    settings.ORCHESTRATION_STEP_HANDLERS = SUCCEED

    with django_capture_on_commit_callbacks(execute=True):
        response = login("admin").post(
            "/orders/fallout/act/?queue=finance",
            {"steps": [first.pk, second.pk], "note": "invoicing is back", "action": "retry"},
        )

    assert (response.status_code, response["Location"]) == (302, "/orders/fallout/?queue=finance")
    page = login("admin").get("/orders/fallout/")
    for step in (first, second):
        step.refresh_from_db()
        assert (step.state, step.attempts, step.note) == (
            StepState.COMPLETED,
            2,
            "invoicing is back",
        )
    assert fallout_rows(page) == [["No fatally failed steps."]]
    assert Plan.objects.get(pk=first.plan_id).state == "COMPLETED"


def test_a_bulk_complete_marks_them_done_and_the_page_says_how_many(
    failed: Callable[..., PlanStep],
) -> None:
    step = failed()
    admin = login("admin")

    response = admin.post(
        "/orders/fallout/act/",
        {"steps": [step.pk], "note": "booked by hand", "action": "complete"},
        follow=True,
    )

    assert "1 step completed." in text(response)
    step.refresh_from_db()
    assert (step.state, step.attempts, step.note) == (StepState.COMPLETED, 1, "booked by hand")
    detail = text(admin.get(f"/orders/{step.plan.order_id}/"))
    assert "admin Plan Invoice: Completed (completed by hand: booked by hand)." in detail


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"note": "", "action": "retry"}, "Note: Say why in a note."),
        ({"note": "fixed", "action": "retry", "steps": []}, "Steps: Select at least one step."),
        ({"note": "fixed", "action": "retry", "steps": ["²"]}, "Steps: '²' is not a step ID."),
        (
            {"note": "fixed", "action": "erase"},
            "Action: Select a valid choice. erase is not one of the available choices.",
        ),
        (
            {"note": "x" * 2001, "action": "retry"},
            "Note: Ensure this value has at most 2000 characters (it has 2001).",
        ),
    ],
)
def test_refused_input_keeps_the_selection_names_the_problem_and_writes_nothing(
    failed: Callable[..., PlanStep], data: dict[str, Any], message: str
) -> None:
    step = failed()
    data = {"steps": [step.pk], **data}
    admin = login("admin")
    before = table_rows()

    response = admin.post("/orders/fallout/act/", data)

    assert response.status_code == 400
    refusal = re.search(
        r'<p class="notice warning" role="alert" id="refusal">(.*?)</p>',
        response.content.decode(),
        re.S,
    )
    assert refusal is not None and refusal[1] == message.replace("'", "&#x27;")
    if data["steps"] == [step.pk]:
        assert f'value="{step.pk}" id="select-step-{step.pk}" checked' in response.content.decode()
    assert table_rows() == before


def test_a_step_that_is_not_fatally_failed_or_not_yours_is_refused_by_number(
    failed: Callable[..., PlanStep], place: Callable[..., Order]
) -> None:
    step, done = failed(), failed()
    PlanStep.objects.filter(pk=done.pk).update(state=StepState.COMPLETED)
    other_shop_staff()
    admin, denhaag = login("admin"), login("denhaag")
    before = table_rows()

    refused = admin.post(
        "/orders/fallout/act/", {"steps": [step.pk, done.pk], "note": "x", "action": "retry"}
    )
    assert refused.status_code == 400
    assert f"Only fatally failed steps can be retried by hand; not steps {done.pk}." in text(
        refused
    )
    assert f'value="{step.pk}" id="select-step-{step.pk}" checked' in refused.content.decode()

    elsewhere = denhaag.post(
        "/orders/fallout/act/", {"steps": [step.pk, 999999], "note": "x", "action": "complete"}
    )
    assert elsewhere.status_code == 400
    assert f"Steps {step.pk}, 999999 are not in your fallout queue." in text(elsewhere)
    assert fallout_rows(denhaag.get("/orders/fallout/")) == [["No fatally failed steps."]]
    assert table_rows() == before


# --- The API ---------------------------------------------------------------------------


def step_body(step: PlanStep, **changes: Any) -> dict[str, Any]:
    step.refresh_from_db()
    return {
        "id": step.pk,
        "plan": step.plan_id,
        "order": step.plan.order_id,
        "order_backend_id": step.plan.order.backend_id,
        "fulfillment": step.plan.fulfillment_id,
        "key": "invoice",
        "name": "Invoice",
        "type": "AUTO_TASK",
        "line": None,
        "state": "FATALLY_FAILED",
        "attempts": 1,
        "next_run_at": None,
        "at_risk": False,
        "assignee": None,
        "queue": "",
        "fallout_queue": "finance",
        "error_code": "AlwaysFails",
        "error": "step invoice is configured to fail",
        "note": "",
        "updated_at": "2026-11-23T10:00:00+01:00",
        **changes,
    }


def test_the_api_lists_the_fallout_queue_by_state_and_queue(
    failed: Callable[..., PlanStep],
) -> None:
    step = failed()
    PlanStep.objects.filter(pk=failed().pk).update(fallout_queue="default")

    response = api("admin").get("/api/plan-steps/?state=FATALLY_FAILED&queue=finance")

    assert response.status_code == 200
    assert response.json() == {
        "count": 1,
        "count_exact": True,
        "next": None,
        "previous": None,
        "results": [step_body(step)],
    }
    bad = api("admin").get("/api/plan-steps/?state=BROKEN")
    assert bad.status_code == 400
    assert bad.json()["errors"] == [
        {
            "code": "invalid_choice",
            "message": "Select a valid choice. BROKEN is not one of the available choices.",
            "field": "state",
        }
    ]


def test_the_api_retries_and_completes_with_a_note(
    failed: Callable[..., PlanStep], settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    first, second = failed(), failed()
    settings.ORCHESTRATION_STEP_HANDLERS = SUCCEED

    with django_capture_on_commit_callbacks(execute=True):
        retried = api("admin").post(
            "/api/plan-steps/retry/", {"steps": [first.pk], "note": "back up"}, format="json"
        )
    completed = api("admin").post(
        "/api/plan-steps/complete/", {"steps": [second.pk], "note": "by hand"}, format="json"
    )

    assert retried.status_code == 200
    # As the action left it: Ready, queued for the worker (which ran after the response).
    assert retried.json() == {
        "count": 1,
        "steps": [step_body(first, state="READY", fallout_queue="", note="back up")],
    }
    first.refresh_from_db()
    assert (first.state, first.attempts, first.error) == (StepState.COMPLETED, 2, "")
    assert completed.json() == {
        "count": 1,
        "steps": [step_body(second, state="COMPLETED", fallout_queue="", note="by hand")],
    }


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (
            {"steps": []},
            {
                "code": "invalid",
                "message": "steps: This list may not be empty.",
                "errors": [
                    {"code": "empty", "message": "This list may not be empty.", "field": "steps"},
                    {"code": "required", "message": "This field is required.", "field": "note"},
                ],
            },
        ),
        (
            {"steps": [1], "note": "  "},
            {
                "code": "invalid",
                "message": "note: This field may not be blank.",
                "errors": [
                    {"code": "blank", "message": "This field may not be blank.", "field": "note"}
                ],
            },
        ),
        (
            {"steps": ["x"], "note": "n"},
            {
                "code": "invalid",
                "message": "steps[0]: A valid integer is required.",
                "errors": [
                    {
                        "code": "invalid",
                        "message": "A valid integer is required.",
                        "field": "steps[0]",
                    }
                ],
            },
        ),
    ],
)
def test_the_api_refuses_a_bad_body_in_its_error_format_and_writes_nothing(
    failed: Callable[..., PlanStep], body: dict[str, Any], error: dict[str, Any]
) -> None:
    failed()
    before = table_rows()

    response = api("admin").post("/api/plan-steps/retry/", body, format="json")

    assert (response.status_code, response.json()) == (400, error)
    assert table_rows() == before


def test_the_api_refuses_steps_not_in_fallout_or_not_visible_naming_them(
    failed: Callable[..., PlanStep],
) -> None:
    step, ready = failed(), failed()
    PlanStep.objects.filter(pk=ready.pk).update(state=StepState.READY)
    other_shop_staff()
    before = table_rows()

    not_failed = api("admin").post(
        "/api/plan-steps/complete/", {"steps": [ready.pk, step.pk], "note": "n"}, format="json"
    )
    message = f"Only fatally failed steps can be completed by hand; not steps {ready.pk}."
    assert (not_failed.status_code, not_failed.json()) == (
        400,
        {
            "code": "invalid_state",
            "message": message,
            "errors": [{"code": "invalid_state", "message": message, "field": "steps"}],
        },
    )
    hidden = api("denhaag").post(
        "/api/plan-steps/retry/", {"steps": [step.pk], "note": "n"}, format="json"
    )
    message = f"Step {step.pk} is not in your fallout queue."
    assert (hidden.status_code, hidden.json()) == (
        400,
        {
            "code": "not_found",
            "message": message,
            "errors": [{"code": "not_found", "message": message, "field": "steps"}],
        },
    )
    assert api("denhaag").get("/api/plan-steps/").json()["count"] == 0
    assert table_rows() == before


def test_the_order_page_reads_plans_in_as_many_statements_whatever_their_size(
    place: Callable[..., Order],
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    group = StepGroup.objects.create(key="Lines", name="Per line")
    version = StepGroupVersion.objects.create(group=group, number=1, is_active=True)
    pick = StepDefinition.objects.create(
        version=version, key="pick", name="Pick", type=StepType.MILESTONE, scope=StepScope.LINE
    )
    ship = StepDefinition.objects.create(
        version=version, key="ship", name="Ship", type=StepType.MILESTONE, scope=StepScope.LINE
    )
    StepDependency.objects.create(step=ship, depends_on=pick, scope=DependencyScope.LINE)
    PlanScenario.objects.create(group=group, action=FulfillmentAction.SHIP_FROM_STORE, priority=9)
    small = place("SNK-CANVAS-WHT")
    large = place("SNK-CANVAS-WHT", "SCF-WOOL-RED", "SNK-CANVAS-WHT", "SCF-WOOL-RED")
    admin = login("admin")
    counts = []
    for order in (small, large):
        for url in (f"/orders/{order.pk}/plan.json", f"/orders/{order.pk}/"):
            with CaptureQueriesContext(connection) as queries:
                assert admin.get(url).status_code == 200
            counts.append(len(queries))

    assert PlanStep.objects.filter(plan__order=large).count() == 8
    assert counts[:2] == counts[2:]


def test_a_filter_too_long_is_named_and_filters_nothing_and_the_nav_link_needs_a_change_permission(
    failed: Callable[..., PlanStep],
) -> None:
    failed()
    page = login("admin").get("/orders/fallout/?queue=" + "q" * 101 + "&page=²")

    assert page.status_code == 200
    assert "queue: Ensure this value has at most 100 characters (it has 101)." in text(page)
    assert len(fallout_rows(page)) == 1

    desk = User.objects.create_user("desk", password="secret-pass-123")
    desk.user_permissions.add(Permission.objects.get(codename="view_order"))
    client = Client()
    client.force_login(desk)
    listed = client.get("/orders/fallout/")
    assert listed.status_code == 200
    assert 'href="/orders/fallout/"' not in listed.content.decode()
    assert "Retrying or completing steps needs the permission Fulfillments:Edit." in text(listed)
    assert 'name="steps"' not in listed.content.decode()
