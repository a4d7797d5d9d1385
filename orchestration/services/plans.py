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
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import F, Subquery
from django.utils import timezone

from ..errors import ApplicationError, ConflictError, NotFoundError
from ..integrations.steps import StepContext, StepError, callout, handler_for
from ..models import (
    Assignment,
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
    StepDefinition,
    StepDependency,
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
    plan_manual_steps_open,
    plan_steps,
    step_spec,
)
from ..tasks import order_changes_apply_task, plan_step_run_task
from .events import actor_of
from .persistence import store_plans
from .persistence.steps import (
    OPEN_PLAN_STATES,
    ClaimedStep,
    StepChange,
    step_claim,
    step_outcome_store,
)
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
    Pending) are made in memory, so that every plan of the run costs one statement
    together on PostgreSQL (three with the ORM: the plans, their steps, and their
    transitions; ``persistence.store_plans``).
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
                    message=f"Plan {version.name} built with {len(made)} "
                    + ("step." if len(made) == 1 else "steps."),
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
    store_plans(plans=plans, steps=steps, transitions=transitions)
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
        if transition.error_code:
            _fallout_store(step, keys[transition.step_id], transition.error_code, transition.reason)
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
    return _run_of(step, step.definition.key)


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
        if plan.state == PlanState.NOT_STARTED and plan.after_id and not _completed(plan.after_id):
            return 0  # a cancel plan waits for the one before it
        group = _version_runtime(plan.version_id, plan.network_token).spec
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
                if transition.error_code:
                    _fallout_store(
                        step, step.definition.key, transition.error_code, transition.reason
                    )
                _transition_store(step, transition.to_state, now, transition.next_run_at)
                _transition_record(plan, step, transition.reason, now, actor, before)
                if step.state == StepState.READY and step.definition.type == StepType.MANUAL:
                    plan_step_assign(step=step, now=now)
                if _for_the_worker(step):
                    ready.append(step.pk)
                applied += 1
        _plan_state_store(plan, [_run(step) for step in steps.values()], now, changed=applied > 0)
        if ready:
            task_send_on_commit(task=plan_step_run_task, ids=ready, noun="plan step")
    if plan.state == PlanState.COMPLETED and plan.purpose == PlanPurpose.CANCEL and applied:
        _followers_start(plan.pk, now, actor)
    if applied and plan.group_key and not _sibling:
        # A step done here may be what a plan sharing the group key waits for.
        for sibling in _siblings_waiting(plan):
            plan_advance(plan_id=sibling, now=now, actor=actor, _sibling=True)
    return applied


@dataclass(frozen=True, slots=True)
class _VersionRuntime:
    """A group version as a worker uses it: the core's spec, its definitions by ID,
    each definition's key, the group's name, and whether it has a cross-plan
    dependency (a plan of it then decides under its lock, reading its siblings)."""

    spec: pure.GroupSpec
    definitions: Mapping[int, StepDefinition]
    keys: Mapping[int, str]
    group_name: str
    crossing: bool


# Versions as workers use them, kept per network token (read with the plan): the
# token changes whenever a step definition or dependency is saved
# (selectors/network.py), so nothing is used past a change, nor an ID that a
# rolled-back transaction gave out taken for another version. Without a token
# nothing is kept.
_RUNTIMES: dict[tuple[str, int], _VersionRuntime] = {}
_CROSS_PLAN: dict[str, bool] = {}
_KEPT = 256


def _version_runtime(version_id: int, token: str | None) -> _VersionRuntime:
    """The version ``version_id`` as workers use it, read once per network token."""
    key = (token or "", version_id)
    runtime = _RUNTIMES.get(key) if token else None
    if runtime is None:
        version = StepGroupVersion.objects.select_related("group").get(pk=version_id)
        spec = group_spec(version)
        definitions = {definition.pk: definition for definition in version.steps.all()}
        runtime = _VersionRuntime(
            spec=spec,
            definitions=definitions,
            keys={pk: definition.key for pk, definition in definitions.items()},
            group_name=version.group.name,
            crossing=any(d.scope is pure.DependencyScope.CROSS_PLAN for d in spec.dependencies),
        )
        if token:
            if len(_RUNTIMES) >= _KEPT:
                _RUNTIMES.clear()
            _RUNTIMES[key] = runtime
    return runtime


