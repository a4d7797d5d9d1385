"""The Suite's order pages: the order list, an order with its fulfilments and timeline,
the explanation of each orchestration run, the shops' ship-from-store task lists and
the failed exports.

Views read through ``orchestration.selectors`` and write only through the fulfilment
services. Each service runs in one transaction, so a refusal (``ApplicationError``:
a task another shop started first, a task already picked...) changes nothing; the
page the request came from is shown again with the service's own message.
"""

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import datetime
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from orchestration import selectors, services
from orchestration.errors import ApplicationError
from orchestration.models import (
    ExportStatus,
    FulfillmentAction,
    FulfillmentStatus,
    OrchestrationDetails,
    Order,
    OrderFulfillment,
    OrderFulfillmentLine,
    OrderIntent,
    OrderStatus,
    OrganizationUnit,
    OrganizationUnitType,
    ReturnCondition,
)
from orchestration.models.fulfillments import OPEN_FULFILLMENT_STATUSES
from orchestration.returns import qr_svg, return_document_context
from orchestration.returns import return_form_pdf as return_form_pdf_bytes
from preview.presenters import blob_view
from sheets.access import VIEW as SHEETS_VIEW
from sheets.access import can, requires

from .forms import QuantitiesForm

VIEW_ORDERS = "orchestration.view_order"
ADD_ORDERS = "orchestration.add_order"
EDIT_ORDERS = "orchestration.change_order"
EDIT_FULFILLMENTS = "orchestration.change_orderfulfillment"
PAGE_SIZE = 50
LIFETIME_SETTING = "Symphony:OrchestrationDetailsLifetimeInDays"

# What a shop does next with a ship-from-store task, by where the task is.
STAGES = {
    "new": "New: start it to take it on",
    "started": "Started: pick the lines",
    "picked": "Picked: pack them",
    "packed": "Packed: ship it",
    "finished": "Finished",
}


# --- What the pages show of a fulfilment ----------------------------------------------


@dataclass(frozen=True)
class PickLine:
    """An open fulfilment line in the pick form, with what was typed (after a refusal)."""

    line: OrderFulfillmentLine
    value: str
    invalid: bool


@dataclass(frozen=True)
class Deadline:
    """One deadline of a task and whether it has passed."""

    name: str
    at: datetime
    passed: bool


@dataclass(frozen=True)
class FulfillmentRow:
    """A fulfilment as the pages show it: its stage, lines, deadlines and why lines ended."""

    item: OrderFulfillment
    stage: str
    lines: list[OrderFulfillmentLine]
    pick_lines: list[PickLine]
    reasons: list[str]
    deadlines: list[Deadline]

    @property
    def open_lines(self) -> list[OrderFulfillmentLine]:
        """Lines still to be done (for a return: still to arrive)."""
        return [line for line in self.lines if line.status in OPEN_FULFILLMENT_STATUSES]

    @property
    def stage_label(self) -> str:
        """What the shop does next, or the status once the task is over."""
        if self.stage not in STAGES or self.stage == "finished":
            return self.item.get_status_display()
        return STAGES[self.stage]

    @property
    def is_ship_from_store(self) -> bool:
        """Whether a shop works this fulfilment (start, pick, pack, ship)."""
        return self.item.action == FulfillmentAction.SHIP_FROM_STORE


@dataclass(frozen=True)
class TaskGroup:
    """The copies of one task (one per shop when it was fanned out), or one fulfilment."""

    rows: list[FulfillmentRow]

    @property
    def fanout(self) -> bool:
        """Whether the task was offered to more than one shop."""
        return len(self.rows) > 1 or any(row.item.is_fanout for row in self.rows)

    @property
    def started(self) -> FulfillmentRow | None:
        """The copy a shop started (the others were deactivated: Otherstore)."""
        return next((row for row in self.rows if row.item.started_at), None)

    @property
    def lead(self) -> FulfillmentRow:
        """The copy whose lines and progress the order page shows: the started one."""
        return self.started or self.rows[0]


@dataclass(frozen=True)
class Refusal:
    """A store action the service refused: which task, why, and what was typed."""

    task: int
    action: str
    message: str
    field: str | None = None
    values: Mapping[str, str] = dataclass_field(default_factory=dict)


