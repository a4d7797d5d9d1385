"""Sheets between installs (``services/sheet_transfer.py``): export, dry run, import.

What a file does to the install's sheets (new, changed, unchanged), that history is
only ever added to, and that a file with any problem is refused whole, naming the
sheet, the field and, for a source, the line and column, with nothing written.
"""

import datetime
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User

from orchestration.errors import ApplicationError, ConflictError, ForbiddenError
from orchestration.models import Sheet, SheetRevision
from orchestration.services.sheet_transfer import (
    FieldChange,
    Status,
    imported_comment,
    sheets_export,
    sheets_file_parse,
    sheets_file_text,
    sheets_import,
)
from orchestration.services.sheets import sheet_create, sheet_update
from tests.conftest import sheet_text, table_rows

pytestmark = pytest.mark.django_db

EXPORTED_AT = "2026-12-01T09:30:00+00:00"


def sheet_entry(fulfillment: str, **fields: Any) -> dict[str, Any]:
    return {
        "fulfillment": fulfillment,
        "name": fulfillment,
        "is_active": True,
        "comment": "",
        "source": sheet_text(fulfillment),
        **fields,
    }


def sheets_file(*sheets: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"format_version": 1, "exported_at": EXPORTED_AT, "sheets": list(sheets), **fields}


def refusal(data: Any, user: User | None = None) -> ApplicationError:
    before = table_rows()
    with pytest.raises(ApplicationError) as caught:
        sheets_import(data=data, user=user, dry_run=False)
    assert table_rows() == before
    return caught.value


# --- Export -----------------------------------------------------------------------------


def test_an_export_holds_the_active_sheets_with_their_current_revision_comment() -> None:
    north = sheet_create(fulfillment="North", name="North", source=sheet_text("North"))
    sheet_update(sheet=north, is_active=True, comment="Live from Monday")
    sheet_create(fulfillment="Dormant", name="Dormant", source=sheet_text("Dormant"))
    sheet_create(fulfillment="Avenue", name="Avenue", source=sheet_text("Avenue"), is_active=True)

    content = sheets_export()

    assert content["format_version"] == 1
    assert datetime.datetime.fromisoformat(content["exported_at"]).tzinfo is not None
    assert content["sheets"] == [
        sheet_entry("Avenue", comment="Created"),
        sheet_entry("North", comment="Live from Monday"),
    ]


def test_an_export_of_named_sheets_holds_them_active_or_not() -> None:
    sheet_create(fulfillment="North", name="North", source=sheet_text("North"), is_active=True)
    sheet_create(fulfillment="Dormant", name="Dormant", source=sheet_text("Dormant"))

    content = sheets_export(identifiers=["Dormant"])

    assert content["sheets"] == [sheet_entry("Dormant", is_active=False, comment="Created")]


def test_exporting_an_identifier_no_sheet_has_is_refused() -> None:
    with pytest.raises(ApplicationError) as caught:
        sheets_export(identifiers=["Nope"])
    assert caught.value.message == (
        "No sheet has the fulfillment identifier 'Nope'; nothing was exported."
    )
    assert caught.value.field == "identifier"
    with pytest.raises(ApplicationError) as caught:
        sheets_export(identifiers=["N" * 5000])
    assert caught.value.message == (
        f"No sheet has the fulfillment identifier '{'N' * 39}…'; nothing was exported."
    )


# --- Dry run and import -----------------------------------------------------------------


def test_a_dry_run_says_new_changed_and_unchanged_and_writes_nothing() -> None:
    sheet_create(fulfillment="Same", name="Same", source=sheet_text("Same"), is_active=True)
    sheet_create(fulfillment="Edited", name="Edited", source=sheet_text("Edited"))
    data = sheets_file(
        sheet_entry("Same"),
        sheet_entry("Edited", name="Edited again", source=sheet_text("Edited") + "# tuned\n"),
        sheet_entry("Fresh", is_active=False),
    )
    before = table_rows()

    plan = sheets_import(data=data, user=None, dry_run=True)

    assert table_rows() == before
    assert plan.dry_run
    assert [(p.fulfillment, p.status) for p in plan.sheets] == [
        ("Same", Status.UNCHANGED),
        ("Edited", Status.CHANGED),
        ("Fresh", Status.NEW),
    ]
    edited = plan.sheets[1]
    assert edited.changes == (
        FieldChange("name", "Edited", "Edited again"),
        FieldChange("is_active", False, True),
    )
    assert edited.source_diff == (
        "--- Edited (revision 1)\n"
        "+++ Edited (file)\n"
        "@@ -1,3 +1,4 @@\n"
        " fulfillment Edited\n"
        " action CANCEL\n"
        "+# tuned\n"
        " "
    )
    assert (edited.sheet_id, edited.revision) == (Sheet.objects.get(fulfillment="Edited").pk, 1)
    assert plan.summary == "1 new, 1 changed, 1 unchanged"


