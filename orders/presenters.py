"""What the order pages show of fulfilments, built from the models: rows, task groups,
deadlines, the pick form's lines, a refused store action to show again, the plan view
(the graph's JSON and the table of steps) and the timeline with the plans' transitions.

Presenters only arrange what the models say; the stage of a task is the model's
(``OrderFulfillment.stage``, the one state machine the services enforce) and what a
step did is the service's result, never recomputed here. The labels are the Suite's
words for each stage.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import UTC, datetime
from typing import Any

from orchestration.models import (
    AttemptOutcome,
    DependencyScope,
    FulfillmentAction,
    Order,
    OrderEvent,
    OrderFulfillment,
    OrderFulfillmentLine,
    Plan,
    PlanStep,
    PlanStepAttempt,
    PlanTransition,
    StepDependency,
    StepScope,
    StepState,
    StepType,
)
from orchestration.models.fulfillments import OPEN_FULFILLMENT_STATUSES, TaskStage
from orchestration.plans.conditions import ConditionError
from orchestration.services.plans import BOUND_ACTIONS, pause_holds

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


# --- Plans ------------------------------------------------------------------------------


def graph_state(state: str) -> str:
    """A stored state as the plan graph names it: ``IN_PROGRESS`` -> ``InProgress``."""
    return "".join(part.capitalize() for part in state.split("_"))


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def step_error(step: PlanStep) -> str:
    """A step's last error as one line: ``code: message`` (either may be blank)."""
    return ": ".join(part for part in (step.error_code, step.error) if part)


# The steps a worker runs, in attempts: for the others (a person's, a pause, a
# milestone) a count of attempts says nothing.
AUTOMATIC = (StepType.AUTO_TASK, StepType.CALLOUT)
# What an attempt's outcome means, where its label alone does not say it.
OUTCOME_NOTES: dict[str, str] = {
    AttemptOutcome.LOST: "the worker stopped before writing an outcome",
}


def done_by(transitions: Iterable[PlanTransition]) -> str:
    """Who completed a step: the person of its last move to Completed (a shop's
    action, *Done* on the order page, *Complete* in the fallout queue); blank when the
    plan itself did (``system:...``) or it is not completed."""
    actor = ""
    for transition in transitions:
        if (
            transition.to_state == StepState.COMPLETED
            and transition.from_state != StepState.COMPLETED
        ):
            actor = transition.actor
    return "" if actor.startswith("system:") else actor


def condition_words(condition: Any) -> str:
    """A stored condition as one line: ``Order.CustomFields.PaymentStatus = Captured``;
    several clauses numbered, with the logic: ``1. ...; 2. ... (1 OR 2)``."""
    if not isinstance(condition, Mapping) or not condition.get("clauses"):
        return ""
    clauses = []
    for clause in condition["clauses"]:
        value = clause.get("value")
        if isinstance(value, list):
            value = ", ".join(str(item) for item in value)
        text = f"{clause.get('field', '')} {clause.get('operator', '')}"
        clauses.append(text + ("" if value is None else f" {value}"))
    if len(clauses) == 1:
        return clauses[0]
    numbered = "; ".join(f"{n}. {text}" for n, text in enumerate(clauses, start=1))
    return f"{numbered} ({condition.get('logic') or 'ALL'})"


def pause_now(step: PlanStep) -> tuple[str, bool | None]:
    """A pause's resume condition in words and whether it holds now (None: not a pause,
    or a condition that cannot be evaluated on this order). ``step.plan.order`` is read."""
    if step.definition.type != StepType.PAUSE:
        return "", None
    try:
        holds: bool | None = pause_holds(step)
    except ConditionError:
        holds = None
    return condition_words(step.definition.resume_condition), holds


