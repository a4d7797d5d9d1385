"""The one seam through which an orchestration run locks its order and is stored.

``services/orchestration.py`` decides; this package writes. Its contract:

- ``lock_order(order_id=...)`` locks the order's row (what every writer of an
  order locks first) and returns a ``plan.LockedOrder``: the order with the
  network's token, its lines, and where it could read them in the same round
  trip, the stock ``order_scenario`` needs.
- ``store_run(plan=...)`` writes a ``plan.RunPlan`` and nothing else: the run's
  ``OrchestrationDetails``, its fulfilments and their lines, the reservations, the
  cancelled quantities, the order's and its lines' new statuses and fields, and
  its timeline entries. It answers False, having left the database to be rolled
  back, when a reservation found less available than planned (stock taken since
  the snapshot). It leaves the plan's objects as the ORM leaves saved objects.
- ``store_plans(plans=..., steps=..., transitions=...)`` writes the fulfilment plans
  a run built (``services/plans.plans_build``): the plans, their steps (each
  pointing at its plan object) and the timeline rows (each with its plan and, for
  a step's, its step object), and leaves them saved, with their IDs.
- ``store_orders(orders=...)`` writes new orders (``plan.NewOrder``: the order, its
  lines, its ``order.created`` timeline entry) and leaves them saved, the lines and
  the entry pointing at their order: ``POST /api/orders/`` and the bulk import.
- ``store_fulfillment_progress(progress=...)`` takes the lock of the fulfilment's
  order (as every writer of its fulfilments does, first), writes one step of the
  fulfilment (``plan.FulfillmentProgress``: an export sent) and answers whether the
  fulfilment's plan has manual steps of that action still open; the lock is held
  until the caller's transaction ends, for what it does next (those steps).
- ``claim_export(fulfillment_id=..., now=..., lease_until=...)`` claims a pending
  export that is due (its ``export_next_at`` set to the lease's end, so no other
  worker sends it meanwhile) and returns a ``plan.ClaimedExport``: the fulfilment
  with its order and supplier, and its open lines; None when it is not pending, not
  due or claimed by another. It runs outside any transaction (the claim commits at
  once, before the export leaves the house).
- ``order_references(product_backend_ids=..., order_backend_ids=...)`` reads what
  new orders name before they are validated (``plan.OrderReferences``): the products
  by backend ID, and which of the order backend IDs are taken.
- ``claim_order(after=..., now=..., claimed_before=...)`` claims the oldest order
  after that ID flagged for orchestration, not failed, not claimed since
  ``claimed_before``, that no other transaction holds (``SKIP LOCKED`` on
  PostgreSQL), by writing its ``OrchestrationClaim``, and returns its ID (None: none
  is left): a drain's next order.
- ``drain_ring(slots=..., now=...)`` takes a free drain slot and returns it (None:
  all taken); ``drain_answer(slot=...)`` frees one (``services/orchestration_drains.py``).
- These three run outside any transaction: each commits at once.
- ``prepared_cursor()`` is for the statements of a fixed shape that every request
  or run sends, written out elsewhere (the API token's read, the idempotency
  key's): on PostgreSQL they are prepared once per connection.
- The others run in the caller's transaction (the run's ``transaction.atomic``, which
  holds the lock and which a False answer rolls back); none opens one of its
  own, which would cost a savepoint's round trips per run. None sends, mails or
  schedules anything: what follows a stored run after commit (the webhook of a
  timeline entry, the customer's mail, exports) is the caller's.

Two implementations, chosen by the connection's vendor: ``orm.py``, the reference
(the ORM, statement by statement, on any database), and on PostgreSQL
``postgres.py``, the same rows in two round trips (14 to 5 ms a run; a run's
plans in one more, where the ORM sends three; an export's claim in one, where the
ORM sends three; a new order's products and backend ID in one, where it sends two),
the only module that knows psycopg.
``tests/domain/services/test_persistence.py`` stores the same plans both ways and
compares every row of every table they write.
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.backends.utils import CursorWrapper

from ...models import Plan, PlanStep, PlanTransition
from . import orm, postgres
from .plan import (
    ClaimedExport,
    FulfillmentProgress,
    LockedOrder,
    NewOrder,
    OrderReferences,
    RunPlan,
)


def lock_order(*, order_id: int, with_tasks: bool = False) -> LockedOrder:
    """Lock the order ``order_id`` in the caller's transaction; read it, its lines
    and the network's token (and on PostgreSQL the stock, and with ``with_tasks`` the
    shops' open ship-from-store tasks) with the lock."""
    if connection.vendor == "postgresql":
        return postgres.lock_order(order_id=order_id, with_tasks=with_tasks)
    return orm.lock_order(order_id=order_id)


