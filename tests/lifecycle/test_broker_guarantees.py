"""What the broker promises about a task once it is sent: its queue survives a broker
restart (durable), the message is written to disk (persistent), and a send returns only
once the broker has taken the message (publisher confirms, RabbitMQ); a refused message
raises one of ``broker_errors``, so the write that sent it still answers success and
the sweep sends it again (``services/sending.py``).

The settings are checked everywhere; on RabbitMQ (``CELERY_BROKER_URL=amqp://...``, as
``.ci/run`` sets it) the broker's own answers are checked too.
"""

import socket
import uuid
from collections.abc import Iterator

import amqp.exceptions
import pytest
from django.conf import settings
from kombu import Connection, Exchange, Queue
from kombu.exceptions import OperationalError

from orchestration.celery import app
from orchestration.services.sending import broker_errors
from orchestration.tasks import order_orchestrate_task

RABBITMQ = settings.CELERY_BROKER_URL.startswith(("amqp://", "amqps://", "pyamqp://"))
ON_RABBITMQ = pytest.mark.skipif(
    not RABBITMQ,
    reason="needs RabbitMQ: CELERY_BROKER_URL=amqp://... (.ci/run runs it over RabbitMQ)",
)


def test_the_default_queue_is_durable_and_messages_persistent_and_confirmed() -> None:
    name = settings.CELERY_TASK_DEFAULT_QUEUE  # "celery" unless the environment names one
    queue = app.amqp.queues[app.conf.task_default_queue]
    assert (queue.name, queue.durable, queue.auto_delete) == (name, True, False)
    assert (queue.exchange.name, queue.exchange.durable) == (name, True)
    assert app.conf.task_default_delivery_mode == "persistent"
    assert app.conf.broker_transport_options["confirm_publish"] is True
    assert (app.conf.task_acks_late, app.conf.task_reject_on_worker_lost) == (True, True)


def test_a_queue_made_for_a_name_is_durable_too() -> None:
    """As a worker started with ``--queues=NAME`` or a send to a queue by name makes it."""
    queue = app.amqp.queues.new_missing("orders-elsewhere")
    assert (queue.durable, queue.auto_delete, queue.exchange.durable) == (True, False, True)


def test_a_rabbitmq_send_that_is_refused_or_cannot_connect_is_a_broker_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What ``task_send`` catches on RabbitMQ: a nack, a closed channel, a lost connection,
    a socket timeout; and kombu's error once its retries are spent."""
    url = "amqp://guest:guest@127.0.0.1:1//"
    monkeypatch.setenv("CELERY_BROKER_URL", url)  # the environment wins over the setting
    monkeypatch.setitem(app.conf, "broker_url", url)
    caught = broker_errors(order_orchestrate_task)
    for error in (
        amqp.exceptions.MessageNacked,
        amqp.exceptions.ChannelError,
        amqp.exceptions.ConnectionError,
        TimeoutError,
        OperationalError,
    ):
        assert issubclass(error, caught), error


@pytest.fixture
def rabbitmq() -> Iterator[Connection]:
    with Connection(settings.CELERY_BROKER_URL) as connection:
        yield connection


def sent_to(queue: str | Queue, monkeypatch: pytest.MonkeyPatch) -> None:
    """Send an orchestration task (for order 1) to ``queue`` through the broker."""
    monkeypatch.setattr(app.conf, "task_always_eager", False)  # the lifecycle tests run inline
    order_orchestrate_task.apply_async(args=(1,), queue=queue)


@pytest.mark.real_worker
@ON_RABBITMQ
def test_on_rabbitmq_a_sent_task_is_persistent_in_a_durable_queue(
    rabbitmq: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"durable-{uuid.uuid4().hex}"
    try:
        sent_to(name, monkeypatch)  # Celery makes the queue for the name, as for a worker
        with rabbitmq.channel() as channel:
            message = channel.basic_get(name, no_ack=True)
            assert message is not None
            assert message.properties["delivery_mode"] == 2  # persistent
            assert message.headers["task"] == order_orchestrate_task.name
        # RabbitMQ refuses to declare it again as transient: it holds it durable.
        with (
            pytest.raises(amqp.exceptions.PreconditionFailed) as refused,
            rabbitmq.channel() as channel,
        ):
            channel.queue_declare(name, durable=False)
        assert "inequivalent arg 'durable'" in str(refused.value)
    finally:
        with rabbitmq.channel() as channel:
            channel.queue_delete(name)
            channel.exchange_delete(name)


@pytest.mark.real_worker
@ON_RABBITMQ
def test_on_rabbitmq_a_message_the_broker_refuses_raises_rather_than_vanishing(
    rabbitmq: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A queue that takes no more (its length limit reached, overflow ``reject-publish``)
    nacks the message: with publisher confirms the send raises, one of ``broker_errors``;
    without them it would return as if sent, and the message would be gone."""
    name = f"full-{uuid.uuid4().hex}"
    full = Queue(
        name,
        Exchange(name),
        routing_key=name,
        queue_arguments={"x-max-length": 0, "x-overflow": "reject-publish"},
    )
    try:
        with rabbitmq.channel() as channel:
            full(channel).declare()
        with pytest.raises(broker_errors(order_orchestrate_task)) as refused:
            sent_to(full, monkeypatch)
        # kombu raises its own error from the broker's nack.
        assert type(refused.value) is OperationalError
        assert type(refused.value.__cause__) is amqp.exceptions.MessageNacked, (
            refused.value.__cause__
        )
        with rabbitmq.channel() as channel:
            assert channel.queue_declare(name, passive=True).message_count == 0
    finally:
        with rabbitmq.channel() as channel:
            channel.queue_delete(name)
            channel.exchange_delete(name)


@pytest.mark.real_worker
@ON_RABBITMQ
def test_on_rabbitmq_a_send_over_a_connection_the_broker_dropped_goes_out_on_a_new_one(
    rabbitmq: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A web process's pooled connection sits idle between orders (it sends no
    heartbeats), so the broker closes it: the next send's one retry
    (``CELERY_TASK_PUBLISH_MAX_RETRIES``) connects again, and the message arrives."""
    name = f"dropped-{uuid.uuid4().hex}"
    queue = Queue(name, Exchange(name), routing_key=name)
    try:
        sent_to(queue, monkeypatch)
        with app.producer_or_acquire() as producer:  # the pooled connection just used
            producer.connection.connection.transport.sock.shutdown(socket.SHUT_RDWR)
        sent_to(queue, monkeypatch)
        with rabbitmq.channel() as channel:
            assert channel.queue_declare(name, passive=True).message_count == 2
    finally:
        with rabbitmq.channel() as channel:
            channel.queue_delete(name)
            channel.exchange_delete(name)
