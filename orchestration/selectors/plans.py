"""Reads of fulfilment plans: the active group versions as the pure core takes them,
which group a fulfilment gets, a plan's steps, and the fallout queue.

What a person may see follows the fulfilments: store staff see the plans (and the
fallout) of their own shops' fulfilments only, as ``fulfillments_visible`` says;
everyone who works every OU sees them all.
"""

from collections.abc import Iterable, Mapping
from typing import Any

from django.contrib.auth.models import User
from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet

from ..errors import ApplicationError
from ..models import (
    CLOSED_STEP_STATES,
    FalloutRule,
    Order,
    OrderChange,
    OrderChangeStatus,
    Plan,
    PlanPurpose,
    PlanState,
    PlanStep,
    PlanStepAttempt,
    PlanTransition,
    StepDefinition,
    StepDependency,
    StepGroupVersion,
    StepState,
    StepType,
)
from ..plans import model as pure
from .organization import works_everywhere

# A shop's staff are the queue ``shop:<backend ID>``; any other queue is the users of
# the Django group of that name.
SHOP_QUEUE_PREFIX = "shop:"
# A manual step still to be done by its assignee (assignment happens when it is Ready).
OPEN_MANUAL_STATES = (StepState.READY, StepState.IN_PROGRESS)

# Another order's plans a cross-plan dependency draws, at most (the graph shows each
# as a placeholder box; a customer with hundreds of orders does not fill the page).
MAX_CROSS_PLANS = 20


def condition_spec(data: Any) -> pure.Condition | None:
    """A stored condition (``{"clauses": [...], "logic": ...}``) as the pure core takes it."""
    if not data:
        return None
    return pure.Condition(
        clauses=tuple(
            pure.Clause(field=str(c["field"]), operator=str(c["operator"]), value=c.get("value"))
            for c in data.get("clauses", [])
        ),
        logic=str(data.get("logic") or "ALL"),
    )


def step_spec(definition: StepDefinition) -> pure.StepSpec:
    """One stored step definition as the pure core takes it."""
    return pure.StepSpec(
        key=definition.key,
        name=definition.name,
        type=pure.StepType(definition.type),
        scope=pure.Scope(definition.scope),
        condition=condition_spec(definition.condition),
        resume_condition=condition_spec(definition.resume_condition),
        delay_minutes=definition.delay_minutes,
        delay_from=definition.delay_from,
        retry=pure.RetryPolicy(
            kind=pure.RetryKind(definition.retry_kind),
            count=definition.retry_count,
            interval_minutes=definition.retry_interval_minutes,
            intervals=tuple(int(m) for m in definition.retry_intervals or ()),
        ),
        estimated_minutes=definition.estimated_minutes,
        jeopardy_minutes=definition.jeopardy_minutes,
        point_of_no_return=definition.point_of_no_return,
        handler=definition.handler,
    )


def group_spec(version: StepGroupVersion) -> pure.GroupSpec:
    """A version's steps and dependencies as the pure core takes them."""
    definitions = list(version.steps.all())
    by_id = {definition.pk: definition for definition in definitions}
    return pure.GroupSpec(
        key=version.group.key,
        steps=tuple(step_spec(definition) for definition in definitions),
        dependencies=tuple(
            pure.DependencySpec(
                step=by_id[dependency.step_id].key,
                on=by_id[dependency.depends_on_id].key,
                scope=pure.DependencyScope(dependency.scope),
            )
            for definition in definitions
            for dependency in definition.dependencies.all()
            if dependency.depends_on_id in by_id
        ),
    )


# The order's fields ``order_record`` reads (and a step's context: its ID and backend
# ID, the placing time): a worker reads only these with its claim.
ORDER_RECORD_FIELDS = (
    "id",
    "backend_id",
    "intent",
    "status",
    "customer_email",
    "requested_fulfillment_option",
    "shipping_city",
    "shipping_country_id",
    "shipping_is_pickup_point",
    "custom_fields",
    "placed_at",
)


