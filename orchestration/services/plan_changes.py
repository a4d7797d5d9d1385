"""The plans' side of an in-flight change (``docs/plans.md``, In-flight changes):
freezing the plans a change affects while their automatic steps finish, thawing
them, and the cancel and amend plans built from the steps' groups.

``services/order_changes.py`` decides the change and calls these in its transaction
(the order locked first, then the plans: the same order as a shop's action).

- ``plans_running_step``: an automatic step In Progress in the main plans of some
  fulfilments: what a change waits for.
- ``plans_freeze``: those plans Freezing. A Freezing plan does not advance
  (``plan_advance`` returns at once) and the worker starts none of its Ready steps
  (``plan_step_run``); when one of its running steps ends, ``plan_advance`` sends
  ``order_changes_apply_task`` for its order, which applies the pending change
  once none of its plans runs an automatic step (the sweep sends it too).
- ``plans_thaw``: the order's Freezing plans back to the state their steps give
  (In Progress...), advanced, and their Ready automatic steps sent to the worker
  again: the change that froze them was applied (their fulfilment kept other
  lines) or refused.
- ``plans_compensate``: for each step a change undid (Completed, now Canceled) whose
  definition names a cancel group, in reverse order of the steps, or shrank
  (Completed or In Progress) whose definition names an amend group, a plan from that
  group's active version for the same order and fulfilment, purpose Cancel or Amend,
  linked to the plan and the step; run like any plan (``plan_advance``: its Ready
  automatic steps go to the worker, in the order the plans were built).

Every write here that moves a plan or its steps raises the plan's ``revision`` in
the same transaction: the worker writes a step's outcome in one statement only while
the revision is the one it read (``services/plans.py``), so a plan frozen meanwhile
makes it take the locked path, through ``plan_advance``.
"""

import uuid
from collections.abc import Sequence
from datetime import datetime

from django.contrib.auth.models import User
from django.db.models import F

from ..models import (
    OrderFulfillmentLine,
    Plan,
    PlanPurpose,
    PlanState,
    PlanStep,
    PlanTransition,
    StepGroupVersion,
    StepScope,
    StepState,
    StepType,
)
from ..plans import model as pure
from ..plans.runtime import StepRun, plan_state
from ..selectors.plans import plan_steps
from ..tasks import plan_step_run_task
from .events import actor_of
from .plans import BOUND_ACTIONS, plan_advance
from .sending import task_send_on_commit

AUTOMATIC = (StepType.AUTO_TASK, StepType.CALLOUT)
# A plan a change may freeze: one that has not ended.
RUNNING_PLAN_STATES = (PlanState.NOT_STARTED, PlanState.IN_PROGRESS)


def plans_running_step(*, fulfillment_ids: Sequence[int]) -> PlanStep | None:
    """The first automatic step In Progress in the main plans of these fulfilments (a
    change that meets one waits for it), with its definition and plan's group."""
    return (
        PlanStep.objects.filter(
            plan__fulfillment_id__in=fulfillment_ids,
            plan__purpose=PlanPurpose.MAIN,
            state=StepState.IN_PROGRESS,
            definition__type__in=AUTOMATIC,
        )
        .select_related("definition", "plan__version__group")
        .order_by("pk")
        .first()
    )


def plans_freeze(
    *, fulfillment_ids: Sequence[int], reason: str, user: User | None, now: datetime
) -> list[int]:
    """The main plans of these fulfilments that have not ended go Freezing, on their
    timeline with ``reason``; return their IDs (those Freezing already are left)."""
    actor = actor_of(user, "plans")
    plans = list(
        Plan.objects.select_for_update(of=("self",))
        .filter(
            fulfillment_id__in=fulfillment_ids,
            purpose=PlanPurpose.MAIN,
            state__in=RUNNING_PLAN_STATES,
        )
        .select_related("version__group")
        .order_by("pk")
    )
    for plan in plans:
        before = plan.state
        plan.state = PlanState.FREEZING
        plan.revision = F("revision") + 1
        plan.save(update_fields=["state", "revision", "updated_at"])
        PlanTransition.objects.create(
            plan=plan,
            from_state=before,
            to_state=PlanState.FREEZING,
            at=now,
            actor=actor,
            message=f"Plan {plan.version.group.name}: Freezing ({reason}).",
        )
    return [plan.pk for plan in plans]


