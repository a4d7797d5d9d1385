"""What happens to a fulfilment after orchestration created it.

Ship-from-store tasks (start, pick, pack, ship, decline), deadlines, exports to
warehouses and their shipment reports, and cancellations. Every service locks
the order row first (then the fulfilments of the task, in ID order), so two
shops starting the same fanned-out task at the same moment queue up: the first
wins, the second finds the task Deactivated and is told which shop has it.
Whatever leaves order lines unfulfilled asks for them to be routed again
(``order_orchestration_request``); the engine then keeps the shop out from the
history (a shop that cancelled never gets those lines again).
"""

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from ..errors import ApplicationError, ConflictError, ForbiddenError, NotFoundError
from ..integrations.exporters import ExportError, exporter_for
from ..models import (
    CancellationReason,
    ExportStatus,
    FulfillmentAction,
    FulfillmentStatus,
    Order,
    OrderFulfillment,
    OrderFulfillmentLine,
    OrderIntent,
    OrderLine,
    ReturnCondition,
)
from ..models.fulfillments import OPEN_FULFILLMENT_STATUSES
from ..selectors.organization import user_works_at
from ..selectors.settings import setting_value
from .events import actor_of, event_record
from .orchestration_requests import order_orchestration_request
from .progress import order_refresh_status
from .returns import return_documents_send
from .sending import task_send_on_commit
from .stock import stock_consume, stock_release, stock_reserve, stock_restock

# How long a worker may hold an export before another may try it.
EXPORT_LEASE = timedelta(minutes=5)


def decline_reasons() -> list[str]:
    """The reasons a shop may give for declining or not picking (setting), plus Unknown."""
    configured = setting_value("ShipFromStore:DeclineReasons") or ""
    reasons = [reason.strip() for reason in configured.split(",") if reason.strip()]
    return [*reasons, CancellationReason.UNKNOWN]


def _reason(reason: str | None) -> str:
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


def _lock(
    fulfillment_id: int, user: AbstractBaseUser | None = None
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
            f"You do not work at {_shop(fulfillment)}: only its staff can work its fulfilments.",
            code="not_your_organization_unit",
        )
    return order, fulfillment


def _shop(fulfillment: OrderFulfillment) -> str:
    return str(fulfillment.supplier_organization_unit or "no supplier")


def _require(fulfillment: OrderFulfillment, action: str, verb: str) -> None:
    if fulfillment.action != action:
        raise ConflictError(
            f"Only a {action} fulfilment can be {verb}; this one is {fulfillment.action}.",
            code="wrong_action",
        )


def _open_lines(fulfillment: OrderFulfillment) -> list[OrderFulfillmentLine]:
    return list(
        fulfillment.lines.select_for_update(of=("self",))
        .filter(status__in=OPEN_FULFILLMENT_STATUSES)
        .select_related("product")
        .order_by("pk")
    )


def _line_quantities(
    lines: list[OrderFulfillmentLine], wanted: Mapping[int, int], *, minimum: int, what: str
) -> dict[int, OrderFulfillmentLine]:
    """Check a ``{fulfilment line ID: quantity}`` input against the open lines.

    Each ID must be an open line of the fulfilment and each quantity between
    ``minimum`` and the line's quantity; errors name ``lines[i].id`` / ``.quantity``.
    Returns the named lines by ID.
    """
    by_id = {line.pk: line for line in lines}
    for index, (line_id, quantity) in enumerate(wanted.items()):
        line = by_id.get(line_id)
        if line is None:
            raise ApplicationError(
                f"Fulfilment line {line_id} is not an open line of this fulfilment.",
                code="invalid_line",
                field=f"lines[{index}].id",
            )
        if not minimum <= quantity <= line.quantity:
            raise ApplicationError(
                f"The quantity {what} must be between {minimum} and {line.quantity} "
                f"for line {line_id}.",
                code="invalid_quantity",
                field=f"lines[{index}].quantity",
            )
    return by_id


def _parse_quantities(
    lines: list[OrderFulfillmentLine], wanted: Mapping[int, int] | None, what: str
) -> dict[int, int]:
    """Every open line's quantity: as given in ``wanted``, else the whole line."""
    _line_quantities(lines, wanted or {}, minimum=0, what=what)
    return {line.pk: (wanted or {}).get(line.pk, line.quantity) for line in lines}


def _end(
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
            organization_unit_id=fulfillment.supplier_organization_unit_id,
            product_id=line.product_id,
            quantity=quantity,
        )


