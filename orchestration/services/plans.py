"""Running fulfilment plans (``docs/plans.md``): build, advance, run a step, fallout.

The rules are the pure core's (``orchestration/plans/``): which pending step is
ready, scheduled or skipped, when a failed step is retried, when a running one is
at risk. This module stores what it decides, puts each transition on the order's
timeline with who or what did it, and sends a task only for a step that is Ready
and automatic, once the transaction commits. Rows drive it: no chords, no long
countdowns; due steps (scheduled, to retry) and jeopardy are swept by beat.

- ``plans_build``: a plan per new fulfilment, from the first matching scenario's
  active group version; then advanced.
- ``plan_advance``: applies the core's transitions until none is left.
- ``plan_step_run``: one attempt of an automatic step (auto task or callout). The
  attempt row is unique on (step, number) and written first in its own
  transaction, so a redelivered message or a second worker finds it taken and
  does nothing; the outcome is written with the step's lock.
- ``plan_manual_step_done``: a person did a manual step's work (the shop's start,
  pick, pack or ship call this with the action).
- ``plan_steps_retry`` / ``plan_steps_complete``: the fallout queue's bulk actions.
- ``plans_sweep``: due steps, pauses and jeopardy, for beat.
"""

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import F, Subquery
from django.utils import timezone

from ..errors import ApplicationError, ConflictError, NotFoundError
from ..integrations.steps import StepContext, StepError, callout, handler_for
from ..models import (
    AttemptOutcome,
    DependencyScope,
    FulfillmentStatus,
    NetworkVersion,
    Order,
    OrderFulfillment,
    Plan,
    PlanPurpose,
    PlanState,
    PlanStep,
    PlanStepAttempt,
    PlanTransition,
    StepGroupVersion,
    StepState,
    StepType,
)
from ..plans import model as pure
from ..plans.conditions import holds
from ..plans.retries import next_retry_at
from ..plans.runtime import StepRun, advance, at_risk, plan_state
from ..selectors.network import PlanScenarioEntry, PlanVersion
from ..selectors.plans import (
    fallout_rule_for,
    group_spec,
    order_record,
    orders_with_changes_due,
    plan_steps,
    step_spec,
)
from ..tasks import order_changes_apply_task, plan_step_run_task
from .events import actor_of
from .plan_assignment import plan_step_assign
from .sending import task_send, task_send_on_commit

AUTOMATIC = (StepType.AUTO_TASK, StepType.CALLOUT)
# Handlers that are the fulfilment's own actions: a step naming one (a shop's manual
# start, pick, pack and ship; a warehouse export; a return's arrival) is done when
# that action is, through ``plan_manual_step_done``, never by the worker.
BOUND_ACTIONS = frozenset({"start", "pick", "pack", "ship", "export", "receive"})
# Steps the sweep moves per run (each plan in its own transaction).
BATCH = 500
# Transitions applied to one plan in one call, at most: a plan of n steps needs n
# rounds at most; this bounds a plan with a bug in the core.
MAX_ROUNDS = 1_000


