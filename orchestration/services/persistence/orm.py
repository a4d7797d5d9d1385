"""The reference way to lock an order and store a run: Django's ORM, statement by
statement.

This is what ``postgres.py`` must equal, row for row: ``test_persistence.py`` (in
``tests/domain/services/``) stores the same plans both ways and compares them. It
writes through the ORM and the domain's own write services (``stock_reserve_many``,
``order_and_lines_update``), the same ones every other lifecycle step uses, so it is
right on any database Django supports; it is the path on SQLite.
"""

from collections.abc import Sequence
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Subquery

from ...models import (
    ExportStatus,
    NetworkVersion,
    OrchestrationClaim,
    OrchestrationDrain,
    Order,
    OrderEvent,
    OrderFulfillment,
    OrderFulfillmentLine,
    OrderLine,
    Plan,
    PlanStep,
    PlanTransition,
    Product,
)
from ...models.fulfillments import OPEN_FULFILLMENT_STATUSES
from ...selectors.plans import plan_manual_steps_open
from ..progress import order_and_lines_update
from ..stock import stock_reserve_many
from .plan import (
    ClaimedExport,
    FulfillmentProgress,
    LockedOrder,
    NewOrder,
    OrderReferences,
    RunPlan,
)

# Values per lookup query (SQLite allows 32,766 parameters a statement).
LOOKUP_BATCH = 1_000


def lock_order(*, order_id: int) -> LockedOrder:
    """Lock the order; read it, its lines and the network's token in one query.

    The lines are read joined to their order and lock only the order's row, which
    is what every writer of an order locks first. The stock is left to
    ``order_scenario``.
    """
    token = Subquery(NetworkVersion.objects.filter(pk=1).values("token")[:1])
    lines: list[OrderLine] = list(
        OrderLine.objects.select_related("order")
        .select_for_update(of=("order",))
        .annotate(network_token=token)
        .filter(order_id=order_id)
        .order_by("id")
    )
    if not lines:
        return lock_order_without_lines(order_id=order_id)
    order = lines[0].order
    for line in lines:
        line.order = order  # one object, as order.lines would give
    return LockedOrder(order, lines, lines[0].network_token, None)  # type: ignore[attr-defined]


def lock_order_without_lines(*, order_id: int) -> LockedOrder:
    """Lock an order the lines' query did not find: one without lines (nothing to
    route), or no order at all (``order`` None)."""
    found = (
        Order.objects.select_for_update(of=("self",))
        .annotate(network_token=Subquery(NetworkVersion.objects.filter(pk=1).values("token")[:1]))
        .filter(pk=order_id)
        .first()
    )
    token = found.network_token if found is not None else None
    return LockedOrder(found, [], token, None)


def store_run(*, plan: RunPlan) -> bool:
    """Store the run statement by statement; False if stock was taken meanwhile
    (the caller then rolls its transaction back)."""
    details = plan.details
    routing = plan.routing
    details.save(force_insert=True)
    for fulfillment in routing.fulfillments:
        fulfillment.orchestration_details = details
    OrderFulfillment.objects.bulk_create(routing.fulfillments)
    lines = []
    for planned in routing.lines:
        planned.line.fulfillment = routing.fulfillments[planned.fulfillment]
        lines.append(planned.line)
    OrderFulfillmentLine.objects.bulk_create(lines)
    if not stock_reserve_many(quantities=routing.reservations):
        return False
    for line_id, quantity in routing.cancelled.items():
        OrderLine.objects.filter(pk=line_id).update(
            quantity_cancelled=F("quantity_cancelled") + quantity
        )
    order_and_lines_update(
        order_id=plan.order_id,
        fields=plan.order_fields,
        line_statuses=plan.line_statuses,
    )
    for event in plan.events:
        event.orchestration_details = details
        event.save(force_insert=True)
    return True


def store_plans(
    *,
    plans: Sequence[Plan],
    steps: Sequence[PlanStep],
    transitions: Sequence[tuple[PlanStep | None, Plan, PlanTransition]],
) -> None:
    """Three bulk INSERTs: the plans, their steps, their transitions."""
    Plan.objects.bulk_create(plans)
    for step in steps:
        step.plan = step.plan  # the plan's new ID
    PlanStep.objects.bulk_create(steps)
    rows = []
    for owner, plan, row in transitions:
        row.plan = plan
        row.step = owner
        rows.append(row)
    PlanTransition.objects.bulk_create(rows)


def store_orders(*, orders: Sequence[NewOrder]) -> None:
    """Three bulk INSERTs: the orders, their lines, their first timeline entries."""
    Order.objects.bulk_create([new.order for new in orders])
    for new in orders:
        for line in new.lines:
            line.order = new.order
        new.created.order = new.order
    OrderLine.objects.bulk_create([line for new in orders for line in new.lines])
    OrderEvent.objects.bulk_create([new.created for new in orders])


