"""``advance``: which steps move on, why, and when; plan states and jeopardy.

Each test plays the caller: it applies the transitions ``advance`` returns and
completes the steps a worker or a person would, with a clock it sets.
"""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from orchestration.plans.model import (
    Clause,
    Condition,
    DependencyScope,
    DependencySpec,
    GroupSpec,
    PlanState,
    Scope,
    StepSpec,
    StepState,
    StepType,
)
from orchestration.plans.runtime import (
    StepRun,
    Transition,
    advance,
    at_risk,
    freeze,
    plan_state,
)

PLACED = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
PENDING, READY, SCHEDULED = StepState.PENDING, StepState.READY, StepState.SCHEDULED
IN_PROGRESS, COMPLETED, SKIPPED = StepState.IN_PROGRESS, StepState.COMPLETED, StepState.SKIPPED


def spec(key: str, **fields: Any) -> StepSpec:
    fields.setdefault("type", StepType.AUTO_TASK)
    fields.setdefault("handler", key)
    return StepSpec(key, key.title(), **fields)


def dep(step: str, on: str, scope: str = "PLAN") -> DependencySpec:
    return DependencySpec(step, on, DependencyScope(scope))


class Plan:
    """A plan's runs, kept as the caller keeps them."""

    def __init__(self, group: GroupSpec, lines: tuple[int, ...] = ()) -> None:
        self.group = group
        self.runs: list[StepRun] = []
        for step in group.steps:
            for line in lines if step.scope is Scope.LINE else (None,):
                self.runs.append(StepRun(len(self.runs) + 1, step.key, line, PENDING))
        self.record: dict[str, object] = {}
        self.lines: dict[int, dict[str, object]] = {}
        self.cross_plan: frozenset[str] = frozenset()

    def id(self, key: str, line: int | None = None) -> int:
        return next(r.id for r in self.runs if r.key == key and r.line == line)

    def state(self, key: str, line: int | None = None) -> StepState:
        return next(r.state for r in self.runs if r.key == key and r.line == line)

    def set(self, key: str, state: StepState, now: datetime, line: int | None = None) -> None:
        index = next(i for i, r in enumerate(self.runs) if r.key == key and r.line == line)
        run = self.runs[index]
        self.runs[index] = replace(
            run,
            state=state,
            started_at=run.started_at or now,
            completed_at=now if state is COMPLETED else run.completed_at,
        )

    def advance(self, now: datetime) -> list[Transition]:
        transitions = advance(
            self.group,
            self.runs,
            self.record,
            now,
            PLACED,
            lines=self.lines,
            cross_plan=self.cross_plan,
        )
        for t in transitions:
            index = next(i for i, r in enumerate(self.runs) if r.id == t.step_id)
            run = self.runs[index]
            assert run.state is t.from_state
            self.runs[index] = replace(
                run,
                state=t.to_state,
                next_run_at=t.next_run_at,
                started_at=now if t.to_state is IN_PROGRESS else run.started_at,
                completed_at=now if t.to_state in (COMPLETED, SKIPPED) else run.completed_at,
            )
        return transitions

    def moves(self, now: datetime) -> list[tuple[str, StepState, StepState, str]]:
        keys = {r.id: r.key for r in self.runs}
        return [(keys[t.step_id], t.from_state, t.to_state, t.reason) for t in self.advance(now)]


def at(minutes: int) -> datetime:
    return PLACED + timedelta(minutes=minutes)


