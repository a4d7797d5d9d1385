"""Orchestrating an order: the engine's decision turned into fulfilments.

Whatever makes an order need routing (its creation, a decline, an expiry, a
partial pick, new stock) calls ``order_orchestration_request`` in its own
transaction: that sets ``Order.needs_orchestration`` and sends the Celery task
after commit; a new order asks for a drain instead (``orchestration_drains.py``),
which claims the flagged orders one by one and routes each the same way
(``orders_drain``). The task (``order_orchestrate``) locks the order row, and does
nothing if the flag is already clear: a redelivered or doubled message is
harmless. Otherwise it reads a snapshot, calls the engine (the same call as the
preview), and in one transaction stores the run (``OrchestrationDetails``, unique
per order and attempt number, so even two runs that got past the lock cannot
both be stored), the fulfilments, the reservations and the timeline.

This module decides; ``persistence`` writes. The lock is ``persistence.lock_order``,
and the run is stored by handing its plan (``persistence.plan.RunPlan``: frozen,
built here from the winning proposition) to ``persistence.store_run``, which
sends nothing: the mail, webhooks and exports that follow a stored run are sent
from here, after commit.

Reservations are conditional updates: if stock was taken since the snapshot,
the transaction rolls back and the run starts over with fresh stock, at most
``STOCK_RETRIES`` times; after that the order stays flagged for the sweep.

Any other error in a run (a bug, a route provider that is down) is the order's,
never the caller's: the run rolls back, the failure is counted in a transaction
of its own, and the order stays flagged for the sweep, until
``Orchestration:MaxAttempts`` failures in a row make it ``OrchestrationFailed``:
then nothing sends it again until a person retries it (``order_orchestration_retry``).
A poison order is neither resent forever nor able to fail the request that stored it.
"""

import itertools
import logging
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.db import IntegrityError, InterfaceError, OperationalError, transaction
from django.utils import timezone

from .. import engine
from ..engine.decision import Shipment
from ..errors import ConflictError, NotFoundError
from ..integrations.routes import route_provider as configured_route_provider
from ..models import (
    CancellationReason,
    ExportStatus,
    FulfillmentAction,
    FulfillmentStatus,
    OrchestrationDetails,
    OrchestrationOutcome,
    Order,
    OrderEvent,
    OrderFulfillment,
    OrderFulfillmentLine,
    OrderIntent,
    OrderLine,
    OrderStatus,
)
from ..selectors.network import network_snapshot, snapshot_reads_active_tasks
from ..selectors.plans import line_records, order_record
from ..selectors.scenario import order_scenario
from ..selectors.settings import setting_value
from .events import (
    actor_of,
    customer_notify_cancelled,
    event_build,
    event_record,
    event_stored,
)
from .fulfillments.exports import fulfillments_export_on_commit
from .orchestration_drains import CLAIM_LEASE, drain_ask
from .orchestration_requests import order_orchestration_request
from .persistence import claim_order, drain_answer, lock_order, store_run
from .persistence.plan import PlannedLine, Routing, RunPlan
from .plans import plans_build
from .progress import (
    order_and_lines_update,
    order_derived_statuses,
    order_status_changed,
    order_statuses,
    units_in_fulfillment,
)

logger = logging.getLogger(__name__)

STOCK_RETRIES = 5
# How much of an error's message the order and its timeline keep; the log has it all.
ERROR_LENGTH = 1000
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock detected, serialization failure


class StockTaken(Exception):
    """A reservation failed: someone took the stock since the snapshot."""