def _stage(fulfillment: OrderFulfillment) -> str:
    if fulfillment.action != FulfillmentAction.SHIP_FROM_STORE:
        return "other"  # exports and cancellations: no shop works them
    if fulfillment.status == FulfillmentStatus.NEW:
        return "new"
    if fulfillment.status == FulfillmentStatus.IN_PROGRESS:
        if not fulfillment.picked_at:
            return "started"
        if not fulfillment.packed_at:
            return "picked"
        if not fulfillment.shipped_at:
            return "packed"
    return "finished"


def _row(
    fulfillment: OrderFulfillment, now: datetime, refusal: Refusal | None = None
) -> FulfillmentRow:
    """``fulfillment`` (its lines prefetched) arranged for a page."""
    lines = sorted(fulfillment.lines.all(), key=lambda line: line.pk)
    mine = refusal if refusal is not None and refusal.task == fulfillment.pk else None
    pick_lines = [
        PickLine(
            line=line,
            value=(mine.values.get(f"picked-{line.pk}") if mine else None) or str(line.quantity),
            invalid=mine is not None and mine.field == f"picked-{line.pk}",
        )
        for line in lines
        if line.status in OPEN_FULFILLMENT_STATUSES
    ]
    deadlines = [
        Deadline(name, at, at <= now)
        for name, at in (
            ("Start", fulfillment.start_deadline),
            ("Pack", fulfillment.pack_deadline),
            ("Ship", fulfillment.ship_deadline),
        )
        if at is not None
    ]
    return FulfillmentRow(
        item=fulfillment,
        stage=_stage(fulfillment),
        lines=lines,
        pick_lines=pick_lines,
        reasons=sorted({line.cancellation_reason for line in lines if line.cancellation_reason}),
        deadlines=deadlines,
    )


def _groups(fulfillments: list[OrderFulfillment], now: datetime) -> list[TaskGroup]:
    """Fan-out copies together (by task key), in the order the fulfilments were made."""
    grouped: dict[str, list[FulfillmentRow]] = {}
    for fulfillment in fulfillments:
        key = fulfillment.task_key or f"#{fulfillment.pk}"
        grouped.setdefault(key, []).append(_row(fulfillment, now))
    return [TaskGroup(rows) for rows in grouped.values()]


def _number(order: Order) -> str:
    return order.backend_id or f"#{order.pk}"


# --- Orders -----------------------------------------------------------------------------


@require_GET
@requires(VIEW_ORDERS)
def order_list(request: HttpRequest) -> HttpResponse:
    """Every order, newest first; search by number or e-mail, filter by status; paged."""
    query = request.GET.get("q", "").strip()
    status = request.GET.get("status", "")
    orders = selectors.orders_visible(request.user, selectors.order_list()).order_by(
        "-placed_at", "-id"
    )
    if query:
        orders = orders.filter(Q(backend_id__icontains=query) | Q(customer_email__icontains=query))
    if status in OrderStatus.values:
        orders = orders.filter(status=status)
    else:
        status = ""  # an unknown status in a hand-made URL filters nothing
    page = Paginator(orders, PAGE_SIZE).get_page(request.GET.get("page"))
    params = request.GET.copy()
    params.pop("page", None)
    return render(
        request,
        "orders/list.html",
        {
            "page": page,
            "query": query,
            "status": status,
            "statuses": OrderStatus.choices,
            "page_query": params.urlencode(),
            "failed_exports": selectors.fulfillments_visible(
                request.user, selectors.export_failure_list()
            ).count(),
            "failed_orchestrations": selectors.orders_visible(request.user, Order.objects.all())
            .filter(status=OrderStatus.ORCHESTRATION_FAILED)
            .count(),
        },
    )


@require_GET
@requires(VIEW_ORDERS)
def order_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """An order: its lines, its fulfilments grouped by task, its runs and its timeline."""
    order = get_object_or_404(
        selectors.orders_visible(
            request.user, Order.objects.select_related("sold_from_organization_unit")
        ),
        pk=pk,
    )
    now = timezone.now()
    return render(
        request,
        "orders/detail.html",
        {
            "order": order,
            "number": _number(order),
            "lines": order.lines.select_related("product").order_by("pk"),
            "groups": _groups(list(selectors.order_fulfillments(order)), now),
            "runs": order.orchestration_details.defer("blob").order_by("attempt"),
            "events": selectors.order_timeline(order),
            "now": now,
            "return_orders": order.return_orders.order_by("pk"),
            "can_return": order.intent == "Sales"
            and can(request.user, ADD_ORDERS)
            and any(services.returnable_quantities(order).values()),
            "can_edit": can(request.user, EDIT_FULFILLMENTS),
            "can_retry": order.status == OrderStatus.ORCHESTRATION_FAILED
            and can(request.user, EDIT_ORDERS),
            "conditions": ReturnCondition.choices,
            # The preview needs SymphonySheets:View, which shop staff do not have.
            "can_preview": can(request.user, SHEETS_VIEW),
        },
    )


