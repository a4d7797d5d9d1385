"""The order timeline, the webhook outbox and customer e-mail.

Every state change records an ``OrderEvent`` in the transaction that makes it,
so the timeline can never disagree with the data. Events the outside world
cares about are also queued for the webhook receiver (``ORCHESTRATION_WEBHOOK_URL``):
sent after commit, and retried by the sweep with a doubling delay until they
get through or run out of attempts.
"""

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string

from ..integrations.http import DeliveryError, post_json
from ..models import OrchestrationDetails, Order, OrderEvent, OrderFulfillment, WebhookStatus
from ..tasks import webhook_deliver_task
from .sending import task_send_on_commit

logger = logging.getLogger(__name__)

# Events sent to the webhook receiver; the rest are for the timeline only.
WEBHOOK_KINDS = frozenset(
    {
        "lines.cancelled",
        "fulfillment.shipped",
        "export.failed",
        "order.completed",
        "order.cancelled",
        # For the payment system: what came back, in which state, and its amount.
        "return.received",
        # Orchestration gave up on the order after an error: a person must look.
        "orchestration.failed",
    }
)
WEBHOOK_MAX_ATTEMPTS = 8
WEBHOOK_TIMEOUT_SECONDS = 10


def actor_of(user: AbstractBaseUser | AnonymousUser | None, system: str) -> str:
    """How the timeline names who did something: the username, or ``system:<job>``."""
    if user is not None and user.is_authenticated:
        return user.get_username()
    return f"system:{system}"


def event_record(
    *,
    order: Order | int,
    kind: str,
    message: str,
    at: datetime,
    actor: str,
    user: User | None = None,
    fulfillment: OrderFulfillment | None = None,
    details: OrchestrationDetails | None = None,
    data: dict[str, Any] | None = None,
) -> OrderEvent:
    """Add one entry to an order's timeline (and the webhook outbox, for its kinds)."""
    event = event_build(
        order=order,
        kind=kind,
        message=message,
        at=at,
        actor=actor,
        user=user,
        fulfillment=fulfillment,
        details=details,
        data=data,
    )
    event.save(force_insert=True)
    event_stored(event)
    return event


def event_build(
    *,
    order: Order | int,
    kind: str,
    message: str,
    at: datetime,
    actor: str,
    user: User | None = None,
    fulfillment: OrderFulfillment | None = None,
    details: OrchestrationDetails | None = None,
    data: dict[str, Any] | None = None,
) -> OrderEvent:
    """The timeline entry ``event_record`` stores, not saved yet: whoever stores it
    another way calls ``event_stored`` after."""
    webhook = kind in WEBHOOK_KINDS and bool(settings.ORCHESTRATION_WEBHOOK_URL)
    return OrderEvent(
        order_id=order if isinstance(order, int) else order.pk,
        kind=kind,
        message=message,
        at=at,
        actor=actor,
        user=user if user is not None and user.is_authenticated else None,
        fulfillment=fulfillment,
        orchestration_details=details,
        data=data or {},
        webhook_status=WebhookStatus.PENDING if webhook else WebhookStatus.NONE,
        webhook_next_at=at if webhook else None,
    )


def event_stored(event: OrderEvent) -> None:
    """A stored entry for the webhook goes out once the transaction commits."""
    if event.webhook_status == WebhookStatus.PENDING:
        _send_after_commit([event.pk])


def _send_after_commit(event_ids: list[int]) -> None:
    task_send_on_commit(task=webhook_deliver_task, ids=event_ids, noun="order event")


def webhook_payload(event: OrderEvent) -> dict[str, Any]:
    """What the receiver gets: the event, with the order's identifiers."""
    return {
        "id": event.pk,
        "kind": event.kind,
        "at": event.at.isoformat(),
        "order": {"id": event.order_id, "backend_id": event.order.backend_id},
        "fulfillment": event.fulfillment_id,
        "message": event.message,
        "actor": event.actor,
        "data": event.data,
    }


def webhook_deliver(*, event_id: int, now: datetime) -> bool:
    """Post one pending event to the receiver; say whether it was delivered.

    The receiver may get an event twice (a crash between its answer and our
    write): the ``Idempotency-Key`` header lets it notice.
    """
    event = (
        OrderEvent.objects.select_related("order")
        .filter(pk=event_id, webhook_status=WebhookStatus.PENDING)
        .first()
    )
    if event is None:
        return False
    try:
        post_json(
            settings.ORCHESTRATION_WEBHOOK_URL,
            webhook_payload(event),
            headers={"Idempotency-Key": f"order-event-{event.pk}"},
            timeout=WEBHOOK_TIMEOUT_SECONDS,
        )
        delivered = True
    except DeliveryError as error:
        logger.warning("Webhook event %s not delivered: %s", event.pk, error)
        delivered = False
    attempts = event.webhook_attempts + 1
    if delivered:
        changes: dict[str, Any] = {"webhook_status": WebhookStatus.SENT, "webhook_next_at": None}
    elif attempts >= WEBHOOK_MAX_ATTEMPTS:
        changes = {"webhook_status": WebhookStatus.FAILED, "webhook_next_at": None}
    else:
        changes = {"webhook_next_at": now + timedelta(seconds=30 * 2 ** (attempts - 1))}
    OrderEvent.objects.filter(pk=event.pk, webhook_status=WebhookStatus.PENDING).update(
        webhook_attempts=attempts, **changes
    )
    return delivered


def webhooks_due(*, now: datetime) -> list[int]:
    """The pending events whose next attempt is due (for the sweep)."""
    return list(
        OrderEvent.objects.filter(
            webhook_status=WebhookStatus.PENDING, webhook_next_at__lte=now
        ).values_list("pk", flat=True)[:500]
    )


def customer_notify_cancelled(*, order: Order, lines: Iterable[tuple[str, int]]) -> None:
    """E-mail the customer, after commit, which products will not be delivered."""
    if not order.customer_email:
        return
    context = {"order": order, "lines": [{"product": p, "quantity": q} for p, q in lines]}
    subject = f"Your order {order.backend_id or order.pk}: some items cannot be delivered"
    text = render_to_string("orchestration/email/lines_cancelled.txt", context)
    html = render_to_string("orchestration/email/lines_cancelled.html", context)

    def send() -> None:
        message = EmailMultiAlternatives(subject, text, to=[order.customer_email])
        message.attach_alternative(html, "text/html")
        try:
            message.send()
        except OSError:  # the cancellation stands; a mail server being down must not undo it
            logger.exception("Could not e-mail %s about order %s", order.customer_email, order.pk)

    transaction.on_commit(send)
