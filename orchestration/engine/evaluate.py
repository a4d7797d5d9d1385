"""Running a sheet over the order: which OUs can fulfil which lines, how well, and why not.

``evaluate_sheet`` runs the Order, Supplier, FulfillmentOptions, OrderLine and
OrderLineSuppliers scopes of one sheet (see ``docs/routing.md``) and returns the
candidates (sheet, OU) with, per line they can fulfil, how many units at most and
the line's score with its explanations; plus the rejections to record. The
Shipment, Fanout and FulfillmentProposition scopes run later, in the search.

Every supplier a sheet drops is explained: by the reason of the statement that
dropped it (``Rejections``, the reference's shape), or else by that statement
itself with the values it read (``Recorder.dropped``, kept as tuples and turned
into the blob's ``Dropped`` once, by ``blob.dropped``). An expression that fails
for one supplier (a division by zero, a type clash) rejects that supplier for
that sheet only and is recorded as an error (``Recorder.failed``); only an error
in a scope run for no single supplier (Order, OrderLineSuppliers, and in the
search FulfillmentProposition) leaves the whole sheet out.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

from ..language.compiler import MISSING, EvaluationError
from . import nearby
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
from .network import TEXTS_KEPT, is_static
from .plan import (
    DATA,
    EXACT,
    REQUIRE,
    WITH,
    ZERO,
    Boost,
    Outcome,
    Plan,
    Rejected,
    StatementFailed,
    Step,
    Values,
    exact_sum,
    holds,
    run_block,
    statement_failed,
)
from .variables import FULFILLMENT_OPTIONS, World, group_units, same

# FulfillmentOption.X.IsAvailable for each option, looked up once.
_OPTION_PATHS = tuple(
    (option, v.path_key(f"FulfillmentOption.{option}.IsAvailable"))
    for option in FULFILLMENT_OPTIONS
)

_QUANTITY_ORDERED = v.path_key("OrderLine.QuantityOrdered")


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
    # (scope, boost), and the data: shared with other fits, never changed in place.
    boosts: list[tuple[str, Boost]] = field(default_factory=list)
    data: dict[str, object] = field(default_factory=dict)
    score: Decimal = ZERO  # the sum of its boosts (exact)


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
        return self.sheet.partial

    @property
    def score(self) -> Decimal:
        """The supplier's score: the sum of its lines' scores."""
        return exact_sum(fit.score for fit in self.fits.values())


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
    replacements: bool = False  # option UseReplacementProductsForStock
    candidates: list[Candidate] = field(default_factory=list)
    line_data: dict[int, dict[str, object]] = field(default_factory=dict)
    partial: bool = field(init=False)  # option AllowPartialFulfillment, read once

    def __post_init__(self) -> None:
        self.partial = self.plan.partial

    @property
    def judges(self) -> bool:
        """Whether the sheet has a FulfillmentProposition scope (it may reject or boost)."""
        return "FulfillmentProposition" in self.plan.blocks

    @property
    def ref(self) -> dict[str, Any]:
        """``{ID, Name}`` as the blob names a sheet."""
        return {"ID": self.source.id, "Name": self.source.name}


# A supplier dropped by a statement that recorded no reason: (sheet, OU, statement,
# order line ID or None, the values the statement ran with). Kept as a tuple in
# the run (thousands of OUs fail a distance filter); ``blob.dropped`` reads the
# values and writes the entries once.
Drop = tuple["SheetRun", OrganizationUnit, Step, int | None, Values]
# A supplier rejected because a statement failed for it: (sheet, OU, order line
# ID or None, the error with its statement and the values it read).
Failure = tuple["SheetRun", OrganizationUnit, int | None, StatementFailed]


class Recorder:
    """Collects the rejections of a run: reasons as blob entries, the rest as tuples."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        self.dropped: list[Drop] = []
        self.failed: list[Failure] = []

    def outcome_dropped(
        self,
        outcome: Outcome,
        values: Values,
        *,
        sheet: SheetRun,
        unit: OrganizationUnit,
        order_line: int | None = None,
    ) -> None:
        """Record the statement that rejected a candidate when it gave no reason
        (a reason is recorded in ``entries`` by ``outcome``)."""
        step = outcome.failures[0]
        reasons = outcome.reasons
        if not reasons or reasons[0].step is not step:
            self.dropped.append((sheet, unit, step, order_line, values))

    def fail(
        self,
        error: StatementFailed,
        *,
        sheet: SheetRun,
        unit: OrganizationUnit,
        order_line: int | None = None,
    ) -> None:
        """Record a statement that failed for one supplier (it is rejected)."""
        self.failed.append((sheet, unit, order_line, error))

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

    def reasons(
        self,
        reasons: list[Rejected],
        sheet_name: str,
        supplier_id: int | None,
        supplier_name: str | None,
        order_line: int | None,
    ) -> None:
        """Record failed requirements' reasons (as ``add`` writes an entry, without the
        call per entry: per (OU, line) this is the OrderLine scope's hot path)."""
        append = self.entries.append
        for item in reasons:
            step = item.step
            append(
                {
                    "SupplierID": supplier_id,
                    "SupplierName": supplier_name,
                    "Sheet": sheet_name,
                    "Scope": step.scope,
                    "OrderLineID": order_line,
                    "Reason": step.reason,
                    "Description": item.description,
                    "Expression": step.text,
                    "Line": step.line,
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
        if not always and not outcome.reasons:
            return
        self.reasons(
            outcome.reasons,
            sheet.source.name,
            unit.id if unit else None,
            unit.name if unit else None,
            order_line,
        )
        if always:
            recorded = {id(item.step) for item in outcome.reasons}
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


@dataclass(slots=True)
class Group:
    """OUs that read the same values in the Supplier scope's leading statements."""

    ids: set[int]
    values: Values  # what those statements set and read; misses go to the sheet's values
    data: dict[str, object] = field(default_factory=dict)
    boosts: list[Boost] = field(default_factory=list)

    def narrower(self, ids: set[int]) -> Group:
        """A subgroup (the same values so far, a copy to add to)."""
        return Group(
            ids,
            Values(self.values, resolve=self.values.resolve),
            dict(self.data),
            list(self.boosts),
        )


@dataclass(slots=True)
class Groups:
    """What the Supplier scope's leading statements decided, per group of OUs."""

    ran: int  # how many leading statements ran per group
    bases: dict[int, Group]  # OU ID -> its group, for OUs that passed them all
    stopped: dict[int, tuple[Step, Outcome, Group]]  # OU ID -> the statement that rejected it
    # OUs rejected with `but continue`: they run the whole scope one by one.
    single: set[int] = field(default_factory=set)
    # OU ID -> the error of a statement that failed for its group (it is rejected).
    failed: dict[int, StatementFailed] = field(default_factory=dict)
    # OU ID -> (the statement, the values it read) for OUs a statement stopped without
    # a reason: nothing to do for them but note the drop (thousands of non-shops).
    silent: dict[int, tuple[Step, Values]] = field(default_factory=dict)


def _silent_filter(steps: tuple[Step, ...]) -> Step | None:
    """The first statement if it is a plain ``require`` (no ``when``, no reason, no
    ``but continue``): an OU it rejects is simply out, without anything to record."""
    if not steps:
        return None
    step = steps[0]
    if (
        step.kind != REQUIRE
        or step.applies_when is not None
        or step.reason is not None
        or step.but_continue
    ):
        return None
    return step


_ABSENT = object()


def _passes(step: Step, base: Values, resolve: Any) -> bool:
    """Whether ``step`` holds for an OU, read from ``base`` then ``resolve``, without
    building the OU's values (most OUs fail a sheet's distance filter)."""
    get = base.get

    def context(path: tuple[str, ...]) -> object:
        value = get(path, _ABSENT)
        return resolve(path) if value is _ABSENT else value

    return holds(step, context)


def _static_filter(world: World, step: Step, base: Values) -> frozenset[int] | None:
    """The OUs that pass ``step`` when it reads only values of the OU alone (and no
    name of the sheet shadows them): computed once per network, then a set lookup
    per OU instead of a run. None when that does not apply, or when the statement
    fails for some OU (it then runs per OU, and fails there as it would)."""
    paths = step.decides
    if (
        not paths
        or step.applies_when is not None
        or any(not is_static(path) or path in base for path in paths)
    ):
        return None

    def build() -> frozenset[int] | None:
        try:
            return frozenset(
                unit.id for unit in world.units.values() if holds(step, world.resolver(unit))
            )
        except EvaluationError:
            return None

    return world.network.passing(step, build)


def _static_texts(
    world: World, step: Step, *names: dict[tuple[str, ...], object]
) -> dict[int, object] | None:
    """Where ``step``'s description reads only values of the OU alone (and no name
    the sheet set shadows them): its texts by OU, kept with the network, so that
    "Supplier X is not a shop" is written once per OU, not once per order."""
    paths = step.describes
    if any(not is_static(path) or any(path in found for found in names) for path in paths):
        return None
    return world.network.texts_of(step)


def supplier_groups(world: World, run: SheetRun) -> Groups:
    """Run the Supplier scope's leading statements once per group of OUs, not per OU.

    The statements in ``plan.supplier_prefix`` read only the order, names and cheap
    supplier values (``Supplier.Type``, ``Supplier.CountryID``, ...): OUs that share
    the values a statement reads share its outcome, so ``require [Supplier.Type] =
    'Shop'`` runs once per type and thousands of OUs that are not shops are
    rejected without a look each. The outcome is the same as running the statements
    per OU (``tests/engine/test_groups.py`` compares the two).
    """
    base = run.values
    groups = [Group(set(world.candidates), Values(resolve=base.__getitem__))]
    stopped: dict[int, tuple[Step, Outcome, Group]] = {}
    silent: dict[int, tuple[Step, Values]] = {}
    failed: dict[int, StatementFailed] = {}
    single: set[int] = set()
    steps = run.plan.blocks.get("Supplier", ())
    ran = 0
    for step in run.plan.supplier_prefix:
        before = groups
        paths = [path for path in step.decides if path[0] == "Supplier"]
        total = sum(len(group.ids) for group in groups)
        if total * 4 >= len(world.units) and any(
            world.varied(path) for path in paths if groups and path not in groups[0].values
        ):
            break  # nearly a value per OU (a name, an ID): one by one is cheaper from here
        for path in paths:
            refined = []
            for group in groups:
                if path in group.values:
                    refined.append(group)
                    continue
                for value, members in _split(world, group.ids, path):
                    narrower = group.narrower(members)
                    narrower.values[path] = value
                    refined.append(narrower)
            groups = refined
        if len(groups) > max(16, total // 2):
            groups = before  # as above, found out after splitting
            break
        kept = []
        for group in groups:
            try:
                outcome = run_block((step,), group.values)
            except StatementFailed as error:
                # An error of the OUs' values: theirs alone.
                failed.update(dict.fromkeys(group.ids, error))
                continue
            if outcome.stopped:
                if outcome.reasons:
                    stopped.update(dict.fromkeys(group.ids, (steps[ran], outcome, group)))
                else:
                    silent.update(dict.fromkeys(group.ids, (steps[ran], group.values)))
            elif outcome.rejected:
                single |= group.ids  # `but continue`: the rest of its story is per OU
            else:
                group.data.update(outcome.data)
                group.boosts.extend(outcome.boosts)
                kept.append(group)
        groups = kept
        ran += 1
    bases: dict[int, Group] = {}
    for group in groups:
        bases.update(dict.fromkeys(group.ids, group))
    return Groups(ran, bases, stopped, single, failed, silent)


def _split(world: World, ids: set[int], path: tuple[str, ...]) -> list[tuple[object, set[int]]]:
    """``ids`` by their value at ``path``: from the partition of all OUs (shared by the
    sheets) when they are many, one by one when they are few."""
    if len(ids) * 4 < len(world.units):
        units = world.units
        return list(group_units(world, (units[unit_id] for unit_id in ids), path).values())
    found = []
    for value, members in world.partition(path).values():
        common = ids & members
        if common:
            found.append((value, common))
    return found


_DESCRIBE = object()  # ``LineOutcomes``: a shared outcome's descriptions are told again
_RERUN = object()  # ... or its scope runs again, for each pair


class LineOutcomes:
    """The OrderLine scope's outcomes, shared by (OU, line) pairs that read the same.

    The scope's outcome depends on the line, the stock and ``plan.line_inputs`` (a
    few supplier values, names): thousands of warehouses with 3 units of a product
    run ``require [SupplierQuantityAvailable] >= [OrderLine.QuantityOrdered]`` once.
    A rejection whose description may name the OU is run again for that OU. When
    the inputs are nearly all different (a name per OU), sharing stops.
    """

    TRIAL = 200  # lookups before deciding whether sharing pays

    def __init__(
        self,
        plan: Plan,
        line_values: dict[int, dict[tuple[str, ...], object]],
        world: World,
    ) -> None:
        self.steps = steps = plan.blocks.get("OrderLine", ())
        local = {step.key for step in steps if step.kind in (WITH, DATA)}
        # Statements whose description names something per OU: per pair, only the
        # description is evaluated again, unless it reads the scope's own names
        # (then the whole scope runs again for the pair).
        self.redescribe = {id(step) for step in steps if step.describes}
        self.rerun = {id(step) for step in steps if local.intersection(step.describes)}
        self.inputs = plan.line_inputs
        self.line_values = line_values
        self.quantity_path = v.path_key("SupplierQuantityAvailable")
        # (line, stock, rejected, inputs...) -> (the outcome, what another pair redoes)
        self.cache: dict[tuple[object, ...], tuple[Outcome, object]] | None = {}
        # (statement, the values its description reads) -> the text: an OU without
        # stock of three lines is told "only has 0" once, not three times.
        self.texts: dict[tuple[object, ...], object] = {}
        # Statements whose description reads only the stock and values of the OU alone
        # ("Supplier X only has 0 stock available"): their texts are kept with the
        # network, by (OU, stock), for every order after this one (``Network.texts_of``).
        named = {step.key for block in plan.blocks.values() for step in block if step.key}
        self.kept: dict[int, dict[Any, object]] = {}
        for step in steps:
            if step.describes and all(
                path not in named and (path == self.quantity_path or is_static(path))
                for path in step.describes
            ):
                self.kept[id(step)] = world.network.texts_of(step)
        self.lookups = self.hits = 0

    def scoped(self, line: OrderLine, stock: int, supplier: Values) -> Values:
        """The values the scope runs with for one pair: the line's own, the rest read
        through (its ``with`` names are set when it runs)."""
        scoped = Values(self.line_values[line.id], resolve=supplier.__getitem__)
        scoped[self.quantity_path] = stock
        return scoped

    def run(self, line: OrderLine, stock: int, rejected: bool, supplier: Values) -> Outcome:
        """Run the scope for one pair: the line's own values, the rest read through."""
        return run_block(self.steps, self.scoped(line, stock, supplier), rejected=rejected)

    def described(
        self, found: Outcome, line: OrderLine, stock: int, supplier: Values, unit_id: int
    ) -> Outcome:
        """``found`` with its reasons' descriptions evaluated for this pair."""
        scoped = None
        reasons = []
        for item in found.reasons:
            step = item.step
            if id(step) in self.redescribe:
                kept = self.kept.get(id(step))
                if kept is not None:
                    text = kept.get((unit_id, stock), _ABSENT)
                    if text is not _ABSENT:
                        reasons.append(Rejected(step, text if isinstance(text, str) else None))
                        continue
                if scoped is None:
                    scoped = Values(self.line_values[line.id], resolve=supplier.__getitem__)
                    scoped[self.quantity_path] = stock
                context = scoped.__getitem__
                try:
                    key = (id(step), *[same(context(path)) for path in step.describes])
                    text = self.texts.get(key, _ABSENT)
                    if text is _ABSENT:
                        text = self.texts[key] = step.description(context)
                except EvaluationError as error:  # as run_block would have raised it
                    raise statement_failed(error, step, scoped) from error
                if kept is not None and len(kept) < TEXTS_KEPT:
                    kept[(unit_id, stock)] = text
                item = Rejected(step, text if isinstance(text, str) else None)
            reasons.append(item)
        return Outcome(
            found.rejected,
            found.stopped,
            found.failures,
            reasons,
            found.boosts,
            found.data,
            found.fanout,
        )

    def outcome(
        self, line: OrderLine, stock: int, rejected: bool, supplier: Values, unit_id: int
    ) -> Outcome:
        """The outcome for one (OU, line) pair; treat it as read-only."""
        cache = self.cache
        if cache is None:
            return self.run(line, stock, rejected, supplier)
        key: tuple[object, ...] = (line.id, stock, rejected)
        if self.inputs:
            for path in self.inputs:
                value = supplier[path]
                key += (value if type(value) is str else same(value),)
        entry = cache.get(key)
        trying = self.lookups < self.TRIAL  # counted until sharing is judged
        if trying:
            self.lookups += 1
        if entry is None:
            found = self.run(line, stock, rejected, supplier)
            cache[key] = (found, self._redo(found))
        else:
            if trying:
                self.hits += 1
            found, redo = entry
            if redo is _RERUN:
                found = self.run(line, stock, rejected, supplier)
            elif redo is _DESCRIBE:
                found = self.described(found, line, stock, supplier, unit_id)
        if trying and self.lookups == self.TRIAL and self.hits * 4 < self.lookups:
            self.cache = None
        return found

    def _redo(self, found: Outcome) -> object:
        """What a shared outcome needs for another pair: nothing, its descriptions
        told again (``_DESCRIBE``), or the scope run again (``_RERUN``)."""
        reasons = found.reasons
        if not reasons or not any(id(item.step) in self.redescribe for item in reasons):
            return None
        if any(id(item.step) in self.rerun for item in reasons):
            return _RERUN
        return _DESCRIBE


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

    Raises ``EvaluationError`` when an expression of the Order (or
    OrderLineSuppliers) scope fails: the caller leaves the sheet out. One that
    fails for a supplier rejects that supplier only (``recorder.failed``).
    """
    order_boosts = _order_scope(world, run, recorder)
    if order_boosts is None:
        return
    plan = run.plan
    run.splittable = splitting and plan.partial and not plan.option("DisableLineSplitting")
    scopes = _SupplierScopes(world, run, history, lines, recorder, order_boosts)
    scopes.evaluate()
    _line_suppliers(run, lines, scopes.line_values, recorder)


def _order_scope(world: World, run: SheetRun, recorder: Recorder) -> list[tuple[str, Boost]] | None:
    """Run the Order scope: its boosts, tagged, or None when the sheet rejects the
    order or is a CANCEL sheet (which only decides whether it applies to the order)."""
    plan = run.plan
    values = run.values
    _fill(values, plan.reads.get(v.ORDER, ()), world.order_value)
    outcome = run_block(plan.blocks.get("Order", ()), values)
    if outcome.rejected:
        run.rejected = True
        recorder.outcome(outcome, sheet=run, always=True)
        return None
    run.data = outcome.data
    if plan.action == "CANCEL":
        return None  # a CANCEL sheet only decides whether it applies to the order
    return [("Order", boost) for boost in outcome.boosts]


def _line_values(
    world: World, run: SheetRun, lines: list[OrderLine]
) -> dict[int, dict[tuple[str, ...], object]]:
    """Per line ID, the line's values the sheet reads."""
    # Quantity splitting: a line the sheet may split is treated "as if it were multiple
    # orderlines all containing a single item", so its lines' scopes read a quantity of 1.
    single = _QUANTITY_ORDERED if run.splittable else None
    line_paths = run.plan.reads.get(v.LINE, ())
    line_values = {}
    for line in lines:
        base: dict[tuple[str, ...], object] = {}
        for path in line_paths:
            base[path] = 1 if path == single else world.line_value(line, path)
        line_values[line.id] = base
    return line_values


class _SupplierScopes:
    """One sheet's Supplier, FulfillmentOptions and OrderLine scopes over the OUs:
    what ``evaluate_sheet`` reads once per sheet, and a method per scope of an OU.

    ``evaluate`` notes the drop of each OU a silent filter told per group dropped
    (most of them, at thousands of OUs) in its own loop; the others go through
    ``supplier_scope``, ``fulfillment_options`` and ``line_fits`` (a call each per
    OU that gets that far: the steps between stay in the loop, which runs for
    every OU).
    """

    def __init__(
        self,
        world: World,
        run: SheetRun,
        history: History,
        lines: list[OrderLine],
        recorder: Recorder,
        order_boosts: list[tuple[str, Boost]],
    ) -> None:
        plan = run.plan
        self.world = world
        self.run = run
        self.history = history
        self.recorder = recorder
        self.order_boosts = order_boosts
        self.values = run.values
        self.replacements = run.replacements = bool(plan.option("UseReplacementProductsForStock"))
        self.max_retry = int(plan.option("MaxRetryCountForDeactivatedLines"))
        self.needs_stock = world.order.intent == SALES
        self.supplier_steps = plan.blocks.get("Supplier", ())
        self.option_steps = plan.blocks.get("FulfillmentOptions")
        self.drop = recorder.dropped.append
        self.line_products = [(line, line.id, line.product) for line in lines]
        self.line_values = _line_values(world, run, lines)
        self.shared = LineOutcomes(plan, self.line_values, world)
        # id(an OrderLine outcome's boosts) -> (them, tagged with the scope, their sum)
        self.tagged: dict[int, tuple[list[Boost], list[tuple[str, Boost]], Decimal]] = {}
        self.grouped = grouped = supplier_groups(world, run)
        self.rest = rest = self.supplier_steps[grouped.ran :]
        # The plain requirements the rest starts with: each told once per group by a
        # passing set where it can be (an OU-alone filter, a distance filter); an OU that
        # passed those runs the rest from after them.
        filters: list[Step] = []
        for step in rest:
            if _silent_filter((step,)) is None:
                break
            filters.append(step)
        self.filters = filters
        self.first = filters[0] if filters else None
        # id(statement) -> its descriptions by OU, when they read only OU-alone values.
        self.static_texts: dict[int, dict[int, object] | None] = {}
        self.flat: dict[int, Values] = {}  # id(group) -> the sheet's values and the group's
        self.through: dict[int, int] = {}  # id(group) -> how many of ``filters`` sets told
        self._tell_filters()

    def _tell_filters(self) -> None:
        """Each group's values, and who passes its filters (told once per group); the
        OUs a filter drops join those a leading statement dropped in ``silent``: one
        lookup each in ``evaluate``."""
        world = self.world
        near: dict[tuple[object, ...], frozenset[int] | None] = {}  # for ``nearby.passing``
        silent = self.grouped.silent  # (this run's own: added to here)
        for group in {id(group): group for group in self.grouped.bases.values()}.values():
            key = id(group)
            base = self.flat[key] = Values(self.values)
            base.update(group.values)
            remaining: set[int] | frozenset[int] = group.ids
            told = 0
            for step in self.filters:
                passing = _static_filter(world, step, base)
                if passing is None:  # a distance filter: the OUs near enough
                    passing = nearby.passing(world, step, base, near)
                if passing is None:
                    break  # run per OU from this one on
                silent.update(dict.fromkeys(remaining - passing, (step, base)))
                remaining = remaining & passing
                told += 1
            self.through[key] = told

    def evaluate(self) -> None:
        """Run the scopes for each candidate OU; add the candidates to the sheet's run.

        Past the Supplier scope (``supplier_scope``), the scope's outcome is recorded
        and, unless it stopped the OU, the FulfillmentOptions and OrderLine scopes run
        (``fulfillment_options``, ``line_fits``): the OU is a candidate if it fits a
        line and nothing rejected it.
        """
        run = self.run
        recorder = self.recorder
        drop = self.drop
        silent_get = self.grouped.silent.get
        supplier_scope = self.supplier_scope
        line_fits = self.line_fits
        order_boosts = self.order_boosts
        has_options = self.option_steps is not None
        for unit in self.world.candidates.values():
            dropped_by = silent_get(unit.id)
            if dropped_by is not None:
                drop((run, unit, dropped_by[0], None, dropped_by[1]))
                continue  # rejected without a reason: nothing more to run
            found = supplier_scope(unit)
            if found is None:
                continue
            supplier, outcome = found
            if outcome.reasons:
                recorder.outcome(outcome, sheet=run, unit=unit)
            rejected = outcome.rejected
            if rejected:
                recorder.outcome_dropped(outcome, supplier, sheet=run, unit=unit)
            if outcome.stopped:
                continue
            boosts = order_boosts + [("Supplier", boost) for boost in outcome.boosts]
            data = outcome.data
            if has_options and not rejected:
                option = self.fulfillment_options(unit, supplier)
                if option is None:
                    continue
                boosts += [("FulfillmentOptions", boost) for boost in option.boosts]
                data = {**data, **option.data}
            fits, failure = line_fits(unit, supplier, rejected, boosts)
            if fits and not rejected and failure is None:
                run.candidates.append(Candidate(run, unit, supplier, data, fits))

    def supplier_scope(self, unit: OrganizationUnit) -> tuple[Values, Outcome] | None:
        """The OU's values after the Supplier scope and the scope's outcome; None for
        an OU rejected there (recorded)."""
        world = self.world
        run = self.run
        grouped = self.grouped
        group = grouped.bases.get(unit.id)
        if group is None:
            if unit.id in grouped.single:  # it runs the whole scope alone
                supplier = Values(self.values, resolve=world.resolver(unit))
                try:
                    return supplier, run_block(self.supplier_steps, supplier)
                except StatementFailed as error:
                    self.recorder.fail(error, sheet=run, unit=unit)
                    return None
            if unit.id in grouped.failed:
                self.recorder.fail(grouped.failed[unit.id], sheet=run, unit=unit)
            else:
                self._stopped(unit)
            return None
        key = id(group)
        base = self.flat[key]
        told = self.through[key]
        steps = self.rest[told:]  # it passed the filters told (the others are in ``silent``)
        first = self.first
        if first is not None and not told:  # ``first`` could not be told by a set
            try:
                passed = _passes(first, base, world.resolver(unit))
            except EvaluationError as error:
                context = Values(base, resolve=world.resolver(unit))
                failure = statement_failed(error, first, context)
                self.recorder.fail(failure, sheet=run, unit=unit)
                return None
            if not passed:
                self.drop((run, unit, first, None, base))
                return None  # rejected without a reason: nothing more to run
        supplier = Values(base, resolve=world.resolver(unit))
        try:
            outcome = run_block(steps, supplier)
        except StatementFailed as error:
            self.recorder.fail(error, sheet=run, unit=unit)
            return None
        if group.boosts or group.data:
            outcome.boosts[:0] = group.boosts
            outcome.data = {**group.data, **outcome.data}
        return supplier, outcome

    def _stopped(self, unit: OrganizationUnit) -> None:
        """Record the reason of the statement with a reason that stopped the OU's group
        (those without are in ``silent``); its description may name the OU."""
        world = self.world
        step, _outcome, stopped_in = self.grouped.stopped[unit.id]
        description = None
        texts: dict[int, object] | None
        if step.description is not None:
            static_texts = self.static_texts
            # _ABSENT (not in static_texts yet) is replaced at once below.
            texts = static_texts.get(id(step), _ABSENT)  # type: ignore[arg-type]
            if texts is _ABSENT:
                texts = static_texts[id(step)] = _static_texts(
                    world, step, self.values, stopped_in.values
                )
            text = _ABSENT if texts is None else texts.get(unit.id, _ABSENT)
            if text is _ABSENT:
                context = Values(self.values, resolve=world.resolver(unit))
                context.update(stopped_in.values)
                try:
                    text = step.description(context.__getitem__)
                except EvaluationError as error:  # as run_block would have raised it
                    failure = statement_failed(error, step, context)
                    self.recorder.fail(failure, sheet=self.run, unit=unit)
                    return
                if texts is not None and len(texts) < TEXTS_KEPT:
                    texts[unit.id] = text
            description = text if isinstance(text, str) else None
        self.recorder.add(
            sheet=self.run,
            scope=step.scope,
            reason=step.reason,
            description=description,
            expression=step.text,
            line=step.line,
            unit=unit,
        )

    def fulfillment_options(self, unit: OrganizationUnit, supplier: Values) -> Outcome | None:
        """The FulfillmentOptions scope's outcome for the first option available at the
        OU; None when none is, or the scope failed (recorded)."""
        run = self.run
        recorder = self.recorder
        requested = self.world.order.requested_fulfillment_option
        available = []
        # An order that asks for an option runs only that combination past the scope.
        try:
            for option in (requested,) if requested is not None else FULFILLMENT_OPTIONS:
                scoped = supplier.child()
                for other, path in _OPTION_PATHS:
                    scoped[path] = other == option
                result = run_block(self.option_steps or (), scoped)
                recorder.outcome(result, sheet=run, unit=unit)
                if not result.rejected:
                    available.append(result)
        except StatementFailed as error:
            recorder.fail(error, sheet=run, unit=unit)
            return None
        if not available:
            recorder.add(
                sheet=run,
                scope="FulfillmentOptions",
                reason="NoFulfillmentOption"
                if requested is None
                else "RequestedFulfillmentOptionRejected",
                description="No fulfilment option is available at this organization unit."
                if requested is None
                else f"The order asks for {requested}, which this sheet rejects at {unit.name}.",
                expression=None,
                line=None,
                unit=unit,
            )
            return None
        return available[0]

    def line_fits(
        self,
        unit: OrganizationUnit,
        supplier: Values,
        rejected: bool,
        boosts: list[tuple[str, Boost]],
    ) -> tuple[dict[int, LineFit], StatementFailed | None]:
        """Run the OrderLine scope for each line the OU may get: the lines it fits,
        and the error that rejected the OU for its lines, if one did."""
        run = self.run
        recorder = self.recorder
        history = self.history
        excluding = history.cancelled or history.deactivated
        shared = self.shared
        record_reasons = recorder.reasons
        drop = self.drop
        tagged = self.tagged
        world = self.world
        stock_of = world.stock.get
        replacements = self.replacements
        needs_stock = self.needs_stock
        sheet_name = run.source.name
        fits: dict[int, LineFit] = {}
        base_score = exact_sum(boost.delta for _s, boost in boosts)
        unit_id = unit.id
        for line, line_id, product in self.line_products:
            if excluding and self._excluded(unit, line, rejected):
                continue
            stock = (
                world.available(unit_id, product, replacements=True)
                if replacements
                else stock_of((unit_id, product), 0)
            )
            try:
                result = shared.outcome(line, stock, rejected, supplier, unit_id)
            except StatementFailed as error:
                recorder.fail(error, sheet=run, unit=unit, order_line=line_id)
                return fits, error
            if result.reasons:
                record_reasons(result.reasons, sheet_name, unit_id, unit.name, line_id)
            if result.rejected:
                if not rejected:
                    step = result.failures[0]
                    reasons = result.reasons
                    if not reasons or reasons[0].step is not step:  # else in Rejections
                        scoped = shared.scoped(line, stock, supplier)
                        drop((run, unit, step, line.id, scoped))
                continue
            wanted = history.open[line.id]
            cap = min(wanted, stock) if needs_stock else wanted
            if cap < (1 if run.splittable else wanted):
                self._short(unit, line, stock, wanted, cap)
                continue
            # A fit's boosts and data are shared with the OU's other lines (and the
            # cached outcome) until a later scope adds to them: it replaces them then.
            line_boosts = result.boosts
            if line_boosts:
                # Tagged and summed once per list of boosts (shared outcomes share it;
                # the entry holds the list, so its id is not reused meanwhile).
                found = tagged.get(id(line_boosts))
                if found is None or found[0] is not line_boosts:
                    found = tagged[id(line_boosts)] = (
                        line_boosts,
                        [("OrderLine", boost) for boost in line_boosts],
                        exact_sum(b.delta for b in line_boosts),
                    )
                fits[line_id] = LineFit(
                    line, cap, boosts + found[1], result.data, EXACT.add(base_score, found[2])
                )
            else:
                fits[line_id] = LineFit(line, cap, boosts, result.data, base_score)
        return fits, None

    def _excluded(self, unit: OrganizationUnit, line: OrderLine, rejected: bool) -> bool:
        """Whether the history excludes the (OU, line) pair: the OU cancelled the line
        before, or it was deactivated there more often than the sheet allows (recorded,
        unless the Supplier scope rejected the OU)."""
        history = self.history
        cancelled = history.cancelled
        if cancelled and (line.id, unit.id) in cancelled:
            if not rejected:
                self.recorder.add(
                    sheet=self.run,
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
            return True
        # "the number of deactivated OrderFulfillmentLines that are allowed to exist
        # for a supplier/sheet combination before that combination is ignored":
        # max_retry of them may exist, one more and the pair is ignored.
        deactivated = history.deactivated
        max_retry = self.max_retry
        deactivations = deactivated and deactivated[(line.id, unit.id, self.run.source.id)]
        if deactivations and deactivations > max_retry:
            if not rejected:
                self.recorder.add(
                    sheet=self.run,
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
            return True
        return False

    def _short(
        self, unit: OrganizationUnit, line: OrderLine, stock: int, wanted: int, cap: int
    ) -> None:
        """Record that the OU has too little stock for the line (none, or not all of a
        line the sheet may not split)."""
        self.recorder.add(
            sheet=self.run,
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
        extra = exact_sum(boost.delta for boost in outcome.boosts)
        added = [("OrderLineSuppliers", boost) for boost in outcome.boosts]
        for candidate in holders:
            fit = candidate.fits[line.id]
            # New lists and dicts: a fit shares its own with others (``evaluate_sheet``).
            if added:
                fit.boosts = fit.boosts + added
                fit.score = EXACT.add(fit.score, extra)
            if outcome.data:
                fit.data = {**fit.data, **outcome.data}
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
    if type(value) is Decimal and value.is_finite():
        # float(Decimal) rounds correctly, as float(Fraction) does.
        return int(value) if value == value.to_integral_value() else float(value)
    try:
        number = Fraction(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return str(value)
    return int(number) if number.denominator == 1 else float(number)
