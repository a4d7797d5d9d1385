"""Changing an order in flight: the shipping address, a line's quantity, lines added
or removed (``docs/plans.md``, In-flight changes).

``order_change`` checks and records one change, in one transaction, all or nothing:

1. The order is locked and the change checked: the lines are the order's, the
   quantities possible (not below what is shipped or cancelled), the address
   complete, the added products known. While another change of the order is
   pending, it is refused (409 ``change_pending``, naming that change).
2. The point of no return: if a main plan of a fulfilment holding an affected line
   has started a step marked point of no return (the demo: Pack, Export), the
   change is refused with a 409 naming that step and its state. Nothing is written.
3. If an automatic step of those plans is running, the change waits: its plans go
   Freezing and it is stored ``Pending`` with what was asked and the step it waits
   for (the API answers 202). When the last running step ends, ``plan_advance``
   sends ``order_changes_apply_task``, and ``order_changes_pending_apply`` applies
   it (the sweep sends that task too, for a message lost). It checks the point of
   no return again: passed meanwhile, the change is ``Refused`` with that message,
   nothing of it is made, and its plans go back to running.
4. Otherwise (at once, or when its plans stopped running) it is applied: the
   affected fulfilments' open units are cancelled (reason ``OrderChanged``, stock
   released); the plans of those the change ends are frozen (completed steps
   Canceled, the others Discarded, in reverse order) and the cancel groups of their
   Canceled steps run; the plans of those that keep other lines go on, and the
   amend groups of their Completed and In Progress steps run
   (``services/plan_changes.py``). The order is changed and the change recorded
   ``Applied`` (the supplemental order: its number, what was asked, the values
   before and after, what was undone), on the timeline (``order.changed``), and the
   order flagged for orchestration: what needs routing is routed again, and the new
   fulfilments get new plans.

Affected lines: for an address, every line with open units; for a quantity or a
removal, that line. An added line affects no fulfilment. Pending changes apply in
order of their numbers (one at a time: a second is refused while one waits).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from ..engine.limits import LINE_QUANTITY, ORDER_LINES
from ..errors import ApplicationError, ConflictError, NotFoundError
from ..models import (
    CancellationReason,
    FulfillmentStatus,
    Order,
    OrderChange,
    OrderChangeStatus,
    OrderFulfillmentLine,
    OrderIntent,
    OrderLine,
    OrderStatus,
    PlanPurpose,
    Product,
)
from ..models.fulfillments import OPEN_FULFILLMENT_STATUSES
from ..models.orders import ADDRESS_PARTS
from .events import actor_of, event_record
from .fulfillments.cancellations import unrouted_units_cancel
from .fulfillments.common import end_units, settle
from .orchestration_requests import order_orchestration_request
from .plan_changes import plans_compensate, plans_freeze, plans_running_step, plans_thaw
from .plans import plans_amended, plans_point_of_no_return_check, plans_undo

# What a line added in flight may say (the API's order line fields that need no lookup).
ADDED_LINE_FIELDS = frozenset({"product", "quantity", "unit_price", "unit_price_in_tax"})


@dataclass(frozen=True, slots=True)
class _Asked:
    """What a change asks, checked: added lines with their ``Product``."""

    shipping_address: Mapping[str, Any] | None
    quantities: Mapping[int, int]
    add_lines: Sequence[Mapping[str, Any]]
    remove_lines: Sequence[int]
    # Where the API's payload names a line: ``lines[1]`` by its ID, ``remove_lines[0]``.
    paths: Mapping[int, str] = field(default_factory=dict)
    removal_paths: Mapping[int, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Reach:
    """What a change touches: the affected order lines, their open fulfilment lines
    (locked) and those fulfilments' IDs."""

    affected: list[int]
    open_lines: list[OrderFulfillmentLine]
    fulfillment_ids: list[int]


def order_not_in_flight(order: Order) -> str | None:
    """Why ``order`` cannot be changed in flight, or None: a return order (what it
    returns follows from what was shipped), or one that has ended."""
    if order.intent == OrderIntent.RETURNS:
        return (
            f"Order {order.backend_id or order.pk} is a return order: what it returns follows "
            "from what was shipped; it cannot be changed in flight."
        )
    if order.status in (OrderStatus.CANCELLED, OrderStatus.COMPLETED):
        return (
            f"Order {order.backend_id or order.pk} is {order.status}: nothing of it is in "
            "flight, so it cannot be changed."
        )
    return None


