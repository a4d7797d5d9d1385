"""A worker keeps its database connection between tasks as a web process does between
requests (``orchestration/celery.py``): for ``DATABASE_CONN_MAX_AGE`` seconds, closing
it after a task when it is older or failed; a task run inline leaves it alone."""

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from django.db import connection

from orchestration.celery import app, connections_tidy

pytestmark = pytest.mark.django_db(transaction=True)


def _task(*, eager: bool) -> Any:
    return SimpleNamespace(request=SimpleNamespace(is_eager=eager))


@pytest.fixture
def max_age() -> Iterator[Any]:
    """Reconnect with a CONN_MAX_AGE of the test's choosing; restored afterwards."""
    before = connection.settings_dict["CONN_MAX_AGE"]

    def reconnect(seconds: int) -> Any:
        connection.close()
        connection.settings_dict["CONN_MAX_AGE"] = seconds
        connection.ensure_connection()
        return connection.connection

    yield reconnect
    connection.close()
    connection.settings_dict["CONN_MAX_AGE"] = before


def test_a_connection_younger_than_its_max_age_serves_the_next_task(max_age: Any) -> None:
    raw = max_age(60)
    connections_tidy(sender=_task(eager=False))
    assert connection.connection is raw


def test_without_a_max_age_a_task_ends_with_its_connection_closed(max_age: Any) -> None:
    max_age(0)
    connections_tidy(sender=_task(eager=False))
    assert connection.connection is None


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite has no server to lose: its connections are always usable",
)
def test_a_connection_that_failed_is_closed_after_the_task(max_age: Any) -> None:
    max_age(60)
    connection.errors_occurred = True
    connection.connection.close()  # the server went away under the worker
    connections_tidy(sender=_task(eager=False))
    assert connection.connection is None


def test_a_task_run_inline_leaves_the_callers_connection_alone(max_age: Any) -> None:
    raw = max_age(0)
    connections_tidy(sender=_task(eager=True))
    assert connection.connection is raw


def test_celerys_fix_up_is_told_not_to_close_connections_itself() -> None:
    assert app.conf.get("CELERY_DB_REUSE_MAX") >= 2**62
