"""``manage.py bench bulk [--orders N] [--repeat R]``: orders taken in, three ways.

- ``single``: N calls of ``POST /api/orders/`` (the "before": one order, its lookups,
  INSERTs and its own broker publish per request);
- ``bulk``: ``POST /api/orders/bulk/`` with 500 orders a request, each created order
  answered in full; ``minimal``: the same with ``Prefer: return=minimal`` (its ID);
- ``import``: ``manage.py import_orders`` on a JSON Lines file of N orders.

Each through Django's test client (no HTTP: the web server's own cost is not counted,
the same for all three), as a user of the built-in Integrations group, orders of two
lines of BENCH-* products sold from a BENCH-* shop. For each: orders a second, and per
order the database round trips (psycopg's results per statement; PostgreSQL's BEGIN
and COMMIT do not pass Django's execute wrapper and are not counted) and the broker
publishes, and the CPU time of this process per order (``CPU ms``: the Python side,
without the database server's; on a machine shared with other work, the wall time
moves with their load, this much less). The passes alternate (single, bulk, minimal, import,
single, ...) ``R`` times, as the machine's speed moves; the median pass is printed.

Run it with ``DATABASE_URL`` on PostgreSQL and a real broker not drained by any
worker (``CELERY_BROKER_URL=redis://127.0.0.1:6379/3 CELERY_TASK_ALWAYS_EAGER=false``):
the messages are purged after each pass, and every order and object it made is
deleted. With the eager default, the orders would be orchestrated inline.
"""

import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from io import StringIO
from typing import Any
from unittest import mock

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.db import connection, transaction
from kombu import messaging
from rest_framework.test import APIClient

from ..celery import app as celery_app
from ..engine.limits import BULK_ORDERS
from ..models import Order, OrganizationUnit, Product
from ..services.order_imports import ORDERS_PER_CHUNK
from ..services.roles import INTEGRATIONS_GROUP, roles_ensure
from .lifecycle import counting

ORDERS = 2_000
REPEAT = 3
USERNAME = "bench-bulk-user"
PRODUCTS = 10


def _body(number: int, run: str) -> dict[str, Any]:
    return {
        "backend_id": f"BENCH-BULK-{run}-{number}",
        "sold_from_organization_unit": "BENCH-SHOP",
        "customer_email": "bench@example.com",
        "shipping_address": {
            "street": "Herengracht 182",
            "zip_code": "1016 BR",
            "city": "Amsterdam",
            "country_id": "NL",
            "latitude": 52.3752,
            "longitude": 4.8872,
        },
        "custom_fields": {"Channel": "WEBSHOP"},
        "lines": [
            {
                "product": f"BENCH-P-{number % PRODUCTS}",
                "quantity": 1,
                "unit_price": "80.00",
                "unit_price_in_tax": "96.80",
            },
            {"product": f"BENCH-P-{(number + 1) % PRODUCTS}", "quantity": 2},
        ],
    }


@contextmanager
def _counted() -> Iterator[dict[str, int]]:
    """Round trips to the database and publishes to the broker, while inside."""
    statements: list[int] = []
    counts = {"statements": 0, "publishes": 0}
    publish = messaging.Producer.publish

    def counted_publish(producer: Any, *args: Any, **kwargs: Any) -> Any:
        counts["publishes"] += 1
        return publish(producer, *args, **kwargs)

    with (
        connection.execute_wrapper(counting(statements)),
        mock.patch.object(messaging.Producer, "publish", counted_publish),
    ):
        yield counts
    counts["statements"] = sum(statements)


def _single(client: APIClient, bodies: list[dict[str, Any]], _path: str) -> None:
    for body in bodies:
        response = client.post("/api/orders/", body, format="json")
        if response.status_code != 201:
            raise RuntimeError(f"POST /api/orders/ answered {response.status_code}")


def _bulk(
    client: APIClient,
    bodies: list[dict[str, Any]],
    _path: str,
    headers: dict[str, str] | None = None,
) -> None:
    size = BULK_ORDERS.maximum
    for start in range(0, len(bodies), size):
        response = client.post(
            "/api/orders/bulk/",
            {"orders": bodies[start : start + size]},
            format="json",
            headers=headers,
        )
        if response.status_code != 200 or response.json()["refused"]:
            raise RuntimeError(f"POST /api/orders/bulk/ answered {response.status_code}")


def _bulk_minimal(client: APIClient, bodies: list[dict[str, Any]], path: str) -> None:
    _bulk(client, bodies, path, {"Prefer": "return=minimal"})