def _cancel_open_lines(fulfillment: OrderFulfillment, reason: str, now: datetime) -> None:
    """Cancel every open line of the fulfilment with ``reason``, releasing their stock."""
    for line in _open_lines(fulfillment):
        _end(
            fulfillment,
            line,
            line.quantity,
            status=FulfillmentStatus.CANCELLED,
            reason=reason,
            now=now,
        )
    _settle(fulfillment, now)


def _settle(fulfillment: OrderFulfillment, now: datetime, **changes: Any) -> None:
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


def _copies(fulfillment: OrderFulfillment) -> list[OrderFulfillment]:
    """Every shop's copy of the fulfilment's task (just itself when not fanned out)."""
    if not fulfillment.task_key:
        return [fulfillment]
    return list(
        OrderFulfillment.objects.select_for_update(of=("self",))
        .select_related("supplier_organization_unit")
        .filter(task_key=fulfillment.task_key)
        .order_by("pk")
    )


def _reroute_unless_covered(
    order: Order, fulfillment: OrderFulfillment, trigger: str, now: datetime
) -> bool:
    """Route the order again, unless another shop's copy of the task may still take it."""
    if fulfillment.task_key and (
        OrderFulfillment.objects.filter(task_key=fulfillment.task_key, status=FulfillmentStatus.NEW)
        .exclude(pk=fulfillment.pk)
        .exists()
    ):
        return False
    order_orchestration_request(order_id=order.pk, trigger=trigger, now=now)
    return True


def _deadline(fulfillment: OrderFulfillment, name: str, now: datetime) -> datetime | None:
    value = fulfillment.data.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return now + timedelta(minutes=value)


# --- Ship from store --------------------------------------------------------------------


@transaction.atomic
def fulfillment_start(
    *, fulfillment_id: int, user: AbstractBaseUser | None, now: datetime | None = None
) -> OrderFulfillment:
    """A shop starts a ship-from-store task; its copies at other shops are deactivated."""
    now = now or timezone.now()
    order, fulfillment = _lock(fulfillment_id, user)
    _require(fulfillment, FulfillmentAction.SHIP_FROM_STORE, "started")
    copies = _copies(fulfillment)
    if fulfillment.status != FulfillmentStatus.NEW:
        winner = next((c for c in copies if c.started_at), None)
        if fulfillment.status == FulfillmentStatus.DEACTIVATED and winner is not None:
            raise ConflictError(
                f"{_shop(winner)} started this task first; it is no longer yours.",
                code="other_store",
            )
        raise ConflictError(
            f"This task is {fulfillment.get_status_display()}; only a New task can be started.",
            code="not_new",
        )
    lines = _open_lines(fulfillment)
    holder = next((c for c in copies if c.holds_reservation), None)
    if order.intent == OrderIntent.SALES and not fulfillment.holds_reservation:
        # Reserve here before releasing there: if this shop lacks the stock the
        # whole start is refused and the other shop keeps its reservation. (No
        # holder at all: the shop that held it declined, and released it.)
        wanted: Counter[int] = Counter()
        for line in lines:
            wanted[line.product_id] += line.quantity
        for product_id, quantity in sorted(wanted.items()):
            if not stock_reserve(
                organization_unit_id=fulfillment.supplier_organization_unit_id,
                product_id=product_id,
                quantity=quantity,
            ):
                raise ConflictError(
                    "This shop no longer has the stock for this task.", code="insufficient_stock"
                )
            if holder is not None:
                stock_release(
                    organization_unit_id=holder.supplier_organization_unit_id,
                    product_id=product_id,
                    quantity=quantity,
                )
        if holder is not None:
            OrderFulfillment.objects.filter(pk=holder.pk).update(holds_reservation=False)
        fulfillment.holds_reservation = True
    OrderFulfillmentLine.objects.filter(pk__in=[line.pk for line in lines]).update(
        status=FulfillmentStatus.IN_PROGRESS, started_at=now, updated_at=now
    )
    others = [c for c in copies if c.pk != fulfillment.pk and c.status == FulfillmentStatus.NEW]
    OrderFulfillmentLine.objects.filter(
        fulfillment__in=others, status=FulfillmentStatus.NEW
    ).update(
        status=FulfillmentStatus.DEACTIVATED,
        cancellation_reason=CancellationReason.OTHER_STORE,
        updated_at=now,
    )
    OrderFulfillment.objects.filter(pk__in=[c.pk for c in others]).update(
        status=FulfillmentStatus.DEACTIVATED, updated_at=now
    )
    _settle(
        fulfillment,
        now,
        status=FulfillmentStatus.IN_PROGRESS,
        started_at=now,
        started_by=user if user is not None and user.is_authenticated else None,
        holds_reservation=fulfillment.holds_reservation,
        pack_deadline=_deadline(fulfillment, "PackDeadlineInMinutes", now),
    )
    message = f"{_shop(fulfillment)} started the ship-from-store task."
    if others:
        message += " Deactivated at " + ", ".join(_shop(c) for c in others) + " (Otherstore)."
    event_record(
        order=order,
        kind="fulfillment.started",
        message=message,
        at=now,
        actor=actor_of(user, "store"),
        user=user,
        fulfillment=fulfillment,
        data={"deactivated": [c.pk for c in others]},
    )
    order_refresh_status(order=order, now=now, actor=actor_of(user, "store"))
    return fulfillment


