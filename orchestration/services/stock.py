"""Stock writes: reserve and release (one conditional UPDATE each) and bulk upsert.

Modelled on Saleor's ``warehouse/management.py``, but a reservation never reads
then writes: the database decides in one statement whether enough is available,
so concurrent orders can never reserve more than is on hand.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from ..errors import ApplicationError, ConflictError
from ..models import Order, OrganizationUnit, Product, Stock
from ..tasks import order_orchestrate_task
from .orchestration_requests import order_orchestration_flag
from .sending import task_send_on_commit


def stock_reserve(*, organization_unit_id: int, product_id: int, quantity: int) -> bool:
    """Reserve ``quantity`` units if that many are available; say whether it did."""
    if quantity < 1:
        raise ApplicationError(
            "The quantity to reserve must be at least 1.",
            code="invalid_quantity",
            field="quantity",
        )
    updated = Stock.objects.filter(
        organization_unit_id=organization_unit_id,
        product_id=product_id,
        quantity_available__gte=quantity,
    ).update(quantity_reserved=F("quantity_reserved") + quantity, updated_at=timezone.now())
    return updated == 1


def stock_reserve_many(*, quantities: Mapping[tuple[int, int], int]) -> bool:
    """Reserve each ``(OU ID, product ID) -> quantity`` in one statement; say whether all were.

    Any pair without enough available leaves its row alone and makes the answer
    False; the caller then rolls its transaction back, undoing the others too.
    """
    items = sorted(quantities.items())
    if len(items) <= 1:
        return all(
            stock_reserve(organization_unit_id=unit, product_id=product, quantity=quantity)
            for (unit, product), quantity in items
        )
    sql, params = stock_reserve_sql(items=items)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount == len(items)


def stock_reserve_sql(*, items: list[tuple[tuple[int, int], int]]) -> tuple[str, list[Any]]:
    """The one ``UPDATE`` that reserves each ``((OU ID, product ID), quantity)`` where
    enough is available; it changes one row per item that could be reserved."""
    if any(quantity < 1 for _, quantity in items):
        raise ApplicationError(
            "The quantity to reserve must be at least 1.",
            code="invalid_quantity",
            field="quantity",
        )
    table = connection.ops.quote_name(Stock._meta.db_table)
    rows = ", ".join(["(%s, %s, %s)"] * len(items))
    # VALUES columns are column1..3 in both SQLite and PostgreSQL. Only the
    # quoted table name is formatted in; every value is a query parameter.
    sql = (
        f"UPDATE {table} SET quantity_reserved = {table}.quantity_reserved + wanted.column3, "  # noqa: S608
        f"updated_at = %s FROM (VALUES {rows}) AS wanted "
        f"WHERE {table}.organization_unit_id = wanted.column1 "
        f"AND {table}.product_id = wanted.column2 "
        f"AND {table}.quantity_on_hand - {table}.quantity_reserved >= wanted.column3"
    )
    params: list[Any] = [timezone.now()]
    for (unit, product), quantity in items:
        params += [unit, product, quantity]
    return sql, params


def stock_release(*, organization_unit_id: int, product_id: int, quantity: int) -> None:
    """Give back ``quantity`` reserved units; refuse to release more than is reserved."""
    if quantity < 1:
        raise ApplicationError(
            "The quantity to release must be at least 1.",
            code="invalid_quantity",
            field="quantity",
        )
    updated = Stock.objects.filter(
        organization_unit_id=organization_unit_id,
        product_id=product_id,
        quantity_reserved__gte=quantity,
    ).update(quantity_reserved=F("quantity_reserved") - quantity, updated_at=timezone.now())
    if updated != 1:
        raise ConflictError(
            f"Cannot release {quantity} units: fewer are reserved.",
            code="not_reserved",
            field="quantity",
        )


Reference = int | str  # an ID, or a backend ID


@dataclass(frozen=True, slots=True)
class StockLevel:
    """The counted stock of one product at one OU, as an upsert sets it."""

    organization_unit: Reference
    product: Reference
    quantity_on_hand: int


def _resolve(
    model: type[OrganizationUnit] | type[Product], references: set[Reference]
) -> dict[Reference, int]:
    """Map each ID or backend ID to the ID of an existing row, in one query."""
    ids = {ref for ref in references if isinstance(ref, int)}
    backend_ids = {ref for ref in references if isinstance(ref, str)}
    rows = model.objects.filter(Q(pk__in=ids) | Q(backend_id__in=backend_ids))
    found: dict[Reference, int] = {}
    for pk, backend_id in rows.values_list("pk", "backend_id"):
        if pk in ids:
            found[pk] = pk
        if backend_id in backend_ids:
            found[backend_id] = pk
    return found


def stock_upsert_many(*, levels: Sequence[StockLevel]) -> dict[str, int]:
    """Set the on-hand quantity of many (OU, product) pairs at once.

    Reservations are kept. All or nothing: if any level is invalid (an unknown
    OU or product, a pair given twice, on hand below what is already reserved),
    nothing is written and every fault is reported with its index.
    """
    ous = _resolve(OrganizationUnit, {level.organization_unit for level in levels})
    products = _resolve(Product, {level.product for level in levels})
    errors: list[dict[str, Any]] = []
    pairs: dict[tuple[int, int], int] = {}  # (OU ID, product ID) -> index of the level
    for index, level in enumerate(levels):
        ou_id, product_id = ous.get(level.organization_unit), products.get(level.product)
        if ou_id is None:
            errors.append(
                _error(
                    "does_not_exist",
                    f"Unknown organization unit {level.organization_unit!r}.",
                    f"[{index}].organization_unit",
                )
            )
        if product_id is None:
            errors.append(
                _error(
                    "does_not_exist", f"Unknown product {level.product!r}.", f"[{index}].product"
                )
            )
        if ou_id is None or product_id is None:
            continue
        if (ou_id, product_id) in pairs:
            errors.append(
                _error(
                    "duplicate",
                    f"Same organization unit and product as item {pairs[ou_id, product_id]}.",
                    f"[{index}]",
                )
            )
        else:
            pairs[ou_id, product_id] = index
    with transaction.atomic():
        # Locked in ID order, and written in pair order below, so two
        # overlapping upserts queue instead of deadlocking.
        reserved = {
            (row.organization_unit_id, row.product_id): row.quantity_reserved
            for row in Stock.objects.filter(
                organization_unit__in={ou for ou, _ in pairs},
                product__in={product for _, product in pairs},
            )
            .order_by("pk")
            .select_for_update()
            if (row.organization_unit_id, row.product_id) in pairs
        }
        for pair, index in pairs.items():
            level = levels[index]
            if level.quantity_on_hand < reserved.get(pair, 0):
                errors.append(
                    _error(
                        "below_reserved",
                        f"{reserved[pair]} units of {level.product} are reserved at "
                        f"{level.organization_unit}; on hand cannot be set below that.",
                        f"[{index}].quantity_on_hand",
                    )
                )
        if errors:
            errors.sort(key=lambda error: _index_of(error["field"]))
            raise ApplicationError(errors[0]["message"], code="invalid_stock", errors=errors)
        now = timezone.now()
        try:
            Stock.objects.bulk_create(
                [
                    Stock(
                        organization_unit_id=ou_id,
                        product_id=product_id,
                        quantity_on_hand=levels[index].quantity_on_hand,
                        updated_at=now,
                    )
                    for (ou_id, product_id), index in sorted(pairs.items())
                ],
                update_conflicts=True,
                unique_fields=["organization_unit", "product"],
                update_fields=["quantity_on_hand", "updated_at"],
            )
        except IntegrityError as error:
            # A pair created by someone else between the lock and the write
            # and reserved at once lands here; the client may simply retry.
            raise ConflictError(
                "Stock changed while it was being updated; send the request again.",
                code="conflict",
            ) from error
        _wake_waiting_orders({product for _, product in pairs}, now)
    created = sum(1 for pair in pairs if pair not in reserved)
    return {"created": created, "updated": len(pairs) - created}


def stock_restock(*, organization_unit_id: int, product_id: int, quantity: int, now: Any) -> None:
    """Put ``quantity`` units back on hand at the OU (a sellable return), and try the
    orders waiting for that product again after commit."""
    stock, created = Stock.objects.select_for_update().get_or_create(
        organization_unit_id=organization_unit_id,
        product_id=product_id,
        defaults={"quantity_on_hand": quantity},
    )
    if not created:
        Stock.objects.filter(pk=stock.pk).update(
            quantity_on_hand=F("quantity_on_hand") + quantity, updated_at=now
        )
    _wake_waiting_orders({product_id}, now)


def _wake_waiting_orders(products: set[int], now: Any) -> None:
    """Orders waiting for stock of these products are tried again after this commits."""
    waiting = list(
        Order.objects.filter(next_orchestration_at__isnull=False, lines__product__in=products)
        .values_list("pk", flat=True)
        .distinct()
    )
    if waiting:
        # One batch: with the broker down, its first refusal leaves the rest to the sweep.
        order_orchestration_flag(order_ids=waiting, trigger="stock changed", now=now)
        task_send_on_commit(task=order_orchestrate_task, ids=waiting, noun="order")


def _error(code: str, message: str, field: str) -> dict[str, Any]:
    return {"code": code, "message": message, "field": field}


def _index_of(field: str) -> int:
    return int(field[1 : field.index("]")])


def stock_consume(*, organization_unit_id: int, product_id: int, quantity: int) -> None:
    """Ship ``quantity`` reserved units: they leave both on hand and reserved."""
    updated = Stock.objects.filter(
        organization_unit_id=organization_unit_id,
        product_id=product_id,
        quantity_reserved__gte=quantity,
        quantity_on_hand__gte=quantity,
    ).update(
        quantity_on_hand=F("quantity_on_hand") - quantity,
        quantity_reserved=F("quantity_reserved") - quantity,
        updated_at=timezone.now(),
    )
    if updated != 1:
        raise ConflictError(
            f"Cannot ship {quantity} units: fewer are reserved.",
            code="not_reserved",
            field="quantity",
        )