def _import(_client: APIClient, bodies: list[dict[str, Any]], path: str) -> None:
    with open(path, "w", encoding="utf-8") as file:
        for body in bodies:
            file.write(json.dumps(body) + "\n")
    call_command("import_orders", path, "--user", USERNAME, stdout=StringIO(), stderr=StringIO())


PATHS: dict[str, tuple[str, Callable[[APIClient, list[dict[str, Any]], str], None]]] = {
    "single": ("POST /api/orders/, one order a request", _single),
    "bulk": (f"POST /api/orders/bulk/, {BULK_ORDERS.maximum} a request", _bulk),
    "minimal": ("  the same, Prefer: return=minimal", _bulk_minimal),
    "import": (f"import_orders FILE.jsonl, chunks of {ORDERS_PER_CHUNK}", _import),
}


def _setup() -> User:
    roles_ensure()
    _clean()
    user = User.objects.create_user(USERNAME)
    user.groups.add(Group.objects.get(name=INTEGRATIONS_GROUP))
    OrganizationUnit.objects.create(
        name="Bench shop", backend_id="BENCH-SHOP", type="Shop", country_id="NL"
    )
    Product.objects.bulk_create(
        Product(backend_id=f"BENCH-P-{i}", name=f"Bench product {i}") for i in range(PRODUCTS)
    )
    return user


def _clean() -> None:
    with transaction.atomic():
        Order.objects.filter(backend_id__startswith="BENCH-BULK-").delete()
        OrganizationUnit.objects.filter(backend_id="BENCH-SHOP").delete()
        Product.objects.filter(backend_id__startswith="BENCH-P-").delete()
        User.objects.filter(username=USERNAME).delete()


def _vacuum() -> None:
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for table in ("order", "orderline", "orderevent", "idempotencykey"):
            cursor.execute(f"VACUUM ANALYZE {connection.ops.quote_name('orchestration_' + table)}")


def run(orders: int, repeat: int, write: Callable[[str], Any]) -> dict[str, dict[str, float]]:
    """Time the three paths ``repeat`` times each, alternately; print and return the
    median pass of each (orders/s, statements and publishes per order)."""
    broker = celery_app.conf.broker_url
    eager = celery_app.conf.task_always_eager
    load = os.getloadavg()
    write(
        f"{orders:,} orders of 2 lines, {connection.vendor}, "
        f"broker {'eager (tasks inline)' if eager else broker.split('@')[-1]}, "
        f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}, median of {repeat} passes"
    )
    passes: dict[str, list[dict[str, float]]] = {name: [] for name in PATHS}
    user = _setup()
    client = APIClient(HTTP_HOST=settings.ALLOWED_HOSTS[0] if settings.ALLOWED_HOSTS else "")
    client.force_authenticate(user)
    try:
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "orders.jsonl")
            # Warm: serializers built, statements prepared, connections open.
            for name, (_, call) in PATHS.items():
                call(client, [_body(n, f"warm-{name}") for n in range(5)], path)
            for attempt in range(repeat):
                for name, (_, call) in PATHS.items():
                    bodies = [_body(n, f"{name}-{attempt}") for n in range(orders)]
                    _vacuum()
                    with _counted() as counts:
                        started, cpu = time.perf_counter(), time.process_time()
                        call(client, bodies, path)
                        seconds = time.perf_counter() - started
                        cpu = time.process_time() - cpu
                    if not eager:
                        celery_app.control.purge()
                    passes[name].append(
                        {
                            "orders_per_second": orders / seconds,
                            "ms_per_order": seconds * 1000 / orders,
                            "cpu_ms_per_order": cpu * 1000 / orders,
                            "statements_per_order": counts["statements"] / orders,
                            "publishes_per_order": counts["publishes"] / orders,
                        }
                    )
    finally:
        _clean()
    write(
        f"{'path':<44} {'orders/s':>9} {'ms/order':>9} {'CPU ms':>7} {'statements':>11} "
        f"{'publishes':>10}  (per order; all passes' orders/s)"
    )
    medians: dict[str, dict[str, float]] = {}
    for name, (label, _) in PATHS.items():
        rates = [p["orders_per_second"] for p in passes[name]]
        middle = sorted(passes[name], key=lambda p: p["orders_per_second"])[len(rates) // 2]
        medians[name] = middle
        write(
            f"{label:<44} {middle['orders_per_second']:>9,.0f} {middle['ms_per_order']:>9.2f} "
            f"{middle['cpu_ms_per_order']:>7.2f} "
            f"{middle['statements_per_order']:>11.2f} {middle['publishes_per_order']:>10.2f}"
            f"  ({', '.join(f'{r:,.0f}' for r in rates)})"
        )
    write(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return medians
