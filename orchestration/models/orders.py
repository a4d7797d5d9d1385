"""Orders and their lines: everything a scenario's ``order`` holds, plus status."""

from decimal import Decimal
from typing import TypedDict

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from ..validators import validate_country_id, validate_json_object
from .organization import (
    LATITUDE_VALIDATORS,
    LONGITUDE_VALIDATORS,
    OrganizationUnit,
    Product,
)


class _Money(TypedDict):
    max_digits: int
    decimal_places: int


MONEY: _Money = {"max_digits": 14, "decimal_places": 4}


class OrderIntent(models.TextChoices):
    """What the order is for; a sheet routes only the intents it lists."""

    SALES = "Sales"
    RETURNS = "Returns"
    PURCHASE = "Purchase"


class OrderStatus(models.TextChoices):
    """Where the order is in its life."""

    NEW = "New", "New (not orchestrated yet)"
    WAITING = "Waiting", "Waiting (nothing can fulfil it now)"
    ROUTED = "Routed", "Routed (fulfilments created)"
    COMPLETED = "Completed"
    CANCELLED = "Cancelled"
    # Not derived from the lines: set when orchestration kept failing with an error
    # (Orchestration:MaxAttempts times in a row), kept until a person retries it.
    ORCHESTRATION_FAILED = "OrchestrationFailed", "Orchestration failed (retry it by hand)"


class FulfillmentOption(models.TextChoices):
    """The delivery options of the sheets' FulfillmentOptions scope (EVA's names)."""

    NORMAL_DELIVERY = "NormalDelivery", "Normal delivery"
    SAME_DAY_DELIVERY = "SameDayDelivery", "Same-day delivery"
    PICKUP_DELIVERY = "PickupDelivery", "Pickup"


class OrderLineStatus(models.TextChoices):
    """Where one order line is in its life."""

    OPEN = "Open", "Open (to be routed)"
    IN_FULFILLMENT = "InFulfillment", "In fulfilment"
    COMPLETED = "Completed"
    CANCELLED = "Cancelled"


def _address(prefix: str, label: str) -> dict[str, models.Field]:
    """The fields of one postal address with coordinates, named ``<prefix>_*``."""
    return {
        f"{prefix}_street": models.CharField(f"{label} street", max_length=200, blank=True),
        f"{prefix}_zip_code": models.CharField(f"{label} zip code", max_length=20, blank=True),
        f"{prefix}_city": models.CharField(f"{label} city", max_length=100, blank=True),
        f"{prefix}_country_id": models.CharField(
            f"{label} country ID", max_length=2, blank=True, validators=[validate_country_id]
        ),
        f"{prefix}_latitude": models.FloatField(
            f"{label} latitude", null=True, blank=True, validators=LATITUDE_VALIDATORS
        ),
        f"{prefix}_longitude": models.FloatField(
            f"{label} longitude", null=True, blank=True, validators=LONGITUDE_VALIDATORS
        ),
        f"{prefix}_is_pickup_point": models.BooleanField(
            f"{label} is a pickup point", default=False
        ),
    }


ADDRESS_PARTS = (
    "street",
    "zip_code",
    "city",
    "country_id",
    "latitude",
    "longitude",
    "is_pickup_point",
)


