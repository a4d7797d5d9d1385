"""Reads of the plans' design: step groups, their versions, scenarios, fallout rules.

What the designers' pages and the API show (``docs/plans.md``, "Designing plans").
A version's steps come back as the same plain fields ``step_group_version_save``
takes, so the edit form and an API client can send a version back as it was read.
"""

from typing import Any

from django.db.models import Count, OuterRef, Prefetch, QuerySet, Subquery

from ..models import (
    FalloutRule,
    PlanScenario,
    StepDefinition,
    StepDependency,
    StepGroup,
    StepGroupVersion,
)

# The step fields as the service takes them, in the order the form shows them.
STEP_PAYLOAD_FIELDS = (
    "key",
    "name",
    "type",
    "scope",
    "handler",
    "url",
    "method",
    "timeout_seconds",
    "condition",
    "resume_condition",
    "delay_minutes",
    "delay_from",
    "retry_kind",
    "retry_count",
    "retry_interval_minutes",
    "retry_intervals",
    "estimated_minutes",
    "jeopardy_minutes",
    "point_of_no_return",
    "assignment",
    "queue",
    "assignment_rules",
)


def step_group_list() -> QuerySet[StepGroup]:
    """Every group, by name, with ``active_number`` and ``active_steps`` (None without an
    active version), its scenarios and its versions (newest first, with their authors)."""
    active = StepGroupVersion.objects.filter(group=OuterRef("pk"), is_active=True)
    return StepGroup.objects.annotate(
        active_number=Subquery(active.values("number")[:1]),
        active_steps=Subquery(
            active.annotate(count=Count("steps")).values("count")[:1],
        ),
    ).prefetch_related(
        Prefetch("scenarios", queryset=PlanScenario.objects.order_by("action", "-priority", "id")),
        Prefetch(
            "versions",
            queryset=StepGroupVersion.objects.select_related("created_by").order_by("-number"),
        ),
    )


def step_group_keys() -> list[str]:
    """Every group's key, in order (what a step's cancel or amend group may name)."""
    return list(StepGroup.objects.order_by("key").values_list("key", flat=True))


def step_group_get(key: str) -> StepGroup | None:
    """The group ``key``, or None."""
    return step_group_list().filter(key=key).first()


def step_group_versions(group: StepGroup) -> QuerySet[StepGroupVersion]:
    """A group's versions, newest first, with who made them and their number of steps."""
    return (
        group.versions.select_related("created_by")
        .annotate(step_count=Count("steps"))
        .order_by("-number")
    )


def step_group_version_get(group: StepGroup, number: int) -> StepGroupVersion | None:
    """Version ``number`` of ``group``, or None."""
    return group.versions.select_related("created_by").filter(number=number).first()


def step_group_version_steps(version: StepGroupVersion) -> list[StepDefinition]:
    """A version's steps in order, each with its dependencies and their steps."""
    return list(
        version.steps.select_related("cancel_group", "amend_group")
        .prefetch_related(
            Prefetch(
                "dependencies",
                queryset=StepDependency.objects.select_related("depends_on").order_by("id"),
            )
        )
        .order_by("position", "id")
    )


def step_payload(definition: StepDefinition) -> dict[str, Any]:
    """One step as ``step_group_version_save`` takes it."""
    payload = {name: getattr(definition, name) for name in STEP_PAYLOAD_FIELDS}
    payload["cancel_group"] = definition.cancel_group.key if definition.cancel_group else None
    payload["amend_group"] = definition.amend_group.key if definition.amend_group else None
    return payload


def step_group_version_payload(version: StepGroupVersion) -> dict[str, Any]:
    """A version's steps and dependencies as ``step_group_version_save`` takes them."""
    steps = step_group_version_steps(version)
    return {
        "steps": [step_payload(step) for step in steps],
        "dependencies": [
            {"step": step.key, "on": dependency.depends_on.key, "scope": dependency.scope}
            for step in steps
            for dependency in step.dependencies.all()
        ],
    }


def plan_scenario_list() -> QuerySet[PlanScenario]:
    """Every scenario, by action, then first by priority as plans are built."""
    return PlanScenario.objects.select_related("group").order_by("action", "-priority", "id")


def fallout_rule_list() -> QuerySet[FalloutRule]:
    """Every fallout rule, first by priority as steps are matched."""
    return FalloutRule.objects.order_by("-priority", "id")
