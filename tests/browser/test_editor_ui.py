"""The advanced editor (CodeMirror 6) in Chromium: live diagnostics, save, read-only, rename."""

import re
from typing import Any

import pytest
from django.contrib.sessions.models import Session
from django.utils.html import escape
from playwright.sync_api import Page, expect

from orchestration.models import Sheet
from orchestration.services.sheets import sheet_create

from .conftest import PASSWORD, make_user

pytestmark = pytest.mark.django_db(transaction=True)

START = "fulfillment Fallback\naction CANCEL\n"
BROKEN = START + "scope Supplier\nrequire Supplier.Typo = 'Shop'\n"
FIXED = START + "scope Supplier\nrequire Supplier.Type = 'Shop'\n"
WARNED = START + "scope Supplier\nrequire [Supplier.SetNames] in 'PrintSuppliers'\n"


@pytest.fixture
def sheet(transactional_db: Any) -> Sheet:
    return sheet_create(fulfillment="Fallback", name="Fallback", source=START)


def open_editor(page: Page, live_server: Any, sheet: Sheet) -> Any:
    page.goto(f"{live_server.url}/sheets/{sheet.pk}/")
    content = page.locator(".cm-content")
    expect(content).to_be_visible()
    return content


def type_over(page: Page, content: Any, text: str) -> None:
    """Replace the whole text the way a designer would: select all, type."""
    content.click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    # insert_text: no auto-indent or completion popups interfering with the keystrokes.
    page.keyboard.insert_text(text)


def test_an_error_is_marked_at_its_line_then_fixed_and_saved(
    designer_user: Any, sign_in: Any, live_server: Any, sheet: Sheet, screenshot: Any
) -> None:
    page = sign_in("designer")
    content = open_editor(page, live_server, sheet)
    expect(page.locator("#problems")).to_have_text("No problems.")

    type_over(page, content, BROKEN)
    marker = page.locator(".cm-lintRange-error")
    expect(marker).to_have_count(1)
    expect(marker).to_have_text("Supplier.Typo")
    # The underline is on line 4, and so is the gutter marker.
    line = page.locator(".cm-line").filter(has=marker)
    expect(line).to_have_text("require Supplier.Typo = 'Shop'")
    assert page.locator(".cm-line").all_inner_texts().index("require Supplier.Typo = 'Shop'") == 3
    expect(page.locator(".cm-lint-marker-error")).to_have_count(1)
    problem = page.locator("#problems button.problem")
    expect(problem).to_have_text("Line 4, column 9: unknown variable 'Supplier.Typo'")
    expect(page.locator("#problems .hint")).to_have_text("did you mean Supplier.Type?")

    marker.hover()
    tooltip = page.locator(".cm-tooltip-lint")
    expect(tooltip).to_contain_text("unknown variable 'Supplier.Typo'")
    expect(tooltip).to_contain_text("did you mean Supplier.Type?")
    screenshot(page, "editor-light-diagnostic")
    page.get_by_role("button", name="Dark mode").click()
    expect(page.locator(".cm-editor")).to_have_css("background-color", "rgb(40, 44, 52)")
    screenshot(page, "editor-dark-diagnostic")

    # Saving is refused while there are errors; the text and the markers stay.
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".cm-lintRange-error")).to_have_count(1)
    sheet.refresh_from_db()
    assert (sheet.revision, sheet.source) == (1, START)

    content = page.locator(".cm-content")
    type_over(page, content, FIXED)
    expect(page.locator(".cm-lintRange-error")).to_have_count(0)
    expect(page.locator("#problems")).to_have_text("No problems.")

    page.get_by_label("Comment for this revision (optional)").fill("only shops")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Saved as revision 2.")).to_be_visible()
    sheet.refresh_from_db()
    assert (sheet.revision, sheet.source) == (2, FIXED)
    assert sheet.revisions.get(number=2).comment == "only shops"


