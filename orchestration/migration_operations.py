"""Migration operations that build indexes on big tables without stopping writes.

``CREATE INDEX`` locks a table against writes while it reads every row: on a million
orders that is orders refused for seconds. PostgreSQL builds an index ``CONCURRENTLY``
instead, outside a transaction (so a migration using these is ``atomic = False``);
SQLite, the embedded default, has no such thing and small tables, so there the plain
index is made. ``TrigramIndex`` exists on PostgreSQL only: SQLite's ``LIKE`` cannot use
one, and it has none to make.
"""

from typing import Any

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations


class AddIndexOnline(AddIndexConcurrently):
    """``AddIndex``, built concurrently on PostgreSQL (plainly elsewhere)."""

    def database_forwards(self, app_label: str, schema_editor: Any, *args: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, *args)
        else:
            migrations.AddIndex.database_forwards(self, app_label, schema_editor, *args)

    def database_backwards(self, app_label: str, schema_editor: Any, *args: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, *args)
        else:
            migrations.AddIndex.database_backwards(self, app_label, schema_editor, *args)


class TrigramIndex(migrations.RunSQL):
    """A trigram index on ``UPPER(column)`` of ``table`` (PostgreSQL only): what
    Django's ``icontains`` compares, so a search for part of a number or an e-mail
    reads the rows that hold its trigrams instead of every row. Creates the
    ``pg_trgm`` extension if it is missing (a trusted extension since PostgreSQL 13:
    the database's owner may create it)."""

    def __init__(self, *, name: str, table: str, column: str) -> None:
        super().__init__(
            sql=[
                "CREATE EXTENSION IF NOT EXISTS pg_trgm",
                f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} "
                f"USING gin (UPPER({column}::text) gin_trgm_ops)",
                # Statistics of the new expression at once: without them the planner
                # guesses a search matches a few rows, and reads a quarter of a
                # million through the index instead of the newest few by date.
                f"ANALYZE {table}",
            ],
            reverse_sql=[f"DROP INDEX CONCURRENTLY IF EXISTS {name}"],
            elidable=False,
        )

    def database_forwards(self, app_label: str, schema_editor: Any, *args: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, *args)

    def database_backwards(self, app_label: str, schema_editor: Any, *args: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, *args)
