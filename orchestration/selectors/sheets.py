"""Sheets and their revisions in the Suite."""

from collections.abc import Collection

from django.db.models import OuterRef, Q, QuerySet, Subquery

from ..models import (
    Sheet,
    SheetRevision,
)

# --- Sheets in the Suite ----------------------------------------------------------------

# The overview's sortable columns: what a designer clicks -> the ordering.
SHEET_SORTS: dict[str, tuple[str, ...]] = {
    "id": ("id",),
    "name": ("name", "id"),
    "fulfillment": ("fulfillment",),
    "action": ("action", "id"),
    "active": ("is_active", "id"),
    "revision": ("revision", "id"),
    "edited_by": ("updated_by__username", "id"),
    "edited": ("updated_at", "id"),
}


def sheet_list(
    *,
    include_inactive: bool = False,
    name: str = "",
    sheet_id: int | None = None,
    sort: str = "id",
) -> QuerySet[Sheet]:
    """Sheets for the overview: active only unless asked, filtered, sorted.

    ``sort`` is a key of ``SHEET_SORTS``, with ``-`` in front for descending;
    anything else sorts by ID.
    """
    sheets = Sheet.objects.select_related("updated_by")
    if not include_inactive:
        sheets = sheets.filter(is_active=True)
    if name:
        sheets = sheets.filter(Q(name__icontains=name) | Q(fulfillment__icontains=name))
    if sheet_id is not None:
        sheets = sheets.filter(pk=sheet_id)
    descending = sort.startswith("-")
    fields = SHEET_SORTS.get(sort.lstrip("-"), SHEET_SORTS["id"])
    return sheets.order_by(*(f"-{field}" if descending else field for field in fields))


def sheet_revision_list(sheet: Sheet) -> QuerySet[SheetRevision]:
    """A sheet's revisions, newest first, with their authors."""
    return sheet.revisions.select_related("author").order_by("-number")


def sheet_revisions_numbered(sheet: Sheet, numbers: Collection[int]) -> dict[int, SheetRevision]:
    """The sheet's revisions with these numbers, by number (a number it lacks is absent)."""
    return {r.number: r for r in SheetRevision.objects.filter(sheet=sheet, number__in=numbers)}


# --- Sheets to export (services/sheet_transfer.py) --------------------------------------


def sheets_for_export(*, identifiers: Collection[str] | None = None) -> list[Sheet]:
    """The sheets an export file holds, by fulfillment identifier: every active sheet, or
    those named (active or not; a name no sheet has is simply absent). Each carries
    ``comment``: the comment of its current revision."""
    current_comment = SheetRevision.objects.filter(
        sheet=OuterRef("pk"), number=OuterRef("revision")
    ).values("comment")[:1]
    sheets = Sheet.objects.annotate(comment=Subquery(current_comment))
    if identifiers is None:
        sheets = sheets.filter(is_active=True)
    else:
        sheets = sheets.filter(fulfillment__in=list(identifiers))
    return list(sheets.order_by("fulfillment"))


def sheets_by_identifier(identifiers: Collection[str], *, lock: bool = False) -> dict[str, Sheet]:
    """The sheets with these fulfillment identifiers, by identifier; ``lock``: row-locked
    for the rest of the transaction (an import about to write them)."""
    sheets = Sheet.objects.filter(fulfillment__in=list(identifiers)).order_by("pk")
    if lock:
        sheets = sheets.select_for_update()
    return {sheet.fulfillment: sheet for sheet in sheets}