def orders_drain(*, slot: int, now: datetime | None = None, route_provider: Any = None) -> int:
    """Free drain slot ``slot``, then route every order flagged for orchestration that
    has not failed, oldest first, each as ``order_orchestrate`` routes one (its own
    transaction; an error is that order's); return how many it claimed.

    Each order is claimed first (``persistence.claim_order``, committed at once):
    skipping those another transaction holds and those claimed less than
    ``CLAIM_LEASE`` ago, so drains running at once share the orders, each is tried
    once a drain whatever its outcome, and an order whose run killed its worker (out
    of memory) is not claimed again by every drain after it: the sweep sends it on
    its own (``LOST_AFTER``). Each claim looks on from the newest order the drain has
    claimed (one step down the index, not over every entry the routed orders left in
    it); when none is left there, it looks once from the oldest: the web's processes
    commit their orders out of ID order, and an order that committed just after a
    newer one was claimed is routed by this drain, not left for the next one. An
    order the drain has tried already (its claim lapsed during a drain longer than
    the lease) ends the drain: each order is tried once a drain. After
    ``ORCHESTRATION_DRAIN_BATCH`` orders the drain asks for the next one and stops,
    so that other work in the queue gets its turn.
    """
    drain_answer(slot=slot)
    if route_provider is None:
        route_provider = configured_route_provider()
    after = 0
    tried: set[int] = set()
    for claimed in range(django_settings.ORCHESTRATION_DRAIN_BATCH):
        at = now or timezone.now()
        lapsed = at - CLAIM_LEASE
        order_id = claim_order(after=after, now=at, claimed_before=lapsed)
        if order_id is None and after:
            order_id = claim_order(after=0, now=at, claimed_before=lapsed)
        if order_id is None or order_id in tried:
            return claimed
        tried.add(order_id)
        order_orchestrate(order_id=order_id, now=now, route_provider=route_provider)
        after = max(after, order_id)
    drain_ask(asker=f"the orders left after a batch of {claimed + 1} (a drain handing over)")
    return django_settings.ORCHESTRATION_DRAIN_BATCH


def order_orchestrate(
    *, order_id: int, now: datetime | None = None, route_provider: Any = None
) -> OrchestrationDetails | None:
    """Route the order's open lines if it still needs it; return the stored run.

    ``None`` means there was nothing to do (the flag was clear, the order is
    gone, or nothing is open), or stock kept being taken under our feet, in
    which case the order stays flagged and the sweep tries again, or the run
    failed with an error (``_failure_record``).

    An unexpected error (anything but stock taken, a deadlock, or the database
    being unreachable) is the order's own: retried like stock taken, but counted,
    and after ``Orchestration:MaxAttempts`` runs in a row the order is
    ``OrchestrationFailed`` until a person retries it (``order_orchestration_retry``).
    It never propagates: a request that committed the order answers success.
    """
    try:
        if route_provider is None:
            route_provider = configured_route_provider()
        for _ in range(STOCK_RETRIES):
            try:
                return _orchestrate_once(order_id, now or timezone.now(), route_provider)
            except StockTaken:
                continue
            except OperationalError as error:
                # PostgreSQL broke a deadlock or a serialization conflict by
                # aborting this transaction; it rolled back whole, so run again.
                if getattr(error.__cause__, "sqlstate", None) not in RETRYABLE_SQLSTATES:
                    raise
    except (OperationalError, InterfaceError):
        raise  # the database is unreachable or overloaded: an outage, not this order's fault
    except Exception as error:
        # The run's transaction has rolled back; the failure is written in its own.
        logger.exception("Order %s: orchestration failed with an unexpected error.", order_id)
        _failure_record(order_id, error, now or timezone.now())
        return None
    logger.warning(
        "Order %s: stock was taken during %s runs in a row; left for the sweep.",
        order_id,
        STOCK_RETRIES,
    )
    return None


def _failure_record(order_id: int, error: Exception, now: datetime) -> None:
    """Count a run that failed with ``error``, on the order and its timeline; after
    ``Orchestration:MaxAttempts`` in a row, set it ``OrchestrationFailed`` (a webhook
    event) and stop retrying it. Until then it stays flagged, so the sweep sends it
    again (``LOST_AFTER``)."""
    described = _describe(error)
    with transaction.atomic():
        order = Order.objects.select_for_update().filter(pk=order_id).first()
        if order is None or not order.needs_orchestration:
            return  # deleted, or another run routed it meanwhile
        failures = order.orchestration_failures + 1
        limit = setting_value("Orchestration:MaxAttempts")
        fields: dict[str, Any] = {
            "orchestration_failures": failures,
            "orchestration_error": described,
        }
        data = {"failures": failures, "max_attempts": limit, "error": described}
        if failures >= limit:
            fields.update(
                status=OrderStatus.ORCHESTRATION_FAILED,
                needs_orchestration=False,
                next_orchestration_at=None,
            )
            event_record(
                order=order,
                kind="orchestration.failed",
                message=f"Orchestration failed {failures} times in a row and was given up: "
                f"{described} Retry it once the cause is fixed.",
                at=now,
                actor="system:orchestration",
                data=data,
            )
        else:
            event_record(
                order=order,
                kind="orchestration.retrying",
                message=f"Orchestration failed (attempt {failures} of {limit}): {described} "
                "It is tried again within a few minutes.",
                at=now,
                actor="system:orchestration",
                data=data,
            )
        Order.objects.filter(pk=order_id).update(**fields)


