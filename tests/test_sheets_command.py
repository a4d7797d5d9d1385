"""``manage.py sheets export`` / ``sheets import``: a file out, a dry run and an import in."""

import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from orchestration.models import Sheet
from orchestration.services.sheets import sheet_create
from tests.conftest import sheet_text, table_rows

pytestmark = pytest.mark.django_db


def sheets_file(*sheets: dict[str, object]) -> str:
    return json.dumps(
        {"format_version": 1, "exported_at": "2026-12-01T09:30:00+00:00", "sheets": list(sheets)}
    )


def entry(fulfillment: str, **fields: object) -> dict[str, object]:
    return {
        "fulfillment": fulfillment,
        "name": fulfillment,
        "is_active": True,
        "comment": "",
        "source": sheet_text(fulfillment),
        **fields,
    }


@pytest.fixture
def installed() -> None:
    sheet_create(fulfillment="Same", name="Same", source=sheet_text("Same"), is_active=True)
    sheet_create(fulfillment="Edited", name="Edited", source=sheet_text("Edited"))


@pytest.fixture
def changes(tmp_path: Path, installed: None) -> Path:
    path = tmp_path / "sheets.json"
    path.write_text(
        sheets_file(
            entry("Same"),
            entry("Edited", name="Edited again", source=sheet_text("Edited") + "# tuned\n"),
            entry("Fresh", is_active=False),
        )
    )
    return path


def test_export_writes_the_active_sheets_to_stdout(installed: None, capsys) -> None:
    call_command("sheets", "export")

    content = json.loads(capsys.readouterr().out)
    assert [sheet["fulfillment"] for sheet in content["sheets"]] == ["Same"]
    assert content["format_version"] == 1


def test_export_writes_named_sheets_to_a_file(installed: None, tmp_path: Path, capsys) -> None:
    path = tmp_path / "out.json"

    call_command("sheets", "export", "--identifier", "Edited", "--identifier", "Same", "-o", path)

    content = json.loads(path.read_text())
    assert [sheet["fulfillment"] for sheet in content["sheets"]] == ["Edited", "Same"]
    assert capsys.readouterr().err == f"Exported 2 sheets to {path}.\n"


def test_exporting_an_unknown_identifier_is_a_command_error(installed: None) -> None:
    with pytest.raises(CommandError) as caught:
        call_command("sheets", "export", "--identifier", "Nope")
    assert str(caught.value) == (
        "No sheet has the fulfillment identifier 'Nope'; nothing was exported."
    )


def test_a_dry_run_prints_each_sheet_and_the_diffs_and_writes_nothing(
    changes: Path, capsys
) -> None:
    before = table_rows()

    call_command("sheets", "import", str(changes), "--dry-run")

    assert table_rows() == before
    assert capsys.readouterr().out == (
        "unchanged  Same\n"
        "changed    Edited: name 'Edited' -> 'Edited again'; active no -> yes; source\n"
        "    --- Edited (revision 1)\n"
        "    +++ Edited (file)\n"
        "    @@ -1,3 +1,4 @@\n"
        "     fulfillment Edited\n"
        "     action CANCEL\n"
        "    +# tuned\n"
        "     \n"
        "new        Fresh: 'Fresh', inactive\n"
        f"Dry run of {changes}: 1 new, 1 changed, 1 unchanged; nothing was written.\n"
    )


def test_a_dry_runs_diff_prints_control_characters_escaped_so_no_line_can_hide(
    installed: None, tmp_path: Path, capsys
) -> None:
    """A sheet may hold ESC in a comment or a string. Printed as it is, "\x1b[1A\x1b[2K"
    moves the cursor up and erases the line above: a hostile file's dry run could hide
    the change it makes. Bidirectional overrides (U+202E) could reorder what is shown."""
    hidden = "# \x1b[1A\x1b[2K\u202e ok\n"
    path = tmp_path / "sheets.json"
    path.write_text(sheets_file(entry("Edited", source=sheet_text("Edited") + hidden)))

    call_command("sheets", "import", str(path), "--dry-run")

    out = capsys.readouterr().out
    assert "\x1b" not in out and "\u202e" not in out
    assert "    +# \\x1b[1A\\x1b[2K\\u202e ok\n" in out


def test_an_import_prints_each_sheet_with_its_new_revision(changes: Path, capsys) -> None:
    call_command("sheets", "import", str(changes))

    assert capsys.readouterr().out == (
        "unchanged  Same\n"
        "changed    Edited: name 'Edited' -> 'Edited again'; active no -> yes; source "
        "(revision 2)\n"
        "new        Fresh: 'Fresh', inactive (revision 1)\n"
        f"Imported {changes}: 1 new, 1 changed, 1 unchanged.\n"
    )
    assert Sheet.objects.get(fulfillment="Edited").revision == 2
    assert Sheet.objects.get(fulfillment="Fresh").revisions.get().comment == (
        "Imported from a file exported 2026-12-01 09:30 UTC"
    )


def test_a_refused_file_exits_1_naming_every_problem_and_writes_nothing(
    installed: None, tmp_path: Path
) -> None:
    path = tmp_path / "broken.json"
    path.write_text(
        sheets_file(
            entry("Edited", name="Renamed"),
            entry("Broken", source="fulfillment Broken\naction CANCL\n"),
            entry("Long", name="N" * 201),
        )
    )
    before = table_rows()

    with pytest.raises(CommandError) as caught:
        call_command("sheets", "import", str(path))

    assert caught.value.returncode == 1  # manage.py prints "CommandError: ..." and exits 1
    assert table_rows() == before
    assert str(caught.value) == (
        f"{path} was refused; nothing was imported:\n"
        "  Sheet 'Broken', line 2, column 1: unknown action 'CANCL'\n"
        "  Sheet 'Long': name is at most 200 characters; this one has 201."
    )


def test_a_file_that_is_not_json_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "sheets.json"
    path.write_text("sheets: []\n")
    with pytest.raises(CommandError) as caught:
        call_command("sheets", "import", str(path))
    assert str(caught.value) == (
        f"{path} was refused; nothing was imported:\n"
        "  The file is not JSON: Expecting value: line 1 column 1 (char 0)"
    )


def test_a_missing_file_is_a_command_error(tmp_path: Path) -> None:
    with pytest.raises(CommandError) as caught:
        call_command("sheets", "import", str(tmp_path / "nope.json"))
    assert (
        str(caught.value) == f"{tmp_path / 'nope.json'}: cannot read it: No such file or directory"
    )


def test_export_then_import_round_trips_through_the_commands(
    installed: None, tmp_path: Path
) -> None:
    path = tmp_path / "all.json"
    call_command("sheets", "export", "--identifier", "Same", "--identifier", "Edited", "-o", path)
    fields = ("fulfillment", "name", "source", "is_active")
    before = list(Sheet.objects.order_by("fulfillment").values_list(*fields))
    Sheet.objects.all().delete()

    call_command("sheets", "import", str(path))

    assert list(Sheet.objects.order_by("fulfillment").values_list(*fields)) == before
