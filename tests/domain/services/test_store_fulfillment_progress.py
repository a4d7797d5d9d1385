"""An export sent, stored both ways: ``persistence.postgres.store_fulfillment_progress``
(the order's lock, then one statement, both prepared) writes exactly the rows
``persistence.orm.store_fulfillment_progress`` writes (the lock, two UPDATEs and an
INSERT), both hold the order's lock, and both answer alike whether the fulfilment's
plan has manual ``export`` steps still open.

Compared: every column of the fulfilment, its lines and the new timeline entry, as
PostgreSQL returns them (the entry's ID, taken from a sequence a rolled-back savepoint
does not give back, left out).
"""

import copy
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from orchestration.models import (
    ExportStatus,
    FulfillmentAction,
    FulfillmentStatus,
    Order,
    OrderFulfillment,
    OrderFulfillmentLine,
    OrderLine,
    OrganizationUnit,
    Plan,
    PlanPurpose,
    PlanStep,
    Product,
    StepDefinition,
    StepGroup,
    StepGroupVersion,
    StepState,
    StepType,
)
from orchestration.services.events import event_build
from orchestration.services.persistence import orm, postgres
from orchestration.services.persistence.plan import FulfillmentProgress

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="the one-statement path is PostgreSQL's; .ci/run runs this with DATABASE_URL set",
    ),
    pytest.mark.django_db,
]

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("Europe/Amsterdam"))


def _export(warehouse: OrganizationUnit) -> OrderFulfillment:
    """An export of two lines, one of them New, once tried before."""
    order = Order.objects.create(backend_id="WEB-1")
    product = Product.objects.create(backend_id="P1", name="P1")
    line = OrderLine.objects.create(order=order, product=product, quantity=3)
    export = OrderFulfillment.objects.create(
        order=order,
        supplier_organization_unit=warehouse,
        action=FulfillmentAction.EXPORT_ORDER,
        exporter_name="WAREHOUSE",
        export_status=ExportStatus.PENDING,
        export_attempts=1,
        export_error="The warehouse answered 503.",
    )
    for status in (FulfillmentStatus.NEW, FulfillmentStatus.CANCELLED):
        OrderFulfillmentLine.objects.create(
            fulfillment=export, order_line=line, product=product, quantity=1, status=status
        )
    return export


def _plan(export: OrderFulfillment, handler: str, state: str, purpose: str) -> None:
    group = StepGroup.objects.create(key="G", name="G")
    version = StepGroupVersion.objects.create(group=group, number=1, is_active=True)
    definition = StepDefinition.objects.create(
        version=version, position=0, key="send", name="Send", type=StepType.MANUAL, handler=handler
    )
    plan = Plan.objects.create(
        order=export.order, fulfillment=export, version=version, purpose=purpose
    )
    PlanStep.objects.create(plan=plan, definition=definition, state=state)


def _progress(export: OrderFulfillment) -> FulfillmentProgress:
    """What ``fulfillment_export`` stores for an export that got there."""
    return FulfillmentProgress(
        fulfillment_id=export.pk,
        order_id=export.order_id,
        fields={
            "export_status": ExportStatus.EXPORTED,
            "export_attempts": 2,
            "export_next_at": None,
            "export_error": "",
            "exported_at": NOW,
            "status": FulfillmentStatus.IN_PROGRESS,
            "updated_at": NOW,
        },
        lines_in=FulfillmentStatus.NEW,
        line_fields={"status": FulfillmentStatus.IN_PROGRESS, "started_at": NOW, "updated_at": NOW},
        event=event_build(
            order=export.order,
            kind="export.sent",
            message="Exported to WAREHOUSE for Lelystad (attempt 2).",
            at=NOW,
            actor="system:export",
            fulfillment=export,
        ),
        handler="export",
    )


