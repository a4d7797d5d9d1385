"""A national network in PostgreSQL (``manage.py bench world|persist --world national``).

``world_load(size)`` writes a generated retailer into the configured database with
``COPY`` (psycopg 3's ``cursor.copy``): at ``national`` size 10,000 OUs (shops and
warehouses over the Netherlands and Belgium, as ``worlds.make_unit`` places them
for the engine's benchmark), 100,000 products (one in twenty with a replacement)
and 1,000,000 stock rows, plus the demo's kind of sheets (ship from store,
warehouse export, the cancel fallback). Rows are COPYed, not saved one by one:
``bulk_create`` would take minutes for the stock alone. What ``COPY`` skips is done
here by hand: ``created_at``/``updated_at`` are set to the load's moment, JSON is
``Jsonb``, and the network's token is changed once at the end (no signal fires).
Its rows are named ``NAT-*``, so a world is loaded once per database (loading again
finds it and leaves it); ``world_drop`` removes it.

``persist`` (``bench persist --world national``) orchestrates orders of 1 to 3
lines of random products shipping to random places, each timed as
``lifecycle.persist`` times its runs, and measures the worker's network
snapshot: the time to read it again after a change and its memory. The orders it
made are deleted afterwards and the stock they reserved is put back.

Load it into a database of its own: the sheets it adds route every order there.
"""

from __future__ import annotations

import gc
import random
import re
import resource
import statistics
import time
import tracemalloc
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from psycopg.types.json import Jsonb

from ..engine import network as engine_network
from ..models import (
    OrchestrationDetails,
    Order,
    OrderLine,
    OrganizationUnit,
    OrganizationUnitSet,
    Product,
    Sheet,
    Stock,
)
from ..selectors.network import network_changed, network_forget, network_snapshot, network_token
from ..services.orchestration import order_orchestrate
from ..services.sheets import sheet_create
from . import lifecycle, worlds

PREFIX = "NAT-"
ORDER_PREFIX = "BENCH-NAT-O-"
# Network changes after the timed runs, an order routed after each: the worker's
# memory is measured once it has replaced its snapshot this many times.
CHANGES = 3


@dataclass(frozen=True, slots=True)
class Size:
    """How big a generated world is."""

    ous: int
    products: int
    stock: int


SIZES = {
    # Issue 23's national network.
    "national": Size(ous=10_000, products=100_000, stock=1_000_000),
    # For tests: the same shapes, small.
    "tiny": Size(ous=40, products=300, stock=1_000),
}
# A warehouse holds this many times a shop's assortment; other OU types hold none.
WAREHOUSE_WEIGHT = 4
# Products are picked with a skew (index = products * random() ** SKEW): a few are
# stocked widely and ordered often, most in a handful of places.
SKEW = 2
REPLACEMENT_SHARE = 0.05
COPY_BATCH = 100_000  # rows per ``write_row`` loop between progress lines

# The demo's sheets, as the engine's generated worlds write them (they pass the
# checker); renamed so that a database with the demo keeps both.
SHEETS = (
    ("NationalShipFromStore", "National ship from store", worlds.ship_from_store_sheet(0)),
    ("NationalWarehouse", "National warehouse export", worlds.warehouse_sheet(0)),
    ("NationalCancelFallback", "National cancel fallback", worlds.cancel_sheet(0)),
)


def _sheet_source(fulfillment: str, source: str) -> str:
    """``source`` declaring the identifier ``fulfillment`` instead of its own."""
    return re.sub(r"^fulfillment \w+$", f"fulfillment {fulfillment}", source, count=1, flags=re.M)


def _copy(table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """COPY ``rows`` into ``table``'s ``columns``; return how many."""
    quote = connection.ops.quote_name
    count = 0
    with connection.cursor() as cursor:
        # Quoted names of our own tables and columns only; the rows are data.
        sql = f"COPY {quote(table)} ({', '.join(map(quote, columns))}) FROM STDIN"
        with cursor.cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)
                count += 1
    return count


