"""Orders through the whole system, in real processes (``manage.py bench pipeline|load|ingest``).

- ``pipeline``: orders a second from ``order_create`` to stored fulfilments, through
  Celery workers started here, for each worker count asked (``--spawn 1,2,4``); with
  the p50 and p95 of each order's latency, from its creation to its first stored
  fulfilment. The orders are made by this process, as an integration's bulk of
  orders would arrive, at the rate it can make them.
- ``load``: ``POST /api/orders/`` from locust (headless, a steady arrival rate of
  ``--rate`` orders a second for ``--seconds``), against gunicorn started as
  ``docs/deployment.md`` runs it, while ``--spawn`` workers orchestrate what comes in.
  Prints locust's throughput and response-time percentiles, and the latency from an
  order posted to its fulfilments stored; every order must be fulfilled.
- ``ingest``: ``POST /api/orders/bulk/`` from ``--clients`` concurrent clients against
  gunicorn, no worker running: how fast orders are taken in at a marketplace batch.

Both need PostgreSQL and a broker (``DATABASE_URL``, ``CELERY_BROKER_URL``): SQLite
has one writer, and inline tasks are no pipeline. They write to the configured
database and remove what they made afterwards (``BENCH-*``), as ``lifecycle.py``'s
benchmarks do; ``pipeline`` and ``load`` first give a database without data of its
own a history (``history_ensure``), which stays for the next run (so give them a
database of their own, not ``bench lists``' one). Their processes get this process's
environment, so ``DATABASE_POOL`` and the broker settings apply to them as set.
"""

import csv
import json
import math
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

from celery.signals import after_task_publish, before_task_publish
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.db import connection, transaction
from django.db.models import Field, Max, Min, Model
from django.test import Client
from rest_framework.authtoken.models import Token

from ..celery import app as celery_app
from ..engine.limits import BULK_ORDERS
from ..models import (
    ExportStatus,
    OrchestrationDetails,
    OrchestrationOutcome,
    Order,
    OrderFulfillment,
    OrganizationUnit,
    Product,
)
from ..services.orders import order_create
from ..services.roles import INTEGRATIONS_GROUP, roles_ensure
from . import lists as lists_bench
from .lifecycle import bench_clean, bench_network

# How long to wait for the last orders to be orchestrated after the producer stopped;
# beyond it an order counts as not fulfilled.
DRAIN_TIMEOUT_SECONDS = 120.0
# Each locust user sends one order a second on average, at Poisson-distributed times
# (arrivals.py: an open workload, not a closed loop that would slow down as the server
# does, nor every user on the same tick).
ORDERS_PER_USER_PER_SECOND = 1.0
# gunicorn's processes each import Django and the app (seconds on a busy machine).
SERVER_START_TIMEOUT_SECONDS = 120.0
LOCUSTFILE = Path(__file__).with_name("locustfile.py")
LOAD_USERNAME = "BENCH-load"
# Orders of history a database gets before a load or pipeline run (``--history``), as
# a retailer's has: on a nearly empty table PostgreSQL plans a scan of the whole table,
# and each connection keeps that plan of a foreign key's check or of the drains' claim
# while the table grows under the load (measured: a foreign key's check of the order
# 0.157 ms where its index takes 0.009; the drains' claim 2.25 ms where it takes 0.33).
LOAD_HISTORY = 100_000


def history_ensure(orders: int, write: Callable[[str], None]) -> None:
    """Give the database ``orders`` orders of history, generated as ``bench lists``'
    world is (``lists.build``, with COPY: about 50 s for 100,000) with a run each, if
    it holds no orders, OUs or products but a benchmark's; then ``VACUUM ANALYZE`` it,
    as autovacuum would have it after the runs before (this machine's PostgreSQL runs
    without autovacuum, which is said). A database with data of its own is vacuumed,
    analysed and left as it is. Called after ``bench_clean``: the world's IDs start
    at 1."""
    history = Order.objects.exclude(backend_id__startswith="BENCH-").count()
    own = (
        OrganizationUnit.objects.exclude(backend_id__startswith="BENCH-").exists()
        or Product.objects.exclude(backend_id__startswith="BENCH-").exists()
    )
    if history == 0 and not own and orders > 0:
        with connection.cursor() as cursor:
            cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            superuser = cursor.fetchone()[0]
        if not superuser:
            raise RuntimeError(
                f"--history {orders} loads its orders with their foreign-key triggers off, "
                "which takes a PostgreSQL superuser: give DATABASE_URL a superuser's role, "
                "or --history 0"
            )
        write(f"history: generating {orders:,} orders (bench lists' world) with COPY")
        lists_bench.build(orders, write)
        history = orders
        _history_runs()
    elif history == 0 and orders > 0:
        write("history: none generated, as the database has OUs or products of its own")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
        cursor.execute("SHOW autovacuum")
        autovacuum = cursor.fetchone()[0]
    write(
        f"history: {history:,} orders besides the benchmark's, vacuumed and analysed"
        + (" (autovacuum is off on this server)" if autovacuum != "on" else "")
    )


