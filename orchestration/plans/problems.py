"""What is wrong with a step group: a stable code, a sentence, and where.

Modelled on ``orchestration/language/errors.py``: problems are collected, not
raised one at a time, so a form shows them all at once; editors and the API
branch on ``code``, people read ``message``. ``step`` is the key of the step at
fault (for a dependency, the dependent step), ``field`` the field of that step
(``condition.logic``, ``retry.intervals``, ``dependencies``), and ``column`` the
1-based character in a logic expression, which ``render`` marks with a caret.
"""

from dataclasses import dataclass
from enum import StrEnum


class Code(StrEnum):
    """Stable codes of step group problems."""

    TOO_LARGE = "TooLarge"
    INVALID_KEY = "InvalidKey"
    DUPLICATE_STEP = "DuplicateStep"
    UNKNOWN_STEP = "UnknownStep"
    SELF_DEPENDENCY = "SelfDependency"
    DUPLICATE_DEPENDENCY = "DuplicateDependency"
    DEPENDENCY_CYCLE = "DependencyCycle"
    LINE_DEPENDENCY_ON_ORDER_STEP = "LineDependencyOnOrderStep"
    # Conditions
    NO_CLAUSES = "NoClauses"
    EMPTY_FIELD = "EmptyField"
    UNKNOWN_OPERATOR = "UnknownOperator"
    MISSING_VALUE = "MissingValue"
    EMPTY_LOGIC = "EmptyLogic"
    INVALID_LOGIC = "InvalidLogic"
    UNBALANCED_PARENTHESES = "UnbalancedParentheses"
    UNKNOWN_CLAUSE = "UnknownClause"
    MIXED_LOGIC = "MixedLogic"
    UNUSED_CLAUSE = "UnusedClause"
    # Step fields
    NEGATIVE_NUMBER = "NegativeNumber"
    INCONSISTENT_RETRY = "InconsistentRetry"
    TOO_MANY_RETRIES = "TooManyRetries"
    JEOPARDY_ABOVE_ESTIMATE = "JeopardyAboveEstimate"
    MISSING_ESTIMATE = "MissingEstimate"
    MISSING_RESUME_CONDITION = "MissingResumeCondition"
    RESUME_CONDITION_NOT_PAUSE = "ResumeConditionNotPause"
    MISSING_HANDLER = "MissingHandler"
    INVALID_DELAY_FROM = "InvalidDelayFrom"
    # Handlers, callouts and assignment (checked by the service: which handlers are
    # registered is the settings'; the core's StepSpec has no URL, method, timeout or
    # assignment)
    UNKNOWN_HANDLER = "UnknownHandler"
    MISSING_URL = "MissingUrl"
    INVALID_TIMEOUT = "InvalidTimeout"
    MISSING_QUEUE = "MissingQueue"
    MISSING_RULES = "MissingRules"
    RULES_NOT_USED = "RulesNotUsed"
    INVALID_RULE = "InvalidRule"
    UNKNOWN_ASSIGNEE = "UnknownAssignee"


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem in a step group."""

    code: Code
    message: str
    step: str | None = None
    field: str | None = None
    column: int | None = None  # 1-based, in the logic expression named by ``field``

    def render(self, source: str = "") -> str:
        """``step s, field, column C: message``; given the logic's text, that text and a
        caret under the fault::

            step pay, condition.logic, column 14: clause 4 does not exist: ...
                (1 OR 2) AND 4
                             ^
        """
        where = [f"step {self.step}"] if self.step else []
        where += [self.field] if self.field else []
        where += [f"column {self.column}"] if self.column is not None else []
        rendered = f"{', '.join(where)}: {self.message}" if where else self.message
        if self.column is not None and source:
            # Tabs and line breaks as spaces, so that the caret stays under its column.
            shown = "".join(" " if character.isspace() else character for character in source)
            rendered += f"\n    {shown}\n    {' ' * (self.column - 1)}^"
        return rendered