def _step_json(step: PlanStep, completed_by: str) -> dict[str, Any]:
    waits_for, holds = pause_now(step)
    return {
        "id": step.pk,
        "key": step.definition.key,
        "name": step.definition.name,
        "type": step.definition.type,
        "line": step.line_id,
        "state": graph_state(step.state),
        "attempts": step.attempts,
        "next_run_at": _iso(step.next_run_at),
        "at_risk": step.at_risk,
        "assignee": step.assignee.get_username() if step.assignee else "",
        "queue": step.queue,
        "done_by": completed_by,
        "waits_for": waits_for,
        "holds": holds,
        "error": step_error(step),
    }


def _by_step(plan: Plan) -> dict[int, list[PlanTransition]]:
    """The plan's step transitions (prefetched by ``order_plans``), by step."""
    transitions: dict[int, list[PlanTransition]] = {}
    for transition in plan.transitions.all():
        if transition.step_id is not None:
            transitions.setdefault(transition.step_id, []).append(transition)
    return transitions


def _edges(
    plan: Plan,
    dependencies: Iterable[StepDependency],
    by_key: Mapping[tuple[int, str], list[PlanStep]],
) -> list[dict[str, Any]]:
    """The plan's dependencies as the graph's edges, from the step waited for to the
    step that waits: a ``LINE`` one per line when both steps are a line's (else as
    ``PLAN``), a ``CROSS_PLAN`` one from the step of that key in every plan sharing the
    plan's group key (``by_key`` holds them, this plan's included)."""
    edges: list[dict[str, Any]] = []
    seen: set[tuple[int, int]] = set()

    def add(source: PlanStep, target: PlanStep, scope: str) -> None:
        if (source.pk, target.pk) not in seen:
            seen.add((source.pk, target.pk))
            edges.append({"from": source.pk, "to": target.pk, "scope": scope})

    for dependency in dependencies:
        if dependency.step.version_id != plan.version_id:
            continue
        waiting = by_key.get((plan.pk, dependency.step.key), [])
        if dependency.scope == DependencyScope.CROSS_PLAN:
            for target in waiting:
                for other in by_key.get((-1, dependency.depends_on.key), []):
                    if other.plan_id == plan.pk or (
                        plan.group_key and other.plan.group_key == plan.group_key
                    ):
                        add(other, target, DependencyScope.CROSS_PLAN)
            continue
        waited = by_key.get((plan.pk, dependency.depends_on.key), [])
        by_line = (
            dependency.scope == DependencyScope.LINE
            and dependency.step.scope == StepScope.LINE
            and dependency.depends_on.scope == StepScope.LINE
        )
        for target in waiting:
            for source in waited:
                if not by_line or source.line_id == target.line_id:
                    add(source, target, dependency.scope)
    return edges


def plan_graph(
    plans: list[Plan],
    dependencies: Iterable[StepDependency],
    cross_plan_steps: Iterable[PlanStep] = (),
) -> dict[str, Any]:
    """The JSON ``PlanGraph.render`` takes (``/orders/<pk>/plan.json``, docs/plans.md
    "Plan view"): each plan with its group, version, state, steps and edges; states in
    the graph's CamelCase. ``plans`` come from ``order_plans`` (steps prefetched);
    ``cross_plan_steps``, the steps of other plans a cross-plan dependency waits for."""
    dependencies = list(dependencies)
    by_key: dict[tuple[int, str], list[PlanStep]] = {}
    for plan in plans:
        for step in plan.steps.all():
            step.plan = plan  # the prefetch does not set it
            by_key.setdefault((plan.pk, step.definition.key), []).append(step)
            by_key.setdefault((-1, step.definition.key), []).append(step)
    for step in cross_plan_steps:
        by_key.setdefault((-1, step.definition.key), []).append(step)
    return {
        "plans": [
            {
                "id": plan.pk,
                "group": plan.version.group.name,
                "version": plan.version.number,
                "state": graph_state(plan.state),
                "steps": [
                    _step_json(step, done_by(transitions.get(step.pk, ())))
                    for step in plan.steps.all()
                ],
                "edges": _edges(plan, dependencies, by_key),
            }
            for plan in plans
            for transitions in (_by_step(plan),)
        ]
    }


