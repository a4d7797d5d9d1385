"""Which steps of a plan move on, given their states, the record and the clock.

``advance`` is called whenever something may have changed (a step completed, the
order or a line changed, the sweep's tick) and returns the transitions to make,
in the order they happen; the caller writes them (each on the order's timeline
with its ``reason``) and runs the steps that became Ready. It cascades: a
milestone completed, a step skipped or a pause resumed in one call lets its
dependants move in the same call. Rules (Salesforce DRO's, ``docs/plans.md``):

- A Pending step is *ready to go* when each of its dependencies is done
  (Completed or Skipped): a ``PLAN`` dependency waits for every instance of the
  step it names in this plan; a ``LINE`` one for the instance of the same line
  (between an ORDER-scoped step and anything, which ``validate`` refuses, it
  acts as ``PLAN``); a ``CROSS_PLAN`` one is done when its step's key is in
  ``cross_plan``, which the caller computes over every plan sharing the group
  key, this one included. A dependency that is Fatally Failed, Canceled or
  Discarded is not done: its dependants stay Pending.
- Then its condition is evaluated (over ``record``, plus ``lines[line]`` for a
  line's step): false, the step is Skipped, and counts as done for its dependants.
- Then its delay: due ``delay_minutes`` after ``placed_at`` (``ORDER_PLACED``),
  after the last completion among its dependencies (``DEPENDENCIES_DONE``; a
  dependency without ``completed_at``, or no dependency at all, counts as now),
  or after the date in a record field (``field:<name>``: a ``datetime``, a
  ``date`` (midnight) or an ISO 8601 string; naive ones take ``now``'s zone).
  Not due yet: Scheduled, with ``next_run_at``; due: Ready. A date field that is
  missing or no date makes the step Fatally Failed (a person must look).
- Ready means: a MILESTONE is Completed at once; a PAUSE goes In Progress, and
  is Completed when its resume condition holds (checked on every call); any
  other type is Ready, for the worker.
- A Scheduled step whose ``next_run_at`` has come is Ready (or as above).

A condition that cannot be evaluated (invalid logic: a group ``validate`` would
have refused) makes its step Fatally Failed, with the problem as the reason:
``advance`` never raises on a group's content.
"""

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from .conditions import ConditionError, describe, holds
from .model import (
    DEPENDENCIES_DONE,
    FIELD_PREFIX,
    ORDER_PLACED,
    Condition,
    DependencyScope,
    DependencySpec,
    GroupSpec,
    PlanState,
    StepSpec,
    StepState,
    StepType,
)

DONE = frozenset({StepState.COMPLETED, StepState.SKIPPED})  # lets dependants run
FINISHED = frozenset(
    {StepState.COMPLETED, StepState.SKIPPED, StepState.CANCELED, StepState.DISCARDED}
)


@dataclass(frozen=True, slots=True)
class StepRun:
    """One step instance of a plan, as stored."""

    id: int
    key: str
    line: int | None  # the order line of a LINE-scoped step
    state: StepState
    started_at: datetime | None = None
    completed_at: datetime | None = None
    next_run_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Transition:
    """A step instance moving from one state to another, and why (for the timeline)."""

    step_id: int
    from_state: StepState
    to_state: StepState
    next_run_at: datetime | None
    reason: str
    # Why a step failed for good (Fatally Failed), for the fallout queue's rules:
    # ``ConditionFailed`` (its condition or resume condition cannot be evaluated on
    # this order), ``DelayFailed`` (its delay cannot be computed); else "".
    error_code: str = ""


def _record(
    run: StepRun,
    record: Mapping[str, object],
    lines: Mapping[int, Mapping[str, object]],
) -> Mapping[str, object]:
    if run.line is None or run.line not in lines:
        return record
    return {**record, **lines[run.line]}


def _date(value: object, now: datetime) -> datetime | None:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is None and now.tzinfo is not None:
        moment = moment.replace(tzinfo=now.tzinfo)
    elif moment.tzinfo is not None and now.tzinfo is None:
        moment = moment.replace(tzinfo=None)
    return moment


