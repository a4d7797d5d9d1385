"""Exports: what leaves the house for a fulfilment another system works, a warehouse's
order (``EXPORT_ORDER``) or a return's documents to the customer (``EXPORT_RETURN_ORDER``).

An export is sent at most once at a time: a worker claims it with a conditional update
(a lease of ``EXPORT_LEASE``) before sending, outside any transaction, and records the
outcome under the order's lock. A failure is retried with a doubling delay until
``Export:MaxAttempts``; then the export is Failed until a person retries it. What the
warehouse reports back (shipped, not shipped) is ``steps.fulfillment_ship``.

A run's new exports go out once it commits (``fulfillments_export_on_commit``): as a
task each, or, where the exporter waits on no other system (``Exporter.inline``, a
folder), sent at once by the process that routed them. That saves each order a second
message and a worker's turn (measured in ``docs/performance.md``). Whatever goes wrong
there that is not the exporter's (the database gone) gives the claim back and is left
to the task, sent instead, with the sweep behind it: with a broker, an inline send
never fails the run that committed. (Without one, in eager mode, that task runs in
place and its error is its own, as every task's is there.)
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import DatabaseError, transaction
from django.utils import timezone

from ...errors import ConflictError
from ...integrations.exporters import ExportError, exporter_for, exporter_sends_inline
from ...models import (
    ExportStatus,
    FulfillmentAction,
    FulfillmentStatus,
    Order,
    OrderFulfillment,
)
from ...selectors.settings import setting_value
from ...tasks import fulfillment_export_task
from ..events import actor_of, event_build, event_record, event_stored
from ..persistence import claim_export, store_fulfillment_progress
from ..persistence.plan import ExportLine, FulfillmentProgress
from ..plans import plan_manual_step_done
from ..returns import return_documents_send
from ..sending import task_send, task_send_on_commit
from .common import lock_fulfillment, shop_name

logger = logging.getLogger(__name__)

# How long a worker may hold an export before another may try it.
EXPORT_LEASE = timedelta(minutes=5)


@dataclass(frozen=True)
class ExportRetried:
    """A failed export set to be sent again, with a fresh set of attempts."""

    fulfillment_id: int


def export_payload(fulfillment: OrderFulfillment, lines: Sequence[ExportLine]) -> dict[str, Any]:
    """What a warehouse gets: the fulfilment, its open ``lines`` and where they go."""
    order = fulfillment.order
    unit = fulfillment.supplier_unit
    return {
        "fulfillment": fulfillment.pk,
        "exporter": fulfillment.exporter_name,
        "warehouse": {"id": unit.pk, "backend_id": unit.backend_id, "name": unit.name},
        "order": {
            "id": order.pk,
            "backend_id": order.backend_id,
            "customer_email": order.customer_email,
            "shipping_address": {
                part: getattr(order, f"shipping_{part}")
                for part in ("street", "zip_code", "city", "country_id")
            },
        },
        "lines": [
            {"id": pk, "order_line": order_line, "product": product, "quantity": quantity}
            for pk, order_line, product, quantity in lines
        ],
        "data": fulfillment.data,
    }


def fulfillment_export(*, fulfillment_id: int, now: datetime | None = None) -> bool:
    """Send a pending export to its warehouse once; say whether it got there.

    The export is claimed first (a conditional update), so two workers never
    send it at the same time. A failure schedules the next attempt after a
    delay that doubles each time (``Export:RetryDelayInSeconds``); after
    ``Export:MaxAttempts`` the export is Failed and listed for a person to retry.
    """
    now = now or timezone.now()
    claimed = claim_export(fulfillment_id=fulfillment_id, now=now, lease_until=now + EXPORT_LEASE)
    if claimed is None:
        return False
    fulfillment = claimed.fulfillment
    error = ""
    returns = fulfillment.action == FulfillmentAction.EXPORT_RETURN_ORDER
    try:
        if returns:  # what a return order exports: its documents, to the customer
            return_documents_send(fulfillment)
        else:
            exporter_for(fulfillment.exporter_name).send(
                export_payload(fulfillment, claimed.lines),
                idempotency_key=f"fulfillment-{fulfillment.pk}",
            )
    except ExportError as failure:
        error = str(failure)
    with transaction.atomic():
        target = (
            f"the customer {fulfillment.order.customer_email or '(no address)'} "
            f"(return documents for {shop_name(fulfillment)})"
            if returns
            else f"{fulfillment.exporter_name or '(no exporter)'} for {shop_name(fulfillment)}"
        )
        if not error:
            _record_sent(fulfillment, target, now)  # which takes the order's lock first
            return True
        # The order's lock, as every writer of its fulfilments takes it (its ID only).
        Order.objects.select_for_update().filter(pk=fulfillment.order_id).values_list(
            "pk", flat=True
        ).get()
        _record_failed(fulfillment, target, error, now)
    return False


def fulfillments_export_on_commit(*, fulfillments: Sequence[OrderFulfillment]) -> None:
    """Once the current transaction commits, send the pending exports among
    ``fulfillments``: at once, here, those whose exporter sends inline; the others (and
    the return documents, which go out by e-mail) as a ``fulfillment_export_task`` each."""
    pending = [f for f in fulfillments if f.export_status == ExportStatus.PENDING]
    inline = [
        f.pk
        for f in pending
        if f.action == FulfillmentAction.EXPORT_ORDER and exporter_sends_inline(f.exporter_name)
    ]
    queued = [f.pk for f in pending if f.pk not in inline]
    if queued:
        task_send_on_commit(task=fulfillment_export_task, ids=queued, noun="fulfillment")
    if inline:
        transaction.on_commit(lambda: _export_inline(inline))


def _export_inline(ids: list[int]) -> None:
    """Send each export here; on an error that is not the exporter's (the database
    gone), log it, give the claim back (so the task need not wait out the lease) and
    send this one and the rest as tasks, which the sweep backs."""
    for index, fulfillment_id in enumerate(ids):
        now = timezone.now()
        try:
            fulfillment_export(fulfillment_id=fulfillment_id, now=now)
        except Exception:
            logger.exception(
                "Inline export of fulfillment %s failed; sending it as a task.", fulfillment_id
            )
            _claim_given_back(fulfillment_id, claimed_at=now)
            task_send(task=fulfillment_export_task, ids=ids[index:], noun="fulfillment")
            return


def _claim_given_back(fulfillment_id: int, *, claimed_at: datetime) -> None:
    """Undo ``fulfillment_export``'s claim made at ``claimed_at`` if it still stands (the
    export still Pending under that lease); best effort: with the database gone, the
    lease runs out and the sweep sends it then."""
    try:
        OrderFulfillment.objects.filter(
            pk=fulfillment_id,
            export_status=ExportStatus.PENDING,
            export_next_at=claimed_at + EXPORT_LEASE,
        ).update(export_next_at=claimed_at)
    except DatabaseError:
        logger.warning(
            "Could not give back the claim on fulfillment %s; the sweep sends it once "
            "its lease runs out.",
            fulfillment_id,
        )


def _record_sent(fulfillment: OrderFulfillment, target: str, now: datetime) -> None:
    """The export got there: Exported, and its lines InProgress at the warehouse (one
    statement on PostgreSQL, ``store_fulfillment_progress``)."""
    attempts = fulfillment.export_attempts + 1
    event = event_build(
        order=fulfillment.order,
        kind="export.sent",
        message=f"Exported to {target} (attempt {attempts}).",
        at=now,
        actor="system:export",
        fulfillment=fulfillment,
    )
    open_steps = store_fulfillment_progress(
        progress=FulfillmentProgress(
            fulfillment_id=fulfillment.pk,
            order_id=fulfillment.order_id,
            fields={
                "export_status": ExportStatus.EXPORTED,
                "export_attempts": attempts,
                "export_next_at": None,
                "export_error": "",
                "exported_at": now,
                "status": FulfillmentStatus.IN_PROGRESS,
                "updated_at": now,
            },
            lines_in=FulfillmentStatus.NEW,
            line_fields={
                "status": FulfillmentStatus.IN_PROGRESS,
                "started_at": now,
                "updated_at": now,
            },
            event=event,
            handler="export",
        )
    )
    event_stored(event)
    if open_steps:
        plan_manual_step_done(fulfillment=fulfillment, handler="export", user=None, now=now)


def _record_failed(fulfillment: OrderFulfillment, target: str, error: str, now: datetime) -> None:
    """The export failed: try again after a doubling delay, or give up at the last attempt."""
    attempts = fulfillment.export_attempts + 1
    if attempts >= setting_value("Export:MaxAttempts"):
        OrderFulfillment.objects.filter(pk=fulfillment.pk).update(
            export_status=ExportStatus.FAILED,
            export_attempts=attempts,
            export_next_at=None,
            export_error=error,
            updated_at=now,
        )
        event_record(
            order=fulfillment.order,
            kind="export.failed",
            message=f"Export to {target} failed {attempts} times and was given up: {error} "
            "Retry it from the list of failed exports.",
            at=now,
            actor="system:export",
            fulfillment=fulfillment,
            data={"attempts": attempts, "error": error},
        )
        return
    delay = setting_value("Export:RetryDelayInSeconds") * 2 ** (attempts - 1)
    OrderFulfillment.objects.filter(pk=fulfillment.pk).update(
        export_attempts=attempts,
        export_next_at=now + timedelta(seconds=delay),
        export_error=error,
        updated_at=now,
    )
    event_record(
        order=fulfillment.order,
        kind="export.retrying",
        message=f"Export to {target} failed (attempt {attempts}): {error} "
        f"Next attempt in {delay} seconds.",
        at=now,
        actor="system:export",
        fulfillment=fulfillment,
        data={"attempts": attempts, "error": error},
    )


@transaction.atomic
def fulfillment_export_retry(
    *, fulfillment_id: int, user: User | None, now: datetime | None = None
) -> ExportRetried:
    """Try a failed export again, with a fresh set of attempts."""
    now = now or timezone.now()
    order, fulfillment = lock_fulfillment(fulfillment_id, user)
    if fulfillment.export_status != ExportStatus.FAILED:
        raise ConflictError("Only a failed export can be retried.", code="not_failed")
    OrderFulfillment.objects.filter(pk=fulfillment.pk).update(
        export_status=ExportStatus.PENDING, export_attempts=0, export_next_at=now, updated_at=now
    )
    event_record(
        order=order,
        kind="export.retry",
        message=f"Export to {fulfillment.exporter_name} retried by hand.",
        at=now,
        actor=actor_of(user, "api"),
        user=user,
        fulfillment=fulfillment,
    )
    task_send_on_commit(task=fulfillment_export_task, ids=[fulfillment.pk], noun="fulfillment")
    return ExportRetried(fulfillment_id=fulfillment.pk)
