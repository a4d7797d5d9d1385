"""Changing an order in flight (``services/order_changes.py``) on the demo retailer,
whose ship-from-store plan makes Pack a point of no return: before it, a change
cancels the task, freezes its plan and routes again; after it, the change is
refused with a 409 naming the step, and nothing is written."""

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from django.contrib.auth.models import User

from orchestration.errors import ApplicationError, ConflictError
from orchestration.models import (
    FulfillmentStatus,
    Order,
    OrderChange,
    OrderFulfillment,
    OrderFulfillmentLine,
    Plan,
    PlanState,
    PlanStep,
    Product,
    StepState,
)
from orchestration.services import order_changes
from orchestration.services.fulfillments.cancellations import order_line_cancel
from orchestration.services.fulfillments.steps import (
    fulfillment_pack,
    fulfillment_pick,
    fulfillment_start,
)
from orchestration.services.orchestration import order_orchestrate
from orchestration.services.order_changes import order_change
from tests.conftest import table_rows

pytestmark = pytest.mark.django_db

ROTTERDAM = {
    "street": "Coolsingel 40",
    "zip_code": "3011 AD",
    "city": "Rotterdam",
    "country_id": "NL",
    "latitude": 51.9225,
    "longitude": 4.4792,
}


@pytest.fixture
def shop(demo: None) -> User:
    return User.objects.get(username="kalverstraat")


@pytest.fixture
def changed(django_capture_on_commit_callbacks: Any) -> Callable[..., OrderChange]:
    """Change an order and run what is sent after commit (its orchestration), inline."""

    def change(**kwargs: Any) -> OrderChange:
        with django_capture_on_commit_callbacks(execute=True):
            return order_change(**kwargs)

    return change


def test_an_address_change_before_the_point_of_no_return_routes_the_order_again(
    place: Callable[..., Order], shop: User, changed: Callable[..., OrderChange]
) -> None:
    order = place("SNK-CANVAS-WHT")
    first = OrderFulfillment.objects.get(order=order)
    assert first.supplier_organization_unit.backend_id == "1187"  # Amsterdam
    fulfillment_start(fulfillment_id=first.pk, user=shop)

    change = changed(order_id=order.pk, user=shop, shipping_address=ROTTERDAM)

    assert (change.number, change.summary) == (1, "the shipping address")
    assert change.before["shipping_address"]["city"] == "Amsterdam"
    assert change.after["shipping_address"]["city"] == "Rotterdam"
    first.refresh_from_db()
    assert first.status == FulfillmentStatus.CANCELLED
    assert set(first.lines.values_list("cancellation_reason", flat=True)) == {"OrderChanged"}
    old_plan = Plan.objects.get(fulfillment=first)
    assert old_plan.state == PlanState.FROZEN
    assert dict(PlanStep.objects.filter(plan=old_plan).values_list("definition__key", "state")) == {
        "start": StepState.CANCELED,
        "pick": StepState.DISCARDED,
        "pack": StepState.DISCARDED,
        "ship": StepState.DISCARDED,
    }
    # Routed again, from Rotterdam's side, with a new plan.
    (again,) = OrderFulfillment.objects.filter(order=order).exclude(pk=first.pk)
    assert again.supplier_organization_unit.backend_id != "1187"
    assert Plan.objects.get(fulfillment=again).state == PlanState.IN_PROGRESS
    assert order.events.filter(kind="order.changed").get().message == (
        "Change 1: the shipping address. 1 fulfilment(s) cancelled to route again."
    )


def test_a_change_after_the_point_of_no_return_is_refused_naming_the_step_and_nothing_changes(
    place: Callable[..., Order], shop: User
) -> None:
    order = place("SNK-CANVAS-WHT")
    task = OrderFulfillment.objects.get(order=order)
    fulfillment_start(fulfillment_id=task.pk, user=shop)
    fulfillment_pick(fulfillment_id=task.pk, user=shop)
    fulfillment_pack(fulfillment_id=task.pk, user=shop)
    line = order.lines.get()
    before = table_rows()

    with pytest.raises(ConflictError) as refused:
        order_change(order_id=order.pk, user=shop, shipping_address=ROTTERDAM)
    assert refused.value.status == 409
    assert refused.value.code == "point_of_no_return"
    assert refused.value.message == (
        "Changing the shipping address is refused: step 'Pack' of the plan 'Ship from store' "
        "is Completed, and it is a point of no return."
    )
    with pytest.raises(ConflictError) as cancel:
        order_line_cancel(order_line_id=line.pk, quantity=1, user=shop)
    assert cancel.value.message == (
        f"Cancelling line {line.pk} is refused: step 'Pack' of the plan 'Ship from store' "
        "is Completed, and it is a point of no return."
    )
    assert table_rows() == before


