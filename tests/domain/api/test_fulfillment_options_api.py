"""Delivery options: orders that ask for one, and ``POST /api/fulfillment-options/`` for checkout.

The world: two shops in Amsterdam with 5 pairs of shoes each and one sheet. Shop A
is preferred (its Supplier boost) but, as in the reference's FulfillmentOptions
example ("this ensures SDD is not available for Shop 1 and 2"), does no same-day
delivery. So normal delivery and pickup go to shop A, same-day delivery to shop B.
"""

import re
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from orchestration import engine
from orchestration.celery import app as celery_app
from orchestration.models import Order, OrganizationUnit, Product, Sheet, Stock
from tests.conftest import table_rows

pytestmark = pytest.mark.django_db

SHEET = """fulfillment ShopExport
action EXPORT_ORDER

scope Supplier
require [Supplier.Type] = 'Shop'
score add 50 when [Supplier.BackendID] = 'shop_a'
data [ExporterName] as 'SHOPS'
data [DeadlineInMinutes] as 600
data PackDeadlineInMinutes as 10

scope OrderLine
score add 100

scope FulfillmentOptions
require FulfillmentOption.SameDayDelivery.IsAvailable = false
when Supplier.BackendID in 'shop_a' with reason 'NoSameDayDelivery'
"""

ADDRESS = {"city": "Amsterdam", "country_id": "NL", "latitude": 52.358, "longitude": 4.868}
AT = "2026-11-20T12:00"
SHOP_A = {"id": None, "name": "Amsterdam Centrum", "backend_id": "shop_a"}
SHOP_B = {"id": None, "name": "Amsterdam Oost", "backend_id": "shop_b"}


@pytest.fixture
def world(db: Any) -> dict[str, Any]:
    shops = {}
    for backend_id, name, latitude, longitude in (
        ("shop_a", "Amsterdam Centrum", 52.3702, 4.891),
        ("shop_b", "Amsterdam Oost", 52.36, 4.927),
    ):
        shops[backend_id] = OrganizationUnit.objects.create(
            name=name,
            backend_id=backend_id,
            type="Shop",
            country_id="NL",
            time_zone="Europe/Amsterdam",
            address_city="Amsterdam",
            address_latitude=latitude,
            address_longitude=longitude,
        )
    shoe = Product.objects.create(backend_id="SHOE", name="Shoes")
    for shop in shops.values():
        Stock.objects.create(organization_unit=shop, product=shoe, quantity_on_hand=5)
    Sheet.objects.create(fulfillment="ShopExport", name="Shop export", source=SHEET, is_active=True)
    return {"shops": shops, "shoe": shoe}


@pytest.fixture
def viewer(db: Any) -> User:
    user = User.objects.create_user("viewer", password="secret-pass-123")
    user.user_permissions.add(Permission.objects.get(codename="view_sheets"))
    return user


def unit(world: dict[str, Any], backend_id: str) -> dict[str, Any]:
    shop = world["shops"][backend_id]
    return {"id": shop.pk, "name": shop.name, "backend_id": backend_id}


def basket(**overrides: Any) -> dict[str, Any]:
    body = {
        "lines": [{"product": "SHOE", "quantity": 2}],
        "shipping_address": ADDRESS,
        "at": AT,
        "time_zone": "Europe/Amsterdam",
    }
    return {**body, **overrides}


def ask(client_for: Any, user: User | None, body: Any) -> Any:
    return client_for(user).post("/api/fulfillment-options/", body, format="json")


def shipment(world: dict[str, Any], backend_id: str, quantity: int) -> dict[str, Any]:
    return {
        "action": "EXPORT_ORDER",
        "sheet": "Shop export",
        "supplier": unit(world, backend_id),
        "fanout_suppliers": [],
        "lines": [{"line": 0, "quantity": quantity}],
        "deadline_in_minutes": 600,
        "pack_deadline_in_minutes": 10,
        "ship_deadline_in_minutes": None,
        "start_deadline": "2026-11-20T22:00:00+01:00",
        "data": {"ExporterName": "SHOPS", "DeadlineInMinutes": 600, "PackDeadlineInMinutes": 10},
    }


# --- POST /api/fulfillment-options/ -------------------------------------------------------