# A due moment is stored and shown in any time zone (UTC-14 to UTC+14): one within a
# day of the calendar's ends would overflow there (a 500 where it is read).
_FIRST_SHOWABLE = datetime(1, 1, 2)
_LAST_SHOWABLE = datetime(9999, 12, 30)


def _showable(moment: datetime) -> bool:
    """Whether ``moment`` can be shown in every time zone (see above)."""
    offset = moment.utcoffset()
    try:
        naive_utc = moment.replace(tzinfo=None) - offset if offset is not None else moment
    except OverflowError:
        return False
    return _FIRST_SHOWABLE <= naive_utc <= _LAST_SHOWABLE


def _minutes(count: int) -> str:
    return f"{count} minute{'s' if count != 1 else ''}"


class _Plan:
    """The working copy of a plan's steps during one ``advance``."""

    def __init__(
        self,
        group: GroupSpec,
        steps: Sequence[StepRun],
        record: Mapping[str, object],
        lines: Mapping[int, Mapping[str, object]],
        now: datetime,
        placed_at: datetime,
        cross_plan: frozenset[str],
    ) -> None:
        self.specs = {spec.key: spec for spec in group.steps}
        self.runs = list(steps)
        self.record = record
        self.lines = lines
        self.now = now
        self.placed_at = placed_at
        self.cross_plan = cross_plan
        self.transitions: list[Transition] = []
        # Indexes, so that a plan of 5,000 lines' steps is not scanned per step.
        self.by_key: dict[str, list[int]] = {}
        self.by_line: dict[tuple[str, int | None], list[int]] = {}
        for index, run in enumerate(self.runs):
            self.by_key.setdefault(run.key, []).append(index)
            self.by_line.setdefault((run.key, run.line), []).append(index)
        self.waits: dict[str, list[DependencySpec]] = {}
        self.dependants: dict[str, list[DependencySpec]] = {}
        for dependency in group.dependencies:
            self.waits.setdefault(dependency.step, []).append(dependency)
            self.dependants.setdefault(dependency.on, []).append(dependency)

    def affected(self, index: int) -> set[int]:
        """The runs that may move because run ``index`` moved: itself and its dependants
        (through a LINE dependency, only the same line's)."""
        run = self.runs[index]
        found = {index}
        for dependency in self.dependants.get(run.key, ()):
            if dependency.scope is DependencyScope.LINE and run.line is not None:
                found.update(self.by_line.get((dependency.step, run.line), ()))
                found.update(self.by_line.get((dependency.step, None), ()))
            else:
                found.update(self.by_key.get(dependency.step, ()))
        return found

    def move(
        self,
        index: int,
        to: StepState,
        reason: str,
        next_run_at: datetime | None = None,
        error_code: str = "",
    ) -> None:
        run = self.runs[index]
        self.transitions.append(Transition(run.id, run.state, to, next_run_at, reason, error_code))
        self.runs[index] = replace(
            run,
            state=to,
            next_run_at=next_run_at,
            started_at=self.now if to is StepState.IN_PROGRESS else run.started_at,
            completed_at=self.now if to in FINISHED else run.completed_at,
        )

    def waited_for(self, run: StepRun) -> list[StepRun] | None:
        """The instances ``run`` depends on in this plan, or None if one is not done."""
        found: list[StepRun] = []
        for dependency in self.waits.get(run.key, ()):
            if dependency.scope is DependencyScope.CROSS_PLAN:
                if dependency.on not in self.cross_plan:
                    return None
                continue
            if dependency.scope is DependencyScope.LINE and run.line is not None:
                # The same line's instance (an ORDER-scoped one has no line: all of it).
                indexes = self.by_line.get((dependency.on, run.line), []) + self.by_line.get(
                    (dependency.on, None), []
                )
            else:
                indexes = self.by_key.get(dependency.on, [])
            for other in (self.runs[index] for index in indexes):
                if other.state not in DONE:
                    return None
                found.append(other)
        return found

    def holds(self, index: int, condition: Condition) -> bool | str:
        """Whether the condition holds for the step, or the reason it cannot be told."""
        run = self.runs[index]
        try:
            return holds(condition, _record(run, self.record, self.lines))
        except ConditionError as error:
            return f"condition {describe(condition)} cannot be evaluated: {error.problem.message}"

    def due(self, index: int, spec: StepSpec, waited: list[StepRun]) -> datetime | str:
        """When the step's delay is over, or why that cannot be told."""
        delay = timedelta(minutes=spec.delay_minutes)
        if spec.delay_from == ORDER_PLACED:
            return self.placed_at + delay
        if spec.delay_from.startswith(FIELD_PREFIX):
            name = spec.delay_from[len(FIELD_PREFIX) :].strip()
            record = _record(self.runs[index], self.record, self.lines)
            if name not in record or record[name] in (None, ""):
                return f"the delay counts from {name}, which has no value"
            moment = _date(record[name], self.now)
            if moment is None:
                return f"the delay counts from {name}, which is not a date: {record[name]!r}"
            try:
                due = moment + delay
            except OverflowError:
                due = None
            if due is None or not _showable(due):
                end = "before year 2" if due is not None and due.year < 2 else "after 9999"
                return f"the delay counts from {name}, {moment.isoformat()}, and ends {end}"
            return due
        ends = [run.completed_at for run in waited if run.completed_at is not None]
        if len(ends) < len(waited) or not ends:
            ends.append(self.now)
        return max(ends) + delay

    def ready(self, index: int, spec: StepSpec, reason: str) -> None:
        """The step may run: a milestone completes, a pause starts waiting."""
        if spec.type is StepType.MILESTONE:
            self.move(index, StepState.COMPLETED, f"{reason}: milestone reached")
        elif spec.type is StepType.PAUSE:
            waiting = describe(spec.resume_condition) if spec.resume_condition else "nothing"
            self.move(index, StepState.IN_PROGRESS, f"{reason}: paused until {waiting} holds")
        else:
            self.move(index, StepState.READY, reason)

    def pending(self, index: int, spec: StepSpec) -> None:
        run = self.runs[index]
        waited = self.waited_for(run)
        if waited is None:
            return
        if spec.condition is not None:
            held = self.holds(index, spec.condition)
            if isinstance(held, str):
                self.move(index, StepState.FATALLY_FAILED, held, error_code="ConditionFailed")
                return
            if not held:
                self.move(
                    index,
                    StepState.SKIPPED,
                    f"condition {describe(spec.condition)} is false: skipped",
                )
                return
        reason = "dependencies done" if waited or self.has_dependencies(run) else "no dependencies"
        if spec.delay_minutes > 0 or spec.delay_from.startswith(FIELD_PREFIX):
            due = self.due(index, spec, waited)
            if isinstance(due, str):
                self.move(index, StepState.FATALLY_FAILED, due, error_code="DelayFailed")
                return
            source = {
                ORDER_PLACED: "the order was placed",
                DEPENDENCIES_DONE: "its dependencies were done",
            }.get(spec.delay_from, spec.delay_from[len(FIELD_PREFIX) :].strip())
            delay = f"{_minutes(spec.delay_minutes)} after {source}"
            if due > self.now:
                self.move(
                    index,
                    StepState.SCHEDULED,
                    f"{reason}: scheduled for {due.isoformat()}, {delay}",
                    due,
                )
                return
            reason = f"{reason}; due at {due.isoformat()}, {delay}"
        self.ready(index, spec, reason)

    def has_dependencies(self, run: StepRun) -> bool:
        return bool(self.waits.get(run.key))

    def step(self, index: int) -> None:
        run = self.runs[index]
        spec = self.specs.get(run.key)
        if spec is None:
            return
        if run.state is StepState.PENDING:
            self.pending(index, spec)
        elif run.state is StepState.SCHEDULED:
            if run.next_run_at is None or run.next_run_at <= self.now:
                self.ready(index, spec, "due")
        elif run.state is StepState.READY and spec.type in (StepType.MILESTONE, StepType.PAUSE):
            self.ready(index, spec, "ready")
        elif (
            run.state is StepState.IN_PROGRESS
            and spec.type is StepType.PAUSE
            and spec.resume_condition is not None
        ):
            held = self.holds(index, spec.resume_condition)
            if isinstance(held, str):
                self.move(index, StepState.FATALLY_FAILED, held, error_code="ConditionFailed")
            elif held:
                self.move(
                    index,
                    StepState.COMPLETED,
                    f"resume condition {describe(spec.resume_condition)} holds: resumed",
                )


