"""Writes of EVA-style named settings."""

from typing import Any

from django.db import transaction

from ..engine.settings import DEFINITIONS, SettingDefinition
from ..errors import ApplicationError
from ..models import Setting


def _definition(name: str) -> SettingDefinition:
    try:
        return DEFINITIONS[name]
    except KeyError:
        raise ApplicationError(
            f"Unknown setting {name!r}.", code="unknown_setting", field="name"
        ) from None


def setting_set(*, name: str, value: Any) -> Setting:
    """Store ``value`` for the setting ``name`` after checking its type."""
    definition = _definition(name)
    problem = definition.check(value)
    if problem:
        raise ApplicationError(problem, code="invalid_value", field="value")
    with transaction.atomic():
        setting, _ = Setting.objects.update_or_create(name=name, defaults={"value": value})
    return setting


def setting_reset(*, name: str) -> None:
    """Forget a stored value, so the setting has its default again."""
    _definition(name)
    with transaction.atomic():
        Setting.objects.filter(name=name).delete()
