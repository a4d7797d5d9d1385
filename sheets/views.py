"""The Suite's sheet pages: overview, create, advanced editor, revisions, diff.

Views read through ``orchestration.selectors`` and write through
``orchestration.services``; each checks its SymphonySheets permission first
(``access.requires``), so a refused request writes nothing.
"""

import contextlib
import difflib
import json
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from rest_framework.exceptions import ParseError

from orchestration import services
from orchestration.api.parsers import parse_json
from orchestration.errors import ApplicationError
from orchestration.language import visual
from orchestration.language.catalogue import catalogue_json
from orchestration.language.formatter import format_literal
from orchestration.language.lines import normalize
from orchestration.language.visual import Slot
from orchestration.models import Sheet
from orchestration.permissions import (
    CREATE_SHEETS,
    DELETE_SHEETS,
    EDIT_SHEETS,
    VIEW_SHEETS,
    display_name,
)
from orchestration.selectors.organization import organization_unit_lookup
from orchestration.selectors.sheets import sheet_list, sheet_revision_list
from orchestration.sheet_templates import TEMPLATES
from orchestration.validators import validate_identifier

from .access import can, requires
from .forms import RevisionPairForm, SheetFilterForm

PAGE_SIZE = 50
COLUMNS = (
    ("id", "ID"),
    ("name", "Name"),
    ("fulfillment", "Fulfillment identifier"),
    ("action", "Action"),
    ("active", "Active"),
    ("revision", "Revision"),
    ("edited_by", "Last edited by"),
    ("edited", "Last edited"),
)


def _permissions(user: Any) -> dict[str, bool]:
    return {
        "can_create": can(user, CREATE_SHEETS),
        "can_edit": can(user, EDIT_SHEETS),
        "can_delete": can(user, DELETE_SHEETS),
    }


# --- Overview ---------------------------------------------------------------------------