def test_a_diamond_becomes_ready_in_order() -> None:
    plan = Plan(
        GroupSpec(
            "g",
            (spec("a"), spec("b"), spec("c"), spec("d")),
            (dep("b", "a"), dep("c", "a"), dep("d", "b"), dep("d", "c")),
        )
    )
    assert plan.moves(at(0)) == [("a", PENDING, READY, "no dependencies")]
    assert plan.moves(at(1)) == []
    plan.set("a", COMPLETED, at(2))
    assert plan.moves(at(2)) == [
        ("b", PENDING, READY, "dependencies done"),
        ("c", PENDING, READY, "dependencies done"),
    ]
    plan.set("b", COMPLETED, at(3))
    assert plan.moves(at(3)) == []
    plan.set("c", COMPLETED, at(4))
    assert plan.moves(at(4)) == [("d", PENDING, READY, "dependencies done")]
    assert plan_state(plan.runs) is PlanState.IN_PROGRESS
    plan.set("d", COMPLETED, at(5))
    assert plan_state(plan.runs) is PlanState.COMPLETED


def test_a_skipped_step_lets_its_dependants_run() -> None:
    condition = Condition(
        (
            Clause("Order.CustomFields.Channel", "=", "APP"),
            Clause("Order.Type", "=", "Sales"),
            Clause("Order.PaymentStatus", "=", "Paid"),
        ),
        "(1 OR 2) AND 3",
    )
    plan = Plan(GroupSpec("g", (spec("a", condition=condition), spec("b")), (dep("b", "a"),)))
    plan.record = {"Order.Type": "Sales", "Order.PaymentStatus": "Open"}
    assert plan.moves(at(0)) == [
        ("a", PENDING, SKIPPED, "condition (1 OR 2) AND 3 is false: skipped"),
        ("b", PENDING, READY, "dependencies done"),
    ]


def test_a_condition_is_evaluated_only_once_the_dependencies_are_done() -> None:
    condition = Condition((Clause("Order.PaymentStatus", "=", "Paid"),))
    plan = Plan(GroupSpec("g", (spec("a"), spec("b", condition=condition)), (dep("b", "a"),)))
    plan.advance(at(0))
    plan.record = {"Order.PaymentStatus": "Paid"}
    plan.set("a", COMPLETED, at(1))
    assert plan.moves(at(1)) == [("b", PENDING, READY, "dependencies done")]


def test_dependants_of_a_fatally_failed_canceled_or_discarded_step_stay_pending() -> None:
    for state in (StepState.FATALLY_FAILED, StepState.CANCELED, StepState.DISCARDED):
        plan = Plan(GroupSpec("g", (spec("a"), spec("b")), (dep("b", "a"),)))
        plan.advance(at(0))
        plan.set("a", state, at(1))
        assert plan.moves(at(1)) == []
        assert plan.state("b") is PENDING


def test_a_delay_from_the_order_placed_is_scheduled_then_ready_at_its_time() -> None:
    plan = Plan(GroupSpec("g", (spec("a", delay_minutes=60, delay_from="ORDER_PLACED"),)))
    transitions = plan.advance(at(30))
    assert transitions == [
        Transition(
            plan.id("a"),
            PENDING,
            SCHEDULED,
            at(60),
            "no dependencies: scheduled for 2026-12-06T11:00:00+00:00, 60 minutes after "
            "the order was placed",
        )
    ]
    assert plan.moves(at(59)) == []
    assert plan.moves(at(60)) == [("a", SCHEDULED, READY, "due")]


def test_a_delay_already_over_makes_the_step_ready_at_once() -> None:
    plan = Plan(GroupSpec("g", (spec("a", delay_minutes=1, delay_from="ORDER_PLACED"),)))
    assert plan.moves(at(5)) == [
        (
            "a",
            PENDING,
            READY,
            "no dependencies; due at 2026-12-06T10:01:00+00:00, 1 minute after the order "
            "was placed",
        )
    ]


def test_a_delay_from_the_dependencies_counts_from_the_last_one_done() -> None:
    plan = Plan(
        GroupSpec(
            "g",
            (spec("a"), spec("b"), spec("c", delay_minutes=30)),
            (dep("c", "a"), dep("c", "b")),
        )
    )
    plan.advance(at(0))
    plan.set("a", COMPLETED, at(10))
    plan.set("b", COMPLETED, at(20))
    transitions = plan.advance(at(25))
    assert [(t.to_state, t.next_run_at, t.reason) for t in transitions] == [
        (
            SCHEDULED,
            at(50),
            "dependencies done: scheduled for 2026-12-06T10:50:00+00:00, 30 minutes after "
            "its dependencies were done",
        )
    ]
    assert plan.moves(at(49)) == []
    assert plan.moves(at(50)) == [("c", SCHEDULED, READY, "due")]


