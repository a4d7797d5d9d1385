"""Sheets travel between installs: one JSON file out, a dry run and an all-or-nothing import in.

A designer builds sheets on a test install and moves them to production. The Suite's
export and import pages, the API (``GET /api/sheets/export/``, ``POST
/api/sheets/import/``) and ``manage.py sheets`` all go through this module, so a file
is read, refused and applied the same way whichever entrance it came through.

The file (``FORMAT_VERSION`` 1)::

    {"format_version": 1, "exported_at": "2026-12-06T10:48:00+00:00",
     "sheets": [{"fulfillment": "ShipFromStore", "name": "Ship from store",
                 "is_active": true, "comment": "Tuned the distance", "source": "..."}]}

``exported_at`` is the exporting install's clock; ``comment`` the comment of the
sheet's current revision there (optional on import).

Importing matches sheets by fulfillment identifier. A sheet the install lacks is
created; one whose name, source or active flag differ gets a new revision (through
``services.sheets``, so history is never overwritten and nothing is deleted); an
unchanged one gets none. Every revision's comment says it was imported, and keeps the
file's comment. A file with any problem is refused whole, before anything is written,
with every problem named: the sheet (by identifier, else its place in the file), the
field, and for a source the line and column the sheet language's checker gives
(``sheets.sheet_problems``: the same check as every save). A dry run is the same
call without the writes.
"""

import codecs
import datetime
import difflib
import hashlib
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction
from django.db.models import CharField
from django.utils import timezone
from rest_framework.exceptions import ParseError

from ..api.parsers import RefusedText, parse_json
from ..errors import ApplicationError, ConflictError, ForbiddenError
from ..language import nodes
from ..language.lines import normalize
from ..language.parser import parse
from ..models import Sheet, SheetRevision
from ..permissions import CREATE_SHEETS, display_name
from ..selectors.sheets import sheets_by_identifier, sheets_for_export
from ..validators import IDENTIFIER_PATTERN, validate_identifier
from .sheets import sheet_create, sheet_problems, sheet_update

FORMAT_VERSION = 1
# A refusal lists at most this many problems, then says how many more (as the sheet
# language's checker does for one sheet): 600 KB of empty sheets are 800,000 problems,
# which listed whole were a 99 MB answer to a small request (and a page as large).
MAX_PROBLEMS = 1_000
FILE_FIELDS = ("format_version", "exported_at", "sheets")
SHEET_FIELDS = ("fulfillment", "name", "is_active", "comment", "source")


def _max_length(model: type[Sheet] | type[SheetRevision], name: str) -> int:
    field = model._meta.get_field(name)
    assert isinstance(field, CharField) and field.max_length is not None
    return field.max_length


NAME_LENGTH = _max_length(Sheet, "name")
FULFILLMENT_LENGTH = _max_length(Sheet, "fulfillment")
COMMENT_LENGTH = _max_length(SheetRevision, "comment")


class Status(StrEnum):
    """What importing does to one sheet of the file."""

    NEW = "new"
    CHANGED = "changed"
    UNCHANGED = "unchanged"


@dataclass(frozen=True, slots=True)
class FieldChange:
    """A field other than the source that the import changes: ``name`` or ``is_active``."""

    field: str
    before: str | bool
    after: str | bool


@dataclass(frozen=True, slots=True)
class SheetPlan:
    """One sheet of the file and what importing does with it.

    ``sheet_id`` and ``revision`` are the install's sheet and its revision: before the
    import on a dry run (None for a new sheet), after it once applied. ``old_source``
    is the install's source (None for a new sheet); ``source_diff`` the unified diff
    from it to the file's ("" when the source is the same).
    """

    fulfillment: str
    name: str
    is_active: bool
    source: str
    comment: str
    status: Status
    sheet_id: int | None
    revision: int | None
    old_source: str | None
    changes: tuple[FieldChange, ...]
    source_diff: str

    @property
    def source_changed(self) -> bool:
        return self.old_source is not None and self.old_source != self.source


@dataclass(frozen=True, slots=True)
class ImportPlan:
    """What an import does (``dry_run``) or did, sheet by sheet in the file's order.

    ``fingerprint`` names the file and the install's sheets it was planned against: an
    import told to expect it (``sheets_import(expected=...)``) is refused if either
    changed since the dry run that showed it.
    """

    exported_at: datetime.datetime
    dry_run: bool
    sheets: tuple[SheetPlan, ...]
    fingerprint: str

    def with_status(self, status: Status) -> list[SheetPlan]:
        return [sheet for sheet in self.sheets if sheet.status == status]

    @property
    def summary(self) -> str:
        """``2 new, 1 changed, 3 unchanged``."""
        return ", ".join(f"{len(self.with_status(status))} {status}" for status in Status)


