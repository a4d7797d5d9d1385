"""``POST /api/orders/bulk/``: many orders in one request, each taken as ``POST /api/orders/``
takes one (``orchestration/api/order_imports.py``, ``services/order_imports.py``)."""

import json
import math
import re
from collections import Counter
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import DatabaseError, connection
from django.db.models import Model
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from orchestration.api import order_imports as api_order_imports
from orchestration.api.order_imports import order_bodies_import
from orchestration.celery import app as celery_app
from orchestration.models import IdempotencyKey, Order, OrderEvent, OrderLine, OrganizationUnit
from orchestration.services import order_imports
from orchestration.services import orders as orders_service
from orchestration.services.order_imports import orders_create_bulk
from tests.conftest import table_rows

pytestmark = pytest.mark.django_db

BULK = "/api/orders/bulk/"
SHIPPING = {"city": "Amsterdam", "country_id": "NL", "latitude": 52.37, "longitude": 4.9}
KEY = "5d0b7c2e-1f3a-4e8b-9c6d-2a1b0c9d8e7f"


def _order(backend_id: str | None = "WEB-1", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "shipping_address": SHIPPING,
        "custom_fields": {"Channel": "WEBSHOP"},
        "lines": [
            {"product": "SHOE", "quantity": 2, "unit_price": "80.00", "unit_price_in_tax": "96.80"},
            {"product": "SHOE", "quantity": 1, "is_gift_wrapped": True},
        ],
    }
    if backend_id is not None:
        body["backend_id"] = backend_id
    return {**body, **overrides}


def _orders(count: int, prefix: str = "BULK") -> list[dict[str, Any]]:
    return [_order(f"{prefix}-{number}") for number in range(count)]


def _unique_refusal(message: str) -> dict[str, Any]:
    return {
        "code": "invalid",
        "message": f"backend_id: {message}",
        "errors": [{"code": "unique", "message": message, "field": "backend_id"}],
    }


SERIALIZER_DUPLICATE = _unique_refusal("order with this backend ID already exists.")


@pytest.fixture
def client(client_for: Any, integrator: User, shoe: Any) -> APIClient:
    return client_for(integrator)


def _bulk(client: APIClient, orders: Any, key: str | None = None, **headers: str) -> Any:
    if key is not None:
        headers["HTTP_IDEMPOTENCY_KEY"] = key
    return client.post(BULK, {"orders": orders}, format="json", **headers)


# --- Each order on its own ---------------------------------------------------------------


def test_each_order_is_created_and_answered_as_post_orders_answers_it(
    client: APIClient,
) -> None:
    response = _bulk(client, [_order("WEB-1"), _order("WEB-2")])
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["created"], body["refused"]) == (2, 0)
    orders = list(Order.objects.order_by("pk"))
    assert [order.backend_id for order in orders] == ["WEB-1", "WEB-2"]
    assert body["results"] == [
        {"index": 0, "status": 201, "order": client.get(f"/api/orders/{orders[0].pk}/").json()},
        {"index": 1, "status": 201, "order": client.get(f"/api/orders/{orders[1].pk}/").json()},
    ]
    single = client.post("/api/orders/", _order("WEB-3"), format="json").json()
    assert set(single) == set(body["results"][0]["order"])


def test_with_prefer_return_minimal_a_created_order_is_its_id_and_backend_id(
    client: APIClient,
) -> None:
    bad = _order("WEB-2", lines=[{"product": "HAT", "quantity": 1}])
    refusal = _bulk(client, [bad]).json()["results"][0]["error"]
    response = _bulk(client, [_order("WEB-1"), bad, _order(None)], HTTP_PREFER="return=minimal")
    assert response.status_code == 200, response.json()
    assert response["Preference-Applied"] == "return=minimal"
    first, second = Order.objects.order_by("pk")
    assert response.json() == {
        "created": 2,
        "refused": 1,
        "results": [
            {"index": 0, "status": 201, "order": {"id": first.pk, "backend_id": "WEB-1"}},
            {"index": 1, "status": 400, "error": refusal},
            {"index": 2, "status": 201, "order": {"id": second.pk, "backend_id": None}},
        ],
    }