def _history_runs() -> None:
    """A run for each order of the history, its details purged as the beat's purge
    leaves an old run (``bench lists``' world has none): the runs' table is read by
    every new run's foreign-key checks, which an empty table plans as a scan of it."""
    quote = connection.ops.quote_name

    def column(model: type[Model], name: str) -> str:
        return str(quote(str(cast(Field, model._meta.get_field(name)).column)))

    runs = quote(OrchestrationDetails._meta.db_table)
    orders = quote(Order._meta.db_table)
    columns = ", ".join(
        column(OrchestrationDetails, name)
        for name in (
            "order",
            "attempt",
            "at",
            "created_at",
            "expires_at",
            "purged_at",
            "trigger",
            "outcome",
            "repeats",
            "units_waiting",
        )
    )
    placed = column(Order, "created_at")
    with connection.cursor() as cursor:
        # Quoted names only are formatted in; the outcome and the trigger are parameters.
        cursor.execute(
            f"INSERT INTO {runs} ({columns}) "  # noqa: S608
            f"SELECT o.id, 1, o.{placed}, o.{placed}, o.{placed} + interval '30 days', "
            f"o.{placed} + interval '30 days', %s, %s, 1, 0 FROM {orders} o ORDER BY o.id",
            ["order.created", OrchestrationOutcome.ROUTED],
        )


def _require_real_pipeline() -> None:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        raise RuntimeError(
            "this benchmark needs CELERY_BROKER_URL set (Redis or RabbitMQ) and real workers"
        )
    if connection.vendor != "postgresql":
        raise RuntimeError("this benchmark needs DATABASE_URL pointing at PostgreSQL")


@contextmanager
def celery_workers(
    count: int, *, concurrency: int = 1, nice: int = 0, pool: str = "prefork"
) -> Iterator[list[int]]:
    """``count`` Celery worker processes (each ``--concurrency`` prefork children, or with
    ``pool`` "solo" running its tasks itself) on the default queue, at scheduling
    priority ``nice`` (0: as this process; 10: below the web's, as docs/deployment.md
    advises on a host shared with it), stopped (warm shutdown) on leaving.

    They start on a queue of their own that nothing is sent to, and are told to take
    the default queue once every one of them answers a ping: a worker's boot (a second
    or two of CPU) never overlaps the work timed, and none starts on a backlog before
    the others. Yields their PIDs once they all consume it.
    """
    niced = ["nice", "-n", str(nice)] if nice else []
    idle_queue = f"bench-idle-{os.getpid()}"
    names = [f"bench{i}-{os.getpid()}@{socket.gethostname()}" for i in range(count)]
    children = [
        subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [
                *niced,
                sys.executable,
                "-m",
                "celery",
                "-A",
                "orchestration",
                "worker",
                "--pool",
                pool,
                "-c",
                str(concurrency),
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
                "-n",
                name,
                "-Q",
                idle_queue,
                "--loglevel",
                "WARNING",
            ],
            env={**os.environ},
        )
        for name in names
    ]
    try:
        if names:
            _wait_for_workers(names)
            replies = celery_app.control.add_consumer(
                settings.CELERY_TASK_DEFAULT_QUEUE, destination=names, reply=True, timeout=10
            )
            if len(replies or []) < len(names):
                raise RuntimeError(
                    f"{len(names) - len(replies or [])} of {len(names)} workers did not take "
                    "the queue"
                )
        yield [child.pid for child in children]
    finally:
        for child in children:
            child.terminate()
        for child in children:
            child.wait(30)


