"""What orchestration decided and what became of it: fulfilments, their lines,
and the orchestration details (the explanation blob) of each run."""

from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q

from .fields import CompressedJSONField
from .orders import Order, OrderLine
from .organization import OrganizationUnit, Product
from .sheets import Sheet


class FulfillmentAction(models.TextChoices):
    """What happens to a shipment; a sheet's ``action``."""

    SHIP_FROM_STORE = "SHIP_FROM_STORE"
    EXPORT_ORDER = "EXPORT_ORDER"
    CANCEL = "CANCEL"
    EXPORT_RETURN_ORDER = "EXPORT_RETURN_ORDER"


class FulfillmentStatus(models.IntegerChoices):
    """EVA's fulfilment (line) statuses, with EVA's numbers and names."""

    NEW = 0, "New"
    DEACTIVATED = 50, "Deactivated"
    CANCELLED = 100, "Cancelled"
    WAITING_FOR_STOCK = 500, "WaitingForStock"
    WAITING_FOR_PRESALE_SHIPMENT_DATE = 550, "WaitingForPreSaleShipmentDate"
    PENDING = 600, "Pending"
    IN_PROGRESS = 900, "InProgress"
    COMPLETED = 1000, "Completed"


# A fulfilment line in one of these still holds (or will take) the stock and
# the work: the line is not routed again while it is open.
OPEN_FULFILLMENT_STATUSES = (
    FulfillmentStatus.NEW,
    FulfillmentStatus.WAITING_FOR_STOCK,
    FulfillmentStatus.WAITING_FOR_PRESALE_SHIPMENT_DATE,
    FulfillmentStatus.PENDING,
    FulfillmentStatus.IN_PROGRESS,
)


class TaskStage(models.TextChoices):
    """Where a ship-from-store task is, and so what its shop may do next.

    The one state machine of a task, derived from its status and its step times:
    ``New`` (start it), ``Started`` (pick), ``Picked`` (pack), ``Packed`` (ship), then
    ``Finished`` (shipped, declined, cancelled, expired or taken by another shop).
    A fulfilment no shop works (an export, a cancel, a return) is ``Other``.
    """

    NEW = "new"
    STARTED = "started"
    PICKED = "picked"
    PACKED = "packed"
    FINISHED = "finished"
    OTHER = "other"


class CancellationReason(models.TextChoices):
    """EVA's reasons a fulfilment line was cancelled or deactivated (empty: none given).

    A shop declining a task may also give one of the configured decline reasons
    (setting ``ShipFromStore:DeclineReasons``); those are stored as written.
    """

    OTHER_STORE = "Otherstore", "Otherstore (another store picked it up first)"
    FULFILLMENT_CANCELLED = (
        "FulfillmentCancelled",
        "FulfillmentCancelled (the order line itself was cancelled)",
    )
    UNKNOWN = "Unknown", "Unknown (cancelled by someone)"
    ORDER_CHANGED = "OrderChanged", "OrderChanged (the order changed in flight; routed again)"
    EXPIRED = "Expired", "Expired (the deadline ran out)"
    NOT_SHIPPED = "NotShipped", "NotShipped (the warehouse reported it did not ship it)"


class ReturnCondition(models.TextChoices):
    """In which state a returned unit arrived; only Sellable units go back into stock."""

    SELLABLE = "Sellable"
    DAMAGED = "Damaged"
    DEFECTIVE = "Defective"


class OrchestrationOutcome(models.TextChoices):
    """What one orchestration run came to."""

    ROUTED = "Routed", "Routed (fulfilments created)"
    WAITING = "Waiting", "Waiting (nothing can fulfil the open lines now)"
    NOTHING_OPEN = "NothingOpen", "Nothing open (every line is routed or ended)"


class ExportStatus(models.TextChoices):
    """Where the export of an EXPORT_ORDER fulfilment is."""

    NONE = "", "Not an export"
    PENDING = "Pending", "Pending (to be sent, or retried at the next attempt time)"
    EXPORTED = "Exported"
    FAILED = "Failed", "Failed (every attempt failed; retry it by hand)"


