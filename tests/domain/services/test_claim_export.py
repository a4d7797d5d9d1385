"""An export's claim, both ways: ``persistence.postgres.claim_export`` (one statement)
claims exactly as ``persistence.orm.claim_export`` does (the conditional UPDATE, then
the fulfilment with its order and supplier, then its open lines) and gives the same
objects, the same lines and the same lease written; and neither claims an export that
is not Pending, not yet due, or claimed by another.
"""

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import connection, transaction
from django.db.models import Model
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
    Product,
)
from orchestration.services.persistence import orm, postgres

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="the one-statement path is PostgreSQL's; .ci/run runs this with DATABASE_URL set",
    ),
    pytest.mark.django_db,
]

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("Europe/Amsterdam"))
LEASE = NOW + timedelta(minutes=5)


def _export(warehouse: OrganizationUnit, **fields: Any) -> OrderFulfillment:
    """A pending export due now of three lines (New, Cancelled, New, in that order of
    IDs), of two products, to a customer in Utrecht."""
    order = Order.objects.create(
        backend_id="WEB-1",
        customer_email="ann@example.com",
        shipping_city="Utrecht",
        shipping_country_id="NL",
    )
    shoes = Product.objects.create(backend_id="SHOES", name="Shoes")
    socks = Product.objects.create(backend_id="SOCKS", name="Socks")
    export = OrderFulfillment.objects.create(
        order=order,
        supplier_organization_unit=warehouse,
        action=FulfillmentAction.EXPORT_ORDER,
        exporter_name="WAREHOUSE",
        export_status=fields.pop("export_status", ExportStatus.PENDING),
        export_next_at=fields.pop("export_next_at", NOW),
        data={"carrier": "DHL"},
        **fields,
    )
    for product, quantity, status in (
        (shoes, 2, FulfillmentStatus.NEW),
        (socks, 1, FulfillmentStatus.CANCELLED),
        (socks, 3, FulfillmentStatus.NEW),
    ):
        line = OrderLine.objects.create(order=order, product=product, quantity=quantity)
        OrderFulfillmentLine.objects.create(
            fulfillment=export, order_line=line, product=product, quantity=quantity, status=status
        )
    return export


def _values(obj: Model | None) -> dict[str, Any] | None:
    if obj is None:
        return None
    return {field.attname: getattr(obj, field.attname) for field in obj._meta.concrete_fields}


def _claimed_both_ways(export: OrderFulfillment) -> list[tuple[Any, ...]]:
    """Each way's statements, answer (as plain values) and the lease stored, each
    rolled back."""
    found = []
    for way in (orm, postgres):
        with transaction.atomic():
            with CaptureQueriesContext(connection) as queries:
                claimed = way.claim_export(fulfillment_id=export.pk, now=NOW, lease_until=LEASE)
            answer = (
                None
                if claimed is None
                else (
                    _values(claimed.fulfillment),
                    _values(claimed.fulfillment.order),
                    _values(claimed.fulfillment.supplier_organization_unit),
                    claimed.lines,
                )
            )
            stored = OrderFulfillment.objects.get(pk=export.pk).export_next_at
            found.append((len(queries), answer, stored))
            transaction.set_rollback(True)
    return found


def test_an_export_is_claimed_and_read_alike_both_ways_in_one_statement_on_postgresql(
    warehouse: OrganizationUnit,
) -> None:
    export = _export(warehouse)
    (orm_statements, *orm_result), (pg_statements, *pg_result) = _claimed_both_ways(export)
    assert (orm_statements, pg_statements) == (3, 1)
    assert pg_result == orm_result
    (fulfillment, order, unit, lines), lease = pg_result
    assert lease == LEASE
    assert fulfillment["export_next_at"] == LEASE  # the row as the claim left it
    assert fulfillment["data"] == {"carrier": "DHL"}
    assert (order["backend_id"], order["customer_email"], order["shipping_city"]) == (
        "WEB-1",
        "ann@example.com",
        "Utrecht",
    )
    assert unit["backend_id"] == "lelystad_warehouse"
    new_lines = OrderFulfillmentLine.objects.filter(
        fulfillment=export, status=FulfillmentStatus.NEW
    ).order_by("pk")
    assert lines == [
        (line.pk, line.order_line_id, line.product.backend_id, line.quantity) for line in new_lines
    ]
    assert [(product, quantity) for _id, _line, product, quantity in lines] == [
        ("SHOES", 2),
        ("SOCKS", 3),
    ]


@pytest.mark.parametrize(
    "fields",
    [
        {"export_status": ExportStatus.EXPORTED},  # sent already
        {"export_status": ExportStatus.FAILED},  # waits for a person
        {"export_next_at": NOW + timedelta(seconds=1)},  # a retry not yet due
        {"export_next_at": LEASE},  # claimed by another worker
    ],
)
def test_an_export_not_pending_or_not_due_is_not_claimed_and_nothing_changes(
    warehouse: OrganizationUnit, fields: dict[str, Any]
) -> None:
    next_at = fields.get("export_next_at", NOW)
    export = _export(warehouse, **fields)
    assert _claimed_both_ways(export) == [(1, None, next_at), (1, None, next_at)]


def _claims_prepared_here() -> int:
    """How many claim statements are prepared on this connection (PostgreSQL's view)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
            ["WITH claimed AS (UPDATE %"],
        )
        (count,) = cursor.fetchone()
    return int(count)


def test_the_claim_is_prepared_once_per_connection_and_then_only_executed(
    warehouse: OrganizationUnit,
) -> None:
    """PostgreSQL keeps the claim's statement, so that an export's claim is not parsed
    and planned again every time (``docs/performance.md``)."""
    export = _export(warehouse)
    assert _claims_prepared_here() == 0
    for _attempt in range(3):
        postgres.claim_export(fulfillment_id=export.pk, now=NOW, lease_until=LEASE)
    assert _claims_prepared_here() == 1


def test_with_prepared_statements_off_nothing_is_prepared(
    warehouse: OrganizationUnit, settings: Any
) -> None:
    """For a pooler that does not track them (PgBouncer in transaction mode before
    1.21): ``DATABASE_PREPARED_STATEMENTS=false`` sends the claim with its values."""
    settings.DATABASE_PREPARED_STATEMENTS = False
    export = _export(warehouse)
    claimed = postgres.claim_export(fulfillment_id=export.pk, now=NOW, lease_until=LEASE)
    assert claimed is not None and claimed.fulfillment.export_next_at == LEASE
    assert _claims_prepared_here() == 0


def test_a_prepared_statement_is_logged_with_its_values_written_in(
    warehouse: OrganizationUnit,
) -> None:
    """Django's query log (and ``CaptureQueriesContext``) shows the claim as it shows
    every other statement: the SQL with its values, not placeholders or nothing."""
    export = _export(warehouse)
    with CaptureQueriesContext(connection) as queries:
        postgres.claim_export(fulfillment_id=export.pk, now=NOW, lease_until=LEASE)
    (logged,) = [query["sql"] for query in queries]
    assert logged.startswith("WITH claimed AS (UPDATE")
    assert f"WHERE id = {export.pk} AND" in logged and "'Pending'" in logged
