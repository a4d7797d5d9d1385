"""Who may call what: Django model permissions, and EVA's SymphonySheets ones."""

from typing import Any

from rest_framework.permissions import BasePermission, DjangoModelPermissions
from rest_framework.request import Request


class ModelPermissions(DjangoModelPermissions):
    """Django's model permissions, with reading guarded by ``view_<model>`` too."""

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
    }


class SymphonySheetsPermission(BasePermission):
    """``SymphonySheets:View`` to read sheets, ``:Create``, ``:Edit``, ``:Delete`` to write."""

    required = {
        "GET": "orchestration.view_sheets",
        "HEAD": "orchestration.view_sheets",
        "OPTIONS": "orchestration.view_sheets",
        "POST": "orchestration.create_sheets",
        "PUT": "orchestration.edit_sheets",
        "PATCH": "orchestration.edit_sheets",
        "DELETE": "orchestration.delete_sheets",
    }

    def has_permission(self, request: Request, view: Any) -> bool:
        permission = self.required.get(request.method or "")
        return bool(
            permission
            and request.user
            and request.user.is_authenticated
            and request.user.has_perm(permission)
        )


class SymphonySheetsView(BasePermission):
    """``SymphonySheets:View`` for any method: reading what sheets would do (the preview)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(
            request.user
            and request.user.is_authenticated
            and request.user.has_perm("orchestration.view_sheets")
        )


def requires_permission(codename: str) -> type[BasePermission]:
    """A permission class that lets through signed-in users with ``orchestration.<codename>``.

    For actions whose verb is not the model's: starting a task is a POST but
    changes a fulfilment, so it needs ``change_orderfulfillment``, not ``add_``.
    """

    class Required(BasePermission):
        message = f"You need the permission orchestration.{codename} for this."

        def has_permission(self, request: Request, view: Any) -> bool:
            return bool(
                request.user
                and request.user.is_authenticated
                and request.user.has_perm(f"orchestration.{codename}")
            )

    Required.__name__ = f"Requires_{codename}"
    return Required
