"""Effective settings: each EVA-style setting's stored value, or its default."""

from dataclasses import dataclass
from typing import Any

from ..engine.settings import DEFINITIONS, SettingDefinition
from ..models import (
    Setting,
)


@dataclass(frozen=True, slots=True)
class SettingState:
    """A setting's definition with its effective value."""

    definition: SettingDefinition
    value: Any
    is_default: bool


def _setting_state(definition: SettingDefinition, stored: list[Any]) -> SettingState:
    # A value stored before its definition changed type falls back to the default.
    if not stored or definition.check(stored[0]) is not None:
        return SettingState(definition, definition.default, True)
    return SettingState(definition, stored[0], False)


def setting_state(name: str) -> SettingState:
    """One known setting with its effective value (KeyError for an unknown name)."""
    definition = DEFINITIONS[name]
    stored = list(Setting.objects.filter(name=name).values_list("value", flat=True)[:1])
    return _setting_state(definition, stored)


def setting_value(name: str) -> Any:
    """The effective value of a named setting: stored, or else its default."""
    return setting_state(name).value


def setting_list() -> list[SettingState]:
    """Every known setting, in name order, with its effective value."""
    stored = dict(Setting.objects.values_list("name", "value"))
    return [
        _setting_state(DEFINITIONS[name], [stored[name]] if name in stored else [])
        for name in sorted(DEFINITIONS)
    ]
