"""The return documents of a return order: what the form and the mail show, the return
code as a QR code, and the printable form as PDF.

EVA hands its ReturnForm and ReturnMail stencils one model; so do we
(``return_document_context``). ``ReturnOrganizationUnit`` is at its root, for the
usual case of a return going to one place, and on each line, since orchestration
routes lines and two lines may go to different OUs. The HTML form and the mail are
Django templates over that model (``orchestration/returns/form.html``,
``orchestration/email/return_documents.{txt,html}``); the PDF is drawn with
ReportLab from the same model, so the three never disagree.
"""

import io
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from ..models import (
    FulfillmentAction,
    FulfillmentStatus,
    Order,
    OrderFulfillmentLine,
    OrganizationUnit,
)


def return_code(order: Order) -> str:
    """What the receiving OU scans to find the return: its number, or its ID."""
    return order.backend_id or f"R{order.pk}"


def _unit(unit: OrganizationUnit | None) -> dict[str, Any] | None:
    if unit is None:
        return None
    return {
        "ID": unit.pk,
        "BackendID": unit.backend_id,
        "Name": unit.name,
        "Type": unit.type,
        "Address": {
            "Street": unit.address_street,
            "ZipCode": unit.address_zip_code,
            "City": unit.address_city,
            "CountryID": unit.address_country_id or unit.country_id,
        },
    }


def return_document_context(order: Order) -> dict[str, Any]:
    """The stencil model of ``order``'s return form and mail.

    A line's ``ReturnOrganizationUnit`` is the OU of its open or received
    EXPORT_RETURN_ORDER fulfilment (cancelled ones do not count); the root's is the
    first line's, the OU nearly every return goes to. Before the order is routed
    both are None.
    """
    units: dict[int, OrganizationUnit | None] = {}
    for routed in _return_lines(order):  # newest first: a line re-routed takes its last OU
        units.setdefault(routed.order_line_id, routed.fulfillment.supplier_organization_unit)
    lines = []
    for line in order.lines.select_related("product", "original_line").order_by("pk"):
        lines.append(
            {
                "ID": line.pk,
                "Product": {
                    "BackendID": line.product.backend_id,
                    "Name": line.product.name,
                },
                "Quantity": line.quantity,
                "Reason": line.return_reason,
                "OriginalOrderLineID": line.original_line_id,
                "ReturnOrganizationUnit": _unit(units.get(line.pk)),
            }
        )
    root = next(
        (line["ReturnOrganizationUnit"] for line in lines if line["ReturnOrganizationUnit"]), None
    )
    original = order.original_order
    return {
        "ReturnCode": return_code(order),
        "Order": {
            "ID": order.pk,
            "BackendID": order.backend_id,
            "PlacedAt": timezone.localtime(order.placed_at),
        },
        "OriginalOrder": (
            {"ID": original.pk, "BackendID": original.backend_id} if original else None
        ),
        "Customer": {
            "Email": order.customer_email,
            # The address fields are added by Order.add_to_class: mypy does not see them.
            "Address": {
                "Street": order.shipping_street,  # type: ignore[attr-defined]
                "ZipCode": order.shipping_zip_code,  # type: ignore[attr-defined]
                "City": order.shipping_city,  # type: ignore[attr-defined]
                "CountryID": order.shipping_country_id,  # type: ignore[attr-defined]
            },
        },
        "ReturnOrganizationUnit": root,
        "Lines": lines,
    }


def _return_lines(order: Order) -> QuerySet[OrderFulfillmentLine]:
    return (
        OrderFulfillmentLine.objects.filter(
            fulfillment__order=order,
            fulfillment__action=FulfillmentAction.EXPORT_RETURN_ORDER,
        )
        .exclude(status__in=(FulfillmentStatus.CANCELLED, FulfillmentStatus.DEACTIVATED))
        .select_related("fulfillment__supplier_organization_unit")
        .order_by("-fulfillment__created_at", "-pk")
    )


def _qr_modules(text: str) -> list[list[bool]]:
    widget = QrCodeWidget(text)
    widget.qr.make()
    return [[bool(cell) for cell in row] for row in widget.qr.modules]


def qr_svg(text: str, *, size_mm: int = 35) -> str:
    """``text`` as a QR code: one compact SVG path, a quiet zone of four modules."""
    modules = _qr_modules(text)
    count = len(modules) + 8
    path = "".join(
        f"M{column + 4} {row + 4}h1v1h-1z"
        for row, cells in enumerate(modules)
        for column, dark in enumerate(cells)
        if dark
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {count} {count}" '
        f'width="{size_mm}mm" height="{size_mm}mm" role="img" aria-label="QR code {text}" '
        f'shape-rendering="crispEdges"><rect width="{count}" height="{count}" fill="#fff"/>'
        f'<path d="{path}" fill="#000"/></svg>'
    )


def _address_lines(unit: dict[str, Any] | None) -> list[str]:
    if unit is None:
        return ["(not routed yet)"]
    address = unit["Address"]
    city = " ".join(part for part in (address["ZipCode"], address["City"]) if part)
    return [line for line in (unit["Name"], address["Street"], city, address["CountryID"]) if line]


def return_form_pdf(context: dict[str, Any]) -> bytes:
    """The printable return form: where to send it, the order, the lines, the code."""
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4, invariant=True)  # invariant: same bytes each time
    width, height = A4
    canvas.setTitle(f"Return form {context['ReturnCode']}")
    canvas.setFont("Helvetica-Bold", 18)
    canvas.drawString(20 * mm, height - 25 * mm, "Return form")
    canvas.setFont("Helvetica", 11)
    y = height - 35 * mm
    original = context["OriginalOrder"]
    facts = [
        f"Return order: {context['ReturnCode']}",
        f"Original order: {original['BackendID'] or original['ID']}" if original else "",
        f"Customer: {context['Customer']['Email']}",
    ]
    for fact in filter(None, facts):
        canvas.drawString(20 * mm, y, fact)
        y -= 6 * mm
    y -= 4 * mm
    canvas.setFont("Helvetica-Bold", 12)
    canvas.drawString(20 * mm, y, "Send the parcel to")
    canvas.setFont("Helvetica", 11)
    for line in _address_lines(context["ReturnOrganizationUnit"]):
        y -= 6 * mm
        canvas.drawString(20 * mm, y, line)
    y -= 12 * mm
    canvas.setFont("Helvetica-Bold", 11)
    for x, title in ((20, "Product"), (110, "Quantity"), (135, "Reason"), (170, "To")):
        canvas.drawString(x * mm, y, title)
    canvas.setFont("Helvetica", 10)
    for item in context["Lines"]:
        y -= 6 * mm
        unit = item["ReturnOrganizationUnit"]
        canvas.drawString(
            20 * mm, y, f"{item['Product']['Name']} ({item['Product']['BackendID']})"[:55]
        )
        canvas.drawString(110 * mm, y, str(item["Quantity"]))
        canvas.drawString(135 * mm, y, item["Reason"] or "-")
        canvas.drawString(170 * mm, y, unit["BackendID"] if unit else "-")
    # The return code, to scan at the receiving OU.
    widget = QrCodeWidget(context["ReturnCode"], barWidth=35 * mm, barHeight=35 * mm)
    drawing = Drawing(35 * mm, 35 * mm)
    drawing.add(widget)
    drawing.drawOn(canvas, width - 60 * mm, height - 60 * mm)
    canvas.setFont("Helvetica", 9)
    canvas.drawCentredString(width - 42.5 * mm, height - 64 * mm, context["ReturnCode"])
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()