def plans_build(
    *,
    order: Order,
    fulfillments: Sequence[tuple[OrderFulfillment, Sequence[int]]],
    now: datetime,
    scenarios: Sequence[PlanScenarioEntry],
    lines: Mapping[int, Mapping[str, Any]] | None = None,
) -> list[Plan]:
    """A plan for each fulfilment (with its order lines' IDs) a scenario matches, in
    the caller's transaction (the run's). ``lines`` are the order lines' records
    (``selectors.plans.line_records``): a scenario's condition holds for a fulfilment
    when it holds for one of its lines, and line-scoped steps' conditions read them.

    ``scenarios`` are the network snapshot's (``plan_scenarios``), each with its
    group's active version read once per network token: without any, nothing is
    read or written. The steps' first moves (the core's ``advance`` from all
    Pending) are made in memory, so that every plan of the run costs three
    statements together: its plans, their steps, and their transitions.
    """
    if not scenarios:
        return []
    record = order_record(order)
    plans: list[Plan] = []
    steps: list[PlanStep] = []
    transitions: list[tuple[PlanStep | None, Plan, PlanTransition]] = []
    ready: list[PlanStep] = []
    to_assign: list[PlanStep] = []
    for fulfillment, line_ids in fulfillments:
        version = _scenario_version(
            fulfillment,
            [lines[i] for i in line_ids if i in lines] if lines else [record],
            scenarios,
        )
        if version is None:
            continue
        plan = Plan(
            order=order,
            fulfillment=fulfillment,
            version_id=version.id,
            group_key=order.customer_email,
        )
        plans.append(plan)
        instances = [
            (spec.key, line)
            for spec in version.spec.steps
            for line in (line_ids if spec.scope is pure.Scope.LINE else [None])
        ]
        keys = [key for key, _ in instances]
        made = [
            PlanStep(
                plan=plan,
                definition_id=version.definitions[key],
                line_id=line,
                idempotency_key=uuid.uuid4().hex,
            )
            for key, line in instances
        ]
        runs = {
            index: StepRun(id=index, key=key, line=step.line_id, state=pure.StepState.PENDING)
            for index, (key, step) in enumerate(zip(keys, made, strict=True))
        }
        transitions.append(
            (
                None,
                plan,
                PlanTransition(
                    to_state=PlanState.NOT_STARTED,
                    at=now,
                    actor="system:plans",
                    message=f"Plan {version.name} built with {len(made)} steps.",
                ),
            )
        )
        moved = _first_moves(
            version, plan, made, keys, runs, record, now, order.placed_at, lines or {}
        )
        transitions += moved.transitions
        ready += moved.ready
        to_assign += moved.to_assign
        plan.state = PlanState(str(plan_state(list(runs.values()))))
        if plan.state != PlanState.NOT_STARTED:
            group_name = version.name.rsplit(", version ", 1)[0]
            transitions.append(
                (
                    None,
                    plan,
                    PlanTransition(
                        from_state=PlanState.NOT_STARTED,
                        to_state=plan.state,
                        at=now,
                        actor="system:plans",
                        message=f"Plan {group_name}: {plan.get_state_display()}.",
                    ),
                )
            )
        steps += made
    if not plans:
        return []
    Plan.objects.bulk_create(plans)
    for step in steps:
        step.plan_id = step.plan.pk
    PlanStep.objects.bulk_create(steps)
    rows = []
    for owner, plan, row in transitions:
        row.plan_id = plan.pk
        row.step_id = owner.pk if owner is not None else None
        rows.append(row)
    PlanTransition.objects.bulk_create(rows)
    for step in to_assign:
        plan_step_assign(step=step, now=now)
    if ready:
        task_send_on_commit(
            task=plan_step_run_task, ids=[step.pk for step in ready], noun="plan step"
        )
    return plans


def _automatic(spec: pure.StepSpec) -> bool:
    """For the worker: an auto task or a callout that is not the fulfilment's own action."""
    return (
        spec.type in (pure.StepType.AUTO_TASK, pure.StepType.CALLOUT)
        and spec.handler not in BOUND_ACTIONS
    )


@dataclass(slots=True)
class _Moves:
    transitions: list[tuple[PlanStep | None, Plan, PlanTransition]] = field(default_factory=list)
    ready: list[PlanStep] = field(default_factory=list)
    to_assign: list[PlanStep] = field(default_factory=list)


def _first_moves(
    version: PlanVersion,
    plan: Plan,
    made: list[PlanStep],
    keys: list[str],
    runs: dict[int, StepRun],
    record: Mapping[str, Any],
    now: datetime,
    placed_at: datetime,
    lines: Mapping[int, Mapping[str, Any]],
) -> _Moves:
    """The core's first ``advance`` of a new plan, applied to its unsaved steps (and
    ``runs``, in place); the transitions to write and the steps to send or assign."""
    moves = _Moves()
    transitions, ready, to_assign = moves.transitions, moves.ready, moves.to_assign
    for transition in advance(
        version.spec, list(runs.values()), record, now, placed_at, lines=lines
    ):
        step = made[transition.step_id]
        before = step.state
        step.state = StepState(str(transition.to_state))
        step.next_run_at = transition.next_run_at
        if transition.to_state in (pure.StepState.READY, pure.StepState.IN_PROGRESS):
            step.started_at = step.started_at or now
        if transition.to_state in (pure.StepState.COMPLETED, pure.StepState.SKIPPED):
            step.completed_at = now
        runs[transition.step_id] = replace(
            runs[transition.step_id], state=transition.to_state, started_at=step.started_at
        )
        spec = _spec_of(version, keys[transition.step_id])
        row = _step_transition(step, spec.name, transition.reason, now, "system:plans", before)
        transitions.append((step, plan, row))
        if step.state == StepState.READY and _automatic(spec):
            ready.append(step)
        if step.state == StepState.READY and spec.key in version.assigned:
            to_assign.append(step)
    return moves


