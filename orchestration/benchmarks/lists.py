"""``manage.py bench lists``: the Suite's and the API's lists over a year of orders.

A world of ``WORLD_ORDERS`` orders (1,000,000 by default) placed over the last year
at a few hundred shops and warehouses, with their lines, three fulfilments an order
(3,000,000: ship-from-store tasks and their fanned-out copies, warehouse exports,
cancellations) with a line each, and one timeline event an order, loaded into
PostgreSQL with ``COPY`` (psycopg 3 ``cursor.copy``). The shares are a retailer's:
most orders completed and their fulfilments done, the last day's still in flight
(some open tasks at every shop), a few exports failed for good, a few orders whose
orchestration failed.

The world is generated once into the database ``DATABASE_URL`` names (the docs use
``orch_lists``) and reused by every run: generating refuses a database that holds
orders of its own, and ``--rebuild`` drops the world's rows first. Then every page and
endpoint is requested ``repeat`` times through the test client with a signed-in user
(the operations role: every OU; store staff for the shop's task list), and the median,
p95 and queries of each are printed. Pages deep in a list are asked for the way the
code at hand pages: ``keyset`` (a cursor at the row ``DEEP_ROW``) or ``offset``
(``?page=N``, the way the code before issue 23 paged; run this module there with
``--paging offset``).
"""

import io
import random
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.db import connection, reset_queries
from django.db.models import Q
from django.test import Client
from django.test.utils import CaptureQueriesContext

from ..models import Order, OrderFulfillment, OrganizationUnit
from ..selectors.fulfillments import store_task_list
from ..selectors.keyset import encode_cursor, keyset_ordering
from ..selectors.organization import organization_unit_list
from ..services.roles import STORE_STAFF_GROUP, roles_ensure

WORLD_ORDERS = 1_000_000
SHOPS = 300
WAREHOUSES = 20
PRODUCTS = 5_000
FULFILLMENTS_PER_ORDER = 3
# The world's marker: every order number starts with it, and no other order may exist.
PREFIX = "LST-"
# The world's year ends at a fixed moment, so two builds are the same world and the
# "last day in flight" is the same orders whatever the day it is built.
WORLD_END = datetime(2026, 12, 1, tzinfo=UTC)
WORLD_SPAN = timedelta(days=365)
IN_FLIGHT = timedelta(days=1)  # orders of the last day are routed, their tasks open
DEEP_ROW = 500_000  # "deep in the list": the page that starts at this row
ROWS_PER_CHUNK = 50_000  # rows generated per COPY write (memory stays small)
ADMIN = "bench-lists-admin"
STAFF = "bench-lists-staff"

STATUS_SHARES = (  # settled orders (older than IN_FLIGHT)
    ("Completed", 0.93),
    ("Cancelled", 0.05),
    ("Waiting", 0.0195),
    ("OrchestrationFailed", 0.0005),
)
EXPORT_FAILED_SHARE = 0.003  # of the warehouse exports: failed for good, to retry by hand
CITIES = ("Amsterdam", "Rotterdam", "Utrecht", "Den Haag", "Eindhoven", "Groningen", "Tilburg")
FIRST = ("anna", "bram", "carla", "daan", "eva", "fleur", "gijs", "hanna", "ivo", "julia")
DOMAINS = ("example.com", "mail.example.nl", "post.example.org", "inbox.example.be")


@dataclass(frozen=True, slots=True)
class Loaded:
    """What a build wrote, and how long it took."""

    rows: dict[str, int]
    seconds: float


def world_exists() -> bool:
    """Whether the database holds the world (its last order is there)."""
    return Order.objects.filter(backend_id=_number(WORLD_ORDERS)).exists()


def _number(order_id: int) -> str:
    return f"{PREFIX}{order_id:08d}"


def _ts(moment: datetime) -> str:
    return moment.isoformat()


def _chunks(rows: Iterator[str]) -> Iterator[str]:
    buffer = io.StringIO()
    count = 0
    for row in rows:
        buffer.write(row)
        count += 1
        if count == ROWS_PER_CHUNK:
            yield buffer.getvalue()
            buffer = io.StringIO()
            count = 0
    if count:
        yield buffer.getvalue()


