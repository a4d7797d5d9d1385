"""Running a sheet over the order: which OUs can fulfil which lines, how well, and why not.

``evaluate_sheet`` runs the Order, Supplier, FulfillmentOptions, OrderLine and
OrderLineSuppliers scopes of one sheet (see ``docs/routing.md``) and returns the
candidates (sheet, OU) with, per line they can fulfil, how many units at most and
the line's score with its explanations; plus the rejections to record. The
Shipment, Fanout and FulfillmentProposition scopes run later, in the search.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from ..language.compiler import MISSING
from . import variables as v
from .model import (
    CANCELLED,
    COMPLETED,
    DEACTIVATED,
    IN_PROGRESS,
    NEW,
    SALES,
    OrderLine,
    OrganizationUnit,
    Scenario,
    SheetSource,
)
from .plan import Boost, Outcome, Plan, Values, run_block
from .variables import FULFILLMENT_OPTIONS, World

# FulfillmentOption.X.IsAvailable for each option, looked up once.
_OPTION_PATHS = tuple(
    (option, v.path_key(f"FulfillmentOption.{option}.IsAvailable"))
    for option in FULFILLMENT_OPTIONS
)


@dataclass(slots=True)
class History:
    """What the fulfilment history means for this run."""

    open: dict[int, int]  # line id -> quantity still to route
    cancelled: set[tuple[int, int]]  # (line, OU) that cancelled: never again
    deactivated: Counter[tuple[int, int, int | None]]  # (line, OU, sheet) -> count
    attempts: int


def read_history(scenario: Scenario) -> History:
    """Open quantities and exclusions from the fulfilment history."""
    routed: Counter[int] = Counter()
    seen_tasks: set[tuple[int, str]] = set()
    cancelled: set[tuple[int, int]] = set()
    deactivated: Counter[tuple[int, int, int | None]] = Counter()
    attempts: set[object] = set()
    for entry in scenario.fulfillment_history:
        attempts.add(
            ("attempt", entry.attempt)
            if entry.attempt is not None
            else ("pair", entry.organization_unit, entry.sheet)
        )
        if entry.status in (NEW, IN_PROGRESS, COMPLETED):
            if entry.task is not None:
                if (entry.order_line, entry.task) in seen_tasks:
                    continue  # another copy of a fanned-out task
                seen_tasks.add((entry.order_line, entry.task))
            routed[entry.order_line] += entry.quantity
        elif entry.status == CANCELLED:
            if entry.cancellation_reason == "FulfillmentCancelled":
                routed[entry.order_line] += entry.quantity
            elif entry.organization_unit is not None:
                cancelled.add((entry.order_line, entry.organization_unit))
        elif entry.status == DEACTIVATED and entry.organization_unit is not None:
            deactivated[(entry.order_line, entry.organization_unit, entry.sheet)] += 1
    open_quantities = {
        line.id: max(0, line.quantity - routed[line.id]) for line in scenario.order.lines
    }
    return History(open_quantities, cancelled, deactivated, len(attempts))


@dataclass(slots=True)
class LineFit:
    """One line an OU can fulfil under a sheet."""

    line: OrderLine
    cap: int  # most units this OU can ship of it (stock and open quantity)
    boosts: list[tuple[str, Boost]] = field(default_factory=list)  # (scope, boost)
    data: dict[str, object] = field(default_factory=dict)
    score: Fraction = Fraction(0)


@dataclass(slots=True)
class Candidate:
    """A (sheet, OU) that can fulfil at least one line."""

    sheet: SheetRun
    unit: OrganizationUnit
    values: Values  # after the Supplier scope: what its shipments start from
    data: dict[str, object]
    fits: dict[int, LineFit]
    index: int = 0

    @property
    def partial(self) -> bool:
        """Whether the sheet may fulfil part of an order (and so combine)."""
        return self.sheet.plan.partial

    @property
    def score(self) -> Fraction:
        """The supplier's score: the sum of its lines' scores."""
        return sum((fit.score for fit in self.fits.values()), Fraction(0))


@dataclass(slots=True)
class SheetRun:
    """One sheet's run over the order."""

    source: SheetSource
    plan: Plan
    order: int  # position among the sheets (tie-break and listing order)
    values: Values = field(default_factory=Values)
    data: dict[str, object] = field(default_factory=dict)
    rejected: bool = False
    splittable: bool = False
    candidates: list[Candidate] = field(default_factory=list)
    line_data: dict[int, dict[str, object]] = field(default_factory=dict)

    @property
    def ref(self) -> dict[str, Any]:
        """``{ID, Name}`` as the blob names a sheet."""
        return {"ID": self.source.id, "Name": self.source.name}