@transaction.atomic
def order_change(
    *,
    order_id: int,
    user: User | None,
    shipping_address: Mapping[str, Any] | None = None,
    quantities: Mapping[int, int] | Sequence[tuple[int, int]] | None = None,
    add_lines: Sequence[Mapping[str, Any]] = (),
    remove_lines: Sequence[int] = (),
    now: datetime | None = None,
) -> OrderChange:
    """Change the order in flight (see the module); return the recorded change,
    ``Applied``, or ``Pending`` while running steps of its plans finish.

    ``quantities`` maps line IDs to new quantities, or is the API's ``lines`` as
    (ID, quantity) pairs: a line named twice there, or in ``remove_lines``, is
    refused (which of the two was meant cannot be told)."""
    now = now or timezone.now()
    order = Order.objects.select_for_update().filter(pk=order_id).first()
    if order is None:
        raise NotFoundError(f"There is no order {order_id}.", code="not_found")
    if not (shipping_address or quantities or add_lines or remove_lines):
        raise ApplicationError(
            "Say what changes: shipping_address, quantities, add_lines or remove_lines.",
            code="required",
        )
    closed = order_not_in_flight(order)
    if closed:
        raise ConflictError(closed, code="not_in_flight")
    pending = order.changes.filter(status=OrderChangeStatus.PENDING).order_by("number").first()
    if pending is not None:
        raise ConflictError(
            f"Change {pending.number} ({pending.summary}) is pending: it waits for "
            f"{pending.waits_for} to finish. Make another change once it is applied or "
            "refused.",
            code="change_pending",
        )
    lines = {line.pk: line for line in order.lines.select_related("product")}
    if len(lines) + len(add_lines) > ORDER_LINES.maximum:
        raise ApplicationError(
            f"Order {order.backend_id or order.pk} has {len(lines):,} lines; with "
            f"{len(add_lines):,} added it would have {len(lines) + len(add_lines):,}: "
            f"{ORDER_LINES.refusal}.",
            code="max_length",
            field="add_lines",
        )
    asked = _Asked(
        shipping_address=dict(shipping_address) if shipping_address is not None else None,
        quantities=_once(quantities),
        add_lines=_added_lines(add_lines),
        remove_lines=_once_each(remove_lines),
        paths=(
            {}
            if quantities is None or isinstance(quantities, Mapping)
            else {line_id: f"lines[{index}]" for index, (line_id, _) in enumerate(quantities)}
        ),
        removal_paths={
            line_id: f"remove_lines[{index}]" for index, line_id in enumerate(remove_lines)
        },
    )
    _check(order, lines, asked)
    what = _summary(asked)
    reach = _reach(lines, asked, what)
    change = OrderChange(
        order=order,
        number=(order.changes.aggregate(last=Max("number"))["last"] or 0) + 1,
        summary=what[:500],
        request=_stored(asked),
        created_at=now,
        created_by=user if user is not None and user.is_authenticated else None,
    )
    running = plans_running_step(fulfillment_ids=reach.fulfillment_ids)
    if running is None:
        _make(order, lines, asked, reach, change, user, now)
        return change
    change.status = OrderChangeStatus.PENDING
    change.waits_for = (
        f"step {running.definition.name!r} of the plan {running.plan.version.group.name!r}"
    )[:500]
    change.save(force_insert=True)
    plans_freeze(
        fulfillment_ids=reach.fulfillment_ids,
        reason=f"change {change.number} waits for {change.waits_for} to finish",
        user=user,
        now=now,
    )
    event_record(
        order=order,
        kind="order.change_pending",
        message=f"Change {change.number}: {what}: pending; it waits for {change.waits_for} "
        "to finish (its plan is Freezing).",
        at=now,
        actor=actor_of(user, "api"),
        user=user,
        data={"change": change.number},
    )
    return change


def order_changes_pending_apply(*, order_id: int, now: datetime | None = None) -> int:
    """Apply the order's pending changes, in order, whose plans run no automatic step
    any more (a change past a point of no return meanwhile is Refused); return how
    many were applied or refused. One that still waits stops the rest. Safe to call
    twice: a change that is no longer pending is left."""
    now = now or timezone.now()
    decided = 0
    with transaction.atomic():
        order = Order.objects.select_for_update().filter(pk=order_id).first()
        if order is None:
            return 0
        pending = order.changes.filter(status=OrderChangeStatus.PENDING).select_related(
            "created_by"
        )
        for change in pending.order_by("number"):
            if not _pending_apply(order, change, now):
                break
            decided += 1
    return decided