def _copy(cursor: Any, table: str, columns: str, rows: Iterator[str]) -> int:
    written = 0
    with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for chunk in _chunks(rows):
            copy.write(chunk)
            written += chunk.count("\n")
    return written


def _units(now: datetime) -> Iterator[str]:
    for unit in range(1, SHOPS + WAREHOUSES + 1):
        shop = unit <= SHOPS
        kind, name = (
            ("Shop", f"Shop {unit:03d}") if shop else ("Warehouse", f"Warehouse {unit:02d}")
        )
        city = CITIES[unit % len(CITIES)]
        yield (
            f"{unit}\t{name}\t{PREFIX}OU{unit:04d}\t{kind}\tOpen\tNL\tEurope/Amsterdam\t"
            f"Street {unit}\t{1000 + unit} AB\t{city}\tNL\t52.{unit:04d}\t4.{unit:04d}\t{{}}\t"
            f"{_ts(now)}\t{_ts(now)}\n"
        )


def _products(now: datetime) -> Iterator[str]:
    for product in range(1, PRODUCTS + 1):
        name = f"Product {product:05d}"
        yield f"{product}\t{PREFIX}P{product:05d}\t{name}\t{{}}\t{_ts(now)}\t{_ts(now)}\n"


_JITTER = random.Random(5)  # noqa: S311 -- benchmark data, seeded


def _placed(order_id: int, orders: int) -> datetime:
    """Orders in the order of their IDs over the year, a few seconds apart, jittered."""
    return WORLD_END - WORLD_SPAN + WORLD_SPAN * (order_id - _JITTER.random() * 0.9) / orders


def _settled_status(roll: float) -> str:
    for status, share in STATUS_SHARES:
        if roll < share:
            return status
        roll -= share
    return STATUS_SHARES[0][0]


@dataclass(slots=True)
class _Rows:
    orders: list[str]
    lines: list[str]
    fulfillments: list[str]
    fulfillment_lines: list[str]
    events: list[str]


ORDER_COLUMNS = (
    "id, backend_id, intent, status, customer_email, currency_id, custom_fields, placed_at, "
    "created_at, updated_at, shipping_street, shipping_zip_code, shipping_city, "
    "shipping_country_id, shipping_is_pickup_point, billing_street, billing_zip_code, "
    "billing_city, billing_country_id, billing_is_pickup_point, sold_from_organization_unit_id, "
    "needs_orchestration, orchestration_attempts, orchestration_trigger, orchestration_error, "
    "orchestration_failures, requested_fulfillment_option"
)
LINE_COLUMNS = (
    "id, order_id, product_id, quantity, quantity_shipped, quantity_cancelled, unit_price, "
    "unit_price_in_tax, discount_amount, is_gift_wrapped, custom_fields, status, return_reason"
)
FULFILLMENT_COLUMNS = (
    "id, order_id, supplier_organization_unit_id, sheet_name, action, status, data, created_at, "
    "updated_at, completed_at, cancelled_at, carrier, tracking_number, export_attempts, "
    "export_error, export_status, exporter_name, exported_at, holds_reservation, is_fanout, "
    "labels, priority, start_deadline, started_at, picked_at, packed_at, shipped_at, task_key"
)
FULFILLMENT_LINE_COLUMNS = (
    "id, fulfillment_id, order_line_id, product_id, quantity, status, cancellation_reason, "
    "condition, created_at, updated_at, completed_at, cancelled_at"
)
EVENT_COLUMNS = (
    "id, order_id, at, kind, message, actor, data, webhook_status, webhook_attempts, fulfillment_id"
)
N = "\\N"
LINE_STATUS = {"Completed": "Completed", "Cancelled": "Cancelled", "Routed": "InFulfillment"}


