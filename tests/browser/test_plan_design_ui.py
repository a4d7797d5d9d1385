"""A fulfilment designer designs a plan in Chromium, on the demo retailer: a new step
group with two auto tasks, the second after the first (rows added with the page's own
buttons), saved inactive, then activated from the group page, and given a scenario for
ship-from-store above the demo's; an order placed then gets that plan, and its two steps
run (tasks inline) until the plan is completed."""

import io
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from playwright.sync_api import Page, expect

from orchestration.celery import app as celery_app
from orchestration.demo import demo_load
from orchestration.models import FulfillmentAction, Plan, StepGroupVersion

from .conftest import PASSWORD, amsterdam_order

pytestmark = pytest.mark.django_db(transaction=True)

# A Monday morning, so the demo's ship-from-store sheet sends the order to a shop.
MONDAY = datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("Europe/Amsterdam"))


@pytest.fixture
def demo(transactional_db: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # The clock runs on (tick) so the browser's session and waits behave as usual.
    with time_machine.travel(MONDAY, tick=True):
        monkeypatch.setattr(celery_app.conf, "task_always_eager", True)
        demo_load(stdout=io.StringIO(), password=PASSWORD)
        yield


def add_step(page: Page, number: int, key: str, name: str) -> None:
    page.get_by_role("button", name="Add a step").click()
    row = page.locator("#step-rows [data-row]").nth(number - 1)
    expect(row.locator("legend")).to_have_text(f"Step {number}")
    row.get_by_label("Key").fill(key)
    row.get_by_label("Name", exact=True).fill(name)
    # A callout's URL and timeout show for a callout only.
    row.get_by_label("Type").select_option("CALLOUT")
    expect(row.get_by_label("Callout URL")).to_be_visible()
    row.get_by_label("Type").select_option("AUTO_TASK")
    expect(row.get_by_label("Callout URL")).to_be_hidden()
    row.get_by_label("Handler").fill("succeed")


def test_a_designer_designs_activates_and_routes_a_plan(demo: None, sign_in: Any) -> None:
    page: Page = sign_in("designer")
    page.get_by_role("navigation", name="Suite").get_by_role("link", name="Plans").click()
    expect(page.get_by_role("heading", name="Plans")).to_be_visible()
    page.get_by_role("link", name="New step group").click()

    page.get_by_label("Key").first.fill("FastShip")
    page.locator("#id_name").fill("Fast ship")
    add_step(page, 1, "reserve", "Reserve")
    add_step(page, 2, "notify", "Notify")
    # A third row added by mistake, and removed: the rows are numbered again.
    page.get_by_role("button", name="Add a step").click()
    page.locator("#step-rows [data-row]").nth(2).get_by_role("button", name="Remove step").click()
    expect(page.locator("#step-rows [data-row]")).to_have_count(2)
    page.get_by_role("button", name="Add a dependency").click()
    dependency = page.locator("#dep-rows [data-row]").first
    dependency.get_by_label("Step", exact=True).fill("notify")
    dependency.get_by_label("Depends on").fill("reserve")
    page.get_by_label("Comment").fill("Reserve, then notify")
    page.get_by_label("Activate at once (new plans take it)").uncheck()
    page.get_by_role("button", name="Save as a new version").click()

    expect(page.get_by_text("Saved as version 1 (not active).")).to_be_visible()
    version = StepGroupVersion.objects.get(group__key="FastShip")
    assert (version.number, version.is_active, version.comment) == (
        1,
        False,
        "Reserve, then notify",
    )
    assert list(version.steps.values_list("key", "handler")) == [
        ("reserve", "succeed"),
        ("notify", "succeed"),
    ]
    notify = version.steps.get(key="notify")
    assert [d.depends_on.key for d in notify.dependencies.all()] == ["reserve"]

    page.once("dialog", lambda dialog: dialog.accept())
    page.locator('#versions tr[data-version="1"]').get_by_role("button", name="Activate").click()
    expect(page.get_by_text("Version 1 is active")).to_be_visible()
    version.refresh_from_db()
    assert version.is_active

    # Above the demo's own ship-from-store scenarios (0, and 10 for bank transfers).
    form = page.locator("#scenario-form")
    form.get_by_label("Action").select_option("SHIP_FROM_STORE")
    form.get_by_label("Priority").fill("20")
    form.get_by_role("button", name="Save scenario").click()
    expect(page.get_by_text("Scenario for SHIP_FROM_STORE saved.")).to_be_visible()
    expect(page.locator("#scenarios tbody tr")).to_have_count(1)

    order = amsterdam_order("WEB-7101", {"SNK-CANVAS-WHT": 1})

    task = order.fulfillments.get(action=FulfillmentAction.SHIP_FROM_STORE)
    plan = Plan.objects.get(fulfillment=task)
    assert plan.version == version
    assert plan.state == "COMPLETED"
    assert list(plan.steps.values_list("definition__key", "state")) == [
        ("reserve", "COMPLETED"),
        ("notify", "COMPLETED"),
    ]


def test_a_designer_gives_a_manual_step_assignment_rules_and_a_callout_its_method(
    demo: None, sign_in: Any, live_server: Any
) -> None:
    page: Page = sign_in("designer")
    page.goto(f"{live_server.url}/sheets/plans/groups/ShipFromStore/edit/")
    start = page.locator("#step-rows [data-row]").first
    # The assignment shows for a manual step only; the method for a callout only.
    expect(start.get_by_label("Assignment", exact=True)).to_be_visible()
    expect(start.get_by_label("Method")).to_be_hidden()
    start.get_by_label("Assignment", exact=True).select_option("CONDITIONS")
    start.get_by_label("Queue", exact=True).fill("shop:1187")
    rules = start.locator("[data-rule]")
    expect(rules).to_have_count(1)  # one blank row to type into
    start.get_by_role("button", name="Add a rule").click()
    expect(rules).to_have_count(2)
    second = rules.nth(1)
    expect(second.locator("[data-rule-number]")).to_have_text("2")
    second.get_by_label("Rule's user").fill("kalverstraat")
    second.get_by_label("Rule's priority").fill("5")
    second.get_by_label("The rule holds if (clauses, one a line)").fill(
        "Order.CustomFields.Tier = VIP"
    )
    # The blank first row removed: the one left is rule 1, named so for the form.
    rules.first.get_by_role("button", name="Remove rule").click()
    expect(rules).to_have_count(1)
    expect(rules.first.locator("[data-rule-number]")).to_have_text("1")
    assert rules.first.get_by_label("Rule's user").get_attribute("name") == "step-0-rule-0-assignee"
    start.get_by_label("Type").select_option("CALLOUT")
    expect(start.get_by_label("Method")).to_be_visible()
    expect(start.get_by_label("Assignment", exact=True)).to_be_hidden()
    start.get_by_label("Type").select_option("MANUAL")
    page.get_by_label("Comment").fill("VIP orders to kalverstraat")
    page.get_by_role("button", name="Save as a new version").click()

    expect(page.get_by_text("Saved as version 2 (active).")).to_be_visible()
    step = StepGroupVersion.objects.get(group__key="ShipFromStore", number=2).steps.get(key="start")
    assert (step.assignment, step.queue, step.assignment_rules) == (
        "CONDITIONS",
        "shop:1187",
        [
            {
                "condition": {
                    "clauses": [
                        {"field": "Order.CustomFields.Tier", "operator": "=", "value": "VIP"}
                    ],
                    "logic": "ALL",
                },
                "assignee": "kalverstraat",
                "priority": 5,
            }
        ],
    )
