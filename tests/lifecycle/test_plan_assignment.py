"""Manual plan steps assigned by their definition's rule (``services/plan_assignment.py``):
round robin over a shop's staff continuing from the last assignee, least loaded,
conditions by priority, and a queue nobody is in; each assignment on the timeline."""

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.utils import timezone

from orchestration.models import (
    Assignment,
    Order,
    OrganizationUnit,
    PlanStep,
    PlanTransition,
    StepDefinition,
    StepState,
    StepType,
)
from orchestration.selectors.network import network_changed
from orchestration.services.plan_assignment import plan_step_assign

pytestmark = pytest.mark.django_db

SHOP = "shop:1187"


def staff(*names: str) -> list[User]:
    """Users working at Kalverstraat (1187), besides the demo's kalverstraat."""
    shop = OrganizationUnit.objects.get(backend_id="1187")
    users = [User.objects.create_user(name, password="x-pass-123") for name in names]
    shop.staff.add(*users)
    return users


def start_step(order: Order) -> PlanStep:
    return PlanStep.objects.select_related("definition", "plan__order").get(
        plan__order=order, definition__key="start"
    )


def configure(**fields: Any) -> None:
    """The demo's ship-from-store Start step gets the assignment ``fields`` (an update
    sends no signal: the plans' catalogue in the network snapshot is told it changed)."""
    StepDefinition.objects.filter(
        version__group__key="ShipFromStore", key="start", type=StepType.MANUAL
    ).update(**fields)
    network_changed()


def assign(order: Order) -> str | None:
    """Who the order's Start step was assigned to when its plan was built (Ready)."""
    user = start_step(order).assignee
    return user.get_username() if user else None


def test_round_robin_goes_through_the_shops_staff_in_username_order_and_wraps(
    place: Callable[..., Order],
) -> None:
    staff("anna", "zoe")
    configure(assignment=Assignment.ROUND_ROBIN, queue=SHOP)

    assigned = [assign(place("SNK-CANVAS-WHT")) for _ in range(4)]

    assert assigned == ["anna", "kalverstraat", "zoe", "anna"]
    last = PlanTransition.objects.filter(actor="system:assignment").order_by("id").last()
    assert last is not None
    assert last.message == "Start: assigned to anna (round robin over shop:1187)."
    assert (last.from_state, last.to_state) == (StepState.READY, StepState.READY)


def test_round_robin_continues_after_the_last_assignee_even_one_who_left_the_queue(
    place: Callable[..., Order],
) -> None:
    (anna, _) = staff("anna", "zoe")
    configure(assignment=Assignment.ROUND_ROBIN, queue=SHOP)
    assert assign(place("SNK-CANVAS-WHT")) == "anna"
    OrganizationUnit.objects.get(backend_id="1187").staff.remove(anna)

    assert assign(place("SNK-CANVAS-WHT")) == "kalverstraat"  # the next name after anna


def test_least_loaded_takes_the_user_with_fewest_open_manual_steps_first_name_on_a_tie(
    place: Callable[..., Order],
) -> None:
    anna, _ = staff("anna", "zoe")
    busy = place("SNK-CANVAS-WHT")
    PlanStep.objects.filter(plan__order=busy, definition__key="start").update(assignee=anna)
    done = place("SNK-CANVAS-WHT")  # a completed step is no load
    PlanStep.objects.filter(plan__order=done, definition__key="start").update(
        assignee=User.objects.get(username="kalverstraat"), state=StepState.COMPLETED
    )
    configure(assignment=Assignment.LEAST_LOADED, queue=SHOP)

    order = place("SNK-CANVAS-WHT")
    assert assign(order) == "kalverstraat"
    assert start_step(order).queue == SHOP
    assert assign(place("SNK-CANVAS-WHT")) == "zoe"  # anna 1, kalverstraat 1, zoe 0
    message = PlanTransition.objects.filter(actor="system:assignment").last()
    assert message is not None
    assert message.message == "Start: assigned to zoe (least loaded in shop:1187: 0 open steps)."


