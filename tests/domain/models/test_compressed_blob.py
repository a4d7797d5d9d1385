"""The orchestration details' blob, stored compressed (``CompressedJSONField``).

What a user would notice: the blob reads back exactly as the engine wrote it
(key order, floats, non-ASCII names), ``dumpdata``/``loaddata`` carry it as JSON,
a fixture with broken JSON is refused with where it broke, and migration 0009
converts every existing blob (and back) without losing one.
"""

import io
import json
import zlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core import exceptions
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from orchestration.models import OrchestrationDetails, Order
from orchestration.models.fields import CompressedJSONField, json_compress

AT = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
BLOB = {
    "Fulfillments": [{"Shipments": [], "Score": 1.5}],
    "OrderLines": [{"ID": 7, "PotentialSuppliers": []}],
    "ValidSuppliers": [{"SupplierName": "Zoë's Winkel", "Score": 0.1}],
    "HasErrors": False,
    "Errors": None,
}


def _details(order: Order, attempt: int = 1, blob: Any = BLOB) -> OrchestrationDetails:
    return OrchestrationDetails.objects.create(
        order=order, attempt=attempt, at=AT, expires_at=AT + timedelta(days=14), blob=blob
    )


@pytest.mark.django_db
def test_the_blob_reads_back_as_written_and_is_stored_compressed() -> None:
    order = Order.objects.create(backend_id="BLOB-1")
    details = _details(order)
    read = OrchestrationDetails.objects.get(pk=details.pk)
    assert read.blob == BLOB
    # The engine's key order is kept (jsonb used to sort keys by length).
    assert list(read.blob) == list(BLOB)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT blob FROM orchestration_orchestrationdetails WHERE id = %s", [details.pk]
        )
        stored = bytes(cursor.fetchone()[0])
    assert json.loads(zlib.decompress(stored)) == BLOB
    assert len(stored) < len(json.dumps(BLOB))


@pytest.mark.django_db
def test_no_blob_is_null_and_can_be_filtered_on() -> None:
    order = Order.objects.create(backend_id="BLOB-2")
    _details(order, attempt=1, blob=None)
    _details(order, attempt=2)
    assert list(
        OrchestrationDetails.objects.filter(blob__isnull=True).values_list("attempt", flat=True)
    ) == [1]
    assert OrchestrationDetails.objects.get(attempt=1).blob is None


@pytest.mark.django_db
def test_dumpdata_writes_the_blob_as_json_and_loaddata_reads_it_back(tmp_path: Any) -> None:
    order = Order.objects.create(backend_id="BLOB-3")
    details = _details(order)
    out = io.StringIO()
    call_command("dumpdata", "orchestration.OrchestrationDetails", stdout=out)
    dumped = json.loads(out.getvalue())
    assert dumped[0]["fields"]["blob"] == json.dumps(BLOB, ensure_ascii=False)
    fixture = tmp_path / "details.json"
    fixture.write_text(out.getvalue(), encoding="utf-8")
    OrchestrationDetails.objects.all().delete()
    call_command("loaddata", str(fixture), verbosity=0)
    assert OrchestrationDetails.objects.get(pk=details.pk).blob == BLOB


def test_broken_json_text_is_refused_with_where_it_broke() -> None:
    with pytest.raises(exceptions.ValidationError) as raised:
        CompressedJSONField().to_python('{"Fulfillments": [1, 2,]}')
    assert raised.value.messages == ["Not valid JSON: Expecting value (line 1, column 24)."]


def test_compression_is_what_the_column_holds() -> None:
    assert json.loads(zlib.decompress(json_compress(BLOB))) == BLOB


@pytest.mark.django_db(transaction=True)
def test_migration_0009_converts_every_blob_and_back() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate([("orchestration", "0008_return_orders")])
    try:
        old = executor.loader.project_state([("orchestration", "0008_return_orders")]).apps
        old_order = old.get_model("orchestration", "Order").objects.create(backend_id="BLOB-M")
        old_details = old.get_model("orchestration", "OrchestrationDetails")
        for attempt, blob in ((1, BLOB), (2, None), (3, {"Fulfillments": [], "n": 3})):
            old_details.objects.create(
                order=old_order,
                attempt=attempt,
                at=AT,
                expires_at=AT + timedelta(days=14),
                blob=blob,
            )
        executor = MigrationExecutor(connection)
        executor.migrate([("orchestration", "0009_compressed_orchestration_details")])
        assert {
            d.attempt: d.blob for d in OrchestrationDetails.objects.filter(order_id=old_order.pk)
        } == {1: BLOB, 2: None, 3: {"Fulfillments": [], "n": 3}}
        # And back: the JSON column gets the same values.
        executor = MigrationExecutor(connection)
        executor.migrate([("orchestration", "0008_return_orders")])
        old = executor.loader.project_state([("orchestration", "0008_return_orders")]).apps
        back = old.get_model("orchestration", "OrchestrationDetails").objects
        assert {d.attempt: d.blob for d in back.filter(order_id=old_order.pk)} == {
            1: BLOB,
            2: None,
            3: {"Fulfillments": [], "n": 3},
        }
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())


def test_compressed_text_is_the_json_modules_compact_text() -> None:
    # Written by orjson for speed: byte for byte what json.dumps wrote before, for
    # what a blob holds (nested dicts and lists, non-ASCII text, floats, integer keys).
    value = {**BLOB, "Note": "Zoë's café → Gent", "Scores": [0.1, 2.5, -3.0, 1 / 3], 7: True}
    written = zlib.decompress(json_compress(value))
    assert written == json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    # A float with an exponent is spelled differently, and reads back the same.
    tiny = {"Score": 1e-7, "Huge": 1e16}
    assert zlib.decompress(json_compress(tiny)) == b'{"Score":1e-7,"Huge":1e+16}'
    assert json.loads(zlib.decompress(json_compress(tiny))) == tiny


def test_values_orjson_refuses_are_written_by_the_json_module() -> None:
    big = {"Quantity": 2**70}
    assert json_compress(big) == zlib.compress(b'{"Quantity":1180591620717411303424}', 1)
    assert json.loads(zlib.decompress(json_compress(big))) == big
    with pytest.raises(TypeError, match="Object of type Decimal is not JSON serializable"):
        json_compress({"Price": Decimal("1.50")})
