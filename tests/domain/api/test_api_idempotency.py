"""Idempotency keys on the POSTs that create orders: a retry gets the first response.

The rules are in ``orchestration.services.idempotency``; each test names one.
"""

import json
import threading
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from orchestration.api import idempotency as api_idempotency
from orchestration.api import views as api_views
from orchestration.errors import ConflictError
from orchestration.models import IdempotencyKey, Order, OrderLine
from orchestration.services.idempotency import idempotency_key_claim, idempotency_key_complete
from orchestration.services.orders import order_create
from orchestration.tasks import orchestration_details_purge_task
from tests.conftest import table_rows

pytestmark = pytest.mark.django_db

SHIPPING = {"city": "Amsterdam", "country_id": "NL", "latitude": 52.37, "longitude": 4.9}
KEY = "3f2c1a9e-0b7d-4c55-9d1e-7a6b5c4d3e2f"


def _order(quantity: int = 2) -> dict[str, Any]:
    """An order without a backend ID: nothing but the key stops a second one."""
    return {"shipping_address": SHIPPING, "lines": [{"product": "SHOE", "quantity": quantity}]}


def _post(client: APIClient, body: Any, key: str | None = KEY, path: str = "/api/orders/") -> Any:
    headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    return client.post(path, body, format="json", **headers)


@pytest.fixture
def client(client_for: Any, integrator: User, shoe: Any) -> APIClient:
    return client_for(integrator)


def test_a_retry_with_the_same_key_and_body_gets_the_first_response(client: APIClient) -> None:
    first = _post(client, _order())
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first
    before = table_rows()
    again = _post(client, _order())
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert table_rows() == before
    assert Order.objects.count() == 1


def test_the_same_body_spelt_differently_is_the_same_request(client: APIClient) -> None:
    first = _post(client, _order())
    text = '{"lines": [{"quantity": 2, "product": "SHOE"}],\n "shipping_address": %s}'
    again = client.post(
        "/api/orders/",
        text % json.dumps(SHIPPING, indent=2),
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=KEY,
    )
    assert (again.status_code, again.json()) == (201, first.json())
    assert Order.objects.count() == 1


def test_without_a_key_a_retry_is_a_second_order(client: APIClient) -> None:
    assert _post(client, _order(), key=None).status_code == 201
    assert _post(client, _order(), key=None).status_code == 201
    assert Order.objects.count() == 2


def test_the_same_key_with_another_body_is_a_422_naming_the_key(client: APIClient) -> None:
    _post(client, _order())
    before = table_rows()
    response = _post(client, _order(quantity=3))
    assert response.status_code == 422
    message = (
        f"The idempotency key '{KEY}' was first used with another request (another body, "
        "endpoint or Prefer) in the last 24 hours; send a new key with a new request."
    )
    assert response.json() == {
        "code": "idempotency_key_reused",
        "message": message,
        "errors": [
            {"code": "idempotency_key_reused", "message": message, "field": "Idempotency-Key"}
        ],
    }
    assert table_rows() == before


def test_the_same_key_on_another_endpoint_is_a_422(client: APIClient) -> None:
    order = _post(client, _order()).json()
    OrderLine.objects.filter(order_id=order["id"]).update(quantity_shipped=2)
    before = table_rows()
    body = {"lines": [{"order_line": order["lines"][0]["id"], "quantity": 1, "reason": "Other"}]}
    response = _post(client, body, path=f"/api/orders/{order['id']}/returns/")
    assert (response.status_code, response.json()["code"]) == (422, "idempotency_key_reused")
    assert table_rows() == before


def test_keys_are_per_user(client: APIClient, admin_user: User) -> None:
    _post(client, _order())
    other = APIClient()
    other.force_authenticate(admin_user)
    response = _post(other, _order())
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response
    assert Order.objects.count() == 2


def test_a_return_order_is_created_once_per_key(client: APIClient) -> None:
    order = _post(client, _order(), key=None).json()
    OrderLine.objects.filter(order_id=order["id"]).update(quantity_shipped=2)
    path = f"/api/orders/{order['id']}/returns/"
    body = {"lines": [{"order_line": order["lines"][0]["id"], "quantity": 1, "reason": "Other"}]}
    first = _post(client, body, path=path)
    assert first.status_code == 201, first.json()
    again = _post(client, body, path=path)
    assert (again.status_code, again["Idempotent-Replayed"]) == (201, "true")
    assert again.json() == first.json()
    assert Order.objects.filter(original_order_id=order["id"]).count() == 1


