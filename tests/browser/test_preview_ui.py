"""The preview in Chromium, on the demo retailer: time changes the winner, a draft from
the editor is previewed unsaved, and a stock change moves the order elsewhere."""

import datetime
import re
from io import StringIO
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.template.defaultfilters import floatformat
from playwright.sync_api import Page, expect

from orchestration.celery import app as celery_app
from orchestration.models import Order, OrganizationUnit, Product, Sheet
from orchestration.services.sheets import sheet_update
from tests.conftest import demo_orders_placed_before, divides_by_zero_at, orders_shipped_from_store

from .conftest import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def demo(transactional_db: Any) -> None:
    call_command("demo", stdout=StringIO())
    designer = User.objects.get(username="designer")
    designer.set_password(PASSWORD)
    designer.save()


def run_preview(page: Page, *, order: str, at: str) -> None:
    page.get_by_label("Order number", exact=True).fill(order)
    page.get_by_label("Date and time").fill(at)
    page.get_by_label("Time zone").fill("Europe/Amsterdam")
    # The demo's orders were routed when it loaded: replay them from a clean slate.
    page.get_by_label(re.compile("^Respect current fulfilments")).uncheck()
    page.get_by_role("button", name="Preview", exact=True).click()
    expect(page.get_by_role("heading", name=re.compile("^Decision at"))).to_be_visible()


def winner(page: Page) -> list[tuple[str | None, str | None]]:
    shipments = page.locator("#winner article.shipment")
    return [
        (
            shipments.nth(i).get_attribute("data-action"),
            shipments.nth(i).get_attribute("data-supplier"),
        )
        for i in range(shipments.count())
    ]


def test_sunday_and_monday_give_different_winners_and_say_why(
    demo: None, sign_in: Any, live_server: Any, screenshot: Any
) -> None:
    page = sign_in("designer")
    page.get_by_role("link", name="Preview", exact=True).click()

    run_preview(page, order="DEMO-1001", at="2026-11-22T10:00")  # a Sunday
    assert winner(page) == [("EXPORT_ORDER", "lelystad_warehouse")]
    page.get_by_label("Search the organization units").fill("Kalverstraat")
    store = OrganizationUnit.objects.get(backend_id="1187")
    reasons = page.locator(f"#reasons-{store.pk}")
    expect(reasons).to_be_visible()
    expect(reasons.locator("code.reason", has_text="ShopNotOpenOnDay")).to_have_count(1)
    expect(reasons).to_contain_text("Shop not open on Sunday")
    screenshot(page, "preview")

    # The reason links to the statement in the sheet.
    sheet = Sheet.objects.get(fulfillment="ShipFromStore")
    link = reasons.get_by_role("link", name=re.compile(r"Ship from store, line \d+")).first
    expect(link).to_have_attribute("href", re.compile(rf"/sheets/{sheet.pk}/\?line=\d+"))

    run_preview(page, order="DEMO-1001", at="2026-11-23T10:00")  # the Monday after
    assert winner(page) == [("SHIP_FROM_STORE", "1187")]


def test_a_shop_dropped_without_a_reason_says_by_which_line_and_how_far_it_is(
    demo: None, sign_in: Any, live_server: Any
) -> None:
    """Issue 19: the distance requirement of the demo's ship-from-store sheet has no
    reason, yet a shop it drops is explained beside that shop, linked to the line."""
    sheet = Sheet.objects.get(fulfillment="ShipFromStore")
    line = 1 + sheet.source.splitlines().index(
        "require [Supplier.DistanceToShippingAddressInKm] < [radiusLimit]"
    )
    page = sign_in("designer")
    page.get_by_role("link", name="Preview", exact=True).click()
    run_preview(page, order="DEMO-1001", at="2026-11-23T10:00")

    href = f"/sheets/{sheet.pk}/?line={line}"
    found = re.search(
        rf'<section class="card reasons" id="reasons-(\d+)"(?:(?!</section>).)*?'
        rf'<tr class="dropped">[^<]*<td><a href="{re.escape(href)}"',
        page.content(),
        re.S,
    )
    assert found, "no shop dropped by the distance requirement is explained"
    shop = OrganizationUnit.objects.get(pk=int(found[1]))
    page.get_by_label("Search the organization units").fill(shop.name)
    reasons = page.locator(f"#reasons-{shop.pk}")
    expect(reasons).to_be_visible()
    row = reasons.locator("tr.dropped", has=page.locator(f'a[href="{href}"]'))
    expect(row).to_be_visible()
    expect(row).to_contain_text("Supplier.DistanceToShippingAddressInKm")
    expect(row).to_contain_text("radiusLimit")
    row.locator(f'a[href="{href}"]').click()
    expect(page).to_have_url(re.compile(rf"/sheets/{sheet.pk}/\?line={line}$"))