@require_GET
@requires(VIEW_SHEETS)
def overview(request: HttpRequest) -> HttpResponse:
    """The sheets table: active ones by default; filters on the right; sortable; paged."""
    include_inactive = request.GET.get("inactive") == "1"
    name = request.GET.get("q", "").strip()
    raw_id = request.GET.get("id", "").strip()
    sort = request.GET.get("sort", "id")
    filters = SheetFilterForm(request.GET)
    id_error = filters.id_error()
    sheet_id = None if id_error else filters.cleaned_data["id"]
    sheets = sheet_list(include_inactive=include_inactive, name=name, sheet_id=sheet_id, sort=sort)
    page = Paginator(sheets, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    columns = []
    current = sort.lstrip("-")
    for key, title in COLUMNS:
        toggled = query.copy()
        toggled["sort"] = f"-{key}" if current == key and not sort.startswith("-") else key
        columns.append(
            {
                "key": key,
                "title": title,
                "href": "?" + toggled.urlencode(),
                "order": (
                    ("descending" if sort.startswith("-") else "ascending")
                    if current == key
                    else "none"
                ),
            }
        )
    return render(
        request,
        "sheets/overview.html",
        {
            "page": page,
            "columns": columns,
            "include_inactive": include_inactive,
            "name": name,
            "raw_id": raw_id,
            "id_error": id_error,
            "page_query": query.urlencode(),
            **_permissions(request.user),
        },
    )


# --- Create -----------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@requires(VIEW_SHEETS, CREATE_SHEETS)
def create(request: HttpRequest) -> HttpResponse:
    """A new sheet from a template; it opens in the advanced editor, inactive."""
    values = {"name": "", "fulfillment": "", "template": "ship-from-store"}
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        values = {key: request.POST.get(key, "").strip() for key in values}
        if not values["name"]:
            errors["name"] = "Give the sheet a name."
        try:
            validate_identifier(values["fulfillment"])
        except ValidationError as error:
            errors["fulfillment"] = " ".join(error.messages)
        template = TEMPLATES.get(values["template"])
        if template is None:
            errors["template"] = "Pick one of the templates."
        if not errors and template is not None:
            try:
                sheet = services.sheet_create(
                    fulfillment=values["fulfillment"],
                    name=values["name"],
                    source=template.source(values["fulfillment"]),
                    user=request.user,
                    comment=f"Created from the template {template.title}",
                )
            except ApplicationError as error:
                errors[error.field or "name"] = error.message
            else:
                messages.success(request, f"Sheet {sheet.name} created. It is not active yet.")
                return redirect("sheets:editor", pk=sheet.pk)
        status = 400
    return render(
        request,
        "sheets/create.html",
        {"values": values, "errors": errors, "templates": TEMPLATES.values()},
        status=status,
    )


# --- Advanced editor --------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@requires(VIEW_SHEETS)
def editor(request: HttpRequest, pk: int) -> HttpResponse:
    """The sheet's source in CodeMirror; saving stores a new revision."""
    sheet = get_object_or_404(Sheet, pk=pk)
    values = {"name": sheet.name, "fulfillment": sheet.fulfillment, "source": sheet.source}
    problems: list[dict[str, Any]] = []
    confirm_identifier = False
    status = 200
    comment = ""
    if request.method == "POST":
        if not can(request.user, EDIT_SHEETS):
            raise PermissionDenied(
                f"You need the permission {display_name(EDIT_SHEETS)} to save a sheet."
            )
        values = {
            "name": request.POST.get("name", "").strip(),
            "fulfillment": request.POST.get("fulfillment", "").strip(),
            "source": normalize(request.POST.get("source", "")),
        }
        comment = request.POST.get("comment", "").strip()
        status = 400
        renamed = values["fulfillment"] != sheet.fulfillment
        if not values["name"]:
            problems.append({"field": "name", "message": "Give the sheet a name."})
        elif renamed and request.POST.get("confirm_fulfillment") != "1":
            # Orders already routed by this sheet know it by its identifier.
            confirm_identifier = True
        else:
            try:
                validate_identifier(values["fulfillment"])
                saved = services.sheet_update(
                    sheet=sheet, user=request.user, comment=comment, **values
                )
            except ValidationError as error:
                problems.append({"field": "fulfillment", "message": " ".join(error.messages)})
            except ApplicationError as error:
                problems = _refusal(error, values["fulfillment"], values["source"])
            else:
                if saved.revision == sheet.revision:
                    messages.info(request, "Nothing changed, so no new revision was made.")
                else:
                    messages.success(request, f"Saved as revision {saved.revision}.")
                return redirect("sheets:editor", pk=sheet.pk)
    if not problems:
        # The source's own problems, as the live check lists them: errors, then
        # warnings (a saved sheet can have those), so the first render already
        # shows what the check will show once the editor has loaded.
        problems = services.sheet_diagnostics(
            fulfillment=values["fulfillment"], source=values["source"]
        )
        for problem in problems:
            problem["severity"] = "error"
        for warning in services.sheet_warnings(source=values["source"]):
            problems.append({**warning, "severity": "warning"})
    return render(
        request,
        "sheets/editor.html",
        {
            "sheet": sheet,
            "values": values,
            "comment": comment,
            "problems": problems,
            "confirm_identifier": confirm_identifier,
            "catalogue": catalogue_json(),
            **_permissions(request.user),
        },
        status=status,
    )


def _refusal(error: ApplicationError, fulfillment: str, source: str) -> list[dict[str, Any]]:
    """Why a save was refused; for a sheet that does not check, its problems as the
    editor lists them (message and hint apart, with positions)."""
    if error.code == "invalid_sheet":
        return services.sheet_diagnostics(fulfillment=fulfillment, source=source)
    return error.errors


@require_POST
@requires(VIEW_SHEETS, json=True)
def check(request: HttpRequest) -> JsonResponse:
    """The editor's live diagnostics: ``{"source", "fulfillment"}`` in, problems out."""
    try:  # under the API's limits: nesting depth, NUL and lone surrogates
        body = parse_json(request.body or b"{}")
    except ParseError as error:
        return JsonResponse({"code": "parse_error", "message": str(error.detail)}, status=400)
    source = body.get("source") if isinstance(body, dict) else None
    fulfillment = body.get("fulfillment", "") if isinstance(body, dict) else None
    if not isinstance(source, str) or not isinstance(fulfillment, str | None):
        return JsonResponse(
            {
                "code": "invalid",
                "message": "Send an object with 'source' (a string) and optionally "
                "'fulfillment' (a string).",
            },
            status=400,
        )
    problems = services.sheet_diagnostics(fulfillment=fulfillment or "", source=source)
    if not fulfillment:  # no identifier field to compare with (a draft)
        problems = [p for p in problems if p["code"] != "fulfillment_mismatch"]
    for problem in problems:
        problem["severity"] = "error"
        if problem["line"] is None:  # about the identifier: shown on the first line
            problem["line"], problem["column"] = _fulfillment_position(source)
    warnings = services.sheet_warnings(source=source)
    for warning in warnings:
        warning["severity"] = "warning"
    problems += warnings  # after the errors, which refuse a save; warnings do not
    return JsonResponse({"problems": problems})


def _fulfillment_position(source: str) -> tuple[int, int]:
    for number, text in enumerate(source.split("\n"), start=1):
        if text.lstrip().lower().startswith("fulfillment"):
            return number, len(text) - len(text.lstrip()) + 1
    return 1, 1


@require_GET
@requires(VIEW_SHEETS, json=True)
def organization_units(request: HttpRequest) -> JsonResponse:
    """OUs by backend ID, name or ID: the editor's completions and list picker."""
    units = organization_unit_lookup(request.GET.get("q", ""))
    return JsonResponse(
        {
            "results": [
                {"id": u.pk, "backend_id": u.backend_id, "name": u.name, "type": u.type}
                for u in units
            ]
        }
    )


@require_POST
@requires(VIEW_SHEETS, EDIT_SHEETS)
def activate(request: HttpRequest, pk: int) -> HttpResponse:
    """Activate or deactivate (``active`` = 1 or 0); a revision records it."""
    sheet = get_object_or_404(Sheet, pk=pk)
    active = request.POST.get("active") == "1"
    try:
        services.sheet_set_active(sheet=sheet, active=active, user=request.user)
    except ApplicationError as error:
        messages.error(request, f"Not activated: {error.message}")
    else:
        messages.success(request, "Sheet activated." if active else "Sheet deactivated.")
    return redirect(_next(request, reverse("sheets:editor", args=[sheet.pk])))


@require_POST
@requires(VIEW_SHEETS, DELETE_SHEETS)
def delete(request: HttpRequest, pk: int) -> HttpResponse:
    """Delete a sheet and its revisions (fulfilments keep its name)."""
    sheet = get_object_or_404(Sheet, pk=pk)
    name = sheet.name
    services.sheet_delete(sheet=sheet)
    messages.success(request, f"Sheet {name} deleted.")
    return redirect("sheets:overview")


def _next(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next", "")
    return target if target.startswith("/") and not target.startswith("//") else default


# --- Revisions --------------------------------------------------------------------------


@require_GET
@requires(VIEW_SHEETS)
def revisions(request: HttpRequest, pk: int) -> HttpResponse:
    """Every revision: number, author, date, comment, active at the time; pick two to diff."""
    sheet = get_object_or_404(Sheet, pk=pk)
    history = list(sheet_revision_list(sheet))
    return render(
        request,
        "sheets/revisions.html",
        {"sheet": sheet, "revisions": history, **_permissions(request.user)},
    )


@require_GET
@requires(VIEW_SHEETS)
def diff(request: HttpRequest, pk: int) -> HttpResponse:
    """Two revisions side by side, changes highlighted (``?a=N&b=M``)."""
    sheet = get_object_or_404(Sheet, pk=pk)
    pair = RevisionPairForm(request.GET)
    refusal = pair.refusal()
    if refusal:
        messages.error(request, refusal)
        return redirect("sheets:revisions", pk=sheet.pk)
    numbers = [pair.cleaned_data["a"], pair.cleaned_data["b"]]
    found = {r.number: r for r in sheet.revisions.filter(number__in=numbers)}
    missing = [n for n in numbers if n not in found]
    if missing:
        messages.error(request, f"Sheet {sheet.pk} has no revision {missing[0]}.")
        return redirect("sheets:revisions", pk=sheet.pk)
    old, new = sorted((found[n] for n in numbers), key=lambda r: r.number)
    table = difflib.HtmlDiff(tabsize=4).make_table(
        old.source.split("\n"),
        new.source.split("\n"),
        fromdesc=f"Revision {old.number}",
        todesc=f"Revision {new.number}",
    )
    changes = []
    for label, before, after in (
        ("Name", old.name, new.name),
        ("Fulfillment identifier", old.fulfillment, new.fulfillment),
        ("Active", old.is_active, new.is_active),
    ):
        if before != after:
            changes.append({"label": label, "before": before, "after": after})
    return render(
        request,
        "sheets/diff.html",
        {
            "sheet": sheet,
            "old": old,
            "new": new,
            "table": table,
            "changes": changes,
            "same_source": old.source == new.source,
            **_permissions(request.user),
        },
    )


@require_POST
@requires(VIEW_SHEETS, EDIT_SHEETS)
def restore(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    """Make revision ``number`` current again, as a new revision."""
    sheet = get_object_or_404(Sheet, pk=pk)
    try:
        saved = services.sheet_restore(sheet=sheet, number=number, user=request.user)
    except ApplicationError as error:
        messages.error(request, f"Not restored: {error.message}")
        return redirect("sheets:revisions", pk=sheet.pk)
    if saved.revision == sheet.revision:
        messages.info(request, f"Revision {number} is what the sheet is now; nothing changed.")
    else:
        messages.success(request, f"Revision {number} restored as revision {saved.revision}.")
    return redirect("sheets:editor", pk=sheet.pk)


# --- Preferences ------------------------------------------------------------------------


@require_POST
def theme(request: HttpRequest) -> JsonResponse:
    """Remember dark mode (``dark`` = 1 or 0) for the signed-in user."""
    if not request.user.is_authenticated:
        return JsonResponse({"code": "not_authenticated", "message": "Sign in first."}, status=403)
    dark = request.POST.get("dark") == "1"
    services.user_preference_set(user=request.user, dark_mode=dark)
    return JsonResponse({"dark": dark})


# --- Visual editor ----------------------------------------------------------------------


def _slot_view(slot: Slot, posted: Any, invalid: set[Any]) -> dict[str, Any]:
    """What the template needs to show one editable value (as typed, if posted)."""

    def text(value: object) -> str:
        return format_literal(value) if isinstance(value, Decimal) else str(value)

    view: dict[str, Any] = {
        "id": slot.id,
        "kind": slot.kind,
        "name": f"slot-{slot.id}",
        "invalid": slot.id in invalid,
    }
    typed = posted.get(view["name"]) if posted is not None else None
    if slot.kind == visual.LIST:
        items = [text(item) for item in slot.value]  # type: ignore[attr-defined]
        if typed is not None:
            with contextlib.suppress(ParseError, TypeError):  # not a list: show the stored one
                items = [str(item) for item in parse_json(typed.encode(errors="replace"))]
        view.update(
            items=items,
            json=json.dumps(items),
            item_kind=slot.item_kind,
            picker=slot.picker or "",
        )
    elif slot.kind == visual.BOOLEAN:
        view["value"] = typed or ("true" if slot.value else "false")
    else:
        view["value"] = typed if typed is not None else text(slot.value)
        view["size"] = max(4, min(60, len(view["value"]) + 2))
    return view


def _sections_view(
    sections: tuple[visual.Section, ...], posted: Any, invalid: set[Any]
) -> list[dict[str, Any]]:
    return [
        {
            "title": section.title,
            "rows": [
                {
                    "line": row.line,
                    "kind": row.kind,
                    "comment": row.comment,
                    "segments": [
                        {"slot": _slot_view(s.slot, posted, invalid)}
                        if s.slot
                        else {"text": s.text, "code": s.code}
                        for s in row.segments
                    ],
                }
                for row in section.rows
            ],
        }
        for section in sections
    ]


def _edits_from(post: Any, slots: Any) -> dict[str, object]:
    edits: dict[str, object] = {}
    for slot_id, slot in slots.items():
        raw = post.get(f"slot-{slot_id}")
        if raw is None:
            continue
        if slot.kind == visual.LIST:
            try:
                items = parse_json(raw.encode(errors="replace"))
            except ParseError as error:
                raise visual.VisualEditError(slot_id, "the list was not sent as JSON") from error
            edits[slot_id] = items
        else:
            edits[slot_id] = raw
    return edits


@require_http_methods(["GET", "POST"])
@requires(VIEW_SHEETS)
def visual_editor(request: HttpRequest, pk: int) -> HttpResponse:
    """The sheet as scopes of plain statements; values, reasons, options editable in place."""
    sheet = get_object_or_404(Sheet, pk=pk)
    source = sheet.source
    errors: list[dict[str, Any]] = []
    status = 200
    active = sheet.is_active
    comment = ""
    if request.method == "POST":
        if not can(request.user, EDIT_SHEETS):
            raise PermissionDenied(
                f"You need the permission {display_name(EDIT_SHEETS)} to save a sheet."
            )
        status = 400
        active = request.POST.get("active") == "1"
        comment = request.POST.get("comment", "").strip()
        if request.POST.get("revision") != str(sheet.revision):
            status = 409
            errors.append(
                {
                    "message": f"The sheet was saved by someone else (it is now revision "
                    f"{sheet.revision}) since you opened it; your changes were not saved. "
                    "Reload to see the sheet as it is now."
                }
            )
        else:
            try:
                source = visual.apply_edits(
                    sheet.source, _edits_from(request.POST, visual.describe(sheet.source).slots)
                )
                saved = services.sheet_update(
                    sheet=sheet, user=request.user, comment=comment, source=source, is_active=active
                )
            except visual.VisualEditError as error:
                errors.append({"slot": error.slot, "message": error.message})
            except ApplicationError as error:
                errors.extend(_refusal(error, sheet.fulfillment, source))
            else:
                if saved.revision == sheet.revision:
                    messages.info(request, "Nothing changed, so no new revision was made.")
                else:
                    messages.success(request, f"Saved as revision {saved.revision}.")
                return redirect("sheets:visual", pk=sheet.pk)
    # The sheet as stored, with what was typed still in the fields (unless the
    # sheet changed meanwhile: then its values are shown as they are now).
    posted = request.POST if request.method == "POST" and status != 409 else None
    invalid = {error.get("slot") for error in errors}
    described = visual.describe(sheet.source)
    return render(
        request,
        "sheets/visual.html",
        {
            "sheet": sheet,
            "sections": _sections_view(described.sections, posted, invalid),
            "diagnostics": described.diagnostics,
            "errors": errors,
            "active": active,
            "comment": comment,
            **_permissions(request.user),
        },
        status=status,
    )