@pytest.mark.parametrize(
    ("prefer", "minimal"),
    [
        ("return=minimal", True),
        ('respond-async, RETURN="minimal"; charset=utf-8', True),
        ("wait=10,return=minimal", True),
        ("return = minimal", True),
        ("RETURN=MINIMAL", True),
        ("return=minimal, return=representation", True),
        ("return=representation", False),
        ("return=representation, return=minimal", False),
        ('foo="a,return=minimal"', False),
        ('x="a\\",return=minimal"', False),
        ('return="minimal', False),
        ("return", False),
        ("return=minimalist", False),
        ("handling=lenient", False),
        ("", False),
    ],
)
def test_the_prefer_header_is_read_as_rfc_7240_says(
    client: APIClient, prefer: str, minimal: bool
) -> None:
    response = _bulk(client, [_order(None)], HTTP_PREFER=prefer)
    assert response.status_code == 200
    order = response.json()["results"][0]["order"]
    if minimal:
        assert (set(order), response["Preference-Applied"]) == (
            {"id", "backend_id"},
            "return=minimal",
        )
    else:
        assert order == client.get(f"/api/orders/{order['id']}/").json()
        assert "Preference-Applied" not in response


def test_a_bulk_order_is_stored_as_a_single_order_is(client: APIClient) -> None:
    """Lines, billing address copied from shipping, the timeline, the orchestration flag."""
    single = client.post("/api/orders/", _order("ONE"), format="json").json()
    bulk = _bulk(client, [_order("MANY")]).json()["results"][0]["order"]
    ignored = {"id", "backend_id", "created_at", "updated_at", "placed_at", "lines"}
    assert {k: v for k, v in bulk.items() if k not in ignored} == {
        k: v for k, v in single.items() if k not in ignored
    }
    assert [{k: v for k, v in line.items() if k != "id"} for line in bulk["lines"]] == [
        {k: v for k, v in line.items() if k != "id"} for line in single["lines"]
    ]
    one, many = Order.objects.get(backend_id="ONE"), Order.objects.get(backend_id="MANY")
    assert [(e.kind, e.message, e.actor, e.user_id) for e in many.events.all()] == [
        (e.kind, e.message, e.actor, e.user_id) for e in one.events.all()
    ]
    assert (many.billing_city, many.billing_country_id) == ("Amsterdam", "NL")


def test_a_bulk_order_with_an_unknown_product_is_refused_alone(client: APIClient) -> None:
    bad = _order("WEB-2", lines=[{"product": "HAT", "quantity": 1}])
    response = _bulk(client, [_order("WEB-1"), bad, _order("WEB-3")])
    assert response.status_code == 200
    body = response.json()
    assert (body["created"], body["refused"]) == (2, 1)
    assert body["results"][1] == {
        "index": 1,
        "status": 400,
        "error": {
            "code": "invalid",
            "message": "lines[0].product: Unknown product 'HAT'.",
            "errors": [
                {
                    "code": "does_not_exist",
                    "message": "Unknown product 'HAT'.",
                    "field": "lines[0].product",
                }
            ],
        },
    }
    assert [r["status"] for r in body["results"]] == [201, 400, 201]
    assert list(Order.objects.order_by("pk").values_list("backend_id", flat=True)) == [
        "WEB-1",
        "WEB-3",
    ]


@pytest.mark.parametrize(
    "bad",
    [
        _order("WEB-2", lines=[{"product": "HAT", "quantity": 1}]),
        _order("WEB-2", lines=[{"product": 999999, "quantity": 1}]),
        _order("WEB-2", lines=[{"product": "SHOE", "quantity": 0, "colour": "red"}]),
        _order("WEB-2", lines=[]),
        _order("WEB-2", shipping_address={**SHIPPING, "latitude": 200}),
        _order("WEB-2", sold_from_organization_unit="nowhere"),
        _order("WEB-2", sold_from_organization_unit=["x"]),
        _order("WEB-2", original_order="NO-SUCH-ORDER"),
        _order("x" * 101, intent="Gift"),
        _order("WEB-2", lines="SHOE"),
        [1, 2],
        "an order",
        None,
    ],
    ids=lambda bad: repr(bad)[:40],
)
def test_each_refusal_is_exactly_the_400_post_orders_gives(client: APIClient, bad: Any) -> None:
    single = client.post("/api/orders/", json.dumps(bad), content_type="application/json")
    assert single.status_code == 400
    before = table_rows()
    response = _bulk(client, [bad])
    assert response.status_code == 200
    assert response.json() == {
        "created": 0,
        "refused": 1,
        "results": [{"index": 0, "status": 400, "error": single.json()}],
    }
    assert table_rows() == before


