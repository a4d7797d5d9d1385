"""The plan design pages, server side: the list of step groups, a group's versions and
steps, the edit page that saves a new version, activating, scenarios, fallout rules.

The add and remove buttons of the edit page are in ``tests/browser/test_plan_design_ui.py``;
here the forms are posted as the page sends them, and each test checks what the user
sees and what was stored (nothing, on a refusal).
"""

import html
import re
from html.parser import HTMLParser
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from orchestration.demo.data import STEP_GROUPS
from orchestration.models import FalloutRule, PlanScenario, StepGroup, StepGroupVersion
from orchestration.selectors.step_groups import step_group_version_payload
from orchestration.services.step_groups import plan_scenario_set, step_group_version_save
from tests.conftest import table_rows

pytestmark = pytest.mark.django_db

STEP_DEFAULTS = {
    "type": "AUTO_TASK",
    "scope": "ORDER",
    "handler": "succeed",
    "url": "",
    "timeout_seconds": "10",
    "condition_clauses": "",
    "condition_logic": "",
    "resume_clauses": "",
    "resume_logic": "",
    "delay_minutes": "0",
    "delay_from": "DEPENDENCIES_DONE",
    "retry_kind": "NONE",
    "retry_count": "0",
    "retry_interval_minutes": "",
    "retry_intervals": "",
    "estimated_minutes": "",
    "jeopardy_minutes": "",
    "assignment": "NONE",
    "queue": "",
    "cancel_group": "",
    "amend_group": "",
    "method": "POST",
    "assignment_rules": "[]",
}


