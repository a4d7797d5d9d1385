"""A sheet made ready to run: checked, split into scopes, statements compiled.

``plan_for(source)`` parses and checks a sheet once per distinct text (the same
check as saving one), and gives a ``Plan``: the header (action, options), per
scope its statements as small runnable records, and the names the sheet reads,
sorted by what they are about. ``run_block`` runs one scope's statements for one
candidate, following the rules of ``docs/routing.md`` (``require`` with ``when``
and ``but continue``, ``with``, ``data``, ``score add``, ``fanout``).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Context, Decimal
from typing import Any, TypedDict

from ..language import nodes
from ..language.catalogue import OPTIONS
from ..language.checker import analyze, iter_variables
from ..language.compiler import (
    INVALID_EXPRESSION_VALUE_TYPE,
    MISSING,
    EvaluationError,
    canonical_path,
    compile_sheet,
)
from ..language.errors import Code, Diagnostic, Span
from ..language.lines import split_lines
from . import variables as v

REQUIRE, WITH, DATA, SCORE, FANOUT = "require", "with", "data", "score", "fanout"
# Sums of boosts: a boost has at most 28 significant digits, so sums at this
# precision are exact (as fractions would be, at a fraction of the cost).
EXACT = Context(prec=200)
# What one ``score add`` may add, either way. Scores are summed exactly but compared
# and shown as floats, and a float ends at about 1.8e308: a literal of 400 digits made
# every route of its sheet fail. At most 1e300 each, a sum of fewer than a hundred
# million boosts stays a float; sheets that weigh by powers of ten keep their room.
MAX_SCORE = Decimal("1e300")
ZERO = Decimal(0)


def exact_sum(numbers: Iterable[Decimal]) -> Decimal:
    """The exact sum of Decimal scores."""
    total = ZERO
    for number in numbers:
        total = EXACT.add(total, number)
    return total


# What a statement run once per group of OUs may read: the order, the OU, names.
GROUPABLE = frozenset({v.ORDER, v.SUPPLIER, v.NAME})


class Values(dict):  # type: ignore[type-arg]
    """A candidate's values by canonical path; unknown names are MISSING.

    ``resolve``, when set, computes a value the first time a statement reads it
    (an OU's distance, route, local time): an OU that the first requirement
    rejects never has its route asked for.
    """

    __slots__ = ("resolve",)

    def __init__(self, *args: Any, resolve: Any = None) -> None:
        super().__init__(*args)
        self.resolve = resolve

    def __missing__(self, key: Any) -> object:
        resolve = self.resolve
        if resolve is None:
            return MISSING
        value = self[key] = resolve(key)
        return value

    def child(self) -> Values:
        """A copy to add a narrower candidate's values to (same resolver)."""
        return Values(self, resolve=self.resolve)


@dataclass(frozen=True, slots=True)
class Step:
    """One statement, compiled: what it is and what it needs to run."""

    kind: str
    line: int
    text: str  # the statement as written, for explanations
    scope: str
    value: Any = None  # compiled: the condition, the with/data/score/fanout value
    applies_when: Any = None
    reason: str | None = None
    description: Any = None
    reason_when: Any = None
    but_continue: bool = False
    score_when: Any = None
    name: str | None = None
    key: tuple[str, ...] = ()
    reads: tuple[tuple[str, ...], ...] = ()  # paths the explanation reports
    decides: tuple[tuple[str, ...], ...] = ()  # paths the outcome depends on (not the text)
    describes: tuple[tuple[str, ...], ...] = ()  # paths the reason's description reads
    column: int = 1  # where the statement starts on its line, for explanations


class _StepCommon(TypedDict):
    """The fields every kind of ``Step`` gets alike (``plan_for`` builds them once)."""

    line: int
    column: int
    text: str
    scope: str
    reads: tuple[tuple[str, ...], ...]
    decides: tuple[tuple[str, ...], ...]
    describes: tuple[tuple[str, ...], ...]


@dataclass(frozen=True, slots=True)
class Plan:
    """A checked, compiled sheet."""

    diagnostics: tuple[Diagnostic, ...]
    action: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    blocks: dict[str, tuple[Step, ...]] = field(default_factory=dict)
    reads: dict[str, tuple[tuple[str, ...], ...]] = field(default_factory=dict)
    # The leading Supplier statements that can run once per group of OUs sharing the
    # values they read (see ``evaluate.supplier_groups``), without their descriptions.
    supplier_prefix: tuple[Step, ...] = ()
    # What the OrderLine scope's outcome depends on besides the line and the stock:
    # (OU, line) pairs that agree on these share it (see ``evaluate_sheet``).
    line_inputs: tuple[tuple[str, ...], ...] = ()

    def option(self, name: str) -> Any:
        """An option's value, or its default."""
        return self.options.get(name, OPTIONS[name].default)

    @property
    def partial(self) -> bool:
        """Whether the sheet may fulfil part of an order."""
        return bool(self.option("AllowPartialFulfillment"))

    @property
    def intents(self) -> tuple[str, ...]:
        """The order intents the sheet routes."""
        return tuple(self.option("OrderIntents"))


def _text(lines: list[str], statement: nodes.Statement) -> str:
    span = statement.span
    if span.line == span.end_line:
        return lines[span.line - 1][span.column - 1 : span.end_column - 1] + "\n"
    parts = [lines[span.line - 1][span.column - 1 :]]
    parts.extend(lines[span.line : span.end_line - 1])
    parts.append(lines[span.end_line - 1][: span.end_column - 1])
    return "\n".join(parts) + "\n"


@functools.lru_cache(maxsize=256)
def plan_for(source: str) -> Plan:
    """The plan of a sheet; a sheet with any problem has ``diagnostics`` and no blocks."""
    analysis = analyze(source)
    if analysis.diagnostics:
        return Plan(analysis.diagnostics)
    compiled = compile_sheet(source)
    if compiled.diagnostics:  # pragma: no cover - analyze finds everything compile does
        return Plan(compiled.diagnostics)
    lines = split_lines(source)  # as the tokenizer counts them: spans index these
    blocks: dict[str, list[Step]] = {}
    scope: str | None = None
    names: set[str] = set()
    reads: dict[str, set[tuple[str, ...]]] = {}
    for index, statement in enumerate(compiled.sheet.statements):
        expressions = compiled.expressions[index]
        if isinstance(statement, nodes.Scope):
            scope = statement.name
            blocks.setdefault(scope, [])
            continue
        if scope is None:
            continue  # header: fulfillment, action, options (the checker read them)
        used: list[tuple[str, ...]] = []
        for name in ("condition", "applies_when", "reason_when", "value", "when"):
            expr = getattr(statement, name, None)
            if isinstance(expr, nodes.Expr):
                used.extend(canonical_path(var.path) for var in iter_variables(expr))
        decides = tuple(dict.fromkeys(used))
        reason = getattr(statement, "reason", None)
        describes: tuple[tuple[str, ...], ...] = ()
        if reason is not None and reason.description is not None:
            describes = tuple(
                canonical_path(var.path) for var in iter_variables(reason.description)
            )
            used.extend(describes)
        for path in used:
            kind = v.kind_of(path, frozenset(names))
            reads.setdefault(kind, set()).add(path)
        common: _StepCommon = {
            "line": statement.span.line,
            "column": statement.span.column,
            "text": _text(lines, statement),
            "scope": scope,
            "reads": tuple(dict.fromkeys(used)),
            "decides": decides,
            "describes": describes,
        }
        match statement:
            case nodes.Require():
                step = Step(
                    REQUIRE,
                    value=expressions["condition"],
                    applies_when=expressions.get("applies_when"),
                    reason=reason.code if reason else None,
                    description=expressions.get("reason_description"),
                    reason_when=expressions.get("reason_when"),
                    but_continue=statement.but_continue,
                    **common,
                )
            case nodes.With() | nodes.Data():
                names.add(statement.name)
                step = Step(
                    WITH if isinstance(statement, nodes.With) else DATA,
                    value=expressions["value"],
                    name=statement.name,
                    key=v.path_key(statement.name),
                    **common,
                )
            case nodes.ScoreAdd():
                step = Step(
                    SCORE,
                    value=expressions["value"],
                    score_when=expressions.get("when"),
                    **common,
                )
            case nodes.Fanout():
                step = Step(FANOUT, value=expressions["value"], **common)
            case _:  # pragma: no cover - the checker refuses anything else in a scope
                continue
        blocks[scope].append(step)
    return Plan(
        (),
        analysis.action,
        dict(analysis.options),
        {name: tuple(steps) for name, steps in blocks.items()},
        {kind: tuple(sorted(paths)) for kind, paths in reads.items()},
        _supplier_prefix(blocks.get("Supplier", [])),
        _line_inputs(blocks),
    )


# Supplier values that differ from OU to OU and cost something to compute: a
# statement reading one is never run per group.
_PER_UNIT = frozenset(
    {
        ("DistanceToShippingAddressInKm",),
        ("DistanceToBillingAddressInKm",),
        ("RouteToShippingAddressByBike",),
    }
)


def _line_inputs(blocks: dict[str, list[Step]]) -> tuple[tuple[str, ...], ...]:
    """What OrderLine statements decide by that differs from OU to OU: supplier
    values and the names the Supplier and FulfillmentOptions scopes set (the
    order's values and the Order scope's names are the same for every OU)."""
    per_unit = {
        step.key
        for scope in ("Supplier", "FulfillmentOptions")
        for step in blocks.get(scope, [])
        if step.kind in (WITH, DATA)
    }
    inputs: dict[tuple[str, ...], None] = {}
    for step in blocks.get("OrderLine", []):
        for path in step.decides:
            if path[0] == "Supplier" or path in per_unit:
                inputs[path] = None
    return tuple(inputs)


def _supplier_prefix(steps: list[Step]) -> tuple[Step, ...]:
    """The leading statements that read nothing but the order, names and supplier
    values cheap to compute (no distances, no routes)."""
    prefix = []
    for step in steps:
        if step.kind == FANOUT:
            break
        if any(path[0] == "Supplier" and path[1:2] in _PER_UNIT for path in step.decides):
            break
        if any(v.kind_of(path, frozenset()) not in GROUPABLE for path in step.decides):
            break
        prefix.append(dataclasses.replace(step, description=None))
    return tuple(prefix)


# --- Running a block ----------------------------------------------------------------------


@dataclass(slots=True)
class Rejected:
    """A failed requirement whose reason is to be recorded."""

    step: Step
    description: str | None


@dataclass(slots=True)
class Boost:
    """A ``score add`` that added something."""

    step: Step
    delta: Decimal
    variables: dict[str, object]


@dataclass(slots=True)
class Outcome:
    """What a block did for one candidate."""

    rejected: bool = False
    stopped: bool = False  # rejected by a line without `but continue`: nothing more runs
    failures: list[Step] = field(default_factory=list)
    reasons: list[Rejected] = field(default_factory=list)
    boosts: list[Boost] = field(default_factory=list)
    data: dict[str, object] = field(default_factory=dict)
    fanout: object = None


def _truth(value: object, step: Step, what: str) -> bool:
    if value is True:
        return True
    if value is False or value is MISSING:
        return False
    raise EvaluationError(
        INVALID_EXPRESSION_VALUE_TYPE,
        f"{what} must be true or false, but it is {type(value).__name__}",
        _span(step),
    )


def holds(step: Step, context: Any) -> bool:
    """Whether a ``require`` statement's condition holds (as ``run_block`` judges it)."""
    return _truth(step.value(context), step, "the requirement")


def _span(step: Step) -> Any:
    return Span(step.line, 1, step.line, 1 + len(step.text.split("\n", 1)[0]))


def snapshot(step: Step, values: Values) -> dict[str, object]:
    """The values of the names a statement read, for its explanation."""
    return {".".join(path): values[path] for path in step.reads}


class StatementFailed(EvaluationError):
    """An ``EvaluationError`` with the statement it happened in and the values it read.

    ``run_block`` raises it, so a caller can confine the error to one candidate
    (``evaluate_sheet`` rejects that supplier for that sheet only) and explain it.
    """

    def __init__(self, error: EvaluationError, step: Step, values: dict[str, object]) -> None:
        super().__init__(error.code, error.message, error.span)
        self.step = step
        self.values = values


def statement_failed(error: EvaluationError, step: Step, values: Values) -> StatementFailed:
    """``error`` with the statement it happened in and the values that statement read."""
    if isinstance(error, StatementFailed):
        return error
    read: dict[str, object] = {}
    for path in step.reads:
        try:
            read[".".join(path)] = values[path]
        except EvaluationError:  # pragma: no cover - reading a name does not evaluate
            read[".".join(path)] = MISSING
    return StatementFailed(error, step, read)


def _reject(outcome: Outcome, step: Step, context: Any) -> bool:
    """Note that the requirement ``step`` failed (with its reason, if it gives one
    here); return whether the candidate is stopped (no ``but continue``)."""
    outcome.rejected = True
    outcome.failures.append(step)
    if step.reason is not None and (
        step.reason_when is None or _truth(step.reason_when(context), step, "'when'")
    ):
        description = None
        if step.description is not None:
            text = step.description(context)
            description = text if isinstance(text, str) else None
        outcome.reasons.append(Rejected(step, description))
    if not step.but_continue:
        outcome.stopped = True
        return True
    return False


def _no_score(delta: object, step: Step) -> None:
    """A ``score add`` whose value does not count: it adds nothing if the value is
    missing; a number past ``MAX_SCORE`` (or not finite), or anything else, is an
    error."""
    if type(delta) is Decimal:
        raise EvaluationError(
            Code.TOO_LARGE,
            f"a score adds at most {MAX_SCORE:.0e} either way; this one adds {delta:.6g}",
            _span(step),
        )
    if delta is not MISSING:
        raise EvaluationError(
            INVALID_EXPRESSION_VALUE_TYPE,
            f"a score is a number, but this is {type(delta).__name__}",
            _span(step),
        )


def run_block(steps: tuple[Step, ...], values: Values, *, rejected: bool = False) -> Outcome:
    """Run one scope's statements for one candidate; ``values`` gains its names.

    ``rejected`` is true for a candidate an earlier scope rejected with ``but
    continue``: its requirements still run (for their reasons) until one
    without ``but continue`` fails; its scores and data do not. An expression
    that fails raises ``StatementFailed`` (an ``EvaluationError``) naming the
    statement and the values it read.
    """
    outcome = Outcome(rejected=rejected)
    context = values.__getitem__
    step = None
    try:
        for step in steps:
            kind = step.kind
            if kind == REQUIRE:
                if step.applies_when is not None and not _truth(
                    step.applies_when(context), step, "'when'"
                ):
                    continue
                if _truth(step.value(context), step, "the requirement"):
                    continue
                if _reject(outcome, step, context):
                    return outcome
            elif kind == WITH:
                values[step.key] = step.value(context)
            elif outcome.rejected:
                continue  # scores and data of a rejected candidate do not count
            elif kind == SCORE:
                if step.score_when is not None and not _truth(
                    step.score_when(context), step, "'when'"
                ):
                    continue
                delta = step.value(context)
                if type(delta) is not Decimal or not -MAX_SCORE <= delta <= MAX_SCORE:
                    _no_score(delta, step)  # nothing added, or an error
                    continue
                outcome.boosts.append(Boost(step, delta, snapshot(step, values)))
            elif kind == DATA:
                value = step.value(context)
                values[step.key] = value
                outcome.data[step.name] = value  # type: ignore[index]
            elif kind == FANOUT:
                outcome.fanout = step.value(context)
    except EvaluationError as error:
        if step is None or isinstance(error, StatementFailed):
            raise
        raise statement_failed(error, step, values) from error
    return outcome