def _cross_plan_anywhere(token: str | None) -> bool:
    """Whether any step group has a cross-plan dependency (then a step done may be
    what another plan of the same group key waits for), read once per token."""
    found = _CROSS_PLAN.get(token) if token else None
    if found is None:
        found = StepDependency.objects.filter(scope=DependencyScope.CROSS_PLAN).exists()
        if token:
            if len(_CROSS_PLAN) >= _KEPT:
                _CROSS_PLAN.clear()
            _CROSS_PLAN[token] = found
    return found


def _completed(plan_id: int) -> bool:
    return Plan.objects.filter(pk=plan_id, state=PlanState.COMPLETED).exists()


def _followers_start(plan_id: int, now: datetime, actor: str) -> None:
    """The plans waiting for ``plan_id`` to complete (the next cancel plan) start.
    Only a cancel plan has any (``plan_changes.plans_compensate``)."""
    for follower in Plan.objects.filter(after_id=plan_id).values_list("pk", flat=True):
        plan_advance(plan_id=follower, now=now, actor=actor)


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
    return step.state == StepState.READY and _automatic_definition(step.definition)


def _transition_store(
    step: PlanStep, to: pure.StepState, now: datetime, next_run_at: datetime | None
) -> None:
    _transition_apply(step, to, now, next_run_at)
    step.save(
        update_fields=[
            "state",
            "next_run_at",
            "started_at",
            "completed_at",
            "error_code",
            "error",
            "fallout_queue",
            "updated_at",
        ]
    )


def _fallout_store(step: PlanStep, key: str, code: str, message: str) -> None:
    """A step (of definition ``key``) the core failed for good (its condition or delay
    cannot be evaluated on this order): the error, for the fallout queue of the most
    specific rule. On the object; its caller saves it."""
    step.error_code, step.error = code, message
    rule = fallout_rule_for(key, code)
    step.fallout_queue = rule.queue if rule else "default"


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
    _plans_touch([step.plan_id])
    _transition_record(step.plan, step, reason, now, actor_of(user, "plans"), previous)


def _plan_state_store(plan: Plan, runs: Sequence[StepRun], now: datetime, *, changed: bool) -> None:
    """The plan's state from its steps' (``runs``); its revision raised if they
    ``changed`` or it did (one UPDATE)."""
    state = PlanState(str(plan_state(runs)))
    if state == plan.state and changed:
        _plans_touch([plan.pk])
    if state != plan.state:
        before = plan.state
        plan.state = state
        plan.completed_at = now if state == PlanState.COMPLETED else None
        plan.revision += 1
        plan.save(update_fields=["state", "completed_at", "revision", "updated_at"])
        PlanTransition.objects.create(
            plan=plan,
            from_state=before,
            to_state=state,
            at=now,
            actor="system:plans",
            message=f"Plan {plan.version.group.name}: {plan.get_state_display()}.",
        )


def plan_step_run(*, step_id: int, now: datetime | None = None, _fast: bool = True) -> None:
    """Run one attempt of a Ready automatic step (the task's body).

    Three parts: the claim (``persistence.steps.step_claim``: Ready -> In Progress and
    the attempt's row, committed on its own, so that a second delivery of the message
    or a second worker finds the step taken and does nothing); the handler, outside
    any transaction; the outcome (``_attempt_finish``). A step found In Progress with
    an attempt whose lease ran out (its worker was killed before writing an outcome)
    is taken over: that attempt is marked Lost and a new one runs, with the same
    idempotency key.

    An outcome that makes automatic steps Ready claims the first of them in its own
    statement, and this worker runs it next (a chain, at most ``MAX_CHAIN`` steps per
    message): no message, no second statement to claim it. The others are sent.
    ``_fast`` False makes every outcome take the plan's lock and chain nothing (the
    way before; ``bench plans`` compares the two).
    """
    now = now or timezone.now()
    claimed = _claim(step_id, now)
    if claimed is None and _lost_attempt_end(step_id=step_id, now=now):
        claimed = _claim(step_id, now)
    for chained in range(MAX_CHAIN):
        if claimed is None:
            return  # done already, running elsewhere, not for a worker, or the chain ends
        runtime = _version_runtime(claimed.plan.version_id, claimed.token)
        error = _attempt_run(claimed, runtime)
        claimed = _attempt_finish(
            claimed=claimed,
            runtime=runtime,
            error=error,
            now=timezone.now(),
            fast=_fast,
            chain=chained + 1 < MAX_CHAIN,
        )