def test_a_delay_from_a_date_field_counts_from_that_date() -> None:
    review = spec("review", delay_minutes=7 * 24 * 60, delay_from="field:Order.DeliveredAt")
    for delivered, due in [
        (datetime(2026, 12, 8, 9, 30, tzinfo=UTC), datetime(2026, 12, 15, 9, 30, tzinfo=UTC)),
        ("2026-12-08T09:30:00+00:00", datetime(2026, 12, 15, 9, 30, tzinfo=UTC)),
        ("2026-12-08T09:30", datetime(2026, 12, 15, 9, 30, tzinfo=UTC)),  # naive: now's zone
        (date(2026, 12, 8), datetime(2026, 12, 15, tzinfo=UTC)),
    ]:
        plan = Plan(GroupSpec("g", (review,)))
        plan.record = {"Order.DeliveredAt": delivered}
        (transition,) = plan.advance(at(0))
        assert (transition.to_state, transition.next_run_at) == (SCHEDULED, due)
        assert transition.reason == (
            f"no dependencies: scheduled for {due.isoformat()}, 10080 minutes after "
            "Order.DeliveredAt"
        )
        assert plan.moves(due - timedelta(seconds=1)) == []
        assert plan.moves(due) == [("review", SCHEDULED, READY, "due")]


def test_a_date_field_without_a_date_fails_the_step_for_a_person_to_see() -> None:
    review = spec("review", delay_minutes=5, delay_from="field:Order.DeliveredAt")
    plan = Plan(GroupSpec("g", (review,)))
    assert plan.moves(at(0)) == [
        (
            "review",
            PENDING,
            StepState.FATALLY_FAILED,
            "the delay counts from Order.DeliveredAt, which has no value",
        )
    ]
    plan = Plan(GroupSpec("g", (review,)))
    plan.record = {"Order.DeliveredAt": "next week"}
    assert plan.moves(at(0))[0][3] == (
        "the delay counts from Order.DeliveredAt, which is not a date: 'next week'"
    )
    plan = Plan(GroupSpec("g", (review,)))
    plan.record = {"Order.DeliveredAt": "9999-12-31T23:58:00+00:00"}
    assert plan.moves(at(0))[0][2:] == (
        StepState.FATALLY_FAILED,
        "the delay counts from Order.DeliveredAt, 9999-12-31T23:58:00+00:00, and ends after 9999",
    )


def test_a_date_whose_due_moment_no_time_zone_can_show_fails_the_step_and_builds() -> None:
    """A moment a day from the calendar's end is due in UTC but not in a zone east or
    west of it (stored, or shown in Amsterdam, it would overflow): the step fails for a
    person to see, rather than the plan (and the order's routing) failing whole."""
    review = spec("review", delay_minutes=0, delay_from="field:Order.DeliveredAt")
    for value, moment in [
        ("9999-12-31T20:00:00-14:00", "9999-12-31T20:00:00-14:00"),
        ("9999-12-31T12:00:00+00:00", "9999-12-31T12:00:00+00:00"),
        ("9999-12-31", "9999-12-31T00:00:00+00:00"),
    ]:
        plan = Plan(GroupSpec("g", (review,)))
        plan.record = {"Order.DeliveredAt": value}
        assert plan.moves(at(0))[0][2:] == (
            StepState.FATALLY_FAILED,
            f"the delay counts from Order.DeliveredAt, {moment}, and ends after 9999",
        )
    plan = Plan(GroupSpec("g", (review,)))
    plan.record = {"Order.DeliveredAt": "0001-01-01T00:00:00+14:00"}
    assert plan.moves(at(0))[0][2:] == (
        StepState.FATALLY_FAILED,
        "the delay counts from Order.DeliveredAt, 0001-01-01T00:00:00+14:00, and ends "
        "before year 2",
    )


