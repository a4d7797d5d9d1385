"""Designing plans (``services/step_groups.py``): a save makes the next version, checked
whole; a refusal names every problem by its path and writes nothing; a new version or an
activation changes new plans only; scenarios and fallout rules are checked likewise."""

from typing import Any

import pytest

from orchestration.errors import ApplicationError, NotFoundError
from orchestration.models import Order, Plan, StepGroupVersion
from orchestration.selectors.network import network_snapshot, network_token
from orchestration.services.step_groups import (
    fallout_rule_set,
    plan_scenario_set,
    step_group_version_activate,
    step_group_version_save,
)
from tests.conftest import table_rows

pytestmark = pytest.mark.django_db


def auto(key: str, **fields: Any) -> dict[str, Any]:
    return {"key": key, "name": key.title(), "type": "AUTO_TASK", "handler": "succeed", **fields}


def save(*steps: dict[str, Any], dependencies: Any = (), **fields: Any) -> StepGroupVersion:
    return step_group_version_save(
        key=fields.pop("key", "Invoicing"),
        name=fields.pop("name", "Invoicing"),
        steps=list(steps),
        dependencies=list(dependencies),
        **fields,
    )


def refusal(*steps: Any, dependencies: Any = (), **fields: Any) -> ApplicationError:
    before = table_rows()
    with pytest.raises(ApplicationError) as refused:
        save(*steps, dependencies=dependencies, **fields)
    assert table_rows() == before, "a refused save wrote something"
    return refused.value


def active_version_of_new_plans() -> int:
    (entry,) = network_snapshot(network_token()).plan_scenarios
    assert entry.version is not None
    return StepGroupVersion.objects.get(pk=entry.version.id).number


def test_a_cycle_is_refused_naming_its_steps_and_nothing_is_written() -> None:
    save(auto("a"), auto("b"))  # version 1 exists: the refusal must not touch it

    error = refusal(
        auto("a"),
        auto("b"),
        dependencies=[{"step": "b", "on": "a"}, {"step": "a", "on": "b"}],
    )

    assert error.message == (
        "Not saved: 1 problem. Step a: the dependencies make a cycle: a -> b -> a (each step "
        "waits for the one before it, so none of them can start)"
    )
    assert error.errors == [
        {
            "code": "DependencyCycle",
            "message": "Step a: the dependencies make a cycle: a -> b -> a (each step waits "
            "for the one before it, so none of them can start)",
            "field": "steps[0].dependencies",
        }
    ]
    assert StepGroupVersion.objects.get().number == 1


def test_every_problem_is_named_by_its_path_as_the_payload_spells_it() -> None:
    error = refusal(
        auto("a", condition={"clauses": [{"field": "Order.Type", "operator": "="}], "logic": "1"}),
        auto("b", retry_kind="STAGGERED"),
    )

    assert [(e["code"], e["field"], e.get("column")) for e in error.errors] == [
        ("MissingValue", "steps[0].condition.clauses[1].value", None),
        ("InconsistentRetry", "steps[1].retry_intervals", None),
    ]


def test_a_logic_problem_names_its_column() -> None:
    error = refusal(
        auto(
            "a",
            condition={
                "clauses": [
                    {"field": "Order.Type", "operator": "=", "value": "Sales"},
                    {"field": "Order.Status", "operator": "=", "value": "Routed"},
                ],
                "logic": "(1 OR 2) AND 3",
            },
        )
    )

    assert error.errors == [
        {
            "code": "UnknownClause",
            "message": "Step a: clause 3 does not exist: the condition has 2 clauses",
            "field": "steps[0].condition.logic",
            "column": 14,
        }
    ]


