"""Receiving: what arrives of a return at the OU that takes it back.

The receiving OU lists what arrived, each a ``ReceivedUnits`` (a fulfilment line, how
many units, in which condition; one line may be listed once per condition). Either all
of it is taken or none: a line that is not open on this return, an unknown condition,
or more units than the line expects is refused with a ``LineError`` naming the line
(and which of its listings), nothing written. Sellable units go back into the OU's
stock (which wakes orders waiting for them); the return order's lines count what came
back; a ``return.received`` event (a webhook, for the payment system to refund) lists
every unit with its condition and amount. What a warehouse reports of an export it
shipped is ``steps.fulfillment_ship``.
"""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from ...errors import ApplicationError
from ...models import (
    FulfillmentAction,
    FulfillmentStatus,
    OrderFulfillmentLine,
    OrderLine,
    ReturnCondition,
)
from ..events import actor_of, event_record
from ..plans import plan_manual_step_done
from ..progress import order_refresh_status
from ..stock import stock_restock
from .common import (
    LineError,
    end_units,
    lock_fulfillment,
    lock_open_lines,
    require_action,
    settle,
    shop_name,
)


@dataclass(frozen=True)
class ReceivedUnits:
    """Units of a return's fulfilment line that arrived, and the condition they are in."""

    line_id: int
    quantity: int
    condition: str


@dataclass(frozen=True)
class Received:
    """What a return's arrival came to: units received, units back in stock, and the
    amount to refund (in the order's currency)."""

    fulfillment_id: int
    received: int
    restocked: int
    refund: Decimal


def _check_arrival(
    lines: Sequence[ReceivedUnits], open_lines: dict[int, OrderFulfillmentLine]
) -> None:
    """Refuse the first listing that is not an open line, has an unknown condition, no
    units, or takes its line past the units it expects."""
    totals: Counter[int] = Counter()
    listings: Counter[int] = Counter()
    for item in lines:
        listing = listings[item.line_id]
        listings[item.line_id] += 1
        if item.line_id not in open_lines:
            raise LineError(
                f"Fulfilment line {item.line_id} is not a line of this return still to arrive.",
                code="invalid_line",
                line_id=item.line_id,
                part="id",
                listing=listing,
            )
        if item.condition not in ReturnCondition.values:
            raise LineError(
                f"Unknown condition {item.condition!r}; use one of "
                f"{', '.join(ReturnCondition.values)}.",
                code="invalid_condition",
                line_id=item.line_id,
                part="condition",
                listing=listing,
            )
        if item.quantity < 1:
            raise LineError(
                "Receive at least 1 unit.",
                code="invalid_quantity",
                line_id=item.line_id,
                part="quantity",
                listing=listing,
            )
        totals[item.line_id] += item.quantity
        expected = open_lines[item.line_id].quantity
        if totals[item.line_id] > expected:
            raise LineError(
                f"Line {item.line_id} expects {expected} units; {totals[item.line_id]} "
                "received is more than that.",
                code="too_many",
                line_id=item.line_id,
                part="quantity",
                listing=listing,
            )


@transaction.atomic
def return_receive(
    *,
    fulfillment_id: int,
    lines: Sequence[ReceivedUnits],
    user: User | None,
    now: datetime | None = None,
) -> Received:
    """The receiving OU registers what arrived of a return (see the module)."""
    now = now or timezone.now()
    order, fulfillment = lock_fulfillment(fulfillment_id, user)
    require_action(fulfillment, FulfillmentAction.EXPORT_RETURN_ORDER, "received")
    if not lines:
        raise ApplicationError(
            "Name at least one line that arrived.", code="required", field="lines"
        )
    open_lines = {line.pk: line for line in lock_open_lines(fulfillment)}
    _check_arrival(lines, open_lines)
    order_lines = {
        line.pk: line
        for line in OrderLine.objects.filter(
            pk__in={line.order_line_id for line in open_lines.values()}
        ).select_related("product")
    }
    received: Counter[int] = Counter()
    restock: Counter[int] = Counter()
    refund = Decimal(0)
    described: list[dict[str, Any]] = []
    for item in lines:
        line = open_lines[item.line_id]
        end_units(
            fulfillment,
            line,
            item.quantity,
            status=FulfillmentStatus.COMPLETED,
            reason="",
            now=now,
            condition=item.condition,
            completed_at=now,
        )
        received[line.order_line_id] += item.quantity
        if item.condition == ReturnCondition.SELLABLE:
            restock[line.product_id] += item.quantity
        order_line = order_lines[line.order_line_id]
        amount = order_line.unit_price_in_tax * item.quantity
        refund += amount
        described.append(
            {
                "order_line": order_line.pk,
                "original_line": order_line.original_line_id,
                "product": order_line.product.backend_id,
                "quantity": item.quantity,
                "condition": item.condition,
                "amount": str(amount),
            }
        )
    for line_id, quantity in received.items():
        # A return order's line is done when its units are back: counted as shipped.
        OrderLine.objects.filter(pk=line_id).update(
            quantity_shipped=F("quantity_shipped") + quantity
        )
    settle(fulfillment, now)
    for product_id, quantity in sorted(restock.items()):
        stock_restock(
            organization_unit_id=fulfillment.supplier_unit_id,
            product_id=product_id,
            quantity=quantity,
            now=now,
        )
    actor = actor_of(user, "store")
    summary = ", ".join(
        f"{line['quantity']} x {line['product']} {line['condition']}" for line in described
    )
    restocked = sum(restock.values())
    event_record(
        order=order,
        kind="return.received",
        message=f"Received at {shop_name(fulfillment)}: {summary}; "
        f"{restocked} units back in stock; {refund} {order.currency_id} to refund.",
        at=now,
        actor=actor,
        user=user,
        fulfillment=fulfillment,
        data={
            "return_order": order.pk,
            "original_order": order.original_order_id,
            "organization_unit": fulfillment.supplier_unit.backend_id,
            "lines": described,
            "refund_amount": str(refund),
            "currency": order.currency_id,
        },
    )
    plan_manual_step_done(fulfillment=fulfillment, handler="receive", user=user, now=now)
    order_refresh_status(order=order, now=now, actor=actor)
    return Received(
        fulfillment_id=fulfillment.pk,
        received=sum(received.values()),
        restocked=restocked,
        refund=refund,
    )
