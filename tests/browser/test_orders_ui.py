"""A shop works a ship-from-store task in Chromium, on the demo retailer: from the
navigation to its task list, start, pick, pack and ship; the order page then says
the order is Completed."""

import io
import re
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
from orchestration.models import FulfillmentAction, Order, OrganizationUnit, Product
from orchestration.selectors.fulfillments import store_task_list

from .conftest import PASSWORD, amsterdam_order, make_user

pytestmark = pytest.mark.django_db(transaction=True)

# A Monday morning, so the demo's ship-from-store sheet sends the order to a shop.
MONDAY = datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("Europe/Amsterdam"))


@pytest.fixture
def monday() -> Iterator[None]:
    # The clock runs on (tick) so the browser's session and waits behave as usual.
    with time_machine.travel(MONDAY, tick=True):
        yield


@pytest.fixture
def shopkeeper(transactional_db: Any, monday: None, monkeypatch: pytest.MonkeyPatch) -> User:
    monkeypatch.setattr(celery_app.conf, "task_always_eager", True)
    demo_load(stdout=io.StringIO(), password=PASSWORD)
    # Works at the Kalverstraat shop (1187), where the order's task goes.
    shopkeeper = make_user("shopkeeper", perms=("view_order", "change_orderfulfillment"))
    OrganizationUnit.objects.get(backend_id="1187").staff.add(shopkeeper)
    return shopkeeper


def place_order() -> Order:
    """An Amsterdam order: one ship-from-store task at Amsterdam Kalverstraat (1187)."""
    return amsterdam_order("WEB-7001", {"SNK-CANVAS-WHT": 1, "SCF-WOOL-RED": 1})


def test_a_shop_starts_picks_packs_and_ships_a_task(
    shopkeeper: User, sign_in: Any, screenshot: Any
) -> None:
    order = place_order()
    task = order.fulfillments.get(action=FulfillmentAction.SHIP_FROM_STORE)

    page: Page = sign_in("shopkeeper")
    page.get_by_role("navigation", name="Suite").get_by_role("link", name="Stores").click()
    expect(page.get_by_role("heading", name="Shops")).to_be_visible()
    shop_row = page.locator('#shops tr[data-shop="1187"]')
    # The demo's own orders were routed too (on commit, at the same Monday).
    open_tasks = store_task_list(task.supplier_organization_unit).count()
    assert open_tasks >= 1
    expect(shop_row.locator("td.open-tasks")).to_have_text(str(open_tasks))
    shop_row.get_by_role("link", name="Amsterdam Kalverstraat").click()

    card = page.locator(f"#task-{task.pk}")
    expect(card.get_by_role("heading", name="Order WEB-7001")).to_be_visible()
    expect(card.locator(".badge.label", has_text="SFS_task")).to_be_visible()
    screenshot(page, "store-tasks")

    card.get_by_role("button", name="Start").click()
    expect(page.get_by_role("status")).to_contain_text("You started the task of order WEB-7001")
    expect(card).to_have_attribute("data-stage", "started")

    # Everything is there: the picked quantities stay as they are.
    expect(card.get_by_label("Picked of Canvas sneaker, white (1 wanted)")).to_have_value("1")
    card.get_by_role("button", name="Pick").click()
    expect(card).to_have_attribute("data-stage", "picked")

    card.get_by_role("button", name="Pack").click()
    expect(card).to_have_attribute("data-stage", "packed")

    card.get_by_label("Carrier").fill("PostNL")
    card.get_by_label("Tracking number").fill("3SABCD1234567")
    card.get_by_role("button", name="Ship").click()
    expect(page.get_by_role("status")).to_contain_text(
        "Order WEB-7001 shipped with PostNL (3SABCD1234567)."
    )
    expect(card).to_have_count(0)  # no longer open

    page.get_by_label("Show finished tasks").check()  # applies at once
    expect(card).to_have_attribute("data-status", "Completed")
    card.get_by_role("link", name="WEB-7001").click()

    expect(page).to_have_url(re.compile(rf"/orders/{order.pk}/$"))
    expect(page.locator("#order-status")).to_have_text("Completed")
    timeline = page.locator("#timeline")
    expect(timeline).to_contain_text(
        "Amsterdam Kalverstraat (1187) started the ship-from-store task."
    )
    expect(timeline).to_contain_text("shipped 2 units with PostNL (3SABCD1234567).")
    expect(timeline.get_by_role("link", name="run 1")).to_be_visible()
    screenshot(page, "order")


def test_a_task_card_fits_a_phone(shopkeeper: User, sign_in: Any, screenshot: Any) -> None:
    """At 390 px the task list needs no sideways scrolling: the line table stays in
    its card (a long product name wraps), and the actions stay on screen."""
    Product.objects.filter(backend_id="SNK-CANVAS-WHT").update(
        name="Canvas sneakers, white, organic cotton upper with recycled rubber sole"
    )
    place_order()
    page: Page = sign_in("shopkeeper")
    unit = OrganizationUnit.objects.get(backend_id="1187")
    page.set_viewport_size({"width": 390, "height": 844})
    origin = "/".join(page.url.split("/", 3)[:3])
    page.goto(f"{origin}/orders/stores/{unit.pk}/tasks/")
    card = page.locator("article.task").first
    expect(card).to_be_visible()
    screenshot(page, "store-tasks-phone")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    card_box = card.bounding_box()
    table_box = card.locator("table.task-lines").bounding_box()
    assert card_box is not None and table_box is not None
    assert table_box["x"] + table_box["width"] <= card_box["x"] + card_box["width"] + 0.5
    start = card.get_by_role("button", name="Start")
    start.scroll_into_view_if_needed()
    box = start.bounding_box()
    assert box is not None and box["x"] + box["width"] <= 390
