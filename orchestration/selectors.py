"""Reads of the domain: querysets the API and admin list from, and typed values.

Later issues add here the selectors that turn ORM rows into the engine's
frozen dataclasses.
"""

import functools
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Count, F, Prefetch, Q, QuerySet
from rest_framework.authtoken.models import Token

from .engine import model as engine_model
from .errors import ApplicationError
from .language.lines import normalize
from .models import (
    ExportStatus,
    FulfillmentAction,
    FulfillmentStatus,
    OrchestrationDetails,
    Order,
    OrderEvent,
    OrderFulfillment,
    OrderFulfillmentLine,
    OrderLine,
    OrganizationUnit,
    Product,
    Setting,
    Sheet,
    SheetRevision,
    Stock,
    UserPreference,
)
from .models.fulfillments import OPEN_FULFILLMENT_STATUSES
from .setting_definitions import DEFINITIONS, SettingDefinition
from .validators import parse_id


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


def order_number_search(query: str, *, limit: int = 20) -> QuerySet[Order]:
    """The newest orders whose number (backend ID) contains ``query`` (the preview's
    autocomplete); an empty query: the newest."""
    return Order.objects.filter(backend_id__icontains=query).order_by("-placed_at")[:limit]


# --- Who sees and works which organization unit's fulfilments --------------------

EVERY_ORGANIZATION_UNIT = "orchestration.work_every_organization_unit"


def works_everywhere(user: Any) -> bool:
    """Whether ``user`` sees and works every OU's fulfilments (superusers, the
    designers' and integrations' roles); everyone else only their own OUs'."""
    return bool(user.is_authenticated and user.has_perm(EVERY_ORGANIZATION_UNIT))


def user_works_at(user: Any, unit_id: int | None) -> bool:
    """Whether ``user`` may see and work the fulfilments of OU ``unit_id``."""
    if works_everywhere(user):
        return True
    return bool(
        user.is_authenticated
        and unit_id is not None
        and OrganizationUnit.staff.through.objects.filter(
            organizationunit_id=unit_id, user_id=user.pk
        ).exists()
    )


def fulfillments_visible(
    user: Any, fulfillments: QuerySet[OrderFulfillment]
) -> QuerySet[OrderFulfillment]:
    """``fulfillments`` narrowed to the OUs ``user`` works at, unless they work everywhere."""
    if works_everywhere(user):
        return fulfillments
    return fulfillments.filter(supplier_organization_unit__staff=user.pk)


def orders_visible(user: Any, orders: QuerySet[Order]) -> QuerySet[Order]:
    """``orders`` narrowed to those with a fulfilment at an OU ``user`` works at (the
    orders of their tasks), unless they work everywhere."""
    if works_everywhere(user):
        return orders
    mine = OrderFulfillment.objects.filter(supplier_organization_unit__staff=user.pk)
    return orders.filter(pk__in=mine.values("order_id"))


def organization_units_visible(
    user: Any, units: QuerySet[OrganizationUnit]
) -> QuerySet[OrganizationUnit]:
    """``units`` narrowed to those ``user`` works at, unless they work everywhere."""
    if works_everywhere(user):
        return units
    return units.filter(staff=user.pk)


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


def sheet_revisions_numbered(sheet: Sheet, numbers: Collection[int]) -> dict[int, SheetRevision]:
    """The sheet's revisions with these numbers, by number (a number it lacks is absent)."""
    return {r.number: r for r in SheetRevision.objects.filter(sheet=sheet, number__in=numbers)}


def organization_unit_lookup(query: str, *, limit: int = 20) -> QuerySet[OrganizationUnit]:
    """OUs whose backend ID, name or ID matches ``query`` (the editor's picker)."""
    units = OrganizationUnit.objects.all()
    query = query.strip()
    if query:
        match = Q(backend_id__icontains=query) | Q(name__icontains=query)
        pk = parse_id(query)
        if pk is not None:
            match |= Q(pk=pk)
        units = units.filter(match)
    return units.order_by("backend_id", "id")[:limit]


def user_prefers_dark(user: Any) -> bool:
    """Whether the Suite shows ``user`` its dark theme."""
    if not getattr(user, "is_authenticated", False):
        return False
    return UserPreference.objects.filter(user=user, dark_mode=True).exists()


def api_token_lifetime() -> timedelta:
    """How long an API token works after it was made (``API_TOKEN_TTL_HOURS``)."""
    return timedelta(hours=settings.API_TOKEN_TTL_HOURS)


def api_token_expires_at(token: Token) -> datetime:
    """When ``token`` stops working."""
    return token.created + api_token_lifetime()