def test_a_statement_that_fails_for_one_ou_is_shown_beside_it_and_the_sheet_runs_on(
    demo: None, sign_in: Any, live_server: Any
) -> None:
    """Issue 19 part 2: a saved score that divides by zero at Lelystad alone rejects
    Lelystad under the warehouse sheet only. The preview shows the error beside Lelystad
    (its message and column, the statement, the value it read, a link that opens the
    sheet at that line), and the sheet still runs for Venlo, valid under it, which wins."""
    lelystad = OrganizationUnit.objects.get(backend_id="lelystad_warehouse")
    venlo = OrganizationUnit.objects.get(backend_id="venlo_warehouse")
    sheet = Sheet.objects.get(fulfillment="WarehouseFulfillment")
    source, statement = divides_by_zero_at(sheet.source, lelystad.pk)
    sheet_update(sheet=sheet, source=source, comment="Prefer the nearer warehouse")
    line = 1 + source.splitlines().index(statement)
    order_lines = [
        order_line.pk
        for order_line in Order.objects.get(backend_id="DEMO-1001").lines.order_by("pk")
    ]
    page = sign_in("designer")
    page.get_by_role("link", name="Preview", exact=True).click()
    run_preview(page, order="DEMO-1001", at="2026-11-22T10:00")  # a Sunday: no shop is open

    # The sheet was not left out: Venlo is valid under it, Lelystad is not, and Venlo wins.
    assert winner(page) == [("EXPORT_ORDER", "venlo_warehouse")]
    expect(page.locator("#sheet-errors")).to_have_count(0)
    expect(page.locator("#supplier-errors")).to_have_text(
        "A statement failed for 1 organization unit: each is left out of that sheet only, "
        'and the error is shown beside it under "Who could not, and why".'
    )
    # Venlo's score is what the failing statement adds elsewhere: 1 / (its ID - Lelystad's)
    # for each of the order's lines.
    score = floatformat(len(order_lines) / (venlo.pk - lelystad.pk), "-4")
    valid = page.locator("#valid-suppliers tbody tr")
    expect(valid).to_have_count(1)
    expect(valid.locator("td")).to_have_text(
        [
            f"Venlo warehouse (ID {venlo.pk})",
            "Warehouse fulfillment",
            score,
            ", ".join(map(str, order_lines)),
        ]
    )

    # Beside Lelystad: the error, where it is, what the statement read.
    page.get_by_label("Search the organization units").fill("Lelystad")
    reasons = page.locator(f"#reasons-{lelystad.pk}")
    expect(reasons).to_be_visible()
    row = reasons.locator("tr.error")
    expect(row).to_have_count(1)
    expect(row).to_have_attribute("data-error", "DivisionByZero")
    expect(row.locator("td")).to_have_text(
        [
            f"Warehouse fulfillment, line {line}",
            "OrderLine",
            str(order_lines[0]),
            "error DivisionByZero",
            "division by zero: the right side of '/' is 0 (column 11); "
            "the OU is left out of this sheet only",
            f"score add 1 / ([Supplier.ID] - {lelystad.pk})",
            f"Supplier.ID = {lelystad.pk}",
        ]
    )

    # The link opens the sheet with the cursor on the failing statement.
    link = row.get_by_role("link", name=f"Warehouse fulfillment, line {line}")
    expect(link).to_have_attribute("href", f"/sheets/{sheet.pk}/?line={line}")
    link.click()
    expect(page).to_have_url(re.compile(rf"/sheets/{sheet.pk}/\?line={line}$"))
    expect(page.locator(".cm-activeLine")).to_have_text(statement)


