"""A return in Chromium, on the demo retailer: from a shipped order's page, create a
return (asking back too much first, which is refused where the line is), then open
the return order's form: where to send the parcel, its lines, its QR code; then the
Lelystad warehouse registers what arrived."""

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
from orchestration.models import Order, Stock
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
def shipped_order(transactional_db: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Order]:
    """WEB-7002: 2 sneakers, shipped by the Kalverstraat shop on a Monday morning."""
    monkeypatch.setattr(celery_app.conf, "task_always_eager", True)
    with time_machine.travel(MONDAY, tick=True):
        demo_load(stdout=io.StringIO(), password=PASSWORD)
        admin = User.objects.get(username="admin")
        order = amsterdam_order("WEB-7002", {"SNK-CANVAS-WHT": 2})
        task = order.fulfillments.get()
        fulfillment_start(fulfillment_id=task.pk, user=admin)
        fulfillment_pick(fulfillment_id=task.pk, user=admin)
        fulfillment_pack(fulfillment_id=task.pk, user=admin)
        fulfillment_ship(
            fulfillment_id=task.pk, user=admin, carrier="PostNL", tracking_number="3S1"
        )
        yield order


def test_a_return_is_created_in_the_suite_and_its_form_opened(
    shipped_order: Order, sign_in: Any, screenshot: Any, live_server: Any
) -> None:
    page: Page = sign_in("admin")
    page.goto(f"{live_server.url}/orders/{shipped_order.pk}/")
    page.get_by_role("link", name="Create a return").click()
    expect(page.get_by_role("heading", name="Return from order WEB-7002")).to_be_visible()

    quantity = page.get_by_label("Units of Canvas sneaker, white to return")
    expect(quantity).to_have_attribute("max", "2")
    # Asking back more than was shipped: refused, the page says which line and why.
    quantity.evaluate("input => input.removeAttribute('max')")
    quantity.fill("3")
    page.get_by_label("Why Canvas sneaker, white comes back").select_option("TooSmall")
    page.get_by_role("button", name="Create the return order").click()
    line = shipped_order.lines.get()
    expect(page.get_by_role("alert")).to_have_text(
        f"Line {line.pk} (SNK-CANVAS-WHT): 3 units asked back, but only 2 can be "
        "(2 shipped, 0 on a return already)."
    )
    assert not Order.objects.filter(intent="Returns", original_order=shipped_order).exists()

    page.get_by_label("Units of Canvas sneaker, white to return").fill("2")
    page.get_by_role("button", name="Create the return order").click()
    expect(page.locator("ul.messages")).to_contain_text("Return order WEB-7002-R1 created")
    expect(page.get_by_role("heading", name=re.compile("Order WEB-7002-R1"))).to_be_visible()
    card = page.locator("article.fulfillment[data-action='EXPORT_RETURN_ORDER']")
    expect(card).to_contain_text("Lelystad warehouse (lelystad_warehouse)")
    screenshot(page, "return-order")

    page.get_by_role("link", name="Return form").click()
    expect(page.get_by_role("heading", name="Return form")).to_be_visible()
    expect(page.locator("#return-address")).to_have_text(
        re.compile(r"Lelystad warehouse\s*Larserpoortweg 30\s*8218 NK Lelystad\s*NL")
    )
    expect(page.locator("td.line-unit")).to_have_text("Lelystad warehouse (lelystad_warehouse)")
    expect(page.get_by_role("img", name="QR code WEB-7002-R1")).to_be_visible()
    screenshot(page, "return-form")
    href = page.get_by_role("link", name="Download as PDF").get_attribute("href")
    pdf = page.request.get(f"{live_server.url}{href}")
    assert pdf.headers["content-type"] == "application/pdf" and pdf.body()[:5] == b"%PDF-"

    # The warehouse registers the arrival: one of the two, sellable (the other is late).
    page.go_back()
    before = Stock.objects.get(
        organization_unit__backend_id="lelystad_warehouse", product__backend_id="SNK-CANVAS-WHT"
    ).quantity_on_hand
    form = page.locator("form.receive-form")
    form.get_by_label(re.compile("Canvas sneaker, white \\(2 expected\\), received")).fill("1")
    form.get_by_role("button", name="Register arrival").click()
    expect(page.locator("ul.messages")).to_contain_text("Arrival registered at Lelystad warehouse")
    after = Stock.objects.get(
        organization_unit__backend_id="lelystad_warehouse", product__backend_id="SNK-CANVAS-WHT"
    ).quantity_on_hand
    assert after == before + 1
    expect(page.locator("#timeline")).to_contain_text("Received at Lelystad warehouse")
