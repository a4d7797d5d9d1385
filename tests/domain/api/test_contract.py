"""Contract test: schemathesis drives every endpoint of the served OpenAPI schema.

Authenticated as a fulfilment designer (as the issue asks) and as a superuser
(a designer is refused most writes before their input is even validated),
whatever it generates, valid or not, must never produce a 500, and every
response must be one the schema documents: its status code, content type and
body shape.

Hostile bodies (found by a probe, each a 500 once) go into the run too: a part of
the generated bodies is sent nested 5,000 deep, with a lone surrogate or a NUL in a
string, or with an unknown field; and every write operation of the schema gets each
of them, and one over the body limit, once, on objects that exist.
"""

import json
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import override_settings
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import sheet_text, table_rows

# The schema is for signed-in users; at import there is no database to hold one.
with override_settings(API_DOCS_PUBLIC=True):
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def keep_connection() -> Iterator[None]:
    """Keep the test's transaction open across WSGI calls, as Django's test client does."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture(params=["designer", "superuser"])
def api_token(request: pytest.FixtureRequest, designer: Any, admin_user: Any) -> str:
    user = designer if request.param == "designer" else admin_user
    return Token.objects.create(user=user).key


DEEP = 5_000


def _with_string(body: Any, text: str) -> Any:
    """``body`` with its first string value replaced by ``text`` (or ``text`` added)."""
    stack = [body]
    while stack:
        item = stack.pop()
        entries = list(item.items()) if isinstance(item, dict) else list(enumerate(item))
        for key, value in entries:
            if isinstance(value, str):
                item[key] = text
                return body
            if isinstance(value, (dict, list)):
                stack.append(value)
    if isinstance(body, dict):
        return {**body, "note": text}
    return [*body, text] if isinstance(body, list) else text


def hostile_variants(body: Any) -> list[Any]:
    """``body`` nested 5,000 deep, with a lone surrogate, with a NUL, with an unknown field.

    Raw bytes where ``json.dumps`` would not do: the depth would make it recurse, and
    its escapes (\\ud800, \\u0000) are what a hostile client sends.
    """
    text = json.dumps(body)
    unknown: Any = {"unknown_field_x": 1}
    if isinstance(body, dict):
        unknown = {**body, "unknown_field_x": 1}
    elif isinstance(body, list) and body and isinstance(body[0], dict):
        unknown = [{**body[0], "unknown_field_x": 1}, *body[1:]]
    return [
        ("[" * DEEP + text + "]" * DEEP).encode(),
        json.dumps(_with_string(json.loads(text), "a\ud800b")).encode(),
        json.dumps(_with_string(json.loads(text), "a\x00b")).encode(),
        unknown,
    ]


def flatmap_body(context: Any, body: Any) -> st.SearchStrategy[Any]:
    """Send a part of the generated bodies as one of their hostile variants (a third of
    the draws; about a tenth of the write requests of a run)."""
    try:
        variants = hostile_variants(body)
    except TypeError:  # a multipart body holding bytes: not JSON
        return st.just(body)
    return st.integers(0, 3 * len(variants) - 1).map(
        lambda index: variants[index] if index < len(variants) else body
    )


@pytest.mark.django_db
@schema.hooks.apply(flatmap_body)
@schema.parametrize()
@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_api_honours_its_schema(
    case: Any, keep_connection: None, api_token: str, shop: Any, shoe: Any
) -> None:
    response = case.call(headers={"Authorization": f"Token {api_token}"})
    case.validate_response(response, checks=CHECKS)


WRITES = sorted(
    (
        result.ok()
        for result in schema.get_all_operations()
        if result.ok().method.upper() in ("POST", "PUT", "PATCH")
    ),
    key=lambda operation: (operation.path, operation.method),
)


@pytest.fixture
def path_ids(shop: Any, shoe: Any) -> dict[str, dict[str, Any]]:
    """Path parameters naming objects that exist, by the path's first segment."""
    from orchestration.models import FulfillmentAction, OrderFulfillment, OrganizationUnitSet
    from orchestration.services.orders import order_create
    from orchestration.services.sheets import sheet_create

    order = order_create(
        lines=[{"product": shoe, "quantity": 1}], backend_id="WEB-1", shipping_city="Urk"
    )
    fulfillment = OrderFulfillment.objects.create(
        order=order, supplier_organization_unit=shop, action=FulfillmentAction.SHIP_FROM_STORE
    )
    sheet = sheet_create(fulfillment="Cancel", name="Cancel", source=sheet_text("Cancel"))
    return {
        "orders": {"id": order.pk, "line_id": order.lines.get().pk},
        "fulfillments": {"id": fulfillment.pk},
        "sheets": {"id": sheet.pk},
        "products": {"id": shoe.pk},
        "organization-units": {"id": shop.pk},
        "organization-unit-sets": {"id": OrganizationUnitSet.objects.create(name="S").pk},
        "settings": {"name": "Returns:Reasons"},
        **plan_design_ids(),
    }


