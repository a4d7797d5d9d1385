"""``insert_sql`` converts every value exactly as Django's ``bulk_create`` does.

A run's write statement is built by ``orchestration.services.persistence.postgres``, with
quick converters for the usual values (None, int, str, bool, aware datetimes)
instead of Django's ``get_db_prep_save``. A stored fulfilment that differed from
what the ORM would store (a naive time, an unwrapped integer, JSON as text) would
be a silent data bug, so every column of every model a run writes is compared
here, with the values a run gives them and with the awkward ones.
"""

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.db.models import Model

from orchestration.models import (
    ExportStatus,
    FulfillmentAction,
    FulfillmentStatus,
    OrchestrationDetails,
    OrchestrationOutcome,
    Order,
    OrderEvent,
    OrderFulfillment,
    OrderFulfillmentLine,
    OrderLine,
    OrganizationUnit,
    Product,
)
from orchestration.services.persistence.postgres import bind, insert_columns, insert_sql

AT = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def django_params(model: type[Model], objs: Sequence[Model]) -> list[Any]:
    """The values as ``bulk_create`` converts them: ``pre_save``, ``get_db_prep_save``."""
    with_pk = all(obj.pk is not None for obj in objs)
    return [
        field.get_db_prep_save(field.pre_save(obj, True), connection)
        for obj in objs
        for field, _attname, _fast in insert_columns(model, with_pk=with_pk)
    ]


def same(ours: list[Any], theirs: list[Any]) -> None:
    assert len(ours) == len(theirs)
    for index, (mine, django) in enumerate(zip(ours, theirs, strict=True)):
        # Same type too: psycopg writes Int2/Int4/Int8 and Jsonb differently from
        # int and str.
        assert type(mine) is type(django), (index, mine, django)
        if hasattr(django, "obj"):  # Jsonb wraps the value
            assert mine.obj == django.obj, index
        elif hasattr(django, "adapted"):
            assert mine.adapted == django.adapted, index
        else:
            assert mine == django, index


@pytest.mark.django_db
@time_machine.travel(AT, tick=False)  # auto_now columns get the same time both ways
def test_every_column_a_run_writes_is_converted_as_django_converts_it() -> None:
    unit = OrganizationUnit.objects.create(name="Shop", backend_id="S1", type="Shop")
    product = Product.objects.create(backend_id="P1", name="Product")
    order = Order.objects.create(backend_id="O1")
    line = OrderLine.objects.create(order=order, product=product, quantity=2)
    details = OrchestrationDetails(
        order=order,
        attempt=3,
        at=AT,
        trigger="Declined by Shop (S1)",
        outcome=OrchestrationOutcome.WAITING,
        blob={"Fulfillments": [], "Score": 1.5},
        units_waiting=2,
        expires_at=AT + timedelta(days=14),
    )
    ship = OrderFulfillment(
        order=order,
        orchestration_details_id=41,
        sheet_id=None,
        sheet_name="ShipFromStore",
        action=FulfillmentAction.SHIP_FROM_STORE,
        status=FulfillmentStatus.NEW,
        supplier_organization_unit_id=unit.pk,
        task_key="a" * 32,
        is_fanout=True,
        holds_reservation=False,
        priority=-3,
        labels=["Fanout", "Zoë"],
        data={"DeadlineInMinutes": 30, "Weight": 1.5},
        start_deadline=AT + timedelta(minutes=30),
    )
    export = OrderFulfillment(
        order=order,
        sheet_name="Warehouses",
        action=FulfillmentAction.EXPORT_ORDER,
        supplier_organization_unit=unit,
        holds_reservation=True,
        exporter_name="WAREHOUSE",
        export_status=ExportStatus.PENDING,
        export_next_at=AT,
    )
    lines = [
        OrderFulfillmentLine(
            fulfillment_id=17, order_line_id=line.pk, product_id=product.pk, quantity=2
        ),
        OrderFulfillmentLine(
            fulfillment_id=17,
            order_line=line,
            product=product,
            quantity=1,
            status=FulfillmentStatus.CANCELLED,
            cancelled_at=AT,
        ),
    ]
    event = OrderEvent(
        order=order,
        kind="orchestration.run",
        message="Orchestration run 3: 2 units wait.",
        at=AT,
        actor="system:orchestration",
        data={"attempt": 3, "outcome": "Waiting"},
        orchestration_details_id=41,
    )
    for model, objs in (
        (OrchestrationDetails, [details]),
        (OrderFulfillment, [ship, export]),
        (OrderFulfillmentLine, lines),
        (OrderEvent, [event]),
    ):
        _sql, params = insert_sql(model, objs)
        same(params, django_params(model, objs))


