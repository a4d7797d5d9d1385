"""PostgreSQL: the fast way to lock an order and store a run, equal to ``orm.py``
row for row, in two round trips where the ORM sends a statement per table.

With ``steps.py`` (a plan step's statements, which bind through ``bind`` here),
the only module of the project that knows psycopg (its ``ClientCursor``, its
adapters). What it buys: 14 to 5 ms per stored run (``manage.py bench persist``,
``docs/performance.md``).

- ``lock_order``: the lock query (the order's lines joined to the order, whose
  row it locks, and the network's token) written once per process rather than
  compiled by Django per order, then the stock query ``order_scenario`` would send,
  each prepared on the server (``prepared()``).
- ``store_orders``: new orders, their lines and their first timeline entries in
  one statement, where the ORM sends three (``POST /api/orders/``, the bulk import).
- ``store_fulfillment_progress``: a fulfilment's step (an export sent): its fields,
  its lines', its timeline entry and the look at its plan in one statement, where
  the ORM sends four.
- ``claim_export``: an export's claim (the conditional UPDATE), the fulfilment
  with its order and supplier, and its open lines in one statement, where the ORM
  sends three, each compiled anew.
- ``order_references``: a new order's products (by backend ID) and whether its
  backend ID is taken, in one prepared statement where the ORM sends two, each
  compiled anew (``POST /api/orders/``, the bulk import's chunks).
- ``store_run``: every write of the run as the CTEs of one ``WITH`` statement.
  Sent one by one, that is six round trips or more, each waiting for the server
  before the next; as one statement it is one. PostgreSQL runs every
  data-modifying CTE to completion, checks foreign keys at the end of the
  statement (so a row may point at a row inserted by a sibling CTE), and the whole
  statement succeeds or fails as one.

The INSERTs convert values as ``bulk_create`` does (``pre_save``, then
``get_db_prep_save``): defaults, ``auto_now`` and JSON stay Django's. A value
that must come from another CTE (the ID of a row inserted in the same
statement) is given as a ``RawSQL`` expression selecting it (``row_of``).
Since the rows are not written by the ORM, the saved objects are left as the ORM
would leave them here, by hand (``_state.adding``).

``tests/domain/services/test_persistence.py`` stores the same plans through this
module and ``orm.py`` and compares every row; ``test_persistence_postgres.py``
compares the value conversion and binding with Django's and psycopg's own.
"""

import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, cast

import psycopg
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.postgresql.base import CursorDebugWrapper, ServerBindingCursor
from django.db.backends.utils import CursorWrapper
from django.db.models import Field, Model
from django.db.models.expressions import RawSQL
from psycopg.adapt import Transformer

from ...models import (
    CLOSED_STEP_STATES,
    ExportStatus,
    NetworkVersion,
    OrchestrationClaim,
    OrchestrationDetails,
    OrchestrationDrain,
    Order,
    OrderEvent,
    OrderFulfillment,
    OrderFulfillmentLine,
    OrderLine,
    OrganizationUnit,
    Plan,
    PlanPurpose,
    PlanStep,
    PlanTransition,
    Product,
    StepDefinition,
)
from ...models.fulfillments import OPEN_FULFILLMENT_STATUSES
from ...selectors.scenario import open_tasks_sql, order_stock_sql
from ..progress import order_and_lines_update_sql, update_sql
from ..stock import stock_reserve_sql
from .orm import lock_order_without_lines
from .plan import (
    ClaimedExport,
    ExportLine,
    FulfillmentProgress,
    LockedOrder,
    NewOrder,
    OrderReferences,
    RunPlan,
)


def lock_order(*, order_id: int, with_tasks: bool = False) -> LockedOrder:
    """Lock the order; read it, its lines and the network's token in one query,
    then the stock the run needs; with ``with_tasks`` the shops' open ship-from-store
    tasks too (a sheet reads them).

    The stock is read by a second statement after the first (so after the lock is
    held, in a snapshot of its own as any statement's), the tasks by a third. Each
    is a prepared statement (``prepared()``), a round trip each, that PostgreSQL
    neither parses nor plans again: about 1 ms less of the server's CPU a run (0.65
    against 1.6 ms for the lock and the stock, measured alternately in one process),
    and 0.15 ms less of this one's, than the statements sent as one query with their
    values written in. With
    ``DATABASE_PREPARED_STATEMENTS`` off they go as that one query (only a
    client-side binding cursor, Django's default on psycopg 3, can send several
    statements as one); with server-side binding configured in Django instead, the
    stock and the tasks are left to ``order_scenario``.
    """
    sql, line_fields, order_fields = _lock_sql()
    stock_rows = None
    open_tasks = None
    if prepared_statements_on():
        # Each statement prepared: a round trip each, but none parsed or planned again.
        with prepared() as cursor:
            cursor.execute(sql, [order_id])
            rows = cursor.fetchall()
            if rows:
                cursor.execute(order_stock_sql(), [order_id] * 2)
                stock_rows = cursor.fetchall()
                if with_tasks:
                    cursor.execute(*open_tasks_sql(connection.vendor))
                    open_tasks = dict(cursor.fetchall())
    else:
        with connection.cursor() as cursor:
            if isinstance(cursor.cursor, psycopg.ClientCursor):
                # Client-side binding sends the statements as one simple query.
                if with_tasks:
                    tasks_sql, tasks_params = open_tasks_sql(connection.vendor)
                    cursor.execute(
                        f"{_lock_and_stock_sql()}; {tasks_sql}",
                        [order_id] * 3 + list(tasks_params),
                    )
                else:
                    cursor.execute(_lock_and_stock_sql(), [order_id] * 3)
                rows = cursor.fetchall()
                cursor.nextset()
                stock_rows = cursor.fetchall()
                if with_tasks:
                    cursor.nextset()
                    open_tasks = dict(cursor.fetchall())
            else:
                cursor.execute(sql, [order_id])
                rows = cursor.fetchall()
    if not rows:
        return lock_order_without_lines(order_id=order_id)
    split = len(line_fields)
    order = from_row(Order, order_fields, rows[0][split:-1])
    lines = []
    for row in rows:
        line = from_row(OrderLine, line_fields, row[:split])
        line.order = order  # one object, as order.lines would give
        lines.append(line)
    return LockedOrder(order, lines, rows[0][-1], stock_rows, open_tasks)


