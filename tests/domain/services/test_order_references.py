"""What new orders name, read both ways: ``persistence.postgres.order_references`` (one
prepared statement) finds exactly what ``persistence.orm.order_references`` finds (the
products by backend ID, then the order backend IDs taken, a query each): the same
product objects, field for field, and the same backend IDs taken; nothing for what does
not exist. ``POST /api/orders/`` and the bulk import's chunks look their orders up so.
"""

from typing import Any

import pytest
from django.db import connection
from django.db.models import Model
from django.test.utils import CaptureQueriesContext

from orchestration.models import Order, Product
from orchestration.services.persistence import orm, postgres

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="the one-statement path is PostgreSQL's; .ci/run runs this with DATABASE_URL set",
    ),
    pytest.mark.django_db,
]


def _values(obj: Model) -> dict[str, Any]:
    return {field.attname: getattr(obj, field.attname) for field in obj._meta.concrete_fields}


def _both_ways(products: list[str], orders: list[str]) -> list[tuple[int, Any, set[str]]]:
    """Each way's statement count, products found (as plain values) and backend IDs taken."""
    found = []
    for way in (orm, postgres):
        with CaptureQueriesContext(connection) as queries:
            references = way.order_references(
                product_backend_ids=products, order_backend_ids=orders
            )
        products_found = {key: _values(product) for key, product in references.products.items()}
        found.append((len(queries), products_found, references.taken_backend_ids))
    return found


def test_products_and_taken_backend_ids_are_read_alike_both_ways_in_one_statement() -> None:
    shoes = Product.objects.create(backend_id="SHOES", name="Shoes", content={"size": [42, 43]})
    Product.objects.create(backend_id="SOCKS", name="Socks")
    Order.objects.create(backend_id="WEB-1")
    Order.objects.create(backend_id="WEB-2")
    (orm_count, *orm_found), (pg_count, *pg_found) = _both_ways(
        ["SHOES", "HATS", "SOCKS"], ["WEB-1", "WEB-3"]
    )
    assert (orm_count, pg_count) == (2, 1)
    assert pg_found == orm_found
    products, taken = pg_found
    assert sorted(products) == ["SHOES", "SOCKS"]  # HATS: no such product
    assert products["SHOES"] == _values(shoes)
    assert products["SHOES"]["content"] == {"size": [42, 43]}  # JSON as the ORM gives it
    assert taken == {"WEB-1"}


def test_nothing_asked_finds_nothing_without_a_statement() -> None:
    Product.objects.create(backend_id="SHOES", name="Shoes")
    assert _both_ways([], []) == [(0, {}, set()), (0, {}, set())]


def test_the_statement_is_prepared_once_per_connection_and_then_only_executed() -> None:
    def prepared_here() -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
                ["SELECT NULL::text, p.%"],
            )
            (count,) = cursor.fetchone()
        return int(count)

    assert prepared_here() == 0
    for count in (1, 3, 40):  # one shape whatever the number of backend IDs
        postgres.order_references(
            product_backend_ids=[f"P{n}" for n in range(count)],
            order_backend_ids=[f"WEB-{n}" for n in range(count)],
        )
    assert prepared_here() == 1


def test_a_backend_id_no_database_could_store_is_not_looked_up_and_names_nothing() -> None:
    """A NUL or a lone surrogate would fail the whole statement (and the transaction of
    the request it is in): such a value names no product and no order."""
    from orchestration.services.persistence import order_references

    Product.objects.create(backend_id="SHOES", name="Shoes")
    Order.objects.create(backend_id="WEB-1")
    with CaptureQueriesContext(connection) as queries:
        found = order_references(
            product_backend_ids=["SHO\x00ES", "\ud800", "SHOES"],
            order_backend_ids=["WEB\x00-1", "WEB-1"],
        )
    assert (sorted(found.products), found.taken_backend_ids) == (["SHOES"], {"WEB-1"})
    assert len(queries) == 1
    with CaptureQueriesContext(connection) as queries:
        nothing = order_references(product_backend_ids=["\x00"], order_backend_ids=["\ud800"])
    assert (nothing.products, nothing.taken_backend_ids, len(queries)) == ({}, set(), 0)
