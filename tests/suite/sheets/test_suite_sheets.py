"""The Suite's sheet pages, server side: overview, create, editor, check, revisions.

Browser behaviour (CodeMirror, markers, dark mode) is in ``tests/browser/``;
these drive the same pages with Django's test client and check what a user
would see and what is stored.
"""

import json
import re
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from orchestration.models import Sheet, UserPreference
from orchestration.services.sheets import sheet_create, sheet_set_active, sheet_update
from tests.conftest import sheet_text, table_rows

pytestmark = pytest.mark.django_db


def login(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def viewer(db: Any) -> User:
    """A user with SymphonySheets:View only."""
    user = User.objects.create_user("viewer", password="secret-pass-123")
    user.user_permissions.add(Permission.objects.get(codename="view_sheets"))
    return user


def make_sheet(fulfillment: str, *, name: str | None = None, active: bool = True) -> Sheet:
    return sheet_create(
        fulfillment=fulfillment,
        name=name or fulfillment,
        source=sheet_text(fulfillment),
        is_active=active,
    )


def ids_in(response: Any) -> list[int]:
    return [int(i) for i in re.findall(r'data-sheet-id="(\d+)"', response.content.decode())]


# --- Overview ---------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_sign_in() -> None:
    response = Client().get(reverse("sheets:overview"))
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/sheets/"
    page = Client().get(response["Location"])
    assert page.status_code == 200
    assert b"<h1>Sign in</h1>" in page.content


def test_signing_in_as_a_designer_opens_the_sheets(designer: User) -> None:
    client = Client()
    response = client.post(
        "/accounts/login/?next=/sheets/",
        {"username": "designer", "password": "secret-pass-123", "next": "/sheets/"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/sheets/"
    assert client.get("/").url == "/sheets/"


def test_overview_shows_active_sheets_only_unless_asked(designer: User) -> None:
    live = make_sheet("Live", active=True)
    dormant = make_sheet("Dormant", active=False)
    client = login(designer)

    assert ids_in(client.get("/sheets/")) == [live.pk]
    assert ids_in(client.get("/sheets/?inactive=1")) == [live.pk, dormant.pk]


def test_overview_filters_by_name_and_by_id(designer: User) -> None:
    north = make_sheet("ShipNorth", name="Ship from store north")
    south = make_sheet("ShipSouth", name="Ship from store south")
    make_sheet("Warehouse", name="Warehouse export")
    client = login(designer)

    assert ids_in(client.get("/sheets/?q=ship+from")) == [north.pk, south.pk]
    assert ids_in(client.get("/sheets/?q=shipsouth")) == [south.pk]  # the identifier too
    assert ids_in(client.get(f"/sheets/?id={south.pk}")) == [south.pk]
    bad = client.get("/sheets/?id=abc")
    assert "An ID is a whole number; &#x27;abc&#x27; is not." in bad.content.decode()
    assert len(ids_in(bad)) == 3


def test_overview_sorts_by_any_column_both_ways(designer: User) -> None:
    b = make_sheet("Bravo", name="Bravo")
    a = make_sheet("Alpha", name="Alpha")
    c = make_sheet("Charlie", name="Charlie")
    client = login(designer)

    assert ids_in(client.get("/sheets/?sort=name")) == [a.pk, b.pk, c.pk]
    assert ids_in(client.get("/sheets/?sort=-name")) == [c.pk, b.pk, a.pk]
    assert ids_in(client.get("/sheets/?sort=-id")) == [c.pk, a.pk, b.pk]
    assert ids_in(client.get("/sheets/?sort=nonsense")) == [b.pk, a.pk, c.pk]
    # The header links flip the direction of the current column.
    page = client.get("/sheets/?sort=name").content.decode()
    assert 'href="?sort=-name"' in page
    assert 'aria-sort="ascending"' in page


def test_overview_pages_through_many_sheets(designer: User) -> None:
    for number in range(120):
        Sheet.objects.create(
            fulfillment=f"S{number:03d}", name=f"S{number:03d}", is_active=True, action="CANCEL"
        )
    client = login(designer)
    first = client.get("/sheets/")
    assert len(ids_in(first)) == 50
    assert "Page 1 of 3 (120 sheets)" in first.content.decode()
    # The next link keeps the list's filters and sort.
    sorted_page = client.get("/sheets/?sort=id").content.decode()
    assert 'href="?sort=id&amp;page=2" rel="next"' in sorted_page
    last = client.get("/sheets/?page=3")
    assert len(ids_in(last)) == 20


def test_overview_shows_the_action_and_who_edited(designer: User) -> None:
    sheet = sheet_create(
        fulfillment="Fallback", name="Fallback", source=sheet_text("Fallback"), user=designer
    )
    sheet_set_active(sheet=sheet, active=True, user=designer)
    row = re.search(
        rf'<tr data-sheet-id="{sheet.pk}">(.*?)</tr>',
        login(designer).get("/sheets/").content.decode(),
        re.S,
    )
    assert row is not None
    cells = [
        re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td>(.*?)</td>", row[1], re.S)
    ]
    assert cells[:7] == [str(sheet.pk), "Fallback", "Fallback", "CANCEL", "Active", "2", "designer"]


def test_the_preview_icon_is_an_eye_named_in_words_for_hover_and_screen_readers(
    designer: User,
) -> None:
    sheet = make_sheet("Fallback", name="Ship & return")

    page = login(designer).get("/sheets/").content.decode()

    link = re.search(r'<a class="icon-link" href="/preview/\?sheet=(\d+)"([^>]*)>(.*?)</a>', page)
    assert link is not None and link[1] == str(sheet.pk)
    attributes = dict(re.findall(r'([\w-]+)="([^"]*)"', link[2]))
    # The tooltip says what the screen reader says, and which sheet.
    assert attributes["aria-label"] == attributes["title"] == "Preview with Ship &amp; return"
    icon = link[3]
    assert icon.startswith('<svg class="icon-eye" aria-hidden="true" focusable="false"')


def test_a_long_sheet_name_is_whole_in_the_title_of_its_link(designer: User) -> None:
    """The overview cuts a long name to one line (CSS); the title shows it whole."""
    name = "Ship from store <north> & " + "very long " * 17 + "ends"
    assert len(name) == 200  # the model's limit
    sheet = make_sheet("Fallback", name=name)

    page = login(designer).get("/sheets/").content.decode()

    escaped = "Ship from store &lt;north&gt; &amp; " + "very long " * 17 + "ends"
    assert (
        f'<a class="sheet-name" href="/sheets/{sheet.pk}/" title="{escaped}">{escaped}</a>' in page
    )


# --- Create -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "action"),
    [
        ("ship-from-store", "SHIP_FROM_STORE"),
        ("warehouse-export", "EXPORT_ORDER"),
        ("cancel-fallback", "CANCEL"),
        ("returns", "EXPORT_RETURN_ORDER"),
    ],
)
def test_create_from_a_template_opens_the_editor(
    designer: User, template: str, action: str
) -> None:
    client = login(designer)
    response = client.post(
        "/sheets/new/", {"name": "North", "fulfillment": "NorthStores", "template": template}
    )
    sheet = Sheet.objects.get(fulfillment="NorthStores")
    assert response.status_code == 302
    assert response["Location"] == f"/sheets/{sheet.pk}/"
    assert sheet.source.startswith("fulfillment NorthStores") or "\nfulfillment NorthStores\n" in (
        sheet.source
    )
    assert (sheet.name, sheet.action, sheet.is_active, sheet.revision) == (
        "North",
        action,
        False,
        1,
    )
    assert sheet.created_by == designer
    editor = client.get(response["Location"]).content.decode()
    assert "It is not active yet." in editor
    assert '<li class="no-problems">No problems.</li>' in editor


def test_create_refuses_bad_input_and_writes_nothing(designer: User) -> None:
    make_sheet("Taken")
    client = login(designer)
    before = table_rows()
    response = client.post("/sheets/new/", {"name": "", "fulfillment": "9lives", "template": "x"})
    assert response.status_code == 400
    page = response.content.decode()
    assert "Give the sheet a name." in page
    assert "Use letters, digits and underscores, starting with a letter or underscore." in page
    assert "Pick one of the templates." in page
    taken = client.post(
        "/sheets/new/", {"name": "Again", "fulfillment": "Taken", "template": "returns"}
    )
    assert taken.status_code == 400
    assert "A sheet with fulfillment identifier &#x27;Taken&#x27; already exists." in (
        taken.content.decode()
    )
    assert table_rows() == before


def test_a_name_identifier_or_comment_past_its_column_is_refused_naming_it(
    designer: User,
) -> None:
    """The forms carry the model's limits: before, the database cut such a value short or
    refused it (a 500 on PostgreSQL)."""
    sheet = make_sheet("Fallback")
    visual = visual_sheet()
    client = login(designer)
    before = table_rows()

    created = client.post(
        "/sheets/new/", {"name": "n" * 201, "fulfillment": "L" * 101, "template": "returns"}
    )
    named = client.post(
        f"/sheets/{sheet.pk}/",
        {"name": "n" * 201, "fulfillment": "Fallback", "source": sheet.source},
    )
    commented = client.post(
        f"/sheets/{sheet.pk}/",
        {"name": "Fallback", "fulfillment": "Fallback", "source": "", "comment": "c" * 501},
    )
    visually = client.post(f"/sheets/{visual.pk}/visual/", {"revision": "1", "comment": "c" * 501})

    assert created.status_code == named.status_code == commented.status_code == 400
    assert visually.status_code == 400
    assert "A sheet&#x27;s name is at most 200 characters; this one has 201." in (
        created.content.decode()
    )
    assert "A fulfillment identifier is at most 100 characters; this one has 101." in (
        created.content.decode()
    )
    assert "A sheet&#x27;s name is at most 200 characters; this one has 201." in (
        named.content.decode()
    )
    comment = "A revision&#x27;s comment is at most 500 characters; this one has 501."
    assert comment in commented.content.decode()
    assert comment in visually.content.decode()
    assert table_rows() == before


# --- The advanced editor ------------------------------------------------------------------


def test_saving_makes_a_revision_with_the_comment(designer: User) -> None:
    sheet = make_sheet("Fallback")
    client = login(designer)
    source = "fulfillment Fallback\naction CANCEL\n# only when nothing else can\n"
    response = client.post(
        f"/sheets/{sheet.pk}/",
        {"name": "Fallback", "fulfillment": "Fallback", "source": source, "comment": "why"},
    )
    assert response.status_code == 302
    sheet.refresh_from_db()
    assert (sheet.revision, sheet.source, sheet.updated_by) == (2, source, designer)
    revision = sheet.revisions.get(number=2)
    assert (revision.comment, revision.author, revision.source) == ("why", designer, source)
    assert "Saved as revision 2." in client.get(response["Location"]).content.decode()


def test_saving_a_sheet_with_errors_is_refused_and_they_stay_shown(designer: User) -> None:
    sheet = make_sheet("Fallback")
    client = login(designer)
    before = table_rows()
    broken = "fulfillment Fallback\naction CANCEL\nscope Supplier\nrequire Supplier.Typo = 'Shop'\n"
    response = client.post(
        f"/sheets/{sheet.pk}/", {"name": "Fallback", "fulfillment": "Fallback", "source": broken}
    )
    assert response.status_code == 400
    page = response.content.decode()
    problem = re.search(
        r'data-line="4" data-column="9">(.*?)</button> <span class="hint">(.*?)<', page
    )
    assert problem is not None
    assert problem[1] == "Line 4, column 9: unknown variable &#x27;Supplier.Typo&#x27;"
    assert problem[2] == "did you mean Supplier.Type?"
    assert "Supplier.Typo = &#x27;Shop&#x27;" in page  # the text is kept, not lost
    assert table_rows() == before


def test_changing_the_identifier_asks_first(designer: User) -> None:
    sheet = make_sheet("Fallback")
    client = login(designer)
    renamed = sheet_text("Fallback2")
    data = {"name": "Fallback", "fulfillment": "Fallback2", "source": renamed}
    before = table_rows()
    asked = client.post(f"/sheets/{sheet.pk}/", data)
    assert asked.status_code == 400
    assert "can cause rerouting issues" in asked.content.decode()
    assert table_rows() == before
    done = client.post(f"/sheets/{sheet.pk}/", {**data, "confirm_fulfillment": "1"})
    assert done.status_code == 302
    sheet.refresh_from_db()
    assert (sheet.fulfillment, sheet.revision) == ("Fallback2", 2)


def test_an_identifier_another_sheet_has_is_refused_and_nothing_changes(designer: User) -> None:
    """As the API refuses it: the editor names the field, no revision is written."""
    sheet = make_sheet("Fallback")
    make_sheet("Taken")
    client = login(designer)
    data = {
        "name": "Fallback",
        "fulfillment": "Taken",
        "source": sheet_text("Taken"),
        "confirm_fulfillment": "1",
    }
    before = table_rows()
    refused = client.post(f"/sheets/{sheet.pk}/", data)
    assert refused.status_code == 400
    assert "A sheet with fulfillment identifier &#x27;Taken&#x27; already exists." in (
        refused.content.decode()
    )
    assert table_rows() == before


def test_restoring_an_identifier_another_sheet_took_since_is_refused(designer: User) -> None:
    sheet = make_sheet("First")
    sheet_update(sheet=sheet, fulfillment="Second", source=sheet_text("Second"))
    make_sheet("First")  # another sheet takes the old identifier
    client = login(designer)
    before = table_rows()
    refused = client.post(f"/sheets/{sheet.pk}/revisions/1/restore/", follow=True)
    assert (
        "Not restored: A sheet with fulfillment identifier &#x27;First&#x27; already exists."
        in refused.content.decode()
    )
    assert table_rows() == before


def test_a_view_only_user_gets_a_read_only_editor_and_cannot_save(viewer: User) -> None:
    sheet = make_sheet("Fallback")
    client = login(viewer)
    page = client.get(f"/sheets/{sheet.pk}/").content.decode()
    assert "Read-only: you can view this sheet but not change it" in page
    assert 'data-read-only="true"' in page
    assert 'id="save"' not in page
    before = table_rows()
    refused = client.post(
        f"/sheets/{sheet.pk}/",
        {"name": "X", "fulfillment": "Fallback", "source": sheet_text("Fallback")},
    )
    assert refused.status_code == 403
    assert "SymphonySheets:Edit" in refused.content.decode()
    assert table_rows() == before


# --- Live check and OU lookup ---------------------------------------------------------------


def test_check_returns_each_problem_with_its_position(designer: User) -> None:
    client = login(designer)
    source = "fulfillment Draft\naction CANCEL\nscope Supplier\nrequire Supplier.Typo = 'Shop'\n"
    response = client.post(
        "/sheets/check/",
        json.dumps({"source": source, "fulfillment": "Draft"}),
        content_type="application/json",
    )
    assert response.status_code == 200
    [problem] = response.json()["problems"]
    assert problem["code"] == "UnknownVariable"
    assert (problem["line"], problem["column"], problem["end_line"]) == (4, 9, 4)
    assert problem["end_column"] == 22
    assert problem["severity"] == "error"
    assert problem["message"] == "unknown variable 'Supplier.Typo'"
    assert problem["hint"] == "did you mean Supplier.Type?"


def test_check_lists_a_warning_after_the_errors_with_its_severity(designer: User) -> None:
    source = (
        "fulfillment Draft\naction CANCEL\nscope Supplier\n"
        "require [Supplier.SetNames] in 'PrintSuppliers'\nrequire Supplier.Typo = 'Shop'\n"
    )
    response = login(designer).post(
        "/sheets/check/",
        json.dumps({"source": source, "fulfillment": "Draft"}),
        content_type="application/json",
    )
    assert response.status_code == 200
    found = [
        (p["code"], p["severity"], p["line"], p["column"], p["hint"])
        for p in response.json()["problems"]
    ]
    assert found == [
        ("UnknownVariable", "error", 5, 9, "did you mean Supplier.Type?"),
        ("ListIn", "warning", 4, 9, "write [Supplier.SetNames] contains 'PrintSuppliers'"),
    ]


def test_a_sheet_with_only_a_warning_is_saved(designer: User) -> None:
    source = (
        "fulfillment Printing\naction CANCEL\nscope Supplier\n"
        "require [Supplier.SetNames] in 'PrintSuppliers'\n"
    )
    sheet = sheet_create(fulfillment="Printing", name="Printing", source=source, user=designer)
    assert Sheet.objects.get(pk=sheet.pk).source == source


def test_check_reports_an_identifier_mismatch_on_the_fulfillment_line(designer: User) -> None:
    response = login(designer).post(
        "/sheets/check/",
        json.dumps({"source": "# note\nfulfillment A\naction CANCEL\n", "fulfillment": "B"}),
        content_type="application/json",
    )
    [problem] = response.json()["problems"]
    assert (problem["code"], problem["line"], problem["column"]) == ("fulfillment_mismatch", 2, 1)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{nope", "JSON parse error - Expecting property name enclosed in double quotes"),
        pytest.param(
            b"[" * 5000 + b"]" * 5000,
            "JSON parse error - nested deeper than 64 arrays and objects.",
            id="nested-5000-deep",
        ),
        (b'{"source": "\\ud800"}', "lone surrogate"),
        (b'{"source": 3}', "Send an object with 'source' (a string)"),
        (b"[1]", "Send an object with 'source' (a string)"),
    ],
)
def test_check_refuses_a_bad_body(designer: User, body: bytes, message: str) -> None:
    response = login(designer).post("/sheets/check/", body, content_type="application/json")
    assert response.status_code == 400
    assert message in response.json()["message"]


def test_organization_unit_lookup_finds_by_backend_id_name_or_id(
    designer: User, shop: Any, warehouse: Any
) -> None:
    client = login(designer)
    found = client.get("/sheets/organization-units/?q=urk").json()["results"]
    assert found == [
        {"id": shop.pk, "backend_id": "urk_store", "name": "Urk store", "type": "Shop"}
    ]
    by_id = client.get(f"/sheets/organization-units/?q={warehouse.pk}").json()["results"]
    assert [unit["backend_id"] for unit in by_id] == ["lelystad_warehouse"]


# --- Activate, revisions, diff, restore ------------------------------------------------------


def test_activation_is_recorded_as_a_revision(designer: User) -> None:
    sheet = make_sheet("Fallback", active=False)
    client = login(designer)
    client.post(f"/sheets/{sheet.pk}/activate/", {"active": "1"})
    client.post(f"/sheets/{sheet.pk}/activate/", {"active": "0"})
    history = list(sheet.revisions.order_by("number").values_list("number", "is_active", "comment"))
    assert history == [(1, False, "Created"), (2, True, "Activated"), (3, False, "Deactivated")]


def test_revisions_diff_and_restore(designer: User) -> None:
    sheet = make_sheet("Fallback")
    first = sheet.source
    second = first + "# second thoughts\n"
    sheet_update(sheet=sheet, user=designer, source=second, comment="more")
    client = login(designer)

    listing = client.get(f"/sheets/{sheet.pk}/revisions/").content.decode()
    assert re.findall(r'data-revision="(\d+)"', listing) == ["2", "1"]
    assert "more" in listing

    diff = client.get(f"/sheets/{sheet.pk}/revisions/diff/?a=1&b=2").content.decode()
    assert "Revision 1" in diff and "Revision 2" in diff
    assert "<ins># second thoughts</ins>" in diff

    response = client.post(f"/sheets/{sheet.pk}/revisions/1/restore/")
    assert response.status_code == 302
    sheet.refresh_from_db()
    assert (sheet.revision, sheet.source) == (3, first)
    assert sheet.revisions.get(number=3).comment == "Restored revision 1"
    assert "Revision 1 restored as revision 3." in client.get(response["Location"]).content.decode()


def test_a_diff_says_active_yes_or_no_not_pythons_true_or_false(designer: User) -> None:
    sheet = make_sheet("Fallback")
    sheet_update(sheet=sheet, user=designer, is_active=not sheet.is_active, comment="flip")
    before, after = ("no", "yes") if not sheet.is_active else ("yes", "no")

    diff = login(designer).get(f"/sheets/{sheet.pk}/revisions/diff/?a=1&b=2").content.decode()

    assert f"<li>Active: <del>{before}</del> → <ins>{after}</ins></li>" in diff


def long_sheet_changed_once(designer: User) -> Sheet:
    """A sheet of 60 comment lines after its header; revision 2 changes line 30 only."""
    sheet = make_sheet("Fallback")
    body = "".join(f"# note {n}\n" for n in range(1, 61))
    sheet_update(sheet=sheet, user=designer, source=sheet.source + body)
    changed = sheet.source + body.replace("# note 27\n", "# note twenty-seven\n")
    sheet_update(sheet=Sheet.objects.get(pk=sheet.pk), user=designer, source=changed)
    return Sheet.objects.get(pk=sheet.pk)


def test_a_diff_shows_each_change_with_three_lines_around_it_and_counts_the_rest(
    designer: User,
) -> None:
    sheet = long_sheet_changed_once(designer)
    lines = sheet.source.split("\n")
    changed = lines.index("# note twenty-seven") + 1  # 1-based
    page = login(designer).get(f"/sheets/{sheet.pk}/revisions/diff/?a=2&b=3").content.decode()
    assert "1 change" in page and "Change 1 of 1" in page
    assert "<del># note 27</del>" in page and "<ins># note twenty-seven</ins>" in page
    shown = re.findall(r"<td class=\"code same\">[^<]*<span[^>]*>[^<]*</span>([^<]*)</td>", page)
    assert shown == ["# note 24", "# note 25", "# note 26", "# note 28", "# note 29", "# note 30"]
    assert f"⋯ {changed - 4} unchanged lines" in page
    assert f"⋯ {len(lines) - changed - 3} unchanged lines" in page
    # The newer revision is the sheet's current text: its numbers open the editor there.
    assert f'href="/sheets/{sheet.pk}/?line={changed}"' in page


def test_the_side_by_side_diff_puts_the_old_line_beside_the_new(designer: User) -> None:
    sheet = long_sheet_changed_once(designer)
    page = login(designer).get(f"/sheets/{sheet.pk}/revisions/diff/?a=2&b=3&view=split")
    html = page.content.decode()
    assert '<strong aria-current="page">Side by side</strong>' in html
    row = re.search(r'<td class="code del"># note 27</td>\s*<td class="num">(.*?)</td>', html)
    assert row is not None
    assert re.search(r'<td class="code add"># note twenty-seven</td>', html)


def test_an_older_pair_of_revisions_does_not_link_into_the_editor(designer: User) -> None:
    sheet = long_sheet_changed_once(designer)
    page = login(designer).get(f"/sheets/{sheet.pk}/revisions/diff/?a=1&b=2").content.decode()
    assert "?line=" not in page  # revision 2's numbers are not the editor's (it shows 3)


def test_diff_of_a_missing_revision_says_so(designer: User) -> None:
    sheet = make_sheet("Fallback")
    client = login(designer)
    response = client.get(f"/sheets/{sheet.pk}/revisions/diff/?a=1&b=9", follow=True)
    assert f"Sheet {sheet.pk} has no revision 9." in response.content.decode()


def test_dark_mode_is_remembered_per_user(designer: User, viewer: User) -> None:
    client = login(designer)
    assert client.post("/sheets/preferences/theme/", {"dark": "1"}).json() == {"dark": True}
    assert UserPreference.objects.get(user=designer).dark_mode is True
    assert 'data-theme="dark"' in client.get("/sheets/").content.decode()
    assert 'data-theme="light"' in login(viewer).get("/sheets/").content.decode()
    client.post("/sheets/preferences/theme/", {"dark": "0"})
    assert 'data-theme="light"' in client.get("/sheets/").content.decode()


# --- The visual editor ------------------------------------------------------------------

VISUAL = """\
fulfillment Nearby

action 'EXPORT_ORDER'

scope Order

# only where we deliver
require [Order.ShippingAddress.CountryID] in 'NL', 'BE'

scope Supplier

require [Supplier.Type] = 'Warehouse' with reason 'NotAWarehouse', 'Only warehouses'

data ExporterName as 'ARVATO'
"""


def visual_sheet() -> Sheet:
    return sheet_create(fulfillment="Nearby", name="Nearby", source=VISUAL)


def test_visual_editor_shows_statements_in_plain_words(designer: User) -> None:
    sheet = visual_sheet()
    page = login(designer).get(f"/sheets/{sheet.pk}/visual/").content.decode()
    assert "New statements cannot be added in the visual editor" in page
    assert re.search(r"<h2[^>]*>Scope Supplier</h2>", page)
    assert '<span class="comment"># only where we deliver</span>' in page
    assert '<span class="words">Require </span><code>[Supplier.Type] = </code>' in page
    assert 'name="slot-s1" value="[&quot;NL&quot;, &quot;BE&quot;]"' in page
    assert 'aria-label="Reason code"' in page and 'value="NotAWarehouse"' in page


def test_visual_edits_change_exactly_those_values(designer: User) -> None:
    sheet = visual_sheet()
    client = login(designer)
    response = client.post(
        f"/sheets/{sheet.pk}/visual/",
        {
            "revision": "1",
            "active": "1",
            "comment": "Germany too",
            "slot-s1": json.dumps(["NL", "DE"]),
            "slot-s4": "Only our warehouses",
            "slot-s5": "BONVER",
        },
    )
    assert response.status_code == 302
    sheet.refresh_from_db()
    assert sheet.source == VISUAL.replace("'NL', 'BE'", "'NL', 'DE'").replace(
        "'Only warehouses'", "'Only our warehouses'"
    ).replace("'ARVATO'", "'BONVER'")
    assert (sheet.revision, sheet.is_active) == (2, True)
    assert sheet.revisions.get(number=2).comment == "Germany too"
    assert "Saved as revision 2." in client.get(response["Location"]).content.decode()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("slot-s1", "[]", "a list needs at least one value"),
        ("slot-s1", "NL", "the list was not sent as JSON"),
        pytest.param(
            "slot-s1",
            "[" * 5000 + "]" * 5000,
            "the list was not sent as JSON",
            id="nested-5000-deep",
        ),
        ("slot-s3", "Not a code", "a reason code is letters, digits and underscores"),
    ],
)
def test_visual_edits_that_do_not_fit_are_refused(
    designer: User, field: str, value: str, message: str
) -> None:
    sheet = visual_sheet()
    client = login(designer)
    before = table_rows()
    response = client.post(f"/sheets/{sheet.pk}/visual/", {"revision": "1", field: value})
    assert response.status_code == 400
    page = response.content.decode()
    assert "Not saved." in page
    assert message in page
    assert table_rows() == before


