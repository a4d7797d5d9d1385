"""API tokens expire after ``API_TOKEN_TTL_HOURS`` and can be revoked by their owner
(``DELETE /api/auth/token/``, the Suite's API token page, the admin)."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

PASSWORD = "secret-pass-123"
MADE = datetime(2026, 3, 2, 11, 0, tzinfo=UTC)
EXPIRED = {
    "code": "token_expired",
    "message": "The token expired; get a new one from POST /api/auth/token/.",
    "errors": [],
}


def token_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def obtain(username: str = "designer") -> Any:
    return APIClient().post(
        "/api/auth/token/", {"username": username, "password": PASSWORD}, format="json"
    )


def test_the_token_endpoint_says_when_the_token_expires(designer: User) -> None:
    with time_machine.travel(MADE, tick=False):
        response = obtain()
    assert response.status_code == 200
    assert response.json() == {
        "token": Token.objects.get(user=designer).key,
        # 720 hours later, in the server's time zone (Amsterdam, summer time by then).
        "expires_at": "2026-04-01T13:00:00+02:00",
    }


def test_a_token_works_until_it_expires_then_answers_401_saying_so(designer: User) -> None:
    with time_machine.travel(MADE, tick=False) as traveller:
        key = obtain().json()["token"]
        traveller.shift(timedelta(hours=720) - timedelta(seconds=1))
        assert token_client(key).get("/api/sheets/").status_code == 200
        traveller.shift(timedelta(seconds=1))
        response = token_client(key).get("/api/sheets/")
    assert response.status_code == 401
    assert response.json() == EXPIRED
    assert response["WWW-Authenticate"] == "Token"


def test_the_lifetime_is_a_setting(designer: User, settings: Any) -> None:
    settings.API_TOKEN_TTL_HOURS = 1
    with time_machine.travel(MADE, tick=False) as traveller:
        key = obtain().json()["token"]
        traveller.shift(timedelta(hours=1))
        assert token_client(key).get("/api/sheets/").json() == EXPIRED


def test_signing_in_again_before_expiry_gives_the_same_token(designer: User) -> None:
    with time_machine.travel(MADE, tick=False) as traveller:
        first = obtain().json()
        traveller.shift(timedelta(hours=700))
        assert obtain().json() == first


def test_signing_in_after_expiry_gives_a_new_token_and_the_old_one_stays_dead(
    designer: User,
) -> None:
    with time_machine.travel(MADE, tick=False) as traveller:
        old = obtain().json()["token"]
        traveller.shift(timedelta(hours=721))
        new = obtain().json()
        assert new["token"] != old
        assert new["expires_at"] == "2026-05-01T14:00:00+02:00"
        assert token_client(new["token"]).get("/api/sheets/").status_code == 200
        assert token_client(old).get("/api/sheets/").json()["code"] == "authentication_failed"
    assert list(Token.objects.values_list("key", flat=True)) == [new["token"]]


def test_a_stale_token_in_the_header_does_not_stop_signing_in(designer: User) -> None:
    with time_machine.travel(MADE, tick=False) as traveller:
        old = obtain().json()["token"]
        traveller.shift(timedelta(hours=721))
        response = token_client(old).post(
            "/api/auth/token/", {"username": "designer", "password": PASSWORD}, format="json"
        )
    assert response.status_code == 200
    assert response.json()["token"] != old


def test_the_owner_revokes_the_token_in_use(designer: User) -> None:
    key = obtain().json()["token"]
    response = token_client(key).delete("/api/auth/token/")
    assert response.status_code == 204
    assert not Token.objects.filter(user=designer).exists()
    response = token_client(key).get("/api/sheets/")
    assert response.status_code == 401
    assert response.json()["message"] == "Invalid token."


def test_revoking_needs_credentials_and_deletes_nothing_without(designer: User) -> None:
    obtain()
    response = APIClient().delete("/api/auth/token/")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert Token.objects.filter(user=designer).exists()


def test_revoking_one_token_leaves_the_others(designer: User, integrator: User) -> None:
    mine = obtain("designer").json()["token"]
    theirs = obtain("integrator").json()["token"]
    token_client(mine).delete("/api/auth/token/")
    assert list(Token.objects.values_list("key", flat=True)) == [theirs]


def test_wrong_credentials_are_a_400_and_make_no_token(designer: User) -> None:
    response = APIClient().post(
        "/api/auth/token/", {"username": "designer", "password": "nope"}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {
        "code": "invalid",
        "message": "Unable to log in with provided credentials.",
        "errors": [
            {
                "code": "authorization",
                "message": "Unable to log in with provided credentials.",
                "field": None,
            }
        ],
    }
    assert not Token.objects.exists()


# --- The Suite's API token page ------------------------------------------------------------


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_suite_page_makes_shows_and_revokes_the_token(designer: User) -> None:
    client = signed_in(designer)
    assert "You have no API token." in client.get("/accounts/api-token/").content.decode()

    response = client.post("/accounts/api-token/", {"action": "create"}, follow=True)
    key = Token.objects.get(user=designer).key
    page = response.content.decode()
    assert "Your API token is ready." in page
    assert f'<code id="api-token-key">{key}</code>' in page

    response = client.post("/accounts/api-token/", {"action": "revoke"}, follow=True)
    assert "Your API token is revoked; it no longer works." in response.content.decode()
    assert not Token.objects.filter(user=designer).exists()
    assert token_client(key).get("/api/sheets/").status_code == 401


def test_the_suite_page_says_a_token_expired_and_offers_a_new_one(designer: User) -> None:
    with time_machine.travel(MADE, tick=False) as traveller:
        old = obtain().json()["token"]
        traveller.shift(timedelta(hours=800))
        client = signed_in(designer)
        page = client.get("/accounts/api-token/").content.decode()
        assert "Expired" in page
        client.post("/accounts/api-token/", {"action": "create"})
    assert Token.objects.get(user=designer).key != old


def test_the_suite_page_is_for_signed_in_users_only(designer: User) -> None:
    response = Client().post("/accounts/api-token/", {"action": "create"})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/accounts/api-token/"
    assert not Token.objects.exists()


def test_an_unknown_action_changes_nothing(designer: User) -> None:
    obtain()
    key = Token.objects.get(user=designer).key
    response = signed_in(designer).post("/accounts/api-token/", {"action": "x"}, follow=True)
    assert "Choose to create or to revoke the token." in response.content.decode()
    assert Token.objects.get(user=designer).key == key


def test_the_admin_lists_and_deletes_tokens(admin_user: User, designer: User) -> None:
    obtain()
    client = signed_in(admin_user)
    response = client.get("/admin/authtoken/tokenproxy/")
    assert response.status_code == 200
    assert "designer" in response.content.decode()


def test_an_inactive_users_token_is_refused_with_drfs_words(designer: User) -> None:
    key = obtain().json()["token"]
    User.objects.filter(pk=designer.pk).update(is_active=False)
    response = token_client(key).get("/api/sheets/")
    assert response.status_code == 401
    assert response.json()["message"] == "User inactive or deleted."


def test_a_token_is_read_with_its_user_in_one_statement_as_typed_objects(
    designer: User, django_assert_num_queries: Any
) -> None:
    """The written-out read gives what the ORM would: the user and the token's date as
    objects of their types (SQLite hands back text), the user attached to the token."""
    from orchestration.api.authentication import ExpiringTokenAuthentication

    with time_machine.travel(MADE, tick=False):
        key = obtain().json()["token"]
        with django_assert_num_queries(1):
            user, token = ExpiringTokenAuthentication().authenticate_credentials(key)
    assert (user.pk, user.username) == (designer.pk, "designer")
    assert user.is_active is True and user.is_superuser is False
    assert token.user is user
    assert token.created == MADE
    assert user.date_joined == designer.date_joined
