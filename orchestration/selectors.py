"""Reads of the domain: querysets the API and admin list from, and typed values.

Later issues add here the selectors that turn ORM rows into the engine's
frozen dataclasses.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count, Prefetch, Q, QuerySet

from .models import (
    FulfillmentAction,
    OrchestrationDetails,
    Order,
    OrderFulfillment,
    OrderFulfillmentLine,
    OrganizationUnit,
    Setting,
    Sheet,
    SheetRevision,
    UserPreference,
)
from .models.fulfillments import OPEN_FULFILLMENT_STATUSES
from .setting_definitions import DEFINITIONS, SettingDefinition


@dataclass(frozen=True, slots=True)
class SettingState:
    """A setting's definition with its effective value."""

    definition: SettingDefinition
    value: Any
    is_default: bool


def _setting_state(definition: SettingDefinition, stored: list[Any]) -> SettingState:
    # A value stored before its definition changed type falls back to the default.
    if not stored or definition.check(stored[0]) is not None:
        return SettingState(definition, definition.default, True)
    return SettingState(definition, stored[0], False)


def setting_state(name: str) -> SettingState:
    """One known setting with its effective value (KeyError for an unknown name)."""
    definition = DEFINITIONS[name]
    stored = list(Setting.objects.filter(name=name).values_list("value", flat=True)[:1])
    return _setting_state(definition, stored)


def setting_value(name: str) -> Any:
    """The effective value of a named setting: stored, or else its default."""
    return setting_state(name).value


def setting_list() -> list[SettingState]:
    """Every known setting, in name order, with its effective value."""
    stored = dict(Setting.objects.values_list("name", "value"))
    return [
        _setting_state(DEFINITIONS[name], [stored[name]] if name in stored else [])
        for name in sorted(DEFINITIONS)
    ]


def organization_unit_list() -> QuerySet[OrganizationUnit]:
    """OUs with their sets and active ship-from-store task count."""
    return (
        OrganizationUnit.objects.prefetch_related("sets")
        .annotate(
            active_ship_from_store_tasks=Count(
                "supplied_fulfillments",
                filter=Q(
                    supplied_fulfillments__action=FulfillmentAction.SHIP_FROM_STORE,
                    supplied_fulfillments__status__in=OPEN_FULFILLMENT_STATUSES,
                ),
            )
        )
        # An aggregate drops Meta.ordering; pages must stay stable.
        .order_by("name", "id")
    )


def order_list() -> QuerySet[Order]:
    """Orders with their lines, ready to serialize without extra queries."""
    return Order.objects.select_related("sold_from_organization_unit").prefetch_related(
        "lines__product", "lines__preferred_fulfillment_organization_unit"
    )


def fulfillment_list() -> QuerySet[OrderFulfillment]:
    """Fulfilments with what their serialization needs."""
    return OrderFulfillment.objects.select_related(
        "supplier_organization_unit", "sheet"
    ).prefetch_related(
        Prefetch("lines", queryset=OrderFulfillmentLine.objects.select_related("product"))
    )


@dataclass(frozen=True, slots=True)
class DetailsState:
    """Whether a fulfilment's orchestration details can be shown, and the blob."""

    status: str  # "available", "expired" or "none"
    blob: dict[str, Any] | None
    expires_at: datetime | None


def fulfillment_orchestration_details(
    fulfillment: OrderFulfillment, *, now: datetime
) -> DetailsState:
    """The blob that explains ``fulfillment``, unless its lifetime is over."""
    details: OrchestrationDetails | None = fulfillment.orchestration_details
    if details is None:
        return DetailsState("none", None, None)
    if details.is_expired(now):
        return DetailsState("expired", None, details.expires_at)
    return DetailsState("available", details.blob, details.expires_at)


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


def organization_unit_lookup(query: str, *, limit: int = 20) -> QuerySet[OrganizationUnit]:
    """OUs whose backend ID, name or ID matches ``query`` (the editor's picker)."""
    units = OrganizationUnit.objects.all()
    query = query.strip()
    if query:
        match = Q(backend_id__icontains=query) | Q(name__icontains=query)
        if query.isdigit():
            match |= Q(pk=int(query))
        units = units.filter(match)
    return units.order_by("backend_id", "id")[:limit]


def user_prefers_dark(user: Any) -> bool:
    """Whether the Suite shows ``user`` its dark theme."""
    if not getattr(user, "is_authenticated", False):
        return False
    return UserPreference.objects.filter(user=user, dark_mode=True).exists()