def advance(
    group: GroupSpec,
    steps: Sequence[StepRun],
    record: Mapping[str, object],
    now: datetime,
    placed_at: datetime,
    *,
    lines: Mapping[int, Mapping[str, object]] | None = None,
    cross_plan: frozenset[str] = frozenset(),
) -> list[Transition]:
    """The transitions to make now, in order (see the module's docstring).

    ``record``: the order's fields (``Order.Type``...); ``lines``: each line's own
    fields (``Line.Product.BackendID``...) by line id, added to the record for that
    line's steps; ``cross_plan``: the keys of the steps done in every plan sharing
    this plan's group key. Steps are looked at in the order given, again and again
    until nothing moves: each instance moves at most three times, so this ends.
    Time goes with the steps that move and their dependants, not with rounds times
    steps: a plan of 5,000 lines is advanced in one pass over its steps.
    """
    plan = _Plan(group, steps, record, lines or {}, now, placed_at, cross_plan)
    # Rounds over the runs in the order given, each seeing the moves made before it
    # in the round; only runs that may move are looked at (themselves or one of their
    # dependencies moved), which gives the same transitions as looking at them all.
    round_ = list(range(len(plan.runs)))
    while round_:
        queued = set(round_)
        following: set[int] = set()
        while round_:
            index = heapq.heappop(round_)
            made = len(plan.transitions)
            plan.step(index)
            if len(plan.transitions) == made:
                continue
            for other in plan.affected(index):
                if other > index and other not in queued:
                    queued.add(other)
                    heapq.heappush(round_, other)
                elif other <= index:
                    following.add(other)
        round_ = sorted(following)
    return plan.transitions