@require_POST
@requires(VIEW_ORDERS, EDIT_ORDERS)
def order_retry_orchestration(request: HttpRequest, pk: int) -> HttpResponse:
    """Orchestrate again an order whose orchestration failed, once the cause is fixed."""
    order = get_object_or_404(selectors.orders_visible(request.user, Order.objects.all()), pk=pk)
    try:
        services.order_orchestration_retry(order_id=order.pk, user=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        # Without a worker the run happened on commit, inside the call: say how it went.
        order.refresh_from_db()
        if order.orchestration_failures:
            messages.error(
                request,
                f"Order {_number(order)} failed again ({order.orchestration_error}); "
                "it is tried again within a few minutes.",
            )
        elif order.needs_orchestration:
            messages.success(request, f"Order {_number(order)} is queued for orchestration.")
        else:
            messages.success(request, f"Order {_number(order)} was orchestrated again.")
    return redirect("orders:detail", order.pk)


@require_GET
@requires(VIEW_ORDERS)
def run(request: HttpRequest, pk: int, attempt: int) -> HttpResponse:
    """One orchestration run of an order, explained as the preview explains a decision."""
    order = get_object_or_404(selectors.orders_visible(request.user, Order.objects.all()), pk=pk)
    details = get_object_or_404(OrchestrationDetails, order=order, attempt=attempt)
    now = timezone.now()
    expired = details.is_expired(now)
    blob = None if expired else details.blob
    attempts = list(
        order.orchestration_details.order_by("attempt").values_list("attempt", flat=True)
    )
    return render(
        request,
        "orders/run.html",
        {
            "order": order,
            "number": _number(order),
            "details": details,
            "expired": expired,
            "lifetime": selectors.setting_value(LIFETIME_SETTING),
            "lifetime_setting": LIFETIME_SETTING,
            "result": blob_view(blob) if blob else None,
            "blob_json": json.dumps(blob, indent=2) if blob else "",
            "fulfillments": details.fulfillments.select_related("supplier_organization_unit"),
            "previous": max((a for a in attempts if a < attempt), default=None),
            "next": min((a for a in attempts if a > attempt), default=None),
        },
    )


# --- Shops and their tasks --------------------------------------------------------------


@require_GET
@requires(VIEW_ORDERS)
def store_list(request: HttpRequest) -> HttpResponse:
    """The shops, each with its number of open ship-from-store tasks."""
    query = request.GET.get("q", "").strip()
    shops = selectors.organization_units_visible(
        request.user, selectors.organization_unit_list().filter(type=OrganizationUnitType.SHOP)
    )
    if query:
        shops = shops.filter(
            Q(name__icontains=query)
            | Q(backend_id__icontains=query)
            | Q(address_city__icontains=query)
        )
    return render(request, "orders/stores.html", {"shops": shops, "query": query})


@require_GET
@requires(VIEW_ORDERS)
def store_tasks(request: HttpRequest, unit_id: int) -> HttpResponse:
    """A shop's ship-from-store tasks: the open ones, or all of them when asked."""
    return _tasks_page(request, _unit_worked_by(request, unit_id))


def _unit_worked_by(request: HttpRequest, unit_id: int) -> OrganizationUnit:
    """The OU, if the user works there (403 otherwise: its tasks are its staff's)."""
    unit = get_object_or_404(OrganizationUnit, pk=unit_id)
    if not selectors.user_works_at(request.user, unit.pk):
        raise PermissionDenied(f"You do not work at {unit}: only its staff see its tasks.")
    return unit


def _list_query(request: HttpRequest) -> str:
    """The task list's own query (finished toggle, page), kept across a store action."""
    params = request.GET.copy()
    for name in list(params):
        if name not in ("finished", "page"):
            params.pop(name)
    encoded = params.urlencode()
    return f"?{encoded}" if encoded else ""


def _tasks_page(
    request: HttpRequest, unit: OrganizationUnit, refusal: Refusal | None = None
) -> HttpResponse:
    finished = request.GET.get("finished") == "1"
    page = Paginator(
        selectors.store_task_list(unit, include_finished=finished), PAGE_SIZE
    ).get_page(request.GET.get("page"))
    now = timezone.now()
    rows = [_row(task, now, refusal) for task in page]
    refused_elsewhere = refusal is not None and all(row.item.pk != refusal.task for row in rows)
    return render(
        request,
        "orders/tasks.html",
        {
            "unit": unit,
            "page": page,
            "rows": rows,
            "finished": finished,
            "list_query": _list_query(request),
            "refusal": refusal,
            "refused_elsewhere": refused_elsewhere,
            "reasons": services.decline_reasons(),
            "can_edit": can(request.user, EDIT_FULFILLMENTS),
        },
        status=200 if refusal is None else 409,
    )


# A store action: call the service for the task, return what to tell the shop.
Action = Callable[[HttpRequest, OrderFulfillment], str]


def _act(request: HttpRequest, unit_id: int, pk: int, name: str, action: Action) -> HttpResponse:
    """Run a store action on one of the shop's tasks; on refusal show the list again."""
    unit = _unit_worked_by(request, unit_id)
    task = get_object_or_404(
        OrderFulfillment.objects.select_related("order"),
        pk=pk,
        supplier_organization_unit=unit,
        action=FulfillmentAction.SHIP_FROM_STORE,
    )
    try:
        done = action(request, task)
    except ApplicationError as error:
        refusal = Refusal(
            task=task.pk,
            action=name,
            message=error.message,
            field=error.field,
            values={
                key: value for key, value in request.POST.items() if key != "csrfmiddlewaretoken"
            },
        )
        response = _tasks_page(request, unit, refusal)
        response.status_code = error.status
        return response
    messages.success(request, done)
    url = reverse("orders:tasks", args=[unit.pk])
    return redirect(f"{url}{_list_query(request)}#task-{task.pk}")


@require_POST
@requires(VIEW_ORDERS, EDIT_FULFILLMENTS)
def task_start(request: HttpRequest, unit_id: int, pk: int) -> HttpResponse:
    """The shop takes the task on; its copies at other shops are deactivated."""

    def start(request: HttpRequest, task: OrderFulfillment) -> str:
        services.fulfillment_start(fulfillment_id=task.pk, user=request.user)
        return f"You started the task of order {_number(task.order)}. Pick its lines next."

    return _act(request, unit_id, pk, "start", start)


_LINE_FIELD = re.compile(r"^lines\[(\d+)\]")


@require_POST
@requires(VIEW_ORDERS, EDIT_FULFILLMENTS)
def task_pick(request: HttpRequest, unit_id: int, pk: int) -> HttpResponse:
    """What the shop picked, per line; what it did not pick is routed again elsewhere."""

    def pick(request: HttpRequest, task: OrderFulfillment) -> str:
        form = QuantitiesForm(request.POST, prefix="picked")
        picked = form.checked_quantities(name_the_line=False)
        # Read before picking: the service splits the lines it cancels.
        before = dict(
            task.lines.filter(status__in=OPEN_FULFILLMENT_STATUSES).values_list("pk", "quantity")
        )
        try:
            services.fulfillment_pick(
                fulfillment_id=task.pk,
                user=request.user,
                picked=picked,
                reason=request.POST.get("reason") or None,
            )
        except ApplicationError as error:
            # The service names a line by its place in ``picked``; the form by its ID.
            found = _LINE_FIELD.match(error.field or "")
            if found and int(found[1]) < len(picked):
                error.field = f"picked-{list(picked)[int(found[1])]}"
            raise
        missing = sum(quantity - picked.get(pk, quantity) for pk, quantity in before.items())
        message = f"You picked order {_number(task.order)}. Pack it next."
        if missing:
            message += f" The {missing} units not picked are routed again without this shop."
        return message

    return _act(request, unit_id, pk, "pick", pick)


@require_POST
@requires(VIEW_ORDERS, EDIT_FULFILLMENTS)
def task_pack(request: HttpRequest, unit_id: int, pk: int) -> HttpResponse:
    """The picked lines are packed; the ship deadline starts."""

    def pack(request: HttpRequest, task: OrderFulfillment) -> str:
        services.fulfillment_pack(fulfillment_id=task.pk, user=request.user)
        return f"You packed order {_number(task.order)}. Ship it next."

    return _act(request, unit_id, pk, "pack", pack)


@require_POST
@requires(VIEW_ORDERS, EDIT_FULFILLMENTS)
def task_ship(request: HttpRequest, unit_id: int, pk: int) -> HttpResponse:
    """The packed task leaves the shop with a carrier and a tracking number."""

    def ship(request: HttpRequest, task: OrderFulfillment) -> str:
        carrier = request.POST.get("carrier", "")
        tracking_number = request.POST.get("tracking_number", "")
        services.fulfillment_ship(
            fulfillment_id=task.pk,
            user=request.user,
            carrier=carrier,
            tracking_number=tracking_number,
        )
        return (
            f"Order {_number(task.order)} shipped with {carrier.strip()} "
            f"({tracking_number.strip()})."
        )

    return _act(request, unit_id, pk, "ship", ship)


@require_POST
@requires(VIEW_ORDERS, EDIT_FULFILLMENTS)
def task_decline(request: HttpRequest, unit_id: int, pk: int) -> HttpResponse:
    """The shop gives the task back; its lines are routed again without this shop."""

    def decline(request: HttpRequest, task: OrderFulfillment) -> str:
        declined = services.fulfillment_decline(
            fulfillment_id=task.pk, user=request.user, reason=request.POST.get("reason") or None
        )
        reason = next(
            (line.cancellation_reason for line in declined.lines.all() if line.cancellation_reason),
            "Unknown",
        )
        return f"You declined the task of order {_number(task.order)} ({reason})."

    return _act(request, unit_id, pk, "decline", decline)


# --- Failed exports ---------------------------------------------------------------------


@require_GET
@requires(VIEW_ORDERS)
def export_failures(request: HttpRequest) -> HttpResponse:
    """Exports that gave up after their last attempt, to be retried by hand."""
    return _failures_page(request)


def _failures_page(request: HttpRequest, refusal: Refusal | None = None) -> HttpResponse:
    failures = selectors.fulfillments_visible(request.user, selectors.export_failure_list())
    page = Paginator(failures, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "orders/export_failures.html",
        {
            "page": page,
            "refusal": refusal,
            "can_edit": can(request.user, EDIT_FULFILLMENTS),
        },
        status=200 if refusal is None else 409,
    )


@require_POST
@requires(VIEW_ORDERS, EDIT_FULFILLMENTS)
def export_retry(request: HttpRequest, pk: int) -> HttpResponse:
    """Send a failed export again, with a fresh set of attempts."""
    fulfillment = get_object_or_404(OrderFulfillment.objects.select_related("order"), pk=pk)
    number = _number(fulfillment.order)
    try:
        services.fulfillment_export_retry(fulfillment_id=fulfillment.pk, user=request.user)
    except ApplicationError as error:
        response = _failures_page(
            request, Refusal(task=fulfillment.pk, action="retry", message=error.message)
        )
        response.status_code = error.status
        return response
    # Without a worker the export ran on commit, inside the call: say how it went. The
    # retry starts a fresh count, so attempts tell whether it has been tried since.
    fulfillment.refresh_from_db()
    target = fulfillment.exporter_name or "the warehouse"
    if fulfillment.export_status == ExportStatus.EXPORTED:
        messages.success(request, f"Order {number} was exported to {target}.")
    elif fulfillment.export_status == ExportStatus.FAILED:
        messages.error(
            request, f"The export of order {number} failed again: {fulfillment.export_error}"
        )
    elif fulfillment.export_attempts and fulfillment.export_next_at:
        next_at = timezone.localtime(fulfillment.export_next_at).strftime("%H:%M")
        messages.warning(
            request,
            f"The export of order {number} failed again ({fulfillment.export_error}); "
            f"it is tried again at {next_at}.",
        )
    else:
        messages.success(request, f"The export of order {number} to {target} is queued.")
    return redirect("orders:export_failures")


# --- Returns ----------------------------------------------------------------------------


def _return_order(request: HttpRequest, pk: int) -> Order:
    return get_object_or_404(
        selectors.orders_visible(request.user, Order.objects.all()),
        pk=pk,
        intent=OrderIntent.RETURNS,
    )


@require_GET
@requires(VIEW_ORDERS)
def return_form(request: HttpRequest, pk: int) -> HttpResponse:
    """The printable return form (the same model as the mail and the PDF)."""
    order = _return_order(request, pk)
    context = return_document_context(order)
    return render(
        request,
        "orchestration/returns/form.html",
        {
            **context,
            "qr_svg": qr_svg(context["ReturnCode"]),
            "pdf_url": reverse("orders:return_form_pdf", args=[order.pk]),
        },
    )


@require_GET
@requires(VIEW_ORDERS)
def return_form_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    """The return form as a PDF, as mailed to the customer."""
    order = _return_order(request, pk)
    context = return_document_context(order)
    response = HttpResponse(return_form_pdf_bytes(context), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="return-form-{context["ReturnCode"]}.pdf"'
    return response


@dataclass(frozen=True)
class ReturnLineRow:
    """A line of the sales order on the return page, with what may come back."""

    line: Any
    returnable: int
    quantity: str
    reason: str


@requires(VIEW_ORDERS, ADD_ORDERS)
def return_create(request: HttpRequest, pk: int) -> HttpResponse:
    """Create a return order from a sales order's shipped lines: how many and why."""
    order = get_object_or_404(
        selectors.orders_visible(request.user, Order.objects.all()),
        pk=pk,
        intent=OrderIntent.SALES,
    )
    returnable = services.returnable_quantities(order)
    lines = list(order.lines.select_related("product").order_by("pk"))
    refusal: ApplicationError | None = None
    if request.method == "POST":
        form = QuantitiesForm(
            request.POST,
            prefix="quantity",
            line_ids=[line.pk for line in lines],
            blank_is_zero=True,
        )
        try:
            chosen = [
                {
                    "order_line": line_id,
                    "quantity": quantity,
                    "reason": request.POST.get(f"reason-{line_id}", ""),
                }
                for line_id, quantity in form.checked_quantities().items()
                if quantity
            ]
            created = services.return_order_create(
                original_order_id=order.pk, lines=chosen, user=request.user
            )
        except ApplicationError as error:
            refusal = error
        else:
            messages.success(
                request,
                f"Return order {_number(created)} created; its form goes to "
                f"{order.customer_email or 'the customer'} once it is routed.",
            )
            return redirect("orders:detail", created.pk)
    rows = [
        ReturnLineRow(
            line=line,
            returnable=max(returnable.get(line.pk, 0), 0),
            quantity=request.POST.get(f"quantity-{line.pk}", "0"),
            reason=request.POST.get(f"reason-{line.pk}", ""),
        )
        for line in lines
    ]
    return render(
        request,
        "orders/return_create.html",
        {
            "order": order,
            "number": _number(order),
            "rows": rows,
            "reasons": services.return_reasons(),
            "refusal": refusal,
        },
        status=200 if refusal is None else refusal.status,
    )


@require_POST
@requires(VIEW_ORDERS, EDIT_FULFILLMENTS)
def return_receive(request: HttpRequest, pk: int, fulfillment_pk: int) -> HttpResponse:
    """The receiving OU registers what arrived of a return, line by line."""
    order = _return_order(request, pk)
    fulfillment = get_object_or_404(OrderFulfillment, pk=fulfillment_pk, order=order)
    form = QuantitiesForm(
        request.POST,
        prefix="received",
        line_ids=fulfillment.lines.filter(status__in=OPEN_FULFILLMENT_STATUSES)
        .order_by("pk")
        .values_list("pk", flat=True),
        blank_is_zero=True,
    )
    try:
        lines = [
            {
                "id": line_id,
                "quantity": quantity,
                "condition": request.POST.get(f"condition-{line_id}", ""),
            }
            for line_id, quantity in form.checked_quantities().items()
            if quantity
        ]
        services.return_receive(fulfillment_id=fulfillment.pk, lines=lines, user=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request, f"Arrival registered at {fulfillment.supplier_organization_unit}."
        )
    return redirect(f"{reverse('orders:detail', args=[order.pk])}#fulfillment-{fulfillment.pk}")