def test_importing_adds_revisions_creates_sheets_and_leaves_unchanged_ones_alone(
    designer: User,
) -> None:
    same = sheet_create(fulfillment="Same", name="Same", source=sheet_text("Same"), is_active=True)
    edited = sheet_create(fulfillment="Edited", name="Edited", source=sheet_text("Edited"))
    other = sheet_create(fulfillment="Other", name="Other", source=sheet_text("Other"))
    data = sheets_file(
        sheet_entry("Same", comment="Unchanged here"),
        sheet_entry("Edited", source=sheet_text("Edited") + "# tuned\n", comment="Tuned"),
        sheet_entry("Fresh", is_active=False, comment="First try"),
    )

    result = sheets_import(data=data, user=designer, dry_run=False)

    assert not result.dry_run
    assert [(p.fulfillment, p.status, p.revision) for p in result.sheets] == [
        ("Same", Status.UNCHANGED, 1),
        ("Edited", Status.CHANGED, 2),
        ("Fresh", Status.NEW, 1),
    ]
    assert list(same.revisions.values_list("number", "comment")) == [(1, "Created")]
    # A sheet the file does not hold is left as it is: importing never deletes.
    assert list(Sheet.objects.filter(pk=other.pk).values_list("revision", "name")) == [(1, "Other")]
    edited.refresh_from_db()
    assert (edited.revision, edited.source, edited.is_active, edited.updated_by) == (
        2,
        sheet_text("Edited") + "# tuned\n",
        True,
        designer,
    )
    assert list(edited.revisions.values_list("number", "comment", "author__username")) == [
        (2, "Imported from a file exported 2026-12-01 09:30 UTC: Tuned", "designer"),
        (1, "Created", None),
    ]
    fresh = Sheet.objects.get(fulfillment="Fresh")
    assert (fresh.name, fresh.is_active, fresh.revision, fresh.action) == (
        "Fresh",
        False,
        1,
        "CANCEL",
    )
    assert result.sheets[2].sheet_id == fresh.pk
    assert fresh.revisions.get().comment == (
        "Imported from a file exported 2026-12-01 09:30 UTC: First try"
    )


def test_names_and_comments_are_trimmed_as_every_save_trims_them() -> None:
    sheets_import(
        data=sheets_file(sheet_entry("Fresh", name="  Fresh \n", comment=" Tuned ")),
        user=None,
        dry_run=False,
    )
    fresh = Sheet.objects.get(fulfillment="Fresh")
    assert fresh.name == "Fresh"
    assert fresh.revisions.get().comment.endswith("UTC: Tuned")


def test_importing_the_same_file_twice_makes_no_second_revision() -> None:
    data = sheets_file(sheet_entry("Fresh"))
    sheets_import(data=data, user=None, dry_run=False)

    again = sheets_import(data=data, user=None, dry_run=False)

    assert [p.status for p in again.sheets] == [Status.UNCHANGED]
    assert SheetRevision.objects.count() == 1


def test_a_round_trip_into_an_empty_install_gives_equal_sheets() -> None:
    north = sheet_create(
        fulfillment="North", name="Ship from store north", source=sheet_text("North")
    )
    sheet_update(
        sheet=north, source=sheet_text("North") + "# near\n", is_active=True, comment="Closer"
    )
    sheet_create(fulfillment="Dormant", name="Dormant", source=sheet_text("Dormant"))
    sheet_create(fulfillment="South", name="Süd", source=sheet_text("South"), is_active=True)
    fields = ("fulfillment", "name", "source", "is_active", "action")
    before = list(Sheet.objects.order_by("fulfillment").values_list(*fields))
    text = sheets_file_text(sheets_export(identifiers=["North", "Dormant", "South"]))
    Sheet.objects.all().delete()  # a fresh install

    sheets_import(data=sheets_file_parse(text.encode()), user=None, dry_run=False)

    assert list(Sheet.objects.order_by("fulfillment").values_list(*fields)) == before
    exported_at = datetime.datetime.fromisoformat(sheets_file_parse(text.encode())["exported_at"])
    assert Sheet.objects.get(fulfillment="North").revisions.get().comment == (
        f"Imported from a file exported {exported_at:%Y-%m-%d %H:%M} UTC: Closer"
    )


