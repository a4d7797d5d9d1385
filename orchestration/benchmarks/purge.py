"""``manage.py bench purge [--rows N] [--repeat N]``: the history purge over N old
timeline events (1,000,000), PostgreSQL only.

Each round generates the rows (INSERT ... SELECT generate_series): N events of
N / 10 orders that were completed 400 days ago, and the recent events of N / 100 open
orders (100,000 events of 10,000 orders at most), which must all be kept. On them,
in turn: "before", the code at main's aad6a1e, which has no purge (the probes below
run alone for 10 s, and the rows stay); a single unbatched ``DELETE`` of the old
events (the reference: what one statement over the same rows costs); then, on rows
generated again, ``history_purge`` in batches. Round after round, so that all three
are measured alternately on a machine whose speed moves.

Meanwhile two probes run on connections of their own, one transaction per statement:
- an inserter writes a new event of an open order every 20 ms (what the suite does all
  the time), and notes how long each insert took to commit;
- an updater touches an old event still due (what the webhook sender or the admin could
  do to a row the purge is about to delete), and notes how long it waited.
A third connection samples the purge's locks on the events table from ``pg_locks``.

Everything is made under orders named ``BENCH-PURGE-*`` and removed afterwards.
"""

import random
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from ..models import OrchestrationDetails, Order, OrderEvent, OrderStatus
from ..services.history import HistoryRetention, history_due, history_purge
from ..services.orchestration_details import (
    orchestration_details_create,
    orchestration_details_purge,
)

PREFIX = "BENCH-PURGE-"
EVENTS_PER_ORDER = 10
RECENT_ORDERS = 10_000
OLD_DAYS = 400
# The inserter's pace: 50 events a second, about what 100 orders a minute write.
INSERT_INTERVAL = 0.02
UPDATE_INTERVAL = 0.02
# "Before" (no purge): the probes alone, this long, on the same rows.
BEFORE_SECONDS = 10.0


def _columns(model: type[Any]) -> list[str]:
    return [f.column for f in model._meta.concrete_fields if not f.primary_key]


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def clean() -> None:
    """Remove every BENCH-PURGE order and its events (raw SQL: a million rows)."""
    with transaction.atomic(), connection.cursor() as cursor:
        orders = _q(Order._meta.db_table)
        for model in (OrderEvent, OrchestrationDetails):
            cursor.execute(
                f"DELETE FROM {_q(model._meta.db_table)} WHERE order_id IN "  # noqa: S608
                f"(SELECT id FROM {orders} WHERE backend_id LIKE %s)",
                [PREFIX + "%"],
            )
        cursor.execute(f"DELETE FROM {orders} WHERE backend_id LIKE %s", [PREFIX + "%"])  # noqa: S608
    vacuum()


def vacuum() -> None:
    """This machine's PostgreSQL runs without autovacuum: do its work between runs."""
    with connection.cursor() as cursor:
        for model in (Order, OrderEvent, OrchestrationDetails):
            cursor.execute(f"VACUUM ANALYZE {_q(model._meta.db_table)}")


