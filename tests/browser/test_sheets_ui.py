"""The designers' Suite in Chromium: sign in, overview, create, editor, dark mode, revisions.

Each test is what a designer does with the mouse and keyboard; assertions are on
what the page shows (and, for saves, on what was stored).
"""

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from orchestration.models import Sheet
from orchestration.services.sheets import sheet_create, sheet_update

from .conftest import make_user

pytestmark = pytest.mark.django_db(transaction=True)


def cancel_sheet(fulfillment: str, *, name: str, active: bool) -> Sheet:
    return sheet_create(
        fulfillment=fulfillment,
        name=name,
        source=f"fulfillment {fulfillment}\naction CANCEL\n",
        is_active=active,
    )


def sheet_rows(page: Page) -> list[str]:
    return page.locator(
        "#sheets tbody tr[data-sheet-id] td:nth-child(2) > a:first-child"
    ).all_inner_texts()


def test_designer_signs_in_and_filters_the_overview(
    designer_user: Any, sign_in: Any, screenshot: Any
) -> None:
    cancel_sheet("ShipNorth", name="Ship from store north", active=True)
    cancel_sheet("ShipSouth", name="Ship from store south", active=False)
    warehouse = cancel_sheet("Warehouse", name="Warehouse export", active=True)

    page = sign_in("designer")
    expect(page).to_have_url(re.compile(r"/sheets/$"))
    expect(page.get_by_role("heading", name="Sheets")).to_be_visible()
    assert sheet_rows(page) == ["Ship from store north", "Warehouse export"]
    screenshot(page, "overview")

    page.get_by_label("Show inactive sheets").check()  # applies at once: no Apply
    expect(page).to_have_url(re.compile(r"[?&]inactive=1"))
    page.wait_for_load_state()
    assert sheet_rows(page) == [
        "Ship from store north",
        "Ship from store south",
        "Warehouse export",
    ]

    page.get_by_label("Name or identifier").fill("south")
    page.get_by_role("button", name="Apply").click()
    assert sheet_rows(page) == ["Ship from store south"]

    page.get_by_label("Name or identifier").fill("")
    page.get_by_label("ID", exact=True).fill(str(warehouse.pk))
    page.get_by_role("button", name="Apply").click()
    assert sheet_rows(page) == ["Warehouse export"]

    page.get_by_role("link", name="Clear").click()
    name_header = page.get_by_role("columnheader", name="Name", exact=True)
    name_header.get_by_role("link").click()  # sort by name; again: descending
    expect(name_header).to_have_attribute("aria-sort", "ascending")
    name_header.get_by_role("link").click()
    expect(name_header).to_have_attribute("aria-sort", "descending")
    assert sheet_rows(page) == ["Warehouse export", "Ship from store north"]


def test_ticking_show_inactive_sheets_applies_at_once(designer_user: Any, sign_in: Any) -> None:
    cancel_sheet("ShipNorth", name="Ship from store north", active=True)
    cancel_sheet("ShipSouth", name="Ship from store south", active=False)

    page = sign_in("designer")
    names = page.locator("#sheets tbody tr[data-sheet-id] td:nth-child(2) > a:first-child")
    expect(names).to_have_text(["Ship from store north"])

    page.get_by_label("Show inactive sheets").check()  # no button clicked
    expect(names).to_have_text(["Ship from store north", "Ship from store south"])
    expect(page.get_by_label("Show inactive sheets")).to_be_checked()

    page.get_by_label("Show inactive sheets").uncheck()
    expect(names).to_have_text(["Ship from store north"])


def test_a_long_sheet_name_is_cut_to_fit_and_whole_on_hover(
    designer_user: Any, sign_in: Any
) -> None:
    name = "Ship from store to the customers of the north " + "and more " * 17
    cancel_sheet("LongName", name=name.strip()[:200], active=True)

    page = sign_in("designer")
    link = page.locator("#sheets .sheet-name")
    expect(link).to_have_attribute("title", name.strip()[:200])
    box = page.locator("#sheets").evaluate(
        "table => [table.scrollWidth, table.parentElement.clientWidth]"
    )
    assert box[0] <= box[1]  # the table fits its box: no sideways scrolling
    assert link.evaluate("a => a.scrollWidth > a.clientWidth")  # cut, with an ellipsis
    assert link.evaluate("a => a.getBoundingClientRect().height") < 30  # on one line
    eye = page.get_by_role("link", name=re.compile("^Preview with Ship"))
    expect(eye).to_be_in_viewport()
    name_box, eye_box = link.bounding_box(), eye.bounding_box()
    assert name_box is not None and eye_box is not None
    assert eye_box["x"] >= name_box["x"] + name_box["width"]  # beside the name, not below
    assert eye_box["y"] < name_box["y"] + name_box["height"]


