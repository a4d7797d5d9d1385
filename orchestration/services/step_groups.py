"""Designing fulfilment plans: step groups, their versions, scenarios and fallout rules.

A save never edits a version: it makes the next one (plans in flight finish on
theirs, ``docs/plans.md``), checked whole by the pure core
(``plans.validate.group_problems``: duplicate keys, unknown steps, cycles named
``a -> b -> a``, bad condition logic with its column, retry and jeopardy
settings) and by the models' own limits. A refused save writes nothing and lists
every problem, each naming its step and field.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max

from ..errors import ApplicationError, NotFoundError
from ..models import (
    FalloutRule,
    PlanScenario,
    StepDefinition,
    StepDependency,
    StepGroup,
    StepGroupVersion,
)
from ..plans import model as pure
from ..plans.validate import group_problems
from ..selectors.network import network_changed
from ..selectors.plans import condition_spec, step_spec

STEP_FIELDS = frozenset(
    field.name
    for field in StepDefinition._meta.get_fields()
    if field.concrete and field.name not in ("id", "version", "position")
)


def _definitions(steps: Sequence[Mapping[str, Any]]) -> list[StepDefinition]:
    definitions = []
    problems: list[dict[str, Any]] = []
    for index, fields in enumerate(steps):
        unknown = sorted(set(fields) - STEP_FIELDS - {"cancel_group", "amend_group"})
        if unknown:
            problems.append(
                {
                    "code": "unknown_field",
                    "message": f"Step {index + 1}: unknown field {unknown[0]!r}.",
                    "field": f"steps[{index}].{unknown[0]}",
                }
            )
            continue
        definition = StepDefinition(position=index, **fields)
        try:
            definition.full_clean(exclude=["version"], validate_unique=False)
        except ValidationError as error:
            for name, messages in error.message_dict.items():
                problems.append(
                    {
                        "code": "invalid",
                        "message": f"Step {fields.get('key') or index + 1}, {name}: {messages[0]}",
                        "field": f"steps[{index}].{name}",
                    }
                )
        definitions.append(definition)
    if problems:
        raise ApplicationError(problems[0]["message"], errors=problems)
    return definitions


def _refuse(problems: Sequence[Any], keys: Sequence[str]) -> None:
    errors = []
    for problem in problems:
        index = keys.index(problem.step) if problem.step in keys else None
        where = f"steps[{index}]" if index is not None else "steps"
        errors.append(
            {
                "code": str(problem.code),
                "message": (f"Step {problem.step}: " if problem.step else "") + problem.message,
                "field": f"{where}.{problem.field}" if problem.field else where,
                **({"column": problem.column} if problem.column else {}),
            }
        )
    count = f"{len(errors)} problem{'s' if len(errors) != 1 else ''}"
    raise ApplicationError(f"Not saved: {count}. {errors[0]['message']}", errors=errors)


@transaction.atomic
def step_group_version_save(
    *,
    key: str,
    name: str,
    steps: Sequence[Mapping[str, Any]],
    dependencies: Sequence[Mapping[str, str]] = (),
    description: str = "",
    comment: str = "",
    user: User | None = None,
    activate: bool = True,
) -> StepGroupVersion:
    """Save the group ``key``'s steps as its next version (the group is made if new);
    active at once unless ``activate`` is False. Refused whole on any problem."""
    definitions = _definitions(steps)
    keys = [definition.key for definition in definitions]
    spec = pure.GroupSpec(
        key=key,
        steps=tuple(step_spec(definition) for definition in definitions),
        dependencies=tuple(
            pure.DependencySpec(
                step=str(dependency.get("step", "")),
                on=str(dependency.get("on", "")),
                scope=pure.DependencyScope(dependency.get("scope") or "PLAN"),
            )
            for dependency in dependencies
        ),
    )
    problems = group_problems(spec)
    if problems:
        _refuse(problems, keys)
    group, _ = StepGroup.objects.get_or_create(
        key=key, defaults={"name": name, "description": description}
    )
    if (group.name, group.description) != (name, description):
        group.name, group.description = name, description
        group.full_clean()
        group.save()
    number = (group.versions.aggregate(last=Max("number"))["last"] or 0) + 1
    if activate:
        group.versions.filter(is_active=True).update(is_active=False)
    version = StepGroupVersion.objects.create(
        group=group, number=number, is_active=activate, comment=comment, created_by=user
    )
    for definition in definitions:
        definition.version = version
    StepDefinition.objects.bulk_create(definitions)
    by_key = {definition.key: definition for definition in definitions}
    StepDependency.objects.bulk_create(
        StepDependency(
            step=by_key[dependency.step],
            depends_on=by_key[dependency.on],
            scope=str(dependency.scope),
        )
        for dependency in spec.dependencies
    )
    # bulk_create sends no signal: the plans' catalogue in the network snapshot changed.
    network_changed()
    return version


@transaction.atomic
def step_group_version_activate(*, version_id: int) -> StepGroupVersion:
    """Make a version the one new plans take (plans in flight keep theirs)."""
    version = StepGroupVersion.objects.select_for_update().filter(pk=version_id).first()
    if version is None:
        raise NotFoundError(f"There is no step group version {version_id}.", code="not_found")
    StepGroupVersion.objects.filter(group=version.group, is_active=True).exclude(
        pk=version.pk
    ).update(is_active=False)
    version.is_active = True
    version.save(update_fields=["is_active"])
    return version


@transaction.atomic
def plan_scenario_set(
    *, group_key: str, action: str, condition: Mapping[str, Any] | None = None, priority: int = 0
) -> PlanScenario:
    """The scenario giving fulfilments of ``action`` (matching ``condition``) the group."""
    group = StepGroup.objects.filter(key=group_key).first()
    if group is None:
        raise NotFoundError(f"There is no step group {group_key!r}.", code="not_found")
    spec = condition_spec(condition)
    if spec is not None:
        problems = group_problems(
            pure.GroupSpec(
                key=group_key,
                steps=(
                    pure.StepSpec(
                        key="scenario",
                        name="Scenario",
                        type=pure.StepType.MILESTONE,
                        condition=spec,
                    ),
                ),
            )
        )
        if problems:
            raise ApplicationError(
                f"Scenario condition: {problems[0].message}",
                field="condition",
                code=str(problems[0].code),
            )
    scenario, _ = PlanScenario.objects.update_or_create(
        group=group,
        action=action,
        defaults={"condition": condition, "priority": priority, "is_active": True},
    )
    return scenario


def fallout_rule_set(
    *, step_key: str, error_code: str, queue: str, priority: int = 0
) -> FalloutRule:
    """The queue that receives ``step_key``'s steps failing with ``error_code`` for good."""
    if not queue.strip():
        raise ApplicationError("A fallout rule names a queue.", code="required", field="queue")
    rule, _ = FalloutRule.objects.update_or_create(
        step_key=step_key, error_code=error_code, defaults={"queue": queue, "priority": priority}
    )
    return rule
