"""Returns through orchestration: a return order made from a shipped sales order,
routed by the returns sheet (or to the default returns OU), its documents (form as
HTML and PDF, mail as text and HTML, ``ReturnOrganizationUnit`` at the root and on
each line) mailed through the export queue, and its arrival registered: sellable
units back into stock, a refund event, every step on the timeline. Every refusal
names the line at fault and writes nothing."""

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core import mail
from rest_framework.test import APIClient

from orchestration.errors import ApplicationError
from orchestration.integrations.return_documents import return_document_context
from orchestration.models import (
    FulfillmentAction,
    FulfillmentStatus,
    Order,
    OrderFulfillment,
    OrderFulfillmentLine,
    OrderLine,
    Stock,
)
from orchestration.services.fulfillments.receiving import ReceivedUnits, return_receive
from orchestration.services.fulfillments.steps import (
    fulfillment_pack,
    fulfillment_pick,
    fulfillment_ship,
    fulfillment_start,
)
from orchestration.services.returns import return_order_create
from orchestration.services.settings import setting_set

from ..conftest import table_rows
from .conftest import Receiver, unit


@pytest.fixture
def shipped(
    place: Callable[..., Order], staff: User, django_capture_on_commit_callbacks: Any
) -> Order:
    """A sales order of 2 sneakers and 1 scarf, shipped by the Kalverstraat shop."""
    order = place("SNK-CANVAS-WHT", "SCF-WOOL-RED", quantity=2)
    task = order.fulfillments.get()
    with django_capture_on_commit_callbacks(execute=True):
        fulfillment_start(fulfillment_id=task.pk, user=staff)
        fulfillment_pick(fulfillment_id=task.pk, user=staff)
        fulfillment_pack(fulfillment_id=task.pk, user=staff)
        fulfillment_ship(
            fulfillment_id=task.pk, user=staff, carrier="PostNL", tracking_number="3S1"
        )
    order.refresh_from_db()
    assert order.status == "Completed"
    return order


def line_of(order: Order, product: str) -> OrderLine:
    return order.lines.get(product__backend_id=product)


@pytest.fixture
def create_return(staff: User, django_capture_on_commit_callbacks: Any) -> Callable[..., Order]:
    """Create a return order as the API does, running what is sent after commit."""

    def create(order: Order, *lines: tuple[str, int, str], **fields: Any) -> Order:
        with django_capture_on_commit_callbacks(execute=True):
            created = return_order_create(
                original_order_id=order.pk,
                user=staff,
                lines=[
                    {"order_line": line_of(order, product).pk, "quantity": q, "reason": reason}
                    for product, q, reason in lines
                ],
                **fields,
            )
        created.refresh_from_db()
        return created

    return create


def on_hand(backend_id: str, product: str) -> int:
    return Stock.objects.get(
        organization_unit__backend_id=backend_id, product__backend_id=product
    ).quantity_on_hand


