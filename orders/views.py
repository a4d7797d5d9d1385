"""The Suite's order pages: the order list, an order with its fulfilments, its plans
(the graph's JSON at ``plan.json``) and timeline, the explanation of each orchestration
run, the failed exports, the fallout queue of plan steps and the returns (the shops'
task lists are ``shops``; what the pages show of a fulfilment or a plan, ``presenters``).

Views read through ``orchestration.selectors`` and write only through the services,
taking what a POST carries through the forms of ``forms`` (with the model's limits).
Each service runs in one transaction, so a refusal (``ApplicationError``: an export
that did not fail, more units than a return expects...) changes nothing; the page the
request came from is shown again with the service's own message.
"""

import json

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from orchestration.errors import ApplicationError
from orchestration.integrations.return_documents import qr_svg, return_document_context
from orchestration.integrations.return_documents import return_form_pdf as return_form_pdf_bytes
from orchestration.models import (
    ExportStatus,
    OrchestrationDetails,
    Order,
    OrderChangeStatus,
    OrderFulfillment,
    OrderIntent,
    OrderStatus,
    Plan,
    PlanStep,
    ReturnCondition,
    StepState,
)
from orchestration.models.fulfillments import OPEN_FULFILLMENT_STATUSES
from orchestration.permissions import (
    ADD_ORDER,
    CHANGE_FULFILLMENT,
    CHANGE_ORDER,
    VIEW_ORDER,
    VIEW_SHEETS,
)
from orchestration.selectors.fulfillments import (
    export_failure_list,
    fulfillments_visible,
    order_fulfillments,
)
from orchestration.selectors.keyset import BadCursor, keyset_page
from orchestration.selectors.orders import (
    order_changes_pending,
    order_list_rows,
    order_timeline,
    orders_visible,
)
from orchestration.selectors.plans import (
    cross_plan_steps,
    fallout_choices,
    fallout_list,
    order_plans,
    plan_dependencies,
    plan_steps_check_visible,
    plan_steps_visible,
    plans_visible,
)
from orchestration.selectors.settings import setting_value
from orchestration.services.fulfillments import receiving
from orchestration.services.fulfillments.exports import fulfillment_export_retry
from orchestration.services.orchestration import order_orchestration_retry
from orchestration.services.order_changes import order_change, order_not_in_flight
from orchestration.services.plans import plan_step_done, plan_steps_complete, plan_steps_retry
from orchestration.services.returns import (
    return_order_create,
    return_reasons,
    returnable_quantities,
)
from preview.presenters import blob_view
from sheets.access import can, requires, signed_in

from .forms import (
    FALLOUT_ACTIONS,
    FalloutActionForm,
    FalloutFilterForm,
    OrderChangeForm,
    ReceiveForm,
    ReturnForm,
    StepDoneForm,
)
from .presenters import (
    Refusal,
    ReturnLineRow,
    order_number,
    plan_graph,
    plan_tables,
    task_groups,
    timeline,
)

PAGE_SIZE = 50
LIFETIME_SETTING = "Symphony:OrchestrationDetailsLifetimeInDays"

# --- Orders -----------------------------------------------------------------------------


@require_GET
@requires(VIEW_ORDER)
def order_list(request: HttpRequest) -> HttpResponse:
    """Every order, newest first; search by number or e-mail, filter by status; paged by
    keyset (``?after=`` / ``?before=`` a cursor): a page deep in a million orders costs
    what the first does, and no page counts them all."""
    query = request.GET.get("q", "").strip()
    status = request.GET.get("status", "")
    orders = orders_visible(request.user, order_list_rows()).order_by("-placed_at", "-id")
    if query:
        orders = orders.filter(Q(backend_id__icontains=query) | Q(customer_email__icontains=query))
    if status in OrderStatus.values:
        orders = orders.filter(status=status)
    else:
        status = ""  # an unknown status in a hand-made URL filters nothing
    try:
        page = keyset_page(
            orders,
            size=PAGE_SIZE,
            after=request.GET.get("after"),
            before=request.GET.get("before"),
            field="after",
        )
    except BadCursor:  # a cursor edited by hand: the list from its start
        page = keyset_page(orders, size=PAGE_SIZE)
    params = request.GET.copy()
    for name in ("page", "after", "before"):
        params.pop(name, None)
    return render(
        request,
        "orders/list.html",
        {
            "page": page,
            "query": query,
            "status": status,
            "statuses": OrderStatus.choices,
            "page_query": params.urlencode(),
            "failed_exports": fulfillments_visible(request.user, export_failure_list()).count(),
            "failed_orchestrations": orders_visible(request.user, Order.objects.all())
            .filter(status=OrderStatus.ORCHESTRATION_FAILED)
            .count(),
        },
    )


