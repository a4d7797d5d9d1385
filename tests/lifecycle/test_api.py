"""The lifecycle through the REST API: store tasks, actions, refusals, cancellations,
the timeline and orchestration details; every refusal names what is wrong and
changes nothing."""

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from rest_framework.test import APIClient

from orchestration.models import FulfillmentStatus, Order, OrderFulfillment, Stock
from orchestration.services.orchestration_details import orchestration_details_purge
from orchestration.services.roles import INTEGRATIONS_GROUP
from orchestration.services.settings import setting_set

from ..conftest import table_rows
from .conftest import unit


def client_of(username: str, group: str | None) -> APIClient:
    user = User.objects.create_user(username=username, password="secret-pass-123")
    if group:
        user.groups.add(Group.objects.get(name=group))
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def shop_staff(demo: None) -> APIClient:
    """The demo's store staff member, who works at the Kalverstraat shop (1187) only."""
    client = APIClient()
    client.force_authenticate(User.objects.get(username="kalverstraat"))
    return client


@pytest.fixture
def warehouse_system(demo: None) -> APIClient:
    return client_of("lelystad-wms", INTEGRATIONS_GROUP)


@pytest.fixture
def task(place: Callable[..., Order]) -> OrderFulfillment:
    order = place("SNK-CANVAS-WHT", "SCF-WOOL-RED")
    return order.fulfillments.get()


def test_a_shop_lists_its_tasks(shop_staff: APIClient, task: OrderFulfillment) -> None:
    response = shop_staff.get(f"/api/organization-units/{unit('1187').pk}/tasks/")
    assert response.status_code == 200
    (listed,) = response.json()["results"]
    assert (listed["id"], listed["status"], listed["labels"]) == (
        task.pk,
        "New",
        ["SFS_task", "NotLimitedEdition"],
    )
    assert listed["data"]["TravelDistanceText"] == "1.9 km"
    assert listed["start_deadline"] == "2026-11-23T20:00:00+01:00"
    other = shop_staff.get(f"/api/organization-units/{unit('1026').pk}/tasks/")
    assert other.status_code == 403
    assert other.json()["errors"] == [
        {
            "code": "not_your_organization_unit",
            "message": (
                "You do not work at Utrecht Oudegracht (1026): only its staff see its tasks."
            ),
            "field": None,
        }
    ]
    bad = shop_staff.get(f"/api/organization-units/{unit('1187').pk}/tasks/?include_finished=yes")
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "include_finished"


def test_start_pick_pack_ship_through_the_api(
    shop_staff: APIClient, task: OrderFulfillment
) -> None:
    base = f"/api/fulfillments/{task.pk}"
    assert shop_staff.post(f"{base}/start/").json()["status"] == "InProgress"
    again = shop_staff.post(f"{base}/start/")
    assert again.status_code == 409
    assert again.json()["message"] == ("This task is InProgress; only a New task can be started.")
    assert shop_staff.post(f"{base}/pick/", {}).json()["picked_at"] is not None
    assert shop_staff.post(f"{base}/pack/").json()["packed_at"] is not None
    missing = shop_staff.post(f"{base}/ship/", {"carrier": "PostNL"})
    assert missing.status_code == 400
    assert missing.json()["errors"] == [
        {"code": "required", "message": "This field is required.", "field": "tracking_number"}
    ]
    shipped = shop_staff.post(f"{base}/ship/", {"carrier": "PostNL", "tracking_number": "3S1"})
    assert shipped.status_code == 200
    assert (shipped.json()["status"], shipped.json()["tracking_number"]) == ("Completed", "3S1")
    order = shop_staff.get(f"/api/orders/{task.order_id}/")
    assert order.json()["status"] == "Completed"
    timeline = shop_staff.get(f"/api/orders/{task.order_id}/timeline/").json()["results"]
    assert [(e["kind"], e["actor"]) for e in timeline] == [
        ("order.created", "system:api"),
        ("orchestration.run", "system:orchestration"),
        ("fulfillment.started", "kalverstraat"),
        ("fulfillment.picked", "kalverstraat"),
        ("fulfillment.packed", "kalverstraat"),
        ("fulfillment.shipped", "kalverstraat"),
        ("order.completed", "kalverstraat"),
    ]
    assert timeline[1]["orchestration_run"] == 1


def test_a_pick_of_a_line_that_is_not_there_is_refused(
    shop_staff: APIClient, task: OrderFulfillment
) -> None:
    shop_staff.post(f"/api/fulfillments/{task.pk}/start/")
    before = table_rows()
    response = shop_staff.post(
        f"/api/fulfillments/{task.pk}/pick/",
        {"lines": [{"id": 987654321, "quantity": 0}], "reason": "Damaged"},
    )
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "code": "invalid_line",
            "message": "Fulfilment line 987654321 is not an open line of this fulfilment.",
            "field": "lines[0].id",
        }
    ]
    wrong_type = shop_staff.post(
        f"/api/fulfillments/{task.pk}/pick/", {"lines": [{"id": "one", "quantity": 0}]}
    )
    assert wrong_type.json()["errors"][0]["field"] == "lines[0].id"
    assert table_rows() == before