def plan_design_ids() -> dict[str, dict[str, Any]]:
    """A step group with a version, a scenario and a fallout rule."""
    from orchestration.services.step_groups import (
        fallout_rule_set,
        plan_scenario_set,
        step_group_version_save,
    )

    step_group_version_save(
        key="Invoicing",
        name="Invoicing",
        steps=[{"key": "invoice", "name": "Invoice", "type": "AUTO_TASK", "handler": "succeed"}],
    )
    scenario = plan_scenario_set(group_key="Invoicing", action="SHIP_FROM_STORE")
    rule = fallout_rule_set(step_key="invoice", error_code="", queue="finance")
    return {
        "step-groups": {"key": "Invoicing", "number": 1},
        "plan-scenarios": {"id": scenario.pk},
        "fallout-rules": {"id": rule.pk},
    }


BODY_LIMIT = 10_000
HOSTILE = {
    "nested 5,000 deep": (b"[" * DEEP + b"]" * DEEP, 400, "parse_error"),
    "a lone surrogate": (b'{"a": ["\\udfff"]}', 400, "parse_error"),
    "a NUL in a key": (b'{"a\\u0000": 1}', 400, "parse_error"),
    "an unknown field": (b'{"unknown_field_x": 1}', 400, "invalid"),
    "a body over the limit": (b"[" + b" " * BODY_LIMIT + b"]", 413, "request_too_large"),
}


@pytest.mark.django_db
@pytest.mark.parametrize("kind", list(HOSTILE))
@pytest.mark.parametrize("operation", WRITES, ids=[f"{o.method.upper()} {o.path}" for o in WRITES])
def test_every_write_refuses_hostile_bodies_as_its_schema_says(
    operation: Any,
    kind: str,
    keep_connection: None,
    admin_user: Any,
    path_ids: dict[str, dict[str, Any]],
    settings: Any,
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = BODY_LIMIT
    body, status, code = HOSTILE[kind]
    if kind == "an unknown field" and operation.path == "/api/stock/bulk-upsert/":
        body = b"[" + body + b"]"
    segment = operation.path.split("/")[2]
    parameters = {
        name: value
        for name, value in path_ids.get(segment, {}).items()
        if "{" + name + "}" in operation.path
    }
    token = Token.objects.create(user=admin_user).key
    before = table_rows()
    case = operation.Case(path_parameters=parameters, body=body, media_type="application/json")
    response = case.call(headers={"Authorization": f"Token {token}"})
    case.validate_response(response, checks=CHECKS)
    assert response.status_code == status, response.text
    assert response.json()["code"] == code
    if kind == "an unknown field":
        unknown = [e for e in response.json()["errors"] if e["code"] == "unknown_field"]
        assert [e["field"] for e in unknown] in (["unknown_field_x"], ["[0].unknown_field_x"])
    assert table_rows() == before


def test_the_schema_is_valid_openapi_without_warnings(tmp_path: Any) -> None:
    """drf-spectacular validates the schema and fails on any generation warning."""
    from django.core.management import call_command

    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    assert "/api/orders/" in target.read_text()
