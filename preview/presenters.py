"""The preview's view models: what a page shows of a routing blob, arranged for reading.

``blob_view`` is the one arrangement of EVA's orchestration details (the blob) for
people: the winner, who else could fulfil, who could not and why. The preview page
and the order page (``orders.views``) both render it with ``preview/_blob.html``, so
an order's stored decision reads exactly like a preview of it. It reads the blob and
the names it lacks (sheet IDs for links, OU names); it never writes.

``page_context`` and ``form_values`` are what the preview form offers and shows again
(as typed: a refused value stays in its field), ``backtest_drafts`` a backtest's
drafts with the names of the sheets they replace.
"""

import zoneinfo
from collections import defaultdict
from typing import Any

from django.conf import settings
from django.utils import timezone

from orchestration.engine.limits import STOCK_QUANTITY
from orchestration.models import (
    Backtest,
    FulfillmentOption,
    Order,
    OrganizationUnit,
    Product,
    Sheet,
)
from orchestration.services.backtests import MAX_ORDERS
from orchestration.validators import parse_id

from .forms import NO_OPTION, ORDER_COUNT_RANGE, PrefillForm, PreviewForm


def page_context() -> dict[str, Any]:
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
        "order_count_max": MAX_ORDERS,  # a backtest's "Latest orders", as the service takes
        "order_count_range": ORDER_COUNT_RANGE,
    }


def form_values(form: PreviewForm, prefill: PrefillForm, asked: bool) -> dict[str, Any]:
    """The form's fields as typed (defaults where nothing was: now, the site's time zone,
    current fulfilments respected, one empty draft and stock row)."""
    local = timezone.localtime(timezone.now(), zoneinfo.ZoneInfo(settings.TIME_ZONE))
    drafts = [row.data for row in form.rows["draft"]]
    stock = [row.data for row in form.rows["stock"]]
    sheet_id = prefill.cleaned_data["sheet"] if prefill.is_valid() else None
    if not drafts and sheet_id is not None:
        # From the overview's preview icon: that sheet's saved text as the draft, so an
        # inactive sheet is previewed as if it were active.
        sheet = Sheet.objects.filter(pk=sheet_id).first()
        if sheet is not None:
            drafts = [{"sheet": str(sheet.pk), "name": "", "source": sheet.source}]

    def typed(name: str) -> Any:
        return form[name].value() or ""

    return {
        "order": typed("order"),
        "scenario": typed("scenario"),
        "at": typed("at") or local.strftime("%Y-%m-%dT%H:%M"),
        "time_zone": typed("time_zone") or settings.TIME_ZONE,
        "respect": form["respect_current_fulfillments"].value() or not asked,
        "fulfillment_option": typed("requested_fulfillment_option"),
        # Only which boxes are ticked: a run's serializer names a malformed ID.
        "units": {parse_id(v) for v in typed("organization_units")} - {None},
        "drafts": drafts or [{"sheet": "", "name": "", "source": ""}],
        "stock": stock
        or [{"organization_unit": "", "product": "", "quantity": "", "mode": "absolute"}],
    }


def backtest_drafts(backtest: Backtest) -> list[dict[str, Any]]:
    """The backtest's drafts, each with the name of the sheet it replaces (None: added)."""
    sheets = dict(Sheet.objects.values_list("id", "name"))
    return [
        {**draft, "replaces": sheets.get(draft.get("sheet")) if draft.get("sheet") else None}
        for draft in backtest.drafts
    ]


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


def blob_view(blob: dict[str, Any]) -> dict[str, Any]:
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
        # Every line is routed or ended already (the history counted): nothing to decide.
        "nothing_open": not blob["OrderLines"],
    }
