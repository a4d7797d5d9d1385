"""Changing an order in flight: the shipping address, a line's quantity, lines added
or removed (``docs/plans.md``, In-flight changes).

One transaction, all or nothing:

1. The order is locked and the change checked: the lines are the order's, the
   quantities possible (not below what is shipped or cancelled), the address
   complete.
2. The point of no return: if a plan of a fulfilment holding an affected line
   has started a step marked point of no return (the demo: Pack, Export), the
   change is refused with a 409 naming that step and its state; an automatic
   step still running refuses it too (its plan is Freezing). Nothing is written.
3. The affected fulfilments' open units are cancelled (reason ``OrderChanged``,
   their stock released) and their plans frozen: completed steps Canceled, the
   others Discarded, in reverse order.
4. The change is applied and recorded as an ``OrderChange`` (the supplemental
   order: its number, what was asked, the values before and after, what was
   undone), on the timeline (``order.changed``).
5. The order is flagged for orchestration: what needs routing is routed again,
   and the new fulfilments get new plans.

Affected lines: for an address, every line with open units; for a quantity or a
removal, that line. An added line affects no fulfilment.
"""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from ..engine.limits import LINE_QUANTITY
from ..errors import ApplicationError, NotFoundError
from ..models import (
    CancellationReason,
    FulfillmentStatus,
    Order,
    OrderChange,
    OrderFulfillmentLine,
    OrderLine,
    Product,
)
from ..models.fulfillments import OPEN_FULFILLMENT_STATUSES
from ..models.orders import ADDRESS_PARTS
from .events import actor_of, event_record
from .fulfillments.common import end_units, settle
from .orchestration_requests import order_orchestration_request
from .plans import (
    plans_amended,
    plans_point_of_no_return_check,
    plans_running_check,
    plans_undo,
)

# What a line added in flight may say (the API's order line fields that need no lookup).
ADDED_LINE_FIELDS = frozenset({"product", "quantity", "unit_price", "unit_price_in_tax"})


@transaction.atomic
def order_change(
    *,
    order_id: int,
    user: User | None,
    shipping_address: Mapping[str, Any] | None = None,
    quantities: Mapping[int, int] | None = None,
    add_lines: Sequence[Mapping[str, Any]] = (),
    remove_lines: Sequence[int] = (),
    now: datetime | None = None,
) -> OrderChange:
    """Change the order in flight (see the module); return the recorded change."""
    now = now or timezone.now()
    quantities = dict(quantities or {})
    order = Order.objects.select_for_update().filter(pk=order_id).first()
    if order is None:
        raise NotFoundError(f"There is no order {order_id}.", code="not_found")
    if not (shipping_address or quantities or add_lines or remove_lines):
        raise ApplicationError(
            "Say what changes: shipping_address, quantities, add_lines or remove_lines.",
            code="required",
        )
    lines = {line.pk: line for line in order.lines.select_related("product")}
    _check(order, lines, shipping_address, quantities, remove_lines)
    open_units = {
        line_id
        for line_id, line in lines.items()
        if line.quantity - line.quantity_shipped - line.quantity_cancelled > 0
    }
    affected = sorted(
        (open_units if shipping_address is not None else set())
        | {
            line_id
            for line_id, quantity in quantities.items()
            if quantity != lines[line_id].quantity
        }
        | set(remove_lines)
    )
    what = _summary(shipping_address, quantities, add_lines, remove_lines)
    if affected:
        plans_point_of_no_return_check(order_line_ids=affected, change=f"Changing {what}")
    open_lines = list(
        OrderFulfillmentLine.objects.select_for_update(of=("self",))
        .filter(order_line_id__in=affected, status__in=OPEN_FULFILLMENT_STATUSES)
        .select_related("fulfillment")
    )
    fulfillment_ids = sorted({line.fulfillment_id for line in open_lines})
    plans_running_check(fulfillment_ids=fulfillment_ids, change=f"Changing {what}")

    before = _values(order, lines)
    touched = {}
    for fulfillment_line in open_lines:
        end_units(
            fulfillment_line.fulfillment,
            fulfillment_line,
            fulfillment_line.quantity,
            status=FulfillmentStatus.CANCELLED,
            reason=CancellationReason.ORDER_CHANGED,
            now=now,
        )
        touched[fulfillment_line.fulfillment_id] = fulfillment_line.fulfillment
    for fulfillment in touched.values():
        settle(fulfillment, now)
    # A fulfilment the change ended has its plan frozen and undone; one that keeps
    # other lines goes on with its plan, amended (the transition says so).
    ended = [pk for pk, f in touched.items() if f.status == FulfillmentStatus.CANCELLED]
    frozen = plans_undo(
        fulfillment_ids=ended, reason=f"the order changed: {what}", user=user, now=now
    )
    plans_amended(
        fulfillment_ids=sorted(set(touched) - set(ended)),
        reason=f"the order changed: {what}",
        user=user,
        now=now,
    )

    _apply(order, lines, shipping_address, quantities, add_lines, remove_lines)

    number = (order.changes.aggregate(last=Max("number"))["last"] or 0) + 1
    after = _values(order, {line.pk: line for line in order.lines.select_related("product")})
    change = OrderChange.objects.create(
        order=order,
        number=number,
        summary=what[:500],
        before=before,
        after=after,
        undone={"fulfillments": fulfillment_ids, "plans": frozen},
        created_at=now,
        created_by=user if user is not None and user.is_authenticated else None,
    )
    event_record(
        order=order,
        kind="order.changed",
        message=f"Change {number}: {what}."
        + (
            f" {len(fulfillment_ids)} fulfilment(s) cancelled to route again."
            if fulfillment_ids
            else ""
        ),
        at=now,
        actor=actor_of(user, "api"),
        user=user,
        data={"change": number, "before": before, "after": after},
    )
    order_orchestration_request(order_id=order.pk, trigger=f"order changed ({what})", now=now)
    return change