def api_token_of(user: Any) -> Token | None:
    """The API token of ``user``, expired or not; None if it has none."""
    return Token.objects.filter(user=user).first()


# --- The engine's view of the database ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SheetDraft:
    """An unsaved sheet text for a preview: ``sheet_id`` replaces that sheet, None adds one."""

    source: str
    sheet_id: int | None = None
    name: str = ""


@dataclass(frozen=True, slots=True)
class StockOverride:
    """A preview's stock: ``quantity`` available at the OU, or that much more or less."""

    organization_unit_id: int
    product_id: int
    quantity: int
    delta: bool = False


def _address(row: Any, prefix: str) -> engine_model.Address:
    def decimal(value: float | None) -> Decimal | None:
        return None if value is None else Decimal(repr(value))

    return engine_model.Address(
        street=getattr(row, f"{prefix}_street") or None,
        city=getattr(row, f"{prefix}_city") or None,
        zip_code=getattr(row, f"{prefix}_zip_code") or None,
        country_id=getattr(row, f"{prefix}_country_id") or None,
        latitude=decimal(getattr(row, f"{prefix}_latitude")),
        longitude=decimal(getattr(row, f"{prefix}_longitude")),
        is_pickup_point=bool(getattr(row, f"{prefix}_is_pickup_point", False)),
    )


_HISTORY_STATUS = {
    FulfillmentStatus.NEW: engine_model.NEW,
    FulfillmentStatus.IN_PROGRESS: engine_model.IN_PROGRESS,
    FulfillmentStatus.COMPLETED: engine_model.COMPLETED,
    FulfillmentStatus.CANCELLED: engine_model.CANCELLED,
    FulfillmentStatus.DEACTIVATED: engine_model.DEACTIVATED,
}


_UNREAD = object()


def _stock_select(products: str) -> str:
    """The available stock of the products ``products`` (SQL giving their IDs), in
    the order the ORM would give it."""
    quote = connection.ops.quote_name
    unit, product, available = (
        quote(Stock._meta.get_field(name).column)
        for name in ("organization_unit", "product", "quantity_available")
    )
    # Quoted names and the caller's placeholders only; values are parameters.
    return (
        f"SELECT {unit}, {product}, {available} FROM {quote(Stock._meta.db_table)} "  # noqa: S608
        f"WHERE {product} IN ({products}) ORDER BY {unit}, {product}"
    )


@functools.cache
def _stock_sql(vendor: str, count: int) -> str:
    """The available stock of ``count`` products (the parameters): written once per
    backend and count, as the ORM takes about half a millisecond to compile it and
    every orchestration run reads it."""
    return _stock_select(", ".join(["%s"] * count) or "NULL")


@functools.cache
def order_stock_sql() -> str:
    """The available stock of the products of an order's lines and of their
    replacements (the order's ID is its two parameters), as ``order_scenario``
    reads it: for a caller that sends it with the query reading the lines."""
    quote = connection.ops.quote_name
    lines = quote(OrderLine._meta.db_table)
    through = Product.replacements.through._meta
    source, target = (
        quote(through.get_field(name).column) for name in ("from_product", "to_product")
    )
    # Quoted names and placeholders only; the order's ID is the parameter.
    return _stock_select(
        f"SELECT product_id FROM {lines} WHERE order_id = %s "  # noqa: S608
        f"UNION SELECT r.{target} FROM {quote(through.db_table)} r "
        f"JOIN {lines} l ON l.product_id = r.{source} WHERE l.order_id = %s"
    )


def shop_open_task_counts() -> dict[int, int]:
    """Open ship-from-store tasks per OU (``Supplier.ActiveShipFromStoreTasks``), for
    the OUs that have any.

    Read for every order a sheet reading it routes, so it seeks the open statuses
    in ``fulfillment_open_tasks``: its cost follows the open tasks, not every task
    ever made (``bench tasks``).
    """
    return dict(
        OrderFulfillment.objects.filter(
            action=FulfillmentAction.SHIP_FROM_STORE,
            status__in=OPEN_FULFILLMENT_STATUSES,
        )
        .values("supplier_organization_unit_id")
        .annotate(count=Count("id"))
        .values_list("supplier_organization_unit_id", "count")
    )


