"""App configuration of the sheets browser app."""

from django.apps import AppConfig


class SheetsConfig(AppConfig):
    """The Suite pages where designers manage sheets."""

    name = "sheets"
