"""Fulfillments: lists, the stores' task lists, failed exports, a run's details."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import F, Prefetch, QuerySet

from ..models import (
    ExportStatus,
    FulfillmentAction,
    OrchestrationDetails,
    Order,
    OrderFulfillment,
    OrderFulfillmentLine,
    OrganizationUnit,
)
from ..models.fulfillments import OPEN_FULFILLMENT_STATUSES
from .organization import works_everywhere


def fulfillments_visible(
    user: Any, fulfillments: QuerySet[OrderFulfillment]
) -> QuerySet[OrderFulfillment]:
    """``fulfillments`` narrowed to the OUs ``user`` works at, unless they work everywhere."""
    if works_everywhere(user):
        return fulfillments
    return fulfillments.filter(supplier_organization_unit__staff=user.pk)


def fulfillment_list() -> QuerySet[OrderFulfillment]:
    """Fulfilments with what their serialization needs."""
    return OrderFulfillment.objects.select_related(
        "supplier_organization_unit", "sheet"
    ).prefetch_related(
        Prefetch("lines", queryset=OrderFulfillmentLine.objects.select_related("product"))
    )


@dataclass(frozen=True, slots=True)
class DetailsState:
    """Whether a fulfilment's orchestration details can be shown, and the blob."""

    status: str  # "available", "expired" or "none"
    blob: dict[str, Any] | None
    expires_at: datetime | None


def fulfillment_orchestration_details(
    fulfillment: OrderFulfillment, *, now: datetime
) -> DetailsState:
    """The blob that explains ``fulfillment``, unless its lifetime is over."""
    details: OrchestrationDetails | None = fulfillment.orchestration_details
    if details is None:
        return DetailsState("none", None, None)
    if details.is_expired(now):
        return DetailsState("expired", None, details.expires_at)
    return DetailsState("available", details.blob, details.expires_at)


def store_task_list(
    unit: OrganizationUnit, *, include_finished: bool = False
) -> QuerySet[OrderFulfillment]:
    """The ship-from-store tasks of one shop: the open ones first by priority, then deadline.

    Finished tasks (completed, cancelled, deactivated) only when asked for.
    """
    tasks = fulfillment_list().filter(
        supplier_organization_unit=unit, action=FulfillmentAction.SHIP_FROM_STORE
    )
    if not include_finished:
        tasks = tasks.filter(status__in=OPEN_FULFILLMENT_STATUSES)
    return tasks.select_related("order").order_by(
        "-priority", F("start_deadline").asc(nulls_last=True), "created_at", "id"
    )


def export_failure_list() -> QuerySet[OrderFulfillment]:
    """Exports that gave up after their last attempt, newest first: retry them by hand."""
    return (
        fulfillment_list()
        .filter(export_status=ExportStatus.FAILED)
        .select_related("order")
        .order_by("-updated_at", "-id")
    )


def order_fulfillments(order: Order) -> QuerySet[OrderFulfillment]:
    """The order's fulfilments with their lines, oldest first (the order page)."""
    return (
        OrderFulfillment.objects.filter(order=order)
        .select_related(
            "supplier_organization_unit", "sheet", "orchestration_details", "started_by"
        )
        .prefetch_related(
            Prefetch(
                "lines",
                queryset=OrderFulfillmentLine.objects.select_related(
                    "product", "order_line__product"
                ),
            )
        )
        .order_by("created_at", "id")
    )
