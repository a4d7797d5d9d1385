"""Orchestrating an order: the engine's decision turned into fulfilments.

Whatever makes an order need routing (its creation, a decline, an expiry, a
partial pick, new stock) calls ``order_orchestration_request`` in its own
transaction: that sets ``Order.needs_orchestration`` and sends the Celery task
after commit. The task (``order_orchestrate``) locks the order row, and does
nothing if the flag is already clear: a redelivered or doubled message is
harmless. Otherwise it reads a snapshot, calls the engine (the same call as the
preview), and in one transaction stores the run (``OrchestrationDetails``, unique
per order and attempt number, so even two runs that got past the lock cannot
both be stored), the fulfilments, the reservations and the timeline.

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

import functools
import itertools
import logging
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.db.models import F, Field, Subquery
from django.utils import timezone

from .. import engine
from ..errors import ConflictError, NotFoundError
from ..integrations.routes import route_provider as configured_route_provider
from ..models import (
    CancellationReason,
    ExportStatus,
    FulfillmentAction,
    FulfillmentStatus,
    NetworkVersion,
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
from ..selectors.scenario import order_scenario, order_stock_sql
from ..selectors.settings import setting_value
from ..tasks import fulfillment_export_task
from .events import (
    actor_of,
    customer_notify_cancelled,
    event_build,
    event_record,
    event_stored,
)
from .orchestration_requests import order_orchestration_request
from .progress import (
    order_and_lines_update,
    order_and_lines_update_sql,
    order_derived_statuses,
    order_status_changed,
    order_statuses,
    units_in_fulfillment,
)
from .sending import task_send_on_commit
from .statement import Statement, insert_sql, row_of
from .stock import stock_reserve_many, stock_reserve_sql

logger = logging.getLogger(__name__)

STOCK_RETRIES = 5
# How much of an error's message the order and its timeline keep; the log has it all.
ERROR_LENGTH = 1000
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock detected, serialization failure


class StockTaken(Exception):
    """A reservation failed: someone took the stock since the snapshot."""


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
    *, order_id: int, user: AbstractBaseUser | None, now: datetime | None = None
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


@dataclass(slots=True)
class _Plan:
    """What one run will store, built from the winning proposition."""

    fulfillments: list[OrderFulfillment]
    lines: list[tuple[int, OrderFulfillmentLine]]  # (index into fulfillments, line)
    reservations: Counter[tuple[int, int]]  # (OU, product) -> quantity
    cancelled: Counter[int]  # order line -> quantity the CANCEL sheet cancels
    uncovered: int  # units nothing can fulfil now and no CANCEL sheet takes
    names: dict[int, str]  # OU ID -> how the timeline names it, from the blob


def _orchestrate_once(
    order_id: int, now: datetime, route_provider: Any
) -> OrchestrationDetails | None:
    attempt = None
    try:
        with transaction.atomic():
            order, order_lines, stock_rows = _lock(order_id)
            if order is None or not order.needs_orchestration:
                return None
            scenario = order_scenario(
                order,
                at=now,
                network_token=order.network_token,
                lines=order_lines,
                stock_rows=stock_rows,
                # Fulfilments come only from runs: before the first, there is no history.
                respect_history=order.orchestration_attempts > 0,
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
            plan = _plan(order, shipments, now, settings, products)
            if not plan.fulfillments and plan.uncovered and order.orchestration_attempts:
                folded = _fold_waiting(order, decision.blob, plan, now, settings)
                if folded is not None:
                    return folded
            routed = bool(plan.fulfillments) and any(
                f.action != FulfillmentAction.CANCEL for f in plan.fulfillments
            )
            details = OrchestrationDetails(
                order=order,
                attempt=attempt,
                at=now,
                trigger=order.orchestration_trigger,
                outcome=(
                    OrchestrationOutcome.ROUTED
                    if routed or plan.cancelled
                    else OrchestrationOutcome.WAITING
                ),
                blob=decision.blob,
                units_waiting=plan.uncovered,
                expires_at=now
                + timedelta(days=settings["Symphony:OrchestrationDetailsLifetimeInDays"]),
            )
            for line in order_lines:  # as this run leaves them
                line.quantity_cancelled += plan.cancelled.get(line.pk, 0)
            # The statuses follow from what is known already: the history the engine
            # was given and what this run stores. Nothing is read again.
            status, line_statuses = order_statuses(order_lines, _in_fulfillment(scenario, plan))
            interval = settings["Orchestration:WaitingRetryIntervalInMinutes"]
            order_fields = {
                "needs_orchestration": False,
                "orchestration_attempts": attempt,
                "next_orchestration_at": (
                    now + timedelta(minutes=interval) if plan.uncovered else None
                ),
                "status": status,
                **_failures_cleared(order),
            }
            # A run that cancels lines (rare) also mails and sends webhooks: the
            # ORM writes it. Any other run, on PostgreSQL, is one statement.
            store = (
                _store_at_once
                if connection.vendor == "postgresql" and not plan.cancelled
                else _store
            )
            if not store(order, details, plan, order_fields, line_statuses, now):
                raise StockTaken
            order_status_changed(order=order, status=status, now=now, actor="system:orchestration")
            exports = [f.pk for f in plan.fulfillments if f.export_status == ExportStatus.PENDING]
            if exports:
                task_send_on_commit(task=fulfillment_export_task, ids=exports, noun="fulfillment")
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


def _store(
    order: Order,
    details: OrchestrationDetails,
    plan: _Plan,
    order_fields: Mapping[str, Any],
    line_statuses: Mapping[str, list[int]],
    now: datetime,
) -> bool:
    """Store the run statement by statement; False if stock was taken meanwhile."""
    details.save(force_insert=True)
    for fulfillment in plan.fulfillments:
        fulfillment.orchestration_details = details
    OrderFulfillment.objects.bulk_create(plan.fulfillments)
    lines = []
    for index, line in plan.lines:
        line.fulfillment = plan.fulfillments[index]
        lines.append(line)
    OrderFulfillmentLine.objects.bulk_create(lines)
    if not stock_reserve_many(quantities=plan.reservations):
        return False
    for line_id, quantity in plan.cancelled.items():
        OrderLine.objects.filter(pk=line_id).update(
            quantity_cancelled=F("quantity_cancelled") + quantity
        )
    order_and_lines_update(order_id=order.pk, fields=order_fields, line_statuses=line_statuses)
    _record(order, details, plan, now)
    return True


def _store_at_once(
    order: Order,
    details: OrchestrationDetails,
    plan: _Plan,
    order_fields: Mapping[str, Any],
    line_statuses: Mapping[str, list[int]],
    now: datetime,
) -> bool:
    """PostgreSQL: store the run as ``_store`` does (minus cancelled lines), in one
    statement instead of six; False if stock was taken meanwhile.

    The run's details, its fulfilments (with IDs taken up front, which their lines
    point at), the lines, the reservations, the statuses and the timeline entry are
    the CTEs of one ``WITH``: one round trip to the server, not six.
    """
    statement = Statement()
    sql, params = insert_sql(OrchestrationDetails, [details])
    statement.add("run_details", f"{sql} RETURNING id", params)
    count = len(plan.fulfillments)
    if count:
        statement.ids("run_ids", OrderFulfillment, count)
        for number, fulfillment in enumerate(plan.fulfillments, 1):
            fulfillment.pk = row_of("run_ids", number)
            fulfillment.orchestration_details_id = row_of("run_details")
        statement.add("run_fulfillments", *insert_sql(OrderFulfillment, plan.fulfillments))
        lines = []
        for index, line in plan.lines:
            line.fulfillment_id = row_of("run_ids", index + 1)
            lines.append(line)
        statement.add("run_lines", *insert_sql(OrderFulfillmentLine, lines))
    reservations = sorted(plan.reservations.items())
    if reservations:
        sql, params = stock_reserve_sql(items=reservations)
        statement.add("run_stock", f"{sql} RETURNING 1", params)
    updates = order_and_lines_update_sql(
        order_id=order.pk, fields=order_fields, line_statuses=line_statuses
    )
    for number, (sql, params) in enumerate(updates):
        statement.add(f"run_update_{number}", sql, params)
    event = event_build(
        order=order,
        kind="orchestration.run",
        message=_run_message(details, plan),
        at=now,
        actor="system:orchestration",
        data={"attempt": details.attempt, "outcome": details.outcome},
    )
    event.orchestration_details_id = row_of("run_details")
    sql, params = insert_sql(OrderEvent, [event])
    statement.add("run_event", f"{sql} RETURNING id", params)
    details_id, reserved, ids, event_id = statement.execute(
        [
            "(SELECT id FROM run_details)",
            "(SELECT count(*) FROM run_stock)" if reservations else "0",
            "(SELECT array_agg(id ORDER BY n) FROM run_ids)" if count else "NULL",
            "(SELECT id FROM run_event)",
        ]
    )
    if reserved != len(reservations):
        return False  # the caller rolls the statement back with the rest
    # The objects as bulk_create would leave them.
    details.pk = details_id
    details._state.adding = False
    for fulfillment, pk in zip(plan.fulfillments, ids or (), strict=True):
        fulfillment.pk = pk
        fulfillment.orchestration_details = details
        fulfillment._state.adding = False
    for index, line in plan.lines:
        line.fulfillment = plan.fulfillments[index]
    event.pk = event_id
    event.orchestration_details = details
    event._state.adding = False
    event_stored(event)
    return True


def _fold_waiting(
    order: Order, blob: Any, plan: _Plan, now: datetime, settings: Mapping[str, Any]
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
        or last.units_waiting != plan.uncovered
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
        message=_run_message(last, plan),
        data={"attempt": last.attempt, "outcome": last.outcome, "repeats": last.repeats},
    )
    interval = settings["Orchestration:WaitingRetryIntervalInMinutes"]
    Order.objects.filter(pk=order.pk).update(
        needs_orchestration=False,
        next_orchestration_at=now + timedelta(minutes=interval),
        **_failures_cleared(order),
    )
    return last


def _in_fulfillment(scenario: engine.model.Scenario, plan: _Plan) -> dict[int, int]:
    """Units of each order line in an open fulfilment once this run is stored, counted
    as ``order_refresh_status`` counts them, from the history and the plan."""
    history = (
        (entry.order_line, entry.quantity, entry.task)
        for entry in scenario.fulfillment_history
        if entry.status in (engine.model.NEW, engine.model.IN_PROGRESS)
    )
    planned = (
        (line.order_line_id, line.quantity, plan.fulfillments[index].task_key or None)
        for index, line in plan.lines
        # Not a CANCEL sheet's lines: they are stored cancelled.
        if plan.fulfillments[index].status == FulfillmentStatus.NEW
    )
    return units_in_fulfillment(itertools.chain(history, planned))


def _lock(
    order_id: int,
) -> tuple[Order | None, list[OrderLine], list[tuple[int, int, int]] | None]:
    """Lock the order; read it, its lines and the network's token in one query,
    and on PostgreSQL the stock the run needs in the same round trip.

    The lines are read joined to their order and lock only the order's row, which
    is what every writer of an order locks first. The stock is read by a second
    statement sent with the first (so after the lock is held, in a snapshot of its
    own as any statement's); None where it was not read, for ``order_scenario``
    to read.
    """
    if connection.vendor == "postgresql":
        sql, line_fields, order_fields = _lock_sql()
        stock_rows = None
        with connection.cursor() as cursor:
            if isinstance(cursor.cursor, psycopg.ClientCursor):
                # Client-side binding sends both statements as one simple query.
                cursor.execute(_lock_and_stock_sql(), [order_id] * 3)
                rows = cursor.fetchall()
                cursor.nextset()
                stock_rows = cursor.fetchall()
            else:
                cursor.execute(sql, [order_id])
                rows = cursor.fetchall()
        if rows:
            split = len(line_fields)
            order = _from_row(Order, order_fields, rows[0][split:-1])
            order.network_token = rows[0][-1]
            lines = []
            for row in rows:
                line = _from_row(OrderLine, line_fields, row[:split])
                line.order = order  # one object, as order.lines would give
                lines.append(line)
            return order, lines, stock_rows
    else:
        lines = _lock_lines(order_id)
        if lines:
            return lines[0].order, lines, None
    # An order without lines (nothing to route), or no order at all.
    token = Subquery(NetworkVersion.objects.filter(pk=1).values("token")[:1])
    found = (
        Order.objects.select_for_update(of=("self",))
        .annotate(network_token=token)
        .filter(pk=order_id)
        .first()
    )
    return found, [], None


@functools.cache
def _lock_sql() -> tuple[str, tuple[Field, ...], tuple[Field, ...]]:
    """PostgreSQL: the lock query ``_lock_lines`` sends, written once per process.

    Django takes about 2 ms to compile that query, three times what PostgreSQL
    takes to run it, and the run sends it for every order.
    """
    quote = connection.ops.quote_name
    line_fields = tuple(OrderLine._meta.concrete_fields)
    order_fields = tuple(Order._meta.concrete_fields)
    columns = ", ".join(
        [f"l.{quote(f.column)}" for f in line_fields]
        + [f"o.{quote(f.column)}" for f in order_fields]
    )
    # Quoted names only are formatted in; the order's ID is the one parameter.
    token = f"(SELECT token FROM {quote(NetworkVersion._meta.db_table)} WHERE id = 1)"  # noqa: S608
    sql = (
        f"SELECT {columns}, {token} FROM {quote(OrderLine._meta.db_table)} l "  # noqa: S608
        f"JOIN {quote(Order._meta.db_table)} o ON o.id = l.order_id "
        "WHERE l.order_id = %s ORDER BY l.id FOR UPDATE OF o"
    )
    return sql, line_fields, order_fields


@functools.cache
def _lock_and_stock_sql() -> str:
    """The lock query and the stock query as one query string, written once."""
    return f"{_lock_sql()[0]}; {order_stock_sql()}"


def _from_row(model: type[Any], fields: tuple[Field, ...], values: Sequence[Any]) -> Any:
    """A model instance from its concrete fields' column values, as a query gives it."""
    converted = [
        field.from_db_value(value, None, connection)
        if value is not None and hasattr(field, "from_db_value")
        else value
        for field, value in zip(fields, values, strict=True)
    ]
    return model.from_db(connection.alias, [field.attname for field in fields], converted)


def _lock_lines(order_id: int) -> list[OrderLine]:
    """The order's lines joined to their order, whose row is locked, and the token."""
    token = Subquery(NetworkVersion.objects.filter(pk=1).values("token")[:1])
    lines = list(
        OrderLine.objects.select_related("order")
        .select_for_update(of=("order",))
        .annotate(network_token=token)
        .filter(order_id=order_id)
        .order_by("id")
    )
    if lines:
        order = lines[0].order
        order.network_token = lines[0].network_token
        for line in lines:
            line.order = order  # one object, as order.lines would give
    return lines


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


def _plan(
    order: Order,
    shipments: list[dict[str, Any]],
    now: datetime,
    settings: Mapping[str, Any],
    products: Mapping[int, int],
) -> _Plan:
    fanout_label = settings.get("ShipFromStore:FanoutTaskLabel")
    plan = _Plan([], [], Counter(), Counter(), 0, {})
    sales = order.intent == OrderIntent.SALES
    for shipment in shipments:
        action = shipment["FulfillmentAction"]
        sheet = shipment["Sheet"]
        order_lines = shipment["OrderLines"]
        if action == FulfillmentAction.CANCEL:
            if sheet is None:  # no CANCEL sheet: these units wait for stock
                plan.uncovered += sum(line["Quantity"] for line in order_lines)
                continue
            plan.fulfillments.append(
                OrderFulfillment(
                    order=order,
                    sheet_id=sheet["ID"],
                    sheet_name=sheet["Name"],
                    action=action,
                    status=FulfillmentStatus.CANCELLED,
                    cancelled_at=now,
                )
            )
            for line in order_lines:
                plan.cancelled[line["ID"]] += line["Quantity"]
                plan.lines.append(
                    (
                        len(plan.fulfillments) - 1,
                        OrderFulfillmentLine(
                            order_line_id=line["ID"],
                            product_id=products[line["ID"]],
                            quantity=line["Quantity"],
                            status=FulfillmentStatus.CANCELLED,
                            cancellation_reason=CancellationReason.FULFILLMENT_CANCELLED,
                            cancelled_at=now,
                        ),
                    )
                )
            continue
        data = shipment["Data"]
        supplier = shipment["Supplier"]["ID"]
        for unit in (shipment["Supplier"], *shipment["FanoutSuppliers"]):
            # As OrganizationUnit.__str__ has it, without loading the rows.
            plan.names[unit["ID"]] = (
                f"{unit['Name']} ({unit['BackendID']})" if unit["BackendID"] else unit["Name"]
            )
        common = {
            "order": order,
            # No sheet: a return sent to the default returns OU (orchestration off).
            "sheet_id": sheet["ID"] if sheet else None,
            "sheet_name": sheet["Name"] if sheet else "",
            "action": action,
            "data": data,
        }
        if action == FulfillmentAction.SHIP_FROM_STORE:
            shops = [supplier] + [unit["ID"] for unit in shipment["FanoutSuppliers"]]
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
            plan.fulfillments.append(copy)
            for line in order_lines:
                shipped = line.get("Products") or [
                    {"ID": products[line["ID"]], "Quantity": line["Quantity"]}
                ]
                for product in shipped:
                    plan.lines.append(
                        (
                            len(plan.fulfillments) - 1,
                            OrderFulfillmentLine(
                                order_line_id=line["ID"],
                                product_id=product["ID"],
                                quantity=product["Quantity"],
                            ),
                        )
                    )
                    if copy.holds_reservation:
                        plan.reservations[supplier, product["ID"]] += product["Quantity"]
    return plan


def _run_message(details: OrchestrationDetails, plan: _Plan) -> str:
    """How the timeline tells a run: what it made, cancelled and left waiting."""
    parts = []
    tasks: dict[str, list[OrderFulfillment]] = {}
    for fulfillment in plan.fulfillments:
        if fulfillment.task_key:
            tasks.setdefault(fulfillment.task_key, []).append(fulfillment)
        elif fulfillment.action != FulfillmentAction.CANCEL:
            parts.append(
                f"{fulfillment.action} to {plan.names[fulfillment.supplier_organization_unit_id]}"
            )
    for copies in tasks.values():
        shops = ", ".join(plan.names[c.supplier_organization_unit_id] for c in copies)
        parts.append(
            f"SHIP_FROM_STORE task for {shops}"
            + (" (fanned out: the first to start it wins)" if len(copies) > 1 else "")
        )
    if plan.cancelled:
        parts.append(f"{sum(plan.cancelled.values())} units cancelled by the CANCEL sheet")
    if plan.uncovered:
        parts.append(f"{plan.uncovered} units wait: nothing can fulfil them now")
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


def _record(order: Order, details: OrchestrationDetails, plan: _Plan, now: datetime) -> None:
    """The run's timeline entries, and the customer mail for what it cancelled."""
    event_record(
        order=order,
        kind="orchestration.run",
        message=_run_message(details, plan),
        at=now,
        actor="system:orchestration",
        details=details,
        data={"attempt": details.attempt, "outcome": details.outcome},
    )
    if plan.cancelled:
        lines = {
            line.pk: line.product.backend_id or line.product.name
            for line in order.lines.select_related("product").filter(pk__in=plan.cancelled)
        }
        event_record(
            order=order,
            kind="lines.cancelled",
            message="Cancelled because nothing can fulfil them: "
            + ", ".join(f"{q} x {lines[line]}" for line, q in plan.cancelled.items())
            + ".",
            at=now,
            actor="system:orchestration",
            details=details,
            data={
                "lines": [
                    {"order_line": line, "quantity": q} for line, q in plan.cancelled.items()
                ],
                "reason": CancellationReason.FULFILLMENT_CANCELLED,
            },
        )
        customer_notify_cancelled(
            order=order, lines=[(lines[line], q) for line, q in plan.cancelled.items()]
        )
