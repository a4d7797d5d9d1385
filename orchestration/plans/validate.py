"""Everything wrong with a step group version, before it is saved.

``group_problems`` returns every problem at once (not the first), in a stable
order: the group's size, then each step in definition order (its key, type,
fields, conditions, retry policy), then the dependencies in definition order,
then the cycles. The form and the API show them all; a version with problems is
not saved. ``runtime`` assumes a group without problems, and stays safe on one
that has them (see its docstring).
"""

import re
from collections import Counter
from collections.abc import Iterator

from .conditions import (
    MAX_CLAUSES,
    OPERATORS,
    VALUELESS,
    describe,
    normalize_operator,
    parse_logic,
    unknown_operator,
)
from .model import (
    DEPENDENCIES_DONE,
    FIELD_PREFIX,
    ORDER_PLACED,
    Condition,
    DependencyScope,
    GroupSpec,
    RetryKind,
    Scope,
    StepSpec,
    StepType,
)
from .problems import Code, Problem

# Steps in one group. A LINE-scoped step is one row per order line, and an order
# has up to 5,000 lines (engine/limits.py): 100 steps already make half a million
# rows for the largest order. A longer process is several groups.
MAX_STEPS = 100
# Dependencies in one group: with 100 steps, ten per step is already a dense graph;
# the cycle search below is bounded by it.
MAX_DEPENDENCIES = 1_000
# Retries of one step. A step that failed this often fails for a reason a person
# must look at: it belongs in the fallout queue, not in another retry.
MAX_RETRIES = 20
# Any number of minutes (delays, intervals, estimates): a year. Beyond it a date
# overflows nothing, but no fulfillment waits that long: it is a typing mistake.
MAX_MINUTES = 366 * 24 * 60
# Cycles named: every cycle is found, but a badly tangled group can hold thousands
# (each one made of the same few steps); the first ones are enough to fix it.
MAX_CYCLES = 20
# Steps visited while looking for cycles: bounds the time of the search on a tangled
# graph (the number of cycles can grow exponentially with the steps).
MAX_CYCLE_SEARCH = 200_000

KEY = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
NEEDS_HANDLER = {StepType.AUTO_TASK: "registered callable", StepType.MANUAL: "action"}


def _a(word: str) -> str:
    """``a Manual``, ``an Auto Task``."""
    return f"{'an' if word[:1].upper() in 'AEIOU' else 'a'} {word}"


def group_problems(group: GroupSpec) -> list[Problem]:
    """Every problem of ``group``, in the order described above; ``[]`` if none."""
    if len(group.steps) > MAX_STEPS:
        return [
            Problem(
                Code.TOO_LARGE,
                f"the group has {len(group.steps):,} steps; at most {MAX_STEPS:,} are allowed",
                field="steps",
            )
        ]
    if len(group.dependencies) > MAX_DEPENDENCIES:
        return [
            Problem(
                Code.TOO_LARGE,
                f"the group has {len(group.dependencies):,} dependencies; at most "
                f"{MAX_DEPENDENCIES:,} are allowed",
                field="dependencies",
            )
        ]
    problems: list[Problem] = []
    counts = Counter(step.key for step in group.steps)
    reported: set[str] = set()
    for step in group.steps:
        if counts[step.key] > 1 and step.key not in reported:
            reported.add(step.key)
            problems.append(
                Problem(
                    Code.DUPLICATE_STEP,
                    f"{counts[step.key]} steps have the key '{step.key}': a key names one "
                    "step of the group",
                    step.key,
                    "key",
                )
            )
        problems.extend(_step_problems(step))
    problems.extend(_dependency_problems(group))
    problems.extend(_cycles(group))
    return problems


