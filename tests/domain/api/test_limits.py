"""One set of limits (``orchestration/engine/limits.py``) for every way an order comes in.

Lines per order, units per line and units of stock: the API (orders, returns, stock),
the preview (its scenario JSON, on the page and through the API, and its stock form)
and ``manage.py simulate`` refuse the same values in the same words, naming the field
or JSON path. Before issue 18 ``simulate`` routed a quantity of 10^30 that the API
refused, and the preview's stock form stopped at 1,000,000 units, the API at 2,000,000,000.
"""

import json
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from orchestration.engine.limits import LIMITS, LINE_QUANTITY, ORDER_LINES, STOCK_QUANTITY
from orchestration.services.orders import order_create
from tests.conftest import table_rows
from tests.long_orders import long_order_scenario
from tests.sources import ROOT

TOO_MANY_UNITS = LINE_QUANTITY.maximum + 1
HUGE = 10**30


def test_each_limit_says_what_it_counts_and_why() -> None:
    assert [(limit.maximum, limit.refusal) for limit in LIMITS] == [
        (5_000, "at most 5,000 lines per order"),
        (1_000_000, "at most 1,000,000 units per order line"),
        (
            2_000_000_000,
            "at most 2,000,000,000 units of stock of a product at one organization unit",
        ),
        (500, "at most 500 orders per bulk request"),
    ]
    assert all(len(limit.reason) > 80 for limit in LIMITS)
    assert LINE_QUANTITY.message() == "At most 1,000,000 units per order line."


def test_docs_list_every_limit() -> None:
    api = (ROOT / "docs" / "api.md").read_text()
    for limit in LIMITS:
        assert f"| {limit.per} | {limit.maximum:,} |" in api


# --- simulate --------------------------------------------------------------------------


def simulate_refusal(tmp_path: Path, scenario: dict[str, Any]) -> str:
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(scenario), encoding="utf-8")
    with pytest.raises(CommandError) as refused:
        call_command("simulate", str(path))
    assert refused.value.returncode == 2
    return str(refused.value)


def with_change(path: tuple[Any, ...], value: Any, lines: int = 2) -> dict[str, Any]:
    scenario = long_order_scenario(lines)
    target = scenario
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return scenario


@pytest.mark.parametrize("quantity", [TOO_MANY_UNITS, HUGE])
def test_simulate_refuses_a_line_quantity_over_the_limit(tmp_path: Path, quantity: int) -> None:
    scenario = with_change(("order", "lines", 1, "quantity"), quantity)
    assert simulate_refusal(tmp_path, scenario) == (
        f"order.lines[1].quantity: at most 1,000,000 units per order line, got {quantity}"
    )


def test_simulate_refuses_an_order_over_the_line_limit(tmp_path: Path) -> None:
    scenario = long_order_scenario(ORDER_LINES.maximum + 1)
    assert simulate_refusal(tmp_path, scenario) == (
        "order.lines: at most 5,000 lines per order, got 5,001"
    )


def test_simulate_refuses_stock_over_the_limit(tmp_path: Path) -> None:
    scenario = with_change(("stock", 1, "quantity_available"), STOCK_QUANTITY.maximum + 1)
    assert simulate_refusal(tmp_path, scenario) == (
        "stock[1].quantity_available: at most 2,000,000,000 units of stock of a product at "
        "one organization unit, got 2000000001"
    )


def test_simulate_routes_every_value_at_the_limits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = with_change(("order", "lines", 0, "quantity"), LINE_QUANTITY.maximum)
    scenario["stock"][0]["quantity_available"] = STOCK_QUANTITY.maximum
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(scenario), encoding="utf-8")
    call_command("simulate", str(path))
    blob = json.loads(capsys.readouterr().out)
    (shipment,) = blob["Fulfillments"][0]["Shipments"]
    assert [line["Quantity"] for line in shipment["OrderLines"]] == [LINE_QUANTITY.maximum, 1]


def test_the_simulate_command_line_prints_the_path_and_exits_2(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(with_change(("order", "lines", 0, "quantity"), HUGE)))
    manage = ROOT / "manage.py"
    done = subprocess.run(
        [sys.executable, str(manage), "simulate", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        f"simulate: order.lines[0].quantity: at most 1,000,000 units per order line, got {HUGE}\n"
    )


# --- The preview: its scenario JSON (page and API) and its stock form -----------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        (
            (("order", "lines", 1, "quantity"), TOO_MANY_UNITS),
            "order.lines[1].quantity",
            "at most 1,000,000 units per order line, got 1000001",
        ),
        (
            (("order", "lines", 1, "quantity"), HUGE),
            "order.lines[1].quantity",
            f"at most 1,000,000 units per order line, got {HUGE}",
        ),
        (
            (("stock", 0, "quantity_available"), STOCK_QUANTITY.maximum + 1),
            "stock[0].quantity_available",
            "at most 2,000,000,000 units of stock of a product at one organization unit, "
            "got 2000000001",
        ),
    ],
)
def test_the_preview_api_refuses_a_scenario_over_a_limit_naming_its_path(
    client_for: Any, designer: User, change: Any, path: str, message: str
) -> None:
    response = client_for(designer).post(
        "/api/preview/", {"scenario": with_change(*change)}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"code": "invalid", "message": f"scenario.{path}: {message}", "field": f"scenario.{path}"}
    ]


@pytest.mark.django_db
def test_the_preview_api_refuses_a_scenario_over_the_line_limit(
    client_for: Any, designer: User
) -> None:
    scenario = long_order_scenario(ORDER_LINES.maximum + 1)
    response = client_for(designer).post("/api/preview/", {"scenario": scenario}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "code": "invalid",
            "message": "scenario.order.lines: at most 5,000 lines per order, got 5,001",
            "field": "scenario.order.lines",
        }
    ]


