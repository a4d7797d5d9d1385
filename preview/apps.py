"""App configuration of the preview browser app."""

from django.apps import AppConfig


class PreviewConfig(AppConfig):
    """The Suite pages that replay an order through the sheets."""

    name = "preview"
