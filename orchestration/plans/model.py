"""The definitions of a step group and the states of plans and steps, as values.

Everything is a frozen dataclass or a ``StrEnum``: the services build these from
rows, the pure functions read them, nothing here changes them. Enum values are
the stable spellings stored and sent over the API (``IN_PROGRESS``); ``label``
is how people read them (``In Progress``), on the timeline and in the Suite.
The meaning of each field is in ``docs/plans.md`` ("Design time").
"""

from dataclasses import dataclass, field
from enum import StrEnum


class _Labelled(StrEnum):
    @property
    def label(self) -> str:
        """The value as people read it: ``FATALLY_FAILED`` is ``Fatally Failed``."""
        return self.value.replace("_", " ").title()


class StepType(_Labelled):
    """What a step does: ``docs/plans.md`` describes each type."""

    AUTO_TASK = "AUTO_TASK"
    CALLOUT = "CALLOUT"
    MANUAL = "MANUAL"
    MILESTONE = "MILESTONE"
    PAUSE = "PAUSE"


class StepState(_Labelled):
    """Where a step instance is (Salesforce DRO's step states)."""

    PENDING = "PENDING"
    READY = "READY"
    SCHEDULED = "SCHEDULED"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"  # will retry
    FATALLY_FAILED = "FATALLY_FAILED"  # retries used up: in the fallout queue
    SKIPPED = "SKIPPED"  # its condition was false
    CANCELED = "CANCELED"  # a completed step under a cancel
    DISCARDED = "DISCARDED"  # an unfinished step under a cancel


class PlanState(_Labelled):
    """Where a plan is (``runtime.plan_state``, ``runtime.freeze``)."""

    NOT_STARTED = "NOT_STARTED"
    IN_PROGRESS = "IN_PROGRESS"
    FREEZING = "FREEZING"
    FROZEN = "FROZEN"
    COMPLETED = "COMPLETED"


class Scope(_Labelled):
    """A step's instances: one per plan (``ORDER``) or one per order line (``LINE``)."""

    ORDER = "ORDER"
    LINE = "LINE"


class DependencyScope(_Labelled):
    """Which instances of the step depended on must be done (``runtime.advance``)."""

    PLAN = "PLAN"
    LINE = "LINE"
    CROSS_PLAN = "CROSS_PLAN"


class RetryKind(_Labelled):
    """A retry policy's kind (``retries.next_retry_at``)."""

    NONE = "NONE"
    IMMEDIATE = "IMMEDIATE"
    MONOTONOUS = "MONOTONOUS"
    STAGGERED = "STAGGERED"


# ``delay_from``: the order's placing, the dependencies' completion, or
# ``field:<name>``, a field of the record holding a date.
ORDER_PLACED = "ORDER_PLACED"
DEPENDENCIES_DONE = "DEPENDENCIES_DONE"
FIELD_PREFIX = "field:"


@dataclass(frozen=True, slots=True)
class Clause:
    """``field operator value``: ``Order.Type = "Sales"``; ``conditions`` lists the operators."""

    field: str
    operator: str
    value: object = None


@dataclass(frozen=True, slots=True)
class Condition:
    """Clauses combined by ``logic``: ``ALL``, ``ANY`` or custom, like ``(1 OR 2) AND 3``."""

    clauses: tuple[Clause, ...]
    logic: str = "ALL"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When a failed step runs again (``retries.next_retry_at``)."""

    kind: RetryKind = RetryKind.NONE
    count: int = 0  # IMMEDIATE and MONOTONOUS
    interval_minutes: int = 0  # MONOTONOUS
    intervals: tuple[int, ...] = ()  # STAGGERED: minutes, one retry each


@dataclass(frozen=True, slots=True)
class StepSpec:
    """One step definition of a step group version."""

    key: str
    name: str
    type: StepType
    scope: Scope = Scope.ORDER
    condition: Condition | None = None  # "Execute On": false means Skipped
    resume_condition: Condition | None = None  # PAUSE only
    delay_minutes: int = 0
    delay_from: str = DEPENDENCIES_DONE
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    estimated_minutes: int | None = None
    jeopardy_minutes: int | None = None
    point_of_no_return: bool = False
    handler: str = ""  # AUTO_TASK: the registered callable; MANUAL: the action


@dataclass(frozen=True, slots=True)
class DependencySpec:
    """``step`` runs once ``on`` is done (Completed or Skipped), in ``scope``."""

    step: str
    on: str
    scope: DependencyScope = DependencyScope.PLAN


@dataclass(frozen=True, slots=True)
class GroupSpec:
    """One version of a step group: its steps and the dependencies between them."""

    key: str
    steps: tuple[StepSpec, ...]
    dependencies: tuple[DependencySpec, ...] = ()
