"""The built-in groups of users and the permissions each one has."""

from django.contrib.auth.models import Group, Permission
from django.db import transaction

from ..permissions import (
    APP_LABEL,
    CHANGE_FULFILLMENT,
    CREATE_SHEETS,
    DELETE_SHEETS,
    DESIGN_PLANS,
    EDIT_SHEETS,
    VIEW_PLANS,
    VIEW_SHEETS,
    WORK_EVERY_ORGANIZATION_UNIT,
    codename_of,
)

DESIGNERS_GROUP = "Fulfillment designers"
INTEGRATIONS_GROUP = "Integrations"
STORE_STAFF_GROUP = "Store staff"

_READ_MODELS = (
    "organizationunit",
    "organizationunitset",
    "product",
    "stock",
    "order",
    "orderline",
    "orderfulfillment",
    "orderfulfillmentline",
    "orchestrationdetails",
    "orderevent",
    "setting",
)
_INTEGRATION_WRITE_MODELS = (
    "organizationunit",
    "organizationunitset",
    "product",
    "stock",
    "order",
    "orderline",
)

ROLES: dict[str, list[str]] = {
    # Designers write sheets and must see what the sheets route.
    DESIGNERS_GROUP: [
        *(
            codename_of(permission)
            for permission in (VIEW_SHEETS, CREATE_SHEETS, EDIT_SHEETS, DELETE_SHEETS)
        ),
        *(f"view_{model}" for model in _READ_MODELS),
        # They read what every OU was given (their write permissions stop them acting).
        codename_of(WORK_EVERY_ORGANIZATION_UNIT),
        # They design the fulfilment plans: step groups, scenarios, fallout rules.
        codename_of(VIEW_PLANS),
        codename_of(DESIGN_PLANS),
    ],
    # Integrations feed master data, stock and orders, and read the outcome.
    INTEGRATIONS_GROUP: [
        *(f"view_{model}" for model in _READ_MODELS),
        *(f"add_{model}" for model in _INTEGRATION_WRITE_MODELS),
        *(f"change_{model}" for model in _INTEGRATION_WRITE_MODELS),
        # Warehouses report shipments and cancel lines through the API.
        codename_of(CHANGE_FULFILLMENT),
        codename_of(WORK_EVERY_ORGANIZATION_UNIT),
        # They read the plans' design (which steps an order goes through).
        codename_of(VIEW_PLANS),
    ],
    # Shops work their ship-from-store tasks: start, pick, pack, ship, decline; each
    # member only at the OUs that list them as staff (OrganizationUnit.staff).
    STORE_STAFF_GROUP: [
        *(
            f"view_{model}"
            for model in (
                "organizationunit",
                "order",
                "orderline",
                "orderfulfillment",
                "orderfulfillmentline",
                "orderevent",
            )
        ),
        codename_of(CHANGE_FULFILLMENT),
    ],
}


def roles_ensure(*, using: str = "default") -> None:
    """Create the built-in groups and give each exactly its permissions.

    Safe to run any number of times; permissions added to a group by hand are
    kept.
    """
    with transaction.atomic(using=using):
        for group_name, codenames in ROLES.items():
            group, _ = Group.objects.using(using).get_or_create(name=group_name)
            permissions = Permission.objects.using(using).filter(
                content_type__app_label=APP_LABEL, codename__in=codenames
            )
            group.permissions.add(*permissions)