def _fulfillments(
    rows: _Rows,
    order_id: int,
    placed: datetime,
    status: str,
    intent: str,
    shop: int,
    line_ids: list[int],
    rng: random.Random,
) -> None:
    """The order's three fulfilments, a line each: a ship-from-store task fanned out to
    two shops (one shipped it, the other's copy deactivated; both open while the order
    is in flight) and a warehouse export (a few failed for good); a cancel for a
    cancelled order; exports of returns for a return order."""
    in_flight = status == "Routed"
    done = status == "Completed"
    line_count = len(line_ids)
    for n in range(FULFILLMENTS_PER_ORDER):
        fid = (order_id - 1) * FULFILLMENTS_PER_ORDER + n + 1
        line_id = line_ids[n % line_count]
        created = placed + timedelta(seconds=5 + n)
        cr = _ts(created)
        completed = cancelled = started = picked = packed = shipped = N
        deadline = N
        carrier = tracking = exporter = export_error = ""
        export_status = ""
        export_attempts = 0
        exported = N
        priority = 0
        if status == "Cancelled" and n == 2:
            action, unit, fstatus = "CANCEL", N, 100
            cancelled = _ts(created)
        elif n < 2 and intent == "Sales":
            action = "SHIP_FROM_STORE"
            unit = str(shop if n == 0 else (shop % SHOPS) + 1)
            if in_flight:
                fstatus = 0  # open at both shops until one starts it
                deadline = _ts(created + timedelta(hours=4))
                priority = rng.choice((0, 0, 0, 10))
            elif n == 0 and done:
                fstatus = 1000
                started, picked, packed = (
                    _ts(created + timedelta(minutes=m)) for m in (10, 20, 30)
                )
                shipped = completed = _ts(created + timedelta(minutes=60))
                carrier, tracking = "PostNL", f"3S{order_id:010d}"
            else:
                fstatus = 50
                cancelled = _ts(created + timedelta(minutes=10))
        else:
            action = "EXPORT_ORDER" if intent == "Sales" else "EXPORT_RETURN_ORDER"
            unit = str(SHOPS + 1 + order_id % WAREHOUSES)
            exporter = "warehouse-api"
            if in_flight:
                fstatus, export_status = 600, "Pending"
            elif rng.random() < EXPORT_FAILED_SHARE:
                fstatus, export_status, export_attempts = 600, "Failed", 5
                export_error = "HTTP 503 from the warehouse"
            else:
                fstatus, export_status, export_attempts = 1000, "Exported", 1
                exported = completed = _ts(created + timedelta(minutes=2))
        updated = _ts(created + timedelta(hours=1)) if not in_flight else cr
        rows.fulfillments.append(
            f"{fid}\t{order_id}\t{unit}\tRouting\t{action}\t{fstatus}\t{{}}\t{cr}\t{updated}\t"
            f"{completed}\t{cancelled}\t{carrier}\t{tracking}\t{export_attempts}\t"
            f"{export_error}\t{export_status}\t{exporter}\t{exported}\tf\t"
            f"{'t' if action == 'SHIP_FROM_STORE' else 'f'}\t[]\t{priority}\t{deadline}\t"
            f"{started}\t{picked}\t{packed}\t{shipped}\t"
            f"{f'T{order_id:010d}' if action == 'SHIP_FROM_STORE' else ''}\n"
        )
        line_status = fstatus if fstatus != 600 or export_status != "Exported" else 1000
        rows.fulfillment_lines.append(
            f"{fid}\t{fid}\t{line_id}\t{rng.randint(1, PRODUCTS)}\t1\t{line_status}\t"
            f"{'Otherstore' if fstatus == 50 else ''}\t\t{cr}\t{updated}\t{completed}\t"
            f"{cancelled}\n"
        )


