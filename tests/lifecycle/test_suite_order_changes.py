"""The order page's in-flight change (``/orders/<id>/change/``): the address and the
quantities as they should be; before the point of no return the order is changed and
routed again, after it the page says which step refuses it and nothing is written."""

import html
import re
from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.test import Client

from orchestration.models import Order, OrderChange, OrderFulfillment
from orchestration.services.fulfillments.steps import (
    fulfillment_pack,
    fulfillment_pick,
    fulfillment_start,
)
from tests.conftest import table_rows

pytestmark = pytest.mark.django_db


def text(response: object) -> str:
    body = response.content.decode()  # type: ignore[attr-defined]
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)))


@pytest.fixture
def desk(demo: None) -> Client:
    client = Client()
    client.force_login(User.objects.get(username="admin"))
    return client


def posted(order: Order, **changes: object) -> dict[str, object]:
    line = order.lines.get()
    return {
        "street": order.shipping_street,
        "zip_code": order.shipping_zip_code,
        "city": order.shipping_city,
        "country_id": order.shipping_country_id,
        "latitude": order.shipping_latitude,
        "longitude": order.shipping_longitude,
        f"quantity-{line.pk}": line.quantity,
        **changes,
    }


def test_the_address_is_changed_on_the_page_and_the_order_routed_again(
    place: Callable[..., Order], desk: Client, django_capture_on_commit_callbacks: object
) -> None:
    order = place("SNK-CANVAS-WHT")
    page = desk.get(f"/orders/{order.pk}/")
    assert f'href="/orders/{order.pk}/change/"' in page.content.decode()
    form = desk.get(f"/orders/{order.pk}/change/")
    assert 'value="Herengracht 182"' in form.content.decode()

    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        response = desk.post(
            f"/orders/{order.pk}/change/",
            posted(
                order,
                street="Coolsingel 40",
                zip_code="3011 AD",
                city="Rotterdam",
                latitude=51.9225,
                longitude=4.4792,
            ),
        )

    assert response.status_code == 302
    change = OrderChange.objects.get(order=order)
    assert change.summary == "the shipping address"
    assert "Change 1 made (the shipping address); the order is routed again." in text(
        desk.get(response["Location"])
    )
    order.refresh_from_db()
    assert order.shipping_city == "Rotterdam"


def test_past_the_point_of_no_return_the_page_names_the_step_and_nothing_changes(
    place: Callable[..., Order], desk: Client
) -> None:
    order = place("SNK-CANVAS-WHT")
    task = OrderFulfillment.objects.get(order=order)
    shop = User.objects.get(username="kalverstraat")
    fulfillment_start(fulfillment_id=task.pk, user=shop)
    fulfillment_pick(fulfillment_id=task.pk, user=shop)
    fulfillment_pack(fulfillment_id=task.pk, user=shop)
    before = table_rows()

    response = desk.post(f"/orders/{order.pk}/change/", posted(order, city="Rotterdam"))

    assert response.status_code == 409
    assert (
        "Not changed: Changing the shipping address is refused: step 'Pack' of the plan "
        "'Ship from store' is Completed, and it is a point of no return."
    ) in text(response)
    assert 'value="Rotterdam"' in response.content.decode()  # what was typed, kept
    assert table_rows() == before


def test_a_quantity_of_zero_is_refused_naming_the_line_and_nothing_changes(
    place: Callable[..., Order], desk: Client
) -> None:
    order = place("SNK-CANVAS-WHT")
    line = order.lines.get()
    before = table_rows()

    response = desk.post(f"/orders/{order.pk}/change/", posted(order, **{f"quantity-{line.pk}": 0}))

    assert response.status_code == 400
    assert (
        f"Not changed: Line {line.pk} quantity: Ensure this value is greater than or equal to 1."
    ) in text(response)
    assert table_rows() == before


def test_an_ended_order_offers_no_change_and_its_page_says_why(
    place: Callable[..., Order], desk: Client
) -> None:
    order = place("SNK-CANVAS-WHT")
    Order.objects.filter(pk=order.pk).update(status="Cancelled")

    page = desk.get(f"/orders/{order.pk}/").content.decode()
    assert f'href="/orders/{order.pk}/change/"' not in page
    change = desk.get(f"/orders/{order.pk}/change/")
    assert change.status_code == 200
    body = change.content.decode()
    assert '<form method="post" data-guard>' not in body
    assert (
        f"Order {order.backend_id} is Cancelled: nothing of it is in flight, so it cannot be "
        "changed." in html.unescape(body)
    )