@pytest.mark.django_db
@time_machine.travel(AT, tick=False)
def test_values_the_quick_path_does_not_know_are_left_to_django() -> None:
    order = Order.objects.create(backend_id="O2")
    # A str for an integer column, an int for a text column, a naive datetime: what
    # Django makes of them (or refuses), the statement makes of them too.
    details = OrchestrationDetails(
        order_id=str(order.pk),
        attempt="4",
        at=datetime(2026, 11, 23, 10, 0),  # naive on purpose
        trigger=12,
        expires_at=AT,
    )
    with pytest.warns(RuntimeWarning, match="received a naive datetime"):
        _sql, params = insert_sql(OrchestrationDetails, [details])
    with pytest.warns(RuntimeWarning, match="received a naive datetime"):
        expected = django_params(OrchestrationDetails, [details])
    same(params, expected)
    bad = OrchestrationDetails(order=order, attempt="four", at=AT, expires_at=AT)
    with pytest.raises(
        ValueError, match=re.escape("Field 'attempt' expected a number but got 'four'.")
    ):
        insert_sql(OrchestrationDetails, [bad])


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="the write statement is PostgreSQL's; .ci/run runs this with DATABASE_URL set",
)
@pytest.mark.django_db
@time_machine.travel(AT, tick=False)
def test_the_statement_binds_values_as_psycopg_binds_them() -> None:
    # Every kind of value a run's statement carries, as insert_sql converts them,
    # and text that needs quoting: the bytes sent must be psycopg's own.
    order = Order.objects.create(backend_id="O3")
    details = OrchestrationDetails(
        order=order,
        attempt=2,
        at=AT,
        trigger="Declined by O'Neill's \\ 100% shop; DROP TABLE x; --",
        outcome=OrchestrationOutcome.ROUTED,
        blob={"Zoë": [1, 2.5, None, True]},
        units_waiting=0,
        expires_at=AT + timedelta(days=14),
    )
    event = OrderEvent(
        order=order,
        kind="orchestration.run",
        message="Ünïcode — and a newline\nand a tab\t",
        at=AT,
        actor="system:orchestration",
        data={"attempt": 2, "quote": "it's"},
    )
    sql, params = insert_sql(OrchestrationDetails, [details])
    more_sql, more_params = insert_sql(OrderEvent, [event])
    sql = f"WITH a AS ({sql} RETURNING id), b AS ({more_sql} RETURNING id) SELECT 1"
    params = [*params, *more_params, -1, 2**40, False]
    sql = sql.replace("SELECT 1", "SELECT %s, %s, %s")
    with connection.cursor() as cursor:
        expected = cursor.cursor.mogrify(sql, params)
        assert bind(cursor.cursor, sql, params) == expected
        # And the server takes it: the rows go in.
        cursor.execute(bind(cursor.cursor, sql, params))
        assert cursor.fetchone() == (-1, 2**40, False)
    assert OrchestrationDetails.objects.get(order=order).trigger == details.trigger
    assert OrchestrationDetails.objects.get(order=order).blob == {"Zoë": [1, 2.5, None, True]}
    assert OrderEvent.objects.get(order=order).message == event.message