@functools.cache
def _lock_sql() -> tuple[str, tuple[Field, ...], tuple[Field, ...]]:
    """The lock query ``orm.lock_order`` sends, written once per process.

    Django takes about 2 ms to compile that query, three times what PostgreSQL
    takes to run it, and the run sends it for every order.
    """
    quote = connection.ops.quote_name
    line_fields = tuple(OrderLine._meta.concrete_fields)
    order_fields = tuple(Order._meta.concrete_fields)
    columns = ", ".join(
        # Concrete fields, each with a column (the stubs allow None for any field).
        [f"l.{quote(f.column)}" for f in line_fields]  # type: ignore[arg-type]
        + [f"o.{quote(f.column)}" for f in order_fields]  # type: ignore[arg-type]
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


def from_row(model: type[Any], fields: tuple[Field, ...], values: Sequence[Any]) -> Any:
    """A model instance from its concrete fields' column values, as a query gives it."""
    converted = [
        field.from_db_value(value, None, connection)
        if value is not None and hasattr(field, "from_db_value")
        else value
        for field, value in zip(fields, values, strict=True)
    ]
    return model.from_db(connection.alias, [field.attname for field in fields], converted)


def store_run(*, plan: RunPlan) -> bool:
    """Store the run as ``orm.store_run`` does, in one statement where the ORM sends
    one or more per table; False if stock was taken meanwhile (the caller then rolls
    its transaction back).

    The run's details, its fulfilments (with IDs taken up front, which their lines
    point at), the lines, the reservations, the cancelled quantities, the statuses
    and the timeline entries are the CTEs of one ``WITH``. Each INSERT takes its
    rows' IDs from the table's sequence in the order given, as ``bulk_create`` does,
    so the IDs follow the plan's order (the timeline sorts by time, then ID).
    """
    details = plan.details
    routing = plan.routing
    statement = Statement()
    sql, params = insert_sql(OrchestrationDetails, [details])
    statement.add("run_details", f"{sql} RETURNING id", params)
    count = len(routing.fulfillments)
    if count:
        statement.ids("run_ids", OrderFulfillment, count)
        for number, fulfillment in enumerate(routing.fulfillments, 1):
            fulfillment.pk = row_of("run_ids", number)
            fulfillment.orchestration_details_id = row_of("run_details")
        statement.add("run_fulfillments", *insert_sql(OrderFulfillment, routing.fulfillments))
    if routing.lines:
        lines = []
        for planned in routing.lines:
            planned.line.fulfillment_id = row_of("run_ids", planned.fulfillment + 1)
            lines.append(planned.line)
        sql, params = insert_sql(OrderFulfillmentLine, lines)
        statement.add("run_lines", f"{sql} RETURNING id", params)
    reservations = sorted(routing.reservations.items())
    if reservations:
        sql, params = stock_reserve_sql(items=reservations)
        statement.add("run_stock", f"{sql} RETURNING 1", params)
    line_statuses = plan.line_statuses
    if routing.cancelled:
        # One UPDATE of the lines: PostgreSQL leaves it open which of two CTEs
        # updating one row wins.
        statement.add("run_cancelled", *_lines_cancel_sql(line_statuses, routing.cancelled))
        line_statuses = {}
    updates = order_and_lines_update_sql(
        order_id=plan.order_id, fields=plan.order_fields, line_statuses=line_statuses
    )
    for number, (sql, params) in enumerate(updates):
        statement.add(f"run_update_{number}", sql, params)
    events = plan.events
    if events:
        for event in events:
            event.orchestration_details_id = row_of("run_details")
        sql, params = insert_sql(OrderEvent, events)
        statement.add("run_events", f"{sql} RETURNING id", params)
    # Not prepared: its shape varies with the routing, and psycopg's work to bind a
    # statement of this size on the server (about 1 ms of this process's CPU) costs
    # more than PostgreSQL's planning it saves (0.2 ms; docs/performance.md).
    details_id, reserved, ids, line_ids, event_ids = statement.execute(
        results=[
            "(SELECT id FROM run_details)",
            "(SELECT count(*) FROM run_stock)" if reservations else "0",
            "(SELECT array_agg(id ORDER BY n) FROM run_ids)" if count else "NULL",
            # One INSERT numbers its rows from the sequence in the order given.
            "(SELECT array_agg(id ORDER BY id) FROM run_lines)" if routing.lines else "NULL",
            "(SELECT array_agg(id ORDER BY id) FROM run_events)" if events else "NULL",
        ],
    )
    if reserved != len(reservations):
        return False  # the caller rolls the statement back with the rest
    # The objects as the ORM would leave them.
    details.pk = details_id
    details._state.adding = False
    for fulfillment, pk in zip(routing.fulfillments, ids or (), strict=True):
        fulfillment.pk = pk
        fulfillment.orchestration_details = details
        fulfillment._state.adding = False
    for planned, pk in zip(routing.lines, line_ids or (), strict=True):
        planned.line.pk = pk
        planned.line.fulfillment = routing.fulfillments[planned.fulfillment]
        planned.line._state.adding = False
    for event, pk in zip(events, event_ids or (), strict=True):
        event.pk = pk
        event.orchestration_details = details
        event._state.adding = False
    return True


def store_plans(
    *,
    plans: Sequence[Plan],
    steps: Sequence[PlanStep],
    transitions: Sequence[tuple[PlanStep | None, Plan, PlanTransition]],
) -> None:
    """Store the plans, their steps and their transitions as ``orm.store_plans``
    does, in one statement where the ORM sends three: the plans' and the steps' IDs
    are taken up front (as the run's fulfilments' are), so the steps and the
    transitions point at them within the statement."""
    statement = Statement()
    number = {id(plan): n for n, plan in enumerate(plans, 1)}
    step_number = {id(step): n for n, step in enumerate(steps, 1)}
    statement.ids("plan_ids", Plan, len(plans))
    for plan in plans:
        plan.pk = row_of("plan_ids", number[id(plan)])
    sql, params = insert_sql(Plan, plans)
    statement.add("plan_rows", f"{sql} RETURNING 1", params)
    owners = [step.plan for step in steps]
    statement.ids("step_ids", PlanStep, len(steps))
    for step, plan in zip(steps, owners, strict=True):
        step.pk = row_of("step_ids", step_number[id(step)])
        step.plan_id = row_of("plan_ids", number[id(plan)])
    sql, params = insert_sql(PlanStep, steps)
    statement.add("plan_steps", f"{sql} RETURNING 1", params)
    rows = []
    for owner, plan, row in transitions:
        row.plan_id = row_of("plan_ids", number[id(plan)])
        row.step_id = row_of("step_ids", step_number[id(owner)]) if owner is not None else None
        rows.append(row)
    if rows:
        sql, params = insert_sql(PlanTransition, rows)
        statement.add("plan_moves", f"{sql} RETURNING 1", params)
    plan_ids, step_ids = statement.execute(
        [
            "(SELECT array_agg(id ORDER BY n) FROM plan_ids)",
            "(SELECT array_agg(id ORDER BY n) FROM step_ids)" if steps else "NULL",
        ]
    )
    # The objects as the ORM would leave them.
    for plan, pk in zip(plans, plan_ids, strict=True):
        plan.pk = pk
        plan._state.adding = False
    for step, plan, pk in zip(steps, owners, step_ids or (), strict=True):
        step.pk = pk
        step.plan = plan
        step._state.adding = False
    for owner, plan, row in transitions:
        row.plan = plan
        row.step = owner


def store_orders(*, orders: Sequence[NewOrder]) -> None:
    """Store the orders as ``orm.store_orders`` does, in one statement where the ORM
    sends three: the orders' IDs are taken up front, so their lines and timeline
    entries point at them within the statement. The IDs follow the order given.

    The IDs are one array, each row reading its order's by subscript: a bulk chunk
    names its orders' IDs three times an order or more, and ``row_of``'s lookup of
    the numbered row (a scan of the IDs) made that quadratic (500 orders: 440 ms
    against the ORM's 300; with the array 1 a row)."""
    statement = Statement()
    table = Order._meta.db_table
    statement.add(
        "new_order_ids",
        # Our own table's name, never input; the count is a parameter.
        f"SELECT array_agg(nextval(pg_get_serial_sequence('{table}', 'id')) ORDER BY n) "  # noqa: S608
        "AS ids FROM generate_series(1, %s) AS n",
        [len(orders)],
        materialized=True,
    )
    lines, events = [], []
    for number, new in enumerate(orders, 1):
        order_id = _new_order_id(number)
        new.order.pk = order_id
        for line in new.lines:
            line.order_id = order_id
            lines.append(line)
        new.created.order_id = order_id
        events.append(new.created)
    sql, params = insert_sql(Order, [new.order for new in orders])
    statement.add("new_orders", f"{sql} RETURNING 1", params)
    sql, params = insert_sql(OrderLine, lines)
    statement.add("new_lines", f"{sql} RETURNING id", params)
    sql, params = insert_sql(OrderEvent, events)
    statement.add("new_events", f"{sql} RETURNING id", params)
    # Not prepared: its shape varies with the lines, and psycopg keys a prepared
    # statement on its parameters' types too (an integer's width, NULL or not), so an
    # order's statement would come in many variants, crowding out the hot ones.
    order_ids, line_ids, event_ids = statement.execute(
        results=[
            "(SELECT ids FROM new_order_ids)",
            # One INSERT numbers its rows from the sequence in the order given.
            "(SELECT array_agg(id ORDER BY id) FROM new_lines)",
            "(SELECT array_agg(id ORDER BY id) FROM new_events)",
        ],
    )
    # The objects as the ORM would leave them.
    for new, pk in zip(orders, order_ids, strict=True):
        new.order.pk = pk
        new.order._state.adding = False
        new.order._state.db = connection.alias
        for line in new.lines:
            line.order = new.order
        new.created.order = new.order
    for line, pk in zip(lines, line_ids or (), strict=True):
        line.pk = pk
        line._state.adding = False
        line._state.db = connection.alias
    for event, pk in zip(events, event_ids, strict=True):
        event.pk = pk
        event._state.adding = False
        event._state.db = connection.alias


def _new_order_id(number: int) -> RawSQL:
    """The ID ``store_orders`` took for its ``number``-th order (from 1)."""
    return RawSQL("(SELECT ids[%s] FROM new_order_ids)", [number])


def store_fulfillment_progress(*, progress: FulfillmentProgress) -> bool:
    """Lock the order and store the step as ``orm.store_fulfillment_progress`` does, in
    two prepared statements (the lock, then one statement; one round trip with
    ``DATABASE_PREPARED_STATEMENTS`` off) where the ORM sends five; answer
    whether the fulfilment's plan has manual steps of the handler still open.
    PostgreSQL reads the plan's steps in the statement's snapshot, which its own writes
    (the fulfilment, its lines and timeline) do not touch."""
    statement = Statement()
    sql, params = update_sql(OrderFulfillment, progress.fields)
    statement.add(
        "progress_fulfillment",
        f"{sql} WHERE id = %s RETURNING 1",
        [*params, progress.fulfillment_id],
    )
    sql, params = update_sql(OrderFulfillmentLine, progress.line_fields)
    statement.add(
        "progress_lines",
        f"{sql} WHERE fulfillment_id = %s AND status = %s RETURNING 1",
        [*params, progress.fulfillment_id, progress.lines_in],
    )
    sql, params = insert_sql(OrderEvent, [progress.event])
    statement.add("progress_event", f"{sql} RETURNING id", params)
    statement.add(
        "progress_steps",
        _open_steps_sql(),
        [progress.fulfillment_id, PlanPurpose.MAIN, progress.handler, *CLOSED_STEP_STATES],
    )
    event_id, open_steps = statement.execute(
        ["(SELECT id FROM progress_event)", "EXISTS (SELECT 1 FROM progress_steps)"],
        first=(_order_lock_sql(), [progress.order_id]),
        prepare=True,  # an export's step has one shape: the same fields every time
    )
    # The entry as the ORM would leave it.
    progress.event.pk = event_id
    progress.event._state.adding = False
    progress.event._state.db = connection.alias
    return bool(open_steps)


class _PreparingCursor(ServerBindingCursor, psycopg.Cursor[Any]):
    """Django's server-side binding cursor (psycopg's ``Cursor`` with Django's mixin; the
    stubs know only the mixin), preparing every statement it executes."""

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        kwargs.setdefault("prepare", True)
        return super().execute(query, params, **kwargs)


class _PreparedDebugWrapper(CursorDebugWrapper):
    """Django's debug wrapper (query logging, ``CaptureQueriesContext``), logging a
    prepared statement with its values written in, as Django logs every other: Django
    reads that text off a client-side binding cursor, which this one is not."""

    def execute(self, sql: Any, params: Any = None) -> Any:
        with self.debug_sql(self.db.ops.compose_sql(sql, params), params):
            return CursorWrapper.execute(self, sql, params)


# psycopg prepares a statement only when asked (``prepare=True``) while a connection's
# threshold is this high: Django's own cursors, which bind on the client, never prepare.
_NEVER_BY_COUNT = 2**31


def prepared_statements_on() -> bool:
    """``DATABASE_PREPARED_STATEMENTS`` (set on PostgreSQL only; see ``settings.py``)."""
    return bool(getattr(settings, "DATABASE_PREPARED_STATEMENTS", True))


@contextmanager
def prepared() -> Iterator[CursorWrapper]:
    """A cursor of the current connection whose statements are prepared on the server
    the first time this connection sends them, and then only executed: PostgreSQL
    neither parses nor plans them again (its generic plan after the fifth execution),
    where a statement with its values written in is parsed and planned every time
    (an export's claim: 0.55 to 0.7 ms of the server's CPU against 0.1).

    For statements of a fixed shape, values as parameters; psycopg keeps the last 100
    per connection. Django's query logging and execute wrappers see them as any other.
    With ``DATABASE_PREPARED_STATEMENTS`` off (a pooler that does not track them),
    Django's own cursor, binding on the client."""
    if not prepared_statements_on():
        with connection.cursor() as plain:
            yield plain
        return
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    raw = connection.connection
    # Only while this cursor is in use: with a threshold set, psycopg would count every
    # statement Django's own cursors send (keeping up to 100 of their texts), where
    # Django's None keeps nothing. What was prepared stays prepared, and dropped on a
    # rollback, either way.
    threshold = raw.prepare_threshold
    raw.prepare_threshold = _NEVER_BY_COUNT if threshold is None else threshold
    try:
        with connection.wrap_database_errors:
            # What connection.cursor() does with the cursor it makes: the debug wrapper
            # when queries are logged, else the plain one. (The session's time zone is
            # the connection's, set when it was opened.)
            connection.validate_thread_sharing()
            made = _PreparingCursor(raw)
            cursor: CursorWrapper = (
                _PreparedDebugWrapper(made, connection)
                if connection.queries_logged
                else connection.make_cursor(cast(Any, made))  # the stubs want a wrapper
            )
        with cursor:
            yield cursor
    finally:
        raw.prepare_threshold = threshold


def claim_export(
    *, fulfillment_id: int, now: datetime, lease_until: datetime
) -> ClaimedExport | None:
    """Claim the export as ``orm.claim_export`` does, and read what it sends, in one
    statement: the UPDATE as a CTE whose row (as updated) is joined to its order and
    supplier, with the open lines aggregated beside it."""
    sql, fulfillment_fields, order_fields, unit_fields = _claim_export_sql()
    params: list[Any] = [
        lease_until,
        fulfillment_id,
        ExportStatus.PENDING,
        now,
        *OPEN_FULFILLMENT_STATUSES,
    ]
    with prepared() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    first, second = len(fulfillment_fields), len(fulfillment_fields) + len(order_fields)
    fulfillment = from_row(OrderFulfillment, fulfillment_fields, row[:first])
    fulfillment.order = from_row(Order, order_fields, row[first:second])
    unit_values = row[second:-1]
    # A fulfilment without a supplier (LEFT JOIN): the unit's ID, as every column, NULL.
    unit_id = unit_values[unit_fields.index(OrganizationUnit._meta.pk)]
    fulfillment.supplier_organization_unit = (
        None if unit_id is None else from_row(OrganizationUnit, unit_fields, unit_values)
    )
    lines: list[ExportLine] = [tuple(line) for line in row[-1] or []]
    return ClaimedExport(fulfillment, lines)


def _column(model: type[Model], name: str) -> str:
    """The quoted column of ``model``'s field ``name``, as the model names it."""
    return str(connection.ops.quote_name(str(cast(Field, model._meta.get_field(name)).column)))


@functools.cache
def _claim_export_sql() -> tuple[str, tuple[Field, ...], tuple[Field, ...], tuple[Field, ...]]:
    """``claim_export``'s statement, and the fulfilment's, the order's and the unit's
    fields in the order it reads their columns. Parameters: the
    lease's end, the fulfilment's ID, the Pending status, now, then each of
    ``OPEN_FULFILLMENT_STATUSES``."""
    quote = connection.ops.quote_name
    fulfillment_fields = tuple(OrderFulfillment._meta.concrete_fields)
    order_fields = tuple(Order._meta.concrete_fields)
    unit_fields = tuple(OrganizationUnit._meta.concrete_fields)

    def columns(alias: str, fields: tuple[Field, ...]) -> str:
        # Concrete fields, each with a column (the stubs allow None for any field).
        return ", ".join(f"{alias}{quote(f.column)}" for f in fields)  # type: ignore[arg-type]

    line = OrderFulfillmentLine
    statuses = ", ".join("%s" for _status in OPEN_FULFILLMENT_STATUSES)
    # Quoted names and placeholders only; every value is a parameter.
    lines = (
        f"(SELECT json_agg(json_build_array(l.id, l.{_column(line, 'order_line')}, "  # noqa: S608
        f"p.{_column(Product, 'backend_id')}, l.{_column(line, 'quantity')}) ORDER BY l.id) "
        f"FROM {quote(line._meta.db_table)} l "
        f"LEFT JOIN {quote(Product._meta.db_table)} p ON p.id = l.{_column(line, 'product')} "
        f"WHERE l.{_column(line, 'fulfillment')} = f.id AND l.{_column(line, 'status')} "
        f"IN ({statuses}))"
    )
    fulfillments = quote(OrderFulfillment._meta.db_table)
    # Quoted names and placeholders only; every value is a parameter.
    sql = (
        f"WITH claimed AS (UPDATE {fulfillments} "  # noqa: S608
        f"SET {_column(OrderFulfillment, 'export_next_at')} = %s "
        f"WHERE id = %s AND {_column(OrderFulfillment, 'export_status')} = %s "
        f"AND {_column(OrderFulfillment, 'export_next_at')} <= %s "
        f"RETURNING {columns('', fulfillment_fields)}) "
        f"SELECT {columns('f.', fulfillment_fields)}, {columns('o.', order_fields)}, "
        f"{columns('u.', unit_fields)}, {lines} "
        f"FROM claimed f JOIN {quote(Order._meta.db_table)} o "
        f"ON o.id = f.{_column(OrderFulfillment, 'order')} "
        f"LEFT JOIN {quote(OrganizationUnit._meta.db_table)} u "
        f"ON u.id = f.{_column(OrderFulfillment, 'supplier_organization_unit')}"
    )
    return sql, fulfillment_fields, order_fields, unit_fields


@functools.cache
def _order_lock_sql() -> str:
    """The order's lock as every writer of its fulfilments takes it (its ID only)."""
    quote = connection.ops.quote_name
    return f"SELECT id FROM {quote(Order._meta.db_table)} WHERE id = %s FOR UPDATE"  # noqa: S608


@functools.cache
def _open_steps_sql() -> str:
    """``plan_manual_steps_open`` written out: the fulfilment's ID, the plan's purpose,
    the handler, then each of ``CLOSED_STEP_STATES``; at most one row."""
    quote = connection.ops.quote_name
    states = ", ".join("%s" for _state in CLOSED_STEP_STATES)
    # Quoted names and placeholders only; every value is a parameter.
    return (
        f"SELECT 1 FROM {quote(PlanStep._meta.db_table)} s "  # noqa: S608
        f"JOIN {quote(Plan._meta.db_table)} p ON p.id = s.plan_id "
        f"JOIN {quote(StepDefinition._meta.db_table)} d ON d.id = s.definition_id "
        "WHERE p.fulfillment_id = %s AND p.purpose = %s AND d.handler = %s "
        f"AND s.state NOT IN ({states}) LIMIT 1"
    )


def _lines_cancel_sql(
    line_statuses: Mapping[str, list[int]], cancelled: Mapping[int, int]
) -> tuple[str, list[Any]]:
    """The one ``UPDATE`` of the order lines that adds the ``cancelled`` quantities
    and sets the new ``line_statuses`` (of lines with a cancelled quantity or not)."""
    pairs = [(line_id, status) for status, ids in line_statuses.items() for line_id in ids]
    ids = sorted({*cancelled, *(line_id for line_id, _status in pairs)})
    columns = []
    params: list[Any] = []
    if pairs:
        cases = " ".join("WHEN %s THEN %s" for _pair in pairs)
        columns.append(f"status = CASE id {cases} ELSE status END")
        params += [value for pair in pairs for value in pair]
    cases = " ".join("WHEN %s THEN %s" for _line in cancelled)
    columns.append(f"quantity_cancelled = quantity_cancelled + CASE id {cases} ELSE 0 END")
    params += [value for item in cancelled.items() for value in item]
    table = connection.ops.quote_name(OrderLine._meta.db_table)
    # Only a quoted name and placeholders are formatted in; values are parameters.
    sql = (
        f"UPDATE {table} SET {', '.join(columns)} "  # noqa: S608
        f"WHERE id IN ({', '.join('%s' for _id in ids)})"
    )
    return sql, [*params, *ids]


def insert_sql(model: type[Model], objs: Sequence[Model]) -> tuple[str, list[Any]]:
    """The ``INSERT`` of ``objs`` (their primary key included when set), without
    ``RETURNING``: for a CTE, which adds its own.

    Each value as ``bulk_create`` sends it (``pre_save``, so ``auto_now`` and
    defaults apply, then ``get_db_prep_save``); an expression (``row_of``) is
    written in as SQL. Built here rather than by Django's insert compiler, which
    takes a millisecond per call to arrive at the same text.
    """
    columns = insert_columns(model, with_pk=all(obj.pk is not None for obj in objs))
    # The connection itself, not the ``connection`` proxy, which looks it up in a
    # thread-local store on every use: once per value here.
    db = connections[DEFAULT_DB_ALIAS]
    rows = []
    params: list[Any] = []
    for obj in objs:
        placeholders = []
        for field, attname, fast in columns:
            value = getattr(obj, attname) if attname else field.pre_save(obj, True)
            if isinstance(value, RawSQL):
                placeholders.append(value.sql)
                params.extend(value.params)
                continue
            placeholders.append("%s")
            converted = fast(value, db) if fast else _SLOW
            params.append(field.get_db_prep_save(value, db) if converted is _SLOW else converted)
        rows.append(f"({', '.join(placeholders)})")
    quote = db.ops.quote_name
    # Concrete fields, each with a column (the stubs allow None for any field).
    names = ", ".join(quote(field.column) for field, _attname, _fast in columns)  # type: ignore[arg-type]
    # Quoted names and placeholders only; every value is a parameter.
    sql = f"INSERT INTO {quote(model._meta.db_table)} ({names}) VALUES {', '.join(rows)}"  # noqa: S608
    return sql, params


# What a fast converter returns for a value it leaves to ``get_db_prep_save``.
_SLOW = object()
_INTEGERS = frozenset(
    {
        "IntegerField",
        "BigIntegerField",
        "SmallIntegerField",
        "PositiveIntegerField",
        "PositiveSmallIntegerField",
        "PositiveBigIntegerField",
    }
)
_AUTO = frozenset({"AutoField", "BigAutoField", "SmallAutoField"})
Converter = Callable[[Any, BaseDatabaseWrapper], Any]


@functools.cache
def insert_columns(
    model: type[Model], *, with_pk: bool
) -> tuple[tuple[Field, str | None, Converter | None], ...]:
    """The columns ``bulk_create`` would insert into (the key only when given), each
    with the attribute to read when ``pre_save`` only reads it, and a fast converter.

    Django's ``get_db_prep_save`` walks five methods per value to arrive, for the
    usual values (None, an int, a str, a bool, an aware datetime), at the value
    itself or one backend adapter call; done per value of a run, that was most of
    the time spent building its statement. The converters below make that same
    call directly and leave anything else to ``get_db_prep_save``
    (``test_persistence_postgres.py`` compares the two on every column a run writes).
    """
    opts = model._meta
    return tuple(
        (field, _plain_attname(field), _converter(field))
        for field in opts.concrete_fields
        if not field.generated and (with_pk or field is not opts.pk)
    )


def _plain_attname(field: Field) -> str | None:
    """The attribute ``pre_save`` returns unchanged, or None if it may change it."""
    pre_save = type(field).pre_save
    if pre_save is Field.pre_save:
        return field.attname
    # Django's date fields' pre_save only sets auto_now(_add) values; a subclass
    # with its own pre_save keeps it.
    if pre_save in _DATE_PRE_SAVES and not (
        getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)
    ):
        return field.attname
    return None


