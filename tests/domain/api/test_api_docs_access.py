"""The OpenAPI schema, Swagger UI and ReDoc are for signed-in users unless ``API_DOCS_PUBLIC``."""

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

PAGES = ["/api/docs/", "/api/docs/redoc/"]


def test_an_anonymous_client_gets_401_for_the_schema() -> None:
    response = APIClient().get("/api/schema/?format=json")
    assert response.status_code == 401
    assert response.json() == {
        "code": "not_authenticated",
        "message": "Authentication credentials were not provided.",
        "errors": [],
    }


@pytest.mark.parametrize("path", PAGES)
def test_an_anonymous_browser_is_sent_to_sign_in_first(path: str) -> None:
    response = Client().get(path)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={path}"


@pytest.mark.parametrize("path", [*PAGES, "/api/schema/"])
def test_a_signed_in_user_reads_the_docs(path: str, nobody: User) -> None:
    client = Client()
    client.force_login(nobody)
    assert client.get(path).status_code == 200


def test_a_token_reads_the_schema(nobody: User) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=nobody).key}")
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    assert "/api/orders/" in response.json()["paths"]


@pytest.mark.parametrize("path", [*PAGES, "/api/schema/"])
def test_api_docs_public_opens_them_to_anyone(path: str, settings: Any) -> None:
    settings.API_DOCS_PUBLIC = True
    assert Client().get(path).status_code == 200


def test_the_schema_documents_the_token_endpoint_and_its_429(nobody: User) -> None:
    client = Client()
    client.force_login(nobody)
    paths = client.get("/api/schema/?format=json").json()["paths"]
    token = paths["/api/auth/token/"]
    assert set(token) == {"post", "delete"}
    assert token["post"]["responses"]["429"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
    assert token["post"]["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ApiToken"
    }
    assert "204" in token["delete"]["responses"]
