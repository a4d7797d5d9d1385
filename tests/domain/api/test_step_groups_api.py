"""The plans' design over the API: ``/api/step-groups/`` (a new version, activate),
``/api/plan-scenarios/`` and ``/api/fallout-rules/``. The same service as the Suite: the
answers here are its versions and its refusals in the API's error shape, each problem
with its path, and nothing written on a refusal."""

from typing import Any

import pytest

from orchestration.models import FalloutRule, PlanScenario, StepGroupVersion
from tests.conftest import table_rows

pytestmark = pytest.mark.django_db


def auto(key: str, **fields: Any) -> dict[str, Any]:
    return {"key": key, "name": key.title(), "type": "AUTO_TASK", "handler": "succeed", **fields}


def version(**fields: Any) -> dict[str, Any]:
    return {
        "key": "Invoicing",
        "name": "Invoice and notify",
        "comment": "first",
        "steps": [auto("invoice"), auto("notify")],
        "dependencies": [{"step": "notify", "on": "invoice", "scope": "PLAN"}],
        **fields,
    }


def test_a_designer_saves_a_version_and_reads_it_back_as_sent(client_for, designer) -> None:
    client = client_for(designer)

    created = client.post("/api/step-groups/", version(), format="json")

    assert created.status_code == 201
    body = created.json()
    assert (body["number"], body["is_active"], body["comment"], body["created_by"]) == (
        1,
        True,
        "first",
        "designer",
    )
    assert body["dependencies"] == [{"step": "notify", "on": "invoice", "scope": "PLAN"}]
    assert body["steps"][1]["key"] == "notify"
    assert body["steps"][1]["retry_intervals"] == []
    group = client.get("/api/step-groups/Invoicing/").json()
    assert group["active_version"] == 1
    assert group["versions"][0]["steps"] == body["steps"]
    # A version read is a payload the service takes: sent back, it is the next version.
    again = client.post(
        "/api/step-groups/",
        version(steps=group["versions"][0]["steps"], comment="again"),
        format="json",
    )
    assert again.status_code == 201 and again.json()["number"] == 2
    listed = client.get("/api/step-groups/").json()["results"]
    assert [(g["key"], g["active_version"], len(g["versions"])) for g in listed] == [
        ("Invoicing", 2, 2)
    ]


def test_a_cycle_is_refused_in_the_error_shape_and_nothing_is_written(client_for, designer) -> None:
    client = client_for(designer)
    before = table_rows()

    response = client.post(
        "/api/step-groups/",
        version(
            dependencies=[{"step": "notify", "on": "invoice"}, {"step": "invoice", "on": "notify"}]
        ),
        format="json",
    )

    assert response.status_code == 400
    message = (
        "Step invoice: the dependencies make a cycle: invoice -> notify -> invoice (each step "
        "waits for the one before it, so none of them can start)"
    )
    assert response.json() == {
        "code": "invalid",
        "message": f"Not saved: 1 problem. {message}",
        "errors": [
            {"code": "DependencyCycle", "message": message, "field": "steps[0].dependencies"}
        ],
    }
    assert table_rows() == before


def test_every_problem_is_named_with_its_path(client_for, designer) -> None:
    client = client_for(designer)
    before = table_rows()

    response = client.post(
        "/api/step-groups/",
        version(
            steps=[
                auto("invoice", retry_kind="STAGGERED", retry_intervals=[1, 600_000]),
                auto(
                    "notify",
                    condition={
                        "clauses": [{"field": "Order.Type", "operator": "=", "value": "Sales"}],
                        "logic": "1 OR",
                    },
                ),
            ]
        ),
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "code": "TooLarge",
            "message": "Step invoice: retry intervals[2] is 600,000 minutes; at most 527,040 "
            "(a year) are allowed",
            "field": "steps[0].retry_intervals",
        },
        {
            "code": "InvalidLogic",
            "message": "Step notify: expected a clause number, '(' or NOT, got the end of "
            "the logic",
            "field": "steps[1].condition.logic",
            "column": 5,
        },
    ]
    assert table_rows() == before