def test_each_delivery_option_names_who_would_ship_the_basket_with_the_deadlines(
    client_for, viewer, world
) -> None:
    response = ask(client_for, viewer, basket())
    assert response.status_code == 200
    assert response.json() == {
        "at": "2026-11-20T12:00:00+01:00",
        "options": [
            {
                "option": "NormalDelivery",
                "available": True,
                "shipments": [shipment(world, "shop_a", 2)],
                "unfulfilled": [],
            },
            {
                "option": "SameDayDelivery",
                "available": True,
                "shipments": [shipment(world, "shop_b", 2)],
                "unfulfilled": [],
            },
            {
                "option": "PickupDelivery",
                "available": True,
                "shipments": [shipment(world, "shop_a", 2)],
                "unfulfilled": [],
            },
        ],
    }


def test_asking_for_the_options_writes_nothing(client_for, viewer, world) -> None:
    before = table_rows()
    assert ask(client_for, viewer, basket()).status_code == 200
    assert table_rows() == before


def test_an_option_no_supplier_can_ship_in_full_is_unavailable_with_what_is_left(
    client_for, viewer, world
) -> None:
    """Shop B alone may do same-day delivery and has 5; the basket holds 6 (no splitting)."""
    Stock.objects.filter(organization_unit=world["shops"]["shop_a"]).update(quantity_on_hand=9)
    response = ask(client_for, viewer, basket(lines=[{"product": "SHOE", "quantity": 6}]))
    assert response.status_code == 200
    options = {option["option"]: option for option in response.json()["options"]}
    assert options["SameDayDelivery"] == {
        "option": "SameDayDelivery",
        "available": False,
        "shipments": [],
        "unfulfilled": [{"line": 0, "quantity": 6}],
    }
    assert options["NormalDelivery"]["available"] is True
    assert [s["supplier"] for s in options["NormalDelivery"]["shipments"]] == [
        unit(world, "shop_a")
    ]


def test_products_are_named_by_id_or_backend_id(client_for, viewer, world) -> None:
    lines = [{"product": world["shoe"].pk, "quantity": 1}, {"product": "SHOE", "quantity": 1}]
    response = ask(client_for, viewer, basket(lines=lines))
    assert response.status_code == 200
    normal = response.json()["options"][0]
    assert normal["shipments"][0]["lines"] == [
        {"line": 0, "quantity": 1},
        {"line": 1, "quantity": 1},
    ]