# Steps one message runs at most, one after another (a plan of a hundred automatic
# steps in a row does not keep a worker from other orders' steps for long): the
# last of them sends the next as a message.
MAX_CHAIN = 20


def _attempt_run(claimed: ClaimedStep, runtime: "_VersionRuntime") -> StepError | None:
    """Run the claimed step's handler, or its callout; the error, if it failed."""
    step, order = claimed.step, claimed.order
    definition = runtime.definitions[step.definition_id]
    number = step.attempts
    context = StepContext(
        step_id=step.pk,
        step_key=definition.key,
        order_id=order.pk,
        order_backend_id=order.backend_id or "",
        line_id=step.line_id,
        fulfillment_id=claimed.plan.fulfillment_id,
        idempotency_key=step.idempotency_key,
        attempt=number,
        record=order_record(order),
    )
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
                method=definition.method,
            )
        else:
            handler_for(definition.handler)(context)
    except StepError as failure:
        return failure
    except Exception as failure:  # a handler's bug is the step's failure, not the worker's
        return StepError("Unexpected", f"{type(failure).__name__}: {failure}")
    return None


def _claim(step_id: int, now: datetime) -> ClaimedStep | None:
    return step_claim(
        step_id=step_id, now=now, types=AUTOMATIC, excluded_handlers=sorted(BOUND_ACTIONS)
    )


def _attempt_finish(
    *,
    claimed: ClaimedStep,
    runtime: "_VersionRuntime",
    error: StepError | None,
    now: datetime,
    fast: bool,
    chain: bool = False,
) -> ClaimedStep | None:
    """Store the attempt's outcome and what follows from it, in one transaction;
    return the next step this worker claimed with it (``chain``), if any.

    A completed attempt of a plan that nothing else changed since the claim (its
    revision) is decided on the claim's read and stored in one statement; anything
    else (a failure, a plan changed meanwhile, frozen or freezing, a cross-plan
    dependency) takes the plan's lock and decides on what is there.
    """
    stored = False
    following: ClaimedStep | None = None
    if fast and error is None and not runtime.crossing and claimed.plan.state in OPEN_PLAN_STATES:
        # One statement, atomic by itself: no transaction is opened around it (its
        # BEGIN and COMMIT would be two more round trips); what it sends goes after it.
        stored, following = _completed_store(claimed, runtime, now, chain=chain)
    if not stored:
        with transaction.atomic():
            _attempt_finish_locked(
                step_id=claimed.step.pk, number=claimed.step.attempts, error=error, now=now
            )
    plan = claimed.plan
    if stored and plan.state == PlanState.COMPLETED and plan.purpose == PlanPurpose.CANCEL:
        _followers_start(plan.pk, now, "system:plans")
    if stored and claimed.plan.group_key and _cross_plan_anywhere(claimed.token):
        for sibling in _siblings_waiting(claimed.plan):
            plan_advance(plan_id=sibling, now=now, _sibling=True)
    return following


