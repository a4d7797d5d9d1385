"""A broker outage never fails a write that was committed.

With the broker unreachable (a URL on a closed port, or a listener that never
answers: Redis's or RabbitMQ's, as the configured broker is; both in the first two
tests), every write that sends a task after commit (an order by the API, the admin or
a return; an export retried by hand; a webhook event; a backtest; the worker's own
export after a run) still answers its success status, everything it wrote is there, a
warning names the task and the object, and the sweep sends the task again once the
broker is back. Tasks then run inline (eager mode, as with no
broker), so each test also sees the work get done.

The database commits for real here (transactional tests): the task is sent by the
commit inside the request, as in production, where the send used to raise after the
commit and turn the answer into a 500.
"""

import contextlib
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from kombu import Connection, Exchange, Queue
from rest_framework.test import APIClient

from orchestration.celery import app as celery_app
from orchestration.models import (
    Backtest,
    BacktestStatus,
    ExportStatus,
    Order,
    OrderEvent,
    OrderFulfillment,
    OrderStatus,
    Product,
    Sheet,
    WebhookStatus,
)
from orchestration.services.backtests import backtest_run_pending
from orchestration.services.fulfillments.steps import (
    fulfillment_pack,
    fulfillment_pick,
    fulfillment_ship,
    fulfillment_start,
)
from orchestration.services.settings import setting_set
from orchestration.services.sweep import LOST_AFTER, sweep
from orchestration.tasks import order_orchestrate_task

from .conftest import Receiver, unit

pytestmark = [pytest.mark.real_worker, pytest.mark.django_db(transaction=True)]

# A broker URL of each kind, on a port (formatted in) where nothing answers.
REDIS_AT = "redis://127.0.0.1:{port}/0"
RABBITMQ_AT = "amqp://guest:guest@127.0.0.1:{port}//"
# The configured broker's kind (Redis with none: the memory:// of `make test`).
CONFIGURED_AT = RABBITMQ_AT if settings.CELERY_BROKER_URL.startswith("amqp") else REDIS_AT
CLOSED_PORT = CONFIGURED_AT.format(port=1)
SENDING = "orchestration.services.sending"
PICKUP_POINT = {  # shops do not ship to pickup points: the warehouse exports it
    "shipping_city": "Rotterdam",
    "shipping_latitude": 51.9225,
    "shipping_longitude": 4.4792,
    "shipping_is_pickup_point": True,
}
ORDER = {
    "backend_id": "WEB-7001",
    "sold_from_organization_unit": "webshop_nl",
    "customer_email": "sanne.devries@example.com",
    "shipping_address": {
        "street": "Herengracht 182",
        "zip_code": "1016 BR",
        "city": "Amsterdam",
        "country_id": "NL",
        "latitude": 52.3752,
        "longitude": 4.8872,
    },
    "lines": [{"product": "SNK-CANVAS-WHT", "quantity": 1}],
}


class Broker:
    """The Celery app's broker: switched to an unreachable one (tasks are then sent,
    not run inline) and back (tasks run inline again), each time with a fresh
    connection pool so the next send connects to the URL now set."""

    def __init__(self) -> None:
        self.environment = os.environ.get("CELERY_BROKER_URL")
        self.url = celery_app.conf["broker_url"]
        self.eager = celery_app.conf.task_always_eager

    def down(self, url: str = CLOSED_PORT) -> None:
        # The environment variable wins over the setting (as .ci/run sets it).
        os.environ["CELERY_BROKER_URL"] = url
        celery_app.conf["broker_url"] = url
        celery_app.conf.task_always_eager = False
        self._fresh_pool()

    def up(self) -> None:
        if self.environment is None:
            os.environ.pop("CELERY_BROKER_URL", None)
        else:
            os.environ["CELERY_BROKER_URL"] = self.environment
        celery_app.conf["broker_url"] = self.url
        celery_app.conf.task_always_eager = True
        self._fresh_pool()

    def _fresh_pool(self) -> None:
        celery_app._pool = None
        celery_app.amqp._producer_pool = None


@pytest.fixture
def broker() -> Iterator[Broker]:
    switch = Broker()
    yield switch
    switch.up()
    celery_app.conf.task_always_eager = switch.eager


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == SENDING]


