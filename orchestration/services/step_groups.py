"""Designing fulfilment plans: step groups, their versions, scenarios and fallout rules.

A save never edits a version: it makes the next one (plans in flight finish on
theirs, ``docs/plans.md``), checked whole by the pure core
(``plans.validate.group_problems``: duplicate keys, unknown steps, cycles named
``a -> b -> a``, bad condition logic with its column, retry and jeopardy
settings), by the models' own limits, and here for what the core's ``StepSpec`` does
not hold or cannot know: an auto task's handler is registered, a callout's method,
URL and timeout, a manual step's assignment (a queue, rules only for CONDITIONS, each
rule's condition as a step's, its assignee an active user). A refused save writes
nothing and lists every problem, each naming its step and field
(``steps[0].assignment_rules[2].assignee``).
"""

from collections.abc import Mapping, Sequence
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max

from ..errors import ApplicationError, NotFoundError
from ..integrations.steps import handler_names
from ..models import (
    Assignment,
    FalloutRule,
    FulfillmentAction,
    PlanScenario,
    StepDefinition,
    StepDependency,
    StepGroup,
    StepGroupVersion,
    StepScope,
    StepType,
)
from ..models.plans import CALLOUT_METHODS, MAX_CALLOUT_TIMEOUT
from ..plans import model as pure
from ..plans.callouts import callout_url_problem
from ..plans.model import FIELD_PREFIX
from ..plans.problems import Code, Problem
from ..plans.validate import MAX_STEPS, condition_problems, group_problems
from ..selectors.network import network_changed
from ..selectors.plans import condition_spec, record_field_problem, step_spec
from ..validators import validate_identifier
from .plan_shapes import MAX_PRIORITY, assignment_rule_shape_problem, condition_shape_problem
from .plan_shapes import shown as _shown
from .plans import BOUND_ACTIONS

STEP_FIELDS = frozenset(
    field.name
    for field in StepDefinition._meta.get_fields()
    if field.concrete and field.name not in ("id", "version", "position")
)


GROUP_FIELDS = frozenset({"cancel_group", "amend_group"})
# Fields holding a condition (``{"clauses": [{"field", "operator", "value"}], "logic"}``).
CONDITION_FIELDS = ("condition", "resume_condition")
# Rules of one step: a step given to more people or queues than this by rules is a
# table the designer should keep elsewhere (a queue).
MAX_RULES = MAX_STEPS


def _problem(index: int, fields: Mapping[str, Any], name: str, message: str) -> dict[str, Any]:
    key = fields.get("key") if isinstance(fields.get("key"), str) and fields.get("key") else None
    return {
        "code": "invalid",
        "message": f"Step {key or index + 1}, {name}: {message}",
        "field": f"steps[{index}].{name}",
    }


