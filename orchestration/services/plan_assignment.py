"""Who a manual plan step goes to (``docs/plans.md``, "Watching plans"): the step
definition's ``assignment`` over its ``queue`` (a shop's staff are ``shop:<backend
ID>``; any other queue is a Django group of that name).

- ``ROUND_ROBIN``: the queue's users in username order, starting after whoever got
  the last step of the same definition handed out (``selectors.plans.last_assignee``);
  after the last username, the first again. A last assignee who left the queue is
  passed by name: the next username after theirs.
- ``LEAST_LOADED``: the user with the fewest open manual steps (Ready or In progress)
  assigned; a tie goes to the first username.
- ``CONDITIONS``: the definition's ``assignment_rules``, ``[{"condition": {...},
  "assignee": username | "queue": queue, "priority": n}]``, highest priority first (a
  tie: the order listed); the first whose condition holds (the pure core's
  ``holds`` over the order's record and the step's line) gives the step to that user,
  or to that queue (no one in it yet). A rule without a condition always holds; a rule
  whose condition cannot be evaluated, or naming a user who is gone, is passed over.
- ``NONE``, a queue without anyone, or no rule holding: the step waits in its queue
  without an assignee.

The call is made when a manual step becomes Ready, in that transaction. The
definition's row is locked for it, so two steps of one definition made Ready at once
go to two users in turn. Every assignment is a transition on the order's timeline,
saying to whom and by which rule.
"""

from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction

from ..models import Assignment, PlanStep, PlanTransition, StepDefinition, StepType
from ..plans.conditions import ConditionError, holds
from ..selectors.plans import (
    condition_spec,
    last_assignee,
    open_manual_loads,
    queue_members,
    step_record,
)
from .plan_shapes import assignment_rule_shape_problem

ACTOR = "system:assignment"


def plan_step_assign(*, step: PlanStep, now: datetime) -> User | None:
    """Assign the manual ``step`` by its definition's rule; store the assignee and
    the queue, record the transition, and return the user (None: left in a queue)."""
    if step.definition.type != StepType.MANUAL or step.definition.assignment == Assignment.NONE:
        return None  # no statement for the steps nobody assigns (the demo's)
    with transaction.atomic():
        definition = StepDefinition.objects.select_for_update().get(pk=step.definition_id)
        if definition.type != StepType.MANUAL or definition.assignment == Assignment.NONE:
            return None
        queue = definition.queue
        if definition.assignment == Assignment.ROUND_ROBIN:
            user, why = _round_robin(definition, step, queue)
        elif definition.assignment == Assignment.LEAST_LOADED:
            user, why = _least_loaded(step, queue)
        else:
            user, queue, why = _by_conditions(definition, step)
        step.assignee = user
        step.queue = queue
        step.save(update_fields=["assignee", "queue", "updated_at"])
        line = f" (line {step.line_id})" if step.line_id else ""
        if user is not None:
            whom = f"assigned to {user.get_username()}"
        else:
            whom = f"left in the queue {queue}" if queue else "not assigned"
        PlanTransition.objects.create(
            plan_id=step.plan_id,
            step=step,
            from_state=step.state,
            to_state=step.state,
            at=now,
            actor=ACTOR,
            message=f"{definition.name}{line}: {whom} ({why}).",
        )
        return user


def _round_robin(definition: StepDefinition, step: PlanStep, queue: str) -> tuple[User | None, str]:
    users = queue_members(queue)
    if not users:
        return None, f"round robin: nobody in the queue {queue}"
    last = last_assignee(definition.pk, excluding=step.pk)
    following = [u for u in users if last is None or u.get_username() > last.get_username()]
    return (following or users)[0], f"round robin over {queue}"


def _least_loaded(step: PlanStep, queue: str) -> tuple[User | None, str]:
    users = queue_members(queue)
    if not users:
        return None, f"least loaded: nobody in the queue {queue}"
    loads = open_manual_loads(users, excluding=step.pk)
    user = min(users, key=lambda u: (loads[u.pk], u.get_username()))
    count = loads[user.pk]
    return user, f"least loaded in {queue}: {count} open step{'s' if count != 1 else ''}"


def _by_conditions(definition: StepDefinition, step: PlanStep) -> tuple[User | None, str, str]:
    # A rule of the wrong shape (saved before saves checked them) is passed over.
    # A rule stored before the shapes were checked, and wrong, is passed over.
    rules: list[tuple[int, Any]] = [
        (number, rule)
        for number, rule in enumerate(definition.assignment_rules or [], 1)
        if isinstance(rule, dict) and assignment_rule_shape_problem(number, rule) is None
    ]
    ranked = sorted(rules, key=lambda pair: -_priority(pair[1]))
    record = step_record(step)
    for number, rule in ranked:
        condition = condition_spec(rule.get("condition"))
        try:
            if condition is not None and not holds(condition, record):
                continue
        except ConditionError:
            continue
        why = f"rule {number}, priority {_priority(rule)}, holds"
        if rule.get("queue"):
            return None, str(rule["queue"]), why
        user = User.objects.filter(username=str(rule.get("assignee", "")), is_active=True).first()
        if user is not None:
            return user, definition.queue, why
    return None, definition.queue, "no assignment rule holds"


def _priority(rule: dict[str, Any]) -> int:
    try:
        return int(rule.get("priority", 0))
    except (TypeError, ValueError):
        return 0
