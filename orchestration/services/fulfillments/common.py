"""What every fulfilment service does to the rows: lock, check the lines named, end units,
settle the fulfilment's status, and route what is left again.

The contract every service of this package keeps through these helpers: the order row
is locked first, then the fulfilment (then the other copies of its task, in ID order),
so two requests on one order queue up instead of interleaving. An input naming a line
is refused with a ``LineError`` keyed by the fulfilment line's ID, never by where the
caller put it: the API names the item of its ``lines`` list, a Suite form its field.
Nothing here opens a transaction; the services that call it run in one.
"""

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Literal

from django.contrib.auth.models import User
from django.db.models import F

from ...errors import ApplicationError, ConflictError, ForbiddenError, NotFoundError
from ...models import (
    CancellationReason,
    FulfillmentStatus,
    Order,
    OrderFulfillment,
    OrderFulfillmentLine,
)
from ...models.fulfillments import OPEN_FULFILLMENT_STATUSES
from ...selectors.organization import user_works_at
from ...selectors.settings import setting_value
from ..orchestration_requests import order_orchestration_request
from ..stock import stock_release

# Which part of a named line an input got wrong.
LinePart = Literal["id", "quantity", "condition"]


class LineError(ApplicationError):
    """An input refused because of one fulfilment line, keyed by the line's ID.

    ``part`` is what is wrong about it (the ``id``: not an open line here; its
    ``quantity``; its ``condition``). ``listing`` says which mention of the line is
    meant when an input may name a line more than once (a return received in two
    conditions): 0 for the first. ``field`` stays empty: each caller names its own.
    """

    def __init__(
        self, message: str, *, code: str, line_id: int, part: LinePart, listing: int = 0
    ) -> None:
        super().__init__(message, code=code)
        self.line_id = line_id
        self.part = part
        self.listing = listing

    def at(self, field: str) -> ApplicationError:
        """The same refusal (message, code, status) naming the caller's ``field``."""
        named = ApplicationError(self.message, code=self.code, field=field)
        named.status = self.status
        return named


def decline_reasons() -> list[str]:
    """The reasons a shop may give for declining or not picking (setting), plus Unknown."""
    configured = setting_value("ShipFromStore:DeclineReasons") or ""
    reasons = [reason.strip() for reason in configured.split(",") if reason.strip()]
    return [*reasons, CancellationReason.UNKNOWN]


def checked_reason(reason: str | None) -> str:
    """``reason`` if it is one of ``decline_reasons()``; Unknown when none is given."""
    if not reason:
        return CancellationReason.UNKNOWN
    allowed = decline_reasons()
    if reason not in allowed:
        raise ApplicationError(
            f"Unknown reason {reason!r}; use one of {', '.join(allowed)} "
            "(setting ShipFromStore:DeclineReasons).",
            code="invalid_reason",
            field="reason",
        )
    return reason


def lock_fulfillment(
    fulfillment_id: int, user: User | None = None
) -> tuple[Order, OrderFulfillment]:
    """Lock the fulfilment's order, then the fulfilment; 404 if there is none, 403 if
    ``user`` does not work at its supplier (``None`` is the system itself)."""
    order_id = (
        OrderFulfillment.objects.filter(pk=fulfillment_id)
        .values_list("order_id", flat=True)
        .first()
    )
    if order_id is None:
        raise NotFoundError(f"There is no fulfilment {fulfillment_id}.", code="not_found")
    order = Order.objects.select_for_update().get(pk=order_id)
    fulfillment = (
        OrderFulfillment.objects.select_for_update(of=("self",))
        .select_related("supplier_organization_unit")
        .get(pk=fulfillment_id)
    )
    if user is not None and not user_works_at(user, fulfillment.supplier_organization_unit_id):
        raise ForbiddenError(
            f"You do not work at {shop_name(fulfillment)}: only its staff can work its "
            "fulfilments.",
            code="not_your_organization_unit",
        )
    return order, fulfillment


def shop_name(fulfillment: OrderFulfillment) -> str:
    """The supplier as messages name it."""
    return str(fulfillment.supplier_organization_unit or "no supplier")


def require_action(fulfillment: OrderFulfillment, action: str, verb: str) -> None:
    """Refuse (409 ``wrong_action``) unless the fulfilment is an ``action``."""
    if fulfillment.action != action:
        raise ConflictError(
            f"Only a {action} fulfilment can be {verb}; this one is {fulfillment.action}.",
            code="wrong_action",
        )


def lock_open_lines(fulfillment: OrderFulfillment) -> list[OrderFulfillmentLine]:
    """The fulfilment's open lines, locked, in ID order."""
    return list(
        fulfillment.lines.select_for_update(of=("self",))
        .filter(status__in=OPEN_FULFILLMENT_STATUSES)
        .select_related("product")
        .order_by("pk")
    )