def _wait_for_workers(names: list[str]) -> None:
    """Until the workers ``names`` (and no others: the broker may be shared) all answer
    a ping; ``RuntimeError`` after ``SERVER_START_TIMEOUT_SECONDS``."""
    deadline = time.monotonic() + SERVER_START_TIMEOUT_SECONDS
    answered: set[str] = set()
    while time.monotonic() < deadline:
        for reply in celery_app.control.ping(destination=names, timeout=1.0) or []:
            answered.update(reply)
        if answered >= set(names):
            return
    raise RuntimeError(
        f"{len(set(names) - answered)} of {len(names)} workers did not start within "
        f"{SERVER_START_TIMEOUT_SECONDS:.0f} s"
    )


class ProducerCost:
    """What making orders costs the process that makes them: SQL statements, broker
    publishes and the time spent publishing, counted while it is in use (from any
    thread: ``execute`` is the execute wrapper a thread installs on its connection)."""

    def __init__(self) -> None:
        self.statements = 0
        self.publishes = 0
        self.publish_seconds = 0.0
        self._publish_started: dict[int, float] = {}
        self._lock = threading.Lock()

    def execute(
        self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
    ) -> Any:
        with self._lock:
            self.statements += 1
        return execute(sql, params, many, context)

    def _before_publish(self, **kwargs: Any) -> None:
        self._publish_started[threading.get_ident()] = time.perf_counter()

    def _after_publish(self, **kwargs: Any) -> None:
        took = time.perf_counter() - self._publish_started.pop(threading.get_ident(), 0.0)
        with self._lock:
            self.publishes += 1
            self.publish_seconds += took

    @contextmanager
    def counting(self, *, statements: bool = True) -> Iterator["ProducerCost"]:
        """Count the publishes while inside, and this thread's statements unless
        ``statements`` is False (other threads wrap their own connection)."""
        before_task_publish.connect(self._before_publish, weak=False)
        after_task_publish.connect(self._after_publish, weak=False)
        try:
            if statements:
                with connection.execute_wrapper(self.execute):
                    yield self
            else:
                yield self
        finally:
            before_task_publish.disconnect(self._before_publish)
            after_task_publish.disconnect(self._after_publish)

    def per_order(self, orders: int) -> str:
        """The counts per order, as printed."""
        publish_ms = self.publish_seconds / max(1, self.publishes) * 1000
        return (
            f"{self.statements / orders:.1f} statements and {self.publishes / orders:.2f} "
            f"broker publishes an order ({publish_ms:.2f} ms a publish)"
        )


def _drain(prefix: str) -> float:
    """Wait until no ``prefix`` order waits for orchestration; return the seconds waited."""
    start = time.perf_counter()
    while Order.objects.filter(backend_id__startswith=prefix, needs_orchestration=True).exists():
        if time.perf_counter() - start > DRAIN_TIMEOUT_SECONDS:
            break
        time.sleep(0.05)
    return time.perf_counter() - start


def fulfillment_latencies(prefix: str) -> tuple[list[float], int]:
    """Per ``prefix`` order that got a fulfilment: seconds from its creation to its first
    stored fulfilment; and how many orders got none."""
    rows = (
        Order.objects.filter(backend_id__startswith=prefix)
        .annotate(first=Min("fulfillments__created_at"))
        .values_list("created_at", "first")
    )
    latencies, unfulfilled = [], 0
    for created, first in rows:
        if first is None:
            unfulfilled += 1
        else:
            latencies.append((first - created).total_seconds())
    return latencies, unfulfilled