def claim_order(*, after: int, now: datetime, claimed_before: datetime) -> int | None:
    """Claim the next order for a drain (see above)."""
    if connection.vendor == "postgresql":
        return postgres.claim_order(after=after, now=now, claimed_before=claimed_before)
    return orm.claim_order(after=after, now=now, claimed_before=claimed_before)


def drain_ring(*, slots: int, now: datetime) -> int | None:
    """Take a free one of drain slots 1 to ``slots``; its number, or None."""
    if connection.vendor == "postgresql":
        return postgres.drain_ring(slots=slots, now=now)
    return orm.drain_ring(slots=slots, now=now)


def drain_answer(*, slot: int) -> None:
    """Free drain slot ``slot``."""
    if connection.vendor == "postgresql":
        postgres.drain_answer(slot=slot)
    else:
        orm.drain_answer(slot=slot)


def store_run(*, plan: RunPlan) -> bool:
    """Store ``plan`` in the caller's transaction; False if stock was taken since
    the snapshot (the caller rolls back)."""
    if connection.vendor == "postgresql":
        return postgres.store_run(plan=plan)
    return orm.store_run(plan=plan)


def store_plans(
    *,
    plans: Sequence[Plan],
    steps: Sequence[PlanStep],
    transitions: Sequence[tuple[PlanStep | None, Plan, PlanTransition]],
) -> None:
    """Store new plans, their steps and their first transitions (each with the step
    it is about, or None for the plan's own) in the caller's transaction."""
    if connection.vendor == "postgresql":
        postgres.store_plans(plans=plans, steps=steps, transitions=transitions)
    else:
        orm.store_plans(plans=plans, steps=steps, transitions=transitions)


def store_orders(*, orders: Sequence[NewOrder]) -> None:
    """Store new orders, their lines and their first timeline entries in the
    caller's transaction, in the order given."""
    if not orders:
        return
    if connection.vendor == "postgresql":
        postgres.store_orders(orders=orders)
    else:
        orm.store_orders(orders=orders)


def store_fulfillment_progress(*, progress: FulfillmentProgress) -> bool:
    """Lock the order and store a fulfilment's step, in the caller's transaction;
    whether its plan has manual steps of ``progress.handler`` still open."""
    if connection.vendor == "postgresql":
        return postgres.store_fulfillment_progress(progress=progress)
    return orm.store_fulfillment_progress(progress=progress)


def claim_export(
    *, fulfillment_id: int, now: datetime, lease_until: datetime
) -> ClaimedExport | None:
    """Claim the pending export of ``fulfillment_id`` if due at ``now``, until
    ``lease_until``; the fulfilment and its open lines, or None if not claimed."""
    if connection.vendor == "postgresql":
        return postgres.claim_export(
            fulfillment_id=fulfillment_id, now=now, lease_until=lease_until
        )
    return orm.claim_export(fulfillment_id=fulfillment_id, now=now, lease_until=lease_until)


def order_references(
    *, product_backend_ids: Sequence[str], order_backend_ids: Sequence[str]
) -> OrderReferences:
    """The products among ``product_backend_ids`` (by backend ID) and the order backend
    IDs among ``order_backend_ids`` that are taken; one statement on PostgreSQL. A value
    no database could store (``safe_lookup_text``) is not looked up: it names nothing."""
    product_backend_ids = [value for value in product_backend_ids if safe_lookup_text(value)]
    order_backend_ids = [value for value in order_backend_ids if safe_lookup_text(value)]
    if connection.vendor == "postgresql":
        return postgres.order_references(
            product_backend_ids=product_backend_ids, order_backend_ids=order_backend_ids
        )
    return orm.order_references(
        product_backend_ids=product_backend_ids, order_backend_ids=order_backend_ids
    )


def safe_lookup_text(value: str) -> bool:
    """Whether ``value`` may be one of many in a lookup query: a NUL or a lone surrogate
    fails the whole query (those are looked up alone, and refused alone)."""
    if "\x00" in value:
        return False
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


@contextmanager
def prepared_cursor(alias: str = DEFAULT_DB_ALIAS) -> Iterator[CursorWrapper]:
    """A cursor for a statement of a fixed shape sent on every request or run (values as
    parameters): on PostgreSQL, for the default database, prepared on its connection
    once and then only executed (``postgres.prepared``); elsewhere Django's own cursor."""
    if alias == DEFAULT_DB_ALIAS and connection.vendor == "postgresql":
        with postgres.prepared() as cursor:
            yield cursor
    else:
        with connections[alias].cursor() as cursor:
            yield cursor