@pytest.mark.parametrize(
    ("step", "field", "message"),
    [
        (
            auto("a", retry_intervals="5"),
            "steps[0].retry_intervals",
            "Step a, retry_intervals: a list of whole minutes, 0 or more, one per retry "
            "(like [1, 5, 15])",
        ),
        (
            auto("a", condition=["Order.Type"]),
            "steps[0].condition",
            'Step a, condition: a condition is an object: {"clauses": [...], "logic": "ALL"}',
        ),
        (
            auto("a", condition={"clauses": [{"field": 3, "operator": "="}]}),
            "steps[0].condition.clauses[1].field",
            "Step a, condition.clauses[1].field: the field is text",
        ),
        (
            auto("a", cancel_group="Nope"),
            "steps[0].cancel_group",
            "Step a, cancel_group: there is no step group 'Nope'",
        ),
        (
            auto("a", delay_minutes="soon"),
            "steps[0].delay_minutes",
            "Step a, delay_minutes: “soon” value must be an integer.",
        ),
        ("a", "steps[0]", "Step 1: a step is an object of its fields."),
        (
            auto("a", colour="red"),
            "steps[0].colour",
            "Step 1: unknown field 'colour'.",
        ),
    ],
)
def test_a_step_of_the_wrong_shape_is_refused_naming_its_field(
    step: Any, field: str, message: str
) -> None:
    error = refusal(step)

    assert [(e["field"], e["message"]) for e in error.errors] == [(field, message)]


def test_a_dependency_with_an_unknown_scope_is_refused_naming_it() -> None:
    error = refusal(
        auto("a"), auto("b"), dependencies=[{"step": "b", "on": "a", "scope": "GLOBAL"}]
    )

    assert error.errors == [
        {
            "code": "invalid",
            "message": "Dependency dependencies[0].scope: 'GLOBAL' is not a scope: one of "
            "PLAN, LINE, CROSS_PLAN.",
            "field": "dependencies[0].scope",
        }
    ]


def test_a_group_key_that_is_not_an_identifier_is_refused() -> None:
    error = refusal(auto("a"), key="ship from store")

    assert error.errors == [
        {
            "code": "invalid",
            "message": "key: Use letters, digits and underscores, starting with a letter or "
            "underscore.",
            "field": "key",
        }
    ]


def test_a_cancel_group_is_named_by_its_key() -> None:
    save(auto("undo"), key="Undo", name="Undo")

    version = save(auto("a", cancel_group="Undo"))

    assert version.steps.get().cancel_group.key == "Undo"  # type: ignore[union-attr]


def test_a_new_version_leaves_plans_in_flight_on_theirs() -> None:
    first = save(auto("invoice"))
    plan_scenario_set(group_key="Invoicing", action="SHIP_FROM_STORE")
    order = Order.objects.create(backend_id="ORDER-1")
    in_flight = Plan.objects.create(order=order, version=first, state="IN_PROGRESS")
    assert active_version_of_new_plans() == 1

    second = save(auto("invoice"), auto("notify"), comment="and notify")

    in_flight.refresh_from_db()
    first.refresh_from_db()
    assert in_flight.version_id == first.pk
    assert list(first.steps.values_list("key", flat=True)) == ["invoice"]
    assert (first.is_active, second.is_active, second.number) == (False, True, 2)
    assert active_version_of_new_plans() == 2


def test_a_version_saved_inactive_changes_nothing_until_activated() -> None:
    save(auto("invoice"))
    plan_scenario_set(group_key="Invoicing", action="SHIP_FROM_STORE")

    second = save(auto("invoice"), auto("notify"), activate=False)
    assert active_version_of_new_plans() == 1

    step_group_version_activate(version_id=second.pk)
    assert active_version_of_new_plans() == 2
    assert list(StepGroupVersion.objects.order_by("number").values_list("number", "is_active")) == [
        (1, False),
        (2, True),
    ]


def test_activating_an_older_version_makes_new_plans_take_it() -> None:
    first = save(auto("invoice"))
    save(auto("invoice"), auto("notify"))
    plan_scenario_set(group_key="Invoicing", action="SHIP_FROM_STORE")

    step_group_version_activate(version_id=first.pk)

    assert active_version_of_new_plans() == 1


