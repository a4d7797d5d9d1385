"""The plan view and the fallout queue in Chromium, on the demo retailer.

The order page of a ship-from-store order draws its plan with ``PlanGraph``: Start
Ready, the rest Pending; selecting a step shows its transitions; after the shop
starts, picks, packs and ships (through the services) every step is Completed. A step
that fails for good is listed in the fallout queue, retried with a note once its
handler works, and leaves the queue.
"""

import io
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from orchestration.celery import app as celery_app
from orchestration.demo import demo_load
from orchestration.models import (
    FulfillmentAction,
    PlanScenario,
    PlanStep,
    PlanTransition,
    StepDefinition,
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

from .conftest import PASSWORD, amsterdam_order

pytestmark = pytest.mark.django_db(transaction=True)

MONDAY = datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("Europe/Amsterdam"))


@pytest.fixture
def demo(transactional_db: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The demo retailer on a Monday morning (the clock running on), tasks inline."""
    monkeypatch.setattr(celery_app.conf, "task_always_eager", True)
    with time_machine.travel(MONDAY, tick=True):
        demo_load(stdout=io.StringIO(), password=PASSWORD)
        yield


def sign_in_admin(live_server: Any, page: Page) -> Page:
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("networkidle")
    return page


def node(page: Page, step: PlanStep) -> Any:
    return page.locator(f".plan-graph-node[data-step-id='{step.pk}']")


def test_the_order_page_draws_the_plan_and_shows_it_completed_after_the_shop_ships(
    demo: None, live_server: Any, page: Page, screenshot: Any
) -> None:
    order = amsterdam_order("WEB-7101", {"SNK-CANVAS-WHT": 1, "SCF-WOOL-RED": 1})
    steps = {
        s.definition.key: s
        for s in PlanStep.objects.filter(plan__order=order).select_related("definition")
    }
    sign_in_admin(live_server, page)

    page.goto(f"{live_server.url}/orders/{order.pk}/")

    graph = page.locator("#plan-graph")
    expect(graph).to_be_visible()
    expect(page.locator(".plan-graph-plan")).to_contain_text("Ship from store · version 1")
    expect(node(page, steps["start"])).to_have_attribute("data-state", "Ready")
    # A person's step counts no attempts: it says who does it once someone has.
    expect(node(page, steps["start"])).to_have_attribute(
        "aria-label", "Start, Manual task, State: Ready"
    )
    for key in ("pick", "pack", "ship"):
        expect(node(page, steps[key])).to_have_attribute("data-state", "Pending")
    expect(page.locator("#plan-table")).not_to_have_attribute("open", "")  # the graph instead

    node(page, steps["start"]).click()
    selected = page.locator("#plan-selected")
    expect(selected.get_by_role("heading", name="Start")).to_be_visible()
    expect(selected).to_contain_text("Start: Ready (no dependencies).")
    page.get_by_role("checkbox", name="Pending", exact=True).check()
    expect(node(page, steps["start"])).to_have_attribute("data-dimmed", "true")
    expect(node(page, steps["pick"])).not_to_have_attribute("data-dimmed", "true")

    task = order.fulfillments.get(action=FulfillmentAction.SHIP_FROM_STORE)
    shop = User.objects.get(username="kalverstraat")
    fulfillment_start(fulfillment_id=task.pk, user=shop)
    fulfillment_pick(fulfillment_id=task.pk, user=shop)
    fulfillment_pack(fulfillment_id=task.pk, user=shop)
    fulfillment_ship(fulfillment_id=task.pk, user=shop, carrier="PostNL", tracking_number="3S1")
    page.reload()

    for key in ("start", "pick", "pack", "ship"):
        expect(node(page, steps[key])).to_have_attribute("data-state", "Completed")
    expect(page.locator(".plan-graph-plan")).to_contain_text("Completed")
    node(page, steps["ship"]).click()
    expect(selected).to_contain_text("Ship: Completed (done by kalverstraat).")
    expect(node(page, steps["ship"])).to_have_attribute(
        "aria-label",
        "Ship, Manual task, State: Completed, Assigned to kalverstraat, Done by kalverstraat",
    )
    expect(node(page, steps["ship"]).locator("text").last).to_have_text("Done by kalverstraat")
    expect(selected).to_contain_text(
        "No attempts: a person does this step (assigned to kalverstraat); done by kalverstraat."
    )
    timeline = page.locator("#timeline")
    expect(timeline.locator("tr.plan-entry").last).to_contain_text(
        "Plan Ship from store: Completed."
    )
    page.evaluate("document.getElementById('plan').scrollIntoView()")
    screenshot(page, "plan-view")


def test_a_paused_step_shows_what_it_waits_for_and_whether_it_holds_now(
    demo: None, live_server: Any, page: Page
) -> None:
    # Paid by bank transfer: the demo's plan waits for the payment first.
    order = amsterdam_order(
        "WEB-7103", {"SNK-CANVAS-WHT": 1}, custom_fields={"PaymentMethod": "BankTransfer"}
    )
    steps = {
        s.definition.key: s
        for s in PlanStep.objects.filter(plan__order=order).select_related("definition")
    }
    assert steps["payment"].state == StepState.IN_PROGRESS
    sign_in_admin(live_server, page)

    page.goto(f"{live_server.url}/orders/{order.pk}/")

    payment = node(page, steps["payment"])
    expect(payment).to_have_attribute(
        "aria-label",
        "Wait for the payment, Pause, State: In Progress, Waits for "
        "Order.CustomFields.PaymentStatus = Captured, Does not hold yet",
    )
    expect(payment.locator("text").last).to_have_text("Does not hold yet")
    # An automatic step still counts its attempts.
    expect(node(page, steps["carrier"])).to_have_attribute(
        "aria-label", "Book a carrier, Callout, State: Pending, 0 attempts"
    )
    payment.click()
    expect(page.locator("#plan-selected")).to_contain_text(
        "No attempts: it waits until Order.CustomFields.PaymentStatus = Captured (not yet)."
    )


def test_a_fatally_failed_step_is_retried_from_the_fallout_queue_and_leaves_it(
    demo: None, live_server: Any, page: Page, settings: Any
) -> None:
    group = StepGroup.objects.create(key="Flaky", name="Flaky invoice")
    version = StepGroupVersion.objects.create(group=group, number=1, is_active=True)
    StepDefinition.objects.create(
        version=version, key="invoice", name="Invoice", type=StepType.AUTO_TASK, handler="flaky"
    )
    PlanScenario.objects.create(group=group, action=FulfillmentAction.SHIP_FROM_STORE, priority=100)
    settings.ORCHESTRATION_STEP_HANDLERS = {"flaky": "orchestration.integrations.steps.fail"}
    order = amsterdam_order("WEB-7102", {"SNK-CANVAS-WHT": 1})
    step = PlanStep.objects.get(plan__order=order)
    assert step.state == StepState.FATALLY_FAILED
    sign_in_admin(live_server, page)

    page.get_by_role("navigation", name="Suite").get_by_role("link", name="Fallout").click()

    expect(page.get_by_role("heading", name="Fallout queue")).to_be_visible()
    row = page.locator(f"#fallout-step-{step.pk}")
    expect(row).to_contain_text("WEB-7102")
    expect(row).to_contain_text("AlwaysFails step invoice is configured to fail")
    page.get_by_role("button", name="Retry").click()  # nothing ticked, no note
    expect(page.locator("#fallout-note")).to_have_js_property("validity.valid", False)

    settings.ORCHESTRATION_STEP_HANDLERS = {"flaky": "orchestration.integrations.steps.succeed"}
    row.get_by_role("checkbox").check()
    page.get_by_label("Note (required: why)").fill("the invoicing service is back")
    page.get_by_role("button", name="Retry").click()

    expect(page.get_by_role("status")).to_contain_text("1 step retried.")
    expect(page.locator(f"#fallout-step-{step.pk}")).to_have_count(0)
    expect(page.locator("#fallout")).to_contain_text("No fatally failed steps.")
    step.refresh_from_db()
    assert (step.state, step.attempts, step.note) == (
        StepState.COMPLETED,
        2,
        "the invoicing service is back",
    )


HOSTILE = '<script>window.hostile = 1</script><img src=x onerror="window.hostile = 2">'
# An unbroken text (a stack trace's path, a base64 body) longer than any screen.
LONG = "X" * 3000


def test_hostile_and_long_error_texts_and_notes_are_shown_as_text_and_keep_the_layout(
    demo: None, live_server: Any, page: Page, settings: Any, screenshot: Any
) -> None:
    group = StepGroup.objects.create(key="Flaky", name="Flaky invoice")
    version = StepGroupVersion.objects.create(group=group, number=1, is_active=True)
    StepDefinition.objects.create(
        version=version, key="invoice", name="Invoice", type=StepType.AUTO_TASK, handler="flaky"
    )
    PlanScenario.objects.create(group=group, action=FulfillmentAction.SHIP_FROM_STORE, priority=100)
    settings.ORCHESTRATION_STEP_HANDLERS = {"flaky": "orchestration.integrations.steps.fail"}
    order = amsterdam_order("WEB-7105", {"SNK-CANVAS-WHT": 1})
    step = PlanStep.objects.get(plan__order=order)
    PlanStep.objects.filter(pk=step.pk).update(
        error_code=HOSTILE, error=f"{HOSTILE} {LONG}", note=f"{HOSTILE} {LONG}"
    )
    step.attempt_rows.update(error=f"{HOSTILE} {LONG}")
    PlanTransition.objects.filter(step=step).update(message=f"{HOSTILE} {LONG}")
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    sign_in_admin(live_server, page)

    def fits(selector: str) -> None:
        """Nothing runs, the page does not scroll sideways, and the text is there as text."""
        page.wait_for_load_state("load")  # the styles too
        assert page.evaluate("window.hostile") is None
        assert page.evaluate(
            "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
        )
        box = page.locator(selector)
        expect(box).to_contain_text(HOSTILE)
        # On a desktop the box fits; on a phone a table may scroll in its box, but the
        # long text breaks: the box holds no more than a desktop's width (unbroken, the
        # text alone is 35,000 px).
        room = box.evaluate("(e) => [e.scrollWidth, e.clientWidth]")
        assert room[0] <= max(room[1] + 1, 1280), (selector, room)

    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{live_server.url}/orders/fallout/")
        fits("#fallout-form .table-wrap")
        page.get_by_label("Note (required: why)").fill(HOSTILE)
        page.get_by_role("button", name="Retry").click()  # nothing ticked: refused
        expect(page.locator("#refusal")).to_be_visible()
        expect(page.locator("#fallout-note")).to_have_value(HOSTILE)
        fits("#fallout-form .table-wrap")

        page.goto(f"{live_server.url}/orders/{order.pk}/")
        node(page, step).click()
        fits("#plan-selected")
        expect(page.locator("#plan-selected")).to_contain_text(f"Note: {HOSTILE}")
        expect(node(page, step)).to_have_attribute(
            "aria-label",
            f"Invoice, Auto task, State: Fatally Failed, 1 attempt, Error: {HOSTILE}: "
            f"{HOSTILE} {LONG}",
        )
        page.locator("#plan-table > summary").click()
        fits(f"#plan-table .table-wrap:has(#plan-step-{step.pk})")
        fits(".table-wrap:has(#timeline)")
    screenshot(page, "plan-view-hostile")
    assert dialogs == []