def test_a_backend_id_already_stored_is_that_orders_own_400(client: APIClient) -> None:
    client.post("/api/orders/", _order("WEB-1"), format="json")
    single = client.post("/api/orders/", _order("WEB-1"), format="json")
    assert (single.status_code, single.json()) == (400, SERIALIZER_DUPLICATE)
    response = _bulk(client, [_order("WEB-0"), _order("WEB-1"), _order("WEB-2")])
    assert [(r["status"], r.get("error")) for r in response.json()["results"]] == [
        (201, None),
        (400, SERIALIZER_DUPLICATE),
        (201, None),
    ]
    assert Order.objects.filter(backend_id="WEB-1").count() == 1


def test_a_backend_id_twice_in_one_request_refuses_the_second_as_if_posted_in_turn(
    client: APIClient,
) -> None:
    """The first is created; the second gets what POST /api/orders/ would then answer.
    A first one refused for another reason leaves the backend ID to the next."""
    bad_first = _order("WEB-2", lines=[{"product": "HAT", "quantity": 1}])
    response = _bulk(client, [_order("WEB-1"), _order(" WEB-1 "), bad_first, _order("WEB-2")])
    assert [(r["status"], r.get("error")) for r in response.json()["results"]] == [
        (201, None),
        (400, SERIALIZER_DUPLICATE),
        (400, response.json()["results"][2]["error"]),
        (201, None),
    ]
    assert response.json()["results"][2]["error"]["errors"][0]["field"] == "lines[0].product"
    assert sorted(Order.objects.values_list("backend_id", flat=True)) == ["WEB-1", "WEB-2"]


def test_orders_without_a_backend_id_are_never_duplicates(client: APIClient) -> None:
    response = _bulk(client, [_order(None), _order(None), _order("")])
    assert [r["status"] for r in response.json()["results"]] == [201, 201, 201]
    assert list(Order.objects.values_list("backend_id", flat=True)) == [None, None, None]


def test_references_by_id_and_by_backend_id_are_both_found(
    client: APIClient, shoe: Any, shop: OrganizationUnit
) -> None:
    body = _order(
        "WEB-1",
        sold_from_organization_unit=shop.pk,
        lines=[
            {"product": shoe.pk, "quantity": 1},
            {
                "product": "SHOE",
                "quantity": 1,
                "preferred_fulfillment_organization_unit": shop.backend_id,
            },
        ],
    )
    response = _bulk(client, [body, {**body, "backend_id": "WEB-2"}])
    assert [r["status"] for r in response.json()["results"]] == [201, 201]
    order = Order.objects.get(backend_id="WEB-2")
    assert order.sold_from_organization_unit == shop
    assert [line.preferred_fulfillment_organization_unit for line in order.lines.all()] == [
        None,
        shop,
    ]


def test_a_return_order_names_its_original_in_bulk_too(client: APIClient) -> None:
    client.post("/api/orders/", _order("SALE-1"), format="json")
    sale = Order.objects.get(backend_id="SALE-1")
    response = _bulk(client, [_order("RET-1", intent="Returns", original_order="SALE-1")])
    assert response.json()["results"][0]["order"]["original_order"] == sale.pk


# --- The request as a whole --------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"orders": []}, "orders", "This list may not be empty."),
        ({}, "orders", "This field is required."),
        ({"orders": {"a": 1}}, "orders", 'Expected a list of items but got type "dict".'),
        ({"orders": [], "dry_run": True}, "dry_run", "Unknown field."),
    ],
)
def test_a_request_without_orders_is_a_400_naming_the_field(
    client: APIClient, body: Any, field: str, message: str
) -> None:
    before = table_rows()
    response = client.post(BULK, body, format="json")
    assert response.status_code == 400
    assert {"field": field, "message": message} in [
        {"field": e["field"], "message": e["message"]} for e in response.json()["errors"]
    ]
    assert table_rows() == before


