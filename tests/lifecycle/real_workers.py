"""Real Celery worker processes (``killable_worker.py``) for the tests that kill one.

``test_worker_killed.py`` (an order's routing) and ``test_plan_worker_killed.py`` (a
plan's step) share these: the Redis keys of a test (its queue, the queue where the
workers' own sends land, their unacknowledged messages), the workers it starts and
kills with SIGKILL, and the order it places without routing it.

The workers are separate processes, so they need a database and a broker that the test
process shares with them: PostgreSQL and Redis. SQLite's test database and the memory://
broker exist in this process only; ``REAL_WORKERS`` skips a test module elsewhere.

The fixtures are named ``broker`` and ``workers``; a test module imports
``broker_fixture`` and ``workers_fixture`` to use them.
"""

import base64
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import redis
from django.conf import settings
from django.db import connection

from orchestration.models import Order, OrganizationUnit, Product
from orchestration.services.orders import order_create
from orchestration.tasks import order_orchestrate_task
from tests.lifecycle.killable_worker import transport_options

BROKER_URL: str = settings.CELERY_BROKER_URL
ROOT = Path(__file__).resolve().parents[2]

REAL_WORKERS = pytest.mark.skipif(
    connection.vendor != "postgresql" or not BROKER_URL.startswith(("redis://", "rediss://")),
    reason="a worker process shares the database and broker only on PostgreSQL and Redis; "
    ".ci/run runs it with DATABASE_URL and CELERY_BROKER_URL set",
)


def eventually(check: Callable[[], Any], what: str, logs: Path, timeout: float = 30) -> Any:
    """Wait for a worker to have done something (polling, not a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.05)
    tails = "\n".join(f"--- {log.name}\n{log.read_text()[-3000:]}" for log in logs.glob("*.log"))
    raise AssertionError(f"Not done in {timeout} s: {what}\n{tails}")


@dataclass
class Broker:
    """The Redis keys of this test: its queues and its workers' unacknowledged messages."""

    client: redis.Redis
    tag: str

    @property
    def queue(self) -> str:
        """Where the test sends its task; only this test's workers consume it."""
        return f"killtest-{self.tag}"

    @property
    def side_queue(self) -> str:
        """Where the workers' own sends (exports, plan steps) go; nobody consumes it."""
        return f"killtest-{self.tag}-sent"

    def unacked(self) -> int:
        """Messages a worker took and did not acknowledge (yet): Redis will redeliver them."""
        return self.client.hlen(transport_options(self.queue)["unacked_key"])

    def waiting(self) -> int:
        return self.client.llen(self.queue)

    def sent(self, task: str) -> list[list[Any]]:
        """The arguments of each ``task`` message the workers sent to the side queue."""
        found = []
        for raw in self.client.lrange(self.side_queue, 0, -1):
            message = json.loads(raw)
            if message["headers"]["task"] == task:
                args, _, _ = json.loads(base64.b64decode(message["body"]))
                found.append(args)
        return found


@pytest.fixture(name="broker")
def broker_fixture() -> Iterator[Broker]:
    client = redis.Redis.from_url(BROKER_URL)
    broker = Broker(client=client, tag=uuid.uuid4().hex)
    yield broker
    # Queues, bindings and unacked bookkeeping: every key of this test carries its tag.
    for key in client.scan_iter(match=f"*{broker.tag}*"):
        client.delete(key)
    client.close()


def database_url() -> str:
    """The test database pytest-django created (test_<name>), as a DATABASE_URL."""
    db = connection.settings_dict
    user = quote(db["USER"] or "", safe="")
    password = f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else ""
    at = f"{user}{password}@" if user else ""
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{at}{quote(db['HOST'] or '', safe='')}{port}/{quote(db['NAME'], safe='')}"


@dataclass
class Workers:
    """Starts ``killable_worker`` processes; the fixture kills whichever still run."""

    broker: Broker
    folder: Path
    journal: Path
    started: list[subprocess.Popen[bytes]]

    def start(self, label: str, *options: str) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "orchestration.settings",
            "DATABASE_URL": database_url(),
            "CELERY_BROKER_URL": BROKER_URL,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "PYTHONUNBUFFERED": "1",
        }
        with (self.folder / f"{label}.log").open("wb") as log:
            worker = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.lifecycle.killable_worker",
                    f"--queue={self.broker.queue}",
                    f"--side-queue={self.broker.side_queue}",
                    f"--journal={self.journal}",
                    f"--label={label}",
                    *options,
                ],
                cwd=ROOT,
                env=env,
                # Its own process group: the worker and its pool's child are killed together.
                start_new_session=True,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.started.append(worker)
        return worker

    def deliveries(self) -> list[list[Any]]:
        """``[worker, task name, task id, redelivered]`` for each task a worker started."""
        if not self.journal.exists():
            return []
        return [json.loads(line) for line in self.journal.read_text().splitlines()]


@pytest.fixture(name="workers")
def workers_fixture(broker: Broker, tmp_path: Path) -> Iterator[Workers]:
    started: list[subprocess.Popen[bytes]] = []
    yield Workers(broker=broker, folder=tmp_path, journal=tmp_path / "journal", started=started)
    # Before pytest-django empties the tables: a live worker would keep its locks on them.
    for worker in started:
        kill(worker)


def kill(worker: subprocess.Popen[bytes]) -> int:
    """SIGKILL the worker and its pool's child at once, as when its machine dies; its exit code."""
    with contextlib.suppress(ProcessLookupError):  # already gone
        os.killpg(worker.pid, signal.SIGKILL)
    return worker.wait(10)


def order_placed_without_routing(monkeypatch: pytest.MonkeyPatch) -> Order:
    """Place an order as the API does (committed, flagged for routing), keeping the task
    the commit sends: the test sends it itself, to its own workers."""
    sent: list[int] = []
    with monkeypatch.context() as patch:
        patch.setattr(order_orchestrate_task, "delay", sent.append)
        order = order_create(
            lines=[{"product": Product.objects.get(backend_id="SNK-CANVAS-WHT"), "quantity": 1}],
            backend_id="WEB-8001",
            sold_from_organization_unit=OrganizationUnit.objects.get(backend_id="webshop_nl"),
            customer_email="sanne.devries@example.com",
            shipping_street="Herengracht 182",
            shipping_zip_code="1016 BR",
            shipping_city="Amsterdam",
            shipping_country_id="NL",
            shipping_latitude=52.3752,
            shipping_longitude=4.8872,
        )
    assert sent == [order.pk]
    return order
