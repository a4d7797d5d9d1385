"""Return orders: created from a sales order, routed like any order, their documents
mailed, their arrival registered.

A return order (intent Returns) is made from a sales order's lines: how many of each
and why, never more than was shipped and not already on another return
(``return_order_create``). Orchestration then routes it: by the sheets whose
``option OrderIntents`` includes 'Returns' when ``UseOrderOrchestrationForReturnOrders``
is on, otherwise to the OU of ``Returns:DefaultOrganizationUnitBackendID`` (the
engine decides both). Its EXPORT_RETURN_ORDER fulfilment goes through the export
queue like a warehouse export, but what it "exports" is the return documents: the
form (HTML and PDF with the return code as a QR code) mailed to the customer
(``return_documents_send``), with the same retries and list of failures. The
receiving OU registers what arrived and in which condition
(``services.fulfillments.receiving.return_receive``).
"""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import F, Sum
from django.template.loader import render_to_string
from django.utils import timezone

from ..errors import ApplicationError, NotFoundError
from ..integrations.exporters import ExportError
from ..integrations.return_documents import return_code, return_document_context, return_form_pdf
from ..models import (
    Order,
    OrderFulfillment,
    OrderIntent,
    OrderLine,
    OrganizationUnit,
    OrganizationUnitType,
)
from ..selectors.settings import setting_value
from .events import actor_of, event_record
from .orders import order_create

ADDRESS_FIELDS = ("street", "zip_code", "city", "country_id", "latitude", "longitude")


def return_reasons() -> list[str]:
    """The reasons a customer may give for returning a line (``Returns:Reasons``)."""
    configured = setting_value("Returns:Reasons") or ""
    return [reason.strip() for reason in configured.split(",") if reason.strip()]


def returnable_quantities(order: Order) -> dict[int, int]:
    """Per line of sales order ``order``: units shipped and not on a return order yet
    (a return order's cancelled units count as not returned)."""
    returned = dict(
        OrderLine.objects.filter(original_line__order=order)
        .values("original_line")
        .annotate(units=Sum(F("quantity") - F("quantity_cancelled")))
        .values_list("original_line", "units")
    )
    return {
        line.pk: line.quantity_shipped - (returned.get(line.pk) or 0) for line in order.lines.all()
    }