def test_a_second_request_while_the_first_runs_is_a_409(
    client: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The retry arrives while the first request is still creating the order."""
    create = order_create
    during: list[Any] = []

    def create_while_retried(**kwargs: Any) -> Order:
        during.append(_post(client, _order()))
        return create(**kwargs)

    monkeypatch.setattr(api_views, "order_create", create_while_retried)
    first = _post(client, _order())
    assert first.status_code == 201
    (retry,) = during
    assert retry.status_code == 409
    message = (
        f"A request with the idempotency key '{KEY}' is still being processed; send it again "
        "once that one has finished."
    )
    assert retry.json() == {
        "code": "idempotency_key_in_use",
        "message": message,
        "errors": [
            {"code": "idempotency_key_in_use", "message": message, "field": "Idempotency-Key"}
        ],
    }
    assert Order.objects.count() == 1
    monkeypatch.setattr(api_views, "order_create", create)
    assert _post(client, _order())["Idempotent-Replayed"] == "true"


def test_a_refused_request_gives_its_key_back_and_writes_nothing(client: APIClient) -> None:
    before = table_rows()
    response = _post(client, {**_order(), "lines": []})
    assert response.status_code == 400
    assert table_rows() == before  # no key either
    assert _post(client, _order()).status_code == 201
    assert _post(client, _order())["Idempotent-Replayed"] == "true"


def test_a_failed_request_gives_its_key_back(
    client: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(**kwargs: Any) -> Order:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(api_views, "order_create", broken)
    with pytest.raises(RuntimeError):
        _post(client, _order())
    assert not IdempotencyKey.objects.exists()


def test_a_claim_left_by_a_dead_process_is_taken_over_after_its_lease(
    client: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker killed mid-request rolls its order back but cannot give the key back."""

    def killed(**kwargs: Any) -> Order:
        raise SystemExit("worker killed")

    monkeypatch.setattr(api_views, "order_create", killed)
    monkeypatch.setattr(api_idempotency, "idempotency_key_release", lambda **kwargs: None)
    with pytest.raises(SystemExit):
        _post(client, _order())
    monkeypatch.undo()
    assert not Order.objects.exists()
    assert _post(client, _order()).status_code == 409  # it may still be running
    IdempotencyKey.objects.update(locked_at=timezone.now() - timedelta(minutes=6))
    response = _post(client, _order())
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response
    assert Order.objects.count() == 1
    assert IdempotencyKey.objects.get().attempt == 2


def test_a_request_taken_over_cannot_store_its_response(integrator: User) -> None:
    """So that a request outliving its lease and the retry never both create an order."""
    now = timezone.now()
    slow = idempotency_key_claim(user=integrator, key=KEY, request_hash="h", now=now)
    later = now + timedelta(minutes=6)
    retry = idempotency_key_claim(user=integrator, key=KEY, request_hash="h", now=later)
    assert (slow.attempt, retry.attempt, retry.replay) == (1, 2, False)
    with pytest.raises(ConflictError) as refused:
        idempotency_key_complete(claim=slow, status=201, body='{"id": 1}')
    assert refused.value.code == "idempotency_key_in_use"
    idempotency_key_complete(claim=retry, status=201, body='{"id": 2}')
    row = IdempotencyKey.objects.get()
    assert (row.response_status, row.response_body, row.locked_at) == (201, {"id": 2}, None)


def test_an_expired_key_is_new_again(client: APIClient) -> None:
    first = _post(client, _order())
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=24, seconds=1))
    response = _post(client, _order(quantity=3))
    assert response.status_code == 201
    assert response.json()["id"] != first.json()["id"]
    assert Order.objects.count() == 2
    assert _post(client, _order(quantity=3))["Idempotent-Replayed"] == "true"


