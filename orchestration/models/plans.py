"""Fulfilment plans (``docs/plans.md``): what happens after routing, as steps.

Design time: a ``StepGroup`` has numbered ``StepGroupVersion``s, one of them
active; a version holds ``StepDefinition``s and the ``StepDependency``s between
them. ``PlanScenario``s choose the group a fulfilment gets; ``FalloutRule``s name
the queue of a step that failed for good. A version a plan uses is never edited:
editing makes a new version, and plans in flight finish on theirs.

Run time: a ``Plan`` per fulfilment, built from the version active then; a
``PlanStep`` per step definition (per order line for a line-scoped one); every
run of a step is a ``PlanStepAttempt``, unique on (step, number), so a killed
worker or a message delivered twice never completes a step twice.

The states and kinds are the pure core's (``orchestration/plans/``); these
choices spell them as the database stores them.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from ..validators import validate_identifier
from .fulfillments import FulfillmentAction, OrderFulfillment
from .orders import Order, OrderLine

KEY_LENGTH = 100
QUEUE_LENGTH = 100
# The HTTP methods a callout may use: each sends the step's JSON body (a GET sends none).
# Checked by the service (``services/step_groups.py``), not as the column's choices.
CALLOUT_METHODS = ("POST", "PUT", "PATCH", "DELETE")
# A callout waits this long at most for its answer (``timeout_seconds``, from 1): a
# worker is held meanwhile, and an attempt is taken as lost only after it.
MAX_CALLOUT_TIMEOUT = 300


class StepType(models.TextChoices):
    """What a step does (``docs/plans.md``, Design time)."""

    AUTO_TASK = "AUTO_TASK", "Auto task"
    CALLOUT = "CALLOUT", "Callout"
    MANUAL = "MANUAL", "Manual task"
    MILESTONE = "MILESTONE", "Milestone"
    PAUSE = "PAUSE", "Pause"


class StepScope(models.TextChoices):
    """How many instances a step has in a plan: one, or one per order line."""

    ORDER = "ORDER", "Once per plan"
    LINE = "LINE", "Once per order line"


class DependencyScope(models.TextChoices):
    """Which instances of the step depended on a dependency waits for."""

    PLAN = "PLAN", "Within the plan"
    LINE = "LINE", "The same order line"
    CROSS_PLAN = "CROSS_PLAN", "Plans with the same group key"


class RetryKind(models.TextChoices):
    """How a failed step is retried before it fails for good."""

    NONE = "NONE", "No retry"
    IMMEDIATE = "IMMEDIATE", "Immediate"
    MONOTONOUS = "MONOTONOUS", "Monotonous (interval x count)"
    STAGGERED = "STAGGERED", "Staggered (a list of intervals)"


class Assignment(models.TextChoices):
    """Who a manual step goes to."""

    NONE = "NONE", "Not assigned (the queue)"
    ROUND_ROBIN = "ROUND_ROBIN", "Round robin"
    LEAST_LOADED = "LEAST_LOADED", "Least loaded"
    CONDITIONS = "CONDITIONS", "Conditions with priority"


class StepState(models.TextChoices):
    """A step's state, as Salesforce DRO names them (the pure core's values)."""

    PENDING = "PENDING", "Pending"
    READY = "READY", "Ready"
    SCHEDULED = "SCHEDULED", "Scheduled"
    IN_PROGRESS = "IN_PROGRESS", "In progress"
    COMPLETED = "COMPLETED", "Completed"
    FAILED = "FAILED", "Failed (will retry)"
    FATALLY_FAILED = "FATALLY_FAILED", "Fatally failed"
    SKIPPED = "SKIPPED", "Skipped"
    CANCELED = "CANCELED", "Canceled"
    DISCARDED = "DISCARDED", "Discarded"


class PlanState(models.TextChoices):
    """A plan's state; Freezing and Frozen belong to an in-flight change."""

    NOT_STARTED = "NOT_STARTED", "Not started"
    IN_PROGRESS = "IN_PROGRESS", "In progress"
    FREEZING = "FREEZING", "Freezing"
    FROZEN = "FROZEN", "Frozen"
    COMPLETED = "COMPLETED", "Completed"