# --- Export -----------------------------------------------------------------------------


def sheets_export(*, identifiers: Collection[str] | None = None) -> dict[str, Any]:
    """The export file's content: every active sheet, or the sheets named by fulfillment
    identifier (active or not), sorted by identifier. Refuses an identifier no sheet has
    (``field``: ``identifier``)."""
    wanted = None if identifiers is None else list(dict.fromkeys(identifiers))
    sheets = sheets_for_export(identifiers=wanted)
    found = {sheet.fulfillment for sheet in sheets}
    missing = [name for name in wanted or () if name not in found]
    if missing:
        raise ApplicationError(
            f"No sheet has the fulfillment identifier {_quoted(missing[0])}; nothing was exported.",
            code="unknown_identifier",
            field="identifier",
        )
    return {
        "format_version": FORMAT_VERSION,
        "exported_at": timezone.now().isoformat(timespec="seconds"),
        "sheets": [
            {
                "fulfillment": sheet.fulfillment,
                "name": sheet.name,
                "is_active": sheet.is_active,
                "comment": getattr(sheet, "comment", None) or "",
                "source": sheet.source,
            }
            for sheet in sheets
        ],
    }


def sheets_file_text(content: Mapping[str, Any]) -> str:
    """The export as the file's text: indented JSON, UTF-8 as is, a final line break."""
    return json.dumps(content, indent=2, ensure_ascii=False) + "\n"


def sheets_file_name(content: Mapping[str, Any]) -> str:
    """``sheets-20261206-1048.json``, after the export's time."""
    at = datetime.datetime.fromisoformat(str(content["exported_at"]))
    return f"sheets-{at:%Y%m%d-%H%M}.json"


# --- Reading a file ---------------------------------------------------------------------


def sheets_file_parse(content: bytes) -> Any:
    """The file's JSON, under the API's limits (depth, NUL, lone surrogates); refused
    as ``not_json`` otherwise. What it holds is checked by ``sheets_import``.

    A file saved in another encoding (UTF-16 by a PowerShell ``>``, Latin-1, UTF-8 with
    a byte order mark by an old Notepad) is refused saying so, not with Python's codec
    message."""
    _refuse_encoding(content)
    try:
        return parse_json(content)
    except RefusedText as error:
        # Each item says where, as the message does: the Suite's page and ``manage.py``
        # list the items alone ("found at sheets[0].name").
        errors = [{**item, "message": str(error.detail)} for item in error.errors]
        raise ApplicationError(
            f"The file cannot be imported: {error.detail}", code="not_json", errors=errors
        ) from None
    except ParseError as error:
        detail = str(error.detail).removeprefix("JSON parse error - ")
        raise ApplicationError(f"The file is not JSON: {detail}", code="not_json") from None


def _refuse_encoding(content: bytes) -> None:
    if content.startswith(codecs.BOM_UTF8):
        raise ApplicationError(
            "The file starts with a byte order mark (BOM), which JSON does not allow. Save it "
            "as UTF-8 without a BOM, as an export writes it.",
            code="not_json",
        )
    if content.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ApplicationError(
            "The file is UTF-16 text; a sheets file is UTF-8, as an export writes it. Save it "
            "as UTF-8 (a PowerShell '>' writes UTF-16).",
            code="not_json",
        )
    try:
        content.decode()
    except UnicodeDecodeError as error:
        raise ApplicationError(
            f"The file is not UTF-8 text: byte 0x{content[error.start]:02x} at position "
            f"{error.start:,} is not UTF-8. A sheets file is UTF-8, as an export writes it; "
            "was it saved in another encoding?",
            code="not_json",
        ) from None


def _shown(value: Any) -> str:
    """A value of the file as the messages quote it: JSON, cut short."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:39] + "…"


def _quoted(text: str) -> str:
    """A name from the file, quoted as Python does (``'colour'``), cut short."""
    return repr(text if len(text) <= 40 else text[:39] + "…")


class _Problems:
    """The problems found in a file, as API error items."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def add(self, field: str | None, code: str, message: str, **position: Any) -> None:
        self.items.append({"code": code, "message": message, "field": field, **position})

    def refuse(self) -> None:
        if not self.items:
            return
        first, more = self.items[0]["message"], len(self.items) - 1
        if more:
            first += f" (and {more:,} more problem{'s' if more > 1 else ''})"
        listed = self.items[:MAX_PROBLEMS]
        if len(self.items) > MAX_PROBLEMS:
            listed.append(
                {
                    "code": "too_many_problems",
                    "message": f"{len(self.items) - MAX_PROBLEMS:,} more problems are not "
                    "listed; fix these first.",
                    "field": None,
                }
            )
        raise ApplicationError(first, code="invalid", errors=listed)


