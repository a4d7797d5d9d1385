"""The editor's Duplicate page and its Compare with the active revision, server side:
what a designer sees, what is stored, and that a refusal (or a comparison) writes nothing."""

import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils.html import escape

from orchestration.models import Sheet
from orchestration.services.sheets import sheet_create
from tests.conftest import sheet_text, table_rows

pytestmark = pytest.mark.django_db


def login(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def north(db: Any) -> Sheet:
    return sheet_create(
        fulfillment="ShipNorth", name="Ship north", source=sheet_text("ShipNorth"), is_active=True
    )


# --- Duplicate ------------------------------------------------------------------------


def test_the_editor_offers_duplicate_and_the_form_suggests_a_name(
    designer: User, north: Sheet
) -> None:
    client = login(designer)
    editor = client.get(f"/sheets/{north.pk}/").content.decode()
    assert f'<a class="button" href="/sheets/{north.pk}/duplicate/">Duplicate</a>' in editor
    page = client.get(f"/sheets/{north.pk}/duplicate/").content.decode()
    assert 'name="name" id="id_name" value="Copy of Ship north"' in page
    assert 'name="fulfillment" id="id_fulfillment" value=""' in page
    assert "The copy gets the sheet's source as saved (revision 1)" in page


def test_duplicating_opens_the_new_inactive_sheet(designer: User, north: Sheet) -> None:
    client = login(designer)
    response = client.post(
        f"/sheets/{north.pk}/duplicate/", {"name": "Ship south", "fulfillment": "ShipSouth"}
    )
    copy = Sheet.objects.get(fulfillment="ShipSouth")
    assert response.status_code == 302
    assert response["Location"] == f"/sheets/{copy.pk}/"
    assert (copy.name, copy.is_active, copy.source) == (
        "Ship south",
        False,
        sheet_text("ShipSouth"),
    )
    page = client.get(response["Location"]).content.decode()
    assert "Sheet Ship south created as a copy of Ship north. It is not active." in page


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (
            {"name": "Copy", "fulfillment": "ShipNorth"},
            "fulfillment",
            "A sheet with fulfillment identifier 'ShipNorth' already exists; "
            "choose another for the copy.",
        ),
        ({"name": "", "fulfillment": "ShipSouth"}, "name", "Give the sheet a name."),
        (
            {"name": "Copy", "fulfillment": "Ship South"},
            "fulfillment",
            "Use letters, digits and underscores, starting with a letter or underscore.",
        ),
        (
            {"name": "x" * 201, "fulfillment": "ShipSouth"},
            "name",
            "A sheet's name is at most 200 characters; this one has 201.",
        ),
    ],
)
def test_a_refused_copy_says_why_next_to_its_field_and_writes_nothing(
    designer: User, north: Sheet, data: dict[str, str], field: str, message: str
) -> None:
    client = login(designer)
    before = table_rows()
    response = client.post(f"/sheets/{north.pk}/duplicate/", data)
    assert response.status_code == 400
    page = response.content.decode()
    error = re.search(rf'<p class="error" id="{field}-error">([^<]*)</p>', page)
    assert error is not None and error.group(1).startswith(escape(message))
    # What was typed is shown again.
    assert f'value="{escape(data["fulfillment"])}"' in page
    assert table_rows() == before


def test_a_sheet_that_no_longer_checks_is_not_copied(designer: User) -> None:
    broken = Sheet.objects.create(
        fulfillment="Broken", name="Broken", source="fulfillment Broken\nrequire (\n"
    )
    client = login(designer)
    before = table_rows()
    response = client.post(
        f"/sheets/{broken.pk}/duplicate/", {"name": "Copy", "fulfillment": "BrokenCopy"}
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert (
        "The sheet as saved does not check, so it is not copied (source: line 1, column 1: "
        "a sheet needs an &#x27;action&#x27; after its fulfillment line)." in page
    )
    assert "Fix it in the editor first." in page
    assert table_rows() == before


# --- Compare with the active revision ---------------------------------------------------


def test_compare_shows_the_unsaved_text_against_the_active_revision_and_saves_nothing(
    designer: User, north: Sheet
) -> None:
    client = login(designer)
    editor = client.get(f"/sheets/{north.pk}/").content.decode()
    assert f'action="/sheets/{north.pk}/compare/" id="compare-form" target="_blank"' in editor
    before = table_rows()
    typed = sheet_text("ShipNorth") + "# not saved yet\n"
    response = client.post(
        f"/sheets/{north.pk}/compare/",
        {"name": "Ship north!", "fulfillment": "ShipNorth", "source": typed},
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "Ship north</a>: revision 1 and the unsaved text</h1>" in page
    assert "Nothing is saved here" in page
    assert "<th>Revision 1 → Unsaved text</th>" in page
    assert "<ins># not saved yet</ins>" in page
    assert "Name: <del>Ship north</del> → <ins>Ship north!</ins>" in page
    assert "1 change" in page
    # No restore, and no links into the editor at lines of a text that is not saved.
    assert "Restore revision" not in page and "?line=" not in page
    # Side by side re-sends the same text (it is in no revision to link to).
    assert 'form="draft-view" class="link-button">Side by side</button>' in page
    assert f'<textarea name="source">\n{escape(typed)}</textarea>' in page
    split = client.post(
        f"/sheets/{north.pk}/compare/",
        {"name": "Ship north!", "fulfillment": "ShipNorth", "source": typed, "view": "split"},
    ).content.decode()
    assert '<table class="diff-lines split" id="diff">' in split
    assert '<th colspan="2">Unsaved text</th>' in split
    assert table_rows() == before


def test_comparing_the_saved_text_says_it_is_the_same(designer: User, north: Sheet) -> None:
    page = (
        login(designer)
        .post(
            f"/sheets/{north.pk}/compare/",
            {"name": "Ship north", "fulfillment": "ShipNorth", "source": north.source},
        )
        .content.decode()
    )
    assert "The source is the same in both revisions." in page


def test_a_text_too_long_to_compare_is_refused_with_a_message(designer: User, north: Sheet) -> None:
    client = login(designer)
    before = table_rows()
    response = client.post(
        f"/sheets/{north.pk}/compare/",
        {"name": "Ship north", "fulfillment": "ShipNorth", "source": "#" * 200_001},
    )
    assert response.status_code == 302
    assert response["Location"] == f"/sheets/{north.pk}/"
    page = client.get(response["Location"]).content.decode()
    assert (
        "Not compared: A sheet&#x27;s source is at most 200000 characters; this one has 200001."
        in page
    )
    assert table_rows() == before
