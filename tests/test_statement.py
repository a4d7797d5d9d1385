"""``insert_sql`` converts every value exactly as Django's ``bulk_create`` does.

A run's write statement is built by ``orchestration.services.statement``, with
quick converters for the usual values (None, int, str, bool, aware datetimes)
instead of Django's ``get_db_prep_save``. A stored fulfilment that differed from
what the ORM would store (a naive time, an unwrapped integer, JSON as text) would
be a silent data bug, so every column of every model a run writes is compared
here, with the values a run gives them and with the awkward ones.
"""

import re
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
from orchestration.services.statement import _insert_columns, insert_sql

AT = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def django_params(model: type[Model], objs: list[Model]) -> list[Any]:
    """The values as ``bulk_create`` converts them: ``pre_save``, ``get_db_prep_save``."""
    with_pk = all(obj.pk is not None for obj in objs)
    return [
        field.get_db_prep_save(field.pre_save(obj, True), connection)
        for obj in objs
        for field, _attname, _fast in _insert_columns(model, with_pk=with_pk)
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