# The fields a condition or a delay may read: what ``order_record`` and ``line_records``
# make, and the prefixes of the open-ended ones (a name after each).
RECORD_FIELDS = (
    "Order.BackendID",
    "Order.CustomerEmail",
    "Order.RequestedFulfillmentOption",
    "Order.ShippingAddress.City",
    "Order.ShippingAddress.CountryID",
    "Order.ShippingAddress.IsPickupPoint",
    "Order.Status",
    "Order.Type",
    "Line.Product.BackendID",
    "Line.Product.Name",
    "Line.Quantity",
)
RECORD_PREFIXES = ("Order.CustomFields.", "Line.Product.Content.")


def record_field_problem(name: str) -> str | None:
    """Why no record has the field ``name`` (a typo would make its clause never hold,
    silently), or None when it is one of ``RECORD_FIELDS`` or a prefixed name."""
    if name in RECORD_FIELDS or any(
        name.startswith(prefix) and name[len(prefix) :].strip() for prefix in RECORD_PREFIXES
    ):
        return None
    return (
        f"unknown field {name!r} (a clause that reads it would never hold): use "
        + ", ".join(RECORD_FIELDS)
        + ", "
        + " or ".join(f"{prefix}<name>" for prefix in RECORD_PREFIXES)
    )


def order_record(order: Order, line_products: Mapping[int, Any] | None = None) -> dict[str, Any]:
    """The fields a plan's conditions read, flat and dotted: ``Order.Type``,
    ``Order.CustomFields.<name>``, ``Order.ShippingAddress.City``, ..."""
    record: dict[str, Any] = {
        "Order.BackendID": order.backend_id,
        "Order.Type": order.intent,
        "Order.Status": order.status,
        "Order.CustomerEmail": order.customer_email,
        "Order.RequestedFulfillmentOption": order.requested_fulfillment_option,
    }
    # The address fields are made from ADDRESS_PARTS (models/orders.py), hence getattr.
    for name, part in (
        ("City", "city"),
        ("CountryID", "country_id"),
        ("IsPickupPoint", "is_pickup_point"),
    ):
        record[f"Order.ShippingAddress.{name}"] = getattr(order, f"shipping_{part}")
    for name, value in (order.custom_fields or {}).items():
        # As stored: the conditions compare numbers as numbers themselves.
        record[f"Order.CustomFields.{name}"] = value
    return record


def plan_steps(plan: Plan) -> QuerySet[PlanStep]:
    """A plan's steps with their definitions, in the version's order."""
    return plan.steps.select_related("definition", "line", "assignee").order_by(
        "definition__position", "line_id", "id"
    )


def fallout_rule_for(step_key: str, error_code: str) -> FalloutRule | None:
    """The rule matching the step and the error (blank fields match any): the one of
    highest priority, and among those the most specific (a rule naming the step and
    the error before one naming either, before a catch-all), then the oldest."""
    matching = [
        rule
        for rule in FalloutRule.objects.all()
        if rule.step_key in ("", step_key) and rule.error_code in ("", error_code)
    ]
    return min(
        matching,
        key=lambda rule: (-rule.priority, -bool(rule.step_key) - bool(rule.error_code), rule.pk),
        default=None,
    )


def fallout_list(
    *, queue: str = "", step_key: str = "", error_code: str = ""
) -> QuerySet[PlanStep]:
    """Steps that failed for good, newest first, optionally of one queue, step key or
    error code."""
    steps = PlanStep.objects.filter(state=StepState.FATALLY_FAILED).select_related(
        "definition", "plan__order", "plan__fulfillment__supplier_organization_unit", "assignee"
    )
    if queue:
        steps = steps.filter(fallout_queue=queue)
    if step_key:
        steps = steps.filter(definition__key=step_key)
    if error_code:
        steps = steps.filter(error_code=error_code)
    return steps.order_by("-updated_at", "-id")