@transaction.atomic
def fulfillment_pick(
    *,
    fulfillment_id: int,
    user: AbstractBaseUser | None,
    picked: Mapping[int, int] | None = None,
    reason: str | None = None,
    now: datetime | None = None,
) -> OrderFulfillment:
    """Record what the shop picked; lines not listed in ``picked`` are picked in full.

    What was not picked is cancelled with ``reason`` and routed again without this shop.
    """
    now = now or timezone.now()
    order, fulfillment = _lock(fulfillment_id, user)
    _require(fulfillment, FulfillmentAction.SHIP_FROM_STORE, "picked")
    if fulfillment.status != FulfillmentStatus.IN_PROGRESS or fulfillment.picked_at:
        raise ConflictError(
            "Only a started task that is not picked yet can be picked.", code="not_pickable"
        )
    lines = _open_lines(fulfillment)
    quantities = _parse_quantities(lines, picked, "picked")
    reason = _reason(reason) if any(quantities[line.pk] < line.quantity for line in lines) else ""
    missing = 0
    for line in lines:
        rest = line.quantity - quantities[line.pk]
        missing += rest
        _end(fulfillment, line, rest, status=FulfillmentStatus.CANCELLED, reason=reason, now=now)
    _settle(fulfillment, now, picked_at=now)
    actor = actor_of(user, "store")
    message = f"{_shop(fulfillment)} picked the task"
    if missing:
        message += f"; {missing} units not picked ({reason}) are routed again without this shop"
    event_record(
        order=order,
        kind="fulfillment.picked",
        message=message + ".",
        at=now,
        actor=actor,
        user=user,
        fulfillment=fulfillment,
        data={"not_picked": missing, "reason": reason or None},
    )
    if missing:
        order_orchestration_request(
            order_id=order.pk,
            trigger=f"{_shop(fulfillment)} did not pick {missing} units ({reason})",
            now=now,
        )
    order_refresh_status(order=order, now=now, actor=actor)
    return fulfillment


@transaction.atomic
def fulfillment_pack(
    *, fulfillment_id: int, user: AbstractBaseUser | None, now: datetime | None = None
) -> OrderFulfillment:
    """The shop packed the picked lines; the ship deadline starts."""
    now = now or timezone.now()
    order, fulfillment = _lock(fulfillment_id, user)
    _require(fulfillment, FulfillmentAction.SHIP_FROM_STORE, "packed")
    if (
        fulfillment.status != FulfillmentStatus.IN_PROGRESS
        or not fulfillment.picked_at
        or fulfillment.packed_at
    ):
        raise ConflictError(
            "Only a picked task that is not packed yet can be packed.", code="not_packable"
        )
    _settle(
        fulfillment,
        now,
        packed_at=now,
        ship_deadline=_deadline(fulfillment, "ShipDeadlineInMinutes", now),
    )
    event_record(
        order=order,
        kind="fulfillment.packed",
        message=f"{_shop(fulfillment)} packed the task.",
        at=now,
        actor=actor_of(user, "store"),
        user=user,
        fulfillment=fulfillment,
    )
    return fulfillment


@transaction.atomic
def fulfillment_decline(
    *,
    fulfillment_id: int,
    user: AbstractBaseUser | None,
    reason: str | None = None,
    now: datetime | None = None,
) -> OrderFulfillment:
    """A shop declines a task: its lines are cancelled and routed again without it."""
    now = now or timezone.now()
    order, fulfillment = _lock(fulfillment_id, user)
    _require(fulfillment, FulfillmentAction.SHIP_FROM_STORE, "declined")
    if fulfillment.status not in (FulfillmentStatus.NEW, FulfillmentStatus.IN_PROGRESS):
        raise ConflictError(
            f"This task is {fulfillment.get_status_display()}; it can no longer be declined.",
            code="not_declinable",
        )
    reason = _reason(reason)
    _cancel_open_lines(fulfillment, reason, now)
    actor = actor_of(user, "store")
    rerouted = _reroute_unless_covered(
        order, fulfillment, f"{_shop(fulfillment)} declined ({reason})", now
    )
    event_record(
        order=order,
        kind="fulfillment.declined",
        message=f"{_shop(fulfillment)} declined the task ({reason})"
        + (
            "; its lines are routed again without this shop."
            if rerouted
            else "; other shops still have it."
        ),
        at=now,
        actor=actor,
        user=user,
        fulfillment=fulfillment,
        data={"reason": reason},
    )
    order_refresh_status(order=order, now=now, actor=actor)
    return fulfillment


