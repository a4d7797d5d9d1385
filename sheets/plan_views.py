"""The designers' plan pages (``docs/plans.md``, "Designing plans"): step groups,
their versions, the edit page that saves a new version, scenarios and fallout rules.

``Plans:View`` (``view_stepgroup``) opens the lists and the group pages;
``Plans:Design`` (``change_stepgroup``) saves, activates, and sets scenarios and
fallout rules. Every POST goes through a form (``plan_forms``) and a service
(``services/step_groups.py``); a refused save writes nothing and shows the page
again with what was typed and every problem, each naming its step and field.
"""

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from orchestration.errors import ApplicationError
from orchestration.models import StepGroup, StepGroupVersion
from orchestration.permissions import DESIGN_PLANS, VIEW_PLANS
from orchestration.plans.conditions import OPERATORS
from orchestration.selectors.step_groups import (
    fallout_rule_list,
    step_group_get,
    step_group_list,
    step_group_version_get,
    step_group_version_payload,
    step_group_version_steps,
    step_group_versions,
)
from orchestration.services.step_groups import (
    fallout_rule_delete,
    fallout_rule_set,
    plan_scenario_delete,
    plan_scenario_set,
    step_group_version_activate,
    step_group_version_save,
)

from .access import can, requires, signed_in
from .plan_forms import (
    ActivateVersionForm,
    DeleteForm,
    DependencyFormSet,
    FalloutRuleForm,
    GroupForm,
    RuleForm,
    ScenarioForm,
    StepFormSet,
    group_choices,
    handler_choices,
    step_initial,
)
from .plan_presenters import (
    condition_text,
    errors_text,
    form_problems,
    refusal_problems,
    rules_text,
    scenario_problems,
)


def _group(key: str) -> StepGroup:
    group = step_group_get(key)
    if group is None:
        raise Http404(f"There is no step group {key!r}.")
    return group


@require_GET
@requires(VIEW_PLANS)
def group_list(request: HttpRequest) -> HttpResponse:
    """Every step group: key, name, active version, its number of steps, scenarios."""
    groups = [
        {
            "group": group,
            "scenarios": [
                {"scenario": scenario, "condition": condition_text(scenario.condition)}
                for scenario in group.scenarios.all()
            ],
        }
        for group in step_group_list()
    ]
    return render(
        request,
        "sheets/plans/list.html",
        {"groups": groups, "can_design": can(request.user, DESIGN_PLANS)},
    )


@require_GET
@requires(VIEW_PLANS)
def group(request: HttpRequest, key: str) -> HttpResponse:
    """A group: its versions (who, when, comment), the steps and dependencies of the
    active one (or of ``?version=n``), and its scenarios."""
    found = _group(key)
    versions = list(step_group_versions(found))
    shown: StepGroupVersion | None = next((v for v in versions if v.is_active), None)
    asked = request.GET.get("version", "")
    if asked.isascii() and asked.isdigit() and len(asked) < 10:
        shown = next((v for v in versions if v.number == int(asked)), shown)
    steps = step_group_version_steps(shown) if shown else []
    return render(
        request,
        "sheets/plans/group.html",
        _group_context(request, found, versions, shown, steps, ScenarioForm()),
    )


def _group_context(
    request: HttpRequest,
    found: StepGroup,
    versions: list[StepGroupVersion],
    shown: StepGroupVersion | None,
    steps: list[Any],
    scenario_form: ScenarioForm,
    scenario_errors: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "group": found,
        "versions": versions,
        "shown": shown,
        "steps": [
            {
                "step": step,
                "condition": condition_text(step.condition),
                "resume": condition_text(step.resume_condition),
                "rules": rules_text(step.assignment_rules),
                "dependencies": list(step.dependencies.all()),
            }
            for step in steps
        ],
        "scenarios": [
            {"scenario": scenario, "condition": condition_text(scenario.condition)}
            for scenario in found.scenarios.all()
        ],
        "scenario_form": scenario_form,
        "scenario_errors": scenario_errors or [],
        "operators": OPERATORS,
        "can_design": can(request.user, DESIGN_PLANS),
    }


