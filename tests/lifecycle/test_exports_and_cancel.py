"""Exports to warehouses (retry with backoff, fail visibly, retry by hand, partial
shipment report), the CANCEL sheet (customer mail, webhook event), and orders
that wait for stock."""

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.test import Client

from orchestration.models import (
    ExportStatus,
    FulfillmentAction,
    FulfillmentStatus,
    Order,
    OrderStatus,
    Sheet,
    Stock,
)
from orchestration.selectors.fulfillments import export_failure_list
from orchestration.services.fulfillments.exports import fulfillment_export_retry
from orchestration.services.fulfillments.steps import fulfillment_ship
from orchestration.services.settings import setting_set
from orchestration.services.sheets import sheet_set_active
from orchestration.services.stock import StockLevel, stock_upsert_many
from orchestration.services.sweep import sweep

from .conftest import Receiver

PICKUP_POINT = {  # shops do not ship to pickup points: the warehouse does
    "shipping_city": "Rotterdam",
    "shipping_latitude": 51.9225,
    "shipping_longitude": 4.4792,
    "shipping_is_pickup_point": True,
}


@pytest.fixture
def warehouse_webhook(settings: Any, receiver: Receiver) -> Receiver:
    settings.ORCHESTRATION_EXPORTERS = {
        "ARVATO": {
            "class": "orchestration.integrations.exporters.WebhookExporter",
            "url": receiver.url + "/wms",
        }
    }
    settings.ORCHESTRATION_WEBHOOK_URL = receiver.url + "/events"
    return receiver