def _spec_of(version: PlanVersion, key: str) -> pure.StepSpec:
    return next(spec for spec in version.spec.steps if spec.key == key)


def _scenario_version(
    fulfillment: OrderFulfillment,
    records: Sequence[Mapping[str, Any]],
    scenarios: Sequence[PlanScenarioEntry],
) -> PlanVersion | None:
    """The active version of the first scenario (by priority) that matches the
    fulfilment's action and, for one of its lines' records, its condition."""
    for scenario in scenarios:
        if scenario.action != fulfillment.action or scenario.version is None:
            continue
        condition = scenario.condition
        if condition is None or any(holds(condition, record) for record in records):
            return scenario.version
    return None


def _run(step: PlanStep) -> StepRun:
    return StepRun(
        id=step.pk,
        key=step.definition.key,
        line=step.line_id,
        state=pure.StepState(step.state),
        started_at=step.started_at,
        completed_at=step.completed_at,
        next_run_at=step.next_run_at,
    )


def plan_advance(
    *, plan_id: int, now: datetime, actor: str = "system:plans", _sibling: bool = False
) -> int:
    """Apply the core's transitions to the plan until none is left; return how many.

    Ready automatic steps are sent to the worker once the transaction commits.
    """
    with transaction.atomic():
        plan = (
            Plan.objects.select_for_update()
            .select_related("order", "version__group")
            .annotate(
                network_token=Subquery(NetworkVersion.objects.filter(pk=1).values("token")[:1])
            )
            .get(pk=plan_id)
        )
        if plan.state in (PlanState.FREEZING, PlanState.FROZEN, PlanState.COMPLETED):
            if plan.state == PlanState.FREEZING:
                # A step of a plan an in-flight change froze has ended: the change may
                # be applied now (``services/order_changes.py``).
                task_send_on_commit(
                    task=order_changes_apply_task, ids=[plan.order_id], noun="order"
                )
            return 0
        group = _version_spec(plan.version, plan.network_token)
        record = order_record(plan.order)
        steps = {step.pk: step for step in plan_steps(plan)}
        applied = 0
        ready: list[int] = []
        crossing = any(d.scope is pure.DependencyScope.CROSS_PLAN for d in group.dependencies)
        for _ in range(MAX_ROUNDS):
            transitions = advance(
                group,
                [_run(step) for step in steps.values()],
                record,
                now,
                plan.order.placed_at,
                cross_plan=_done_in_every_plan(plan) if crossing else frozenset(),
            )
            if not transitions:
                break
            for transition in transitions:
                step = steps[transition.step_id]
                before = step.state
                _transition_store(step, transition.to_state, now, transition.next_run_at)
                _transition_record(plan, step, transition.reason, now, actor, before)
                if step.state == StepState.READY and step.definition.type == StepType.MANUAL:
                    plan_step_assign(step=step, now=now)
                if _for_the_worker(step):
                    ready.append(step.pk)
                applied += 1
        _plan_state_store(plan, [_run(step) for step in steps.values()], now)
        if ready:
            task_send_on_commit(task=plan_step_run_task, ids=ready, noun="plan step")
    if applied and plan.group_key and not _sibling:
        # A step done here may be what a plan sharing the group key waits for.
        for sibling in _siblings_waiting(plan):
            plan_advance(plan_id=sibling, now=now, actor=actor, _sibling=True)
    return applied


# Versions' specs, kept per network token (read with the plan's lock): the token
# changes whenever a step definition or dependency is saved (selectors/network.py),
# so a spec is never used past a change, nor an ID that a rolled-back transaction
# gave out taken for another version. Without a token nothing is kept.
_SPECS: dict[tuple[str, int], pure.GroupSpec] = {}
_SPECS_KEPT = 256