def test_activating_a_version_that_does_not_exist_is_refused() -> None:
    with pytest.raises(NotFoundError) as refused:
        step_group_version_activate(version_id=999)
    assert refused.value.message == "There is no step group version 999."


def test_a_scenario_with_an_unknown_action_is_refused_naming_it() -> None:
    save(auto("a"))
    before = table_rows()

    with pytest.raises(ApplicationError) as refused:
        plan_scenario_set(group_key="Invoicing", action="SHIP")

    assert refused.value.field == "action"
    assert refused.value.message == (
        "'SHIP' is not an action: one of SHIP_FROM_STORE, EXPORT_ORDER, CANCEL, "
        "EXPORT_RETURN_ORDER."
    )
    assert table_rows() == before


def test_a_scenario_condition_of_the_wrong_shape_is_refused_naming_its_path() -> None:
    save(auto("a"))

    with pytest.raises(ApplicationError) as refused:
        plan_scenario_set(
            group_key="Invoicing", action="SHIP_FROM_STORE", condition={"clauses": "all"}
        )

    assert (refused.value.field, refused.value.message) == (
        "condition.clauses",
        "Scenario condition.clauses: the clauses are a list.",
    )


def test_a_fallout_rule_without_a_queue_is_refused() -> None:
    with pytest.raises(ApplicationError) as refused:
        fallout_rule_set(step_key="carrier", error_code="", queue="  ")

    assert (refused.value.field, refused.value.message) == (
        "queue",
        "A fallout rule names a queue.",
    )


def test_a_fallout_rule_for_the_same_step_and_code_replaces_the_old_one() -> None:
    fallout_rule_set(step_key="carrier", error_code="Timeout", queue="logistics")

    rule = fallout_rule_set(step_key="carrier", error_code="Timeout", queue="carriers", priority=3)

    assert (rule.queue, rule.priority) == ("carriers", 3)
    assert type(rule).objects.count() == 1


def callout(url: str, **fields: Any) -> dict[str, Any]:
    return {"key": "book", "name": "Book", "type": "CALLOUT", "url": url, **fields}


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "http://169.254.169.254/latest/meta-data/",
            "callouts may not go to 169.254.169.254: it is a link-local address, where cloud "
            "metadata services answer",
        ),
        (
            "http://[fe80::1]:8080/",
            "callouts may not go to fe80::1: it is a link-local address, where cloud metadata "
            "services answer",
        ),
        (
            "http://[::ffff:169.254.169.254]/",
            "callouts may not go to 169.254.169.254: it is a link-local address, where cloud "
            "metadata services answer",
        ),
        ("http://0.0.0.0/", "callouts may not go to 0.0.0.0: it is the unspecified address"),
        (
            "http://Metadata.Google.Internal./computeMetadata/v1/",
            "callouts may not go to metadata.google.internal: it is a cloud metadata service",
        ),
        (
            "http://100.100.100.200/",
            "callouts may not go to 100.100.100.200: it is a cloud metadata service",
        ),
        ("file:///etc/passwd", "Enter a valid URL."),
    ],
)
def test_a_callout_to_a_metadata_or_link_local_address_is_refused_and_nothing_is_written(
    url: str, message: str
) -> None:
    error = refusal(callout(url))

    assert error.errors == [
        {"code": "invalid", "message": f"Step book, url: {message}", "field": "steps[0].url"}
    ]


def test_a_callout_to_a_private_or_loopback_address_is_saved() -> None:
    save(callout("http://10.0.0.7/bookings"), callout("http://127.0.0.1:8080/", key="b"))


