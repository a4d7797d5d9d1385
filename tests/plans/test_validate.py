"""``group_problems``: every problem of a step group, each with its exact message and place."""

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestration.plans.model import (
    Clause,
    Condition,
    DependencyScope,
    DependencySpec,
    GroupSpec,
    RetryKind,
    RetryPolicy,
    Scope,
    StepSpec,
    StepType,
)
from orchestration.plans.problems import Code, Problem
from orchestration.plans.validate import MAX_CYCLES, MAX_STEPS, group_problems


def step(key: str, **fields: Any) -> StepSpec:
    fields.setdefault("type", StepType.MILESTONE)
    return StepSpec(key, key.title(), **fields)


def group(*steps: StepSpec, deps: tuple[tuple[str, str], ...] = (), **scopes: str) -> GroupSpec:
    return GroupSpec(
        "g",
        steps,
        tuple(
            DependencySpec(s, on, DependencyScope(scopes.get(f"{s}_{on}", "PLAN")))
            for s, on in deps
        ),
    )


def test_a_sound_group_has_no_problems() -> None:
    sound = group(
        step(
            "pay",
            type=StepType.PAUSE,
            resume_condition=Condition((Clause("Order.PaymentStatus", "=", "Paid"),)),
        ),
        step(
            "book",
            type=StepType.CALLOUT,
            retry=RetryPolicy(RetryKind.STAGGERED, intervals=(10, 15, 40)),
        ),
        step("pick", type=StepType.MANUAL, handler="pick", scope=Scope.LINE),
        step(
            "pack",
            type=StepType.MANUAL,
            handler="pack",
            scope=Scope.LINE,
            estimated_minutes=10,
            jeopardy_minutes=2,
        ),
        step(
            "review",
            type=StepType.AUTO_TASK,
            handler="ask_review",
            delay_minutes=7 * 24 * 60,
            delay_from="field:Order.DeliveredAt",
            condition=Condition(
                (
                    Clause("Order.CustomFields.Channel", "in", ["WEB", "APP"]),
                    Clause("Order.Type", "=", "Sales"),
                    Clause("Order.Email", "has value"),
                ),
                "(1 OR 2) AND 3",
            ),
        ),
        deps=(("book", "pay"), ("pick", "book"), ("pack", "pick"), ("review", "pack")),
        pack_pick="LINE",
    )
    assert group_problems(sound) == []


def test_duplicate_keys_are_named_once() -> None:
    assert group_problems(group(step("a"), step("a"), step("b"), step("a"))) == [
        Problem(
            Code.DUPLICATE_STEP,
            "3 steps have the key 'a': a key names one step of the group",
            "a",
            "key",
        )
    ]


def test_a_key_that_is_not_an_identifier_is_refused() -> None:
    assert group_problems(group(step("pack it"))) == [
        Problem(
            Code.INVALID_KEY,
            "'pack it' is not a step key: a letter, then letters, digits, '_' or '-', "
            "64 characters at most",
            "pack it",
            "key",
        )
    ]


def test_a_dependency_on_an_unknown_step_names_it() -> None:
    assert group_problems(group(step("a"), deps=(("a", "ghost"),))) == [
        Problem(
            Code.UNKNOWN_STEP,
            "the dependency of 'a' on 'ghost' names 'ghost', which is not a step of the group",
            "a",
            "dependencies",
        )
    ]


def test_a_step_depending_on_itself_is_refused() -> None:
    assert group_problems(group(step("a"), deps=(("a", "a"),))) == [
        Problem(Code.SELF_DEPENDENCY, "step 'a' depends on itself", "a", "dependencies")
    ]


def test_the_same_dependency_twice_is_refused() -> None:
    assert group_problems(group(step("a"), step("b"), deps=(("b", "a"), ("b", "a")))) == [
        Problem(
            Code.DUPLICATE_DEPENDENCY,
            "'b' depends on 'a' more than once: keep one dependency",
            "b",
            "dependencies",
        )
    ]


