"""The preview page: replay an order at a chosen time, with what-ifs, and show why.

The form's fields are those of ``POST /api/preview/`` and are checked by the same
serializer, so the page and the API accept and refuse exactly the same input;
the result is the blob of ``orchestration.previews`` (the engine call that
routes real orders), rendered by ``preview/_blob.html``. Nothing is written.
"""

import json
import re
import zoneinfo
from collections import defaultdict
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods
from rest_framework.exceptions import ValidationError

from orchestration import previews, services
from orchestration.api.exceptions import flatten_errors
from orchestration.api.serializers import PreviewDraftSerializer, PreviewInputSerializer
from orchestration.engine.limits import STOCK_QUANTITY
from orchestration.errors import ApplicationError
from orchestration.models import (
    Backtest,
    FulfillmentOption,
    Order,
    OrganizationUnit,
    Product,
    Sheet,
)
from orchestration.validators import parse_id
from sheets.access import VIEW, requires

from .forms import BacktestForm, PrefillForm
from .presenters import blob_view

# The form numbers its rows from 0; an index of more than 9 digits is no row of it (and
# int() refuses more than 4,300 digits).
_INDEXED = re.compile(r"^(draft|stock)-([0-9]{1,9})-(\w+)$")
# The delivery option what-if: the form's value for "asks for no option".
NO_OPTION = "none"


def _input(post: Any) -> dict[str, Any]:
    """The form's fields as the API's JSON body."""
    data: dict[str, Any] = {}
    for name in ("order", "at", "time_zone"):
        value = post.get(name, "").strip()
        if value:
            data[name] = value
    scenario = post.get("scenario", "").strip()
    if scenario:
        data["scenario"] = scenario  # parsed below, with Decimals
    data["respect_current_fulfillments"] = post.get("respect_current_fulfillments") == "1"
    option = post.get("requested_fulfillment_option", "").strip()
    if option:  # empty: the option the order asks for; "none": no option
        data["requested_fulfillment_option"] = None if option == NO_OPTION else option
    units = [value for value in post.getlist("organization_units") if value]
    if units:
        data["organization_units"] = units
    drafts, stock = [], []
    for (kind, _index), row in sorted(_rows(post).items()):
        if kind == "draft" and row.get("source", "").strip():
            drafts.append(
                {
                    "sheet": row.get("sheet") or None,
                    "name": row.get("name", ""),
                    "source": row["source"],
                }
            )
        elif kind == "stock" and any(
            row.get(k) for k in ("organization_unit", "product", "quantity")
        ):
            stock.append(
                {
                    key: row.get(key, "")
                    for key in ("organization_unit", "product", "quantity", "mode")
                }
            )
    if drafts:
        data["drafts"] = drafts
    if stock:
        data["stock"] = stock
    return data


def _run(data: dict[str, Any]) -> dict[str, Any]:
    """Validate like the API does, then preview. Raises ValidationError / ApplicationError."""
    scenario_text = data.pop("scenario", None)
    if scenario_text is not None:
        data["scenario"] = {}  # a placeholder: the serializer checks the combination
    serializer = PreviewInputSerializer(data=data)
    serializer.is_valid(raise_exception=True)
    return previews.preview(serializer.validated_data, scenario_text=scenario_text)


@require_http_methods(["GET", "POST"])
@requires(VIEW)
def page(request: HttpRequest) -> HttpResponse:
    """The preview form and, once asked, the decision with its explanation."""
    source = request.POST if request.method == "POST" else request.GET
    asked = request.method == "POST" or "order" in request.GET
    blob = None
    errors: list[dict[str, Any]] = []
    status = 200
    prefill = PrefillForm(source)
    if not prefill.is_valid():
        errors = [{"field": "sheet", "message": prefill.errors["sheet"][0]}]
        status = 400
    values = _form_values(source, asked)
    # A POST from the editor's "Preview this draft" only fills in the form.
    run = (request.method == "POST" and "prefill" not in source) or bool(source.get("order"))
    if run:
        try:
            blob = _run(_input(source))
        except ValidationError as error:
            errors += flatten_errors(error.detail)
            status = 400
        except ApplicationError as error:
            errors += error.errors
            status = 400
    return render(
        request,
        "preview/page.html",
        {
            **_page_context(),
            "values": values,
            "errors": errors,
            "result": blob_view(blob) if blob is not None else None,
            "blob_json": json.dumps(blob, indent=2) if blob is not None else "",
        },
        status=status,
    )


