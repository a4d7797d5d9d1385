"""A redelivered orchestration task, a worker dying mid-task, and two runs that
both got past the lock: each ends with exactly one set of fulfilments."""

from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

from orchestration.models import OrchestrationDetails, Order, OrderFulfillment, Stock
from orchestration.services import orchestration
from orchestration.tasks import order_orchestrate_task


def reserved_total() -> int:
    return sum(Stock.objects.values_list("quantity_reserved", flat=True))


def test_the_same_task_delivered_twice_does_the_work_once(place: Callable[..., Order]) -> None:
    order = place("SNK-CANVAS-WHT", "SCF-WOOL-RED")
    before = (order.fulfillments.count(), reserved_total())
    order_orchestrate_task.apply(args=[order.pk])  # the broker delivers it again
    order_orchestrate_task.apply(args=[order.pk])
    assert (order.fulfillments.count(), reserved_total()) == before == (1, 2)
    assert order.orchestration_details.count() == 1


def test_a_worker_that_dies_mid_task_leaves_nothing_and_the_redelivery_does_it_all(
    place: Callable[..., Order],
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    class WorkerLost(BaseException):
        """What a killed worker looks like from inside: the code stops mid-way."""

    def die(**kwargs: Any) -> bool:
        raise WorkerLost

    # Called once the run's writes are sent and before they are committed.
    monkeypatch.setattr(orchestration, "order_status_changed", die)
    with pytest.raises(WorkerLost):  # dies after writing everything, before the commit
        place("SNK-CANVAS-WHT", backend_id="WEB-1")
    order = Order.objects.get(backend_id="WEB-1")
    assert (order.needs_orchestration, order.fulfillments.count()) == (True, 0)
    assert (OrchestrationDetails.objects.count(), reserved_total()) == (0, 0)

    monkeypatch.undo()
    # acks_late: the broker hands the message to the next worker.
    order_orchestrate_task.apply(args=[order.pk])
    order_orchestrate_task.apply(args=[order.pk])
    assert order.fulfillments.count() == 1
    assert (order.orchestration_details.get().attempt, reserved_total()) == (1, 1)


def test_a_second_run_of_the_same_attempt_is_refused_by_the_database(
    place: Callable[..., Order], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The row lock keeps two runs apart; should one get past it anyway (a second
    worker reading before the first commits), the unique (order, attempt)
    constraint turns its insert away and its whole transaction is undone."""
    order = place("SNK-CANVAS-WHT")
    fulfillments = list(OrderFulfillment.objects.values_list("pk", flat=True))
    # Make the order look as if the first run had not been counted yet.
    Order.objects.filter(pk=order.pk).update(needs_orchestration=True, orchestration_attempts=0)
    assert orchestration.order_orchestrate(order_id=order.pk, now=timezone.now()) is None
    assert list(OrderFulfillment.objects.values_list("pk", flat=True)) == fulfillments
    assert (order.orchestration_details.count(), reserved_total()) == (1, 1)