def login(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def post_data(
    steps: list[dict[str, str]],
    dependencies: list[tuple[str, str]] = (),  # type: ignore[assignment]  # a tuple default
    **group: str,
) -> dict[str, str]:
    """The edit form as the page posts it: the group, then each row of both formsets."""
    data = {
        "name": "Invoice and notify",
        "description": "",
        "comment": "first",
        "activate": "on",
        "step-TOTAL_FORMS": str(len(steps)),
        "step-INITIAL_FORMS": "0",
        "dep-TOTAL_FORMS": str(len(dependencies)),
        "dep-INITIAL_FORMS": "0",
        **group,
    }
    for index, step in enumerate(steps):
        for name, value in {**STEP_DEFAULTS, **step}.items():
            data[f"step-{index}-{name}"] = value
    for index, (step, on) in enumerate(dependencies):
        data.update(
            {f"dep-{index}-step": step, f"dep-{index}-on": on, f"dep-{index}-scope": "PLAN"}
        )
    return data


def problems(response: Any) -> list[str]:
    page = response.content.decode()
    return [
        html.unescape(text) for text in re.findall(r'<span class="problem">([^<]*)</span>', page)
    ]


def two_step_group(user: User | None = None, comment: str = "first") -> StepGroupVersion:
    return step_group_version_save(
        key="Invoicing",
        name="Invoice and notify",
        steps=[
            {"key": "invoice", "name": "Invoice", "type": "AUTO_TASK", "handler": "succeed"},
            {"key": "notify", "name": "Notify", "type": "AUTO_TASK", "handler": "succeed"},
        ],
        dependencies=[{"step": "notify", "on": "invoice"}],
        comment=comment,
        user=user,
    )


def test_the_list_shows_each_group_with_its_active_version_steps_and_scenarios(
    designer: User,
) -> None:
    two_step_group(designer)
    plan_scenario_set(group_key="Invoicing", action="SHIP_FROM_STORE", priority=20)

    page = login(designer).get("/sheets/plans/").content.decode()

    row = page.split('data-group="Invoicing"', 1)[1].split("</tr>", 1)[0]
    assert ">Invoice and notify</a>" in row
    assert '<td class="active-version">1</td>' in row
    assert '<td class="step-count">2</td>' in row
    assert "SHIP_FROM_STORE, priority 20" in row


def test_the_navigation_shows_plans_to_those_who_may_view_them(
    designer: User, integrator: User, nobody: User
) -> None:
    def nav(user: User) -> list[str]:
        page = login(user).get("/accounts/api-token/").content.decode()
        block = page.split('<nav aria-label="Suite">', 1)[1].split("</nav>", 1)[0]
        return re.findall(r"<a [^>]*>([^<]+)</a>", block)

    assert "Plans" in nav(designer)
    assert "Plans" in nav(integrator)
    assert "Plans" not in nav(nobody)


def test_the_group_page_shows_versions_with_who_when_comment_and_the_active_steps(
    designer: User,
) -> None:
    two_step_group(designer, comment="first")
    step_group_version_save(
        key="Invoicing",
        name="Invoice and notify",
        steps=[{"key": "invoice", "name": "Invoice", "type": "AUTO_TASK", "handler": "succeed"}],
        comment="not yet",
        user=designer,
        activate=False,
    )

    page = login(designer).get("/sheets/plans/groups/Invoicing/").content.decode()

    versions = page.split('id="versions"', 1)[1].split("</table>", 1)[0]
    assert re.findall(r'data-version="(\d+)"', versions) == ["2", "1"]
    assert "<td>designer</td>" in versions and "<td>not yet</td>" in versions
    assert "Activate</button>" in versions  # version 2, not active
    assert "Steps of version 1 (active)" in page
    steps = page.split('id="steps"', 1)[1].split("</table>", 1)[0]
    assert re.findall(r'data-step="(\w+)"', steps) == ["invoice", "notify"]
    notify = steps.split('data-step="notify"', 1)[1].split("</tr>", 1)[0]
    assert '<td class="depends-on"><code>invoice</code></td>' in notify


def test_the_edit_page_starts_from_the_active_version(designer: User) -> None:
    two_step_group(designer)

    page = login(designer).get("/sheets/plans/groups/Invoicing/edit/").content.decode()

    assert 'name="step-TOTAL_FORMS" value="2"' in page
    assert 'name="step-1-key" value="notify"' in page
    assert 'name="dep-0-step" value="notify"' in page
    assert 'name="dep-0-on" value="invoice"' in page
    assert "data-guard" in page


def test_saving_makes_a_new_version_and_never_edits_the_old_one(designer: User) -> None:
    first = two_step_group(designer)
    client = login(designer)

    response = client.post(
        "/sheets/plans/groups/Invoicing/edit/",
        post_data(
            [
                {"key": "invoice", "name": "Invoice"},
                {
                    "key": "notify",
                    "name": "Notify by e-mail",
                    "retry_kind": "STAGGERED",
                    "retry_intervals": "1, 5, 15",
                },
            ],
            [("notify", "invoice")],
            comment="retry the e-mail",
        ),
    )

    assert response.status_code == 302
    assert response["Location"] == "/sheets/plans/groups/Invoicing/"
    versions = list(StepGroupVersion.objects.order_by("number"))
    assert [(v.number, v.is_active, v.comment) for v in versions] == [
        (1, False, "first"),
        (2, True, "retry the e-mail"),
    ]
    assert list(first.steps.values_list("name", flat=True)) == ["Invoice", "Notify"]
    notify = versions[1].steps.get(key="notify")
    assert (notify.name, notify.retry_kind, notify.retry_intervals) == (
        "Notify by e-mail",
        "STAGGERED",
        [1, 5, 15],
    )
    assert versions[1].created_by == designer
    page = client.get(response["Location"]).content.decode()
    assert "Saved as version 2 (active)." in page


def test_a_new_group_is_made_with_its_first_version(designer: User) -> None:
    response = login(designer).post(
        "/sheets/plans/new/",
        post_data(
            [
                {
                    "key": "pay",
                    "name": "Wait for the payment",
                    "type": "PAUSE",
                    "handler": "",
                    "resume_clauses": "Order.CustomFields.Paid = true",
                    "resume_logic": "ALL",
                }
            ],
            key="Payment",
            name="Payment",
        ),
    )

    assert response.status_code == 302, problems(response)
    version = StepGroupVersion.objects.get(group__key="Payment")
    assert version.steps.get().resume_condition == {
        "clauses": [{"field": "Order.CustomFields.Paid", "operator": "=", "value": "true"}],
        "logic": "ALL",
    }


def test_a_refused_save_keeps_what_was_typed_and_names_every_problem(designer: User) -> None:
    two_step_group(designer)
    client = login(designer)
    before = table_rows()

    response = client.post(
        "/sheets/plans/groups/Invoicing/edit/",
        post_data(
            [
                {
                    "key": "a",
                    "name": "A",
                    "condition_clauses": "Order.Type = Sales\nOrder.Status = Routed",
                    "condition_logic": "(1 OR 2) AND 4",
                },
                {"key": "b", "name": "B", "retry_kind": "STAGGERED"},
            ],
            [("a", "b"), ("b", "a")],
        ),
    )

    assert response.status_code == 400
    assert problems(response) == [
        "Step a (row 1), condition.logic, column 14: clause 4 does not exist: the condition "
        "has 2 clauses",
        "Step b (row 2), retry_intervals: a STAGGERED retry policy needs intervals: minutes, "
        "one retry each (e.g. 10, 15, 40)",
        "Step a (row 1), dependencies: the dependencies make a cycle: a -> b -> a (each step "
        "waits for the one before it, so none of them can start)",
    ]
    page = response.content.decode()
    assert '<pre class="caret">(1 OR 2) AND 4\n             ^</pre>' in page
    assert 'name="step-0-condition_logic" value="(1 OR 2) AND 4"' in page
    assert 'name="dep-1-step" value="b"' in page
    assert 'data-guard data-dirty="1"' in page  # leaving asks first: nothing was saved
    assert table_rows() == before


def test_a_field_out_of_the_models_limits_is_named_with_its_row(designer: User) -> None:
    two_step_group(designer)
    client = login(designer)
    before = table_rows()

    response = client.post(
        "/sheets/plans/groups/Invoicing/edit/",
        post_data([{"key": "a", "name": "A" * 201, "delay_minutes": "-1"}]),
    )

    assert response.status_code == 400
    assert problems(response) == [
        "Step a (row 1), name: Ensure this value has at most 200 characters (it has 201).",
        "Step a (row 1), delay_minutes: Ensure this value is greater than or equal to 0.",
    ]
    assert table_rows() == before


def test_activating_an_older_version_leaves_the_others_inactive(designer: User) -> None:
    two_step_group(designer)
    two_step_group(designer, comment="second")

    response = login(designer).post("/sheets/plans/groups/Invoicing/versions/1/activate/")

    assert response.status_code == 302
    assert list(StepGroupVersion.objects.order_by("number").values_list("number", "is_active")) == [
        (1, True),
        (2, False),
    ]


def test_a_scenario_is_set_on_the_group_page_and_bad_logic_is_shown_with_a_caret(
    designer: User,
) -> None:
    two_step_group(designer)
    client = login(designer)
    before = table_rows()

    refused = client.post(
        "/sheets/plans/groups/Invoicing/scenarios/",
        {
            "action": "SHIP_FROM_STORE",
            "condition_clauses": "Order.Type = Sales",
            "condition_logic": "1 AND",
            "priority": "20",
        },
    )
    assert refused.status_code == 400
    assert problems(refused) == [
        "condition.logic, column 6: Scenario condition: expected a clause number, '(' or NOT, "
        "got the end of the logic"
    ]
    assert table_rows() == before

    saved = client.post(
        "/sheets/plans/groups/Invoicing/scenarios/",
        {
            "action": "SHIP_FROM_STORE",
            "condition_clauses": "",
            "condition_logic": "",
            "priority": "20",
        },
    )
    assert saved.status_code == 302
    scenario = PlanScenario.objects.get()
    assert (scenario.group.key, scenario.action, scenario.condition, scenario.priority) == (
        "Invoicing",
        "SHIP_FROM_STORE",
        None,
        20,
    )


def test_fallout_rules_are_added_and_deleted(designer: User) -> None:
    client = login(designer)

    added = client.post(
        "/sheets/plans/fallout-rules/",
        {"step_key": "carrier", "error_code": "Timeout", "queue": "logistics", "priority": "5"},
    )
    assert added.status_code == 302
    rule = FalloutRule.objects.get()
    assert (rule.step_key, rule.error_code, rule.queue, rule.priority) == (
        "carrier",
        "Timeout",
        "logistics",
        5,
    )
    refused = client.post("/sheets/plans/fallout-rules/", {"queue": " "})
    assert refused.status_code == 400
    assert problems(refused) == ["queue: This field is required."]
    # A message naming its field already is shown once, not after the field again.
    bad_key = client.post("/sheets/plans/fallout-rules/", {"step_key": "bad key", "queue": "q"})
    assert bad_key.status_code == 400
    (problem,) = problems(bad_key)
    assert problem.count("step_key") == 1, problem
    assert FalloutRule.objects.count() == 1

    deleted = client.post(f"/sheets/plans/fallout-rules/{rule.pk}/delete/")
    assert deleted.status_code == 302
    assert not FalloutRule.objects.exists()


def test_viewers_see_the_design_but_no_buttons_to_change_it(integrator: User) -> None:
    two_step_group()
    client = login(integrator)

    page = client.get("/sheets/plans/groups/Invoicing/").content.decode()
    assert "Edit (saves a new version)" not in page
    assert 'id="scenario-form"' not in page
    assert client.get("/sheets/plans/groups/Invoicing/edit/").status_code == 403
    assert StepGroup.objects.count() == 1


def test_an_unknown_group_is_a_404(designer: User) -> None:
    assert login(designer).get("/sheets/plans/groups/Nope/").status_code == 404
    assert login(designer).get("/sheets/plans/groups/Nope/edit/").status_code == 404


def test_more_step_rows_than_a_group_holds_are_refused_naming_the_limit(designer: User) -> None:
    two_step_group(designer)
    client = login(designer)
    before = table_rows()
    data = post_data([{"key": f"s{n}", "name": f"S{n}"} for n in range(101)])

    response = client.post("/sheets/plans/groups/Invoicing/edit/", data)

    assert response.status_code == 400
    assert problems(response) == ["steps: Please submit at most 100 forms."]
    assert table_rows() == before


def test_the_largest_group_saves_through_the_page(designer: User) -> None:
    steps = [{"key": f"s{n}", "name": f"S{n}"} for n in range(100)]
    dependencies = [(f"s{n}", f"s{m}") for n in range(1, 100) for m in range(max(0, n - 10), n)]
    assert len(dependencies) == 945

    response = login(designer).post(
        "/sheets/plans/new/", post_data(steps, dependencies, key="Large", name="Large")
    )

    assert response.status_code == 302, problems(response)[:3]
    version = StepGroupVersion.objects.get(group__key="Large")
    assert version.steps.count() == 100


class _FormValues(HTMLParser):
    """The values a browser would post from ``form#plan-edit`` (not its templates)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.values: dict[str, str] = {}
        self.in_form = self.in_template = False
        self.select: str | None = None
        self.textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.in_form = a.get("id") == "plan-edit"
        elif tag == "template":
            self.in_template = True
        if not self.in_form or self.in_template:
            return
        if tag == "input" and a.get("name"):
            if a.get("type") == "checkbox":
                if "checked" in a:
                    self.values[a["name"]] = "on"
            else:
                self.values[a["name"]] = a.get("value", "")
        elif tag == "select":
            self.select = a.get("name")
        elif tag == "option" and self.select and "selected" in a:
            self.values[self.select] = a.get("value", "")
        elif tag == "textarea":
            self.textarea = a.get("name")
            self.values[self.textarea or ""] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "template":
            self.in_template = False
        elif tag == "select":
            self.select = None
        elif tag == "textarea":
            self.textarea = None
        elif tag == "form":
            self.in_form = False

    def handle_data(self, data: str) -> None:
        if self.textarea:
            # Django's textarea starts with a newline the browser drops.
            self.values[self.textarea] += (
                data.removeprefix("\n") if not self.values[self.textarea] else data
            )


@pytest.mark.parametrize("key", [group.key for group in STEP_GROUPS])
def test_each_demo_group_posted_back_as_the_page_shows_it_is_the_same_version(
    designer: User, key: str
) -> None:
    demo = next(group for group in STEP_GROUPS if group.key == key)
    for other in STEP_GROUPS:  # cancel and amend groups may name each other
        step_group_version_save(
            key=other.key,
            name=other.name,
            steps=list(other.steps),
            dependencies=[{"step": step, "on": on} for step, on in other.dependencies],
        )
    first = StepGroupVersion.objects.get(group__key=key)
    client = login(designer)
    parser = _FormValues()
    parser.feed(client.get(f"/sheets/plans/groups/{demo.key}/edit/").content.decode())

    response = client.post(f"/sheets/plans/groups/{demo.key}/edit/", parser.values)

    assert response.status_code == 302, problems(response)
    second = StepGroupVersion.objects.get(group__key=key, number=2)
    assert step_group_version_payload(second) == step_group_version_payload(first)


def test_the_new_group_page_never_adds_a_version_to_an_existing_group(designer: User) -> None:
    two_step_group(designer)
    client = login(designer)
    before = table_rows()

    response = client.post(
        "/sheets/plans/new/", post_data([{"key": "a", "name": "A"}], key="Invoicing")
    )

    assert response.status_code == 400
    assert problems(response) == ["key: There is already a step group Invoicing: edit it."]
    assert table_rows() == before


def test_plans_is_the_current_page_in_the_navigation_on_plan_pages_and_sheets_is_not(
    designer: User,
) -> None:
    client = login(designer)

    plans = client.get("/sheets/plans/fallout-rules/").content.decode()
    sheets = client.get("/sheets/").content.decode()

    assert '<a href="/sheets/plans/" aria-current="page">Plans</a>' in plans
    assert '<a href="/sheets/" >Sheets</a>' in plans
    assert '<a href="/sheets/" aria-current="page">Sheets</a>' in sheets
    assert '<a href="/sheets/plans/" >Plans</a>' in sheets


VIP = "Order.CustomFields.Tier = VIP"


def manual_and_callout(rules: dict[str, str], **callout: str) -> dict[str, str]:
    """A group of a manual step with the rule rows ``rules`` (``rule-0-assignee``: ...)
    and a callout step, as the edit page posts it."""
    data = post_data(
        [
            {
                "key": "call",
                "name": "Call the customer",
                "type": "MANUAL",
                "handler": "start",
                "assignment": "CONDITIONS",
                "queue": "service-desk",
            },
            {
                "key": "book",
                "name": "Book a carrier",
                "type": "CALLOUT",
                "handler": "",
                "url": "https://carrier.example/bookings",
                "method": "PUT",
                "timeout_seconds": "20",
                **callout,
            },
        ],
        [("book", "call")],
    )
    data.update({f"step-0-{name}": value for name, value in rules.items()})
    return data


def test_assignment_rules_and_a_callouts_method_are_saved_and_shown_again(
    designer: User,
) -> None:
    User.objects.create_user("anna", password="x-pass-123")
    two_step_group(designer)
    client = login(designer)

    response = client.post(
        "/sheets/plans/groups/Invoicing/edit/",
        manual_and_callout(
            {
                "rule-0-assignee": "anna",
                "rule-0-queue": "",
                "rule-0-priority": "5",
                "rule-0-clauses": f"{VIP}\nOrder.Type = Sales",
                "rule-0-logic": "1 AND 2",
                # a blank row (the page always shows one) is no rule
                "rule-1-assignee": "",
                "rule-1-queue": "",
                "rule-1-priority": "",
                "rule-1-clauses": "",
                "rule-1-logic": "",
                "rule-2-assignee": "",
                "rule-2-queue": "vip-desk",
                "rule-2-priority": "",
                "rule-2-clauses": "",
                "rule-2-logic": "",
            }
        ),
    )

    assert response.status_code == 302, problems(response)
    version = StepGroupVersion.objects.get(group__key="Invoicing", number=2)
    call, book = version.steps.order_by("position")
    assert (call.assignment, call.queue) == ("CONDITIONS", "service-desk")
    assert call.assignment_rules == [
        {
            "condition": {
                "clauses": [
                    {"field": "Order.CustomFields.Tier", "operator": "=", "value": "VIP"},
                    {"field": "Order.Type", "operator": "=", "value": "Sales"},
                ],
                "logic": "1 AND 2",
            },
            "assignee": "anna",
            "priority": 5,
        },
        {"queue": "vip-desk", "priority": 0},
    ]
    assert (book.url, book.method, book.timeout_seconds) == (
        "https://carrier.example/bookings",
        "PUT",
        20,
    )
    # The group page lists them; the edit page shows them again, and posted back as
    # shown they are the same version.
    group = client.get("/sheets/plans/groups/Invoicing/").content.decode()
    call_row = group.split('data-step="call"', 1)[1].split("</tr>", 1)[0]
    assert (
        '<div class="muted assignment">Conditions with priority over <code>service-desk</code>'
        '<ol class="rules"><li>anna if 1. Order.CustomFields.Tier = VIP; 2. Order.Type = '
        "Sales (1 AND 2), priority 5</li><li>queue vip-desk, priority 0</li></ol></div>"
    ) in call_row
    book_row = group.split('data-step="book"', 1)[1].split("</tr>", 1)[0]
    assert "<td>PUT https://carrier.example/bookings (20 s)</td>" in book_row
    page = client.get("/sheets/plans/groups/Invoicing/edit/").content.decode()
    assert 'name="step-0-rule-0-assignee" value="anna"' in page
    assert 'name="step-0-rule-1-queue" value="vip-desk"' in page
    assert 'name="step-0-rule-2-assignee"' in page  # one blank row to type into
    assert '<option value="PUT" selected>PUT</option>' in page
    parser = _FormValues()
    parser.feed(page)
    again = client.post("/sheets/plans/groups/Invoicing/edit/", parser.values)
    assert again.status_code == 302, problems(again)
    third = StepGroupVersion.objects.get(group__key="Invoicing", number=3)
    assert step_group_version_payload(third) == step_group_version_payload(version)


def test_a_bad_assignment_rule_is_named_by_step_rule_and_field_with_a_caret_and_nothing_is_saved(
    designer: User,
) -> None:
    two_step_group(designer)
    client = login(designer)
    before = table_rows()

    response = client.post(
        "/sheets/plans/groups/Invoicing/edit/",
        manual_and_callout(
            {
                "rule-0-assignee": "",
                "rule-0-queue": "vip-desk",
                "rule-0-priority": "5",
                "rule-0-clauses": VIP,
                "rule-0-logic": "1 AND",
                "rule-1-assignee": "nobody-here",
                "rule-1-queue": "",
                "rule-1-priority": "1",
                "rule-1-clauses": "",
                "rule-1-logic": "",
            },
            timeout_seconds="0",
        ),
    )

    assert response.status_code == 400
    assert problems(response) == [
        "Step call (row 1), assignment_rules[1].condition.logic, column 6: expected a clause "
        "number, '(' or NOT, got the end of the logic",
        "Step call (row 1), assignment_rules[2].assignee: rule 2: there is no active user "
        "'nobody-here'",
        "Step book (row 2), timeout_seconds: timeout_seconds is 0: a callout waits from 1 to "
        "300 seconds for its answer",
    ]
    page = response.content.decode()
    assert '<pre class="caret">1 AND\n     ^</pre>' in page
    assert 'name="step-0-rule-0-logic" value="1 AND"' in page  # what was typed stays
    assert table_rows() == before


def test_a_rule_or_method_the_form_cannot_take_is_named_with_its_row_and_nothing_is_saved(
    designer: User,
) -> None:
    two_step_group(designer)
    client = login(designer)
    before = table_rows()

    response = client.post(
        "/sheets/plans/groups/Invoicing/edit/",
        manual_and_callout(
            {
                "rule-0-assignee": "anna",
                "rule-0-queue": "",
                "rule-0-priority": "2000000",
                "rule-0-clauses": "",
                "rule-0-logic": "",
            },
            method="GET",
        ),
    )

    assert response.status_code == 400
    assert problems(response) == [
        "Step call (row 1), assignment_rules[1].priority: Ensure this value is less than or "
        "equal to 1000000.",
        "Step book (row 2), method: Select a valid choice. GET is not one of the available "
        "choices.",
    ]
    assert table_rows() == before
