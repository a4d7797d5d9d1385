"""Hostile JSON bodies: too deep, too large, NUL and lone surrogates, unknown fields.

Each is a clear 4xx in the API's error shape, never a 500, and nothing is written.
"""

import json
import re
from typing import Any

import pytest
from rest_framework.test import APIClient

from orchestration.api.parsers import MAX_JSON_DEPTH, nesting_exceeds, refused_text
from orchestration.models import OrderLine, OrganizationUnit, Product
from tests.conftest import sheet_text, table_rows

pytestmark = pytest.mark.django_db

DEEP = "[" * 5000 + "]" * 5000
SHIPPING = {"city": "Amsterdam", "country_id": "NL", "latitude": 52.37, "longitude": 4.9}

# Every endpoint that writes (POST, PUT, PATCH), with a path whose IDs exist (``ids``).
WRITE_ENDPOINTS = [
    ("post", "/api/auth/token/"),
    ("post", "/api/fulfillments/{fulfillment}/cancel-lines/"),
    ("post", "/api/fulfillments/{fulfillment}/decline/"),
    ("post", "/api/fulfillments/{fulfillment}/pack/"),
    ("post", "/api/fulfillments/{fulfillment}/pick/"),
    ("post", "/api/fulfillments/{fulfillment}/receive/"),
    ("post", "/api/fulfillments/{fulfillment}/retry-export/"),
    ("post", "/api/fulfillments/{fulfillment}/ship/"),
    ("post", "/api/fulfillments/{fulfillment}/start/"),
    ("post", "/api/orders/"),
    ("post", "/api/orders/bulk/"),
    ("post", "/api/orders/{order}/lines/{line}/cancel/"),
    ("post", "/api/orders/{order}/returns/"),
    ("post", "/api/orders/{order}/retry-orchestration/"),
    ("post", "/api/orders/{order}/changes/"),
    ("post", "/api/orders/{order}/custom-fields/"),
    ("post", "/api/plan-steps/retry/"),
    ("post", "/api/step-groups/"),
    ("post", "/api/step-groups/{group}/versions/{version}/activate/"),
    ("post", "/api/plan-scenarios/"),
    ("put", "/api/plan-scenarios/{scenario}/"),
    ("patch", "/api/plan-scenarios/{scenario}/"),
    ("post", "/api/fallout-rules/"),
    ("put", "/api/fallout-rules/{rule}/"),
    ("patch", "/api/fallout-rules/{rule}/"),
    ("post", "/api/plan-steps/complete/"),
    ("post", "/api/organization-unit-sets/"),
    ("put", "/api/organization-unit-sets/{set}/"),
    ("patch", "/api/organization-unit-sets/{set}/"),
    ("post", "/api/organization-units/"),
    ("put", "/api/organization-units/{ou}/"),
    ("patch", "/api/organization-units/{ou}/"),
    ("post", "/api/fulfillment-options/"),
    ("post", "/api/preview/"),
    ("post", "/api/products/"),
    ("put", "/api/products/{product}/"),
    ("patch", "/api/products/{product}/"),
    ("put", "/api/settings/{setting}/"),
    ("post", "/api/sheets/"),
    ("put", "/api/sheets/{sheet}/"),
    ("patch", "/api/sheets/{sheet}/"),
    ("post", "/api/sheets/import/"),
    ("post", "/api/stock/bulk-upsert/"),
]


def test_the_write_endpoints_above_are_every_write_endpoint_of_the_schema() -> None:
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    documented = {
        (method, path)
        for path, operations in schema["paths"].items()
        for method in operations
        if method in ("post", "put", "patch")
    }
    listed = {(method, re.sub(r"\{(\w+)\}", "{x}", path)) for method, path in WRITE_ENDPOINTS}
    assert {(m, re.sub(r"\{(\w+)\}", "{x}", p)) for m, p in documented} == listed


