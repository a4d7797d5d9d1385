"""Ship-from-store end to end, inline: order -> task -> decline -> fan-out ->
first start wins -> partial pick -> pack -> ship; deadlines with a frozen clock."""

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User

from orchestration.errors import ApplicationError, ConflictError
from orchestration.models import (
    FulfillmentAction,
    FulfillmentStatus,
    Order,
    OrderFulfillment,
    OrderStatus,
    Sheet,
    Stock,
)
from orchestration.services.fulfillments.steps import (
    Picked,
    fulfillment_decline,
    fulfillment_pack,
    fulfillment_pick,
    fulfillment_ship,
    fulfillment_start,
)
from orchestration.services.sheets import sheet_update
from orchestration.services.sweep import sweep

OPEN = (FulfillmentStatus.NEW, FulfillmentStatus.IN_PROGRESS)


def tasks(order: Order, *, status: int | None = FulfillmentStatus.NEW) -> list[OrderFulfillment]:
    rows = order.fulfillments.filter(action=FulfillmentAction.SHIP_FROM_STORE).select_related(
        "supplier_organization_unit"
    )
    if status is not None:
        rows = rows.filter(status=status)
    return list(rows.order_by("pk"))


def shops(fulfillments: list[OrderFulfillment]) -> list[str]:
    return [f.supplier_organization_unit.backend_id for f in fulfillments]


def reserved(backend_id: str, product: str) -> int:
    return Stock.objects.get(
        organization_unit__backend_id=backend_id, product__backend_id=product
    ).quantity_reserved


def kinds(order: Order) -> list[str]:
    return list(order.events.values_list("kind", flat=True))


@pytest.fixture
def after_commit(django_capture_on_commit_callbacks: Any) -> Callable[..., Any]:
    """Call a service and then run what it sent after commit (re-orchestration), inline."""

    def call(service: Callable[..., Any], **kwargs: Any) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return service(**kwargs)

    return call


def test_an_order_becomes_a_task_at_the_nearest_open_shop(place: Callable[..., Order]) -> None:
    order = place("SNK-CANVAS-WHT", "SCF-WOOL-RED")

    (task,) = tasks(order)
    assert shops([task]) == ["1187"]
    assert (order.status, order.orchestration_attempts) == (OrderStatus.ROUTED, 1)
    assert task.labels == ["SFS_task", "NotLimitedEdition"]
    # DeadlineInMinutes 600 from Monday 10:00 in Amsterdam.
    assert task.start_deadline.isoformat() == "2026-11-23T19:00:00+00:00"
    assert (task.is_fanout, task.holds_reservation) == (False, True)
    assert [(line.order_line.product.backend_id, line.quantity) for line in task.lines.all()] == [
        ("SNK-CANVAS-WHT", 1),
        ("SCF-WOOL-RED", 1),
    ]
    assert reserved("1187", "SNK-CANVAS-WHT") == 1
    assert reserved("1187", "SCF-WOOL-RED") == 1
    assert kinds(order) == ["order.created", "orchestration.run"]
    assert (
        order.orchestration_details.get().blob["Fulfillments"][0]["Shipments"][0]["Supplier"][
            "BackendID"
        ]
        == "1187"
    )


@pytest.fixture
def always_fan_out(demo: None) -> None:
    """The demo's ship-from-store sheet fans out only on a second try; make it always."""
    sheet = Sheet.objects.get(fulfillment="ShipFromStore")
    sheet_update(
        sheet=sheet,
        source=sheet.source.replace(
            "fanout as when [HasExistingFulfillmentLines] then 5 else then 0", "fanout as 5"
        ),
    )


def test_a_declined_task_is_routed_again_without_the_shop(
    place: Callable[..., Order], after_commit: Callable[..., Any], staff: User
) -> None:
    order = place("SNK-CANVAS-WHT", "SCF-WOOL-RED")
    (first,) = tasks(order)
    after_commit(fulfillment_decline, fulfillment_id=first.pk, user=staff, reason="OutOfStock")
    first.refresh_from_db()
    assert first.status == FulfillmentStatus.CANCELLED
    assert set(first.lines.values_list("status", "cancellation_reason")) == {
        (FulfillmentStatus.CANCELLED, "OutOfStock")
    }
    assert reserved("1187", "SNK-CANVAS-WHT") == 0
    # No other shop is within reach of this Amsterdam address: the warehouse takes it.
    (export,) = order.fulfillments.filter(status__in=OPEN)
    assert (export.action, export.supplier_organization_unit.backend_id) == (
        FulfillmentAction.EXPORT_ORDER,
        "lelystad_warehouse",
    )
    assert order.orchestration_details.get(attempt=2).trigger == (
        "Amsterdam Kalverstraat (1187) declined (OutOfStock)"
    )


