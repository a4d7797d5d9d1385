"""An order of 5,000 lines (the most any entrance accepts) is routed everywhere orders are.

``manage.py simulate``, the worker (``order_orchestrate_task``), the preview API (a
stored order and a scenario) and the preview page. Before issue 18 the search
recursed once per order line and an order of 960 lines raised RecursionError in the
worker, which then resent it forever. The network is small (two shops) to keep the
tests quick; ``tests/long_orders.py`` has it.
"""

import json
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from orchestration.models import (
    FulfillmentAction,
    OrderFulfillment,
    OrderFulfillmentLine,
    OrganizationUnit,
    Product,
    Stock,
)
from orchestration.services.orders import order_create
from orchestration.services.sheets import sheet_create
from orchestration.tasks import order_orchestrate_task
from tests.long_orders import (
    ADDRESS,
    AT,
    LINES,
    SHEET,
    SHOPS,
    long_order_scenario,
    winning_shipments,
)

# The better shop ships every line, and no completion of a branch that gives a line
# to the other can beat that (issue 19's bounds): the search is exact, after the
# empty proposition, each shop's full shipment and the winner's leaf.
EXACT = {"Exact": True, "Propositions": 4, "Bound": None}


def test_simulate_routes_an_order_of_5000_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "long.json"
    path.write_text(json.dumps(long_order_scenario()), encoding="utf-8")
    call_command("simulate", str(path))
    blob = json.loads(capsys.readouterr().out)
    assert winning_shipments(blob) == [("SHIP_FROM_STORE", 1, LINES, LINES)]
    assert (blob["HasErrors"], blob["Search"]) == (False, EXACT)


@pytest.fixture
def long_order(db: Any) -> Any:
    """The network of ``long_order_scenario`` in the database, and its order, flagged."""
    shoe = Product.objects.create(backend_id="SHOE-42", name="Leather shoes")
    for backend_id, name, latitude, longitude in SHOPS:
        shop = OrganizationUnit.objects.create(
            backend_id=backend_id,
            name=name,
            type="Shop",
            address_city="Amsterdam",
            country_id="NL",
            time_zone="Europe/Amsterdam",
            address_latitude=latitude,
            address_longitude=longitude,
        )
        Stock.objects.create(organization_unit=shop, product=shoe, quantity_on_hand=LINES)
    sheet_create(fulfillment="ShipFromStore", name="Ship from store", source=SHEET, is_active=True)
    shipping = {f"shipping_{key}": value for key, value in ADDRESS.items()}
    return order_create(
        backend_id="LONG-1",
        lines=[{"product": shoe, "quantity": 1, "unit_price": 50}] * LINES,
        **shipping,
    )


def test_the_worker_routes_an_order_of_5000_lines(long_order: Any) -> None:
    order_orchestrate_task.apply(args=[long_order.pk])
    (fulfillment,) = OrderFulfillment.objects.filter(order=long_order)
    assert (fulfillment.action, fulfillment.supplier_organization_unit.backend_id) == (
        FulfillmentAction.SHIP_FROM_STORE,
        "shop_a",
    )
    lines = OrderFulfillmentLine.objects.filter(fulfillment=fulfillment)
    assert (lines.count(), sorted({line.quantity for line in lines})) == (LINES, [1])
    assert Stock.objects.get(organization_unit__backend_id="shop_a").quantity_reserved == LINES
    long_order.refresh_from_db()
    assert long_order.needs_orchestration is False


def test_the_preview_api_routes_a_stored_order_of_5000_lines(
    long_order: Any, client_for: Any, designer: User
) -> None:
    response = client_for(designer).post(
        "/api/preview/", {"order": "LONG-1", "at": AT}, format="json"
    )
    assert response.status_code == 200
    blob = response.json()
    shop_a = OrganizationUnit.objects.get(backend_id="shop_a").pk
    assert winning_shipments(blob) == [("SHIP_FROM_STORE", shop_a, LINES, LINES)]
    assert blob["Search"] == EXACT
    assert OrderFulfillment.objects.count() == 0  # a preview writes nothing


def test_the_preview_api_routes_a_scenario_of_5000_lines(client_for: Any, designer: User) -> None:
    response = client_for(designer).post(
        "/api/preview/", {"scenario": long_order_scenario()}, format="json"
    )
    assert response.status_code == 200
    blob = response.json()
    assert winning_shipments(blob) == [("SHIP_FROM_STORE", 1, LINES, LINES)]
    assert blob["Search"] == EXACT


def test_the_preview_page_routes_a_scenario_of_5000_lines(designer: User) -> None:
    client = Client()
    client.force_login(designer)
    response = client.post("/preview/", {"scenario": json.dumps(long_order_scenario())})
    assert response.status_code == 200
    page = response.content.decode()
    assert "stopped after" not in page  # exact: no bound to report
    assert page.count('data-action="SHIP_FROM_STORE" data-supplier="shop_a"') == 1