@transaction.atomic
def return_order_create(
    *,
    original_order_id: int,
    lines: Sequence[Mapping[str, Any]],
    user: User | None,
    sold_from_organization_unit: OrganizationUnit | None = None,
    backend_id: str | None = None,
    now: datetime | None = None,
) -> Order:
    """Create a return order for ``lines`` of a sales order: each a mapping with
    ``order_line`` (the sales order line's ID), ``quantity`` and ``reason``.

    Refused, with nothing written, when the order is not a sales order, a line is
    not one of its lines or is listed twice, or asks back more than was shipped and
    not returned already; the error names the line (``lines[i].quantity``).
    ``sold_from_organization_unit`` defaults to the returns portal (the first OU of
    type ReturnsPortal), else the shop the order was sold from.
    """
    now = now or timezone.now()
    # Locked: two returns of the same order at once cannot both take the last unit.
    original = Order.objects.select_for_update().filter(pk=original_order_id).first()
    if original is None:
        raise NotFoundError(f"There is no order {original_order_id}.", code="not_found")
    number = original.backend_id or original.pk
    if original.intent != OrderIntent.SALES:
        raise ApplicationError(
            f"Only a sales order can be returned; order {number} is a {original.intent} order.",
            code="not_a_sales_order",
            field="original_order",
        )
    if not lines:
        raise ApplicationError("Name at least one line to return.", code="required", field="lines")
    by_id = {line.pk: line for line in original.lines.select_related("product")}
    available = returnable_quantities(original)
    reasons = return_reasons()
    seen: set[int] = set()
    for index, item in enumerate(lines):
        line = by_id.get(item["order_line"])
        if line is None:
            raise ApplicationError(
                f"Order line {item['order_line']} is not a line of order {number}.",
                code="invalid_line",
                field=f"lines[{index}].order_line",
            )
        if line.pk in seen:
            raise ApplicationError(
                f"Line {line.pk} is listed twice; give it once with its whole quantity.",
                code="duplicate_line",
                field=f"lines[{index}].order_line",
            )
        seen.add(line.pk)
        quantity = item["quantity"]
        if quantity < 1:
            raise ApplicationError(
                "Return at least 1 unit.", code="invalid_quantity", field=f"lines[{index}].quantity"
            )
        if quantity > available[line.pk]:
            returned = line.quantity_shipped - available[line.pk]
            raise ApplicationError(
                f"Line {line.pk} ({line.product.backend_id or line.product.name}): "
                f"{quantity} units asked back, but only {max(available[line.pk], 0)} can be "
                f"({line.quantity_shipped} shipped, {returned} on a return already).",
                code="over_return",
                field=f"lines[{index}].quantity",
            )
        reason = (item.get("reason") or "").strip()
        if reasons and reason not in reasons:
            raise ApplicationError(
                f"Give a reason for line {line.pk}: one of {', '.join(reasons)} "
                "(setting Returns:Reasons).",
                code="invalid_reason",
                field=f"lines[{index}].reason",
            )
    sold_from = sold_from_organization_unit or (
        OrganizationUnit.objects.filter(type=OrganizationUnitType.RETURNS_PORTAL)
        .order_by("pk")
        .first()
        or original.sold_from_organization_unit
    )
    if backend_id is None and original.backend_id:
        backend_id = f"{original.backend_id}-R{original.return_orders.count() + 1}"
    order = order_create(
        lines=[
            {
                "product": by_id[item["order_line"]].product,
                "quantity": item["quantity"],
                "original_line": by_id[item["order_line"]],
                "return_reason": (item.get("reason") or "").strip(),
                "unit_price": by_id[item["order_line"]].unit_price,
                "unit_price_in_tax": by_id[item["order_line"]].unit_price_in_tax,
            }
            for item in lines
        ],
        created_by=user,
        backend_id=backend_id,
        intent=OrderIntent.RETURNS,
        original_order=original,
        sold_from_organization_unit=sold_from,
        customer_email=original.customer_email,
        currency_id=original.currency_id,
        placed_at=now,
        # The customer sends the goods from where they were delivered.
        **{
            f"{kind}_{part}": getattr(original, f"{kind}_{part}")
            for kind in ("shipping", "billing")
            for part in ADDRESS_FIELDS
        },
    )
    summary = ", ".join(
        f"{item['quantity']} x {by_id[item['order_line']].product.backend_id}"
        + (f" ({item['reason']})" if item.get("reason") else "")
        for item in lines
    )
    event_record(
        order=original,
        kind="return.created",
        message=f"Return order {return_code(order)} created: {summary}.",
        at=now,
        actor=actor_of(user, "api"),
        user=user,
        data={"return_order": order.pk},
    )
    return order


def return_documents_send(fulfillment: OrderFulfillment) -> None:
    """E-mail the return order's documents to the customer: the mail (text and HTML)
    and the form as a PDF attachment. ``ExportError`` if it could not be sent; the
    export queue retries it as it retries a warehouse export."""
    order = fulfillment.order
    if not order.customer_email:
        raise ExportError("The return order has no customer e-mail address to send its form to.")
    context = return_document_context(order)
    code = context["ReturnCode"]
    message = EmailMultiAlternatives(
        f"Your return {code}: where to send it",
        render_to_string("orchestration/email/return_documents.txt", context),
        to=[order.customer_email],
    )
    message.attach_alternative(
        render_to_string("orchestration/email/return_documents.html", context), "text/html"
    )
    message.attach(f"return-form-{code}.pdf", return_form_pdf(context), "application/pdf")
    try:
        message.send()
    except OSError as error:
        raise ExportError(f"The mail server refused the return documents: {error}.") from error