def percentile(values: Sequence[float], share: float) -> float:
    """The ``share`` quantile (0.95: p95) by the nearest-rank method; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


def pipeline(
    orders: int,
    spawns: Sequence[int],
    write: Callable[[str], None],
    *,
    concurrency: int = 1,
    nice: int = 0,
    backlog: bool = False,
    producers: int = 1,
    pool: str = "prefork",
    history: int = LOAD_HISTORY,
) -> list[dict[str, float]]:
    """For each worker count in ``spawns``: orders a second from ``order_create`` to stored
    fulfilments, and the p50/p95 latency of an order (``spawns`` 0: workers started
    elsewhere).

    The rate counts the whole pipeline: until every order's fulfilments are stored and
    their exports sent (their tasks share the queue and the cores with the runs).
    With ``backlog``, the orders are all made (and their messages queued) before the
    workers start: the workers' own rate, from the first order's fulfilment to the
    last export (the database's timestamps), with no producer beside them on the
    machine's cores; the latencies are then from the first fulfilment (a queue's
    position).
    """
    _require_real_pipeline()
    bench_clean()
    history_ensure(history, write)
    results = []
    for spawn in spawns:
        bench_clean()
        with transaction.atomic():
            items = bench_network(warehouses=20, products=3, on_hand=100_000)
        cost = ProducerCost()

        database = [pid] if (pid := server_pid(SERVERS["postgresql"])) else []
        if backlog:
            created = _make(orders, items, cost, producers)
            with celery_workers(spawn, concurrency=concurrency, nice=nice, pool=pool) as workers:
                cpu = _CpuUse({"workers": workers, "postgresql": database})
                _drain("BENCH-O-")
                _exported("BENCH-O-")
                cpu.stop()
            first = _first_fulfilled("BENCH-O-")
            elapsed = max(_last_export("BENCH-O-") - first, 0.0)
            rate = orders / elapsed if first and elapsed else 0.0
            latencies, unfulfilled = _since(first, "BENCH-O-")
        else:
            with celery_workers(spawn, concurrency=concurrency, nice=nice, pool=pool) as workers:
                cpu = _CpuUse({"workers": workers, "postgresql": database})
                start = time.perf_counter()
                own = time.process_time()
                created = _make(orders, items, cost, producers)
                own = time.process_time() - own
                _drain("BENCH-O-")
                _exported("BENCH-O-")
                elapsed = time.perf_counter() - start
                cpu.stop()
                cpu.used["producer"] = own
            rate = orders / elapsed
            latencies, unfulfilled = fulfillment_latencies("BENCH-O-")
        result = {
            "workers": spawn,
            "seconds": elapsed,
            "orders_per_second": rate,
            "produced_per_second": orders / created,
            "p50_ms": percentile(latencies, 0.5) * 1000,
            "p95_ms": percentile(latencies, 0.95) * 1000,
            "unfulfilled": unfulfilled,
        }
        how = (
            "from a backlog (made first; from the first fulfilment to the last export)"
            if backlog
            else "end to end (from the first order made to the last export sent)"
        )
        write(
            f"pipeline: {orders} orders of 3 lines over 20 warehouses, "
            f"{spawn or 'external'} worker process(es) "
            f"{'(solo)' if pool == 'solo' else f'x {concurrency} (prefork)'}"
            f"{f' at nice {nice}' if nice else ''}, "
            f"{connection.vendor}, broker {settings.CELERY_BROKER_URL.split('://')[0]}: "
            f"{elapsed:.1f} s, {result['orders_per_second']:.0f} orders/s {how} "
            f"(made at {result['produced_per_second']:.0f}/s"
            f"{f' by {producers} threads' if producers > 1 else ''}); "
            f"{'fulfilled' if backlog else 'created to fulfilled'} "
            f"p50 {result['p50_ms']:.0f} ms, p95 {result['p95_ms']:.0f} ms; "
            f"{unfulfilled} not fulfilled; making them: {cost.per_order(orders)}; "
            "CPU an order (ms, the exports included): "
            f"{cpu.per_order(orders)}"
        )
        bench_clean()
        results.append(result)
    return results


class _CpuUse:
    """The CPU seconds process groups (each a list of root PIDs) use from now to
    ``stop()``, children included (``cpu_seconds``)."""

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.groups = groups
        self.used = {name: -sum(map(cpu_seconds, pids)) for name, pids in groups.items()}

    def stop(self) -> None:
        for name, pids in self.groups.items():
            self.used[name] += sum(map(cpu_seconds, pids))

    def per_order(self, orders: int) -> str:
        return ", ".join(
            f"{name} {used / max(1, orders) * 1000:.1f}" for name, used in self.used.items()
        )


def _last_export(prefix: str) -> float:
    """When the last of the ``prefix`` orders' exports was sent (the fulfilment's last
    change), in seconds; 0 if none."""
    last = OrderFulfillment.objects.filter(order__backend_id__startswith=prefix).aggregate(
        last=Max("updated_at")
    )["last"]
    return last.timestamp() if last else 0.0


def _exported(prefix: str) -> None:
    """Wait until the ``prefix`` orders' exports are all sent (or ``DRAIN_TIMEOUT_SECONDS``)."""
    start = time.perf_counter()
    pending = OrderFulfillment.objects.filter(
        order__backend_id__startswith=prefix, export_status=ExportStatus.PENDING
    )
    while pending.exists():
        if time.perf_counter() - start > DRAIN_TIMEOUT_SECONDS:
            raise RuntimeError(
                f"{pending.count()} exports still pending {DRAIN_TIMEOUT_SECONDS:.0f} s "
                "after the last order was routed"
            )
        time.sleep(0.05)


