"""Poison orders: an order whose orchestration fails with an unexpected error.

Such an order is retried (by the sweep) up to ``Orchestration:MaxAttempts`` runs in a
row, then set ``OrchestrationFailed`` with the error: on the order (API, Suite list
filter, order page), on its timeline and as a webhook event; the sweep leaves it
alone from then on. A person retries it from the API or the Suite once the cause is
fixed. The order's own request never fails for it: the POST answers 201 even when the
run that follows its commit (inline, with no broker) blows up.

The error comes from a route provider whose service is down (``BrokenRoutes``): the
engine asks it how far each shop is from the customer.
"""

import logging
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from rest_framework.test import APIClient

from orchestration.engine.routes import Address, Route
from orchestration.models import (
    FulfillmentStatus,
    OrchestrationDetails,
    Order,
    OrderFulfillment,
    OrderStatus,
    Stock,
    WebhookStatus,
)
from orchestration.services import orchestration
from orchestration.services.fulfillments.steps import (
    fulfillment_pack,
    fulfillment_pick,
    fulfillment_ship,
    fulfillment_start,
)
from orchestration.services.settings import setting_set
from orchestration.services.sweep import LOST_AFTER, sweep

from ..conftest import table_rows
from .conftest import Receiver

pytestmark = pytest.mark.django_db(transaction=True)

BROKEN = "tests.lifecycle.test_orchestration_failures.BrokenRoutes"
ERROR = "RuntimeError: the route service answered 502 Bad Gateway"


class BrokenRoutes:
    """A route provider whose service is down."""

    def route(self, origin: Address, destination: Address) -> Route | None:
        raise RuntimeError("the route service answered 502 Bad Gateway")


@pytest.fixture
def broken_routes(settings: Any) -> None:
    settings.ORCHESTRATION_ROUTE_PROVIDER = BROKEN


@pytest.fixture
def webhook(settings: Any, receiver: Receiver) -> Receiver:
    settings.ORCHESTRATION_WEBHOOK_URL = receiver.url + "/events"
    return receiver


def kinds(order: Order) -> list[str]:
    return list(order.events.order_by("pk").values_list("kind", flat=True))


def reserved_total() -> int:
    return sum(Stock.objects.values_list("quantity_reserved", flat=True))


@pytest.fixture
def failed(
    place: Callable[..., Order],
    broken_routes: None,
    clock: Any,
) -> Order:
    """An order that failed Orchestration:MaxAttempts (2 here) runs in a row."""
    setting_set(name="Orchestration:MaxAttempts", value=2)
    order = place("SNK-CANVAS-WHT")
    clock.shift(LOST_AFTER)
    assert sweep()["resent"] == 1
    order.refresh_from_db()
    assert (order.status, order.orchestration_failures) == (OrderStatus.ORCHESTRATION_FAILED, 2)
    return order


