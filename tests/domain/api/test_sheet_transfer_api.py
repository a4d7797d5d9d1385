"""``GET /api/sheets/export/`` and ``POST /api/sheets/import/``: sheets between installs.

The same service as the Suite and ``manage.py sheets``: the answers here are its plan
and its refusals in the API's error shape.
"""

import json
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User

from orchestration.models import Sheet
from orchestration.services.sheets import sheet_create
from tests.conftest import sheet_text, table_rows

pytestmark = pytest.mark.django_db


def entry(fulfillment: str, **fields: Any) -> dict[str, Any]:
    return {
        "fulfillment": fulfillment,
        "name": fulfillment,
        "is_active": True,
        "comment": "",
        "source": sheet_text(fulfillment),
        **fields,
    }


def sheets_file(*sheets: dict[str, Any]) -> dict[str, Any]:
    return {"format_version": 1, "exported_at": "2026-12-01T09:30:00+00:00", "sheets": list(sheets)}


@pytest.fixture
def installed() -> None:
    sheet_create(fulfillment="Same", name="Same", source=sheet_text("Same"), is_active=True)
    sheet_create(fulfillment="Edited", name="Edited", source=sheet_text("Edited"))


def test_export_answers_the_active_sheets_as_a_file(client_for, designer, installed) -> None:
    response = client_for(designer).get("/api/sheets/export/")

    assert response.status_code == 200
    content = response.json()
    assert content["sheets"] == [entry("Same", comment="Created")]
    assert response["Content-Disposition"].startswith('attachment; filename="sheets-')


def test_export_of_named_sheets(client_for, designer, installed) -> None:
    response = client_for(designer).get("/api/sheets/export/?identifier=Edited&identifier=Same")

    assert [s["fulfillment"] for s in response.json()["sheets"]] == ["Edited", "Same"]


def test_exporting_an_unknown_identifier_is_a_400(client_for, designer, installed) -> None:
    response = client_for(designer).get("/api/sheets/export/?identifier=Nope")

    assert response.status_code == 400
    assert response.json() == {
        "code": "unknown_identifier",
        "message": "No sheet has the fulfillment identifier 'Nope'; nothing was exported.",
        "errors": [
            {
                "code": "unknown_identifier",
                "message": "No sheet has the fulfillment identifier 'Nope'; nothing was exported.",
                "field": "identifier",
            }
        ],
    }


def test_a_dry_run_answers_the_plan_and_writes_nothing(client_for, designer, installed) -> None:
    body = sheets_file(
        entry("Same"),
        entry("Edited", name="Edited again", source=sheet_text("Edited") + "# tuned\n"),
        entry("Fresh", is_active=False),
    )
    before = table_rows()

    response = client_for(designer).post("/api/sheets/import/?dry_run=true", body, format="json")

    assert response.status_code == 200, response.json()
    assert table_rows() == before
    result = response.json()
    assert (result["dry_run"], result["summary"]) == (
        True,
        {"new": 1, "changed": 1, "unchanged": 1},
    )
    edited = Sheet.objects.get(fulfillment="Edited")
    assert result["sheets"] == [
        {
            "fulfillment": "Same",
            "name": "Same",
            "is_active": True,
            "status": "unchanged",
            "sheet": Sheet.objects.get(fulfillment="Same").pk,
            "revision": 1,
            "changes": {},
            "source_diff": "",
        },
        {
            "fulfillment": "Edited",
            "name": "Edited again",
            "is_active": True,
            "status": "changed",
            "sheet": edited.pk,
            "revision": 1,
            "changes": {
                "name": {"before": "Edited", "after": "Edited again"},
                "is_active": {"before": False, "after": True},
            },
            "source_diff": "--- Edited (revision 1)\n+++ Edited (file)\n@@ -1,3 +1,4 @@\n"
            " fulfillment Edited\n action CANCEL\n+# tuned\n ",
        },
        {
            "fulfillment": "Fresh",
            "name": "Fresh",
            "is_active": False,
            "status": "new",
            "sheet": None,
            "revision": None,
            "changes": {},
            "source_diff": "",
        },
    ]


def test_an_import_writes_new_revisions_and_new_sheets(client_for, designer, installed) -> None:
    body = sheets_file(entry("Same"), entry("Edited", comment="Tuned"), entry("Fresh"))

    response = client_for(designer).post("/api/sheets/import/", body, format="json")

    assert response.status_code == 200, response.json()
    result = response.json()
    assert result["dry_run"] is False
    assert [(s["fulfillment"], s["status"], s["revision"]) for s in result["sheets"]] == [
        ("Same", "unchanged", 1),
        ("Edited", "changed", 2),
        ("Fresh", "new", 1),
    ]
    assert Sheet.objects.get(fulfillment="Edited").revisions.first().comment == (
        "Imported from a file exported 2026-12-01 09:30 UTC: Tuned"
    )
    assert result["sheets"][2]["sheet"] == Sheet.objects.get(fulfillment="Fresh").pk


