"""``manage.py bench language|engine|suite``: benchmarks, with their figures printed.

``bench language [CONTEXTS]``: the sheet language (``orchestration.benchmarks.language``).
``bench engine [--repeat N] [--quick]``: ``route()`` per order for worlds of growing
size (``orchestration.benchmarks.engine``); ``--quick`` runs tiny worlds, for tests.
``bench allocation [--quick]``: 200 orders of 3 lines over 20 warehouses, routed with
three sheets (one warehouse ships all; lines whole but spread; lines may split), per
sheet ms per order, exact share and shipments per order against the targets
(``orchestration.benchmarks.allocation``); ``--quick`` routes 5 orders, for tests.
``bench suite [--sheets N] [--repeat N]``: the sheets overview with N sheets, through
the test client, in a transaction that is rolled back (nothing is left behind).
``bench lists [--repeat N] [--paging keyset|offset] [--only TEXT] [--explain]``: the Suite's and
the API's lists over 1,000,000 orders and 3,000,000 fulfilments, generated with COPY
into ``DATABASE_URL`` once and reused (``orchestration.benchmarks.lists``).
``bench options [--repeat N]``: ``POST /api/fulfillment-options/`` on the demo
network, N baskets (200), in a transaction that is rolled back
(``orchestration.benchmarks.options``).
``bench bulk [--orders N] [--repeat R]``: orders taken in by ``POST /api/orders/``, by
``POST /api/orders/bulk/`` and by ``import_orders`` (``orchestration.benchmarks.order_imports``).
``bench persist|tasks|race``: the fulfilment lifecycle
(``orchestration.benchmarks.lifecycle``); ``bench tasks [--fulfillments N]`` counts open
ship-from-store tasks per shop among N tasks (300,000), mostly finished.
``bench broker [--repeat ROUNDS]``: ms per task send, with and without publisher confirms
(``orchestration.benchmarks.broker``).
``bench pipeline [--orders N] [--spawn 1,2,4] [--concurrency C] [--producers P]
[--backlog] [--pool prefork|solo] [--history H]`` and ``bench load [--rate R] [--seconds S]
[--spawn W] [--web P] [--port N] [--pool prefork|solo] [--history H]``: orders through real
processes, gunicorn and Celery workers (``orchestration.benchmarks.throughput``); PostgreSQL
and a broker; a database without orders of its own first gets H orders of history.
``bench ingest [--orders N] [--clients C] [--web P] [--repeat R]``: ``POST /api/orders/bulk/``
from C concurrent clients through gunicorn, no worker: the intake alone.
``bench world [--size national|tiny] [--drop]``: a generated national network loaded
with COPY (``orchestration.benchmarks.national``); ``bench persist --world national``
orchestrates orders on it.
``bench purge [--rows N] [--repeat N] [--batch N] [--pause S] [--details]``: the history
purge of N old timeline events (1,000,000) against one unbatched DELETE, or with
``--details`` of N expired orchestration blobs against main's single UPDATE; PostgreSQL
(``orchestration.benchmarks.purge``).
"""

import statistics
import time
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.test import Client

from ...benchmarks import allocation as allocation_bench
from ...benchmarks import broker as broker_bench
from ...benchmarks import engine as engine_bench
from ...benchmarks import language as language_bench
from ...benchmarks import lifecycle as lifecycle_bench
from ...benchmarks import lists as lists_bench
from ...benchmarks import national as national_bench
from ...benchmarks import options as options_bench
from ...benchmarks import order_imports as bulk_bench
from ...benchmarks import purge as purge_bench
from ...benchmarks import throughput as throughput_bench
from ...models import Sheet
from ...services.roles import DESIGNERS_GROUP, roles_ensure