def _version_spec(version: StepGroupVersion, token: str | None) -> pure.GroupSpec:
    """The version's spec, read once per network token."""
    if token is None:
        return group_spec(version)
    key = (token, version.pk)
    spec = _SPECS.get(key)
    if spec is None:
        spec = group_spec(version)
        if len(_SPECS) >= _SPECS_KEPT:
            _SPECS.clear()
        _SPECS[key] = spec
    return spec


def _done_in_every_plan(plan: Plan) -> frozenset[str]:
    """The step keys Completed or Skipped in every open plan sharing ``plan``'s group
    key (this one included): what a CROSS_PLAN dependency waits for."""
    plans = Plan.objects.filter(group_key=plan.group_key).exclude(state=PlanState.FROZEN)
    rows = PlanStep.objects.filter(plan__in=plans).values_list(
        "plan_id", "definition__key", "state"
    )
    done: dict[str, set[int]] = {}
    every = set(plans.values_list("pk", flat=True))
    for plan_id, key, state in rows:
        if state in (StepState.COMPLETED, StepState.SKIPPED):
            done.setdefault(key, set()).add(plan_id)
    having: dict[str, set[int]] = {}
    for plan_id, key, _ in rows:
        having.setdefault(key, set()).add(plan_id)
    return frozenset(
        key for key, plan_ids in having.items() if plan_ids == done.get(key, set()) and every
    )


def _siblings_waiting(plan: Plan) -> list[int]:
    """Other plans with the same group key whose version has a cross-plan dependency
    and which still have Pending steps."""
    return list(
        Plan.objects.filter(
            group_key=plan.group_key,
            state__in=[PlanState.NOT_STARTED, PlanState.IN_PROGRESS],
            steps__state=StepState.PENDING,
            version__steps__dependencies__scope=DependencyScope.CROSS_PLAN,
        )
        .exclude(pk=plan.pk)
        .values_list("pk", flat=True)
        .distinct()
    )


def _for_the_worker(step: PlanStep) -> bool:
    """A Ready automatic step that is not one of the fulfilment's own actions."""
    return (
        step.state == StepState.READY
        and step.definition.type in AUTOMATIC
        and step.definition.handler not in BOUND_ACTIONS
    )


def _transition_store(
    step: PlanStep, to: pure.StepState, now: datetime, next_run_at: datetime | None
) -> None:
    step.state = StepState(str(to))
    step.next_run_at = next_run_at
    # A step's clock (jeopardy) runs from when it was handed out: Ready, or In Progress.
    if to in (pure.StepState.READY, pure.StepState.IN_PROGRESS) and step.started_at is None:
        step.started_at = now
    if to in (pure.StepState.COMPLETED, pure.StepState.SKIPPED):
        step.completed_at = now
    step.save(update_fields=["state", "next_run_at", "started_at", "completed_at", "updated_at"])


def _step_transition(
    step: PlanStep, name: str, reason: str, now: datetime, actor: str, before: str = ""
) -> PlanTransition:
    """The (unsaved) timeline row of ``step``'s move to its current state."""
    line = f" (line {step.line_id})" if step.line_id else ""
    return PlanTransition(
        plan_id=step.plan_id,
        step=step,
        from_state=before,
        to_state=step.state,
        at=now,
        actor=actor,
        message=f"{name}{line}: {step.get_state_display()}"
        + (f" ({reason})" if reason else "")
        + ".",
    )


def _transition_record(
    plan: Plan, step: PlanStep, reason: str, now: datetime, actor: str, before: str = ""
) -> None:
    _step_transition(step, step.definition.name, reason, now, actor, before).save()


def _done_by(step: PlanStep, user: User | None, now: datetime, reason: str) -> None:
    """A person did ``step``: Completed by them (if signed in), on the timeline."""
    previous = step.state
    step.state = StepState.COMPLETED
    step.started_at = step.started_at or now
    step.completed_at = now
    if user is not None and user.is_authenticated:
        step.assignee = user
    step.save()
    _transition_record(step.plan, step, reason, now, actor_of(user, "plans"), previous)


