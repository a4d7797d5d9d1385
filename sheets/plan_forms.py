"""Forms of the plan design pages (``docs/plans.md``, "Designing plans").

Each field carries the models' limits (``StepDefinition``, ``StepGroupVersion``,
``PlanScenario``, ``FalloutRule``); the rules of a group as a whole (duplicate keys,
cycles, a condition's logic, retry settings) are the service's, which names every
problem by its step and field. A condition is typed one clause a line,
``field operator value`` (``Order.Type = Sales``, ``Order.CustomFields.Channel in WEB, APP``),
numbered from 1 as the logic counts them.
"""

import re
from typing import Any, cast

from django import forms

from orchestration.integrations.steps import handler_names
from orchestration.models import (
    Assignment,
    DependencyScope,
    FalloutRule,
    FulfillmentAction,
    RetryKind,
    StepDefinition,
    StepGroup,
    StepGroupVersion,
    StepScope,
    StepType,
)
from orchestration.models.plans import CALLOUT_METHODS
from orchestration.plans.conditions import MAX_CLAUSES, MAX_LOGIC_LENGTH, OPERATORS
from orchestration.plans.validate import MAX_DEPENDENCIES, MAX_MINUTES, MAX_STEPS
from orchestration.selectors.step_groups import step_group_keys
from orchestration.services.plan_shapes import MAX_PRIORITY, USERNAME_LENGTH
from orchestration.services.step_groups import MAX_RULES
from orchestration.validators import validate_identifier

from .forms import model_max_length

# The handlers a manual (or bound) step names: the fulfilment's own actions.
FULFILLMENT_ACTIONS = ("start", "pick", "pack", "ship", "export", "receive")
KEY_LENGTH = model_max_length(StepGroup, "key")
GROUP_NAME_LENGTH = model_max_length(StepGroup, "name")
STEP_NAME_LENGTH = model_max_length(StepDefinition, "name")
COMMENT_LENGTH = model_max_length(StepGroupVersion, "comment")
QUEUE_LENGTH = model_max_length(StepDefinition, "queue")
URL_LENGTH = model_max_length(StepDefinition, "url")
HANDLER_LENGTH = model_max_length(StepDefinition, "handler")
DELAY_FROM_LENGTH = model_max_length(StepDefinition, "delay_from")
ERROR_CODE_LENGTH = model_max_length(FalloutRule, "error_code")
# A PositiveIntegerField holds this much on every database.
MAX_INTEGER = 2**31 - 1
# A clause's line: a field, an operator and a value (a list of values for ``in``).
CLAUSES_LENGTH = MAX_CLAUSES * 1_000
# Operators, longest first, so that ``not in`` is not read as a field ``not``.
_OPERATORS = sorted(OPERATORS, key=len, reverse=True)


def handler_choices() -> list[tuple[str, str]]:
    """The handlers the page offers: the registered ones, then the fulfilment's actions."""
    return [
        *((name, "registered handler") for name in handler_names()),
        *((name, "fulfilment action") for name in FULFILLMENT_ACTIONS),
    ]


def group_choices() -> list[tuple[str, str]]:
    """The groups a step's cancel or amend group may name."""
    return [("", "(none)"), *((key, key) for key in step_group_keys())]


def _minutes(required: bool = False) -> forms.IntegerField:
    return forms.IntegerField(
        required=required,
        min_value=0,
        max_value=MAX_MINUTES,
        widget=forms.NumberInput(attrs={"class": "number"}),
    )


def clause_lines(condition: Any) -> tuple[str, str]:
    """A stored condition as the form shows it: (clauses, one a line; logic)."""
    if not isinstance(condition, dict):
        return "", ""
    lines = []
    for clause in condition.get("clauses") or []:
        value = clause.get("value")
        if isinstance(value, list):
            value = ", ".join(str(item) for item in value)
        elif isinstance(value, bool):
            value = "true" if value else "false"
        text = f"{clause.get('field', '')} {clause.get('operator', '')} "
        lines.append((text + ("" if value is None else str(value))).rstrip())
    return "\n".join(lines), str(condition.get("logic") or "ALL")