_DATE_PRE_SAVES = (models.DateField.pre_save, models.DateTimeField.pre_save)


def _converter(field: Field) -> Converter | None:
    """A quicker way to ``field.get_db_prep_save`` for the usual values, or None."""
    if isinstance(field, models.ForeignKey):
        if type(field).get_db_prep_save is not models.ForeignKey.get_db_prep_save:
            return None
        if field.target_field.get_internal_type() not in _AUTO:
            return None
        # ForeignKey -> its target AutoField: get_prep_value, then validate_autopk_value.
        return lambda value, db: (
            value
            if value is None
            else db.ops.validate_autopk_value(value)
            if type(value) is int
            else _SLOW
        )
    kind = type(field)
    if kind.__module__ != "django.db.models.fields" or field.is_relation:
        return None  # a field of our own, or a relation other than a ForeignKey
    internal = field.get_internal_type()
    if internal in _INTEGERS:
        return lambda value, db: (
            None
            if value is None
            else db.ops.adapt_integerfield_value(value, internal)
            if type(value) is int
            else _SLOW
        )
    if internal in ("CharField", "TextField"):
        return lambda value, db: value if value is None or isinstance(value, str) else _SLOW
    if internal == "BooleanField":
        return lambda value, db: value if value is None or type(value) is bool else _SLOW
    if internal == "DateTimeField":
        return lambda value, db: (
            None
            if value is None
            else db.ops.adapt_datetimefield_value(value)
            if type(value) is datetime and value.tzinfo is not None
            else _SLOW
        )
    return None


