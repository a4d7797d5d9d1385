"""The REST API as integrators and designers use it: outcomes, exact errors, permissions."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from orchestration.models import (
    FulfillmentAction,
    FulfillmentStatus,
    Order,
    OrderFulfillment,
    OrderFulfillmentLine,
    OrderLine,
    OrganizationUnit,
    Sheet,
    Stock,
)
from orchestration.services.orchestration_details import orchestration_details_create
from orchestration.services.orders import order_create
from orchestration.services.sheets import sheet_create
from tests.conftest import sheet_text, table_rows

pytestmark = pytest.mark.django_db

SHIPPING = {"city": "Amsterdam", "country_id": "NL", "latitude": 52.37, "longitude": 4.9}


def _order_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "backend_id": "WEB-1",
        "shipping_address": SHIPPING,
        "custom_fields": {"Channel": "WEBSHOP"},
        "lines": [
            {"product": "SHOE", "quantity": 2, "unit_price": "80.00", "unit_price_in_tax": "96.80"},
            {"product": "SHOE", "quantity": 1, "is_gift_wrapped": True},
        ],
    }
    return {**body, **overrides}


# --- Authentication -----------------------------------------------------------


def test_anonymous_requests_get_401_with_the_error_shape(client_for) -> None:
    response = client_for(None).get("/api/orders/")
    assert response.status_code == 401
    assert response.json() == {
        "code": "not_authenticated",
        "message": "Authentication credentials were not provided.",
        "errors": [],
    }
    assert response["WWW-Authenticate"] == "Token"


def test_a_token_from_the_token_endpoint_authenticates(designer) -> None:
    client = APIClient()
    response = client.post(
        "/api/auth/token/", {"username": "designer", "password": "secret-pass-123"}, format="json"
    )
    assert response.status_code == 200
    key = response.json()["token"]
    assert key == Token.objects.get(user=designer).key
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/sheets/").status_code == 200


def test_wrong_credentials_name_no_field_but_say_why() -> None:
    response = APIClient().post(
        "/api/auth/token/", {"username": "x", "password": "y"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["message"] == "Unable to log in with provided credentials."


# --- Orders -----------------------------------------------------------------


def test_create_an_order_with_its_lines_in_one_call(client_for, integrator, shoe, shop) -> None:
    body = _order_body(sold_from_organization_unit="urk_store")
    body["lines"][1]["product"] = shoe.pk
    body["lines"][1]["preferred_fulfillment_organization_unit"] = shop.pk
    response = client_for(integrator).post("/api/orders/", body)
    assert response.status_code == 201, response.json()
    data = response.json()
    order = Order.objects.get(pk=data["id"])
    assert (order.backend_id, order.intent, order.status) == ("WEB-1", "Sales", "New")
    assert order.sold_from_organization_unit == shop
    assert order.created_by == integrator
    # The billing address defaults to the shipping address.
    assert data["billing_address"] == {**data["shipping_address"]}
    assert data["shipping_address"] == {
        "street": "",
        "zip_code": "",
        "city": "Amsterdam",
        "country_id": "NL",
        "latitude": 52.37,
        "longitude": 4.9,
        "is_pickup_point": False,
    }
    lines = list(OrderLine.objects.filter(order=order).order_by("id"))
    assert [(line.product.backend_id, line.quantity, line.is_gift_wrapped) for line in lines] == [
        ("SHOE", 2, False),
        ("SHOE", 1, True),
    ]
    assert data["lines"][0]["total_amount_in_tax"] == 193.6
    assert data["lines"][1]["preferred_fulfillment_organization_unit"]["backend_id"] == "urk_store"
    assert client_for(integrator).get(f"/api/orders/{order.pk}/").json() == data


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"lines": []}, "lines", "This list may not be empty."),
        ({"lines": None}, "lines", "This field may not be null."),
        ({"lines": [{"quantity": 1}]}, "lines[0].product", "This field is required."),
        (
            {"lines": [{"product": "SHOE", "quantity": 1}, {"product": "NOPE", "quantity": 1}]},
            "lines[1].product",
            "Unknown product 'NOPE'.",
        ),
        (
            {"lines": [{"product": "SHOE", "quantity": "two"}]},
            "lines[0].quantity",
            "A valid integer is required.",
        ),
        (
            {"lines": [{"product": "SHOE", "quantity": 0}]},
            "lines[0].quantity",
            "Ensure this value is greater than or equal to 1.",
        ),
        (
            {"lines": [{"product": "SHOE", "quantity": 1, "discount_amount": 5}]},
            "lines[0].discount_amount",
            "Ensure this value is less than or equal to 0.",
        ),
        (
            {"lines": [{"product": ["SHOE"], "quantity": 1}]},
            "lines[0].product",
            "Expected an ID (integer) or a backend ID (string), got list.",
        ),
        (
            {"lines": [{"product": "SHOE", "quantity": 1, "custom_fields": [1]}]},
            "lines[0].custom_fields",
            "Expected a JSON object of names to values.",
        ),
        ({"shipping_address": None}, "shipping_address", "This field may not be null."),
        (
            {"shipping_address": {**SHIPPING, "latitude": 200}},
            "shipping_address.latitude",
            "Ensure this value is less than or equal to 90.",
        ),
        (
            {"shipping_address": {**SHIPPING, "country_id": "nl"}},
            "shipping_address.country_id",
            "Enter a two-letter ISO 3166 country code in capitals, e.g. NL.",
        ),
        ({"intent": "Gift"}, "intent", '"Gift" is not a valid choice.'),
        (
            {"sold_from_organization_unit": "nowhere"},
            "sold_from_organization_unit",
            "Unknown organization unit 'nowhere'.",
        ),
        ({"custom_fields": "x"}, "custom_fields", "Expected a JSON object of names to values."),
        (
            {"placed_at": "yesterday"},
            "placed_at",
            "Datetime has wrong format. Use one of these formats instead: "
            "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z].",
        ),
    ],
)
def test_every_invalid_order_is_a_400_naming_the_field(
    client_for, integrator, shoe, shop, change, field, message
) -> None:
    before = table_rows()
    response = client_for(integrator).post("/api/orders/", _order_body(**change))
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert {"field": field, "message": message} in [
        {"field": e["field"], "message": e["message"]} for e in body["errors"]
    ]
    assert body["message"] == f"{body['errors'][0]['field']}: {body['errors'][0]['message']}"
    assert table_rows() == before


def test_a_body_that_is_not_an_object_is_a_400(client_for, integrator) -> None:
    response = client_for(integrator).post("/api/orders/", [1, 2], format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "code": "invalid",
            "message": "Invalid data. Expected a dictionary, but got list.",
            "field": None,
        }
    ]


def test_malformed_json_is_a_400(client_for, integrator) -> None:
    response = client_for(integrator).post(
        "/api/orders/", data="{not json", content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


def test_a_duplicate_order_backend_id_is_refused(client_for, integrator, shoe) -> None:
    assert client_for(integrator).post("/api/orders/", _order_body()).status_code == 201
    before = table_rows()
    response = client_for(integrator).post("/api/orders/", _order_body())
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "code": "unique",
            "message": "order with this backend ID already exists.",
            "field": "backend_id",
        }
    ]
    assert table_rows() == before


def test_designers_may_read_orders_but_not_create_them(client_for, designer, shoe) -> None:
    before = table_rows()
    response = client_for(designer).post("/api/orders/", _order_body())
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert table_rows() == before
    assert client_for(designer).get("/api/orders/").status_code == 200


def test_order_list_filters_and_rejects_bad_filter_values(client_for, integrator, shoe) -> None:
    client = client_for(integrator)
    client.post("/api/orders/", _order_body())
    client.post("/api/orders/", _order_body(backend_id="RET-1", intent="Returns"))
    listing = client.get("/api/orders/?intent=Returns").json()
    assert [order["backend_id"] for order in listing["results"]] == ["RET-1"]
    response = client.get("/api/orders/?status=Lost")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "status"


def test_an_unknown_order_is_a_404_in_the_error_shape(client_for, integrator) -> None:
    response = client_for(integrator).get("/api/orders/999999/")
    assert response.status_code == 404
    assert response.json() == {
        "code": "not_found",
        "message": "No Order matches the given query.",
        "errors": [],
    }


# --- Sheets -----------------------------------------------------------------


def _view_only_user() -> User:
    user = User.objects.create_user("viewer", password="secret-pass-123")
    user.user_permissions.add(Permission.objects.get(codename="view_sheets"))
    return user


def test_designers_create_edit_and_delete_sheets_with_revisions(client_for, designer) -> None:
    client = client_for(designer)
    response = client.post(
        "/api/sheets/",
        {
            "fulfillment": "Warehouse",
            "name": "Warehouse",
            "source": "fulfillment Warehouse\naction CANCEL\n",
        },
    )
    assert response.status_code == 201, response.json()
    sheet = response.json()
    assert (sheet["revision"], sheet["created_by"], sheet["is_active"]) == (1, "designer", False)
    assert sheet["action"] == "CANCEL"  # read from the source, kept with every save
    response = client.patch(
        f"/api/sheets/{sheet['id']}/", {"is_active": True, "comment": "Go live"}
    )
    assert response.json()["revision"] == 2
    revisions = client.get(f"/api/sheets/{sheet['id']}/revisions/").json()
    assert [(r["number"], r["is_active"], r["comment"], r["author"]) for r in revisions] == [
        (2, True, "Go live", "designer"),
        (1, False, "Created", "designer"),
    ]
    assert client.get("/api/sheets/?is_active=true").json()["count"] == 1
    assert client.get("/api/sheets/?name_or_id=wareh").json()["count"] == 1
    assert client.get(f"/api/sheets/?name_or_id={sheet['id']}").json()["count"] == 1
    assert client.delete(f"/api/sheets/{sheet['id']}/").status_code == 204
    assert Sheet.objects.count() == 0


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/api/sheets/", {"fulfillment": "New", "name": "New"}),
        ("patch", "/api/sheets/{id}/", {"name": "Renamed"}),
        ("put", "/api/sheets/{id}/", {"fulfillment": "X", "name": "Renamed"}),
        ("delete", "/api/sheets/{id}/", None),
    ],
)
def test_sheet_writes_need_symphony_sheets_permissions(
    client_for, integrator, nobody, method, path, body
) -> None:
    """View-only users, integrators and users without rights get 403, and nothing changes."""
    sheet = sheet_create(fulfillment="Existing", name="Existing", source=sheet_text("Existing"))
    for user in (_view_only_user(), integrator, nobody):
        before = table_rows()
        response = getattr(client_for(user), method)(path.format(id=sheet.pk), body)
        assert response.status_code == 403, (user, response.json())
        assert response.json()["code"] == "permission_denied"
        assert table_rows() == before
    sheet.refresh_from_db()
    assert (sheet.name, sheet.revision) == ("Existing", 1)


def test_reading_sheets_needs_the_view_permission(client_for, nobody, integrator) -> None:
    sheet = sheet_create(fulfillment="Existing", name="Existing", source=sheet_text("Existing"))
    assert client_for(_view_only_user()).get(f"/api/sheets/{sheet.pk}/").status_code == 200
    for user in (nobody, integrator):
        assert client_for(user).get("/api/sheets/").status_code == 403
        assert client_for(user).get(f"/api/sheets/{sheet.pk}/revisions/").status_code == 403


def test_invalid_sheet_input_names_the_field(client_for, designer) -> None:
    sheet_create(fulfillment="Taken", name="Taken", source=sheet_text("Taken"))
    before = table_rows()
    response = client_for(designer).post(
        "/api/sheets/", {"fulfillment": "has space", "name": "", "is_active": "maybe"}
    )
    assert response.status_code == 400
    assert {e["field"]: e["message"] for e in response.json()["errors"]} == {
        "fulfillment": "Use letters, digits and underscores, starting with a letter or underscore.",
        "name": "This field may not be blank.",
        "is_active": "Must be a valid boolean.",
    }
    response = client_for(designer).post(
        "/api/sheets/", {"fulfillment": "Taken", "name": "T", "source": sheet_text("Taken")}
    )
    assert response.json()["errors"] == [
        {
            "code": "unique",
            "message": "sheet with this fulfillment identifier already exists.",
            "field": "fulfillment",
        }
    ]
    assert table_rows() == before


# --- Stock ------------------------------------------------------------------


def test_stock_bulk_upsert_creates_and_updates_keeping_reservations(
    client_for, integrator, shop, warehouse, shoe, stock_of
) -> None:
    stock_of(shop, shoe, 5, 2)
    response = client_for(integrator).post(
        "/api/stock/bulk-upsert/",
        [
            {"organization_unit": "urk_store", "product": "SHOE", "quantity_on_hand": 8},
            {"organization_unit": warehouse.pk, "product": shoe.pk, "quantity_on_hand": 40},
        ],
    )
    assert response.status_code == 200, response.json()
    assert response.json() == {"created": 1, "updated": 1}
    assert sorted(
        Stock.objects.values_list(
            "organization_unit__backend_id",
            "quantity_on_hand",
            "quantity_reserved",
            "quantity_available",
        )
    ) == [("lelystad_warehouse", 40, 0, 40), ("urk_store", 8, 2, 6)]
    listing = client_for(integrator).get("/api/stock/?organization_unit_backend_id=urk_store")
    assert [row["quantity_available"] for row in listing.json()["results"]] == [6]


@pytest.mark.parametrize(
    ("items", "errors"),
    [
        (
            [{"organization_unit": "urk_store", "product": "SHOE", "quantity_on_hand": 1}],
            [
                (
                    "[0].quantity_on_hand",
                    "2 units of SHOE are reserved at urk_store; on hand cannot be set below that.",
                )
            ],
        ),
        (
            [
                {"organization_unit": "urk_store", "product": "SHOE", "quantity_on_hand": 9},
                {"organization_unit": "urk_store", "product": "SHOE", "quantity_on_hand": 3},
            ],
            [("[1]", "Same organization unit and product as item 0.")],
        ),
        (
            [
                {"organization_unit": "urk_store", "product": "SHOE", "quantity_on_hand": 9},
                {"organization_unit": "mars", "product": 999999, "quantity_on_hand": 1},
            ],
            [
                ("[1].organization_unit", "Unknown organization unit 'mars'."),
                ("[1].product", "Unknown product 999999."),
            ],
        ),
        (
            [
                {"organization_unit": "urk_store", "product": "SHOE", "quantity_on_hand": -1},
                {"organization_unit": 0, "product": "", "quantity_on_hand": 1},
            ],
            [
                ("[0].quantity_on_hand", "Ensure this value is greater than or equal to 0."),
                ("[1].organization_unit", "An ID is a whole number from 1 to 2^63-1."),
                ("[1].product", "A backend ID may not be empty or longer than 100 characters."),
            ],
        ),
        ([], [(None, "This list may not be empty.")]),
        ({"organization_unit": 1}, [(None, 'Expected a list of items but got type "dict".')]),
    ],
)
def test_an_invalid_stock_upsert_writes_nothing(
    client_for, integrator, shop, shoe, stock_of, items, errors
) -> None:
    stock_of(shop, shoe, 5, 2)
    before = list(Stock.objects.values_list("quantity_on_hand", "quantity_reserved"))
    response = client_for(integrator).post("/api/stock/bulk-upsert/", items)
    assert response.status_code == 400
    assert [(e["field"], e["message"]) for e in response.json()["errors"]] == errors
    assert list(Stock.objects.values_list("quantity_on_hand", "quantity_reserved")) == before


def test_designers_cannot_set_stock(client_for, designer, shop, shoe) -> None:
    response = client_for(designer).post(
        "/api/stock/bulk-upsert/",
        [{"organization_unit": "urk_store", "product": "SHOE", "quantity_on_hand": 1}],
    )
    assert response.status_code == 403
    assert Stock.objects.count() == 0


# --- Organization units and products -------------------------------------------


def test_organization_units_round_trip_with_address_and_sets(client_for, integrator) -> None:
    client = client_for(integrator)
    assert (
        client.post("/api/organization-unit-sets/", {"name": "PrintSuppliers"}).status_code == 201
    )
    body = {
        "name": "Almere store",
        "backend_id": "almere_store",
        "type": "Franchise",
        "country_id": "NL",
        "time_zone": "Europe/Amsterdam",
        "address": {
            "street": "Stadhuisplein 1",
            "zip_code": "1315 HR",
            "city": "Almere",
            "country_id": "NL",
            "latitude": 52.3508,
            "longitude": 5.2647,
        },
        "custom_fields": {"PrintingCapable": True},
        "sets": ["PrintSuppliers"],
    }
    response = client.post("/api/organization-units/", body)
    assert response.status_code == 201, response.json()
    created = response.json()
    assert {key: created[key] for key in body} == body
    assert created["active_ship_from_store_tasks"] == 0
    fetched = client.get(f"/api/organization-units/{created['id']}/").json()
    assert fetched["address"] == body["address"]
    assert (
        client.get("/api/organization-units/?type=Franchise&set=PrintSuppliers").json()["count"]
        == 1
    )
    response = client.patch(f"/api/organization-units/{created['id']}/", {"time_zone": "Mars/Base"})
    assert response.status_code == 400
    assert response.json()["errors"][0] == {
        "code": "invalid_time_zone",
        "message": "'Mars/Base' is not an IANA time zone name (e.g. Europe/Amsterdam).",
        "field": "time_zone",
    }
    # Files of the zone database that name no place are refused too, and nothing changes.
    for machine_specific in ("localtime", "Factory", "posixrules", "posix/Europe/Amsterdam"):
        response = client.patch(
            f"/api/organization-units/{created['id']}/", {"time_zone": machine_specific}
        )
        assert response.status_code == 400
        assert response.json()["errors"][0]["message"] == (
            f"'{machine_specific}' is not an IANA time zone name (e.g. Europe/Amsterdam)."
        )
    assert OrganizationUnit.objects.get(pk=created["id"]).time_zone == body["time_zone"]


def test_active_ship_from_store_tasks_counts_open_sfs_fulfillments(
    client_for, designer, shop, shoe
) -> None:
    order = Order.objects.create()
    for status in (
        FulfillmentStatus.NEW,
        FulfillmentStatus.IN_PROGRESS,
        FulfillmentStatus.COMPLETED,
    ):
        OrderFulfillment.objects.create(
            order=order,
            action=FulfillmentAction.SHIP_FROM_STORE,
            supplier_organization_unit=shop,
            status=status,
        )
    data = client_for(designer).get(f"/api/organization-units/{shop.pk}/").json()
    assert data["active_ship_from_store_tasks"] == 2


def test_a_product_cannot_replace_itself(client_for, integrator, shoe) -> None:
    response = client_for(integrator).patch(f"/api/products/{shoe.pk}/", {"replacements": ["SHOE"]})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "replacements"
    assert shoe.replacements.count() == 0


# --- Fulfillments and their orchestration details ------------------------------


@pytest.fixture
def fulfillment(shop, shoe) -> OrderFulfillment:
    order = Order.objects.create(backend_id="ORD-9")
    line = OrderLine.objects.create(order=order, product=shoe, quantity=2)
    now = timezone.now()
    details = orchestration_details_create(
        order=order, blob={"Fulfillments": [], "HasErrors": False}, at=now, now=now
    )
    fulfillment = OrderFulfillment.objects.create(
        order=order,
        action=FulfillmentAction.SHIP_FROM_STORE,
        supplier_organization_unit=shop,
        sheet_name="ShipFromStore",
        orchestration_details=details,
        data={"DeadlineInMinutes": 600},
    )
    OrderFulfillmentLine.objects.create(
        fulfillment=fulfillment, order_line=line, product=shoe, quantity=2
    )
    return fulfillment


def test_a_fulfillment_with_its_orchestration_details(client_for, designer, fulfillment) -> None:
    client = client_for(designer)
    plain = client.get(f"/api/fulfillments/{fulfillment.pk}/").json()
    assert "orchestration_details" not in plain
    assert plain["status"] == "New"
    assert plain["lines"][0]["status"] == "New"
    assert plain["lines"][0]["cancellation_reason"] is None
    data = client.get(
        f"/api/fulfillments/{fulfillment.pk}/?include_orchestration_details=true"
    ).json()
    assert data["orchestration_details"]["status"] == "available"
    assert data["orchestration_details"]["blob"] == {"Fulfillments": [], "HasErrors": False}


def test_expired_orchestration_details_say_so(client_for, designer, fulfillment) -> None:
    details = fulfillment.orchestration_details
    details.expires_at = timezone.now() - timedelta(minutes=1)
    details.save()
    data = (
        client_for(designer)
        .get(f"/api/fulfillments/{fulfillment.pk}/?include_orchestration_details=true")
        .json()["orchestration_details"]
    )
    assert data["status"] == "expired"
    assert data["blob"] is None
    assert data["message"].startswith("The orchestration details expired on ")
    assert data["message"].endswith(
        "and are no longer kept (setting Symphony:OrchestrationDetailsLifetimeInDays)."
    )


def test_include_orchestration_details_must_be_a_boolean(client_for, designer, fulfillment) -> None:
    response = client_for(designer).get(
        f"/api/fulfillments/{fulfillment.pk}/?include_orchestration_details=maybe"
    )
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "code": "invalid",
            "message": "Must be true or false.",
            "field": "include_orchestration_details",
        }
    ]


def test_fulfillments_filter_by_status_name(client_for, designer, fulfillment) -> None:
    client = client_for(designer)
    assert client.get("/api/fulfillments/?status=New").json()["count"] == 1
    assert client.get("/api/fulfillments/?status=Completed").json()["count"] == 0


# --- Settings -----------------------------------------------------------------


def test_settings_list_every_known_setting_with_its_default(client_for, designer) -> None:
    settings = {s["name"]: s for s in client_for(designer).get("/api/settings/").json()}
    assert settings["Symphony:OrchestrationDetailsLifetimeInDays"] == {
        "name": "Symphony:OrchestrationDetailsLifetimeInDays",
        "type": "integer",
        "nullable": False,
        "value": 14,
        "default": 14,
        "is_default": True,
        "description": "How many days the orchestration details (the explanation blob) of "
        "a run are kept.",
    }
    assert {
        "Orders:Default:AllowPartialFulfillment",
        "UseOrderOrchestrationForReturnOrders",
        "ShipFromStore:FanoutTaskLabel",
    } <= set(settings)


def test_settings_are_set_type_checked_and_reset(client_for, admin_user) -> None:
    client = client_for(admin_user)
    url = "/api/settings/Orders:Default:AllowPartialFulfillment/"
    response = client.put(url, {"value": "yes"})
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"code": "invalid_value", "message": "Expected a boolean, got a string.", "field": "value"}
    ]
    assert client.put(url, {"value": True}).json()["value"] is True
    assert client.get(url).json()["is_default"] is False
    assert client.delete(url).status_code == 204
    assert client.get(url).json()["value"] is False
    assert client.get("/api/settings/Nope/").status_code == 404


def test_designers_cannot_change_settings(client_for, designer) -> None:
    before = table_rows()
    response = client_for(designer).put(
        "/api/settings/Orders:Default:AllowPartialFulfillment/", {"value": True}
    )
    assert response.status_code == 403
    assert table_rows() == before


# --- Inputs that once reached the database unchecked ---------------------------


def test_deleting_an_ou_still_referred_to_is_a_409(client_for, admin_user, shop, shoe) -> None:
    order_create(sold_from_organization_unit=shop, lines=[{"product": shoe, "quantity": 1}])
    before = table_rows()
    client = client_for(admin_user)
    for path in (f"/api/organization-units/{shop.pk}/", f"/api/products/{shoe.pk}/"):
        response = client.delete(path)
        assert response.status_code == 409
        assert response.json()["code"] == "protected"
    assert response.json()["message"] == "Cannot delete it: order lines still refer to it."
    assert table_rows() == before
    unused = sheet_create(fulfillment="Unused", name="Unused", source=sheet_text("Unused"))
    assert client.delete(f"/api/sheets/{unused.pk}/").status_code == 204


def test_orders_without_a_backend_id_do_not_clash(client_for, integrator, shoe) -> None:
    client = client_for(integrator)
    for _ in range(2):
        response = client.post("/api/orders/", _order_body(backend_id=""))
        assert response.status_code == 201
        assert response.json()["backend_id"] is None


def test_a_return_order_names_its_sales_order(client_for, integrator, shoe) -> None:
    client = client_for(integrator)
    sales = client.post("/api/orders/", _order_body()).json()
    response = client.post(
        "/api/orders/", _order_body(backend_id="RET-1", intent="Returns", original_order="WEB-1")
    )
    assert response.status_code == 201
    assert response.json()["original_order"] == sales["id"]


@pytest.mark.parametrize(
    ("path", "body", "where"),
    [
        ("/api/orders/", {**_order_body(), "custom_fields": {"k": "a\x00"}}, "custom_fields.k"),
        (
            "/api/orders/",
            {**_order_body(), "lines": [{"product": "a\x00", "quantity": 1}]},
            "lines[0].product",
        ),
        (
            "/api/stock/bulk-upsert/",
            [{"organization_unit": "x\x00", "product": "SHOE", "quantity_on_hand": 1}],
            "[0].organization_unit",
        ),
    ],
)
def test_nul_characters_are_refused_everywhere(client_for, admin_user, shoe, path, body, where):
    """PostgreSQL cannot store NUL, so no backend accepts it."""
    before = table_rows()
    response = client_for(admin_user).post(path, body)
    assert response.status_code == 400
    assert response.json()["message"] == (
        f"Text may not contain the NUL character (\\u0000), found at {where}."
    )
    assert table_rows() == before


def test_nul_in_a_query_string_is_refused(client_for, designer) -> None:
    response = client_for(designer).get("/api/sheets/", {"name_or_id": "a\x00"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "name_or_id"


def test_sheet_filter_on_unusual_digits_is_no_error(client_for, designer) -> None:
    sheet_create(fulfillment="Warehouse", name="Warehouse", source=sheet_text("Warehouse"))
    for value in ("²", "99999999999999999999999"):
        response = client_for(designer).get("/api/sheets/", {"name_or_id": value})
        assert (response.status_code, response.json()["count"]) == (200, 0)


def test_dates_outside_the_calendar_are_a_400(client_for, integrator) -> None:
    response = client_for(integrator).get(
        "/api/orders/", {"placed_after": "0001-01-01T00:00:00+14:00"}
    )
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"code": "invalid", "message": "Date and time out of range.", "field": "placed_after"}
    ]


def test_a_date_with_an_offset_beyond_postgresqls_range_filters_as_the_same_instant(
    client_for, integrator
) -> None:
    """ISO 8601 allows offsets up to -23:59, PostgreSQL only to -15:59 (this was a 500
    there, found by the contract tests): the filter compares the instant, in UTC."""
    Order.objects.create(backend_id="EARLY", placed_at=datetime(2026, 11, 23, 8, 0, tzinfo=UTC))
    Order.objects.create(backend_id="LATE", placed_at=datetime(2026, 11, 24, 8, 0, tzinfo=UTC))
    # 2026-11-23T09:00-23:56 is 2026-11-24T08:56 UTC.
    response = client_for(integrator).get(
        "/api/orders/", {"placed_before": "2026-11-23T09:00:00-23:56"}
    )
    assert response.status_code == 200
    assert [o["backend_id"] for o in response.json()["results"]] == ["LATE", "EARLY"]
    response = client_for(integrator).get(
        "/api/orders/", {"placed_after": "2026-11-23T09:00:00-23:56"}
    )
    assert [o["backend_id"] for o in response.json()["results"]] == []


def test_the_details_lifetime_is_bounded(client_for, admin_user) -> None:
    response = client_for(admin_user).put(
        "/api/settings/Symphony:OrchestrationDetailsLifetimeInDays/", {"value": 10_000_000}
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"] == "Must be at most 3650."


def test_a_large_stock_upsert_takes_a_fixed_number_of_queries(
    client_for, integrator, shop, warehouse, django_assert_max_num_queries
) -> None:
    from orchestration.models import Product

    Product.objects.bulk_create(Product(backend_id=f"P{i}", name=f"P{i}") for i in range(150))
    items = [
        {"organization_unit": ou, "product": f"P{i}", "quantity_on_hand": i}
        for ou in ("urk_store", "lelystad_warehouse")
        for i in range(150)
    ]
    with django_assert_max_num_queries(12):
        response = client_for(integrator).post("/api/stock/bulk-upsert/", items)
    assert response.json() == {"created": 300, "updated": 0}


def test_an_order_names_its_products_in_one_query_however_many_lines_it_has(
    client_for, integrator, shoe
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from orchestration.models import Product

    Product.objects.bulk_create(Product(backend_id=f"P{i}", name=f"P{i}") for i in range(60))
    counts = []
    for number, lines in enumerate((2, 2, 60)):  # the first warms the per-process caches
        body = _order_body(
            backend_id=f"WEB-{number}",
            lines=[{"product": f"P{i}", "quantity": 1} for i in range(lines)],
        )
        with CaptureQueriesContext(connection) as queries:
            response = client_for(integrator).post("/api/orders/", body)
        assert response.status_code == 201, response.json()
        assert [line["product"]["backend_id"] for line in response.json()["lines"]] == [
            f"P{i}" for i in range(lines)
        ]
        counts.append(len(queries))
    assert counts[1] == counts[2]


def test_an_order_s_products_and_backend_id_are_looked_up_before_validation_in_one_statement(
    client_for, integrator, shoe
) -> None:
    """On PostgreSQL one statement reads the products and whether the backend ID is
    taken (``persistence.order_references``); elsewhere a query each. The refusals are
    those of a lookup during validation: an unknown product, a backend ID taken."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = client_for(integrator)
    assert client.post("/api/orders/", _order_body()).status_code == 201  # warms the caches
    with CaptureQueriesContext(connection) as queries:
        response = client.post("/api/orders/", _order_body(backend_id="WEB-2"))
    assert response.status_code == 201
    lookups = [
        query["sql"]
        for query in queries
        if query["sql"].startswith("SELECT")
        and ('"orchestration_product"' in query["sql"] or '"orchestration_order"' in query["sql"])
    ]
    assert len(lookups) == (1 if connection.vendor == "postgresql" else 2), lookups
    before = table_rows()
    taken = client.post("/api/orders/", _order_body(backend_id="WEB-2"))
    assert taken.status_code == 400
    assert taken.json()["errors"] == [
        {
            "code": "unique",
            "field": "backend_id",
            "message": "order with this backend ID already exists.",
        }
    ]
    unknown = client.post(
        "/api/orders/", _order_body(backend_id="WEB-3", lines=[{"product": "HAT", "quantity": 1}])
    )
    assert unknown.status_code == 400
    assert unknown.json()["errors"] == [
        {"code": "does_not_exist", "field": "lines[0].product", "message": "Unknown product 'HAT'."}
    ]
    assert table_rows() == before