def test_an_import_expecting_a_stale_dry_run_is_a_409(client_for, designer, installed) -> None:
    client = client_for(designer)
    body = sheets_file(entry("Edited", name="Renamed"))
    shown = client.post("/api/sheets/import/?dry_run=1", body, format="json").json()
    client.patch(
        f"/api/sheets/{Sheet.objects.get(fulfillment='Edited').pk}/",
        {"name": "Meanwhile"},
        format="json",
    )
    before = table_rows()

    response = client.post(
        f"/api/sheets/import/?expected={shown['fingerprint']}", body, format="json"
    )

    assert response.status_code == 409
    assert response.json()["message"] == (
        "The file or the sheets changed since the dry run; check the new dry run before importing."
    )
    assert table_rows() == before


def test_a_file_with_a_parse_error_is_refused_naming_sheet_line_and_column(
    client_for, designer, installed
) -> None:
    body = sheets_file(
        entry("Edited", name="Renamed"),
        entry("Broken", source="fulfillment Broken\naction CANCL\n"),
    )
    before = table_rows()

    response = client_for(designer).post("/api/sheets/import/", body, format="json")

    assert response.status_code == 400
    assert table_rows() == before
    assert response.json() == {
        "code": "invalid",
        "message": "Sheet 'Broken', line 2, column 1: unknown action 'CANCL'",
        "errors": [
            {
                "code": "InvalidAction",
                "message": "Sheet 'Broken', line 2, column 1: unknown action 'CANCL'",
                "field": "sheets[1].source",
                "line": 2,
                "column": 1,
                "end_line": 2,
                "end_column": 13,
                "hint": "did you mean CANCEL?",
            }
        ],
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"format_version": 2, "exported_at": "2026-12-01T09:30:00+00:00", "sheets": []},
            "format_version is 2: this install reads sheet files of format version 1 only.",
        ),
        (
            sheets_file(entry("A"), entry("A")),
            "Sheet 'A' is in the file twice: sheets[0] and sheets[1].",
        ),
        (
            sheets_file(entry("A", name="N" * 201)),
            "Sheet 'A': name is at most 200 characters; this one has 201.",
        ),
        (
            sheets_file(entry("A", is_active=None)),
            "Sheet 'A': is_active must be true or false; it is null.",
        ),
    ],
)
def test_a_malformed_file_is_a_400_naming_sheet_and_field(
    client_for, designer, body: Any, message: str
) -> None:
    before = table_rows()

    response = client_for(designer).post("/api/sheets/import/", body, format="json")

    assert (response.status_code, response.json()["code"]) == (400, "invalid")
    assert response.json()["message"] == message
    assert table_rows() == before


def test_a_body_that_is_not_json_is_a_400(client_for, designer) -> None:
    response = client_for(designer).post(
        "/api/sheets/import/", "{not json", content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


def test_dry_run_must_be_a_boolean(client_for, designer) -> None:
    response = client_for(designer).post(
        "/api/sheets/import/?dry_run=maybe", sheets_file(), format="json"
    )
    assert response.status_code == 400
    assert response.json()["message"] == "dry_run: Must be a valid boolean."


def test_moving_sheets_needs_view_and_edit_and_new_ones_create(
    client_for, installed, nobody
) -> None:
    viewer = User.objects.create_user("viewer")
    viewer.user_permissions.add(Permission.objects.get(codename="view_sheets"))
    editor = User.objects.create_user("editor")
    editor.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_sheets", "edit_sheets"])
    )
    before = table_rows()

    for user in (nobody, viewer):
        assert client_for(user).get("/api/sheets/export/").status_code == 403
        response = client_for(user).post("/api/sheets/import/", sheets_file(), format="json")
        assert response.status_code == 403
    assert client_for(None).get("/api/sheets/export/").status_code == 401
    refused = client_for(editor).post(
        "/api/sheets/import/", sheets_file(entry("Fresh")), format="json"
    )

    assert refused.status_code == 403
    assert refused.json()["message"] == (
        "Importing new sheets needs the permission SymphonySheets:Create; "
        "this file would create 'Fresh'."
    )
    assert table_rows() == before
    assert client_for(editor).get("/api/sheets/export/").status_code == 200


def test_the_schema_documents_export_and_import(client_for, designer) -> None:
    schema = client_for(designer).get("/api/schema/?format=json").json()
    assert set(schema["paths"]["/api/sheets/export/"]) == {"get"}
    operation = schema["paths"]["/api/sheets/import/"]["post"]
    assert [p["name"] for p in operation["parameters"]] == ["dry_run", "expected"]
    assert operation["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/SheetsFileRequest"
    }
    assert json.dumps(schema["components"]["schemas"]["SheetImportResult"]).count("fingerprint")