def test_an_order_whose_orchestration_keeps_failing_is_retried_then_set_failed(
    place: Callable[..., Order],
    broken_routes: None,
    webhook: Receiver,
    clock: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="orchestration.services.orchestration"):
        order = place("SNK-CANVAS-WHT")

    # The first run failed: counted, left flagged for the sweep, told on the timeline.
    assert (order.status, order.needs_orchestration) == (OrderStatus.NEW, True)
    assert (order.orchestration_failures, order.orchestration_error) == (1, ERROR)
    assert (order.orchestration_attempts, order.fulfillments.count()) == (0, 0)
    retrying = order.events.get(kind="orchestration.retrying")
    assert retrying.message == (
        f"Orchestration failed (attempt 1 of 5): {ERROR} It is tried again within a few minutes."
    )
    assert retrying.webhook_status == WebhookStatus.NONE
    # The log keeps the traceback.
    (logged,) = [r for r in caplog.records if r.name == "orchestration.services.orchestration"]
    assert logged.getMessage() == (
        f"Order {order.pk}: orchestration failed with an unexpected error."
    )
    assert logged.exc_info is not None and logged.exc_info[0] is RuntimeError

    # Not before LOST_AFTER; then once per sweep, until the fifth failure.
    assert sweep()["resent"] == 0
    for attempt in range(2, 6):
        clock.shift(LOST_AFTER)
        assert sweep()["resent"] == 1
        order.refresh_from_db()
        assert order.orchestration_failures == attempt

    assert (order.status, order.needs_orchestration, order.next_orchestration_at) == (
        OrderStatus.ORCHESTRATION_FAILED,
        False,
        None,
    )
    assert order.orchestration_error == ERROR
    assert kinds(order) == [
        "order.created",
        *["orchestration.retrying"] * 4,
        "orchestration.failed",
    ]
    given_up = order.events.get(kind="orchestration.failed")
    assert (given_up.actor, given_up.message) == (
        "system:orchestration",
        f"Orchestration failed 5 times in a row and was given up: {ERROR} "
        "Retry it once the cause is fixed.",
    )
    assert given_up.data == {"failures": 5, "max_attempts": 5, "error": ERROR}
    assert given_up.webhook_status == WebhookStatus.SENT
    (sent,) = webhook.bodies("/events")
    assert (sent["kind"], sent["order"], sent["data"]) == (
        "orchestration.failed",
        {"id": order.pk, "backend_id": order.backend_id},
        {"failures": 5, "max_attempts": 5, "error": ERROR},
    )

    # The sweep no longer sends it, however long it waits.
    clock.shift(LOST_AFTER * 30)
    assert sweep() == {
        "expired": 0,
        "waiting": 0,
        "resent": 0,
        "drains": 0,
        "exports": 0,
        "webhooks": 0,
        "backtests": 0,
        "plans_ended": 0,
        "steps_due": 0,
        "steps_retried": 0,
        "pauses": 0,
        "at_risk": 0,
        "steps_lost": 0,
        "steps_resent": 0,
        "changes_due": 0,
    }
    order.refresh_from_db()
    assert (order.orchestration_failures, order.status) == (5, OrderStatus.ORCHESTRATION_FAILED)


