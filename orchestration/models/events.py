"""The order timeline: every orchestration run and state change, who or what did
it and why. Events that matter outside (cancellations, shipments, failed exports,
refunds) are also webhook events, sent from this table (an outbox), so an event
is never announced for a change that was rolled back, nor lost if the receiver
is down."""

from django.conf import settings
from django.db import models

from .fulfillments import OrchestrationDetails, OrderFulfillment
from .orders import Order


class WebhookStatus(models.TextChoices):
    """Whether an event still has to be sent to the webhook receiver."""

    NONE = "", "Not a webhook event"
    PENDING = "Pending"
    SENT = "Sent"
    FAILED = "Failed", "Failed (every attempt failed)"


class OrderEvent(models.Model):
    """One entry of an order's timeline."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(db_index=True)
    kind = models.CharField(max_length=50, help_text="A stable code, e.g. fulfillment.started.")
    message = models.TextField()
    actor = models.CharField(
        max_length=150, help_text="Who or what did it: a username, or system:<job>."
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    fulfillment = models.ForeignKey(
        OrderFulfillment, on_delete=models.SET_NULL, null=True, blank=True, related_name="events"
    )
    orchestration_details = models.ForeignKey(
        OrchestrationDetails,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="events",
    )
    data = models.JSONField(default=dict, blank=True)
    webhook_status = models.CharField(
        max_length=10, choices=WebhookStatus.choices, blank=True, default=WebhookStatus.NONE
    )
    webhook_attempts = models.PositiveIntegerField(default=0)
    webhook_next_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["order_id", "at", "id"]
        indexes = [
            models.Index(fields=["webhook_status", "webhook_next_at"], name="event_webhook_due"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.kind} (order {self.order_id})"
