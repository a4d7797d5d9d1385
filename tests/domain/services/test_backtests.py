"""Backtests: draft sheets against the active ones over the latest orders.

The demo's orders are moved to fixed Monday-morning times, so that which
orders ship from a store does not depend on when the tests run.
"""

import datetime
import re
from io import StringIO
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from celery.app.task import Task
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from orchestration.celery import app as celery_app
from orchestration.errors import ApplicationError
from orchestration.models import Backtest, BacktestStatus, Sheet
from orchestration.services.backtests import backtest_start
from tests.conftest import demo_orders_placed_before, orders_shipped_from_store, table_rows

pytestmark = pytest.mark.django_db

MONDAY = datetime.datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("Europe/Amsterdam"))


@pytest.fixture(autouse=True)
def inline_tasks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the backtest's task inline, also when CI points Celery at a real broker
    (``tests/domain/services/test_tasks.py`` covers the way to a worker)."""
    monkeypatch.setattr(celery_app.conf, "task_always_eager", True)


@pytest.fixture
def demo(db: Any) -> None:
    call_command("demo", stdout=StringIO())
    demo_orders_placed_before(MONDAY)


def no_shops_draft() -> dict[str, Any]:
    """The ship-from-store sheet, turning every shop down."""
    sheet = Sheet.objects.get(fulfillment="ShipFromStore")
    source = sheet.source.replace(
        "require [Supplier.BackendID] in [AvailableStores]", "require [Supplier.Type] = 'None'", 1
    )
    assert source != sheet.source
    return {"sheet": sheet.pk, "name": "", "source": source}


def test_a_backtest_lists_exactly_the_orders_a_draft_changes(
    demo: None, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    expected = orders_shipped_from_store()
    assert expected  # the demo has orders that ship from a store on a Monday morning
    sent: list[str] = []
    original = Task.apply_async

    def record(self: Task, *args: Any, **kwargs: Any) -> Any:
        sent.append(self.name)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Task, "apply_async", record)
    user = User.objects.get(username="designer")
    before = table_rows()

    with django_capture_on_commit_callbacks(execute=True):
        backtest = backtest_start(user=user, drafts=[no_shops_draft()], order_count=10)

    backtest.refresh_from_db()
    assert backtest.status == BacktestStatus.DONE
    assert (backtest.total, backtest.done, backtest.percent) == (6, 6, 100)
    assert [change["order"] for change in backtest.changes] == expected
    for change in backtest.changes:
        assert "SHIP_FROM_STORE" in {s["action"] for s in change["before"]["shipments"]}
        assert "SHIP_FROM_STORE" not in {s["action"] for s in change["after"]["shipments"]}
    assert backtest.summary["orders"] == 6
    assert backtest.summary["changed"] == len(expected)
    # Nothing written but the backtest's own record, and only its task was sent.
    after = table_rows()
    assert len(after["orchestration.Backtest"]) == len(before["orchestration.Backtest"]) + 1
    after.pop("orchestration.Backtest")
    before.pop("orchestration.Backtest")
    assert after == before
    assert sent == ["orchestration.tasks.backtest_run_task"]


def test_a_draft_that_changes_nothing_lists_nothing(
    demo: None, django_capture_on_commit_callbacks: Any
) -> None:
    sheet = Sheet.objects.get(fulfillment="ShipFromStore")
    with django_capture_on_commit_callbacks(execute=True):
        backtest = backtest_start(
            user=None,
            drafts=[{"sheet": sheet.pk, "name": "", "source": sheet.source}],
            order_count=3,
        )
    backtest.refresh_from_db()
    assert backtest.changes == []
    assert backtest.summary["changed"] == 0
    assert backtest.summary["orders"] == 3
    assert backtest.summary["cancelled_before"] == backtest.summary["cancelled_after"]


@pytest.mark.parametrize(
    ("drafts", "count", "field", "message"),
    [
        ([], 10, "drafts", "A backtest needs at least one draft sheet."),
        (
            [{"sheet": None, "name": "", "source": "x"}],
            0,
            "order_count",
            "Compare over 1 to 10,000",
        ),
    ],
)
def test_a_backtest_needs_drafts_and_a_sensible_count(
    demo: None, drafts: list[Any], count: int, field: str, message: str
) -> None:
    before = table_rows()
    with pytest.raises(ApplicationError) as raised:
        backtest_start(user=None, drafts=drafts, order_count=count)
    assert raised.value.field == field
    assert raised.value.message.startswith(message)
    assert table_rows() == before


def test_the_page_starts_a_backtest_and_shows_its_result(
    demo: None, django_capture_on_commit_callbacks: Any
) -> None:
    expected = orders_shipped_from_store()
    client = Client()
    client.force_login(User.objects.get(username="designer"))
    draft = no_shops_draft()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/preview/backtests/",
            {
                "draft-0-sheet": str(draft["sheet"]),
                "draft-0-source": draft["source"],
                "order_count": "10",
            },
        )
    backtest = Backtest.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/preview/backtests/{backtest.pk}/"
    page = client.get(response["Location"]).content.decode()
    assert 'id="backtest-summary"' in page
    assert re.findall(r'<tr data-order="([^"]+)">', page) == expected

    no_draft = client.post("/preview/backtests/", {"order_count": "10"})
    assert no_draft.status_code == 400
    assert "A backtest needs at least one draft sheet." in no_draft.content.decode()
    bad_count = client.post(
        "/preview/backtests/", {"draft-0-source": draft["source"], "order_count": "ten"}
    )
    assert bad_count.status_code == 400
    assert "&#x27;ten&#x27; is not a whole number." in bad_count.content.decode()
    assert Backtest.objects.count() == 1