@require_GET
@requires(VIEW_ORDER)
def order_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """An order: its lines, its fulfilments grouped by task, its runs and its timeline."""
    order = get_object_or_404(
        orders_visible(request.user, Order.objects.select_related("sold_from_organization_unit")),
        pk=pk,
    )
    now = timezone.now()
    plans = order_plans(order, request.user)
    transitions = [transition for plan in plans for transition in plan.transitions.all()]
    return render(
        request,
        "orders/detail.html",
        {
            "order": order,
            "number": order_number(order),
            "lines": order.lines.select_related("product").order_by("pk"),
            "groups": task_groups(list(order_fulfillments(order)), now),
            "runs": order.orchestration_details.defer("blob").order_by("attempt"),
            "events": timeline(order_timeline(order), transitions),
            "plans": plan_tables(plans),
            "plan_graph": _plan_graph(plans),
            "pending_changes": order_changes_pending(order),
            "now": now,
            "return_orders": order.return_orders.order_by("pk"),
            "can_return": order.intent == "Sales"
            and can(request.user, ADD_ORDER)
            and any(returnable_quantities(order).values()),
            "can_edit": can(request.user, CHANGE_FULFILLMENT),
            "can_retry": order.status == OrderStatus.ORCHESTRATION_FAILED
            and can(request.user, CHANGE_ORDER),
            "can_change": order_not_in_flight(order) is None and can(request.user, CHANGE_ORDER),
            "conditions": ReturnCondition.choices,
            # The preview needs SymphonySheets:View, which shop staff do not have.
            "can_preview": can(request.user, VIEW_SHEETS),
        },
    )


def _plan_graph(plans: list[Plan]) -> dict[str, object]:
    """The graph's JSON of ``plans`` (from ``order_plans``), with the steps of other
    plans their cross-plan dependencies wait for."""
    dependencies = plan_dependencies(plans)
    cross = {d.depends_on.key for d in dependencies if d.scope == "CROSS_PLAN"}
    return plan_graph(plans, dependencies, cross_plan_steps(plans, cross))


@require_GET
@requires(VIEW_ORDER, json=True)
def order_plan_json(request: HttpRequest, pk: int) -> HttpResponse:
    """The order's plans as ``PlanGraph`` draws them (docs/plans.md, "Plan view"); store
    staff get the plans of their own shops' fulfilments only."""
    order = orders_visible(request.user, Order.objects.all()).filter(pk=pk).first()
    if order is None:
        return JsonResponse({"code": "not_found", "message": f"No order {pk}."}, status=404)
    return JsonResponse(_plan_graph(order_plans(order, request.user)))


@require_POST
@requires(VIEW_ORDER, CHANGE_ORDER)
def order_retry_orchestration(request: HttpRequest, pk: int) -> HttpResponse:
    """Orchestrate again an order whose orchestration failed, once the cause is fixed."""
    order = get_object_or_404(orders_visible(request.user, Order.objects.all()), pk=pk)
    try:
        order_orchestration_retry(order_id=order.pk, user=signed_in(request))
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        # Without a worker the run happened on commit, inside the call: say how it went.
        order.refresh_from_db()
        if order.orchestration_failures:
            messages.error(
                request,
                f"Order {order_number(order)} failed again ({order.orchestration_error}); "
                "it is tried again within a few minutes.",
            )
        elif order.needs_orchestration:
            messages.success(request, f"Order {order_number(order)} is queued for orchestration.")
        else:
            messages.success(request, f"Order {order_number(order)} was orchestrated again.")
    return redirect("orders:detail", order.pk)


