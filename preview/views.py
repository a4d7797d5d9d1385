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
from orchestration.permissions import VIEW_SHEETS
from orchestration.validators import parse_id
from sheets.access import requires

from .forms import BacktestForm, PrefillForm

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
@requires(VIEW_SHEETS)
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
            "result": _blob_view(blob) if blob is not None else None,
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


def _dropped(blob: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    """(OU ID, entry) for each OU a sheet dropped without a reason (``Dropped``), as
    the rows of ``_reasons.html``: the statement, and the values it read."""
    dropped = blob.get("Dropped") or {}
    statements = dropped.get("Statements", [])
    found = []

    def entry(statement: dict[str, Any], line_id: int | None, values: Any) -> dict[str, Any]:
        return {
            "Sheet": statement["Sheet"]["Name"],
            "Scope": statement["Scope"],
            "OrderLineID": line_id,
            "Reason": None,
            "Description": None,
            "Expression": statement["Expression"],
            "Line": statement["Line"],
            "values_read": list(zip(statement["Reads"], values, strict=True))
            if values is not None
            else None,
        }

    for unit_id, position, line_id, values in dropped.get("Suppliers", []):
        found.append((unit_id, entry(statements[position], line_id, values)))
    for group in dropped.get("Summary", []):  # thousands: the first OU's values only
        statement = statements[group["Statement"]]
        for index, unit_id in enumerate(group["SupplierIDs"]):
            values = group["First"] if index == 0 else None
            found.append((unit_id, entry(statement, group["OrderLineID"], values)))
    return found


def _supplier_errors(blob: dict[str, Any]) -> list[tuple[int, str | None, dict[str, Any]]]:
    """(OU ID, name, entry) for each error that rejected one OU for one sheet."""
    found = []
    for error in blob["Errors"]:
        entry = {
            "Sheet": error["Sheet"],
            "Scope": error.get("Scope"),
            "OrderLineID": error.get("OrderLineID"),
            "Reason": None,
            "Description": None,
            "Expression": error.get("Expression"),
            "Line": error["Line"],
            "error": error,
            "values_read": list((error.get("Variables") or {}).items()),
        }
        if error.get("SupplierID") is not None:
            found.append((error["SupplierID"], error.get("SupplierName"), entry))
        for unit_id in error.get("SupplierIDs", []):  # past ERRORS_LISTED: no values
            found.append((unit_id, None, {**entry, "values_read": None}))
    return found


def _blob_view(blob: dict[str, Any]) -> dict[str, Any]:
    """The blob arranged for reading: the winner, who else could, who could not and why.

    "Who could not" covers every OU a sheet dropped: by its reason (``Rejections``),
    by the statement that dropped it and the values it read (``Dropped``), or by the
    error of a statement for it (``Errors`` naming a supplier).
    """
    sheet_ids = dict(Sheet.objects.values_list("name", "id"))
    excluded: dict[int, dict[str, Any]] = {}
    whole_order: dict[str, list[dict[str, Any]]] = defaultdict(list)

    def unit(unit_id: int, name: str | None) -> dict[str, Any]:
        found = excluded.setdefault(unit_id, {"id": unit_id, "name": name, "reasons": []})
        found["name"] = found["name"] or name
        return found

    for rejection in blob["Rejections"]:
        entry = {**rejection, "sheet_id": sheet_ids.get(rejection["Sheet"])}
        if rejection["SupplierID"] is None:
            whole_order[rejection["Sheet"] or "(no sheet)"].append(entry)
            continue
        unit(rejection["SupplierID"], rejection["SupplierName"])["reasons"].append(entry)
    for unit_id, name, entry in _supplier_errors(blob):
        entry["sheet_id"] = sheet_ids.get(entry["Sheet"])
        unit(unit_id, name)["reasons"].append(entry)
    for unit_id, entry in _dropped(blob):
        entry["sheet_id"] = sheet_ids.get(entry["Sheet"])
        unit(unit_id, None)["reasons"].append(entry)
    unnamed = [u["id"] for u in excluded.values() if not u["name"]]
    if unnamed:
        names = dict(OrganizationUnit.objects.filter(pk__in=unnamed).values_list("pk", "name"))
        for unit_id in unnamed:
            excluded[unit_id]["name"] = names.get(unit_id) or f"Organization unit {unit_id}"
    valid_ids = {s["SupplierID"] for s in blob["ValidSuppliers"]}
    winners = (
        {(s["Supplier"] or {}).get("ID") for s in blob["Fulfillments"][0]["Shipments"]}
        if blob["Fulfillments"]
        else set()
    )
    return {
        "winner": blob["Fulfillments"][0] if blob["Fulfillments"] else None,
        "alternatives": blob["Fulfillments"][1:],
        "valid": sorted(blob["ValidSuppliers"], key=lambda s: (-s["Score"], s["SupplierID"])),
        # OUs rejected everywhere: not valid under any sheet and not among the winners.
        "excluded": sorted(
            (u for u in excluded.values() if u["id"] not in valid_ids and u["id"] not in winners),
            key=lambda u: (u["name"] or "", u["id"]),
        ),
        "partly": sorted(
            (u for u in excluded.values() if u["id"] in valid_ids or u["id"] in winners),
            key=lambda u: (u["name"] or "", u["id"]),
        ),
        "whole_order": dict(whole_order),
        # Sheets left out (a parse error, an error in the Order scope); an error for one
        # OU is shown beside that OU.
        "errors": [
            e for e in blob["Errors"] if e.get("SupplierID") is None and "SupplierIDs" not in e
        ],
        "supplier_errors": sum(
            1 for e in blob["Errors"] if e.get("SupplierID") is not None or "SupplierIDs" in e
        ),
        "at": blob["At"],
        "search": blob.get("Search"),
        "sheet_ids": sheet_ids,
    }


@require_GET
@requires(VIEW_SHEETS, json=True)
def orders(request: HttpRequest) -> JsonResponse:
    """Order numbers for the autocomplete: the newest that start with (or contain) ``q``."""
    query = request.GET.get("q", "").strip()
    found = Order.objects.filter(backend_id__icontains=query).order_by("-placed_at")[:20]
    return JsonResponse({"results": [{"number": o.backend_id, "intent": o.intent} for o in found]})


# --- Backtests ------------------------------------------------------------------------------


@require_http_methods(["POST"])
@requires(VIEW_SHEETS)
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
@requires(VIEW_SHEETS)
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
