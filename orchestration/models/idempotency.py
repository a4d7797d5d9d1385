"""Idempotency keys: a client's name for one request, so that a retry is not done twice.

The rules live in ``orchestration.services.idempotency``; a row is one key of one user,
the request it was first sent with (a hash) and, once that request succeeded, the
response it got, which a retry gets again.
"""

from django.conf import settings
from django.db import models


class IdempotencyKey(models.Model):
    """One user's ``Idempotency-Key`` and the response of the request first sent with it."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(
        max_length=64, help_text="SHA-256 of the method, path and body the key was first sent with."
    )
    created_at = models.DateTimeField(db_index=True, help_text="Kept 24 hours from here.")
    locked_at = models.DateTimeField(
        null=True, blank=True, help_text="While the request runs: since when. Null once done."
    )
    attempt = models.PositiveIntegerField(
        default=1, help_text="Raised when a retry takes over a request whose process died."
    )
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)

    class Meta:
        constraints = [
            # Two requests with one key: one inserts it, the other finds it (409 or replay).
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_per_user"),
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.response_status or 'in flight'})"