def test_a_pause_waits_in_progress_and_completes_when_its_condition_holds() -> None:
    paid = Condition((Clause("Order.PaymentStatus", "=", "Paid"),))
    plan = Plan(
        GroupSpec(
            "g",
            (spec("wait", type=StepType.PAUSE, resume_condition=paid), spec("ship")),
            (dep("ship", "wait"),),
        )
    )
    plan.record = {"Order.PaymentStatus": "Authorized"}
    assert plan.moves(at(0)) == [
        ("wait", PENDING, IN_PROGRESS, "no dependencies: paused until ALL holds")
    ]
    assert plan.moves(at(5)) == []
    plan.record = {"Order.PaymentStatus": "Paid"}
    assert plan.moves(at(10)) == [
        ("wait", IN_PROGRESS, COMPLETED, "resume condition ALL holds: resumed"),
        ("ship", PENDING, READY, "dependencies done"),
    ]


def test_a_pause_whose_condition_already_holds_starts_and_completes_in_one_call() -> None:
    paid = Condition((Clause("Order.PaymentStatus", "=", "Paid"),))
    plan = Plan(GroupSpec("g", (spec("wait", type=StepType.PAUSE, resume_condition=paid),)))
    plan.record = {"Order.PaymentStatus": "Paid"}
    assert [(m[1], m[2]) for m in plan.moves(at(0))] == [
        (PENDING, IN_PROGRESS),
        (IN_PROGRESS, COMPLETED),
    ]
    assert plan.runs[0].started_at == at(0)


def test_a_milestone_completes_when_its_dependencies_are() -> None:
    plan = Plan(
        GroupSpec(
            "g",
            (spec("a"), spec("b"), spec("done", type=StepType.MILESTONE), spec("c")),
            (dep("done", "a"), dep("done", "b"), dep("c", "done")),
        )
    )
    plan.advance(at(0))
    plan.set("a", COMPLETED, at(1))
    assert plan.moves(at(1)) == []
    plan.set("b", COMPLETED, at(2))
    assert plan.moves(at(2)) == [
        ("done", PENDING, COMPLETED, "dependencies done: milestone reached"),
        ("c", PENDING, READY, "dependencies done"),
    ]


def test_line_dependencies_wait_for_the_same_line_and_plan_ones_for_every_line() -> None:
    plan = Plan(
        GroupSpec(
            "g",
            (
                spec("pick", scope=Scope.LINE),
                spec("pack", scope=Scope.LINE),
                spec("ship"),
            ),
            (dep("pack", "pick", "LINE"), dep("ship", "pack", "PLAN")),
        ),
        lines=(1, 2),
    )
    assert [(m[0], m[2]) for m in plan.moves(at(0))] == [("pick", READY), ("pick", READY)]
    plan.set("pick", COMPLETED, at(1), line=1)
    assert [(t.step_id, t.to_state) for t in plan.advance(at(1))] == [(plan.id("pack", 1), READY)]
    plan.set("pack", COMPLETED, at(2), line=1)
    assert plan.moves(at(2)) == []
    plan.set("pick", COMPLETED, at(3), line=2)
    plan.advance(at(3))
    plan.set("pack", COMPLETED, at(4), line=2)
    assert plan.moves(at(4)) == [("ship", PENDING, READY, "dependencies done")]


def test_a_line_step_reads_its_own_line_in_its_condition() -> None:
    gift = Condition((Clause("Line.Product.BackendID", "=", "GIFTCARD"),))
    plan = Plan(GroupSpec("g", (spec("wrap", scope=Scope.LINE, condition=gift),)), lines=(1, 2))
    plan.record = {"Order.Type": "Sales"}
    plan.lines = {1: {"Line.Product.BackendID": "GIFTCARD"}, 2: {"Line.Product.BackendID": "MUG"}}
    assert [(t.step_id, t.to_state) for t in plan.advance(at(0))] == [
        (plan.id("wrap", 1), READY),
        (plan.id("wrap", 2), SKIPPED),
    ]


