"""Many orders at once: ``POST /api/orders/bulk/`` and ``manage.py import_orders``.

The contract, beside ``order_create`` (which stores one order as the API's
``POST /api/orders/`` does):

- Each order is its own. It was validated alone (the caller runs the API's serializer
  on each body); what this module refuses (no lines, an unknown line field, a backend
  ID another order took meanwhile) refuses that order alone, with the message
  ``order_create`` gives, and the others are stored.
- Orders are written a chunk at a time (``ORDERS_PER_CHUNK``), one transaction per
  chunk and a handful of statements per chunk, not per order: one INSERT of the
  orders, already flagged for orchestration (``needs_orchestration`` set in the INSERT
  itself), one of their lines and one of their ``order.created`` timeline events.
  A chunk either is stored whole (its valid orders) or not at all.
- A backend ID taken between the caller's check and the INSERT (a concurrent request)
  fails the chunk's INSERT; the chunk is then written again order by order, each in a
  savepoint of the chunk's transaction, so that only that order is refused.
- Orchestration: after the chunk commits, its orders go to the workers in messages of
  ``ORDERS_PER_TASK`` orders (``orders_orchestrate_task``): a broker round trip costs
  about as much as the INSERTs of a whole order (0.45 ms a publish here, measured in
  docs/performance.md), so one per order would halve the rate. If the broker cannot be
  reached, a warning names the orders and nothing else happens: they stay flagged and
  the sweep sends them (``services/sweep.py``), as for a single order
  (``services/sending.py``).
"""

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from itertools import islice
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from ..errors import ApplicationError
from ..models import Order, OrderLine
from ..tasks import orders_orchestrate_task
from .orders import CREATED_TRIGGER, order_fields_checked, orders_store
from .sending import broker_errors

logger = logging.getLogger(__name__)

# Orders written in one transaction: large enough that the statements of a chunk (5 or
# so) cost little per order, small enough that a chunk's transaction holds its locks
# (the unique backend_id index entries) for a few tens of milliseconds, and that the
# lookups of a chunk's products and OUs stay one short query each.
ORDERS_PER_CHUNK = 100
# Orders per orchestration message: a publish costs as much as storing an order, so
# one per order would halve the rate; 25 keeps several workers busy with one chunk
# (4 messages), and a redelivered message finds its orchestrated orders unflagged.
ORDERS_PER_TASK = 25

OrderResult = Order | ApplicationError


def orders_create_bulk(
    *,
    drafts: Sequence[Mapping[str, Any]],
    created_by: User | None = None,
    via: str = "api",
    now: datetime | None = None,
) -> list[OrderResult]:
    """Store ``drafts`` (each what ``order_create`` takes: ``lines`` and the order's
    fields, as the API's serializer validated them) in one transaction; return, for
    each draft in order, its stored ``Order`` or the ``ApplicationError`` that
    refused it alone (``order_create``'s message). The orchestration tasks are sent
    once the transaction commits.
    """
    now = now or timezone.now()
    results: list[OrderResult | None] = [None] * len(drafts)
    orders: list[tuple[int, Order, list[OrderLine]]] = []
    for index, draft in enumerate(drafts):
        try:
            order, lines = _order_build(draft, created_by=created_by, now=now)
        except ApplicationError as error:
            results[index] = error
        else:
            orders.append((index, order, lines))
    # Inserted in backend ID order, whatever the order sent: two imports holding the
    # same IDs then take their unique-index entries in the same order, so one waits
    # for the other instead of both waiting on each other (a deadlock, PostgreSQL
    # killing one).
    orders.sort(key=lambda item: (item[1].backend_id is None, item[1].backend_id or ""))
    try:
        with transaction.atomic():
            _orders_insert(orders, created_by=created_by, via=via, now=now)
    except IntegrityError:
        # A backend ID taken meanwhile: find whose, one order at a time.
        with transaction.atomic():
            for index, order, lines in orders:
                try:
                    with transaction.atomic():
                        _orders_insert(
                            [(index, order, lines)], created_by=created_by, via=via, now=now
                        )
                except IntegrityError as error:
                    results[index] = _refusal(order, error)
    for index, order, _ in orders:
        if results[index] is None:
            results[index] = order
    return [result for result in results if result is not None]


def _order_build(
    draft: Mapping[str, Any], *, created_by: User | None, now: datetime
) -> tuple[Order, list[OrderLine]]:
    """The unsaved order and lines of one draft, after ``order_create``'s checks."""
    fields = dict(draft)
    lines = fields.pop("lines", None) or []
    fields = order_fields_checked(lines=lines, fields=fields)
    order = Order(
        created_by=created_by,
        needs_orchestration=True,
        orchestration_trigger=CREATED_TRIGGER,
        orchestration_requested_at=now,
        **fields,
    )
    return order, [OrderLine(**line) for line in lines]


def _orders_insert(
    orders: Sequence[tuple[int, Order, list[OrderLine]]],
    *,
    created_by: User | None,
    via: str,
    now: datetime,
) -> None:
    """Store the orders, their lines and their ``order.created`` events
    (``orders_store``: one statement on PostgreSQL, three elsewhere), and send their
    orchestration once the transaction commits."""
    if not orders:
        return
    for _, order, order_lines in orders:
        order.pk = None  # a retry after a rolled-back chunk inserts afresh
        order._state.adding = True
        for line in order_lines:
            line.pk = None
    orders_store(
        orders=[(order, order_lines) for _, order, order_lines in orders],
        created_by=created_by,
        via=via,
        now=now,
    )
    order_ids = [order.pk for _, order, _ in orders]
    transaction.on_commit(lambda: orders_orchestration_send(order_ids=order_ids))


def _refusal(order: Order, error: IntegrityError) -> ApplicationError:
    """``order_create``'s refusal of an order whose backend ID was taken meanwhile."""
    if order.backend_id and Order.objects.filter(backend_id=order.backend_id).exists():
        return ApplicationError(
            f"An order with backend ID {order.backend_id!r} already exists.",
            code="unique",
            field="backend_id",
        )
    raise error


def orders_orchestration_send(*, order_ids: Sequence[int]) -> int:
    """Send the orchestration of ``order_ids`` (flagged and committed), ``ORDERS_PER_TASK``
    orders a message; return how many orders were sent.

    When the broker cannot be reached: a warning naming the orders not sent, and the
    rest is left to the sweep (their flag stays).
    """
    task = orders_orchestrate_task
    sent = 0
    for batch in _batched(order_ids, ORDERS_PER_TASK):
        if task.app.conf.task_always_eager:
            task.delay(batch)
        else:
            try:
                task.delay(batch)
            except broker_errors(task) as error:
                logger.warning(
                    "Broker unreachable: %s not sent for orders %s (%s: %s); "
                    "the sweep sends them again.",
                    task.name,
                    _id_ranges(order_ids[sent:]),
                    type(error).__name__,
                    error,
                )
                return sent
        sent += len(batch)
    return sent


def _batched(ids: Sequence[int], size: int) -> Iterable[list[int]]:
    """``ids`` in lists of ``size`` (``itertools.batched`` is Python 3.12)."""
    values = iter(ids)
    while batch := list(islice(values, size)):
        yield batch


def _id_ranges(ids: Iterable[int]) -> str:
    """``1-3, 7`` for 1, 2, 3, 7: a chunk's IDs are mostly consecutive."""
    ranges: list[list[int]] = []
    for value in ids:
        if ranges and value == ranges[-1][1] + 1:
            ranges[-1][1] = value
        else:
            ranges.append([value, value])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)
