"""``manage.py bench options``: the checkout's delivery options on the demo network, timed.

A webshop asks ``POST /api/fulfillment-options/`` on its checkout page, so the
answer must be quick: the target is a p95 of at most ``TARGET_P95_MS`` per
request on the demo network (docs/performance.md). The benchmark loads the demo
retailer in a transaction that is rolled back (nothing is left behind), makes
``requests`` baskets from a seeded random generator (1 to ``MAX_LINES`` lines of
demo products, 1 or 2 units each, shipped to a point near a demo city, at a time
in the week of 2026-11-23 between 06:00 and 23:59, so the shops' opening rules
are exercised), sends each through the Django test client with an API token,
as a webshop would, and prints the request time (median, p95, max), the part of
it spent in ``engine.fulfillment_options``, how often each option could be
offered, and how often same-day delivery goes to other suppliers than normal
delivery (the demo's Rotterdam and Den Haag shops do no same-day delivery).
"""

import random
import statistics
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from io import StringIO
from typing import Any
from unittest import mock
from zoneinfo import ZoneInfo

from .. import engine
from ..models import Product
from .engine import percentile

TARGET_P95_MS = 50.0  # a checkout page waits on it; the budget
REQUESTS = 200
MAX_LINES = 3
SEED = 19
# Points the baskets ship to: the demo's cities (latitude, longitude).
CITIES = (
    ("Amsterdam", 52.3702, 4.8952),
    ("Utrecht", 52.0907, 5.1214),
    ("Rotterdam", 51.9244, 4.4777),
    ("Den Haag", 52.0705, 4.3007),
    ("Haarlem", 52.3874, 4.6462),
    ("Zwolle", 52.5168, 6.0830),
)
WEEK = datetime(2026, 11, 23, tzinfo=ZoneInfo("Europe/Amsterdam"))


def baskets(count: int, products: list[str], seed: int = SEED) -> list[dict[str, Any]]:
    """``count`` request bodies, the same for the same seed and products."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible workload, not a secret
    bodies = []
    for _ in range(count):
        city, latitude, longitude = rng.choice(CITIES)
        chosen = rng.sample(products, rng.randint(1, min(MAX_LINES, len(products))))
        at = WEEK + timedelta(days=rng.randrange(7), minutes=rng.randrange(6 * 60, 24 * 60))
        bodies.append(
            {
                "lines": [{"product": p, "quantity": rng.randint(1, 2)} for p in chosen],
                "shipping_address": {
                    "city": city,
                    "country_id": "NL",
                    "latitude": round(latitude + rng.uniform(-0.05, 0.05), 5),
                    "longitude": round(longitude + rng.uniform(-0.05, 0.05), 5),
                },
                "at": at.isoformat(),
            }
        )
    return bodies


def run(requests: int, write: Callable[[str], Any]) -> dict[str, float]:
    """Time ``requests`` calls on the demo network; return the figures (ms)."""
    from django.conf import settings
    from django.contrib.auth.models import Permission, User
    from django.core.management import call_command
    from django.db import transaction
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    with transaction.atomic():
        call_command("demo", stdout=StringIO())
        user = User.objects.create_user("bench-options-user")
        user.user_permissions.add(Permission.objects.get(codename="view_sheets"))
        token = Token.objects.create(user=user)
        client = APIClient(HTTP_HOST=settings.ALLOWED_HOSTS[0] if settings.ALLOWED_HOSTS else "")
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        products = sorted(
            Product.objects.exclude(backend_id__isnull=True).values_list("backend_id", flat=True)
        )
        bodies = baskets(requests, products)
        engine_times: list[float] = []
        options = engine.fulfillment_options

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return options(*args, **kwargs)
            finally:
                engine_times.append(time.perf_counter() - start)

        offered: Counter[str] = Counter()
        moved = 0  # baskets whose same-day suppliers are not those of normal delivery
        with mock.patch.object(engine, "fulfillment_options", timed):
            for body in bodies[:10]:  # warm: plans compiled, network snapshot read
                client.post("/api/fulfillment-options/", body, format="json")
            engine_times.clear()
            times = []
            for body in bodies:
                start = time.perf_counter()
                response = client.post("/api/fulfillment-options/", body, format="json")
                times.append(time.perf_counter() - start)
                if response.status_code != 200:
                    raise RuntimeError(f"answered {response.status_code}: {response.content!r}")
                by_option = {}
                for option in response.json()["options"]:
                    offered[option["option"]] += option["available"]
                    by_option[option["option"]] = sorted(
                        s["supplier"]["id"] for s in option["shipments"]
                    )
                moved += by_option["SameDayDelivery"] != by_option["NormalDelivery"]
        transaction.set_rollback(True)  # leave the database as it was

    figures = {
        "median": statistics.median(times) * 1000,
        "p95": percentile(times, 0.95) * 1000,
        "max": max(times) * 1000,
        "engine_median": statistics.median(engine_times) * 1000,
        "engine_p95": percentile(engine_times, 0.95) * 1000,
    }
    write(
        f"POST /api/fulfillment-options/ on the demo network, {requests} baskets "
        f"(seed {SEED}, 1-{MAX_LINES} lines)"
    )
    write(
        f"request  median {figures['median']:6.1f} ms  p95 {figures['p95']:6.1f} ms  "
        f"max {figures['max']:6.1f} ms  (target p95 <= {TARGET_P95_MS:.0f} ms)"
    )
    write(
        f"engine   median {figures['engine_median']:6.1f} ms  "
        f"p95 {figures['engine_p95']:6.1f} ms  (engine.fulfillment_options: 3 routes)"
    )
    write(
        "offered  "
        + ", ".join(f"{name} {count / requests:.0%}" for name, count in sorted(offered.items()))
        + f"; same-day by other suppliers than normal delivery: {moved / requests:.0%}"
    )
    return figures