def test_a_saved_sheet_with_a_warning_lists_it_on_the_first_load(
    designer_user: Any, sign_in: Any, live_server: Any
) -> None:
    """A sheet that saved with a warning only (membership of a list written with ``in``)
    lists the warning as soon as the page loads, before any typing and before the
    editor's own check has answered; the check then shows the same, and marks it."""
    source = WARNED.replace("Fallback", "Warned")
    warned = sheet_create(fulfillment="Warned", name="Warned", source=source)
    assert warned.revision == 1  # a warning never refuses a save
    text = (
        "Line 4, column 9: [Supplier.SetNames] is a list: 'in' asks whether one of its "
        "items is in the right side; 'contains' says so"
    )
    hint = "write [Supplier.SetNames] contains 'PrintSuppliers'"
    page = sign_in("designer")

    # The page as served: the warning is in it.
    checks: list[str] = []
    page.route("**/sheets/check/", lambda route: (checks.append(route.request.url), route.abort()))
    response = page.goto(f"{live_server.url}/sheets/{warned.pk}/")
    assert response is not None
    assert (
        f'<li data-severity="warning" data-code="ListIn"><button type="button" '
        f'class="problem" data-line="4" data-column="9">{escape(text)}</button> '
        f'<span class="hint">{escape(hint)}</span></li>'
    ) in response.text()
    # Shown without the editor's check (refused here), and without typing.
    expect(page.locator(".cm-content")).to_be_visible()
    expect(page.locator("#problems li")).to_have_count(1)
    expect(page.locator("#problems button.problem")).to_have_text(text)
    expect(page.locator("#problems .hint")).to_have_text(hint)
    page.wait_for_timeout(1000)  # past the check's 400 ms delay: it was asked, and refused
    assert checks
    expect(page.locator("#problems button.problem")).to_have_text(text)

    # With the check answering, the list stays the same and the editor marks the warning.
    page.unroute("**/sheets/check/")
    with page.expect_response("**/sheets/check/") as checked:
        page.reload()
    assert checked.value.ok
    expect(page.locator(".cm-lintRange-warning")).to_have_count(1)
    expect(page.locator("#problems li")).to_have_count(1)
    expect(page.locator("#problems li[data-severity=warning] button.problem")).to_have_text(text)
    expect(page.locator("#problems .hint")).to_have_text(hint)
    # Not drawn as an error: another colour than an error's, and labelled in words.
    warning = page.locator("#problems button.problem")
    assert warning.evaluate("e => getComputedStyle(e, '::before').content") == '"Warning: "'
    warning_colour = warning.evaluate("e => getComputedStyle(e).color")
    error_colour = page.evaluate(
        "getComputedStyle(document.documentElement).getPropertyValue('--error')"
    )
    assert warning_colour != page.evaluate(
        "c => { const p = document.createElement('p'); p.style.color = c; document.body.append(p);"
        " const v = getComputedStyle(p).color; p.remove(); return v; }",
        error_colour,
    )
    warned.refresh_from_db()
    assert warned.revision == 1


def test_clicking_a_problem_moves_the_cursor_there(
    designer_user: Any, sign_in: Any, live_server: Any, sheet: Sheet
) -> None:
    page = sign_in("designer")
    content = open_editor(page, live_server, sheet)
    type_over(page, content, BROKEN)
    page.locator("#problems button.problem").click()
    head = page.evaluate("window.sheetEditor.view.state.selection.main.head")
    assert head == len(START + "scope Supplier\n") + len("require ")


def test_changing_the_identifier_asks_before_saving(
    designer_user: Any, sign_in: Any, live_server: Any, sheet: Sheet
) -> None:
    page = sign_in("designer")
    content = open_editor(page, live_server, sheet)
    page.get_by_label("Fulfillment identifier").fill("Fallback2")
    type_over(page, content, START.replace("Fallback", "Fallback2"))
    expect(page.locator(".cm-lintRange-error")).to_have_count(0)

    messages: list[str] = []

    def dismiss(dialog: Any) -> None:
        messages.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    page.get_by_role("button", name="Save").click()
    page.wait_for_timeout(300)
    assert len(messages) == 1 and "rerouting issues" in messages[0]
    sheet.refresh_from_db()
    assert sheet.fulfillment == "Fallback"

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Saved as revision 2.")).to_be_visible()
    sheet.refresh_from_db()
    assert (sheet.fulfillment, sheet.revision) == ("Fallback2", 2)


def test_a_view_only_user_cannot_change_or_save(
    sign_in: Any, live_server: Any, sheet: Sheet
) -> None:
    make_user("viewer", perms=("view_sheets",))
    page = sign_in("viewer")
    content = open_editor(page, live_server, sheet)
    expect(page.get_by_text("Read-only: you can view this sheet")).to_be_visible()
    expect(page.get_by_role("button", name="Save")).to_have_count(0)
    content.click()
    page.keyboard.type("# sneaky")
    assert page.evaluate("window.sheetEditor.getDoc()") == START
    expect(page.get_by_label("Name")).to_have_attribute("readonly", "")
    sheet.refresh_from_db()
    assert sheet.revision == 1


def test_completions_and_hover_docs_come_from_the_catalogue_and_the_ous(
    designer_user: Any, sign_in: Any, live_server: Any, sheet: Sheet, shop_unit: Any
) -> None:
    page = sign_in("designer")
    content = open_editor(page, live_server, sheet)
    type_over(page, content, START + "scope Supplier\nrequire Supplier.Ty")
    page.keyboard.press("Control+Space")
    options = page.locator(".cm-tooltip-autocomplete li")
    expect(options.filter(has_text="Supplier.Type")).to_have_count(1)
    page.keyboard.press("Escape")

    # OU backend IDs inside the list after Supplier.BackendID in, from the server.
    type_over(page, content, START + "scope Supplier\nrequire Supplier.BackendID in 'urk")
    page.keyboard.press("Control+Space")
    choice = options.filter(has_text="urk_store")
    expect(choice).to_have_count(1)
    choice.click()
    expect(page.locator(".cm-content")).to_contain_text("Supplier.BackendID in 'urk_store'")

    # Hover docs: the property's type and description from the catalogue.
    page.locator(".cm-content").get_by_text("Supplier.BackendID").hover()
    docs = page.locator(".cm-tooltip-hover")
    expect(docs).to_contain_text("Supplier.BackendID")
    expect(docs).to_contain_text("string")


