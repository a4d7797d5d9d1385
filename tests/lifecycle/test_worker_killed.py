"""A Celery worker process killed by SIGKILL in the middle of an orchestration ends with
exactly one set of fulfilments: the issue's requirement, proven on a real worker over Redis
and PostgreSQL.

``test_redelivery.py`` simulates the dying worker inside the test process; this kills a real
one. Worker #1 (``killable_worker.py``) is stopped at the COMMIT that would finish the run,
with the run's details, fulfilments, reservation and statuses written, and is killed there:
PostgreSQL must throw all of it away when the connection drops. The task is acknowledged
late, so Redis hands the message to worker #2 once the visibility timeout is over, and that
run must do all the work, once. The test fails if the killed run leaves anything behind
(also when a run commits part of its work earlier: such a commit goes through before the
stop), if the redelivery is lost, or if it adds a second set of fulfilments, reservations or
exports.

The workers are separate processes, so they need a database and a broker that the test
process shares with them: PostgreSQL and Redis. SQLite's test database and the memory://
broker exist in this process only.
"""

import base64
import contextlib
import io
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
from kombu import Exchange, Queue

from orchestration.celery import app
from orchestration.demo import demo_load
from orchestration.models import (
    ExportStatus,
    OrchestrationDetails,
    Order,
    OrganizationUnit,
    Product,
    Stock,
)
from orchestration.services.orders import order_create
from orchestration.tasks import order_orchestrate_task
from tests.lifecycle.killable_worker import transport_options

BROKER_URL: str = settings.CELERY_BROKER_URL
ROOT = Path(__file__).resolve().parents[2]
EXPORT_TASK = "orchestration.tasks.fulfillment_export_task"

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql" or not BROKER_URL.startswith(("redis://", "rediss://")),
        reason="a worker process shares the database and broker only on PostgreSQL and Redis; "
        ".ci/run runs it with DATABASE_URL and CELERY_BROKER_URL set",
    ),
    pytest.mark.django_db(transaction=True),
]


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
        """Where the test sends the orchestration; only this test's workers consume it."""
        return f"killtest-{self.tag}"

    @property
    def side_queue(self) -> str:
        """Where the workers' own sends (exports) go; nobody consumes it."""
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


@pytest.fixture
def broker() -> Iterator[Broker]:
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


@pytest.fixture
def workers(broker: Broker, tmp_path: Path) -> Iterator[Workers]:
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


def committed(order: Order) -> tuple[bool, int, list[int], int]:
    """What other connections see of the order's routing: the flag, its fulfilments, its
    runs' attempt numbers and the units reserved in all of the stock."""
    order.refresh_from_db()
    return (
        order.needs_orchestration,
        order.fulfillments.count(),
        list(OrchestrationDetails.objects.filter(order=order).values_list("attempt", flat=True)),
        sum(Stock.objects.values_list("quantity_reserved", flat=True)),
    )


def test_a_worker_killed_mid_task_ends_with_exactly_one_set_of_fulfillments(
    broker: Broker, workers: Workers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    demo_load(stdout=io.StringIO(), password="demo-pass-123")
    order = order_placed_without_routing(monkeypatch)
    reserved_before = committed(order)[3]
    assert committed(order) == (True, 0, [], reserved_before)

    # Worker #1 (prefork, as in production) takes the task; its pool's child stops at the
    # commit that would finish the run.
    hung = tmp_path / "hung.json"
    first = workers.start("first", "--pool=prefork", f"--hang={hung}")
    monkeypatch.setattr(app.conf, "task_always_eager", False)  # the lifecycle tests run inline
    order_orchestrate_task.apply_async(
        args=[order.pk],
        queue=Queue(broker.queue, Exchange(broker.queue), routing_key=broker.queue),
    )
    eventually(hung.exists, "worker #1 reaching its commit", tmp_path)
    # It did write the whole run (the shape an inline run gives: one fulfilment, one
    # unit reserved), yet none of it is visible outside its transaction.
    assert json.loads(hung.read_text()) == {
        "order": order.pk,
        "needs_orchestration": False,
        "attempts": [1],
        "fulfillments": 1,
        "units_reserved": reserved_before + 1,
    }
    assert committed(order) == (True, 0, [], reserved_before)

    # SIGKILL to the worker and its child: no cleanup, no reject, no requeue (the worker
    # would requeue if only its child died). The connection drops, so PostgreSQL rolls the
    # transaction back; the message, acknowledged late, stays unacknowledged in Redis.
    assert kill(first) == -signal.SIGKILL
    ((_, task_name, task_id, redelivered),) = workers.deliveries()
    assert (task_name, redelivered) == (order_orchestrate_task.name, False)
    assert committed(order) == (True, 0, [], reserved_before)
    assert (broker.unacked(), broker.waiting()) == (1, 0)

    # Worker #2 hands the message out again once it is older than its visibility timeout,
    # two seconds here. Solo: while it runs the task it sweeps no more, so it cannot hand
    # out its own message a second time should the run take longer than that.
    workers.start("second", "--pool=solo", "--visibility-timeout=2")
    eventually(lambda: not committed(order)[0], "worker #2 routing the redelivery", tmp_path)
    assert committed(order) == (False, 1, [1], reserved_before + 1)
    # Acknowledged, and nothing left to deliver: no third run can come.
    eventually(
        lambda: (broker.unacked(), broker.waiting()) == (0, 0),
        "worker #2 acknowledging the task",
        tmp_path,
    )
    assert workers.deliveries() == [
        ["first", task_name, task_id, False],
        ["second", task_name, task_id, True],
    ]
    # The killed run sent nothing (it never committed); the redelivery sent each export
    # once. Whether the demo ships from a shop or exports depends on the hour.
    exports = order.fulfillments.filter(export_status=ExportStatus.PENDING)
    assert broker.sent(EXPORT_TASK) == [[pk] for pk in exports.values_list("pk", flat=True)]

    # One more delivery of the same task changes nothing either.
    monkeypatch.setattr(app.conf, "task_always_eager", True)
    order_orchestrate_task.apply(args=[order.pk])
    assert committed(order) == (False, 1, [1], reserved_before + 1)
