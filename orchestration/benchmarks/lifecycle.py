"""Benchmarks of the fulfilment lifecycle (``manage.py bench persist|tasks|race|plans``).

- ``persist``: one orchestration run, stored: a 3-line order over 20 warehouses,
  through ``order_orchestrate`` (snapshot, engine, fulfilments, reservations,
  timeline), timed and its SQL queries counted, in a transaction that is rolled
  back.
- ``tasks``: the count of open ship-from-store tasks per shop that a run reads
  for a sheet reading them, among N tasks mostly finished.
- ``race``: N processes orchestrating M orders that want three times the stock
  on hand; prints the time taken and checks nothing was reserved beyond stock.
(``pipeline`` and ``load``, through real workers, are in ``throughput.py``.)

``tasks`` and ``race`` write to the configured database and remove
what they made afterwards (orders, OUs, products and sheets named ``BENCH-*``).
"""

import itertools
import multiprocessing
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

from django.conf import settings
from django.db import connection, connections, transaction
from django.test import override_settings

from ..models import (
    FulfillmentAction,
    FulfillmentStatus,
    OrchestrationDrain,
    Order,
    OrderFulfillment,
    OrderLine,
    OrganizationUnit,
    PlanScenario,
    PlanStep,
    Product,
    Sheet,
    StepGroup,
    StepState,
    Stock,
)
from ..selectors.network import network_changed
from ..selectors.scenario import shop_open_task_counts
from ..services.orchestration import order_orchestrate
from ..services.plans import plan_step_run
from ..services.sheets import sheet_create
from ..services.step_groups import plan_scenario_set, step_group_version_save

WAREHOUSE_SHEET = """fulfillment BenchWarehouses
action 'EXPORT_ORDER'

scope Supplier
require [Supplier.Type] = 'Warehouse'
data [ExporterName] as 'WAREHOUSE'
score add 1 when [Supplier.BackendID] = 'BENCH-WH-0'

scope OrderLine
require [SupplierQuantityAvailable] >= [OrderLine.QuantityOrdered]
"""


def bench_network(warehouses: int, products: int, on_hand: int) -> list[Any]:
    """BENCH-* warehouses with ``on_hand`` of each BENCH-* product, and the sheet."""

    units = OrganizationUnit.objects.bulk_create(
        [
            OrganizationUnit(
                name=f"Bench warehouse {i}",
                backend_id=f"BENCH-WH-{i}",
                type="Warehouse",
                country_id="NL",
            )
            for i in range(warehouses)
        ]
    )
    items = Product.objects.bulk_create(
        [Product(backend_id=f"BENCH-P-{i}", name=f"Bench product {i}") for i in range(products)]
    )
    Stock.objects.bulk_create(
        [
            Stock(organization_unit=unit, product=item, quantity_on_hand=on_hand)
            for unit in units
            for item in items
        ]
    )
    sheet_create(
        fulfillment="BenchWarehouses", name="BENCH-sheet", source=WAREHOUSE_SHEET, is_active=True
    )
    network_changed()  # bulk_create sends no signals
    return items


def _orders(items: list[Any], count: int, quantity: int = 1) -> list[int]:

    orders = Order.objects.bulk_create(
        [Order(backend_id=f"BENCH-O-{i}", needs_orchestration=True) for i in range(count)]
    )
    OrderLine.objects.bulk_create(
        [OrderLine(order=o, product=item, quantity=quantity) for o in orders for item in items]
    )
    return [order.pk for order in orders]


def bench_clean() -> None:
    """Remove what the benchmarks made (orders, OUs, products and sheets named ``BENCH-*``)."""
    with transaction.atomic():
        Order.objects.filter(backend_id__startswith="BENCH-").delete()
        Sheet.objects.filter(name="BENCH-sheet").delete()
        # Fulfilments PROTECT their supplier: they went with the orders above.
        OrganizationUnit.objects.filter(backend_id__startswith="BENCH-").delete()
        Product.objects.filter(backend_id__startswith="BENCH-").delete()
        # Slots an earlier run left taken (stopped before its drains ran, its queue
        # purged): freed, or new orders would wait for the sweep to free them.
        OrchestrationDrain.objects.all().delete()


@contextmanager
def exports_handed_on() -> Iterator[None]:
    """What a run hands on after commit, its exports, sent as tasks and not run here, so
    that only the run is timed: every exporter set not inline (a folder's export is
    otherwise written by the run's own task, ``Exporter.inline``), and the task's send a
    plain function, not a Mock, whose bookkeeping would be timed with the run."""
    exporters = {
        name: {**config, "inline": False}
        for name, config in settings.ORCHESTRATION_EXPORTERS.items()
    }
    with (
        override_settings(ORCHESTRATION_EXPORTERS=exporters),
        mock.patch("orchestration.tasks.fulfillment_export_task.delay", lambda *a, **k: None),
    ):
        yield