def row_of(cte: str, number: int | None = None) -> RawSQL:
    """The ``id`` the CTE ``cte`` gave its only row, or its row ``n = number``."""
    if number is None:
        # Names of this module's CTEs only, never input; values are parameters.
        return RawSQL(f"(SELECT id FROM {cte})", [])  # noqa: S608, S611
    return RawSQL(f"(SELECT id FROM {cte} WHERE n = %s)", [number])  # noqa: S608, S611


class Statement:
    """A ``WITH`` statement built CTE by CTE, ending in one ``SELECT`` of results."""

    def __init__(self) -> None:
        self.ctes: list[tuple[str, str, list[Any]]] = []

    def add(
        self, name: str, sql: str, params: Sequence[Any] = (), *, materialized: bool = False
    ) -> None:
        """A CTE ``name``: a data-modifying statement (with ``RETURNING`` if read) or a query."""
        head = f"{name} AS MATERIALIZED" if materialized else f"{name} AS"
        self.ctes.append((head, sql, list(params)))

    def ids(self, name: str, model: type[Model], count: int) -> None:
        """``count`` new IDs of ``model``'s table, numbered ``n`` from 1, taken from
        its identity sequence up front so that other CTEs can point at them."""
        table = model._meta.db_table
        self.add(
            name,
            f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) AS id, n "  # noqa: S608
            "FROM generate_series(1, %s) AS n",
            [count],
            # Evaluated once, so each n keeps one ID however often it is read.
            materialized=True,
        )

    def execute(
        self,
        results: Sequence[str],
        *,
        first: tuple[str, Sequence[Any]] | None = None,
        prepare: bool = False,
    ) -> tuple[Any, ...]:
        """Send it; return the row of ``results`` (SQL expressions over the CTEs).

        ``first``, a statement and its parameters, runs before it (a lock to take):
        in the same query string with a client-side binding cursor, else on its own.
        ``prepare``: for a statement of a fixed shape, sent through ``prepared()``."""
        ctes = ", ".join(f"{head} ({sql})" for head, sql, _params in self.ctes)
        params = [value for _head, _sql, cte_params in self.ctes for value in cte_params]
        sql = f"WITH {ctes} SELECT {', '.join(results)}"
        with prepared() if prepare else connection.cursor() as cursor:
            if isinstance(cursor.cursor, psycopg.ClientCursor):
                query = bind(cursor.cursor, sql, params)
                if first is not None:
                    query = f"{bind(cursor.cursor, first[0], first[1])}; {query}"
                cursor.execute(query)
                if first is not None:
                    cursor.nextset()
            else:
                if first is not None:
                    cursor.execute(*first)
                cursor.execute(sql, params)
            return tuple(cursor.fetchone())


