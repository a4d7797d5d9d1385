"""The sheet pages' view models: what a template needs, arranged from what the domain says.

The overview's sortable column headers, the editor's problem list (errors before
warnings, the order the live check keeps), a diff of two revisions, and the visual
editor's sections with each editable value as stored or as typed. Nothing here reads
the database or writes; the views fetch and save, these arrange.
"""

import contextlib
import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.http import QueryDict
from rest_framework.exceptions import ParseError

from orchestration.api.parsers import parse_json
from orchestration.language import visual
from orchestration.language.errors import Span
from orchestration.language.formatter import format_literal
from orchestration.language.visual import Slot
from orchestration.models import SheetRevision
from orchestration.services.sheet_transfer import ImportPlan, Status

COLUMNS = (
    ("id", "ID"),
    ("name", "Name"),
    ("fulfillment", "Fulfillment identifier"),
    ("action", "Action"),
    ("active", "Active"),
    ("revision", "Revision"),
    ("edited_by", "Last edited by"),
    ("edited", "Last edited"),
)


def sort_columns(query: QueryDict, sort: str) -> list[dict[str, str]]:
    """The overview's column headers: each links to the list sorted by it (the current
    column's link flips its direction) and says how the list is sorted now."""
    columns = []
    current = sort.lstrip("-")
    for key, title in COLUMNS:
        toggled = query.copy()
        toggled["sort"] = f"-{key}" if current == key and not sort.startswith("-") else key
        columns.append(
            {
                "key": key,
                "title": title,
                "href": "?" + toggled.urlencode(),
                "order": (
                    ("descending" if sort.startswith("-") else "ascending")
                    if current == key
                    else "none"
                ),
            }
        )
    return columns


def problems_listed(
    errors: list[dict[str, Any]], warnings: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """A sheet's problems as the editor lists them: its errors (which refuse a save),
    then its warnings (which do not), each with its severity."""
    for problem in errors:
        problem["severity"] = "error"
    return errors + [{**warning, "severity": "warning"} for warning in warnings]


def on_identifier_line(problems: list[dict[str, Any]], source: str) -> None:
    """Give a problem about the identifier (it has no position) the position of the
    source's ``fulfillment`` line, where the live check shows it."""
    for problem in problems:
        if problem["line"] is None:
            problem["line"], problem["column"] = _fulfillment_position(source)


def _fulfillment_position(source: str) -> tuple[int, int]:
    for number, text in enumerate(source.split("\n"), start=1):
        if text.lstrip().lower().startswith("fulfillment"):
            return number, len(text) - len(text.lstrip()) + 1
    return 1, 1


# Unchanged lines shown around each change; longer unchanged runs are collapsed.
DIFF_CONTEXT = 3


@dataclass(frozen=True, slots=True)
class DiffLine:
    """One line of a diff: its kind (``same``, ``del``, ``add``), its numbers in the old
    and the new source (None where it is not in that one), and its text."""

    kind: str
    old_number: int | None
    new_number: int | None
    text: str


@dataclass(frozen=True, slots=True)
class DiffHunk:
    """A change with its context; ``skipped`` unchanged lines come before it."""

    index: int  # 1-based, for "change 2 of 5" and its anchor
    skipped: int
    lines: tuple[DiffLine, ...]

    @property
    def rows(self) -> list[tuple[DiffLine | None, DiffLine | None]]:
        """Side by side: removed lines beside the lines added in their place."""
        rows: list[tuple[DiffLine | None, DiffLine | None]] = []
        removed: list[DiffLine] = []
        added: list[DiffLine] = []

        def flush() -> None:
            for index in range(max(len(removed), len(added))):
                rows.append(
                    (
                        removed[index] if index < len(removed) else None,
                        added[index] if index < len(added) else None,
                    )
                )
            removed.clear()
            added.clear()

        for line in self.lines:
            if line.kind == "del":
                removed.append(line)
            elif line.kind == "add":
                added.append(line)
            else:
                flush()
                rows.append((line, line))
        flush()
        return rows


def diff_hunks(before: str, after: str, *, context: int = DIFF_CONTEXT) -> list[DiffHunk]:
    """The changes from ``before`` to ``after``, line by line, each with ``context``
    unchanged lines around it; the unchanged runs between them are counted, not shown."""
    old_lines, new_lines = before.split("\n"), after.split("\n")
    matcher = difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False)
    hunks = []
    shown_to = 0  # the old source's lines up to here are shown or counted
    for index, group in enumerate(matcher.get_grouped_opcodes(context), start=1):
        lines: list[DiffLine] = []
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                lines.extend(
                    DiffLine("same", i + 1, j1 + (i - i1) + 1, old_lines[i]) for i in range(i1, i2)
                )
                continue
            if tag in ("replace", "delete"):
                lines.extend(DiffLine("del", i + 1, None, old_lines[i]) for i in range(i1, i2))
            if tag in ("replace", "insert"):
                lines.extend(DiffLine("add", None, j + 1, new_lines[j]) for j in range(j1, j2))
        first_old = group[0][1]
        hunks.append(DiffHunk(index, first_old - shown_to, tuple(lines)))
        shown_to = group[-1][2]
    return hunks