def test_a_quantity_change_cancels_and_reroutes_only_that_line(
    place: Callable[..., Order], shop: User, changed: Callable[..., OrderChange]
) -> None:
    order = place("SNK-CANVAS-WHT", "SCF-WOOL-RED")
    scarf = order.lines.get(product__backend_id="SCF-WOOL-RED")

    change = changed(order_id=order.pk, user=shop, quantities={scarf.pk: 2})

    assert change.summary == f"line {scarf.pk} to 2"
    scarf.refresh_from_db()
    assert scarf.quantity == 2
    routed = sum(
        line.quantity
        for fulfillment in OrderFulfillment.objects.filter(order=order).exclude(
            status=FulfillmentStatus.CANCELLED
        )
        for line in fulfillment.lines.filter(order_line=scarf).exclude(
            status=FulfillmentStatus.CANCELLED
        )
    )
    assert routed == 2


def test_a_removed_line_is_not_routed_again_and_its_units_stay_cancelled(
    place: Callable[..., Order], shop: User, changed: Callable[..., OrderChange]
) -> None:
    order = place("SNK-CANVAS-WHT", "SCF-WOOL-RED")
    scarf = order.lines.get(product__backend_id="SCF-WOOL-RED")

    change = changed(order_id=order.pk, user=shop, remove_lines=[scarf.pk])

    assert change.summary == f"line {scarf.pk} removed"
    scarf.refresh_from_db()
    assert (scarf.quantity, scarf.quantity_cancelled) == (1, 1)
    # Its units were cancelled as the order line's own (FulfillmentCancelled), so the
    # routing that follows the change does not send them to anyone again.
    held = OrderFulfillmentLine.objects.filter(order_line=scarf)
    assert not held.exclude(status=FulfillmentStatus.CANCELLED).exists()
    assert set(held.values_list("cancellation_reason", flat=True)) == {"FulfillmentCancelled"}
    assert "removed" not in " ".join(
        order.events.filter(kind="orchestration.run").values_list("message", flat=True)
    )
    before = table_rows()
    with pytest.raises(ApplicationError) as again:
        order_change(order_id=order.pk, user=shop, remove_lines=[scarf.pk])
    assert (again.value.field, again.value.message) == (
        "remove_lines[0]",
        f"Line {scarf.pk} has nothing left to remove: it is shipped or cancelled.",
    )
    assert table_rows() == before


def test_a_removed_line_not_yet_routed_is_not_routed_afterwards(
    place: Callable[..., Order], shop: User
) -> None:
    order = place("SNK-CANVAS-WHT")
    scarf_product = Product.objects.get(backend_id="SCF-WOOL-RED")
    # Added and removed before the routing that the addition asked for has run.
    order_change(order_id=order.pk, user=shop, add_lines=[{"product": scarf_product}])
    scarf = order.lines.get(product=scarf_product)
    order_change(order_id=order.pk, user=shop, remove_lines=[scarf.pk])

    order_orchestrate(order_id=order.pk)

    held = OrderFulfillmentLine.objects.filter(order_line=scarf)
    assert list(held.values_list("status", "cancellation_reason", "fulfillment__action")) == [
        (FulfillmentStatus.CANCELLED, "FulfillmentCancelled", "CANCEL")
    ]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"status": "Cancelled"},
            "Order {order} is Cancelled: nothing of it is in flight, so it cannot be changed.",
        ),
        (
            {"status": "Completed"},
            "Order {order} is Completed: nothing of it is in flight, so it cannot be changed.",
        ),
        (
            {"intent": "Returns"},
            "Order {order} is a return order: what it returns follows from what was shipped; "
            "it cannot be changed in flight.",
        ),
    ],
)
def test_a_change_of_an_ended_or_return_order_is_refused_with_a_409_and_nothing_is_written(
    place: Callable[..., Order], shop: User, fields: dict[str, str], message: str
) -> None:
    order = place("SNK-CANVAS-WHT")
    Order.objects.filter(pk=order.pk).update(**fields)
    before = table_rows()

    with pytest.raises(ConflictError) as refused:
        order_change(
            order_id=order.pk,
            user=shop,
            add_lines=[{"product": Product.objects.get(backend_id="SCF-WOOL-RED")}],
        )

    assert (refused.value.status, refused.value.code, refused.value.message) == (
        409,
        "not_in_flight",
        message.format(order=order.backend_id),
    )
    assert table_rows() == before


def test_a_refused_quantity_or_unknown_line_is_named_by_its_path_in_the_api(
    place: Callable[..., Order],
) -> None:
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(User.objects.get(username="admin"))
    order = place("SNK-CANVAS-WHT", "SCF-WOOL-RED")
    scarf = order.lines.get(product__backend_id="SCF-WOOL-RED")
    before = table_rows()

    fields = [
        api.post(f"/api/orders/{order.pk}/changes/", body, format="json").json()["errors"][0][
            "field"
        ]
        for body in (
            {"lines": [{"id": scarf.pk, "quantity": 2}, {"id": 999999, "quantity": 1}]},
            {"remove_lines": [scarf.pk, 999999]},
        )
    ]

    assert fields == ["lines[1].id", "remove_lines[1]"]
    assert table_rows() == before