def test_a_return_is_routed_by_the_returns_sheet_and_its_documents_are_mailed(
    shipped: Order, create_return: Callable[..., Order]
) -> None:
    mail.outbox.clear()
    returned = create_return(shipped, ("SNK-CANVAS-WHT", 1, "TooSmall"))
    assert (returned.intent, returned.backend_id, returned.original_order_id) == (
        "Returns",
        f"{shipped.backend_id}-R1",
        shipped.pk,
    )
    assert returned.sold_from_organization_unit.backend_id == "returns_portal"
    (fulfillment,) = returned.fulfillments.all()
    assert (fulfillment.action, fulfillment.sheet.fulfillment) == (
        "EXPORT_RETURN_ORDER",
        "ReturnOrdersFromReturnPortal",
    )
    # The sheet's score prefers the returns desk in Lelystad.
    assert fulfillment.supplier_organization_unit.backend_id == "lelystad_warehouse"
    assert (fulfillment.export_status, fulfillment.status) == (
        "Exported",
        FulfillmentStatus.IN_PROGRESS,
    )

    (sent,) = mail.outbox
    assert sent.to == ["sanne.devries@example.com"]
    assert sent.subject == f"Your return {returned.backend_id}: where to send it"
    assert "Please send the parcel to:\n  Lelystad warehouse\n  Larserpoortweg 30\n" in sent.body
    assert (
        "- 1 x Canvas sneaker, white (SNK-CANVAS-WHT), reason TooSmall, "
        "to Lelystad warehouse (lelystad_warehouse)\n" in sent.body
    )
    html, kind = sent.alternatives[0]
    assert kind == "text/html"
    assert (
        '<address id="return-address">Lelystad warehouse<br>Larserpoortweg 30<br>'
        "8218 NK Lelystad<br>NL</address>" in html
    )
    assert '<td class="line-unit">Lelystad warehouse (lelystad_warehouse)</td>' in html
    ((name, pdf, pdf_type),) = sent.attachments
    assert (name, pdf_type, pdf[:5]) == (
        f"return-form-{returned.backend_id}.pdf",
        "application/pdf",
        b"%PDF-",
    )

    timeline = [e.kind for e in returned.events.order_by("at", "pk")]
    assert timeline == ["order.created", "orchestration.run", "export.sent"]
    assert returned.events.get(kind="export.sent").message == (
        "Exported to the customer sanne.devries@example.com (return documents for "
        "Lelystad warehouse (lelystad_warehouse)) (attempt 1)."
    )
    assert shipped.events.get(kind="return.created").message == (
        f"Return order {returned.backend_id} created: 1 x SNK-CANVAS-WHT (TooSmall)."
    )


def test_with_orchestration_of_returns_off_they_go_to_the_default_returns_ou(
    shipped: Order, create_return: Callable[..., Order]
) -> None:
    setting_set(name="UseOrderOrchestrationForReturnOrders", value=False)
    setting_set(name="Returns:DefaultOrganizationUnitBackendID", value="venlo_warehouse")
    returned = create_return(shipped, ("SCF-WOOL-RED", 2, "ChangedMind"))
    (fulfillment,) = returned.fulfillments.all()
    assert (fulfillment.action, fulfillment.supplier_organization_unit.backend_id) == (
        "EXPORT_RETURN_ORDER",
        "venlo_warehouse",
    )
    assert fulfillment.sheet_id is None  # no sheet decided it
    context = return_document_context(returned)
    assert context["ReturnOrganizationUnit"]["BackendID"] == "venlo_warehouse"


def test_more_than_was_shipped_is_refused_naming_the_line_and_nothing_is_written(
    shipped: Order, create_return: Callable[..., Order], staff: User
) -> None:
    sneakers = line_of(shipped, "SNK-CANVAS-WHT")
    scarf = line_of(shipped, "SCF-WOOL-RED")
    before = table_rows()
    with pytest.raises(ApplicationError) as refused:
        return_order_create(
            original_order_id=shipped.pk,
            user=staff,
            lines=[
                {
                    "order_line": line_of(shipped, "SCF-WOOL-RED").pk,
                    "quantity": 1,
                    "reason": "Other",
                },
                {"order_line": sneakers.pk, "quantity": 3, "reason": "TooSmall"},
            ],
        )
    assert (refused.value.code, refused.value.field, refused.value.message) == (
        "over_return",
        "lines[1].quantity",
        f"Line {sneakers.pk} (SNK-CANVAS-WHT): 3 units asked back, but only 2 can be "
        "(2 shipped, 0 on a return already).",
    )
    assert table_rows() == before

    # What is on a return already cannot be returned twice.
    create_return(shipped, ("SNK-CANVAS-WHT", 2, "TooSmall"))
    api = APIClient()
    api.force_authenticate(User.objects.get(username="admin"))
    before = table_rows()
    response = api.post(
        f"/api/orders/{shipped.pk}/returns/",
        {"lines": [{"order_line": sneakers.pk, "quantity": 1, "reason": "TooSmall"}]},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "code": "over_return",
            "message": f"Line {sneakers.pk} (SNK-CANVAS-WHT): 1 units asked back, but only 0 "
            "can be (2 shipped, 2 on a return already).",
            "field": "lines[0].quantity",
        }
    ]
    wrong = api.post(
        f"/api/orders/{shipped.pk}/returns/",
        {"lines": [{"order_line": sneakers.pk, "quantity": "two"}]},
        format="json",
    )
    assert wrong.status_code == 400
    assert wrong.json()["errors"][0]["field"] == "lines[0].quantity"
    reason = api.post(
        f"/api/orders/{shipped.pk}/returns/",
        {
            "lines": [
                {"order_line": line_of(shipped, "SCF-WOOL-RED").pk, "quantity": 1, "reason": "Meh"}
            ]
        },
        format="json",
    )
    assert reason.json()["errors"] == [
        {
            "code": "invalid_reason",
            "message": f"Give a reason for line {scarf.pk}: one of "
            "TooSmall, TooLarge, NotAsDescribed, Damaged, ChangedMind, Other "
            "(setting Returns:Reasons).",
            "field": "lines[0].reason",
        }
    ]
    assert table_rows() == before