# A step in one of these states is done with: no action of its fulfilment completes it.
CLOSED_STEP_STATES = (
    StepState.COMPLETED,
    StepState.SKIPPED,
    StepState.CANCELED,
    StepState.DISCARDED,
)


class PlanPurpose(models.TextChoices):
    """Why a plan was built: the fulfilment's own plan, or to undo or adjust a step of
    it in an in-flight change (the step definition's cancel or amend group)."""

    MAIN = "MAIN", "Main"
    CANCEL = "CANCEL", "Cancel"
    AMEND = "AMEND", "Amend"


class OrderChangeStatus(models.TextChoices):
    """Whether an in-flight change is made: at once, or once its plans have frozen."""

    # Waits for running automatic steps of the plans it affects (they are Freezing).
    PENDING = "PENDING", "Pending"
    APPLIED = "APPLIED", "Applied"
    # A point of no return was passed while it waited: nothing of it was made.
    REFUSED = "REFUSED", "Refused"


class AttemptOutcome(models.TextChoices):
    """How one run of a step ended."""

    RUNNING = "Running"
    COMPLETED = "Completed"
    FAILED = "Failed"
    # Its worker stopped (killed, or its message lost) before writing an outcome: the
    # attempt's lease (the step's timeout and a grace period) ran out.
    LOST = "Lost"


class StepGroup(models.Model):
    """A named, versioned set of steps: "Ship from store", "Payment and invoice"."""

    key = models.CharField(max_length=KEY_LENGTH, unique=True, validators=[validate_identifier])
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class StepGroupVersion(models.Model):
    """One version of a group's steps; new plans take the active one."""

    group = models.ForeignKey(StepGroup, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    is_active = models.BooleanField(default=False)
    comment = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["group", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["group", "number"], name="step_group_version_number"),
            models.UniqueConstraint(
                fields=["group"], condition=Q(is_active=True), name="step_group_one_active"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.group} v{self.number}"


class StepDefinition(models.Model):
    """One step of a version (see ``docs/plans.md`` for each field's meaning)."""

    version = models.ForeignKey(StepGroupVersion, on_delete=models.CASCADE, related_name="steps")
    key = models.CharField(max_length=KEY_LENGTH, validators=[validate_identifier])
    name = models.CharField(max_length=200)
    type = models.CharField(max_length=12, choices=StepType.choices)
    scope = models.CharField(max_length=8, choices=StepScope.choices, default=StepScope.ORDER)
    position = models.PositiveIntegerField(default=0)
    # AUTO_TASK: the registered callable; MANUAL: the fulfilment action it stands for.
    handler = models.CharField(max_length=200, blank=True)
    url = models.URLField(max_length=2000, blank=True)
    method = models.CharField(max_length=10, default="POST")
    timeout_seconds = models.PositiveIntegerField(default=10)
    # {"clauses": [{"field", "operator", "value"}], "logic": "ALL" | "ANY" | "(1 OR 2) AND 3"}
    condition = models.JSONField(null=True, blank=True)
    resume_condition = models.JSONField(null=True, blank=True)
    delay_minutes = models.PositiveIntegerField(default=0)
    delay_from = models.CharField(max_length=KEY_LENGTH + 6, default="DEPENDENCIES_DONE")
    retry_kind = models.CharField(max_length=12, choices=RetryKind.choices, default=RetryKind.NONE)
    retry_count = models.PositiveSmallIntegerField(default=0)
    retry_interval_minutes = models.PositiveIntegerField(default=0)
    retry_intervals = models.JSONField(default=list, blank=True)
    estimated_minutes = models.PositiveIntegerField(null=True, blank=True)
    jeopardy_minutes = models.PositiveIntegerField(null=True, blank=True)
    point_of_no_return = models.BooleanField(default=False)
    assignment = models.CharField(
        max_length=14, choices=Assignment.choices, default=Assignment.NONE
    )
    queue = models.CharField(max_length=QUEUE_LENGTH, blank=True)
    # CONDITIONS: [{"condition": {...}, "assignee": username, "priority": n}]
    assignment_rules = models.JSONField(default=list, blank=True)
    cancel_group = models.ForeignKey(
        StepGroup, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    amend_group = models.ForeignKey(
        StepGroup, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["version", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["version", "key"], name="step_definition_key"),
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.get_type_display()})"


class StepDependency(models.Model):
    """``step`` waits for ``depends_on`` (completed or skipped), within ``scope``."""

    step = models.ForeignKey(StepDefinition, on_delete=models.CASCADE, related_name="dependencies")
    depends_on = models.ForeignKey(
        StepDefinition, on_delete=models.CASCADE, related_name="dependants"
    )
    scope = models.CharField(
        max_length=10, choices=DependencyScope.choices, default=DependencyScope.PLAN
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["step", "depends_on"], name="step_dependency_once"),
        ]

    def __str__(self) -> str:
        return f"{self.step.key} after {self.depends_on.key} ({self.scope})"


