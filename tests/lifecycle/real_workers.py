"""Real Celery worker processes (``killable_worker.py``) for the tests that kill one.

``test_worker_killed.py`` (an order's routing), ``test_plan_worker_killed.py`` (a plan's
step) and ``test_workers_on_many_hosts.py`` share these: the broker's side of a test (its
queue, the queue where the workers' own sends land, what is waiting or unacknowledged),
the workers it starts and kills with SIGKILL, and the order it places without routing it.

The workers are separate processes, so they need a database and a broker that the test
process shares with them: PostgreSQL, and Redis or RabbitMQ (``CELERY_BROKER_URL``, redis://
or amqp://). SQLite's test database and the memory:// broker exist in this process only;
``REAL_WORKERS`` skips a test elsewhere; a test it marks is also marked ``real_worker``
(``conftest.py``), so that ``.ci/run`` runs these tests over each broker
(``pytest -m real_worker``).

The two brokers keep a dead worker's message differently: Redis keeps it unacknowledged
until the visibility timeout is over (a worker then hands it out again), RabbitMQ puts it
back in its queue as soon as the dead worker's connection closes. ``Broker`` says which
one holds what, so that a test asserts the same story over either.

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
from amqp.exceptions import ChannelError
from django.conf import settings
from django.db import connection
from kombu import Connection, Exchange, Queue

from orchestration.models import Order, OrganizationUnit, Product
from orchestration.services.orders import order_create
from tests.lifecycle.killable_worker import transport_options

BROKER_URL: str = settings.CELERY_BROKER_URL
ROOT = Path(__file__).resolve().parents[2]

REDIS = BROKER_URL.startswith(("redis://", "rediss://"))
RABBITMQ = BROKER_URL.startswith(("amqp://", "amqps://", "pyamqp://"))
# Skips a test unless it can share its database and broker with worker processes. Every
# test it marks is also marked ``real_worker`` (``conftest.py``), for ``-m real_worker``.
REAL_WORKERS = pytest.mark.skipif(
    connection.vendor != "postgresql" or not (REDIS or RABBITMQ),
    reason="a worker process shares the database and broker only on PostgreSQL and "
    "Redis or RabbitMQ; .ci/run runs it with DATABASE_URL and CELERY_BROKER_URL set",
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
    """This test's queues on the broker, and what the broker holds of them."""

    tag: str

    @property
    def queue(self) -> str:
        """Where the test sends its task; only this test's workers consume it."""
        return f"killtest-{self.tag}"

    @property
    def side_queue(self) -> str:
        """Where the workers' own sends (exports, plan steps) go; nobody consumes it."""
        return f"killtest-{self.tag}-sent"

    def own_queue(self, label: str) -> str:
        """A queue of the test for one worker alone (its ``--extra-queue``)."""
        return f"killtest-{self.tag}-{label}"

    def route(self, queue: str | None = None) -> Queue:
        """The test's queue (or ``queue``), for ``apply_async(queue=...)``."""
        name = queue or self.queue
        return Queue(name, Exchange(name), routing_key=name)

    def waiting(self) -> int:
        """Messages in the test's queue that no worker holds."""
        raise NotImplementedError

    def held_for_redelivery(self) -> bool:
        """Whether the one message a killed worker took (and never acknowledged) is kept
        for another worker, and nothing else is left: Redis keeps it unacknowledged,
        RabbitMQ puts it back in the queue once the worker's connection is gone."""
        raise NotImplementedError

    def empty(self) -> bool:
        """Whether nothing is left to deliver, unacknowledged or waiting, once the
        test's workers have stopped: no further run can come."""
        raise NotImplementedError

    def sent(self, task: str) -> list[list[Any]]:
        """The arguments of each ``task`` message the workers sent to the side queue."""
        raise NotImplementedError

    def close(self) -> None:
        """Delete every key or queue of this test."""
        raise NotImplementedError


@dataclass
class RedisBroker(Broker):
    """The Redis keys of this test: its queues and its workers' unacknowledged messages."""

    client: redis.Redis

    def unacked(self) -> int:
        """Messages a worker took and did not acknowledge (yet): Redis will redeliver them."""
        return self.client.hlen(transport_options(self.queue)["unacked_key"])

    def waiting(self) -> int:
        return self.client.llen(self.queue)

    def held_for_redelivery(self) -> bool:
        return (self.unacked(), self.waiting()) == (1, 0)

    def empty(self) -> bool:
        # A stopped worker's unacknowledged messages go back to the queue (warm
        # shutdown) or stay in the unacked hash (killed): either is counted.
        return (self.unacked(), self.waiting()) == (0, 0)

    def sent(self, task: str) -> list[list[Any]]:
        found = []
        for raw in self.client.lrange(self.side_queue, 0, -1):
            message = json.loads(raw)
            if message["headers"]["task"] == task:
                args, _, _ = json.loads(base64.b64decode(message["body"]))
                found.append(args)
        return found

    def close(self) -> None:
        # Queues, bindings and unacked bookkeeping: every key of this test carries its tag.
        for key in self.client.scan_iter(match=f"*{self.tag}*"):
            self.client.delete(key)
        self.client.close()


