"""The engine's view of the database: an order (or a basket) as an engine ``Scenario``."""

import functools
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Count

from ..engine import model as engine_model
from ..engine import stocked_units
from ..errors import ApplicationError
from ..language.lines import normalize
from ..models import (
    FulfillmentAction,
    FulfillmentStatus,
    Order,
    OrderFulfillment,
    OrderFulfillmentLine,
    OrderLine,
    Product,
    Sheet,
    Stock,
)
from ..models.fulfillments import OPEN_FULFILLMENT_STATUSES
from .network import address, network_snapshot, reads_active_tasks
from .network import network_token as current_token

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


_HISTORY_STATUS: dict[int, str] = {
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
        # Concrete fields, each with a column (django-stubs also allows a reverse relation).
        quote(Stock._meta.get_field(name).column)  # type: ignore[union-attr, arg-type]
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
        # Concrete fields, each with a column (django-stubs also allows a reverse relation).
        quote(through.get_field(name).column)  # type: ignore[union-attr, arg-type]
        for name in ("from_product", "to_product")
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
    ever made (``bench tasks``). The query is compiled once per process
    (``open_tasks_sql``): Django took about 1.5 ms per order to compile it again.
    """
    sql, params = open_tasks_sql(connection.vendor)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return dict(cursor.fetchall())


@functools.cache
def open_tasks_sql(vendor: str) -> tuple[str, tuple[Any, ...]]:
    """The SQL and parameters of ``shop_open_task_counts`` (constants), per backend:
    also for a caller that sends it with the lock (``persistence.postgres``)."""
    query = (
        OrderFulfillment.objects.filter(
            action=FulfillmentAction.SHIP_FROM_STORE,
            status__in=OPEN_FULFILLMENT_STATUSES,
        )
        .values("supplier_organization_unit_id")
        .annotate(count=Count("id"))
        .values_list("supplier_organization_unit_id", "count")
        .order_by()
    )
    return query.query.sql_with_params()


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
    stocked_only: bool = False,
    open_tasks: Mapping[int, int] | None = None,
) -> engine_model.Scenario:
    """Everything the engine needs to route ``order`` at ``at``.

    The network (OUs with their sets, products with their replacements, the active
    sheets, the effective settings) comes from this process's snapshot, read again
    only when ``network_token`` (read by the caller, or here) changed
    (``orchestration.selectors.network``). A draft with a sheet's ID replaces it, one without
    is added. Read per order: the available stock of the order's products and their
    replacements (with any overrides: an absolute quantity, or a delta, never below
    0), the shops' open ship-from-store tasks when a sheet reads them, and, unless
    ``respect_history`` is off (a clean slate), the order's fulfilment lines.
    ``lines`` are the order's lines when the caller has them already, and
    ``stock_rows`` the available stock of their products and replacements, as
    (OU, product, quantity), when the caller read it with them (``order_stock_sql``),
    and ``open_tasks`` the shops' open ship-from-store tasks (``open_tasks_sql``).

    ``stocked_only`` (an orchestration run's): a sales order's candidates are only the
    OUs with available stock of a line's product or of one of its replacements
    (``engine.stocked_units``), unless the setting
    ``Orchestration:ExplainSuppliersWithoutStock`` is on. The engine never makes any
    other OU a candidate of a sales order, so the decision is the same; what the
    run's explanation leaves out is why each of the others was rejected, which at
    thousands of OUs was most of a run's time and blob (docs/routing.md).
    """
    network = network_snapshot(current_token() if network_token is _UNREAD else network_token)
    if lines is None:
        lines = list(order.lines.order_by("id"))
    stock = _available_stock(
        network.products_by_id, {line.product_id for line in lines}, stock_rows
    )

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
        active_tasks = dict(open_tasks) if open_tasks is not None else shop_open_task_counts()
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
    scenario = engine_model.Scenario(
        at=at,
        order=engine_model.Order(
            id=order.pk,
            lines=order_lines,
            intent=order.intent,
            sold_from_organization_unit=order.sold_from_organization_unit_id,
            shipping_address=address(order, "shipping"),
            billing_address=address(order, "billing"),
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
    if (
        stocked_only
        and candidate_units is None
        and not network.settings.get("Orchestration:ExplainSuppliersWithoutStock")
    ):
        scenario = replace(scenario, candidate_units=stocked_units(scenario))
    return scenario


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
    network = network_snapshot(current_token())
    by_id = network.products_by_id
    by_backend_id = network.products_by_backend_id
    product_ids = []
    for index, line in enumerate(lines):
        found = (
            by_id.get(line.product)
            if isinstance(line.product, int)
            else by_backend_id.get(line.product)
        )
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
