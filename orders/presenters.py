"""What the order pages show of fulfilments, built from the models: rows, task groups,
deadlines, the pick form's lines, and a refused store action to show again.

Presenters only arrange what the models say; the stage of a task is the model's
(``OrderFulfillment.stage``, the one state machine the services enforce) and what a
step did is the service's result, never recomputed here. The labels are the Suite's
words for each stage.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import datetime
from typing import Any

from orchestration.models import FulfillmentAction, Order, OrderFulfillment, OrderFulfillmentLine
from orchestration.models.fulfillments import OPEN_FULFILLMENT_STATUSES, TaskStage

# What a shop does next with a ship-from-store task, by the task's stage.
STAGE_LABELS = {
    TaskStage.NEW: "New: start it to take it on",
    TaskStage.STARTED: "Started: pick the lines",
    TaskStage.PICKED: "Picked: pack them",
    TaskStage.PACKED: "Packed: ship it",
}


def order_number(order: Order) -> str:
    """How the pages name an order: its number, else its ID."""
    return order.backend_id or f"#{order.pk}"


@dataclass(frozen=True)
class PickLine:
    """An open fulfilment line in the pick form, with what was typed (after a refusal)."""

    line: OrderFulfillmentLine
    value: str
    invalid: bool


@dataclass(frozen=True)
class Deadline:
    """One deadline of a task still to be met, whether it has passed, and what it is
    counted from (a pack deadline runs from the start, a ship deadline from packing)."""

    name: str
    at: datetime
    passed: bool
    why: str = ""


@dataclass(frozen=True)
class Refusal:
    """A store action the service refused: which task, why, and what was typed."""

    task: int
    action: str
    message: str
    field: str | None = None
    values: Mapping[str, str] = dataclass_field(default_factory=dict)


@dataclass(frozen=True)
class FulfillmentRow:
    """A fulfilment as the pages show it: its lines, deadlines and why lines ended."""

    item: OrderFulfillment
    lines: list[OrderFulfillmentLine]
    pick_lines: list[PickLine]
    reasons: list[str]
    deadlines: list[Deadline]

    @property
    def open_lines(self) -> list[OrderFulfillmentLine]:
        """Lines still to be done (for a return: still to arrive)."""
        return [line for line in self.lines if line.status in OPEN_FULFILLMENT_STATUSES]

    @property
    def stage_label(self) -> str:
        """What the shop does next, or the status once the task is over."""
        label = STAGE_LABELS.get(self.item.stage)
        return label if label is not None else self.item.get_status_display()

    @property
    def is_ship_from_store(self) -> bool:
        """Whether a shop works this fulfilment (start, pick, pack, ship)."""
        return self.item.action == FulfillmentAction.SHIP_FROM_STORE


@dataclass(frozen=True)
class TaskGroup:
    """The copies of one task (one per shop when it was fanned out), or one fulfilment."""

    rows: list[FulfillmentRow]

    @property
    def fanout(self) -> bool:
        """Whether the task was offered to more than one shop."""
        return len(self.rows) > 1 or any(row.item.is_fanout for row in self.rows)

    @property
    def started(self) -> FulfillmentRow | None:
        """The copy a shop started (the others were deactivated: Otherstore)."""
        return next((row for row in self.rows if row.item.started_at), None)

    @property
    def lead(self) -> FulfillmentRow:
        """The copy whose lines and progress the order page shows: the started one."""
        return self.started or self.rows[0]


def fulfillment_row(
    fulfillment: OrderFulfillment, now: datetime, refusal: Refusal | None = None
) -> FulfillmentRow:
    """``fulfillment`` (its lines prefetched) arranged for a page; the pick form shows
    again what was typed if ``refusal`` is about this task."""
    lines = sorted(fulfillment.lines.all(), key=lambda line: line.pk)
    mine = refusal if refusal is not None and refusal.task == fulfillment.pk else None
    pick_lines = [
        PickLine(
            line=line,
            value=(mine.values.get(f"picked-{line.pk}") if mine else None) or str(line.quantity),
            invalid=mine is not None and mine.field == f"picked-{line.pk}",
        )
        for line in lines
        if line.status in OPEN_FULFILLMENT_STATUSES
    ]
    deadlines = task_deadlines(fulfillment, now)
    return FulfillmentRow(
        item=fulfillment,
        lines=lines,
        pick_lines=pick_lines,
        reasons=sorted({line.cancellation_reason for line in lines if line.cancellation_reason}),
        deadlines=deadlines,
    )


def _after(deadline: datetime, since: datetime | None, step: str) -> str:
    if since is None:
        return ""
    minutes = round((deadline - since).total_seconds() / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''} after {step}"


def task_deadlines(fulfillment: OrderFulfillment, now: datetime) -> list[Deadline]:
    """The deadlines of the steps still to do, in the order they come: a step done
    shows when it was done instead (the page lists ``started_at``), so a pack deadline
    set when the task started never reads as earlier than a start deadline met."""
    # (step, its deadline, when it was done, what its deadline runs from and when)
    steps = (
        ("Start", fulfillment.start_deadline, fulfillment.started_at, "", None),
        (
            "Pack",
            fulfillment.pack_deadline,
            fulfillment.packed_at,
            "starting",
            fulfillment.started_at,
        ),
        (
            "Ship",
            fulfillment.ship_deadline,
            fulfillment.shipped_at,
            "packing",
            fulfillment.packed_at,
        ),
    )
    return [
        Deadline(name, at, at <= now, _after(at, since, counted) if counted else "")
        for name, at, done, counted, since in steps
        if at is not None and done is None
    ]


def task_groups(fulfillments: list[OrderFulfillment], now: datetime) -> list[TaskGroup]:
    """Fan-out copies together (by task key), in the order the fulfilments were made."""
    grouped: dict[str, list[FulfillmentRow]] = {}
    for fulfillment in fulfillments:
        key = fulfillment.task_key or f"#{fulfillment.pk}"
        grouped.setdefault(key, []).append(fulfillment_row(fulfillment, now))
    return [TaskGroup(rows) for rows in grouped.values()]


@dataclass(frozen=True)
class ReturnLineRow:
    """A line of the sales order on the return page, with what may come back."""

    line: Any
    returnable: int
    quantity: str
    reason: str
