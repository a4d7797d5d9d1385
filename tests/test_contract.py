"""Contract test: schemathesis drives every endpoint of the served OpenAPI schema.

Authenticated as a fulfilment designer (as the issue asks) and as a superuser
(a designer is refused most writes before their input is even validated),
whatever it generates, valid or not, must never produce a 500, and every
response must be one the schema documents: its status code, content type and
body shape.
"""

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import override_settings
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

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


@pytest.mark.django_db
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


def test_the_schema_is_valid_openapi_without_warnings(tmp_path: Any) -> None:
    """drf-spectacular validates the schema and fails on any generation warning."""
    from django.core.management import call_command

    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    assert "/api/orders/" in target.read_text()