def _plan_state_store(plan: Plan, runs: Sequence[StepRun], now: datetime) -> None:
    state = PlanState(str(plan_state(runs)))
    if state != plan.state:
        before = plan.state
        plan.state = state
        plan.completed_at = now if state == PlanState.COMPLETED else None
        plan.save(update_fields=["state", "completed_at", "updated_at"])
        PlanTransition.objects.create(
            plan=plan,
            from_state=before,
            to_state=state,
            at=now,
            actor="system:plans",
            message=f"Plan {plan.version.group.name}: {plan.get_state_display()}.",
        )


def plan_step_run(*, step_id: int, now: datetime | None = None) -> None:
    """Run one attempt of a Ready automatic step (the task's body); see the module."""
    now = now or timezone.now()
    with transaction.atomic():
        step = (
            PlanStep.objects.select_for_update()
            .select_related("definition", "plan__order")
            .filter(pk=step_id)
            .first()
        )
        if step is None or not _for_the_worker(step):
            return  # done already, or not for a worker: a second delivery does nothing
        if step.plan.state == PlanState.FREEZING:
            return  # nothing starts in a plan frozen for a change: sent again when it thaws
        number = step.attempts + 1
        # The step's row lock makes a second worker wait and then find it In Progress;
        # the attempt's unique (step, number) is the database's own guard behind it
        # (a duplicate rolls this transaction back whole, and nothing runs).
        PlanStepAttempt.objects.create(step=step, number=number, started_at=now)
        step.attempts = number
        step.state = StepState.IN_PROGRESS
        step.started_at = step.started_at or now
        step.save(update_fields=["attempts", "state", "started_at", "updated_at"])
    definition, order = step.definition, step.plan.order
    context = StepContext(
        step_id=step.pk,
        step_key=definition.key,
        order_id=order.pk,
        order_backend_id=order.backend_id or "",
        line_id=step.line_id,
        fulfillment_id=step.plan.fulfillment_id,
        idempotency_key=step.idempotency_key,
        attempt=number,
        record=order_record(order),
    )
    error: StepError | None = None
    try:
        if definition.type == StepType.CALLOUT:
            callout(
                url=definition.url,
                payload={
                    "order": order.backend_id or order.pk,
                    "step": definition.key,
                    "line": step.line_id,
                    "attempt": number,
                },
                idempotency_key=step.idempotency_key,
                timeout=definition.timeout_seconds,
            )
        else:
            handler_for(definition.handler)(context)
    except StepError as failure:
        error = failure
    except Exception as failure:  # a handler's bug is the step's failure, not the worker's
        error = StepError("Unexpected", f"{type(failure).__name__}: {failure}")
    _attempt_finish(step_id=step.pk, number=number, error=error, now=timezone.now())


def _attempt_finish(*, step_id: int, number: int, error: StepError | None, now: datetime) -> None:
    with transaction.atomic():
        step = (
            PlanStep.objects.select_for_update()
            .select_related("definition", "plan")
            .get(pk=step_id)
        )
        PlanStepAttempt.objects.filter(step=step, number=number).update(
            finished_at=now,
            outcome=AttemptOutcome.FAILED if error else AttemptOutcome.COMPLETED,
            error_code=error.code if error else "",
            error=error.message if error else "",
        )
        if error is None:
            step.state = StepState.COMPLETED
            step.completed_at = now
            step.error_code = step.error = ""
            reason = f"attempt {number}"
        else:
            step.error_code, step.error = error.code, error.message
            retry_at = next_retry_at(step_spec(step.definition).retry, number, now)
            if retry_at is None:
                step.state = StepState.FATALLY_FAILED
                rule = fallout_rule_for(step.definition.key, error.code)
                step.fallout_queue = rule.queue if rule else "default"
                reason = (
                    f"attempt {number}: {error.code}: {error.message}; "
                    f"to the fallout queue {step.fallout_queue}"
                )
            else:
                step.state = StepState.FAILED
                reason = (
                    f"attempt {number}: {error.code}: {error.message}; "
                    f"retried at {retry_at:%Y-%m-%d %H:%M}"
                )
            step.next_run_at = retry_at
        step.save()
        _transition_record(step.plan, step, reason, now, "system:plans")
    plan_advance(plan_id=step.plan_id, now=now)


