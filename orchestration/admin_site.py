"""The admin site of the suite: Django's, with each model admin hardened against two
malformed parameters that Django itself turns into a 500.

- Django's change and delete views read ``?_to_field=`` as the name of the field that
  identifies the object; the changelist treats an empty one as "the primary key", but
  the change and delete views look up a field named "" and raise ``FieldDoesNotExist``
  for ``/admin/orchestration/order/1/change/?_to_field=``.
- A bulk action (``action=delete_selected``) filters on the IDs posted as
  ``_selected_action`` without checking them: "²" raises ``ValueError``.

Every model admin registered here, ours and those of Django's and third-party apps
(users, tokens, Celery results and schedules), gets ``HardenedModelAdmin`` in front,
which reads an empty ``_to_field`` as the changelist does and answers an action on a
malformed ID with 400.

The site is installed by ``orchestration.apps.SuiteAdminConfig`` (in INSTALLED_APPS in
place of ``django.contrib.admin``), so ``admin.site`` and ``@admin.register`` are it.
"""

from collections.abc import Iterable
from typing import Any

from django.contrib import admin
from django.contrib.admin import helpers
from django.core.exceptions import BadRequest, ValidationError
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponseBase


class HardenedModelAdmin:
    """Put in front of a ``ModelAdmin``: an empty ``_to_field`` means the primary key."""

    def get_object(
        self, request: HttpRequest, object_id: str, from_field: str | None = None
    ) -> Any:
        return super().get_object(request, object_id, from_field or None)  # type: ignore[misc]

    def response_action(
        self, request: HttpRequest, queryset: QuerySet[Any]
    ) -> HttpResponseBase | None:
        pk = self.model._meta.pk  # type: ignore[attr-defined]
        for value in request.POST.getlist(helpers.ACTION_CHECKBOX_NAME):
            try:
                pk.to_python(value)
            except ValidationError as error:
                raise BadRequest(f"A selected object's ID is malformed: {value[:20]!r}") from error
        return super().response_action(request, queryset)  # type: ignore[misc]


class SuiteAdminSite(admin.AdminSite):
    """Django's admin site, registering each model admin with ``HardenedModelAdmin``."""

    def register(
        self,
        model_or_iterable: type[Model] | Iterable[type[Model]],
        admin_class: type[admin.ModelAdmin] | None = None,
        **options: Any,
    ) -> None:
        admin_class = admin_class or admin.ModelAdmin
        if not issubclass(admin_class, HardenedModelAdmin):
            admin_class = type(
                admin_class.__name__,
                (HardenedModelAdmin, admin_class),
                {"__module__": admin_class.__module__, "__doc__": admin_class.__doc__},
            )
        super().register(model_or_iterable, admin_class, **options)