def _summary(
    address: Mapping[str, Any] | None,
    quantities: Mapping[int, int],
    added: Sequence[Mapping[str, Any]],
    removed: Sequence[int],
) -> str:
    parts = []
    if address is not None:
        parts.append("the shipping address")
    parts += [f"line {line} to {quantity}" for line, quantity in sorted(quantities.items())]
    if added:
        parts.append(f"{len(added)} line{'s' if len(added) != 1 else ''} added")
    parts += [f"line {line} removed" for line in sorted(removed)]
    return ", ".join(parts)


def _values(order: Order, lines: Mapping[int, OrderLine]) -> dict[str, Any]:
    return {
        "shipping_address": {
            part: _plain(getattr(order, f"shipping_{part}")) for part in ADDRESS_PARTS
        },
        "lines": {
            str(line_id): {
                "product": line.product.backend_id or line.product_id,
                "quantity": line.quantity,
                "cancelled": line.quantity_cancelled,
            }
            for line_id, line in sorted(lines.items())
        },
    }


def _plain(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)


def _check(
    order: Order,
    lines: Mapping[int, OrderLine],
    shipping_address: Mapping[str, Any] | None,
    quantities: Mapping[int, int],
    remove_lines: Sequence[int],
) -> None:
    """Refuse a change that names another order's lines or impossible quantities."""
    named = {*quantities, *remove_lines}
    unknown = sorted(named - set(lines))
    if unknown:
        raise ApplicationError(
            f"Order {order.backend_id or order.pk} has no line {unknown[0]}.",
            code="not_found",
            field="lines",
        )
    both = sorted(set(quantities) & set(remove_lines))
    if both:
        raise ApplicationError(
            f"Line {both[0]} is both changed and removed.", code="invalid", field="lines"
        )
    for line_id, quantity in quantities.items():
        line = lines[line_id]
        floor = line.quantity_shipped + line.quantity_cancelled
        if not isinstance(quantity, int) or quantity < max(floor, 1):
            raise ApplicationError(
                f"Line {line_id} cannot go below {max(floor, 1)} "
                f"({line.quantity_shipped} shipped, {line.quantity_cancelled} cancelled).",
                code="invalid_quantity",
                field=f"quantities.{line_id}",
            )
    if shipping_address is not None:
        unknown_parts = sorted(set(shipping_address) - set(ADDRESS_PARTS))
        if unknown_parts:
            raise ApplicationError(
                f"Unknown address field {unknown_parts[0]!r}.",
                code="unknown_field",
                field=f"shipping_address.{unknown_parts[0]}",
            )


def _apply(
    order: Order,
    lines: Mapping[int, OrderLine],
    shipping_address: Mapping[str, Any] | None,
    quantities: Mapping[int, int],
    add_lines: Sequence[Mapping[str, Any]],
    remove_lines: Sequence[int],
) -> None:
    if shipping_address is not None:
        for part in ADDRESS_PARTS:
            if part in shipping_address:
                setattr(order, f"shipping_{part}", shipping_address[part])
        order.full_clean(exclude=["created_by"], validate_unique=False)
        order.save()
    for line_id, quantity in quantities.items():
        OrderLine.objects.filter(pk=line_id).update(quantity=quantity)
    for line_id in remove_lines:
        line = lines[line_id]
        OrderLine.objects.filter(pk=line_id).update(
            quantity_cancelled=line.quantity - line.quantity_shipped
        )
    for index, fields in enumerate(add_lines):
        given = fields.get("product")
        product = (
            given
            if isinstance(given, Product)
            else Product.objects.filter(pk=given).first()
            if isinstance(given, int)
            else None
        )
        if product is None:
            raise ApplicationError(
                f"There is no product {fields.get('product')!r}.",
                code="not_found",
                field=f"add_lines[{index}].product",
            )
        unknown = sorted(set(fields) - ADDED_LINE_FIELDS)
        quantity = fields.get("quantity", 1)
        if unknown or not isinstance(quantity, int) or not 1 <= quantity <= LINE_QUANTITY.maximum:
            raise ApplicationError(
                f"Unknown line field {unknown[0]!r}."
                if unknown
                else f"An added line orders 1 to {LINE_QUANTITY.maximum:,} units.",
                code="invalid",
                field=f"add_lines[{index}].{unknown[0] if unknown else 'quantity'}",
            )
        OrderLine.objects.create(order=order, **{**fields, "product": product})