def plan_steps_visible(user: Any, steps: QuerySet[PlanStep]) -> QuerySet[PlanStep]:
    """``steps`` narrowed to the plans of fulfilments at OUs ``user`` works at, unless
    they work everywhere (a plan without a fulfilment: only to them)."""
    if works_everywhere(user):
        return steps
    return steps.filter(plan__fulfillment__supplier_organization_unit__staff=user.pk)


def plan_steps_check_visible(user: Any, ids: list[int]) -> None:
    """Refuse (``ApplicationError``, field ``steps``) the IDs of steps ``user`` may not
    see, or that do not exist: both read the same, so nobody learns of another shop's."""
    seen = set(
        plan_steps_visible(user, PlanStep.objects.filter(pk__in=ids)).values_list("pk", flat=True)
    )
    unseen = [str(pk) for pk in ids if pk not in seen]
    if unseen:
        many = len(unseen) > 1
        raise ApplicationError(
            f"Step{'s' if many else ''} {', '.join(unseen)} "
            f"{'are' if many else 'is'} not in your fallout queue.",
            code="not_found",
            field="steps",
        )


def plans_visible(user: Any, plans: QuerySet[Plan]) -> QuerySet[Plan]:
    """``plans`` narrowed as ``plan_steps_visible`` narrows steps."""
    if works_everywhere(user):
        return plans
    return plans.filter(fulfillment__supplier_organization_unit__staff=user.pk)


def fallout_choices() -> tuple[list[str], list[str], list[str]]:
    """The queues, step keys and error codes of the fallout queue now (the filters)."""
    failed = PlanStep.objects.filter(state=StepState.FATALLY_FAILED)
    return (
        sorted(set(failed.values_list("fallout_queue", flat=True)) - {""}),
        sorted(set(failed.values_list("definition__key", flat=True))),
        sorted(set(failed.values_list("error_code", flat=True)) - {""}),
    )


def order_plans(order: Order, user: Any) -> list[Plan]:
    """The order's plans ``user`` may see, oldest first, each with its version's group,
    its steps (definition, line, assignee), their attempts and transitions, and the
    dependencies of its version's steps: what the plan view draws, in six statements."""
    steps = PlanStep.objects.select_related("definition", "assignee").order_by(
        "definition__position", "line_id", "id"
    )
    plans = list(
        plans_visible(user, Plan.objects.filter(order=order))
        .select_related(
            "version__group",
            "fulfillment__supplier_organization_unit",
            "undoes_step__definition",
        )
        .prefetch_related(
            Prefetch("steps", queryset=steps),
            Prefetch("steps__attempt_rows", queryset=PlanStepAttempt.objects.order_by("number")),
            Prefetch("transitions", queryset=PlanTransition.objects.order_by("at", "id")),
        )
        .order_by("id")
    )
    for plan in plans:
        plan.order = order  # read by a pause's condition: no statement per plan
    return plans


def plan_dependencies(plans: list[Plan]) -> list[StepDependency]:
    """The dependencies between the steps of the plans' versions."""
    versions = {plan.version_id for plan in plans}
    return list(
        StepDependency.objects.filter(step__version_id__in=versions).select_related(
            "step", "depends_on"
        )
    )


def cross_plan_steps(plans: list[Plan], keys: set[str]) -> list[PlanStep]:
    """The steps with one of ``keys`` in the other plans sharing a group key with one
    of ``plans`` (another order's too): what their cross-plan dependencies wait for.
    At most ``MAX_CROSS_PLANS`` other plans, the newest."""
    group_keys = {plan.group_key for plan in plans if plan.group_key}
    if not group_keys or not keys:
        return []
    others = (
        Plan.objects.filter(group_key__in=group_keys)
        .exclude(pk__in=[plan.pk for plan in plans])
        .order_by("-id")
        .values_list("pk", flat=True)[:MAX_CROSS_PLANS]
    )
    return list(
        PlanStep.objects.filter(Q(plan_id__in=list(others)) & Q(definition__key__in=keys))
        .select_related("definition", "plan")
        .order_by("id")
    )


