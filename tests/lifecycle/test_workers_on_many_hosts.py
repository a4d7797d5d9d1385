"""Workers on several machines coordinate only through PostgreSQL and the broker.

Two Celery workers run as separate processes, each started with a different settings
module (``tests/hosts/settings_host_a.py`` and ``..._b.py``: another host name, a cache of
its own in its process's memory, another temporary folder), pointing at the same database
and broker. They take orders from one shared queue, and each also from a queue of its own,
so that the test knows for sure that each worker routed an order (and so read and kept the
network snapshot) before the network changes.

The product is scarce at the warehouse every order prefers (Lelystad, three jackets): the
workers racing over the orders must reserve exactly those three there and send the rest to
Venlo, never more than is on hand. Then Lelystad is topped up (stock: read per order, no
new network token) and stops being a warehouse (an OU change: a new token). Each worker
still holds the snapshot of the old token, on which Lelystad, with stock again, would win;
each must route its next order on the new network, to Venlo.

Every order is routed exactly once (one run, one fulfilment, one delivery of its task,
never redelivered) whichever worker takes it. Runs over Redis and over RabbitMQ, on
PostgreSQL (``.ci/run``); skipped elsewhere, as the other real-worker tests.
"""

import io
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from django.db.models import F

from orchestration.celery import app
from orchestration.demo import demo_load
from orchestration.models import (
    OrchestrationDetails,
    Order,
    OrderFulfillment,
    OrganizationUnit,
    Stock,
)
from orchestration.selectors.network import network_token
from orchestration.tasks import order_orchestrate_task
from tests.lifecycle.real_workers import (
    REAL_WORKERS,
    Broker,
    Workers,
    broker_fixture,  # noqa: F401 (the fixture)
    eventually,
    order_placed_without_routing,
    workers_fixture,  # noqa: F401 (the fixture)
)

pytestmark = [REAL_WORKERS, pytest.mark.django_db(transaction=True)]

HOSTS = {"a": "tests.hosts.settings_host_a", "b": "tests.hosts.settings_host_b"}
PRODUCT = "JKT-RAIN-OLV"
LELYSTAD, VENLO = "lelystad_warehouse", "venlo_warehouse"
# A pickup point: no shop ships there, so the warehouses route it whatever the hour.
PICKUP_POINT = {
    "shipping_city": "Rotterdam",
    "shipping_latitude": 51.9225,
    "shipping_longitude": 4.4792,
    "shipping_is_pickup_point": True,
}


def available(unit: str) -> int:
    """The product's units available (on hand, not reserved) at ``unit``."""
    return Stock.objects.get(
        organization_unit__backend_id=unit, product__backend_id=PRODUCT
    ).quantity_available


def stock_set(unit: str, available: int) -> None:
    """Make ``available`` units of the product available at ``unit`` (as a stock import)."""
    Stock.objects.filter(organization_unit__backend_id=unit, product__backend_id=PRODUCT).update(
        quantity_on_hand=F("quantity_reserved") + available
    )


def routed(orders: list[Order]) -> bool:
    return not Order.objects.filter(
        pk__in=[o.pk for o in orders], needs_orchestration=True
    ).exists()


def fulfilled_at(orders: list[Order]) -> Counter[str]:
    """How many of ``orders``' fulfilments each OU got."""
    return Counter(
        OrderFulfillment.objects.filter(order__in=orders).values_list(
            "supplier_organization_unit__backend_id", flat=True
        )
    )


def runs(orders: list[Order]) -> list[list[int]]:
    """Each order's orchestration runs' attempt numbers."""
    return [
        list(OrchestrationDetails.objects.filter(order=o).values_list("attempt", flat=True))
        for o in orders
    ]


def test_workers_on_two_hosts_route_each_order_once_and_on_the_network_of_now(
    broker: Broker, workers: Workers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    demo_load(stdout=io.StringIO(), password="demo-pass-123")
    stock_set(LELYSTAD, 3)
    stock_set(VENLO, 10)
    own = {label: broker.own_queue(label) for label in HOSTS}
    for label, module in HOSTS.items():
        workers.start(
            label, "--pool=prefork", f"--extra-queue={own[label]}", settings_module=module
        )
    monkeypatch.setattr(app.conf, "task_always_eager", False)  # the lifecycle tests run inline
    placed = iter(range(8101, 8200))
    task_ids: dict[int, str] = {}  # order -> its task's ID

    def send(queues: list[str | None]) -> list[Order]:
        """An order for each queue (None: the shared one), its task sent there."""
        orders = []
        for queue in queues:
            order = order_placed_without_routing(
                backend_id=f"WEB-{next(placed)}", product=PRODUCT, **PICKUP_POINT
            )
            sent = order_orchestrate_task.apply_async(args=(order.pk,), queue=broker.route(queue))
            task_ids[order.pk] = sent.id
            orders.append(order)
        return orders

    def ran_by(order: Order) -> list[str]:
        """The workers that started the order's task (and whether as a redelivery)."""
        return [
            f"{label}{' (redelivered)' if again else ''}"
            for label, _, task_id, again in workers.deliveries()
            if task_id == task_ids[order.pk]
        ]

    # Five orders for three jackets at Lelystad: one to each worker, three to either.
    first = send([own["a"], own["b"], None, None, None])
    eventually(lambda: routed(first), "the workers routing the first orders", tmp_path)
    assert runs(first) == [[1]] * 5
    assert fulfilled_at(first) == {LELYSTAD: 3, VENLO: 2}
    assert (available(LELYSTAD), available(VENLO)) == (0, 8)
    assert [ran_by(order) for order in first[:2]] == [["a"], ["b"]]

    # Lelystad gets stock again and becomes a supplier, no longer a warehouse: a new
    # network token, which only the database tells the workers.
    stock_set(LELYSTAD, 10)
    token = network_token()
    lelystad = OrganizationUnit.objects.get(backend_id=LELYSTAD)
    lelystad.type = "Supplier"
    lelystad.save()
    assert network_token() != token

    # Each worker, holding the old snapshot (on which Lelystad would win), routes on the
    # new network.
    second = send([own["a"], own["b"], None, None])
    eventually(lambda: routed(second), "the workers routing the orders after the change", tmp_path)
    assert runs(second) == [[1]] * 4
    assert fulfilled_at(second) == {VENLO: 4}
    assert (available(LELYSTAD), available(VENLO)) == (10, 4)
    assert [ran_by(order) for order in second[:2]] == [["a"], ["b"]]

    # Each task delivered once, never again; each worker ran on its own settings.
    delivered: Any = Counter(task_id for _, _, task_id, _ in workers.deliveries())
    assert delivered == dict.fromkeys(task_ids.values(), 1)
    assert not any(again for *_, again in workers.deliveries())
    assert not Stock.objects.filter(quantity_available__lt=0).exists()
    for label, module in HOSTS.items():
        assert f"Settings: {module}\n" in (tmp_path / f"{label}.log").read_text()