def test_a_failing_export_is_retried_then_fails_visibly_then_succeeds_on_retry(
    place: Callable[..., Order],
    warehouse_webhook: Receiver,
    django_capture_on_commit_callbacks: Any,
    clock: Any,
) -> None:
    setting_set(name="Export:MaxAttempts", value=3)
    warehouse_webhook.answers = [503, 503, 500]
    order = place("JKT-RAIN-OLV", "HAT-BEANIE-BLK", **PICKUP_POINT)
    export = order.fulfillments.get()
    assert (export.action, export.supplier_organization_unit.backend_id) == (
        FulfillmentAction.EXPORT_ORDER,
        "lelystad_warehouse",
    )
    export.refresh_from_db()
    assert (export.export_status, export.export_attempts) == (ExportStatus.PENDING, 1)
    assert export.export_error == f"{warehouse_webhook.url}/wms answered 503 Service Unavailable."

    # The delay doubles: 60 s, then 120 s; nothing is sent before it is due.
    clock.shift(timedelta(seconds=59))
    assert sweep()["exports"] == 0
    clock.shift(timedelta(seconds=1))
    assert sweep()["exports"] == 1
    clock.shift(timedelta(seconds=119))
    assert sweep()["exports"] == 0
    clock.shift(timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        sweep()
    export.refresh_from_db()
    assert (export.export_status, export.export_attempts) == (ExportStatus.FAILED, 3)
    assert [f.pk for f in export_failure_list()] == [export.pk]
    (failed,) = warehouse_webhook.bodies("/events")
    assert (failed["kind"], failed["order"]["id"]) == ("export.failed", order.pk)
    assert len(warehouse_webhook.bodies("/wms")) == 3

    with django_capture_on_commit_callbacks(execute=True):
        fulfillment_export_retry(fulfillment_id=export.pk, user=None)
    export.refresh_from_db()
    assert (export.export_status, export.status) == (
        ExportStatus.EXPORTED,
        FulfillmentStatus.IN_PROGRESS,
    )
    sent = warehouse_webhook.bodies("/wms")[-1]
    assert sent["warehouse"]["backend_id"] == "lelystad_warehouse"
    assert sorted(line["product"] for line in sent["lines"]) == ["HAT-BEANIE-BLK", "JKT-RAIN-OLV"]
    # Every attempt carried the same key, so the warehouse can drop duplicates.
    keys = {
        headers["Idempotency-Key"]
        for path, _, headers in warehouse_webhook.received
        if path == "/wms"
    }
    assert keys == {f"fulfillment-{export.pk}"}
    assert export_failure_list().count() == 0


def test_a_warehouse_reports_a_partial_shipment_and_the_rest_is_routed_again(
    place: Callable[..., Order], django_capture_on_commit_callbacks: Any
) -> None:
    order = place("JKT-RAIN-OLV", "HAT-BEANIE-BLK", **PICKUP_POINT)
    export = order.fulfillments.get()
    jacket = export.lines.get(order_line__product__backend_id="JKT-RAIN-OLV")
    on_hand = Stock.objects.get(
        organization_unit__backend_id="lelystad_warehouse", product__backend_id="HAT-BEANIE-BLK"
    ).quantity_on_hand
    with django_capture_on_commit_callbacks(execute=True):
        fulfillment_ship(
            fulfillment_id=export.pk,
            user=None,
            carrier="DHL",
            tracking_number="JVGL0123",
            shipped={jacket.pk: 0},
        )
    export.refresh_from_db()
    assert export.status == FulfillmentStatus.COMPLETED
    jacket.refresh_from_db()
    assert (jacket.status, jacket.cancellation_reason) == (
        FulfillmentStatus.CANCELLED,
        "NotShipped",
    )
    hat = Stock.objects.get(
        organization_unit__backend_id="lelystad_warehouse", product__backend_id="HAT-BEANIE-BLK"
    )
    assert (hat.quantity_on_hand, hat.quantity_reserved) == (on_hand - 1, 0)
    again = order.fulfillments.exclude(pk=export.pk).get()
    assert again.supplier_organization_unit.backend_id == "venlo_warehouse"
    assert [line.order_line.product.backend_id for line in again.lines.all()] == ["JKT-RAIN-OLV"]


def test_what_nothing_can_fulfil_is_cancelled_and_the_customer_told(
    place: Callable[..., Order], warehouse_webhook: Receiver
) -> None:
    # 8 + 1 + 1 + 1 Chelsea boots in size 24 exist; 50 cannot be found anywhere.
    order = place("BOOT-CHELSEA-24", quantity=50)
    cancel = order.fulfillments.get(action=FulfillmentAction.CANCEL)
    line = cancel.lines.get()
    assert (line.quantity, line.status, line.cancellation_reason) == (
        50,
        FulfillmentStatus.CANCELLED,
        "FulfillmentCancelled",
    )
    boots = order.lines.get(product__backend_id="BOOT-CHELSEA-24")
    assert (boots.quantity_cancelled, boots.status) == (50, "Cancelled")
    (message,) = mail.outbox
    assert message.to == ["sanne.devries@example.com"]
    assert message.subject == f"Your order {order.backend_id}: some items cannot be delivered"
    assert "- 50 x BOOT-CHELSEA-24" in message.body
    assert "<li>50 &times; BOOT-CHELSEA-24</li>" in message.alternatives[0][0]
    event, ended = warehouse_webhook.bodies("/events")
    assert (event["kind"], ended["kind"], ended["data"]) == (
        "lines.cancelled",
        "order.cancelled",
        {"status": "Cancelled"},
    )
    assert event["data"]["lines"] == [{"order_line": boots.pk, "quantity": 50}]


def test_without_a_cancel_sheet_the_order_waits_until_stock_arrives(
    place: Callable[..., Order], django_capture_on_commit_callbacks: Any, clock: Any
) -> None:
    sheet_set_active(sheet=Sheet.objects.get(fulfillment="CancelFallback"), active=False)
    order = place("BOOT-CHELSEA-24", quantity=12, **PICKUP_POINT)
    assert order.status == OrderStatus.WAITING
    assert order.fulfillments.count() == 0
    assert order.next_orchestration_at.isoformat() == "2026-11-23T09:15:00+00:00"
    assert order.events.get(kind="orchestration.run").message == (
        "Orchestration run 1 (order created): 12 units wait: nothing can fulfil them now."
    )
    # The periodic retries find nothing new: folded into run 1, not stored again.
    for _retry in range(2):
        clock.shift(timedelta(minutes=15))
        with django_capture_on_commit_callbacks(execute=True):
            assert sweep()["waiting"] == 1
    order.refresh_from_db()
    assert (order.status, order.orchestration_attempts) == (OrderStatus.WAITING, 1)
    assert order.next_orchestration_at.isoformat() == "2026-11-23T09:45:00+00:00"
    run = order.orchestration_details.get()
    assert (run.repeats, run.first_at.isoformat(), run.at.isoformat()) == (
        3,
        "2026-11-23T09:00:00+00:00",
        "2026-11-23T09:30:00+00:00",
    )
    assert run.expires_at.isoformat() == "2026-12-07T09:30:00+00:00"  # kept from the last
    (told,) = order.events.filter(kind="orchestration.run")
    assert told.message == (
        "Orchestration run 1 (order created): 12 units wait: nothing can fulfil them now. "
        "Tried 3 times from 2026-11-23 10:00 to 10:30, each time with this outcome."
    )
    assert told.data == {"attempt": 1, "outcome": "Waiting", "repeats": 3}
    suite = Client()
    suite.force_login(User.objects.get(username="admin"))
    html = suite.get(f"/orders/{order.pk}/runs/1/").content.decode()
    repeated = re.search(r'<dd id="run-repeats">(.*?)</dd>', html)
    assert repeated is not None
    assert re.sub(r"<[^>]+>", "", repeated[1]) == (
        "3 runs in a row waited for the same units, from Monday 23 Nov 2026, 10:00 "
        "Europe/Amsterdam; this is the last of them"
    )
    # ...new stock at the warehouse wakes it at once.
    with django_capture_on_commit_callbacks(execute=True):
        stock_upsert_many(levels=[StockLevel("lelystad_warehouse", "BOOT-CHELSEA-24", 20)])
    order.refresh_from_db()
    assert (order.status, order.next_orchestration_at) == (OrderStatus.ROUTED, None)
    export = order.fulfillments.get()
    assert export.supplier_organization_unit.backend_id == "lelystad_warehouse"
    assert order.orchestration_details.get(attempt=2).trigger == "stock changed"
    assert order.orchestration_details.get(attempt=2).repeats == 1


def test_an_exporter_configured_under_its_path_before_the_move_still_loads(
    settings: Any, tmp_path: Any
) -> None:
    """``orchestration.exporters.X`` (before issue 20) names the same class as
    ``orchestration.integrations.exporters.X``: an install's settings keep working."""
    from orchestration.integrations.exporters import FolderExporter, exporter_for

    settings.ORCHESTRATION_EXPORTERS = {
        "OLD": {"class": "orchestration.exporters.FolderExporter", "folder": str(tmp_path)}
    }
    exporter = exporter_for("OLD")
    assert type(exporter) is FolderExporter
    assert exporter.name == "OLD"