def _make(orders: int, items: Sequence[Any], cost: ProducerCost, producers: int = 1) -> float:
    """Make the pipeline's orders from ``producers`` threads (a web tier's concurrent
    requests: one thread's round trips each wait their turn for a core), counting what
    that costs; the seconds it took."""

    def part(first: int) -> None:
        try:
            with connection.execute_wrapper(cost.execute):
                for number in range(first, orders, producers):
                    order_create(
                        backend_id=f"BENCH-O-{number}",
                        lines=[{"product": item, "quantity": 1} for item in items],
                    )
        finally:
            if producers > 1:
                connection.close()  # the thread's own

    start = time.perf_counter()
    with cost.counting(statements=False):
        if producers == 1:
            part(0)
        else:
            with ThreadPoolExecutor(producers) as pool:
                list(pool.map(part, range(producers)))
    return time.perf_counter() - start


def _first_fulfillments(prefix: str) -> list[Any]:
    """Each ``prefix`` order's first stored fulfilment's time (None: none)."""
    return list(
        Order.objects.filter(backend_id__startswith=prefix)
        .annotate(first=Min("fulfillments__created_at"))
        .values_list("first", flat=True)
    )


def _first_fulfilled(prefix: str) -> float:
    """When the first of the ``prefix`` orders got its first fulfilment, in seconds."""
    times = [moment.timestamp() for moment in _first_fulfillments(prefix) if moment]
    return min(times) if times else 0.0


def _since(start: float, prefix: str) -> tuple[list[float], int]:
    """Per fulfilled ``prefix`` order: seconds from ``start`` to its first fulfilment; and
    how many orders got none."""
    times = _first_fulfillments(prefix)
    return [moment.timestamp() - start for moment in times if moment], times.count(None)


def _load_user() -> str:
    """An integration user (the role that posts orders) and its API token's key."""
    roles_ensure()
    user, _ = User.objects.get_or_create(username=LOAD_USERNAME)
    user.groups.add(Group.objects.get(name=INTEGRATIONS_GROUP))
    Token.objects.filter(user=user).delete()
    return str(Token.objects.create(user=user).key)


def _wait_until_serving(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with status {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2):  # noqa: S310 - our own
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(
        f"gunicorn did not answer on {url} within {SERVER_START_TIMEOUT_SECONDS:.0f} s"
    )


@contextmanager
def gunicorn(port: int, processes: int) -> Iterator[tuple[str, int]]:
    """gunicorn serving the app on 127.0.0.1:``port`` as docs/deployment.md runs it (sync
    workers, preloaded, the access log to a file), stopped on leaving; yields its base
    URL and PID."""
    url = f"http://127.0.0.1:{port}"
    log = tempfile.NamedTemporaryFile(prefix="bench-load-access-", suffix=".log", delete=False)  # noqa: SIM115
    log.close()
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [
            sys.executable,
            "-m",
            "gunicorn",
            "orchestration.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(processes),
            "--timeout",
            "60",
            "--max-requests",
            "1000",
            "--max-requests-jitter",
            "100",
            "--preload",
            "--access-logfile",
            log.name,
        ],
        env={**os.environ},
    )
    try:
        _wait_until_serving(url, process)
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(30)
        Path(log.name).unlink(missing_ok=True)


# Orders posted in-process, before the load, to count what one request spends.
COUNTED_REQUESTS = 30


def _request_cost(token: str, items: Sequence[Any]) -> str:
    """What one ``POST /api/orders/`` spends (statements, publishes), counted in-process
    through Django's test client over the same database and broker; the orders are
    removed again."""
    client = Client(HTTP_AUTHORIZATION=f"Token {token}")
    cost = ProducerCost()
    with cost.counting():
        for number in range(COUNTED_REQUESTS):
            response = client.post(
                "/api/orders/",
                {
                    "backend_id": f"BENCH-C-{number}",
                    "shipping_address": {"city": "Amsterdam", "country_id": "NL"},
                    "lines": [{"product": item.backend_id, "quantity": 1} for item in items],
                },
                content_type="application/json",
                HTTP_IDEMPOTENCY_KEY=f"BENCH-C-{time.time()}-{number}",
            )
            if response.status_code != 201:
                raise RuntimeError(f"POST /api/orders/ answered {response.status_code}")
    Order.objects.filter(backend_id__startswith="BENCH-C-").delete()
    return cost.per_order(COUNTED_REQUESTS)


