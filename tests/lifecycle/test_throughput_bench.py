"""``manage.py bench pipeline|load|ingest``: orders through real processes (gunicorn, Celery
workers, locust), and their refusals where those cannot run.

The real runs need what the processes share with this one: PostgreSQL and a broker
(``REAL_WORKERS``); ``.ci/run`` runs them with both set. They post a handful of orders
only: their figures are for ``docs/performance.md``; here, that every order posted was
fulfilled and nothing failed.
"""

import re
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from orchestration.benchmarks.throughput import history_ensure, percentile
from orchestration.models import OrchestrationDetails, Order, OrganizationUnit
from tests.lifecycle.real_workers import REAL_WORKERS, database_url


@pytest.fixture(autouse=True)
def inline_tasks() -> None:
    """Not inline here (the lifecycle tests' default): the workers run the tasks."""


def test_percentiles_are_taken_by_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert (percentile(values, 0.5), percentile(values, 0.95), percentile(values, 1.0)) == (
        50.0,
        95.0,
        100.0,
    )
    assert percentile([7.0], 0.95) == 7.0
    assert percentile([], 0.95) == 0.0


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--spawn", "1,two"], "--spawn takes worker counts, e.g. 2 or 1,2,4"),
        (["--spawn", "-1"], "--spawn counts must be 0 or more, --concurrency 1 or more"),
        (["--concurrency", "0"], "--spawn counts must be 0 or more, --concurrency 1 or more"),
        (["--producers", "0"], "--producers must be at least 1"),
        (["--history", "-1"], "--history must be 0 or more"),
        (
            ["--pool", "solo", "--concurrency", "2"],
            "--pool solo runs one task at a time: leave --concurrency out",
        ),
    ],
)
def test_a_wrong_worker_count_is_refused_before_anything_runs(
    arguments: list[str], message: str
) -> None:
    with pytest.raises(CommandError, match=re.escape(message)):
        call_command("bench", "pipeline", *arguments, stdout=StringIO())


def test_a_load_of_nothing_is_refused() -> None:
    with pytest.raises(CommandError, match="--rate, --seconds and --web must be at least 1"):
        call_command("bench", "load", "--rate", "0", stdout=StringIO())


def test_an_ingest_without_clients_is_refused() -> None:
    with pytest.raises(CommandError, match="--orders, --clients and --web must be at least 1"):
        call_command("bench", "ingest", "--clients", "0", stdout=StringIO())


@pytest.mark.django_db
def test_without_a_broker_the_pipeline_says_what_it_needs(settings: Any) -> None:
    settings.CELERY_TASK_ALWAYS_EAGER = True
    with pytest.raises(CommandError, match="needs CELERY_BROKER_URL set"):
        call_command("bench", "pipeline", "--orders", "1", stdout=StringIO())


@REAL_WORKERS
@pytest.mark.django_db(transaction=True)
def test_the_pipeline_fulfils_every_order_through_real_workers(monkeypatch: Any) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url())
    out = StringIO()
    call_command("bench", "pipeline", "--orders", "6", "--spawn", "1", "--history", "0", stdout=out)
    assert "0 not fulfilled" in out.getvalue(), out.getvalue()
    assert "history: 0 orders besides the benchmark's, vacuumed and analysed" in out.getvalue()
    # On PostgreSQL an order, its lines and its first timeline entry are one statement,
    # its drain slot another; a publish only for an order that found a slot free.
    assert re.search(
        r"making them: 2\.0 statements and (0\.\d\d|1\.00) broker publishes", out.getvalue()
    ), out.getvalue()
    assert re.search(r"CPU an order \(ms, the exports included\): workers \d", out.getvalue())
    assert not Order.objects.filter(backend_id__startswith="BENCH-").exists()


@REAL_WORKERS
@pytest.mark.django_db(transaction=True)
def test_a_backlog_made_by_threads_is_drained_by_the_workers(monkeypatch: Any) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url())
    out = StringIO()
    call_command(
        "bench",
        "pipeline",
        *("--orders", "8", "--spawn", "2", "--producers", "2", "--backlog", "--history", "0"),
        stdout=out,
    )
    text = out.getvalue()
    assert "2 worker process(es) x 1" in text and "0 not fulfilled" in text, text
    assert "from a backlog (made first; from the first fulfilment to the last export)" in text
    assert "by 2 threads" in text
    # Every order's statements counted, whichever thread made it; from a backlog, with
    # the workers not taking the orders yet, only the first two find a drain slot free.
    assert re.search(r"making them: 2\.0 statements and 0\.25 broker publishes", text), text


