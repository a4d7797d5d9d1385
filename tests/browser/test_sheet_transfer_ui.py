"""Sheets between installs in Chromium: tick and Export on the overview (a download),
then Import that file: the dry run with its diff, and the confirmation."""

import json
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from orchestration.models import Sheet
from orchestration.services.sheets import sheet_create, sheet_update

pytestmark = pytest.mark.django_db(transaction=True)


def test_designer_exports_sheets_and_imports_the_file_after_a_dry_run(
    designer_user: Any, sign_in: Any, screenshot: Any, tmp_path: Path
) -> None:
    north = sheet_create(
        fulfillment="North",
        name="Ship from store north",
        source="fulfillment North\naction CANCEL\n# near shops first\n",
        is_active=True,
    )
    sheet_create(
        fulfillment="South",
        name="Ship from store south",
        source="fulfillment South\naction CANCEL\n",
        is_active=True,
    )
    sheet_create(fulfillment="Other", name="Other", source="fulfillment Other\naction CANCEL\n")

    page = sign_in("designer")
    page.get_by_label("Export Ship from store north").check()
    page.get_by_label("Export Ship from store south").check()
    with page.expect_download() as download:
        page.get_by_role("button", name="Export").click()
    name = download.value.suggested_filename
    assert re.fullmatch(r"sheets-\d{8}-\d{4}\.json", name)
    path = tmp_path / name
    download.value.save_as(path)
    exported = json.loads(path.read_text(encoding="utf-8"))
    assert [s["fulfillment"] for s in exported["sheets"]] == ["North", "South"]

    # Meanwhile this install moved on: North was edited, South is gone.
    sheet_update(sheet=north, source="fulfillment North\naction CANCEL\n", comment="trimmed")
    Sheet.objects.filter(fulfillment="South").delete()

    page.get_by_role("link", name="Import").click()
    page.get_by_label("Sheets file").set_input_files(path)
    page.get_by_role("button", name="Dry run").click()

    expect(page.get_by_role("heading", name="Import sheets: dry run")).to_be_visible()
    rows = page.locator("#import-plan tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("North")
    expect(rows.nth(0)).to_contain_text("Changed")
    expect(rows.nth(1)).to_contain_text("South")
    expect(rows.nth(1)).to_contain_text("New")
    diff = page.locator("#sheet-North-diff")
    expect(diff.locator("td.code.add")).to_have_text(["+# near shops first"])
    screenshot(page, "import-dry-run")
    assert Sheet.objects.get(fulfillment="North").revision == 2  # nothing written yet
    assert not Sheet.objects.filter(fulfillment="South").exists()

    page.get_by_role("button", name="Import these sheets").click()

    expect(page.locator(".messages")).to_have_text(
        f"Imported {name}: 1 new, 1 changed, 0 unchanged."
    )
    north.refresh_from_db()
    assert (north.revision, north.source) == (
        3,
        "fulfillment North\naction CANCEL\n# near shops first\n",
    )
    assert north.revisions.first().comment.startswith("Imported from a file exported ")
    south = Sheet.objects.get(fulfillment="South")
    assert (south.name, south.is_active, south.revision) == ("Ship from store south", True, 1)
