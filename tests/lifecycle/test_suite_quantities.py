"""The Suite's pick, return and arrival forms refuse a malformed quantity by name.

Each was a 500: "²" passes ``str.isdigit()`` and fails ``int()``, and ``int()`` refuses
more than 4,300 digits, in a quantity or in the line ID of a field's name. Now the form
says which field is wrong, and nothing is written. DEBUG is off and the client does
not re-raise, as a user meets these pages.
"""

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import pytest
from django.contrib.auth.models import User
from django.test import Client

from orchestration.models import FulfillmentAction, Order, OrderFulfillment
from orchestration.services.fulfillments.steps import (
    fulfillment_pack,
    fulfillment_pick,
    fulfillment_ship,
    fulfillment_start,
)
from orchestration.services.returns import return_order_create
from tests.conftest import table_rows

FIVE_THOUSAND_DIGITS = "9" * 5000


@pytest.fixture
def client(staff: User, settings: Any) -> Client:
    """The demo's superuser (who works every shop), DEBUG off, crashes shown as 500."""
    settings.DEBUG = False
    client = Client(raise_request_exception=False)
    client.force_login(staff)
    return client


@pytest.fixture
def started(
    place: Callable[..., Order], staff: User, django_capture_on_commit_callbacks: Any
) -> OrderFulfillment:
    """A started ship-from-store task of one pair of sneakers."""
    order = place("SNK-CANVAS-WHT")
    task = order.fulfillments.get(action=FulfillmentAction.SHIP_FROM_STORE)
    with django_capture_on_commit_callbacks(execute=True):
        fulfillment_start(fulfillment_id=task.pk, user=staff)
    return task


def pick_url(task: OrderFulfillment) -> str:
    return f"/orders/stores/{task.supplier_organization_unit_id}/tasks/{task.pk}/pick/"


def post_form(client: Client, url: str, data: dict[str, str]) -> Any:
    """POST url-encoded, as a browser does (multipart would cap a long field name)."""
    return client.post(url, urlencode(data), content_type="application/x-www-form-urlencoded")


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("²", "² is not a number of units: give 0 or more."),
        (FIVE_THOUSAND_DIGITS, "99999999999999999999… is not a number of units: give 0 or more."),
        ("-1", "-1 is not a number of units: give 0 or more."),
        ("9" * 20, "99999999999999999999 is more units than any line holds."),
    ],
    ids=["superscript", "5000 digits", "negative", "20 digits"],
)
def test_a_malformed_pick_quantity_is_shown_at_its_field_and_nothing_changes(
    client: Client, started: OrderFulfillment, typed: str, message: str
) -> None:
    (line,) = started.lines.all()
    before = table_rows()

    response = post_form(client, pick_url(started), {f"picked-{line.pk}": typed})

    assert response.status_code == 400
    html = response.content.decode()
    assert message in html
    assert f'name="picked-{line.pk}"' in html
    assert 'aria-invalid="true"' in html
    assert table_rows() == before


def test_a_pick_field_naming_a_5000_digit_line_is_refused_and_nothing_changes(
    client: Client, started: OrderFulfillment
) -> None:
    before = table_rows()

    response = post_form(client, pick_url(started), {f"picked-{FIVE_THOUSAND_DIGITS}": "1"})

    assert response.status_code == 400
    assert "Line 99999999999999999999… is not an open line here." in response.content.decode()
    assert table_rows() == before


@pytest.fixture
def shipped(
    place: Callable[..., Order], staff: User, django_capture_on_commit_callbacks: Any
) -> Order:
    """A sales order of 2 sneakers, shipped."""
    order = place("SNK-CANVAS-WHT", quantity=2)
    task = order.fulfillments.get()
    with django_capture_on_commit_callbacks(execute=True):
        fulfillment_start(fulfillment_id=task.pk, user=staff)
        fulfillment_pick(fulfillment_id=task.pk, user=staff)
        fulfillment_pack(fulfillment_id=task.pk, user=staff)
        fulfillment_ship(
            fulfillment_id=task.pk, user=staff, carrier="PostNL", tracking_number="3S1"
        )
    return order


@pytest.mark.parametrize("typed", ["²", FIVE_THOUSAND_DIGITS], ids=["superscript", "5000 digits"])
def test_a_malformed_return_quantity_names_its_line_and_nothing_is_written(
    client: Client, shipped: Order, typed: str
) -> None:
    (line,) = shipped.lines.all()
    before = table_rows()

    response = post_form(
        client,
        f"/orders/{shipped.pk}/return/",
        {f"quantity-{line.pk}": typed, f"reason-{line.pk}": "TooSmall"},
    )

    assert response.status_code == 400
    shown = typed if len(typed) <= 20 else f"{typed[:20]}…"
    assert (
        f'<p class="notice error" id="return-refusal" role="alert">Line {line.pk}: {shown} '
        "is not a number of units: give 0 or more.</p>"
    ) in response.content.decode()
    assert table_rows() == before


def test_a_malformed_arrival_quantity_names_its_line_and_nothing_is_written(
    client: Client, shipped: Order, staff: User, django_capture_on_commit_callbacks: Any
) -> None:
    (sold,) = shipped.lines.all()
    with django_capture_on_commit_callbacks(execute=True):
        returned = return_order_create(
            original_order_id=shipped.pk,
            user=staff,
            lines=[{"order_line": sold.pk, "quantity": 1, "reason": "TooSmall"}],
        )
    fulfillment = returned.fulfillments.get()
    (line,) = fulfillment.lines.all()
    url = f"/orders/{returned.pk}/fulfillments/{fulfillment.pk}/receive/"
    before = table_rows()

    response = post_form(client, url, {f"received-{line.pk}": "²", f"condition-{line.pk}": ""})

    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert f"Line {line.pk}: ² is not a number of units: give 0 or more." in page
    assert table_rows() == before