def _ids(model: type[Any], field: str = "backend_id") -> dict[str, int]:
    return dict(model.objects.filter(**{f"{field}__startswith": PREFIX}).values_list(field, "id"))


def world_exists() -> bool:
    """Whether a generated world is in the database."""
    return OrganizationUnit.objects.filter(backend_id__startswith=PREFIX).exists()


def world_load(
    size: Size, write: Callable[[str], None], *, seed: int = 0
) -> dict[str, float | int]:
    """Load a generated world of ``size`` with COPY, in one transaction; return the
    counts and the seconds taken. A world already there is left as it is."""
    if connection.vendor != "postgresql":
        raise RuntimeError("bench world loads with PostgreSQL's COPY: set DATABASE_URL")
    if world_exists():
        write("A generated world (NAT-*) is already loaded here: nothing done.")
        return {"seconds": 0.0, "ous": 0, "products": 0, "stock": 0}
    # Benchmark data, not secrets: a seeded PRNG gives the same world every time.
    rng = random.Random(seed)  # noqa: S311
    now = timezone.now()
    start = time.perf_counter()
    with transaction.atomic():
        sets = {
            name: OrganizationUnitSet.objects.get_or_create(name=name)[0].pk
            for name in ("NL_Stores", "BE_Stores", "PrintSuppliers")
        }
        units = [worlds.make_unit(rng, number) for number in range(1, size.ous + 1)]
        ous = _copy(
            OrganizationUnit._meta.db_table,
            (
                "name",
                "backend_id",
                "type",
                "status",
                "country_id",
                "time_zone",
                "address_street",
                "address_zip_code",
                "address_city",
                "address_country_id",
                "address_latitude",
                "address_longitude",
                "custom_fields",
                "created_at",
                "updated_at",
            ),
            (
                (
                    unit.name,
                    PREFIX + (unit.backend_id or ""),
                    unit.type,
                    unit.status,
                    unit.country_id,
                    unit.time_zone,
                    unit.address.street or "",
                    unit.address.zip_code or "",
                    unit.address.city or "",
                    unit.address.country_id or "",
                    float(unit.address.latitude or 0),
                    float(unit.address.longitude or 0),
                    Jsonb(unit.custom_fields),
                    now,
                    now,
                )
                for unit in units
            ),
        )
        unit_ids = _ids(OrganizationUnit)
        through = OrganizationUnit.sets.through
        _copy(
            through._meta.db_table,
            ("organizationunit_id", "organizationunitset_id"),
            (
                (unit_ids[PREFIX + (unit.backend_id or "")], sets[name])
                for unit in units
                for name in unit.set_names
            ),
        )
        write(f"  {ous:,} OUs in {time.perf_counter() - start:.1f} s")
        products = _copy(
            Product._meta.db_table,
            ("backend_id", "name", "content", "created_at", "updated_at"),
            (
                (
                    f"{PREFIX}P{number:07d}",
                    f"Product {number}",
                    Jsonb({"is_limited_edition": "true" if number % 10 == 0 else "false"}),
                    now,
                    now,
                )
                for number in range(size.products)
            ),
        )
        product_ids = [
            pk
            for _backend_id, pk in sorted(
                Product.objects.filter(backend_id__startswith=PREFIX).values_list(
                    "backend_id", "id"
                )
            )
        ]
        replacements = Product.replacements.through
        _copy(
            replacements._meta.db_table,
            ("from_product_id", "to_product_id"),
            (
                (product_ids[number], product_ids[(number + 1 + rng.randrange(50)) % size.products])
                for number in range(size.products)
                if rng.random() < REPLACEMENT_SHARE
            ),
        )
        write(f"  {products:,} products in {time.perf_counter() - start:.1f} s")
        stock = _copy(
            Stock._meta.db_table,
            (
                "organization_unit_id",
                "product_id",
                "quantity_on_hand",
                "quantity_reserved",
                "updated_at",
            ),
            _stock_rows(rng, size, units, unit_ids, product_ids, now),
        )
        write(f"  {stock:,} stock rows in {time.perf_counter() - start:.1f} s")
        for fulfillment, name, source in SHEETS:
            if not Sheet.objects.filter(fulfillment=fulfillment).exists():
                sheet_create(
                    fulfillment=fulfillment,
                    name=name,
                    source=_sheet_source(fulfillment, source),
                    is_active=True,
                    comment="Loaded by manage.py bench world",
                )
        network_changed()  # COPY sends no signals
    with connection.cursor() as cursor:
        for model in (OrganizationUnit, Product, Stock):
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
    seconds = time.perf_counter() - start
    write(
        f"world {size.ous:,} OUs, {size.products:,} products, {stock:,} stock rows loaded "
        f"with COPY in {seconds:.1f} s (analyzed)"
    )
    return {"seconds": seconds, "ous": ous, "products": products, "stock": stock}