def test_without_the_permission_nothing_changes(demo: None, task: OrderFulfillment) -> None:
    designer = client_of("looker", None)
    designer.force_authenticate(User.objects.get(username="designer"))
    before = table_rows()
    response = designer.post(f"/api/fulfillments/{task.pk}/start/")
    assert response.status_code == 403
    assert response.json()["message"] == (
        "You need the permission orchestration.change_orderfulfillment for this."
    )
    assert APIClient().post(f"/api/fulfillments/{task.pk}/start/").status_code == 401
    assert table_rows() == before


def test_partial_cancellation_needs_the_setting(
    warehouse_system: APIClient,
    place: Callable[..., Order],
    django_capture_on_commit_callbacks: Any,
) -> None:
    order = place("HAT-BEANIE-BLK", quantity=3)
    fulfillment = order.fulfillments.get()
    line = fulfillment.lines.get()
    url = f"/api/fulfillments/{fulfillment.pk}/cancel-lines/"
    before = table_rows()
    refused = warehouse_system.post(url, {"lines": [{"id": line.pk, "quantity": 1}]})
    assert refused.status_code == 400
    assert refused.json()["errors"] == [
        {
            "code": "partial_cancellation_not_allowed",
            "message": f"Line {line.pk} has 3 units: cancel all of them, or turn on the setting "
            "OrderFulfillment:AllowPartialCancellation to cancel part of a line.",
            "field": "lines[0].quantity",
        }
    ]
    nothing = warehouse_system.post(url, {"lines": [{"id": line.pk, "quantity": 0}]})
    assert nothing.json()["errors"] == [
        {
            "code": "invalid_quantity",
            "message": f"The quantity to cancel must be between 1 and 3 for line {line.pk}.",
            "field": "lines[0].quantity",
        }
    ]
    assert table_rows() == before

    setting_set(name="OrderFulfillment:AllowPartialCancellation", value=True)
    with django_capture_on_commit_callbacks(execute=True):
        done = warehouse_system.post(url, {"lines": [{"id": line.pk, "quantity": 1}]})
    assert done.status_code == 200
    statuses = sorted(
        (row["quantity"], row["status"], row["cancellation_reason"]) for row in done.json()["lines"]
    )
    assert statuses == [(1, "Cancelled", "Unknown"), (2, "New", None)]
    assert (
        Stock.objects.get(
            organization_unit__backend_id="1187", product__backend_id="HAT-BEANIE-BLK"
        ).quantity_reserved
        == 2
    )
    # The cancelled unit is routed again, without 1187.
    again = order.fulfillments.exclude(pk=fulfillment.pk).get()
    assert again.supplier_organization_unit.backend_id != "1187"
    assert again.lines.get().quantity == 1


def test_cancelling_the_order_line_routes_nothing(
    warehouse_system: APIClient, task: OrderFulfillment, django_capture_on_commit_callbacks: Any
) -> None:
    scarf = task.lines.get(order_line__product__backend_id="SCF-WOOL-RED")
    with django_capture_on_commit_callbacks(execute=True):
        response = warehouse_system.post(
            f"/api/orders/{task.order_id}/lines/{scarf.order_line_id}/cancel/", {"quantity": 1}
        )
    assert response.status_code == 200
    line = next(line for line in response.json()["lines"] if line["id"] == scarf.order_line_id)
    assert (line["quantity_cancelled"], line["status"]) == (1, "Cancelled")
    scarf.refresh_from_db()
    assert (scarf.status, scarf.cancellation_reason) == (
        FulfillmentStatus.CANCELLED,
        "FulfillmentCancelled",
    )
    assert Order.objects.get(pk=task.order_id).orchestration_details.count() == 1
    assert (
        Stock.objects.get(
            organization_unit__backend_id="1187", product__backend_id="SCF-WOOL-RED"
        ).quantity_reserved
        == 0
    )
    too_many = warehouse_system.post(
        f"/api/orders/{task.order_id}/lines/{scarf.order_line_id}/cancel/", {"quantity": 1}
    )
    assert too_many.status_code == 400
    assert too_many.json()["message"] == (
        "Nothing of this line can be cancelled any more: it is shipped or cancelled."
    )


def test_the_orchestration_details_say_when_they_expired(
    shop_staff: APIClient, task: OrderFulfillment, clock: Any
) -> None:
    from datetime import timedelta

    url = f"/api/fulfillments/{task.pk}/?include_orchestration_details=true"
    assert shop_staff.get(url).json()["orchestration_details"]["status"] == "available"
    clock.shift(timedelta(days=14))
    from django.utils import timezone

    orchestration_details_purge(now=timezone.now())
    details = shop_staff.get(url).json()["orchestration_details"]
    assert (details["status"], details["blob"]) == ("expired", None)
    assert details["message"].startswith("The orchestration details expired on 2026-12-07")