def bind(cursor: "psycopg.ClientCursor[Any]", sql: str, params: Sequence[Any]) -> str:
    """``sql`` with ``params`` written in as literals: what a client-side binding
    cursor (Django's on psycopg 3) sends for ``execute(sql, params)``.

    psycopg remembers how it split a query at its placeholders only for queries of
    at most 50 parameters; a run's statement has more than 100, and splitting it
    again on every run took a quarter of a millisecond. Its placeholders are all
    ``%s`` (the values are parameters; this module writes no other ``%``), so the
    SQL is its own template, and each value is made a literal by psycopg's own
    adapters, as ``execute`` would (``test_persistence_postgres.py`` compares the two). Text,
    not bytes, as Django's execute wrappers and query logging expect.
    """
    transformer = Transformer(cursor)
    literals = tuple(
        b"NULL" if value is None else transformer.as_literal(value) for value in params
    )
    return (sql.encode() % literals).decode(cursor.connection.info.encoding)


def order_references(
    *, product_backend_ids: Sequence[str], order_backend_ids: Sequence[str]
) -> OrderReferences:
    """Read what ``orm.order_references`` reads in one statement, prepared: a row for
    each product found and one for each order backend ID taken, told apart by the first
    column (the backend ID taken; NULL on a product's row). The backend IDs are two
    arrays, so the statement has one shape whatever their number."""
    products: dict[str, Product] = {}
    if not product_backend_ids and not order_backend_ids:
        return OrderReferences(products, set())  # nothing to ask (as the ORM's way)
    sql, fields = _order_references_sql()
    taken: set[str] = set()
    with prepared() as cursor:
        cursor.execute(sql, [list(product_backend_ids), list(order_backend_ids)])
        for row in cursor.fetchall():
            if row[0] is None:
                product = from_row(Product, fields, row[1:])
                products[product.backend_id] = product
            else:
                taken.add(row[0])
    return OrderReferences(products, taken)