def shown(value: str | bool) -> str:
    """A field's value as a diff lists it: the active flag as "yes" or "no" (not
    Python's True and False), text as it is."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return value


def revision_diff(old: SheetRevision, new: SheetRevision) -> dict[str, Any]:
    """Two revisions compared: the sources' changes with some context (unified and
    side by side), the unchanged lines left after the last change, and the other
    fields that changed."""
    changes = []
    for label, before, after in (
        ("Name", old.name, new.name),
        ("Fulfillment identifier", old.fulfillment, new.fulfillment),
        ("Active", old.is_active, new.is_active),
    ):
        if before != after:
            changes.append({"label": label, "before": shown(before), "after": shown(after)})
    return {
        "old": old,
        "new": new,
        **source_diff(old.source, new.source),
        "changes": changes,
        "old_title": f"Revision {old.number}",
        "new_title": f"Revision {new.number}",
    }


def source_diff(before: str, after: str) -> dict[str, Any]:
    """What ``sheets/_diff_table.html`` shows of two sources: the changes with some
    context, and the unchanged lines left after the last change."""
    hunks = diff_hunks(before, after)
    last_shown = max(
        (line.old_number for hunk in hunks for line in hunk.lines if line.old_number), default=0
    )
    return {
        "hunks": hunks,
        "trailing": len(before.split("\n")) - last_shown if hunks else 0,
        "same_source": before == after,
    }


STATUS_LABELS = {Status.NEW: "New", Status.CHANGED: "Changed", Status.UNCHANGED: "Unchanged"}
FIELD_LABELS = {"name": "Name", "is_active": "Active"}


def import_plan_view(plan: ImportPlan) -> list[dict[str, Any]]:
    """The import's dry run, sheet by sheet: its status, the fields that change (as the
    revision diff lists them) and a changed source's diff (as the revision diff shows it)."""
    sheets = []
    for sheet in plan.sheets:
        view: dict[str, Any] = {
            "sheet": sheet,
            "status_label": STATUS_LABELS[sheet.status],
            "changes": [
                {"label": FIELD_LABELS[c.field], "before": shown(c.before), "after": shown(c.after)}
                for c in sheet.changes
            ],
            "anchor": f"sheet-{sheet.fulfillment}",
        }
        if sheet.source_changed and sheet.old_source is not None:
            view.update(
                source_diff(sheet.old_source, sheet.source),
                old_title=f"Revision {sheet.revision}",
                new_title="The file",
            )
        sheets.append(view)
    return sheets


def _slot_view(slot: Slot, typed: Mapping[str, Any] | None, invalid: set[Any]) -> dict[str, Any]:
    """What the template needs to show one editable value (as typed, if posted)."""

    def text(value: object) -> str:
        return format_literal(value) if isinstance(value, Decimal) else str(value)

    view: dict[str, Any] = {
        "id": slot.id,
        "kind": slot.kind,
        "name": f"slot-{slot.id}",
        "invalid": slot.id in invalid,
    }
    shown = typed.get(view["name"]) if typed is not None else None
    if slot.kind == visual.LIST:
        items = [text(item) for item in slot.value]  # type: ignore[attr-defined]
        if shown is not None:
            with contextlib.suppress(ParseError, TypeError):  # not a list: show the stored one
                items = [str(item) for item in parse_json(shown.encode(errors="replace"))]
        view.update(
            items=items,
            json=json.dumps(items),
            item_kind=slot.item_kind,
            picker=slot.picker or "",
        )
    elif slot.kind == visual.BOOLEAN:
        view["value"] = shown or ("true" if slot.value else "false")
    else:
        view["value"] = shown if shown is not None else text(slot.value)
        view["size"] = max(4, min(60, len(view["value"]) + 2))
    return view


def sections_view(
    sections: tuple[visual.Section, ...], typed: Mapping[str, Any] | None, invalid: set[Any]
) -> list[dict[str, Any]]:
    """The visual editor's sections, rows and segments; ``typed``: the values as posted
    (None: as stored), ``invalid``: the slots to mark."""
    return [
        {
            "title": section.title,
            "line": section.line,
            "comment": section.comment,
            "rows": [
                {
                    "line": row.line,
                    "kind": row.kind,
                    "comment": row.comment,
                    "segments": [
                        {"slot": _slot_view(s.slot, typed, invalid)}
                        if s.slot
                        else {"text": s.text, "code": s.code}
                        for s in row.segments
                    ],
                }
                for row in section.rows
            ],
        }
        for section in sections
    ]


def visual_refusal(
    error: visual.VisualEditError, described: visual.Visual, source: str
) -> dict[str, Any]:
    """A value the visual editor refused, named by its line, column and field (``slot``:
    the field to mark and link to)."""
    refusal: dict[str, Any] = {"slot": error.slot, "message": error.message}
    slot = described.slots.get(error.slot)
    if slot is not None:
        line, column = visual.slot_position(source, slot)
        refusal.update(line=line, column=column, field_name=visual.FIELD_NAMES[slot.kind])
    return refusal


def visual_problems(problems: list[dict[str, Any]], edited: str) -> list[dict[str, Any]]:
    """Why the edited sheet is refused (its problems, positioned in ``edited``), each
    about one value named by its field too, with its slot to mark and link to."""
    described = visual.describe(edited)
    for problem in problems:
        if problem.get("line") is None or described.diagnostics:
            continue
        span = Span(
            problem["line"],
            problem["column"],
            problem.get("end_line") or problem["line"],
            problem.get("end_column") or problem["column"],
        )
        slot = visual.slot_at(described, edited, span)
        if slot is not None:
            problem.update(slot=slot.id, field_name=visual.FIELD_NAMES[slot.kind])
    return problems