def counting(statements: list[int]) -> Callable[..., Any]:
    """An execute wrapper that notes each round trip's number of statements, but
    the transaction's own: PostgreSQL's BEGIN and COMMIT never pass here, SQLite's
    ``BEGIN IMMEDIATE`` (this project's transaction mode) does, and is left out
    the same way.

    A query string may hold several statements (the lock sends the stock query
    with it): psycopg keeps a result per statement, which is what is counted.
    """

    def wrapper(
        execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
    ) -> Any:
        result = execute(sql, params, many, context)
        if not sql.startswith("BEGIN"):
            # psycopg's results of the last execute (not public API: this is a
            # benchmark); a backend without them sent one statement.
            statements.append(len(getattr(context["cursor"].cursor, "_results", None) or [0]))
        return result

    return wrapper


# The tables a run reads or writes.
_TABLES = (
    "order",
    "orderline",
    "orderfulfillment",
    "orderfulfillmentline",
    "orchestrationdetails",
    "orderevent",
    "stock",
)


def vacuum() -> None:
    """PostgreSQL: vacuum and analyze the tables a run touches, as autovacuum would.

    Each benchmark deletes what it made, and a server with autovacuum off (this
    machine's is) keeps every dead row: run after run, a benchmark would read and
    index past more of them and time that rather than the code.
    """
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for table in _TABLES:
            # Table names of our own models only.
            cursor.execute(f"VACUUM ANALYZE {connection.ops.quote_name('orchestration_' + table)}")


def persist(repeat: int, write: Callable[[str], None]) -> dict[str, float]:
    """Time one stored orchestration of a 3-line order over 20 warehouses."""

    timings: list[float] = []
    queries: list[int] = []
    trips: list[int] = []
    # Committed first, as real orders are: each run is then its own transaction,
    # and the queries counted are exactly those a worker sends (no savepoints).
    bench_clean()
    try:
        with transaction.atomic():
            items = bench_network(warehouses=20, products=3, on_hand=10_000)
            order_ids = _orders(items, repeat + 3)
        vacuum()
        for index, order_id in enumerate(order_ids):
            # Statements counted by an execute wrapper (a function call each), not by
            # Django's debug cursor, which formats every query it records: a worker
            # pays neither, and the debug cursor took about 1 ms of a run.
            statements: list[int] = []
            with exports_handed_on(), connection.execute_wrapper(counting(statements)):
                start = time.perf_counter()
                order_orchestrate(order_id=order_id)
                elapsed = time.perf_counter() - start
            if index >= 3:  # the first runs warm the sheet cache and the network snapshot
                timings.append(elapsed * 1000)
                queries.append(sum(statements))
                trips.append(len(statements))
    finally:
        bench_clean()
    result = {
        "median_ms": statistics.median(timings),
        "p95_ms": sorted(timings)[int(len(timings) * 0.95) - 1],
        "queries": statistics.median(queries),
        "round_trips": statistics.median(trips),
    }
    write(
        f"persist: 3 lines x 20 warehouses, {repeat} runs on {connection.vendor}: "
        f"median {result['median_ms']:.1f} ms, p95 {result['p95_ms']:.1f} ms, "
        f"{result['queries']:.0f} SQL statements in {result['round_trips']:.0f} round trips "
        "per run (plus BEGIN and COMMIT)"
    )
    return result


