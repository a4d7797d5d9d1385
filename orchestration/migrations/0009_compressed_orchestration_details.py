"""Orchestration details' blob: stored zlib-compressed JSON instead of JSON.

The existing blobs are converted in batches (and back, if reversed). On
PostgreSQL the new column's storage is EXTERNAL: its value is compressed
already, so TOAST must not spend time trying again.
"""

import json

from django.db import migrations

import orchestration.models.fields
from orchestration.models.fields import json_compress, json_decompress

BATCH = 500


def _copy(apps, schema_editor, source, target, convert):
    details = apps.get_model("orchestration", "OrchestrationDetails")
    table = schema_editor.quote_name(details._meta.db_table)
    source, target = schema_editor.quote_name(source), schema_editor.quote_name(target)
    connection = schema_editor.connection
    with connection.cursor() as read:
        read.execute(f"SELECT id, {source} FROM {table} WHERE {source} IS NOT NULL ORDER BY id")  # noqa: S608
        while rows := read.fetchmany(BATCH):
            with connection.cursor() as write:
                write.executemany(
                    f"UPDATE {table} SET {target} = %s WHERE id = %s",  # noqa: S608
                    [(convert(value, connection), pk) for pk, value in rows],
                )


def _to_compressed(value, connection):
    if isinstance(value, str):  # SQLite and psycopg without a JSON loader give text
        value = json.loads(value)
    return connection.Database.Binary(json_compress(value))


def _to_json(value, connection):
    return json.dumps(json_decompress(bytes(value)))


def compress(apps, schema_editor):
    _copy(apps, schema_editor, "blob", "blob_compressed", _to_compressed)


def decompress(apps, schema_editor):
    _copy(apps, schema_editor, "blob_compressed", "blob", _to_json)


def external_storage(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "ALTER TABLE orchestration_orchestrationdetails ALTER COLUMN blob SET STORAGE EXTERNAL"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("orchestration", "0008_return_orders"),
    ]

    operations = [
        migrations.AddField(
            model_name="orchestrationdetails",
            name="blob_compressed",
            field=orchestration.models.fields.CompressedJSONField(blank=True, null=True),
        ),
        migrations.RunPython(compress, decompress),
        migrations.RemoveField(model_name="orchestrationdetails", name="blob"),
        migrations.RenameField(
            model_name="orchestrationdetails", old_name="blob_compressed", new_name="blob"
        ),
        migrations.RunPython(external_storage, migrations.RunPython.noop),
    ]