def test_more_than_500_orders_is_a_400_naming_the_limit(client: APIClient) -> None:
    before = table_rows()
    response = _bulk(client, [_order(None)] * 501)
    assert response.status_code == 400
    assert response.json() == {
        "code": "invalid",
        "message": "orders: At most 500 orders per bulk request.",
        "errors": [
            {
                "code": "max_length",
                "message": "At most 500 orders per bulk request.",
                "field": "orders",
            }
        ],
    }
    assert table_rows() == before


def test_500_orders_are_taken_in_chunks(client: APIClient) -> None:
    response = _bulk(client, _orders(500))
    assert response.status_code == 200
    body = response.json()
    assert (body["created"], body["refused"]) == (500, 0)
    assert [r["index"] for r in body["results"]] == list(range(500))
    assert Order.objects.count() == 500
    assert OrderLine.objects.count() == 1000
    assert OrderEvent.objects.filter(kind="order.created").count() == 500


def test_an_anonymous_caller_is_a_401(client_for: Any, shoe: Any) -> None:
    before = table_rows()
    response = _bulk(client_for(None), [_order()])
    assert response.status_code == 401
    assert table_rows() == before


@pytest.mark.parametrize("who", ["nobody", "designer"])
def test_a_user_who_may_not_add_orders_is_a_403(
    request: pytest.FixtureRequest, client_for: Any, shoe: Any, who: str
) -> None:
    user = request.getfixturevalue(who)
    before = table_rows()
    response = _bulk(client_for(user), [_order()])
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert table_rows() == before


# --- Statements and messages -------------------------------------------------------------


def _statements(client: APIClient, count: int, prefix: str) -> Counter[tuple[str, str]]:
    """The statements a bulk request of ``count`` orders runs: (verb, table) -> how many."""
    with CaptureQueriesContext(connection) as queries:
        response = _bulk(client, _orders(count, prefix))
    assert response.json()["created"] == count
    statements: Counter[tuple[str, str]] = Counter()
    for query in queries.captured_queries:
        verb = query["sql"].split()[0]
        table = re.search(r'(?:FROM|INTO) "(\w+)"', query["sql"])
        statements[(verb, table.group(1) if table else "")] += 1
    return statements


def _inserts(model: type[Model], rows: int) -> int:
    """The INSERTs ``bulk_create`` needs for ``rows`` rows: one on PostgreSQL; SQLite
    allows 999 parameters a statement."""
    fields = [field for field in model._meta.concrete_fields if not field.primary_key]
    return math.ceil(rows / connection.ops.bulk_batch_size(fields, [model()] * rows))


def test_the_statements_of_a_chunk_do_not_grow_with_its_orders(client: APIClient) -> None:
    _bulk(client, [_order(None)])  # the user's permissions, read once and cached
    few, many = _statements(client, 2, "A"), _statements(client, 90, "B")
    writing = ("INSERT", "WITH")
    assert {k: v for k, v in few.items() if k[0] not in writing} == {
        k: v for k, v in many.items() if k[0] not in writing
    }
    writes = {k: v for k, v in many.items() if k[0] in writing}
    if connection.vendor == "postgresql":
        # The orders, their lines and their timeline entries in one statement.
        assert writes == {("WITH", "orchestration_order"): 1}
        # The products and the backend IDs looked up in one statement, the savepoint, the
        # statement, its release.
        assert sum(many.values()) == 4
    else:
        assert writes == {
            ("INSERT", "orchestration_order"): _inserts(Order, 90),
            ("INSERT", "orchestration_orderline"): _inserts(OrderLine, 180),
            ("INSERT", "orchestration_orderevent"): _inserts(OrderEvent, 90),
        }


