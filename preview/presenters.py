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
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.utils import timezone

from orchestration.engine.decision import Decision, Proposal
from orchestration.engine.limits import STOCK_QUANTITY
from orchestration.engine.model import RETURNS, Scenario
from orchestration.models import (
    Backtest,
    FulfillmentOption,
    Order,
    OrderIntent,
    OrganizationUnit,
    Product,
    Sheet,
)
from orchestration.services.backtests import MAX_ORDERS
from orchestration.validators import parse_id

from .forms import NO_OPTION, ORDER_COUNT_RANGE, PARTIAL_CHOICES, PrefillForm, PreviewForm


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
        "intents": OrderIntent.choices,
        "partial_choices": PARTIAL_CHOICES,
    }


def line_rows(form: PreviewForm, errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The typed order's line rows as typed, each with its refusals by field
    (``lines[i].quantity`` names the i-th row that is not blank); one empty row at least."""
    by_field = {e["field"]: e["message"] for e in errors if e.get("field")}
    rows = []
    listed = 0
    for row in form.rows["line"]:
        blank = row.is_blank()
        found = {
            name: by_field.get(f"lines[{listed}].{name}")
            for name in ("product", "quantity", "unit_price")
            if not blank and f"lines[{listed}].{name}" in by_field
        }
        rows.append({**row.data, "errors": found})
        listed += not blank
    return rows or [{"product": "", "quantity": "", "unit_price": "", "errors": {}}]


def form_values(
    form: PreviewForm,
    prefill: PrefillForm,
    asked: bool,
    errors: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """The form's fields as typed (defaults where nothing was: now, the site's time zone,
    current fulfilments respected, one empty draft, stock and line row); ``errors``:
    the refusals, shown beside the typed lines they name."""
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
        # The typed order: its fields as typed, one empty line row at least.
        "typed": {name: form.typed[name].value() or "" for name in form.typed.fields},
        "lines": line_rows(form, list(errors)),
        "typed_open": form.is_typed(),
        "scenario_built": form.scenario_text or "",
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


DRAFT_IDS = 10**9  # drafts added beside the saved sheets get IDs from here on (selectors)


def draft_labels(drafts: Any) -> dict[int, str]:
    """Sheet ID -> how a result names a draft: "draft of Ship from store" for a draft
    of a saved sheet, "draft sheet Draft 1" for one added beside them (numbered as
    ``selectors.scenario.order_scenario`` numbers them). ``drafts``: the request's
    ``SheetDraft``s."""
    names = dict(Sheet.objects.values_list("id", "name"))
    labels: dict[int, str] = {}
    added = 0
    for draft in drafts:
        if draft.sheet_id is not None:
            labels[draft.sheet_id] = f"draft of {names.get(draft.sheet_id, draft.sheet_id)}"
        else:
            added += 1
            labels[DRAFT_IDS + added] = f"draft sheet {draft.name or f'Draft {added}'}"
    return labels


def _fmt(value: float) -> str:
    """A score as the page writes it (at most 4 decimals, no trailing zeros)."""
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _parts(proposal: Proposal) -> dict[str, Any]:
    """A proposition's score and its parts, as the page shows them."""
    parts = proposal.parts()
    return {
        "score": proposal.score,
        "units": proposal.units,
        "shipments": sum(1 for s in proposal.shipments if not s.is_cancel),
        "supplier": parts.supplier,
        "line": parts.line,
        "shipment": parts.shipment,
        "proposition": parts.proposition,
        "text": (
            f"{_fmt(proposal.score)} = {_fmt(parts.supplier)} supplier + {_fmt(parts.line)} "
            f"line + {_fmt(parts.shipment)} shipment"
            + (f" + {_fmt(parts.proposition)} proposition" if parts.proposition else "")
        ),
    }


def _why_not(
    alone: Proposal, winner: Proposal, open_units: int, bounded: bool, word: str = " alone"
) -> str:
    """Why ``alone`` (a supplier's own proposition) is not the winner, by the winner
    rule: most units, then highest score, then fewest shipments, then lowest IDs."""
    if alone.units != winner.units:
        if alone.units < winner.units:
            return (
                f"Ships {alone.units} of {open_units} units{word}; the winner ships "
                f"{winner.units}: most units win before score."
            )
    elif alone.score != winner.score:
        if alone.score < winner.score:
            return f"Scores {_fmt(alone.score)}{word}; the winner scores {_fmt(winner.score)}."
    else:
        mine = sum(1 for s in alone.shipments if not s.is_cancel)
        theirs = sum(1 for s in winner.shipments if not s.is_cancel)
        if mine > theirs:
            return (
                f"As many units and the same score, in {mine} shipments; the winner needs {theirs}."
            )
        if mine == theirs:
            return (
                "As many units, the same score and as many shipments: the winner's "
                "organization unit has the lower ID."
            )
    if bounded:
        return "It would beat the winner, but the search was bounded and did not reach it."
    return f"It would beat the winner{word}."