def order_rows(first: int, last: int, orders: int, rng: random.Random) -> _Rows:
    """The rows of orders ``first`` to ``last`` (IDs), with everything they have."""
    rows = _Rows([], [], [], [], [])
    flight_start = WORLD_END - IN_FLIGHT
    for order_id in range(first, last + 1):
        placed = _placed(order_id, orders)
        in_flight = placed >= flight_start
        status = "Routed" if in_flight else _settled_status(rng.random())
        intent = "Returns" if rng.random() < 0.03 else "Sales"
        shop = rng.randint(1, SHOPS)
        name = FIRST[order_id % len(FIRST)]
        email = f"{name}.{order_id % 250_000}@{DOMAINS[order_id % len(DOMAINS)]}"
        city = CITIES[order_id % len(CITIES)]
        p, c = _ts(placed), _ts(placed + timedelta(seconds=1))
        failed = status == "OrchestrationFailed"
        rows.orders.append(
            f"{order_id}\t{_number(order_id)}\t{intent}\t{status}\t{email}\tEUR\t{{}}\t{p}\t{c}\t"
            f"{c}\tKerkstraat {order_id % 300}\t{1000 + order_id % 8999} AB\t{city}\tNL\tf\t"
            f"Kerkstraat {order_id % 300}\t{1000 + order_id % 8999} AB\t{city}\tNL\tf\t{shop}\t"
            f"f\t{1 if not failed else 5}\t{'created' if not failed else ''}\t"
            f"{'RuntimeError: sheet failed' if failed else ''}\t{5 if failed else 0}\t\n"
        )
        line_count = 1 if rng.random() < 0.6 else 2
        line_ids = [order_id * 2 - 1 + n for n in range(line_count)]
        done = status == "Completed"
        for line_id in line_ids:
            product = rng.randint(1, PRODUCTS)
            rows.lines.append(
                f"{line_id}\t{order_id}\t{product}\t1\t{1 if done else 0}\t"
                f"{1 if status == 'Cancelled' else 0}\t19.95\t24.14\t0\tf\t{{}}\t"
                f"{LINE_STATUS.get(status, 'Open')}\t\n"
            )
        _fulfillments(rows, order_id, placed, status, intent, shop, line_ids, rng)
        rows.events.append(
            f"{order_id}\t{order_id}\t{c}\torchestration.routed\tRouted by Routing.\t"
            f"system:orchestrate\t{{}}\t\t0\t{N}\n"
        )
    return rows


def build(orders: int, write: Callable[[str], None]) -> Loaded:
    """Generate the world into the (empty of orders) database, with COPY."""
    now = WORLD_END
    rng = random.Random(23)  # noqa: S311 -- benchmark data, seeded: every build the same
    start = time.perf_counter()
    counts: dict[str, int] = {}
    connection.ensure_connection()
    raw = connection.connection
    with raw.cursor() as cursor:
        # Foreign keys are consistent by construction: their triggers would queue one
        # check a row until the commit (Django's are DEFERRABLE INITIALLY DEFERRED).
        cursor.execute("SET session_replication_role = replica")
        try:
            counts["organization units"] = _copy(
                cursor,
                "orchestration_organizationunit",
                "id, name, backend_id, type, status, country_id, time_zone, address_street, "
                "address_zip_code, address_city, address_country_id, address_latitude, "
                "address_longitude, custom_fields, created_at, updated_at",
                _units(now),
            )
            counts["products"] = _copy(
                cursor,
                "orchestration_product",
                "id, backend_id, name, content, created_at, updated_at",
                _products(now),
            )
            batch = 100_000
            for table in ("orders", "lines", "fulfillments", "fulfillment_lines", "events"):
                counts[table] = 0
            for first in range(1, orders + 1, batch):
                last = min(first + batch - 1, orders)
                rows = order_rows(first, last, orders, rng)
                for key, table, columns in (
                    ("orders", "orchestration_order", ORDER_COLUMNS),
                    ("lines", "orchestration_orderline", LINE_COLUMNS),
                    ("fulfillments", "orchestration_orderfulfillment", FULFILLMENT_COLUMNS),
                    (
                        "fulfillment_lines",
                        "orchestration_orderfulfillmentline",
                        FULFILLMENT_LINE_COLUMNS,
                    ),
                    ("events", "orchestration_orderevent", EVENT_COLUMNS),
                ):
                    counts[key] += _copy(cursor, table, columns, iter(getattr(rows, key)))
                write(f"  {last:,} orders loaded ({time.perf_counter() - start:.0f} s)")
        finally:
            # Also after a failure: the connection goes on (a test's, a bench's next
            # step) and must check its foreign keys again.
            cursor.execute("SET session_replication_role = DEFAULT")
        for table in (
            "orchestration_organizationunit",
            "orchestration_product",
            "orchestration_order",
            "orchestration_orderline",
            "orchestration_orderfulfillment",
            "orchestration_orderfulfillmentline",
            "orchestration_orderevent",
        ):
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                f"(SELECT max(id) FROM {table}))"
            )
    raw.commit() if not raw.autocommit else None
    loaded = time.perf_counter() - start
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    counts_seconds = time.perf_counter() - start
    write(f"  loaded in {loaded:.0f} s, analysed in {counts_seconds - loaded:.0f} s more")
    return Loaded(counts, counts_seconds)


