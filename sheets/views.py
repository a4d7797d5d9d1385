"""The Suite's sheet pages: overview, create, advanced editor, revisions, diff.

Views read their input through ``forms`` (the model's limits, no hand parsing), read
through ``orchestration.selectors`` and write through ``orchestration.services``, and
hand what they found to ``presenters`` to arrange for the templates; each checks its
SymphonySheets permission first (``access.requires``), so a refused request writes
nothing.
"""

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from rest_framework.exceptions import ParseError

from orchestration.api.parsers import parse_json
from orchestration.errors import ApplicationError, ConflictError, ForbiddenError
from orchestration.language import visual
from orchestration.language.catalogue import catalogue_json
from orchestration.models import Sheet, SheetRevision
from orchestration.permissions import (
    CREATE_SHEETS,
    DELETE_SHEETS,
    EDIT_SHEETS,
    VIEW_SHEETS,
    display_name,
)
from orchestration.selectors.organization import organization_unit_lookup
from orchestration.selectors.sheets import sheet_list, sheet_revision_list, sheet_revisions_numbered
from orchestration.services.preferences import user_preference_set
from orchestration.services.sheet_transfer import (
    sheets_export,
    sheets_file_name,
    sheets_file_parse,
    sheets_file_text,
    sheets_import,
)
from orchestration.services.sheets import (
    sheet_create,
    sheet_delete,
    sheet_diagnostics,
    sheet_duplicate,
    sheet_restore,
    sheet_set_active,
    sheet_update,
    sheet_warnings,
)
from orchestration.sheet_templates import TEMPLATES

from .access import can, requires, signed_in
from .forms import (
    NAME_LENGTH,
    ActivateForm,
    OrganizationUnitSearchForm,
    RevisionPairForm,
    SheetCompareForm,
    SheetCreateForm,
    SheetDuplicateForm,
    SheetEditForm,
    SheetExportForm,
    SheetFilterForm,
    SheetImportConfirmForm,
    SheetImportForm,
    ThemeForm,
    VisualSaveForm,
)
from .presenters import (
    import_plan_view,
    on_identifier_line,
    problems_listed,
    revision_diff,
    sections_view,
    sort_columns,
    visual_problems,
    visual_refusal,
)

