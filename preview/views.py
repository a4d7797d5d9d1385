"""The preview page: replay an order at a chosen time, with what-ifs, and show why.

The form's fields are those of ``POST /api/preview/`` and are checked by the same
serializer (``forms.PreviewForm``), so the page and the API accept and refuse exactly
the same input and ask ``orchestration.selectors.previews`` the same ``PreviewRequest``; the
result is its decision (from the engine call that routes real orders, with what each
valid supplier would give alone) and blob, arranged by ``presenters.blob_view`` and
rendered by ``preview/_blob.html``. An order typed into the form is previewed as the
scenario ``previews.typed_scenario_text`` writes for it. The session keeps the order
last previewed (``LAST_ORDER``), so the editor's "Preview this draft" previews the
draft with it. Nothing is written but that session key.
"""

import json
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from orchestration.errors import ApplicationError
from orchestration.models import Backtest
from orchestration.permissions import VIEW_SHEETS
from orchestration.selectors import previews
from orchestration.selectors.orders import order_number_search
from orchestration.services.backtests import backtest_start
from sheets.access import requires

from .forms import BacktestForm, OrderSearchForm, PrefillForm, PreviewForm, ProductSearchForm
from .presenters import backtest_drafts, blob_view, draft_labels, form_values, page_context

# The session's last previewed order: "Preview this draft" (the sheet editor) previews
# the draft with it, so a designer keeps the order they were looking at.
LAST_ORDER = "preview.last_order"


@require_http_methods(["GET", "POST"])
@requires(VIEW_SHEETS)
def page(request: HttpRequest) -> HttpResponse:
    """The preview form and, once asked, the decision with its explanation."""
    source = request.POST if request.method == "POST" else request.GET
    asked = request.method == "POST" or "order" in request.GET
    blob = None
    errors: list[dict[str, Any]] = []
    status = 200
    form = PreviewForm(source)
    prefill = PrefillForm(source)
    if not prefill.is_valid():
        errors = [{"field": "sheet", "message": prefill.errors["sheet"][0]}]
        status = 400
    # A POST from the editor's "Preview this draft" fills in the form, and previews the
    # draft with the order this session last previewed, if any.
    run = (request.method == "POST" and "prefill" not in source) or bool(form["order"].value())
    remembered = _remembered(request, form, source) if "prefill" in source else None
    if remembered is not None:
        form, run = remembered, True
    result = None
    if run:
        try:
            checked = form.preview_request()
            preview_run = previews.preview_run(checked, alternatives=previews.ALTERNATIVES)
        except ApplicationError as error:
            errors += error.errors
            status = 400
        else:
            blob = preview_run.decision.blob
            result = blob_view(
                blob,
                decision=preview_run.decision,
                scenario=preview_run.scenario,
                drafts=draft_labels(form.draft_requests()),
            )
            if checked.order is not None or form.is_typed():
                request.session[LAST_ORDER] = form.remembered()
    return render(
        request,
        "preview/page.html",
        {
            **page_context(),
            "values": form_values(form, prefill, asked or remembered is not None, errors),
            "errors": errors,
            "result": result,
            "blob_json": json.dumps(blob, indent=2) if blob is not None else "",
        },
        status=status,
    )


def _remembered(request: HttpRequest, form: PreviewForm, source: QueryDict) -> PreviewForm | None:
    """The prefilled form with the order (stored or typed), moment and delivery option
    this session last previewed; None if it names its own order or none was previewed."""
    last = request.session.get(LAST_ORDER)
    if last is None or form["order"].value() or form.is_typed():
        return None
    data = source.copy()
    for name, value in last.items():
        data.setlist(name, [value])
    return PreviewForm(data)


@require_GET
@requires(VIEW_SHEETS, json=True)
def orders(request: HttpRequest) -> JsonResponse:
    """Order numbers for the autocomplete: the newest that start with (or contain) ``q``."""
    search = OrderSearchForm(request.GET)
    if not search.is_valid():  # longer than any order number: none contains it
        return JsonResponse({"results": []})
    found = order_number_search(search.cleaned_data["q"])
    return JsonResponse({"results": [{"number": o.backend_id, "intent": o.intent} for o in found]})


@require_GET
@requires(VIEW_SHEETS, json=True)
def products(request: HttpRequest) -> JsonResponse:
    """Products for the typed order's autocomplete: backend ID or name containing ``q``."""
    search = ProductSearchForm(request.GET)
    if not search.is_valid():  # longer than any backend ID or name: none contains it
        return JsonResponse({"results": []})
    found = previews.product_search(search.cleaned_data["q"])
    return JsonResponse({"results": [{"backend_id": p.backend_id, "name": p.name} for p in found]})


# --- Backtests ------------------------------------------------------------------------------


@require_http_methods(["POST"])
@requires(VIEW_SHEETS)
def backtest_create(request: HttpRequest) -> HttpResponse:
    """Start a backtest of the form's draft sheets over the latest N orders."""
    form = PreviewForm(request.POST)
    count = BacktestForm(request.POST)
    errors: list[dict[str, Any]] = []
    drafts: list[dict[str, Any]] = []
    try:
        drafts = form.drafts()
    except ApplicationError as error:
        errors = list(error.errors)
    # The count is checked whatever the drafts are: a refusal names its range.
    if count_error := count.count_error():
        errors.append({"field": "order_count", "message": count_error})
    if not errors:
        try:
            backtest = backtest_start(
                user=request.user,
                drafts=drafts,
                order_count=count.cleaned_data["order_count"],
            )
        except ApplicationError as error:
            errors = error.errors
        else:
            return redirect("preview:backtest", pk=backtest.pk)
    return render(
        request,
        "preview/page.html",
        {
            **page_context(),
            "values": form_values(form, PrefillForm(request.POST), True),
            "errors": errors,
        },
        status=400,
    )


@require_GET
@requires(VIEW_SHEETS)
def backtest(request: HttpRequest, pk: int) -> HttpResponse:
    """A backtest's progress (the page refreshes itself while it runs) and its result."""
    found = get_object_or_404(Backtest, pk=pk)
    return render(
        request,
        "preview/backtest.html",
        {
            "backtest": found,
            "drafts": backtest_drafts(found),
            "running": found.status in ("pending", "running"),
        },
    )