@require_GET
@requires(VIEW_ORDER)
def run(request: HttpRequest, pk: int, attempt: int) -> HttpResponse:
    """One orchestration run of an order, explained as the preview explains a decision."""
    order = get_object_or_404(orders_visible(request.user, Order.objects.all()), pk=pk)
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
            "number": order_number(order),
            "details": details,
            "expired": expired,
            "lifetime": setting_value(LIFETIME_SETTING),
            "lifetime_setting": LIFETIME_SETTING,
            "result": blob_view(blob) if blob else None,
            "blob_json": json.dumps(blob, indent=2) if blob else "",
            "fulfillments": details.fulfillments.select_related("supplier_organization_unit"),
            "previous": max((a for a in attempts if a < attempt), default=None),
            "next": min((a for a in attempts if a > attempt), default=None),
        },
    )


# --- Failed exports ---------------------------------------------------------------------


@require_GET
@requires(VIEW_ORDER)
def export_failures(request: HttpRequest) -> HttpResponse:
    """Exports that gave up after their last attempt, to be retried by hand."""
    return _failures_page(request)


def _failures_page(request: HttpRequest, refusal: Refusal | None = None) -> HttpResponse:
    failures = fulfillments_visible(request.user, export_failure_list())
    # Page the IDs off the failures' index, then read the page's 50 with their orders
    # and lines: a late page no longer joins every failure before it to skip it.
    page = Paginator(failures.values_list("pk", flat=True), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    found = failures.in_bulk(list(page))
    return render(
        request,
        "orders/export_failures.html",
        {
            "page": page,
            "failures": [found[pk] for pk in page if pk in found],
            "refusal": refusal,
            "can_edit": can(request.user, CHANGE_FULFILLMENT),
        },
        status=200 if refusal is None else 409,
    )


@require_POST
@requires(VIEW_ORDER, CHANGE_FULFILLMENT)
def export_retry(request: HttpRequest, pk: int) -> HttpResponse:
    """Send a failed export again, with a fresh set of attempts."""
    fulfillment = get_object_or_404(OrderFulfillment.objects.select_related("order"), pk=pk)
    number = order_number(fulfillment.order)
    try:
        fulfillment_export_retry(fulfillment_id=fulfillment.pk, user=signed_in(request))
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


# --- The fallout queue -------------------------------------------------------------------


@require_GET
@requires(VIEW_ORDER)
def fallout(request: HttpRequest) -> HttpResponse:
    """Plan steps that failed for good, newest first, filtered by queue, step and error
    code; tick some and retry or complete them with a note."""
    return _fallout_page(request)


def _fallout_page(
    request: HttpRequest, refusal: ApplicationError | None = None, status: int = 200
) -> HttpResponse:
    filters = FalloutFilterForm(request.GET)
    chosen = filters.cleaned_data if filters.is_valid() else {}
    steps = plan_steps_visible(
        request.user,
        fallout_list(
            queue=chosen.get("queue", ""),
            step_key=chosen.get("step", ""),
            error_code=chosen.get("error_code", ""),
        ),
    )
    page = Paginator(steps, PAGE_SIZE).get_page(request.GET.get("page"))
    queues, keys, codes = fallout_choices()
    params = request.GET.copy()
    params.pop("page", None)
    posted = request.POST if request.method == "POST" else None
    return render(
        request,
        "orders/fallout.html",
        {
            "page": page,
            "filters": {name: chosen.get(name, "") for name in ("queue", "step", "error_code")},
            "filter_errors": filters.errors,
            "queues": queues,
            "keys": keys,
            "codes": codes,
            "page_query": params.urlencode(),
            "query": request.GET.urlencode(),
            "can_edit": can(request.user, CHANGE_FULFILLMENT),
            "refusal": refusal,
            "selected": posted.getlist("steps") if posted is not None else [],
            "note": posted.get("note", "") if posted is not None else "",
            "actions": FALLOUT_ACTIONS,
        },
        status=status,
    )


@require_POST
@requires(VIEW_ORDER, CHANGE_FULFILLMENT)
def fallout_act(request: HttpRequest) -> HttpResponse:
    """Retry or complete the ticked steps with the note; a refusal shows the page
    again with the ticks and the note, naming the problem, and writes nothing."""
    form = FalloutActionForm(request.POST)
    try:
        data = form.checked()
        ids: list[int] = data["steps"]
        plan_steps_check_visible(request.user, ids)
        act = plan_steps_retry if data["action"] == "retry" else plan_steps_complete
        count = act(step_ids=ids, user=signed_in(request), note=data["note"], now=timezone.now())
    except ApplicationError as error:
        return _fallout_page(request, refusal=error, status=error.status)
    done = "retried" if data["action"] == "retry" else "completed"
    messages.success(request, f"{count} step{'s' if count != 1 else ''} {done}.")
    # Without a worker a retried step ran on commit, inside the call: say how it went.
    again = PlanStep.objects.filter(pk__in=ids, state=StepState.FATALLY_FAILED).count()
    if again:
        messages.error(
            request,
            f"{again} of them failed again and {'are' if again > 1 else 'is'} back in the queue.",
        )
    query = request.GET.urlencode()
    return redirect(reverse("orders:fallout") + (f"?{query}" if query else ""))


# --- Returns ----------------------------------------------------------------------------


def _return_order(request: HttpRequest, pk: int) -> Order:
    return get_object_or_404(
        orders_visible(request.user, Order.objects.all()),
        pk=pk,
        intent=OrderIntent.RETURNS,
    )


@require_GET
@requires(VIEW_ORDER)
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
@requires(VIEW_ORDER)
def return_form_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    """The return form as a PDF, as mailed to the customer."""
    order = _return_order(request, pk)
    context = return_document_context(order)
    response = HttpResponse(return_form_pdf_bytes(context), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="return-form-{context["ReturnCode"]}.pdf"'
    return response


@requires(VIEW_ORDER, ADD_ORDER)
def return_create(request: HttpRequest, pk: int) -> HttpResponse:
    """Create a return order from a sales order's shipped lines: how many and why."""
    order = get_object_or_404(
        orders_visible(request.user, Order.objects.all()),
        pk=pk,
        intent=OrderIntent.SALES,
    )
    returnable = returnable_quantities(order)
    lines = list(order.lines.select_related("product").order_by("pk"))
    form = ReturnForm(request.POST, line_ids=[line.pk for line in lines])
    refusal: ApplicationError | None = None
    if request.method == "POST":
        try:
            quantities = form.checked_quantities()
            form.checked()
            chosen = [
                {"order_line": line_id, "quantity": quantity, "reason": form.reason(line_id)}
                for line_id, quantity in quantities.items()
                if quantity
            ]
            created = return_order_create(
                original_order_id=order.pk, lines=chosen, user=signed_in(request)
            )
        except ApplicationError as error:
            refusal = error
        else:
            messages.success(
                request,
                f"Return order {order_number(created)} created; its form goes to "
                f"{order.customer_email or 'the customer'} once it is routed.",
            )
            return redirect("orders:detail", created.pk)
    typed = form.typed()
    rows = [
        ReturnLineRow(
            line=line,
            returnable=max(returnable.get(line.pk, 0), 0),
            quantity=typed.get(f"quantity-{line.pk}", "0"),
            reason=typed.get(f"reason-{line.pk}", ""),
        )
        for line in lines
    ]
    return render(
        request,
        "orders/return_create.html",
        {
            "order": order,
            "number": order_number(order),
            "rows": rows,
            "reasons": return_reasons(),
            "refusal": refusal,
        },
        status=200 if refusal is None else refusal.status,
    )


@require_POST
@requires(VIEW_ORDER, CHANGE_FULFILLMENT)
def return_receive(request: HttpRequest, pk: int, fulfillment_pk: int) -> HttpResponse:
    """The receiving OU registers what arrived of a return, line by line."""
    order = _return_order(request, pk)
    fulfillment = get_object_or_404(OrderFulfillment, pk=fulfillment_pk, order=order)
    form = ReceiveForm(
        request.POST,
        line_ids=fulfillment.lines.filter(status__in=OPEN_FULFILLMENT_STATUSES)
        .order_by("pk")
        .values_list("pk", flat=True),
    )
    try:
        quantities = form.checked_quantities()
        form.checked()
        lines = [
            receiving.ReceivedUnits(
                line_id=line_id, quantity=quantity, condition=form.condition(line_id)
            )
            for line_id, quantity in quantities.items()
            if quantity
        ]
        receiving.return_receive(
            fulfillment_id=fulfillment.pk, lines=lines, user=signed_in(request)
        )
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request, f"Arrival registered at {fulfillment.supplier_organization_unit}."
        )
    return redirect(f"{reverse('orders:detail', args=[order.pk])}#fulfillment-{fulfillment.pk}")


@requires(VIEW_ORDER, CHANGE_ORDER)
def order_change_page(request: HttpRequest, pk: int) -> HttpResponse:
    """Change an order in flight: its shipping address, line quantities, lines removed
    (docs/plans.md). A change past a plan's point of no return is refused naming the
    step, and nothing is written; what was typed is shown again."""
    order = get_object_or_404(orders_visible(request.user, Order.objects.all()), pk=pk)
    lines = list(order.lines.select_related("product").order_by("pk"))
    refusal: ApplicationError | None = None
    if request.method == "POST":
        form = OrderChangeForm(request.POST, lines=lines)
        try:
            arguments = form.change(order)
            change = order_change(order_id=order.pk, user=signed_in(request), **arguments)
        except ApplicationError as error:
            refusal = error
        else:
            if change.status == OrderChangeStatus.PENDING:
                messages.warning(
                    request,
                    f"Change {change.number} ({change.summary}) is pending: it waits for "
                    f"{change.waits_for} to finish, so its plan is Freezing. It is made then "
                    "(or refused, if a point of no return is passed meanwhile).",
                )
            else:
                messages.success(
                    request,
                    f"Change {change.number} made ({change.summary}); the order is routed again.",
                )
            return redirect("orders:detail", order.pk)
    else:
        form = OrderChangeForm(
            {
                **{
                    part: getattr(order, f"shipping_{part}") or ""
                    for part in (
                        "street",
                        "zip_code",
                        "city",
                        "country_id",
                        "latitude",
                        "longitude",
                    )
                },
                **{f"quantity-{line.pk}": line.quantity for line in lines},
            },
            lines=lines,
        )
    return render(
        request,
        "orders/change.html",
        {
            "order": order,
            "number": order_number(order),
            "form": form,
            "rows": [
                (line, form[f"quantity-{line.pk}"], form[f"remove-{line.pk}"]) for line in lines
            ],
            "refusal": refusal,
            "closed": order_not_in_flight(order),
            "changes": order.changes.order_by("-number"),
            "pending_changes": order_changes_pending(order),
        },
        status=200 if refusal is None else refusal.status,
    )


@require_POST
@requires(VIEW_ORDER, CHANGE_FULFILLMENT)
def plan_step_done_page(request: HttpRequest, pk: int, step_pk: int) -> HttpResponse:
    """A person marks a manual step of the order's plan done (one they may see: store
    staff, their own shops' plans)."""
    order = get_object_or_404(orders_visible(request.user, Order.objects.all()), pk=pk)
    visible = plans_visible(request.user, Plan.objects.filter(order=order))
    if not PlanStep.objects.filter(pk=step_pk, plan__in=visible).exists():
        raise Http404
    form = StepDoneForm(request.POST)
    try:
        note = form.checked()["note"]
        step = plan_step_done(step_id=step_pk, user=signed_in(request), note=note)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"{step.definition.name}: done.")
    return redirect(f"{reverse('orders:detail', args=[order.pk])}#plan-step-{step_pk}")
