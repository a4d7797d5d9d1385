"""Organization units, and who sees and works which one's fulfillments."""

from typing import Any

from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from ..models import (
    FulfillmentAction,
    OrderFulfillment,
    OrganizationUnit,
    OrganizationUnitType,
)
from ..models.fulfillments import OPEN_FULFILLMENT_STATUSES
from ..permissions import WORK_EVERY_ORGANIZATION_UNIT
from ..validators import parse_id


def organization_unit_list() -> QuerySet[OrganizationUnit]:
    """OUs with their sets and active ship-from-store task count.

    The count is a subquery per OU that seeks its open tasks in the index
    ``fulfillment_open_tasks``; a join would group every fulfilment ever made (3 s
    for 320 OUs over 3,000,000 fulfilments, issue 23)."""
    open_tasks = (
        OrderFulfillment.objects.filter(
            supplier_organization_unit=OuterRef("pk"),
            action=FulfillmentAction.SHIP_FROM_STORE,
            status__in=OPEN_FULFILLMENT_STATUSES,
        )
        .order_by()
        .values("supplier_organization_unit")
        .annotate(count=Count("*"))
        .values("count")
    )
    return (
        OrganizationUnit.objects.prefetch_related("sets")
        .annotate(
            active_ship_from_store_tasks=Coalesce(
                Subquery(open_tasks, output_field=IntegerField()), 0
            )
        )
        .order_by("name", "id")
    )


# --- Who sees and works which organization unit's fulfilments --------------------


def works_everywhere(user: Any) -> bool:
    """Whether ``user`` sees and works every OU's fulfilments (superusers, the
    designers' and integrations' roles); everyone else only their own OUs'."""
    return bool(user.is_authenticated and user.has_perm(WORK_EVERY_ORGANIZATION_UNIT))


def user_works_at(user: Any, unit_id: int | None) -> bool:
    """Whether ``user`` may see and work the fulfilments of OU ``unit_id``."""
    if works_everywhere(user):
        return True
    return bool(
        user.is_authenticated
        and unit_id is not None
        and OrganizationUnit.staff.through.objects.filter(
            organizationunit_id=unit_id, user_id=user.pk
        ).exists()
    )


def organization_units_visible(
    user: Any, units: QuerySet[OrganizationUnit]
) -> QuerySet[OrganizationUnit]:
    """``units`` narrowed to those ``user`` works at, unless they work everywhere."""
    if works_everywhere(user):
        return units
    return units.filter(staff=user.pk)


def organization_unit_lookup(query: str, *, limit: int = 20) -> QuerySet[OrganizationUnit]:
    """OUs whose backend ID, name or ID matches ``query`` (the editor's picker)."""
    units = OrganizationUnit.objects.all()
    query = query.strip()
    if query:
        match = Q(backend_id__icontains=query) | Q(name__icontains=query)
        pk = parse_id(query)
        if pk is not None:
            match |= Q(pk=pk)
        units = units.filter(match)
    return units.order_by("backend_id", "id")[:limit]


def shops_worked_at(user: Any) -> list[int]:
    """The IDs of the shops that list ``user`` as staff, lowest first."""
    if not user.is_authenticated:
        return []
    return list(
        OrganizationUnit.objects.filter(staff=user.pk, type=OrganizationUnitType.SHOP)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
