"""New orders stored both ways: ``persistence.postgres.store_orders`` (one statement)
writes exactly the rows ``persistence.orm.store_orders`` (three bulk INSERTs) writes,
and leaves the objects alike; ``order_create`` and the bulk import store through it.

Compared as in ``test_persistence.py``: every column of every order, line and timeline
row as PostgreSQL returns it, the clock frozen; the new rows' IDs (taken from the
sequences, which a rolled-back savepoint does not give back) by what they identify.
"""

import copy
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from orchestration.models import Order, OrderEvent, OrderLine, OrganizationUnit, Product
from orchestration.services.events import event_build
from orchestration.services.orders import order_create
from orchestration.services.persistence import orm, postgres
from orchestration.services.persistence.plan import NewOrder

pytestmark = pytest.mark.django_db

MONDAY = datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("Europe/Amsterdam"))
on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="the one-statement path is PostgreSQL's; .ci/run runs this with DATABASE_URL set",
)


def _new_orders(user: User, shop: OrganizationUnit, products: list[Product]) -> list[NewOrder]:
    """Two orders as the API makes them: every kind of column set on one, few on the other."""
    full = Order(
        backend_id="WEB-1",
        created_by=user,
        customer_email="ann@example.com",
        currency_id="EUR",
        sold_from_organization_unit=shop,
        shipping_city="Amsterdam",
        shipping_country_id="NL",
        shipping_latitude=52.37,
        billing_city="Utrecht",
        custom_fields={"Channel": "WEBSHOP", "Score": 1.5, "Tags": ["a", "b"]},
        placed_at=MONDAY,
        needs_orchestration=True,
        orchestration_trigger="order created",
        orchestration_requested_at=MONDAY,
    )
    bare = Order(needs_orchestration=True, orchestration_requested_at=MONDAY)
    lines = [
        [
            OrderLine(
                product=products[0],
                quantity=2,
                unit_price=Decimal("80.0000"),
                unit_price_in_tax=Decimal("96.8000"),
                discount_amount=Decimal("-5.5000"),
                is_gift_wrapped=True,
                preferred_fulfillment_organization_unit=shop,
                custom_fields={"Engraving": "Ann"},
            ),
            OrderLine(product=products[1], quantity=1),
        ],
        [OrderLine(product=products[1], quantity=3)],
    ]
    return [
        NewOrder(
            order=order,
            lines=order_lines,
            created=event_build(
                order=order,
                kind="order.created",
                message="Order created.",
                at=MONDAY,
                actor="ann",
                user=user,
            ),
        )
        for order, order_lines in zip((full, bare), lines, strict=True)
    ]


def _rows(new: list[NewOrder]) -> dict[str, list[tuple[Any, ...]]]:
    """Every column of the stored rows, the new IDs replaced by the order's place."""
    place = {entry.order.pk: f"order {n}" for n, entry in enumerate(new, 1)}
    lines = {
        line.pk: f"line {n}" for n, line in enumerate(line for entry in new for line in entry.lines)
    }
    events = {entry.created.pk: f"event {n}" for n, entry in enumerate(new, 1)}
    found: dict[str, list[tuple[Any, ...]]] = {}
    with connection.cursor() as cursor:
        for model, ids, own in (
            (Order, place, place),
            (OrderLine, lines, lines),
            (OrderEvent, events, events),
        ):
            cursor.execute(
                f"SELECT * FROM {connection.ops.quote_name(model._meta.db_table)} "  # noqa: S608
                "WHERE id = ANY(%s) ORDER BY id",
                [list(ids)],
            )
            names = [column.name for column in cursor.description]
            found[model.__name__] = [
                tuple(
                    own[value]
                    if name == "id"
                    else place.get(value, value)
                    if name == "order_id"
                    else value
                    for name, value in zip(names, row, strict=True)
                )
                for row in cursor.fetchall()
            ]
    return found


def _left(new: list[NewOrder]) -> list[tuple[Any, ...]]:
    """How the objects are left: saved, their lines and entry pointing at their order."""
    return [
        (
            entry.order._state.adding,
            entry.order._state.db,
            [
                (line._state.adding, line.order is entry.order, line.pk is not None)
                for line in entry.lines
            ],
            entry.created.order is entry.order and entry.created.pk is not None,
        )
        for entry in new
    ]


@on_postgresql
def test_new_orders_are_stored_alike_both_ways_in_one_statement_on_postgresql(
    shop: OrganizationUnit,
) -> None:
    user = User.objects.create_user("ann")
    products = [Product.objects.create(backend_id=f"P{n}", name=f"P{n}") for n in (1, 2)]
    stored = {}
    with time_machine.travel(MONDAY, tick=False):
        for way in (orm, postgres):
            new = copy.deepcopy(_new_orders(user, shop, products))
            with transaction.atomic():
                with CaptureQueriesContext(connection) as queries:
                    way.store_orders(orders=new)
                stored[way.__name__] = (len(queries), _rows(new), _left(new))
                transaction.set_rollback(True)
    (orm_statements, orm_rows, orm_left), (pg_statements, pg_rows, pg_left) = stored.values()
    assert (orm_statements, pg_statements) == (3, 1)
    assert pg_rows == orm_rows
    assert [len(rows) for rows in pg_rows.values()] == [2, 3, 2]
    assert (
        pg_left
        == orm_left
        == [
            (False, "default", [(False, True, True)] * 2, True),
            (False, "default", [(False, True, True)], True),
        ]
    )


def test_a_created_order_is_answered_as_stored(shop: OrganizationUnit) -> None:
    products = [Product.objects.create(backend_id=f"P{n}", name=f"P{n}") for n in (1, 2)]
    order = order_create(
        backend_id="WEB-1",
        shipping_city="Amsterdam",
        lines=[{"product": products[0], "quantity": 2}, {"product": products[1], "quantity": 1}],
    )
    stored = Order.objects.get(pk=order.pk)
    assert (stored.backend_id, stored.billing_city, stored.needs_orchestration) == (
        "WEB-1",
        "Amsterdam",
        True,
    )
    assert [(line.pk, line.product_id, line.quantity) for line in order.lines.all()] == list(
        stored.lines.order_by("pk").values_list("pk", "product_id", "quantity")
    )
    assert list(stored.events.values_list("kind", "message")) == [
        ("order.created", "Order created with 2 lines.")
    ]