@pytest.fixture
def route_calls(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """The option each call of the engine's routing asked for, in order."""
    calls: list[str | None] = []
    route = engine.route

    def counted(scenario: Any, **kwargs: Any) -> Any:
        calls.append(scenario.order.requested_fulfillment_option)
        return route(scenario, **kwargs)

    monkeypatch.setattr(engine, "route", counted)
    return calls


def test_the_options_come_from_the_routing_call_once_per_option(
    client_for, viewer, world, route_calls
) -> None:
    assert ask(client_for, viewer, basket()).status_code == 200
    assert route_calls == ["NormalDelivery", "SameDayDelivery", "PickupDelivery"]


def test_without_a_fulfillment_options_scope_one_route_answers_for_every_option(
    client_for, viewer, world, route_calls
) -> None:
    Sheet.objects.update(source=SHEET.split("scope FulfillmentOptions")[0])
    response = ask(client_for, viewer, basket())
    assert response.status_code == 200
    assert route_calls == [None]
    suppliers = [o["shipments"][0]["supplier"]["backend_id"] for o in response.json()["options"]]
    assert suppliers == ["shop_a", "shop_a", "shop_a"]


def test_a_refused_basket_is_a_400_with_the_exact_error_and_nothing_written(
    client_for, viewer, world
) -> None:
    before = table_rows()
    body = basket(lines=[{"product": "SHOE", "quantity": 1}, {"product": "NOPE", "quantity": 1}])
    response = ask(client_for, viewer, body)
    assert response.status_code == 400
    assert response.json() == {
        "code": "does_not_exist",
        "message": "Unknown product 'NOPE'.",
        "errors": [
            {
                "code": "does_not_exist",
                "message": "Unknown product 'NOPE'.",
                "field": "lines[1].product",
            }
        ],
    }
    assert table_rows() == before


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"colour": "red"}, "colour", "Unknown field."),
        ({"line": []}, "line", "Unknown field; did you mean 'lines'?"),
        ({"lines": []}, "lines", "This list may not be empty."),
        (
            {"lines": [{"product": "SHOE", "quantity": 1, "price": 3}]},
            "lines[0].price",
            "Unknown field.",
        ),
        (
            {"lines": [{"product": 0, "quantity": 1}]},
            "lines[0].product",
            "An ID is a whole number from 1 to 2^63-1.",
        ),
        (
            {"lines": [{"product": 2**63, "quantity": 1}]},
            "lines[0].product",
            "An ID is a whole number from 1 to 2^63-1.",
        ),
        (
            {"lines": [{"product": 99, "quantity": 1}]},
            "lines[0].product",
            "Unknown product 99.",
        ),
        (
            {"lines": [{"product": True, "quantity": 1}]},
            "lines[0].product",
            "Expected an ID (integer) or a backend ID (string), got bool.",
        ),
        (
            {"lines": [{"product": "SHOE", "quantity": 0}]},
            "lines[0].quantity",
            "Ensure this value is greater than or equal to 1.",
        ),
        (
            {"lines": [{"product": "SHOE", "quantity": 1_000_001}]},
            "lines[0].quantity",
            "At most 1,000,000 units per order line.",
        ),
        ({"shipping_address": None}, "shipping_address", "This field may not be null."),
        (
            {"shipping_address": {**ADDRESS, "latitude": 91}},
            "shipping_address.latitude",
            "Ensure this value is less than or equal to 90.",
        ),
        (
            {"shipping_address": {**ADDRESS, "town": "Urk"}},
            "shipping_address.town",
            "Unknown field.",
        ),
        (
            {"at": "tomorrow"},
            "at",
            "'tomorrow' is not a date and time (ISO 8601, e.g. 2026-11-22T14:00).",
        ),
        (
            {"time_zone": "Mars/Olympus"},
            "time_zone",
            "'Mars/Olympus' is not an IANA time zone name (e.g. Europe/Amsterdam).",
        ),
        ({"custom_fields": [1]}, "custom_fields", "Expected a JSON object of names to values."),
    ],
)
def test_every_invalid_basket_is_a_400_naming_the_field_and_writes_nothing(
    client_for, viewer, world, change, field, message
) -> None:
    before = table_rows()
    response = ask(client_for, viewer, basket(**change))
    assert response.status_code == 400
    errors = [{"field": e["field"], "message": e["message"]} for e in response.json()["errors"]]
    assert {"field": field, "message": message} in errors
    assert table_rows() == before


def test_a_missing_basket_and_address_are_named(client_for, viewer, world) -> None:
    response = ask(client_for, viewer, {})
    assert response.status_code == 400
    assert [(e["field"], e["message"]) for e in response.json()["errors"]] == [
        ("lines", "This field is required."),
        ("shipping_address", "This field is required."),
    ]


@pytest.mark.parametrize(
    ("who", "status"), [("anonymous", 401), ("nobody", 403), ("integrator", 403), ("viewer", 200)]
)
def test_the_options_need_symphony_sheets_view_like_the_preview(
    client_for, viewer, nobody, integrator, world, who, status
) -> None:
    users = {"anonymous": None, "nobody": nobody, "integrator": integrator, "viewer": viewer}
    before = table_rows()
    assert ask(client_for, users[who], basket()).status_code == status
    assert table_rows() == before


def test_the_schema_documents_the_endpoint(client_for, designer) -> None:
    schema = client_for(designer).get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/fulfillment-options/"]["post"]
    request = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert request.endswith("/FulfillmentOptionsInputRequest")
    response = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert response.endswith("/FulfillmentOptions")


# --- Orders that ask for a delivery option ------------------------------------------------


ORDER = {
    "backend_id": "WEB-1",
    "shipping_address": ADDRESS,
    "lines": [{"product": "SHOE", "quantity": 1}],
}


def test_an_order_asks_for_a_delivery_option_and_reads_it_back(
    client_for, integrator, world
) -> None:
    body = {**ORDER, "requested_fulfillment_option": "SameDayDelivery"}
    response = client_for(integrator).post("/api/orders/", body, format="json")
    assert response.status_code == 201, response.json()
    order = Order.objects.get(backend_id="WEB-1")
    assert order.requested_fulfillment_option == "SameDayDelivery"
    assert response.json()["requested_fulfillment_option"] == "SameDayDelivery"
    read = client_for(integrator).get(f"/api/orders/{order.pk}/").json()
    assert read["requested_fulfillment_option"] == "SameDayDelivery"


