"""Stored values of EVA-style named settings.

Which names exist, their types and defaults live in
``orchestration.engine.settings``; a row here only overrides a default.
"""

from django.db import models


class Setting(models.Model):
    """An overridden value of one named setting (``Orders:Default:...``)."""

    name = models.CharField(max_length=200, unique=True)
    value = models.JSONField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} = {self.value!r}"