@transaction.atomic
def fulfillment_ship(
    *,
    fulfillment_id: int,
    user: AbstractBaseUser | None,
    carrier: str,
    tracking_number: str,
    shipped: Mapping[int, int] | None = None,
    now: datetime | None = None,
) -> OrderFulfillment:
    """Shipped: the lines are Completed and their stock leaves the supplier.

    A shop ships a packed task in full. A warehouse reports what it shipped of
    an export (``shipped``: fulfilment line ID -> quantity; lines not listed
    shipped in full); the rest is cancelled (NotShipped) and routed again.
    """
    now = now or timezone.now()
    order, fulfillment = _lock(fulfillment_id, user)
    for field, value in (("carrier", carrier), ("tracking_number", tracking_number)):
        if not value or not value.strip():
            raise ApplicationError(
                f"A shipment needs a {field.replace('_', ' ')}.", code="required", field=field
            )
    if fulfillment.action == FulfillmentAction.SHIP_FROM_STORE:
        if fulfillment.status != FulfillmentStatus.IN_PROGRESS or not fulfillment.packed_at:
            raise ConflictError("Only a packed task can be shipped.", code="not_shippable")
        if shipped:
            raise ApplicationError(
                "A shop ships what it packed; unpicked lines are given when picking.",
                code="invalid",
                field="lines",
            )
    elif fulfillment.action == FulfillmentAction.EXPORT_ORDER:
        if fulfillment.status not in (FulfillmentStatus.NEW, FulfillmentStatus.IN_PROGRESS):
            raise ConflictError(
                f"This fulfilment is {fulfillment.get_status_display()}; it cannot be shipped.",
                code="not_shippable",
            )
    else:
        raise ConflictError(
            f"A {fulfillment.action} fulfilment is not shipped.", code="wrong_action"
        )
    lines = _open_lines(fulfillment)
    quantities = _parse_quantities(lines, shipped, "shipped")
    total = missing = 0
    for line in lines:
        quantity = quantities[line.pk]
        rest = line.quantity - quantity
        _end(
            fulfillment,
            line,
            rest,
            status=FulfillmentStatus.CANCELLED,
            reason=CancellationReason.NOT_SHIPPED,
            now=now,
        )
        missing += rest
        if quantity:
            total += quantity
            OrderFulfillmentLine.objects.filter(pk=line.pk).update(
                status=FulfillmentStatus.COMPLETED, completed_at=now, updated_at=now
            )
            OrderLine.objects.filter(pk=line.order_line_id).update(
                quantity_shipped=F("quantity_shipped") + quantity
            )
            if fulfillment.holds_reservation:
                stock_consume(
                    organization_unit_id=fulfillment.supplier_organization_unit_id,
                    product_id=line.product_id,
                    quantity=quantity,
                )
    _settle(
        fulfillment,
        now,
        shipped_at=now if total else None,
        carrier=carrier.strip(),
        tracking_number=tracking_number.strip(),
        holds_reservation=False,
    )
    actor = actor_of(user, "warehouse" if fulfillment.exporter_name else "store")
    message = f"{_shop(fulfillment)} shipped {total} units with {carrier} ({tracking_number})"
    if missing:
        message += f"; {missing} units not shipped are routed again without it"
    event_record(
        order=order,
        kind="fulfillment.shipped",
        message=message + ".",
        at=now,
        actor=actor,
        user=user,
        fulfillment=fulfillment,
        data={
            "carrier": carrier,
            "tracking_number": tracking_number,
            "shipped": total,
            "not_shipped": missing,
        },
    )
    if missing:
        order_orchestration_request(
            order_id=order.pk,
            trigger=f"{_shop(fulfillment)} did not ship {missing} units",
            now=now,
        )
    order_refresh_status(order=order, now=now, actor=actor)
    return fulfillment