@REAL_WORKERS
@pytest.mark.django_db(transaction=True)
def test_the_load_posts_through_gunicorn_and_every_order_is_fulfilled(monkeypatch: Any) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url())
    out = StringIO()
    call_command(
        "bench",
        "load",
        *("--rate", "4", "--seconds", "3", "--spawn", "1", "--web", "1", "--port", "8097"),
        *("--history", "40"),
        stdout=out,
    )
    # The empty test database is first given 40 orders of history, then vacuumed.
    assert "history: generating 40 orders (bench lists' world) with COPY" in out.getvalue()
    with connection.cursor() as cursor:
        cursor.execute("SHOW autovacuum")
        off = " (autovacuum is off on this server)" if cursor.fetchone()[0] != "on" else ""
    assert f"history: 40 orders besides the benchmark's, vacuumed and analysed{off}\n" in (
        out.getvalue()
    )
    # The history stays, each order with its run; the benchmark's orders are gone.
    assert Order.objects.filter(backend_id__startswith="LST-").count() == 40
    assert OrchestrationDetails.objects.filter(order__backend_id__startswith="LST-").count() == 40
    assert not Order.objects.filter(backend_id__startswith="BENCH-").exists()
    summary = next(line for line in out.getvalue().splitlines() if "requests (" in line)
    posted = int(re.search(r"(\d+) requests \(0 failed\)", summary).group(1))  # type: ignore[union-attr]
    assert posted > 0, summary
    assert "0 not fulfilled" in summary
    # A publish only for a request that found a drain slot free.
    assert re.search(
        r"one POST /api/orders/ spends \d+\.\d statements and (0\.\d\d|1\.00) broker",
        out.getvalue(),
    ), out.getvalue()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the history is COPY's")
@pytest.mark.django_db(transaction=True)
def test_a_database_with_data_of_its_own_gets_no_history_only_its_statistics() -> None:
    OrganizationUnit.objects.create(name="Own shop", backend_id="OWN-1", type="Shop")
    lines: list[str] = []
    history_ensure(100, lines.append)
    assert lines[0] == "history: none generated, as the database has OUs or products of its own"
    assert lines[1].startswith("history: 0 orders besides the benchmark's, vacuumed and analysed")
    assert len(lines) == 2
    assert not Order.objects.exists()
    assert list(OrganizationUnit.objects.values_list("backend_id", flat=True)) == ["OWN-1"]
    with connection.cursor() as cursor:  # its dead rows gone, its statistics taken
        cursor.execute(
            "SELECT last_vacuum IS NOT NULL, last_analyze IS NOT NULL FROM pg_stat_user_tables "
            "WHERE relname = 'orchestration_organizationunit'"
        )
        assert cursor.fetchone() == (True, True)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the history is COPY's")
@pytest.mark.django_db(transaction=True)
def test_a_history_asked_of_a_role_that_is_no_superuser_is_refused_before_anything_is_written() -> (
    None
):
    role = "bench_history_plain"
    with connection.cursor() as cursor:
        cursor.execute(f"DROP ROLE IF EXISTS {role}")
        cursor.execute(f"CREATE ROLE {role} NOLOGIN")
        cursor.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
        cursor.execute(f"SET ROLE {role}")
    try:
        with pytest.raises(RuntimeError) as refused:
            history_ensure(100, [].append)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET ROLE")
            cursor.execute(f"DROP OWNED BY {role}")
            cursor.execute(f"DROP ROLE {role}")
    assert str(refused.value) == (
        "--history 100 loads its orders with their foreign-key triggers off, which takes a "
        "PostgreSQL superuser: give DATABASE_URL a superuser's role, or --history 0"
    )
    assert not Order.objects.exists() and not OrganizationUnit.objects.exists()


@REAL_WORKERS
@pytest.mark.django_db(transaction=True)
def test_the_ingest_posts_bulk_requests_through_gunicorn_and_leaves_nothing(
    monkeypatch: Any,
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url())
    out = StringIO()
    call_command(
        "bench",
        "ingest",
        *("--orders", "600", "--clients", "2", "--web", "1", "--repeat", "1", "--port", "8096"),
        stdout=out,
    )
    text = out.getvalue()
    assert "600 orders of 2 lines a pass, 500 a request, 2 clients, gunicorn x 1" in text, text
    assert re.search(r"orders answered in full +[\d,]+ orders/s", text), text
    assert re.search(r"Prefer: return=minimal +[\d,]+ orders/s", text), text
    # Every order of every pass was created (a refusal stops the bench), then removed.
    assert not Order.objects.filter(backend_id__startswith="BENCH-").exists()