def _pending_apply(order: Order, change: OrderChange, now: datetime) -> bool:
    """Apply or refuse one pending change; False if it must wait on."""
    user = change.created_by
    lines = {line.pk: line for line in order.lines.select_related("product")}
    try:
        asked = _loaded(change.request)
        _check(order, lines, asked)
        reach = _reach(lines, asked, change.summary)
    except ApplicationError as refusal:
        _refuse(order, change, refusal.message, now)
        return True
    running = plans_running_step(fulfillment_ids=reach.fulfillment_ids)
    if running is not None:
        # A step started after the plans froze (sent to the worker before), or a plan
        # the change reaches now: freeze what is not yet, and wait for it too.
        change.waits_for = (
            f"step {running.definition.name!r} of the plan {running.plan.version.group.name!r}"
        )[:500]
        change.save(update_fields=["waits_for"])
        plans_freeze(
            fulfillment_ids=reach.fulfillment_ids,
            reason=f"change {change.number} waits for {change.waits_for} to finish",
            user=user,
            now=now,
        )
        return False
    try:
        with transaction.atomic():
            _make(order, lines, asked, reach, change, user, now)
    except ApplicationError as refusal:
        _refuse(order, change, refusal.message, now)
    return True


def _refuse(order: Order, change: OrderChange, message: str, now: datetime) -> None:
    """A pending change that can no longer be made: Refused with ``message``, its
    plans back to running; nothing of it is made."""
    change.status = OrderChangeStatus.REFUSED
    change.reason = message
    change.decided_at = now
    change.save(update_fields=["status", "reason", "decided_at"])
    plans_thaw(order_id=order.pk, reason=f"change {change.number} refused", user=None, now=now)
    event_record(
        order=order,
        kind="order.change_refused",
        message=f"Change {change.number} refused: {message}",
        at=now,
        actor=actor_of(None, "changes"),
        data={"change": change.number},
    )


def _reach(lines: Mapping[int, OrderLine], asked: _Asked, what: str) -> _Reach:
    """The lines a change affects, refused past a point of no return (see the module),
    and their open fulfilment lines, locked."""
    open_units = {
        line_id
        for line_id, line in lines.items()
        if line.quantity - line.quantity_shipped - line.quantity_cancelled > 0
    }
    affected = sorted(
        (open_units if asked.shipping_address is not None else set())
        | {
            line_id
            for line_id, quantity in asked.quantities.items()
            if quantity != lines[line_id].quantity
        }
        | set(asked.remove_lines)
    )
    if affected:
        plans_point_of_no_return_check(order_line_ids=affected, change=f"Changing {what}")
    open_lines = list(
        OrderFulfillmentLine.objects.select_for_update(of=("self",))
        .filter(order_line_id__in=affected, status__in=OPEN_FULFILLMENT_STATUSES)
        .select_related("fulfillment")
        .order_by("pk")
    )
    return _Reach(
        affected=affected,
        open_lines=open_lines,
        fulfillment_ids=sorted({line.fulfillment_id for line in open_lines}),
    )