@dataclass(frozen=True, slots=True)
class _Entry:
    fulfillment: str
    name: str
    is_active: bool
    comment: str
    source: str


def _read_file(data: Any) -> tuple[datetime.datetime, list[_Entry]]:
    """The file's time and sheets, or ``ApplicationError`` naming every problem."""
    problems = _Problems()
    if not isinstance(data, dict):
        problems.add(
            None,
            "invalid",
            "The file must be a JSON object with format_version, exported_at and sheets; "
            f"this one is {_shown(data)}.",
        )
        problems.refuse()
    for key in data:
        if key not in FILE_FIELDS:
            problems.add(
                str(key),
                "unknown_field",
                f"Unknown field {_quoted(key)}: a sheet file has format_version, exported_at "
                "and sheets.",
            )
    version = data.get("format_version")
    if "format_version" not in data:
        problems.add(
            "format_version",
            "required",
            f"format_version is missing: this install reads sheet files of format version "
            f"{FORMAT_VERSION}.",
        )
    elif type(version) is not int or version != FORMAT_VERSION:
        problems.add(
            "format_version",
            "unsupported_format_version",
            f"format_version is {_shown(version)}: this install reads sheet files of format "
            f"version {FORMAT_VERSION} only.",
        )
    problems.refuse()  # another version may mean anything by the rest
    exported_at = _exported_at(data, problems)
    sheets = data.get("sheets")
    if not isinstance(sheets, list):
        problems.add(
            "sheets",
            "invalid" if "sheets" in data else "required",
            f"sheets must be a list of sheets; it is {_shown(sheets)}."
            if "sheets" in data
            else "sheets is missing: the file's list of sheets.",
        )
        sheets = []
    entries = _read_sheets(sheets, problems)
    problems.refuse()
    assert exported_at is not None
    return exported_at, entries


def _exported_at(data: dict[str, Any], problems: _Problems) -> datetime.datetime | None:
    raw = data.get("exported_at")
    example = "2026-12-06T10:48:00+00:00"
    if "exported_at" not in data:
        problems.add(
            "exported_at",
            "required",
            f"exported_at is missing: when the file was exported, e.g. {example}.",
        )
        return None
    parsed = None
    if isinstance(raw, str):
        try:
            parsed = datetime.datetime.fromisoformat(raw)
        except ValueError:
            parsed = None
    if parsed is None or parsed.tzinfo is None:
        problems.add(
            "exported_at",
            "invalid",
            f"exported_at must be a date and time with its offset, e.g. {example}; "
            f"it is {_shown(raw)}.",
        )
        return None
    try:  # in UTC, and a day from the calendar's ends: shown in any time zone
        parsed = parsed.astimezone(datetime.UTC)
        in_range = datetime.MINYEAR < parsed.year < datetime.MAXYEAR
    except OverflowError:
        in_range = False
    if not in_range:
        problems.add(
            "exported_at",
            "invalid",
            f"exported_at is out of range: it is {_shown(raw)}; a file is exported in the "
            f"years 2 to 9998.",
        )
        return None
    return parsed


def _read_sheets(sheets: list[Any], problems: _Problems) -> list[_Entry]:
    entries: list[_Entry] = []
    first_place: dict[str, int] = {}
    for index, item in enumerate(sheets):
        at = f"sheets[{index}]"
        if not isinstance(item, dict):
            problems.add(
                at,
                "invalid",
                f"The sheet at {at} must be an object with fulfillment, name, is_active, "
                f"comment and source; it is {_shown(item)}.",
            )
            continue
        before = len(problems.items)
        fulfillment = _identifier(item, at, problems)
        who = f"Sheet {fulfillment!r}" if fulfillment is not None else f"The sheet at {at}"
        for key in item:
            if key not in SHEET_FIELDS:
                problems.add(
                    f"{at}.{key}",
                    "unknown_field",
                    f"{who}: unknown field {_quoted(key)}; a sheet has fulfillment, name, "
                    "is_active, comment and source.",
                )
        name = _text(item, at, "name", who, problems, limit=NAME_LENGTH)
        if name is not None and not name.strip():
            problems.add(f"{at}.name", "blank", f"{who}: name is empty; give the sheet a name.")
        comment = _text(item, at, "comment", who, problems, limit=COMMENT_LENGTH, required=False)
        source = _text(item, at, "source", who, problems)
        is_active = item.get("is_active")
        if not isinstance(is_active, bool):
            problems.add(
                f"{at}.is_active",
                "required" if "is_active" not in item else "invalid",
                f"{who}: is_active is missing: true or false."
                if "is_active" not in item
                else f"{who}: is_active must be true or false; it is {_shown(is_active)}.",
            )
        if fulfillment is not None:
            if fulfillment in first_place:
                problems.add(
                    f"{at}.fulfillment",
                    "duplicate",
                    f"{who} is in the file twice: sheets[{first_place[fulfillment]}] and {at}.",
                )
            else:
                first_place[fulfillment] = index
        if fulfillment is not None and source is not None:
            _check_source(fulfillment, normalize(source), at, problems)
        if len(problems.items) == before:
            assert fulfillment is not None and name is not None and source is not None
            assert isinstance(is_active, bool)
            # Name and comment trimmed, as every other way of saving a sheet trims them.
            entries.append(
                _Entry(
                    fulfillment, name.strip(), is_active, (comment or "").strip(), normalize(source)
                )
            )
    return entries


