"""Store staff see and work only the fulfilments of the OUs that list them as staff
(``OrganizationUnit.staff``); the designers', integrations' and superusers' roles
(permission ``work_every_organization_unit``) see every OU's. A refused action
names the OU and changes nothing, in the API, the Suite and the services alike."""

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.test import APIClient

from orchestration.errors import ForbiddenError
from orchestration.models import Order, OrderFulfillment
from orchestration.services.fulfillments.steps import fulfillment_start

from ..conftest import table_rows
from .conftest import unit

ROTTERDAM = {
    "shipping_city": "Rotterdam",
    "shipping_latitude": 51.9225,
    "shipping_longitude": 4.4792,
}


@pytest.fixture
def two_orders(place: Callable[..., Order]) -> tuple[OrderFulfillment, OrderFulfillment]:
    """A task at the Kalverstraat shop (Amsterdam) and one at Rotterdam Lijnbaan."""
    amsterdam = place("SNK-CANVAS-WHT").fulfillments.get()
    rotterdam = place("HAT-BEANIE-BLK", **ROTTERDAM).fulfillments.get()
    assert (
        amsterdam.supplier_organization_unit.backend_id,
        rotterdam.supplier_organization_unit.backend_id,
    ) == ("1187", "1155")
    return amsterdam, rotterdam


def api_as(username: str) -> APIClient:
    client = APIClient()
    client.force_authenticate(User.objects.get(username=username))
    return client


def suite_as(username: str) -> Client:
    client = Client()
    client.force_login(User.objects.get(username=username))
    return client


def text(response: Any) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split())


def test_the_api_shows_store_staff_their_own_shops_fulfillments_and_orders(
    two_orders: tuple[OrderFulfillment, OrderFulfillment],
) -> None:
    mine, theirs = two_orders
    shop = api_as("kalverstraat")
    assert [f["id"] for f in shop.get("/api/fulfillments/").json()["results"]] == [mine.pk]
    assert [o["id"] for o in shop.get("/api/orders/").json()["results"]] == [mine.order_id]
    assert shop.get(f"/api/fulfillments/{theirs.pk}/").status_code == 404
    assert shop.get(f"/api/orders/{theirs.order_id}/").status_code == 404
    assert shop.get(f"/api/orders/{theirs.order_id}/timeline/").status_code == 404

    # The designer works everywhere (reading only): both, newest first.
    designer = api_as("designer")
    listed = [f["id"] for f in designer.get("/api/fulfillments/").json()["results"]]
    assert listed == [theirs.pk, mine.pk]


def test_store_staff_cannot_work_another_shops_task_and_nothing_changes(
    two_orders: tuple[OrderFulfillment, OrderFulfillment],
) -> None:
    _mine, theirs = two_orders
    shop = api_as("kalverstraat")
    before = table_rows()
    for action in ("start", "pack"):
        assert shop.post(f"/api/fulfillments/{theirs.pk}/{action}/").status_code == 404
    declined = shop.post(f"/api/fulfillments/{theirs.pk}/decline/", {"reason": "NoCapacity"})
    assert declined.status_code == 404
    assert table_rows() == before

    # Joining the shop's staff is what lets them.
    unit("1155").staff.add(User.objects.get(username="kalverstraat"))
    assert shop.post(f"/api/fulfillments/{theirs.pk}/start/").json()["status"] == "InProgress"


def test_the_service_itself_refuses_a_user_who_does_not_work_there(
    two_orders: tuple[OrderFulfillment, OrderFulfillment],
) -> None:
    """Whatever calls the service (a view, a script), the rule holds: 403, named."""
    _mine, theirs = two_orders
    before = table_rows()
    with pytest.raises(ForbiddenError) as refused:
        fulfillment_start(fulfillment_id=theirs.pk, user=User.objects.get(username="kalverstraat"))
    assert (refused.value.status, refused.value.code, refused.value.message) == (
        403,
        "not_your_organization_unit",
        "You do not work at Rotterdam Lijnbaan (1155): only its staff can work its fulfilments.",
    )
    assert table_rows() == before
    # The system (no user) and the superuser may.
    fulfillment_start(fulfillment_id=theirs.pk, user=User.objects.get(username="admin"))


def test_the_suite_lists_only_the_staffs_shops_and_refuses_the_others(
    two_orders: tuple[OrderFulfillment, OrderFulfillment],
) -> None:
    mine, theirs = two_orders
    shop = suite_as("kalverstraat")
    stores = shop.get("/orders/stores/").content.decode()
    assert re.findall(r'href="/orders/stores/(\d+)/tasks/"', stores) == [str(unit("1187").pk)]
    assert (
        f'id="task-{mine.pk}"'
        in shop.get(f"/orders/stores/{unit('1187').pk}/tasks/").content.decode()
    )

    other = shop.get(f"/orders/stores/{unit('1155').pk}/tasks/")
    assert other.status_code == 403
    assert "You do not work at Rotterdam Lijnbaan (1155): only its staff see its tasks." in text(
        other
    )
    before = table_rows()
    started = shop.post(f"/orders/stores/{unit('1155').pk}/tasks/{theirs.pk}/start/")
    assert started.status_code == 403
    assert table_rows() == before

    orders = shop.get("/orders/").content.decode()
    assert mine.order.backend_id in orders and theirs.order.backend_id not in orders
    assert shop.get(f"/orders/{theirs.order_id}/").status_code == 404
    assert shop.get(f"/orders/{theirs.order_id}/runs/1/").status_code == 404

    # The admin works everywhere: every shop is listed.
    everyone = suite_as("admin").get("/orders/stores/").content.decode()
    assert str(unit("1155").pk) in re.findall(r'href="/orders/stores/(\d+)/tasks/"', everyone)