PROC = Path("/proc")
# The servers whose CPU an order costs is counted too (all their work, other clients'
# included): by process name, when they run on this machine.
SERVERS = {"postgresql": "postgres", "redis": "redis-server", "rabbitmq": "beam.smp"}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _proc_stat(pid: int) -> list[str]:
    """The fields of ``/proc/<pid>/stat`` after the command name (Linux); [] if gone."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return []
    return text[text.rindex(")") + 2 :].split()


def _children(pid: int) -> list[int]:
    found = []
    for entry in PROC.glob("[0-9]*"):
        fields = _proc_stat(int(entry.name))
        if fields and int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def cpu_seconds(root: int) -> float:
    """CPU seconds used by ``root`` and every process under it, reaped ones included
    (Linux's ``/proc``; 0 elsewhere)."""
    fields = _proc_stat(root)
    if not fields:
        return 0.0
    # utime, stime, cutime, cstime: fields 14 to 17 of stat, 11 to 14 after the name.
    total = sum(int(value) for value in fields[11:15]) / CLOCK_TICKS
    return total + sum(_live_cpu(child) for child in _children(root))


def _live_cpu(pid: int) -> float:
    fields = _proc_stat(pid)
    own = sum(int(value) for value in fields[11:13]) / CLOCK_TICKS if fields else 0.0
    return own + sum(_live_cpu(child) for child in _children(pid))


def server_pid(command: str) -> int | None:
    """The PID of the server process named ``command`` (the one whose parent has another
    name: PostgreSQL's postmaster, not its backends), if it runs on this machine."""
    for entry in PROC.glob("[0-9]*"):
        try:
            if (entry / "comm").read_text().strip() != command:
                continue
            parent = _proc_stat(int(entry.name))[1]
            if (PROC / parent / "comm").read_text().strip() != command:
                return int(entry.name)
        except (OSError, IndexError):
            continue
    return None


def _connections() -> str:
    """How processes hold their database connection, as printed."""
    if connection.settings_dict["OPTIONS"].get("pool"):
        return "pooled"
    age = connection.settings_dict.get("CONN_MAX_AGE") or 0
    return f"kept {age} s" if age else "one per request and task"


def _locust_stats(prefix: str) -> dict[str, str]:
    with open(f"{prefix}_stats.csv", newline="") as file:
        for row in csv.DictReader(file):
            if row["Name"] == "Aggregated":
                return row
    raise RuntimeError("locust wrote no aggregated statistics")


def load(
    *,
    rate: int,
    seconds: int,
    spawn: int,
    web_processes: int,
    port: int,
    write: Callable[[str], None],
    nice: int = 0,
    pool: str = "prefork",
    history: int = LOAD_HISTORY,
) -> dict[str, float]:
    """``POST /api/orders/`` at ``rate`` orders a second for ``seconds`` through gunicorn,
    with ``spawn`` workers orchestrating; locust's figures and the latency to fulfilment."""
    _require_real_pipeline()
    locust = shutil.which("locust", path=str(Path(sys.executable).parent)) or shutil.which("locust")
    if locust is None:
        raise RuntimeError("locust is not installed: pip install -r requirements-dev.txt")
    bench_clean()
    history_ensure(history, write)
    with transaction.atomic():
        items = bench_network(warehouses=20, products=3, on_hand=1_000_000)
        token = _load_user()
    write(f"load: one POST /api/orders/ spends {_request_cost(token, items)}")
    prefix = f"BENCH-L-{int(time.time())}-"
    with tempfile.TemporaryDirectory(prefix="bench-load-") as folder:
        stats = str(Path(folder) / "load")
        with (
            celery_workers(spawn, nice=nice, pool=pool) as workers,
            gunicorn(port, web_processes) as (url, web),
        ):
            roots = {"web": [web], "workers": workers}
            for name, command in SERVERS.items():
                pid = server_pid(command)
                roots[name] = [pid] if pid else []
            cpu_before = {name: sum(map(cpu_seconds, pids)) for name, pids in roots.items()}
            load_before = resource.getrusage(resource.RUSAGE_CHILDREN)
            environment = {
                **os.environ,
                "LOAD_TOKEN": token,
                "LOAD_PRODUCTS": ",".join(item.backend_id for item in items),
                "LOAD_PREFIX": prefix,
                "LOAD_RATE_PER_USER": str(ORDERS_PER_USER_PER_SECOND),
            }
            users = max(1, round(rate / ORDERS_PER_USER_PER_SECOND))
            subprocess.run(  # noqa: S603 - locust from our own environment
                [
                    locust,
                    "-f",
                    str(LOCUSTFILE),
                    "--headless",
                    "--host",
                    url,
                    "--users",
                    str(users),
                    "--spawn-rate",
                    str(users),
                    "--run-time",
                    f"{seconds}s",
                    "--csv",
                    stats,
                    "--only-summary",
                    "--loglevel",
                    "WARNING",
                ],
                env=environment,
                check=False,
            )
            load_after = resource.getrusage(resource.RUSAGE_CHILDREN)
            drained = _drain(prefix)
            cpu = {
                name: sum(map(cpu_seconds, pids)) - cpu_before[name] for name, pids in roots.items()
            }
        cpu["locust"] = (
            load_after.ru_utime + load_after.ru_stime - load_before.ru_utime - load_before.ru_stime
        )
        row = _locust_stats(stats)
    latencies, unfulfilled = fulfillment_latencies(prefix)
    posted = int(row["Request Count"])
    result = {
        "requests": posted,
        "failures": int(row["Failure Count"]),
        "requests_per_second": float(row["Requests/s"]),
        "p50_ms": float(row["50%"]),
        "p95_ms": float(row["95%"]),
        "p99_ms": float(row["99%"]),
        "orders": len(latencies) + unfulfilled,
        "unfulfilled": unfulfilled,
        "fulfilled_p50_ms": percentile(latencies, 0.5) * 1000,
        "fulfilled_p95_ms": percentile(latencies, 0.95) * 1000,
        "drain_seconds": drained,
    }
    write(
        f"load: POST /api/orders/ at {rate}/s for {seconds} s, gunicorn x {web_processes}, "
        f"{spawn} workers ({pool}){f' at nice {nice}' if nice else ''}, broker "
        f"{settings.CELERY_BROKER_URL.split('://')[0]}, database connections "
        f"{_connections()}: "
        f"{posted} requests ({result['failures']} failed), "
        f"{result['requests_per_second']:.1f}/s; response p50 {result['p50_ms']:.0f} ms, "
        f"p95 {result['p95_ms']:.0f} ms, p99 {result['p99_ms']:.0f} ms; "
        f"{result['orders']} orders stored, {unfulfilled} not fulfilled; posted to fulfilled "
        f"p50 {result['fulfilled_p50_ms']:.0f} ms, p95 {result['fulfilled_p95_ms']:.0f} ms "
        f"(the last drained {drained:.1f} s after the load stopped); "
        f"mean {statistics.fmean(latencies) * 1000 if latencies else 0:.0f} ms"
    )
    orders = max(1, result["orders"])
    write(
        "load: CPU an order (ms): "
        + ", ".join(f"{name} {used / orders * 1000:.1f}" for name, used in cpu.items())
        + f"; {sum(cpu.values()):.1f} CPU seconds in all over {seconds + drained:.0f} s"
    )
    result.update({f"cpu_{name}_ms": value / orders * 1000 for name, value in cpu.items()})
    bench_clean()
    User.objects.filter(username=LOAD_USERNAME).delete()
    return result


# Orders per bulk request in ``ingest``: the most one request takes.
INGEST_BATCH = BULK_ORDERS.maximum


def _ingest_bodies(
    prefix: str, orders: int, items: Sequence[Any], per_request: int = INGEST_BATCH
) -> list[bytes]:
    """The bulk requests' bodies, encoded beforehand (the clients' own cost is not
    the server's): orders of two lines, ``per_request`` a request."""
    bodies = [
        {
            "backend_id": f"{prefix}{number}",
            "customer_email": "bench@example.com",
            "shipping_address": {
                "street": "Herengracht 182",
                "city": "Amsterdam",
                "country_id": "NL",
            },
            "lines": [
                {"product": items[number % len(items)].backend_id, "quantity": 1},
                {"product": items[(number + 1) % len(items)].backend_id, "quantity": 2},
            ],
        }
        for number in range(orders)
    ]
    return [
        json.dumps({"orders": bodies[start : start + per_request]}).encode()
        for start in range(0, orders, per_request)
    ]


def _ingest_post(url: str, token: str, body: bytes, *, minimal: bool) -> float:
    """POST one bulk request; its response time in seconds. A refused order is an error:
    every order of the benchmark is valid and new."""
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
    if minimal:
        headers["Prefer"] = "return=minimal"
    request = urllib.request.Request(  # noqa: S310 - our own server
        f"{url}/api/orders/bulk/", data=body, headers=headers, method="POST"
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310
        answer = json.loads(response.read())
    if answer["refused"]:
        raise RuntimeError(f"POST /api/orders/bulk/ refused {answer['refused']} orders")
    return time.perf_counter() - started


def ingest(
    *,
    orders: int,
    clients: int,
    web_processes: int,
    port: int,
    write: Callable[[str], None],
    repeat: int = 3,
) -> dict[str, dict[str, float]]:
    """``orders`` posted through ``POST /api/orders/bulk/`` (``INGEST_BATCH`` a request)
    by ``clients`` concurrent clients, against gunicorn as deployed, with no worker
    draining the broker (the intake alone); each created order answered in full and
    with ``Prefer: return=minimal``, alternately ``repeat`` times. Per way: orders a
    second, the requests' p50 and p95, the CPU per order of gunicorn, PostgreSQL and the
    broker. The orders are removed afterwards, and the broker's queues purged after
    each pass: run it on a broker (a Redis database, a vhost) no real worker uses."""
    _require_real_pipeline()
    bench_clean()
    with transaction.atomic():
        items = bench_network(warehouses=2, products=10, on_hand=1_000)
        token = _load_user()
    passes: dict[str, list[dict[str, float]]] = {"full": [], "minimal": []}
    with gunicorn(port, web_processes) as (url, web):
        roots = {"web": [web]}
        for name, command in SERVERS.items():
            pid = server_pid(command)
            roots[name] = [pid] if pid else []
        # Small requests, several per gunicorn process (which one takes a request is the
        # kernel's choice), so that every process has read the user and the products.
        warm = _ingest_bodies("BENCH-I-warm-", web_processes * 8, items, per_request=1)
        with ThreadPoolExecutor(max(clients, web_processes)) as pool:
            list(pool.map(lambda body: _ingest_post(url, token, body, minimal=True), warm))
        for attempt in range(repeat):
            for way in passes:
                bodies = _ingest_bodies(f"BENCH-I-{attempt}-{way}-", orders, items)
                cpu_before = {name: sum(map(cpu_seconds, pids)) for name, pids in roots.items()}
                started = time.perf_counter()
                with ThreadPoolExecutor(clients) as pool:
                    times = list(
                        pool.map(
                            lambda body, way=way: _ingest_post(
                                url, token, body, minimal=way == "minimal"
                            ),
                            bodies,
                        )
                    )
                seconds = time.perf_counter() - started
                cpu = {
                    name: sum(map(cpu_seconds, pids)) - cpu_before[name]
                    for name, pids in roots.items()
                }
                celery_app.control.purge()
                passes[way].append(
                    {
                        "orders_per_second": orders / seconds,
                        "p50_ms": percentile(times, 0.5) * 1000,
                        "p95_ms": percentile(times, 0.95) * 1000,
                        **{f"cpu_{name}_ms": used * 1000 / orders for name, used in cpu.items()},
                    }
                )
    medians = {}
    write(
        f"ingest: {orders:,} orders of 2 lines a pass, {INGEST_BATCH} a request, "
        f"{clients} clients, gunicorn x {web_processes}, no worker; median of {repeat} passes"
    )
    for way, results in passes.items():
        middle = sorted(results, key=lambda p: p["orders_per_second"])[len(results) // 2]
        medians[way] = middle
        label = "Prefer: return=minimal" if way == "minimal" else "orders answered in full"
        cpu_text = ", ".join(
            f"{key[4:-3]} {value:.2f}" for key, value in middle.items() if key.startswith("cpu_")
        )
        rates = ", ".join(f"{p['orders_per_second']:,.0f}" for p in results)
        write(
            f"  {label:<24} {middle['orders_per_second']:>7,.0f} orders/s (passes: {rates}); "
            f"request p50 {middle['p50_ms']:.0f} ms, p95 {middle['p95_ms']:.0f} ms; "
            f"CPU an order (ms): {cpu_text}"
        )
    write(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    bench_clean()
    User.objects.filter(username=LOAD_USERNAME).delete()
    return medians