def _identifier(item: dict[str, Any], at: str, problems: _Problems) -> str | None:
    value = item.get("fulfillment")
    who = f"The sheet at {at}"
    field = f"{at}.fulfillment"
    if "fulfillment" not in item:
        problems.add(field, "required", f"{who}: fulfillment is missing: the sheet's identifier.")
    elif not isinstance(value, str):
        problems.add(field, "invalid", f"{who}: fulfillment must be text; it is {_shown(value)}.")
    elif len(value) > FULFILLMENT_LENGTH:
        problems.add(
            field,
            "max_length",
            f"{who}: fulfillment is at most {FULFILLMENT_LENGTH} characters; "
            f"this one has {len(value)}.",
        )
    elif not IDENTIFIER_PATTERN.fullmatch(value):  # "$" would let a final "\n" by
        problems.add(
            field,
            "invalid",
            f"{who}: fulfillment {_shown(value)} is not an identifier. "
            f"{validate_identifier.message}",
        )
    else:
        return value
    return None


def _text(
    item: dict[str, Any],
    at: str,
    name: str,
    who: str,
    problems: _Problems,
    *,
    limit: int | None = None,
    required: bool = True,
) -> str | None:
    value = item.get(name)
    field = f"{at}.{name}"
    if name not in item and not required:
        return ""
    if name not in item:
        problems.add(field, "required", f"{who}: {name} is missing.")
    elif not isinstance(value, str):
        problems.add(field, "invalid", f"{who}: {name} must be text; it is {_shown(value)}.")
    elif limit is not None and len(value) > limit:
        problems.add(
            field,
            "max_length",
            f"{who}: {name} is at most {limit} characters; this one has {len(value)}.",
        )
    else:
        return value
    return None


def _check_source(fulfillment: str, source: str, at: str, problems: _Problems) -> None:
    """The sheet language's own check, as every save runs it (``sheet_problems``).

    A source whose ``fulfillment`` line names another identifier than the sheet's is
    refused at that line (the check gives that problem no position: in the editor the
    identifier is a field of its own)."""
    for problem in sheet_problems(fulfillment=fulfillment, source=source):
        position: dict[str, Any] = {
            key: problem[key]
            for key in ("line", "column", "end_line", "end_column", "hint")
            if key in problem
        }
        message = problem["message"]
        if not position and problem["code"] == "fulfillment_mismatch":
            position = _fulfillment_line(source)
            message = f"line {position['line']}, column {position['column']}: " + (
                message[:1].lower() + message[1:]
            )
        # A positioned problem's message starts "line L, column C: ".
        joiner = ", " if position else ": "
        problems.add(
            f"{at}.{problem['field']}",
            problem["code"],
            f"Sheet {fulfillment!r}{joiner}{message}",
            **position,
        )


def _fulfillment_line(source: str) -> dict[str, Any]:
    """Where the source's ``fulfillment`` statement is, as a problem's position."""
    parsed, _ = parse(source)
    for statement in parsed.statements:
        if isinstance(statement, nodes.Fulfillment):
            span = statement.span
            return {
                "line": span.line,
                "column": span.column,
                "end_line": span.end_line,
                "end_column": span.end_column,
                "hint": None,
            }
    return {"line": 1, "column": 1, "end_line": 1, "end_column": 1, "hint": None}


# --- Planning and applying --------------------------------------------------------------