def _step_problems(step: StepSpec) -> Iterator[Problem]:
    key = step.key
    if not KEY.fullmatch(key):
        yield Problem(
            Code.INVALID_KEY,
            f"'{key}' is not a step key: a letter, then letters, digits, '_' or '-', "
            "64 characters at most",
            key,
            "key",
        )
    if step.type in NEEDS_HANDLER and not step.handler.strip():
        yield Problem(
            Code.MISSING_HANDLER,
            f"{_a(step.type.label)} step needs a handler: the {NEEDS_HANDLER[step.type]} it runs",
            key,
            "handler",
        )
    if step.type is StepType.PAUSE and step.resume_condition is None:
        yield Problem(
            Code.MISSING_RESUME_CONDITION,
            "a Pause step needs a resume condition: it waits until the condition holds",
            key,
            "resume_condition",
        )
    if step.type is not StepType.PAUSE and step.resume_condition is not None:
        yield Problem(
            Code.RESUME_CONDITION_NOT_PAUSE,
            f"only a Pause step has a resume condition; this is {_a(step.type.label)} step",
            key,
            "resume_condition",
        )
    if step.condition is not None:
        yield from condition_problems(step.condition, key, "condition")
    if step.resume_condition is not None:
        yield from condition_problems(step.resume_condition, key, "resume_condition")
    yield from _minutes(key, "delay_minutes", step.delay_minutes)
    if step.delay_from not in (ORDER_PLACED, DEPENDENCIES_DONE) and not (
        step.delay_from.startswith(FIELD_PREFIX) and step.delay_from[len(FIELD_PREFIX) :].strip()
    ):
        yield Problem(
            Code.INVALID_DELAY_FROM,
            f"delay_from '{step.delay_from}' is not ORDER_PLACED, DEPENDENCIES_DONE or "
            "field:<name> (a field holding a date, e.g. field:Order.CustomFields.DeliveryDate)",
            key,
            "delay_from",
        )
    yield from _retry_problems(step)
    yield from _jeopardy_problems(step)


def _minutes(step: str, field: str, value: int) -> Iterator[Problem]:
    if value < 0:
        yield Problem(
            Code.NEGATIVE_NUMBER, f"{field} must not be negative, got {value}", step, field
        )
    elif value > MAX_MINUTES:
        yield Problem(
            Code.TOO_LARGE,
            f"{field} is {value:,} minutes; at most {MAX_MINUTES:,} (a year) are allowed",
            step,
            field,
        )


def condition_problems(condition: Condition, step: str, name: str) -> Iterator[Problem]:
    """What is wrong with one condition of ``step``, each problem's field under ``name``
    (``condition``, ``resume_condition``, ``assignment_rules[2].condition``): no clauses,
    a clause without a field, operator or value, bad or incomplete logic (its column)."""
    clauses = condition.clauses
    if not clauses:
        yield Problem(
            Code.NO_CLAUSES,
            "the condition has no clauses: add one, or remove the condition",
            step,
            f"{name}.clauses",
        )
    if len(clauses) > MAX_CLAUSES:
        yield Problem(
            Code.TOO_LARGE,
            f"the condition has {len(clauses):,} clauses; at most {MAX_CLAUSES} are allowed",
            step,
            f"{name}.clauses",
        )
        return
    for number, clause in enumerate(clauses, 1):
        where = f"{name}.clauses[{number}]"
        if not clause.field.strip():
            yield Problem(
                Code.EMPTY_FIELD,
                f"clause {number} names no field (e.g. Order.Type)",
                step,
                f"{where}.field",
            )
        operator = normalize_operator(clause.operator)
        if operator not in OPERATORS:
            unknown = unknown_operator(number, clause.operator)
            yield Problem(unknown.code, unknown.message, step, f"{where}.operator")
        elif operator not in VALUELESS and clause.value is None:
            yield Problem(
                Code.MISSING_VALUE,
                f"clause {number}: '{operator}' needs a value to compare with",
                step,
                f"{where}.value",
            )
    logic = parse_logic(condition.logic, len(clauses))
    if isinstance(logic, Problem):
        yield Problem(logic.code, logic.message, step, f"{name}.logic", logic.column)
        return
    unused = [n for n in range(1, len(clauses) + 1) if n not in logic.numbers]
    if unused:
        listed = ", ".join(str(n) for n in unused)
        plural = "s" if len(unused) > 1 else ""
        yield Problem(
            Code.UNUSED_CLAUSE,
            f"the logic {describe(condition)} does not use clause{plural} {listed}: use "
            f"{'them' if plural else 'it'} or remove {'them' if plural else 'it'}",
            step,
            f"{name}.logic",
        )


