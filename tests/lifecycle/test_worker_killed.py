"""A Celery worker process killed by SIGKILL in the middle of an orchestration ends with
exactly one set of fulfilments: the issue's requirement, proven on a real worker over Redis
or RabbitMQ and PostgreSQL.

``test_redelivery.py`` simulates the dying worker inside the test process; this kills a real
one. Worker #1 (``killable_worker.py``) is stopped at the COMMIT that would finish the run,
with the run's details, fulfilments, reservation and statuses written, and is killed there:
PostgreSQL must throw all of it away when the connection drops. The task is acknowledged
late, so the broker hands the message to worker #2 (Redis once its visibility timeout is
over, RabbitMQ as soon as worker #1's connection is gone), and that run must do all the work,
once. The test fails if the killed run leaves anything behind
(also when a run commits part of its work earlier: such a commit goes through before the
stop), if the redelivery is lost, or if it adds a second set of fulfilments, reservations or
exports.

The workers are separate processes sharing PostgreSQL and the broker with the test
(``real_workers.py``, also used by ``test_plan_worker_killed.py``).
"""

import io
import json
import signal
from pathlib import Path

import pytest

from orchestration.celery import app
from orchestration.demo import demo_load
from orchestration.models import ExportStatus, OrchestrationDetails, Order, Stock
from orchestration.tasks import order_orchestrate_task
from tests.lifecycle.real_workers import (
    REAL_WORKERS,
    Broker,
    Workers,
    broker_fixture,  # noqa: F401 (the fixture)
    eventually,
    kill,
    order_placed_without_routing,
    stop,
    workers_fixture,  # noqa: F401 (the fixture)
)

EXPORT_TASK = "orchestration.tasks.fulfillment_export_task"

pytestmark = [REAL_WORKERS, pytest.mark.django_db(transaction=True)]


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
    order = order_placed_without_routing()
    reserved_before = committed(order)[3]
    assert committed(order) == (True, 0, [], reserved_before)

    # Worker #1 (prefork, as in production) takes the task; its pool's child stops at the
    # commit that would finish the run.
    hung = tmp_path / "hung.json"
    first = workers.start("first", "--pool=prefork", f"--hang={hung}")
    monkeypatch.setattr(app.conf, "task_always_eager", False)  # the lifecycle tests run inline
    order_orchestrate_task.apply_async(
        args=(order.pk,),
        queue=broker.route(),
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
    # transaction back; the message, acknowledged late, is kept for another worker
    # (unacknowledged in Redis, back in its queue on RabbitMQ).
    assert kill(first) == -signal.SIGKILL
    ((_, task_name, task_id, redelivered),) = workers.deliveries()
    assert (task_name, redelivered) == (order_orchestrate_task.name, False)
    assert committed(order) == (True, 0, [], reserved_before)
    eventually(broker.held_for_redelivery, "the broker keeping the message", tmp_path)

    # Worker #2 gets the message: over Redis it hands it out again once it is older than
    # its visibility timeout, two seconds here; RabbitMQ delivers it at once. Solo: while
    # it runs the task it sweeps no more, so it cannot hand out its own message a second
    # time should the run take longer than that.
    second = workers.start("second", "--pool=solo", "--visibility-timeout=2")
    eventually(lambda: not committed(order)[0], "worker #2 routing the redelivery", tmp_path)
    assert committed(order) == (False, 1, [1], reserved_before + 1)
    # Acknowledged, and nothing left to deliver: no third run can come. (Stopped first:
    # RabbitMQ tells unacknowledged messages apart only by handing them back.)
    assert stop(second) == 0
    eventually(broker.empty, "the broker holding nothing once worker #2 stopped", tmp_path)
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
    order_orchestrate_task.apply(args=(order.pk,))
    assert committed(order) == (False, 1, [1], reserved_before + 1)