def test_the_whole_ship_from_store_flow(
    place: Callable[..., Order],
    after_commit: Callable[..., Any],
    staff: User,
    clock: Any,
    always_fan_out: None,
) -> None:
    # Delft: within reach of the Den Haag and the Rotterdam shop.
    order = place(
        "HAT-BEANIE-BLK",
        "SWT-MERINO-NAVY",
        shipping_city="Delft",
        shipping_latitude=52.0116,
        shipping_longitude=4.3571,
    )
    fanned = tasks(order)
    assert shops(fanned) == ["1109", "1155"]  # the winner first, then its fan-out
    assert all(f.is_fanout for f in fanned) and len({f.task_key for f in fanned}) == 1
    assert [f.holds_reservation for f in fanned] == [True, False]
    assert reserved("1109", "HAT-BEANIE-BLK") == 1

    # The fan-out shop starts first: it wins, takes over the reservation, and
    # the task is deactivated at the other shop.
    den_haag, rotterdam = fanned
    clock.shift(timedelta(minutes=5))
    after_commit(fulfillment_start, fulfillment_id=rotterdam.pk, user=staff)
    den_haag.refresh_from_db()
    assert den_haag.status == FulfillmentStatus.DEACTIVATED
    assert set(den_haag.lines.values_list("status", "cancellation_reason")) == {
        (FulfillmentStatus.DEACTIVATED, "Otherstore")
    }
    assert (reserved("1155", "HAT-BEANIE-BLK"), reserved("1109", "HAT-BEANIE-BLK")) == (1, 0)
    with pytest.raises(ConflictError) as refused:
        fulfillment_start(fulfillment_id=den_haag.pk, user=staff)
    assert str(refused.value) == (
        "Rotterdam Lijnbaan (1155) started this task first; it is no longer yours."
    )

    # It picks the hat but not the sweater: the sweater is routed again without it, and
    # Den Haag, which lost one fan-out race for it, is offered it again (the default
    # MaxRetryCountForDeactivatedLines 1: one Deactivated line may exist).
    sweater = rotterdam.lines.get(order_line__product__backend_id="SWT-MERINO-NAVY")
    picked = after_commit(
        fulfillment_pick,
        fulfillment_id=rotterdam.pk,
        user=staff,
        picked={sweater.pk: 0},
        reason="Damaged",
    )
    assert picked == Picked(fulfillment_id=rotterdam.pk, picked=1, missing=1, reason="Damaged")
    sweater.refresh_from_db()
    assert (sweater.status, sweater.cancellation_reason) == (FulfillmentStatus.CANCELLED, "Damaged")
    assert reserved("1155", "SWT-MERINO-NAVY") == 0
    rerouted = list(order.fulfillments.filter(status__in=OPEN).exclude(pk=rotterdam.pk))
    assert [f.supplier_organization_unit.backend_id for f in rerouted] == ["1109"]
    assert {line.order_line.product.backend_id for f in rerouted for line in f.lines.all()} == {
        "SWT-MERINO-NAVY"
    }

    # Pack and ship: Completed, the stock leaves the shop.
    on_hand = Stock.objects.get(
        organization_unit__backend_id="1155", product__backend_id="HAT-BEANIE-BLK"
    ).quantity_on_hand
    after_commit(fulfillment_pack, fulfillment_id=rotterdam.pk, user=staff)
    after_commit(
        fulfillment_ship,
        fulfillment_id=rotterdam.pk,
        user=staff,
        carrier="PostNL",
        tracking_number="3SABCD1234567",
    )
    rotterdam.refresh_from_db()
    assert rotterdam.status == FulfillmentStatus.COMPLETED
    assert (rotterdam.carrier, rotterdam.tracking_number) == ("PostNL", "3SABCD1234567")
    stock = Stock.objects.get(
        organization_unit__backend_id="1155", product__backend_id="HAT-BEANIE-BLK"
    )
    assert (stock.quantity_on_hand, stock.quantity_reserved) == (on_hand - 1, 0)
    hat = order.lines.get(product__backend_id="HAT-BEANIE-BLK")
    assert (hat.quantity_shipped, hat.status) == (1, "Completed")
    order.refresh_from_db()
    assert order.status == OrderStatus.ROUTED  # the sweater is still on its way
    assert kinds(order) == [
        "order.created",
        "orchestration.run",
        "fulfillment.started",
        "fulfillment.picked",
        "orchestration.run",  # the sweater went back to Den Haag
        "fulfillment.packed",
        "fulfillment.shipped",
    ]