@transaction.atomic
def plan_manual_step_done(
    *, fulfillment: OrderFulfillment, handler: str, user: User | None, now: datetime
) -> int:
    """Complete the manual steps bound to ``handler`` (a fulfilment action such as
    ``start``) in the fulfilment's plan; return how many. In the caller's
    transaction: a step that is not Ready yet (it waits for another, e.g. the
    payment) refuses the action with a ``ConflictError`` naming it, and the caller's
    transaction rolls back whole. A plan without such a step is left as it is: the
    action is the fulfilment's own."""
    steps = list(
        PlanStep.objects.select_for_update()
        .filter(plan__fulfillment=fulfillment, definition__handler=handler)
        .exclude(
            state__in=[
                StepState.COMPLETED,
                StepState.SKIPPED,
                StepState.CANCELED,
                StepState.DISCARDED,
            ]
        )
        .select_related("definition", "plan")
    )
    waiting = [s for s in steps if s.state not in (StepState.READY, StepState.IN_PROGRESS)]
    if waiting:
        step = waiting[0]
        raise ConflictError(
            f"The plan's step {step.definition.name!r} is {step.get_state_display()}: "
            "it waits for the steps before it.",
            code="step_not_ready",
        )
    actor = actor_of(user, "plans")
    for step in steps:
        _done_by(step, user, now, f"done by {actor}")
    for plan_id in {step.plan_id for step in steps}:
        plan_advance(plan_id=plan_id, now=now, actor=actor)
    return len(steps)


def plan_steps_retry(*, step_ids: Sequence[int], user: User, note: str, now: datetime) -> int:
    """Send fatally failed steps back to Ready (the fallout queue's bulk retry)."""
    return _fallout_resolve(step_ids, user, note, now, StepState.READY, "retried by hand")


def plan_steps_complete(*, step_ids: Sequence[int], user: User, note: str, now: datetime) -> int:
    """Mark fatally failed steps Completed, ignoring their error (the bulk complete)."""
    return _fallout_resolve(step_ids, user, note, now, StepState.COMPLETED, "completed by hand")


def _fallout_resolve(
    step_ids: Sequence[int], user: User, note: str, now: datetime, to: StepState, what: str
) -> int:
    if not note.strip():
        raise ApplicationError("Say why in a note.", code="required", field="note")
    with transaction.atomic():
        steps = list(
            PlanStep.objects.select_for_update()
            .filter(pk__in=step_ids)
            .select_related("definition", "plan")
        )
        refused = [s.pk for s in steps if s.state != StepState.FATALLY_FAILED]
        missing = sorted(set(step_ids) - {s.pk for s in steps})
        if refused or missing:
            raise ApplicationError(
                f"Only fatally failed steps can be {what}; not steps "
                f"{', '.join(map(str, sorted(refused + missing)))}.",
                code="invalid_state",
                field="steps",
            )
        for step in steps:
            step.state = to
            step.note = note.strip()
            step.fallout_queue = ""
            step.next_run_at = None
            if to == StepState.COMPLETED:
                step.completed_at = now
            step.save()
            _transition_record(
                step.plan, step, f"{what}: {note.strip()}", now, actor_of(user, "plans")
            )
        for plan_id in {step.plan_id for step in steps}:
            plan_advance(plan_id=plan_id, now=now, actor=actor_of(user, "plans"))
        ready = [s.pk for s in steps if _for_the_worker(s)]
        if ready:
            task_send_on_commit(task=plan_step_run_task, ids=ready, noun="plan step")
    return len(steps)


