"""New orders reach the workers through drains (``services/orchestration_drains.py``).

A new order sends ``orders_drain_task`` only when it takes a free drain slot; a drain
frees its slot and routes every flagged order, oldest first. These tests send nothing
to a broker: the drain's ``delay`` is replaced by a recorder, and the drains are run
by calling the service, so each step is seen. ``test_worker.py`` runs the same path
through a real worker, and ``test_concurrency.py``-style races are at the end
(PostgreSQL only).
"""

import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.db import OperationalError as DjangoOperationalError
from django.db import connection, connections, transaction
from django.utils import timezone
from kombu.exceptions import OperationalError

from orchestration import engine
from orchestration.celery import app as celery_app
from orchestration.errors import ApplicationError
from orchestration.models import (
    OrchestrationClaim,
    OrchestrationDetails,
    OrchestrationDrain,
    Order,
    OrderStatus,
    OrganizationUnit,
    Product,
)
from orchestration.services import orchestration, orchestration_drains
from orchestration.services import orders as order_services
from orchestration.services.orchestration import orders_drain
from orchestration.services.orchestration_drains import CLAIM_LEASE
from orchestration.services.persistence import claim_order, drain_ring
from orchestration.services.persistence.postgres import _claim_order_sql
from orchestration.services.sweep import LOST_AFTER, sweep
from orchestration.tasks import order_orchestrate_task, orders_drain_task

pytestmark = pytest.mark.django_db(transaction=True)


class Sent(list[int]):
    """The drain slots a message was sent for, in order."""


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> Sent:
    """A broker in front of the workers (not eager), whose drain messages are recorded."""
    monkeypatch.setattr(celery_app.conf, "task_always_eager", False)
    recorded = Sent()
    monkeypatch.setattr(orders_drain_task, "delay", recorded.append)
    return recorded


def slots() -> list[int]:
    return list(OrchestrationDrain.objects.order_by("slot").values_list("slot", flat=True))


def routed_in_order() -> list[str]:
    """This test's orders' backend IDs in the order their runs were stored (the demo's
    were routed when it was loaded)."""
    return list(
        OrchestrationDetails.objects.filter(order__backend_id__startswith="WEB-")
        .order_by("pk")
        .values_list("order__backend_id", flat=True)
    )


def test_new_orders_send_a_drain_only_while_a_slot_is_free_and_one_drain_routes_them_all(
    place: Callable[..., Order], sent: Sent, settings: Any
) -> None:
    settings.ORCHESTRATION_DRAIN_SLOTS = 2
    orders = [place("SNK-CANVAS-WHT", backend_id=f"WEB-{n}") for n in (1, 2, 3)]

    # The first two took a slot each and sent a drain; the third found both taken.
    assert sent == [1, 2]
    assert slots() == [1, 2]
    assert [(o.status, o.needs_orchestration) for o in orders] == [(OrderStatus.NEW, True)] * 3

    assert orders_drain(slot=1) == 3
    assert slots() == [2]
    assert routed_in_order() == ["WEB-1", "WEB-2", "WEB-3"]  # oldest first
    for order in orders:
        order.refresh_from_db()
        assert (order.status, order.needs_orchestration) == (OrderStatus.ROUTED, False)
        assert order.orchestration_attempts == 1

    # The second drain finds nothing left, and frees its slot.
    assert orders_drain(slot=2) == 0
    assert slots() == []
    assert len(routed_in_order()) == 3

    # The next order finds a free slot again.
    place("SNK-CANVAS-WHT", backend_id="WEB-4")
    assert sent == [1, 2, 1]