@functools.cache
def _order_references_sql() -> tuple[str, tuple[Field, ...]]:
    """``order_references``' statement and the product's fields in the order it reads
    their columns (after the first, the taken backend ID). Parameters: the products'
    backend IDs, the orders'."""
    quote = connection.ops.quote_name
    fields = tuple(Product._meta.concrete_fields)

    # Concrete fields, each with a column (the stubs allow None for any field).
    columns = ", ".join(f"p.{quote(f.column)}" for f in fields)  # type: ignore[arg-type]
    # A product's row gives NULL for the first column, an order's row NULL for the rest.
    nulls = ", ".join("NULL" for _field in fields)
    # Quoted names only are formatted in; the backend IDs are the two parameters.
    sql = (
        f"SELECT NULL::text, {columns} FROM {quote(Product._meta.db_table)} p "  # noqa: S608
        f"WHERE p.{_column(Product, 'backend_id')} = ANY(%s::text[]) "
        f"UNION ALL SELECT o.{_column(Order, 'backend_id')}::text, {nulls} "
        f"FROM {quote(Order._meta.db_table)} o "
        f"WHERE o.{_column(Order, 'backend_id')} = ANY(%s::text[])"
    )
    return sql, fields


def claim_order(*, after: int, now: datetime, claimed_before: datetime) -> int | None:
    """``orm.claim_order`` as one prepared statement, outside any transaction (it
    commits at once). The partial index ``order_to_orchestrate`` holds only the
    flagged orders, so it is read from ``after`` on whatever the history."""
    with prepared() as cursor:
        cursor.execute(_claim_order_sql(), [after, claimed_before, now])
        row = cursor.fetchone()
    return None if row is None else int(row[0])


