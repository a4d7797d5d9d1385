"""The lifecycle through a real Celery worker: over the in-memory broker in
``make test``, over Redis and over RabbitMQ (and PostgreSQL) when ``.ci/run`` sets
``CELERY_BROKER_URL`` and ``DATABASE_URL``. Nothing here runs inline: the
orchestration, the re-routing and the export all happen on the worker."""

import io
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker
from django.contrib.auth.models import Group, User
from rest_framework.test import APIClient

from orchestration.celery import app
from orchestration.demo import demo_load
from orchestration.models import ExportStatus, FulfillmentStatus, Order, OrganizationUnit, Product
from orchestration.services.roles import INTEGRATIONS_GROUP

pytestmark = pytest.mark.real_worker


@pytest.fixture
def worker(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(app.conf, "task_always_eager", False)
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        yield


def eventually(check: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    """Wait for the worker to have done something (polling, not a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"The worker did not get to it in {timeout} s: {what}")


def client(username: str, group: str) -> APIClient:
    user = User.objects.create_user(username=username, password="secret-pass-123")
    user.groups.add(Group.objects.get(name=group))
    api = APIClient()
    api.force_authenticate(user)
    return api


def post_order(integration: APIClient, backend_id: str) -> None:
    """Post a one-line order to Amsterdam through the API, as the webshop does."""
    created = integration.post(
        "/api/orders/",
        {
            "backend_id": backend_id,
            "sold_from_organization_unit": OrganizationUnit.objects.get(backend_id="webshop_nl").pk,
            "customer_email": "sanne.devries@example.com",
            "shipping_address": {
                "street": "Herengracht 182",
                "city": "Amsterdam",
                "country_id": "NL",
                "latitude": 52.3752,
                "longitude": 4.8872,
            },
            "lines": [
                {"product": Product.objects.get(backend_id="SNK-CANVAS-WHT").pk, "quantity": 1}
            ],
        },
    )
    assert created.status_code == 201, created.json()


@pytest.mark.django_db(transaction=True)
def test_order_to_shipment_through_a_real_worker(worker: None) -> None:
    demo_load(stdout=io.StringIO(), password="demo-pass-123")
    integration = client("webshop", INTEGRATIONS_GROUP)
    shop = APIClient()
    shop.force_authenticate(User.objects.get(username="kalverstraat"))  # works at 1187
    post_order(integration, "WEB-7001")
    order = Order.objects.get(backend_id="WEB-7001")

    # The worker routes it: the clock decides between the shop (open) and the warehouse.
    first = eventually(lambda: order.fulfillments.first(), "the first orchestration run")
    if first.action == "SHIP_FROM_STORE":
        declined = shop.post(f"/api/fulfillments/{first.pk}/decline/", {"reason": "NoCapacity"})
        assert declined.status_code == 200, declined.json()
        assert declined.json()["status"] == "Cancelled"
        export = eventually(
            lambda: order.fulfillments.filter(action="EXPORT_ORDER").first(),
            "the re-route after the decline",
        )
    else:
        export = first
    eventually(
        lambda: order.fulfillments.filter(
            pk=export.pk, export_status=ExportStatus.EXPORTED
        ).exists(),
        "the export",
    )
    shipped = integration.post(
        f"/api/fulfillments/{export.pk}/ship/", {"carrier": "DHL", "tracking_number": "JV1"}
    )
    assert shipped.status_code == 200, shipped.json()
    assert shipped.json()["status"] == "Completed"
    order.refresh_from_db()
    assert order.status == "Completed"
    assert export.lines.get().status == FulfillmentStatus.COMPLETED


@pytest.mark.django_db(transaction=True)
def test_a_plans_diamond_runs_on_a_real_worker_each_step_once(worker: None) -> None:
    """The plan's steps are the worker's tasks: a claim and an outcome per step
    (``services/plans.plan_step_run``), the join made Ready once both branches are
    done, whichever finishes last."""
    from orchestration.models import Plan, PlanState, PlanStepAttempt, StepState
    from orchestration.services.step_groups import plan_scenario_set, step_group_version_save

    demo_load(stdout=io.StringIO(), password="demo-pass-123")
    step_group_version_save(
        key="Diamond",
        name="Diamond",
        steps=[
            {"key": key, "name": key.upper(), "type": "AUTO_TASK", "handler": "succeed"}
            for key in "abcd"
        ],
        dependencies=[
            {"step": "b", "on": "a"},
            {"step": "c", "on": "a"},
            {"step": "d", "on": "b"},
            {"step": "d", "on": "c"},
        ],
    )
    # Whichever the clock routes it to: a shop (open) or a warehouse.
    for action in ("SHIP_FROM_STORE", "EXPORT_ORDER"):
        plan_scenario_set(group_key="Diamond", action=action, priority=1_000)
    integration = client("webshop", INTEGRATIONS_GROUP)
    post_order(integration, "WEB-7002")

    plan = eventually(
        lambda: Plan.objects.filter(
            order__backend_id="WEB-7002", state=PlanState.COMPLETED
        ).first(),
        "the plan's four steps",
    )
    steps = {step.definition.key: step for step in plan.steps.select_related("definition")}
    assert {key: step.state for key, step in steps.items()} == {
        key: StepState.COMPLETED for key in "abcd"
    }
    assert sorted(
        PlanStepAttempt.objects.filter(step__plan=plan).values_list(
            "step__definition__key", "outcome"
        )
    ) == [(key, "Completed") for key in "abcd"]
    assert steps["d"].started_at >= max(steps["b"].completed_at, steps["c"].completed_at)
