"""``GET /healthz`` for load balancers: 200 when the database and the broker answer,
503 naming the one that does not; no authentication, nothing but status words."""

import socket
from typing import Any

import pytest
from django.db import OperationalError, connection
from django.test import Client

pytestmark = pytest.mark.django_db


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def inline_tasks(settings: Any) -> None:
    """The embedded default, whatever broker the test run itself was given."""
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.CELERY_BROKER_URL = "memory://"


def test_with_tasks_inline_the_broker_is_inline_and_counts_as_up(settings: Any) -> None:
    inline_tasks(settings)
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "inline"}
    assert "no-cache" in response["Cache-Control"]


def test_a_broker_that_answers_is_ok(settings: Any) -> None:
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = "memory://"
    response = Client().get("/healthz")
    assert (response.status_code, response.json()) == (
        200,
        {"status": "ok", "database": "ok", "broker": "ok"},
    )


@pytest.mark.parametrize(
    "scheme", ["redis://127.0.0.1:{port}/0", "amqp://guest@127.0.0.1:{port}//"]
)
def test_an_unreachable_broker_is_a_503_naming_it(scheme: str, settings: Any) -> None:
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = scheme.format(port=closed_port())
    response = Client().get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "ok", "broker": "unreachable"}


def test_a_broken_database_is_a_503_naming_it(
    monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    inline_tasks(settings)

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("connection to server at 10.0.0.9 failed: secret detail")

    monkeypatch.setattr(connection, "cursor", refuse)
    response = Client().get("/healthz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "database": "unreachable",
        "broker": "inline",
    }
    assert b"secret detail" not in response.content


def test_only_reading_is_allowed() -> None:
    assert Client().post("/healthz").status_code == 405


def test_plain_http_is_answered_even_when_https_is_enforced(settings: Any) -> None:
    settings.SECURE_SSL_REDIRECT = True
    client = Client()
    assert client.get("/healthz").status_code == 200
    redirected = client.get("/accounts/login/")
    assert redirected.status_code == 301
    assert redirected["Location"] == "https://testserver/accounts/login/"