class Order(models.Model):
    """A customer order (or a return or purchase order) to orchestrate."""

    backend_id = models.CharField(
        "backend ID",
        max_length=100,
        unique=True,
        null=True,
        blank=True,
        help_text="The order's number in the system that sent it; unique when given.",
    )
    intent = models.CharField(max_length=10, choices=OrderIntent.choices, default=OrderIntent.SALES)
    status = models.CharField(max_length=20, choices=OrderStatus.choices, default=OrderStatus.NEW)
    sold_from_organization_unit = models.ForeignKey(
        OrganizationUnit,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="sold_orders",
    )
    original_order = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="return_orders",
        help_text="For a return order: the sales order it returns goods of.",
    )
    customer_email = models.EmailField(blank=True)
    currency_id = models.CharField("currency", max_length=3, default="EUR")
    allow_partial_fulfillment = models.BooleanField(
        null=True,
        blank=True,
        help_text=(
            "The order's own say on splitting over shipments; empty follows the "
            "setting Orders:Default:AllowPartialFulfillment."
        ),
    )
    requested_fulfillment_option = models.CharField(
        "requested delivery option",
        max_length=20,
        choices=FulfillmentOption.choices,
        blank=True,
        help_text=(
            "The delivery option the customer chose; empty: any. A supplier whose sheet "
            "rejects it in the FulfillmentOptions scope cannot fulfil the order."
        ),
    )
    custom_fields = models.JSONField(default=dict, blank=True, validators=[validate_json_object])
    placed_at = models.DateTimeField(default=timezone.now)
    # --- Orchestration bookkeeping ------------------------------------------------------
    # Set in the same transaction as whatever makes the order need routing (its
    # creation, a decline, an expiry, new stock); the orchestration task clears
    # it. A task that finds it clear has nothing to do: that makes a redelivered
    # or doubled task harmless.
    needs_orchestration = models.BooleanField(default=False, db_index=True)
    orchestration_trigger = models.CharField(max_length=200, blank=True)
    orchestration_requested_at = models.DateTimeField(null=True, blank=True)
    orchestration_attempts = models.PositiveIntegerField(
        default=0, help_text="How many orchestration runs the order has had."
    )
    next_orchestration_at = models.DateTimeField(
        null=True, blank=True, db_index=True, help_text="When a waiting order is tried again."
    )
    orchestration_failures = models.PositiveIntegerField(
        default=0,
        help_text="Orchestration runs in a row that failed with an error (reset by a run "
        "that succeeds and by a retry by hand).",
    )
    orchestration_error = models.TextField(
        blank=True, help_text="The error of the last failed run: its type and message."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["-placed_at", "-id"]
        # The lists over a million orders (issue 23, docs/performance.md): each order the
        # lists offer walks an index in that order from where the page starts (keyset
        # pages), filtered by what precedes it. Searching a number or an e-mail uses
        # trigram indexes on PostgreSQL (migration 0021; SQLite scans).
        indexes = [
            models.Index(fields=["status", "intent"], name="order_status_intent"),
            models.Index(fields=["placed_at", "id"], name="order_placed"),
            models.Index(fields=["status", "placed_at", "id"], name="order_status_placed"),
            models.Index(fields=["created_at", "id"], name="order_created"),
            models.Index(
                fields=["sold_from_organization_unit", "placed_at", "id"],
                name="order_sold_from_placed",
            ),
            # The orders a drain claims, oldest first (``persistence.claim_order``), and
            # those the sweep finds lost: only the flagged few, whatever the history.
            models.Index(
                fields=["id"],
                condition=Q(needs_orchestration=True),
                name="order_to_orchestrate",
            ),
        ]

    def __str__(self) -> str:
        return f"Order {self.backend_id or self.pk} ({self.intent}, {self.status})"


# Django's own hook for adding fields to a model class: the two addresses share
# one definition instead of fourteen hand-written fields.
for _name, _field in {**_address("shipping", "shipping"), **_address("billing", "billing")}.items():
    Order.add_to_class(_name, _field)


class OrderLine(models.Model):
    """One product and quantity of an order."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="order_lines")
    quantity = models.PositiveIntegerField()
    quantity_shipped = models.PositiveIntegerField(default=0)
    quantity_cancelled = models.PositiveIntegerField(default=0)
    unit_price = models.DecimalField(**MONEY, default=Decimal(0))
    unit_price_in_tax = models.DecimalField(**MONEY, default=Decimal(0))
    discount_amount = models.DecimalField(
        **MONEY, default=Decimal(0), help_text="Zero or negative, as in EVA."
    )
    is_gift_wrapped = models.BooleanField(default=False)
    preferred_fulfillment_organization_unit = models.ForeignKey(
        OrganizationUnit,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="preferred_order_lines",
    )
    custom_fields = models.JSONField(default=dict, blank=True, validators=[validate_json_object])
    status = models.CharField(
        max_length=20, choices=OrderLineStatus.choices, default=OrderLineStatus.OPEN
    )
    original_line = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="returned_by",
        help_text="For a return order's line: the sales order line it takes back.",
    )
    return_reason = models.CharField(
        max_length=50, blank=True, help_text="Why the customer returns it (Returns:Reasons)."
    )

    class Meta:
        ordering = ["order_id", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gte=1), name="order_line_quantity_positive"
            ),
            models.CheckConstraint(
                condition=Q(discount_amount__lte=0),
                name="order_line_discount_not_positive",
            ),
            models.CheckConstraint(
                condition=Q(quantity_shipped__lte=F("quantity") - F("quantity_cancelled")),
                name="order_line_shipped_within_quantity",
            ),
        ]

    def __str__(self) -> str:
        return f"Line {self.pk}: {self.quantity} x {self.product.backend_id}"

    @property
    def total_amount(self) -> Decimal:
        """Ex-tax total before discounts (``OrderLine.TotalAmount``)."""
        return self.unit_price * self.quantity

    @property
    def total_amount_in_tax(self) -> Decimal:
        """In-tax total before discounts (``OrderLine.TotalAmountInTax``)."""
        return self.unit_price_in_tax * self.quantity


class OrchestrationDrain(models.Model):
    """A drain of the orchestration queue asked for and not started yet: its slot
    taken (``services/orchestration_drains.py``).

    A new order rings a free slot after it commits and sends ``orders_drain_task``
    only if it took one; with every slot taken, a drain already asked for will see
    the order. A drain frees its slot as it starts. At most ``ORCHESTRATION_DRAIN_SLOTS``
    drains wait at once, whatever the rate of orders.
    """

    slot = models.PositiveSmallIntegerField(primary_key=True)
    rung_at = models.DateTimeField(help_text="When the drain was asked for.")

    class Meta:
        verbose_name = "orchestration drain"

    def __str__(self) -> str:
        return f"Drain slot {self.slot} (asked for at {self.rung_at:%Y-%m-%d %H:%M:%S})"


class OrchestrationClaim(models.Model):
    """A drain's claim on an order it is about to route (``persistence.claim_order``),
    committed before the run: no other drain claims the order for 2 minutes after.
    A row of its own, not a column of the order: writing the order's row once more
    a run would write a new version of it into every one of the order's indexes. The
    sweep drops the claims older than that."""

    order = models.OneToOneField(
        Order, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    claimed_at = models.DateTimeField()

    class Meta:
        verbose_name = "orchestration claim"

    def __str__(self) -> str:
        return f"Order {self.order_id} claimed at {self.claimed_at:%Y-%m-%d %H:%M:%S}"