def _page_context() -> dict[str, Any]:
    """What the form's lists offer, and the latest backtests to come back to."""
    return {
        "orders": Order.objects.order_by("-placed_at").values_list("backend_id", flat=True)[:50],
        "sheets": Sheet.objects.order_by("name"),
        "units": OrganizationUnit.objects.order_by("name").only("id", "name", "backend_id"),
        "products": Product.objects.order_by("name").only("id", "name", "backend_id"),
        "time_zones": sorted(zoneinfo.available_timezones()),
        "backtests": Backtest.objects.order_by("-created_at")[:5],
        "stock_limit": STOCK_QUANTITY.maximum,  # either way: the same limit as the API's
        "fulfillment_options": FulfillmentOption.choices,
        "no_option": NO_OPTION,
    }


def _form_values(source: Any, asked: bool) -> dict[str, Any]:
    local = timezone.localtime(timezone.now(), zoneinfo.ZoneInfo(settings.TIME_ZONE))
    drafts = []
    stock = []
    for (kind, _index), row in sorted(_rows(source).items()):
        (drafts if kind == "draft" else stock).append(row)
    prefill = PrefillForm(source)
    sheet_id = prefill.cleaned_data["sheet"] if prefill.is_valid() else None
    if not drafts and sheet_id is not None:
        # From the overview's preview icon: that sheet's saved text as the draft, so an
        # inactive sheet is previewed as if it were active.
        sheet = Sheet.objects.filter(pk=sheet_id).first()
        if sheet is not None:
            drafts = [{"sheet": str(sheet.pk), "name": "", "source": sheet.source}]
    return {
        "order": source.get("order", ""),
        "scenario": source.get("scenario", ""),
        "at": source.get("at", "") or local.strftime("%Y-%m-%dT%H:%M"),
        "time_zone": source.get("time_zone", "") or settings.TIME_ZONE,
        "respect": source.get("respect_current_fulfillments") == "1" or not asked,
        "fulfillment_option": source.get("requested_fulfillment_option", ""),
        # Only which boxes are ticked: a run's serializer names a malformed ID.
        "units": {parse_id(v) for v in source.getlist("organization_units")} - {None},
        "drafts": drafts or [{"sheet": "", "name": "", "source": ""}],
        "stock": stock
        or [{"organization_unit": "", "product": "", "quantity": "", "mode": "absolute"}],
    }


def _rows(source: Any) -> dict[tuple[str, int], dict[str, str]]:
    """The form's numbered rows: ``draft-0-source`` -> rows[("draft", 0)]["source"]."""
    rows: dict[tuple[str, int], dict[str, str]] = defaultdict(dict)
    for name in source:
        match = _INDEXED.match(name)
        if match:
            rows[(match[1], int(match[2]))][match[3]] = source.get(name)
    return rows


@require_GET
@requires(VIEW, json=True)
def orders(request: HttpRequest) -> JsonResponse:
    """Order numbers for the autocomplete: the newest that start with (or contain) ``q``."""
    query = request.GET.get("q", "").strip()
    found = Order.objects.filter(backend_id__icontains=query).order_by("-placed_at")[:20]
    return JsonResponse({"results": [{"number": o.backend_id, "intent": o.intent} for o in found]})


# --- Backtests ------------------------------------------------------------------------------


@require_http_methods(["POST"])
@requires(VIEW)
def backtest_create(request: HttpRequest) -> HttpResponse:
    """Start a backtest of the form's draft sheets over the latest N orders."""
    drafts = _input(request.POST).get("drafts", [])
    serializer = PreviewDraftSerializer(data=drafts, many=True)
    errors: list[dict[str, Any]] = []
    count = BacktestForm({"order_count": request.POST.get("order_count", "100")})
    if not serializer.is_valid():
        errors = [{**e, "field": f"drafts{e['field']}"} for e in flatten_errors(serializer.errors)]
    elif count_error := count.count_error():
        errors = [{"field": "order_count", "message": count_error}]
    else:
        try:
            backtest = services.backtest_start(
                user=request.user,
                drafts=[
                    {"sheet": d.get("sheet"), "name": d.get("name", ""), "source": d["source"]}
                    for d in serializer.validated_data
                ],
                order_count=count.cleaned_data["order_count"],
            )
        except ApplicationError as error:
            errors = error.errors
        else:
            return redirect("preview:backtest", pk=backtest.pk)
    values = _form_values(request.POST, True)
    return render(
        request,
        "preview/page.html",
        {**_page_context(), "values": values, "errors": errors},
        status=400,
    )


@require_GET
@requires(VIEW)
def backtest(request: HttpRequest, pk: int) -> HttpResponse:
    """A backtest's progress (the page refreshes itself while it runs) and its result."""
    found = get_object_or_404(Backtest, pk=pk)
    sheets = dict(Sheet.objects.values_list("id", "name"))
    drafts = [
        {**draft, "replaces": sheets.get(draft.get("sheet")) if draft.get("sheet") else None}
        for draft in found.drafts
    ]
    return render(
        request,
        "preview/backtest.html",
        {"backtest": found, "drafts": drafts, "running": found.status in ("pending", "running")},
    )