def test_conditions_take_the_first_rule_by_priority_whose_condition_holds(
    place: Callable[..., Order],
) -> None:
    staff("anna", "zoe")
    Group.objects.create(name="vip-desk")
    vip = {
        "clauses": [{"field": "Order.CustomFields.Tier", "operator": "=", "value": "VIP"}],
        "logic": "ALL",
    }
    configure(
        assignment=Assignment.CONDITIONS,
        queue=SHOP,
        assignment_rules=[
            {"assignee": "anna", "priority": 1},  # no condition: always holds
            {"condition": vip, "assignee": "zoe", "priority": 5},
            {"condition": vip, "assignee": "kalverstraat", "priority": 5},
            {"condition": {"clauses": [], "logic": "(1"}, "assignee": "nobody", "priority": 9},
        ],
    )

    assert assign(place("SNK-CANVAS-WHT", custom_fields={"Tier": "VIP"})) == "zoe"
    assert assign(place("SNK-CANVAS-WHT", custom_fields={"Tier": "Basic"})) == "anna"
    messages = list(
        PlanTransition.objects.filter(actor="system:assignment")
        .order_by("id")
        .values_list("message", flat=True)
    )
    assert messages == [
        "Start: assigned to zoe (rule 2, priority 5, holds).",
        "Start: assigned to anna (rule 1, priority 1, holds).",
    ]


def test_a_stored_rule_of_the_wrong_shape_is_passed_over_and_the_order_is_routed(
    place: Callable[..., Order],
) -> None:
    """Saves refuse such rules now; versions saved before keep theirs (never edited)."""
    staff("anna", "zoe")
    configure(
        assignment=Assignment.CONDITIONS,
        queue=SHOP,
        assignment_rules=[
            {"condition": "x", "assignee": "nobody", "priority": 9},
            {"condition": {"clauses": "x"}, "assignee": "nobody", "priority": 8},
            {"assignee": "zoe", "priority": "high"},
            {"assignee": "anna"},
        ],
    )

    order = place("SNK-CANVAS-WHT")

    assert order.status == "Routed"
    assert assign(order) == "anna"


def test_a_conditions_rule_may_send_the_step_to_a_queue_and_none_holding_leaves_it_unassigned(
    place: Callable[..., Order],
) -> None:
    vip = {
        "clauses": [{"field": "Order.CustomFields.Tier", "operator": "=", "value": "VIP"}],
        "logic": "ALL",
    }
    configure(
        assignment=Assignment.CONDITIONS,
        queue="",
        assignment_rules=[{"condition": vip, "queue": "vip-desk", "priority": 1}],
    )

    vip_order = place("SNK-CANVAS-WHT", custom_fields={"Tier": "VIP"})
    assert assign(vip_order) is None
    assert (start_step(vip_order).assignee, start_step(vip_order).queue) == (None, "vip-desk")
    assert assign(place("SNK-CANVAS-WHT")) is None
    messages = list(
        PlanTransition.objects.filter(actor="system:assignment")
        .order_by("id")
        .values_list("message", flat=True)
    )
    assert messages == [
        "Start: left in the queue vip-desk (rule 1, priority 1, holds).",
        "Start: not assigned (no assignment rule holds).",
    ]


def test_a_queue_nobody_is_in_leaves_the_step_there_and_no_rule_assigns_nothing(
    place: Callable[..., Order],
) -> None:
    configure(assignment=Assignment.ROUND_ROBIN, queue="shop:nowhere")
    order = place("SNK-CANVAS-WHT")
    assert assign(order) is None
    step = start_step(order)
    assert (step.assignee, step.queue) == (None, "shop:nowhere")

    configure(assignment=Assignment.NONE, queue="")
    before = PlanTransition.objects.count()
    assert assign(place("SNK-CANVAS-WHT")) is None
    assert PlanTransition.objects.count() == before + 3  # the new plan's own; no assignment


def test_a_group_is_a_queue_of_its_active_members(place: Callable[..., Order]) -> None:
    desk = Group.objects.create(name="returns-desk")
    ben, cleo = (User.objects.create_user(n, password="x-pass-123") for n in ("ben", "cleo"))
    desk.user_set.add(ben, cleo)
    ben.is_active = False
    ben.save()
    configure(assignment=Assignment.ROUND_ROBIN, queue="returns-desk")

    assert [assign(place("SNK-CANVAS-WHT")) for _ in range(2)] == ["cleo", "cleo"]


def test_a_step_nobody_assigns_costs_no_statement(
    place: Callable[..., Order], django_assert_num_queries: Any
) -> None:
    step = start_step(place("SNK-CANVAS-WHT"))  # the demo's: Assignment NONE

    with django_assert_num_queries(0):
        assert plan_step_assign(step=step, now=timezone.now()) is None