class OrchestrationDetails(models.Model):
    """The explanation blob of one orchestration run of an order.

    Every fulfilment created by the run (one per shop when the task fans out)
    points here, so they share one blob. The blob is kept until ``expires_at``
    (setting ``Symphony:OrchestrationDetailsLifetimeInDays``); after that it is
    purged and only the row remains, so an API client can be told it expired.
    """

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="orchestration_details")
    attempt = models.PositiveIntegerField(
        default=1, help_text="The order's orchestration run number, from 1; unique per order."
    )
    at = models.DateTimeField(help_text="The clock the run used.")
    trigger = models.CharField(
        max_length=200, blank=True, help_text="Why the order was (re)orchestrated."
    )
    outcome = models.CharField(
        max_length=20, choices=OrchestrationOutcome.choices, default=OrchestrationOutcome.ROUTED
    )
    # Compressed: written on every run, read whole, never queried inside.
    blob = CompressedJSONField(null=True, blank=True)
    units_waiting = models.PositiveIntegerField(
        default=0, help_text="Units nothing could fulfil at this run, left to wait for stock."
    )
    repeats = models.PositiveIntegerField(
        default=1,
        help_text=(
            "Waiting runs in a row with this same outcome, folded into this one; its "
            "time and details are the last's."
        ),
    )
    first_at = models.DateTimeField(
        null=True, blank=True, help_text="When the first of the folded runs was (repeats > 1)."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)
    purged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "orchestration details"
        verbose_name_plural = "orchestration details"
        constraints = [
            # A redelivered task or two workers on the same order can never
            # store two runs under one number: the second insert fails.
            models.UniqueConstraint(fields=["order", "attempt"], name="one_run_per_attempt"),
        ]
        indexes = [
            # The history purge's batches (services/history.py): the blobs still kept, by
            # expiry; an emptied row leaves the index, so a batch never reads it again.
            models.Index(
                fields=["expires_at", "id"],
                condition=Q(purged_at__isnull=True),
                name="details_blob_kept",
            ),
        ]

    def __str__(self) -> str:
        return f"Orchestration of order {self.order_id} at {self.at:%Y-%m-%d %H:%M}"

    def is_expired(self, now: datetime) -> bool:
        """Whether the blob is gone, or due to be purged, at ``now``."""
        return self.purged_at is not None or self.expires_at <= now


