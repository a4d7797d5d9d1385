"""The route provider real routing uses: the class ``ORCHESTRATION_ROUTE_PROVIDER``
names (``docs/deployment.md``), else the engine's estimated bike route."""

from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string


def route_provider() -> Any:
    """An instance of the class ``ORCHESTRATION_ROUTE_PROVIDER`` names, or None if unset.

    Raises ``ImportError`` when the setting names nothing importable.
    """
    dotted_path = getattr(settings, "ORCHESTRATION_ROUTE_PROVIDER", "")
    if not dotted_path:
        return None
    return import_string(dotted_path)()