def fulfillment_expire_overdue(*, now: datetime | None = None) -> int:
    """Cancel (reason Expired) every task whose deadline passed; route its lines again.

    Run every minute by the sweep; each task expires in its own transaction so
    one failure does not hold up the rest. Returns how many fulfilments expired.
    """
    now = now or timezone.now()
    candidates = OrderFulfillment.objects.filter(action=FulfillmentAction.SHIP_FROM_STORE).filter(
        Q(status=FulfillmentStatus.NEW, start_deadline__lte=now)
        | Q(status=FulfillmentStatus.IN_PROGRESS, packed_at__isnull=True, pack_deadline__lte=now)
        | Q(status=FulfillmentStatus.IN_PROGRESS, shipped_at__isnull=True, ship_deadline__lte=now)
    )
    expired = 0
    for fulfillment_id in candidates.values_list("pk", flat=True).order_by("pk")[:1000]:
        expired += _expire(fulfillment_id, now)
    return expired


@transaction.atomic
def _expire(fulfillment_id: int, now: datetime) -> int:
    order, fulfillment = _lock(fulfillment_id)
    which = None
    if fulfillment.status == FulfillmentStatus.NEW and _passed(fulfillment.start_deadline, now):
        which = "start"
    elif fulfillment.status == FulfillmentStatus.IN_PROGRESS:
        if not fulfillment.packed_at and _passed(fulfillment.pack_deadline, now):
            which = "pack"
        elif _passed(fulfillment.ship_deadline, now):
            which = "ship"
    if which is None:  # started, packed or shipped meanwhile
        return 0
    _cancel_open_lines(fulfillment, CancellationReason.EXPIRED, now)
    rerouted = _reroute_unless_covered(
        order, fulfillment, f"{_shop(fulfillment)} let the {which} deadline pass", now
    )
    event_record(
        order=order,
        kind="fulfillment.expired",
        message=f"The {which} deadline passed at {_shop(fulfillment)}: cancelled (Expired)"
        + ("; routed again without this shop." if rerouted else "."),
        at=now,
        actor="system:deadlines",
        fulfillment=fulfillment,
        data={"deadline": which},
    )
    order_refresh_status(order=order, now=now, actor="system:deadlines")
    return 1


def _passed(deadline: datetime | None, now: datetime) -> bool:
    return deadline is not None and deadline <= now


# --- Cancellations ----------------------------------------------------------------------


@transaction.atomic
def fulfillment_lines_cancel(
    *,
    fulfillment_id: int,
    user: AbstractBaseUser | None,
    quantities: Mapping[int, int],
    now: datetime | None = None,
) -> OrderFulfillment:
    """Cancel open fulfilment lines (reason Unknown), release their stock, route them again.

    ``quantities``: fulfilment line ID -> quantity to cancel. Part of a line only
    when the setting ``OrderFulfillment:AllowPartialCancellation`` is on.
    """
    now = now or timezone.now()
    order, fulfillment = _lock(fulfillment_id, user)
    if not quantities:
        raise ApplicationError("Name at least one line to cancel.", code="required", field="lines")
    lines = _line_quantities(_open_lines(fulfillment), quantities, minimum=1, what="to cancel")
    partial_allowed = setting_value("OrderFulfillment:AllowPartialCancellation")
    for index, (line_id, quantity) in enumerate(quantities.items()):
        line = lines[line_id]
        if quantity < line.quantity and not partial_allowed:
            raise ApplicationError(
                f"Line {line_id} has {line.quantity} units: cancel all of them, or turn on the "
                "setting OrderFulfillment:AllowPartialCancellation to cancel part of a line.",
                code="partial_cancellation_not_allowed",
                field=f"lines[{index}].quantity",
            )
    for line_id, quantity in quantities.items():
        _end(
            fulfillment,
            lines[line_id],
            quantity,
            status=FulfillmentStatus.CANCELLED,
            reason=CancellationReason.UNKNOWN,
            now=now,
        )
    _settle(fulfillment, now)
    total = sum(quantities.values())
    actor = actor_of(user, "api")
    rerouted = _reroute_unless_covered(
        order, fulfillment, f"{total} units cancelled at {_shop(fulfillment)}", now
    )
    event_record(
        order=order,
        kind="fulfillment.lines_cancelled",
        message=f"{total} units cancelled at {_shop(fulfillment)} (Unknown)"
        + ("; routed again without it." if rerouted else "."),
        at=now,
        actor=actor,
        user=user,
        fulfillment=fulfillment,
        data={"lines": [{"id": i, "quantity": q} for i, q in quantities.items()]},
    )
    order_refresh_status(order=order, now=now, actor=actor)
    return fulfillment