def test_the_form_and_mail_carry_the_returns_ou_at_the_root_and_on_each_line(
    shipped: Order, create_return: Callable[..., Order]
) -> None:
    returned = create_return(
        shipped, ("SNK-CANVAS-WHT", 1, "TooSmall"), ("SCF-WOOL-RED", 1, "Other")
    )
    # Lines may in principle go to different OUs: move the scarf's to Venlo.
    lelystad = returned.fulfillments.get()
    venlo = OrderFulfillment.objects.create(
        order=returned,
        action=FulfillmentAction.EXPORT_RETURN_ORDER,
        supplier_organization_unit=unit("venlo_warehouse"),
    )
    lelystad.lines.filter(product__backend_id="SCF-WOOL-RED").update(fulfillment=venlo)

    context = return_document_context(returned)
    assert context["ReturnOrganizationUnit"]["BackendID"] == "lelystad_warehouse"
    assert [
        (line["Product"]["BackendID"], line["ReturnOrganizationUnit"]["BackendID"])
        for line in context["Lines"]
    ] == [("SNK-CANVAS-WHT", "lelystad_warehouse"), ("SCF-WOOL-RED", "venlo_warehouse")]

    client = APIClient()
    client.force_login(User.objects.get(username="admin"))
    form = client.get(f"/orders/{returned.pk}/return-form/").content.decode()
    assert '<address id="return-address">Lelystad warehouse<br>' in form
    assert form.count('<td class="line-unit">') == 2
    assert '<td class="line-unit">Venlo warehouse (venlo_warehouse)</td>' in form
    assert f'aria-label="QR code {returned.backend_id}"' in form
    pdf = client.get(f"/orders/{returned.pk}/return-form.pdf")
    assert (pdf["Content-Type"], pdf.content[:5]) == ("application/pdf", b"%PDF-")
    assert f'filename="return-form-{returned.backend_id}.pdf"' in pdf["Content-Disposition"]