def _cycle(*keys: str) -> Problem:
    return Problem(
        Code.DEPENDENCY_CYCLE,
        f"the dependencies make a cycle: {' -> '.join(keys)} (each step waits for the one "
        "before it, so none of them can start)",
        keys[0],
        "dependencies",
    )


def test_a_cycle_is_named_in_the_order_the_steps_would_run() -> None:
    # b waits for a, c for b, a for c.
    cyclic = group(step("a"), step("b"), step("c"), deps=(("b", "a"), ("c", "b"), ("a", "c")))
    assert group_problems(cyclic) == [_cycle("a", "b", "c", "a")]


def test_every_cycle_is_named_each_from_its_earliest_step_in_a_stable_order() -> None:
    cyclic = group(
        step("a"),
        step("b"),
        step("c"),
        step("d"),
        step("e"),
        step("f"),
        deps=(("b", "a"), ("a", "b"), ("c", "b"), ("a", "c"), ("e", "d"), ("d", "e"), ("f", "a")),
    )
    expected = [_cycle("a", "b", "a"), _cycle("a", "b", "c", "a"), _cycle("d", "e", "d")]
    assert group_problems(cyclic) == expected
    reversed_deps = GroupSpec("g", cyclic.steps, tuple(reversed(cyclic.dependencies)))
    assert group_problems(reversed_deps) == expected


def test_the_cycles_named_are_capped() -> None:
    # A complete graph of 8 steps has thousands of elementary cycles.
    keys = [f"s{n}" for n in range(8)]
    dense = group(
        *(step(k) for k in keys), deps=tuple((a, b) for a in keys for b in keys if a != b)
    )
    problems = group_problems(dense)
    assert len(problems) == MAX_CYCLES
    assert {p.code for p in problems} == {Code.DEPENDENCY_CYCLE}
    assert problems[0] == _cycle("s0", "s1", "s0")


def test_a_line_dependency_with_an_order_scoped_step_is_explained() -> None:
    problems = group_problems(
        group(
            step("ship"),
            step("pick", scope=Scope.LINE),
            step("pack", scope=Scope.LINE),
            deps=(("pack", "pick"), ("ship", "pack"), ("pick", "ship")),
            pack_pick="LINE",
            ship_pack="LINE",
        )
    )
    assert problems[0] == Problem(
        Code.LINE_DEPENDENCY_ON_ORDER_STEP,
        "the LINE dependency of 'ship' on 'pack' waits for the step of the same order line, "
        "but 'ship' is ORDER-scoped (one step for the whole order, on no line): make both "
        "steps LINE-scoped, or use a PLAN dependency",
        "ship",
        "dependencies",
    )


def test_a_line_dependency_between_two_order_steps_names_both() -> None:
    problems = group_problems(group(step("a"), step("b"), deps=(("b", "a"),), b_a="LINE"))
    assert [p.message for p in problems] == [
        "the LINE dependency of 'b' on 'a' waits for the step of the same order line, but "
        "'b' and 'a' are ORDER-scoped (one step for the whole order, on no line): make both "
        "steps LINE-scoped, or use a PLAN dependency"
    ]


def _condition(logic: str, *clauses: Clause) -> StepSpec:
    return step("a", condition=Condition(clauses or (Clause("Order.Type", "=", "Sales"),), logic))


def test_bad_logic_is_placed_on_the_step_field_and_column_and_renders_with_a_caret() -> None:
    clauses = (
        Clause("Order.Type", "=", "Sales"),
        Clause("Order.Total", ">", 10),
        Clause("X", "=", 1),
    )
    problems = group_problems(group(_condition("(1 OR 2) AND 4", *clauses)))
    assert problems == [
        Problem(
            Code.UNKNOWN_CLAUSE,
            "clause 4 does not exist: the condition has 3 clauses",
            "a",
            "condition.logic",
            14,
        )
    ]
    assert problems[0].render("(1 OR 2) AND 4") == (
        "step a, condition.logic, column 14: clause 4 does not exist: the condition has 3 clauses\n"
        "    (1 OR 2) AND 4\n"
        "                 ^"
    )


