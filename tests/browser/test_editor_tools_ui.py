"""The editors' keys and tools in Chromium: Ctrl+S saves (and a refused save keeps the
text and the cursor), find / replace / go to line from the toolbar, a bracketed
completion closes its bracket exactly once, and the unsaved text compared with the
sheet's active revision without saving it."""

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from orchestration.models import Sheet, SheetRevision
from orchestration.services.sheets import sheet_create

from .conftest import make_user

pytestmark = pytest.mark.django_db(transaction=True)

START = "fulfillment Fallback\naction CANCEL\n"
SUPPLIER = START + "scope Supplier\n"


def open_editor(page: Page, live_server: Any, source: str = START) -> tuple[Sheet, Any]:
    sheet = sheet_create(fulfillment="Fallback", name="Fallback", source=source)
    page.goto(f"{live_server.url}/sheets/{sheet.pk}/")
    content = page.locator(".cm-content")
    expect(content).to_be_visible()
    return sheet, content


def doc(page: Page) -> str:
    return str(page.evaluate("window.sheetEditor.getDoc()"))


def cursor(page: Page) -> int:
    return int(page.evaluate("window.sheetEditor.view.state.selection.main.head"))


def leaving_asks(page: Page) -> bool:
    return bool(
        page.evaluate(
            "() => { const e = new Event('beforeunload', {cancelable: true});"
            " window.dispatchEvent(e); return e.defaultPrevented; }"
        )
    )


# --- Ctrl+S -----------------------------------------------------------------------------


def test_ctrl_s_saves_from_the_text_and_from_a_field(
    designer_user: Any, sign_in: Any, live_server: Any
) -> None:
    page = sign_in("designer")
    sheet, content = open_editor(page, live_server)
    content.click()
    page.keyboard.press("Control+End")
    page.keyboard.type("# saved by key\n")
    downloads: list[Any] = []
    page.on("download", lambda download: downloads.append(download))

    page.keyboard.press("Control+S")
    expect(page.get_by_text("Saved as revision 2.")).to_be_visible()
    sheet.refresh_from_db()
    assert (sheet.revision, sheet.source) == (2, START + "# saved by key\n")

    # From the name field, with Cmd (Meta) as on a Mac.
    page.get_by_label("Name").fill("Fallback, renamed")
    page.get_by_label("Name").press("Meta+S")
    expect(page.get_by_text("Saved as revision 3.")).to_be_visible()
    sheet.refresh_from_db()
    assert (sheet.revision, sheet.name) == (3, "Fallback, renamed")
    assert downloads == []  # never the browser's "Save page as"


def test_a_save_refused_by_ctrl_s_keeps_the_text_and_the_cursor(
    designer_user: Any, sign_in: Any, live_server: Any
) -> None:
    page = sign_in("designer")
    sheet, content = open_editor(page, live_server)
    content.click()
    page.keyboard.press("Control+End")
    page.keyboard.type("require = 1\n# after")
    page.keyboard.press("ArrowUp")  # the cursor on the broken line, not at the end
    at = cursor(page)
    assert at == len(START) + len("require")

    page.keyboard.press("Control+S")
    banner = page.locator("#not-saved")
    expect(banner).to_contain_text("Not saved:")
    expect(banner.get_by_role("link")).to_have_text(re.compile(r"^\d+ problems?$"))
    assert doc(page) == START + "require = 1\n# after"
    assert cursor(page) == at
    assert page.evaluate("document.activeElement.classList.contains('cm-content')")
    sheet.refresh_from_db()
    assert sheet.revision == 1
    assert leaving_asks(page)  # still unsaved

    # Fixed where the cursor is, and saved by key again.
    page.keyboard.press("End")
    page.keyboard.press("Shift+Home")
    page.keyboard.type("# was broken")
    page.keyboard.press("Control+S")
    expect(page.get_by_text("Saved as revision 2.")).to_be_visible()
    sheet.refresh_from_db()
    assert sheet.source == START + "# was broken\n# after"


def test_ctrl_s_without_the_edit_permission_saves_nothing(sign_in: Any, live_server: Any) -> None:
    make_user("viewer", perms=("view_sheets",))
    page = sign_in("viewer")
    sheet, content = open_editor(page, live_server)
    content.click()
    posts: list[str] = []
    page.on(
        "request",
        lambda request: posts.append(request.url) if request.method == "POST" else None,
    )
    page.keyboard.press("Control+S")
    page.wait_for_timeout(300)
    assert f"{live_server.url}/sheets/{sheet.pk}/" not in posts
    sheet.refresh_from_db()
    assert sheet.revision == 1


# --- Find, replace, go to line ----------------------------------------------------------