def parse_clause(line: str) -> dict[str, Any]:
    """``Order.Type = Sales`` as ``{"field", "operator", "value"}``. An operator that is
    not one is kept as typed, for the service to name."""
    field, _, rest = line.strip().partition(" ")
    rest = rest.strip()
    collapsed = " ".join(rest.split()).lower()
    for operator in _OPERATORS:
        if collapsed == operator or collapsed.startswith(operator + " "):
            words = len(operator.split())
            parts = rest.split(None, words)
            value = parts[words] if len(parts) > words else None
            return {"field": field, "operator": operator, "value": value}
    typed, _, remainder = rest.partition(" ")
    return {"field": field, "operator": typed, "value": remainder.strip() or None}


def condition_of(clauses: str, logic: str) -> dict[str, Any] | None:
    """The clauses typed (one a line) and the logic as a stored condition; None if none."""
    lines = [line for line in clauses.splitlines() if line.strip()]
    if not lines:
        return None
    return {"clauses": [parse_clause(line) for line in lines], "logic": logic.strip() or "ALL"}


def _clauses_field() -> forms.CharField:
    return forms.CharField(
        required=False,
        max_length=CLAUSES_LENGTH,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 2, "spellcheck": "false"}),
    )


def _logic_field() -> forms.CharField:
    return forms.CharField(required=False, max_length=MAX_LOGIC_LENGTH)


class RuleForm(forms.Form):
    """One assignment rule of a manual step (CONDITIONS): when its clauses hold, the step
    goes to the user, or to the queue; the highest priority first."""

    assignee = forms.CharField(required=False, max_length=USERNAME_LENGTH)
    queue = forms.CharField(required=False, max_length=QUEUE_LENGTH)
    priority = forms.IntegerField(
        required=False,
        min_value=-MAX_PRIORITY,
        max_value=MAX_PRIORITY,
        widget=forms.NumberInput(attrs={"class": "number"}),
    )
    clauses = _clauses_field()
    logic = _logic_field()

    def filled(self) -> bool:
        """Whether anything was typed into the rule (a blank row is no rule)."""
        data = self.cleaned_data
        return any((data.get(name) or "").strip() for name in ("assignee", "queue", "clauses"))

    def payload(self) -> dict[str, Any]:
        """The rule as ``step_group_version_save`` takes it."""
        data = self.cleaned_data
        rule: dict[str, Any] = {}
        condition = condition_of(data["clauses"], data["logic"])
        if condition is not None:
            rule["condition"] = condition
        if data["assignee"].strip():
            rule["assignee"] = data["assignee"].strip()
        if data["queue"].strip() or not data["assignee"].strip():
            rule["queue"] = data["queue"].strip()
        rule["priority"] = data["priority"] or 0
        return rule


def rule_initial(rule: Any) -> dict[str, Any]:
    """A stored rule as its row shows it."""
    if not isinstance(rule, dict):
        return {}
    clauses, logic = clause_lines(rule.get("condition"))
    return {
        "assignee": rule.get("assignee") or "",
        "queue": rule.get("queue") or "",
        "priority": rule.get("priority", 0),
        "clauses": clauses,
        "logic": logic,
    }


# A rule row's fields as the page names them: step-3-rule-0-assignee.
_RULE_NAME = re.compile(r"-rule-(\d{1,4})-(?:assignee|queue|priority|clauses|logic)$")


