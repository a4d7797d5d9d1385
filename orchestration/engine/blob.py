"""The orchestration-details blob: the decision and its whole explanation, as JSON.

Keys and nesting are those of EVA's "Blob structure example"
(``Fulfillments``, ``OrderLines``, ``ValidSuppliers``, ``Rejections``,
``HasErrors``), plus the scenario format's additions (``Errors``, ``At``,
CANCEL shipments, the flat rejections) and ours: ``FanoutSuppliers`` and
``Products`` on shipments, ``Variables`` on every score explanation, ``Boosts``
under shipment and proposition explanations, ``Dropped`` (every supplier a
sheet dropped without a reason, by the statement that dropped it), per-supplier
``Errors``, and ``Search``. Scores are floats; key order is fixed by construction.
"""

from __future__ import annotations

import contextlib
import operator
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

from ..language.compiler import MISSING, EvaluationError
from .evaluate import Candidate, Drop, Failure, LineFit, SheetRun, jsonable
from .model import OrganizationUnit
from .plan import EXACT, ZERO, Boost, StatementFailed, Step, Values, run_block
from .search import Search
from .variables import World

# ``Dropped`` lists each (supplier, statement, order line) with the values read up
# to this many; past it (thousands of OUs, each dropped by a distance filter) it
# is summarised per statement and order line: how many, which OUs, the values the
# first of them read. At 1,000 OUs x 4 sheets (2,278 entries) the list keeps the
# stored blob within twice its compressed size without it (docs/performance.md),
# and reading each dropped OU's values stays a few milliseconds.
DROPPED_LISTED = 5_000
# Errors of one statement listed one supplier each up to this many; the rest of
# that statement's suppliers are named in one more entry (``SupplierIDs``).
ERRORS_LISTED = 50


def number_text(value: Fraction | Decimal | float | int) -> str:
    """A score as people write it: '100', '0.5', '33.333333'."""
    if type(value) is Decimal:
        if value == value.to_integral_value():
            return str(int(value))
        return f"{float(value):.6f}".rstrip("0").rstrip(".")
    number = Fraction(value)
    if number.denominator == 1:
        return str(number.numerator)
    return f"{float(number):.6f}".rstrip("0").rstrip(".")


def line_boost_text(delta: Decimal, scope: str) -> str:
    """How a boost counted on an order line's score is told."""
    return f"{number_text(delta)} added to score of OrderLine due to a boost in the {scope} scope."


def boost_explanation(
    boost: Boost, previous: Decimal, description: str, *, line_id: int | None = None
) -> dict[str, Any]:
    """One score explanation: what was added, by which statement, reading what."""
    delta = boost.delta
    entry: dict[str, Any] = {}
    if line_id is not None:
        entry["OrderLineID"] = line_id
        entry["Score"] = float(delta)
    entry.update(
        {
            "Description": description,
            "Expression": boost.step.text,
            "PreviousScore": float(previous),
            "NewScore": float(EXACT.add(previous, delta)),
            "DeltaScore": float(delta),
            "Variables": {name: jsonable(value) for name, value in boost.variables.items()},
            "Line": boost.step.line,
        }
    )
    return entry