def tasks(fulfillments: int, repeat: int, write: Callable[[str], None]) -> dict[str, float]:
    """Time the count of open ship-from-store tasks per shop that a run reads when a
    sheet reads ``Supplier.ActiveShipFromStoreTasks``, with ``fulfillments`` tasks
    over 50 shops of which one in 1,500 is open (the rest completed, as in a
    retailer's history)."""

    bench_clean()
    order = None
    try:
        with transaction.atomic():
            shops = OrganizationUnit.objects.bulk_create(
                [
                    OrganizationUnit(
                        name=f"Bench shop {i}", backend_id=f"BENCH-SHOP-{i}", type="Shop"
                    )
                    for i in range(50)
                ]
            )
            order = Order.objects.create(backend_id="BENCH-O-TASKS")
            opened = 0
            for first in range(0, fulfillments, 5_000):
                batch = []
                for number in range(first, min(first + 5_000, fulfillments)):
                    is_open = number % 1_500 == 0
                    opened += is_open
                    batch.append(
                        OrderFulfillment(
                            order=order,
                            sheet_name="BENCH",
                            action=FulfillmentAction.SHIP_FROM_STORE,
                            status=FulfillmentStatus.NEW
                            if is_open
                            else FulfillmentStatus.COMPLETED,
                            supplier_organization_unit=shops[number % 50],
                            task_key=f"{number:032x}",
                        )
                    )
                OrderFulfillment.objects.bulk_create(batch)
        vacuum()
        timings = []
        for _ in range(repeat):
            start = time.perf_counter()
            counts = shop_open_task_counts()
            timings.append((time.perf_counter() - start) * 1000)
    finally:
        if order is not None:
            # Straight to SQL: the ORM would load every fulfilment to cascade.
            with connection.cursor() as cursor:
                cursor.execute(
                    f"DELETE FROM {OrderFulfillment._meta.db_table} WHERE order_id = %s",  # noqa: S608
                    [order.pk],
                )
        bench_clean()
    found = sum(counts.values())
    if found != opened:
        raise RuntimeError(f"counted {found} open tasks, {opened} were made")
    result = {"median_ms": statistics.median(timings), "open": found}
    write(
        f"tasks: open ship-from-store tasks per shop among {fulfillments:,} tasks "
        f"({found} open, 50 shops), {repeat} counts on {connection.vendor}: "
        f"median {result['median_ms']:.2f} ms"
    )
    return result


def _race_worker(queue: Any) -> None:

    connections.close_all()  # a forked child must not share the parent's socket
    while True:
        order_id = queue.get()
        if order_id is None:
            break
        order_orchestrate(order_id=order_id)
    connections.close_all()