class PlanScenario(models.Model):
    """Which group a fulfilment gets: by action and a condition, first by priority."""

    group = models.ForeignKey(StepGroup, on_delete=models.CASCADE, related_name="scenarios")
    action = models.CharField(max_length=30, choices=FulfillmentAction.choices)
    condition = models.JSONField(null=True, blank=True)
    priority = models.IntegerField(default=0)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["action", "-priority", "id"]

    def __str__(self) -> str:
        return f"{self.action} -> {self.group}"


class FalloutRule(models.Model):
    """The queue that receives a step that failed for good; blank fields match any."""

    step_key = models.CharField(max_length=KEY_LENGTH, blank=True)
    error_code = models.CharField(max_length=100, blank=True)
    queue = models.CharField(max_length=QUEUE_LENGTH)
    priority = models.IntegerField(default=0)

    class Meta:
        ordering = ["-priority", "id"]

    def __str__(self) -> str:
        return f"{self.step_key or 'any step'} / {self.error_code or 'any error'} -> {self.queue}"


class Plan(models.Model):
    """The steps one fulfilment goes through, on the group version it was built with."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="plans")
    fulfillment = models.ForeignKey(
        OrderFulfillment, on_delete=models.CASCADE, null=True, blank=True, related_name="plans"
    )
    version = models.ForeignKey(StepGroupVersion, on_delete=models.PROTECT, related_name="plans")
    state = models.CharField(
        max_length=12, choices=PlanState.choices, default=PlanState.NOT_STARTED, db_index=True
    )
    # Cross-plan dependencies join the plans with the same key (e.g. a customer's e-mail).
    group_key = models.CharField(max_length=200, blank=True, db_index=True)
    # Raised with every change to the plan's steps' states: a worker that read the plan
    # before running a step writes its outcome in one statement only if nothing changed
    # since (``services/plans.py``); otherwise it takes the plan's lock and reads again.
    revision = models.PositiveIntegerField(default=0)
    # MAIN: the fulfilment's plan (one per fulfilment). CANCEL / AMEND: built from a
    # step definition's cancel or amend group when a change undid or shrank the plan
    # ``undoes`` (``services/plan_changes.py``); ``undoes_step`` is the step it answers.
    purpose = models.CharField(max_length=8, choices=PlanPurpose.choices, default=PlanPurpose.MAIN)
    undoes = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="compensations"
    )
    undoes_step = models.ForeignKey(
        "PlanStep", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    # A cancel plan starts once the plan before it has completed: a change's cancel
    # groups run one after another, in reverse order of the steps they undo.
    after = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="followers"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["order", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["fulfillment"],
                condition=Q(fulfillment__isnull=False, purpose="MAIN"),
                name="plan_one_per_fulfillment",
            ),
        ]

    def __str__(self) -> str:
        return f"Plan {self.pk} of order {self.order_id} ({self.state})"


class PlanStep(models.Model):
    """One step of a plan (one per order line for a line-scoped definition)."""

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="steps")
    definition = models.ForeignKey(StepDefinition, on_delete=models.PROTECT, related_name="+")
    line = models.ForeignKey(
        OrderLine, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    state = models.CharField(max_length=16, choices=StepState.choices, default=StepState.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_run_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    at_risk = models.BooleanField(default=False)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    queue = models.CharField(max_length=QUEUE_LENGTH, blank=True)
    error_code = models.CharField(max_length=100, blank=True)
    error = models.TextField(blank=True)
    fallout_queue = models.CharField(max_length=QUEUE_LENGTH, blank=True, db_index=True)
    note = models.TextField(blank=True)
    # The callout's Idempotency-Key: the same for every retry of the step.
    idempotency_key = models.CharField(max_length=64, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["plan", "definition__position", "line_id", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["plan", "definition", "line"], name="plan_step_once_per_line"
            ),
            models.UniqueConstraint(
                fields=["plan", "definition"],
                condition=Q(line__isnull=True),
                name="plan_step_once",
            ),
        ]
        indexes = [
            # The sweep: due scheduled and failed steps, and running ones for jeopardy.
            models.Index(fields=["state", "next_run_at"], name="plan_step_due"),
        ]

    def __str__(self) -> str:
        return f"{self.definition.key} ({self.state})"


class PlanStepAttempt(models.Model):
    """One run of a step. Unique on (step, number): a second run of the same attempt
    (a redelivered message, a worker killed after its commit) is refused by the database."""

    step = models.ForeignKey(PlanStep, on_delete=models.CASCADE, related_name="attempt_rows")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(
        max_length=10, choices=AttemptOutcome.choices, default=AttemptOutcome.RUNNING
    )
    error_code = models.CharField(max_length=100, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["step", "number"]
        constraints = [
            models.UniqueConstraint(fields=["step", "number"], name="plan_step_attempt_once"),
        ]

    def __str__(self) -> str:
        return f"Attempt {self.number} of step {self.step_id} ({self.outcome})"


class PlanTransition(models.Model):
    """One change of a plan or one of its steps: what, when, who or what did it, why.

    The order page shows these on the order's timeline beside its events. They are
    kept apart from ``OrderEvent`` (the webhook outbox): a plan of ten steps makes
    dozens of them, which receivers of order events did not ask for.
    """

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="transitions")
    step = models.ForeignKey(
        PlanStep, on_delete=models.CASCADE, null=True, blank=True, related_name="transitions"
    )
    from_state = models.CharField(max_length=16, blank=True)
    to_state = models.CharField(max_length=16)
    at = models.DateTimeField()
    actor = models.CharField(max_length=150)
    message = models.TextField()

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["plan", "at"], name="plan_transition_at")]

    def __str__(self) -> str:
        return self.message


class OrderChange(models.Model):
    """An in-flight change of an order (Salesforce's supplemental order): what was
    asked, what it undid, and the order's values before and after. Numbered per order.

    A change that meets a running automatic step waits, ``PENDING``, with what was
    asked in ``request``; it is ``APPLIED`` once its plans stop running, or
    ``REFUSED`` (``reason``) if a point of no return was passed meanwhile."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="changes")
    number = models.PositiveIntegerField()
    summary = models.CharField(max_length=500)
    status = models.CharField(
        max_length=8, choices=OrderChangeStatus.choices, default=OrderChangeStatus.APPLIED
    )
    # What was asked, as JSON: shipping_address, quantities ({line ID: n}), add_lines
    # (product IDs), remove_lines; what a pending change applies later.
    request = models.JSONField(default=dict)
    # A pending change: the running step it waits for ("step 'Book carrier' of ...").
    waits_for = models.CharField(max_length=500, blank=True)
    # A refused change: why (the point of no return that was passed meanwhile).
    reason = models.TextField(blank=True)
    before = models.JSONField(default=dict)
    after = models.JSONField(default=dict)
    # The fulfilments it cancelled and the plans it froze, to route again.
    undone = models.JSONField(default=dict)
    created_at = models.DateTimeField()
    # When it was applied or refused (at once: ``created_at``).
    decided_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["order", "number"]
        constraints = [
            models.UniqueConstraint(fields=["order", "number"], name="order_change_number"),
        ]

    def __str__(self) -> str:
        return f"Change {self.number} of order {self.order_id}: {self.summary}"