@transaction.atomic
def order_line_cancel(
    *,
    order_line_id: int,
    quantity: int,
    user: AbstractBaseUser | None,
    now: datetime | None = None,
) -> OrderLine:
    """Cancel (part of) an order line itself: nothing is routed again.

    Its open fulfilment lines are cancelled with reason FulfillmentCancelled and
    their stock released; units not in any fulfilment are cancelled too.
    """
    now = now or timezone.now()
    order_id = OrderLine.objects.filter(pk=order_line_id).values_list("order_id", flat=True).first()
    if order_id is None:
        raise NotFoundError(f"There is no order line {order_line_id}.", code="not_found")
    order = Order.objects.select_for_update().get(pk=order_id)
    line = OrderLine.objects.select_related("product").get(pk=order_line_id)
    cancellable = line.quantity - line.quantity_shipped - line.quantity_cancelled
    if not 1 <= quantity <= cancellable:
        raise ApplicationError(
            f"{cancellable} units of this line can still be cancelled; {quantity} asked."
            if cancellable
            else "Nothing of this line can be cancelled any more: it is shipped or cancelled.",
            code="invalid_quantity",
            field="quantity",
        )
    left = quantity
    open_lines = (
        OrderFulfillmentLine.objects.select_for_update(of=("self",))
        .filter(order_line=line, status__in=OPEN_FULFILLMENT_STATUSES)
        .select_related("fulfillment")
        .order_by("-pk")
    )
    groups: dict[str, list[OrderFulfillmentLine]] = {}
    for fulfillment_line in open_lines:
        key = fulfillment_line.fulfillment.task_key or f"#{fulfillment_line.fulfillment_id}"
        groups.setdefault(key, []).append(fulfillment_line)
    touched: dict[int, OrderFulfillment] = {}
    for copies in groups.values():
        if not left:
            break
        # Every copy of a fanned-out task holds the same units: cancel them alike.
        take = min(left, min(c.quantity for c in copies))
        for fulfillment_line in copies:
            _end(
                fulfillment_line.fulfillment,
                fulfillment_line,
                take,
                status=FulfillmentStatus.CANCELLED,
                reason=CancellationReason.FULFILLMENT_CANCELLED,
                now=now,
            )
            touched[fulfillment_line.fulfillment_id] = fulfillment_line.fulfillment
        left -= take
    for fulfillment in touched.values():
        _settle(fulfillment, now)
    if left:  # not in any fulfilment: record it, so the engine counts it as done
        cancel = OrderFulfillment.objects.create(
            order=order,
            action=FulfillmentAction.CANCEL,
            status=FulfillmentStatus.CANCELLED,
            cancelled_at=now,
        )
        OrderFulfillmentLine.objects.create(
            fulfillment=cancel,
            order_line=line,
            product=line.product,
            quantity=left,
            status=FulfillmentStatus.CANCELLED,
            cancellation_reason=CancellationReason.FULFILLMENT_CANCELLED,
            cancelled_at=now,
        )
    OrderLine.objects.filter(pk=line.pk).update(
        quantity_cancelled=F("quantity_cancelled") + quantity
    )
    actor = actor_of(user, "api")
    product = line.product.backend_id or line.product.name
    event_record(
        order=order,
        kind="lines.cancelled",
        message=f"{quantity} x {product} cancelled on the order line (FulfillmentCancelled).",
        at=now,
        actor=actor,
        user=user,
        data={
            "lines": [{"order_line": line.pk, "quantity": quantity}],
            "reason": CancellationReason.FULFILLMENT_CANCELLED,
        },
    )
    order_refresh_status(order=order, now=now, actor=actor)
    line.refresh_from_db()
    return line


# --- Exports ----------------------------------------------------------------------------


def export_payload(fulfillment: OrderFulfillment) -> dict[str, Any]:
    """What a warehouse gets: the fulfilment, its lines and where they go."""
    order = fulfillment.order
    unit = fulfillment.supplier_organization_unit
    return {
        "fulfillment": fulfillment.pk,
        "exporter": fulfillment.exporter_name,
        "warehouse": {"id": unit.pk, "backend_id": unit.backend_id, "name": unit.name},
        "order": {
            "id": order.pk,
            "backend_id": order.backend_id,
            "customer_email": order.customer_email,
            "shipping_address": {
                part: getattr(order, f"shipping_{part}")
                for part in ("street", "zip_code", "city", "country_id")
            },
        },
        "lines": [
            {
                "id": line.pk,
                "order_line": line.order_line_id,
                "product": line.product.backend_id,
                "quantity": line.quantity,
            }
            for line in fulfillment.lines.filter(status__in=OPEN_FULFILLMENT_STATUSES)
            .select_related("product")
            .order_by("pk")
        ],
        "data": fulfillment.data,
    }