def test_a_visual_edit_the_parser_would_refuse_is_refused_naming_its_line(
    designer: User,
) -> None:
    deep = VISUAL + "\ndata [Limit] as " + "(" * 100 + "1" + ")" * 100 + "\n"
    sheet = sheet_create(fulfillment="Nearby", name="Nearby", source=deep)
    client = login(designer)
    before = table_rows()
    response = client.post(f"/sheets/{sheet.pk}/visual/", {"revision": "1", "slot-s6": "-2"})
    assert response.status_code == 400
    page = response.content.decode()
    assert "Not saved." in page
    assert (
        "the value on line 16 cannot go here: the sheet would not parse with it "
        "(expressions are nested more than 100 levels deep)"
    ) in page
    assert table_rows() == before


def test_a_refused_visual_value_is_named_by_its_line_column_and_field(designer: User) -> None:
    sheet = visual_sheet()
    client = login(designer)
    before = table_rows()
    response = client.post(
        f"/sheets/{sheet.pk}/visual/",
        {"revision": "1", "slot-s3": "Not a code", "slot-s5": "BONVER"},
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert (
        '<li><a href="#slot-s3" class="refused" data-slot="s3">Line 12, column 51, reason code'
        "</a>: a reason code is letters, digits and underscores, starting with a letter</li>"
    ) in page
    # The field is marked, and keeps what was typed.
    assert 'id="slot-s3" value="Not a code"' in page
    assert re.search(r'<input [^>]*id="slot-s3"[^>]*aria-invalid="true"', page)
    assert table_rows() == before


def test_a_value_the_checker_refuses_is_named_by_its_line_column_and_field(
    designer: User,
) -> None:
    source = "fulfillment Nearby\naction CANCEL\noption OrderIntents as 'Sales'\n"
    sheet = sheet_create(fulfillment="Nearby", name="Nearby", source=source)
    client = login(designer)
    before = table_rows()
    response = client.post(
        f"/sheets/{sheet.pk}/visual/",
        {"revision": "1", "slot-s1": "Nope"},
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert (
        '<li><a href="#slot-s1" class="refused" data-slot="s1">Line 3, column 24, text</a>: '
        "option OrderIntents does not know &#x27;Nope&#x27;; use &#x27;Sales&#x27;, "
        "&#x27;Purchase&#x27;, &#x27;Returns&#x27;</li>"
    ) in page
    assert re.search(r'<input [^>]*id="slot-s1" value="Nope"[^>]*aria-invalid="true"', page)
    assert table_rows() == before


def test_a_visual_save_over_a_newer_revision_is_refused(designer: User) -> None:
    sheet = visual_sheet()
    sheet_update(sheet=sheet, source=VISUAL + "# someone else\n", comment="meanwhile")
    client = login(designer)
    before = table_rows()
    response = client.post(f"/sheets/{sheet.pk}/visual/", {"revision": "1", "slot-s5": "BONVER"})
    assert response.status_code == 409
    assert "it is now revision 2" in response.content.decode()
    assert table_rows() == before


def test_a_sheet_with_syntax_errors_is_not_shown_visually(designer: User) -> None:
    sheet = Sheet.objects.create(fulfillment="Broken", name="Broken", source="require (\n")
    page = login(designer).get(f"/sheets/{sheet.pk}/visual/").content.decode()
    assert "This sheet has syntax errors, so it cannot be shown here." in page
    assert 'id="visual-form"' not in page


def test_bench_suite_times_the_overview_and_leaves_nothing_behind() -> None:
    from io import StringIO

    from django.core.management import call_command

    before = table_rows()
    out = StringIO()
    call_command("bench", "suite", "--sheets", "60", "--repeat", "1", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0] == "sheets overview with 60 sheets, median of 1 requests"
    assert [re.sub(r"^\s*[\d.]+ ms  ", "", line) for line in lines[1:]] == [
        "active sheets, first page (/sheets/)",
        "all, newest edit first (/sheets/?inactive=1&sort=-edited)",
        "all, name filter (/sheets/?inactive=1&q=sheet+09&sort=name)",
        "all, last page (/sheets/?inactive=1&page=1)",
    ]
    assert table_rows() == before
