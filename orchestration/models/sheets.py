"""Sheets (EVA's routing logic documents) and every revision of them."""

from django.conf import settings
from django.db import models

from ..permissions import SHEET_PERMISSIONS
from ..validators import validate_identifier


class Sheet(models.Model):
    """One sheet: its routing logic as source text, and whether it is live.

    Saving a sheet always goes through ``services.sheet_update``, which bumps
    ``revision`` and keeps the previous text as a ``SheetRevision``.
    """

    fulfillment = models.CharField(
        "fulfillment identifier",
        max_length=100,
        unique=True,
        validators=[validate_identifier],
        help_text=(
            "The sheet's `fulfillment` name. Set it once: changing it later can "
            "cause rerouting issues."
        ),
    )
    name = models.CharField(max_length=200)
    source = models.TextField(blank=True)
    # The source's `action`, kept with every save so that lists need not parse sheets.
    action = models.CharField(max_length=40, blank=True, editable=False)
    is_active = models.BooleanField(default=False, db_index=True)
    revision = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["id"]
        # EVA's permission names; Django's add/change/delete/view are not used
        # for sheets, so the admin and the API check exactly these.
        default_permissions = ()
        permissions = [*SHEET_PERMISSIONS]

    def __str__(self) -> str:
        return f"{self.name} ({self.fulfillment}, rev. {self.revision})"


class SheetRevision(models.Model):
    """The sheet as it was saved at one revision."""

    sheet = models.ForeignKey(Sheet, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    name = models.CharField(max_length=200)
    fulfillment = models.CharField(max_length=100)
    source = models.TextField(blank=True)
    is_active = models.BooleanField()
    comment = models.CharField(max_length=500, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["sheet_id", "-number"]
        default_permissions = ()
        constraints = [
            models.UniqueConstraint(fields=["sheet", "number"], name="sheet_revision_unique_number")
        ]

    def __str__(self) -> str:
        return f"{self.sheet.name} rev. {self.number}"


class UserPreference(models.Model):
    """What the Suite remembers for a user (dark mode)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="suite_preference"
    )
    dark_mode = models.BooleanField(default=False)

    class Meta:
        default_permissions = ()

    def __str__(self) -> str:
        return f"Preferences of {self.user}"
