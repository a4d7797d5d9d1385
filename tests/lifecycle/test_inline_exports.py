"""Exports sent by the run that made them (``Exporter.inline``).

A folder exporter's export is written by the process that routed the order, right
after the run commits, without a task of its own; a webhook's (or one set not inline)
goes out as a task; an ``inline`` option that is not true or false fails the export
naming it; and what goes wrong inline is left to the task, never to the run.
"""

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.db import OperationalError

from orchestration.models import ExportStatus, FulfillmentStatus, Order
from orchestration.services.fulfillments import exports
from orchestration.tasks import fulfillment_export_task

from .conftest import Receiver

PICKUP_POINT = {  # shops do not ship to pickup points: the warehouse (ARVATO) does
    "shipping_city": "Rotterdam",
    "shipping_latitude": 51.9225,
    "shipping_longitude": 4.4792,
    "shipping_is_pickup_point": True,
}
FOLDER = "orchestration.integrations.exporters.FolderExporter"


@pytest.fixture
def sent_as_tasks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The fulfilments whose export was sent as a ``fulfillment_export_task`` (which
    then runs, the tasks being eager here)."""
    sent: list[int] = []
    run = fulfillment_export_task.delay

    def delay(fulfillment_id: int) -> Any:
        sent.append(fulfillment_id)
        return run(fulfillment_id)

    monkeypatch.setattr(fulfillment_export_task, "delay", delay)
    return sent


def test_a_folder_export_is_written_by_the_run_that_made_it_without_a_task(
    place: Callable[..., Order], sent_as_tasks: list[int], tmp_path: Path
) -> None:
    export = place("JKT-RAIN-OLV", "HAT-BEANIE-BLK", **PICKUP_POINT).fulfillments.get()

    assert (export.exporter_name, export.export_status, export.export_attempts) == (
        "ARVATO",
        ExportStatus.EXPORTED,
        1,
    )
    assert export.status == FulfillmentStatus.IN_PROGRESS
    assert sent_as_tasks == []
    written = json.loads((tmp_path / "ARVATO" / f"fulfillment-{export.pk}.json").read_text())
    assert (written["fulfillment"], written["warehouse"]["backend_id"]) == (
        export.pk,
        "lelystad_warehouse",
    )
    assert sorted(line["product"] for line in written["lines"]) == [
        "HAT-BEANIE-BLK",
        "JKT-RAIN-OLV",
    ]


def test_a_webhook_export_is_sent_as_a_task_of_its_own(
    place: Callable[..., Order], sent_as_tasks: list[int], settings: Any, receiver: Receiver
) -> None:
    settings.ORCHESTRATION_EXPORTERS = {
        "ARVATO": {
            "class": "orchestration.integrations.exporters.WebhookExporter",
            "url": receiver.url + "/wms",
        }
    }
    export = place("JKT-RAIN-OLV", **PICKUP_POINT).fulfillments.get()

    assert sent_as_tasks == [export.pk]
    assert export.export_status == ExportStatus.EXPORTED
    assert [body["fulfillment"] for body in receiver.bodies("/wms")] == [export.pk]


def test_a_folder_exporter_set_not_inline_is_sent_as_a_task(
    place: Callable[..., Order], sent_as_tasks: list[int], settings: Any, tmp_path: Path
) -> None:
    settings.ORCHESTRATION_EXPORTERS = {
        "ARVATO": {"class": FOLDER, "folder": str(tmp_path / "wms"), "inline": False}
    }
    export = place("JKT-RAIN-OLV", **PICKUP_POINT).fulfillments.get()

    assert sent_as_tasks == [export.pk]
    assert export.export_status == ExportStatus.EXPORTED
    assert (tmp_path / "wms" / f"fulfillment-{export.pk}.json").exists()


def test_an_inline_option_that_is_not_true_or_false_fails_the_export_naming_it(
    place: Callable[..., Order], sent_as_tasks: list[int], settings: Any, tmp_path: Path
) -> None:
    settings.ORCHESTRATION_EXPORTERS = {
        "ARVATO": {"class": FOLDER, "folder": str(tmp_path / "wms"), "inline": "yes"}
    }
    export = place("JKT-RAIN-OLV", **PICKUP_POINT).fulfillments.get()

    assert sent_as_tasks == [export.pk]
    assert (export.export_status, export.export_attempts) == (ExportStatus.PENDING, 1)
    assert export.export_error == (
        "Exporter ARVATO's inline option must be true or false, not 'yes'."
    )
    assert not (tmp_path / "wms").exists()
    assert export.events.filter(kind="export.sent").count() == 0


def test_an_inline_export_that_breaks_leaves_the_run_and_is_sent_as_a_task(
    place: Callable[..., Order],
    sent_as_tasks: list[int],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The database drops while the routing worker exports: the run stays committed,
    the export goes out as a task (and, were the broker down too, by the sweep)."""
    send = exports.fulfillment_export
    broken: list[int] = []

    def export_once_broken(*, fulfillment_id: int, now: Any = None) -> bool:
        if not broken:
            broken.append(fulfillment_id)
            raise OperationalError("server closed the connection unexpectedly")
        return send(fulfillment_id=fulfillment_id, now=now)

    monkeypatch.setattr(exports, "fulfillment_export", export_once_broken)
    with caplog.at_level(logging.ERROR, logger=exports.__name__):
        order = place("JKT-RAIN-OLV", **PICKUP_POINT)

    export = order.fulfillments.get()
    assert broken == sent_as_tasks == [export.pk]
    assert (export.export_status, export.export_attempts) == (ExportStatus.EXPORTED, 1)
    assert order.events.filter(kind="orchestration.run").count() == 1
    assert [record.getMessage() for record in caplog.records] == [
        f"Inline export of fulfillment {export.pk} failed; sending it as a task."
    ]


def test_an_inline_export_that_breaks_after_its_claim_gives_it_back_for_the_task(
    place: Callable[..., Order],
    sent_as_tasks: list[int],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """The file is written, then recording it fails: the claim is given back, so the task
    sends it again now (same key, same file) instead of after the 5-minute lease."""
    record = exports._record_sent
    broken: list[int] = []

    def record_once_broken(fulfillment: Any, target: str, now: Any) -> None:
        if not broken:
            broken.append(fulfillment.pk)
            raise OperationalError("server closed the connection unexpectedly")
        record(fulfillment, target, now)

    monkeypatch.setattr(exports, "_record_sent", record_once_broken)
    export = place("JKT-RAIN-OLV", **PICKUP_POINT).fulfillments.get()

    assert broken == sent_as_tasks == [export.pk]
    assert (export.export_status, export.export_attempts) == (ExportStatus.EXPORTED, 1)
    assert export.events.filter(kind="export.sent").count() == 1
    assert (tmp_path / "ARVATO" / f"fulfillment-{export.pk}.json").exists()


def test_an_exporter_that_cannot_be_made_fails_its_export_not_the_run(
    place: Callable[..., Order], sent_as_tasks: list[int], settings: Any
) -> None:
    """A class that is no exporter: the run commits; the export, sent as a task, fails
    saying why."""
    settings.ORCHESTRATION_EXPORTERS = {"ARVATO": {"class": "builtins.object"}}
    order = place("JKT-RAIN-OLV", **PICKUP_POINT)

    export = order.fulfillments.get()
    assert sent_as_tasks == [export.pk]
    assert order.orchestration_error == ""
    assert (export.export_status, export.export_attempts) == (ExportStatus.PENDING, 1)
    assert export.export_error == (
        "Exporter ARVATO could not be made from its settings: "
        "TypeError: object() takes no arguments."
    )
