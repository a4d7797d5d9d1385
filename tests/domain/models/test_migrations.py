"""Migrations: the spelling rename keeps databases that ran the old name."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader

RENAMED = ("orchestration", "0004_fulfillment_lifecycle")
OLD_NAME = ("orchestration", "0004_fulfilment_lifecycle")


def test_the_lifecycle_migration_has_one_spelling_and_replaces_its_old_name() -> None:
    loader = MigrationLoader(None, ignore_no_migrations=True)
    assert RENAMED in loader.disk_migrations
    assert OLD_NAME not in loader.disk_migrations
    assert loader.disk_migrations[RENAMED].replaces == [OLD_NAME]


@pytest.mark.django_db
def test_a_database_that_applied_the_old_name_has_nothing_left_to_migrate() -> None:
    executor = MigrationExecutor(connection)
    # As a database migrated before the rename records it (the test's transaction
    # rolls this back).
    executor.recorder.record_unapplied(*RENAMED)
    executor.recorder.record_applied(*OLD_NAME)
    executor.loader.build_graph()
    assert executor.migration_plan(executor.loader.graph.leaf_nodes()) == []