@pytest.mark.parametrize(
    ("logic", "code", "message", "column"),
    [
        ("(1", Code.UNBALANCED_PARENTHESES, "this '(' is never closed", 1),
        (
            "  ",
            Code.EMPTY_LOGIC,
            "the logic is empty: write ALL, ANY or clause numbers joined by AND and OR, "
            "e.g. (1 OR 2) AND 3",
            1,
        ),
    ],
)
def test_unbalanced_or_empty_logic_is_refused(
    logic: str, code: Code, message: str, column: int
) -> None:
    assert group_problems(group(_condition(logic))) == [
        Problem(code, message, "a", "condition.logic", column)
    ]


def test_clauses_the_logic_does_not_use_are_named() -> None:
    clauses = (Clause("A", "=", 1), Clause("B", "=", 2), Clause("C", "=", 3))
    assert group_problems(group(_condition("2", *clauses))) == [
        Problem(
            Code.UNUSED_CLAUSE,
            "the logic 2 does not use clauses 1, 3: use them or remove them",
            "a",
            "condition.logic",
        )
    ]


def test_a_condition_without_clauses_is_refused() -> None:
    assert group_problems(group(step("a", condition=Condition((), "ALL")))) == [
        Problem(
            Code.NO_CLAUSES,
            "the condition has no clauses: add one, or remove the condition",
            "a",
            "condition.clauses",
        )
    ]


def test_an_unknown_operator_lists_the_operators() -> None:
    problems = group_problems(
        group(
            _condition(
                "1 AND 2", Clause("Order.Type", "=", "Sales"), Clause("Order.Type", "like", "S%")
            )
        )
    )
    assert problems == [
        Problem(
            Code.UNKNOWN_OPERATOR,
            "clause 2: unknown operator 'like'; use one of =, <>, <, <=, >, >=, in, not in, "
            "contains, has value, has no value",
            "a",
            "condition.clauses[2].operator",
        )
    ]


def test_every_operator_is_known_in_any_case_and_spacing() -> None:
    operators = (
        "=",
        "<>",
        "<",
        "<=",
        ">",
        ">=",
        "in",
        "Not  In",
        "contains",
        "has value",
        "HAS NO VALUE",
    )
    clauses = tuple(Clause("Order.Type", op, "x") for op in operators)
    assert group_problems(group(_condition("ALL", *clauses))) == []


def test_a_clause_without_a_field_or_a_value_is_refused() -> None:
    assert group_problems(group(_condition("ALL", Clause(" ", "=", None)))) == [
        Problem(
            Code.EMPTY_FIELD,
            "clause 1 names no field (e.g. Order.Type)",
            "a",
            "condition.clauses[1].field",
        ),
        Problem(
            Code.MISSING_VALUE,
            "clause 1: '=' needs a value to compare with",
            "a",
            "condition.clauses[1].value",
        ),
    ]


def _retry(**fields: Any) -> list[Problem]:
    return group_problems(group(step("call", type=StepType.CALLOUT, retry=RetryPolicy(**fields))))


def test_staggered_without_intervals_is_refused() -> None:
    assert _retry(kind=RetryKind.STAGGERED) == [
        Problem(
            Code.INCONSISTENT_RETRY,
            "a STAGGERED retry policy needs intervals: minutes, one retry each (e.g. 10, 15, 40)",
            "call",
            "retry.intervals",
        )
    ]