def test_the_preview_page_refuses_a_scenario_over_a_limit_naming_its_path(
    designer: User,
) -> None:
    client = Client()
    client.force_login(designer)
    scenario = with_change(("order", "lines", 1, "quantity"), HUGE)
    response = client.post("/preview/", {"scenario": json.dumps(scenario)})
    assert response.status_code == 400
    assert (
        f"scenario.order.lines[1].quantity: at most 1,000,000 units per order line, got {HUGE}"
        in response.content.decode()
    )


@pytest.mark.parametrize(
    ("quantity", "mode", "message"),
    [
        (
            STOCK_QUANTITY.maximum + 1,
            "absolute",
            "At most 2,000,000,000 units of stock of a product at one organization unit.",
        ),
        (
            -STOCK_QUANTITY.maximum - 1,
            "delta",
            "At most 2,000,000,000 units of stock of a product at one organization unit, "
            "either way.",
        ),
    ],
)
def test_the_preview_stock_form_has_the_stock_limit(
    client_for: Any, designer: User, shop: Any, shoe: Any, quantity: int, mode: str, message: str
) -> None:
    order_create(backend_id="WEB-1", lines=[{"product": shoe, "quantity": 1}])
    stock = {"organization_unit": shop.pk, "product": shoe.pk, "quantity": quantity, "mode": mode}
    response = client_for(designer).post(
        "/api/preview/", {"order": "WEB-1", "stock": [stock]}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "code": "max_value" if quantity > 0 else "min_value",
            "message": message,
            "field": "stock[0].quantity",
        }
    ]
    page = Client()
    page.force_login(designer)
    form = {
        "order": "WEB-1",
        "stock-0-organization_unit": str(shop.pk),
        "stock-0-product": str(shoe.pk),
        "stock-0-quantity": str(quantity),
        "stock-0-mode": mode,
    }
    response = page.post("/preview/", form)
    assert response.status_code == 400
    assert message in response.content.decode()
    # The form's field says so too, before anything is sent.
    assert (
        f'name="stock-0-quantity" id="stock-0-quantity" value="{quantity}" min="-2000000000" '
        'max="2000000000" step="1"'
    ) in response.content.decode()


def test_the_preview_stock_form_takes_a_change_up_to_the_stock_limit(
    client_for: Any, designer: User, shop: Any, shoe: Any
) -> None:
    """Up to 1,000,000 units before issue 18; now what the API takes for stock."""
    order_create(backend_id="WEB-1", lines=[{"product": shoe, "quantity": 1}])
    stock = {"organization_unit": shop.pk, "product": shoe.pk, "quantity": 2_000_000_000}
    response = client_for(designer).post(
        "/api/preview/", {"order": "WEB-1", "stock": [stock]}, format="json"
    )
    assert response.status_code == 200


# --- The API: orders, returns, stock ----------------------------------------------------


def order_body(lines: int = 1, quantity: int = 1) -> dict[str, Any]:
    return {
        "backend_id": "WEB-1",
        "shipping_address": {"city": "Amsterdam", "country_id": "NL"},
        "lines": [{"product": "SHOE", "quantity": quantity}] * lines,
    }


@pytest.mark.parametrize("quantity", [TOO_MANY_UNITS, HUGE])
def test_the_api_refuses_an_order_line_quantity_over_the_limit(
    client_for: Any, integrator: User, shoe: Any, quantity: int
) -> None:
    before = table_rows()
    response = client_for(integrator).post(
        "/api/orders/", order_body(quantity=quantity), format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "code": "max_value",
            "message": "At most 1,000,000 units per order line.",
            "field": "lines[0].quantity",
        }
    ]
    assert table_rows() == before


def test_the_api_refuses_an_order_over_the_line_limit(
    client_for: Any, integrator: User, shoe: Any
) -> None:
    before = table_rows()
    response = client_for(integrator).post(
        "/api/orders/", order_body(lines=ORDER_LINES.maximum + 1), format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"code": "max_length", "message": "At most 5,000 lines per order.", "field": "lines"}
    ]
    assert table_rows() == before


def test_the_api_takes_an_order_at_the_limits(client_for: Any, integrator: User, shoe: Any) -> None:
    body = order_body(lines=ORDER_LINES.maximum, quantity=LINE_QUANTITY.maximum)
    response = client_for(integrator).post("/api/orders/", body, format="json")
    assert response.status_code == 201, response.json()
    assert len(response.json()["lines"]) == ORDER_LINES.maximum


def test_the_api_refuses_a_return_quantity_over_the_limit(
    client_for: Any, integrator: User, shoe: Any
) -> None:
    order = order_create(backend_id="WEB-1", lines=[{"product": shoe, "quantity": 1}])
    before = table_rows()
    response = client_for(integrator).post(
        f"/api/orders/{order.pk}/returns/",
        {"lines": [{"order_line": order.lines.get().pk, "quantity": TOO_MANY_UNITS}]},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "code": "max_value",
            "message": "At most 1,000,000 units per order line.",
            "field": "lines[0].quantity",
        }
    ]
    assert table_rows() == before


def test_the_api_refuses_stock_over_the_limit(
    client_for: Any, integrator: User, shop: Any, shoe: Any
) -> None:
    before = table_rows()
    item = {"organization_unit": "urk_store", "product": "SHOE", "quantity_on_hand": HUGE}
    response = client_for(integrator).post("/api/stock/bulk-upsert/", [item], format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "code": "max_value",
            "message": "At most 2,000,000,000 units of stock of a product at one organization "
            "unit.",
            "field": "[0].quantity_on_hand",
        }
    ]
    assert table_rows() == before