def _completed_store(
    claimed: ClaimedStep, runtime: "_VersionRuntime", now: datetime, *, chain: bool
) -> tuple[bool, ClaimedStep | None]:
    """The fast path of a completed attempt: the core's transitions made in memory
    on the claim's read, stored in one statement if the plan's revision is the
    claim's (``persistence.steps``); False, with nothing written, if not. With
    ``chain``, the first automatic step made Ready is claimed in the same statement
    (In Progress, its attempt's row) and returned, as a claim would, for this worker
    to run next; the others are sent."""
    plan, step = claimed.plan, claimed.step
    moves = _moves_in_memory(claimed, runtime, now)
    if moves is None:
        return False, None  # a core that does not settle: the locked path says so
    steps, changed, state = moves
    rows = _outcome_rows(plan, steps, changed, state, runtime, now)
    ready = [
        steps[pk]
        for pk in changed
        if pk != step.pk
        and steps[pk].state == StepState.READY
        and _automatic_definition(runtime.definitions[steps[pk].definition_id])
    ]
    if any(
        steps[pk].state == StepState.READY
        and runtime.definitions[steps[pk].definition_id].type == StepType.MANUAL
        and runtime.definitions[steps[pk].definition_id].assignment != Assignment.NONE
        for pk in changed
    ):
        # A manual step to assign with it: the locked path, in one transaction.
        return False, None
    following = ready.pop(0) if chain and ready else None
    if following is not None:  # claimed here: its Ready is on the timeline, as any
        following.state = StepState.IN_PROGRESS
        following.attempts += 1
    if not step_outcome_store(
        claimed=claimed,
        number=step.attempts,
        now=now,
        changes=[
            StepChange(
                step_id=pk,
                state=steps[pk].state,
                next_run_at=steps[pk].next_run_at,
                started_at=steps[pk].started_at,
                completed_at=steps[pk].completed_at,
                error_code="" if pk == step.pk else None,
                error="" if pk == step.pk else None,
                attempts=steps[pk].attempts if steps[pk] is following else None,
            )
            for pk in changed
        ],
        plan_state=state,
        transitions=rows,
        claim=following,
    ):
        return False, None
    plan.state = state
    plan.revision += 1
    for pk in changed:
        moved = steps[pk]
        definition = runtime.definitions[moved.definition_id]
        if moved.state == StepState.READY and definition.type == StepType.MANUAL:
            moved.definition = definition
            plan_step_assign(step=moved, now=now)
    if ready:
        task_send_on_commit(
            task=plan_step_run_task, ids=[moved.pk for moved in ready], noun="plan step"
        )
    if following is None:
        return True, None
    return True, ClaimedStep(following, plan, claimed.order, claimed.token, list(steps.values()))


def _moves_in_memory(
    claimed: ClaimedStep, runtime: "_VersionRuntime", now: datetime
) -> tuple[dict[int, PlanStep], dict[int, tuple[str, str]], PlanState] | None:
    """The claimed step Completed and the core's transitions that follow, applied to
    the claim's steps: the steps by ID, the moved ones' (state before, reason), and
    the plan's new state; None if the core does not settle."""
    step = claimed.step
    steps = {other.pk: other for other in claimed.steps}
    keys = runtime.keys
    changed: dict[int, tuple[str, str]] = {step.pk: (step.state, f"attempt {step.attempts}")}
    step.state = StepState.COMPLETED
    step.completed_at = now
    step.next_run_at = None
    runs = {pk: _run_of(other, keys[other.definition_id]) for pk, other in steps.items()}
    record = order_record(claimed.order)
    for _ in range(MAX_ROUNDS):
        transitions = advance(
            runtime.spec, list(runs.values()), record, now, claimed.order.placed_at
        )
        if not transitions:
            return steps, changed, PlanState(str(plan_state(list(runs.values()))))
        if any(transition.error_code for transition in transitions):
            return None  # a step failed for good: the locked path sends it to fallout
        for transition in transitions:
            moved = steps[transition.step_id]
            before = changed.get(moved.pk, (moved.state, ""))[0]
            _transition_apply(moved, transition.to_state, now, transition.next_run_at)
            changed[moved.pk] = (before, transition.reason)
            runs[moved.pk] = _run_of(moved, keys[moved.definition_id])
    return None