def plans_sweep(*, now: datetime) -> dict[str, int]:
    """Due scheduled and failed steps become Ready (and are sent); pauses are checked
    again; running steps past their jeopardy threshold turn At Risk; pending in-flight
    changes whose plans stopped running are sent to be applied."""
    due = list(
        PlanStep.objects.filter(
            state__in=[StepState.SCHEDULED, StepState.FAILED], next_run_at__lte=now
        ).values_list("plan_id", "pk", "state")[:BATCH]
    )
    retried = 0
    for plan_id, step_id, state in due:
        if state == StepState.FAILED:
            with transaction.atomic():
                updated = PlanStep.objects.filter(pk=step_id, state=StepState.FAILED).update(
                    state=StepState.READY, next_run_at=None
                )
                if updated:
                    task_send_on_commit(task=plan_step_run_task, ids=[step_id], noun="plan step")
                    retried += 1
        else:
            plan_advance(plan_id=plan_id, now=now)
    paused = list(
        PlanStep.objects.filter(state=StepState.IN_PROGRESS, definition__type=StepType.PAUSE)
        .values_list("plan_id", flat=True)
        .distinct()[:BATCH]
    )
    for plan_id in paused:
        plan_advance(plan_id=plan_id, now=now)
    ended = plans_of_ended_fulfillments_end(now=now)
    risky = 0
    for step in PlanStep.objects.filter(
        state__in=[StepState.IN_PROGRESS, StepState.READY],
        at_risk=False,
        definition__estimated_minutes__isnull=False,
    ).select_related("definition")[:BATCH]:
        if at_risk(step_spec(step.definition), _run(step), now):
            PlanStep.objects.filter(pk=step.pk).update(at_risk=True)
            risky += 1
    changes = task_send(
        task=order_changes_apply_task, ids=orders_with_changes_due(limit=BATCH), noun="order"
    )
    return {
        "plans_ended": ended,
        "steps_due": len(due),
        "steps_retried": retried,
        "pauses": len(paused),
        "at_risk": risky,
        "changes_due": changes,
    }


def plans_for_order_changed(*, order: Order, now: datetime) -> None:
    """The order changed: its plans' pauses (and conditions) are looked at again."""
    plans = Plan.objects.filter(order=order).exclude(state=PlanState.COMPLETED)
    for plan_id in plans.values_list("pk", flat=True):
        plan_advance(plan_id=plan_id, now=now)


def pause_holds(step: PlanStep) -> bool:
    """Whether a pause's resume condition holds now (for the plan view)."""
    condition = step_spec(step.definition).resume_condition
    return condition is not None and holds(condition, order_record(step.plan.order))


# A point-of-no-return step has started once it is in any of these states.
STARTED = (
    StepState.IN_PROGRESS,
    StepState.COMPLETED,
    StepState.FAILED,
    StepState.FATALLY_FAILED,
)


def plans_point_of_no_return_check(*, order_line_ids: Sequence[int], change: str) -> None:
    """Refuse (409) a change touching these order lines when a plan of a fulfilment
    holding them has started a point-of-no-return step: the message names the step,
    its plan and its state. Reads only; the caller's transaction writes nothing."""
    passed = (
        PlanStep.objects.filter(
            definition__point_of_no_return=True,
            state__in=STARTED,
            plan__purpose=PlanPurpose.MAIN,
            plan__fulfillment__lines__order_line_id__in=order_line_ids,
        )
        .select_related("definition", "plan__version__group")
        .order_by("pk")
        .first()
    )
    if passed is not None:
        raise ConflictError(
            f"{change} is refused: step {passed.definition.name!r} of the plan "
            f"{passed.plan.version.group.name!r} is {passed.get_state_display()}, and it is "
            "a point of no return.",
            code="point_of_no_return",
        )


@transaction.atomic
def plans_undo(
    *, fulfillment_ids: Sequence[int], reason: str, user: User | None, now: datetime
) -> list[int]:
    """Freeze the fulfilments' main plans for a change and end them: completed steps
    are Canceled, the others Discarded (in reverse order, as cancel groups run), each
    on the plan's timeline; return the plans' IDs. (A change then runs the cancel
    groups of the Canceled steps: ``services/plan_changes.py``.)"""
    actor = actor_of(user, "plans")
    plans = list(
        Plan.objects.select_for_update()
        .filter(fulfillment_id__in=fulfillment_ids, purpose=PlanPurpose.MAIN)
        .exclude(state=PlanState.FROZEN)
        .select_related("version__group")
    )
    for plan in plans:
        before = plan.state
        plan.state = PlanState.FROZEN
        plan.revision = F("revision") + 1
        plan.save(update_fields=["state", "revision", "updated_at"])
        PlanTransition.objects.create(
            plan=plan,
            from_state=before,
            to_state=PlanState.FROZEN,
            at=now,
            actor=actor,
            message=f"Plan {plan.version.group.name}: Frozen ({reason}).",
        )
        steps = list(
            plan_steps(plan).exclude(
                state__in=[StepState.CANCELED, StepState.DISCARDED, StepState.SKIPPED]
            )
        )
        for step in reversed(steps):
            previous = step.state
            step.state = (
                StepState.CANCELED if step.state == StepState.COMPLETED else StepState.DISCARDED
            )
            step.next_run_at = None
            step.save(update_fields=["state", "next_run_at", "updated_at"])
            _transition_record(plan, step, reason, now, actor, previous)
    return [plan.pk for plan in plans]


