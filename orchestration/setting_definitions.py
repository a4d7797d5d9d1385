"""The named settings, as the Django side imports them.

The definitions live in the pure engine (``orchestration.engine.settings``) so
that scenarios replayed without Django validate settings against the same list.
"""

from .engine.settings import DEFINITIONS, SettingDefinition

__all__ = ["DEFINITIONS", "SettingDefinition"]