def _outcome_rows(
    plan: Plan,
    steps: Mapping[int, PlanStep],
    changed: Mapping[int, tuple[str, str]],
    state: PlanState,
    runtime: "_VersionRuntime",
    now: datetime,
) -> list[PlanTransition]:
    """The timeline rows of the moved steps and, if it changed, of the plan."""
    rows = []
    for pk, (before, reason) in changed.items():
        moved = steps[pk]
        name = runtime.definitions[moved.definition_id].name
        row = _step_transition(moved, name, reason, now, "system:plans", before)
        row.step_id = moved.pk
        rows.append(row)
    if state != plan.state:
        rows.append(
            PlanTransition(
                plan_id=plan.pk,
                from_state=plan.state,
                to_state=state,
                at=now,
                actor="system:plans",
                message=f"Plan {runtime.group_name}: {state.label}.",
            )
        )
    return rows


def _run_of(step: PlanStep, key: str) -> StepRun:
    return StepRun(
        id=step.pk,
        key=key,
        line=step.line_id,
        state=pure.StepState(step.state),
        started_at=step.started_at,
        completed_at=step.completed_at,
        next_run_at=step.next_run_at,
    )


def _transition_apply(
    step: PlanStep, to: pure.StepState, now: datetime, next_run_at: datetime | None
) -> None:
    """The core's move of ``step`` to ``to``, on the object (not saved)."""
    step.state = StepState(str(to))
    step.next_run_at = next_run_at
    # A step's clock (jeopardy) runs from when it was handed out: Ready, or In Progress.
    if to in (pure.StepState.READY, pure.StepState.IN_PROGRESS) and step.started_at is None:
        step.started_at = now
    if to in (pure.StepState.COMPLETED, pure.StepState.SKIPPED):
        step.completed_at = now


def _attempt_finish_locked(
    *, step_id: int, number: int, error: StepError | None, now: datetime
) -> None:
    """The general path of an outcome, under the plan's lock, in the caller's
    transaction: the attempt, the step (Completed, or Failed to be retried, or Fatally
    Failed to its fallout queue), then the plan advanced on what is there."""
    plan_id = PlanStep.objects.filter(pk=step_id).values_list("plan_id", flat=True).get()
    Plan.objects.select_for_update().filter(pk=plan_id).values_list("pk", flat=True).get()
    step = PlanStep.objects.select_related("definition", "plan__version__group").get(pk=step_id)
    # An attempt taken for lost meanwhile (its worker was only slow) stays Lost: the
    # step was handed to another attempt, whose outcome counts.
    running = PlanStepAttempt.objects.filter(
        step=step, number=number, outcome=AttemptOutcome.RUNNING
    ).update(
        finished_at=now,
        outcome=AttemptOutcome.FAILED if error else AttemptOutcome.COMPLETED,
        error_code=error.code if error else "",
        error=error.message if error else "",
    )
    if not running or step.state != StepState.IN_PROGRESS or step.attempts != number:
        # Ended meanwhile (the plan was frozen by a change: the attempt's outcome is
        # kept, the step is left as the change left it) or lost.
        return
    before = step.state
    if error is None:
        step.state = StepState.COMPLETED
        step.completed_at = now
        step.error_code = step.error = ""
        reason = f"attempt {number}"
    else:
        step.error_code, step.error = error.code, error.message
        retry_at = next_retry_at(step_spec(step.definition).retry, number, now)
        reason = _failure_store(step, error, number, retry_at)
        if retry_at is not None and retry_at <= now:
            # Immediate: run again now, not at the sweep's next tick.
            step.state, step.next_run_at = StepState.READY, None
            reason = f"attempt {number}: {error.code}: {error.message}; retried at once"
            task_send_on_commit(task=plan_step_run_task, ids=[step.pk], noun="plan step")
    step.save()
    _plans_touch([plan_id])
    _transition_record(step.plan, step, reason, now, "system:plans", before)
    plan_advance(plan_id=plan_id, now=now)


