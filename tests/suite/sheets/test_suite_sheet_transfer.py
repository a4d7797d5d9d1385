"""The Suite's Export and Import of sheets, server side: the overview's Export, the upload,
the dry run page (new, changed with the revision diff's rendering, unchanged) and its
confirmation. What a designer sees, and what is stored (nothing on refusal or dry run).
"""

import html
import json
import re
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from orchestration.models import Sheet
from orchestration.services.sheets import sheet_create, sheet_update
from tests.conftest import sheet_text, table_rows

pytestmark = pytest.mark.django_db


def login(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def entry(fulfillment: str, **fields: Any) -> dict[str, Any]:
    return {
        "fulfillment": fulfillment,
        "name": fulfillment,
        "is_active": True,
        "comment": "",
        "source": sheet_text(fulfillment),
        **fields,
    }


def upload(*sheets: dict[str, Any], name: str = "sheets.json") -> SimpleUploadedFile:
    content = {"format_version": 1, "exported_at": "2026-12-01T09:30:00+00:00", "sheets": sheets}
    return SimpleUploadedFile(name, json.dumps(content).encode(), "application/json")


def text(response: Any) -> str:
    """The page's text, tags dropped and white space collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


@pytest.fixture
def installed() -> None:
    sheet_create(fulfillment="Same", name="Same", source=sheet_text("Same"), is_active=True)
    sheet_create(fulfillment="Edited", name="Edited", source=sheet_text("Edited"))


@pytest.fixture
def changes() -> SimpleUploadedFile:
    return upload(
        entry("Same"),
        entry("Edited", name="Edited again", source=sheet_text("Edited") + "# tuned\n"),
        entry("Fresh", is_active=False),
    )


# --- Export -----------------------------------------------------------------------------


def test_the_overview_offers_export_and_import_to_editors_only(designer: User, installed) -> None:
    page = login(designer).get("/sheets/").content.decode()
    assert '<form id="export-form" method="get" action="/sheets/export/"' in page
    assert 'href="/sheets/import/"' in page
    assert (
        '<input type="checkbox" form="export-form" name="identifier" value="Same" '
        'aria-label="Export Same">'
    ) in page

    viewer = User.objects.create_user("viewer")
    viewer.user_permissions.add(Permission.objects.get(codename="view_sheets"))
    page = login(viewer).get("/sheets/").content.decode()
    assert "export-form" not in page
    assert "/sheets/import/" not in page


def test_export_without_a_selection_downloads_every_active_sheet(designer, installed) -> None:
    response = login(designer).get("/sheets/export/")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert re.fullmatch(
        r'attachment; filename="sheets-\d{8}-\d{4}\.json"', response["Content-Disposition"]
    )
    content = json.loads(response.content)
    assert content["sheets"] == [entry("Same", comment="Created")]


def test_export_of_the_ticked_sheets(designer, installed) -> None:
    response = login(designer).get("/sheets/export/?identifier=Edited&identifier=Same")

    assert [s["fulfillment"] for s in json.loads(response.content)["sheets"]] == [
        "Edited",
        "Same",
    ]


def test_export_of_a_sheet_that_is_gone_says_so_on_the_overview(designer, installed) -> None:
    client = login(designer)
    response = client.get("/sheets/export/?identifier=Gone")

    assert (response.status_code, response["Location"]) == (302, "/sheets/")
    assert (
        "Not exported: No sheet has the fulfillment identifier 'Gone'; nothing was exported."
        in text(client.get("/sheets/"))
    )


def test_export_of_a_malformed_identifier_says_so(designer, installed) -> None:
    client = login(designer)
    client.get("/sheets/export/?identifier=two%20words")
    assert (
        "Not exported: 'two words' is not a fulfillment identifier. Use letters, digits and "
        "underscores, starting with a letter or underscore."
    ) in text(client.get("/sheets/"))


# --- Import: the dry run ----------------------------------------------------------------


def test_the_import_page_asks_for_a_file(designer) -> None:
    response = login(designer).get("/sheets/import/")
    assert response.status_code == 200
    assert '<input type="file" name="file" id="id_file"' in response.content.decode()


def test_the_dry_run_shows_each_sheet_and_the_diff_and_writes_nothing(
    designer, installed, changes
) -> None:
    client = login(designer)
    before = table_rows()

    response = client.post("/sheets/import/", {"file": changes})

    assert response.status_code == 200
    assert table_rows() == before
    page = response.content.decode()
    rows = re.findall(r'<tr data-status="(\w+)">\s*<td><code>(\w+)</code>', page)
    assert rows == [("unchanged", "Same"), ("changed", "Edited"), ("new", "Fresh")]
    shown = text(response)
    # (The moment is a <time> element: the page's text has a space after it.)
    assert (
        "sheets.json, exported Tuesday 1 Dec 2026, 10:30 Europe/Amsterdam : "
        "1 new, 1 changed, 1 unchanged."
    ) in shown
    assert "Nothing: no new revision" in shown
    assert "A new sheet, inactive" in shown
    assert "Edited again ( Edited ): revision 1 → the file" in shown
    assert "Name: Edited → Edited again" in shown
    assert "Active: no → yes" in shown
    # The revision diff's rendering: numbered lines, the added one marked.
    assert '<table class="diff-lines" id="sheet-Edited-diff">' in page
    assert '<tbody class="hunk" id="sheet-Edited-change-1">' in page
    assert "<ins># tuned</ins>" in page
    assert "Revision 1 → The file" in shown
    assert 'name="fingerprint"' in page
    assert "Import these sheets" in shown


def test_a_file_with_nothing_to_change_offers_no_import(designer, installed) -> None:
    response = login(designer).post("/sheets/import/", {"file": upload(entry("Same"))})
    assert "Every sheet of the file is as it is here: there is nothing to import." in text(response)
    assert "Import these sheets" not in text(response)


def test_a_file_with_a_parse_error_is_refused_naming_sheet_line_and_column(
    designer, installed
) -> None:
    file = upload(
        entry("Edited", name="Renamed"),
        entry("Broken", source="fulfillment Broken\naction CANCL\n"),
        entry("Long", name="N" * 201),
        name="broken.json",
    )
    client = login(designer)
    before = table_rows()

    response = client.post("/sheets/import/", {"file": file})

    assert response.status_code == 400
    assert table_rows() == before
    problems = response.content.decode().split('id="import-problems"')[1]
    assert re.findall(r"<li>(.*?)</li>", problems) == [
        "Sheet &#x27;Broken&#x27;, line 2, column 1: unknown action &#x27;CANCL&#x27;",
        "Sheet &#x27;Long&#x27;: name is at most 200 characters; this one has 201.",
    ]
    assert "broken.json was refused; nothing was imported:" in text(response)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not json", "The file is not JSON: Expecting value: line 1 column 1 (char 0)"),
        (
            b'{"format_version": 2, "exported_at": "2026-12-01T09:30:00+00:00", "sheets": []}',
            "format_version is 2: this install reads sheet files of format version 1 only.",
        ),
    ],
)
def test_a_file_that_is_no_sheets_file_is_refused(designer, content: bytes, message: str) -> None:
    client = login(designer)
    before = table_rows()
    file = SimpleUploadedFile("sheets.json", content, "application/json")

    response = client.post("/sheets/import/", {"file": file})

    assert response.status_code == 400
    assert message in text(response)
    assert table_rows() == before


def test_no_file_is_refused(designer) -> None:
    response = login(designer).post("/sheets/import/", {})
    assert response.status_code == 400
    assert "Choose the file to import." in text(response)


def test_a_file_over_the_limit_is_refused(designer, settings) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    file = SimpleUploadedFile("big.json", b" " * 101, "application/json")
    response = login(designer).post("/sheets/import/", {"file": file})
    assert response.status_code == 400
    assert "The file has 101 bytes; at most 100 can be imported at once." in text(response)


def test_new_sheets_need_the_create_permission(installed) -> None:
    editor = User.objects.create_user("editor")
    editor.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_sheets", "edit_sheets"])
    )

    response = login(editor).post("/sheets/import/", {"file": upload(entry("Fresh"))})

    assert response.status_code == 403
    assert (
        "Importing new sheets needs the permission SymphonySheets:Create; "
        "this file would create &#x27;Fresh&#x27;."
    ) in response.content.decode()


# --- Import: the confirmation -----------------------------------------------------------


def fingerprint(response: Any) -> str:
    found = re.search(r'name="fingerprint" value="(\w+)"', response.content.decode())
    assert found is not None
    return found.group(1)


def test_confirming_imports_what_the_dry_run_showed(designer, installed, changes) -> None:
    client = login(designer)
    dry_run = client.post("/sheets/import/", {"file": changes})

    response = client.post("/sheets/import/apply/", {"fingerprint": fingerprint(dry_run)})

    assert (response.status_code, response["Location"]) == (302, "/sheets/?inactive=1")
    assert "Imported sheets.json: 1 new, 1 changed, 1 unchanged." in text(
        client.get(response["Location"])
    )
    edited = Sheet.objects.get(fulfillment="Edited")
    assert (edited.name, edited.revision, edited.updated_by) == ("Edited again", 2, designer)
    assert edited.revisions.first().comment == "Imported from a file exported 2026-12-01 09:30 UTC"
    assert Sheet.objects.get(fulfillment="Same").revision == 1
    assert Sheet.objects.get(fulfillment="Fresh").is_active is False
    # Confirming again has nothing left to confirm.
    again = client.post("/sheets/import/apply/", {"fingerprint": fingerprint(dry_run)})
    assert again["Location"] == "/sheets/import/"


def test_sheets_changed_since_the_dry_run_show_the_new_dry_run_instead(
    designer, installed, changes
) -> None:
    client = login(designer)
    dry_run = client.post("/sheets/import/", {"file": changes})
    edited = Sheet.objects.get(fulfillment="Edited")
    sheet_update(sheet=edited, name="Meanwhile", comment="someone else")
    before = table_rows()

    response = client.post("/sheets/import/apply/", {"fingerprint": fingerprint(dry_run)})

    assert response.status_code == 409
    assert table_rows() == before
    assert (
        "The file or the sheets changed since the dry run; check the new dry run before importing."
    ) in text(response)
    assert "Name: Meanwhile → Edited again" in text(response)
    assert fingerprint(response) != fingerprint(dry_run)


def test_confirming_without_a_dry_run_asks_for_the_file(designer) -> None:
    client = login(designer)
    before = table_rows()
    response = client.post("/sheets/import/apply/", {"fingerprint": "abc"})
    assert (response.status_code, response["Location"]) == (302, "/sheets/import/")
    assert table_rows() == before