def test_a_step_of_the_wrong_shape_is_named_not_a_500(client_for, designer) -> None:
    before = table_rows()

    response = client_for(designer).post(
        "/api/step-groups/",
        version(steps=[auto("invoice"), auto("notify", retry_intervals="x")]),
        format="json",
    )

    assert response.status_code == 400
    assert response.json() == {
        "code": "invalid",
        "message": "Not saved: 1 problem. Step notify, retry_intervals: a list of whole "
        "minutes, 0 or more, one per retry (like [1, 5, 15])",
        "errors": [
            {
                "code": "invalid",
                "message": "Step notify, retry_intervals: a list of whole minutes, 0 or more, "
                "one per retry (like [1, 5, 15])",
                "field": "steps[1].retry_intervals",
            }
        ],
    }
    assert table_rows() == before


def test_activating_an_older_version(client_for, designer) -> None:
    client = client_for(designer)
    client.post("/api/step-groups/", version(), format="json")
    client.post("/api/step-groups/", version(comment="second"), format="json")

    response = client.post("/api/step-groups/Invoicing/versions/1/activate/")

    assert response.status_code == 200
    assert (response.json()["number"], response.json()["is_active"]) == (1, True)
    assert list(StepGroupVersion.objects.order_by("number").values_list("number", "is_active")) == [
        (1, True),
        (2, False),
    ]
    missing = client.post("/api/step-groups/Invoicing/versions/7/activate/")
    assert missing.status_code == 404
    assert missing.json() == {
        "code": "not_found",
        "message": "Step group 'Invoicing' has no version 7.",
        "errors": [],
    }


def test_integrations_read_the_design_but_may_not_change_it(client_for, designer, integrator):
    client_for(designer).post("/api/step-groups/", version(), format="json")
    client = client_for(integrator)
    before = table_rows()

    assert client.get("/api/step-groups/Invoicing/").status_code == 200
    refused = client.post("/api/step-groups/", version(comment="mine"), format="json")

    assert refused.status_code == 403
    assert refused.json() == {
        "code": "permission_denied",
        "message": "You need the permission Plans:Design for this.",
        "errors": [],
    }
    assert table_rows() == before


def test_scenarios_are_created_changed_and_deleted(client_for, designer) -> None:
    client = client_for(designer)
    client.post("/api/step-groups/", version(), format="json")

    created = client.post(
        "/api/plan-scenarios/",
        {"group": "Invoicing", "action": "SHIP_FROM_STORE", "priority": 20},
        format="json",
    )
    assert created.status_code == 201
    scenario = created.json()
    assert scenario == {
        "id": scenario["id"],
        "group": "Invoicing",
        "action": "SHIP_FROM_STORE",
        "condition": None,
        "priority": 20,
        "is_active": True,
    }
    changed = client.patch(
        f"/api/plan-scenarios/{scenario['id']}/", {"priority": 30}, format="json"
    )
    assert changed.status_code == 200 and changed.json()["priority"] == 30
    assert client.delete(f"/api/plan-scenarios/{scenario['id']}/").status_code == 204
    assert not PlanScenario.objects.exists()


def test_a_scenario_with_bad_logic_is_refused_naming_the_column(client_for, designer) -> None:
    client = client_for(designer)
    client.post("/api/step-groups/", version(), format="json")
    before = table_rows()

    response = client.post(
        "/api/plan-scenarios/",
        {
            "group": "Invoicing",
            "action": "SHIP_FROM_STORE",
            "condition": {
                "clauses": [{"field": "Order.Type", "operator": "=", "value": "Sales"}],
                "logic": "1 AND 2",
            },
        },
        format="json",
    )

    assert response.status_code == 400
    message = "Scenario condition: clause 2 does not exist: the condition has 1 clause"
    assert response.json() == {
        "code": "UnknownClause",
        "message": message,
        "errors": [
            {"code": "UnknownClause", "message": message, "field": "condition.logic", "column": 7}
        ],
    }
    assert table_rows() == before