class Recorder:
    """Collects the rejections of a run, as blob entries."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def add(
        self,
        *,
        sheet: SheetRun,
        scope: str,
        reason: str | None,
        description: str | None,
        expression: str | None,
        line: int | None,
        unit: OrganizationUnit | None = None,
        order_line: int | None = None,
    ) -> None:
        """Record one rejection."""
        self.entries.append(
            {
                "SupplierID": unit.id if unit else None,
                "SupplierName": unit.name if unit else None,
                "Sheet": sheet.source.name,
                "Scope": scope,
                "OrderLineID": order_line,
                "Reason": reason,
                "Description": description,
                "Expression": expression,
                "Line": line,
            }
        )

    def outcome(
        self,
        outcome: Outcome,
        *,
        sheet: SheetRun,
        unit: OrganizationUnit | None = None,
        order_line: int | None = None,
        always: bool = False,
    ) -> None:
        """Record the reasons of a block's failed requirements (all of them if ``always``)."""
        recorded = {id(item.step) for item in outcome.reasons}
        for item in outcome.reasons:
            self.add(
                sheet=sheet,
                scope=item.step.scope,
                reason=item.step.reason,
                description=item.description,
                expression=item.step.text,
                line=item.step.line,
                unit=unit,
                order_line=order_line,
            )
        if always:
            for step in outcome.failures:
                if id(step) not in recorded:
                    self.add(
                        sheet=sheet,
                        scope=step.scope,
                        reason=None,
                        description=None,
                        expression=step.text,
                        line=step.line,
                        unit=unit,
                        order_line=order_line,
                    )


def _fill(values: Values, paths: tuple[tuple[str, ...], ...], get: Any) -> None:
    for path in paths:
        values[path] = get(path)