def test_orchestration_goes_out_in_messages_of_25_orders_after_each_chunk_commits(
    client: APIClient,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    sent: list[list[int]] = []
    monkeypatch.setattr(order_imports.orders_orchestrate_task, "delay", sent.append)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = _bulk(client, _orders(130))
    assert len(callbacks) == 2  # one per chunk
    ids = [r["order"]["id"] for r in response.json()["results"]]
    # Each chunk is stored in backend ID order, so its IDs ascend in that order.
    first, second = sorted(ids[:100]), sorted(ids[100:])
    assert sent == [first[0:25], first[25:50], first[50:75], first[75:], second[:25], second[25:]]
    assert Order.objects.filter(needs_orchestration=True).count() == 130
    assert set(Order.objects.values_list("orchestration_trigger", flat=True)) == {"order created"}


def test_bulk_orders_are_orchestrated_once_the_chunk_commits(
    client: APIClient, django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Eager mode (no broker): the orders' message runs at once, as a single order's does."""
    monkeypatch.setattr(celery_app.conf, "task_always_eager", True)  # whatever the broker
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/api/orders/", _order("ONE"), format="json")
        _bulk(client, _orders(3))
    single = Order.objects.get(backend_id="ONE")
    assert single.orchestration_attempts == 1
    assert [
        (order.needs_orchestration, order.orchestration_attempts, order.status)
        for order in Order.objects.exclude(pk=single.pk)
    ] == [(False, 1, single.status)] * 3


def test_a_nul_character_anywhere_refuses_the_whole_request_as_it_is_read(
    client: APIClient,
) -> None:
    """The JSON parser refuses it before any order is looked at (docs/api.md)."""
    before = table_rows()
    response = _bulk(client, [_order("WEB-1"), _order("nul\x00byte")])
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["orders[1].backend_id"]
    assert table_rows() == before


# --- Chunks --------------------------------------------------------------------------------


def test_a_failing_chunk_writes_nothing_and_the_chunks_before_it_stay(
    integrator: User, shoe: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_orders = orders_service.store_orders
    calls: list[int] = []

    def failing_second_time(*, orders: Any) -> Any:
        calls.append(len(orders))
        store_orders(orders=orders)  # written, then the statement after it fails
        if len(calls) == 2:
            raise DatabaseError("the disk is full")

    monkeypatch.setattr(orders_service, "store_orders", failing_second_time)
    chunks = order_bodies_import(bodies=_orders(5), user=integrator, chunk_size=2)
    first = next(chunks)
    assert [result.status for result in first] == [201, 201]
    with pytest.raises(DatabaseError, match="the disk is full"):
        next(chunks)
    assert list(Order.objects.order_by("pk").values_list("backend_id", flat=True)) == [
        "BULK-0",
        "BULK-1",
    ]
    assert OrderLine.objects.count() == 4
    assert OrderEvent.objects.count() == 2


def test_a_backend_id_taken_between_check_and_insert_refuses_that_order_alone(
    client: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A concurrent request stores WEB-2 after this chunk's check: the chunk's INSERT
    fails, and the chunk is written again order by order."""

    def create_after_a_rival(**kwargs: Any) -> Any:
        Order.objects.create(backend_id="WEB-2")
        return orders_create_bulk(**kwargs)

    monkeypatch.setattr(api_order_imports, "orders_create_bulk", create_after_a_rival)
    response = _bulk(client, [_order("WEB-1"), _order("WEB-2"), _order("WEB-3")])
    message = "An order with backend ID 'WEB-2' already exists."
    assert response.json()["results"][1] == {
        "index": 1,
        "status": 400,
        "error": {
            "code": "unique",
            "message": message,
            "errors": [{"code": "unique", "message": message, "field": "backend_id"}],
        },
    }
    assert [r["status"] for r in response.json()["results"]] == [201, 400, 201]
    assert sorted(Order.objects.values_list("backend_id", flat=True)) == [
        "WEB-1",
        "WEB-2",
        "WEB-3",
    ]
    assert Order.objects.get(backend_id="WEB-2").lines.count() == 0  # the rival's
    assert OrderLine.objects.count() == 4
    assert OrderEvent.objects.count() == 2


# --- Idempotency -----------------------------------------------------------------------------


def test_a_retry_gets_the_minimal_answer_it_asked_for_and_another_preference_is_a_422(
    client: APIClient,
) -> None:
    first = _bulk(client, [_order("WEB-1")], key=KEY, HTTP_PREFER="return=minimal")
    assert first["Preference-Applied"] == "return=minimal"
    before = table_rows()
    again = _bulk(client, [_order("WEB-1")], key=KEY, HTTP_PREFER="return=minimal")
    assert (again.status_code, again["Idempotent-Replayed"]) == (200, "true")
    assert again["Preference-Applied"] == "return=minimal"
    assert again.json() == first.json()
    other = _bulk(client, [_order("WEB-1")], key=KEY)
    assert other.status_code == 422
    assert other.json()["message"] == (
        f"The idempotency key '{KEY}' was first used with another request (another body, "
        "endpoint or Prefer) in the last 24 hours; send a new key with a new request."
    )
    assert "Preference-Applied" not in other
    assert table_rows() == before


def test_a_retry_with_the_same_key_gets_the_first_response_and_creates_nothing(
    client: APIClient,
) -> None:
    orders = [_order(None), _order("WEB-1", lines=[{"product": "HAT", "quantity": 1}])]
    first = _bulk(client, orders, key=KEY)
    assert first.status_code == 200
    before = table_rows()
    again = _bulk(client, orders, key=KEY)
    assert (again.status_code, again["Idempotent-Replayed"]) == (200, "true")
    assert again.json() == first.json()
    assert table_rows() == before
    assert Order.objects.count() == 1


def test_the_same_key_with_other_orders_is_a_422(client: APIClient) -> None:
    _bulk(client, [_order(None)], key=KEY)
    before = table_rows()
    response = _bulk(client, [_order(None), _order(None)], key=KEY)
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {
            "code": "idempotency_key_reused",
            "message": f"The idempotency key '{KEY}' was first used with another request "
            "(another body, endpoint or Prefer) in the last 24 hours; send a new key with a new "
            "request.",
            "field": "Idempotency-Key",
        }
    ]
    assert table_rows() == before


def test_the_same_key_while_the_first_bulk_runs_is_a_409(
    client: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    during: list[Any] = []

    def create_while_retried(**kwargs: Any) -> Any:
        during.append(_bulk(client, [_order(None)], key=KEY))
        return orders_create_bulk(**kwargs)

    monkeypatch.setattr(api_order_imports, "orders_create_bulk", create_while_retried)
    assert _bulk(client, [_order(None)], key=KEY).status_code == 200
    (retry,) = during
    assert (retry.status_code, retry.json()["code"]) == (409, "idempotency_key_in_use")
    assert Order.objects.count() == 1


def test_a_refused_bulk_request_gives_its_key_back(client: APIClient) -> None:
    assert _bulk(client, [], key=KEY).status_code == 400
    assert not IdempotencyKey.objects.exists()
    assert _bulk(client, [_order(None)], key=KEY).status_code == 200


def test_with_a_key_a_failing_chunk_leaves_nothing_of_the_request(
    client: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stored response and the orders are committed together: with a key, the
    chunks are savepoints of the request's one transaction."""
    create = orders_create_bulk
    calls: list[int] = []

    def failing_second_chunk(**kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:
            raise DatabaseError("the disk is full")
        return create(**kwargs)

    monkeypatch.setattr(api_order_imports, "orders_create_bulk", failing_second_chunk)
    with pytest.raises(DatabaseError):
        _bulk(client, _orders(150), key=KEY)
    assert not Order.objects.exists()
    assert not IdempotencyKey.objects.exists()


def test_a_chunk_takes_its_backend_ids_in_one_order_whatever_the_order_sent(
    client: APIClient,
) -> None:
    """Two imports holding the same backend IDs take them in the same order, so one waits
    for the other rather than both for each other (a deadlock on the unique index); the
    answers stay in the order sent."""
    response = _bulk(client, [_order("WEB-C"), _order("WEB-A"), _order(None), _order("WEB-B")])
    assert [result["order"]["backend_id"] for result in response.json()["results"]] == [
        "WEB-C",
        "WEB-A",
        None,
        "WEB-B",
    ]
    assert list(Order.objects.order_by("pk").values_list("backend_id", flat=True)) == [
        "WEB-A",
        "WEB-B",
        "WEB-C",
        None,
    ]


def test_a_date_before_the_calendar_in_utc_is_that_orders_own_400(client: APIClient) -> None:
    """Year 1 at midnight without an offset is in the server's time zone (Amsterdam),
    before year 1 in UTC: refused as with an offset, never a 500."""
    early = _order("WEB-2", placed_at="0001-01-01T00:00:00")
    single = client.post("/api/orders/", early, format="json")
    assert single.status_code == 400
    assert single.json()["message"] == "placed_at: Datetime value out of range."
    response = _bulk(client, [_order("WEB-1"), early])
    assert response.status_code == 200
    assert [r["status"] for r in response.json()["results"]] == [201, 400]
    assert response.json()["results"][1]["error"] == single.json()
    assert list(Order.objects.values_list("backend_id", flat=True)) == ["WEB-1"]
