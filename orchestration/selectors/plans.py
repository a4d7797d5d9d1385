"""Reads of fulfilment plans: the active group versions as the pure core takes them,
which group a fulfilment gets, a plan's steps, and the fallout queue."""

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet

from ..models import (
    FalloutRule,
    Order,
    Plan,
    PlanStep,
    StepDefinition,
    StepGroupVersion,
    StepState,
)
from ..plans import model as pure


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
        record[f"Order.CustomFields.{name}"] = (
            Decimal(str(value))
            if isinstance(value, int | float) and not isinstance(value, bool)
            else value
        )
    return record


def plan_steps(plan: Plan) -> QuerySet[PlanStep]:
    """A plan's steps with their definitions, in the version's order."""
    return plan.steps.select_related("definition", "line", "assignee").order_by(
        "definition__position", "line_id", "id"
    )


def fallout_rule_for(step_key: str, error_code: str) -> FalloutRule | None:
    """The first rule matching the step and the error (blank fields match any)."""
    for rule in FalloutRule.objects.all():
        if rule.step_key in ("", step_key) and rule.error_code in ("", error_code):
            return rule
    return None


def fallout_list(*, queue: str = "", step_key: str = "") -> QuerySet[PlanStep]:
    """Steps that failed for good, newest first, optionally of one queue or step."""
    steps = PlanStep.objects.filter(state=StepState.FATALLY_FAILED).select_related(
        "definition", "plan__order"
    )
    if queue:
        steps = steps.filter(fallout_queue=queue)
    if step_key:
        steps = steps.filter(definition__key=step_key)
    return steps.order_by("-updated_at", "-id")