def _make(
    order: Order,
    lines: Mapping[int, OrderLine],
    asked: _Asked,
    reach: _Reach,
    change: OrderChange,
    user: User | None,
    now: datetime,
) -> None:
    """Apply a change that may be made now (step 4 of the module) and record it."""
    what = change.summary
    before = _values(order, lines)
    touched = {}
    removed = set(asked.remove_lines)
    for fulfillment_line in reach.open_lines:
        # A removed line's units are the order line's own cancellation (nothing routes
        # them again); the others' are routed again (OrderChanged).
        end_units(
            fulfillment_line.fulfillment,
            fulfillment_line,
            fulfillment_line.quantity,
            status=FulfillmentStatus.CANCELLED,
            reason=CancellationReason.FULFILLMENT_CANCELLED
            if fulfillment_line.order_line_id in removed
            else CancellationReason.ORDER_CHANGED,
            now=now,
        )
        touched[fulfillment_line.fulfillment_id] = fulfillment_line.fulfillment
    for fulfillment in touched.values():
        settle(fulfillment, now)
    for line_id in asked.remove_lines:  # units no fulfilment holds (waiting): recorded
        line = lines[line_id]
        held = {  # fanned-out copies of a task hold the same units: counted once
            open_line.fulfillment.task_key or f"#{open_line.fulfillment_id}": open_line.quantity
            for open_line in reach.open_lines
            if open_line.order_line_id == line_id
        }
        unrouted_units_cancel(
            order=order,
            line=line,
            quantity=line.quantity
            - line.quantity_shipped
            - line.quantity_cancelled
            - sum(held.values()),
            now=now,
        )
    # A fulfilment the change ended has its plan frozen and undone, and its steps'
    # cancel groups run; one that keeps other lines goes on with its plan, amended
    # (the transition says so), and its steps' amend groups run.
    ended = [pk for pk, f in touched.items() if f.status == FulfillmentStatus.CANCELLED]
    frozen = plans_undo(
        fulfillment_ids=ended, reason=f"the order changed: {what}", user=user, now=now
    )
    cancels = plans_compensate(plan_ids=frozen, purpose=PlanPurpose.CANCEL, user=user, now=now)
    amended = plans_amended(
        fulfillment_ids=sorted(set(touched) - set(ended)),
        reason=f"the order changed: {what}",
        user=user,
        now=now,
    )
    amends = plans_compensate(plan_ids=amended, purpose=PlanPurpose.AMEND, user=user, now=now)

    _write(order, lines, asked)

    after = _values(order, {line.pk: line for line in order.lines.select_related("product")})
    waited = change.status == OrderChangeStatus.PENDING
    change.status = OrderChangeStatus.APPLIED
    change.before, change.after = before, after
    change.undone = {
        "fulfillments": reach.fulfillment_ids,
        "plans": frozen,
        "cancel_plans": cancels,
        "amend_plans": amends,
    }
    change.decided_at = now
    change.save()
    event_record(
        order=order,
        kind="order.changed",
        message=f"Change {change.number}: {what}."
        + (
            f" {len(reach.fulfillment_ids)} fulfilment(s) cancelled to route again."
            if reach.fulfillment_ids
            else ""
        )
        + (f" It waited for {change.waits_for}." if waited else ""),
        at=now,
        actor=actor_of(user, "api"),
        user=user,
        data={"change": change.number, "before": before, "after": after},
    )
    # Plans it froze that it did not end go on (a fulfilment that kept other lines).
    plans_thaw(order_id=order.pk, reason=f"change {change.number} applied", user=user, now=now)
    order_orchestration_request(order_id=order.pk, trigger=f"order changed ({what})", now=now)