def test_the_daily_purge_deletes_keys_older_than_24_hours(client: APIClient) -> None:
    _post(client, _order())
    _post(client, _order(), key="kept")
    IdempotencyKey.objects.filter(key=KEY).update(created_at=timezone.now() - timedelta(hours=25))
    orchestration_details_purge_task()
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["kept"]


@pytest.mark.parametrize(
    "key",
    ["", "x" * 256, "clé", "tab\there", "new\x7f"],
    ids=["empty", "256 characters", "not ASCII", "a tab", "DEL"],
)
def test_a_malformed_key_is_a_400_and_nothing_is_written(client: APIClient, key: str) -> None:
    before = table_rows()
    response = _post(client, _order(), key=key)
    assert response.status_code == 400
    message = "An idempotency key is 1 to 255 printable ASCII characters (a UUID, for instance)."
    assert response.json() == {
        "code": "invalid_idempotency_key",
        "message": message,
        "errors": [
            {"code": "invalid_idempotency_key", "message": message, "field": "Idempotency-Key"}
        ],
    }
    assert table_rows() == before


def test_a_key_of_255_printable_characters_is_accepted(client: APIClient) -> None:
    key = "".join(chr(32 + i % 95) for i in range(255))
    assert _post(client, _order(), key=key).status_code == 201
    assert _post(client, _order(), key=key)["Idempotent-Replayed"] == "true"


def test_one_user_has_a_key_once(integrator: User) -> None:
    now = timezone.now()
    IdempotencyKey.objects.create(user=integrator, key=KEY, request_hash="a", created_at=now)
    with pytest.raises(IntegrityError), transaction.atomic():
        IdempotencyKey.objects.create(user=integrator, key=KEY, request_hash="b", created_at=now)


@pytest.mark.django_db(transaction=True)
def test_two_requests_at_once_with_one_key_create_one_order(
    client_for: Any, integrator: User, shoe: Any
) -> None:
    """Whichever gets the key first creates the order; the other is a 409 or a replay."""
    start = threading.Barrier(4)
    responses: list[Any] = []

    def send() -> None:
        try:
            client = client_for(integrator)
            start.wait()
            responses.append(_post(client, _order()))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(responses) == 4
    assert Order.objects.count() == 1
    outcomes = sorted(
        "created"
        if r.status_code == 201 and "Idempotent-Replayed" not in r
        else "replayed"
        if r.status_code == 201
        else r.json()["code"]
        for r in responses
    )
    assert outcomes.count("created") == 1
    assert set(outcomes) <= {"created", "replayed", "idempotency_key_in_use"}


@pytest.mark.django_db(transaction=True)
def test_a_new_key_is_claimed_by_one_statement_that_commits_it_at_once(integrator: User) -> None:
    """Outside a transaction (as the API claims) the claim is a lone INSERT, visible to any
    other request at once; a known key is then read under a lock, as before."""
    from django.test.utils import CaptureQueriesContext

    now = timezone.now()
    with CaptureQueriesContext(connection) as queries:
        claim = idempotency_key_claim(user=integrator, key=KEY, request_hash="a", now=now)
    assert not claim.replay
    assert [query["sql"].split()[0] for query in queries] == ["INSERT"]
    assert not connection.in_atomic_block
    with pytest.raises(ConflictError, match="is still being processed"):
        idempotency_key_claim(user=integrator, key=KEY, request_hash="a", now=now)
    assert IdempotencyKey.objects.get().attempt == 1


def test_a_key_purged_between_its_insert_and_its_read_is_claimed_afresh(
    integrator: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The INSERT found the key, then the hourly purge (or a refused request giving it
    back) deleted it before it was read: the claim starts again instead of failing."""
    from orchestration.services import idempotency

    real_insert = idempotency._key_insert
    calls: list[str] = []

    def insert_lost_once(**kwargs: Any) -> Any:
        calls.append(kwargs["key"])
        return None if len(calls) == 1 else real_insert(**kwargs)

    monkeypatch.setattr(idempotency, "_key_insert", insert_lost_once)
    claim = idempotency_key_claim(user=integrator, key=KEY, request_hash="a", now=timezone.now())
    assert (claim.replay, claim.attempt, calls) == (False, 1, [KEY, KEY])
    assert IdempotencyKey.objects.get().key == KEY
