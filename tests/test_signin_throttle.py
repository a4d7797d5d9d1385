"""Sign-in throttling: the API token endpoint, the Suite's and the admin's login pages.

Defaults: 5 failures per user name, 20 per client address, 15 minutes
(``SIGNIN_*`` settings). Time is frozen, so ``Retry-After`` is exact.
"""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_failures_counted() -> Iterator[None]:
    """Counts start at zero, and none are left for the next test: a Redis cache (with
    CACHE_URL) outlives a test's transaction."""
    cache.clear()
    yield
    cache.clear()


PASSWORD = "secret-pass-123"
NOON = datetime(2026, 3, 2, 11, 0, tzinfo=UTC)  # 12:00 in Amsterdam
LOCKED_MESSAGE = (
    "Too many failed sign-ins for this user name or from this address; try again in 15 minutes."
)


@pytest.fixture
def frozen() -> Iterator[Any]:
    with time_machine.travel(NOON, tick=False) as traveller:
        yield traveller


def api_sign_in(username: str, password: str, **extra: Any) -> Any:
    return APIClient().post(
        "/api/auth/token/", {"username": username, "password": password}, format="json", **extra
    )


def suite_sign_in(username: str, password: str, path: str = "/accounts/login/") -> Any:
    return Client().post(path, {"username": username, "password": password})


def test_the_api_refuses_a_user_name_after_five_failures_even_with_the_right_password(
    designer: User, frozen: Any
) -> None:
    for _ in range(5):
        assert api_sign_in("designer", "wrong").status_code == 400
    response = api_sign_in("designer", PASSWORD)
    assert response.status_code == 429
    assert response["Retry-After"] == "900"
    assert response.json() == {"code": "throttled", "message": LOCKED_MESSAGE, "errors": []}
    assert not Token.objects.exists()


def test_four_failures_do_not_lock_a_user_name_out(designer: User, frozen: Any) -> None:
    for _ in range(4):
        assert api_sign_in("designer", "wrong").status_code == 400
    assert api_sign_in("designer", PASSWORD).status_code == 200


def test_the_lockout_ends_after_fifteen_minutes(designer: User, frozen: Any) -> None:
    for _ in range(5):
        api_sign_in("designer", "wrong")
    frozen.shift(timedelta(minutes=14, seconds=59))
    response = api_sign_in("designer", PASSWORD)
    assert (response.status_code, response["Retry-After"]) == (429, "1")
    frozen.shift(timedelta(seconds=1))
    assert api_sign_in("designer", PASSWORD).status_code == 200


def test_a_successful_sign_in_forgives_the_user_names_earlier_failures(
    designer: User, frozen: Any
) -> None:
    for _ in range(4):
        api_sign_in("designer", "wrong")
    assert api_sign_in("designer", PASSWORD).status_code == 200
    for _ in range(4):
        api_sign_in("designer", "wrong")
    assert api_sign_in("designer", PASSWORD).status_code == 200


def test_a_locked_user_name_locks_only_itself(designer: User, integrator: User) -> None:
    for _ in range(5):
        api_sign_in("designer", "wrong")
    assert api_sign_in("designer", PASSWORD).status_code == 429
    assert api_sign_in("integrator", PASSWORD).status_code == 200


def test_an_address_is_refused_after_twenty_failures_whatever_the_user_name(
    designer: User, frozen: Any
) -> None:
    for number in range(20):
        assert api_sign_in(f"guess-{number}", "wrong").status_code == 400
    response = api_sign_in("designer", PASSWORD)
    assert (response.status_code, response["Retry-After"]) == (429, "900")
    assert not Token.objects.exists()


def test_behind_a_proxy_each_client_address_is_counted_apart(designer: User, settings: Any) -> None:
    settings.NUM_PROXIES = 1
    for number in range(20):
        # What a client puts at the left of X-Forwarded-For does not change its address.
        api_sign_in(
            f"guess-{number}", "wrong", HTTP_X_FORWARDED_FOR=f"10.0.0.{number}, 203.0.113.7"
        )
    assert api_sign_in("designer", PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.7").status_code == 429
    assert api_sign_in("designer", PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.1").status_code == 200


def test_the_client_address_trusts_only_as_many_forwarded_addresses_as_there_are_proxies(
    settings: Any, rf: Any
) -> None:
    from orchestration.signin import client_address

    request = rf.get("/", REMOTE_ADDR="10.1.1.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.7")
    settings.NUM_PROXIES = 0
    assert client_address(request) == "10.1.1.1"
    settings.NUM_PROXIES = 1
    assert client_address(request) == "203.0.113.7"
    settings.NUM_PROXIES = 2
    assert client_address(request) == "6.6.6.6"


def test_a_user_name_with_a_trailing_space_counts_as_the_same_user_name(
    designer: User,
) -> None:
    for _ in range(5):
        api_sign_in("designer ", "wrong")
    assert api_sign_in("designer", PASSWORD).status_code == 429
    assert suite_sign_in(" designer", PASSWORD).status_code == 429


def test_the_suite_login_page_says_when_to_try_again(designer: User, frozen: Any) -> None:
    for _ in range(5):
        response = suite_sign_in("designer", "wrong")
        assert response.status_code == 200
        assert "did not match" in response.content.decode()
    response = suite_sign_in("designer", PASSWORD)
    assert response.status_code == 429
    assert response["Retry-After"] == "900"
    page = response.content.decode()
    assert "Too many failed sign-ins" in page
    assert "Try again in 15 minutes, at 12:15." in " ".join(page.split())
    assert "_auth_user_id" not in response.client.session


def test_failures_anywhere_count_everywhere(designer: User) -> None:
    """The API's failures lock the Suite's login page too: one count per user name."""
    for _ in range(5):
        api_sign_in("designer", "wrong")
    assert suite_sign_in("designer", PASSWORD).status_code == 429


def test_the_admin_login_is_throttled_too(admin_user: User, frozen: Any) -> None:
    for _ in range(5):
        assert suite_sign_in("admin", "wrong", path="/admin/login/").status_code == 200
    response = suite_sign_in("admin", "password", path="/admin/login/")
    assert (response.status_code, response["Retry-After"]) == (429, "900")
    assert "_auth_user_id" not in response.client.session


def test_a_successful_suite_sign_in_forgives_earlier_failures(designer: User) -> None:
    for _ in range(4):
        suite_sign_in("designer", "wrong")
    assert suite_sign_in("designer", PASSWORD).status_code == 302
    for _ in range(4):
        suite_sign_in("designer", "wrong")
    assert suite_sign_in("designer", PASSWORD).status_code == 302


def test_the_limits_are_settings(designer: User, settings: Any) -> None:
    settings.SIGNIN_FAILURES_PER_USER = 2
    settings.SIGNIN_LOCKOUT_MINUTES = 1
    for _ in range(2):
        api_sign_in("designer", "wrong")
    response = api_sign_in("designer", PASSWORD)
    assert response.status_code == 429
    assert response.json()["message"] == (
        "Too many failed sign-ins for this user name or from this address; try again in 1 minute."
    )