def test_a_scenario_for_an_unknown_group_is_refused(client_for, designer) -> None:
    response = client_for(designer).post(
        "/api/plan-scenarios/", {"group": "Nope", "action": "CANCEL"}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "code": "does_not_exist",
            "message": "Object with key=Nope does not exist.",
            "field": "group",
        }
    ]


def test_fallout_rules_are_created_changed_and_deleted(client_for, designer) -> None:
    client = client_for(designer)

    created = client.post(
        "/api/fallout-rules/", {"step_key": "carrier", "queue": "logistics"}, format="json"
    )
    assert created.status_code == 201
    rule = created.json()
    assert rule == {
        "id": rule["id"],
        "step_key": "carrier",
        "error_code": "",
        "queue": "logistics",
        "priority": 0,
    }
    changed = client.patch(f"/api/fallout-rules/{rule['id']}/", {"queue": "ops"}, format="json")
    assert changed.status_code == 200 and changed.json()["queue"] == "ops"
    blank = client.patch(f"/api/fallout-rules/{rule['id']}/", {"queue": "  "}, format="json")
    assert blank.status_code == 400
    assert blank.json()["errors"] == [
        {"code": "blank", "message": "This field may not be blank.", "field": "queue"}
    ]
    assert FalloutRule.objects.get().queue == "ops"
    assert client.delete(f"/api/fallout-rules/{rule['id']}/").status_code == 204


def test_the_schema_documents_the_plan_endpoints(client_for, designer) -> None:
    paths = client_for(designer).get("/api/schema/?format=json").json()["paths"]

    assert {
        "/api/step-groups/",
        "/api/step-groups/{key}/",
        "/api/step-groups/{key}/versions/{number}/activate/",
        "/api/plan-scenarios/",
        "/api/plan-scenarios/{id}/",
        "/api/fallout-rules/",
        "/api/fallout-rules/{id}/",
    } <= set(paths)


VIP = {
    "clauses": [{"field": "Order.CustomFields.Tier", "operator": "=", "value": "VIP"}],
    "logic": "ALL",
}


def manual(key: str, **fields: Any) -> dict[str, Any]:
    return {"key": key, "name": key.title(), "type": "MANUAL", "handler": "start", **fields}


def callout(key: str, **fields: Any) -> dict[str, Any]:
    return {
        "key": key,
        "name": key.title(),
        "type": "CALLOUT",
        "url": "https://carrier.example/bookings",
        **fields,
    }


def test_assignment_rules_and_a_put_callout_are_saved_and_read_back_as_sent(
    client_for, designer
) -> None:
    from django.contrib.auth.models import User

    User.objects.create_user("anna", password="x-pass-123")
    rules = [
        {"condition": VIP, "assignee": "anna", "priority": 5},
        {"queue": "service-desk", "priority": 1},
    ]
    client = client_for(designer)

    created = client.post(
        "/api/step-groups/",
        version(
            steps=[
                manual("call", assignment="CONDITIONS", assignment_rules=rules),
                callout("book", method="PUT", timeout_seconds=30),
            ],
            dependencies=[{"step": "book", "on": "call", "scope": "PLAN"}],
        ),
        format="json",
    )

    assert created.status_code == 201, created.json()
    call, book = created.json()["steps"]
    assert (call["assignment"], call["assignment_rules"]) == ("CONDITIONS", rules)
    assert (book["method"], book["timeout_seconds"], book["url"]) == (
        "PUT",
        30,
        "https://carrier.example/bookings",
    )
    read = client.get("/api/step-groups/Invoicing/").json()["versions"][0]["steps"]
    assert read == created.json()["steps"]


