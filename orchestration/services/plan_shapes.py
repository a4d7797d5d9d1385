"""The shapes of a step definition's JSON fields, as stored: a condition
(``{"clauses": [...], "logic": ...}``) and a CONDITIONS assignment's rules.

Checked when a step group is saved (``step_groups.py``, which names the step and the
path of what is wrong), and again when a rule is used (``plan_assignment.py``, which
passes over a rule stored before its shape was checked). The pure core checks a
condition's meaning (its logic, with a column); this, that it is one at all.
"""

from collections.abc import Mapping
from typing import Any

from ..models.plans import QUEUE_LENGTH
from ..selectors.plans import record_field_problem

# A scenario's, a fallout rule's or an assignment rule's priority: any ordering needs
# far fewer.
MAX_PRIORITY = 1_000_000
# A manual step's CONDITIONS assignment: ``[{"condition", "assignee" | "queue", "priority"}]``.
RULE_FIELDS = frozenset({"condition", "assignee", "queue", "priority"})
# A rule's assignee is a username (Django's limit).
USERNAME_LENGTH = 150


def condition_shape_problem(data: Any) -> tuple[str, str] | None:
    """What is wrong with the shape of a stored condition, as (path, message), or None.

    The pure core checks a condition's meaning; this checks it is one at all: an
    object with a list of clauses, each an object with a text ``field`` and
    ``operator``, and a text ``logic``. ``path`` is relative to the condition
    (``clauses[2].field``, clauses counted from 1 as the logic counts them)."""
    if data is None:
        return None
    if not isinstance(data, Mapping):
        return "", 'a condition is an object: {"clauses": [...], "logic": "ALL"}'
    unknown = sorted(set(data) - {"clauses", "logic"})
    if unknown:
        return unknown[0], f"unknown field {unknown[0]!r} (a condition has clauses and logic)"
    clauses = data.get("clauses", [])
    if not isinstance(clauses, list):
        return "clauses", "the clauses are a list"
    for number, clause in enumerate(clauses, start=1):
        where = f"clauses[{number}]"
        if not isinstance(clause, Mapping):
            return where, "a clause is an object with field, operator and value"
        extra = sorted(set(clause) - {"field", "operator", "value"})
        if extra:
            return f"{where}.{extra[0]}", f"unknown field {extra[0]!r}"
        for part in ("field", "operator"):
            if not isinstance(clause.get(part, ""), str):
                return f"{where}.{part}", f"the {part} is text"
        name = clause.get("field", "").strip()
        field_problem = record_field_problem(name) if name else None  # blank: the core's
        if field_problem:
            return f"{where}.field", field_problem
    if not isinstance(data.get("logic", "ALL"), str | None):
        return "logic", 'the logic is text: "ALL", "ANY" or like "(1 OR 2) AND 3"'
    return None


def shown(value: Any) -> str:
    """A value typed, quoted for a message, cut short when long."""
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "\u2026"


def priority_ok(value: Any) -> bool:
    """A priority: a whole number (not a bool) within ``MAX_PRIORITY`` either way."""
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) <= MAX_PRIORITY


def assignment_rule_shape_problem(number: int, rule: Any) -> tuple[str, str] | None:
    """What is wrong with the shape of rule ``number`` (from 1, as the timeline counts
    them) of a CONDITIONS assignment, as (path, message), or None. A rule is an object:
    ``condition`` (optional), ``assignee`` (a username) or ``queue``, ``priority``."""
    where = f"assignment_rules[{number}]"
    if not isinstance(rule, Mapping):
        return where, (
            'a rule is an object: {"condition": {...}, "assignee": "anna", "priority": 5} '
            '(or "queue" instead of "assignee")'
        )
    unknown = sorted(set(rule) - RULE_FIELDS)
    if unknown:
        return (
            f"{where}.{unknown[0]}",
            f"unknown field {unknown[0]!r} (a rule has condition, assignee or queue, priority)",
        )
    found = condition_shape_problem(rule.get("condition"))
    if found:
        path, message = found
        return f"{where}.condition.{path}".rstrip("."), message
    for name, limit in (("assignee", USERNAME_LENGTH), ("queue", QUEUE_LENGTH)):
        value = rule.get(name, "")
        if value is not None and not isinstance(value, str):
            return f"{where}.{name}", f"the {name} is text"
        if value and len(value) > limit:
            return f"{where}.{name}", f"at most {limit} characters (it has {len(value)})"
    if not priority_ok(rule.get("priority", 0)):
        return (
            f"{where}.priority",
            f"the priority is a whole number from -{MAX_PRIORITY:,} to {MAX_PRIORITY:,}",
        )
    return None