def _initial(found: StepGroup | None, number: str) -> tuple[dict[str, Any], list[Any], list[Any]]:
    """The group's fields and the steps and dependencies of the version the edit starts
    from: ``?from=n``, else the active one, else the newest."""
    if found is None:
        return {"activate": True}, [], []
    version = None
    if number.isascii() and number.isdigit() and len(number) < 10:
        version = step_group_version_get(found, int(number))
    if version is None:
        versions = list(step_group_versions(found))
        version = next((v for v in versions if v.is_active), versions[0] if versions else None)
    payload = step_group_version_payload(version) if version else {"steps": [], "dependencies": []}
    fields = {"key": found.key, "name": found.name, "description": found.description}
    return (
        {**fields, "activate": True},
        [step_initial(step) for step in payload["steps"]],
        payload["dependencies"],
    )


@require_http_methods(["GET", "POST"])
@requires(VIEW_PLANS, DESIGN_PLANS)
def edit(request: HttpRequest, key: str | None = None) -> HttpResponse:
    """The group's steps and dependencies; saving makes a new version (never edits one).
    Without ``key``: a new group."""
    found = _group(key) if key else None
    groups = group_choices()
    status = 200
    problems: list[dict[str, Any]] = []
    if request.method == "POST":
        data = request.POST.copy()
        if found is not None:
            data["key"] = found.key  # an existing group keeps its key
        group_form = GroupForm(data)
        steps = StepFormSet(request.POST, prefix="step", groups=groups)
        dependencies = DependencyFormSet(request.POST, prefix="dep")
        valid = [group_form.is_valid(), steps.is_valid(), dependencies.is_valid()]
        status = 400
        if not all(valid):
            # Rows sent badly (too many, no counts) are named alone: their fields are moot.
            whole = [
                {"where": where, "message": errors_text(rows.non_form_errors())}
                for where, rows in (("steps", steps), ("dependencies", dependencies))
                if rows.non_form_errors()
            ]
            problems = form_problems(
                [] if whole else steps.forms, [] if whole else dependencies.forms, group_form
            )
            problems += whole
        elif found is None and step_group_get(group_form.cleaned_data["key"]) is not None:
            # The new-group page makes a group: it never adds a version to another one.
            key = group_form.cleaned_data["key"]
            problems = [
                {"where": "key", "message": f"There is already a step group {key}: edit it."}
            ]
        else:
            rows = steps.filled()
            fields = group_form.cleaned_data
            try:
                version = step_group_version_save(
                    key=fields["key"],
                    name=fields["name"],
                    description=fields["description"],
                    comment=fields["comment"],
                    activate=fields["activate"],
                    steps=[row.payload() for row in rows],
                    dependencies=[row.cleaned_data for row in dependencies.filled()],
                    user=signed_in(request),
                )
            except ApplicationError as error:
                problems = refusal_problems(error.errors, rows)
            else:
                state = "active" if version.is_active else "not active"
                messages.success(request, f"Saved as version {version.number} ({state}).")
                return redirect("sheets:plan_group", key=version.group.key)
    else:
        group_initial, step_rows, dependency_rows = _initial(found, request.GET.get("from", ""))
        group_form = GroupForm(initial=group_initial)
        steps = StepFormSet(initial=step_rows, prefix="step", groups=groups)
        dependencies = DependencyFormSet(initial=dependency_rows, prefix="dep")
    return render(
        request,
        "sheets/plans/edit.html",
        {
            "group": found,
            "group_form": group_form,
            "steps": steps,
            "dependencies": dependencies,
            "problems": problems,
            "problem_rows": {problem.get("row") for problem in problems},
            "not_saved": status == 400,
            "operators": OPERATORS,
            # The row "Add a rule" copies into a step (its prefix set there).
            "rule_form": RuleForm(prefix="step-__prefix__-rule-__rule__"),
            "handlers": handler_choices(),
        },
        status=status,
    )