def _failure_store(step: PlanStep, error: StepError, number: int, retry_at: datetime | None) -> str:
    """A failed attempt: the step Failed (retried at ``retry_at``) or, without a retry
    left, Fatally Failed to the fallout queue of the most specific rule; the reason."""
    step.next_run_at = retry_at
    if retry_at is None:
        step.state = StepState.FATALLY_FAILED
        rule = fallout_rule_for(step.definition.key, error.code)
        step.fallout_queue = rule.queue if rule else "default"
        return (
            f"attempt {number}: {error.code}: {error.message}; "
            f"to the fallout queue {step.fallout_queue}"
        )
    step.state = StepState.FAILED
    return f"attempt {number}: {error.code}: {error.message}; retried at {retry_at:%Y-%m-%d %H:%M}"


# Lost attempts of one step in a row after which it is not run again but Fatally
# Failed (a step whose handler kills its worker every time would otherwise loop).
MAX_LOST_ATTEMPTS = 3


def _lease_over(step: PlanStep, attempt: PlanStepAttempt, now: datetime) -> bool:
    grace = settings.ORCHESTRATION_PLAN_STEP_LEASE_GRACE_SECONDS
    lease = timedelta(seconds=step.definition.timeout_seconds + grace)
    return attempt.started_at + lease <= now


@transaction.atomic
def _lost_attempt_end(*, step_id: int, now: datetime) -> bool:
    """If the automatic step ``step_id`` is In Progress and its attempt's lease ran
    out (its worker was killed, or its message lost, before writing an outcome): that
    attempt is Lost, on the timeline, and the step Ready again (or Fatally Failed,
    code ``WorkerLost``, after ``MAX_LOST_ATTEMPTS`` in a row); True if so."""
    step = (
        PlanStep.objects.select_for_update()
        .select_related("definition", "plan__version__group")
        .filter(pk=step_id, state=StepState.IN_PROGRESS)
        .first()
    )
    if step is None or not _automatic_definition(step.definition):
        return False
    attempt = PlanStepAttempt.objects.filter(step=step, number=step.attempts).first()
    if attempt is None or attempt.outcome != AttemptOutcome.RUNNING:
        return False
    if not _lease_over(step, attempt, now):
        return False
    message = "the worker stopped before writing an outcome"
    attempt.outcome, attempt.finished_at = AttemptOutcome.LOST, now
    attempt.error_code, attempt.error = "WorkerLost", message
    attempt.save(update_fields=["outcome", "finished_at", "error_code", "error"])
    lost = list(
        PlanStepAttempt.objects.filter(step=step)
        .order_by("-number")
        .values_list("outcome", flat=True)[:MAX_LOST_ATTEMPTS]
    )
    before = step.state
    if len(lost) == MAX_LOST_ATTEMPTS and set(lost) == {AttemptOutcome.LOST}:
        step.error_code, step.error = "WorkerLost", message
        reason = _failure_store(step, StepError("WorkerLost", message), step.attempts, None)
    else:
        step.state = StepState.READY
        step.next_run_at = None
        reason = f"attempt {step.attempts} lost: {message}; run again"
    step.save()
    _plans_touch([step.plan_id])
    _transition_record(step.plan, step, reason, now, "system:plans", before)
    return step.state == StepState.READY


def _automatic_definition(definition: StepDefinition) -> bool:
    """An auto task or a callout that is not the fulfilment's own action: the worker's."""
    return definition.type in AUTOMATIC and definition.handler not in BOUND_ACTIONS


def _plans_touch(plan_ids: Sequence[int]) -> None:
    """Raise the plans' revision: their steps changed (``persistence.steps``)."""
    Plan.objects.filter(pk__in=plan_ids).update(revision=F("revision") + 1)