def typed_in_the_editor(sign_in: Any, live_server: Any, text: str) -> tuple[Sheet, Page]:
    """A saved CANCEL sheet open in the editor, ``text`` typed at its end, not saved."""
    sheet = sheet_create(
        fulfillment="Fallback",
        name="Fallback",
        source="fulfillment Fallback\naction CANCEL\n",
        is_active=True,
    )
    page = sign_in("designer")
    page.goto(f"{live_server.url}/sheets/{sheet.pk}/")
    page.locator(".cm-content").click()
    page.keyboard.press("Control+End")
    page.keyboard.type(text)
    return sheet, page


def test_leaving_the_editor_with_unsaved_text_asks_first(
    designer_user: Any, sign_in: Any, live_server: Any
) -> None:
    """Typed but not saved: a link in the Suite asks, and staying keeps the text;
    closing or reloading asks too (beforeunload). Saving leaves without asking."""
    sheet, page = typed_in_the_editor(sign_in, live_server, "# unsaved thought\n")

    asked: list[str] = []

    def stay(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", stay)
    page.get_by_role("navigation", name="Suite").get_by_role("link", name="Sheets").click()
    assert asked == ["You have unsaved changes. Leave this page and lose them?"]
    assert page.url.endswith(f"/sheets/{sheet.pk}/")
    expect(page.locator(".cm-content")).to_contain_text("# unsaved thought")
    prevented = page.evaluate(
        "() => { const e = new Event('beforeunload', {cancelable: true});"
        " window.dispatchEvent(e); return e.defaultPrevented; }"
    )
    assert prevented is True

    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Saved as revision 2.")).to_be_visible()
    assert (
        page.evaluate(
            "() => { const e = new Event('beforeunload', {cancelable: true});"
            " window.dispatchEvent(e); return e.defaultPrevented; }"
        )
        is False
    )


def test_a_refused_save_says_so_at_the_top_and_keeps_the_text(
    designer_user: Any, sign_in: Any, live_server: Any
) -> None:
    sheet, page = typed_in_the_editor(sign_in, live_server, "require = 1\n")
    page.get_by_role("button", name="Save").click()
    banner = page.locator("#not-saved")
    expect(banner).to_contain_text("Not saved:")
    expect(banner.get_by_role("link")).to_have_text(re.compile(r"\d+ problems?"))
    expect(page.locator(".cm-content")).to_contain_text("require = 1")
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("navigation", name="Suite").get_by_role("link", name="Sheets").click()
    assert page.url.endswith(f"/sheets/{sheet.pk}/")  # still unsaved: it asked, we stayed


def test_text_typed_before_the_session_expired_is_offered_back_after_signing_in(
    designer_user: Any, sign_in: Any, live_server: Any
) -> None:
    """The session ends while the designer types; Save goes to the sign-in page and
    back to the sheet as saved. The typed text is kept in the browser and offered:
    Restore puts it back (unsaved, so leaving asks), and once saved it is not offered
    again."""
    sheet, page = typed_in_the_editor(sign_in, live_server, "# typed before the session ended\n")
    page.wait_for_timeout(500)  # the draft is kept 300 ms after the last key
    Session.objects.all().delete()

    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(r"/accounts/login/"))
    page.get_by_label("Username").fill("designer")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(rf"/sheets/{sheet.pk}/$"))
    expect(page.locator(".cm-content")).not_to_contain_text("typed before the session ended")
    offer = page.locator("#draft-found")
    expect(offer).to_be_visible()
    expect(offer).to_contain_text("Text you typed here was not saved")

    offer.get_by_role("button", name="Restore it").click()
    expect(offer).to_be_hidden()
    expect(page.locator(".cm-content")).to_contain_text("# typed before the session ended")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Saved as revision 2.")).to_be_visible()
    sheet.refresh_from_db()
    assert sheet.source.endswith("# typed before the session ended\n")
    page.reload()
    expect(page.locator(".cm-content")).to_be_visible()
    expect(page.locator("#draft-found")).to_be_hidden()


def test_a_discarded_draft_is_not_offered_again(
    designer_user: Any, sign_in: Any, live_server: Any
) -> None:
    sheet, page = typed_in_the_editor(sign_in, live_server, "# a thought\n")
    page.wait_for_timeout(500)
    page.once("dialog", lambda dialog: dialog.accept())  # leave without saving
    page.goto(f"{live_server.url}/sheets/")
    page.goto(f"{live_server.url}/sheets/{sheet.pk}/")
    offer = page.locator("#draft-found")
    expect(offer).to_be_visible()
    offer.get_by_role("button", name="Discard it").click()
    page.reload()
    expect(page.locator(".cm-content")).to_be_visible()
    expect(page.locator("#draft-found")).to_be_hidden()
    assert Sheet.objects.get(pk=sheet.pk).revision == 1