def test_a_callout_to_another_scheme_is_refused_naming_its_url() -> None:
    error = refusal(callout("ftp://example.com/"))

    assert error.errors == [
        {
            "code": "MissingUrl",
            "message": "Step book: a callout's URL is an http:// or https:// address",
            "field": "steps[0].url",
        }
    ]


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        (
            {"timeout_seconds": 0},
            "timeout_seconds",
            "Step book: timeout_seconds is 0: a callout waits from 1 to 300 seconds for its answer",
        ),
        (
            {"timeout_seconds": 10**9},
            "timeout_seconds",
            "Step book: timeout_seconds is 1,000,000,000: a callout waits from 1 to 300 "
            "seconds for its answer",
        ),
        (
            {"method": "TRACE"},
            "method",
            "Step book, method: 'TRACE' is not a callout's method: one of POST, PUT, PATCH, DELETE",
        ),
        (
            {"method": "post"},
            "method",
            "Step book, method: 'post' is not a callout's method: one of POST, PUT, PATCH, DELETE",
        ),
    ],
)
def test_a_callout_timeout_or_method_out_of_bounds_is_refused_naming_it(
    fields: dict[str, Any], field: str, message: str
) -> None:
    error = refusal(callout("https://carrier.example/bookings", **fields))

    assert [(e["field"], e["message"]) for e in error.errors] == [(f"steps[0].{field}", message)]


def test_an_auto_task_timeout_is_bounded_too() -> None:
    error = refusal(auto("a", timeout_seconds=10**9))

    assert [(e["field"], e["message"]) for e in error.errors] == [
        ("steps[0].timeout_seconds", "Step a, timeout_seconds: a timeout is 1 to 300 seconds")
    ]


def test_a_fallout_rule_for_a_step_key_that_is_no_identifier_is_refused() -> None:
    before = table_rows()
    with pytest.raises(ApplicationError) as refused:
        fallout_rule_set(step_key="book carrier", error_code="", queue="logistics")

    assert (refused.value.field, refused.value.message) == (
        "step_key",
        "step_key: Use letters, digits and underscores, starting with a letter or underscore.",
    )
    assert table_rows() == before


@pytest.mark.parametrize(
    ("step", "field", "message"),
    [
        (
            auto(
                "a",
                condition={
                    "clauses": [{"field": "Order.Typ", "operator": "=", "value": "Sales"}],
                    "logic": "ALL",
                },
            ),
            "steps[0].condition.clauses[1].field",
            "Step a, condition.clauses[1].field: unknown field 'Order.Typ' (a clause that "
            "reads it would never hold): use Order.BackendID, Order.CustomerEmail, "
            "Order.RequestedFulfillmentOption, Order.ShippingAddress.City, "
            "Order.ShippingAddress.CountryID, Order.ShippingAddress.IsPickupPoint, "
            "Order.Status, Order.Type, Line.Product.BackendID, Line.Product.Name, "
            "Line.Quantity, Order.CustomFields.<name> or Line.Product.Content.<name>",
        ),
        (
            auto("a", delay_from="field:Order.CustomFields."),
            "steps[0].delay_from",
            "Step a, delay_from: unknown field 'Order.CustomFields.' (a clause that reads it "
            "would never hold): use Order.BackendID, Order.CustomerEmail, "
            "Order.RequestedFulfillmentOption, Order.ShippingAddress.City, "
            "Order.ShippingAddress.CountryID, Order.ShippingAddress.IsPickupPoint, "
            "Order.Status, Order.Type, Line.Product.BackendID, Line.Product.Name, "
            "Line.Quantity, Order.CustomFields.<name> or Line.Product.Content.<name>",
        ),
    ],
)
def test_a_condition_or_delay_reading_an_unknown_field_is_refused_naming_it(
    step: dict[str, Any], field: str, message: str
) -> None:
    error = refusal(step)

    assert [(e["field"], e["message"]) for e in error.errors] == [(field, message)]


def test_a_scenario_reading_an_unknown_field_is_refused_and_nothing_is_written() -> None:
    save(auto("a"))
    before = table_rows()

    with pytest.raises(ApplicationError) as refused:
        plan_scenario_set(
            group_key="Invoicing",
            action="SHIP_FROM_STORE",
            condition={
                "clauses": [{"field": "Line.Product.Colour", "operator": "=", "value": "red"}],
                "logic": "ALL",
            },
        )

    assert refused.value.field == "condition.clauses[1].field"
    assert refused.value.message.startswith(
        "Scenario condition.clauses[1].field: unknown field 'Line.Product.Colour' (a clause "
        "that reads it "
        "would never hold): use Order.BackendID,"
    )
    assert table_rows() == before


