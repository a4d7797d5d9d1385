"""The visual editor in Chromium: list values as chips, the OU picker, saving exactly the edit."""

from typing import Any

import pytest
from playwright.sync_api import expect

from orchestration.models import OrganizationUnit, Sheet
from orchestration.services.sheets import sheet_create

pytestmark = pytest.mark.django_db(transaction=True)

SOURCE = """\
fulfillment Pilot

action 'SHIP_FROM_STORE'

# Only where we deliver
scope Order

require [Order.ShippingAddress.CountryID] in 'NL', 'BE' # for now

scope Supplier

require [Supplier.Type] = 'Shop' with reason 'NotAShop', 'Only shops'

# The pilot stores
require Supplier.BackendID in 'ams_1', 'ams_2'

scope Shipment

data [TravelDistanceText] as [Supplier.RouteToShippingAddressByBike.DistanceText]
data [TravelTimeText] as [Supplier.RouteToShippingAddressByBike.TimeText]
data [TravelTimeInMinutes] as [Supplier.RouteToShippingAddressByBike.TimeInMinutes]
data [TravelDistanceInKm] as [Supplier.RouteToShippingAddressByBike.DistanceInKm]
"""


@pytest.fixture
def sheet(transactional_db: Any) -> Sheet:
    return sheet_create(fulfillment="Pilot", name="Pilot stores", source=SOURCE)


def test_change_a_list_with_plus_and_times_and_find_exactly_that_in_the_source(
    designer_user: Any, sign_in: Any, live_server: Any, sheet: Sheet, screenshot: Any
) -> None:
    page = sign_in("designer")
    page.goto(f"{live_server.url}/sheets/{sheet.pk}/")
    page.get_by_role("link", name="Visual editor").click()
    expect(page.get_by_role("heading", name="Scope Supplier")).to_be_visible()
    expect(page.get_by_text("# Only where we deliver")).to_be_visible()
    screenshot(page, "visual-editor")

    countries = page.locator(".row-require").first.locator(".chips")
    countries.get_by_role("button", name="Remove BE").click()
    countries.get_by_role("button", name="Add a value").click()
    page.get_by_label("New value").fill("DE")
    page.keyboard.press("Enter")
    expect(countries.locator(".chip-value")).to_have_text(["NL", "DE"])

    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Saved as revision 2.")).to_be_visible()
    sheet.refresh_from_db()
    assert sheet.source == SOURCE.replace("in 'NL', 'BE' # for now", "in 'NL', 'DE' # for now")

    # The advanced editor shows the same text, the comment kept.
    page.get_by_role("link", name="Advanced editor", exact=True).click()
    expect(page.locator(".cm-content")).to_contain_text("in 'NL', 'DE' # for now")


def test_the_plus_of_a_backend_id_list_opens_an_ou_picker(
    designer_user: Any, sign_in: Any, live_server: Any, sheet: Sheet
) -> None:
    for number, city in ((3, "Utrecht"), (4, "Haarlem")):
        OrganizationUnit.objects.create(
            name=f"{city} store", backend_id=f"{city[:3].lower()}_{number}", type="Shop"
        )
    page = sign_in("designer")
    page.goto(f"{live_server.url}/sheets/{sheet.pk}/visual/")
    stores = page.locator(".chips[data-picker='backend_id']")
    stores.get_by_role("button", name="Add a value (pick an organization unit)").click()
    dialog = page.get_by_role("dialog", name="Pick an organization unit")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Search by backend ID, name or ID").fill("haar")
    choice = dialog.get_by_role("button", name="haa_4 · Haarlem store")
    choice.click()
    expect(dialog).to_be_hidden()
    expect(stores.locator(".chip-value")).to_have_text(["ams_1", "ams_2", "haa_4"])

    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Saved as revision 2.")).to_be_visible()
    sheet.refresh_from_db()
    assert sheet.source == SOURCE.replace("in 'ams_1', 'ams_2'\n", "in 'ams_1', 'ams_2', 'haa_4'\n")


COMMENTED = """\
fulfillment Pilot

action CANCEL

scope Order # orders first
require [Order.ShippingAddress.CountryID] in 'NL', 'BE'
    with reason 'Far', 'Too far' # for now
# nothing else about orders

scope Supplier
# empty for now

# The pilot stores
scope Shipment
data [Label] as 'pilot'
"""


def test_each_comment_is_shown_in_its_own_scope(
    designer_user: Any, sign_in: Any, live_server: Any
) -> None:
    sheet = sheet_create(fulfillment="Pilot", name="Pilot", source=COMMENTED)
    page = sign_in("designer")
    page.goto(f"{live_server.url}/sheets/{sheet.pk}/visual/")

    def scope(name: str) -> Any:
        return page.locator("section.visual-section").filter(
            has=page.get_by_role("heading", name=f"Scope {name}", exact=True)
        )

    expect(scope("Order").locator(".section-comment")).to_have_text("# orders first")
    expect(scope("Order").locator(".row .comment")).to_have_text(
        ["# for now", "# nothing else about orders"]
    )
    expect(scope("Supplier").locator(".row")).to_have_text(["# empty for now"])
    expect(scope("Shipment").locator(".row-comment")).to_have_text(["# The pilot stores"])


def test_a_refused_value_is_named_by_line_and_field_and_focused(
    designer_user: Any, sign_in: Any, live_server: Any, sheet: Sheet
) -> None:
    page = sign_in("designer")
    page.goto(f"{live_server.url}/sheets/{sheet.pk}/visual/")
    reason = page.get_by_label("Reason code")
    reason.fill("Not a shop")
    page.get_by_role("button", name="Save").click()

    errors = page.locator("#visual-errors")
    expect(errors).to_contain_text("Not saved.")
    expect(errors.get_by_role("listitem")).to_have_text(
        "Line 12, column 46, reason code: a reason code is letters, digits and underscores, "
        "starting with a letter"
    )
    expect(page.get_by_label("Reason code")).to_be_focused()
    expect(page.get_by_label("Reason code")).to_have_value("Not a shop")
    expect(page.get_by_label("Reason code")).to_have_attribute("aria-invalid", "true")
    page.get_by_label("Reason description").focus()
    errors.get_by_role("link", name="Line 12, column 46, reason code").click()
    expect(page.get_by_label("Reason code")).to_be_focused()
    sheet.refresh_from_db()
    assert (sheet.revision, sheet.source) == (1, SOURCE)


def test_ctrl_s_saves_the_visual_editor_with_a_value_still_being_typed(
    designer_user: Any, sign_in: Any, live_server: Any, sheet: Sheet
) -> None:
    page = sign_in("designer")
    page.goto(f"{live_server.url}/sheets/{sheet.pk}/visual/")
    page.get_by_label("Reason description").fill("Shops only")
    countries = page.locator(".row-require").first.locator(".chips")
    countries.get_by_role("button", name="Add a value").click()
    page.get_by_label("New value").fill("DE")  # not yet added with Enter

    page.keyboard.press("Control+S")
    expect(page.get_by_text("Saved as revision 2.")).to_be_visible()
    sheet.refresh_from_db()
    assert sheet.source == SOURCE.replace("'NL', 'BE'", "'NL', 'BE', 'DE'").replace(
        "'Only shops'", "'Shops only'"
    )