def _alternatives(
    blob: dict[str, Any], decision: Decision | None, winners: set[tuple[Any, Any]]
) -> list[dict[str, Any]]:
    """ "Who else could fulfil": every valid supplier (an OU under a sheet), those of the
    winning proposition first, then the others as the winner rule ranks what each would
    give alone (most units, score, fewest shipments, lowest ID); each with that
    proposition's score in parts and why it is not the winner. Without a decision (a
    stored order's blob) only the supplier and line score is known."""
    alone: dict[tuple[int, str], Any] = {}
    winner = decision.proposals[0] if decision is not None else None
    if decision is not None:
        for alternative in decision.alternatives:
            alone[(alternative.supplier.id, alternative.sheet_name)] = alternative
    # Every open unit is in the winner: shipped, or in its CANCEL shipment.
    open_units = (
        sum(line.quantity for shipment in winner.shipments for line in shipment.lines)
        if winner is not None
        else 0
    )
    bounded = not (blob.get("Search") or {}).get("Exact", True)
    rows = []
    for supplier in blob["ValidSuppliers"]:
        key = (supplier["SupplierID"], supplier["FulfillmentMethod"])
        row: dict[str, Any] = {**supplier, "in_winner": key in winners, "weighed": key in alone}
        found = alone.get(key)
        if found is not None and found.proposal is not None:
            row["alone"] = _parts(found.proposal)
            row["alone"]["open_units"] = open_units
            if not row["in_winner"] and winner is not None:
                row["why_not"] = _why_not(found.proposal, winner, open_units, bounded)
        elif found is not None:
            row["why_not"] = f"A statement failed when it was weighed alone ({found.failure})."
        rows.append(row)

    def rank(row: dict[str, Any]) -> tuple[Any, ...]:
        own = row.get("alone")
        if row["in_winner"]:
            return (0, 0, 0, 0, row["SupplierID"])
        if own is None:
            return (2, 0, -row["Score"], 0, row["SupplierID"])
        return (1, -own["units"], -own["score"], own["shipments"], row["SupplierID"])

    return sorted(rows, key=rank)


def blob_view(
    blob: dict[str, Any],
    *,
    decision: Decision | None = None,
    scenario: Scenario | None = None,
    drafts: dict[int, str] | None = None,
) -> dict[str, Any]:
    """The blob arranged for reading: the winner, who else could, who could not and why.

    "Who could not" covers every OU a sheet dropped: by its reason (``Rejections``),
    by the statement that dropped it and the values it read (``Dropped``), or by the
    error of a statement for it (``Errors`` naming a supplier); with the ``scenario``
    routed, also every other OU of it, saying why no sheet weighed it. An OU valid
    under one sheet and rejected by another says under which it is valid.
    ``decision`` (a preview's, with its ``alternatives``) gives "who else could
    fulfil" what each valid supplier would give alone; ``drafts`` (sheet ID -> "draft
    of ...") marks what draft sheets decided.
    """
    drafts = drafts or {}
    sheet_ids = dict(Sheet.objects.values_list("name", "id"))
    if scenario is not None:  # the sheets that ran: a draft's own name, a scenario's own
        sheet_ids = {sheet.name: sheet.id for sheet in scenario.sheets}
    # A sheet's line opens the editor for a saved sheet (a draft of one: at the draft's
    # line, which the editor the draft came from shows); a sheet added as a draft has none.
    saved = set(Sheet.objects.values_list("id", flat=True))
    linkable = {name: pk for name, pk in sheet_ids.items() if pk in saved}
    draft_by_name = {name: drafts[pk] for name, pk in sheet_ids.items() if pk in drafts}
    excluded: dict[int, dict[str, Any]] = {}
    whole_order: dict[str, list[dict[str, Any]]] = defaultdict(list)

    def unit(unit_id: int, name: str | None) -> dict[str, Any]:
        found = excluded.setdefault(unit_id, {"id": unit_id, "name": name, "reasons": []})
        found["name"] = found["name"] or name
        return found

    def sheet_of(entry: dict[str, Any]) -> dict[str, Any]:
        entry["sheet_id"] = linkable.get(entry["Sheet"])
        entry["draft"] = draft_by_name.get(entry["Sheet"])
        return entry

    for rejection in blob["Rejections"]:
        entry = sheet_of({**rejection})
        if rejection["SupplierID"] is None:
            whole_order[rejection["Sheet"] or "(no sheet)"].append(entry)
            continue
        unit(rejection["SupplierID"], rejection["SupplierName"])["reasons"].append(entry)
    for unit_id, name, entry in _supplier_errors(blob):
        unit(unit_id, name)["reasons"].append(sheet_of(entry))
    for unit_id, entry in _dropped(blob):
        unit(unit_id, None)["reasons"].append(sheet_of(entry))
    valid_under: dict[int, list[str]] = defaultdict(list)
    for supplier in blob["ValidSuppliers"]:
        valid_under[supplier["SupplierID"]].append(supplier["FulfillmentMethod"])
    winning = blob["Fulfillments"][0]["Shipments"] if blob["Fulfillments"] else []
    winners = {(s["Supplier"] or {}).get("ID") for s in winning}
    winner_keys = {
        ((s["Supplier"] or {}).get("ID"), (s["Sheet"] or {}).get("Name")) for s in winning
    }
    errors = [e for e in blob["Errors"] if e.get("SupplierID") is None and "SupplierIDs" not in e]
    if scenario is not None:
        _not_weighed(scenario, excluded, valid_under, winners, whole_order, errors)
    unnamed = [u["id"] for u in excluded.values() if not u["name"]]
    if unnamed:
        names = dict(OrganizationUnit.objects.filter(pk__in=unnamed).values_list("pk", "name"))
        if scenario is not None:
            names |= {ou.id: ou.name for ou in scenario.organization_units}
        for unit_id in unnamed:
            excluded[unit_id]["name"] = names.get(unit_id) or f"Organization unit {unit_id}"
    for found in excluded.values():
        found["valid_under"] = valid_under.get(found["id"], [])
        found["rejected_by"] = sorted({r["Sheet"] for r in found["reasons"] if r.get("Sheet")})
    valid_ids = set(valid_under)
    shipments = []
    for shipment in winning:
        sheet = shipment.get("Sheet") or {}
        draft = drafts.get(sheet["ID"]) if sheet.get("ID") is not None else None
        shipments.append({**shipment, "draft": draft})
    winner = blob["Fulfillments"][0] if blob["Fulfillments"] else None
    return {
        "winner": winner,
        "winner_shipments": shipments,
        "winner_parts": _parts(decision.proposals[0]) if decision is not None else None,
        "alternatives": _runners_up(blob, decision),
        "valid": _alternatives(blob, decision, winner_keys),
        "weighed_alone": decision is not None,
        "not_weighed": (
            sum(1 for _ in blob["ValidSuppliers"]) - len(decision.alternatives)
            if decision is not None
            else 0
        ),
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
        # How many OUs a stored run left out for holding none of the order's products.
        "without_stock": blob.get("SuppliersWithoutStock", 0),
        # Sheets left out (a parse error, an error in the Order scope); an error for one
        # OU is shown beside that OU.
        "errors": errors,
        "supplier_errors": sum(
            1 for e in blob["Errors"] if e.get("SupplierID") is not None or "SupplierIDs" in e
        ),
        "at": blob["At"],
        "search": blob.get("Search"),
        "sheet_ids": linkable,
        "drafts": sorted(set(drafts.values())),
        # Every line is routed or ended already (the history counted): nothing to decide.
        "nothing_open": not blob["OrderLines"],
    }