def test_a_sheet_with_problems_is_refused_with_every_position(client_for, designer) -> None:
    before = table_rows()
    source = (
        "fulfillment Draft\naction SHIP_FROM_STOR\nscope Supplier\nrequire [Supplier.Tpye] = 1\n"
    )
    response = client_for(designer).post(
        "/api/sheets/", {"fulfillment": "Draft", "name": "Draft", "source": source}
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_sheet"
    assert body["message"] == "source: line 2, column 1: unknown action 'SHIP_FROM_STOR'"
    assert [
        (e["code"], e["line"], e["column"], e["end_column"], e["hint"]) for e in body["errors"]
    ] == [
        ("InvalidAction", 2, 1, 22, "did you mean SHIP_FROM_STORE?"),
        ("UnknownVariable", 4, 9, 24, "did you mean Supplier.Type?"),
    ]
    assert table_rows() == before


def test_the_source_must_name_the_sheets_fulfillment_identifier(client_for, designer) -> None:
    response = client_for(designer).post(
        "/api/sheets/", {"fulfillment": "Other", "name": "Draft", "source": sheet_text("Draft")}
    )
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "code": "fulfillment_mismatch",
            "message": "The source says 'fulfillment Draft', but the sheet's fulfillment "
            "identifier is 'Other'; they must be the same.",
            "field": "fulfillment",
        }
    ]


def test_a_refusal_names_the_permission_the_request_needs(client_for, designer) -> None:
    """A 403 says what to ask for: the model permission for the method, or EVA's
    SymphonySheets name; nothing is written."""
    nobody = client_for(User.objects.create_user("nobody", password="secret-pass-123"))
    before = table_rows()

    cases = [
        (nobody.get("/api/orders/"), "orchestration.view_order"),
        (
            nobody.post("/api/products/", {"backend_id": "P", "name": "P"}),
            "orchestration.add_product",
        ),
        (nobody.get("/api/sheets/"), "SymphonySheets:View"),
        (client_for(designer).delete("/api/products/1/"), "orchestration.delete_product"),
    ]
    for response, permission in cases:
        assert response.status_code == 403
        assert response.json() == {
            "code": "permission_denied",
            "message": f"You need the permission {permission} for this.",
            "errors": [],
        }
    assert table_rows() == before