def manual(**fields: Any) -> dict[str, Any]:
    return {
        "key": "call",
        "name": "Call",
        "type": "MANUAL",
        "handler": "call",
        "assignment": "CONDITIONS",
        "queue": "desk",
        **fields,
    }


SALES = {"clauses": [{"field": "Order.Type", "operator": "=", "value": "Sales"}], "logic": "ALL"}


@pytest.mark.parametrize(
    ("rules", "field", "message"),
    [
        ("x", "steps[0].assignment_rules", "Step call, assignment_rules: a list of rules"),
        (
            ["x"],
            "steps[0].assignment_rules[1]",
            'Step call, assignment_rules[1]: a rule is an object: {"condition": {...}, '
            '"assignee": "anna", "priority": 5} (or "queue" instead of "assignee")',
        ),
        (
            [{"assignee": "anna", "colour": "red"}],
            "steps[0].assignment_rules[1].colour",
            "Step call, assignment_rules[1].colour: unknown field 'colour' (a rule has "
            "condition, assignee or queue, priority)",
        ),
        (
            [{"condition": SALES}],
            "steps[0].assignment_rules[1]",
            "Step call: rule 1 names nobody: the user (assignee) or the queue that gets the step",
        ),
        (
            [{"assignee": "anna", "queue": "vip-desk"}],
            "steps[0].assignment_rules[1]",
            "Step call: rule 1 gives the step to a user (assignee) and to a queue: name one of "
            "them",
        ),
        (
            [{"assignee": 5}],
            "steps[0].assignment_rules[1].assignee",
            "Step call, assignment_rules[1].assignee: the assignee is text",
        ),
        (
            [{"assignee": "anna", "priority": 10**30}],
            "steps[0].assignment_rules[1].priority",
            "Step call, assignment_rules[1].priority: the priority is a whole number from "
            "-1,000,000 to 1,000,000",
        ),
        (
            [{"assignee": "anna", "condition": "x"}],
            "steps[0].assignment_rules[1].condition",
            'Step call, assignment_rules[1].condition: a condition is an object: {"clauses": '
            '[...], "logic": "ALL"}',
        ),
    ],
)
def test_an_assignment_rule_of_the_wrong_shape_is_refused_naming_its_path(
    rules: Any, field: str, message: str
) -> None:
    """Rules counted from 1, as the timeline's "rule 2" counts them."""
    error = refusal(manual(assignment_rules=rules))

    assert [(e["field"], e["message"]) for e in error.errors] == [(field, message)]


def test_an_assignment_rule_with_broken_logic_is_refused_with_its_column() -> None:
    broken = {**SALES, "logic": "(1 OR"}

    error = refusal(
        manual(assignment_rules=[{"queue": "desk"}, {"queue": "vip", "condition": broken}])
    )

    assert error.errors == [
        {
            "code": "UnbalancedParentheses",
            "message": "Step call: this '(' is never closed",
            "field": "steps[0].assignment_rules[2].condition.logic",
            "column": 1,
        }
    ]


def test_an_order_step_reading_a_lines_field_is_refused_and_a_line_step_may() -> None:
    quantity = {
        "clauses": [{"field": "Line.Quantity", "operator": ">", "value": 1}],
        "logic": "ALL",
    }

    error = refusal(auto("a", condition=quantity))

    assert [(e["field"], e["message"]) for e in error.errors] == [
        (
            "steps[0].condition.clauses[1].field",
            "Step a, condition.clauses[1].field: Line.Quantity is a line's field: an ORDER "
            "step has no line, so the clause would never hold (make the step's scope LINE)",
        )
    ]
    save(auto("a", condition=quantity, scope="LINE"))
