"""The database cache's table, so that `migrate` alone readies a server.

Sign-in throttling counts failures in Django's cache; without CACHE_URL that
cache is this table (settings.py), shared by every web process. Made whatever
CACHES says, so switching from Redis back to the database needs no extra step.
"""

from django.core.management import call_command
from django.db import migrations

CACHE_TABLE = "orchestration_cache"


def create_cache_table(apps, schema_editor):
    call_command(
        "createcachetable", CACHE_TABLE, database=schema_editor.connection.alias, verbosity=0
    )


def drop_cache_table(apps, schema_editor):
    schema_editor.execute(f"DROP TABLE IF EXISTS {schema_editor.quote_name(CACHE_TABLE)}")


class Migration(migrations.Migration):
    dependencies = [
        ("orchestration", "0010_open_tasks_index"),
    ]

    operations = [
        migrations.RunPython(create_cache_table, drop_cache_table),
    ]
