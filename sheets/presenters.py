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
from decimal import Decimal
from typing import Any

from django.http import QueryDict
from rest_framework.exceptions import ParseError

from orchestration.api.parsers import parse_json
from orchestration.language import visual
from orchestration.language.formatter import format_literal
from orchestration.language.visual import Slot
from orchestration.models import SheetRevision

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


def revision_diff(old: SheetRevision, new: SheetRevision) -> dict[str, Any]:
    """Two revisions side by side: the sources' table, the other fields that changed."""
    table = difflib.HtmlDiff(tabsize=4).make_table(
        old.source.split("\n"),
        new.source.split("\n"),
        fromdesc=f"Revision {old.number}",
        todesc=f"Revision {new.number}",
    )
    changes = []
    for label, before, after in (
        ("Name", old.name, new.name),
        ("Fulfillment identifier", old.fulfillment, new.fulfillment),
        ("Active", old.is_active, new.is_active),
    ):
        if before != after:
            changes.append({"label": label, "before": before, "after": after})
    return {
        "old": old,
        "new": new,
        "table": table,
        "changes": changes,
        "same_source": old.source == new.source,
    }


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
