"""Every permission the suite checks, spelled once.

A permission has three spellings: its codename (what ``Meta.permissions`` and
``auth.Permission`` store), its full name (``app_label.codename``, what
``user.has_perm`` takes) and, for those EVA has, the name EVA users look for
(``SymphonySheets:View``). The API (``api/permissions.py``), the Suite
(``sheets/access.py``), the admin, the built-in roles (``services/roles.py``)
and the models' own ``Meta.permissions`` all take them from here, so a grep
for one finds every check. Pure: no Django import (the models import this).
"""

from __future__ import annotations

APP_LABEL = "orchestration"


def full_name(codename: str) -> str:
    """``orchestration.<codename>``: what ``user.has_perm`` takes."""
    return f"{APP_LABEL}.{codename}"


def codename_of(permission: str) -> str:
    """The codename of a full name (``orchestration.view_sheets`` -> ``view_sheets``)."""
    return permission.partition(".")[2]


# --- EVA's SymphonySheets permissions (custom, on the Sheet model) -----------------

VIEW_SHEETS = full_name("view_sheets")
CREATE_SHEETS = full_name("create_sheets")
EDIT_SHEETS = full_name("edit_sheets")
DELETE_SHEETS = full_name("delete_sheets")

# --- Custom, on the OrganizationUnit model --------------------------------------------

# Superusers, designers and integrations see and work every OU's fulfillments; store
# staff only those of the OUs that list them (OrganizationUnit.staff).
WORK_EVERY_ORGANIZATION_UNIT = full_name("work_every_organization_unit")

# --- Django's model permissions the Suite and the API check by name ------------------

VIEW_ORDER = full_name("view_order")
ADD_ORDER = full_name("add_order")
CHANGE_ORDER = full_name("change_order")
CHANGE_ORDER_LINE = full_name("change_orderline")
VIEW_FULFILLMENT = full_name("view_orderfulfillment")
CHANGE_FULFILLMENT = full_name("change_orderfulfillment")
CHANGE_STOCK = full_name("change_stock")

# Fulfilment plans (docs/plans.md, "Designing plans"): Django's model permissions on
# StepGroup stand for the whole design (groups, versions, scenarios, fallout rules).
# Viewing shows every group, version, scenario and fallout rule; designing saves a
# new version (of a new group too), activates one, and sets scenarios and fallout
# rules. ``add_stepgroup`` is not checked: a group is made by saving its first version.
VIEW_PLANS = full_name("view_stepgroup")
DESIGN_PLANS = full_name("change_stepgroup")

# What a permission is called where EVA users look for it (messages name these); the
# plans' two, which EVA does not have, are named in the same style.
EVA_NAMES: dict[str, str] = {
    VIEW_SHEETS: "SymphonySheets:View",
    CREATE_SHEETS: "SymphonySheets:Create",
    EDIT_SHEETS: "SymphonySheets:Edit",
    DELETE_SHEETS: "SymphonySheets:Delete",
    VIEW_ORDER: "Orders:View",
    CHANGE_ORDER: "Orders:Edit",
    CHANGE_FULFILLMENT: "Fulfillments:Edit",
    VIEW_PLANS: "Plans:View",
    DESIGN_PLANS: "Plans:Design",
}

# ``Meta.permissions`` of the models that declare custom ones: (codename, description).
SHEET_PERMISSIONS: list[tuple[str, str]] = [
    (codename_of(permission), EVA_NAMES[permission])
    for permission in (VIEW_SHEETS, CREATE_SHEETS, EDIT_SHEETS, DELETE_SHEETS)
]
ORGANIZATION_UNIT_PERMISSIONS: list[tuple[str, str]] = [
    (
        codename_of(WORK_EVERY_ORGANIZATION_UNIT),
        "Can see and work the fulfilments of every organization unit",
    )
]


def display_name(permission: str) -> str:
    """The EVA name of a permission where it has one, else its full name."""
    return EVA_NAMES.get(permission, permission)