def line_explanations(
    fit: LineFit,
    *,
    line_id: int | None = None,
    memo: dict[tuple[int, str], dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """The explanations of a line's score at one OU under one sheet, in order.

    ``memo`` (one per blob, only with ``line_id``) holds explanations already
    written, by boost: an OU's Order and Supplier boosts count on each of its lines,
    a shared OrderLine boost on many OUs' lines; each is explained once, then copied
    with its own line and running score (its ``Variables`` are shared: read-only).
    """
    entries = []
    score = ZERO
    for scope, boost in fit.boosts:
        new_score = EXACT.add(score, boost.delta)
        key = (id(boost), scope)
        found = memo.get(key) if memo is not None else None
        if found is None:
            found = boost_explanation(
                boost, score, line_boost_text(boost.delta, scope), line_id=line_id
            )
            if memo is not None:
                memo[key] = found
            entries.append(found)
        else:
            # What depends on the boost alone is copied; the running score is its own.
            entry = dict(found)
            entry["OrderLineID"] = line_id
            entry["PreviousScore"] = float(score)
            entry["NewScore"] = float(new_score)
            entries.append(entry)
        score = new_score
    return entries


_first = operator.itemgetter(0)


def build(
    *,
    at: datetime,
    fulfillments: list[dict[str, Any]],
    candidates: list[Candidate],
    open_quantities: dict[int, int],
    rejections: list[dict[str, Any]],
    errors: list[dict[str, Any]],
    search: Search | None,
    unexplained: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The whole blob."""
    # By OU, then sheet: the order of ``ValidSuppliers``, and of equal scores below.
    ordered = sorted(candidates, key=lambda c: (c.unit.id, c.sheet.order))
    order_lines = []
    for line_id, q in open_quantities.items():
        if not q:
            continue
        potential = [(c.fits[line_id].score, c) for c in ordered if line_id in c.fits]
        potential.sort(key=_first, reverse=True)  # best first; stable: ties stay by OU
        order_lines.append(
            {
                "ID": line_id,
                "PotentialSuppliers": [
                    {
                        "OrganizationUnitID": c.unit.id,
                        "Score": float(score),
                        "Sheet": c.sheet.source.name,
                    }
                    for score, c in potential
                ],
            }
        )
    valid = []
    memo: dict[tuple[int, str], dict[str, Any]] = {}
    for candidate in ordered:
        explanations = []
        for line_id, fit in candidate.fits.items():
            explanations.extend(line_explanations(fit, line_id=line_id, memo=memo))
        valid.append(
            {
                "SupplierID": candidate.unit.id,
                "SupplierName": candidate.unit.name,
                "FulfillmentMethod": candidate.sheet.source.name,
                "Score": float(candidate.score),
                "ScoreExplanations": explanations,
                "FulfillableOrderLineIDs": list(candidate.fits),
            }
        )
    return {
        "Fulfillments": fulfillments,
        "OrderLines": order_lines,
        "ValidSuppliers": valid,
        "Rejections": rejections,
        "HasErrors": bool(errors),
        "Errors": errors,
        "At": at.isoformat(),
        "Search": {
            "Exact": not (search and search.bounds),
            "Propositions": search.propositions if search else 0,
            "Bound": "; ".join(search.bounds) if search and search.bounds else None,
        },
        "Dropped": unexplained or {"Statements": [], "Suppliers": []},
    }


_ABSENT = object()
_PLAIN = (str, int, bool)


def _line_names(run: SheetRun, step: Step, values: Values) -> None:
    """Set the OrderLine scope's ``with`` names a dropping statement read (the scope's
    outcomes are shared between OUs, its values are not kept)."""
    steps = run.plan.blocks.get("OrderLine", ())
    names = {other.key for other in steps if other.key}
    if not names.intersection(step.reads):
        return
    before = steps[: steps.index(step)] if step in steps else ()
    with contextlib.suppress(EvaluationError):  # it ran without an error before
        run_block(before, values)


def dropped(drops: list[Drop], world: World) -> dict[str, Any]:
    """``Dropped``: the statements that dropped suppliers without a reason, each once,
    and per supplier what dropped it and the values it read (in the order of the
    statement's ``Reads``); past ``DROPPED_LISTED``, per statement and order line:
    how many and which OUs, with the values the first of them read.

    A value is read from what the statement ran with, else it is the OU's own
    (cached by the run). OUs that ran a statement with the same values (a group,
    ``evaluate.supplier_groups``) share one list of values, read once.
    """
    statements: list[dict[str, Any]] = []
    index: dict[tuple[int, int], int] = {}
    listed = len(drops) <= DROPPED_LISTED
    rows: list[list[Any]] = []
    summary: dict[tuple[int, int | None], dict[str, Any]] = {}
    # id(values) -> the values read: a values object is dropped by one statement (a
    # group's by the statement that stopped it, an OU's by its first failure).
    shared: dict[int, list[Any]] = {}
    shared_get = shared.get
    add_row = rows.append
    supplier_value = world.supplier_value
    last_run = last_step = position = None
    group: dict[str, Any] | None = None
    last_position: int | None = -1
    last_line: int | None = -1
    for run, unit, step, line_id, values in drops:
        if step is not last_step or run is not last_run:  # drops come in runs of one
            last_run, last_step = run, step
            key = (run.order, id(step))
            position = index.get(key)
        if position is None:
            position = index[key] = len(statements)
            statements.append(_dropping_statement(run, step))
        if not listed:
            if position != last_position or line_id != last_line:  # else the same group
                last_position, last_line = position, line_id
                group = summary.get((position, line_id))
            if group is not None:
                group["Count"] += 1
                group["SupplierIDs"].append(unit.id)
                continue
        memo = id(values)
        read = shared_get(memo)
        if read is None:
            if step.scope == "OrderLine":
                _line_names(run, step, values)
            read, own = _values_read(step, unit, values, supplier_value)
            if not own:
                shared[memo] = read
        if listed:
            add_row([unit.id, position, line_id, read])
        else:
            group = summary[(position, line_id)] = {
                "Statement": position,
                "OrderLineID": line_id,
                "Count": 1,
                "SupplierIDs": [unit.id],
                "First": read,
            }
    if listed:
        return {"Statements": statements, "Suppliers": rows}
    return {"Statements": statements, "Summary": list(summary.values())}


def _dropping_statement(run: SheetRun, step: Step) -> dict[str, Any]:
    """A statement of ``Dropped``: where it is and what it reads."""
    return {
        "Sheet": run.ref,
        "Scope": step.scope,
        "Line": step.line,
        "Column": step.column,
        "Expression": step.text,
        "Reads": [".".join(path) for path in step.reads],
    }


def _values_read(
    step: Step,
    unit: OrganizationUnit,
    values: Values,
    supplier_value: Callable[[OrganizationUnit, tuple[str, ...]], object],
) -> tuple[list[Any], bool]:
    """The jsonable values ``step`` read, in the order of its reads, and whether one of
    them is the OU's own (not in ``values``, so not shared with its group)."""
    read = []
    own = False
    get = values.get
    for path in step.reads:
        value = get(path, _ABSENT)
        if value is _ABSENT:
            if path[0] == "Supplier":
                own = True
                value = supplier_value(unit, path)
            else:
                value = values[path]
        if type(value) is Decimal and value.is_finite():  # as jsonable, inline
            value = int(value) if value == value.to_integral_value() else float(value)
        elif type(value) not in _PLAIN:
            value = jsonable(value)
        read.append(value)
    return read, own


def _variables(error: StatementFailed) -> dict[str, Any]:
    return {
        name: (None if value is MISSING else jsonable(value))
        for name, value in error.values.items()
    }


def statement_error(error: StatementFailed) -> dict[str, Any]:
    """What an ``Errors`` entry of a sheet left out adds for an evaluation error:
    the scope, the statement and the values it read (no supplier: the order's)."""
    return {
        "SupplierID": None,
        "SupplierName": None,
        "Scope": error.step.scope,
        "OrderLineID": None,
        "Expression": error.step.text,
        "Variables": _variables(error),
    }


def supplier_errors(failed: list[Failure]) -> list[dict[str, Any]]:
    """``Errors`` entries for statements that failed for one supplier (it was rejected
    for that sheet, the sheet ran on): where, what, and the values the statement read."""
    entries: list[dict[str, Any]] = []
    more: dict[tuple[int, int], dict[str, Any]] = {}
    counts: dict[tuple[int, int], int] = {}
    for run, unit, line_id, error in failed:
        step = error.step
        key = (run.order, id(step))
        count = counts[key] = counts.get(key, 0) + 1
        if count > ERRORS_LISTED:
            rest = more.get(key)
            if rest is None:
                rest = more[key] = {
                    "Sheet": run.source.name,
                    "Line": error.line,
                    "Column": error.column,
                    "Code": error.code,
                    "Message": f"the same statement failed for more organization units: "
                    f"{error.message}",
                    "SupplierID": None,
                    "SupplierName": None,
                    "Scope": step.scope,
                    "OrderLineID": None,
                    "Expression": step.text,
                    "Variables": {},
                    "SupplierIDs": [],
                }
                entries.append(rest)
            rest["SupplierIDs"].append(unit.id)
            continue
        entries.append(
            {
                "Sheet": run.source.name,
                "Line": error.line,
                "Column": error.column,
                "Code": error.code,
                "Message": error.message,
                "SupplierID": unit.id,
                "SupplierName": unit.name,
                "Scope": step.scope,
                "OrderLineID": line_id,
                "Expression": step.text,
                "Variables": _variables(error),
            }
        )
    return entries