def plan_state(steps: Sequence[StepRun]) -> PlanState:
    """Completed when every step is Completed, Skipped, Canceled or Discarded (a plan
    without steps too); In Progress once any step has left Pending; else Not Started.
    Freezing and Frozen are the caller's to set, during a change (``freeze``)."""
    if all(run.state in FINISHED for run in steps):
        return PlanState.COMPLETED
    if any(run.state is not StepState.PENDING for run in steps):
        return PlanState.IN_PROGRESS
    return PlanState.NOT_STARTED


def freeze(steps: Sequence[StepRun]) -> PlanState:
    """A plan being changed: Freezing while a step is In Progress (it finishes first),
    then Frozen, when the change may be made."""
    if any(run.state is StepState.IN_PROGRESS for run in steps):
        return PlanState.FREEZING
    return PlanState.FROZEN


def at_risk(spec: StepSpec, run: StepRun, now: datetime) -> bool:
    """Jeopardy: a step started and not finished ``estimated_minutes - jeopardy_minutes``
    (no threshold: 0) after it started is At Risk, from that very minute on. Without
    an estimate, or before it started, a step is never at risk."""
    if spec.estimated_minutes is None or run.started_at is None or run.state in FINISHED:
        return False
    threshold = spec.estimated_minutes - (spec.jeopardy_minutes or 0)
    return now >= run.started_at + timedelta(minutes=threshold)