@dataclass(frozen=True)
class PlanStepRow:
    """A step in the plan view's table, with its attempts and transitions."""

    step: PlanStep
    attempts: list[PlanStepAttempt]
    transitions: list[PlanTransition]

    @property
    def error(self) -> str:
        return step_error(self.step)

    @property
    def automatic(self) -> bool:
        """A worker runs it (an auto task, a callout): its attempts are worth counting."""
        return self.step.definition.type in AUTOMATIC

    @property
    def manual(self) -> bool:
        return self.step.definition.type == StepType.MANUAL

    @property
    def done_by(self) -> str:
        return done_by(self.transitions)

    @property
    def pause(self) -> tuple[str, bool | None]:
        """(its resume condition in words, whether it holds now) for a pause."""
        return pause_now(self.step)

    @property
    def attempt_rows(self) -> list[tuple[PlanStepAttempt, str]]:
        """Each attempt with its outcome's label, explained where the label alone does
        not say it (Lost)."""
        rows = []
        for attempt in self.attempts:
            label = attempt.get_outcome_display()
            note = OUTCOME_NOTES.get(attempt.outcome)
            rows.append((attempt, f"{label}: {note}" if note else label))
        return rows

    @property
    def graph_state(self) -> str:
        return graph_state(self.step.state)

    @property
    def doable(self) -> bool:
        """A manual step a person marks done here (not one of the fulfilment's own
        actions, which are done on the task list or by the warehouse)."""
        definition = self.step.definition
        return (
            definition.type == StepType.MANUAL
            and definition.handler not in BOUND_ACTIONS
            and self.step.state in (StepState.READY, StepState.IN_PROGRESS)
        )


@dataclass(frozen=True)
class PlanTable:
    """A plan as the order page's table lists it."""

    plan: Plan
    rows: list[PlanStepRow]


def plan_tables(plans: list[Plan]) -> list[PlanTable]:
    """Each plan's steps in the version's order, each with its attempts and its own
    transitions (from ``order_plans``'s prefetches: no further statement)."""
    tables = []
    for plan in plans:
        transitions = _by_step(plan)
        for step in plan.steps.all():
            step.plan = plan  # the prefetch does not set it (a pause reads its order)
        tables.append(
            PlanTable(
                plan=plan,
                rows=[
                    PlanStepRow(
                        step=step,
                        attempts=list(step.attempt_rows.all()),
                        transitions=transitions.get(step.pk, []),
                    )
                    for step in plan.steps.all()
                ],
            )
        )
    return tables


@dataclass(frozen=True)
class TimelineEntry:
    """One row of the order's timeline: an order event, or a plan's transition."""

    at: datetime
    actor: str
    message: str
    kind: str
    event: OrderEvent | None = None
    transition: PlanTransition | None = None

    @property
    def is_plan(self) -> bool:
        return self.transition is not None


def timeline(
    events: Iterable[OrderEvent], transitions: Iterable[PlanTransition]
) -> list[TimelineEntry]:
    """The order's events and its plans' transitions in time order; at the same
    moment an event comes first (the action that moved the plan), then each in the
    order it was written."""
    entries = [
        (
            (event.at, 0, event.pk),
            TimelineEntry(
                at=event.at, actor=event.actor, message=event.message, kind=event.kind, event=event
            ),
        )
        for event in events
    ] + [
        (
            (transition.at, 1, transition.pk),
            TimelineEntry(
                at=transition.at,
                actor=transition.actor,
                message=transition.message,
                kind="plan.step" if transition.step_id else "plan",
                transition=transition,
            ),
        )
        for transition in transitions
    ]
    return [entry for _, entry in sorted(entries, key=lambda pair: pair[0])]