def store_fulfillment_progress(*, progress: FulfillmentProgress) -> bool:
    """The order's lock, two UPDATEs, the timeline entry's INSERT, and the plan's steps
    looked at."""
    # The order's lock, as every writer of its fulfilments takes it (its ID only).
    Order.objects.select_for_update().filter(pk=progress.order_id).values_list(
        "pk", flat=True
    ).get()
    OrderFulfillment.objects.filter(pk=progress.fulfillment_id).update(**progress.fields)
    OrderFulfillmentLine.objects.filter(
        fulfillment_id=progress.fulfillment_id, status=progress.lines_in
    ).update(**progress.line_fields)
    progress.event.save(force_insert=True)
    return plan_manual_steps_open(
        fulfillment_id=progress.fulfillment_id, handler=progress.handler
    ).exists()


def claim_export(
    *, fulfillment_id: int, now: datetime, lease_until: datetime
) -> ClaimedExport | None:
    """The conditional UPDATE that claims the export, then the fulfilment with its
    order and supplier, then its open lines: three statements."""
    claimed = OrderFulfillment.objects.filter(
        pk=fulfillment_id, export_status=ExportStatus.PENDING, export_next_at__lte=now
    ).update(export_next_at=lease_until)
    if not claimed:
        return None
    fulfillment = OrderFulfillment.objects.select_related(
        "order", "supplier_organization_unit"
    ).get(pk=fulfillment_id)
    lines = list(
        fulfillment.lines.filter(status__in=OPEN_FULFILLMENT_STATUSES)
        .order_by("pk")
        .values_list("pk", "order_line_id", "product__backend_id", "quantity")
    )
    return ClaimedExport(fulfillment, lines)


def order_references(
    *, product_backend_ids: Sequence[str], order_backend_ids: Sequence[str]
) -> OrderReferences:
    """The products by backend ID, then the order backend IDs taken: a query each per
    ``LOOKUP_BATCH`` values (none for an empty list)."""
    products: dict[str, Product] = {}
    taken: set[str] = set()
    for start in range(0, len(product_backend_ids), LOOKUP_BATCH):
        batch = product_backend_ids[start : start + LOOKUP_BATCH]
        products.update(
            (product.backend_id, product)
            for product in Product.objects.filter(backend_id__in=batch)
        )
    for start in range(0, len(order_backend_ids), LOOKUP_BATCH):
        batch = order_backend_ids[start : start + LOOKUP_BATCH]
        stored = Order.objects.filter(backend_id__in=batch).values_list("backend_id", flat=True)
        taken.update(backend_id for backend_id in stored if backend_id)
    return OrderReferences(products, taken)


def claim_order(*, after: int, now: datetime, claimed_before: datetime) -> int | None:
    """Claim the oldest order after ID ``after`` that is flagged for orchestration, has
    not failed, has no claim since ``claimed_before`` and that no other transaction
    holds: its ``OrchestrationClaim`` at ``now``, committed at once; its ID, or None.
    On SQLite, which takes no row locks (a writer holds the whole database), the
    claim's own write keeps two drains apart."""
    with transaction.atomic():
        claimed = OrchestrationClaim.objects.filter(
            order=OuterRef("pk"), claimed_at__gt=claimed_before
        )
        order_id = (
            Order.objects.select_for_update(skip_locked=True, no_key=True)
            .filter(needs_orchestration=True, orchestration_failures=0, pk__gt=after)
            .exclude(Exists(claimed))
            .order_by("pk")
            .values_list("pk", flat=True)
            .first()
        )
        if order_id is not None:
            OrchestrationClaim.objects.update_or_create(
                order_id=order_id, defaults={"claimed_at": now}
            )
    return order_id


def drain_ring(*, slots: int, now: datetime) -> int | None:
    """Take the first free one of slots 1 to ``slots`` (``now`` the time it was rung);
    its number, or None when every slot is taken. (A slot another ringer took
    meanwhile: the next is tried here, where PostgreSQL's one statement answers None;
    either is right, as a slot taken means a drain asked for.)"""
    taken = set(OrchestrationDrain.objects.values_list("slot", flat=True))
    for slot in range(1, slots + 1):
        if slot in taken:
            continue
        try:
            with transaction.atomic():
                OrchestrationDrain.objects.create(slot=slot, rung_at=now)
        except IntegrityError:
            continue  # another ringer took it first
        return slot
    return None


def drain_answer(*, slot: int) -> None:
    """Free ``slot``: a drain that starts lets the next order ring again."""
    OrchestrationDrain.objects.filter(slot=slot).delete()