def assert_warned(caplog: pytest.LogCaptureFixture, task: str, subject: str) -> None:
    """Exactly one warning, naming the task and the object it was for."""
    (message,) = warnings(caplog)
    assert message.startswith(f"Broker unreachable: {task} not sent for {subject} (")
    assert message.endswith("); the sweep sends it again.")


def later() -> Any:
    """When the sweep first resends what was asked for now."""
    return timezone.now() + LOST_AFTER


@pytest.fixture
def api(staff: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(staff)
    return client


@pytest.fixture
def suite(staff: User) -> Client:
    client = Client()
    client.force_login(staff)
    return client


@pytest.mark.parametrize("at", [REDIS_AT, RABBITMQ_AT], ids=["redis", "rabbitmq"])
def test_an_order_posted_while_the_broker_is_down_is_created_and_orchestrated_later(
    at: str,
    demo: None,
    clock: Any,
    broker: Broker,
    api: APIClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker.down(at.format(port=1))
    with caplog.at_level(logging.WARNING, logger=SENDING):
        response = api.post("/api/orders/", ORDER, format="json")

    assert response.status_code == 201, response.content
    order = Order.objects.get(backend_id="WEB-7001")
    assert response.json()["id"] == order.pk
    assert [(line.product.backend_id, line.quantity) for line in order.lines.all()] == [
        ("SNK-CANVAS-WHT", 1)
    ]
    assert list(order.events.values_list("kind", flat=True)) == ["order.created"]
    assert (order.status, order.needs_orchestration) == (OrderStatus.NEW, True)
    assert_warned(
        caplog, "orchestration.tasks.orders_drain_task", f"order {order.pk}: drain slot 1"
    )

    # Before LOST_AFTER the sweep leaves it alone: its message may still be on its way.
    broker.up()
    assert sweep(now=later() - timedelta(seconds=1))["resent"] == 0
    assert sweep(now=later())["resent"] == 1
    order.refresh_from_db()
    assert (order.status, order.needs_orchestration) == (OrderStatus.ROUTED, False)
    assert order.fulfillments.count() == 1


@pytest.mark.parametrize("at", [REDIS_AT, RABBITMQ_AT], ids=["redis", "rabbitmq"])
def test_an_order_posted_while_the_broker_hangs_is_answered_without_waiting_on_it(
    at: str,
    demo: None,
    clock: Any,
    broker: Broker,
    api: APIClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A broker that takes the connection and never answers: without socket timeouts
    the send, and the request, would wait for minutes (the test's timeout)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)  # connections queue in the backlog; nothing ever answers
        broker.down(at.format(port=listener.getsockname()[1]))
        with caplog.at_level(logging.WARNING, logger=SENDING):
            response = api.post("/api/orders/", ORDER, format="json")
    assert response.status_code == 201, response.content
    order = Order.objects.get(backend_id="WEB-7001")
    assert order.needs_orchestration
    assert_warned(
        caplog, "orchestration.tasks.orders_drain_task", f"order {order.pk}: drain slot 1"
    )


class Relay:
    """A TCP relay in front of the configured broker that can stop passing anything on,
    either way: a broker that took the connection and answered, then hangs (RabbitMQ
    blocks publishers under a memory alarm; a Redis stuck on a slow disk)."""

    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        self.passing = threading.Event()
        self.passing.set()
        self.sockets: list[socket.socket] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):  # the listener closed
            while True:
                client, _ = self.listener.accept()
                broker = socket.create_connection(self.upstream)
                self.sockets += [client, broker]
                for source, target in ((client, broker), (broker, client)):
                    threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                self.passing.wait()  # held while the broker "hangs"
                target.sendall(data)

    def close(self) -> None:
        self.passing.set()
        for each in [self.listener, *self.sockets]:
            with contextlib.suppress(OSError):
                each.shutdown(socket.SHUT_RDWR)
            each.close()


@pytest.mark.skipif(
    not settings.CELERY_BROKER_URL.startswith(("redis://", "amqp://")),
    reason="needs a real broker: CELERY_BROKER_URL=redis://... or amqp://... (.ci/run)",
)
def test_an_order_posted_when_the_connected_broker_stops_answering_is_answered_without_it(
    demo: None, clock: Any, broker: Broker, api: APIClient, caplog: pytest.LogCaptureFixture
) -> None:
    """The web's send goes over a connection already open (the pool's): without read
    and write timeouts (and, on RabbitMQ, with the publisher confirm awaited for ever)
    the send, and the request, would wait for the test's timeout."""
    real = Connection(broker.url)
    relay = Relay(real.hostname or "127.0.0.1", real.port or real.default_port or 0)
    through_relay = real.clone(hostname="127.0.0.1", port=relay.port).as_uri(include_password=True)
    name = f"outage-{uuid.uuid4().hex}"
    queue = Queue(name, Exchange(name), routing_key=name)
    try:
        broker.down(through_relay)
        # A first send opens the pool's connection through the relay, and goes out.
        order_orchestrate_task.apply_async(args=(0,), queue=queue)
        relay.passing.clear()
        with caplog.at_level(logging.WARNING, logger=SENDING):
            response = api.post("/api/orders/", ORDER, format="json")
    finally:
        relay.close()
        with real, real.channel() as channel:
            # Declared first: kombu's Redis transport deletes only the bindings this
            # connection knows of; on RabbitMQ it changes nothing.
            queue(channel).declare()
            queue(channel).delete()
            queue.exchange(channel).delete()
    assert response.status_code == 201, response.content
    order = Order.objects.get(backend_id="WEB-7001")
    assert order.needs_orchestration
    assert_warned(
        caplog, "orchestration.tasks.orders_drain_task", f"order {order.pk}: drain slot 1"
    )


def test_an_order_added_in_admin_while_the_broker_is_down_is_saved_and_orchestrated_later(
    demo: None, clock: Any, broker: Broker, suite: Client, caplog: pytest.LogCaptureFixture
) -> None:
    broker.down()
    form = {
        "backend_id": "ADMIN-1",
        "intent": "Sales",
        "status": "New",
        "sold_from_organization_unit": unit("webshop_nl").pk,
        "currency_id": "EUR",
        "allow_partial_fulfillment": "unknown",
        "placed_at_0": "2026-11-23",
        "placed_at_1": "10:00:00",
        "shipping_city": "Amsterdam",
        "shipping_country_id": "NL",
        "shipping_latitude": "52.3752",
        "shipping_longitude": "4.8872",
        "custom_fields": "{}",
        "lines-TOTAL_FORMS": "1",
        "lines-INITIAL_FORMS": "0",
        "lines-0-product": Product.objects.get(backend_id="SNK-CANVAS-WHT").pk,
        "lines-0-quantity": "1",
        "lines-0-unit_price": "0",
        "lines-0-unit_price_in_tax": "0",
        "lines-0-discount_amount": "0",
        "lines-0-status": "Open",
        "fulfillments-TOTAL_FORMS": "0",
        "fulfillments-INITIAL_FORMS": "0",
    }
    with caplog.at_level(logging.WARNING, logger=SENDING):
        response = suite.post("/admin/orchestration/order/add/", form)

    assert response.status_code == 302, response.content.decode()[:3000]
    order = Order.objects.get(backend_id="ADMIN-1")
    assert [(line.product.backend_id, line.quantity) for line in order.lines.all()] == [
        ("SNK-CANVAS-WHT", 1)
    ]
    assert order.needs_orchestration
    assert_warned(caplog, "orchestration.tasks.order_orchestrate_task", f"order {order.pk}")
    broker.up()
    assert sweep(now=later())["resent"] == 1
    order.refresh_from_db()
    assert (order.status, order.fulfillments.count()) == (OrderStatus.ROUTED, 1)


@pytest.fixture
def shipped(place: Callable[..., Order], staff: User) -> Order:
    """A sales order of 2 sneakers, shipped by the Kalverstraat shop (broker up)."""
    order = place("SNK-CANVAS-WHT", quantity=2)
    task = order.fulfillments.get()
    fulfillment_start(fulfillment_id=task.pk, user=staff)
    fulfillment_pick(fulfillment_id=task.pk, user=staff)
    fulfillment_pack(fulfillment_id=task.pk, user=staff)
    fulfillment_ship(fulfillment_id=task.pk, user=staff, carrier="PostNL", tracking_number="3S1")
    order.refresh_from_db()
    assert order.status == OrderStatus.COMPLETED
    return order


def test_a_return_posted_while_the_broker_is_down_is_created_and_routed_later(
    shipped: Order, broker: Broker, api: APIClient, caplog: pytest.LogCaptureFixture
) -> None:
    line = shipped.lines.get()
    broker.down()
    with caplog.at_level(logging.WARNING, logger=SENDING):
        response = api.post(
            f"/api/orders/{shipped.pk}/returns/",
            {"lines": [{"order_line": line.pk, "quantity": 1, "reason": "TooSmall"}]},
            format="json",
        )

    assert response.status_code == 201, response.content
    returned = Order.objects.get(original_order=shipped)
    assert response.json()["id"] == returned.pk
    assert [(r.original_line_id, r.quantity) for r in returned.lines.all()] == [(line.pk, 1)]
    assert (returned.needs_orchestration, returned.fulfillments.count()) == (True, 0)
    assert_warned(
        caplog, "orchestration.tasks.orders_drain_task", f"order {returned.pk}: drain slot 1"
    )
    broker.up()
    assert sweep(now=later())["resent"] == 1
    returned.refresh_from_db()
    assert (returned.needs_orchestration, returned.fulfillments.count()) == (False, 1)


def test_a_return_made_in_the_suite_while_the_broker_is_down_is_created(
    shipped: Order, broker: Broker, suite: Client, caplog: pytest.LogCaptureFixture
) -> None:
    line = shipped.lines.get()
    broker.down()
    with caplog.at_level(logging.WARNING, logger=SENDING):
        response = suite.post(
            f"/orders/{shipped.pk}/return/",
            {f"quantity-{line.pk}": "1", f"reason-{line.pk}": "TooSmall"},
        )
    returned = Order.objects.get(original_order=shipped)
    assert (response.status_code, response["Location"]) == (302, f"/orders/{returned.pk}/")
    assert returned.needs_orchestration
    assert_warned(
        caplog, "orchestration.tasks.orders_drain_task", f"order {returned.pk}: drain slot 1"
    )


def test_an_export_made_by_a_worker_while_the_broker_is_down_is_sent_by_the_sweep(
    place: Callable[..., Order],
    broker: Broker,
    receiver: Receiver,
    settings: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The worker routes an order (its message got through before the outage) and
    cannot send the export task after its commit: the sweep sends it."""
    settings.ORCHESTRATION_EXPORTERS = {
        "ARVATO": {
            "class": "orchestration.integrations.exporters.WebhookExporter",
            "url": receiver.url,
        }
    }
    broker.down()
    with caplog.at_level(logging.WARNING, logger=SENDING):
        order = place("JKT-RAIN-OLV", **PICKUP_POINT)  # the order's own send fails too
        caplog.clear()
        order_orchestrate_task(order.pk)  # what the worker runs

    export = OrderFulfillment.objects.get(order=order)
    assert (export.export_status, export.export_attempts) == (ExportStatus.PENDING, 0)
    assert_warned(caplog, "orchestration.tasks.fulfillment_export_task", f"fulfillment {export.pk}")
    broker.up()
    assert sweep(now=timezone.now())["exports"] == 1
    export.refresh_from_db()
    assert export.export_status == ExportStatus.EXPORTED
    assert len(receiver.received) == 1


def test_a_folder_export_made_by_a_worker_while_the_broker_is_down_is_written_at_once(
    place: Callable[..., Order],
    broker: Broker,
    tmp_path: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A folder exporter sends inline (``Exporter.inline``): the worker that routed the
    order writes the export itself, needing no broker for it."""
    broker.down()
    with caplog.at_level(logging.WARNING, logger=SENDING):
        order = place("JKT-RAIN-OLV", **PICKUP_POINT)  # the order's own send fails
        caplog.clear()
        order_orchestrate_task(order.pk)  # what the worker runs

    export = OrderFulfillment.objects.get(order=order)
    assert (export.export_status, export.export_attempts) == (ExportStatus.EXPORTED, 1)
    assert (tmp_path / "ARVATO" / f"fulfillment-{export.pk}.json").exists()
    assert warnings(caplog) == []
    assert sweep(now=timezone.now())["exports"] == 0


def test_an_export_retried_while_the_broker_is_down_is_queued_and_sent_by_the_sweep(
    place: Callable[..., Order],
    broker: Broker,
    receiver: Receiver,
    settings: Any,
    api: APIClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings.ORCHESTRATION_EXPORTERS = {
        "ARVATO": {
            "class": "orchestration.integrations.exporters.WebhookExporter",
            "url": receiver.url,
        }
    }
    setting_set(name="Export:MaxAttempts", value=1)
    receiver.answers = [503]
    export = place("JKT-RAIN-OLV", **PICKUP_POINT).fulfillments.get()
    export.refresh_from_db()
    assert export.export_status == ExportStatus.FAILED

    broker.down()
    with caplog.at_level(logging.WARNING, logger=SENDING):
        response = api.post(f"/api/fulfillments/{export.pk}/retry-export/")

    assert response.status_code == 200, response.content
    assert response.json()["export_status"] == ExportStatus.PENDING
    export.refresh_from_db()
    assert (export.export_status, export.export_attempts) == (ExportStatus.PENDING, 0)
    assert export.events.filter(kind="export.retry").count() == 1
    assert_warned(caplog, "orchestration.tasks.fulfillment_export_task", f"fulfillment {export.pk}")
    broker.up()
    assert sweep(now=timezone.now())["exports"] == 1
    export.refresh_from_db()
    assert export.export_status == ExportStatus.EXPORTED


def test_a_webhook_event_recorded_while_the_broker_is_down_is_delivered_by_the_sweep(
    place: Callable[..., Order],
    broker: Broker,
    receiver: Receiver,
    settings: Any,
    api: APIClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings.ORCHESTRATION_WEBHOOK_URL = receiver.url + "/events"
    order = place("SNK-CANVAS-WHT")
    line = order.lines.get()
    broker.down()
    with caplog.at_level(logging.WARNING, logger=SENDING):
        response = api.post(
            f"/api/orders/{order.pk}/lines/{line.pk}/cancel/", {"quantity": 1}, format="json"
        )

    assert response.status_code == 200, response.content
    assert response.json()["status"] == OrderStatus.CANCELLED
    events = OrderEvent.objects.filter(order=order, kind__in=["lines.cancelled", "order.cancelled"])
    assert [(e.kind, e.webhook_status) for e in events.order_by("pk")] == [
        ("lines.cancelled", WebhookStatus.PENDING),
        ("order.cancelled", WebhookStatus.PENDING),
    ]
    assert [message[: message.index(" (")] for message in warnings(caplog)] == [
        f"Broker unreachable: orchestration.tasks.webhook_deliver_task not sent for "
        f"order event {event.pk}"
        for event in events.order_by("pk")
    ]
    assert receiver.bodies("/events") == []
    broker.up()
    assert sweep(now=timezone.now())["webhooks"] == 2
    assert set(events.values_list("webhook_status", flat=True)) == {WebhookStatus.SENT}
    assert [body["kind"] for body in receiver.bodies("/events")] == [
        "lines.cancelled",
        "order.cancelled",
    ]


def test_a_backtest_started_while_the_broker_is_down_is_kept_and_run_by_the_sweep(
    demo: None, clock: Any, broker: Broker, suite: Client, caplog: pytest.LogCaptureFixture
) -> None:
    sheet = Sheet.objects.get(fulfillment="ShipFromStore")
    broker.down()
    with caplog.at_level(logging.WARNING, logger=SENDING):
        response = suite.post(
            "/preview/backtests/",
            {"draft-0-sheet": str(sheet.pk), "draft-0-source": sheet.source, "order_count": "3"},
        )

    backtest = Backtest.objects.get()
    assert (response.status_code, response["Location"]) == (
        302,
        f"/preview/backtests/{backtest.pk}/",
    )
    assert (backtest.status, backtest.order_count) == (BacktestStatus.PENDING, 3)
    assert backtest.drafts == [{"sheet": sheet.pk, "name": "", "source": sheet.source}]
    assert_warned(caplog, "orchestration.tasks.backtest_run_task", f"backtest {backtest.pk}")
    broker.up()
    assert sweep(now=later() - timedelta(seconds=1))["backtests"] == 0
    assert sweep(now=later())["backtests"] == 1
    backtest.refresh_from_db()
    assert (backtest.status, backtest.done) == (BacktestStatus.DONE, 3)
    # The first message arrives after all (it was only late): it finds the backtest
    # claimed, and leaves it and its result alone.
    finished = (backtest.finished_at, backtest.summary)
    assert backtest_run_pending(backtest_id=backtest.pk) is None
    backtest.refresh_from_db()
    assert (backtest.status, backtest.finished_at, backtest.summary) == (
        BacktestStatus.DONE,
        *finished,
    )


def test_bulk_orders_posted_while_the_broker_is_down_are_created_and_orchestrated_later(
    demo: None, broker: Broker, api: APIClient, caplog: pytest.LogCaptureFixture
) -> None:
    """A chunk's orders are flagged in their INSERT: the message after its commit is
    refused once (the rest of the request does not wait again), and the sweep sends."""
    orders = [{**ORDER, "backend_id": f"BULK-{n}"} for n in range(130)]  # two chunks
    broker.down()
    with caplog.at_level(logging.WARNING, logger="orchestration.services.order_imports"):
        response = api.post("/api/orders/bulk/", {"orders": orders}, format="json")

    assert response.status_code == 200, response.content
    assert (response.json()["created"], response.json()["refused"]) == (130, 0)
    ids = sorted(Order.objects.filter(backend_id__startswith="BULK-").values_list("pk", flat=True))
    assert len(ids) == 130
    assert Order.objects.filter(pk__in=ids, needs_orchestration=True).count() == 130
    messages = [r.getMessage() for r in caplog.records if r.name.endswith("order_imports")]
    assert [m.split(" (")[0] for m in messages] == [
        "Broker unreachable: orchestration.tasks.orders_orchestrate_task not sent for orders "
        f"{ids[0]}-{ids[99]}",
        "Broker unreachable: orchestration.tasks.orders_orchestrate_task not sent for orders "
        f"{ids[100]}-{ids[129]}",
    ]
    assert all(m.endswith("); the sweep sends them again.") for m in messages)

    broker.up()
    assert sweep(now=later())["resent"] == 130
    assert Order.objects.filter(pk__in=ids, needs_orchestration=True).count() == 0
    assert Order.objects.filter(pk__in=ids, orchestration_attempts=1).count() == 130


def test_the_sweep_stops_sending_at_the_first_refusal_and_leaves_the_rest_flagged(
    place: Callable[..., Order], broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    """With the broker still down, each further send would only wait as long again."""
    broker.down()
    first, second = place("SNK-CANVAS-WHT"), place("SCF-WOOL-RED")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=SENDING):
        assert sweep(now=later())["resent"] == 0
    (message,) = warnings(caplog)
    assert message.startswith(
        "Broker unreachable: orchestration.tasks.order_orchestrate_task not sent for "
        f"orders {first.pk}, {second.pk} ("
    )
    assert Order.objects.filter(needs_orchestration=True).count() == 2
    # Not sent, so due again at the next sweep, a minute later, when the broker is back.
    broker.up()
    assert sweep(now=later() + timedelta(minutes=1))["resent"] == 2
    assert Order.objects.filter(needs_orchestration=True).count() == 0


def test_a_plan_step_made_ready_while_the_broker_is_down_is_sent_by_the_sweep(
    place: Callable[..., Order], broker: Broker, staff: User, caplog: pytest.LogCaptureFixture
) -> None:
    from orchestration.models import PlanState, PlanStep, StepState, StepType
    from orchestration.services.plans import plan_step_done

    from .test_plans import auto, group

    group(
        {"key": "approve", "type": StepType.MANUAL},
        auto("invoice"),
        edges=(("invoice", "approve"),),
    )
    order = place("SNK-CANVAS-WHT")
    approve = PlanStep.objects.get(plan__order=order, definition__key="approve")

    broker.down()
    with caplog.at_level(logging.WARNING, logger=SENDING):
        plan_step_done(step_id=approve.pk, user=staff, note="checked")

    invoice = PlanStep.objects.get(plan__order=order, definition__key="invoice")
    assert invoice.state == StepState.READY  # done by the person, nothing lost
    assert_warned(caplog, "orchestration.tasks.plan_step_run_task", f"plan step {invoice.pk}")
    broker.up()
    assert sweep(now=timezone.now())["steps_resent"] == 0  # its message may be on the way
    assert sweep(now=later())["steps_resent"] == 1
    invoice.refresh_from_db()
    assert (invoice.state, invoice.attempts) == (StepState.COMPLETED, 1)
    assert invoice.plan.state == PlanState.COMPLETED