@dataclass
class RabbitBroker(Broker):
    """This test's queues on RabbitMQ (durable, as the workers declare them).

    RabbitMQ tells a queue's waiting messages and consumers, not its unacknowledged
    ones; but those go back to the queue when their consumer's connection closes, so
    once no worker is connected, the waiting messages are all there is.
    """

    connection: Connection
    # The side queue's messages taken so far (``sent`` takes them off the queue).
    taken: list[tuple[str, list[Any]]]
    # The workers' own queues handed out, deleted with the others.
    own_queues: list[str]

    def own_queue(self, label: str) -> str:
        name = super().own_queue(label)
        self.own_queues.append(name)
        return name

    def declare(self) -> None:
        """Both queues, before any worker: the side queue exists even if nothing is sent."""
        with self.connection.channel() as channel:
            for name in (self.queue, self.side_queue):
                Queue(name, Exchange(name), routing_key=name, durable=True)(channel).declare()

    def counts(self) -> tuple[int, int]:
        """The test queue's waiting messages and consumers (connected workers)."""
        with self.connection.channel() as channel:
            _, messages, consumers = channel.queue_declare(self.queue, passive=True)
        return messages, consumers

    def waiting(self) -> int:
        return self.counts()[0]

    def held_for_redelivery(self) -> bool:
        return self.counts() == (1, 0)

    def empty(self) -> bool:
        return self.counts() == (0, 0)

    def sent(self, task: str) -> list[list[Any]]:
        with self.connection.channel() as channel:
            side = Queue(self.side_queue, Exchange(self.side_queue), routing_key=self.side_queue)
            while (message := side(channel).get(no_ack=True)) is not None:
                args, _, _ = message.decode()
                self.taken.append((message.headers["task"], args))
        return [args for name, args in self.taken if name == task]

    def close(self) -> None:
        for name in (self.queue, self.side_queue, *self.own_queues):
            with contextlib.suppress(ChannelError), self.connection.channel() as channel:
                channel.queue_delete(name)
            with contextlib.suppress(ChannelError), self.connection.channel() as channel:
                channel.exchange_delete(name)
        self.connection.release()


@pytest.fixture(name="broker")
def broker_fixture() -> Iterator[Broker]:
    tag = uuid.uuid4().hex
    broker: Broker
    if RABBITMQ:
        rabbit = RabbitBroker(tag=tag, connection=Connection(BROKER_URL), taken=[], own_queues=[])
        rabbit.declare()
        broker = rabbit
    else:
        broker = RedisBroker(tag=tag, client=redis.Redis.from_url(BROKER_URL))
    yield broker
    broker.close()


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

    def start(
        self, label: str, *options: str, settings_module: str = "orchestration.settings"
    ) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": settings_module,
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


def stop(worker: subprocess.Popen[bytes]) -> int:
    """SIGTERM, Celery's warm shutdown: the worker finishes and acknowledges what it runs,
    hands back what it holds, and exits; its exit code."""
    worker.terminate()
    return worker.wait(30)


def kill(worker: subprocess.Popen[bytes]) -> int:
    """SIGKILL the worker and its pool's child at once, as when its machine dies; its exit code."""
    with contextlib.suppress(ProcessLookupError):  # already gone
        os.killpg(worker.pid, signal.SIGKILL)
    return worker.wait(10)


def order_placed_without_routing(
    *,
    backend_id: str = "WEB-8001",
    product: str = "SNK-CANVAS-WHT",
    **fields: Any,
) -> Order:
    """Place an order as the API does (committed, flagged for routing), sending nothing:
    the test sends its task itself, to its own workers. One unit of ``product`` to
    Amsterdam; ``fields`` overrides the order's other fields."""
    return order_create(
        lines=[{"product": Product.objects.get(backend_id=product), "quantity": 1}],
        send_task=False,
        **{
            "backend_id": backend_id,
            "sold_from_organization_unit": OrganizationUnit.objects.get(backend_id="webshop_nl"),
            "customer_email": "sanne.devries@example.com",
            "shipping_street": "Herengracht 182",
            "shipping_zip_code": "1016 BR",
            "shipping_city": "Amsterdam",
            "shipping_country_id": "NL",
            "shipping_latitude": 52.3752,
            "shipping_longitude": 4.8872,
            **fields,
        },
    )
