"""Order and order-line statuses, derived from their fulfilment lines.

Statuses are never set by hand: every lifecycle service calls
``order_refresh_status`` at the end of its transaction, so they always follow
from the quantities (ordered, shipped, cancelled, in an open fulfilment).

One exception: ``OrchestrationFailed`` says orchestration gave up on the order, which
its lines cannot tell. It stays while the rest of the order moves on (a shop ships
what it was given), so the failure stays visible until a person retries it, unless
the order ends (completed or cancelled), when nothing is left to route.
"""

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Model

from ..models import Order, OrderFulfillmentLine, OrderLine, OrderLineStatus, OrderStatus
from ..models.fulfillments import OPEN_FULFILLMENT_STATUSES
from .events import event_record

ENDED = frozenset({OrderStatus.COMPLETED, OrderStatus.CANCELLED})


def order_refresh_status(*, order: Order, now: datetime, actor: str) -> str:
    """Recompute the statuses of ``order`` and its lines; return the order's status."""
    status, changes = order_derived_statuses(order=order)
    if order.status == OrderStatus.ORCHESTRATION_FAILED and status not in ENDED:
        status = order.status
    # ``order`` is the row the caller locked: its status is current.
    order_and_lines_update(
        order_id=order.pk,
        fields={"status": status} if status != order.status else {},
        line_statuses=changes,
    )
    order_status_changed(order=order, status=status, now=now, actor=actor)
    return status


def order_derived_statuses(*, order: Order) -> tuple[str, dict[str, list[int]]]:
    """The statuses of ``order`` and its lines as their quantities have them, read
    from the database: as ``order_statuses`` gives them."""
    in_fulfillment = units_in_fulfillment(
        OrderFulfillmentLine.objects.filter(
            fulfillment__order=order, status__in=OPEN_FULFILLMENT_STATUSES
        ).values_list("order_line_id", "quantity", "fulfillment__task_key")
    )
    return order_statuses(list(OrderLine.objects.filter(order=order)), in_fulfillment)


def units_in_fulfillment(open_lines: Iterable[tuple[int, int, str | None]]) -> dict[int, int]:
    """Units per order line in open fulfilment lines ``(order line, quantity, task
    key)``: the copies of a fanned-out task count once."""
    counted: dict[int, int] = defaultdict(int)
    seen_tasks: set[tuple[int, str]] = set()
    for line_id, quantity, task in open_lines:
        if task:
            if (line_id, task) in seen_tasks:
                continue
            seen_tasks.add((line_id, task))
        counted[line_id] += quantity
    return counted


def order_statuses(
    lines: list[OrderLine], in_fulfillment: Mapping[int, int]
) -> tuple[str, dict[str, list[int]]]:
    """The order's status and the lines whose status changes (by new status), from
    their quantities; ``lines`` get their new statuses, the caller stores them
    (and calls ``order_status_changed``)."""
    statuses = []
    changes: dict[str, list[int]] = defaultdict(list)
    for line in lines:
        remaining = line.quantity - line.quantity_shipped - line.quantity_cancelled
        if remaining <= 0:
            status = (
                OrderLineStatus.COMPLETED if line.quantity_shipped else OrderLineStatus.CANCELLED
            )
        elif in_fulfillment.get(line.pk):
            status = OrderLineStatus.IN_FULFILLMENT
        else:
            status = OrderLineStatus.OPEN
        if status != line.status:
            changes[status].append(line.pk)
            line.status = status
        statuses.append(status)
    if all(s == OrderLineStatus.CANCELLED for s in statuses):
        return OrderStatus.CANCELLED, changes
    if all(s in (OrderLineStatus.COMPLETED, OrderLineStatus.CANCELLED) for s in statuses):
        return OrderStatus.COMPLETED, changes
    if any(s == OrderLineStatus.IN_FULFILLMENT for s in statuses):
        return OrderStatus.ROUTED, changes
    return OrderStatus.WAITING, changes


def order_and_lines_update(
    *, order_id: int, fields: Mapping[str, Any], line_statuses: Mapping[str, list[int]]
) -> None:
    """Store the order's ``fields`` (if any) and its lines' new statuses.

    On PostgreSQL in one statement (the lines' update is a data-modifying CTE of
    the order's, which PostgreSQL always runs to completion); elsewhere one update
    per table. The orchestration run's writes are counted: this saves one.
    """
    if connection.vendor != "postgresql" or not line_statuses or not fields:
        for status, line_ids in line_statuses.items():
            OrderLine.objects.filter(pk__in=line_ids).update(status=status)
        if fields:
            Order.objects.filter(pk=order_id).update(**fields)
        return
    (lines_sql, lines_params), (order_sql, order_params) = order_and_lines_update_sql(
        order_id=order_id, fields=fields, line_statuses=line_statuses
    )
    with connection.cursor() as cursor:
        cursor.execute(f"WITH lines AS ({lines_sql}) {order_sql}", [*lines_params, *order_params])


def order_and_lines_update_sql(
    *, order_id: int, fields: Mapping[str, Any], line_statuses: Mapping[str, list[int]]
) -> list[tuple[str, list[Any]]]:
    """PostgreSQL: the ``UPDATE`` of the lines' statuses (if any change) and the one of
    the order's ``fields`` (if any), for the CTEs of one statement."""
    statements = []
    pairs = [(line_id, status) for status, ids in line_statuses.items() for line_id in ids]
    if pairs:
        line_table = connection.ops.quote_name(OrderLine._meta.db_table)
        cases = " ".join("WHEN %s THEN %s" for _pair in pairs)
        ids = ", ".join("%s" for _pair in pairs)
        statements.append(
            (
                # Only quoted names and placeholders are formatted in; values are parameters.
                f"UPDATE {line_table} SET status = CASE id {cases} END "  # noqa: S608
                f"WHERE id IN ({ids})",
                [
                    *(value for pair in pairs for value in pair),
                    *(line_id for line_id, _status in pairs),
                ],
            )
        )
    if fields:
        sql, params = update_sql(Order, fields)
        statements.append((f"{sql} WHERE id = %s", [*params, order_id]))
    return statements


def update_sql(model: type[Model], fields: Mapping[str, Any]) -> tuple[str, list[Any]]:
    """PostgreSQL: ``UPDATE <model's table> SET`` the ``fields`` (names to values, each
    converted as the ORM's ``update`` converts it), for a ``WHERE`` to follow."""
    meta = model._meta
    quote = connection.ops.quote_name
    columns, params = [], []
    for name, value in fields.items():
        field = meta.get_field(name)
        # Concrete fields, each with a column (django-stubs also allows a reverse relation).
        columns.append(f"{quote(field.column)} = %s")  # type: ignore[union-attr, arg-type]
        params.append(field.get_db_prep_save(value, connection))  # type: ignore[union-attr]
    # Quoted names and placeholders only; every value is a parameter.
    return f"UPDATE {quote(meta.db_table)} SET {', '.join(columns)}", params  # noqa: S608


def order_status_changed(*, order: Order, status: str, now: datetime, actor: str) -> None:
    """Note the order's new status (already stored) on ``order``, and on the timeline
    when it ended."""
    if status == order.status:
        return
    order.status = status
    if status in ENDED:
        event_record(
            order=order,
            kind=f"order.{status.lower()}",
            message=f"The order is {status.lower()}.",
            at=now,
            actor=actor,
            data={"status": status},
        )