def _plan_entry(entry: _Entry, sheet: Sheet | None) -> SheetPlan:
    if sheet is None:
        return SheetPlan(
            entry.fulfillment,
            entry.name,
            entry.is_active,
            entry.source,
            entry.comment,
            Status.NEW,
            None,
            None,
            None,
            (),
            "",
        )
    changes = tuple(
        FieldChange(field, before, after)
        for field, before, after in (
            ("name", sheet.name, entry.name),
            ("is_active", sheet.is_active, entry.is_active),
        )
        if before != after
    )
    diff = ""
    if sheet.source != entry.source:
        # Split at "\n" only: the lines the checker counts (``language.lines``).
        diff = "\n".join(
            difflib.unified_diff(
                sheet.source.split("\n"),
                entry.source.split("\n"),
                fromfile=f"{entry.fulfillment} (revision {sheet.revision})",
                tofile=f"{entry.fulfillment} (file)",
                lineterm="",
            )
        )
    changed = bool(changes) or sheet.source != entry.source
    return SheetPlan(
        entry.fulfillment,
        entry.name,
        entry.is_active,
        entry.source,
        entry.comment,
        Status.CHANGED if changed else Status.UNCHANGED,
        sheet.pk,
        sheet.revision,
        sheet.source,
        changes,
        diff,
    )


def _fingerprint(data: Any, plans: list[SheetPlan]) -> str:
    digest = hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode())
    for plan in plans:
        digest.update(f"\0{plan.fulfillment}\0{plan.sheet_id}\0{plan.revision}".encode())
    return digest.hexdigest()[:32]


def imported_comment(*, exported_at: datetime.datetime, comment: str) -> str:
    """A revision's comment for an imported sheet: that it was imported and when the
    file was made, then the file's comment, cut to fit ``SheetRevision.comment``."""
    stamp = exported_at.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = f"Imported from a file exported {stamp}"
    if comment:
        text += f": {comment}"
    return text if len(text) <= COMMENT_LENGTH else text[: COMMENT_LENGTH - 1] + "…"


def sheets_import(
    *,
    data: Any,
    user: User | AnonymousUser | None,
    dry_run: bool,
    expected: str | None = None,
) -> ImportPlan:
    """Import the parsed file ``data`` (see the module's docstring), or only say what it
    would do (``dry_run``): new, changed (and how) or unchanged, sheet by sheet.

    All or nothing, in one transaction. Refused with ``ApplicationError`` (code
    ``invalid``, every problem in ``errors``) for a file with any problem; with
    ``ForbiddenError`` when ``user`` (None: the install's operator, ``manage.py``) may
    not create sheets and the file has new ones; with ``ConflictError`` when
    ``expected`` is given and is not the plan's ``fingerprint`` (the file or the sheets
    changed since the dry run that showed it).
    """
    exported_at, entries = _read_file(data)
    with transaction.atomic():
        existing = sheets_by_identifier([e.fulfillment for e in entries], lock=not dry_run)
        plans = [_plan_entry(entry, existing.get(entry.fulfillment)) for entry in entries]
        plan = ImportPlan(exported_at, dry_run, tuple(plans), _fingerprint(data, plans))
        new = [p.fulfillment for p in plans if p.status == Status.NEW]
        if new and user is not None and not user.has_perm(CREATE_SHEETS):
            raise ForbiddenError(
                f"Importing new sheets needs the permission {display_name(CREATE_SHEETS)}; "
                f"this file would create {', '.join(repr(name) for name in new)}.",
                code="permission_denied",
            )
        if expected is not None and expected != plan.fingerprint:
            raise ConflictError(
                "The file or the sheets changed since the dry run; check the new dry run "
                "before importing.",
                code="conflict",
            )
        if dry_run:
            return plan
        applied = [
            _apply(entry, sheet_plan, existing.get(entry.fulfillment), exported_at, user)
            for entry, sheet_plan in zip(entries, plans, strict=True)
        ]
    return replace(plan, sheets=tuple(applied))


def _apply(
    entry: _Entry,
    plan: SheetPlan,
    sheet: Sheet | None,
    exported_at: datetime.datetime,
    user: User | AnonymousUser | None,
) -> SheetPlan:
    comment = imported_comment(exported_at=exported_at, comment=entry.comment)
    if plan.status == Status.UNCHANGED:
        return plan
    if sheet is None:
        sheet = sheet_create(
            fulfillment=entry.fulfillment,
            name=entry.name,
            source=entry.source,
            is_active=entry.is_active,
            user=user,
            comment=comment,
        )
    else:
        sheet = sheet_update(
            sheet=sheet,
            user=user,
            comment=comment,
            name=entry.name,
            source=entry.source,
            is_active=entry.is_active,
        )
    return replace(plan, sheet_id=sheet.pk, revision=sheet.revision)