# In the caller's transaction when there is one, without a savepoint of its own: a
# refusal rolls the caller's work back whole anyway (below), and every export and shop
# action calls it, mostly for fulfilments without a plan.
@transaction.atomic(savepoint=False)
def plan_manual_step_done(
    *, fulfillment: OrderFulfillment, handler: str, user: User | None, now: datetime
) -> int:
    """Complete the manual steps bound to ``handler`` (a fulfilment action such as
    ``start``) in the fulfilment's plan; return how many. In the caller's
    transaction: a step that is not Ready yet (it waits for another, e.g. the
    payment) refuses the action with a ``ConflictError`` naming it, and the caller's
    transaction rolls back whole. A plan without such a step is left as it is: the
    action is the fulfilment's own."""
    open_steps = plan_manual_steps_open(fulfillment_id=fulfillment.pk, handler=handler)
    # Most fulfilments have no plan: a bare existence check (no related rows to read,
    # no lock, no ordering) answers them for half the locking read's CPU. Plans are made under the
    # order's lock, which every caller holds, so none appears in between.
    if not open_steps.exists():
        return 0
    steps = list(open_steps.select_for_update().select_related("definition", "plan"))
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
        _plans_touch(sorted({step.plan_id for step in steps}))
        for plan_id in {step.plan_id for step in steps}:
            plan_advance(plan_id=plan_id, now=now, actor=actor_of(user, "plans"))
        ready = [s.pk for s in steps if _for_the_worker(s)]
        if ready:
            task_send_on_commit(task=plan_step_run_task, ids=ready, noun="plan step")
    return len(steps)


def plans_sweep(*, now: datetime, lost_after: timedelta = timedelta(minutes=2)) -> dict[str, int]:
    """Due scheduled and failed steps become Ready (and are sent); Ready automatic
    steps whose message was lost (Ready for ``lost_after``: the broker was down when
    they were sent) are sent again; pauses are checked again; running steps past
    their jeopardy threshold turn At Risk; pending in-flight changes whose plans
    stopped running are sent to be applied."""
    resent = plan_steps_unsent_resend(now=now, lost_after=lost_after)
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
                    _plans_touch([plan_id])
                    task_send_on_commit(task=plan_step_run_task, ids=[step_id], noun="plan step")
                    retried += 1
        else:
            plan_advance(plan_id=plan_id, now=now)
    lost = plan_steps_lost_resume(now=now)
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
        "steps_lost": lost,
        "steps_resent": resent,
        "changes_due": changes,
    }


def plan_steps_unsent_resend(*, now: datetime, lost_after: timedelta, limit: int = BATCH) -> int:
    """Send again the automatic steps Ready for ``lost_after`` and not taken (their
    message never reached a worker: the broker was down, or the message was lost);
    return how many were sent. A doubled message finds the step taken and does
    nothing (the claim), so a message merely waiting in a busy queue is harmless.
    Those sent are due again ``lost_after`` from now."""
    ready = list(
        PlanStep.objects.filter(
            state=StepState.READY,
            definition__type__in=AUTOMATIC,
            updated_at__lte=now - lost_after,
        )
        .exclude(definition__handler__in=BOUND_ACTIONS)
        .exclude(plan__state=PlanState.FREEZING)
        .order_by("updated_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    sent = task_send(task=plan_step_run_task, ids=ready, noun="plan step")
    PlanStep.objects.filter(pk__in=ready[:sent], state=StepState.READY).update(updated_at=now)
    return sent


def plan_steps_lost_resume(*, now: datetime, limit: int = BATCH) -> int:
    """Automatic steps whose attempt's lease ran out (the worker was killed and its
    message is not coming back, or not soon: Redis hands it out again only after its
    visibility timeout, RabbitMQ once the worker's connection is gone) are run again:
    the attempt Lost, the step sent; return how many. For the sweep; a redelivered
    message does the same itself."""
    grace = timedelta(seconds=settings.ORCHESTRATION_PLAN_STEP_LEASE_GRACE_SECONDS)
    candidates = list(
        PlanStep.objects.filter(
            state=StepState.IN_PROGRESS,
            definition__type__in=AUTOMATIC,
            attempt_rows__outcome=AttemptOutcome.RUNNING,
            attempt_rows__started_at__lte=now - grace,
        )
        .exclude(definition__handler__in=BOUND_ACTIONS)
        .values_list("pk", flat=True)
        .distinct()[:limit]
    )
    resumed = 0
    for step_id in candidates:
        if _lost_attempt_end(step_id=step_id, now=now):
            task_send_on_commit(task=plan_step_run_task, ids=[step_id], noun="plan step")
            resumed += 1
    return resumed


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
        plan.revision += 1
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