def plans_thaw(*, order_id: int, reason: str, user: User | None, now: datetime) -> list[int]:
    """The order's Freezing main plans go back to the state their steps give (In
    Progress, or Completed if every step is done), on their timeline with ``reason``,
    and are advanced (what finished while they froze lets its dependants go on);
    return their IDs."""
    actor = actor_of(user, "plans")
    plans = list(
        Plan.objects.select_for_update(of=("self",))
        .filter(order_id=order_id, purpose=PlanPurpose.MAIN, state=PlanState.FREEZING)
        .select_related("version__group")
        .order_by("pk")
    )
    for plan in plans:
        runs = [
            StepRun(
                id=step.pk,
                key=step.definition.key,
                line=step.line_id,
                state=pure.StepState(step.state),
            )
            for step in plan_steps(plan)
        ]
        state = PlanState(str(plan_state(runs)))
        plan.state = state
        plan.completed_at = now if state == PlanState.COMPLETED else None
        plan.revision = F("revision") + 1
        plan.save(update_fields=["state", "completed_at", "revision", "updated_at"])
        PlanTransition.objects.create(
            plan=plan,
            from_state=PlanState.FREEZING,
            to_state=state,
            at=now,
            actor=actor,
            message=f"Plan {plan.version.group.name}: {plan.get_state_display()} again ({reason}).",
        )
    for plan in plans:
        plan_advance(plan_id=plan.pk, now=now, actor=actor)
    # Ready automatic steps the worker left while the plans froze (it starts nothing
    # in a Freezing plan) are sent again; one sent twice runs once.
    ready = list(
        PlanStep.objects.filter(
            plan__in=[plan.pk for plan in plans],
            state=StepState.READY,
            definition__type__in=AUTOMATIC,
        )
        .exclude(definition__handler__in=BOUND_ACTIONS)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if ready:
        task_send_on_commit(task=plan_step_run_task, ids=ready, noun="plan step")
    return [plan.pk for plan in plans]


def plans_compensate(
    *, plan_ids: Sequence[int], purpose: PlanPurpose, user: User | None, now: datetime
) -> list[int]:
    """The cancel plans (``purpose`` Cancel: for the Canceled steps of plans a change
    just undid, in reverse order of the steps) or amend plans (Amend: for the
    Completed and In Progress steps of plans a change shrank) of these plans, built
    and run; return their IDs in the order they were built. A group without an
    active version runs nothing; the undone plan's timeline says so."""
    actor = actor_of(user, "plans")
    cancel = purpose == PlanPurpose.CANCEL
    group_field = "cancel_group" if cancel else "amend_group"
    states = [StepState.CANCELED] if cancel else [StepState.COMPLETED, StepState.IN_PROGRESS]
    built: list[int] = []
    plans = (
        Plan.objects.filter(pk__in=plan_ids, purpose=PlanPurpose.MAIN)
        .select_related("version__group")
        .order_by("pk")
    )
    for plan in plans:
        steps = list(
            plan_steps(plan)
            .filter(state__in=states, **{f"definition__{group_field}__isnull": False})
            .select_related(f"definition__{group_field}")
        )
        if cancel:
            steps.reverse()
        for step in steps:
            group = getattr(step.definition, group_field)
            version = (
                StepGroupVersion.objects.filter(group=group, is_active=True)
                .select_related("group")
                .first()
            )
            line = f" (line {step.line_id})" if step.line_id else ""
            if version is None:
                PlanTransition.objects.create(
                    plan=plan,
                    step=step,
                    from_state=step.state,
                    to_state=step.state,
                    at=now,
                    actor=actor,
                    message=f"{step.definition.name}{line}: its {purpose.label.lower()} group "
                    f"{group.name} has no active version; nothing run.",
                )
                continue
            after = built[-1] if cancel and built else None
            built.append(_compensation_build(plan, step, version, purpose, actor, now, after))
    # Cancel plans one after another (each starts when the one before has completed,
    # ``plan_advance``); amend plans at once.
    for plan_id in built[:1] if cancel else built:
        plan_advance(plan_id=plan_id, now=now, actor=actor)
    return built


def _compensation_build(
    plan: Plan,
    step: PlanStep,
    version: StepGroupVersion,
    purpose: PlanPurpose,
    actor: str,
    now: datetime,
    after: int | None = None,
) -> int:
    """A Cancel or Amend plan of ``version`` answering ``step`` of ``plan``: its steps
    Pending (a line's steps for the step's line, or for the fulfilment's lines), and
    the first transition; ``plan_advance`` moves it on."""
    if step.line_id is not None:
        lines: list[int] = [step.line_id]
    else:
        lines = sorted(
            set(
                OrderFulfillmentLine.objects.filter(fulfillment_id=plan.fulfillment_id).values_list(
                    "order_line_id", flat=True
                )
            )
        )
    made = Plan.objects.create(
        order_id=plan.order_id,
        fulfillment_id=plan.fulfillment_id,
        version=version,
        purpose=purpose,
        undoes=plan,
        undoes_step=step,
        after_id=after,
    )
    definitions = list(version.steps.order_by("position", "id"))
    steps = PlanStep.objects.bulk_create(
        PlanStep(
            plan=made,
            definition=definition,
            line_id=line,
            idempotency_key=uuid.uuid4().hex,
        )
        for definition in definitions
        for line in (lines if definition.scope == StepScope.LINE else [None])
    )
    line = f" (line {step.line_id})" if step.line_id else ""
    PlanTransition.objects.create(
        plan=made,
        to_state=PlanState.NOT_STARTED,
        at=now,
        actor=actor,
        message=f"Plan {version.group.name}, version {version.number} built with "
        f"{len(steps)} {'step' if len(steps) == 1 else 'steps'}, to "
        f"{purpose.label.lower()} step {step.definition.name!r}{line} "
        f"of plan {plan.pk} ({plan.version.group.name})"
        + (f"; it starts when plan {after} has completed." if after else "."),
    )
    return made.pk
