"""Backtests: draft sheets against the active ones over past orders, and what changed."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class BacktestStatus(models.TextChoices):
    """Where a backtest is."""

    PENDING = "pending", "Waiting for a worker"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class Backtest(models.Model):
    """One comparison: the drafts, how far it got, and the kept result."""

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # When its task was last sent: a backtest still pending long after that was lost
    # on the way to a worker (a broker outage), and the sweep sends it again.
    requested_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    # [{"sheet": id or null, "name": str, "source": str}]: what replaces or joins the active sheets.
    drafts = models.JSONField(default=list)
    order_count = models.PositiveIntegerField(help_text="How many of the latest orders.")
    status = models.CharField(
        max_length=10, choices=BacktestStatus.choices, default=BacktestStatus.PENDING
    )
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    summary = models.JSONField(default=dict, blank=True)
    changes = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        default_permissions = ("view",)

    def __str__(self) -> str:
        return f"Backtest {self.pk} over {self.order_count} orders ({self.status})"

    @property
    def percent(self) -> int:
        """How far it got, 0 to 100."""
        return 100 if not self.total else round(100 * self.done / self.total)