def test_negative_retry_numbers_are_refused() -> None:
    assert _retry(kind=RetryKind.MONOTONOUS, count=-1, interval_minutes=-5) == [
        Problem(
            Code.NEGATIVE_NUMBER, "retry count must not be negative, got -1", "call", "retry.count"
        ),
        Problem(
            Code.NEGATIVE_NUMBER,
            "retry interval_minutes must not be negative, got -5",
            "call",
            "retry.interval_minutes",
        ),
    ]
    assert _retry(kind=RetryKind.STAGGERED, intervals=(10, -1)) == [
        Problem(
            Code.NEGATIVE_NUMBER,
            "retry interval 2 must not be negative, got -1",
            "call",
            "retry.intervals",
        )
    ]


def test_more_retries_than_the_maximum_are_refused() -> None:
    assert _retry(kind=RetryKind.IMMEDIATE, count=21) == [
        Problem(
            Code.TOO_MANY_RETRIES,
            "21 retries; at most 20 are allowed (a step failing that often needs a person: "
            "it goes to the fallout queue)",
            "call",
            "retry.count",
        )
    ]
    assert [p.field for p in _retry(kind=RetryKind.STAGGERED, intervals=(1,) * 21)] == [
        "retry.intervals"
    ]
    assert _retry(kind=RetryKind.IMMEDIATE, count=20) == []


@pytest.mark.parametrize(
    ("fields", "message", "field"),
    [
        (
            {"kind": RetryKind.IMMEDIATE},
            "an IMMEDIATE retry policy with count 0 never retries: set a count, or use NONE",
            "retry.count",
        ),
        (
            {"kind": RetryKind.MONOTONOUS, "count": 3},
            "a MONOTONOUS retry policy needs interval_minutes above 0 (IMMEDIATE retries at once)",
            "retry.interval_minutes",
        ),
        (
            {"kind": RetryKind.IMMEDIATE, "count": 2, "intervals": (5,)},
            "only a STAGGERED retry policy has intervals; this one is IMMEDIATE",
            "retry.intervals",
        ),
        (
            {"kind": RetryKind.NONE, "count": 2},
            "a NONE retry policy never retries: its count (2) would be ignored",
            "retry.count",
        ),
        (
            {"kind": RetryKind.STAGGERED, "count": 2, "intervals": (5,)},
            "a STAGGERED retry policy retries once per interval: its count (2) would be ignored",
            "retry.count",
        ),
        (
            {"kind": RetryKind.IMMEDIATE, "count": 2, "interval_minutes": 5},
            "only a MONOTONOUS retry policy has interval_minutes; this one is IMMEDIATE",
            "retry.interval_minutes",
        ),
    ],
)
def test_retry_fields_that_contradict_the_policy_are_refused(
    fields: dict[str, Any], message: str, field: str
) -> None:
    assert _retry(**fields) == [Problem(Code.INCONSISTENT_RETRY, message, "call", field)]


def test_jeopardy_above_the_estimate_is_refused() -> None:
    assert group_problems(group(step("a", estimated_minutes=10, jeopardy_minutes=11))) == [
        Problem(
            Code.JEOPARDY_ABOVE_ESTIMATE,
            "jeopardy_minutes (11) is more than estimated_minutes (10): the step is at risk "
            "estimated - jeopardy minutes after it starts, which must not be before it starts",
            "a",
            "jeopardy_minutes",
        )
    ]
    assert group_problems(group(step("a", estimated_minutes=10, jeopardy_minutes=10))) == []


def test_jeopardy_without_an_estimate_is_refused() -> None:
    assert group_problems(group(step("a", jeopardy_minutes=2))) == [
        Problem(
            Code.MISSING_ESTIMATE,
            "jeopardy_minutes is counted back from estimated_minutes, which is not set",
            "a",
            "estimated_minutes",
        )
    ]


def test_negative_and_huge_minutes_are_refused() -> None:
    assert group_problems(group(step("a", delay_minutes=-1, estimated_minutes=600_000))) == [
        Problem(
            Code.NEGATIVE_NUMBER, "delay_minutes must not be negative, got -1", "a", "delay_minutes"
        ),
        Problem(
            Code.TOO_LARGE,
            "estimated_minutes is 600,000 minutes; at most 527,040 (a year) are allowed",
            "a",
            "estimated_minutes",
        ),
    ]