def _describe(error: Exception) -> str:
    """How the order and its timeline name an error: its type and message, cut short
    (the log has the traceback)."""
    try:
        message = str(error)
    except Exception:  # an exception whose message cannot even be made
        message = "(no message)"
    text = f"{type(error).__name__}: {message}" if message else type(error).__name__
    return text if len(text) <= ERROR_LENGTH else text[: ERROR_LENGTH - 1] + "…"


@transaction.atomic
def order_orchestration_retry(
    *, order_id: int, user: User | None, now: datetime | None = None
) -> Order:
    """A person retries an order whose orchestration failed, once its cause is fixed:
    the failure count starts again, the status is the one its lines give, and the order
    is orchestrated again (after commit). Refused (409 ``not_failed``), changing
    nothing, for any other order."""
    now = now or timezone.now()
    order = Order.objects.select_for_update().filter(pk=order_id).first()
    if order is None:
        raise NotFoundError(f"There is no order {order_id}.", code="not_found")
    if order.status != OrderStatus.ORCHESTRATION_FAILED:
        raise ConflictError(
            f"Only an order whose orchestration failed can be retried; this one is {order.status}.",
            code="not_failed",
        )
    status, line_statuses = order_derived_statuses(order=order)
    if not order.orchestration_attempts and status == OrderStatus.WAITING:
        status = OrderStatus.NEW  # never routed yet
    order_and_lines_update(
        order_id=order.pk,
        fields={"status": status, "orchestration_failures": 0, "orchestration_error": ""},
        line_statuses=line_statuses,
    )
    event_record(
        order=order,
        kind="orchestration.retry",
        message=f"Orchestration retried by hand after it failed: {order.orchestration_error}",
        at=now,
        actor=actor_of(user, "api"),
        user=user,
        data={"error": order.orchestration_error},
    )
    order_orchestration_request(
        order_id=order.pk, trigger="retried by hand after orchestration failed", now=now
    )
    order.refresh_from_db()
    return order


def _orchestrate_once(
    order_id: int, now: datetime, route_provider: Any
) -> OrchestrationDetails | None:
    attempt = None
    try:
        with transaction.atomic():
            locked = lock_order(order_id=order_id, with_tasks=snapshot_reads_active_tasks())
            order, order_lines = locked.order, locked.lines
            if order is None or not order.needs_orchestration:
                return None
            scenario = order_scenario(
                order,
                at=now,
                network_token=locked.network_token,
                lines=order_lines,
                stock_rows=locked.stock_rows,
                open_tasks=locked.open_tasks,
                # Fulfilments come only from runs: before the first, there is no history.
                respect_history=order.orchestration_attempts > 0,
                stocked_only=True,
            )
            settings = scenario.settings
            decision = engine.route(scenario, route_provider=route_provider)
            shipments = decision.shipments
            if not shipments:  # every line is routed or ended already
                Order.objects.filter(pk=order.pk).update(
                    needs_orchestration=False,
                    next_orchestration_at=None,
                    **_failures_cleared(order),
                )
                return None
            attempt = order.orchestration_attempts + 1
            products = {line.id: line.product for line in scenario.order.lines}
            routing = _routing(order, shipments, now, settings, products)
            if not routing.fulfillments and routing.uncovered and order.orchestration_attempts:
                folded = _fold_waiting(order, decision.blob, routing, now, settings)
                if folded is not None:
                    return folded
            routed = bool(routing.fulfillments) and any(
                f.action != FulfillmentAction.CANCEL for f in routing.fulfillments
            )
            details = OrchestrationDetails(
                order=order,
                attempt=attempt,
                at=now,
                trigger=order.orchestration_trigger,
                outcome=(
                    OrchestrationOutcome.ROUTED
                    if routed or routing.cancelled
                    else OrchestrationOutcome.WAITING
                ),
                blob=decision.blob,
                units_waiting=routing.uncovered,
                expires_at=now
                + timedelta(days=settings["Symphony:OrchestrationDetailsLifetimeInDays"]),
            )
            for line in order_lines:  # as this run leaves them
                line.quantity_cancelled += routing.cancelled.get(line.pk, 0)
            # The statuses follow from what is known already: the history the engine
            # was given and what this run stores. Nothing is read again.
            status, line_statuses = order_statuses(order_lines, _in_fulfillment(scenario, routing))
            interval = settings["Orchestration:WaitingRetryIntervalInMinutes"]
            order_fields = {
                "needs_orchestration": False,
                "orchestration_attempts": attempt,
                "next_orchestration_at": (
                    now + timedelta(minutes=interval) if routing.uncovered else None
                ),
                "status": status,
                **_failures_cleared(order),
            }
            named = _cancelled_named(
                order_lines,
                routing.cancelled,
                network_snapshot(locked.network_token).products_by_id if routing.cancelled else {},
            )
            plan = RunPlan(
                order_id=order.pk,
                details=details,
                routing=routing,
                order_fields=order_fields,
                line_statuses=line_statuses,
                events=_run_events(order, details, routing, named, now),
            )
            if not store_run(plan=plan):
                raise StockTaken
            for event in plan.events:
                event_stored(event)
            if routing.cancelled:
                customer_notify_cancelled(
                    order=order, lines=[(named[line], q) for line, q in routing.cancelled.items()]
                )
            order_status_changed(order=order, status=status, now=now, actor="system:orchestration")
            plan_scenarios = network_snapshot(locked.network_token).plan_scenarios
            if plan_scenarios:  # an install without plans pays nothing here
                plans_build(
                    order=order,
                    fulfillments=[
                        (
                            fulfillment,
                            [p.line.order_line_id for p in routing.lines if p.fulfillment == index],
                        )
                        for index, fulfillment in enumerate(routing.fulfillments)
                    ],
                    now=now,
                    scenarios=plan_scenarios,
                    lines=line_records(
                        scenario.order.lines, scenario.products, order_record(order)
                    ),
                )
            fulfillments_export_on_commit(fulfillments=routing.fulfillments)
            return details
    except IntegrityError:
        if (
            attempt is not None
            and OrchestrationDetails.objects.filter(order_id=order_id, attempt=attempt).exists()
        ):
            return None  # another run stored this attempt first: it did the work
        raise