def test_designer_creates_a_sheet_from_a_template(designer_user: Any, sign_in: Any) -> None:
    page = sign_in("designer")
    page.get_by_role("link", name="New sheet").click()
    page.get_by_label("Name").fill("Cancel what is left")
    page.get_by_label("Fulfillment identifier").fill("LeftOvers")
    page.get_by_label(re.compile("^Cancel fallback")).check()
    page.get_by_role("button", name="Create and open").click()

    expect(page.get_by_role("heading", name=re.compile("Cancel what is left"))).to_be_visible()
    expect(page.get_by_text("It is not active yet.")).to_be_visible()
    sheet = Sheet.objects.get(fulfillment="LeftOvers")
    assert sheet.action == "CANCEL"
    assert "fulfillment LeftOvers" in sheet.source
    expect(page).to_have_url(re.compile(rf"/sheets/{sheet.pk}/$"))


def test_dark_mode_survives_a_reload(designer_user: Any, sign_in: Any) -> None:
    page = sign_in("designer")
    html = page.locator("html")
    expect(html).to_have_attribute("data-theme", "light")
    with page.expect_response(re.compile(r"/sheets/preferences/theme/$")):
        page.get_by_role("button", name="Dark mode").click()
    expect(html).to_have_attribute("data-theme", "dark")
    page.reload()
    expect(html).to_have_attribute("data-theme", "dark")
    expect(page.get_by_role("button", name="Dark mode")).to_have_attribute("aria-pressed", "true")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(20, 23, 28)"


def test_diff_of_two_revisions_and_restore(designer_user: Any, sign_in: Any) -> None:
    sheet = cancel_sheet("Fallback", name="Fallback", active=True)
    first = sheet.source
    sheet_update(sheet=sheet, source=first + "# second thoughts\n", comment="more")

    page = sign_in("designer")
    page.goto(page.url.replace("/sheets/", f"/sheets/{sheet.pk}/revisions/"))
    expect(page.locator("#revisions tbody tr")).to_have_count(2)
    page.get_by_role("button", name="Compare A and B").click()
    expect(page.get_by_role("heading", name=re.compile("revision 1 and 2"))).to_be_visible()
    expect(page.locator("table.diff-lines td.code.add")).to_have_text("+# second thoughts")

    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Restore revision 1").click()
    expect(page.get_by_text("Revision 1 restored as revision 3.")).to_be_visible()
    sheet.refresh_from_db()
    assert (sheet.revision, sheet.source) == (3, first)


@pytest.mark.parametrize("width", [1400, 390])
def test_a_one_line_change_is_in_view_without_scrolling_sideways(
    designer_user: Any, sign_in: Any, screenshot: Any, width: int
) -> None:
    """A long line and a one-line change in a 60-line sheet: the diff fits the page
    at a desktop's width and a phone's, in both views, and Next/Previous move between
    the changes."""
    sheet = cancel_sheet("Fallback", name="Fallback", active=True)
    body = "".join(f"# note {n}\n" for n in range(1, 61))
    long_line = "# " + " ".join(["a rather long comment that goes on"] * 12) + "\n"
    sheet_update(sheet=sheet, source=sheet.source + long_line + body)
    changed = (
        sheet.source
        + long_line
        + body.replace("# note 10\n", "# note ten\n").replace("# note 50\n", "# note fifty\n")
    )
    sheet_update(sheet=Sheet.objects.get(pk=sheet.pk), source=changed)

    page = sign_in("designer")
    page.set_viewport_size({"width": width, "height": 900})
    for view in ("", "&view=split"):
        page.goto(
            page.url.split("/sheets/")[0] + f"/sheets/{sheet.pk}/revisions/diff/?a=2&b=3{view}"
        )
        added = page.locator("td.code.add", has_text="# note ten")
        expect(added).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        box = added.bounding_box()
        assert box is not None and box["x"] + box["width"] <= width
    page.get_by_role("link", name="Next").first.click()
    assert page.url.endswith("#change-2")
    expect(page.locator("#change-2 td.code.add")).to_contain_text("# note fifty")
    expect(page.locator("#change-2 td.code.add")).to_be_in_viewport()
    page.get_by_role("link", name="Previous").click()
    assert page.url.endswith("#change-1")
    if width == 1400:
        screenshot(page, "revision-diff")


def test_a_user_without_permission_gets_403(live_server: Any, sign_in: Any) -> None:
    make_user("nobody")
    page = sign_in("nobody")
    response = page.goto(f"{live_server.url}/sheets/")
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", name="You cannot do this")).to_be_visible()
    expect(
        page.get_by_text("You need the permission SymphonySheets:View for this.")
    ).to_be_visible()
