"""``manage.py bench broker``: what sending one task costs the producer on the configured
broker, with publisher confirms (``confirm_publish``, the default) and without.

A web request that writes an order sends its task after commit (``services/sending.py``),
so this is part of each order's cost to the API. The sends go to a queue of the benchmark's
own, deleted afterwards; nothing consumes them. The two settings are measured alternately,
round after round, since the speed of a shared machine moves; each round sends ``sends``
tasks on one warm connection. On Redis the option is ignored: both rows measure the same.
"""

import statistics
import time
import uuid
from collections.abc import Callable

from kombu import Exchange, Queue

from ..celery import app
from ..tasks import order_orchestrate_task

SENDS = 500  # a round: enough for the per-send time to settle
ROUNDS = 5


def _producers_renew() -> None:
    """Drop the app's connections, so the next send connects with the options now set."""
    app._pool = None  # type: ignore[attr-defined]
    app.amqp._producer_pool = None  # type: ignore[attr-defined]


def _round(queue: Queue, sends: int, confirm: bool) -> float:
    """Milliseconds per send of ``sends`` tasks, with confirms on or off."""
    options = app.conf.broker_transport_options
    app.conf.broker_transport_options = {**options, "confirm_publish": confirm}
    _producers_renew()
    try:
        order_orchestrate_task.apply_async(args=(0,), queue=queue)  # connect, declare
        start = time.perf_counter()
        for number in range(sends):
            order_orchestrate_task.apply_async(args=(number,), queue=queue)
        return (time.perf_counter() - start) / sends * 1000
    finally:
        app.conf.broker_transport_options = options
        _producers_renew()


def run(sends: int, rounds: int, write: Callable[[str], object]) -> None:
    """Print ms per send, confirms off and on, alternately for ``rounds`` rounds."""
    if app.conf.task_always_eager:
        raise RuntimeError("bench broker needs a broker: set CELERY_BROKER_URL")
    name = f"bench-broker-{uuid.uuid4().hex}"
    queue = Queue(name, Exchange(name), routing_key=name)
    times: dict[bool, list[float]] = {False: [], True: []}
    try:
        for _ in range(rounds):
            for confirm in (False, True):
                times[confirm].append(_round(queue, sends, confirm))
    finally:
        with app.connection_for_write() as connection, connection.channel() as channel:
            # Declared first: kombu's Redis transport deletes only the bindings this
            # connection knows of; on RabbitMQ it changes nothing.
            queue(channel).declare()
            queue(channel).delete()
            queue.exchange(channel).delete()
    write(f"{app.conf.broker_url.split('://')[0]}: {rounds} rounds of {sends} sends, alternated")
    for confirm, label in ((False, "without confirms"), (True, "with confirms")):
        each = ", ".join(f"{ms:.2f}" for ms in times[confirm])
        median = statistics.median(times[confirm])
        write(f"{median:6.2f} ms a send {label} (median; rounds: {each})")
