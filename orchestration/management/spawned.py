"""What a spawned child process runs first: Django set up as its parent has it.

A child started with ``multiprocessing``'s spawn method is a fresh interpreter: it
imports this module to unpickle its initializer before anything else, so this module
imports nothing that needs the app registry (no models), and sets Django up from the
settings module the parent's environment names, on the database the parent uses (a
test's has another name than the settings give).
"""

import django
from django.conf import settings
from django.db import connections


def django_started(database_name: str) -> None:
    """Set Django up, on the database ``database_name`` of the default connection's server."""
    django.setup()
    settings.DATABASES["default"]["NAME"] = database_name
    connections["default"].settings_dict["NAME"] = database_name