def test_an_unknown_decline_reason_is_refused_and_nothing_changes(
    place: Callable[..., Order], staff: User
) -> None:
    order = place("SNK-CANVAS-WHT")
    (task,) = tasks(order)
    with pytest.raises(ApplicationError) as refused:
        fulfillment_decline(fulfillment_id=task.pk, user=staff, reason="Lazy")
    assert str(refused.value) == (
        "Unknown reason 'Lazy'; use one of OutOfStock, Damaged, NotFound, NoCapacity, Unknown "
        "(setting ShipFromStore:DeclineReasons)."
    )
    task.refresh_from_db()
    assert task.status == FulfillmentStatus.NEW
    assert reserved("1187", "SNK-CANVAS-WHT") == 1


def test_a_decline_without_a_reason_is_unknown(
    place: Callable[..., Order], after_commit: Callable[..., Any], staff: User
) -> None:
    order = place("SNK-CANVAS-WHT")
    (task,) = tasks(order)
    after_commit(fulfillment_decline, fulfillment_id=task.pk, user=staff)
    assert set(task.lines.values_list("cancellation_reason", flat=True)) == {"Unknown"}


def test_a_task_not_started_in_time_expires_and_goes_elsewhere(
    place: Callable[..., Order], django_capture_on_commit_callbacks: Any, clock: Any
) -> None:
    order = place("SNK-CANVAS-WHT")
    (task,) = tasks(order)
    clock.shift(timedelta(minutes=599))
    assert sweep()["expired"] == 0
    clock.shift(timedelta(minutes=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep()["expired"] == 1
    task.refresh_from_db()
    assert task.status == FulfillmentStatus.CANCELLED
    assert set(task.lines.values_list("status", "cancellation_reason")) == {
        (FulfillmentStatus.CANCELLED, "Expired")
    }
    assert reserved("1187", "SNK-CANVAS-WHT") == 0
    assert "1187" not in shops(tasks(order))
    assert order.orchestration_details.count() == 2
    assert order.events.filter(kind="fulfillment.expired").get().message == (
        "The start deadline passed at Amsterdam Kalverstraat (1187): cancelled (Expired); "
        "routed again without this shop."
    )


def test_a_started_task_not_packed_in_time_expires(
    place: Callable[..., Order], django_capture_on_commit_callbacks: Any, clock: Any, staff: User
) -> None:
    order = place("SNK-CANVAS-WHT")
    (task,) = tasks(order)
    fulfillment_start(fulfillment_id=task.pk, user=staff)
    task.refresh_from_db()
    assert task.pack_deadline.isoformat() == "2026-11-23T09:10:00+00:00"  # PackDeadline 10
    clock.shift(timedelta(minutes=10))
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep()["expired"] == 1
    task.refresh_from_db()
    assert task.status == FulfillmentStatus.CANCELLED
    assert "1187" not in shops(tasks(order))


def test_ship_needs_a_carrier_and_tracking_number(place: Callable[..., Order], staff: User) -> None:
    order = place("SNK-CANVAS-WHT")
    (task,) = tasks(order)
    fulfillment_start(fulfillment_id=task.pk, user=staff)
    fulfillment_pick(fulfillment_id=task.pk, user=staff)
    fulfillment_pack(fulfillment_id=task.pk, user=staff)
    with pytest.raises(ApplicationError) as refused:
        fulfillment_ship(fulfillment_id=task.pk, user=staff, carrier="PostNL", tracking_number=" ")
    assert (refused.value.field, str(refused.value)) == (
        "tracking_number",
        "A shipment needs a tracking number.",
    )


def test_the_same_task_cannot_be_packed_before_it_is_picked(
    place: Callable[..., Order], staff: User
) -> None:
    order = place("SNK-CANVAS-WHT")
    (task,) = tasks(order)
    with pytest.raises(ConflictError, match="Only a picked task that is not packed yet"):
        fulfillment_pack(fulfillment_id=task.pk, user=staff)


def test_when_the_reserving_shop_declines_the_next_starter_reserves(
    place: Callable[..., Order],
    after_commit: Callable[..., Any],
    staff: User,
    always_fan_out: None,
) -> None:
    order = place(
        "HAT-BEANIE-BLK",
        shipping_city="Delft",
        shipping_latitude=52.0116,
        shipping_longitude=4.3571,
    )
    den_haag, rotterdam = tasks(order)
    after_commit(fulfillment_decline, fulfillment_id=den_haag.pk, user=staff)
    # Rotterdam still has the task: nothing is routed again, and nothing is reserved.
    assert order.orchestration_details.count() == 1
    assert (reserved("1109", "HAT-BEANIE-BLK"), reserved("1155", "HAT-BEANIE-BLK")) == (0, 0)
    after_commit(fulfillment_start, fulfillment_id=rotterdam.pk, user=staff)
    assert reserved("1155", "HAT-BEANIE-BLK") == 1
    rotterdam.refresh_from_db()
    assert (rotterdam.status, rotterdam.holds_reservation) == (FulfillmentStatus.IN_PROGRESS, True)