def test_lines_added_beyond_the_lines_an_order_may_have_are_refused_and_nothing_is_written(
    place: Callable[..., Order], shop: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(order_changes, "ORDER_LINES", replace(order_changes.ORDER_LINES, maximum=3))
    order = place("SNK-CANVAS-WHT", "SCF-WOOL-RED")
    scarf = Product.objects.get(backend_id="SCF-WOOL-RED")
    before = table_rows()

    with pytest.raises(ApplicationError) as refused:
        order_change(
            order_id=order.pk, user=shop, add_lines=[{"product": scarf}, {"product": scarf}]
        )

    assert (refused.value.code, refused.value.field, refused.value.message) == (
        "max_length",
        "add_lines",
        f"Order {order.backend_id} has 2 lines; with 2 added it would have 4: at most 3 "
        "lines per order.",
    )
    assert table_rows() == before


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"remove_lines": ["LINE", "LINE"]}, "remove_lines[1]", "Line LINE is named twice."),
        (
            {"lines": [{"id": "LINE", "quantity": 2}, {"id": "LINE", "quantity": 3}]},
            "lines[1].id",
            "Line LINE is named twice.",
        ),
    ],
)
def test_a_change_naming_a_line_twice_is_refused_and_nothing_is_written(
    place: Callable[..., Order], body: dict[str, Any], field: str, message: str
) -> None:
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(User.objects.get(username="admin"))
    order = place("SNK-CANVAS-WHT", "SCF-WOOL-RED")
    scarf = order.lines.get(product__backend_id="SCF-WOOL-RED")
    sent = json.loads(json.dumps(body).replace('"LINE"', str(scarf.pk)))
    before = table_rows()

    response = api.post(f"/api/orders/{order.pk}/changes/", sent, format="json")

    assert response.status_code == 400
    shown = message.replace("LINE", str(scarf.pk))
    assert response.json()["errors"] == [{"code": "duplicate", "message": shown, "field": field}]
    assert table_rows() == before


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "Say what changes: shipping_address, quantities, add_lines or remove_lines."),
        ({"quantities": {999999: 1}}, "has no line 999999."),
        ({"shipping_address": {"planet": "Mars"}}, "Unknown address field 'planet'."),
        ({"add_lines": [{"product": 999999}]}, "There is no product 999999."),
    ],
)
def test_a_bad_change_is_refused_and_nothing_changes(
    place: Callable[..., Order], shop: User, kwargs: dict[str, Any], message: str
) -> None:
    order = place("SNK-CANVAS-WHT")
    before = table_rows()
    with pytest.raises(ApplicationError) as refused:
        order_change(order_id=order.pk, user=shop, **kwargs)
    assert refused.value.message.endswith(message)
    assert table_rows() == before


def test_the_api_changes_an_order_and_refuses_past_the_point_of_no_return_with_a_409(
    place: Callable[..., Order], shop: User, django_capture_on_commit_callbacks: Any
) -> None:
    from rest_framework.test import APIClient

    admin = User.objects.get(username="admin")
    api = APIClient()
    api.force_authenticate(admin)
    order = place("SNK-CANVAS-WHT", "SCF-WOOL-RED")
    scarf = order.lines.get(product__backend_id="SCF-WOOL-RED")

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            f"/api/orders/{order.pk}/changes/",
            {"lines": [{"id": scarf.pk, "quantity": 3}]},
            format="json",
        )
    assert response.status_code == 201, response.json()
    assert (response.json()["number"], response.json()["summary"]) == (1, f"line {scarf.pk} to 3")
    assert response.json()["created_by"] == "admin"

    task = (
        OrderFulfillment.objects.filter(order=order)
        .exclude(status=FulfillmentStatus.CANCELLED)
        .get(supplier_organization_unit__backend_id="1187")
    )
    fulfillment_start(fulfillment_id=task.pk, user=shop)
    fulfillment_pick(fulfillment_id=task.pk, user=shop)
    fulfillment_pack(fulfillment_id=task.pk, user=shop)
    before = table_rows()
    refused = api.post(
        f"/api/orders/{order.pk}/changes/", {"remove_lines": [scarf.pk]}, format="json"
    )
    assert refused.status_code == 409
    assert refused.json() == {
        "code": "point_of_no_return",
        "message": f"Changing line {scarf.pk} removed is refused: step 'Pack' of the plan "
        "'Ship from store' is Completed, and it is a point of no return.",
        "errors": [
            {
                "code": "point_of_no_return",
                "message": f"Changing line {scarf.pk} removed is refused: step 'Pack' of the "
                "plan 'Ship from store' is Completed, and it is a point of no return.",
                "field": None,
            }
        ],
    }
    empty = api.post(f"/api/orders/{order.pk}/changes/", {}, format="json")
    assert empty.status_code == 400
    assert empty.json()["message"] == (
        "Say what changes: shipping_address, lines, add_lines or remove_lines."
    )
    assert table_rows() == before