def test_a_bad_method_or_rule_shape_is_named_by_its_path_and_nothing_is_written(
    client_for, designer
) -> None:
    before = table_rows()

    response = client_for(designer).post(
        "/api/step-groups/",
        version(
            steps=[
                manual(
                    "call",
                    assignment="CONDITIONS",
                    assignment_rules=[{"assignee": "anna"}, {"assignee": "zoe", "order": 1}],
                ),
                callout("book", method="GET"),
            ]
        ),
        format="json",
    )

    assert response.status_code == 400
    assert [(e["field"], e["message"]) for e in response.json()["errors"]] == [
        (
            "steps[0].assignment_rules[2].order",
            "Step call, assignment_rules[2].order: unknown field 'order' (a rule has "
            "condition, assignee or queue, priority)",
        ),
        (
            "steps[1].method",
            "Step book, method: 'GET' is not a callout's method: one of POST, PUT, PATCH, DELETE",
        ),
    ]
    assert table_rows() == before


def test_a_bad_rule_condition_or_callout_is_refused_naming_step_field_and_column(
    client_for, designer
) -> None:
    before = table_rows()

    response = client_for(designer).post(
        "/api/step-groups/",
        version(
            steps=[
                manual(
                    "call",
                    assignment="CONDITIONS",
                    assignment_rules=[
                        {"condition": {**VIP, "logic": "(1"}, "queue": "vip-desk"},
                        {"assignee": "anna", "queue": "vip-desk"},
                        {"assignee": "ghost"},
                    ],
                ),
                manual("pick", handler="pick", assignment="ROUND_ROBIN"),
                manual("pack", handler="pack", assignment="CONDITIONS"),
                manual("ship", handler="ship", assignment_rules=[{"queue": "desk"}]),
                callout("book", url="", timeout_seconds=301),
            ],
            dependencies=[],
        ),
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "code": "UnbalancedParentheses",
            "message": "Step call: this '(' is never closed",
            "field": "steps[0].assignment_rules[1].condition.logic",
            "column": 1,
        },
        {
            "code": "InvalidRule",
            "message": "Step call: rule 2 gives the step to a user (assignee) and to a queue: "
            "name one of them",
            "field": "steps[0].assignment_rules[2]",
        },
        {
            "code": "UnknownAssignee",
            "message": "Step call: rule 3: there is no active user 'ghost'",
            "field": "steps[0].assignment_rules[3].assignee",
        },
        {
            "code": "MissingQueue",
            "message": "Step pick: a ROUND_ROBIN assignment needs a queue to choose from: "
            "shop:<backend ID> (the shop's staff) or the name of a group of users",
            "field": "steps[1].queue",
        },
        {
            "code": "MissingRules",
            "message": "Step pack: a CONDITIONS assignment needs rules: a condition and the "
            "user or queue that gets the step when it holds",
            "field": "steps[2].assignment_rules",
        },
        {
            "code": "RulesNotUsed",
            "message": "Step ship: only a CONDITIONS assignment has rules; this one is NONE: "
            "choose CONDITIONS, or remove the rules",
            "field": "steps[3].assignment_rules",
        },
        {
            "code": "MissingUrl",
            "message": "Step book: a Callout step needs a URL: the address it calls",
            "field": "steps[4].url",
        },
        {
            "code": "InvalidTimeout",
            "message": "Step book: timeout_seconds is 301: a callout waits from 1 to 300 "
            "seconds for its answer",
            "field": "steps[4].timeout_seconds",
        },
    ]
    assert table_rows() == before


def test_an_auto_task_naming_no_registered_handler_is_refused_a_manual_step_may_name_its_own(
    client_for, designer
) -> None:
    client = client_for(designer)
    before = table_rows()

    refused = client.post(
        "/api/step-groups/",
        version(steps=[auto("invoice", handler="sucess")], dependencies=[]),
        format="json",
    )

    assert refused.status_code == 400
    assert refused.json()["errors"] == [
        {
            "code": "UnknownHandler",
            "message": "Step invoice: no step handler named 'sucess': the registered ones are "
            "fail, succeed; the fulfilment's actions export, pack, pick, receive, ship, start",
            "field": "steps[0].handler",
        }
    ]
    assert table_rows() == before
    saved = client.post(
        "/api/step-groups/",
        version(steps=[manual("call", handler="call")], dependencies=[]),
        format="json",
    )
    assert saved.status_code == 201, saved.json()