def _retry_problems(step: StepSpec) -> Iterator[Problem]:
    key, retry = step.key, step.retry
    negative = False
    for field, value in (("count", retry.count), ("interval_minutes", retry.interval_minutes)):
        if value < 0:
            negative = True
            yield Problem(
                Code.NEGATIVE_NUMBER,
                f"retry {field} must not be negative, got {value}",
                key,
                f"retry.{field}",
            )
    for position, value in enumerate(retry.intervals, 1):
        if value < 0:
            negative = True
            yield Problem(
                Code.NEGATIVE_NUMBER,
                f"retry interval {position} must not be negative, got {value}",
                key,
                "retry.intervals",
            )
    yield from _retry_limits(step)
    if negative:
        return
    kind = retry.kind

    def inconsistent(message: str, field: str) -> Problem:
        return Problem(Code.INCONSISTENT_RETRY, message, key, f"retry.{field}")

    if kind is RetryKind.STAGGERED and not retry.intervals:
        yield inconsistent(
            "a STAGGERED retry policy needs intervals: minutes, one retry each (e.g. 10, 15, 40)",
            "intervals",
        )
    if kind in (RetryKind.IMMEDIATE, RetryKind.MONOTONOUS) and retry.count == 0:
        yield inconsistent(
            f"{_a(kind)} retry policy with count 0 never retries: set a count, or use NONE",
            "count",
        )
    if kind is RetryKind.MONOTONOUS and retry.interval_minutes == 0:
        yield inconsistent(
            "a MONOTONOUS retry policy needs interval_minutes above 0 (IMMEDIATE retries at once)",
            "interval_minutes",
        )
    if kind is not RetryKind.STAGGERED and retry.intervals:
        yield inconsistent(
            f"only a STAGGERED retry policy has intervals; this one is {kind}", "intervals"
        )
    if kind in (RetryKind.NONE, RetryKind.STAGGERED) and retry.count:
        counted = "retries once per interval" if kind is RetryKind.STAGGERED else "never retries"
        yield inconsistent(
            f"a {kind} retry policy {counted}: its count ({retry.count}) would be ignored",
            "count",
        )
    if kind is not RetryKind.MONOTONOUS and retry.interval_minutes:
        yield inconsistent(
            f"only a MONOTONOUS retry policy has interval_minutes; this one is {kind}",
            "interval_minutes",
        )


def _retry_limits(step: StepSpec) -> Iterator[Problem]:
    retry = step.retry
    minutes = [("interval_minutes", retry.interval_minutes)]
    minutes += [(f"intervals[{n}]", value) for n, value in enumerate(retry.intervals, 1)]
    for field, value in minutes:
        if value > MAX_MINUTES:
            yield Problem(
                Code.TOO_LARGE,
                f"retry {field} is {value:,} minutes; at most {MAX_MINUTES:,} (a year) are allowed",
                step.key,
                "retry." + field.split("[")[0],
            )
    retries = len(retry.intervals) if retry.kind is RetryKind.STAGGERED else retry.count
    if retries > MAX_RETRIES:
        yield Problem(
            Code.TOO_MANY_RETRIES,
            f"{retries} retries; at most {MAX_RETRIES} are allowed (a step failing that "
            "often needs a person: it goes to the fallout queue)",
            step.key,
            "retry.intervals" if retry.kind is RetryKind.STAGGERED else "retry.count",
        )


def _jeopardy_problems(step: StepSpec) -> Iterator[Problem]:
    key = step.key
    estimated, jeopardy = step.estimated_minutes, step.jeopardy_minutes
    if estimated is not None:
        yield from _minutes(key, "estimated_minutes", estimated)
    if jeopardy is not None:
        yield from _minutes(key, "jeopardy_minutes", jeopardy)
        if estimated is None:
            yield Problem(
                Code.MISSING_ESTIMATE,
                "jeopardy_minutes is counted back from estimated_minutes, which is not set",
                key,
                "estimated_minutes",
            )
        elif jeopardy > estimated:
            yield Problem(
                Code.JEOPARDY_ABOVE_ESTIMATE,
                f"jeopardy_minutes ({jeopardy}) is more than estimated_minutes "
                f"({estimated}): the step is at risk estimated - jeopardy minutes after "
                "it starts, which must not be before it starts",
                key,
                "jeopardy_minutes",
            )