@require_POST
@requires(VIEW_PLANS, DESIGN_PLANS)
def activate(request: HttpRequest, key: str, number: int) -> HttpResponse:
    """Make a version the one new plans take; plans in flight keep theirs."""
    version = step_group_version_get(_group(key), number)
    if version is None:
        raise Http404(f"Step group {key!r} has no version {number}.")
    ActivateVersionForm(request.POST).is_valid()
    step_group_version_activate(version_id=version.pk)
    messages.success(
        request, f"Version {number} is active: new plans take it; plans in flight keep theirs."
    )
    return redirect("sheets:plan_group", key=key)


@require_POST
@requires(VIEW_PLANS, DESIGN_PLANS)
def scenario_set(request: HttpRequest, key: str) -> HttpResponse:
    """The group's scenario for an action (made, or replaced with the new condition and
    priority); a refusal shows the group page again with what was typed."""
    found = _group(key)
    form = ScenarioForm(request.POST)
    errors: list[dict[str, Any]] = []
    if form.is_valid():
        try:
            plan_scenario_set(
                group_key=found.key,
                action=form.cleaned_data["action"],
                condition=form.condition(),
                priority=form.cleaned_data["priority"] or 0,
            )
        except ApplicationError as error:
            errors = scenario_problems(error.errors, form.cleaned_data["condition_logic"])
        else:
            messages.success(request, f"Scenario for {form.cleaned_data['action']} saved.")
            return redirect("sheets:plan_group", key=found.key)
    else:
        errors = [
            {"where": name, "message": errors_text(messages_)}
            for name, messages_ in form.errors.items()
        ]
    versions = list(step_group_versions(found))
    shown = next((v for v in versions if v.is_active), None)
    steps = step_group_version_steps(shown) if shown else []
    context = _group_context(request, found, versions, shown, steps, form, errors)
    return render(request, "sheets/plans/group.html", context, status=400)


@require_POST
@requires(VIEW_PLANS, DESIGN_PLANS)
def scenario_delete(request: HttpRequest, key: str, pk: int) -> HttpResponse:
    """Forget one of the group's scenarios."""
    found = _group(key)
    if not found.scenarios.filter(pk=pk).exists():
        raise Http404(f"Step group {key!r} has no scenario {pk}.")
    DeleteForm(request.POST).is_valid()
    plan_scenario_delete(scenario_id=pk)
    messages.success(request, "Scenario deleted.")
    return redirect("sheets:plan_group", key=found.key)


@require_http_methods(["GET", "POST"])
@requires(VIEW_PLANS)
def fallout_rules(request: HttpRequest) -> HttpResponse:
    """The fallout rules, first by priority; designers add or replace one."""
    form = FalloutRuleForm()
    errors: list[dict[str, Any]] = []
    status = 200
    if request.method == "POST":
        if not can(request.user, DESIGN_PLANS):
            raise PermissionDenied("You need the permission Plans:Design for this.")
        form = FalloutRuleForm(request.POST)
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            try:
                fallout_rule_set(
                    step_key=data["step_key"],
                    error_code=data["error_code"],
                    queue=data["queue"],
                    priority=data["priority"] or 0,
                )
            except ApplicationError as error:
                errors = [
                    {"where": e.get("field") or "rule", "message": e["message"]}
                    for e in error.errors
                ]
            else:
                messages.success(request, f"Fallout rule for queue {data['queue']} saved.")
                return redirect("sheets:plan_fallout_rules")
        else:
            errors = [
                {"where": name, "message": errors_text(messages_)}
                for name, messages_ in form.errors.items()
            ]
    return render(
        request,
        "sheets/plans/fallout_rules.html",
        {
            "rules": fallout_rule_list(),
            "form": form,
            "errors": errors,
            "can_design": can(request.user, DESIGN_PLANS),
        },
        status=status,
    )


@require_POST
@requires(VIEW_PLANS, DESIGN_PLANS)
def fallout_rule_remove(request: HttpRequest, pk: int) -> HttpResponse:
    """Forget a fallout rule."""
    DeleteForm(request.POST).is_valid()
    try:
        fallout_rule_delete(rule_id=pk)
    except ApplicationError as error:
        raise Http404(error.message) from error
    messages.success(request, "Fallout rule deleted.")
    return redirect("sheets:plan_fallout_rules")