def test_receipt_restocks_exactly_the_sellable_units_and_emits_the_refund(
    shipped: Order,
    create_return: Callable[..., Order],
    django_capture_on_commit_callbacks: Any,
    settings: Any,
    receiver: Receiver,
) -> None:
    returned = create_return(shipped, ("SNK-CANVAS-WHT", 2, "TooSmall"))
    settings.ORCHESTRATION_WEBHOOK_URL = receiver.url + "/events"  # the payment system
    fulfillment = returned.fulfillments.get()
    (line,) = fulfillment.lines.all()
    stock_before = on_hand("lelystad_warehouse", "SNK-CANVAS-WHT")
    api = APIClient()
    api.force_authenticate(User.objects.get(username="admin"))

    before = table_rows()
    too_many = api.post(
        f"/api/fulfillments/{fulfillment.pk}/receive/",
        {
            "lines": [
                {"id": line.pk, "quantity": 2, "condition": "Sellable"},
                {"id": line.pk, "quantity": 1, "condition": "Damaged"},
            ]
        },
        format="json",
    )
    assert too_many.status_code == 400
    assert too_many.json()["errors"] == [
        {
            "code": "too_many",
            "message": f"Line {line.pk} expects 2 units; 3 received is more than that.",
            "field": "lines[1].quantity",
        }
    ]
    bad = api.post(
        f"/api/fulfillments/{fulfillment.pk}/receive/",
        {"lines": [{"id": line.pk, "quantity": 1, "condition": "Broken"}]},
        format="json",
    )
    assert bad.json()["errors"][0]["field"] == "lines[0].condition"
    assert table_rows() == before

    with django_capture_on_commit_callbacks(execute=True):
        received = api.post(
            f"/api/fulfillments/{fulfillment.pk}/receive/",
            {
                "lines": [
                    {"id": line.pk, "quantity": 1, "condition": "Sellable"},
                    {"id": line.pk, "quantity": 1, "condition": "Damaged"},
                ]
            },
            format="json",
        )
    assert received.status_code == 200, received.json()
    assert received.json()["status"] == "Completed"
    assert on_hand("lelystad_warehouse", "SNK-CANVAS-WHT") == stock_before + 1
    assert sorted(
        OrderFulfillmentLine.objects.filter(fulfillment=fulfillment).values_list(
            "quantity", "condition", "status"
        )
    ) == [(1, "Damaged", FulfillmentStatus.COMPLETED), (1, "Sellable", FulfillmentStatus.COMPLETED)]
    returned.refresh_from_db()
    assert returned.status == "Completed"
    event = returned.events.get(kind="return.received")
    sneakers = returned.lines.get()
    price = sneakers.unit_price_in_tax
    assert event.data == {
        "return_order": returned.pk,
        "original_order": shipped.pk,
        "organization_unit": "lelystad_warehouse",
        "lines": [
            {
                "order_line": sneakers.pk,
                "original_line": line_of(shipped, "SNK-CANVAS-WHT").pk,
                "product": "SNK-CANVAS-WHT",
                "quantity": 1,
                "condition": condition,
                "amount": str(price),
            }
            for condition in ("Sellable", "Damaged")
        ],
        "refund_amount": str(price * 2),
        "currency": "EUR",
    }
    assert [e.kind for e in returned.events.order_by("at", "pk")] == [
        "order.created",
        "orchestration.run",
        "export.sent",
        "return.received",
        "order.completed",
    ]
    # The payment system got the refund to make, as the timeline has it.
    refund, completed = receiver.bodies("/events")
    assert (refund["kind"], refund["order"], refund["data"]) == (
        "return.received",
        {"id": returned.pk, "backend_id": returned.backend_id},
        event.data,
    )
    assert completed["kind"] == "order.completed"


def test_only_the_receiving_ous_staff_may_register_the_arrival(
    shipped: Order, create_return: Callable[..., Order]
) -> None:
    returned = create_return(shipped, ("SNK-CANVAS-WHT", 1, "TooSmall"))
    fulfillment = returned.fulfillments.get()
    shop = User.objects.get(username="kalverstraat")  # staff of 1187, not of Lelystad
    before = table_rows()
    with pytest.raises(ApplicationError) as refused:
        return_receive(
            fulfillment_id=fulfillment.pk,
            user=shop,
            lines=[
                ReceivedUnits(line_id=fulfillment.lines.get().pk, quantity=1, condition="Sellable")
            ],
        )
    assert refused.value.message == (
        "You do not work at Lelystad warehouse (lelystad_warehouse): only its staff can "
        "work its fulfilments."
    )
    assert table_rows() == before