class Command(BaseCommand):
    help = (
        "Run a benchmark and print its figures: bench language [CONTEXTS], "
        "bench engine [--repeat N] [--quick], bench allocation [--quick]"
    )
    requires_system_checks: list[str] = []
    requires_migrations_checks = False

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "subject",
            choices=[
                "language",
                "engine",
                "allocation",
                "suite",
                "persist",
                "tasks",
                "race",
                "pipeline",
                "load",
                "ingest",
                "options",
                "plans",
                "bulk",
                "world",
                "purge",
                "broker",
                "lists",
            ],
        )
        parser.add_argument(
            "--size", choices=sorted(national_bench.SIZES), default="national", help="world"
        )
        parser.add_argument("--drop", action="store_true", help="world: remove it instead")
        parser.add_argument(
            "--world",
            choices=["national"],
            default=None,
            help="persist: on the world `bench world` loaded, orders of 1 to 3 lines",
        )
        parser.add_argument("contexts", nargs="?", type=int, default=100_000)
        parser.add_argument(
            "--repeat",
            type=int,
            default=None,
            help="engine: timed route() calls per configuration (default 20; 2 with --quick); "
            "suite: timed requests per page (default 20)",
        )
        parser.add_argument(
            "--sheets", type=int, default=1_000, help="suite: how many sheets (default 1,000)"
        )
        parser.add_argument(
            "--steps",
            type=int,
            default=2,
            help="plans: automatic steps in a row in the plan run (default 2)",
        )
        parser.add_argument(
            "--quick",
            action="store_true",
            help="engine: tiny worlds only; allocation: 5 orders (for tests)",
        )
        parser.add_argument(
            "--orders",
            type=int,
            default=500,
            help="race, pipeline, bulk, ingest: how many orders (500)",
        )
        parser.add_argument(
            "--fulfillments",
            type=int,
            default=300_000,
            help="tasks: how many ship-from-store tasks (300,000)",
        )
        parser.add_argument(
            "--paging",
            choices=["keyset", "offset"],
            default="keyset",
            help="lists: how deep pages are asked for (offset: the code before issue 23)",
        )
        parser.add_argument("--only", default="", help="lists: the pages whose name has this")
        parser.add_argument(
            "--explain", action="store_true", help="lists: EXPLAIN ANALYZE the hot queries"
        )
        parser.add_argument(
            "--processes", type=int, default=8, help="race: orchestrating processes (8)"
        )
        parser.add_argument(
            "--spawn",
            default=None,
            help="pipeline: Celery worker processes to start, one count or several, "
            "e.g. 1,2,4 (default 2); load: worker processes (default 2)",
        )
        parser.add_argument(
            "--concurrency",
            type=int,
            default=1,
            help="pipeline: prefork children per worker process (1)",
        )
        parser.add_argument(
            "--producers",
            type=int,
            default=1,
            help="pipeline: threads making the orders (1; a web tier has several requests at once)",
        )
        parser.add_argument(
            "--backlog",
            action="store_true",
            help="pipeline: make every order first, then time the workers draining them "
            "(no producer beside them)",
        )
        parser.add_argument(
            "--nice",
            type=int,
            default=0,
            help="pipeline, load: run the workers at this scheduling priority (0; 10 below "
            "the web, as docs/deployment.md advises on a shared host)",
        )
        parser.add_argument(
            "--pool",
            choices=["prefork", "solo"],
            default="prefork",
            help="pipeline, load: the workers' Celery pool (prefork, as deployed before; "
            "solo: each worker process runs its tasks itself, docs/deployment.md)",
        )
        parser.add_argument(
            "--rate", type=int, default=100, help="load: orders posted a second (100)"
        )
        parser.add_argument("--seconds", type=int, default=60, help="load: how long to post (60 s)")
        parser.add_argument(
            "--history",
            type=int,
            default=throughput_bench.LOAD_HISTORY,
            help="pipeline, load: orders of history generated first into a database without "
            "orders, OUs or products of its own, so PostgreSQL plans as on a retailer's "
            "(100,000; 0: none; a superuser's connection)",
        )
        parser.add_argument(
            "--web", type=int, default=4, help="load, ingest: gunicorn processes (4, as deployed)"
        )
        parser.add_argument("--clients", type=int, default=2, help="ingest: concurrent clients (2)")
        parser.add_argument("--port", type=int, default=8099, help="load, ingest: gunicorn's port")

        parser.add_argument("--rows", type=int, default=1_000_000, help="purge: old events")
        parser.add_argument("--batch", type=int, default=1_000, help="purge: batch size (1,000)")
        parser.add_argument(
            "--pause", type=float, default=0.0, help="purge: seconds between batches (0)"
        )
        parser.add_argument(
            "--details",
            action="store_true",
            help="purge: expired orchestration details' blobs instead of events",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        subject = options["subject"]
        if subject == "persist" and options["world"]:
            subject = "world"
        try:
            self._run(subject, options)
        except RuntimeError as error:
            raise CommandError(str(error)) from error

    def _run(self, subject: str, options: dict[str, Any]) -> None:  # noqa: C901 - one branch a subject
        write = self.stdout.write
        repeat = options["repeat"]
        if subject == "purge":
            self._purge(options)
        elif subject == "options":
            if (repeat or options_bench.REQUESTS) < 1:
                raise CommandError("--repeat must be at least 1")
            options_bench.run(repeat or options_bench.REQUESTS, write)
        elif subject == "broker":
            broker_bench.run(broker_bench.SENDS, repeat or broker_bench.ROUNDS, write)
        elif subject == "bulk":
            bulk_bench.run(options["orders"], repeat or bulk_bench.REPEAT, write)
        elif subject == "world":
            self._national(options["subject"], options)
        elif subject == "lists":
            self._lists(options)
        elif subject == "persist":
            lifecycle_bench.persist(repeat or 50, write)
        elif subject == "plans":
            if options["steps"] < 1:
                raise CommandError("--steps must be at least 1")
            lifecycle_bench.plans(repeat or 50, write, options["steps"])
        elif subject == "tasks":
            lifecycle_bench.tasks(options["fulfillments"], repeat or 30, write)
        elif subject == "race":
            lifecycle_bench.race(options["processes"], options["orders"], write)
        elif subject in ("pipeline", "load", "ingest"):
            self._throughput(subject, options)
        elif subject == "suite":
            self._suite(options["sheets"], repeat or 20)
        elif subject == "engine":
            self._engine(repeat, quick=options["quick"])
        elif subject == "allocation":
            self._allocation(quick=options["quick"])
        else:
            language_bench.main([str(options["contexts"])])

    def _purge(self, options: dict[str, Any]) -> None:
        bench = purge_bench.details if options["details"] else purge_bench.run
        try:
            bench(
                options["rows"],
                options["repeat"] or 2,
                options["batch"],
                self.stdout.write,
                options["pause"],
            )
        except RuntimeError as error:
            raise CommandError(str(error)) from error

    def _throughput(self, subject: str, options: dict[str, Any]) -> None:
        try:
            spawns = [int(n) for n in (options["spawn"] or "2").split(",")]
        except ValueError:
            raise CommandError("--spawn takes worker counts, e.g. 2 or 1,2,4") from None
        if any(n < 0 for n in spawns) or options["concurrency"] < 1:
            raise CommandError("--spawn counts must be 0 or more, --concurrency 1 or more")
        if options["pool"] == "solo" and options["concurrency"] != 1:
            raise CommandError("--pool solo runs one task at a time: leave --concurrency out")
        if options["producers"] < 1:
            raise CommandError("--producers must be at least 1")
        if options["history"] < 0:
            raise CommandError("--history must be 0 or more")
        if subject == "load" and min(options["rate"], options["seconds"], options["web"]) < 1:
            raise CommandError("--rate, --seconds and --web must be at least 1")
        if subject == "ingest" and min(options["orders"], options["clients"], options["web"]) < 1:
            raise CommandError("--orders, --clients and --web must be at least 1")
        try:
            if subject == "pipeline":
                throughput_bench.pipeline(
                    options["orders"],
                    spawns,
                    self.stdout.write,
                    concurrency=options["concurrency"],
                    nice=options["nice"],
                    backlog=options["backlog"],
                    producers=options["producers"],
                    pool=options["pool"],
                    history=options["history"],
                )
            elif subject == "ingest":
                throughput_bench.ingest(
                    orders=options["orders"],
                    clients=options["clients"],
                    web_processes=options["web"],
                    port=options["port"],
                    write=self.stdout.write,
                    repeat=options["repeat"] or 3,
                )
            else:
                throughput_bench.load(
                    rate=options["rate"],
                    seconds=options["seconds"],
                    spawn=spawns[0],
                    web_processes=options["web"],
                    port=options["port"],
                    write=self.stdout.write,
                    nice=options["nice"],
                    pool=options["pool"],
                    history=options["history"],
                )
        except RuntimeError as error:
            raise CommandError(str(error)) from error

    def _national(self, subject: str, options: dict[str, Any]) -> None:
        try:
            if subject == "persist":
                national_bench.persist(options["repeat"] or 200, self.stdout.write)
            elif options["drop"]:
                national_bench.world_drop(self.stdout.write)
            else:
                national_bench.world_load(national_bench.SIZES[options["size"]], self.stdout.write)
        except RuntimeError as error:
            raise CommandError(str(error)) from error

    def _lists(self, options: dict[str, Any]) -> None:
        try:
            lists_bench.prepare(lists_bench.WORLD_ORDERS, self.stdout.write)
        except RuntimeError as error:
            raise CommandError(str(error)) from error
        if options["explain"]:
            lists_bench.explain(self.stdout.write)
            return
        lists_bench.run(
            options["repeat"] or 30, options["paging"], options["only"], self.stdout.write
        )

    def _engine(self, repeat: int | None, *, quick: bool) -> None:
        bench = engine_bench
        if repeat is None:
            repeat = bench.QUICK_REPEAT if quick else bench.REPEAT
        if repeat < 1:
            raise CommandError("--repeat must be at least 1")
        self.stdout.write(bench.header(repeat))
        for size in bench.QUICK_SIZES if quick else bench.SIZES:
            # One row at a time: the big worlds take a while.
            self.stdout.write(bench.row(bench.run([size], repeat=repeat)[0]))
            self.stdout.flush()

    def _allocation(self, *, quick: bool) -> None:
        bench = allocation_bench
        world = bench.make_world(orders=bench.QUICK_ORDERS if quick else bench.ORDERS)
        self.stdout.write(bench.header(len(world.orders)))
        results = []
        for sheet, _source in bench.SHEETS:
            results.append(bench.run(world, sheet))
            self.stdout.write(bench.row(results[-1]))
            self.stdout.flush()
        self.stdout.write(bench.verdict(results))

    def _suite(self, sheets: int, repeat: int) -> None:

        if sheets < 1 or repeat < 1:
            raise CommandError("--sheets and --repeat must be at least 1")
        pages = (
            ("/sheets/", "active sheets, first page"),
            ("/sheets/?inactive=1&sort=-edited", "all, newest edit first"),
            ("/sheets/?inactive=1&q=sheet+09&sort=name", "all, name filter"),
            (f"/sheets/?inactive=1&page={max(1, sheets // 50)}", "all, last page"),
        )
        self.stdout.write(f"sheets overview with {sheets:,} sheets, median of {repeat} requests")
        with transaction.atomic():
            roles_ensure()
            user = User.objects.create_user("bench-suite-user")
            user.groups.add(Group.objects.get(name=DESIGNERS_GROUP))
            Sheet.objects.bulk_create(
                Sheet(
                    fulfillment=f"BenchSheet{number:05d}",
                    name=f"Sheet {number:05d}",
                    source=f"fulfillment BenchSheet{number:05d}\naction CANCEL\n",
                    action="CANCEL",
                    is_active=number % 3 == 0,
                    updated_by=user,
                )
                for number in range(sheets)
            )
            client = Client(HTTP_HOST=settings.ALLOWED_HOSTS[0] if settings.ALLOWED_HOSTS else "")
            client.force_login(user)
            for url, what in pages:
                client.get(url)  # warm: templates compiled, queries prepared
                times = []
                for _ in range(repeat):
                    start = time.perf_counter()
                    response = client.get(url)
                    times.append(time.perf_counter() - start)
                    if response.status_code != 200:
                        raise CommandError(f"{url} answered {response.status_code}")
                median = statistics.median(times) * 1000
                self.stdout.write(f"{median:8.1f} ms  {what} ({url})")
            transaction.set_rollback(True)  # leave the database as it was