def test_the_order_post_answers_201_when_the_run_after_its_commit_blows_up(
    demo: None, clock: Any, broken_routes: None, staff: User
) -> None:
    """No broker: the run happens inline, on the request's commit; it used to turn the
    answer into a 500 for an order that was stored."""
    client = APIClient()
    client.force_authenticate(staff)
    response = client.post(
        "/api/orders/",
        {
            "backend_id": "WEB-9001",
            "sold_from_organization_unit": "webshop_nl",
            "shipping_address": {"city": "Amsterdam", "latitude": 52.3752, "longitude": 4.8872},
            "lines": [{"product": "SNK-CANVAS-WHT", "quantity": 1}],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    order = Order.objects.get(backend_id="WEB-9001")
    assert order.lines.count() == 1
    assert (order.needs_orchestration, order.orchestration_failures) == (True, 1)


def test_a_run_that_fails_after_writing_leaves_nothing_and_the_failure_is_kept(
    place: Callable[..., Order], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run's transaction rolls back whole; the failure is written in its own."""

    def crash(**kwargs: Any) -> None:
        raise ZeroDivisionError("division by zero")

    # Called once the run's writes are sent and before they are committed.
    monkeypatch.setattr(orchestration, "order_status_changed", crash)
    reserved = reserved_total()
    order = place("SNK-CANVAS-WHT", "SCF-WOOL-RED")
    assert OrchestrationDetails.objects.filter(order=order).count() == 0
    assert OrderFulfillment.objects.filter(order=order).count() == 0
    assert reserved_total() == reserved
    assert (order.status, order.orchestration_attempts) == (OrderStatus.NEW, 0)
    assert (order.needs_orchestration, order.orchestration_failures) == (True, 1)
    assert order.orchestration_error == "ZeroDivisionError: division by zero"
    assert kinds(order) == ["order.created", "orchestration.retrying"]


def test_a_run_that_gets_through_forgets_the_failures_before_it(
    place: Callable[..., Order],
    broken_routes: None,
    settings: Any,
    clock: Any,
) -> None:
    order = place("SNK-CANVAS-WHT")
    assert order.orchestration_failures == 1
    settings.ORCHESTRATION_ROUTE_PROVIDER = ""  # the route service is back
    clock.shift(LOST_AFTER)
    assert sweep()["resent"] == 1
    order.refresh_from_db()
    assert (order.status, order.orchestration_failures, order.orchestration_error) == (
        OrderStatus.ROUTED,
        0,
        "",
    )
    assert order.fulfillments.count() == 1


def test_failed_orders_are_listed_by_the_api_and_the_suite_filter(
    failed: Order, place: Callable[..., Order], settings: Any, staff: User
) -> None:
    settings.ORCHESTRATION_ROUTE_PROVIDER = ""
    routed = place("SCF-WOOL-RED")
    assert routed.status == OrderStatus.ROUTED
    api = APIClient()
    api.force_authenticate(staff)

    listed = api.get("/api/orders/", {"status": "OrchestrationFailed"}).json()
    assert [o["id"] for o in listed["results"]] == [failed.pk]
    one = api.get(f"/api/orders/{failed.pk}/").json()
    assert (one["status"], one["orchestration_failures"], one["orchestration_error"]) == (
        "OrchestrationFailed",
        2,
        ERROR,
    )
    timeline = api.get(f"/api/orders/{failed.pk}/timeline/").json()["results"]
    assert [e["kind"] for e in timeline][-1] == "orchestration.failed"

    suite = Client()
    suite.force_login(staff)
    page = suite.get("/orders/", {"status": "OrchestrationFailed"}).content.decode()
    assert re.findall(r'data-order-id="(\d+)"', page) == [str(failed.pk)]
    assert (
        '<option value="OrchestrationFailed" selected>Orchestration failed (retry it by hand)'
        "</option>"
    ) in page
    every = suite.get("/orders/").content.decode()
    assert set(re.findall(r'data-order-id="(\d+)"', every)) >= {str(failed.pk), str(routed.pk)}
    # The list leads to them.
    assert (
        '<a class="button danger" id="failed-orchestrations" '
        'href="/orders/?status=OrchestrationFailed">Failed orchestrations (1)</a>'
    ) in every


def test_the_order_page_shows_the_failure_and_a_retry_button_to_who_may_retry(
    failed: Order, staff: User
) -> None:
    suite = Client()
    suite.force_login(staff)
    page = suite.get(f"/orders/{failed.pk}/").content.decode()
    assert 'id="order-status">OrchestrationFailed</span>' in page
    assert f'<code class="error-text" id="orchestration-error">{ERROR}</code>' in page
    assert f'action="/orders/{failed.pk}/retry-orchestration/" id="retry-orchestration"' in page
    assert "Orchestration failed 2 times in a row and was given up" in page  # the timeline

    viewer = User.objects.create_user("viewer", password="secret-pass-123")
    viewer.user_permissions.add(*Permission.objects.filter(codename__in=["view_order"]))
    viewer.user_permissions.add(Permission.objects.get(codename="work_every_organization_unit"))
    suite.force_login(viewer)
    page = suite.get(f"/orders/{failed.pk}/").content.decode()
    assert f'<code class="error-text" id="orchestration-error">{ERROR}</code>' in page
    assert 'id="retry-orchestration"' not in page
    assert "Retrying it needs the permission Orders:Edit." in page


def test_a_retry_from_the_api_resets_the_count_and_routes_the_order(
    failed: Order, settings: Any, integrator: User
) -> None:
    settings.ORCHESTRATION_ROUTE_PROVIDER = ""  # the cause is fixed
    api = APIClient()
    api.force_authenticate(integrator)
    response = api.post(f"/api/orders/{failed.pk}/retry-orchestration/")

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["orchestration_failures"], body["orchestration_error"]) == (
        "Routed",
        0,
        "",
    )
    failed.refresh_from_db()
    assert (failed.status, failed.needs_orchestration) == (OrderStatus.ROUTED, False)
    assert failed.fulfillments.count() == 1
    retry = failed.events.get(kind="orchestration.retry")
    assert (retry.actor, retry.message) == (
        "integrator",
        f"Orchestration retried by hand after it failed: {ERROR}",
    )
    assert kinds(failed)[-2:] == ["orchestration.retry", "orchestration.run"]
    # Once routed it is not failed any more: a second retry is refused, nothing changes.
    before = table_rows()
    again = api.post(f"/api/orders/{failed.pk}/retry-orchestration/")
    assert again.status_code == 409
    assert again.json() == {
        "code": "not_failed",
        "message": "Only an order whose orchestration failed can be retried; this one is Routed.",
        "errors": [
            {
                "code": "not_failed",
                "message": "Only an order whose orchestration failed can be retried; "
                "this one is Routed.",
                "field": None,
            }
        ],
    }
    assert table_rows() == before


def test_a_retry_while_the_cause_is_not_fixed_starts_a_new_count(
    failed: Order, integrator: User
) -> None:
    api = APIClient()
    api.force_authenticate(integrator)
    response = api.post(f"/api/orders/{failed.pk}/retry-orchestration/")
    assert response.status_code == 200, response.content
    failed.refresh_from_db()
    # Failed once more (inline): back to counting, flagged for the sweep; the status is
    # what its lines give (never routed: New).
    assert (failed.status, failed.needs_orchestration, failed.orchestration_failures) == (
        OrderStatus.NEW,
        True,
        1,
    )
    assert kinds(failed)[-2:] == ["orchestration.retry", "orchestration.retrying"]


def test_a_retry_is_refused_without_the_permission_and_nothing_changes(failed: Order) -> None:
    """Designers read orders but may not change them."""
    designer = User.objects.get(username="designer")
    api = APIClient()
    api.force_authenticate(designer)
    suite = Client()
    suite.force_login(designer)
    before = table_rows()
    response = api.post(f"/api/orders/{failed.pk}/retry-orchestration/")
    assert response.status_code == 403
    assert response.json()["message"] == (
        "You need the permission orchestration.change_order for this."
    )
    assert suite.post(f"/orders/{failed.pk}/retry-orchestration/").status_code == 403
    assert table_rows() == before


def test_a_retry_from_the_suite_routes_the_order(failed: Order, settings: Any, staff: User) -> None:
    settings.ORCHESTRATION_ROUTE_PROVIDER = ""
    suite = Client()
    suite.force_login(staff)
    response = suite.post(f"/orders/{failed.pk}/retry-orchestration/")
    assert (response.status_code, response["Location"]) == (302, f"/orders/{failed.pk}/")
    page = suite.get(response["Location"]).content.decode()
    assert f"Order {failed.backend_id} was orchestrated again." in page
    assert 'id="orchestration-failed"' not in page
    failed.refresh_from_db()
    assert (failed.status, failed.orchestration_failures) == (OrderStatus.ROUTED, 0)
    assert failed.events.get(kind="orchestration.retry").actor == "admin"


def test_a_failed_order_stays_failed_while_the_shop_ships_what_it_has(
    place: Callable[..., Order], staff: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Routing again the line a shop did not pick fails; the shop then ships the other
    one. The lines alone would make the order Waiting, but orchestration gave up on part
    of it: it stays OrchestrationFailed, for a person to see."""
    setting_set(name="Orchestration:MaxAttempts", value=1)
    order = place("SNK-CANVAS-WHT", "SCF-WOOL-RED")
    task = order.fulfillments.get()
    scarf = task.lines.get(order_line__product__backend_id="SCF-WOOL-RED")

    def crash(*args: Any, **kwargs: Any) -> None:
        raise KeyError("ShipFromStore")

    monkeypatch.setattr(orchestration, "order_scenario", crash)
    fulfillment_start(fulfillment_id=task.pk, user=staff)
    fulfillment_pick(fulfillment_id=task.pk, user=staff, picked={scarf.pk: 0})
    order.refresh_from_db()
    assert (order.status, order.orchestration_error) == (
        OrderStatus.ORCHESTRATION_FAILED,
        "KeyError: 'ShipFromStore'",
    )

    fulfillment_pack(fulfillment_id=task.pk, user=staff)
    fulfillment_ship(fulfillment_id=task.pk, user=staff, carrier="PostNL", tracking_number="3S1")
    task.refresh_from_db()
    assert task.status == FulfillmentStatus.COMPLETED
    order.refresh_from_db()
    assert order.status == OrderStatus.ORCHESTRATION_FAILED
    assert [line.status for line in order.lines.order_by("product__backend_id")] == [
        "Open",  # the scarf
        "Completed",
    ]
    # Nothing new was asked of orchestration either.
    assert (order.needs_orchestration, order.orchestration_failures) == (False, 1)