@functools.cache
def _claim_order_sql() -> str:
    orders = connection.ops.quote_name(Order._meta.db_table)
    claims = connection.ops.quote_name(OrchestrationClaim._meta.db_table)
    order = _column(OrchestrationClaim, "order")
    at = _column(OrchestrationClaim, "claimed_at")
    # Quoted names only are formatted in; every value is a parameter: the ID to start
    # after, the time before which an earlier claim has lapsed, the claim's time. The
    # order's lock is NO KEY UPDATE, as an UPDATE's: a row referring to the order,
    # committing elsewhere (its foreign key's KEY SHARE lock), does not make it skipped.
    return (
        f"WITH next AS (SELECT o.id FROM {orders} o "  # noqa: S608
        f"WHERE o.{_column(Order, 'needs_orchestration')} "
        f"AND o.{_column(Order, 'orchestration_failures')} = 0 AND o.id > %s "
        f"AND NOT EXISTS (SELECT 1 FROM {claims} c WHERE c.{order} = o.id AND c.{at} > %s) "
        "ORDER BY o.id LIMIT 1 FOR NO KEY UPDATE SKIP LOCKED) "
        f"INSERT INTO {claims} ({order}, {at}) SELECT id, %s FROM next "
        f"ON CONFLICT ({order}) DO UPDATE SET {at} = EXCLUDED.{at} RETURNING {order}"
    )