PAGE_SIZE = 50


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
    filters = SheetFilterForm(request.GET)
    filters.is_valid()
    include_inactive = filters.cleaned_data["inactive"]
    name = filters.cleaned_data["q"]
    sort = filters.sorted_by()
    sheets = sheet_list(
        include_inactive=include_inactive, name=name, sheet_id=filters.sheet_id(), sort=sort
    )
    page = Paginator(sheets, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "sheets/overview.html",
        {
            "page": page,
            "columns": sort_columns(query, sort),
            "include_inactive": include_inactive,
            "name": name,
            "raw_id": filters.typed_id(),
            "id_error": filters.id_error(),
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
        form = SheetCreateForm(request.POST)
        values = form.values()
        if form.is_valid():
            template = TEMPLATES[form.cleaned_data["template"]]
            fulfillment = form.cleaned_data["fulfillment"]
            try:
                sheet = sheet_create(
                    fulfillment=fulfillment,
                    name=form.cleaned_data["name"],
                    source=template.source(fulfillment),
                    user=request.user,
                    comment=f"Created from the template {template.title}",
                )
            except ApplicationError as error:
                errors[error.field or "name"] = error.message
            else:
                messages.success(request, f"Sheet {sheet.name} created. It is not active yet.")
                return redirect("sheets:editor", pk=sheet.pk)
        else:
            errors = {name: form.messages(name) for name in form.errors}
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
        form = SheetEditForm(request.POST)
        values = form.values()
        comment = form.typed("comment")
        status = 400
        renamed = values["fulfillment"] != sheet.fulfillment
        if form.has_error("name"):
            problems.append({"field": "name", "message": form.messages("name")})
        elif renamed and not form.cleaned_data["confirm_fulfillment"]:
            # Orders already routed by this sheet know it by its identifier.
            confirm_identifier = True
        elif not form.is_valid():
            problems = [{"field": name, "message": form.messages(name)} for name in form.errors]
        else:
            try:
                saved = sheet_update(
                    sheet=sheet,
                    user=request.user,
                    comment=form.cleaned_data["comment"],
                    name=form.cleaned_data["name"],
                    fulfillment=form.cleaned_data["fulfillment"],
                    source=form.cleaned_data["source"],
                )
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
        problems = problems_listed(
            sheet_diagnostics(fulfillment=values["fulfillment"], source=values["source"]),
            sheet_warnings(source=values["source"]),
        )
    return render(
        request,
        "sheets/editor.html",
        {
            "sheet": sheet,
            "values": values,
            "comment": comment,
            "problems": problems,
            "confirm_identifier": confirm_identifier,
            # A refused save: the text shown is not the sheet's (leaving asks first).
            "not_saved": status == 400 and not confirm_identifier,
            "catalogue": catalogue_json(),
            **_permissions(request.user),
        },
        status=status,
    )


def _refusal(error: ApplicationError, fulfillment: str, source: str) -> list[dict[str, Any]]:
    """Why a save was refused; for a sheet that does not check, its problems as the
    editor lists them (message and hint apart, with positions)."""
    if error.code == "invalid_sheet":
        return sheet_diagnostics(fulfillment=fulfillment, source=source)
    return error.errors


@require_POST
@requires(VIEW_SHEETS, json=True)
def check(request: HttpRequest) -> JsonResponse:
    """The editor's live diagnostics: ``{"source", "fulfillment"}`` in, problems out.

    A JSON body, not a form: read under the API's limits and its types checked here.
    """
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
    errors = sheet_diagnostics(fulfillment=fulfillment or "", source=source)
    if not fulfillment:  # no identifier field to compare with (a draft)
        errors = [p for p in errors if p["code"] != "fulfillment_mismatch"]
    problems = problems_listed(errors, sheet_warnings(source=source))
    on_identifier_line(errors, source)
    return JsonResponse({"problems": problems})


@require_GET
@requires(VIEW_SHEETS, json=True)
def organization_units(request: HttpRequest) -> JsonResponse:
    """OUs by backend ID, name or ID: the editor's completions and list picker."""
    search = OrganizationUnitSearchForm(request.GET)
    search.is_valid()
    units = organization_unit_lookup(search.cleaned_data["q"])
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
    form = ActivateForm(request.POST)
    form.is_valid()
    active = form.cleaned_data["active"]
    try:
        sheet_set_active(sheet=sheet, active=active, user=request.user)
    except ApplicationError as error:
        messages.error(request, f"Not activated: {error.message}")
    else:
        messages.success(request, "Sheet activated." if active else "Sheet deactivated.")
    return redirect(form.next_page(reverse("sheets:editor", args=[sheet.pk])))


@require_POST
@requires(VIEW_SHEETS, DELETE_SHEETS)
def delete(request: HttpRequest, pk: int) -> HttpResponse:
    """Delete a sheet and its revisions (fulfilments keep its name)."""
    sheet = get_object_or_404(Sheet, pk=pk)
    name = sheet.name
    sheet_delete(sheet=sheet)
    messages.success(request, f"Sheet {name} deleted.")
    return redirect("sheets:overview")


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
    found = sheet_revisions_numbered(sheet, numbers)
    missing = [n for n in numbers if n not in found]
    if missing:
        messages.error(request, f"Sheet {sheet.pk} has no revision {missing[0]}.")
        return redirect("sheets:revisions", pk=sheet.pk)
    old, new = sorted((found[n] for n in numbers), key=lambda r: r.number)
    return render(
        request,
        "sheets/diff.html",
        {
            "sheet": sheet,
            **revision_diff(old, new),
            "split": pair.cleaned_data.get("view") == "split",
            **_permissions(request.user),
        },
    )


@require_POST
@requires(VIEW_SHEETS, EDIT_SHEETS)
def restore(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    """Make revision ``number`` current again, as a new revision."""
    sheet = get_object_or_404(Sheet, pk=pk)
    try:
        saved = sheet_restore(sheet=sheet, number=number, user=request.user)
    except ApplicationError as error:
        messages.error(request, f"Not restored: {error.message}")
        return redirect("sheets:revisions", pk=sheet.pk)
    if saved.revision == sheet.revision:
        messages.info(request, f"Revision {number} is what the sheet is now; nothing changed.")
    else:
        messages.success(request, f"Revision {number} restored as revision {saved.revision}.")
    return redirect("sheets:editor", pk=sheet.pk)


# --- Sheets between installs (services/sheet_transfer.py) ------------------------------

# Where the Import page keeps the uploaded file between the dry run and its confirmation.
IMPORT_SESSION_KEY = "sheets_import"


@require_GET
@requires(VIEW_SHEETS, EDIT_SHEETS)
def export(request: HttpRequest) -> HttpResponse:
    """The ticked sheets (``?identifier=``; none: every active sheet) as a file to download."""
    form = SheetExportForm(request.GET)
    try:
        if not form.is_valid():
            raise ApplicationError(form.messages("identifier"))
        content = sheets_export(identifiers=form.cleaned_data["identifier"] or None)
    except ApplicationError as error:
        messages.error(request, f"Not exported: {error.message}")
        return redirect("sheets:overview")
    response = HttpResponse(sheets_file_text(content), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{sheets_file_name(content)}"'
    return response


@require_http_methods(["GET", "POST"])
@requires(VIEW_SHEETS, EDIT_SHEETS)
def import_sheets(request: HttpRequest) -> HttpResponse:
    """Upload an export file: its dry run (new, changed with the diff, unchanged), to confirm."""
    if request.method != "POST":
        return render(request, "sheets/import.html", {"problems": []})
    form = SheetImportForm(request.POST, request.FILES)
    if not form.is_valid():
        problems = [{"message": form.messages(name)} for name in form.errors]
        return render(request, "sheets/import.html", {"problems": problems}, status=400)
    text = form.cleaned_data["file"]
    return _dry_run(request, text, form.file_name())


def _dry_run(
    request: HttpRequest, content: bytes, name: str, *, status: int = 200, refusal: str = ""
) -> HttpResponse:
    """The dry run of ``content`` as the plan page (kept in the session to confirm), or the
    upload page listing every reason it was refused."""
    try:
        plan = sheets_import(data=sheets_file_parse(content), user=signed_in(request), dry_run=True)
    except ApplicationError as error:
        request.session.pop(IMPORT_SESSION_KEY, None)
        code = 403 if isinstance(error, ForbiddenError) else 400
        context = {"problems": error.errors, "file_name": name}
        return render(request, "sheets/import.html", context, status=code)
    request.session[IMPORT_SESSION_KEY] = {"text": content.decode(), "name": name}
    return render(
        request,
        "sheets/import_plan.html",
        {
            "plan": plan,
            "sheets": import_plan_view(plan),
            "file_name": name,
            "anything": any(sheet.status != "unchanged" for sheet in plan.sheets),
            "refusal": refusal,
        },
        status=status,
    )


@require_POST
@requires(VIEW_SHEETS, EDIT_SHEETS)
def import_apply(request: HttpRequest) -> HttpResponse:
    """Import the file of the dry run shown, if neither it nor the sheets changed since."""
    form = SheetImportConfirmForm(request.POST)
    kept = request.session.get(IMPORT_SESSION_KEY)
    if not form.is_valid() or not isinstance(kept, dict):
        messages.error(request, "There is no dry run to confirm; choose the file again.")
        return redirect("sheets:import")
    content, name = str(kept["text"]).encode(), str(kept["name"])
    try:
        plan = sheets_import(
            data=sheets_file_parse(content),
            user=signed_in(request),
            dry_run=False,
            expected=form.cleaned_data["fingerprint"],
        )
    except ConflictError as error:
        return _dry_run(request, content, name, status=409, refusal=error.message)
    except ApplicationError as error:  # a refused file: the upload page lists why
        return _dry_run(request, content, name, status=400, refusal=error.message)
    request.session.pop(IMPORT_SESSION_KEY, None)
    messages.success(request, f"Imported {name}: {plan.summary}.")
    return redirect(reverse("sheets:overview") + "?inactive=1")


# --- Preferences ------------------------------------------------------------------------


@require_POST
def theme(request: HttpRequest) -> JsonResponse:
    """Remember dark mode (``dark`` = 1 or 0) for the signed-in user."""
    if not request.user.is_authenticated:
        return JsonResponse({"code": "not_authenticated", "message": "Sign in first."}, status=403)
    form = ThemeForm(request.POST)
    form.is_valid()
    dark = form.cleaned_data["dark"]
    user_preference_set(user=request.user, dark_mode=dark)
    return JsonResponse({"dark": dark})


# --- Visual editor ----------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@requires(VIEW_SHEETS)
def visual_editor(request: HttpRequest, pk: int) -> HttpResponse:
    """The sheet as scopes of plain statements; values, reasons, options editable in place."""
    sheet = get_object_or_404(Sheet, pk=pk)
    described = visual.describe(sheet.source)
    source = sheet.source
    errors: list[dict[str, Any]] = []
    status = 200
    active = sheet.is_active
    comment = ""
    typed = None
    if request.method == "POST":
        if not can(request.user, EDIT_SHEETS):
            raise PermissionDenied(
                f"You need the permission {display_name(EDIT_SHEETS)} to save a sheet."
            )
        form = VisualSaveForm(request.POST, slots=described.slots)
        status = 400
        form.is_valid()
        active = form.cleaned_data["active"]
        comment = form.typed("comment")
        if not form.opened_at(sheet.revision):
            status = 409
            errors.append(
                {
                    "message": f"The sheet was saved by someone else (it is now revision "
                    f"{sheet.revision}) since you opened it; your changes were not saved. "
                    "Reload to see the sheet as it is now."
                }
            )
        elif form.has_error("comment"):
            errors.append({"message": form.messages("comment")})
        else:
            try:
                source = visual.apply_edits(sheet.source, form.edits())
                saved = sheet_update(
                    sheet=sheet,
                    user=request.user,
                    comment=form.cleaned_data["comment"],
                    source=source,
                    is_active=active,
                )
            except visual.VisualEditError as error:
                errors.append(visual_refusal(error, described, sheet.source))
            except ApplicationError as error:
                errors.extend(visual_problems(_refusal(error, sheet.fulfillment, source), source))
            else:
                if saved.revision == sheet.revision:
                    messages.info(request, "Nothing changed, so no new revision was made.")
                else:
                    messages.success(request, f"Saved as revision {saved.revision}.")
                return redirect("sheets:visual", pk=sheet.pk)
        # What was typed stays in the fields (unless the sheet changed meanwhile: then
        # its values are shown as they are now).
        typed = form.data if status != 409 else None
    invalid = {error.get("slot") for error in errors}
    return render(
        request,
        "sheets/visual.html",
        {
            "sheet": sheet,
            "sections": sections_view(described.sections, typed, invalid),
            "diagnostics": described.diagnostics,
            "errors": errors,
            "active": active,
            "comment": comment,
            **_permissions(request.user),
        },
        status=status,
    )


# --- Duplicate, compare -----------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@requires(VIEW_SHEETS, CREATE_SHEETS)
def duplicate(request: HttpRequest, pk: int) -> HttpResponse:
    """A copy of the sheet as saved, inactive, under a new identifier and name."""
    sheet = get_object_or_404(Sheet, pk=pk)
    values = {"name": f"Copy of {sheet.name}"[:NAME_LENGTH], "fulfillment": ""}
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        form = SheetDuplicateForm(request.POST)
        values = form.values()
        status = 400
        if not form.is_valid():
            errors = {name: form.messages(name) for name in form.errors}
        else:
            try:
                copy = sheet_duplicate(
                    sheet=sheet,
                    identifier=form.cleaned_data["fulfillment"],
                    name=form.cleaned_data["name"],
                    user=request.user,
                )
            except ApplicationError as error:
                if error.code == "invalid_sheet":
                    errors["source"] = (
                        f"The sheet as saved does not check, so it is not copied "
                        f"({error.message}). Fix it in the editor first."
                    )
                else:
                    errors[error.field or "name"] = error.message
            else:
                messages.success(
                    request,
                    f"Sheet {copy.name} created as a copy of {sheet.name}. It is not active.",
                )
                return redirect("sheets:editor", pk=copy.pk)
    return render(
        request,
        "sheets/duplicate.html",
        {"sheet": sheet, "values": values, "errors": errors},
        status=status,
    )


@require_POST
@requires(VIEW_SHEETS)
def compare(request: HttpRequest, pk: int) -> HttpResponse:
    """The editor's text as it is now (posted, not saved) against the sheet's active
    revision, in the revisions' diff; nothing is written."""
    sheet = get_object_or_404(Sheet, pk=pk)
    form = SheetCompareForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Not compared: {form.messages('source')}")
        return redirect("sheets:editor", pk=sheet.pk)
    saved = SheetRevision(
        sheet=sheet,
        number=sheet.revision,
        name=sheet.name,
        fulfillment=sheet.fulfillment,
        source=sheet.source,
        is_active=sheet.is_active,
    )
    draft = SheetRevision(
        sheet=sheet,
        number=sheet.revision,
        name=form.cleaned_data["name"] or sheet.name,
        fulfillment=form.cleaned_data["fulfillment"] or sheet.fulfillment,
        source=form.cleaned_data["source"],
        is_active=sheet.is_active,
    )
    return render(
        request,
        "sheets/diff.html",
        {
            "sheet": sheet,
            **revision_diff(saved, draft),
            "draft": True,
            "split": form.cleaned_data["view"] == "split",
            **_permissions(request.user),
        },
    )