def test_a_cross_plan_dependency_waits_for_the_keys_the_caller_says_are_done() -> None:
    plan = Plan(GroupSpec("g", (spec("pack"), spec("ship")), (dep("ship", "pack", "CROSS_PLAN"),)))
    plan.advance(at(0))
    plan.set("pack", COMPLETED, at(1))
    assert plan.moves(at(1)) == []  # another plan of the customer's has not packed yet
    plan.cross_plan = frozenset({"pack"})
    assert plan.moves(at(2)) == [("ship", PENDING, READY, "dependencies done")]


def test_a_condition_that_cannot_be_evaluated_fails_the_step() -> None:
    broken = Condition((Clause("Order.Type", "=", "Sales"),), "1 AND 2")
    plan = Plan(GroupSpec("g", (spec("a", condition=broken),)))
    assert plan.moves(at(0)) == [
        (
            "a",
            PENDING,
            StepState.FATALLY_FAILED,
            "condition 1 AND 2 cannot be evaluated: clause 2 does not exist: the condition "
            "has 1 clause",
        )
    ]


def _runs(*states: StepState) -> list[StepRun]:
    return [StepRun(n, f"s{n}", None, state) for n, state in enumerate(states)]


def test_the_plan_state_follows_its_steps() -> None:
    assert plan_state(_runs(PENDING, PENDING)) is PlanState.NOT_STARTED
    assert plan_state(_runs(READY, PENDING)) is PlanState.IN_PROGRESS
    assert plan_state(_runs(COMPLETED, StepState.FATALLY_FAILED)) is PlanState.IN_PROGRESS
    assert plan_state(_runs(COMPLETED, SKIPPED, StepState.CANCELED, StepState.DISCARDED)) is (
        PlanState.COMPLETED
    )
    assert plan_state([]) is PlanState.COMPLETED


def test_a_plan_freezes_once_no_step_is_in_progress() -> None:
    assert freeze(_runs(COMPLETED, IN_PROGRESS, PENDING)) is PlanState.FREEZING
    assert freeze(_runs(COMPLETED, READY, PENDING)) is PlanState.FROZEN


def test_jeopardy_turns_at_risk_exactly_at_estimated_minus_threshold() -> None:
    step = spec("pack", estimated_minutes=10, jeopardy_minutes=2)
    run = StepRun(1, "pack", None, IN_PROGRESS, started_at=at(0))
    assert at_risk(step, run, at(8) - timedelta(microseconds=1)) is False
    assert at_risk(step, run, at(8)) is True
    assert at_risk(step, replace(run, state=COMPLETED), at(9)) is False
    assert at_risk(step, replace(run, started_at=None, state=READY), at(9)) is False
    assert at_risk(spec("pack", estimated_minutes=10), run, at(10)) is True
    assert at_risk(spec("pack", estimated_minutes=10), run, at(9)) is False
    assert at_risk(spec("pack"), run, at(1000)) is False


