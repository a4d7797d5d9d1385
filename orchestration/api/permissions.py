"""Who may call what: Django model permissions, and EVA's SymphonySheets ones."""

from typing import Any

from rest_framework.permissions import BasePermission, DjangoModelPermissions
from rest_framework.request import Request

from ..permissions import (
    CREATE_SHEETS,
    DELETE_SHEETS,
    DESIGN_PLANS,
    EDIT_SHEETS,
    EVA_NAMES,
    VIEW_PLANS,
    VIEW_SHEETS,
    codename_of,
)


def _needs(permissions: list[str]) -> str:
    """The 403's message: which permission(s) the request lacks, as a person reads them."""
    return f"You need the permission {' and '.join(permissions)} for this."


class ModelPermissions(DjangoModelPermissions):
    """Django's model permissions, with reading guarded by ``view_<model>`` too.

    A refusal names the permissions the method needs on the model, so that the
    integrator knows what to ask for (DRF's default says only "You do not have
    permission").
    """

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
    }

    def has_permission(self, request: Request, view: Any) -> bool:
        allowed = super().has_permission(request, view)
        if not allowed and request.user and request.user.is_authenticated:
            model = self._queryset(view).model
            needed = self.get_required_permissions(request.method or "", model)
            self.message = _needs([p for p in needed if not request.user.has_perm(p)] or needed)
        return allowed


class SymphonySheetsPermission(BasePermission):
    """``SymphonySheets:View`` to read sheets, ``:Create``, ``:Edit``, ``:Delete`` to write."""

    required = {
        "GET": VIEW_SHEETS,
        "HEAD": VIEW_SHEETS,
        "OPTIONS": VIEW_SHEETS,
        "POST": CREATE_SHEETS,
        "PUT": EDIT_SHEETS,
        "PATCH": EDIT_SHEETS,
        "DELETE": DELETE_SHEETS,
    }

    def has_permission(self, request: Request, view: Any) -> bool:
        permission = self.required.get(request.method or "")
        if permission:
            self.message = _needs([EVA_NAMES[permission]])
        return bool(
            permission
            and request.user
            and request.user.is_authenticated
            and request.user.has_perm(permission)
        )


class SymphonySheetsView(BasePermission):
    """``SymphonySheets:View`` for any method: reading what sheets would do (the preview)."""

    message = _needs([EVA_NAMES[VIEW_SHEETS]])

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(
            request.user and request.user.is_authenticated and request.user.has_perm(VIEW_SHEETS)
        )


class SheetTransferPermission(BasePermission):
    """Moving sheets between installs (``/api/sheets/export/``, ``/import/``):
    ``SymphonySheets:View`` and ``:Edit``, as editing a sheet; the import service also
    asks ``:Create`` of a file with new sheets."""

    message = "You need the permissions SymphonySheets:View and SymphonySheets:Edit for this."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.has_perms([VIEW_SHEETS, EDIT_SHEETS]))


def requires_permission(permission: str) -> type[BasePermission]:
    """A permission class that lets through signed-in users with ``permission`` (a
    full name from ``orchestration.permissions``).

    For actions whose verb is not the model's: starting a task is a POST but
    changes a fulfilment, so it needs ``change_orderfulfillment``, not ``add_``.
    """

    class Required(BasePermission):
        message = _needs([permission])

        def has_permission(self, request: Request, view: Any) -> bool:
            return bool(
                request.user and request.user.is_authenticated and request.user.has_perm(permission)
            )

    Required.__name__ = f"Requires_{codename_of(permission)}"
    return Required


class PlansPermission(BasePermission):
    """The plans' design (``/api/step-groups/``, ``/api/plan-scenarios/``,
    ``/api/fallout-rules/``): ``Plans:View`` to read, ``Plans:Design`` to write."""

    def has_permission(self, request: Request, view: Any) -> bool:
        reading = request.method in ("GET", "HEAD", "OPTIONS")
        needed = [VIEW_PLANS] if reading else [VIEW_PLANS, DESIGN_PLANS]
        user = request.user
        missing = [EVA_NAMES[p] for p in needed if not (user and user.has_perm(p))]
        self.message = _needs(missing or [EVA_NAMES[p] for p in needed])
        return bool(user and user.is_authenticated and not missing)