def _runners_up(blob: dict[str, Any], decision: Decision | None) -> list[dict[str, Any]]:
    """The runners-up the search kept, each (with the ``decision``) with its score in
    parts and why it is not the winner."""
    rows: list[dict[str, Any]] = [{"blob": p} for p in blob["Fulfillments"][1:]]
    if decision is None:
        return rows
    winner = decision.proposals[0]
    open_units = sum(line.quantity for s in winner.shipments for line in s.lines)
    bounded = not (blob.get("Search") or {}).get("Exact", True)
    for row, kept in zip(rows, decision.proposals[1:], strict=False):
        row["parts"] = _parts(kept)
        row["why_not"] = _why_not(kept, winner, open_units, bounded, word="")
    return rows


def _not_weighed(
    scenario: Scenario,
    excluded: dict[int, dict[str, Any]],
    valid_under: dict[int, list[str]],
    winners: set[Any],
    whole_order: dict[str, list[dict[str, Any]]],
    errors: list[dict[str, Any]],
) -> None:
    """Add to ``excluded`` every OU of the scenario no sheet said anything about, with
    why: the what-if's list of OUs left it out, or no sheet weighed any OU (each turned
    the whole order down, failed, or none is active)."""
    allowed = scenario.candidate_units
    ran = [s.name for s in scenario.sheets if s.active]
    for ou in scenario.organization_units:
        if ou.id in excluded or ou.id in valid_under or ou.id in winners:
            continue
        if allowed is not None and ou.id not in allowed:
            description = "Not among the organization units the what-if lets fulfil."
        elif scenario.order.intent == RETURNS and not scenario.settings.get(
            "UseOrderOrchestrationForReturnOrders"
        ):
            description = (
                "Return orders are not orchestrated (UseOrderOrchestrationForReturnOrders is "
                "off): no sheet weighs any organization unit; the order goes to the default "
                "returns organization unit."
            )
        elif whole_order or errors:
            turned = sorted(set(whole_order) | {e["Sheet"] for e in errors})
            description = (
                "No sheet weighed any organization unit: "
                + ", ".join(turned)
                + " turned the whole order down or failed (see above and below)."
            )
        elif not ran:
            description = "No sheet is active."
        else:
            description = "No sheet weighed it."
        excluded[ou.id] = {
            "id": ou.id,
            "name": ou.name,
            "reasons": [
                {
                    "Sheet": None,
                    "Scope": None,
                    "OrderLineID": None,
                    "Reason": None,
                    "Description": description,
                    "Expression": None,
                    "Line": None,
                    "sheet_id": None,
                    "draft": None,
                    "not_weighed": True,
                }
            ],
        }
