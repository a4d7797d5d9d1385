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
    # Who else could fulfil, and why Kalverstraat could not.
    page.evaluate("document.getElementById('valid-help').scrollIntoView()")
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
            f"{len(order_lines)} of {len(order_lines)} units",
            f"{score} = 0 supplier + {score} line + 0 shipment",
            "In the winning proposition",
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


def test_after_preview_the_result_is_in_view_with_its_local_time(
    demo: None, sign_in: Any, live_server: Any
) -> None:
    page = sign_in("designer")
    page.goto(f"{live_server.url}/preview/")
    run_preview(page, order="DEMO-1001", at="2026-11-23T10:00")
    heading = page.locator("#result-title")
    expect(heading).to_be_in_viewport()
    expect(heading).to_be_focused()
    moment = heading.locator("time")
    expect(moment).to_have_text("Monday 23 Nov 2026, 10:00 Europe/Amsterdam")
    expect(moment).to_have_attribute("title", "2026-11-23T10:00:00+01:00")


def test_a_typed_order_with_product_autocomplete_and_line_rows_added_and_removed(
    demo: None, sign_in: Any, live_server: Any
) -> None:
    """DEMO-1001 typed in by hand (a third line added, then removed) goes where DEMO-1001
    goes: Kalverstraat ships it from the store."""
    page = sign_in("designer")
    page.goto(f"{live_server.url}/preview/")
    page.get_by_text("Or a hypothetical order: type it").click()
    page.get_by_label("Date and time").fill("2026-11-23T10:00")
    page.get_by_label("Time zone").fill("Europe/Amsterdam")
    page.get_by_label("Street").fill("Herengracht 182")
    page.get_by_label("City").fill("Amsterdam")
    page.get_by_label("Country").fill("NL")
    page.get_by_label("Latitude").fill("52.3752")
    page.get_by_label("Longitude").fill("4.8872")

    # The product list follows what is typed: the products whose ID or name match.
    page.locator("#line-0-product").press_sequentially("scarf")
    options = page.locator("#product-options option")
    expect(options).to_have_count(
        Product.objects.filter(name__icontains="scarf").count()
        + Product.objects.filter(backend_id__icontains="scarf")
        .exclude(name__icontains="scarf")
        .count()
    )
    expect(page.locator('#product-options option[value="SCF-WOOL-RED"]')).to_have_count(1)
    page.locator("#line-0-product").fill("SCF-WOOL-RED")
    page.locator("#line-0-quantity").fill("1")

    page.get_by_role("button", name="Add a line").click()
    page.get_by_role("button", name="Add a line").click()
    expect(page.locator("#line-rows .line-row")).to_have_count(3)
    page.locator("#line-1-product").fill("TSH-PRINT-WHT")
    page.locator("#line-1-quantity").fill("5")
    page.locator("#line-2-product").fill("SNK-CANVAS-WHT")
    page.locator("#line-2-quantity").fill("1")
    page.locator("#line-rows .line-row").nth(1).get_by_role("button", name="Remove line").click()
    expect(page.locator("#line-rows .line-row")).to_have_count(2)
    # The rows are numbered again: the sneaker is line 2 now.
    expect(page.locator("#line-1-product")).to_have_value("SNK-CANVAS-WHT")
    expect(page.locator("#line-2-product")).to_have_count(0)

    page.get_by_role("button", name="Preview", exact=True).click()
    expect(page.locator("#result-title")).to_be_in_viewport()
    assert winner(page) == [("SHIP_FROM_STORE", "1187")]
    expect(page.locator("#typed-scenario")).to_have_count(1)


def test_a_typed_order_line_refused_is_named_by_its_row_and_field(
    demo: None, sign_in: Any, live_server: Any
) -> None:
    page = sign_in("designer")
    page.goto(f"{live_server.url}/preview/")
    page.get_by_text("Or a hypothetical order: type it").click()
    page.locator("#line-0-product").fill("SCF-WOOL-RED")
    page.locator("#line-0-quantity").fill("1")
    page.get_by_role("button", name="Add a line").click()
    page.locator("#line-1-product").fill("NO-SUCH-THING")
    page.locator("#line-1-quantity").fill("1")
    page.get_by_role("button", name="Preview", exact=True).click()
    errors = page.locator("#preview-errors")
    expect(errors).to_be_in_viewport()
    expect(errors.locator("li")).to_have_text(
        [
            "lines[1].product: Line 2, product: 'NO-SUCH-THING' names no one product (no "
            "product has it); type its backend ID or pick it from the list."
        ]
    )
    expect(page.locator("#line-1-product")).to_have_value("NO-SUCH-THING")  # kept as typed


def test_preview_this_draft_keeps_the_order_that_was_previewed(
    demo: None, sign_in: Any, live_server: Any
) -> None:
    """A designer previews DEMO-1001 on Monday, opens the sheet, changes it, and asks
    for a preview of the draft: it opens on DEMO-1001 on Monday, already decided."""
    sheet = Sheet.objects.get(fulfillment="ShipFromStore")
    page = sign_in("designer")
    page.goto(f"{live_server.url}/preview/")
    run_preview(page, order="DEMO-1001", at="2026-11-23T10:00")
    assert winner(page) == [("SHIP_FROM_STORE", "1187")]

    page.goto(f"{live_server.url}/sheets/{sheet.pk}/")
    expect(page.locator(".cm-content")).to_be_visible()
    page.locator(".cm-content").click()
    page.keyboard.press("Control+End")
    page.keyboard.insert_text("\nscope Supplier\n\nrequire [Supplier.Type] = 'Nothing'\n")
    with page.context.expect_page() as opened:
        page.get_by_role("button", name="Preview this draft").click()
    preview = opened.value
    preview.wait_for_load_state()
    expect(preview.get_by_label("Order number", exact=True)).to_have_value("DEMO-1001")
    expect(preview.locator("#result-title time")).to_have_text(
        "Monday 23 Nov 2026, 10:00 Europe/Amsterdam"
    )
    assert winner(preview) == [("EXPORT_ORDER", "lelystad_warehouse")]
    expect(preview.locator("#winner .draft-mark")).to_have_count(0)  # the warehouse's sheet
    expect(preview.locator("#drafts-used")).to_have_text(
        "Previewed with unsaved text: draft of Ship from store. Nothing was saved."
    )
    sheet.refresh_from_db()
    assert "'Nothing'" not in sheet.source


def test_the_winner_by_a_draft_says_so(demo: None, sign_in: Any, live_server: Any) -> None:
    sheet = Sheet.objects.get(fulfillment="ShipFromStore")
    page = sign_in("designer")
    page.goto(f"{live_server.url}/preview/?sheet={sheet.pk}")
    run_preview(page, order="DEMO-1001", at="2026-11-23T10:00")
    expect(page.locator("#winner article.shipment h4 .draft-mark")).to_have_text(
        "by draft of Ship from store"
    )