@pytest.fixture
def ids(admin_user: Any, shop: Any, shoe: Any) -> dict[str, int]:
    """One of each object the JSON endpoints' paths name."""
    from orchestration.models import FulfillmentAction, OrderFulfillment, OrganizationUnitSet
    from orchestration.services.orders import order_create
    from orchestration.services.sheets import sheet_create
    from orchestration.services.step_groups import (
        fallout_rule_set,
        plan_scenario_set,
        step_group_version_save,
    )

    order = order_create(
        lines=[{"product": shoe, "quantity": 1}], backend_id="WEB-1", shipping_city="Urk"
    )
    sheet = sheet_create(fulfillment="Cancel", name="Cancel", source=sheet_text("Cancel"))
    ou_set = OrganizationUnitSet.objects.create(name="Stores")
    version = step_group_version_save(
        key="Invoicing",
        name="Invoicing",
        steps=[{"key": "invoice", "name": "Invoice", "type": "AUTO_TASK", "handler": "succeed"}],
    )
    scenario = plan_scenario_set(group_key="Invoicing", action="EXPORT_ORDER")
    rule = fallout_rule_set(step_key="invoice", error_code="", queue="finance")
    fulfillment = OrderFulfillment.objects.create(
        order=order, supplier_organization_unit=shop, action=FulfillmentAction.SHIP_FROM_STORE
    )
    return {
        "order": order.pk,
        "line": order.lines.get().pk,
        "sheet": sheet.pk,
        "product": shoe.pk,
        "ou": shop.pk,
        "fulfillment": fulfillment.pk,
        "set": ou_set.pk,
        "setting": "Returns:Reasons",
        "group": "Invoicing",
        "version": version.number,
        "scenario": scenario.pk,
        "rule": rule.pk,
    }


def _send(user: Any, method: str, path: str, body: str | bytes) -> Any:
    client = APIClient()
    if not path.startswith("/api/auth/"):
        client.force_authenticate(user)
    return getattr(client, method)(path, data=body, content_type="application/json")


# --- Depth ----------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), WRITE_ENDPOINTS)
def test_json_nested_5000_deep_is_a_400_parse_error_on_every_json_endpoint(
    admin_user: Any, ids: dict[str, int], method: str, path: str
) -> None:
    before = table_rows()
    response = _send(admin_user, method, path.format(**ids), DEEP)
    assert response.status_code == 400
    assert response.json() == {
        "code": "parse_error",
        "message": "JSON parse error - nested deeper than 64 arrays and objects.",
        "errors": [],
    }
    assert table_rows() == before