def test_an_import_told_to_expect_its_dry_run_is_refused_when_the_sheets_changed() -> None:
    sheet = sheet_create(fulfillment="Edited", name="Edited", source=sheet_text("Edited"))
    data = sheets_file(sheet_entry("Edited", name="Renamed"))
    shown = sheets_import(data=data, user=None, dry_run=True)
    sheet_update(sheet=sheet, comment="meanwhile", source=sheet_text("Edited") + "# x\n")
    before = table_rows()

    with pytest.raises(ConflictError) as caught:
        sheets_import(data=data, user=None, dry_run=False, expected=shown.fingerprint)

    assert caught.value.message == (
        "The file or the sheets changed since the dry run; check the new dry run before importing."
    )
    assert table_rows() == before


def test_new_sheets_need_the_create_permission() -> None:
    editor = User.objects.create_user("editor")
    editor.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_sheets", "edit_sheets"])
    )
    sheet_create(fulfillment="Edited", name="Edited", source=sheet_text("Edited"))
    before = table_rows()

    with pytest.raises(ForbiddenError) as caught:
        sheets_import(
            data=sheets_file(sheet_entry("Edited"), sheet_entry("Fresh")),
            user=editor,
            dry_run=True,
        )

    assert caught.value.message == (
        "Importing new sheets needs the permission SymphonySheets:Create; "
        "this file would create 'Fresh'."
    )
    assert table_rows() == before
    changed_only = sheets_import(
        data=sheets_file(sheet_entry("Edited")), user=editor, dry_run=False
    )
    assert [p.status for p in changed_only.sheets] == [Status.CHANGED]


def test_a_long_file_comment_is_cut_to_fit_the_revision() -> None:
    at = datetime.datetime(2026, 12, 1, 9, 30, tzinfo=datetime.UTC)
    comment = imported_comment(exported_at=at, comment="x" * 500)
    assert len(comment) == 500
    assert comment.startswith("Imported from a file exported 2026-12-01 09:30 UTC: xxx")
    assert comment.endswith("x…")


# --- Refusals ---------------------------------------------------------------------------


def test_a_file_with_a_parse_error_is_refused_naming_sheet_line_and_column() -> None:
    sheet_create(fulfillment="Good", name="Good", source=sheet_text("Good"))
    error = refusal(
        sheets_file(
            sheet_entry("Good", name="Good, renamed"),
            sheet_entry("Broken", source="fulfillment Broken\naction CANCL\n"),
        )
    )

    assert error.code == "invalid"
    assert error.message == "Sheet 'Broken', line 2, column 1: unknown action 'CANCL'"
    assert error.errors == [
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
    ]


def test_a_source_naming_another_identifier_is_refused_at_its_fulfillment_line() -> None:
    source = "# Moved from the test install\n\n  fulfillment Other\naction CANCEL\n"
    error = refusal(sheets_file(sheet_entry("Mine", source=source)))

    assert error.errors == [
        {
            "code": "fulfillment_mismatch",
            "message": "Sheet 'Mine', line 3, column 3: the source says 'fulfillment Other', "
            "but the sheet's fulfillment identifier is 'Mine'; they must be the same.",
            "field": "sheets[0].fulfillment",
            "line": 3,
            "column": 3,
            "end_line": 3,
            "end_column": 20,
            "hint": None,
        }
    ]