def fulfillment_export(*, fulfillment_id: int, now: datetime | None = None) -> bool:
    """Send a pending export to its warehouse once; say whether it got there.

    The export is claimed first (a conditional update), so two workers never
    send it at the same time. A failure schedules the next attempt after a
    delay that doubles each time (``Export:RetryDelayInSeconds``); after
    ``Export:MaxAttempts`` the export is Failed and listed for a person to retry.
    """
    now = now or timezone.now()
    claimed = OrderFulfillment.objects.filter(
        pk=fulfillment_id, export_status=ExportStatus.PENDING, export_next_at__lte=now
    ).update(export_next_at=now + EXPORT_LEASE)
    if not claimed:
        return False
    fulfillment = OrderFulfillment.objects.select_related(
        "order", "supplier_organization_unit"
    ).get(pk=fulfillment_id)
    error = ""
    returns = fulfillment.action == FulfillmentAction.EXPORT_RETURN_ORDER
    try:
        if returns:  # what a return order exports: its documents, to the customer
            return_documents_send(fulfillment)
        else:
            exporter_for(fulfillment.exporter_name).send(
                export_payload(fulfillment), idempotency_key=f"fulfillment-{fulfillment.pk}"
            )
    except ExportError as failure:
        error = str(failure)
    with transaction.atomic():
        Order.objects.select_for_update().get(pk=fulfillment.order_id)
        attempts = fulfillment.export_attempts + 1
        target = (
            f"the customer {fulfillment.order.customer_email or '(no address)'} "
            f"(return documents for {_shop(fulfillment)})"
            if returns
            else f"{fulfillment.exporter_name or '(no exporter)'} for {_shop(fulfillment)}"
        )
        if not error:
            OrderFulfillment.objects.filter(pk=fulfillment.pk).update(
                export_status=ExportStatus.EXPORTED,
                export_attempts=attempts,
                export_next_at=None,
                export_error="",
                exported_at=now,
                status=FulfillmentStatus.IN_PROGRESS,
                updated_at=now,
            )
            fulfillment.lines.filter(status=FulfillmentStatus.NEW).update(
                status=FulfillmentStatus.IN_PROGRESS, started_at=now, updated_at=now
            )
            event_record(
                order=fulfillment.order,
                kind="export.sent",
                message=f"Exported to {target} (attempt {attempts}).",
                at=now,
                actor="system:export",
                fulfillment=fulfillment,
            )
            return True
        if attempts >= setting_value("Export:MaxAttempts"):
            OrderFulfillment.objects.filter(pk=fulfillment.pk).update(
                export_status=ExportStatus.FAILED,
                export_attempts=attempts,
                export_next_at=None,
                export_error=error,
                updated_at=now,
            )
            event_record(
                order=fulfillment.order,
                kind="export.failed",
                message=f"Export to {target} failed {attempts} times and was given up: {error} "
                "Retry it from the list of failed exports.",
                at=now,
                actor="system:export",
                fulfillment=fulfillment,
                data={"attempts": attempts, "error": error},
            )
        else:
            delay = setting_value("Export:RetryDelayInSeconds") * 2 ** (attempts - 1)
            OrderFulfillment.objects.filter(pk=fulfillment.pk).update(
                export_attempts=attempts,
                export_next_at=now + timedelta(seconds=delay),
                export_error=error,
                updated_at=now,
            )
            event_record(
                order=fulfillment.order,
                kind="export.retrying",
                message=f"Export to {target} failed (attempt {attempts}): {error} "
                f"Next attempt in {delay} seconds.",
                at=now,
                actor="system:export",
                fulfillment=fulfillment,
                data={"attempts": attempts, "error": error},
            )
    return False


@transaction.atomic
def fulfillment_export_retry(
    *, fulfillment_id: int, user: AbstractBaseUser | None, now: datetime | None = None
) -> OrderFulfillment:
    """Try a failed export again, with a fresh set of attempts."""
    now = now or timezone.now()
    order, fulfillment = _lock(fulfillment_id, user)
    if fulfillment.export_status != ExportStatus.FAILED:
        raise ConflictError("Only a failed export can be retried.", code="not_failed")
    OrderFulfillment.objects.filter(pk=fulfillment.pk).update(
        export_status=ExportStatus.PENDING, export_attempts=0, export_next_at=now, updated_at=now
    )
    event_record(
        order=order,
        kind="export.retry",
        message=f"Export to {fulfillment.exporter_name} retried by hand.",
        at=now,
        actor=actor_of(user, "api"),
        user=user,
        fulfillment=fulfillment,
    )
    from ..tasks import fulfillment_export_task

    task_send_on_commit(task=fulfillment_export_task, ids=[fulfillment.pk], noun="fulfillment")
    fulfillment.refresh_from_db()
    return fulfillment