def test_a_draft_from_the_editor_is_previewed_without_saving(
    demo: None, sign_in: Any, live_server: Any
) -> None:
    sheet = Sheet.objects.get(fulfillment="ShipFromStore")
    page = sign_in("designer")
    page.goto(f"{live_server.url}/sheets/{sheet.pk}/")
    expect(page.locator(".cm-content")).to_be_visible()
    # Turn every shop down in the draft: the warehouse should win.
    page.locator(".cm-content").click()
    page.keyboard.press("Control+End")
    page.keyboard.insert_text("\nscope Supplier\n\nrequire [Supplier.Type] = 'Nothing'\n")
    with page.context.expect_page() as opened:
        page.get_by_role("button", name="Preview this draft").click()
    preview = opened.value
    preview.wait_for_load_state()
    expect(preview.get_by_label("Sheet text")).to_have_value(
        re.compile("require \\[Supplier.Type\\] = 'Nothing'")
    )
    run_preview(preview, order="DEMO-1001", at="2026-11-23T10:00")
    assert winner(preview) == [("EXPORT_ORDER", "lelystad_warehouse")]

    sheet.refresh_from_db()
    assert "'Nothing'" not in sheet.source and sheet.revision == 1


def test_a_stock_change_moves_the_order(demo: None, sign_in: Any, live_server: Any) -> None:
    page = sign_in("designer")
    page.goto(f"{live_server.url}/preview/")
    run_preview(page, order="DEMO-1001", at="2026-11-23T10:00")
    assert winner(page) == [("SHIP_FROM_STORE", "1187")]

    store = OrganizationUnit.objects.get(backend_id="1187")
    products = [
        Product.objects.get(pk=line.product_id)
        for line in Order.objects.get(backend_id="DEMO-1001").lines.order_by("id")
    ]
    page.get_by_text("Stock", exact=True).click()  # open the section
    for index, product in enumerate(products):
        if index:
            page.get_by_role("button", name="Add a stock change").click()
        page.locator(f"#stock-{index}-ou").select_option(str(store.pk))
        page.locator(f"#stock-{index}-product").select_option(str(product.pk))
        page.locator(f"#stock-{index}-quantity").fill("0")
    page.get_by_role("button", name="Preview", exact=True).click()
    expect(page.get_by_role("heading", name=re.compile("^Decision at"))).to_be_visible()
    assert "1187" not in {supplier for _action, supplier in winner(page)}


def test_a_backtest_lists_exactly_the_orders_a_draft_changes(
    demo: None, sign_in: Any, live_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Inline, also when CI points Celery at a real broker (test_tasks.py covers workers).
    monkeypatch.setattr(celery_app.conf, "task_always_eager", True)
    demo_orders_placed_before(
        datetime.datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("Europe/Amsterdam"))
    )
    expected = orders_shipped_from_store()
    assert expected

    sheet = Sheet.objects.get(fulfillment="ShipFromStore")
    page = sign_in("designer")
    page.goto(f"{live_server.url}/preview/?sheet={sheet.pk}")
    draft = page.get_by_label("Sheet text")
    draft.fill(
        draft.input_value().replace(
            "require [Supplier.BackendID] in [AvailableStores]", "require [Supplier.Type] = 'None'"
        )
    )
    page.get_by_label("Latest orders").fill("10")
    page.get_by_role("button", name="Compare with the active sheets").click()
    expect(page.locator("#backtest-status")).to_have_text("Done")
    rows = page.locator("#backtest-changes tbody tr")
    assert [rows.nth(i).get_attribute("data-order") for i in range(rows.count())] == expected
    expect(page.locator("#backtest-summary")).to_contain_text(f"{len(expected)} of 6")
    sheet.refresh_from_db()
    assert sheet.revision == 1  # the draft was never saved