def _available_stock(
    by_id: Mapping[int, engine_model.Product],
    product_ids: Collection[int],
    rows: Sequence[tuple[int, int, int]] | None = None,
) -> dict[tuple[int, int], int]:
    """The available stock, never below 0, of ``product_ids`` and their replacements,
    by (OU, product): read here, or from ``rows`` the caller read already."""
    if rows is None:
        wanted = set(product_ids)
        for product_id in product_ids:
            product = by_id.get(product_id)
            if product is not None:
                wanted.update(product.replacements)
        with connection.cursor() as cursor:
            cursor.execute(_stock_sql(connection.vendor, len(wanted)), sorted(wanted))
            rows = cursor.fetchall()
    return {(unit_id, product_id): max(0, available) for unit_id, product_id, available in rows}


def order_scenario(
    order: Order,
    *,
    at: datetime,
    drafts: Sequence[SheetDraft] = (),
    stock_overrides: Sequence[StockOverride] = (),
    candidate_units: Collection[int] | None = None,
    respect_history: bool = True,
    network_token: Any = _UNREAD,
    lines: Sequence[OrderLine] | None = None,
    stock_rows: Sequence[tuple[int, int, int]] | None = None,
) -> engine_model.Scenario:
    """Everything the engine needs to route ``order`` at ``at``.

    The network (OUs with their sets, products with their replacements, the active
    sheets, the effective settings) comes from this process's snapshot, read again
    only when ``network_token`` (read by the caller, or here) changed
    (``orchestration.network``). A draft with a sheet's ID replaces it, one without
    is added. Read per order: the available stock of the order's products and their
    replacements (with any overrides: an absolute quantity, or a delta, never below
    0), the shops' open ship-from-store tasks when a sheet reads them, and, unless
    ``respect_history`` is off (a clean slate), the order's fulfilment lines.
    ``lines`` are the order's lines when the caller has them already, and
    ``stock_rows`` the available stock of their products and replacements, as
    (OU, product, quantity), when the caller read it with them (``order_stock_sql``).
    """
    from .network import network_snapshot, reads_active_tasks
    from .network import network_token as current_token

    network = network_snapshot(current_token() if network_token is _UNREAD else network_token)
    if lines is None:
        lines = list(order.lines.order_by("id"))
    by_id = {product.id: product for product in network.products}
    stock = _available_stock(by_id, {line.product_id for line in lines}, stock_rows)
    for override in stock_overrides:
        key = (override.organization_unit_id, override.product_id)
        base = stock.get(key, 0) if override.delta else 0
        stock[key] = max(0, base + override.quantity)
    sheets = {sheet.id: sheet for sheet in network.sheets}
    added = 0
    for draft in drafts:
        if draft.sheet_id is not None:
            current = Sheet.objects.get(pk=draft.sheet_id)
            sheets[current.pk] = engine_model.SheetSource(
                current.pk, draft.name or current.name, normalize(draft.source)
            )
        else:
            added += 1
            # Drafts get IDs no saved sheet has, after every saved one (ties go to lower IDs).
            draft_id = 10**9 + added
            sheets[draft_id] = engine_model.SheetSource(
                draft_id, draft.name or f"Draft {added}", normalize(draft.source)
            )
    active_tasks = None
    if reads_active_tasks(tuple(sheets.values())):
        active_tasks = shop_open_task_counts()
    history: tuple[engine_model.HistoryEntry, ...] = ()
    if respect_history:
        history = tuple(
            engine_model.HistoryEntry(
                order_line=line.order_line_id,
                organization_unit=line.fulfillment.supplier_organization_unit_id,
                sheet=line.fulfillment.sheet_id,
                status=_HISTORY_STATUS[line.status],
                quantity=line.quantity,
                cancellation_reason=line.cancellation_reason or None,
                task=line.fulfillment.task_key or None,
                attempt=str(line.fulfillment.orchestration_details_id or line.fulfillment_id),
            )
            for line in OrderFulfillmentLine.objects.filter(
                fulfillment__order=order, status__in=list(_HISTORY_STATUS)
            )
            .select_related("fulfillment")
            .order_by("id")
        )
    order_lines = tuple(
        engine_model.OrderLine(
            id=line.pk,
            product=line.product_id,
            quantity=line.quantity,
            unit_price=line.unit_price,
            unit_price_in_tax=line.unit_price_in_tax,
            discount_amount=line.discount_amount,
            is_gift_wrapped=line.is_gift_wrapped,
            preferred_fulfillment_organization_unit=line.preferred_fulfillment_organization_unit_id,
            custom_fields=line.custom_fields,
        )
        for line in lines
    )
    return engine_model.Scenario(
        at=at,
        order=engine_model.Order(
            id=order.pk,
            lines=order_lines,
            intent=order.intent,
            sold_from_organization_unit=order.sold_from_organization_unit_id,
            shipping_address=_address(order, "shipping"),
            billing_address=_address(order, "billing"),
            custom_fields=order.custom_fields,
            allow_partial_fulfillment=order.allow_partial_fulfillment,
            requested_fulfillment_option=order.requested_fulfillment_option or None,
        ),
        organization_units=network.units,
        products=network.products,
        sheets=tuple(sheets.values()),
        stock=stock,
        settings=network.settings,
        fulfillment_history=history,
        candidate_units=None if candidate_units is None else frozenset(candidate_units),
        active_tasks=active_tasks,
    )