def evaluate_sheet(
    world: World,
    run: SheetRun,
    history: History,
    lines: list[OrderLine],
    recorder: Recorder,
    *,
    splitting: bool,
) -> None:
    """Run the order, supplier and line scopes of ``run``'s sheet; fill its candidates.

    Raises ``EvaluationError`` when an expression fails: the caller leaves the
    sheet out.
    """
    plan = run.plan
    reads = plan.reads
    blocks = plan.blocks
    values = run.values
    _fill(values, reads.get(v.ORDER, ()), world.order_value)
    outcome = run_block(blocks.get("Order", ()), values)
    if outcome.rejected:
        run.rejected = True
        recorder.outcome(outcome, sheet=run, always=True)
        return
    run.data = outcome.data
    order_boosts = [("Order", boost) for boost in outcome.boosts]
    if plan.action == "CANCEL":
        return  # a CANCEL sheet only decides whether it applies to the order
    run.splittable = splitting and plan.partial and not plan.option("DisableLineSplitting")
    replacements = bool(plan.option("UseReplacementProductsForStock"))
    max_retry = int(plan.option("MaxRetryCountForDeactivatedLines"))
    needs_stock = world.order.intent == SALES
    line_paths = reads.get(v.LINE, ())
    quantity_path = v.path_key("SupplierQuantityAvailable")
    supplier_steps = blocks.get("Supplier", ())
    option_steps = blocks.get("FulfillmentOptions")
    line_steps = blocks.get("OrderLine", ())
    sheet_id = run.source.id
    line_values = {}
    for line in lines:
        base: dict[tuple[str, ...], object] = {}
        for path in line_paths:
            base[path] = world.line_value(line, path)
        line_values[line.id] = base

    for unit in world.units.values():
        supplier = Values(values, resolve=world.resolver(unit))
        outcome = run_block(supplier_steps, supplier)
        recorder.outcome(outcome, sheet=run, unit=unit)
        if outcome.stopped:
            continue
        rejected = outcome.rejected
        boosts = order_boosts + [("Supplier", boost) for boost in outcome.boosts]
        data = outcome.data
        if option_steps is not None and not rejected:
            available = []
            for option in FULFILLMENT_OPTIONS:
                scoped = supplier.child()
                for other, path in _OPTION_PATHS:
                    scoped[path] = other == option
                result = run_block(option_steps, scoped)
                recorder.outcome(result, sheet=run, unit=unit)
                if not result.rejected:
                    available.append(result)
            if not available:
                recorder.add(
                    sheet=run,
                    scope="FulfillmentOptions",
                    reason="NoFulfillmentOption",
                    description="No fulfilment option is available at this organization unit.",
                    expression=None,
                    line=None,
                    unit=unit,
                )
                continue
            boosts += [("FulfillmentOptions", boost) for boost in available[0].boosts]
            data = {**data, **available[0].data}
        fits: dict[int, LineFit] = {}
        for line in lines:
            if (line.id, unit.id) in history.cancelled:
                if not rejected:
                    recorder.add(
                        sheet=run,
                        scope="OrderLine",
                        reason="PreviouslyCancelled",
                        description=(
                            f"{unit.name} cancelled order line {line.id} before; "
                            "it does not get it again."
                        ),
                        expression=None,
                        line=None,
                        unit=unit,
                        order_line=line.id,
                    )
                continue
            deactivations = history.deactivated[(line.id, unit.id, sheet_id)]
            if deactivations and deactivations >= max_retry:
                if not rejected:
                    recorder.add(
                        sheet=run,
                        scope="OrderLine",
                        reason="MaxRetryCountForDeactivatedLines",
                        description=(
                            f"Order line {line.id} was deactivated at {unit.name} "
                            f"{deactivations} time(s) "
                            f"under this sheet; MaxRetryCountForDeactivatedLines is {max_retry}."
                        ),
                        expression=None,
                        line=None,
                        unit=unit,
                        order_line=line.id,
                    )
                continue
            stock = world.available(unit.id, line.product, replacements=replacements)
            scoped = supplier.child()
            scoped.update(line_values[line.id])
            scoped[quantity_path] = stock
            result = run_block(line_steps, scoped, rejected=rejected)
            recorder.outcome(result, sheet=run, unit=unit, order_line=line.id)
            if result.rejected:
                continue
            wanted = history.open[line.id]
            cap = min(wanted, stock) if needs_stock else wanted
            if cap < (1 if run.splittable else wanted):
                recorder.add(
                    sheet=run,
                    scope="OrderLine",
                    reason="NoAvailableStock" if cap == 0 else "NotEnoughStockForWholeLine",
                    description=(
                        f"{unit.name} has {stock} available of the {wanted} needed"
                        + ("" if cap == 0 else "; this sheet may not split the line")
                        + "."
                    ),
                    expression=None,
                    line=None,
                    unit=unit,
                    order_line=line.id,
                )
                continue
            fit = LineFit(line, cap, list(boosts), dict(result.data))
            fit.boosts.extend(("OrderLine", boost) for boost in result.boosts)
            fits[line.id] = fit
        if fits and not rejected:
            run.candidates.append(Candidate(run, unit, supplier, data, fits))

    _line_suppliers(run, lines, line_values, recorder)
    for candidate in run.candidates:
        for fit in candidate.fits.values():
            fit.score = sum((Fraction(boost.delta) for _s, boost in fit.boosts), Fraction(0))


def _line_suppliers(
    run: SheetRun,
    lines: list[OrderLine],
    line_values: dict[int, dict[tuple[str, ...], object]],
    recorder: Recorder,
) -> None:
    steps = run.plan.blocks.get("OrderLineSuppliers")
    if steps is None:
        return
    count_path = v.path_key("SupplierCount")
    for line in lines:
        holders = [c for c in run.candidates if line.id in c.fits]
        scoped = Values(run.values)
        scoped.update(line_values[line.id])
        scoped[count_path] = len(holders)
        outcome = run_block(steps, scoped)
        if outcome.rejected:
            recorder.outcome(outcome, sheet=run, order_line=line.id, always=True)
            for candidate in holders:
                del candidate.fits[line.id]
            continue
        for candidate in holders:
            fit = candidate.fits[line.id]
            fit.boosts.extend(("OrderLineSuppliers", boost) for boost in outcome.boosts)
            fit.data.update(outcome.data)
    run.candidates = [c for c in run.candidates if c.fits]


def jsonable(value: object) -> object:
    """A language value as JSON: numbers as int or float, lists as lists, nothing as null."""
    if value is MISSING or value is None:
        return None
    if type(value) is tuple:
        return [jsonable(item) for item in value]
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value
    try:
        number = Fraction(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(value)
    return int(number) if number.denominator == 1 else float(number)