def _added_lines(added: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The lines to add, checked: each with its ``Product`` (given, or by ID)."""
    checked = []
    for index, fields in enumerate(added):
        given = fields.get("product")
        product = (
            given
            if isinstance(given, Product)
            else Product.objects.filter(pk=given).first()
            if isinstance(given, int) and not isinstance(given, bool)
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
        checked.append({**fields, "product": product, "quantity": quantity})
    return checked


def _once(quantities: Mapping[int, int] | Sequence[tuple[int, int]] | None) -> dict[int, int]:
    """The new quantities by line; a line given twice is refused."""
    if quantities is None or isinstance(quantities, Mapping):
        return dict(quantities or {})
    once: dict[int, int] = {}
    for index, (line_id, quantity) in enumerate(quantities):
        if line_id in once:
            raise ApplicationError(
                f"Line {line_id} is named twice.", code="duplicate", field=f"lines[{index}].id"
            )
        once[line_id] = quantity
    return once


def _once_each(line_ids: Sequence[int]) -> list[int]:
    """The lines to remove; a line given twice is refused."""
    seen: set[int] = set()
    for index, line_id in enumerate(line_ids):
        if line_id in seen:
            raise ApplicationError(
                f"Line {line_id} is named twice.", code="duplicate", field=f"remove_lines[{index}]"
            )
        seen.add(line_id)
    return list(line_ids)


def _stored(asked: _Asked) -> dict[str, Any]:
    """What was asked, as JSON (``OrderChange.request``): products by ID, amounts as text."""
    return {
        "shipping_address": (
            {part: _plain(value) for part, value in asked.shipping_address.items()}
            if asked.shipping_address is not None
            else None
        ),
        "quantities": {str(line): quantity for line, quantity in asked.quantities.items()},
        "add_lines": [
            {
                name: value.pk if isinstance(value, Product) else _plain(value)
                for name, value in fields.items()
            }
            for fields in asked.add_lines
        ],
        "remove_lines": list(asked.remove_lines),
    }


def _loaded(request: Mapping[str, Any]) -> _Asked:
    """A pending change's ``request`` back as checked input (a product gone meanwhile
    refuses it)."""
    return _Asked(
        shipping_address=request.get("shipping_address"),
        quantities={int(line): quantity for line, quantity in request["quantities"].items()},
        add_lines=_added_lines(
            [
                {
                    name: Decimal(value)
                    if name.startswith("unit_price") and value is not None
                    else value
                    for name, value in fields.items()
                }
                for fields in request["add_lines"]
            ]
        ),
        remove_lines=list(request["remove_lines"]),
    )


def _summary(asked: _Asked) -> str:
    parts = []
    if asked.shipping_address is not None:
        parts.append("the shipping address")
    parts += [f"line {line} to {quantity}" for line, quantity in sorted(asked.quantities.items())]
    added = len(asked.add_lines)
    if added:
        parts.append(f"{added} line{'s' if added != 1 else ''} added")
    parts += [f"line {line} removed" for line in sorted(asked.remove_lines)]
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


def _check(order: Order, lines: Mapping[int, OrderLine], asked: _Asked) -> None:
    """Refuse a change that names another order's lines or impossible quantities."""
    shipping_address, quantities, remove_lines = (
        asked.shipping_address,
        asked.quantities,
        asked.remove_lines,
    )
    for line_id in [*quantities, *remove_lines]:
        if line_id not in lines:
            raise ApplicationError(
                f"Order {order.backend_id or order.pk} has no line {line_id}.",
                code="not_found",
                field=f"{asked.paths[line_id]}.id"
                if line_id in asked.paths
                else asked.removal_paths.get(line_id, "lines"),
            )
    both = sorted(set(quantities) & set(remove_lines))
    if both:
        raise ApplicationError(
            f"Line {both[0]} is both changed and removed.", code="invalid", field="lines"
        )
    for line_id in remove_lines:
        line = lines[line_id]
        if line.quantity - line.quantity_shipped - line.quantity_cancelled <= 0:
            raise ApplicationError(
                f"Line {line_id} has nothing left to remove: it is shipped or cancelled.",
                code="invalid_quantity",
                field=asked.removal_paths.get(line_id, "remove_lines"),
            )
    for line_id, quantity in quantities.items():
        line = lines[line_id]
        floor = line.quantity_shipped + line.quantity_cancelled
        if not isinstance(quantity, int) or quantity < max(floor, 1):
            raise ApplicationError(
                f"Line {line_id} cannot go below {max(floor, 1)} "
                f"({line.quantity_shipped} shipped, {line.quantity_cancelled} cancelled).",
                code="invalid_quantity",
                field=f"{asked.paths[line_id]}.quantity"
                if line_id in asked.paths
                else f"quantities.{line_id}",
            )
    if shipping_address is not None:
        unknown_parts = sorted(set(shipping_address) - set(ADDRESS_PARTS))
        if unknown_parts:
            raise ApplicationError(
                f"Unknown address field {unknown_parts[0]!r}.",
                code="unknown_field",
                field=f"shipping_address.{unknown_parts[0]}",
            )


def _write(order: Order, lines: Mapping[int, OrderLine], asked: _Asked) -> None:
    """Make the change on the order and its lines (added lines checked already)."""
    if asked.shipping_address is not None:
        for part in ADDRESS_PARTS:
            if part in asked.shipping_address:
                setattr(order, f"shipping_{part}", asked.shipping_address[part])
        order.full_clean(exclude=["created_by"], validate_unique=False)
        order.save()
    for line_id, quantity in asked.quantities.items():
        OrderLine.objects.filter(pk=line_id).update(quantity=quantity)
    for line_id in asked.remove_lines:
        line = lines[line_id]
        OrderLine.objects.filter(pk=line_id).update(
            quantity_cancelled=line.quantity - line.quantity_shipped
        )
    for fields in asked.add_lines:
        OrderLine.objects.create(order=order, **fields)