def _failures_cleared(order: Order) -> dict[str, Any]:
    """The fields that forget earlier failed runs, if any: this run got through."""
    if order.orchestration_failures or order.orchestration_error:
        return {"orchestration_failures": 0, "orchestration_error": ""}
    return {}


def _fold_waiting(
    order: Order, blob: Any, routing: Routing, now: datetime, settings: Mapping[str, Any]
) -> OrchestrationDetails | None:
    """Fold a run that only waits into the order's last run, if that one waited for as
    many units too; return it, or None to store the run as a new one.

    Nothing changed in between (no fulfilment was made, none came back to be routed:
    either would change what waits), so a new run would only repeat the last one: a
    retry every 15 minutes for a day would be 96 runs and 96 timeline entries. The
    last run keeps its number and timeline entry, counts the repeat, and takes this
    run's time and details (the explanation of the latest decision).
    """
    last = (
        OrchestrationDetails.objects.filter(order=order, attempt=order.orchestration_attempts)
        .defer("blob")
        .first()
    )
    if (
        last is None
        or last.outcome != OrchestrationOutcome.WAITING
        or last.units_waiting != routing.uncovered
    ):
        return None
    last.first_at = last.first_at or last.at
    last.at = now
    last.repeats += 1
    last.blob = blob
    last.purged_at = None
    last.expires_at = now + timedelta(days=settings["Symphony:OrchestrationDetailsLifetimeInDays"])
    last.save(update_fields=["first_at", "at", "repeats", "blob", "purged_at", "expires_at"])
    OrderEvent.objects.filter(orchestration_details=last, kind="orchestration.run").update(
        message=_run_message(last, routing),
        data={"attempt": last.attempt, "outcome": last.outcome, "repeats": last.repeats},
    )
    interval = settings["Orchestration:WaitingRetryIntervalInMinutes"]
    Order.objects.filter(pk=order.pk).update(
        needs_orchestration=False,
        next_orchestration_at=now + timedelta(minutes=interval),
        **_failures_cleared(order),
    )
    return last


def _in_fulfillment(scenario: engine.model.Scenario, routing: Routing) -> dict[int, int]:
    """Units of each order line in an open fulfilment once this run is stored, counted
    as ``order_refresh_status`` counts them, from the history and the routing."""
    history = (
        (entry.order_line, entry.quantity, entry.task)
        for entry in scenario.fulfillment_history
        if entry.status in (engine.model.NEW, engine.model.IN_PROGRESS)
    )
    planned = (
        (
            planned.line.order_line_id,
            planned.line.quantity,
            routing.fulfillments[planned.fulfillment].task_key or None,
        )
        for planned in routing.lines
        # Not a CANCEL sheet's lines: they are stored cancelled.
        if routing.fulfillments[planned.fulfillment].status == FulfillmentStatus.NEW
    )
    return units_in_fulfillment(itertools.chain(history, planned))