def drain_ring(*, slots: int, now: datetime) -> int | None:
    """``orm.drain_ring`` as one prepared statement: the first slot not taken, inserted;
    two ringers choosing the same slot at once insert it once (the other gets no row,
    as if every slot were taken, which it may treat so: a drain is asked for)."""
    with prepared() as cursor:
        cursor.execute(_drain_ring_sql(), [now, slots])
        row = cursor.fetchone()
    return None if row is None else int(row[0])


@functools.cache
def _drain_ring_sql() -> str:
    table = connection.ops.quote_name(OrchestrationDrain._meta.db_table)
    slot = _column(OrchestrationDrain, "slot")
    # Quoted names only are formatted in; the time and the number of slots are parameters.
    return (
        f"INSERT INTO {table} ({slot}, {_column(OrchestrationDrain, 'rung_at')}) "  # noqa: S608
        "SELECT s, %s FROM generate_series(1, %s::integer) AS s "
        f"WHERE NOT EXISTS (SELECT 1 FROM {table} d WHERE d.{slot} = s) "
        f"ORDER BY s LIMIT 1 ON CONFLICT DO NOTHING RETURNING {slot}"
    )


def drain_answer(*, slot: int) -> None:
    """``orm.drain_answer`` as one prepared statement."""
    with prepared() as cursor:
        cursor.execute(_drain_answer_sql(), [slot])


@functools.cache
def _drain_answer_sql() -> str:
    table = connection.ops.quote_name(OrchestrationDrain._meta.db_table)
    return f"DELETE FROM {table} WHERE {_column(OrchestrationDrain, 'slot')} = %s"  # noqa: S608