@pytest.mark.parametrize("body", [ORDER, {**ORDER, "requested_fulfillment_option": None}])
def test_an_order_that_asks_for_no_option_reads_null(client_for, integrator, world, body) -> None:
    response = client_for(integrator).post("/api/orders/", body, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["requested_fulfillment_option"] is None
    assert Order.objects.get().requested_fulfillment_option == ""


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("Sameday", '"Sameday"'),
        ("", '""'),
        (1, "1"),
        (["PickupDelivery"], '["PickupDelivery"]'),
        ("x" * 100, '"' + "x" * 56 + "..."),  # 60 characters at most
    ],
)
def test_an_unknown_delivery_option_is_a_400_naming_the_field_and_the_allowed_values(
    client_for, integrator, world, value, shown
) -> None:
    before = table_rows()
    body = {**ORDER, "requested_fulfillment_option": value}
    response = client_for(integrator).post("/api/orders/", body, format="json")
    assert response.status_code == 400
    message = (
        f"Unknown delivery option {shown}; expected one of "
        "NormalDelivery, SameDayDelivery, PickupDelivery."
    )
    assert response.json() == {
        "code": "invalid",
        "message": f"requested_fulfillment_option: {message}",
        "errors": [
            {"code": "invalid_choice", "message": message, "field": "requested_fulfillment_option"}
        ],
    }
    assert table_rows() == before


@pytest.mark.parametrize(
    ("option", "shop"),
    [("SameDayDelivery", "shop_b"), ("NormalDelivery", "shop_a"), (None, "shop_a")],
)
def test_an_order_created_through_the_api_is_routed_as_it_asks(
    client_for,
    integrator,
    world,
    django_capture_on_commit_callbacks,
    monkeypatch: pytest.MonkeyPatch,
    option,
    shop,
) -> None:
    """The real path: the API stores the option, orchestration reads it into the scenario.
    The task runs inline, also when CI points Celery at a real broker (a worker would
    route the order in its own process after the test has looked)."""
    monkeypatch.setattr(celery_app.conf, "task_always_eager", True)
    body = {**ORDER, "requested_fulfillment_option": option}
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(integrator).post("/api/orders/", body, format="json")
    assert response.status_code == 201, response.json()
    order = Order.objects.get(backend_id="WEB-1")
    assert [f.supplier_organization_unit.backend_id for f in order.fulfillments.order_by("id")] == [
        shop
    ]


def winner(blob: dict[str, Any]) -> list[str]:
    return [s["Supplier"]["BackendID"] for s in blob["Fulfillments"][0]["Shipments"]]


def test_an_order_asking_for_same_day_delivery_goes_to_a_shop_that_does_it(
    client_for, viewer, world
) -> None:
    """Previewed as it would be routed: shop A rejects same-day delivery, so shop B ships."""
    order = Order.objects.create(
        backend_id="WEB-2",
        requested_fulfillment_option="SameDayDelivery",
        shipping_city="Amsterdam",
        shipping_latitude=52.358,
        shipping_longitude=4.868,
    )
    order.lines.create(product=world["shoe"], quantity=1)
    body = {"order": "WEB-2", "at": AT, "time_zone": "Europe/Amsterdam"}
    blob = client_for(viewer).post("/api/preview/", body, format="json").json()
    assert winner(blob) == ["shop_b"]
    rejected = [
        (r["SupplierName"], r["Reason"], r["Description"])
        for r in blob["Rejections"]
        if r["Scope"] == "FulfillmentOptions"
    ]
    assert rejected == [
        (
            "Amsterdam Centrum",
            "NoSameDayDelivery",
            None,
        ),
        (
            "Amsterdam Centrum",
            "RequestedFulfillmentOptionRejected",
            "The order asks for SameDayDelivery, which this sheet rejects at Amsterdam Centrum.",
        ),
    ]
    # The preview's what-if: the same order asking for no option goes to shop A.
    what_if = {**body, "requested_fulfillment_option": None}
    assert winner(client_for(viewer).post("/api/preview/", what_if, format="json").json()) == [
        "shop_a"
    ]