def queue_members(queue: str) -> list[User]:
    """The active users of a queue, by username: a shop's staff for
    ``shop:<backend ID>``, else the members of the group named ``queue``."""
    if not queue:
        return []
    if queue.startswith(SHOP_QUEUE_PREFIX):
        users = User.objects.filter(
            organization_units__backend_id=queue.removeprefix(SHOP_QUEUE_PREFIX)
        )
    else:
        users = User.objects.filter(groups__name=queue)
    return list(users.filter(is_active=True).distinct().order_by("username"))


def last_assignee(definition_id: int, *, excluding: int | None = None) -> User | None:
    """Who got the step of this definition handed out last (the latest ``started_at``,
    set when a step becomes Ready and never changed after): round robin continues
    after them."""
    steps = PlanStep.objects.filter(definition_id=definition_id, assignee__isnull=False)
    if excluding is not None:
        steps = steps.exclude(pk=excluding)
    step = steps.select_related("assignee").order_by("-started_at", "-id").first()
    return step.assignee if step is not None else None


def open_manual_loads(users: list[User], *, excluding: int | None = None) -> dict[int, int]:
    """How many open manual steps (Ready or In progress) each user has assigned."""
    steps = PlanStep.objects.filter(
        assignee__in=users, definition__type=StepType.MANUAL, state__in=OPEN_MANUAL_STATES
    )
    if excluding is not None:
        steps = steps.exclude(pk=excluding)
    rows = steps.values("assignee_id").annotate(open=Count("id"))
    loads = {user.pk: 0 for user in users}
    for row in rows:
        loads[row["assignee_id"]] = row["open"]
    return loads


def step_record(step: PlanStep) -> dict[str, Any]:
    """The fields a condition on ``step`` reads: its order's, and its line's product
    (``Line.Product.BackendID``) for a line's step."""
    record = order_record(step.plan.order)
    if step.line is not None:
        record["Line.Product.BackendID"] = step.line.product.backend_id
    return record


def line_records(
    lines: Iterable[Any], products: Iterable[Any], order: Mapping[str, Any]
) -> dict[int, dict[str, Any]]:
    """Each order line's fields for the plans' conditions (the order's ``record``
    plus ``Line.Quantity``, ``Line.Product.BackendID``, ``Line.Product.Name`` and
    ``Line.Product.Content.<name>``), from the engine's scenario: no query."""
    by_id = {product.id: product for product in products}
    records = {}
    for line in lines:
        product = by_id.get(line.product)
        record = dict(order)
        record["Line.Quantity"] = line.quantity
        if product is not None:
            record["Line.Product.BackendID"] = product.backend_id
            record["Line.Product.Name"] = product.name
            for name, value in (product.content or {}).items():
                record[f"Line.Product.Content.{name}"] = value
        records[line.id] = record
    return records


def orders_with_changes_due(*, limit: int) -> list[int]:
    """The orders with a pending in-flight change whose Freezing plans run no
    automatic step any more (the sweep applies them, should the message sent when
    the last step ended have been lost), oldest first."""
    running = PlanStep.objects.filter(
        plan__order_id=OuterRef("order_id"),
        plan__state=PlanState.FREEZING,
        state=StepState.IN_PROGRESS,
        definition__type__in=[StepType.AUTO_TASK, StepType.CALLOUT],
    )
    return list(
        OrderChange.objects.filter(status=OrderChangeStatus.PENDING)
        .exclude(Exists(running))
        .order_by("order_id")
        .values_list("order_id", flat=True)
        .distinct()[:limit]
    )


def plan_manual_steps_open(*, fulfillment_id: int, handler: str) -> QuerySet[PlanStep]:
    """The steps of the fulfilment's own plan (not a cancel or amend plan's) that its
    action ``handler`` (``start``, ``export``, ...) completes and that are not done
    with yet."""
    return PlanStep.objects.filter(
        plan__fulfillment_id=fulfillment_id,
        plan__purpose=PlanPurpose.MAIN,
        definition__handler=handler,
    ).exclude(state__in=CLOSED_STEP_STATES)
