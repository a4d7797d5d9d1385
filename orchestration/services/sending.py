"""Sending Celery tasks, so that a broker outage never fails a write that was committed.

Every write that asks a worker for something flags that work in its own
transaction first: ``Order.needs_orchestration`` with ``orchestration_requested_at``,
an export or a webhook event ``Pending`` with its next attempt due, a backtest
``pending`` with ``requested_at``. The message sent after commit is only the fast
way to the worker: the sweep (``services/sweep.py``) sends again whatever is still
flagged and due. So when the broker cannot be reached, a send logs a warning naming
the task and the objects, and gives up; the request that committed the write still
answers success, and the sweep catches up once the broker is back
(``docs/lifecycle.md`` gives the times).

Giving up must also be quick: the broker settings in ``settings.py`` (connection
and socket timeouts, one publish retry) bound how long a send may block a request.
After the first refused send, a batch stops: with the broker down, each further
send would only wait as long again.

In eager mode (no broker: the tasks run inline) nothing is caught: an error there
is the task's own.
"""

import logging
from collections.abc import Sequence

from amqp.exceptions import MessageNacked
from celery import Task
from django.db import transaction
from kombu.exceptions import OperationalError

logger = logging.getLogger(__name__)


def broker_errors(task: Task) -> tuple[type[BaseException], ...]:
    """What sending ``task`` raises when its broker cannot be reached or does not take
    the message: kombu's ``OperationalError`` (which wraps the transport's connection
    errors once kombu has retried), the transport's own connection errors, socket
    errors and timeouts (``OSError``); and the broker's refusals: its channel errors
    (RabbitMQ closing the channel on a publish, Redis answering an error such as being
    out of memory) and a publisher confirm's nack (RabbitMQ, ``MessageNacked``). A
    refused message is not stored, just as one never sent: the sweep sends it again."""
    connection = task.app.connection_for_write()  # no I/O: only names the transport
    return (
        OperationalError,
        OSError,
        MessageNacked,
        *connection.connection_errors,
        *connection.channel_errors,
    )


def task_send(*, task: Task, ids: Sequence[int], noun: str) -> int:
    """Send ``task(id)`` for each of ``ids`` now; return how many were sent.

    When the broker cannot be reached: a warning naming the task and the objects not
    sent (``noun`` and IDs: "order 12"), and the rest of the batch is left to the sweep.
    """
    sent = 0
    for object_id in ids:
        if task.app.conf.task_always_eager:
            task.delay(object_id)
        else:
            try:
                task.delay(object_id)
            except broker_errors(task) as error:
                unsent = ", ".join(str(i) for i in ids[sent:])
                plural = "s" if len(ids) - sent > 1 else ""
                logger.warning(
                    "Broker unreachable: %s not sent for %s%s %s (%s: %s); "
                    "the sweep sends it again.",
                    task.name,
                    noun,
                    plural,
                    unsent,
                    type(error).__name__,
                    error,
                )
                return sent
        sent += 1
    return sent


def task_send_on_commit(*, task: Task, ids: Sequence[int], noun: str) -> None:
    """``task_send`` once the current transaction commits (never for a rollback)."""
    ids = list(ids)
    transaction.on_commit(lambda: task_send(task=task, ids=ids, noun=noun))
