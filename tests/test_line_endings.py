"""Sheets written with other line endings: stored with ``\\n``, shown by the visual editor.

A browser posts ``\\r\\n``; old Mac editors and some clipboards write a lone
``\\r``. The tokenizer counts lines at each of them (``language/lines.py``), so a
sheet with ``\\r`` passed the checker, was stored as written, and the visual
editor, which counted lines at ``\\n`` only, failed on it with a server error.
"""

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from orchestration.models import Sheet, SheetRevision
from orchestration.services.sheets import sheet_create

pytestmark = pytest.mark.django_db

SOURCE = """fulfillment Nearby
action 'EXPORT_ORDER'

scope Supplier
# only where we deliver
require [Supplier.CountryID] in 'NL', 'BE' with reason 'OutOfArea', 'Not here'

scope Shipment
data ExporterName as 'ARVATO'"""  # no line break at the end: the API and admin trim it
ENDINGS = {
    "CR": SOURCE.replace("\n", "\r"),
    "CRLF": SOURCE.replace("\n", "\r\n"),
    "mixed": SOURCE.replace("\n", "\r", 3).replace("\n", "\r\n", 2),
}


def assert_stored_with_newlines_and_shown_visually(sheet: Sheet, user: User) -> None:
    sheet.refresh_from_db()
    assert sheet.source == SOURCE
    assert list(SheetRevision.objects.filter(sheet=sheet).values_list("source", flat=True)) == [
        SOURCE
    ]
    client = Client()
    client.force_login(user)
    response = client.get(reverse("sheets:visual", args=[sheet.pk]))
    assert response.status_code == 200
    page = response.content.decode()
    assert 'name="slot-s1" value="[&quot;NL&quot;, &quot;BE&quot;]"' in page
    assert '<span class="comment"># only where we deliver</span>' in page
    assert 'value="ARVATO"' in page


@pytest.mark.parametrize("ending", list(ENDINGS))
def test_a_sheet_saved_through_the_api_is_stored_with_newlines_and_shown_visually(
    client_for: Any, designer: User, ending: str
) -> None:
    response = client_for(designer).post(
        "/api/sheets/",
        {"fulfillment": "Nearby", "name": "Nearby", "source": ENDINGS[ending]},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["source"] == SOURCE
    assert_stored_with_newlines_and_shown_visually(Sheet.objects.get(), designer)


@pytest.mark.parametrize("ending", list(ENDINGS))
def test_a_sheet_saved_in_the_suite_editor_is_stored_with_newlines_and_shown_visually(
    designer: User, ending: str
) -> None:
    sheet = sheet_create(
        fulfillment="Nearby", name="Nearby", source="fulfillment Nearby\naction CANCEL\n"
    )
    SheetRevision.objects.all().delete()  # only the Suite's save is looked at
    client = Client()
    client.force_login(designer)
    response = client.post(
        reverse("sheets:editor", args=[sheet.pk]),
        {"name": "Nearby", "fulfillment": "Nearby", "source": ENDINGS[ending]},
    )
    assert response.status_code == 302
    assert_stored_with_newlines_and_shown_visually(sheet, designer)


@pytest.mark.parametrize("ending", list(ENDINGS))
def test_a_sheet_added_in_the_admin_is_stored_with_newlines_and_shown_visually(
    admin_user: User, ending: str
) -> None:
    client = Client()
    client.force_login(admin_user)
    response = client.post(
        reverse("admin:orchestration_sheet_add"),
        {
            "fulfillment": "Nearby",
            "name": "Nearby",
            "source": ENDINGS[ending],
            "revisions-TOTAL_FORMS": "0",
            "revisions-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302
    assert_stored_with_newlines_and_shown_visually(Sheet.objects.get(), admin_user)


def test_a_sheet_stored_with_cr_before_this_change_still_opens_in_the_visual_editor(
    designer: User,
) -> None:
    # Written directly, as the service stored it before it normalised line endings.
    sheet = Sheet.objects.create(fulfillment="Nearby", name="Nearby", source=ENDINGS["CR"])
    client = Client()
    client.force_login(designer)
    response = client.get(reverse("sheets:visual", args=[sheet.pk]))
    assert response.status_code == 200
    assert 'value="ARVATO"' in response.content.decode()


def test_a_visual_save_of_a_sheet_stored_with_cr_writes_newlines(designer: User) -> None:
    sheet = Sheet.objects.create(fulfillment="Nearby", name="Nearby", source=ENDINGS["CR"])
    client = Client()
    client.force_login(designer)
    response = client.post(
        reverse("sheets:visual", args=[sheet.pk]),
        {"revision": str(sheet.revision), "slot-s4": "BONVER"},
    )
    assert response.status_code == 302
    sheet.refresh_from_db()
    assert sheet.source == SOURCE.replace("'ARVATO'", "'BONVER'")