def generate(rows: int) -> tuple[int, int]:
    """``rows`` old events of ended orders and the recent ones of open orders; return
    (the open order the inserter writes to, the seconds it took)."""
    started = time.perf_counter()
    now = timezone.now()
    old = now - timedelta(days=OLD_DAYS)
    old_orders = max(1, rows // EVENTS_PER_ORDER)
    # 10,000 for a million old events; fewer for a small run (the tests' 200).
    recent_orders = max(1, min(RECENT_ORDERS, old_orders // 10))
    template = Order.objects.create(backend_id=f"{PREFIX}TEMPLATE", status=OrderStatus.ROUTED)
    # Before the old ones, as in a real table, whose keys rise with time (an open order's).
    event = OrderEvent.objects.create(
        order=template,
        at=old - timedelta(days=1),
        kind="order.created",
        message="Created",
        actor="system:bench",
    )
    orders, events = _q(Order._meta.db_table), _q(OrderEvent._meta.db_table)
    order_columns = [c for c in _columns(Order) if c not in ("backend_id", "status", "updated_at")]
    event_columns = [
        c for c in _columns(OrderEvent) if c not in ("order_id", "at", "webhook_status")
    ]
    copied_order_columns = ", ".join("t." + _q(c) for c in order_columns)
    with transaction.atomic(), connection.cursor() as cursor:
        for kind, count, status, at in (
            ("OLD", old_orders, OrderStatus.COMPLETED, old),
            ("NEW", recent_orders, OrderStatus.ROUTED, now - timedelta(days=1)),
        ):
            cursor.execute(
                f"INSERT INTO {orders} (backend_id, status, updated_at, "  # noqa: S608
                f"{', '.join(map(_q, order_columns))}) "
                f"SELECT %s || n::text, %s, %s, {copied_order_columns} "
                f"FROM {orders} t, generate_series(1, %s) n WHERE t.id = %s",
                [f"{PREFIX}{kind}-", status, at, count, template.pk],
            )
            cursor.execute(
                f"INSERT INTO {events} (order_id, at, webhook_status, "  # noqa: S608
                f"{', '.join(map(_q, event_columns))}) "
                f"SELECT o.id, %s + (e.n * interval '1 second'), "
                f"CASE WHEN e.n %% 3 = 0 THEN 'Sent' ELSE '' END, "
                f"{', '.join('t.' + _q(c) for c in event_columns)} "
                f"FROM {orders} o, {events} t, generate_series(1, %s) e(n) "
                f"WHERE o.backend_id LIKE %s AND t.id = %s",
                [at, EVENTS_PER_ORDER, f"{PREFIX}{kind}-%", event.pk],
            )
        # Exactly ``rows`` old events: the last old order takes fewer.
        surplus = old_orders * EVENTS_PER_ORDER - rows
        if surplus > 0:
            cursor.execute(
                f"DELETE FROM {events} WHERE id IN (SELECT e.id FROM {events} e JOIN {orders} o "  # noqa: S608
                f"ON o.id = e.order_id WHERE o.backend_id LIKE %s ORDER BY e.id DESC LIMIT %s)",
                [f"{PREFIX}OLD-%", surplus],
            )
    vacuum()
    return template.pk, round(time.perf_counter() - started)


@dataclass
class _Probe:
    """A thread doing one statement a transaction on its own connection, timing each."""

    name: str
    statement: Callable[[Any], None]
    interval: float
    waits: list[float] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    pid: int = 0
    ready: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.ready.wait(30)

    def _run(self) -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                self.pid = cursor.fetchone()[0]
            self.ready.set()
            while not self.stop.is_set():
                started = time.perf_counter()
                with transaction.atomic(), connection.cursor() as cursor:
                    self.statement(cursor)
                self.waits.append(time.perf_counter() - started)
                time.sleep(self.interval)
        finally:
            connection.close()

    def finish(self, lock_waits: dict[int, float]) -> str:
        self.stop.set()
        assert self.thread is not None
        self.thread.join(60)
        waits = sorted(self.waits) or [0.0]
        p99 = waits[min(len(waits) - 1, int(len(waits) * 0.99))]
        blocked = lock_waits.get(self.pid)
        return (
            f"{self.name}: {len(waits)} statements, median "
            f"{statistics.median(waits) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
            f"max {waits[-1] * 1000:.1f} ms; "
            + (
                f"seen waiting on a lock, at most {blocked * 1000:.0f} ms"
                if blocked is not None
                else "never seen waiting on a lock"
            )
        )


class _LockWatch:
    """Samples, every 10 ms, the purging backend's locks on the events table and the
    backends waiting on a lock (with how long their statement has been waiting)."""

    def __init__(self, pid: int, table: str = OrderEvent._meta.db_table) -> None:
        self.pid = pid
        self.table = table
        self.modes: set[str] = set()
        self.waits: dict[int, float] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            with connection.cursor() as cursor:
                while not self.stop.is_set():
                    cursor.execute(
                        "SELECT CASE WHEN locktype = 'relation' THEN mode "
                        "ELSE locktype || ' ' || mode END "
                        "FROM pg_locks WHERE pid = %s AND relation = %s::regclass",
                        [self.pid, self.table],
                    )
                    self.modes.update(row[0] for row in cursor.fetchall())
                    cursor.execute(
                        "SELECT pid, extract(epoch FROM clock_timestamp() - query_start) "
                        "FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                        "AND datname = current_database()"
                    )
                    for pid, seconds in cursor.fetchall():
                        self.waits[pid] = max(self.waits.get(pid, 0.0), float(seconds))
                    time.sleep(0.01)
        finally:
            connection.close()

    def finish(self) -> str:
        self.stop.set()
        self.thread.join(60)
        return ", ".join(sorted(self.modes)) or "none seen"


def _probes(open_order: int, due_ids: list[int]) -> list[_Probe]:
    events = _q(OrderEvent._meta.db_table)
    columns = _columns(OrderEvent)
    values = {
        "order_id": open_order,
        "kind": "order.note",
        "message": "probe",
        "actor": "system:bench",
        "data": "{}",
        "webhook_status": "",
        "webhook_attempts": 0,
    }
    chosen = [c for c in columns if c in values or c == "at"]
    picker = random.Random(23)  # noqa: S311 (a reproducible choice, not a secret)

    def insert(cursor: Any) -> None:
        cursor.execute(
            f"INSERT INTO {events} ({', '.join(map(_q, chosen))}) VALUES "  # noqa: S608
            f"({', '.join('now()' if c == 'at' else '%s' for c in chosen)})",
            [values[c] for c in chosen if c != "at"],
        )

    def update(cursor: Any) -> None:
        cursor.execute(
            f"UPDATE {events} SET webhook_attempts = webhook_attempts + 1 WHERE id = %s",  # noqa: S608
            [picker.choice(due_ids)],
        )

    return [
        _Probe("concurrent inserts of new events", insert, INSERT_INTERVAL),
        _Probe("concurrent updates of rows being purged", update, UPDATE_INTERVAL),
    ]


def _due_ids() -> list[int]:
    return list(
        OrderEvent.objects.filter(order__backend_id__startswith=f"{PREFIX}OLD-").values_list(
            "pk", flat=True
        )
    )


def _unbatched(retention: HistoryRetention) -> int:
    """The reference: one DELETE of every due row, in one transaction."""
    due = history_due(kind="order_events", now=timezone.now(), retention=retention).values("pk")
    sql, params = due.query.sql_with_params()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {_q(OrderEvent._meta.db_table)} WHERE id IN ({sql})", params)  # noqa: S608
        return int(cursor.rowcount)


def _measured(
    label: str, purge: Callable[[], tuple[int, str]], open_order: int, write: Callable[[str], None]
) -> float:
    due_ids = _due_ids()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    probes = _probes(open_order, due_ids)
    for probe in probes:
        probe.start()
    watch = _LockWatch(pid)
    time.sleep(0.5)  # the probes' own baseline first
    started = time.perf_counter()
    purged, detail = purge()
    seconds = time.perf_counter() - started
    time.sleep(0.5)
    locks = watch.finish()
    reports = [probe.finish(watch.waits) for probe in probes]
    write(f"{label}: {purged:,} rows in {seconds:.1f} s, {purged / seconds:,.0f} rows/s; {detail}")
    write(f"    locks on the events table seen: {locks}")
    for report in reports:
        write(f"    {report}")
    return seconds


def run(
    rows: int, repeat: int, batch_size: int, write: Callable[[str], None], pause: float = 0.0
) -> None:
    """Alternate the unbatched DELETE and the batched purge, ``repeat`` rounds."""
    if connection.vendor != "postgresql":
        raise RuntimeError("bench purge needs PostgreSQL (DATABASE_URL=postgres://...)")
    retention = replace(
        HistoryRetention.from_settings(),
        events_days=365,
        batch_size=batch_size,
        time_budget_seconds=24 * 3600,
        pause_seconds=pause,
        archive_dir="",
    )
    idle = min(BEFORE_SECONDS, max(1.0, rows / 100_000))

    def before() -> tuple[int, str]:
        time.sleep(idle)
        return 0, "the code before has no purge: the rows stay"

    def unbatched() -> tuple[int, str]:
        return _unbatched(retention), "one transaction"

    def batched() -> tuple[int, str]:
        result = history_purge(now=timezone.now(), retention=retention, kinds=["order_events"])
        times = sorted(result.batch_seconds)
        p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
        return result.counts["order_events"], (
            f"{result.batches:,} batches, a batch's transaction: median "
            f"{statistics.median(times) * 1000:.0f} ms, p99 {p99 * 1000:.0f} "
            f"ms, longest {times[-1] * 1000:.0f} ms"
        )

    steps: tuple[tuple[str, Callable[[], tuple[int, str]], bool], ...] = (
        # (label, purge, whether the rows are generated first)
        (f"before, no purge, the probes alone for {idle:.0f} s", before, True),
        ("unbatched DELETE", unbatched, False),
        (f"history_purge, batches of {batch_size:,}, pauses of {pause:g} s", batched, True),
    )
    clean()
    try:
        for round_number in range(1, repeat + 1):
            for label, purge, fresh in steps:
                if fresh:
                    clean()
                    open_order, took = generate(rows)
                    write(f"round {round_number}: generated {rows:,} old events in {took} s")
                _measured(label, purge, open_order, write)
                if purge is before:
                    continue
                old = OrderEvent.objects.filter(order__backend_id__startswith=f"{PREFIX}OLD-")
                left = old.count()
                if left and purge is batched:
                    # Rows the updater held when their batch came (SKIP LOCKED): the
                    # next run's.
                    history_purge(now=timezone.now(), retention=retention, kinds=["order_events"])
                    left_after = f", {old.count():,} after the next run"
                else:
                    left_after = ""
                kept = OrderEvent.objects.filter(
                    order__backend_id__startswith=f"{PREFIX}NEW-"
                ).count()
                write(f"    recent events kept: {kept:,}; old events left: {left:,}{left_after}")
    finally:
        clean()


# A run's explanation, about the size of a real one (15 kB of JSON, 1 to 2 kB stored).
DETAILS_BLOB = {
    "Fulfillments": [
        {"OrganizationUnit": f"SHOP-{n:04d}", "Score": n * 7 % 100, "Lines": [n, n + 1]}
        for n in range(40)
    ],
    "Rejected": {f"SHOP-{n:04d}": f"Supplier.Stock below {n} for line {n % 3}" for n in range(80)},
}
DETAILS_PER_ORDER = 10


def _generate_details(rows: int) -> int:
    """``rows`` orchestration details whose lifetime ended 400 days ago, 10 an order;
    return the key of the template row (of an open order) the inserter copies."""
    old = timezone.now() - timedelta(days=OLD_DAYS)
    template = Order.objects.create(backend_id=f"{PREFIX}TEMPLATE", status=OrderStatus.ROUTED)
    details = orchestration_details_create(order=template, blob=DETAILS_BLOB, at=old, now=old)
    orders, table = _q(Order._meta.db_table), _q(OrchestrationDetails._meta.db_table)
    order_columns = [c for c in _columns(Order) if c != "backend_id"]
    copied = [c for c in _columns(OrchestrationDetails) if c not in ("order_id", "attempt")]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {orders} (backend_id, {', '.join(map(_q, order_columns))}) "  # noqa: S608
            f"SELECT %s || n::text, {', '.join('t.' + _q(c) for c in order_columns)} "
            f"FROM {orders} t, generate_series(1, %s) n WHERE t.id = %s",
            [f"{PREFIX}D-", max(1, rows // DETAILS_PER_ORDER), template.pk],
        )
        cursor.execute(
            f"INSERT INTO {table} (order_id, attempt, {', '.join(map(_q, copied))}) "  # noqa: S608
            f"SELECT o.id, e.n, {', '.join('t.' + _q(c) for c in copied)} "
            f"FROM {orders} o, {table} t, generate_series(1, %s) e(n) "
            f"WHERE o.backend_id LIKE %s AND t.id = %s",
            [DETAILS_PER_ORDER, f"{PREFIX}D-%", details.pk],
        )
    vacuum()
    return details.pk


def details(
    rows: int, repeat: int, batch_size: int, write: Callable[[str], None], pause: float = 0.0
) -> None:
    """The expired blobs of ``rows`` runs emptied: by main's single UPDATE (before), then,
    on rows generated again, by ``history_purge``; alternately, ``repeat`` rounds."""
    if connection.vendor != "postgresql":
        raise RuntimeError("bench purge needs PostgreSQL (DATABASE_URL=postgres://...)")
    retention = replace(
        HistoryRetention.from_settings(),
        batch_size=batch_size,
        time_budget_seconds=24 * 3600,
        pause_seconds=pause,
    )

    def before() -> tuple[int, str]:
        return orchestration_details_purge(now=timezone.now()), "one UPDATE (main's)"

    def batched() -> tuple[int, str]:
        result = history_purge(
            now=timezone.now(), retention=retention, kinds=["orchestration_details"]
        )
        times = sorted(result.batch_seconds)
        return result.counts["orchestration_details"], (
            f"{result.batches:,} batches, a batch's transaction: median "
            f"{statistics.median(times) * 1000:.0f} ms, longest {times[-1] * 1000:.0f} ms"
        )

    clean()
    try:
        for round_number in range(1, repeat + 1):
            for label, purge in (
                ("before: orchestration_details_purge", before),
                (f"history_purge, batches of {batch_size:,}", batched),
            ):
                clean()
                write(f"round {round_number}, {rows:,} expired blobs")
                _details_measured(label, purge, rows, write)
    finally:
        clean()


def _details_measured(
    label: str, purge: Callable[[], tuple[int, str]], rows: int, write: Callable[[str], None]
) -> None:
    """One purge of freshly generated expired details, with its probes: an inserter of new
    runs' details and an updater folding a run into an expired row, as waiting orders do."""
    table = _q(OrchestrationDetails._meta.db_table)
    template = _generate_details(rows)
    due_ids = list(
        OrchestrationDetails.objects.filter(
            order__backend_id__startswith=f"{PREFIX}D-"
        ).values_list("pk", flat=True)
    )
    attempts = iter(range(1_000, 10_000_000))
    picker = random.Random(23)  # noqa: S311 (a reproducible choice, not a secret)

    def insert(cursor: Any) -> None:
        cursor.execute(
            f"INSERT INTO {table} (order_id, attempt, at, trigger, outcome, blob, "  # noqa: S608
            "units_waiting, repeats, created_at, expires_at) SELECT order_id, %s, "
            "now(), trigger, outcome, blob, 0, 1, now(), now() + interval '14 days' "
            f"FROM {table} WHERE id = %s",
            [next(attempts), template],
        )

    def update(cursor: Any) -> None:
        cursor.execute(
            f"UPDATE {table} SET repeats = repeats + 1 WHERE id = %s",  # noqa: S608
            [picker.choice(due_ids)],
        )

    probes = [
        _Probe("concurrent inserts of new details", insert, INSERT_INTERVAL),
        _Probe("concurrent updates of rows being emptied", update, UPDATE_INTERVAL),
    ]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    for probe in probes:
        probe.start()
    watch = _LockWatch(pid, OrchestrationDetails._meta.db_table)
    time.sleep(0.5)
    started = time.perf_counter()
    emptied, detail = purge()
    seconds = time.perf_counter() - started
    time.sleep(0.5)
    locks = watch.finish()
    reports = [probe.finish(watch.waits) for probe in probes]
    kept = OrchestrationDetails.objects.filter(
        order__backend_id__startswith=f"{PREFIX}D-", blob__isnull=False
    ).count()
    write(
        f"{label}: {emptied:,} emptied in {seconds:.1f} s, "
        f"{emptied / seconds:,.0f} rows/s; {detail}; blobs left: {kept:,}"
    )
    write(f"    locks on the details table seen: {locks}")
    for report in reports:
        write(f"    {report}")