def _stock_rows(
    rng: random.Random,
    size: Size,
    units: Sequence[Any],
    unit_ids: dict[str, int],
    product_ids: Sequence[int],
    now: Any,
) -> Iterable[tuple[Any, ...]]:
    """``size.stock`` rows: per OU a share of its type's weight (a warehouse holds
    ``WAREHOUSE_WEIGHT`` times a shop's), distinct products picked with ``SKEW``; on
    hand 0 to 20 (0 for about one in ten), nothing reserved."""
    weights = [
        WAREHOUSE_WEIGHT if unit.type == "Warehouse" else 1 if unit.type == "Shop" else 0
        for unit in units
    ]
    total = sum(weights)
    shares = [size.stock * weight // total for weight in weights]
    # The rounding's leftovers to the first OUs with a weight, one each.
    short = size.stock - sum(shares)
    for index, weight in enumerate(weights):
        if not short:
            break
        if weight:
            shares[index] += 1
            short -= 1
    count = len(product_ids)
    random_ = rng.random
    for unit, share in zip(units, shares, strict=True):
        unit_id = unit_ids[PREFIX + (unit.backend_id or "")]
        picked: set[int] = set()
        share = min(share, count)
        while len(picked) < share:
            picked.add(int(count * random_() ** SKEW))
        for index in sorted(picked):
            on_hand = 0 if random_() < 0.1 else 1 + int(random_() * 20)
            yield (unit_id, product_ids[index], on_hand, 0, now)


def world_drop(write: Callable[[str], None]) -> None:
    """Remove a generated world (its stock, products, OUs and sheets) with plain
    DELETEs; refused by the database while orders point at its OUs or products."""
    quote = connection.ops.quote_name
    with transaction.atomic(), connection.cursor() as cursor:
        # Quoted names of our own tables; the pattern is a parameter.
        units = f"SELECT id FROM {quote(OrganizationUnit._meta.db_table)} WHERE backend_id LIKE %s"  # noqa: S608
        products = f"SELECT id FROM {quote(Product._meta.db_table)} WHERE backend_id LIKE %s"  # noqa: S608
        like = PREFIX + "%"
        for table, where in (
            (Stock._meta.db_table, f"organization_unit_id IN ({units})"),
            (Product.replacements.through._meta.db_table, f"from_product_id IN ({products})"),
            (Product.replacements.through._meta.db_table, f"to_product_id IN ({products})"),
            (OrganizationUnit.sets.through._meta.db_table, f"organizationunit_id IN ({units})"),
            (OrganizationUnit.staff.through._meta.db_table, f"organizationunit_id IN ({units})"),
            (Product._meta.db_table, "backend_id LIKE %s"),
            (OrganizationUnit._meta.db_table, "backend_id LIKE %s"),
        ):
            # Names of our own tables and fixed conditions; the pattern is a parameter.
            cursor.execute(f"DELETE FROM {quote(table)} WHERE {where}", [like])  # noqa: S608
        Sheet.objects.filter(fulfillment__in=[name for name, _n, _s in SHEETS]).delete()
        network_changed()
    write("generated world (NAT-*) removed")


# --- persist on the national network ---------------------------------------------------


def _orders(rng: random.Random, count: int) -> list[int]:
    """``count`` orders of 1 to 3 lines of random products (picked with ``SKEW``, as
    stocked), each shipping to a random place near a city, flagged for a run."""
    product_ids = list(
        Product.objects.filter(backend_id__startswith=PREFIX)
        .order_by("backend_id")
        .values_list("id", flat=True)
    )
    orders = []
    lines = []
    for number in range(count):
        _city, country, address = worlds.place(rng, worlds.CITIES)
        order = Order(
            backend_id=f"{ORDER_PREFIX}{number}",
            needs_orchestration=True,
            **{
                f"{prefix}_{part}": value
                for prefix in ("shipping", "billing")
                for part, value in (
                    ("street", address.street or ""),
                    ("zip_code", address.zip_code or ""),
                    ("city", address.city or ""),
                    ("country_id", country),
                    ("latitude", float(address.latitude or 0)),
                    ("longitude", float(address.longitude or 0)),
                )
            },
        )
        orders.append(order)
        picked = {
            product_ids[int(len(product_ids) * rng.random() ** SKEW)]
            for _line in range(rng.randrange(1, 4))
        }
        lines.append(
            [
                OrderLine(product_id=product, quantity=rng.randrange(1, 3), unit_price=Decimal(20))
                for product in sorted(picked)
            ]
        )
    Order.objects.bulk_create(orders)
    for order, order_lines in zip(orders, lines, strict=True):
        for line in order_lines:
            line.order = order
    OrderLine.objects.bulk_create([line for order_lines in lines for line in order_lines])
    return [order.pk for order in orders]


def _clean(reserved: dict[int, int]) -> None:
    """Delete the bench's orders (with their runs and fulfilments) and put back the
    stock reservations as they were (``reserved``: stock row ID -> reserved)."""
    with transaction.atomic():
        Order.objects.filter(backend_id__startswith=ORDER_PREFIX).delete()
        for pk, quantity in reserved.items():
            Stock.objects.filter(pk=pk).update(quantity_reserved=quantity)


def rss_mb() -> float:
    """This process's resident memory now (Linux's ``/proc``), else its peak so far."""
    try:
        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[1])
        return pages * resource.getpagesize() / 2**20
    except OSError:  # not Linux: the peak
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def snapshot_figures(write: Callable[[str], None]) -> dict[str, float]:
    """The worker's network snapshot on this database: seconds to read it after a
    change; its memory (tracemalloc, after a garbage collection: what it keeps, and
    with the engine's indexes of it as a route builds them)."""
    network_forget()
    gc.collect()
    with transaction.atomic():
        network_changed()
    token = network_token()
    tracemalloc.start()
    start = time.perf_counter()
    snapshot = network_snapshot(token)
    seconds = time.perf_counter() - start
    gc.collect()  # what the read left as garbage is not the snapshot's
    read_bytes = tracemalloc.get_traced_memory()[0]
    indexed = engine_network.Network(snapshot.units, snapshot.products)
    indexed.by_latitude()
    total_bytes = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del indexed
    result = {
        "rebuild_s": seconds,
        "snapshot_mb": read_bytes / 2**20,
        "with_indexes_mb": total_bytes / 2**20,
    }
    # Timed again without tracemalloc, which slows allocation down: the best of three.
    times = []
    for _ in range(3):
        with transaction.atomic():
            network_changed()
        token = network_token()
        start = time.perf_counter()
        network_snapshot(token)
        times.append(time.perf_counter() - start)
    result["rebuild_s"] = min(times)
    write(
        f"network snapshot: {len(snapshot.units):,} OUs, {len(snapshot.products):,} products: "
        f"read again after a change in {result['rebuild_s']:.2f} s (best of 3; "
        f"{', '.join(f'{t:.2f}' for t in times)}); {result['snapshot_mb']:.0f} MB "
        f"(tracemalloc), {result['with_indexes_mb']:.0f} MB with the engine's indexes"
    )
    return result