def _shape_problems(index: int, fields: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Fields whose JSON shape the model does not check (conditions, lists of minutes,
    assignment rules, a callout's method)."""
    problems = []
    for name in CONDITION_FIELDS:
        found = condition_shape_problem(fields.get(name))
        if found:
            path, message = found
            problems.append(_problem(index, fields, f"{name}.{path}".rstrip("."), message))
    method = fields.get("method", "POST")
    if method not in CALLOUT_METHODS:
        methods = ", ".join(CALLOUT_METHODS)
        problems.append(
            _problem(
                index,
                fields,
                "method",
                f"{_shown(method)} is not a callout's method: one of {methods}",
            )
        )
    intervals = fields.get("retry_intervals", [])
    if not isinstance(intervals, list) or not all(
        isinstance(minutes, int) and not isinstance(minutes, bool) and minutes >= 0
        for minutes in intervals
    ):
        problems.append(
            _problem(
                index,
                fields,
                "retry_intervals",
                "a list of whole minutes, 0 or more, one per retry (like [1, 5, 15])",
            )
        )
    rules = fields.get("assignment_rules", [])
    if not isinstance(rules, list):
        problems.append(_problem(index, fields, "assignment_rules", "a list of rules"))
    elif len(rules) > MAX_RULES:
        problems.append(
            _problem(
                index,
                fields,
                "assignment_rules",
                f"{len(rules):,} rules; at most {MAX_RULES} are allowed",
            )
        )
    else:
        for number, rule in enumerate(rules, start=1):
            found = assignment_rule_shape_problem(number, rule)
            if found:
                problems.append(_problem(index, fields, *found))
    for name in GROUP_FIELDS:
        value = fields.get(name)
        if value not in (None, "") and not isinstance(value, str):
            problems.append(_problem(index, fields, name, "the key of a step group, or nothing"))
    return problems


def _reach_problems(definition: StepDefinition) -> list[tuple[str, str]]:
    """Where and how long an automatic step may reach out: an auto task's timeout of 1
    to ``MAX_CALLOUT_TIMEOUT`` (the worker's lease is the timeout plus a grace; a
    callout's is checked with its URL, ``_callout_problems``), a callout's address
    (``plans/callouts.py``: never a metadata service), and a delay's date field."""
    problems = []
    if definition.type == StepType.AUTO_TASK and not (
        1 <= definition.timeout_seconds <= MAX_CALLOUT_TIMEOUT
    ):
        problems.append(("timeout_seconds", f"a timeout is 1 to {MAX_CALLOUT_TIMEOUT} seconds"))
    url = definition.url.strip()
    if definition.type == StepType.CALLOUT and url.lower().startswith(("http://", "https://")):
        where = callout_url_problem(url)
        if where:
            problems.append(("url", where))
    if definition.delay_from.startswith(FIELD_PREFIX):
        unknown = record_field_problem(definition.delay_from[len(FIELD_PREFIX) :].strip())
        if unknown:
            problems.append(("delay_from", unknown))
    return problems


def _scope_problems(definition: StepDefinition) -> list[tuple[str, str]]:
    """Clauses of an ORDER step (its conditions, its assignment rules') reading a line's
    field: such a step has no line, so the clause would never hold."""
    if definition.scope != StepScope.ORDER:
        return []
    conditions = [(name, getattr(definition, name)) for name in CONDITION_FIELDS] + [
        (f"assignment_rules[{number}].condition", rule.get("condition"))
        for number, rule in enumerate(definition.assignment_rules or [], start=1)
        if isinstance(rule, Mapping)
    ]
    problems = []
    for path, condition in conditions:
        for number, clause in enumerate((condition or {}).get("clauses", []), start=1):
            field = clause.get("field", "").strip()
            if field.startswith("Line."):
                problems.append(
                    (
                        f"{path}.clauses[{number}].field",
                        f"{field} is a line's field: an ORDER step has no line, so the clause "
                        "would never hold (make the step's scope LINE)",
                    )
                )
    return problems


def _groups_named(steps: Sequence[Any]) -> dict[str, StepGroup]:
    keys = {
        step.get(name)
        for step in steps
        if isinstance(step, Mapping)
        for name in GROUP_FIELDS
        if isinstance(step.get(name), str) and step.get(name)
    }
    return {group.key: group for group in StepGroup.objects.filter(key__in=keys)}


def _definitions(steps: Sequence[Any]) -> list[StepDefinition]:
    definitions = []
    problems: list[dict[str, Any]] = []
    groups = _groups_named(steps)
    for index, fields in enumerate(steps):
        if not isinstance(fields, Mapping):
            problems.append(
                {
                    "code": "invalid",
                    "message": f"Step {index + 1}: a step is an object of its fields.",
                    "field": f"steps[{index}]",
                }
            )
            continue
        unknown = sorted(set(fields) - STEP_FIELDS - GROUP_FIELDS)
        if unknown:
            problems.append(
                {
                    "code": "unknown_field",
                    "message": f"Step {index + 1}: unknown field {unknown[0]!r}.",
                    "field": f"steps[{index}].{unknown[0]}",
                }
            )
            continue
        shape = _shape_problems(index, fields)
        if shape:
            problems.extend(shape)
            continue
        values = dict(fields)
        for name in GROUP_FIELDS:
            group_key = values.pop(name, None)
            if group_key and group_key not in groups:
                problems.append(
                    _problem(index, fields, name, f"there is no step group {group_key!r}")
                )
            values[name] = groups.get(group_key) if group_key else None
        definition = StepDefinition(position=index, **values)
        refused: set[str] = set()
        try:
            definition.full_clean(exclude=["version"], validate_unique=False)
        except ValidationError as error:
            for name, messages in error.message_dict.items():
                problems.append(_problem(index, fields, name, messages[0]))
            refused = set(error.message_dict)
        problems.extend(
            _problem(index, fields, name, message)
            for name, message in _reach_problems(definition)
            if name not in refused
        )
        problems.extend(
            _problem(index, fields, name, message) for name, message in _scope_problems(definition)
        )
        definitions.append(definition)
    if problems:
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        raise ApplicationError(f"Not saved: {count}. {problems[0]['message']}", errors=problems)
    return definitions


def _dependency_specs(dependencies: Sequence[Any]) -> tuple[pure.DependencySpec, ...]:
    specs = []
    problems = []
    scopes = ", ".join(scope.value for scope in pure.DependencyScope)
    for index, dependency in enumerate(dependencies):
        where = f"dependencies[{index}]"
        if not isinstance(dependency, Mapping):
            problems.append((where, "a dependency is an object: step, on and scope"))
            continue
        unknown = sorted(set(dependency) - {"step", "on", "scope"})
        if unknown:
            problems.append((f"{where}.{unknown[0]}", f"unknown field {unknown[0]!r}"))
            continue
        scope = dependency.get("scope") or "PLAN"
        if scope not in set(pure.DependencyScope):
            problems.append((f"{where}.scope", f"{scope!r} is not a scope: one of {scopes}"))
            continue
        step, on = dependency.get("step", ""), dependency.get("on", "")
        if not isinstance(step, str) or not isinstance(on, str):
            problems.append((where, "step and on are the keys of steps"))
            continue
        specs.append(pure.DependencySpec(step=step, on=on, scope=pure.DependencyScope(scope)))
    if problems:
        errors = [
            {"code": "invalid", "message": f"Dependency {path}: {message}.", "field": path}
            for path, message in problems
        ]
        count = f"{len(errors)} problem{'s' if len(errors) != 1 else ''}"
        raise ApplicationError(f"Not saved: {count}. {errors[0]['message']}", errors=errors)
    return tuple(specs)


def _handler_problems(definition: StepDefinition, known: Sequence[str]) -> list[Problem]:
    """An auto task's handler is a registered one (``integrations/steps.py``) or the
    fulfilment's own action (``export``): a typo would otherwise fail every plan's step
    at run time (``UnknownHandler``). A manual
    step's handler is free: the fulfilment's action it is, or a name of its own
    (done on the order page)."""
    handler = definition.handler.strip()
    if definition.type != StepType.AUTO_TASK or not handler:
        return []
    if handler in known or handler in BOUND_ACTIONS:
        return []
    return [
        Problem(
            Code.UNKNOWN_HANDLER,
            f"no step handler named {_shown(handler)}: the registered ones are "
            f"{', '.join(known)}; the fulfilment's actions {', '.join(sorted(BOUND_ACTIONS))}",
            definition.key,
            "handler",
        )
    ]


def _callout_problems(definition: StepDefinition) -> list[Problem]:
    """A callout's URL (http or https) and its timeout (1 to ``MAX_CALLOUT_TIMEOUT``)."""
    if definition.type != StepType.CALLOUT:
        return []
    key, problems = definition.key, []
    url = definition.url.strip()
    if not url:
        problems.append(
            Problem(
                Code.MISSING_URL, "a Callout step needs a URL: the address it calls", key, "url"
            )
        )
    elif not url.lower().startswith(("http://", "https://")):
        problems.append(
            Problem(
                Code.MISSING_URL, "a callout's URL is an http:// or https:// address", key, "url"
            )
        )
    if not 1 <= definition.timeout_seconds <= MAX_CALLOUT_TIMEOUT:
        problems.append(
            Problem(
                Code.INVALID_TIMEOUT,
                f"timeout_seconds is {definition.timeout_seconds:,}: a callout waits from 1 to "
                f"{MAX_CALLOUT_TIMEOUT} seconds for its answer",
                key,
                "timeout_seconds",
            )
        )
    return problems


def _assignment_problems(definition: StepDefinition, users: set[str]) -> list[Problem]:
    """A manual step's assignment: a queue for round robin and least loaded; rules for
    CONDITIONS (and only then), each giving the step to an active user or a queue, its
    condition checked as a step's is. ``users``: the active usernames the rules name.
    Steps of other types are never assigned: their assignment fields are not read."""
    if definition.type != StepType.MANUAL:
        return []
    key, kind, rules = definition.key, definition.assignment, definition.assignment_rules or []
    problems = []
    if kind in (Assignment.ROUND_ROBIN, Assignment.LEAST_LOADED) and not definition.queue.strip():
        problems.append(
            Problem(
                Code.MISSING_QUEUE,
                f"a {kind} assignment needs a queue to choose from: shop:<backend ID> (the "
                "shop's staff) or the name of a group of users",
                key,
                "queue",
            )
        )
    if kind == Assignment.CONDITIONS and not rules:
        problems.append(
            Problem(
                Code.MISSING_RULES,
                "a CONDITIONS assignment needs rules: a condition and the user or queue "
                "that gets the step when it holds",
                key,
                "assignment_rules",
            )
        )
    if kind != Assignment.CONDITIONS and rules:
        problems.append(
            Problem(
                Code.RULES_NOT_USED,
                f"only a CONDITIONS assignment has rules; this one is {kind}: choose "
                "CONDITIONS, or remove the rules",
                key,
                "assignment_rules",
            )
        )
    for number, rule in enumerate(rules, start=1):
        where = f"assignment_rules[{number}]"
        assignee, queue = (rule.get("assignee") or "").strip(), (rule.get("queue") or "").strip()
        if assignee and queue:
            problems.append(
                Problem(
                    Code.INVALID_RULE,
                    f"rule {number} gives the step to a user (assignee) and to a queue: "
                    "name one of them",
                    key,
                    where,
                )
            )
        elif not assignee and not queue:
            problems.append(
                Problem(
                    Code.INVALID_RULE,
                    f"rule {number} names nobody: the user (assignee) or the queue that "
                    "gets the step",
                    key,
                    where,
                )
            )
        elif assignee and assignee not in users:
            problems.append(
                Problem(
                    Code.UNKNOWN_ASSIGNEE,
                    f"rule {number}: there is no active user {_shown(assignee)}",
                    key,
                    f"{where}.assignee",
                )
            )
        condition = condition_spec(rule.get("condition"))
        if condition is not None:
            problems.extend(condition_problems(condition, key, f"{where}.condition"))
    return problems


def _active_users(definitions: Sequence[StepDefinition]) -> set[str]:
    names = {
        rule["assignee"].strip()
        for definition in definitions
        if definition.type == StepType.MANUAL
        for rule in definition.assignment_rules or []
        if isinstance(rule.get("assignee"), str) and rule["assignee"].strip()
    }
    if not names:
        return set()
    found = User.objects.filter(username__in=names, is_active=True)
    return set(found.values_list("username", flat=True))


def payload_field(field: str) -> str:
    """The pure core's name of a step's field as the payload spells it: the retry
    policy is flat there (``retry.intervals`` -> ``retry_intervals``)."""
    return "retry_" + field.removeprefix("retry.") if field.startswith("retry.") else field


def _refuse(problems: Sequence[Any], keys: Sequence[str]) -> None:
    errors = []
    for problem in problems:
        index = keys.index(problem.step) if problem.step in keys else None
        where = f"steps[{index}]" if index is not None else ""
        field = payload_field(problem.field) if problem.field else ""
        errors.append(
            {
                "code": str(problem.code),
                "message": (f"Step {problem.step}: " if problem.step else "") + problem.message,
                "field": ".".join(part for part in (where, field) if part) or None,
                **({"column": problem.column} if problem.column else {}),
            }
        )
    count = f"{len(errors)} problem{'s' if len(errors) != 1 else ''}"
    raise ApplicationError(f"Not saved: {count}. {errors[0]['message']}", errors=errors)


def _group_clean(group: StepGroup, comment: str) -> None:
    """The group's own fields (key, name) and the version's comment, under the models' limits."""
    errors = []
    try:
        group.full_clean(validate_unique=False)
    except ValidationError as error:
        errors += [
            {"code": "invalid", "message": f"{name}: {messages[0]}", "field": name}
            for name, messages in error.message_dict.items()
            if name != "created_at"
        ]
    limit = StepGroupVersion._meta.get_field("comment").max_length or 0
    if len(comment) > limit:
        message = f"comment: at most {limit} characters (it has {len(comment)})."
        errors.append({"code": "max_length", "message": message, "field": "comment"})
    if errors:
        raise ApplicationError(errors[0]["message"], errors=errors)


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
    group = StepGroup.objects.select_for_update().filter(key=key).first() or StepGroup(key=key)
    group.name, group.description = name, description
    _group_clean(group, comment)
    definitions = _definitions(steps)
    keys = [definition.key for definition in definitions]
    spec = pure.GroupSpec(
        key=key,
        steps=tuple(step_spec(definition) for definition in definitions),
        dependencies=_dependency_specs(dependencies),
    )
    users, known = _active_users(definitions), handler_names()
    problems = group_problems(spec) + [
        problem
        for definition in definitions
        for problem in (
            _handler_problems(definition, known)
            + _callout_problems(definition)
            + _assignment_problems(definition, users)
        )
    ]
    if problems:
        _refuse(problems, keys)
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


def _scenario_condition_check(group_key: str, condition: Any) -> None:
    shape = condition_shape_problem(condition)
    if shape:
        path, message = shape
        field = f"condition.{path}".rstrip(".")
        raise ApplicationError(f"Scenario {field}: {message}.", field=field)
    spec = condition_spec(condition)
    if spec is None:
        return
    problems = group_problems(
        pure.GroupSpec(
            key=group_key,
            steps=(
                pure.StepSpec(
                    key="scenario", name="Scenario", type=pure.StepType.MILESTONE, condition=spec
                ),
            ),
        )
    )
    if problems:
        errors: list[dict[str, Any]] = [
            {
                "code": str(problem.code),
                "message": f"Scenario condition: {problem.message}",
                # The step's field (condition.logic, condition.clauses[1].operator).
                "field": problem.field or "condition",
                **({"column": problem.column} if problem.column else {}),
            }
            for problem in problems
        ]
        raise ApplicationError(errors[0]["message"], code=errors[0]["code"], errors=errors)


def plan_scenario_check(*, group_key: str, action: str, condition: Any, priority: Any) -> StepGroup:
    """The group a scenario names, once its action, priority and condition are checked
    (``ApplicationError`` naming the field otherwise); writes nothing."""
    group = StepGroup.objects.filter(key=group_key).first()
    if group is None:
        raise NotFoundError(
            f"There is no step group {group_key!r}.", code="not_found", field="group"
        )
    if action not in FulfillmentAction.values:
        actions = ", ".join(FulfillmentAction.values)
        raise ApplicationError(
            f"{action!r} is not an action: one of {actions}.", field="action", code="invalid_choice"
        )
    if not isinstance(priority, int) or isinstance(priority, bool) or abs(priority) > MAX_PRIORITY:
        raise ApplicationError(
            f"The priority is a whole number from -{MAX_PRIORITY:,} to {MAX_PRIORITY:,}.",
            field="priority",
        )
    _scenario_condition_check(group_key, condition)
    return group


@transaction.atomic
def plan_scenario_set(
    *, group_key: str, action: str, condition: Mapping[str, Any] | None = None, priority: int = 0
) -> PlanScenario:
    """The scenario giving fulfilments of ``action`` (matching ``condition``) the group:
    the group's one scenario for that action, made or replaced."""
    group = plan_scenario_check(
        group_key=group_key, action=action, condition=condition, priority=priority
    )
    scenario, _ = PlanScenario.objects.update_or_create(
        group=group,
        action=action,
        defaults={"condition": condition or None, "priority": priority, "is_active": True},
    )
    return scenario


@transaction.atomic
def plan_scenario_update(
    *,
    scenario_id: int,
    group_key: str,
    action: str,
    condition: Mapping[str, Any] | None = None,
    priority: int = 0,
    is_active: bool = True,
) -> PlanScenario:
    """Change one scenario (by its ID) whole: its group, action, condition, priority."""
    scenario = PlanScenario.objects.select_for_update().filter(pk=scenario_id).first()
    if scenario is None:
        raise NotFoundError(f"There is no plan scenario {scenario_id}.", code="not_found")
    scenario.group = plan_scenario_check(
        group_key=group_key, action=action, condition=condition, priority=priority
    )
    scenario.action, scenario.condition = action, condition or None
    scenario.priority, scenario.is_active = priority, bool(is_active)
    scenario.save()
    return scenario


@transaction.atomic
def plan_scenario_delete(*, scenario_id: int) -> None:
    """Forget a scenario: fulfilments of its action no longer get its group."""
    deleted, _ = PlanScenario.objects.filter(pk=scenario_id).delete()
    if not deleted:
        raise NotFoundError(f"There is no plan scenario {scenario_id}.", code="not_found")


def _fallout_rule_clean(rule: FalloutRule) -> None:
    rule.step_key, rule.error_code, rule.queue = (
        rule.step_key.strip(),
        rule.error_code.strip(),
        rule.queue.strip(),
    )
    if not rule.queue:
        raise ApplicationError("A fallout rule names a queue.", code="required", field="queue")
    if rule.step_key:
        try:
            validate_identifier(rule.step_key)
        except ValidationError as error:
            raise ApplicationError(f"step_key: {error.messages[0]}", field="step_key") from error
    if abs(rule.priority) > MAX_PRIORITY:
        raise ApplicationError(
            f"The priority is a whole number from -{MAX_PRIORITY:,} to {MAX_PRIORITY:,}.",
            field="priority",
        )
    try:
        rule.full_clean()
    except ValidationError as error:
        errors = [
            {"code": "invalid", "message": f"{name}: {messages[0]}", "field": name}
            for name, messages in error.message_dict.items()
        ]
        raise ApplicationError(errors[0]["message"], errors=errors) from error


@transaction.atomic
def fallout_rule_set(
    *, step_key: str, error_code: str, queue: str, priority: int = 0
) -> FalloutRule:
    """The queue that receives ``step_key``'s steps failing with ``error_code`` for good
    (blank: any step, any error); the one rule for that pair, made or replaced."""
    rule = FalloutRule.objects.filter(
        step_key=step_key.strip(), error_code=error_code.strip()
    ).first() or FalloutRule(step_key=step_key, error_code=error_code)
    rule.queue, rule.priority = queue, priority
    _fallout_rule_clean(rule)
    rule.save()
    return rule


@transaction.atomic
def fallout_rule_update(
    *, rule_id: int, step_key: str, error_code: str, queue: str, priority: int = 0
) -> FalloutRule:
    """Change one fallout rule (by its ID) whole."""
    rule = FalloutRule.objects.select_for_update().filter(pk=rule_id).first()
    if rule is None:
        raise NotFoundError(f"There is no fallout rule {rule_id}.", code="not_found")
    rule.step_key, rule.error_code, rule.queue, rule.priority = (
        step_key,
        error_code,
        queue,
        priority,
    )
    _fallout_rule_clean(rule)
    rule.save()
    return rule


@transaction.atomic
def fallout_rule_delete(*, rule_id: int) -> None:
    """Forget a fallout rule: steps it matched go to the next rule's queue, or none."""
    deleted, _ = FalloutRule.objects.filter(pk=rule_id).delete()
    if not deleted:
        raise NotFoundError(f"There is no fallout rule {rule_id}.", code="not_found")