def _dependency_problems(group: GroupSpec) -> Iterator[Problem]:
    steps = {step.key: step for step in group.steps}
    seen: set[tuple[str, str]] = set()
    for dependency in group.dependencies:
        step, on = dependency.step, dependency.on
        unknown = [key for key in (step, on) if key not in steps]
        for key in dict.fromkeys(unknown):
            yield Problem(
                Code.UNKNOWN_STEP,
                f"the dependency of '{step}' on '{on}' names '{key}', which is not a "
                "step of the group",
                step,
                "dependencies",
            )
        if unknown:
            continue
        if step == on:
            yield Problem(
                Code.SELF_DEPENDENCY, f"step '{step}' depends on itself", step, "dependencies"
            )
            continue
        if (step, on) in seen:
            yield Problem(
                Code.DUPLICATE_DEPENDENCY,
                f"'{step}' depends on '{on}' more than once: keep one dependency",
                step,
                "dependencies",
            )
            continue
        seen.add((step, on))
        if dependency.scope is DependencyScope.LINE:
            order_scoped = [key for key in (step, on) if steps[key].scope is Scope.ORDER]
            if order_scoped:
                named = " and ".join(f"'{key}'" for key in order_scoped)
                verb = "are" if len(order_scoped) > 1 else "is"
                yield Problem(
                    Code.LINE_DEPENDENCY_ON_ORDER_STEP,
                    f"the LINE dependency of '{step}' on '{on}' waits for the step of the "
                    f"same order line, but {named} {verb} ORDER-scoped (one step for the whole "
                    "order, on no line): make both steps LINE-scoped, or use a PLAN "
                    "dependency",
                    step,
                    "dependencies",
                )


def _components(keys: list[str], edges: dict[str, list[str]]) -> dict[str, int]:
    """Each step's strongly connected component (Kosaraju, without recursion)."""
    finished: list[str] = []
    seen: set[str] = set()
    for root in keys:
        if root in seen:
            continue
        seen.add(root)
        stack = [(root, iter(edges[root]))]
        while stack:
            node, following = stack[-1]
            step = next(following, None)
            if step is None:
                stack.pop()
                finished.append(node)
            elif step not in seen:
                seen.add(step)
                stack.append((step, iter(edges[step])))
    reverse: dict[str, list[str]] = {key: [] for key in keys}
    for key in keys:
        for step in edges[key]:
            reverse[step].append(key)
    component: dict[str, int] = {}
    for number, root in enumerate(reversed(finished)):
        if root in component:
            continue
        component[root] = number
        pending = [root]
        while pending:
            for step in reverse[pending.pop()]:
                if step not in component:
                    component[step] = number
                    pending.append(step)
    return component


def _cycles(group: GroupSpec) -> Iterator[Problem]:
    """Every elementary cycle (self-dependencies aside: reported above), each named
    from its earliest-defined step in the order the steps run (``a -> b``: ``b``
    depends on ``a``), ordered by that step, then the next, and so on.

    The search is bounded (``MAX_CYCLES``, ``MAX_CYCLE_SEARCH``); should it stop
    before naming a cycle of some tangle of steps, that tangle is still named as a
    whole, so a group with a cycle is never passed."""
    keys = list(dict.fromkeys(step.key for step in group.steps))
    order = {key: index for index, key in enumerate(keys)}
    edges: dict[str, list[str]] = {key: [] for key in keys}
    for dependency in group.dependencies:
        step, on = dependency.step, dependency.on
        if step in order and on in order and step != on and step not in edges[on]:
            edges[on].append(step)
    for key in keys:
        edges[key].sort(key=order.__getitem__)
    component = _components(keys, edges)
    found: list[list[str]] = []
    budget = MAX_CYCLE_SEARCH
    for start in keys:
        # Cycles whose earliest step is ``start``: later steps of its component only.
        first, home = order[start], component[start]
        path = [start]
        on_path = {start}
        stack = [iter(edges[start])]
        while stack and len(found) < MAX_CYCLES and budget > 0:
            following = next(stack[-1], None)
            if following is None:
                stack.pop()
                on_path.discard(path.pop())
                continue
            budget -= 1
            if following == start:
                found.append([*path, start])
            elif (
                component[following] == home
                and order[following] > first
                and following not in on_path
            ):
                path.append(following)
                on_path.add(following)
                stack.append(iter(edges[following]))
    for cycle in found:
        yield Problem(
            Code.DEPENDENCY_CYCLE,
            f"the dependencies make a cycle: {' -> '.join(cycle)} (each step waits for "
            "the one before it, so none of them can start)",
            cycle[0],
            "dependencies",
        )
    named = {component[cycle[0]] for cycle in found}
    members: dict[int, list[str]] = {}
    for key in keys:
        members.setdefault(component[key], []).append(key)
    for number, steps in sorted(members.items(), key=lambda item: order[item[1][0]]):
        if len(steps) > 1 and number not in named:
            yield Problem(
                Code.DEPENDENCY_CYCLE,
                f"the dependencies make cycles among {', '.join(steps)} (each waits, "
                "through the others, for itself)",
                steps[0],
                "dependencies",
            )