def test_find_replace_and_go_to_line_from_the_toolbar(
    designer_user: Any, sign_in: Any, live_server: Any
) -> None:
    page = sign_in("designer")
    source = SUPPLIER + "require Supplier.Type = 'Shop'\nrequire Supplier.Type <> 'Warehouse'\n"
    sheet, _ = open_editor(page, live_server, source)
    toolbar = page.get_by_role("toolbar", name="Editor")

    toolbar.get_by_role("button", name="Find", exact=True).click()
    search = page.locator(".cm-search input[name=search]")
    expect(search).to_be_focused()
    page.keyboard.type("Supplier.Type")
    page.keyboard.press("Enter")
    selection = page.evaluate(
        "(() => { const s = window.sheetEditor.view.state; const m = s.selection.main;"
        " return s.sliceDoc(m.from, m.to); })()"
    )
    assert selection == "Supplier.Type"
    assert not leaving_asks(page)  # typing a search changes nothing to save
    page.keyboard.press("Escape")

    toolbar.get_by_role("button", name="Replace").click()
    replace = page.locator(".cm-search input[name=replace]")
    expect(replace).to_be_focused()
    page.keyboard.type("Supplier.BackendID")
    page.locator(".cm-search").get_by_role("button", name="replace all").click()
    assert doc(page) == source.replace("Supplier.Type", "Supplier.BackendID")
    assert leaving_asks(page)  # the text changed: not saved yet

    toolbar.get_by_role("button", name="Go to line").click()
    line = page.locator(".cm-goto-line input[name=line]")
    expect(line).to_be_focused()
    line.fill("4")
    line.press("Enter")
    assert cursor(page) == len(SUPPLIER)
    # The dialog's own form did not submit the sheet's.
    page.wait_for_timeout(300)
    assert page.url.endswith(f"/sheets/{sheet.pk}/")
    sheet.refresh_from_db()
    assert sheet.revision == 1
    page.keyboard.type("# line 4\n")
    assert doc(page).split("\n")[3] == "# line 4"


def test_a_view_only_user_can_find_but_not_replace(sign_in: Any, live_server: Any) -> None:
    make_user("viewer", perms=("view_sheets",))
    page = sign_in("viewer")
    open_editor(page, live_server)
    toolbar = page.get_by_role("toolbar", name="Editor")
    expect(toolbar.get_by_role("button", name="Find", exact=True)).to_be_visible()
    expect(toolbar.get_by_role("button", name="Go to line")).to_be_visible()
    expect(toolbar.get_by_role("button", name="Replace")).to_have_count(0)


# --- Completing inside brackets ---------------------------------------------------------


def accept(page: Page, label: str) -> None:
    option = page.locator(".cm-tooltip-autocomplete li[aria-selected=true]")
    expect(option).to_contain_text(label)
    page.wait_for_timeout(150)  # CodeMirror takes no key in its first 75 ms on screen
    page.keyboard.press("Enter")


def test_completing_a_bracketed_name_leaves_exactly_one_closing_bracket(
    designer_user: Any, sign_in: Any, live_server: Any
) -> None:
    page = sign_in("designer")
    _, content = open_editor(page, live_server, SUPPLIER)
    content.click()
    page.keyboard.press("Control+End")

    # Typed: the `[` closes itself; the completion replaces that `]`, not adds one.
    page.keyboard.type("require [")
    assert doc(page) == SUPPLIER + "require []"
    page.keyboard.type("Supplier.Ty")
    assert doc(page) == SUPPLIER + "require [Supplier.Ty]"
    accept(page, "Supplier.Type")
    assert doc(page) == SUPPLIER + "require [Supplier.Type]"
    assert cursor(page) == len(doc(page))  # after the bracket
    # A `]` typed out of habit right after it steps over it.
    page.keyboard.type("] = 'Shop'")
    assert doc(page) == SUPPLIER + "require [Supplier.Type] = 'Shop'"

    # In the middle of a bracketed name: the whole name is replaced, one `]` kept.
    page.evaluate(
        "(text) => { window.sheetEditor.setDoc(text);"
        " window.sheetEditor.setCursor({anchor: text.indexOf('pe]')}); }",
        SUPPLIER + "require [Supplier.Type] = 'Shop'",
    )
    page.keyboard.press("Control+Space")
    accept(page, "Supplier.Type")
    assert doc(page) == SUPPLIER + "require [Supplier.Type] = 'Shop'"

    # No `]` after the name at all: the completion writes one.
    page.evaluate(
        "(text) => { window.sheetEditor.setDoc(text);"
        " window.sheetEditor.setCursor({anchor: text.length}); }",
        SUPPLIER + "require [Supplier.Ty",
    )
    page.keyboard.press("Control+Space")
    accept(page, "Supplier.Type")
    assert doc(page) == SUPPLIER + "require [Supplier.Type]"


# --- Compare with the active revision ---------------------------------------------------


def test_compare_shows_the_unsaved_text_against_the_active_revision_in_a_new_tab(
    designer_user: Any, sign_in: Any, live_server: Any
) -> None:
    page = sign_in("designer")
    sheet, content = open_editor(page, live_server)
    content.click()
    page.keyboard.press("Control+End")
    page.keyboard.type("# not saved yet\n")
    revisions = SheetRevision.objects.count()

    with page.context.expect_page() as opened:
        page.get_by_role("button", name="Compare with the active revision").click()
    diff = opened.value
    diff.wait_for_load_state()
    expect(diff.get_by_role("heading", level=1)).to_have_text(
        "Fallback: revision 1 and the unsaved text"
    )
    expect(diff.locator("#diff tr.add")).to_have_count(1)
    expect(diff.locator("#diff tr.add td.code")).to_have_text("+# not saved yet")
    diff.get_by_role("button", name="Side by side").click()
    expect(diff.locator("#diff.split td.code.add")).to_have_text("# not saved yet")
    diff.close()

    # Nothing was saved; the editor still has the text and still guards it.
    sheet.refresh_from_db()
    assert (sheet.revision, sheet.source, SheetRevision.objects.count()) == (1, START, revisions)
    assert doc(page) == START + "# not saved yet\n"
    assert leaving_asks(page)