def test_a_pause_without_a_resume_condition_is_refused() -> None:
    assert group_problems(group(step("wait", type=StepType.PAUSE))) == [
        Problem(
            Code.MISSING_RESUME_CONDITION,
            "a Pause step needs a resume condition: it waits until the condition holds",
            "wait",
            "resume_condition",
        )
    ]


def test_a_resume_condition_on_another_type_is_refused() -> None:
    condition = Condition((Clause("Order.PaymentStatus", "=", "Paid"),))
    assert group_problems(group(step("a", resume_condition=condition))) == [
        Problem(
            Code.RESUME_CONDITION_NOT_PAUSE,
            "only a Pause step has a resume condition; this is a Milestone step",
            "a",
            "resume_condition",
        )
    ]


@pytest.mark.parametrize(
    ("type_", "message"),
    [
        (StepType.AUTO_TASK, "an Auto Task step needs a handler: the registered callable it runs"),
        (StepType.MANUAL, "a Manual step needs a handler: the action it runs"),
    ],
)
def test_auto_tasks_and_manual_steps_need_a_handler(type_: StepType, message: str) -> None:
    assert group_problems(group(step("a", type=type_, handler=" "))) == [
        Problem(Code.MISSING_HANDLER, message, "a", "handler")
    ]


@pytest.mark.parametrize(
    "delay_from", ["ORDER_PLACED", "DEPENDENCIES_DONE", "field:Order.CustomFields.DeliveryDate"]
)
def test_each_delay_origin_is_accepted(delay_from: str) -> None:
    assert group_problems(group(step("a", delay_minutes=5, delay_from=delay_from))) == []


@pytest.mark.parametrize("delay_from", ["order_placed", "field:", "field: ", "NOW"])
def test_an_unknown_delay_origin_is_refused(delay_from: str) -> None:
    assert group_problems(group(step("a", delay_from=delay_from))) == [
        Problem(
            Code.INVALID_DELAY_FROM,
            f"delay_from '{delay_from}' is not ORDER_PLACED, DEPENDENCIES_DONE or field:<name> "
            "(a field holding a date, e.g. field:Order.CustomFields.DeliveryDate)",
            "a",
            "delay_from",
        )
    ]


def test_a_group_with_too_many_steps_is_refused_before_anything_else() -> None:
    steps = tuple(step(f"s{n}") for n in range(MAX_STEPS + 1))
    assert group_problems(GroupSpec("g", steps + steps)) == [
        Problem(Code.TOO_LARGE, "the group has 202 steps; at most 100 are allowed", field="steps")
    ]


def test_problems_come_in_step_order_then_dependencies_then_cycles() -> None:
    problems = group_problems(
        group(
            step("a", type=StepType.PAUSE),
            step("b", delay_minutes=-2),
            deps=(("a", "zz"), ("a", "b"), ("b", "a")),
        )
    )
    assert [(p.code, p.step) for p in problems] == [
        (Code.MISSING_RESUME_CONDITION, "a"),
        (Code.NEGATIVE_NUMBER, "b"),
        (Code.UNKNOWN_STEP, "a"),
        (Code.DEPENDENCY_CYCLE, "a"),
    ]