def race(processes: int, orders: int, write: Callable[[str], None]) -> dict[str, float]:
    """``processes`` processes orchestrate ``orders`` 1-unit orders; stock covers a third."""

    bench_clean()
    on_hand = max(1, orders // 3 // 4)
    with transaction.atomic():
        items = bench_network(warehouses=4, products=1, on_hand=on_hand)
        order_ids = _orders(items, orders)
    connections.close_all()
    queue: Any = multiprocessing.get_context("fork").Queue()
    for order_id in order_ids:
        queue.put(order_id)
    for _ in range(processes):
        queue.put(None)
    start = time.perf_counter()
    workers = [
        multiprocessing.get_context("fork").Process(target=_race_worker, args=(queue,))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - start
    leftover = list(
        Order.objects.filter(pk__in=order_ids, needs_orchestration=True).values_list(
            "pk", flat=True
        )
    )
    for order_id in leftover:  # lost the race five times: the sweep's job
        order_orchestrate(order_id=order_id)
    stock = list(
        Stock.objects.filter(organization_unit__backend_id__startswith="BENCH-").values_list(
            "quantity_on_hand", "quantity_reserved"
        )
    )
    over = sum(max(0, reserved - on) for on, reserved in stock)
    reserved = sum(r for _, r in stock)
    failed = [w.exitcode for w in workers if w.exitcode]
    write(
        f"race: {processes} processes, {orders} orders for {sum(on for on, _ in stock)} units "
        f"on hand, on {connection.vendor}: {elapsed:.1f} s ({orders / elapsed:.0f} orders/s); "
        f"{reserved} units reserved, {over} beyond stock; {len(leftover)} orders left for the "
        f"sweep; {len(failed)} processes failed"
    )
    bench_clean()
    return {"seconds": elapsed, "over": over, "reserved": reserved, "failed": len(failed)}


def _timed(order_id: int) -> tuple[float, int]:
    statements: list[int] = []
    with connection.execute_wrapper(counting(statements)):
        start = time.perf_counter()
        order_orchestrate(order_id=order_id)
        elapsed = time.perf_counter() - start
    return elapsed * 1000, sum(statements)


def plans(repeat: int, write: Callable[[str], None], steps: int = 2) -> dict[str, float]:
    """What fulfilment plans add to an order's processing (``manage.py bench plans``).

    The ``persist`` run (3 lines over 20 warehouses), alternately without a plan and
    with one (a step group of ``steps`` auto tasks in a row, chosen by a scenario for
    the run's EXPORT_ORDER), in blocks of ten runs so that the host's drift falls on
    both alike; then the plans' steps run (``plan_step_run``), alternately as now
    (each outcome claims the next step, which the same call runs) and each under the
    plan's lock (the way before), per step. Statements counted as ``persist`` counts
    them. What it makes is named BENCH-* and removed afterwards.
    """
    keys = [f"s{number}" for number in range(1, steps + 1)]
    block = 10
    blocks = max(1, repeat // block)
    bench_clean()
    StepGroup.objects.filter(key="BENCH_plan").delete()
    sent = mock.patch(
        "orchestration.services.sending.task_send", lambda *args, **kwargs: len(kwargs["ids"])
    )
    without: dict[str, list[float]] = {"ms": [], "statements": []}
    with_plan: dict[str, list[float]] = {"ms": [], "statements": []}
    step_ms: list[float] = []
    step_statements: list[float] = []
    locked_ms: list[float] = []
    locked_statements: list[float] = []
    try:
        with transaction.atomic():
            items = bench_network(warehouses=20, products=3, on_hand=100_000)
            order_ids = _orders(items, 2 * blocks * (block + 2))
            step_group_version_save(
                key="BENCH_plan",
                name="BENCH plan",
                steps=[
                    {"key": key, "name": key.upper(), "type": "AUTO_TASK", "handler": "succeed"}
                    for key in keys
                ],
                dependencies=[
                    {"step": key, "on": before} for before, key in itertools.pairwise(keys)
                ],
            )
            plan_scenario_set(group_key="BENCH_plan", action="EXPORT_ORDER", priority=1_000_000)
        vacuum()
        orders = iter(order_ids)
        with sent, exports_handed_on():
            for _ in range(blocks):
                for planned, into in ((False, without), (True, with_plan)):
                    PlanScenario.objects.filter(group__key="BENCH_plan").update(is_active=planned)
                    network_changed()
                    for index in range(block + 2):
                        elapsed, count = _timed(next(orders))
                        if index >= 2:  # the first runs read the new snapshot
                            into["ms"].append(elapsed)
                            into["statements"].append(count)
            ready = PlanStep.objects.filter(
                plan__version__group__key="BENCH_plan",
                definition__key=keys[0],
                state=StepState.READY,
            ).values_list("pk", "plan_id")
            later: dict[int, list[int]] = {}
            for plan_id, step_id in (
                PlanStep.objects.filter(plan__version__group__key="BENCH_plan")
                .exclude(definition__key=keys[0])
                .order_by("definition__position")
                .values_list("plan_id", "pk")
            ):
                later.setdefault(plan_id, []).append(step_id)
            for index, (step_id, plan_id) in enumerate(ready[: 2 * repeat]):
                # Alternately, in blocks of ten, the plan's steps run: as now (each
                # outcome claims the next step, which the same call runs), and each
                # outcome under the plan's lock, each step a message of its own (the
                # code before).
                fast = index // block % 2 == 0
                statements: list[int] = []
                with connection.execute_wrapper(counting(statements)):
                    start = time.perf_counter()
                    plan_step_run(step_id=step_id, _fast=fast)
                    if not fast:
                        for then in later.get(plan_id, []):
                            plan_step_run(step_id=then, _fast=False)
                    elapsed = (time.perf_counter() - start) * 1000
                # Per step: the plan's transitions, each from Ready to Completed.
                (step_ms if fast else locked_ms).append(elapsed / steps)
                (step_statements if fast else locked_statements).append(sum(statements) / steps)
    finally:
        bench_clean()
        StepGroup.objects.filter(key="BENCH_plan").delete()
        network_changed()
    result = {
        "without_ms": statistics.median(without["ms"]),
        "with_ms": statistics.median(with_plan["ms"]),
        "without_statements": statistics.median(without["statements"]),
        "with_statements": statistics.median(with_plan["statements"]),
        "step_ms": statistics.median(step_ms),
        "step_statements": statistics.median(step_statements),
        "locked_step_ms": statistics.median(locked_ms),
        "locked_step_statements": statistics.median(locked_statements),
    }
    write(
        f"plans on {connection.vendor}, {len(without['ms'])} runs each, alternating in "
        f"blocks of {block}: a run without a plan median {result['without_ms']:.2f} ms "
        f"({result['without_statements']:.0f} statements), with one "
        f"{result['with_ms']:.2f} ms ({result['with_statements']:.0f} statements): "
        f"+{result['with_ms'] - result['without_ms']:.2f} ms, "
        f"+{result['with_statements'] - result['without_statements']:.0f} statements; "
        f"a step (a plan of {steps} auto tasks run, per step) median "
        f"{result['step_ms']:.2f} ms, {result['step_statements']:.1f} statements "
        f"(each under the plan's lock, as before: {result['locked_step_ms']:.2f} ms, "
        f"{result['locked_step_statements']:.1f} statements)"
    )
    return result