def checked_line_quantities(
    lines: list[OrderFulfillmentLine], wanted: Mapping[int, int], *, minimum: int, what: str
) -> dict[int, OrderFulfillmentLine]:
    """Check a ``{fulfilment line ID: quantity}`` input against the open lines.

    Each ID must be an open line of the fulfilment and each quantity between
    ``minimum`` and the line's quantity; a ``LineError`` names the line otherwise.
    Returns the open lines by ID.
    """
    by_id = {line.pk: line for line in lines}
    for line_id, quantity in wanted.items():
        line = by_id.get(line_id)
        if line is None:
            raise LineError(
                f"Fulfilment line {line_id} is not an open line of this fulfilment.",
                code="invalid_line",
                line_id=line_id,
                part="id",
            )
        if not minimum <= quantity <= line.quantity:
            raise LineError(
                f"The quantity {what} must be between {minimum} and {line.quantity} "
                f"for line {line_id}.",
                code="invalid_quantity",
                line_id=line_id,
                part="quantity",
            )
    return by_id


def quantities_or_whole(
    lines: list[OrderFulfillmentLine], wanted: Mapping[int, int] | None, what: str
) -> dict[int, int]:
    """Every open line's quantity: as given in ``wanted`` (checked), else the whole line."""
    checked_line_quantities(lines, wanted or {}, minimum=0, what=what)
    return {line.pk: (wanted or {}).get(line.pk, line.quantity) for line in lines}


def end_units(
    fulfillment: OrderFulfillment,
    line: OrderFulfillmentLine,
    quantity: int,
    *,
    status: int,
    reason: str,
    now: datetime,
    **extra: Any,
) -> None:
    """End ``quantity`` units of ``line`` (all of it, or split off), releasing their stock;
    ``extra`` are more fields of the ended units (a received return's condition)."""
    if quantity <= 0:
        return
    ended = {"status": status, "cancellation_reason": reason, **extra}
    ended["cancelled_at" if status == FulfillmentStatus.CANCELLED else "updated_at"] = now
    if quantity == line.quantity:
        OrderFulfillmentLine.objects.filter(pk=line.pk).update(**ended)
    else:
        OrderFulfillmentLine.objects.filter(pk=line.pk).update(quantity=F("quantity") - quantity)
        line.quantity -= quantity
        OrderFulfillmentLine.objects.create(
            fulfillment=fulfillment,
            order_line_id=line.order_line_id,
            product_id=line.product_id,
            quantity=quantity,
            started_at=line.started_at,
            **ended,
        )
    if fulfillment.holds_reservation and status == FulfillmentStatus.CANCELLED:
        stock_release(
            organization_unit_id=fulfillment.supplier_unit_id,
            product_id=line.product_id,
            quantity=quantity,
        )


def cancel_open_lines(fulfillment: OrderFulfillment, reason: str, now: datetime) -> None:
    """Cancel every open line of the fulfilment with ``reason``, releasing their stock."""
    for line in lock_open_lines(fulfillment):
        end_units(
            fulfillment,
            line,
            line.quantity,
            status=FulfillmentStatus.CANCELLED,
            reason=reason,
            now=now,
        )
    settle(fulfillment, now)


def settle(fulfillment: OrderFulfillment, now: datetime, **changes: Any) -> None:
    """Derive the fulfilment's own status from its lines, and save ``changes`` with it."""
    statuses = set(fulfillment.lines.values_list("status", flat=True))
    if statuses & set(OPEN_FULFILLMENT_STATUSES):
        status = changes.pop("status", fulfillment.status)
    elif FulfillmentStatus.COMPLETED in statuses:
        status = FulfillmentStatus.COMPLETED
        changes.setdefault("completed_at", now)
    elif statuses == {FulfillmentStatus.DEACTIVATED}:
        status = FulfillmentStatus.DEACTIVATED
    else:
        status = FulfillmentStatus.CANCELLED
        changes.setdefault("cancelled_at", now)
    if status == FulfillmentStatus.CANCELLED:
        changes["holds_reservation"] = False  # everything it held was released
    changes["status"] = status
    OrderFulfillment.objects.filter(pk=fulfillment.pk).update(updated_at=now, **changes)
    for name, value in changes.items():
        setattr(fulfillment, name, value)


def task_copies(fulfillment: OrderFulfillment) -> list[OrderFulfillment]:
    """Every shop's copy of the fulfilment's task (just itself when not fanned out), locked."""
    if not fulfillment.task_key:
        return [fulfillment]
    return list(
        OrderFulfillment.objects.select_for_update(of=("self",))
        .select_related("supplier_organization_unit")
        .filter(task_key=fulfillment.task_key)
        .order_by("pk")
    )


def reroute_unless_covered(
    order: Order, fulfillment: OrderFulfillment, trigger: str, now: datetime
) -> bool:
    """Route the order again, unless another shop's copy of the task may still take it;
    say whether it was."""
    if fulfillment.task_key and (
        OrderFulfillment.objects.filter(task_key=fulfillment.task_key, status=FulfillmentStatus.NEW)
        .exclude(pk=fulfillment.pk)
        .exists()
    ):
        return False
    order_orchestration_request(order_id=order.pk, trigger=trigger, now=now)
    return True


def deadline_from(fulfillment: OrderFulfillment, name: str, now: datetime) -> datetime | None:
    """``now`` plus the minutes the sheet gave the task under ``name`` (none: no deadline)."""
    value = fulfillment.data.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return now + timedelta(minutes=value)