@dataclass(frozen=True, slots=True)
class BasketLine:
    """A line of a checkout's basket: a product (ID or backend ID) and how many."""

    product: int | str
    quantity: int


# The order ID of a basket's scenario: no stored order has it (IDs start at 1).
BASKET_ORDER_ID = 0


def basket_scenario(
    lines: Sequence[BasketLine],
    *,
    at: datetime,
    shipping_address: engine_model.Address,
    custom_fields: dict[str, Any] | None = None,
) -> engine_model.Scenario:
    """Everything the engine needs to route a basket that is not an order yet (a checkout).

    As ``order_scenario`` reads it for a stored order: the network snapshot, the
    available stock of the basket's products and their replacements, the shops' open
    tasks when a sheet reads them; no history. The lines are numbered from 1 in the
    basket's order; the order's ID is ``BASKET_ORDER_ID``. Reads only. A product the
    network does not have is a 400 naming its line (``lines[2].product``).
    """
    from .network import network_snapshot, network_token, reads_active_tasks

    network = network_snapshot(network_token())
    by_id = {product.id: product for product in network.products}
    by_backend_id = {product.backend_id: product for product in network.products}
    product_ids = []
    for index, line in enumerate(lines):
        found = (by_id if isinstance(line.product, int) else by_backend_id).get(line.product)
        if found is None:
            raise ApplicationError(
                f"Unknown product {line.product!r}.",
                code="does_not_exist",
                field=f"lines[{index}].product",
            )
        product_ids.append(found.id)
    stock = _available_stock(by_id, product_ids)
    return engine_model.Scenario(
        at=at,
        order=engine_model.Order(
            id=BASKET_ORDER_ID,
            lines=tuple(
                engine_model.OrderLine(id=number, product=product, quantity=line.quantity)
                for number, (product, line) in enumerate(zip(product_ids, lines, strict=True), 1)
            ),
            shipping_address=shipping_address,
            billing_address=shipping_address,
            custom_fields=custom_fields or {},
        ),
        organization_units=network.units,
        products=network.products,
        sheets=network.sheets,
        stock=stock,
        settings=network.settings,
        active_tasks=shop_open_task_counts() if reads_active_tasks(network.sheets) else None,
    )


# --- Fulfilment lifecycle ---------------------------------------------------------------


def order_timeline(order: Order) -> QuerySet[OrderEvent]:
    """Every event of the order, oldest first, with who did it and the run it links to."""
    return (
        OrderEvent.objects.filter(order=order)
        .select_related("user", "fulfillment__supplier_organization_unit", "orchestration_details")
        .order_by("at", "id")
    )


def store_task_list(
    unit: OrganizationUnit, *, include_finished: bool = False
) -> QuerySet[OrderFulfillment]:
    """The ship-from-store tasks of one shop: the open ones first by priority, then deadline.

    Finished tasks (completed, cancelled, deactivated) only when asked for.
    """
    tasks = fulfillment_list().filter(
        supplier_organization_unit=unit, action=FulfillmentAction.SHIP_FROM_STORE
    )
    if not include_finished:
        tasks = tasks.filter(status__in=OPEN_FULFILLMENT_STATUSES)
    return tasks.select_related("order").order_by(
        "-priority", F("start_deadline").asc(nulls_last=True), "created_at", "id"
    )


def export_failure_list() -> QuerySet[OrderFulfillment]:
    """Exports that gave up after their last attempt, newest first: retry them by hand."""
    return (
        fulfillment_list()
        .filter(export_status=ExportStatus.FAILED)
        .select_related("order")
        .order_by("-updated_at", "-id")
    )


def order_fulfillments(order: Order) -> QuerySet[OrderFulfillment]:
    """The order's fulfilments with their lines, oldest first (the order page)."""
    return (
        OrderFulfillment.objects.filter(order=order)
        .select_related(
            "supplier_organization_unit", "sheet", "orchestration_details", "started_by"
        )
        .prefetch_related(
            Prefetch(
                "lines",
                queryset=OrderFulfillmentLine.objects.select_related(
                    "product", "order_line__product"
                ),
            )
        )
        .order_by("created_at", "id")
    )