def prepare(orders: int, write: Callable[[str], None]) -> None:
    """Reuse the world if the database holds it, else generate it (refusing a database
    that is not PostgreSQL, or holds orders of its own)."""
    if connection.vendor != "postgresql":
        raise RuntimeError("bench lists needs PostgreSQL: set DATABASE_URL (docs: orch_lists)")
    if world_exists():
        write(f"reusing the world in {connection.settings_dict['NAME']}")
        return
    if Order.objects.exists():
        raise RuntimeError(
            f"{connection.settings_dict['NAME']} holds orders of its own: give the world a "
            "database of its own (DATABASE_URL=.../orch_lists)"
        )
    write(f"generating {orders:,} orders into {connection.settings_dict['NAME']} with COPY")
    loaded = build(orders, write)
    for table, rows in loaded.rows.items():
        write(f"  {rows:>10,} {table}")
    write(f"  {loaded.seconds:.0f} s in all")


def users() -> tuple[User, User, OrganizationUnit]:
    """The operations user (every OU) and a shop's staff member, made once."""
    admin, _ = User.objects.get_or_create(username=ADMIN, defaults={"is_superuser": True})
    if not admin.is_superuser:
        admin.is_superuser = True
        admin.save()
    staff, _ = User.objects.get_or_create(username=STAFF)
    shop = OrganizationUnit.objects.get(backend_id=f"{PREFIX}OU0007")
    shop.staff.add(staff)
    roles_ensure()
    staff.groups.add(Group.objects.get(name=STORE_STAFF_GROUP))
    return admin, staff, shop


@dataclass(frozen=True, slots=True)
class Timing:
    """One page's figures: milliseconds a request (median, p95), queries, status."""

    what: str
    url: str
    median_ms: float
    p95_ms: float
    queries: int
    status: int


def time_url(client: Client, url: str, repeat: int, what: str) -> Timing:
    """``repeat`` GETs of ``url`` after one that warms up and counts the queries."""
    reset_queries()  # as each request does when it starts: the capture counts from 0
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    counted = len(queries.captured_queries)  # read now: the next request clears the log
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    return Timing(
        what,
        url,
        statistics.median(times),
        p95,
        counted,
        response.status_code,
    )


def _client(user: User) -> Client:
    client = Client(HTTP_HOST=settings.ALLOWED_HOSTS[0] if settings.ALLOWED_HOSTS else "")
    client.force_login(user)
    return client


def _deep(queryset: Any, paging: str, page_size: int, parameter: str) -> str:
    """The query string of the page that starts at row ``DEEP_ROW`` of ``queryset``."""
    if paging == "offset":
        return f"page={DEEP_ROW // page_size + 1}"
    ordering = keyset_ordering(queryset)
    assert ordering is not None
    row = queryset.order_by(*ordering)[DEEP_ROW - 1]
    cursor = encode_cursor(row, ordering)
    return f"{parameter}={'a' if parameter == 'cursor' else ''}{cursor}"


