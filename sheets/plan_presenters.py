"""View models of the plan design pages: a refused save's problems, a condition in words.

A problem of a save names its step (key and row) and field as the service's payload
spells it (``retry_intervals``, ``condition.logic``); one in a condition's logic also
shows the logic typed with a caret under its column, as the sheet editor shows a
problem in a sheet.
"""

import re
from collections.abc import Mapping, Sequence
from typing import Any

from django import forms

# "steps[3].condition.logic" -> 3, "condition.logic"
_STEP_FIELD = re.compile(r"^steps\[(\d+)\](?:\.(.+))?$")
# The service's "Step pick: ..." or "Step 2, retry_intervals: ..." before the message.
_STEP_PREFIX = re.compile(r"^Step [^:]*?: ")
# Where the logic typed for a condition field is on the form.
_LOGIC_FIELDS = {"condition.logic": "condition_logic", "resume_condition.logic": "resume_logic"}
# "assignment_rules[2].condition.logic" -> 2: the logic of a manual step's rule.
_RULE_LOGIC = re.compile(r"^assignment_rules\[(\d+)\]\.condition\.logic$")


def condition_text(condition: Any) -> str:
    """``Order.Type = Sales AND ...``-like text of a stored condition, for tables."""
    if not isinstance(condition, Mapping) or not condition.get("clauses"):
        return ""
    clauses = []
    for number, clause in enumerate(condition.get("clauses") or [], start=1):
        value = clause.get("value")
        if isinstance(value, list):
            value = ", ".join(str(item) for item in value)
        text = f"{clause.get('field', '')} {clause.get('operator', '')}"
        clauses.append(f"{number}. {text}" + ("" if value is None else f" {value}"))
    return f"{'; '.join(clauses)} ({condition.get('logic') or 'ALL'})"


def rules_text(rules: Any) -> list[str]:
    """A manual step's assignment rules, each as a line: ``anna if 1. ... (ALL),
    priority 5``; ``queue vip-desk, priority 1`` (a rule without a condition)."""
    lines = []
    for rule in rules if isinstance(rules, list) else []:
        if not isinstance(rule, Mapping):
            continue
        whom = rule.get("assignee") or f"queue {rule.get('queue') or ''}".strip()
        condition = condition_text(rule.get("condition"))
        when = f" if {condition}" if condition else ""
        lines.append(f"{whom}{when}, priority {rule.get('priority', 0)}")
    return lines


def caret(source: str, column: int) -> str:
    """The text and, under it, a caret at ``column`` (1-based); blanks as spaces."""
    shown = "".join(" " if character.isspace() else character for character in source)
    return f"{shown}\n{' ' * (column - 1)}^"


def errors_text(messages: Any) -> str:
    """A field's error messages as one sentence list."""
    return " ".join(str(message) for message in messages)


def form_problems(
    steps: Sequence[forms.Form], dependencies: Sequence[forms.Form], group: forms.Form
) -> list[dict[str, Any]]:
    """The forms' own errors (a field left empty, a number out of range), each naming
    its row and field."""
    problems: list[dict[str, Any]] = []
    for name, messages in group.errors.items():
        problems.append({"where": name, "message": errors_text(messages)})
    for number, form in enumerate(steps, start=1):
        key = form.data.get(form.add_prefix("key"), "") or ""
        for name, messages in form.errors.items():
            where = f"Step {key or number} (row {number}), {name}"
            problems.append({"where": where, "message": errors_text(messages), "row": number})
    for number, form in enumerate(dependencies, start=1):
        for name, messages in form.errors.items():
            where = f"Dependency {number}, {name}"
            problems.append({"where": where, "message": errors_text(messages)})
    return problems


def refusal_problems(
    errors: Sequence[Mapping[str, Any]], rows: Sequence[forms.Form]
) -> list[dict[str, Any]]:
    """The service's problems: each names its step (key and row) and field; a problem in
    a logic shows it with a caret. ``rows`` are the step rows sent, in order."""
    problems = []
    for error in errors:
        field = str(error.get("field") or "")
        message = _STEP_PREFIX.sub("", str(error.get("message", "")))
        problem: dict[str, Any] = {"where": field or "the group", "message": message}
        found = _STEP_FIELD.match(field)
        if found and int(found[1]) < len(rows):
            form = rows[int(found[1])]
            number = int(form.prefix.rsplit("-", 1)[-1]) + 1 if form.prefix else 0
            key = form.cleaned_data.get("key") or number
            problem["where"] = f"Step {key} (row {number})" + (f", {found[2]}" if found[2] else "")
            problem["row"] = number
            logic = _logic_typed(form, found[2] or "")
            column = error.get("column")
            if logic is not None and isinstance(column, int):
                problem["where"] += f", column {column}"
                problem["caret"] = caret(logic, column)
        problems.append(problem)
    return problems


def _logic_typed(form: forms.Form, field: str) -> str | None:
    """The logic typed for the condition ``field`` names on a step row (its own, its
    resume condition's, or one of its assignment rules'), or None."""
    if field in _LOGIC_FIELDS:
        return str(form.cleaned_data.get(_LOGIC_FIELDS[field]) or "")
    rule = _RULE_LOGIC.match(field)
    rules: list[forms.Form] = getattr(form, "filled_rules", list)()
    if rule and 1 <= int(rule[1]) <= len(rules):
        return str(rules[int(rule[1]) - 1].cleaned_data.get("logic") or "")
    return None


def scenario_problems(errors: Sequence[Mapping[str, Any]], logic: str) -> list[dict[str, Any]]:
    """A scenario's refusal, with a caret under a problem in its logic."""
    problems = []
    for error in errors:
        problem: dict[str, Any] = {
            "where": str(error.get("field") or "scenario"),
            "message": str(error.get("message", "")),
        }
        column = error.get("column")
        if str(error.get("field")) == "condition.logic" and isinstance(column, int):
            problem["where"] += f", column {column}"
            problem["caret"] = caret(logic, column)
        problems.append(problem)
    return problems