_numbers = st.integers(-5, 600_000)
_keys = st.sampled_from(["a", "b", "c", "d", "bad key"])
_clauses = st.builds(
    Clause,
    st.sampled_from(["Order.Type", "", "Line.Product.BackendID"]),
    st.sampled_from(["=", "like", "has value", "in"]),
    st.sampled_from([None, "x", 1, ["x"]]),
)
_conditions = st.builds(
    Condition,
    st.lists(_clauses, max_size=4).map(tuple),
    st.sampled_from(["ALL", "ANY", "", "(1 OR 2) AND 3", "1 AND 2 OR 3", "(1", "NOT 4"]),
)
_steps = st.builds(
    StepSpec,
    _keys,
    st.just("Step"),
    st.sampled_from(list(StepType)),
    scope=st.sampled_from(list(Scope)),
    condition=st.none() | _conditions,
    resume_condition=st.none() | _conditions,
    delay_minutes=_numbers,
    delay_from=st.sampled_from(["ORDER_PLACED", "DEPENDENCIES_DONE", "field:X", "field:", "?"]),
    retry=st.builds(
        RetryPolicy,
        st.sampled_from(list(RetryKind)),
        st.integers(-2, 25),
        _numbers,
        st.lists(_numbers, max_size=22).map(tuple),
    ),
    estimated_minutes=st.none() | _numbers,
    jeopardy_minutes=st.none() | _numbers,
    handler=st.sampled_from(["", "pick"]),
)
_groups = st.builds(
    GroupSpec,
    st.just("g"),
    st.lists(_steps, max_size=6).map(tuple),
    st.lists(
        st.builds(DependencySpec, _keys, _keys, st.sampled_from(list(DependencyScope))),
        max_size=10,
    ).map(tuple),
)


@settings(max_examples=300, deadline=None)
@given(_groups)
def test_validation_never_raises_and_says_where_each_problem_is(group: GroupSpec) -> None:
    problems = group_problems(group)
    assert problems == group_problems(group)  # the same problems, in the same order
    for problem in problems:
        assert isinstance(problem.code, Code) and problem.message
        assert problem.step is not None or problem.field in ("steps", "dependencies")


def test_a_group_with_too_many_dependencies_is_refused() -> None:
    steps = (step("a"), step("b"))
    too_many = tuple(DependencySpec("b", "a") for _ in range(1_001))
    assert group_problems(GroupSpec("g", steps, too_many)) == [
        Problem(
            Code.TOO_LARGE,
            "the group has 1,001 dependencies; at most 1,000 are allowed",
            field="dependencies",
        )
    ]


def test_a_condition_with_too_many_clauses_is_refused() -> None:
    clauses = tuple(Clause("Order.Type", "=", str(n)) for n in range(51))
    assert group_problems(group(_condition("ANY", *clauses))) == [
        Problem(
            Code.TOO_LARGE,
            "the condition has 51 clauses; at most 50 are allowed",
            "a",
            "condition.clauses",
        )
    ]


def test_a_resume_condition_is_checked_like_a_condition() -> None:
    condition = Condition((Clause("Order.PaymentStatus", "=", "Paid"),), "1 OR")
    assert group_problems(group(step("wait", type=StepType.PAUSE, resume_condition=condition))) == [
        Problem(
            Code.INVALID_LOGIC,
            "expected a clause number, '(' or NOT, got the end of the logic",
            "wait",
            "resume_condition.logic",
            5,
        )
    ]


def test_retry_intervals_longer_than_a_year_are_refused() -> None:
    assert _retry(kind=RetryKind.STAGGERED, intervals=(10, 600_000)) == [
        Problem(
            Code.TOO_LARGE,
            "retry intervals[2] is 600,000 minutes; at most 527,040 (a year) are allowed",
            "call",
            "retry.intervals",
        )
    ]


def test_a_tangle_the_bounded_search_could_not_walk_is_still_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("orchestration.plans.validate.MAX_CYCLE_SEARCH", 1)
    cyclic = group(step("a"), step("b"), step("c"), deps=(("b", "a"), ("c", "b"), ("a", "c")))
    assert group_problems(cyclic) == [
        Problem(
            Code.DEPENDENCY_CYCLE,
            "the dependencies make cycles among a, b, c (each waits, through the others, "
            "for itself)",
            "a",
            "dependencies",
        )
    ]