def _rows(export: OrderFulfillment, event_id: int) -> list[Any]:
    found = []
    with connection.cursor() as cursor:
        for table, where, value in (
            (OrderFulfillment._meta.db_table, "id", export.pk),
            (OrderFulfillmentLine._meta.db_table, "fulfillment_id", export.pk),
            ("orchestration_orderevent", "id", event_id),
        ):
            cursor.execute(
                f"SELECT * FROM {connection.ops.quote_name(table)} "  # noqa: S608
                f"WHERE {where} = %s ORDER BY id",
                [value],
            )
            names = [column.name for column in cursor.description]
            found += [
                {
                    n: v
                    for n, v in zip(names, row, strict=True)
                    if (table, n) != ("orchestration_orderevent", "id")
                }
                for row in cursor.fetchall()
            ]
    return found


@pytest.mark.parametrize(
    ("plan", "open_steps"),
    [
        (None, False),
        (("export", StepState.READY, PlanPurpose.MAIN), True),
        (("export", StepState.PENDING, PlanPurpose.MAIN), True),
        (("export", StepState.COMPLETED, PlanPurpose.MAIN), False),
        (("export", StepState.READY, PlanPurpose.CANCEL), False),
        (("start", StepState.READY, PlanPurpose.MAIN), False),
    ],
)
def test_an_export_sent_is_stored_alike_both_ways_in_two_statements_on_postgresql(
    warehouse: OrganizationUnit, plan: tuple[str, str, str] | None, open_steps: bool
) -> None:
    export = _export(warehouse)
    if plan is not None:
        _plan(export, *plan)
    progress = _progress(export)
    stored = []
    for way in (orm, postgres):
        mine = copy.deepcopy(progress)
        with transaction.atomic():
            with CaptureQueriesContext(connection) as queries:
                answer = way.store_fulfillment_progress(progress=mine)
            stored.append(
                (
                    len(queries),
                    answer,
                    _rows(export, mine.event.pk),
                    (mine.event._state.adding, mine.event._state.db),
                )
            )
            transaction.set_rollback(True)
    (orm_statements, *orm_result), (pg_statements, *pg_result) = stored
    assert (orm_statements, pg_statements) == (5, 2)
    assert pg_result == orm_result
    assert pg_result[0] is open_steps
    fulfillment, *lines, event = pg_result[1]
    assert (
        fulfillment["export_status"],
        fulfillment["export_attempts"],
        fulfillment["status"],
    ) == (
        ExportStatus.EXPORTED,
        2,
        FulfillmentStatus.IN_PROGRESS,
    )
    assert [(line["status"], line["started_at"]) for line in lines] == [
        (FulfillmentStatus.IN_PROGRESS, NOW),
        (FulfillmentStatus.CANCELLED, None),
    ]
    assert (event["kind"], event["fulfillment_id"], event["order_id"]) == (
        "export.sent",
        export.pk,
        export.order_id,
    )
    assert pg_result[2] == (False, "default")


def _locked_elsewhere(order_id: int) -> bool:
    """Whether another connection finds the order's row locked."""
    import psycopg

    settings = connection.settings_dict
    with psycopg.connect(
        dbname=settings["NAME"],
        host=settings["HOST"] or None,
        port=settings["PORT"] or None,
        user=settings["USER"] or None,
        password=settings["PASSWORD"] or None,
        autocommit=True,
    ) as other:
        try:
            other.execute(
                f"SELECT id FROM {Order._meta.db_table} WHERE id = %s FOR UPDATE NOWAIT",  # noqa: S608
                [order_id],
            )
        except psycopg.errors.LockNotAvailable:
            return True
    return False


@pytest.mark.django_db(transaction=True)
def test_storing_an_export_sent_takes_its_orders_lock_until_the_transaction_ends_both_ways(
    warehouse: OrganizationUnit,
) -> None:
    """Every writer of an order's fulfilments locks the order first: the export's
    progress takes that lock itself (on PostgreSQL a prepared statement before its writes), and
    holds it for the plan's steps the caller completes next."""
    export = _export(warehouse)
    assert not _locked_elsewhere(export.order_id)
    for way in (orm, postgres):
        with transaction.atomic():
            way.store_fulfillment_progress(progress=_progress(export))
            assert _locked_elsewhere(export.order_id)
            transaction.set_rollback(True)
        assert not _locked_elsewhere(export.order_id)