def test_every_problem_of_the_file_is_named_at_once() -> None:
    error = refusal(
        sheets_file(
            sheet_entry("Scopeless", source=sheet_text("Scopeless") + "require [Supplier.X] > 1\n"),
            sheet_entry("Mismatch", source=sheet_text("Other")),
        )
    )

    assert [(e["field"], e["message"]) for e in error.errors] == [
        (
            "sheets[0].source",
            "Sheet 'Scopeless', line 3, column 1: 'require' must be inside a scope; "
            "add a 'scope' line above it",
        ),
        (
            "sheets[1].fulfillment",
            "Sheet 'Mismatch', line 1, column 1: the source says 'fulfillment Other', but "
            "the sheet's fulfillment identifier is 'Mismatch'; they must be the same.",
        ),
    ]
    assert error.message == (
        "Sheet 'Scopeless', line 3, column 1: 'require' must be inside a scope; "
        "add a 'scope' line above it (and 1 more problem)"
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "The file is not JSON: Expecting value: line 1 column 1 (char 0)"),
        (
            b'{"format_version": 1,',
            "The file is not JSON: Expecting property name enclosed in "
            "double quotes: line 1 column 22 (char 21)",
        ),
        # Saved in another encoding (Notepad, a PowerShell '>'): said so, not Python's
        # "'utf-8' codec can't decode byte 0xff in position 0: invalid start byte".
        (
            '{"format_version": 1}'.encode("utf-16"),
            "The file is UTF-16 text; a sheets file is UTF-8, as an export writes it. Save "
            "it as UTF-8 (a PowerShell '>' writes UTF-16).",
        ),
        (
            b'{"sheets": [{"name": "Caf\xe9"}]}',
            "The file is not UTF-8 text: byte 0xe9 at position 25 is not UTF-8. A sheets "
            "file is UTF-8, as an export writes it; was it saved in another encoding?",
        ),
        (
            b'\xef\xbb\xbf{"format_version": 1}',
            "The file starts with a byte order mark (BOM), which JSON does not allow. Save "
            "it as UTF-8 without a BOM, as an export writes it.",
        ),
    ],
)
def test_a_file_that_is_not_json_is_refused(content: bytes, message: str) -> None:
    with pytest.raises(ApplicationError) as caught:
        sheets_file_parse(content)
    assert (caught.value.code, caught.value.message) == ("not_json", message)