def test_a_whole_number_of_5000_digits_is_a_400_naming_the_limit(
    client_for: Any, admin_user: Any
) -> None:
    before = table_rows()
    response = client_for(admin_user).post(
        "/api/products/",
        '{"backend_id": "HUGE", "name": "Huge", "content": {"n": ' + "9" * 5_000 + "}}",
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json() == {
        "code": "parse_error",
        "message": "JSON parse error - a whole number of 5,000 digits "
        "(at most 4,300 digits in a whole number)",
        "errors": [],
    }
    assert table_rows() == before


def test_the_anonymous_token_endpoint_refuses_deep_json_in_the_error_shape() -> None:
    response = APIClient().post("/api/auth/token/", data=DEEP, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


def _nested(depth: int) -> dict[str, Any]:
    """A product body whose ``content`` makes the whole body ``depth`` levels deep."""
    content: dict[str, Any] = {}
    for _ in range(depth - 2):
        content = {"a": content}
    return {"backend_id": "DEEP", "name": "Deep", "content": content}


def test_json_as_deep_as_the_limit_is_accepted_and_one_level_more_is_not(
    client_for: Any, admin_user: Any
) -> None:
    client = client_for(admin_user)
    response = client.post("/api/products/", _nested(MAX_JSON_DEPTH + 1))
    assert response.status_code == 400
    assert response.json()["message"] == (
        "JSON parse error - nested deeper than 64 arrays and objects."
    )
    assert not Product.objects.exists()
    response = client.post("/api/products/", _nested(MAX_JSON_DEPTH))
    assert response.status_code == 201, response.json()
    assert Product.objects.get().content == _nested(MAX_JSON_DEPTH)["content"]


def test_brackets_inside_strings_do_not_count_as_nesting(client_for: Any, admin_user: Any) -> None:
    note = '[{"\\"' * 2000
    response = client_for(admin_user).post(
        "/api/products/", {"backend_id": "B", "name": "B", "content": {"note": note}}
    )
    assert response.status_code == 201, response.json()
    assert Product.objects.get().content == {"note": note}


@pytest.mark.parametrize(
    ("text", "exceeds"),
    [
        ("[" * 65 + "]" * 65, True),
        ("[" * 64 + "]" * 64, False),
        ("[" * 65, True),  # never closed: a parser still recurses into each
        ("[]" * 10_000, False),
        ('["' + "[" * 100 + '"]', False),
        ('["\\"' + "[" * 100 + '"]', False),  # an escaped quote does not end the string
        ('["\\\\"' + ",[" * 100, True),  # an escaped backslash does
        ('"' + "[" * 100, False),  # an unterminated string runs to the end
        ('{"a":' * 65 + "1" + "}" * 65, True),
    ],
    ids=[
        "65 deep",
        "64 deep",
        "65 opened",
        "wide",
        "in a string",
        "escaped quote",
        "escaped backslash",
        "unterminated string",
        "65 objects",
    ],
)
def test_nesting_is_counted_on_the_text_outside_strings(text: str, exceeds: bool) -> None:
    assert nesting_exceeds(text) is exceeds


def test_many_quotes_are_scanned_in_linear_time() -> None:
    """Each quote starting an unterminated string must not rescan the rest of the text."""
    assert nesting_exceeds('"\\' * 1_000_000 + "[" * 100) is False


# --- Size -----------------------------------------------------------------------------


def test_a_body_over_the_upload_limit_is_a_413_and_nothing_is_written(
    client_for: Any, admin_user: Any, settings: Any
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1_000
    before = table_rows()
    body = {"backend_id": "BIG", "name": "Big", "content": {"note": "x" * 1_000}}
    response = client_for(admin_user).post("/api/products/", body)
    assert response.status_code == 413
    assert response.json() == {
        "code": "request_too_large",
        "message": "The body is larger than the limit of 1,000 bytes; send less at once.",
        "errors": [],
    }
    assert table_rows() == before
    body["content"]["note"] = "x" * 900
    assert client_for(admin_user).post("/api/products/", body).status_code == 201


def test_the_largest_stock_upsert_the_api_takes_is_not_too_large(
    client_for: Any, admin_user: Any
) -> None:
    """10,000 items (the upsert's limit) with 100-character backend IDs: 2.7 MB."""
    OrganizationUnit.objects.bulk_create(
        OrganizationUnit(name=f"OU {i}", backend_id=f"{i:o>100}", type="Shop", country_id="NL")
        for i in range(100)
    )
    Product.objects.bulk_create(Product(name=f"P {i}", backend_id=f"{i:p>100}") for i in range(100))
    body = [
        {
            "organization_unit": f"{i:o>100}",
            "product": f"{j:p>100}",
            "quantity_on_hand": 2_000_000_000,
        }
        for i in range(100)
        for j in range(100)
    ]
    # Above Django's default limit of 2.5 MiB, however compactly it is written.
    assert len(json.dumps(body, separators=(",", ":"))) > 2.5 * 1024 * 1024
    response = client_for(admin_user).post("/api/stock/bulk-upsert/", body)
    assert response.status_code == 200, response.json()
    assert response.json() == {"created": 10_000, "updated": 0}


@pytest.mark.parametrize("content_type", ["json", "form"])
def test_the_token_endpoint_refuses_a_body_over_the_limit(
    settings: Any, designer: Any, content_type: str
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1_000
    body = {"username": "designer", "password": "x" * 1_000}
    if content_type == "json":
        response = APIClient().post("/api/auth/token/", body, format="json")
    else:
        response = APIClient().post(
            "/api/auth/token/",
            "username=designer&password=" + "x" * 1_000,
            content_type="application/x-www-form-urlencoded",
        )
    assert response.status_code == 413
    assert response.json()["code"] == "request_too_large"


# --- NUL and lone surrogates ----------------------------------------------------------


def _order(**overrides: Any) -> dict[str, Any]:
    body = {"backend_id": "WEB-9", "shipping_address": SHIPPING, "lines": [{"product": "SHOE"}]}
    body["lines"][0]["quantity"] = 1
    return {**body, **overrides}


@pytest.mark.parametrize(
    ("path", "body", "field", "escape"),
    [
        (
            "/api/orders/",
            _order(custom_fields={"Channel": "\ud800"}),
            "custom_fields.Channel",
            "\\ud800",
        ),
        (
            "/api/orders/",
            _order(custom_fields={"x\udfffy": 1}),
            "custom_fields.x\\udfffy",
            "\\udfff",
        ),
        (
            "/api/orders/",
            _order(lines=[{"product": "SHOE", "quantity": 1}, {"product": "S\ud83d"}]),
            "lines[1].product",
            "\\ud83d",
        ),
        (
            "/api/stock/bulk-upsert/",
            [{"organization_unit": 1, "product": 1, "quantity_on_hand": 1}, {"\udc00": 1}],
            "[1].\\udc00",
            "\\udc00",
        ),
        (
            "/api/products/",
            {"backend_id": "A", "name": "A", "content": ["\ud800"]},
            "content[0]",
            "\\ud800",
        ),
        ("/api/sheets/", {"name": "\udbff"}, "name", "\\udbff"),
    ],
)
def test_a_lone_surrogate_anywhere_is_a_400_naming_the_field(
    admin_user: Any, shoe: Any, path: str, body: Any, field: str, escape: str
) -> None:
    before = table_rows()
    # json.dumps writes each surrogate as the escape a client would send (\ud800).
    response = _send(admin_user, "post", path, json.dumps(body))
    assert response.status_code == 400
    assert response.json() == {
        "code": "parse_error",
        "message": f"Text may not contain a lone surrogate ({escape}), found at {field}.",
        "errors": [
            {
                "code": "surrogate_characters_not_allowed",
                "message": f"Text may not contain a lone surrogate ({escape}).",
                "field": field,
            }
        ],
    }
    assert table_rows() == before


def test_a_lone_surrogate_in_a_string_body_names_the_body(admin_user: Any) -> None:
    response = _send(admin_user, "post", "/api/products/", '"\\ud800"')
    assert response.status_code == 400
    assert response.json()["message"] == (
        "Text may not contain a lone surrogate (\\ud800), found at the body."
    )
    assert response.json()["errors"][0]["field"] is None


def test_a_surrogate_pair_is_a_character_and_is_kept(client_for: Any, admin_user: Any) -> None:
    response = _send(
        admin_user, "post", "/api/products/", '{"backend_id": "E", "name": "\\ud83d\\ude00"}'
    )
    assert response.status_code == 201, response.json()
    assert Product.objects.get().name == "\U0001f600"


def test_the_first_refused_character_in_the_body_is_named(admin_user: Any) -> None:
    body = '{"content": {"b": ["ok", "\\u0000"], "a": "\\ud800"}, "name": "\\u0000"}'
    response = _send(admin_user, "post", "/api/products/", body)
    assert response.json()["errors"] == [
        {
            "code": "null_characters_not_allowed",
            "message": "Text may not contain the NUL character (\\u0000).",
            "field": "content.b[1]",
        }
    ]


def test_the_walk_for_refused_text_does_not_recurse() -> None:
    data: Any = "\x00"
    for _ in range(20_000):
        data = [{"k": data}]
    assert refused_text(data) == ("[0].k" * 20_000, "\x00")
    assert refused_text([{"k": [1, 2.5, None, True, "fine"]}] * 10_000) is None


# --- Unknown and read-only fields -----------------------------------------------------


def _unknown(field: str, message: str = "Unknown field.") -> dict[str, Any]:
    return {"code": "unknown_field", "message": message, "field": field}


@pytest.mark.parametrize(("method", "path"), WRITE_ENDPOINTS)
def test_an_unknown_field_is_refused_on_every_write_endpoint(
    admin_user: Any, ids: dict[str, int], method: str, path: str
) -> None:
    before = table_rows()
    body: Any = {"colour": "red"}
    if path == "/api/stock/bulk-upsert/":
        body = [body]
    response = _send(admin_user, method, path.format(**ids), json.dumps(body))
    assert response.status_code == 400
    field = "[0].colour" if isinstance(body, list) else "colour"
    unknown = _unknown(field)
    if path == "/api/sheets/import/":  # the import service's words, as in the Suite
        unknown["message"] = (
            "Unknown field 'colour': a sheet file has format_version, exported_at and sheets."
        )
    assert unknown in response.json()["errors"]
    assert table_rows() == before


def test_a_misspelt_sheet_field_is_refused_with_the_closest_name(
    client_for: Any, designer: Any
) -> None:
    """``active`` for ``is_active`` created an inactive sheet without a word."""
    before = table_rows()
    body = {"fulfillment": "A", "name": "A", "source": sheet_text("A"), "active": True}
    response = client_for(designer).post("/api/sheets/", body)
    assert response.status_code == 400
    assert response.json() == {
        "code": "invalid",
        "message": "active: Unknown field; did you mean 'is_active'?",
        "errors": [_unknown("active", "Unknown field; did you mean 'is_active'?")],
    }
    assert table_rows() == before
    del body["active"]
    assert client_for(designer).post("/api/sheets/", body).status_code == 201


def test_unknown_fields_of_an_order_and_its_lines_are_each_named(
    client_for: Any, integrator: Any, shoe: Any
) -> None:
    before = table_rows()
    line = {"product": "SHOE", "quantity": 1}
    body = {
        "backend_id": "WEB-1",
        "shipping_address": {**SHIPPING, "colour": "red"},
        "lines": [line, line, {**line, "colour": "red", "size": 42}],
        "coupon": "X",
    }
    response = client_for(integrator).post("/api/orders/", body)
    assert response.status_code == 400
    assert response.json()["errors"] == [
        _unknown("coupon"),
        _unknown("shipping_address.colour"),
        _unknown("lines[2].colour"),
        _unknown("lines[2].size"),
    ]
    assert table_rows() == before


def test_unknown_fields_come_first_beside_the_other_errors(
    client_for: Any, integrator: Any, shoe: Any
) -> None:
    response = client_for(integrator).post(
        "/api/orders/", {"shipping_address": SHIPPING, "lines": [], "line": []}
    )
    assert response.json()["errors"] == [
        _unknown("line", "Unknown field; did you mean 'lines'?"),
        {"code": "empty", "message": "This list may not be empty.", "field": "lines"},
    ]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (
            "/api/stock/bulk-upsert/",
            [
                {"organization_unit": "urk_store", "product": "SHOE", "quantity_on_hand": 1},
                {"organization_unit": "urk_store", "product": "SHOE", "quantity": 1},
            ],
            "[1].quantity",
        ),
        (
            "/api/organization-units/",
            {
                "name": "N",
                "backend_id": "n",
                "type": "Shop",
                "country_id": "NL",
                "address": {"town": "U"},
            },
            "address.town",
        ),
        ("/api/preview/", {"order": "WEB-1", "drafts": [{"source": "x", "sheet_id": 1}]}, None),
        ("/api/products/{product}/", {"name": "Shoes", "colour": "red"}, "colour"),
        ("/api/settings/Returns:Reasons/", {"value": "Damaged", "values": ["x"]}, "values"),
        ("/api/fulfillments/{fulfillment}/pick/", {"lines": [{"id": 1, "qty": 1}]}, None),
        ("/api/fulfillments/{fulfillment}/start/", {"shop": 1}, "shop"),
        ("/api/fulfillments/{fulfillment}/decline/", {"reason": "x", "why": "x"}, "why"),
    ],
    ids=["stock", "ou address", "preview draft", "product", "setting", "pick", "start", "decline"],
)
def test_unknown_fields_are_refused_in_each_endpoint_family(
    admin_user: Any, ids: dict[str, int], path: str, body: Any, field: str | None
) -> None:
    before = table_rows()
    method = "patch" if "products" in path else "put" if "settings" in path else "post"
    response = _send(admin_user, method, path.format(**ids), json.dumps(body))
    assert response.status_code == 400
    if field is None:  # a nested list: the path names the item
        field = {"/api/preview/": "drafts[0].sheet_id"}.get(path, "lines[0].qty")
    assert response.json()["errors"][0]["field"] == field
    assert response.json()["errors"][0]["code"] == "unknown_field"
    assert table_rows() == before


def test_a_return_order_refuses_unknown_fields_of_its_lines(
    client_for: Any, integrator: Any, ids: dict[str, int]
) -> None:
    OrderLine.objects.filter(pk=ids["line"]).update(quantity_shipped=1)
    before = table_rows()
    path = f"/api/orders/{ids['order']}/returns/"
    line = {"order_line": ids["line"], "quantity": 1, "reason": "Damaged"}
    response = client_for(integrator).post(path, {"lines": [{**line, "reson": "Damaged"}]})
    assert response.status_code == 400
    assert response.json()["errors"] == [
        _unknown("lines[0].reson", "Unknown field; did you mean 'reason'?")
    ]
    assert table_rows() == before
    assert client_for(integrator).post(path, {"lines": [line]}).status_code == 201


def test_the_token_endpoint_refuses_unknown_fields(designer: Any) -> None:
    response = APIClient().post(
        "/api/auth/token/",
        {"username": "designer", "password": "secret-pass-123", "remember": True},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["errors"] == [_unknown("remember")]


def test_read_only_fields_are_refused_not_ignored(client_for: Any, designer: Any) -> None:
    """As Stripe does: a client sending ``revision`` or ``id`` means to set it, and cannot."""
    client = client_for(designer)
    created = client.post(
        "/api/sheets/", {"fulfillment": "A", "name": "A", "source": sheet_text("A")}
    ).json()
    before = table_rows()
    response = client.put(f"/api/sheets/{created['id']}/", {**created, "name": "B"})
    assert response.status_code == 400
    read_only = ["id", "action", "revision", "created_at", "created_by", "updated_at"]
    assert response.json()["errors"] == [
        {
            "code": "read_only_field",
            "message": "This field is read-only; leave it out.",
            "field": name,
        }
        for name in [*read_only, "updated_by"]
    ]
    assert table_rows() == before
    writable = {k: created[k] for k in ("fulfillment", "source", "is_active")}
    response = client.put(f"/api/sheets/{created['id']}/", {**writable, "name": "B"})
    assert (response.status_code, response.json()["revision"]) == (200, 2)


def test_every_api_serializer_refuses_fields_it_does_not_write() -> None:
    """A serializer added later gets the check by deriving from the module's bases."""
    from rest_framework.serializers import BaseSerializer, ListSerializer

    from orchestration.api import serializers

    classes = [
        value
        for value in vars(serializers).values()
        if isinstance(value, type)
        and issubclass(value, BaseSerializer)
        # A list's items are objects of its child, which does the refusing.
        and not issubclass(value, ListSerializer)
        and value.__module__ == serializers.__name__
    ]
    assert len(classes) > 30
    assert [
        cls.__name__
        for cls in classes
        if not issubclass(cls, serializers.RefuseUnwrittenFieldsMixin)
    ] == []
