"""Orders as the API and the Suite list them, and what a user may see."""

from typing import Any

from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce

from ..models import (
    Order,
    OrderChange,
    OrderChangeStatus,
    OrderEvent,
    OrderFulfillment,
    OrderLine,
    OrganizationUnit,
)
from .organization import works_everywhere


def order_list() -> QuerySet[Order]:
    """Orders with their lines, ready to serialize without extra queries."""
    return Order.objects.select_related("sold_from_organization_unit").prefetch_related(
        "lines__product", "lines__preferred_fulfillment_organization_unit"
    )


def order_list_rows() -> QuerySet[Order]:
    """Orders as the Suite's order list shows them: the order's own fields and its
    number of lines (``line_count``), counted for the page's rows only, rather than
    every line and its product read to be counted."""
    lines = (
        OrderLine.objects.filter(order=OuterRef("pk"))
        .order_by()
        .values("order")
        .annotate(count=Count("*"))
        .values("count")
    )
    return Order.objects.annotate(
        line_count=Coalesce(Subquery(lines, output_field=IntegerField()), 0)
    )


def orders_visible(user: Any, orders: QuerySet[Order]) -> QuerySet[Order]:
    """``orders`` narrowed to those with a fulfilment at an OU ``user`` works at (the
    orders of their tasks), unless they work everywhere."""
    if works_everywhere(user):
        return orders
    # The user's OUs first (a few IDs), so that "has this order a fulfilment at one of
    # them?" is one probe of the index on (order, supplier) per order, with no join
    # to the staff table for each of the order's fulfilments (issue 23).
    units = list(
        OrganizationUnit.staff.through.objects.filter(user_id=user.pk).values_list(
            "organizationunit_id", flat=True
        )
    )
    mine = OrderFulfillment.objects.filter(supplier_organization_unit__in=units)
    return orders.filter(pk__in=mine.values("order_id"))


# --- Fulfilment lifecycle ---------------------------------------------------------------


def order_timeline(order: Order) -> QuerySet[OrderEvent]:
    """Every event of the order, oldest first, with who did it and the run it links to."""
    return (
        OrderEvent.objects.filter(order=order)
        .select_related("user", "fulfillment__supplier_organization_unit", "orchestration_details")
        .order_by("at", "id")
    )


def order_number_search(query: str, *, limit: int = 20) -> QuerySet[Order]:
    """The newest orders whose number (backend ID) contains ``query`` (the preview's
    autocomplete); an empty query: the newest."""
    return Order.objects.filter(backend_id__icontains=query).order_by("-placed_at")[:limit]


def order_change_numbered(order: Order, number: int) -> OrderChange | None:
    """The order's in-flight change with that number (None: it has none)."""
    return order.changes.select_related("created_by").filter(number=number).first()


def order_changes_pending(order: Order) -> list[OrderChange]:
    """The order's in-flight changes waiting for their plans, in the order they apply."""
    return list(order.changes.filter(status=OrderChangeStatus.PENDING).order_by("number"))
