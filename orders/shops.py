"""The shops' pages: the list of shops, a shop's ship-from-store tasks, and the store
actions on them (start, pick, pack, ship, decline).

Only a shop's staff see and work its tasks. Each action checks its form (``forms``),
then calls its step (``services.fulfillments.steps``); the stage of a task, and so which
action the page offers, is the model's (``OrderFulfillment.stage``). A refusal, the
form's or the service's, changes nothing: the task list is shown again with the
message at the task, and what was typed.
"""

from collections.abc import Callable

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from orchestration.errors import ApplicationError
from orchestration.models import (
    FulfillmentAction,
    OrderFulfillment,
    OrganizationUnit,
    OrganizationUnitType,
)
from orchestration.permissions import CHANGE_FULFILLMENT, VIEW_ORDER
from orchestration.selectors.fulfillments import store_task_list
from orchestration.selectors.organization import (
    organization_unit_list,
    organization_units_visible,
    user_works_at,
)
from orchestration.services.fulfillments.common import LineError, decline_reasons
from orchestration.services.fulfillments.steps import (
    fulfillment_decline,
    fulfillment_pack,
    fulfillment_pick,
    fulfillment_ship,
    fulfillment_start,
)
from sheets.access import can, requires, signed_in

from .forms import DeclineForm, OrderPageForm, PickForm, ShipForm
from .presenters import Refusal, fulfillment_row, order_number
from .views import PAGE_SIZE


@require_GET
@requires(VIEW_ORDER)
def store_list(request: HttpRequest) -> HttpResponse:
    """The shops, each with its number of open ship-from-store tasks."""
    query = request.GET.get("q", "").strip()
    shops = organization_units_visible(
        request.user, organization_unit_list().filter(type=OrganizationUnitType.SHOP)
    )
    if query:
        shops = shops.filter(
            Q(name__icontains=query)
            | Q(backend_id__icontains=query)
            | Q(address_city__icontains=query)
        )
    return render(request, "orders/stores.html", {"shops": shops, "query": query})


@require_GET
@requires(VIEW_ORDER)
def store_tasks(request: HttpRequest, unit_id: int) -> HttpResponse:
    """A shop's ship-from-store tasks: the open ones, or all of them when asked."""
    return _tasks_page(request, _unit_worked_by(request, unit_id))


def _unit_worked_by(request: HttpRequest, unit_id: int) -> OrganizationUnit:
    """The OU, if the user works there (403 otherwise: its tasks are its staff's)."""
    unit = get_object_or_404(OrganizationUnit, pk=unit_id)
    if not user_works_at(request.user, unit.pk):
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
    tasks = store_task_list(unit, include_finished=finished)
    # Page the IDs (off the index, joining nothing), then read the page's 50 tasks with
    # their orders and lines: a shop's year of finished tasks is thousands, and
    # joining each to its order only to skip it made a late page take half a second.
    page = Paginator(tasks.values_list("pk", flat=True), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    found = tasks.in_bulk(list(page))
    now = timezone.now()
    rows = [fulfillment_row(found[pk], now, refusal) for pk in page if pk in found]
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
            "reasons": decline_reasons(),
            "can_edit": can(request.user, CHANGE_FULFILLMENT),
        },
        status=200 if refusal is None else 409,
    )


# A store action: check the posted form, call the service for the task, return what to
# tell the shop.
Action = Callable[[HttpRequest, OrderFulfillment], str]


def _act(
    request: HttpRequest,
    unit_id: int,
    pk: int,
    name: str,
    action: Action,
    form: OrderPageForm | None = None,
) -> HttpResponse:
    """Run a store action on one of the shop's tasks; on refusal (the form's or the
    service's) show the list again, with what was typed in ``form`` (None: an action
    without fields, start or pack)."""
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
            values=form.typed() if form is not None else {},
        )
        response = _tasks_page(request, unit, refusal)
        response.status_code = error.status
        return response
    messages.success(request, done)
    url = reverse("orders:tasks", args=[unit.pk])
    return redirect(f"{url}{_list_query(request)}#task-{task.pk}")


@require_POST
@requires(VIEW_ORDER, CHANGE_FULFILLMENT)
def task_start(request: HttpRequest, unit_id: int, pk: int) -> HttpResponse:
    """The shop takes the task on; its copies at other shops are deactivated."""

    def start(request: HttpRequest, task: OrderFulfillment) -> str:
        fulfillment_start(fulfillment_id=task.pk, user=signed_in(request))
        return f"You started the task of order {order_number(task.order)}. Pick its lines next."

    return _act(request, unit_id, pk, "start", start)


@require_POST
@requires(VIEW_ORDER, CHANGE_FULFILLMENT)
def task_pick(request: HttpRequest, unit_id: int, pk: int) -> HttpResponse:
    """What the shop picked, per line; what it did not pick is routed again elsewhere."""
    form = PickForm(request.POST)

    def pick(request: HttpRequest, task: OrderFulfillment) -> str:
        picked = form.checked_quantities(name_the_line=False)
        reason = form.checked()["reason"]
        try:
            result = fulfillment_pick(
                fulfillment_id=task.pk,
                user=signed_in(request),
                picked=picked,
                reason=reason or None,
            )
        except LineError as error:  # the service names the line; the form its field
            raise error.at(form.field_of(error.line_id)) from None
        message = f"You picked order {order_number(task.order)}. Pack it next."
        if result.missing:
            message += f" The {result.missing} units not picked are routed again without this shop."
        return message

    return _act(request, unit_id, pk, "pick", pick, form)


@require_POST
@requires(VIEW_ORDER, CHANGE_FULFILLMENT)
def task_pack(request: HttpRequest, unit_id: int, pk: int) -> HttpResponse:
    """The picked lines are packed; the ship deadline starts."""

    def pack(request: HttpRequest, task: OrderFulfillment) -> str:
        fulfillment_pack(fulfillment_id=task.pk, user=signed_in(request))
        return f"You packed order {order_number(task.order)}. Ship it next."

    return _act(request, unit_id, pk, "pack", pack)


@require_POST
@requires(VIEW_ORDER, CHANGE_FULFILLMENT)
def task_ship(request: HttpRequest, unit_id: int, pk: int) -> HttpResponse:
    """The packed task leaves the shop with a carrier and a tracking number."""
    form = ShipForm(request.POST)

    def ship(request: HttpRequest, task: OrderFulfillment) -> str:
        typed = form.checked()
        shipped = fulfillment_ship(
            fulfillment_id=task.pk,
            user=signed_in(request),
            carrier=typed["carrier"],
            tracking_number=typed["tracking_number"],
        )
        return (
            f"Order {order_number(task.order)} shipped with {shipped.carrier} "
            f"({shipped.tracking_number})."
        )

    return _act(request, unit_id, pk, "ship", ship, form)


@require_POST
@requires(VIEW_ORDER, CHANGE_FULFILLMENT)
def task_decline(request: HttpRequest, unit_id: int, pk: int) -> HttpResponse:
    """The shop gives the task back; its lines are routed again without this shop."""
    form = DeclineForm(request.POST)

    def decline(request: HttpRequest, task: OrderFulfillment) -> str:
        reason = form.checked()["reason"]
        declined = fulfillment_decline(
            fulfillment_id=task.pk, user=signed_in(request), reason=reason or None
        )
        return f"You declined the task of order {order_number(task.order)} ({declined.reason})."

    return _act(request, unit_id, pk, "decline", decline, form)