def pages(paging: str) -> list[tuple[str, str, str]]:
    """(who, what, URL) of every page and endpoint measured."""
    _admin, _staff, shop = users()
    middle = WORLD_ORDERS // 2
    number = _number(middle)
    email = f"{FIRST[middle % len(FIRST)]}.{middle % 250_000}@{DOMAINS[middle % len(DOMAINS)]}"
    in_flight = Order.objects.get(backend_id=_number(WORLD_ORDERS - 10)).pk
    settled = Order.objects.get(backend_id=number).pk
    week = "placed_after=2026-06-01T00:00:00Z&placed_before=2026-06-08T00:00:00Z"
    orders = Order.objects.order_by("-placed_at", "-id")
    completed = orders.filter(status="Completed")
    fulfillments = OrderFulfillment.objects.order_by("-created_at", "-id")
    deep_tasks = max(
        1,
        -(
            -OrderFulfillment.objects.filter(
                supplier_organization_unit=shop, action="SHIP_FROM_STORE"
            ).count()
            // 50
        ),
    )
    failures = OrderFulfillment.objects.filter(export_status="Failed").count()
    suite_deep = _deep(orders, paging, 50, "after")
    return [
        ("admin", "Suite orders, no filter", "/orders/"),
        ("admin", "Suite orders, status Waiting (2%)", "/orders/?status=Waiting"),
        ("admin", "Suite orders, status Completed", "/orders/?status=Completed"),
        (
            "admin",
            "Suite orders, status OrchestrationFailed (rare)",
            "/orders/?status=OrchestrationFailed",
        ),
        ("admin", "Suite orders, search an order number", f"/orders/?q={number}"),
        ("admin", "Suite orders, search an e-mail", f"/orders/?q={email}"),
        ("admin", "Suite orders, search an e-mail domain (25%)", "/orders/?q=inbox.example.be"),
        ("admin", "Suite orders, search matching nothing", "/orders/?q=nobody-at-all"),
        ("admin", f"Suite orders, deep (row {DEEP_ROW:,})", f"/orders/?{suite_deep}"),
        (
            "admin",
            f"Suite orders, Completed, deep (row {DEEP_ROW:,})",
            f"/orders/?status=Completed&{_deep(completed, paging, 50, 'after')}",
        ),
        ("staff", "Suite orders as a shop's staff", "/orders/"),
        ("admin", "Suite order page (in flight)", f"/orders/{in_flight}/"),
        ("admin", "Suite order page (completed)", f"/orders/{settled}/"),
        ("staff", "Suite shop's open tasks", f"/orders/stores/{shop.pk}/tasks/"),
        (
            "staff",
            "Suite shop's tasks with finished",
            f"/orders/stores/{shop.pk}/tasks/?finished=1",
        ),
        (
            "staff",
            "Suite shop's tasks with finished, last page",
            f"/orders/stores/{shop.pk}/tasks/?finished=1&page={deep_tasks}",
        ),
        ("admin", "Suite shops with open task counts", "/orders/stores/"),
        ("admin", f"Suite export failures ({failures:,})", "/orders/export-failures/"),
        (
            "admin",
            "Suite export failures, last page",
            f"/orders/export-failures/?page={-(-failures // 50)}",
        ),
        ("admin", "API orders", "/api/orders/"),
        ("admin", "API orders, status Waiting", "/api/orders/?status=Waiting"),
        ("admin", "API orders, intent Returns", "/api/orders/?intent=Returns"),
        ("admin", "API orders, a week", f"/api/orders/?{week}"),
        (
            "admin",
            "API orders, sold from a shop",
            f"/api/orders/?sold_from_organization_unit={shop.pk}",
        ),
        ("admin", "API orders, backend_id", f"/api/orders/?backend_id={number}"),
        ("admin", "API orders, search an e-mail", f"/api/orders/?search={email}"),
        ("admin", "API orders, ordering created_at", "/api/orders/?ordering=created_at"),
        (
            "admin",
            f"API orders, deep (row {DEEP_ROW:,})",
            f"/api/orders/?{_deep(orders, paging, 50, 'cursor')}",
        ),
        ("admin", "API order timeline", f"/api/orders/{settled}/timeline/"),
        ("admin", "API fulfillments", "/api/fulfillments/"),
        ("admin", "API fulfillments, status New", "/api/fulfillments/?status=New"),
        (
            "admin",
            "API fulfillments, status WaitingForStock (none)",
            "/api/fulfillments/?status=WaitingForStock",
        ),
        (
            "admin",
            "API fulfillments, a shop",
            f"/api/fulfillments/?supplier_organization_unit={shop.pk}",
        ),
        (
            "admin",
            "API fulfillments, a warehouse",
            f"/api/fulfillments/?supplier_organization_unit={SHOPS + 1}",
        ),
        (
            "admin",
            "API fulfillments, export_status Failed",
            "/api/fulfillments/?export_status=Failed",
        ),
        (
            "admin",
            "API fulfillments, action EXPORT_RETURN_ORDER",
            "/api/fulfillments/?action=EXPORT_RETURN_ORDER",
        ),
        ("admin", "API fulfillments, an order", f"/api/fulfillments/?order={settled}"),
        (
            "admin",
            f"API fulfillments, deep (row {DEEP_ROW:,})",
            f"/api/fulfillments/?{_deep(fulfillments, paging, 50, 'cursor')}",
        ),
        ("staff", "API fulfillments as a shop's staff", "/api/fulfillments/"),
        ("staff", "API shop's tasks", f"/api/organization-units/{shop.pk}/tasks/"),
        ("admin", "API plan steps", "/api/plan-steps/"),
    ]


