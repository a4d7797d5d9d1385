"""locust's script for ``manage.py bench load``: integrations posting orders.

Each simulated client posts a 3-line order (the benchmark's products, a shipping
address in Amsterdam, an ``Idempotency-Key`` as a careful integration sends) at the
times of a Poisson process of ``LOAD_RATE_PER_USER`` a second (``arrivals.py``: an
open workload; together the clients make one Poisson stream at ``--rate``), with the
API token of the benchmark's integration user. Everything comes from the environment
``bench load`` sets; run it through that command, not on its own. Not imported by the app (locust
monkey-patches the standard library with gevent).
"""

import itertools
import os
import random
import time
import uuid

from locust import FastHttpUser, task

from orchestration.benchmarks.arrivals import PoissonArrivals

TOKEN = os.environ.get("LOAD_TOKEN", "")
PRODUCTS = os.environ.get("LOAD_PRODUCTS", "").split(",")
PREFIX = os.environ.get("LOAD_PREFIX", "BENCH-L-")
NUMBERS = itertools.count()
ADDRESS = {
    "street": "Damrak 1",
    "zip_code": "1012 LG",
    "city": "Amsterdam",
    "country_id": "NL",
    "latitude": 52.3745,
    "longitude": 4.8979,
}


class Integration(FastHttpUser):
    """A web shop's integration, posting its orders as they are placed."""

    def on_start(self) -> None:
        """The client's schedule, and a wait for its first order (not all at once)."""
        self.arrivals = PoissonArrivals(
            float(os.environ.get("LOAD_RATE_PER_USER", "1")),
            now=time.monotonic(),
            rng=random.Random(),  # noqa: S311 - arrival times, not secrets
        )
        time.sleep(self.arrivals.wait(time.monotonic()))  # gevent's sleep under locust

    def wait_time(self) -> float:
        """Until the next arrival of the schedule, however long the last response took."""
        return self.arrivals.wait(time.monotonic())

    @task
    def post_order(self) -> None:
        """One order of one unit of each product."""
        body = {
            "backend_id": f"{PREFIX}{os.getpid()}-{next(NUMBERS)}",
            "shipping_address": ADDRESS,
            "lines": [{"product": product, "quantity": 1} for product in PRODUCTS],
        }
        with self.client.post(
            "/api/orders/",
            json=body,
            headers={"Authorization": f"Token {TOKEN}", "Idempotency-Key": str(uuid.uuid4())},
            name="POST /api/orders/",
            catch_response=True,
        ) as response:
            if response.status_code != 201:
                response.failure(f"{response.status_code}: {response.text[:200]}")