@pytest.mark.parametrize(
    ("content", "code", "message"),
    [
        (
            b'{"sheets": [{"name": "a\\u0000"}]}',
            "null_characters_not_allowed",
            "The file cannot be imported: Text may not contain the NUL character (\\u0000), "
            "found at sheets[0].name.",
        ),
        (
            b'{"sheets": [{"comment": "\\ud800"}]}',
            "surrogate_characters_not_allowed",
            "The file cannot be imported: Text may not contain a lone surrogate (\\ud800), "
            "found at sheets[0].comment.",
        ),
    ],
)
def test_a_character_no_database_stores_is_refused_naming_where(
    content: bytes, code: str, message: str
) -> None:
    with pytest.raises(ApplicationError) as caught:
        sheets_file_parse(content)
    assert caught.value.message == message
    # The problems the Suite's page and manage.py list name where, too.
    item = message.removeprefix("The file cannot be imported: ")
    field = message.rsplit(" ", 1)[1].rstrip(".")
    assert caught.value.errors == [{"code": code, "message": item, "field": field}]


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (
            [],
            None,
            "The file must be a JSON object with format_version, exported_at and sheets; "
            "this one is a list.",
        ),
        (
            {"exported_at": EXPORTED_AT, "sheets": []},
            "format_version",
            "format_version is missing: this install reads sheet files of format version 1.",
        ),
        (
            sheets_file(format_version=2),
            "format_version",
            "format_version is 2: this install reads sheet files of format version 1 only.",
        ),
        (
            sheets_file(format_version="1"),
            "format_version",
            'format_version is "1": this install reads sheet files of format version 1 only.',
        ),
        (
            sheets_file(format_version=True),
            "format_version",
            "format_version is true: this install reads sheet files of format version 1 only.",
        ),
        (
            {"format_version": 1, "sheets": []},
            "exported_at",
            "exported_at is missing: when the file was exported, e.g. 2026-12-06T10:48:00+00:00.",
        ),
        (
            sheets_file(exported_at="yesterday"),
            "exported_at",
            "exported_at must be a date and time with its offset, e.g. "
            '2026-12-06T10:48:00+00:00; it is "yesterday".',
        ),
        (
            sheets_file(exported_at="0001-01-01T00:00:00+14:00"),
            "exported_at",
            'exported_at is out of range: it is "0001-01-01T00:00:00+14:00"; a file is '
            "exported in the years 2 to 9998.",
        ),
        (
            sheets_file(exported_at="9999-12-31T23:59:59+00:00"),
            "exported_at",
            'exported_at is out of range: it is "9999-12-31T23:59:59+00:00"; a file is '
            "exported in the years 2 to 9998.",
        ),
        (
            {"format_version": 1, "exported_at": EXPORTED_AT},
            "sheets",
            "sheets is missing: the file's list of sheets.",
        ),
        (
            sheets_file(sheets={"A": {}}),
            "sheets",
            "sheets must be a list of sheets; it is an object.",
        ),
        (
            sheets_file(origin="test"),
            "origin",
            "Unknown field 'origin': a sheet file has format_version, exported_at and sheets.",
        ),
        (
            sheets_file("A"),
            "sheets[0]",
            "The sheet at sheets[0] must be an object with fulfillment, name, is_active, "
            'comment and source; it is "A".',
        ),
        (
            sheets_file({"name": "A", "is_active": True, "source": ""}),
            "sheets[0].fulfillment",
            "The sheet at sheets[0]: fulfillment is missing: the sheet's identifier.",
        ),
        (
            sheets_file(sheet_entry("A"), sheet_entry(7, name="Seven", source="")),
            "sheets[1].fulfillment",
            "The sheet at sheets[1]: fulfillment must be text; it is 7.",
        ),
        (
            sheets_file(sheet_entry("Two words", source="")),
            "sheets[0].fulfillment",
            'The sheet at sheets[0]: fulfillment "Two words" is not an identifier. '
            "Use letters, digits and underscores, starting with a letter or underscore.",
        ),
        # "$" matches before a final line break: the identifier check must not.
        (
            sheets_file(sheet_entry("Ending\n", source=sheet_text("Ending"))),
            "sheets[0].fulfillment",
            'The sheet at sheets[0]: fulfillment "Ending\\n" is not an identifier. '
            "Use letters, digits and underscores, starting with a letter or underscore.",
        ),
        (
            sheets_file(sheet_entry("A" * 101, source="")),
            "sheets[0].fulfillment",
            "The sheet at sheets[0]: fulfillment is at most 100 characters; this one has 101.",
        ),
        (
            sheets_file(sheet_entry("A", name="N" * 201)),
            "sheets[0].name",
            "Sheet 'A': name is at most 200 characters; this one has 201.",
        ),
        (
            sheets_file(sheet_entry("A", name="  ")),
            "sheets[0].name",
            "Sheet 'A': name is empty; give the sheet a name.",
        ),
        (
            sheets_file({"fulfillment": "A", "is_active": True, "source": sheet_text("A")}),
            "sheets[0].name",
            "Sheet 'A': name is missing.",
        ),
        (
            sheets_file(sheet_entry("A", name=None)),
            "sheets[0].name",
            "Sheet 'A': name must be text; it is null.",
        ),
        (
            sheets_file(sheet_entry("A", comment="c" * 501)),
            "sheets[0].comment",
            "Sheet 'A': comment is at most 500 characters; this one has 501.",
        ),
        (
            sheets_file(sheet_entry("A", is_active="yes")),
            "sheets[0].is_active",
            "Sheet 'A': is_active must be true or false; it is \"yes\".",
        ),
        (
            sheets_file(sheet_entry("A", source=["fulfillment A"])),
            "sheets[0].source",
            "Sheet 'A': source must be text; it is a list.",
        ),
        (
            sheets_file(sheet_entry("A", active=True)),
            "sheets[0].active",
            "Sheet 'A': unknown field 'active'; a sheet has fulfillment, name, is_active, "
            "comment and source.",
        ),
        (
            sheets_file(sheet_entry("A", **{"x" * 1000: 1})),
            "sheets[0]." + "x" * 1000,
            f"Sheet 'A': unknown field '{'x' * 39}…'; a sheet has fulfillment, name, "
            "is_active, comment and source.",
        ),
        (
            sheets_file(sheet_entry("A"), sheet_entry("B"), sheet_entry("A")),
            "sheets[2].fulfillment",
            "Sheet 'A' is in the file twice: sheets[0] and sheets[2].",
        ),
    ],
)
def test_a_malformed_file_is_refused_naming_the_sheet_and_field(
    data: Any, field: str | None, message: str
) -> None:
    sheet_create(fulfillment="A", name="A", source=sheet_text("A"))

    error = refusal(data)

    assert error.code == "invalid"
    assert (error.errors[0]["field"], error.errors[0]["message"]) == (field, message)
    assert error.message == message


def test_a_file_with_very_many_problems_lists_the_first_thousand_and_counts_the_rest() -> None:
    """600 KB of empty sheets were 800,000 problems: a 99 MB answer to a small request."""
    error = refusal(sheets_file(*[{}] * 2_000))  # four problems each

    assert len(error.errors) == 1_001
    assert error.errors[-1] == {
        "code": "too_many_problems",
        "message": "7,000 more problems are not listed; fix these first.",
        "field": None,
    }
    assert error.message == (
        "The sheet at sheets[0]: fulfillment is missing: the sheet's identifier. "
        "(and 7,999 more problems)"
    )