def _after_row(queryset: Any, fields: tuple[str, str], row: int) -> Q:
    """The keyset condition of the rows after row ``row`` of ``queryset`` (descending)."""
    first, second = fields
    values = queryset.values(first, second)[row - 1]
    at, pk = values[first], values[second]
    return Q(**{f"{first}__lte": at}) & (
        Q(**{f"{first}__lt": at}) | Q(**{first: at, f"{second}__lt": pk})
    )


def explain(write: Callable[[str], None]) -> None:
    """EXPLAIN ANALYZE of the lists' hot queries, as the pages send them."""
    _admin, _staff, shop = users()
    orders = Order.objects.order_by("-placed_at", "-id")
    fulfillments = OrderFulfillment.objects.order_by("-created_at", "-id")
    number = _number(WORLD_ORDERS // 2)
    search = Q(backend_id__icontains=number) | Q(customer_email__icontains=number)
    queries: dict[str, Any] = {
        "order list, first page": orders.values("id")[:51],
        f"order list, row {DEEP_ROW:,} by keyset": orders.filter(
            _after_row(orders, ("placed_at", "id"), DEEP_ROW)
        ).values("id")[:51],
        f"order list, row {DEEP_ROW:,} by offset": orders.values("id")[DEEP_ROW : DEEP_ROW + 51],
        "order list, status Waiting": orders.filter(status="Waiting").values("id")[:51],
        "order list, search an order number": orders.filter(search).values("id")[:51],
        "failed exports, counted": OrderFulfillment.objects.filter(export_status="Failed")
        .order_by()
        .values("id"),
        f"API fulfillments, row {DEEP_ROW:,} by keyset": fulfillments.filter(
            _after_row(fulfillments, ("created_at", "id"), DEEP_ROW)
        ).values("id")[:51],
        "shops' open task counts": organization_unit_list().filter(type="Shop"),
        "a shop's tasks with finished, IDs of a late page": store_task_list(
            shop, include_finished=True
        ).values_list("pk", flat=True)[6_450:6_500],
    }
    for name, queryset in queries.items():
        sql, params = queryset.query.sql_with_params()
        if name == "failed exports, counted":
            sql = f"SELECT COUNT(*) FROM ({sql}) counted"  # noqa: S608 -- Django's own SQL
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (ANALYZE, COSTS OFF) {sql}", params)
            write(f"-- {name}")
            for (line,) in cursor.fetchall():
                write(f"   {line}")


def run(repeat: int, paging: str, only: str, write: Callable[[str], None]) -> list[Timing]:
    """Time every page (those whose description contains ``only``), one line each."""
    admin, staff, _shop = users()
    clients = {"admin": _client(admin), "staff": _client(staff)}
    results = []
    write(f"{'median':>8} {'p95':>8} {'queries':>7}  page")
    for who, what, url in pages(paging):
        if only and only.lower() not in what.lower():
            continue
        timing = time_url(clients[who], url, repeat, what)
        results.append(timing)
        flag = "" if timing.status == 200 else f"  [{timing.status}]"
        write(f"{timing.median_ms:8.1f} {timing.p95_ms:8.1f} {timing.queries:7d}  {what}{flag}")
    return results