def plans_amended(
    *, fulfillment_ids: Sequence[int], reason: str, user: User | None, now: datetime
) -> list[int]:
    """Note on the main plans of fulfilments a change shrank (but did not end) that
    they go on for the lines left; return their IDs."""
    plans = list(
        Plan.objects.filter(fulfillment_id__in=fulfillment_ids, purpose=PlanPurpose.MAIN)
        .select_related("version__group")
        .order_by("pk")
    )
    for plan in plans:
        PlanTransition.objects.create(
            plan=plan,
            from_state=plan.state,
            to_state=plan.state,
            at=now,
            actor=actor_of(user, "plans"),
            message=f"Plan {plan.version.group.name}: amended ({reason}); it goes on for "
            "the lines left.",
        )
    return [plan.pk for plan in plans]


@transaction.atomic
def plans_of_ended_fulfillments_end(*, now: datetime, limit: int = BATCH) -> int:
    """Plans whose fulfilment ended without them (a fanned-out copy another shop
    started, a declined or expired task, a cancelled export) are frozen and their
    steps Canceled or Discarded, as for a change; return how many. Called when such a
    fulfilment ends, and by the sweep for whatever ended elsewhere."""
    ended = list(
        Plan.objects.filter(
            fulfillment__status__in=[FulfillmentStatus.DEACTIVATED, FulfillmentStatus.CANCELLED],
            purpose=PlanPurpose.MAIN,
        )
        .exclude(state__in=[PlanState.FROZEN, PlanState.COMPLETED])
        .values_list("fulfillment_id", "fulfillment__status")[:limit]
    )
    for status in {status for _, status in ended}:
        plans_undo(
            fulfillment_ids=[f for f, s in ended if s == status],
            reason=f"the fulfillment is {FulfillmentStatus(status).label}",
            user=None,
            now=now,
        )
    return len(ended)


def plan_step_done(
    *, step_id: int, user: User, note: str = "", now: datetime | None = None
) -> PlanStep:
    """A person did a manual step's work (one not bound to a fulfilment's action:
    those are done by the action, ``plan_manual_step_done``): Completed by them,
    with their note, and the plan advances. Refused (409) unless the step is a
    manual one that is Ready or In Progress."""
    now = now or timezone.now()
    with transaction.atomic():
        step = (
            PlanStep.objects.select_for_update()
            .select_related("definition", "plan")
            .filter(pk=step_id)
            .first()
        )
        if step is None:
            raise NotFoundError(f"There is no plan step {step_id}.", code="not_found")
        definition = step.definition
        if definition.type != StepType.MANUAL:
            raise ConflictError(
                f"{definition.name!r} is {definition.get_type_display().lower()}: the plan does "
                "it, not a person.",
                code="not_manual",
            )
        if definition.handler in BOUND_ACTIONS:
            raise ConflictError(
                f"{definition.name!r} is done by the fulfilment's own action "
                f"({definition.handler}), on the shop's task list or by the warehouse.",
                code="bound_to_action",
            )
        if step.state not in (StepState.READY, StepState.IN_PROGRESS):
            raise ConflictError(
                f"{definition.name!r} is {step.get_state_display()}; only a Ready or In "
                "progress step can be done.",
                code="not_ready",
            )
        step.note = note.strip()
        actor = actor_of(user, "plans")
        _done_by(step, user, now, f"done by {actor}" + (f": {step.note}" if step.note else ""))
    plan_advance(plan_id=step.plan_id, now=now, actor=actor)
    return step