@st.composite
def dags(draw: st.DrawFn) -> tuple[GroupSpec, dict[str, set[str]]]:
    """A group whose dependencies only point back to earlier steps (so no cycle), its
    steps in any order, of either scope, some skipped, some delayed, some milestones."""
    count = draw(st.integers(1, 12))
    keys = [f"s{n}" for n in range(count)]
    depends: dict[str, set[str]] = {key: set() for key in keys}
    for index, key in enumerate(keys):
        if index:
            depends[key] = set(draw(st.sets(st.sampled_from(keys[:index]), max_size=3)))
    true = Condition((Clause("Order.Type", "=", "Sales"),))
    false = Condition((Clause("Order.Type", "=", "Returns"),))
    scopes = {key: draw(st.sampled_from([Scope.ORDER, Scope.LINE])) for key in keys}
    steps = [
        spec(
            key,
            type=draw(st.sampled_from([StepType.AUTO_TASK, StepType.MILESTONE])),
            scope=scopes[key],
            condition=draw(st.sampled_from([None, true, false])),
            delay_minutes=draw(st.sampled_from([0, 0, 5])),
        )
        for key in keys
    ]
    dependencies = tuple(
        dep(key, on, "LINE" if scopes[key] is scopes[on] is Scope.LINE else "PLAN")
        for key in keys
        for on in sorted(depends[key])
    )
    return GroupSpec("g", tuple(draw(st.permutations(steps))), dependencies), depends


@settings(max_examples=150, deadline=None)
@given(dags())
def test_completing_ready_steps_completes_any_acyclic_plan_in_a_topological_order(
    case: tuple[GroupSpec, dict[str, set[str]]],
) -> None:
    group, depends = case
    plan = Plan(group, lines=(1, 2))
    plan.record = {"Order.Type": "Sales"}
    finished: list[tuple[str, int | None]] = []
    minute = 0
    while plan_state(plan.runs) is not PlanState.COMPLETED:
        assert minute < 200, "the plan is stuck"
        for t in plan.advance(at(minute)):
            if t.to_state in (COMPLETED, SKIPPED):
                finished.extend((r.key, r.line) for r in plan.runs if r.id == t.step_id)
        assert plan.advance(at(minute)) == []  # nothing that could move was left behind
        for run in list(plan.runs):
            if run.state is READY:  # the worker runs it
                plan.set(run.key, COMPLETED, at(minute), line=run.line)
                finished.append((run.key, run.line))
        minute += 1
    assert sorted(finished) == sorted((r.key, r.line) for r in plan.runs)
    position = {done: index for index, done in enumerate(finished)}
    for key, line in finished:
        for on in depends[key]:
            # The same line's instance where both are LINE-scoped, else every instance.
            waited = [
                (k, n) for k, n in position if k == on and (line is None or n in (line, None))
            ]
            assert waited and all(position[w] < position[(key, line)] for w in waited)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c"]),
            st.sampled_from(list(StepType)),
            st.sampled_from(list(StepState)),
            st.sampled_from([0, 5]),
            st.sampled_from(["ORDER_PLACED", "DEPENDENCIES_DONE", "field:D", "field:", "?"]),
            st.sampled_from(["ALL", "1 AND 2", "(", ""]),
        ),
        max_size=5,
    ),
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c", "zz"]),
            st.sampled_from(["a", "b", "c", "zz"]),
            st.sampled_from(list(DependencyScope)),
        ),
        max_size=6,
    ),
    st.sampled_from([{}, {"D": "soon"}, {"D": date(2026, 12, 7)}, {"Order.Type": "Sales"}]),
)
def test_advance_never_raises_on_a_group_validation_would_refuse(
    steps: list[tuple[str, StepType, StepState, int, str, str]],
    dependencies: list[tuple[str, str, DependencyScope]],
    record: dict[str, object],
) -> None:
    condition = Condition((Clause("Order.Type", "=", "Sales"),), "ALL")
    group = GroupSpec(
        "g",
        tuple(
            StepSpec(
                key,
                key,
                type_,
                condition=Condition(condition.clauses, logic),
                resume_condition=condition if type_ is StepType.PAUSE else None,
                delay_minutes=delay,
                delay_from=delay_from,
            )
            for key, type_, _, delay, delay_from, logic in steps
        ),
        tuple(DependencySpec(step, on, scope) for step, on, scope in dependencies),
    )
    runs = [StepRun(n, key, None, state) for n, (key, _, state, *_rest) in enumerate(steps)]
    for transition in advance(group, runs, record, at(0), PLACED):
        assert transition.from_state is not transition.to_state and transition.reason