def test_the_model_offers_exactly_the_options_the_engine_knows() -> None:
    from orchestration.engine.variables import FULFILLMENT_OPTIONS
    from orchestration.models import FulfillmentOption

    assert tuple(FulfillmentOption.values) == FULFILLMENT_OPTIONS


# --- The Suite: the order page and the preview's what-if ---------------------------------


@pytest.fixture
def same_day_order(world: dict[str, Any]) -> Order:
    order = Order.objects.create(
        backend_id="WEB-3",
        requested_fulfillment_option="SameDayDelivery",
        shipping_city="Amsterdam",
        shipping_latitude=52.358,
        shipping_longitude=4.868,
    )
    order.lines.create(product=world["shoe"], quantity=1)
    return order


def page_winners(html: str) -> list[tuple[str, str]]:
    return re.findall(r'data-action="(\w+)" data-supplier="([^"]*)"', html)


def test_the_order_page_shows_the_delivery_option_the_order_asks_for(
    designer, same_day_order
) -> None:
    client = Client()
    client.force_login(designer)
    html = client.get(f"/orders/{same_day_order.pk}/").content.decode()
    assert re.search(
        r'<dd id="requested-fulfillment-option">Same-day delivery '
        r'<span class="muted">\(SameDayDelivery\)</span></dd>',
        html,
    )
    Order.objects.filter(pk=same_day_order.pk).update(requested_fulfillment_option="")
    html = client.get(f"/orders/{same_day_order.pk}/").content.decode()
    assert '<dd id="requested-fulfillment-option">any</dd>' in html


@pytest.mark.parametrize(
    ("choice", "winner"),
    [
        ("", "shop_b"),
        ("none", "shop_a"),
        ("NormalDelivery", "shop_a"),
        ("SameDayDelivery", "shop_b"),
    ],
)
def test_the_preview_page_asks_what_if_the_order_asked_for_another_option(
    designer, same_day_order, choice, winner
) -> None:
    client = Client()
    client.force_login(designer)
    form = {
        "order": "WEB-3",
        "at": AT,
        "time_zone": "Europe/Amsterdam",
        "respect_current_fulfillments": "1",
        "requested_fulfillment_option": choice,
        "run": "1",
    }
    before = table_rows()
    response = client.post("/preview/", form)
    assert response.status_code == 200
    html = response.content.decode()
    assert page_winners(html) == [("EXPORT_ORDER", winner)]
    select = re.search(r'<select name="requested_fulfillment_option".*?</select>', html, re.S)
    assert select is not None
    assert re.findall(r'<option value="([^"]*)" selected>', select[0]) == [choice]
    assert table_rows() == before


def test_an_unknown_option_on_the_preview_page_is_named_and_nothing_runs(
    designer, same_day_order
) -> None:
    client = Client()
    client.force_login(designer)
    form = {"order": "WEB-3", "requested_fulfillment_option": "Sameday", "run": "1"}
    response = client.post("/preview/", form)
    assert response.status_code == 400
    assert (
        "<li><code>requested_fulfillment_option</code>: Unknown delivery option "
        "&quot;Sameday&quot;; expected one of NormalDelivery, SameDayDelivery, PickupDelivery.</li>"
    ) in response.content.decode()
    assert page_winners(response.content.decode()) == []


def test_bench_options_times_the_endpoint_on_the_demo_and_leaves_nothing_behind() -> None:
    from io import StringIO

    from django.core.management import call_command

    before = table_rows()
    out = StringIO()
    call_command("bench", "options", "--repeat", "3", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0] == (
        "POST /api/fulfillment-options/ on the demo network, 3 baskets (seed 19, 1-3 lines)"
    )
    assert re.fullmatch(
        r"request  median +[\d.]+ ms  p95 +[\d.]+ ms  max +[\d.]+ ms  \(target p95 <= 50 ms\)",
        lines[1],
    )
    assert re.fullmatch(
        r"engine   median +[\d.]+ ms  p95 +[\d.]+ ms  \(engine.fulfillment_options: 3 routes\)",
        lines[2],
    )
    assert re.fullmatch(
        r"offered  NormalDelivery \d+%, PickupDelivery \d+%, SameDayDelivery \d+%; "
        r"same-day by other suppliers than normal delivery: \d+%",
        lines[3],
    )
    assert table_rows() == before