class OrderFulfillment(models.Model):
    """One shipment an orchestration run decided: a supplier OU, an action and
    the order lines (``OrderFulfillmentLine``) it fulfils."""

    # Indexed with its supplier (``fulfillment_order_supplier``), which serves the
    # order's fulfilments as an index on the order alone would.
    order = models.ForeignKey(
        Order, on_delete=models.CASCADE, related_name="fulfillments", db_index=False
    )
    sheet = models.ForeignKey(
        Sheet,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="fulfillments",
    )
    sheet_name = models.CharField(
        max_length=200, blank=True, help_text="The sheet's name when it decided."
    )
    supplier_organization_unit = models.ForeignKey(
        OrganizationUnit,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="supplied_fulfillments",
        help_text="Empty for a CANCEL: nothing can fulfil the lines.",
    )
    action = models.CharField(max_length=30, choices=FulfillmentAction.choices)
    status = models.PositiveSmallIntegerField(
        choices=FulfillmentStatus.choices, default=FulfillmentStatus.NEW
    )
    data = models.JSONField(default=dict, blank=True)
    # --- Ship-from-store task -----------------------------------------------------------
    task_key = models.CharField(
        max_length=32,
        blank=True,
        db_index=True,
        help_text="Groups the copies of one ship-from-store task fanned out to several shops.",
    )
    is_fanout = models.BooleanField(
        default=False, help_text="The task went to more than one shop; the first to start wins."
    )
    holds_reservation = models.BooleanField(
        default=False, help_text="The stock of these lines is reserved at this supplier."
    )
    priority = models.IntegerField(default=0, help_text="ShipFromStoreTaskPriority: higher first.")
    labels = models.JSONField(default=list, blank=True)
    start_deadline = models.DateTimeField(null=True, blank=True, db_index=True)
    pack_deadline = models.DateTimeField(null=True, blank=True, db_index=True)
    ship_deadline = models.DateTimeField(null=True, blank=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    picked_at = models.DateTimeField(null=True, blank=True)
    packed_at = models.DateTimeField(null=True, blank=True)
    shipped_at = models.DateTimeField(null=True, blank=True)
    carrier = models.CharField(max_length=100, blank=True)
    tracking_number = models.CharField(max_length=100, blank=True)
    # --- Export to a warehouse ----------------------------------------------------------
    exporter_name = models.CharField(max_length=100, blank=True)
    export_status = models.CharField(
        max_length=10, choices=ExportStatus.choices, blank=True, default=ExportStatus.NONE
    )
    export_attempts = models.PositiveIntegerField(default=0)
    export_next_at = models.DateTimeField(null=True, blank=True, db_index=True)
    export_error = models.TextField(blank=True)
    exported_at = models.DateTimeField(null=True, blank=True)
    orchestration_details = models.ForeignKey(
        OrchestrationDetails,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="fulfillments",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "order fulfillment"
        indexes = [
            # "How many open ship-from-store tasks does each shop have?", asked for
            # every order a sheet reading ActiveShipFromStoreTasks routes, and a
            # shop's open task list. Action and status first: both backends seek
            # to each open status and read the open tasks only, not every task ever
            # made (300,000 fulfilments: 32 ms a count on PostgreSQL and 28 ms on
            # SQLite with the shop first, 1.4 and 0.7 ms with this one). Not a
            # partial index: SQLite uses one only when a query spells its condition
            # with the same literals, and Django sends parameters.
            models.Index(
                fields=["action", "status", "supplier_organization_unit"],
                name="fulfillment_open_tasks",
            ),
            # "Has this order a fulfilment at one of my shops?", asked of the newest
            # orders one by one for store staff's order list until it has a page:
            # answered from the index alone, without reading the fulfilments.
            models.Index(
                fields=["order", "supplier_organization_unit"], name="fulfillment_order_supplier"
            ),
            # The lists over 3,000,000 fulfilments (issue 23): newest first, of a
            # status, of a supplier; keyset pages walk them from where a page starts.
            models.Index(fields=["created_at", "id"], name="fulfillment_created"),
            models.Index(fields=["status", "created_at", "id"], name="fulfillment_status_created"),
            models.Index(
                fields=["supplier_organization_unit", "created_at", "id"],
                name="fulfillment_supplier_created",
            ),
            # A shop's task list with its finished tasks (thousands a shop), in its
            # order: the page reads its rows off the index instead of sorting them all.
            # (PostgreSQL sorts NULLs last ascending, as the list wants its start
            # deadlines; SQLite cannot say NULLS LAST in an index and sorts itself.)
            models.Index(
                fields=[
                    "supplier_organization_unit",
                    "action",
                    "-priority",
                    "start_deadline",
                    "created_at",
                    "id",
                ],
                name="fulfillment_task_list",
            ),
            # The exports still to send or failed for good (the failures page, its count
            # on the order list): a few thousand rows among millions, so only those.
            # PostgreSQL uses it (the status is a literal in the query); SQLite scans.
            models.Index(
                fields=["export_status", "updated_at", "id"],
                name="fulfillment_exports_open",
                condition=Q(export_status__in=[ExportStatus.PENDING, ExportStatus.FAILED]),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(action=FulfillmentAction.CANCEL)
                | Q(supplier_organization_unit__isnull=False),
                name="fulfillment_supplier_unless_cancel",
            ),
        ]

    def __str__(self) -> str:
        supplier = self.supplier_organization_unit or "no supplier"
        return f"{self.action} of order {self.order_id} by {supplier}"

    @property
    def supplier_unit_id(self) -> int:
        """The ID of the OU that fulfils it; only a CANCEL fulfillment has none (a
        constraint), and no step of a CANCEL one touches stock or a supplier."""
        unit_id = self.supplier_organization_unit_id
        if unit_id is None:
            raise ValueError(f"Fulfillment {self.pk} ({self.action}) has no supplier.")
        return unit_id

    @property
    def supplier_unit(self) -> OrganizationUnit:
        """The OU that fulfils it (as ``supplier_unit_id``)."""
        unit = self.supplier_organization_unit
        if unit is None:
            raise ValueError(f"Fulfillment {self.pk} ({self.action}) has no supplier.")
        return unit

    @property
    def stage(self) -> TaskStage:
        """Where the ship-from-store task is (``TaskStage``): the services allow each
        step only at its stage, and the pages offer only that step."""
        if self.action != FulfillmentAction.SHIP_FROM_STORE:
            return TaskStage.OTHER
        if self.status == FulfillmentStatus.NEW:
            return TaskStage.NEW
        if self.status == FulfillmentStatus.IN_PROGRESS:
            if not self.picked_at:
                return TaskStage.STARTED
            if not self.packed_at:
                return TaskStage.PICKED
            if not self.shipped_at:
                return TaskStage.PACKED
        return TaskStage.FINISHED


class OrderFulfillmentLine(models.Model):
    """A quantity of one order line in one fulfilment, with its own state."""

    fulfillment = models.ForeignKey(
        OrderFulfillment, on_delete=models.CASCADE, related_name="lines"
    )
    order_line = models.ForeignKey(
        OrderLine, on_delete=models.CASCADE, related_name="fulfillment_lines"
    )
    product = models.ForeignKey(
        Product,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="What ships: the ordered product or one of its replacements.",
    )
    quantity = models.PositiveIntegerField()
    status = models.PositiveSmallIntegerField(
        choices=FulfillmentStatus.choices, default=FulfillmentStatus.NEW
    )
    cancellation_reason = models.CharField(
        max_length=50,
        blank=True,
        help_text="One of EVA's reasons (CancellationReason) or a configured decline reason.",
    )
    condition = models.CharField(
        max_length=20,
        choices=ReturnCondition.choices,
        blank=True,
        help_text="A received return line: in which state its units arrived.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["fulfillment_id", "id"]
        verbose_name = "order fulfillment line"
        indexes = [models.Index(fields=["order_line", "status"], name="fulfillment_line_state")]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gte=1), name="fulfillment_line_quantity_positive"
            ),
            models.CheckConstraint(
                condition=Q(cancellation_reason="")
                | Q(
                    status__in=[
                        FulfillmentStatus.CANCELLED,
                        FulfillmentStatus.DEACTIVATED,
                    ]
                ),
                name="fulfillment_line_reason_only_when_ended",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x line {self.order_line_id} ({self.get_status_display()})"
