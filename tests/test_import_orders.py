"""``manage.py import_orders FILE.jsonl``: one order a line, each taken as
``POST /api/orders/`` takes it, a chunk per transaction, resumable by backend ID."""

import io
import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from orchestration.api import order_imports as api_order_imports
from orchestration.management.commands import import_orders
from orchestration.models import Order, OrderEvent, OrderLine
from tests.conftest import table_rows

pytestmark = pytest.mark.django_db

SHIPPING = {"city": "Amsterdam", "country_id": "NL", "latitude": 52.37, "longitude": 4.9}


def _order(backend_id: str, product: str = "SHOE") -> dict[str, Any]:
    return {
        "backend_id": backend_id,
        "shipping_address": SHIPPING,
        "lines": [{"product": product, "quantity": 1}],
    }


def _file(tmp_path: Path, lines: list[Any]) -> Path:
    path = tmp_path / "orders.jsonl"
    path.write_text(
        "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines),
        encoding="utf-8",
    )
    return path


def _run(*args: str) -> tuple[str, str, int]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("import_orders", *args, stdout=out, stderr=err)
    except CommandError as error:
        return out.getvalue(), err.getvalue() + str(error), error.returncode
    return out.getvalue(), err.getvalue(), 0


def test_every_good_line_is_an_order(tmp_path: Path, shoe: Any, integrator: User) -> None:
    path = _file(tmp_path, [_order(f"IMP-{n}") for n in range(7)])
    out, err, status = _run(str(path), "--user", "integrator", "--chunk", "3")
    assert status == 0
    assert err == ""
    assert out.startswith("7 created, 0 existing, 0 refused: 7 orders in ")
    assert list(Order.objects.order_by("pk").values_list("backend_id", flat=True)) == [
        f"IMP-{n}" for n in range(7)
    ]
    assert set(Order.objects.values_list("created_by__username", flat=True)) == {"integrator"}
    assert set(OrderEvent.objects.values_list("actor", flat=True)) == {"integrator"}
    # Flagged, and sent once each chunk commits (never here: the test's transaction).
    assert Order.objects.filter(needs_orchestration=True).count() == 7


def test_a_bad_line_is_reported_with_its_number_and_skipped(tmp_path: Path, shoe: Any) -> None:
    path = _file(
        tmp_path,
        [
            _order("IMP-1"),
            _order("IMP-2", product="HAT"),
            "{not json",
            "",
            _order("IMP-3"),
            [1, 2],
            '{"backend_id": "nul\\u0000"}',
        ],
    )
    out, err, status = _run(str(path), "--chunk", "2")
    assert status == 1
    assert err.splitlines() == [
        "line 2: lines[0].product: Unknown product 'HAT'.",
        "line 3: JSON parse error - Expecting property name enclosed in double quotes: "
        "line 1 column 2 (char 1)",
        "line 6: Invalid data. Expected a dictionary, but got list.",
        "line 7: Text may not contain the NUL character (\\u0000), found at backend_id.",
        "4 lines refused.",
    ]
    assert out.startswith("2 created, 0 existing, 4 refused: 6 orders in ")
    assert sorted(Order.objects.values_list("backend_id", flat=True)) == ["IMP-1", "IMP-3"]
    assert OrderLine.objects.count() == 2


def test_an_import_run_again_counts_what_it_stored_as_existing(tmp_path: Path, shoe: Any) -> None:
    path = _file(tmp_path, [_order("IMP-1"), _order("IMP-2")])
    assert _run(str(path))[2] == 0
    longer = _file(tmp_path, [_order("IMP-1"), _order("IMP-2"), _order("IMP-3")])
    before = Order.objects.count()
    out, err, status = _run(str(longer))
    assert (status, err) == (0, "")
    assert out.startswith("1 created, 2 existing, 0 refused: 3 orders in ")
    assert Order.objects.count() == before + 1


def test_a_file_of_refusals_writes_nothing(tmp_path: Path, shoe: Any) -> None:
    path = _file(tmp_path, [_order("IMP-1", product="HAT"), _order("IMP-2", product="CAP")])
    before = table_rows()
    _, err, status = _run(str(path))
    assert status == 1
    assert err.splitlines()[-1] == "2 lines refused."
    assert table_rows() == before