@transaction.atomic
def return_receive(
    *,
    fulfillment_id: int,
    lines: Sequence[Mapping[str, Any]],
    user: AbstractBaseUser | None,
    now: datetime | None = None,
) -> OrderFulfillment:
    """The receiving OU registers what arrived of a return: each of ``lines`` a
    fulfilment line ``id``, a ``quantity`` and the ``condition`` it came in (the same
    line may be listed once per condition).

    Sellable units go back into the OU's stock (which wakes orders waiting for
    them); the return order's lines count what came back; a ``return.received``
    event (a webhook, for the payment system to refund) lists every unit with its
    condition and amount. Refused, with nothing written, for a line that is not
    open on this return, an unknown condition, or more than the line expects.
    """
    now = now or timezone.now()
    order, fulfillment = _lock(fulfillment_id, user)
    _require(fulfillment, FulfillmentAction.EXPORT_RETURN_ORDER, "received")
    if not lines:
        raise ApplicationError(
            "Name at least one line that arrived.", code="required", field="lines"
        )
    open_lines = {line.pk: line for line in _open_lines(fulfillment)}
    totals: Counter[int] = Counter()
    for index, item in enumerate(lines):
        if item["id"] not in open_lines:
            raise ApplicationError(
                f"Fulfilment line {item['id']} is not a line of this return still to arrive.",
                code="invalid_line",
                field=f"lines[{index}].id",
            )
        if item["condition"] not in ReturnCondition.values:
            raise ApplicationError(
                f"Unknown condition {item['condition']!r}; use one of "
                f"{', '.join(ReturnCondition.values)}.",
                code="invalid_condition",
                field=f"lines[{index}].condition",
            )
        if item["quantity"] < 1:
            raise ApplicationError(
                "Receive at least 1 unit.",
                code="invalid_quantity",
                field=f"lines[{index}].quantity",
            )
        totals[item["id"]] += item["quantity"]
        expected = open_lines[item["id"]].quantity
        if totals[item["id"]] > expected:
            raise ApplicationError(
                f"Line {item['id']} expects {expected} units; {totals[item['id']]} received "
                "is more than that.",
                code="too_many",
                field=f"lines[{index}].quantity",
            )
    order_lines = {
        line.pk: line
        for line in OrderLine.objects.filter(
            pk__in={line.order_line_id for line in open_lines.values()}
        ).select_related("product")
    }
    received: Counter[int] = Counter()
    restock: Counter[int] = Counter()
    refund = Decimal(0)
    described = []
    for item in lines:
        line = open_lines[item["id"]]
        _end(
            fulfillment,
            line,
            item["quantity"],
            status=FulfillmentStatus.COMPLETED,
            reason="",
            now=now,
            condition=item["condition"],
            completed_at=now,
        )
        received[line.order_line_id] += item["quantity"]
        if item["condition"] == ReturnCondition.SELLABLE:
            restock[line.product_id] += item["quantity"]
        order_line = order_lines[line.order_line_id]
        amount = order_line.unit_price_in_tax * item["quantity"]
        refund += amount
        described.append(
            {
                "order_line": order_line.pk,
                "original_line": order_line.original_line_id,
                "product": order_line.product.backend_id,
                "quantity": item["quantity"],
                "condition": item["condition"],
                "amount": str(amount),
            }
        )
    for line_id, quantity in received.items():
        # A return order's line is done when its units are back: counted as shipped.
        OrderLine.objects.filter(pk=line_id).update(
            quantity_shipped=F("quantity_shipped") + quantity
        )
    _settle(fulfillment, now)
    for product_id, quantity in sorted(restock.items()):
        stock_restock(
            organization_unit_id=fulfillment.supplier_organization_unit_id,
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
        message=f"Received at {_shop(fulfillment)}: {summary}; "
        f"{restocked} units back in stock; {refund} {order.currency_id} to refund.",
        at=now,
        actor=actor,
        user=user,
        fulfillment=fulfillment,
        data={
            "return_order": order.pk,
            "original_order": order.original_order_id,
            "organization_unit": fulfillment.supplier_organization_unit.backend_id,
            "lines": described,
            "refund_amount": str(refund),
            "currency": order.currency_id,
        },
    )
    order_refresh_status(order=order, now=now, actor=actor)
    return fulfillment