def test_a_drain_leaves_a_failed_order_to_the_sweep_and_routes_every_other_flagged_order(
    place: Callable[..., Order], sent: Sent
) -> None:
    failed = place("SNK-CANVAS-WHT", backend_id="WEB-1")
    Order.objects.filter(pk=failed.pk).update(orchestration_failures=1)
    place("SNK-CANVAS-WHT", backend_id="WEB-2")
    # Flagged by something else (a decline, new stock): a drain routes it too.
    other = place("SNK-CANVAS-WHT", backend_id="WEB-3")
    Order.objects.filter(pk=other.pk).update(orchestration_trigger="stock arrived")
    done = place("SNK-CANVAS-WHT", backend_id="WEB-4")
    Order.objects.filter(pk=done.pk).update(needs_orchestration=False)

    assert orders_drain(slot=1) == 2
    assert routed_in_order() == ["WEB-2", "WEB-3"]
    assert OrchestrationDetails.objects.get(order=other).trigger == "stock arrived"
    failed.refresh_from_db()
    assert (failed.needs_orchestration, failed.orchestration_attempts) == (True, 0)
    done.refresh_from_db()
    assert (done.needs_orchestration, done.orchestration_attempts) == (False, 0)


def test_a_drain_hands_over_to_the_next_after_its_batch(
    place: Callable[..., Order], sent: Sent, settings: Any
) -> None:
    settings.ORCHESTRATION_DRAIN_SLOTS = 1
    settings.ORCHESTRATION_DRAIN_BATCH = 2
    for n in (1, 2, 3):
        place("SNK-CANVAS-WHT", backend_id=f"WEB-{n}")
    assert sent == [1]

    assert orders_drain(slot=1) == 2
    assert routed_in_order() == ["WEB-1", "WEB-2"]
    assert sent == [1, 1]  # it asked for the next drain before it stopped
    assert slots() == [1]

    assert orders_drain(slot=1) == 1
    assert routed_in_order() == ["WEB-1", "WEB-2", "WEB-3"]
    assert slots() == []