def _number(value: Any) -> Decimal | None:
    """A sheet's data value as a number, or None when it is not one."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        return Decimal(str(value))
    except ArithmeticError:
        return None


def _minutes_after(now: datetime, value: Any) -> datetime | None:
    minutes = _number(value)
    return now + timedelta(minutes=float(minutes)) if minutes is not None else None


def _routing(
    order: Order,
    shipments: tuple[Shipment, ...],
    now: datetime,
    settings: Mapping[str, Any],
    products: Mapping[int, int],
) -> Routing:
    """What the winning proposition's ``shipments`` make of the order: the
    fulfilments and their lines, the reservations, what a CANCEL sheet cancels and
    what waits."""
    fanout_label = settings.get("ShipFromStore:FanoutTaskLabel")
    fulfillments: list[OrderFulfillment] = []
    lines: list[PlannedLine] = []
    reservations: Counter[tuple[int, int]] = Counter()
    cancelled: Counter[int] = Counter()
    uncovered = 0
    names: dict[int, str] = {}
    sales = order.intent == OrderIntent.SALES
    for shipment in shipments:
        action = shipment.action
        order_lines = shipment.lines
        if action == FulfillmentAction.CANCEL:
            if shipment.sheet_id is None:  # no CANCEL sheet: these units wait for stock
                uncovered += sum(line.quantity for line in order_lines)
                continue
            fulfillments.append(
                OrderFulfillment(
                    order=order,
                    sheet_id=shipment.sheet_id,
                    sheet_name=shipment.sheet_name or "",
                    action=action,
                    status=FulfillmentStatus.CANCELLED,
                    cancelled_at=now,
                )
            )
            for line in order_lines:
                cancelled[line.order_line_id] += line.quantity
                lines.append(
                    PlannedLine(
                        len(fulfillments) - 1,
                        OrderFulfillmentLine(
                            order_line_id=line.order_line_id,
                            product_id=products[line.order_line_id],
                            quantity=line.quantity,
                            status=FulfillmentStatus.CANCELLED,
                            cancellation_reason=CancellationReason.FULFILLMENT_CANCELLED,
                            cancelled_at=now,
                        ),
                    )
                )
            continue
        data = shipment.data
        assert shipment.supplier is not None  # only CANCEL has none
        supplier = shipment.supplier.id
        for unit in (shipment.supplier, *shipment.fanout):
            # As OrganizationUnit.__str__ has it, without loading the rows.
            names[unit.id] = f"{unit.name} ({unit.backend_id})" if unit.backend_id else unit.name
        common = {
            "order": order,
            # No sheet: a return sent to the default returns OU (orchestration off).
            "sheet_id": shipment.sheet_id,
            "sheet_name": shipment.sheet_name or "",
            "action": action,
            "data": data,
        }
        if action == FulfillmentAction.SHIP_FROM_STORE:
            shops = [supplier] + [unit.id for unit in shipment.fanout]
            labels = [str(label) for label in data.get("TaskLabels") or []]
            if len(shops) > 1 and fanout_label and fanout_label not in labels:
                labels.append(fanout_label)
            priority = _number(data.get("ShipFromStoreTaskPriority"))
            key = uuid.uuid4().hex
            copies = [
                OrderFulfillment(
                    **common,
                    supplier_organization_unit_id=shop,
                    task_key=key,
                    is_fanout=len(shops) > 1,
                    holds_reservation=shop == supplier and sales,
                    priority=int(priority) if priority is not None else 0,
                    labels=labels,
                    start_deadline=_minutes_after(now, data.get("DeadlineInMinutes")),
                )
                for shop in shops
            ]
        elif action == FulfillmentAction.EXPORT_ORDER:
            copies = [
                OrderFulfillment(
                    **common,
                    supplier_organization_unit_id=supplier,
                    holds_reservation=sales,
                    exporter_name=str(data.get("ExporterName") or ""),
                    export_status=ExportStatus.PENDING,
                    export_next_at=now,
                )
            ]
        else:  # EXPORT_RETURN_ORDER: no stock; its documents go out through the export queue
            copies = [
                OrderFulfillment(
                    **common,
                    supplier_organization_unit_id=supplier,
                    export_status=ExportStatus.PENDING,
                    export_next_at=now,
                )
            ]
        for copy in copies:
            fulfillments.append(copy)
            for line in order_lines:
                # The products the engine picked: the ordered one, or replacements.
                for product_id, quantity in line.products:
                    lines.append(
                        PlannedLine(
                            len(fulfillments) - 1,
                            OrderFulfillmentLine(
                                order_line_id=line.order_line_id,
                                product_id=product_id,
                                quantity=quantity,
                            ),
                        )
                    )
                    if copy.holds_reservation:
                        reservations[supplier, product_id] += quantity
    return Routing(tuple(fulfillments), tuple(lines), reservations, cancelled, uncovered, names)


def _run_message(details: OrchestrationDetails, routing: Routing) -> str:
    """How the timeline tells a run: what it made, cancelled and left waiting."""
    parts = []
    tasks: dict[str, list[OrderFulfillment]] = {}
    for fulfillment in routing.fulfillments:
        if fulfillment.task_key:
            tasks.setdefault(fulfillment.task_key, []).append(fulfillment)
        elif fulfillment.action != FulfillmentAction.CANCEL:
            name = routing.names[fulfillment.supplier_unit_id]
            parts.append(f"{fulfillment.action} to {name}")
    for copies in tasks.values():
        shops = ", ".join(routing.names[c.supplier_unit_id] for c in copies)
        parts.append(
            f"SHIP_FROM_STORE task for {shops}"
            + (" (fanned out: the first to start it wins)" if len(copies) > 1 else "")
        )
    if routing.cancelled:
        parts.append(f"{sum(routing.cancelled.values())} units cancelled by the CANCEL sheet")
    if routing.uncovered:
        parts.append(f"{routing.uncovered} units wait: nothing can fulfil them now")
    trigger = f" ({details.trigger})" if details.trigger else ""
    message = f"Orchestration run {details.attempt}{trigger}: " + "; ".join(parts) + "."
    if details.repeats > 1 and details.first_at is not None:
        first, last = timezone.localtime(details.first_at), timezone.localtime(details.at)
        until = f"{last:%H:%M}" if first.date() == last.date() else f"{last:%Y-%m-%d %H:%M}"
        message += (
            f" Tried {details.repeats} times from {first:%Y-%m-%d %H:%M} to {until}, "
            "each time with this outcome."
        )
    return message


def _cancelled_named(
    lines: Sequence[OrderLine],
    cancelled: Mapping[int, int],
    products: Mapping[int, engine.model.Product],
) -> dict[int, str]:
    """How the timeline and the customer's mail name the product of each order line
    a CANCEL sheet cancels: its backend ID, else its name, from the network snapshot
    the run routed with (``products``); read from the database only for a product the
    snapshot lacks. None cancelled: nothing is read."""
    if not cancelled:
        return {}
    named = {}
    missing = []
    for line in lines:
        if line.pk in cancelled:
            product = products.get(line.product_id)
            if product is None:
                missing.append(line.pk)
            else:
                named[line.pk] = product.backend_id or product.name
    if missing:
        named.update(
            (line.pk, line.product.backend_id or line.product.name)
            for line in OrderLine.objects.select_related("product").filter(pk__in=missing)
        )
    return named


def _run_events(
    order: Order,
    details: OrchestrationDetails,
    routing: Routing,
    named: Mapping[int, str],
    now: datetime,
) -> tuple[OrderEvent, ...]:
    """The run's timeline entries: the run, and what a CANCEL sheet cancelled.
    ``store_run`` points them at the stored run."""
    run = event_build(
        order=order,
        kind="orchestration.run",
        message=_run_message(details, routing),
        at=now,
        actor="system:orchestration",
        data={"attempt": details.attempt, "outcome": details.outcome},
    )
    if not routing.cancelled:
        return (run,)
    cancelled = event_build(
        order=order,
        kind="lines.cancelled",
        message="Cancelled because nothing can fulfil them: "
        + ", ".join(f"{q} x {named[line]}" for line, q in routing.cancelled.items())
        + ".",
        at=now,
        actor="system:orchestration",
        data={
            "lines": [{"order_line": line, "quantity": q} for line, q in routing.cancelled.items()],
            "reason": CancellationReason.FULFILLMENT_CANCELLED,
        },
    )
    return (run, cancelled)