class StepForm(forms.Form):
    """One step row of the edit page, with its assignment rules (rows of their own,
    ``<step prefix>-rule-<n>-<field>``: the rows sent, and one blank row to type into)."""

    key = forms.CharField(max_length=KEY_LENGTH)
    name = forms.CharField(max_length=STEP_NAME_LENGTH)
    type = forms.ChoiceField(choices=StepType.choices, initial=StepType.AUTO_TASK)
    scope = forms.ChoiceField(choices=StepScope.choices, initial=StepScope.ORDER)
    # Typed, with the registered handlers and the fulfilment's actions offered (a
    # datalist): a manual step done on the order page has a name of its own.
    handler = forms.CharField(
        required=False,
        max_length=HANDLER_LENGTH,
        widget=forms.TextInput(attrs={"list": "step-handlers", "autocomplete": "off"}),
    )
    url = forms.URLField(required=False, max_length=URL_LENGTH, assume_scheme="https")
    timeout_seconds = forms.IntegerField(min_value=0, max_value=MAX_INTEGER, initial=10)
    condition_clauses = _clauses_field()
    condition_logic = _logic_field()
    resume_clauses = _clauses_field()
    resume_logic = _logic_field()
    delay_minutes = _minutes(required=False)
    delay_from = forms.CharField(
        required=False, max_length=DELAY_FROM_LENGTH, initial="DEPENDENCIES_DONE"
    )
    retry_kind = forms.ChoiceField(choices=RetryKind.choices, initial=RetryKind.NONE)
    # The column's range; the service refuses more than MAX_RETRIES, saying so.
    retry_count = forms.IntegerField(required=False, min_value=0, max_value=32_767, initial=0)
    retry_interval_minutes = _minutes()
    retry_intervals = forms.CharField(required=False, max_length=2_000)
    estimated_minutes = _minutes()
    jeopardy_minutes = _minutes()
    point_of_no_return = forms.BooleanField(required=False)
    assignment = forms.ChoiceField(choices=Assignment.choices, initial=Assignment.NONE)
    queue = forms.CharField(required=False, max_length=QUEUE_LENGTH)
    cancel_group = forms.ChoiceField(required=False)
    amend_group = forms.ChoiceField(required=False)
    # A callout's; POST when not sent (the column's default).
    method = forms.ChoiceField(
        required=False, choices=[(method, method) for method in CALLOUT_METHODS], initial="POST"
    )

    def __init__(self, *args: Any, groups: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["cancel_group"].choices = groups  # type: ignore[attr-defined]
        self.fields["amend_group"].choices = groups  # type: ignore[attr-defined]
        self.rule_forms = self._rule_forms()

    def _rule_forms(self) -> list[RuleForm]:
        """The rule rows: those posted (by their numbers, in order), or those of the
        step read; then one blank row (not for a posted step: the page adds rows)."""
        prefix = self.add_prefix("rule")
        if self.is_bound:
            numbers = sorted(
                {
                    int(found[1])
                    for name in self.data
                    if name.startswith(prefix + "-") and (found := _RULE_NAME.search(name))
                }
            )[: MAX_RULES + 1]
            return [RuleForm(self.data, prefix=f"{prefix}-{n}") for n in numbers]
        rules = self.initial.get("assignment_rules") or []
        rows = [
            RuleForm(initial=rule_initial(rule), prefix=f"{prefix}-{n}")
            for n, rule in enumerate(rules if isinstance(rules, list) else [])
        ]
        return [*rows, RuleForm(prefix=f"{prefix}-{len(rows)}")]

    def filled_rules(self) -> list[RuleForm]:
        """The rule rows typed into, in order (after ``is_valid``)."""
        return [rule for rule in self.rule_forms if rule.is_valid() and rule.filled()]

    def has_changed(self) -> bool:
        return super().has_changed() or any(rule.has_changed() for rule in self.rule_forms)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if len(self.rule_forms) > MAX_RULES:
            self.add_error(None, f"At most {MAX_RULES} assignment rules a step.")
        # A rule row's own errors (a priority out of range) are the step's, named by
        # the rule's number among the rows: assignment_rules[2].priority.
        for number, rule in enumerate(self.rule_forms, start=1):
            for name, messages in rule.errors.items():
                self.errors[f"assignment_rules[{number}].{name}"] = messages
        return data

    def clean_retry_intervals(self) -> list[int]:
        text = self.cleaned_data.get("retry_intervals", "")
        intervals = []
        for part in text.replace(";", ",").split(","):
            if not part.strip():
                continue
            if not part.strip().isascii() or not part.strip().isdigit() or len(part) > 7:
                raise forms.ValidationError(
                    f"{part.strip()!r} is not a number of minutes: type them like 1, 5, 15."
                )
            intervals.append(int(part))
        return intervals

    def payload(self) -> dict[str, Any]:
        """The step as ``step_group_version_save`` takes it."""
        data = self.cleaned_data
        return {
            "key": data["key"],
            "name": data["name"],
            "type": data["type"],
            "scope": data["scope"],
            "handler": data["handler"],
            "url": data["url"],
            "method": data["method"] or "POST",
            "timeout_seconds": data["timeout_seconds"],
            "condition": condition_of(data["condition_clauses"], data["condition_logic"]),
            "resume_condition": condition_of(data["resume_clauses"], data["resume_logic"]),
            "delay_minutes": data["delay_minutes"] or 0,
            "delay_from": data["delay_from"] or "DEPENDENCIES_DONE",
            "retry_kind": data["retry_kind"],
            "retry_count": data["retry_count"] or 0,
            "retry_interval_minutes": data["retry_interval_minutes"] or 0,
            "retry_intervals": data["retry_intervals"],
            "estimated_minutes": data["estimated_minutes"],
            "jeopardy_minutes": data["jeopardy_minutes"],
            "point_of_no_return": data["point_of_no_return"],
            "assignment": data["assignment"],
            "queue": data["queue"],
            "assignment_rules": [rule.payload() for rule in self.filled_rules()],
            "cancel_group": data["cancel_group"] or None,
            "amend_group": data["amend_group"] or None,
        }


def step_initial(step: dict[str, Any]) -> dict[str, Any]:
    """A step as ``selectors.step_groups.step_payload`` reads it, as the form's initial."""
    clauses, logic = clause_lines(step.get("condition"))
    resume_clauses, resume_logic = clause_lines(step.get("resume_condition"))
    return {
        **{name: value for name, value in step.items() if name in StepForm.base_fields},
        "condition_clauses": clauses,
        "condition_logic": logic,
        "resume_clauses": resume_clauses,
        "resume_logic": resume_logic,
        "retry_intervals": ", ".join(str(m) for m in step.get("retry_intervals") or []),
        "assignment_rules": step.get("assignment_rules") or [],
        "cancel_group": step.get("cancel_group") or "",
        "amend_group": step.get("amend_group") or "",
    }


class DependencyForm(forms.Form):
    """One dependency row: ``step`` waits for ``on``."""

    step = forms.CharField(max_length=KEY_LENGTH)
    on = forms.CharField(max_length=KEY_LENGTH)
    scope = forms.ChoiceField(choices=DependencyScope.choices, initial=DependencyScope.PLAN)


class _Rows(forms.BaseFormSet):
    """Rows added and removed on the page; a row left blank is no row."""

    def __init__(self, *args: Any, groups: list[tuple[str, str]] | None = None, **kwargs: Any):
        self.groups = groups
        super().__init__(*args, **kwargs)

    def get_form_kwargs(self, index: int | None) -> dict[str, Any]:
        return {"groups": self.groups} if self.groups is not None else {}

    def filled(self) -> list[Any]:
        """The rows typed into (``StepForm`` or ``DependencyForm``), in order."""
        return [form for form in self.forms if form.has_changed()]


StepFormSet = cast(
    type[_Rows],
    forms.formset_factory(
        StepForm, formset=_Rows, extra=0, max_num=MAX_STEPS, absolute_max=MAX_STEPS
    ),
)
DependencyFormSet = cast(
    type[_Rows],
    forms.formset_factory(
        DependencyForm,
        formset=_Rows,
        extra=0,
        max_num=MAX_DEPENDENCIES,
        absolute_max=MAX_DEPENDENCIES,
    ),
)


class GroupForm(forms.Form):
    """The group's key (a new group only), name and description, and the version's comment."""

    key = forms.CharField(max_length=KEY_LENGTH, validators=[validate_identifier])
    name = forms.CharField(max_length=GROUP_NAME_LENGTH)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    comment = forms.CharField(required=False, max_length=COMMENT_LENGTH)
    activate = forms.BooleanField(required=False, initial=True)


class ActivateVersionForm(forms.Form):
    """Activating a version: nothing to type (the URL names it)."""


class DeleteForm(forms.Form):
    """Deleting a scenario or a fallout rule: nothing to type (the URL names it)."""


class ScenarioForm(forms.Form):
    """The group's scenario for an action: the condition on the order and the priority."""

    action = forms.ChoiceField(choices=FulfillmentAction.choices)
    condition_clauses = _clauses_field()
    condition_logic = _logic_field()
    priority = forms.IntegerField(
        min_value=-MAX_PRIORITY, max_value=MAX_PRIORITY, initial=0, required=False
    )

    def condition(self) -> dict[str, Any] | None:
        data = self.cleaned_data
        return condition_of(data["condition_clauses"], data["condition_logic"])


class FalloutRuleForm(forms.Form):
    """A fallout rule: by step key and error code (blank: any), the queue."""

    step_key = forms.CharField(required=False, max_length=KEY_LENGTH)
    error_code = forms.CharField(required=False, max_length=ERROR_CODE_LENGTH)
    queue = forms.CharField(max_length=QUEUE_LENGTH)
    priority = forms.IntegerField(
        required=False, min_value=-MAX_PRIORITY, max_value=MAX_PRIORITY, initial=0
    )