def test_a_drain_whose_message_the_broker_refused_frees_its_slot_for_the_next_order(
    place: Callable[..., Order], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(celery_app.conf, "task_always_eager", False)
    refusals = [OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")]
    sent: list[int] = []

    def delay(slot: int) -> None:
        if refusals:
            raise refusals.pop()
        sent.append(slot)

    monkeypatch.setattr(orders_drain_task, "delay", delay)
    with caplog.at_level(logging.WARNING, logger="orchestration.services.sending"):
        first = place("SNK-CANVAS-WHT", backend_id="WEB-1")
    assert [r.getMessage() for r in caplog.records] == [
        "Broker unreachable: orchestration.tasks.orders_drain_task not sent for "
        f"order {first.pk}: drain slot 1 (OperationalError: Error 111 connecting to "
        "127.0.0.1:6379. Connection refused.); the sweep sends it again."
    ]
    assert slots() == []  # freed, not held by a drain that will never come
    assert (first.status, first.needs_orchestration) == (OrderStatus.NEW, True)

    place("SNK-CANVAS-WHT", backend_id="WEB-2")
    assert sent == [1]
    orders_drain(slot=1)
    assert routed_in_order() == ["WEB-1", "WEB-2"]  # the drain routes the first one too


def test_an_order_whose_drain_the_database_refused_is_stored_and_left_to_the_sweep(
    place: Callable[..., Order],
    sent: Sent,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def refused(**_: Any) -> int:
        raise DjangoOperationalError("the database system is shutting down")

    monkeypatch.setattr(orchestration_drains, "drain_ring", refused)
    with caplog.at_level(logging.WARNING, logger="orchestration.services.orchestration_drains"):
        order = place("SNK-CANVAS-WHT", backend_id="WEB-1")
    assert [r.getMessage() for r in caplog.records] == [
        f"Could not ask for a drain for order {order.pk} (the database refused); "
        "the sweep sends it."
    ]
    assert (order.status, order.needs_orchestration) == (OrderStatus.NEW, True)
    assert (sent, slots()) == ([], [])


def test_the_sweep_frees_a_slot_whose_drain_was_lost(
    place: Callable[..., Order],
    sent: Sent,
    clock: Any,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings.ORCHESTRATION_DRAIN_SLOTS = 1
    order = place("SNK-CANVAS-WHT", backend_id="WEB-1")
    assert (sent, slots()) == ([1], [1])  # and the message is lost

    clock.shift(LOST_AFTER - timedelta(seconds=1))
    assert sweep()["drains"] == 0  # it may still be on its way
    assert slots() == [1]
    clock.shift(timedelta(seconds=1))
    resent: list[int] = []
    monkeypatch.setattr(order_orchestrate_task, "delay", resent.append)
    result = sweep()
    assert (result["drains"], resent) == (1, [order.pk])  # the order is sent on its own
    # And a drain asked for at once, for orders the lost one held up that are too
    # recent for the sweep's own resend.
    assert (sent, slots()) == ([1, 1], [1])


def test_an_order_claimed_by_a_drain_that_died_waits_out_the_claim_and_others_go_on(
    place: Callable[..., Order], sent: Sent, clock: Any
) -> None:
    """A run that kills its worker (out of memory) leaves its order claimed: the drains
    after it do not claim it first, and die too, for 2 minutes; then the sweep sends it
    on its own, and the drains may claim it again."""
    poison = place("SNK-CANVAS-WHT", backend_id="WEB-1")
    now = timezone.now()
    assert claim_order(after=0, now=now, claimed_before=now - CLAIM_LEASE) == poison.pk
    # ... and the worker died here.
    place("SNK-CANVAS-WHT", backend_id="WEB-2")

    assert orders_drain(slot=1) == 1
    assert routed_in_order() == ["WEB-2"]
    poison.refresh_from_db()
    assert poison.needs_orchestration
    assert OrchestrationClaim.objects.get(order=poison).claimed_at == now

    clock.shift(CLAIM_LEASE - timedelta(seconds=1))
    assert orders_drain(slot=1) == 0
    clock.shift(timedelta(seconds=1))
    assert orders_drain(slot=1) == 1
    assert routed_in_order() == ["WEB-2", "WEB-1"]


def test_an_older_order_that_commits_while_a_drain_runs_is_routed_by_that_drain(
    place: Callable[..., Order], sent: Sent
) -> None:
    # The web's processes commit out of ID order: WEB-1 got its ID first but commits
    # (is flagged, as far as a drain sees) only while WEB-2 is being routed.
    older = place("SNK-CANVAS-WHT", backend_id="WEB-1")
    Order.objects.filter(pk=older.pk).update(needs_orchestration=False)
    newer = place("SNK-CANVAS-WHT", backend_id="WEB-2")
    real_route = engine.route

    def route(scenario: Any, **kwargs: Any) -> Any:
        if scenario.order.id == newer.pk:
            Order.objects.filter(pk=older.pk).update(needs_orchestration=True)
        return real_route(scenario, **kwargs)

    with mock.patch.object(orchestration.engine, "route", route):
        assert orders_drain(slot=1) == 2
    # Not left for the next drain (behind the rest of this one's batch).
    assert routed_in_order() == ["WEB-2", "WEB-1"]
    assert not Order.objects.filter(backend_id__startswith="WEB-", needs_orchestration=True)


def test_a_drain_tries_each_order_once_even_when_it_outlives_the_order_s_claim(
    place: Callable[..., Order], sent: Sent, monkeypatch: pytest.MonkeyPatch
) -> None:
    order = place("SNK-CANVAS-WHT", backend_id="WEB-1")
    runs: list[int] = []

    def orchestrate(*, order_id: int, now: Any, route_provider: Any) -> None:
        runs.append(order_id)
        # Left flagged (stock taken in every retry), by a drain that ran past its lease.
        OrchestrationClaim.objects.filter(order_id=order_id).update(
            claimed_at=timezone.now() - 2 * CLAIM_LEASE
        )

    monkeypatch.setattr(orchestration, "order_orchestrate", orchestrate)
    assert orders_drain(slot=1) == 1
    assert runs == [order.pk]  # claimed again, but not run again by the same drain


def test_a_drain_goes_on_past_an_order_whose_run_fails(
    place: Callable[..., Order], sent: Sent, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    first = place("SNK-CANVAS-WHT", backend_id="WEB-1")
    place("SNK-CANVAS-WHT", backend_id="WEB-2")
    real_route = engine.route

    def route(scenario: Any, **kwargs: Any) -> Any:
        if scenario.order.id == first.pk:
            raise RuntimeError("the route service answered 502 Bad Gateway")
        return real_route(scenario, **kwargs)

    with mock.patch.object(orchestration.engine, "route", route):
        assert orders_drain(slot=1) == 2
    assert routed_in_order() == ["WEB-2"]
    first.refresh_from_db()
    assert (first.needs_orchestration, first.orchestration_failures) == (True, 1)
    assert first.orchestration_error == "RuntimeError: the route service answered 502 Bad Gateway"
    # Failed once: left to the sweep's resend (and its count of attempts), not to drains.
    assert orders_drain(slot=1) == 0


def test_the_sweep_drops_the_claims_once_they_lapsed(
    place: Callable[..., Order], sent: Sent, clock: Any
) -> None:
    order = place("SNK-CANVAS-WHT", backend_id="WEB-1")
    now = timezone.now()
    assert claim_order(after=0, now=now, claimed_before=now - CLAIM_LEASE) == order.pk
    clock.shift(CLAIM_LEASE - timedelta(seconds=1))
    sweep()
    assert list(OrchestrationClaim.objects.values_list("order_id", flat=True)) == [order.pk]
    clock.shift(timedelta(seconds=1))
    sweep()
    assert not OrchestrationClaim.objects.exists()


def test_without_a_broker_a_new_order_is_routed_inline_and_takes_no_slot(
    place: Callable[..., Order],
) -> None:
    order = place("SNK-CANVAS-WHT", backend_id="WEB-1")
    assert (order.status, order.needs_orchestration) == (OrderStatus.ROUTED, False)
    assert slots() == []


def test_no_drain_is_asked_for_when_the_order_rolls_back(
    place: Callable[..., Order], sent: Sent
) -> None:
    place("SNK-CANVAS-WHT", backend_id="WEB-1")
    with pytest.raises(
        ApplicationError, match=r"An order with backend ID .WEB-1. already exists\."
    ):
        place("SNK-CANVAS-WHT", backend_id="WEB-1")
    assert (sent, slots(), Order.objects.filter(backend_id__startswith="WEB-").count()) == (
        [1],
        [1],
        1,
    )


needs_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="row locks (SKIP LOCKED) need PostgreSQL; .ci/run runs these with DATABASE_URL set",
)


def in_threads(count: int, work: Callable[[int], Any]) -> list[Any]:
    """``work(i)`` in ``count`` threads started together, each on its own connection."""
    results: list[Any] = [None] * count
    errors: list[BaseException] = []
    start = threading.Barrier(count)

    def run(index: int) -> None:
        try:
            start.wait()
            results[index] = work(index)
        except BaseException as error:  # reported below, not lost in the thread
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    return results


@needs_postgresql
def test_drains_running_at_once_share_the_orders_and_route_each_once(
    place: Callable[..., Order], sent: Sent, settings: Any
) -> None:
    settings.ORCHESTRATION_DRAIN_SLOTS = 3
    orders = [place("SNK-CANVAS-WHT", backend_id=f"WEB-{n}") for n in range(1, 31)]
    assert sent == [1, 2, 3]

    claimed = in_threads(3, lambda i: orders_drain(slot=i + 1))

    assert sum(claimed) == 30  # each claimed by one drain
    assert slots() == []
    runs = list(
        OrchestrationDetails.objects.filter(order__in=orders).values_list("order_id", "attempt")
    )
    assert sorted(runs) == sorted((order.pk, 1) for order in orders)  # once each
    assert not Order.objects.filter(needs_orchestration=True).exists()


@needs_postgresql
def test_a_drain_skips_an_order_another_transaction_holds(
    place: Callable[..., Order], sent: Sent
) -> None:
    held = place("SNK-CANVAS-WHT", backend_id="WEB-1")
    free = place("SNK-CANVAS-WHT", backend_id="WEB-2")
    holding = threading.Event()
    release = threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                Order.objects.select_for_update().get(pk=held.pk)
                holding.set()
                release.wait(10)
        finally:
            connections.close_all()

    now = timezone.now()
    lapsed = now - CLAIM_LEASE
    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(10)
        assert claim_order(after=0, now=now, claimed_before=lapsed) == free.pk
    finally:
        release.set()
        holder.join()
    assert claim_order(after=0, now=now, claimed_before=lapsed) == held.pk
    assert claim_order(after=0, now=now, claimed_before=lapsed) is None  # both claimed now


@needs_postgresql
def test_ringers_at_once_take_each_slot_once(demo: None) -> None:
    now = timezone.now()
    taken = sorted(slot for slot in in_threads(8, lambda i: drain_ring(slots=3, now=now)) if slot)
    # No slot taken twice (so no two messages for one slot). A ringer that lost the
    # race for a slot takes no other: a drain is asked for either way.
    assert taken == slots()
    assert len(set(taken)) == len(taken) >= 1
    assert set(taken) <= {1, 2, 3}


@needs_postgresql
def test_a_drain_claims_through_the_index_of_flagged_orders_only(
    place: Callable[..., Order], sent: Sent
) -> None:
    """A million orders that need nothing are not read: the claim walks the partial
    index ``order_to_orchestrate`` from where the drain is."""
    place("SNK-CANVAS-WHT", backend_id="WEB-1")
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")  # a handful of rows: else it reads them all
        now = timezone.now()
        cursor.execute(f"EXPLAIN {_claim_order_sql()}", [0, now, now])
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("RESET enable_seqscan")
    assert "order_to_orchestrate" in plan, plan


@needs_postgresql
def test_orders_placed_while_drains_start_and_stop_are_all_routed(
    demo: None, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four clients place orders (committing a moment after their ID was taken, so not
    in ID order) while two workers run the drains they ask for, which start, hand over
    and stop in between; once the last drain asked for has run, no order is left
    flagged."""
    settings.ORCHESTRATION_DRAIN_SLOTS = 2
    settings.ORCHESTRATION_DRAIN_BATCH = 4
    monkeypatch.setattr(celery_app.conf, "task_always_eager", False)
    messages: queue.Queue[int] = queue.Queue()
    monkeypatch.setattr(orders_drain_task, "delay", messages.put)
    store = order_services.orders_store
    pause = random.Random(23)

    def store_then_wait(**kwargs: Any) -> None:
        store(**kwargs)
        time.sleep(pause.random() * 0.03)  # the commit comes later than the ID

    monkeypatch.setattr(order_services, "orders_store", store_then_wait)
    product = Product.objects.get(backend_id="SNK-CANVAS-WHT")
    webshop = OrganizationUnit.objects.get(backend_id="webshop_nl")
    placing = threading.Event()
    placing.set()

    def client(index: int) -> None:
        for number in range(10):
            order_services.order_create(
                lines=[{"product": product, "quantity": 1}],
                backend_id=f"RACE-{index}-{number}",
                sold_from_organization_unit=webshop,
                shipping_city="Amsterdam",
                shipping_country_id="NL",
            )

    def worker(index: int) -> int:
        drains = 0
        while True:
            try:
                slot = messages.get(timeout=0.3)
            except queue.Empty:
                if placing.is_set():
                    continue
                return drains
            orders_drain(slot=slot)
            drains += 1

    workers = threading.Thread(target=lambda: ran.extend(in_threads(2, worker)))
    ran: list[int] = []
    workers.start()
    in_threads(4, client)
    placing.clear()
    workers.join()

    assert sum(ran) >= 1
    assert Order.objects.filter(backend_id__startswith="RACE-").count() == 40
    assert not Order.objects.filter(backend_id__startswith="RACE-", needs_orchestration=True)
    assert slots() == []