def test_a_line_longer_than_a_request_body_is_refused_without_being_read_whole(
    tmp_path: Path, shoe: Any, settings: Any
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1_000
    path = _file(
        tmp_path, [_order("IMP-1"), {**_order("IMP-2"), "x": "y" * 5_000}, _order("IMP-3")]
    )
    _, err, status = _run(str(path))
    assert status == 1
    assert err.splitlines()[0] == (
        "line 2: The body is larger than the limit of 1,000 bytes; send less at once."
    )
    assert sorted(Order.objects.values_list("backend_id", flat=True)) == ["IMP-1", "IMP-3"]


def test_an_unknown_user_or_file_stops_before_anything(tmp_path: Path) -> None:
    path = _file(tmp_path, [])
    assert _run(str(path), "--user", "ghost")[1:] == ("There is no user 'ghost'.", 1)
    assert _run(str(tmp_path / "none.jsonl"))[1].startswith("Cannot read ")
    assert _run(str(path), "--chunk", "0")[1] == "--chunk is 1 to 10,000 orders."
    assert _run(str(path), "--user", "")[1:] == ("There is no user ''.", 1)


def test_a_wrong_number_of_jobs_stops_before_anything(tmp_path: Path, shoe: Any) -> None:
    path = _file(tmp_path, [_order("IMP-1")])
    assert _run(str(path), "--jobs", "0")[1:] == ("--jobs is 1 to 32 processes.", 1)
    assert _run(str(path), "--jobs", "33")[1:] == ("--jobs is 1 to 32 processes.", 1)
    if connection.vendor == "sqlite":
        assert _run(str(path), "--jobs", "2")[1:] == (
            "--jobs above 1 needs PostgreSQL: sqlite takes one writer at a time, so "
            "processes side by side would only wait for each other.",
            1,
        )
    else:  # this test's transaction
        assert _run(str(path), "--jobs", "2")[1:] == (
            "--jobs above 1 cannot run inside a transaction: its processes would not see "
            "what the transaction holds, and each commits its own chunks.",
            1,
        )
    assert not Order.objects.exists()


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="--jobs above 1 is PostgreSQL's (refused on SQLite, as the test above asserts); "
    ".ci/run runs this with DATABASE_URL set",
)
@pytest.mark.django_db(transaction=True)
def test_jobs_import_chunks_side_by_side_and_report_in_the_files_order(
    tmp_path: Path, shoe: Any, integrator: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines: list[Any] = [_order(f"IMP-{n}") for n in range(40)]
    lines[5] = _order("IMP-5", product="HAT")
    lines[17] = "{not json"
    lines[33] = _order("IMP-33", product="CAP")
    path = _file(tmp_path, lines)
    # The chunks go to a pool of 3 processes (spawned: they run this module afresh).
    pools: list[Any] = []
    executor = import_orders.ProcessPoolExecutor

    class Recorded(executor):  # type: ignore[misc,valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.submitted = 0
            pools.append((args, kwargs, self))

        def submit(self, *args: Any, **kwargs: Any) -> Any:
            self.submitted += 1
            return super().submit(*args, **kwargs)

    monkeypatch.setattr(import_orders, "ProcessPoolExecutor", Recorded)
    out, err, status = _run(str(path), "--user", "integrator", "--chunk", "3", "--jobs", "3")
    assert status == 1
    assert err.splitlines() == [
        "line 6: lines[0].product: Unknown product 'HAT'.",
        "line 18: JSON parse error - Expecting property name enclosed in double quotes: "
        "line 1 column 2 (char 1)",
        "line 34: lines[0].product: Unknown product 'CAP'.",
        "3 lines refused.",
    ]
    assert out.startswith("37 created, 0 existing, 3 refused: 40 orders in ")
    [(args, kwargs, pool)] = pools
    assert (args, kwargs["mp_context"].get_start_method()) == ((3,), "spawn")
    assert pool.submitted == 14  # 40 lines, 3 a chunk
    assert sorted(Order.objects.values_list("backend_id", flat=True)) == sorted(
        f"IMP-{n}" for n in range(40) if n not in (5, 17, 33)
    )
    assert OrderLine.objects.count() == 37
    assert set(Order.objects.values_list("created_by__username", flat=True)) == {"integrator"}
    again = _run(str(path), "--chunk", "3", "--jobs", "2")
    assert again[0].startswith("0 created, 37 existing, 3 refused: 40 orders in ")
    assert Order.objects.count() == 37


def test_progress_is_a_line_now_and_then_when_not_on_a_terminal(
    tmp_path: Path, shoe: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(import_orders, "PROGRESS_EVERY", 0.0)
    path = _file(tmp_path, [_order(f"IMP-{n}") for n in range(4)])
    _, err, _ = _run(str(path), "--chunk", "2")
    lines = err.splitlines()
    assert [line.split(",")[0] for line in lines] == [
        "50% of the file: 2 orders (2 created",
        "100% of the file: 4 orders (4 created",
    ]


def test_on_a_terminal_the_bar_is_redrawn_in_place(
    tmp_path: Path, shoe: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    path = _file(tmp_path, [_order(f"IMP-{n}") for n in range(4)])
    err = Terminal()
    call_command("import_orders", str(path), "--chunk", "2", stdout=io.StringIO(), stderr=err)
    frames = err.getvalue().split("\r\x1b[K")[1:]
    assert [frame[:37] for frame in frames] == [
        "[###############...............]  50%",
        "[##############################] 100%",
        "[##############################] 100%",
    ]
    assert frames[-1].endswith("/s\n")


def _lines_read_when(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[int]:
    """How many lines the import had read each time it called ``module.name`` (a list
    filled as it runs)."""
    read: list[int] = []
    called_after: list[int] = []
    lines = import_orders._lines
    call = getattr(module, name)

    def counted(*args: Any) -> Any:
        for item in lines(*args):
            read.append(item[0])
            yield item

    def recorded(**kwargs: Any) -> Any:
        called_after.append(len(read))
        return call(**kwargs)

    monkeypatch.setattr(import_orders, "_lines", counted)
    monkeypatch.setattr(module, name, recorded)
    return called_after


def test_the_file_is_read_a_chunk_at_a_time(
    tmp_path: Path, shoe: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each chunk is stored before the next is read: a file of millions of orders is
    never held whole."""
    stored_after = _lines_read_when(monkeypatch, api_order_imports, "orders_create_bulk")
    path = _file(tmp_path, [_order(f"IMP-{n}") for n in range(7)])
    assert _run(str(path), "--chunk", "3")[2] == 0
    assert stored_after == [3, 6, 7]


def test_lines_that_are_no_body_are_reported_as_read_not_held(
    tmp_path: Path, shoe: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CSV given by mistake: its lines count toward a chunk, so they are reported a
    chunk at a time instead of piling up until the file ends."""
    stored_after = _lines_read_when(monkeypatch, import_orders, "chunk_outcomes")
    path = _file(tmp_path, [*(f"a;b;{n}" for n in range(5)), _order("IMP-1")])
    out, err, status = _run(str(path), "--chunk", "2")
    assert status == 1
    assert stored_after == [2, 4, 6]
    assert err.splitlines()[0] == (
        "line 1: JSON parse error - Expecting value: line 1 column 1 (char 0)"
    )
    assert out.startswith("1 created, 0 existing, 5 refused: 6 orders in ")


def test_sigterm_finishes_the_chunk_under_way_and_says_how_to_go_on(
    tmp_path: Path, shoe: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = import_orders.chunk_outcomes
    calls: list[int] = []

    def stopped(**kwargs: Any) -> Any:
        calls.append(1)
        outcomes = store(**kwargs)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGTERM)  # as `kill` or a service stopping would
        return outcomes

    monkeypatch.setattr(import_orders, "chunk_outcomes", stopped)
    path = _file(tmp_path, [_order(f"IMP-{n}") for n in range(7)])
    out, err, status = _run(str(path), "--chunk", "2")
    assert status == 130
    assert err.startswith("Stopped: 2 created, 0 existing, 0 refused: 2 orders in ")
    assert err.endswith("Run the same command again to go on: what was stored counts as existing.")
    # The second chunk was under way when the signal came: it is stored, not counted.
    assert sorted(Order.objects.values_list("backend_id", flat=True)) == [
        "IMP-0",
        "IMP-1",
        "IMP-2",
        "IMP-3",
    ]
    assert signal.getsignal(signal.SIGTERM) is not import_orders._interrupted
    out, err, status = _run(str(path), "--chunk", "2")
    assert (status, err) == (0, "")
    assert out.startswith("3 created, 4 existing, 0 refused: 7 orders in ")


def test_a_backend_id_an_earlier_line_took_is_refused_with_its_line(
    tmp_path: Path, shoe: Any
) -> None:
    """Not counted as existing (which would drop the line without a word): only what was
    stored before the import began is."""
    path = _file(tmp_path, [_order("IMP-0")])
    assert _run(str(path))[2] == 0
    path = _file(
        tmp_path,
        [_order("IMP-0"), _order("IMP-1"), _order("IMP-2"), _order(" IMP-1 "), _order("IMP-2")],
    )
    out, err, status = _run(str(path), "--chunk", "2")
    assert status == 1
    assert err.splitlines() == [
        "line 4: backend_id: An order with backend ID 'IMP-1' was created by an earlier "
        "line of this file (or by someone else since the import began).",
        "line 5: backend_id: An order with backend ID 'IMP-2' was created by an earlier "
        "line of this file (or by someone else since the import began).",
        "2 lines refused.",
    ]
    assert out.startswith("2 created, 1 existing, 2 refused: 5 orders in ")
    assert Order.objects.count() == 3