def _stored_size(details_id: int) -> int:
    """The bytes a run's blob takes in its column (compressed, as stored)."""
    table = connection.ops.quote_name(OrchestrationDetails._meta.db_table)
    with connection.cursor() as cursor:
        # A quoted name of our own table; the ID is a parameter.
        cursor.execute(f"SELECT octet_length(blob) FROM {table} WHERE id = %s", [details_id])  # noqa: S608
        return int(cursor.fetchone()[0])


def persist(repeat: int, write: Callable[[str], None], *, seed: int = 0) -> dict[str, float]:
    """``repeat`` orders of 1 to 3 lines orchestrated on the generated world, each in
    its own transaction, timed and their statements counted as ``lifecycle.persist``
    does; the snapshot's figures first."""
    if not world_exists():
        raise RuntimeError("no generated world here: run `manage.py bench world` first")
    rss_before = rss_mb()
    figures = snapshot_figures(write)
    # Benchmark data, not secrets: a seeded PRNG gives the same orders every time.
    rng = random.Random(seed)  # noqa: S311
    warm = 3
    with transaction.atomic():
        Order.objects.filter(backend_id__startswith=ORDER_PREFIX).delete()
        order_ids = _orders(rng, repeat + warm + CHANGES)
    products = set(
        OrderLine.objects.filter(order_id__in=order_ids).values_list("product_id", flat=True)
    )
    reserved = dict(
        Stock.objects.filter(product_id__in=products).values_list("pk", "quantity_reserved")
    )
    lifecycle.vacuum()
    timings: list[float] = []
    cpu_times: list[float] = []
    statements_per_run: list[int] = []
    trips: list[int] = []
    blobs: list[int] = []
    try:
        for index, order_id in enumerate(order_ids[: repeat + warm]):
            statements: list[int] = []
            with (
                lifecycle.exports_handed_on(),
                connection.execute_wrapper(lifecycle.counting(statements)),
            ):
                start = time.perf_counter()
                cpu = time.process_time()
                details = order_orchestrate(order_id=order_id)
                cpu = time.process_time() - cpu
                elapsed = time.perf_counter() - start
            if index >= warm:  # the first runs read the snapshot and compile the sheets
                timings.append(elapsed * 1000)
                cpu_times.append(cpu * 1000)
                statements_per_run.append(sum(statements))
                trips.append(len(statements))
                if details is not None:
                    blobs.append(_stored_size(details.pk))
        # A worker's memory once the network changed a few times, an order after each.
        for order_id in order_ids[repeat + warm :]:
            with transaction.atomic():
                network_changed()
            with lifecycle.exports_handed_on():
                order_orchestrate(order_id=order_id)
        gc.collect()
        rss_after = rss_mb()
    finally:
        _clean(reserved)
    result = {
        "median_ms": statistics.median(timings),
        "p95_ms": sorted(timings)[max(0, int(len(timings) * 0.95) - 1)],
        "cpu_ms": statistics.median(cpu_times),
        "statements": statistics.median(statements_per_run),
        "round_trips": statistics.median(trips),
        "blob_kb": statistics.median(blobs) / 1024 if blobs else 0.0,
        "rss_before_mb": rss_before,
        "rss_after_mb": rss_after,
        **figures,
    }
    write(
        f"persist on the national world: {repeat} orders of 1 to 3 lines on "
        f"{connection.vendor}: median {result['median_ms']:.1f} ms, p95 "
        f"{result['p95_ms']:.1f} ms (this process's CPU: median {result['cpu_ms']:.1f} ms), "
        f"{result['statements']:.0f} SQL statements in {result['round_trips']:.0f} round trips "
        "per run (plus BEGIN and COMMIT); "
        f"stored blob median {result['blob_kb']:.1f} KB; process RSS {rss_before:.0f} MB "
        f"before the snapshot, {rss_after:.0f} MB after the runs and {CHANGES} more changes "
        "of the network, an order routed after each"
    )
    return result
