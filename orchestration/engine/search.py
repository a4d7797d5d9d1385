"""The search for the best proposition: which shipments, from which OUs, with what.

Propositions are enumerated line by line (``Search.run``, ``_Enumeration``): each
open line goes whole to one candidate, or (with quantity splitting) is split over
candidates whose sheet may split, or is left for the CANCEL shipment, depth first with
explicit stacks (no recursion per line or per candidate: an order may have
thousands of lines). Each candidate's own full shipment is tried first (single-
supplier answers set the bar early). A branch is cut only when no completion of
it can beat the best proposition found, on what the winner rule orders by
(``Search._cut``): fewer units reachable; as many, and an upper bound on the
score below the best's (the score so far, plus per open line the most its
candidates' line scores could add, plus the best Shipment-scope scores of as
many new shipments as units are left); or the score bound equal and more
shipments needed than the best has (or as many, and a higher lowest ID). The
score bound is used only where it holds: no FulfillmentProposition scope, and
no Shipment-scope score that reads the shipment's contents. A spread of a line
over splitting candidates is cut the same way, share by share. So the search
is exact until ``MAX_PROPOSITIONS`` propositions have been looked at, or
``MAX_SHIPMENT_LINES`` order lines have gone through Shipment scopes (what bounds
long orders).
With more than ``EXACT_POOL`` candidates, only the ``POOL_PER_LINE`` best per line
take part (every candidate's own full shipment is still tried alone). Either
bound is reported in ``Search.bounds``. The winner rules are in
``docs/routing.md``: most units, highest score, fewest shipments, lowest IDs.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Generator, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

from ..language.compiler import EvaluationError
from . import variables as v
from .evaluate import Candidate, Recorder, SheetRun
from .model import OrderLine
from .plan import DATA, EXACT, SCORE, WITH, ZERO, Boost, Outcome, Step, Values, exact_sum, run_block
from .variables import World, shipment_values

MAX_PROPOSITIONS = 20_000
MAX_PROPOSITIONS_BOUNDED = 500  # with a trimmed pool: the best singles are already in
MAX_NODES = 200_000
# Order lines run through the Shipment scope while combining (each new shipment
# counts its lines): a proposition of a 5,000-line order costs thousands of times
# one of a 5-line order, so a search of long orders stops on this bound long
# before 20,000 propositions (which took minutes at 5,000 lines), in a few seconds.
# 20,000 propositions of two 25-line shipments stay within it.
MAX_SHIPMENT_LINES = 1_000_000
EXACT_POOL = 24
POOL_PER_LINE = 4
ALTERNATIVES = 4  # runner-up propositions kept for the blob
# Float scores decide only when they differ by more than their rounding could;
# closer than this, the exact fractions are compared.
_TOLERANCE = 1e-9


class SheetFailed(Exception):
    """A sheet failed while evaluating a shipment or proposition; ``candidate`` is the
    supplier when the scope ran for one (Shipment, Fanout): only it is rejected."""

    def __init__(
        self, run: SheetRun, error: EvaluationError, candidate: Candidate | None = None
    ) -> None:
        super().__init__(run.source.name, error)
        self.run = run
        self.error = error
        self.candidate = candidate


class _Stop(Exception):
    """The search bound was reached."""


_DONE = object()  # what ``next`` returns from a spent choice iterator


Quantities = tuple[tuple[int, int], ...]  # ((line id, quantity), ...) in line order


@dataclass(slots=True)
class ShipmentEval:
    """A candidate shipment, run through its sheet's Shipment scope."""

    valid: bool
    boosts: list[Boost] = field(default_factory=list)
    data: dict[str, object] = field(default_factory=dict)
    values: Values | None = None
    # The score, exact, in two parts: its own boosts plus the lines it ships whole,
    # and the shares of the lines it ships part of. Most shipments are never
    # compared exactly, so the Fraction is made only when asked for.
    whole: Decimal = ZERO
    split: Fraction | None = None
    boost_sum: Decimal = ZERO
    approx: float = 0.0  # ``score`` as a float: the search compares these first
    units: int = 0

    @property
    def score(self) -> Fraction:
        """Own boosts plus the lines' (proportional) scores."""
        whole = Fraction(self.whole)
        return whole + self.split if self.split else whole

    @property
    def boost_total(self) -> Fraction:
        """The Shipment scope's boosts."""
        return Fraction(self.boost_sum)


@dataclass(slots=True)
class Shipment:
    """One shipment of a proposition."""

    candidate: Candidate
    quantities: Quantities
    evaluation: ShipmentEval
    products: dict[int, list[tuple[int, int]]]  # line id -> [(product id, units)]
    fanout: list[Candidate] = field(default_factory=list)


@dataclass(slots=True)
class Proposition:
    """A set of shipments and what is left to cancel, with its score."""

    shipments: list[Shipment]
    cancelled: dict[int, int]
    units: int
    score: Fraction
    boosts: list[tuple[SheetRun, Boost]]
    tie: tuple[Any, ...]
    approx: float = 0.0  # ``score`` as a float

    def beats(self, other: Proposition | None) -> bool:
        """Whether this proposition wins from ``other`` (most units, score, fewest, IDs)."""
        if other is None:
            return True
        if self.units != other.units:
            return self.units > other.units
        if self.score != other.score:
            return self.score > other.score
        if len(self.shipments) != len(other.shipments):
            return len(self.shipments) < len(other.shipments)
        return self.tie < other.tie


@dataclass(slots=True)
class _Bounds:
    """What ``Search._cut`` bounds a branch's score with."""

    constants: dict[int, Decimal]  # candidate index -> its Shipment scope's score
    exact: list[Fraction]  # k -> the most the line scores of lines k.. can add
    approx: list[float]  # the same, as floats
    caps: list[list[tuple[int, int]]]  # per line: (cap, candidate index), biggest first
    flat: bool  # every score is 0: every proposition scores 0
    approx_constants: dict[int, float]  # ``constants`` as floats
    open: dict[int, int]  # line id -> its open quantity
    # n -> the most n new shipments' Shipment scores can add (the best n), exact and
    # as floats; a new shipment ships a unit at least, so n is at most the units left.
    tops: list[Fraction]
    approx_tops: list[float]
    units_after: list[int]  # k -> the open units of lines k..
    shares: dict[tuple[int, int], float] = field(default_factory=dict)  # per unit
    current: float = 0.0  # the score of what is chosen, as a float
    whole: Decimal = ZERO  # the same exactly: its constants and whole lines' scores,
    # and its shares of lines it ships part of: (candidate index, line id) -> units
    split: dict[tuple[int, int], int] = field(default_factory=dict)
    size: float = 0.0  # the sum of the sizes of what ``current`` added and took off

    def share(self, candidate: Candidate, line_id: int) -> float:
        """A unit's share of the line's score at ``candidate``, as a float."""
        key = (candidate.index, line_id)
        found = self.shares.get(key)
        if found is None:
            found = self.shares[key] = float(candidate.fits[line_id].score) / self.open[line_id]
        return found


_SHORT_LINES = 32  # lines ``Search._too_many`` looks ahead at
_NOTHING = (ZERO, 0, 1)  # no extra score: see ``Search._cut``
_SHIPMENT_KINDS = frozenset({v.SHIPMENT, v.LINE, v.SUPPLIER_LINE, v.LINE_SUPPLIERS, v.OPTION})


def _reads_shipment(steps: tuple[Step, ...]) -> bool:
    """Whether a score statement of a Shipment scope may read the shipment's contents
    (its totals, directly or through the scope's own names)."""
    tainted: set[tuple[str, ...]] = set()
    for step in steps:
        reads = any(
            path in tainted or v.kind_of(path, frozenset()) in _SHIPMENT_KINDS
            for path in step.decides
        )
        if not reads:
            continue
        if step.kind == SCORE:
            return True
        if step.kind in (WITH, DATA):
            tainted.add(step.key)
    return False


def _same_for_every_shipment(steps: tuple[Step, ...]) -> bool:
    """Whether a Shipment scope does the same for every shipment of one candidate:
    none of its statements (their conditions, values, explanations or descriptions)
    reads the shipment's contents, directly or through the scope's own names. Then
    it runs once per candidate, not once per shipment the search tries."""
    tainted: set[tuple[str, ...]] = set()
    for step in steps:
        if any(
            path in tainted or v.kind_of(path, frozenset()) in _SHIPMENT_KINDS
            for path in (*step.decides, *step.reads, *step.describes)
        ):
            if step.kind not in (WITH, DATA):
                return False
            tainted.add(step.key)
    return not tainted


def _with(chosen: dict[int, dict[int, int]], joining: int | None, joins: bool) -> Collection[int]:
    """The chosen candidates' indexes, with ``joining`` when it ``joins`` them."""
    return {*chosen, joining} if joins else chosen  # type: ignore[arg-type]


class Search:
    """One search over the candidates of every sheet."""

    def __init__(
        self,
        world: World,
        lines: list[OrderLine],
        open_quantities: dict[int, int],
        candidates: list[Candidate],
        recorder: Recorder,
        *,
        needs_stock: bool,
    ) -> None:
        self.world = world
        self.lines = lines
        self.open = open_quantities
        self.recorder = recorder
        self.needs_stock = needs_stock
        for index, candidate in enumerate(candidates):
            candidate.index = index
        self.candidates = candidates
        # Whether any sheet has a FulfillmentProposition scope (it may reject or boost).
        self.judging = any(c.sheet.judges for c in candidates)
        self.shipment_cache: dict[tuple[int, Quantities], ShipmentEval] = {}
        self.full: dict[int, Quantities] = {}  # candidate index -> its full shipment
        self.recorded: set[tuple[Any, ...]] = set()
        self.propositions = 0
        self.nodes = 0
        self.shipment_lines = 0  # lines of the shipments run through the Shipment scope
        self.limit = MAX_PROPOSITIONS
        self.node_limit = MAX_NODES
        self.bounds: list[str] = []
        self.trimmed = False  # only the best candidates per line are combined
        self.best: list[Proposition] = []  # the winner first, then runners-up
        self.stock_left: dict[tuple[int, int], int] = {}
        # id(sheet run) -> whether its Shipment scope is the same for every shipment;
        # candidate index -> that scope's outcome (read-only), for those sheets.
        self.same_scope: dict[int, bool] = {}
        # For ``_ranked``: candidate index -> units of its own full shipment; id(sheet
        # run) -> whether its Shipment scope only sets data (neither rejects nor scores).
        self.units_of: dict[int, int] = {}
        self.inert: dict[int, bool] = {}
        # Shipments of sheets without a Shipment scope that ``_estimate`` worked out
        # before the search asked for them (moved to ``shipment_cache`` when it does).
        self.prepared: dict[tuple[int, Quantities], ShipmentEval] = {}
        self.scope_outcomes: dict[int, Outcome] = {}

    # --- shipments -------------------------------------------------------------------

    def shipment(self, candidate: Candidate, quantities: Quantities) -> ShipmentEval:
        """Run the Shipment scope for one candidate shipment (once per shipment)."""
        key = (candidate.index, quantities)
        found = self.shipment_cache.get(key)
        if found is not None:
            return found
        self.shipment_lines += len(quantities)
        found = self.prepared.pop(key, None)
        if found is not None:  # worked out by ``_estimate`` (no Shipment scope)
            self.shipment_cache[key] = found
            return found
        run = candidate.sheet
        steps = run.plan.blocks.get("Shipment")
        values = None  # without a scope of its own, a shipment needs them only to fan out
        if steps:
            same = self._same_scope(run, steps)
            outcome = self.scope_outcomes.get(candidate.index) if same else None
            if outcome is None:
                scoped = self.shipment_values(candidate, quantities)
                try:
                    outcome = run_block(steps, scoped)
                except EvaluationError as error:
                    raise SheetFailed(run, error, candidate) from error
                if same:
                    self.scope_outcomes[candidate.index] = outcome
                else:
                    values = scoped
        else:
            outcome = Outcome()
        for item in outcome.reasons:
            mark = ("shipment", run.source.id, candidate.unit.id, item.step.line)
            if mark not in self.recorded:
                self.recorded.add(mark)
                self.recorder.add(
                    sheet=run,
                    scope="Shipment",
                    reason=item.step.reason,
                    description=item.description,
                    expression=item.step.text,
                    line=item.step.line,
                    unit=candidate.unit,
                )
        evaluation = self._evaluation(candidate, quantities, outcome, values)
        self.shipment_cache[key] = evaluation
        return evaluation

    def _evaluation(
        self,
        candidate: Candidate,
        quantities: Quantities,
        outcome: Outcome,
        values: Values | None,
    ) -> ShipmentEval:
        """A shipment's evaluation from its Shipment scope's outcome."""
        if outcome.rejected:
            return ShipmentEval(False)
        boosts = exact_sum(b.delta for b in outcome.boosts)
        whole, split = self._line_parts(candidate, quantities, boosts)
        return ShipmentEval(
            True,
            outcome.boosts,
            outcome.data,
            values,
            whole,
            split or None,
            boosts,
            float(Fraction(whole) + split) if split else float(whole),
            sum(q for _line, q in quantities),
        )

    def _same_scope(self, run: SheetRun, steps: tuple[Step, ...]) -> bool:
        """Whether ``run``'s Shipment scope (``steps``) is the same for every shipment."""
        same = self.same_scope.get(id(run))
        if same is None:
            same = self.same_scope[id(run)] = _same_for_every_shipment(steps)
        return same

    def shipment_values(self, candidate: Candidate, quantities: Quantities) -> Values:
        """The values a candidate shipment's statements read: its totals, then the OU's
        (read through, not copied: what one shipment resolves, such as the route, the
        candidate's other shipments find)."""
        fits = candidate.fits
        return Values(
            shipment_values([(fits[i].line, q) for i, q in quantities]),
            resolve=candidate.values.__getitem__,
        )

    def full_quantities(self, candidate: Candidate) -> Quantities:
        """The most a candidate can ship on its own: every line it fits, stock shared."""
        found = self.full.get(candidate.index)
        if found is None:
            found = self.full[candidate.index] = self._full_quantities(candidate)
        return found

    def _full_quantities(self, candidate: Candidate) -> Quantities:
        # A candidate's fits are in line order (``evaluate_sheet`` adds them so).
        fits = candidate.fits
        if not self.needs_stock:
            return tuple((line_id, fit.cap) for line_id, fit in fits.items() if fit.cap)
        open_quantities = self.open
        whole_only = not candidate.sheet.splittable
        left: dict[int, int] = {}  # product -> units left for the lines after
        result = []
        for line_id, fit in fits.items():
            product = fit.line.product
            cap = fit.cap
            have = left.get(product)
            if have is None:
                have = left[product] = cap
            q = cap if cap < have else have
            if whole_only and q < open_quantities[line_id]:
                continue
            left[product] = have - q
            if q:
                result.append((line_id, q))
        return tuple(result)

    # --- stock -----------------------------------------------------------------------

    def products_for(self, candidate: Candidate, line: OrderLine) -> list[int]:
        """The products that may ship for a line: its own, then its replacements if allowed."""
        products = [line.product]
        if candidate.sheet.replacements:
            products.extend(self.world.products[line.product].replacements)
        return products

    def take(self, candidate: Candidate, line: OrderLine, q: int) -> list[tuple[int, int]] | None:
        """Reserve ``q`` units of the line's product (then replacements) at the OU."""
        if not self.needs_stock:
            return [(line.product, q)]
        stock = self.world.stock
        left = self.stock_left
        if not candidate.sheet.replacements:  # the line's own product only (most sheets)
            if not q:
                return []
            key = (candidate.unit.id, line.product)
            have = left.get(key)
            if have is None:
                have = stock.get(key, 0)
            if have < q:
                return None
            left[key] = have - q
            return [(line.product, q)]
        products = self.products_for(candidate, line)
        unit = candidate.unit.id
        taken: list[tuple[int, int]] = []
        need = q
        for product in products:
            key = (unit, product)
            have = left.get(key)
            if have is None:
                have = stock.get(key, 0)
            n = min(have, need)
            if n:
                taken.append((product, n))
                need -= n
            if not need:
                break
        if need:
            return None
        for product, n in taken:
            key = (unit, product)
            left[key] = left.get(key, stock.get(key, 0)) - n
        return taken

    def give_back(self, candidate: Candidate, taken: list[tuple[int, int]]) -> None:
        """Undo ``take``."""
        if not self.needs_stock:
            return
        for product, n in taken:
            self.stock_left[(candidate.unit.id, product)] += n

    def available(self, candidate: Candidate, line: OrderLine) -> int:
        """Units of the line the candidate could still take now."""
        cap = candidate.fits[line.id].cap
        if not self.needs_stock:
            return cap
        products = self.products_for(candidate, line)
        unit = candidate.unit.id
        have = 0
        for product in products:
            key = (unit, product)
            left = self.stock_left.get(key)
            have += self.world.stock.get(key, 0) if left is None else left
        return min(cap, have)

    # --- propositions ------------------------------------------------------------------

    def consider(
        self, parts: list[tuple[Candidate, Quantities, dict[int, list[tuple[int, int]]]]]
    ) -> None:
        """Evaluate one proposition and keep it if it is among the best."""
        self.propositions += 1
        evaluations = []
        units = 0
        approx = 0.0
        for candidate, quantities, _products in parts:
            evaluation = self.shipment(candidate, quantities)
            if not evaluation.valid:
                return
            evaluations.append(evaluation)
            approx += evaluation.approx
            units += evaluation.units
        best = self.best
        if not self.judging and len(best) > ALTERNATIVES:
            # Most leaves cannot enter the kept list: tell without building them.
            last = best[-1]
            if units < last.units:
                return
            if units == last.units:
                if approx < last.approx - _TOLERANCE * (1 + abs(approx)):
                    return
                if approx <= last.approx + _TOLERANCE * (1 + abs(approx)) and not self._beats(
                    parts, evaluations, last
                ):
                    return  # as close as rounding allows, and it loses exactly
        shipments = []
        units = 0
        # The score is summed exactly in its two parts (as ``ShipmentEval`` keeps
        # them), and made a Fraction once: Fraction arithmetic per shipment was a
        # tenth of a route's time.
        whole = ZERO
        split: Fraction | None = None
        covered: dict[int, int] = {}
        all_lines: list[tuple[OrderLine, int]] = []
        ordered = sorted(zip(parts, evaluations, strict=True), key=lambda p: p[0][0].unit.id)
        for (candidate, quantities, products), evaluation in ordered:
            shipments.append(Shipment(candidate, quantities, evaluation, dict(products)))
            whole = EXACT.add(whole, evaluation.whole)
            if evaluation.split:
                split = evaluation.split if split is None else split + evaluation.split
            for line_id, q in quantities:
                units += q
                covered[line_id] = covered.get(line_id, 0) + q
                all_lines.append((candidate.fits[line_id].line, q))
        boosts: list[tuple[SheetRun, Boost]] = []
        if self.judging:  # else no sheet has a FulfillmentProposition scope
            judged = self._judge(shipments, all_lines, whole)
            if judged is None:
                return
            boosts, whole = judged
        cancelled = {
            line.id: self.open[line.id] - covered.get(line.id, 0)
            for line in self.lines
            if self.open[line.id] - covered.get(line.id, 0) > 0
        }
        tie = tuple(
            sorted(
                (s.candidate.unit.id, s.candidate.sheet.source.id, s.quantities) for s in shipments
            )
        )
        score = Fraction(whole) + split if split else Fraction(whole)
        proposition = Proposition(shipments, cancelled, units, score, boosts, tie, float(score))
        self._keep(proposition)

    def _judge(
        self, shipments: list[Shipment], all_lines: list[tuple[OrderLine, int]], whole: Decimal
    ) -> tuple[list[tuple[SheetRun, Boost]], Decimal] | None:
        """Run the FulfillmentProposition scopes of the proposition's sheets, in sheet
        order: the boosts they add and ``whole`` with them, or None if one rejects it
        (its reasons recorded once per statement). An error leaves the sheet out
        (``SheetFailed``)."""
        boosts: list[tuple[SheetRun, Boost]] = []
        sheets = sorted(
            {id(s.candidate.sheet): s.candidate.sheet for s in shipments}.values(),
            key=lambda run: run.order,
        )
        for run in sheets:
            steps = run.plan.blocks.get("FulfillmentProposition")
            if steps is None:
                continue
            values = Values(run.values)
            values.update(shipment_values(all_lines, count=len(shipments)))
            try:
                outcome = run_block(steps, values)
            except EvaluationError as error:
                raise SheetFailed(run, error) from error
            if outcome.rejected:
                self._refused(run, outcome)
                return None
            for boost in outcome.boosts:
                boosts.append((run, boost))
                whole = EXACT.add(whole, boost.delta)
        return boosts, whole

    def _refused(self, run: SheetRun, outcome: Outcome) -> None:
        """Record, once per statement, what a FulfillmentProposition scope refused."""
        for step in outcome.failures:
            mark = ("proposition", run.source.id, step.line)
            if mark not in self.recorded:
                self.recorded.add(mark)
                reason = next((r for r in outcome.reasons if r.step is step), None)
                self.recorder.add(
                    sheet=run,
                    scope="FulfillmentProposition",
                    reason=step.reason if reason else None,
                    description=reason.description if reason else None,
                    expression=step.text,
                    line=step.line,
                )

    def _beats(
        self,
        parts: list[tuple[Candidate, Quantities, dict[int, list[tuple[int, int]]]]],
        evaluations: list[ShipmentEval],
        last: Proposition,
    ) -> bool:
        """Whether the proposition of ``parts`` beats ``last``, which has as many
        units: ``Proposition.beats`` on the score, the number of shipments and the
        tie, worked out without building the proposition (no FulfillmentProposition
        scope judges it, or this is not asked)."""
        whole = ZERO
        split: Fraction | None = None
        for evaluation in evaluations:
            whole = EXACT.add(whole, evaluation.whole)
            if evaluation.split:
                split = evaluation.split if split is None else split + evaluation.split
        score = Fraction(whole) + split if split else Fraction(whole)
        if score != last.score:
            return score > last.score
        if len(parts) != len(last.shipments):
            return len(parts) < len(last.shipments)
        tie = tuple(
            sorted((c.unit.id, c.sheet.source.id, quantities) for c, quantities, _p in parts)
        )
        return tie < last.tie

    def _keep(self, proposition: Proposition) -> None:
        best = self.best
        if any(other.tie == proposition.tie for other in best):
            return  # the same shipments, reached again
        position = len(best)
        while position and proposition.beats(best[position - 1]):
            position -= 1
        if position <= ALTERNATIVES:
            best.insert(position, proposition)
            del best[ALTERNATIVES + 1 :]

    # --- bounds -----------------------------------------------------------------------

    def _shipment_constant(self, candidate: Candidate) -> Decimal | None:
        """The Shipment scope's score for every shipment of ``candidate``, when it is
        the same for all of them (no score statement reads the shipment's totals);
        None when it may differ (then no score bound is used)."""
        steps = candidate.sheet.plan.blocks.get("Shipment")
        if not steps or not any(step.kind == SCORE for step in steps):
            return ZERO
        if _reads_shipment(steps):
            return None
        quantities = self.full_quantities(candidate)
        if not quantities:
            return ZERO  # it ships nothing: never opened
        evaluation = self.shipment(candidate, quantities)
        return evaluation.boost_sum if evaluation.valid else None

    def _score_bounds(
        self, pool: list[Candidate], by_line: list[list[Candidate]]
    ) -> _Bounds | None:
        """Upper bounds on the score the lines from ``k`` on can still add, or None
        when none can be given (a FulfillmentProposition scope judges, or a
        Shipment scope scores by the shipment's contents)."""
        if self.judging:
            return None
        constants: dict[int, Decimal] = {}
        for candidate in pool:
            constant = self._shipment_constant(candidate)
            if constant is None:
                return None
            constants[candidate.index] = constant
        lines = self.lines
        line_bounds: list[Fraction] = []
        for line, fitting in zip(lines, by_line, strict=True):
            need = self.open[line.id]
            # Times ``need``, in Decimals (exact sums): whole to one candidate, or
            # spread over splitting candidates, best scores first (a fractional
            # knapsack on units, each at most its cap); never below 0 (the line may
            # be left unfulfilled).
            best = ZERO
            for candidate in fitting:
                fit = candidate.fits[line.id]
                if fit.cap >= need and fit.score > best:
                    best = fit.score
            best = EXACT.multiply(best, need)
            spread = ZERO
            left = need
            ranked = sorted(
                (c.fits[line.id].score, c.fits[line.id].cap)
                for c in fitting
                if c.sheet.splittable and c.fits[line.id].score > 0
            )
            while ranked and left:
                score, cap = ranked.pop()
                take = min(cap, left)
                spread = EXACT.add(spread, EXACT.multiply(score, take))
                left -= take
            line_bounds.append(Fraction(max(best, spread)) / need)
        # New shipments: each ships at least a unit, so at most as many as the units
        # left; their Shipment scores, the best first.
        positive = sorted((Fraction(c) for c in constants.values() if c > 0), reverse=True)
        tops = [Fraction(0)]
        for value in positive:
            tops.append(tops[-1] + value)
        exact = [Fraction(0)] * (len(lines) + 1)
        units_after = [0] * (len(lines) + 1)
        for k in range(len(lines) - 1, -1, -1):
            exact[k] = exact[k + 1] + line_bounds[k]
            units_after[k] = units_after[k + 1] + self.open[lines[k].id]
        caps = [
            sorted(((c.fits[line.id].cap, c.index) for c in fitting), reverse=True)
            for line, fitting in zip(lines, by_line, strict=True)
        ]
        flat = not any(constants.values()) and not any(
            fit.score for c in pool for fit in c.fits.values()
        )
        return _Bounds(
            constants,
            exact,
            [float(x) for x in exact],
            caps,
            flat,
            {index: float(value) for index, value in constants.items()},
            self.open,
            tops,
            [float(x) for x in tops],
            units_after,
        )

    def _cut(
        self,
        k: int,
        units: int,
        bounds: _Bounds,
        chosen: dict[int, dict[int, int]],
        by_index: dict[int, Candidate],
        most: list[int],
        extra: tuple[Decimal, int, int] = _NOTHING,
        joining: int | None = None,
        spare: int = 0,
    ) -> bool:
        """Whether no completion of this branch can beat the best: lines before ``k``
        are settled as in ``chosen`` (but for the line being spread, which can still
        add at most ``extra``: a score per line times units of the line's open
        quantity), lines ``k..`` are open, and at most ``units``
        can be shipped in all; ``joining``, a candidate about to ship part of the
        line being spread, counts as chosen, and ``spare`` units of that line may
        still go to new shipments. Cut when that is no more units than the
        best and the score bound is below the best's, or equal with more shipments
        than it has."""
        best = self.best[0]
        if units != best.units:
            return units < best.units
        joins = joining is not None and joining not in chosen
        if bounds.flat:
            return self._too_many(k, bounds, _with(chosen, joining, joins), by_index, most)
        top, left, wanted = extra
        # The score so far as a float (kept up by ``assign``), with the size of what
        # it summed: its rounding error is far below the margin.
        new = min(len(bounds.tops) - 1, bounds.units_after[k] + spare)
        approx = bounds.approx[k] + bounds.approx_tops[new]
        if left:
            approx += float(top) * left / wanted
        size = abs(approx) + abs(best.approx) + bounds.size
        approx += bounds.current
        if joins:
            constant = bounds.approx_constants[joining]  # type: ignore[index]
            approx += constant
            size += abs(constant)
        margin = _TOLERANCE * (1 + size)
        if approx < best.approx - margin:
            return True
        if approx > best.approx + margin:
            return False
        # As close as rounding allows: decide exactly (the exact score so far is
        # kept up by ``assign`` too: recomputing it here was quadratic in the lines).
        whole = bounds.whole
        split = bounds.exact[k] + bounds.tops[new]
        for (index, line_id), q in bounds.split.items():
            score = by_index[index].fits[line_id].score
            split += Fraction(score) * Fraction(q, self.open[line_id])
        if left == wanted:
            whole = EXACT.add(whole, top)
        elif left:
            split += Fraction(top) * Fraction(left, wanted)
        if joins:
            whole = EXACT.add(whole, bounds.constants[joining])  # type: ignore[index]
        bound = Fraction(whole) + split
        if bound != best.score:
            return bound < best.score
        return self._too_many(k, bounds, _with(chosen, joining, joins), by_index, most)

    def _too_many(
        self,
        k: int,
        bounds: _Bounds,
        chosen: Collection[int],
        by_index: dict[int, Candidate],
        most: list[int],
    ) -> bool:
        """At best a tie with the best on units and score: whether the branch needs
        more shipments than the best has (or as many, and loses on the lowest ID)."""
        best = self.best[0]
        # Fewest shipments decides. Every line from
        # ``k`` on must then ship its most; one the chosen OUs cannot fill needs another.
        # ``k`` on must then ship its most: what the chosen OUs cannot hold needs at
        # least as many more OUs as the biggest holders of the rest.
        count = len(best.shipments)
        shipments = len(chosen)
        if shipments > count:
            return True
        more = 0
        # A lower bound from the next lines only is still one: at most
        # ``_SHORT_LINES`` of them are looked at (each cut would be linear in the
        # lines of a long order otherwise).
        for j in range(k, min(len(self.lines), k + _SHORT_LINES)):
            line_id = self.lines[j].id
            short = most[j]
            for index in chosen:
                fit = by_index[index].fits.get(line_id)
                if fit is not None:
                    short -= fit.cap
            needed = 0
            if short > 0:
                for cap, index in bounds.caps[j]:
                    if index in chosen:
                        continue
                    needed += 1
                    short -= cap
                    if short <= 0 or shipments + needed > count:
                        break
            if needed > more:
                more = needed
                if shipments + more > count:
                    return True
        if shipments + more < count or not chosen:
            return False
        # As many shipments at best: the lowest IDs decide, the first one before all.
        # None of the chosen can go; a new one may come in only below them.
        lowest = min(by_index[index].unit.id for index in chosen)
        return more == 0 and lowest > best.tie[0][0]

    # --- the enumeration ----------------------------------------------------------------

    def run(self) -> Proposition:
        """Search; return the winner (the empty proposition if nothing can be fulfilled)."""
        self.consider([])  # everything cancelled: always valid
        alone: list[Candidate] = []
        pool: list[Candidate] = []
        for candidate in self.candidates:
            (pool if candidate.sheet.partial else alone).append(candidate)
        try:
            for candidate in alone:  # sheets that win alone must fulfil everything
                self.stock_left = {}
                self._alone(candidate)
            self.stock_left = {}
            estimates = self._estimates(pool)
            if len(pool) > EXACT_POOL:
                pool = self._trimmed(pool, estimates)
            else:
                # Single-supplier answers first: each candidate's own full shipment
                # (cheap, and usually near the winner) sets the bar the bounds below
                # cut against before the enumeration opens a branch.
                for candidate in self._ranked(pool, estimates):
                    quantities = self.full_quantities(candidate)
                    if quantities:
                        self._single(candidate, quantities)
            pool.sort(key=lambda c: estimates[c.index])
            self._enumerate(pool)
        except _Stop:
            stopped = f"stopped after {self.propositions:,} propositions"
            if self.shipment_lines > MAX_SHIPMENT_LINES:
                stopped += f" ({self.shipment_lines:,} shipment lines)"
            self.bounds.append(stopped)
        return self.best[0]

    def _estimates(self, pool: list[Candidate]) -> dict[int, tuple[Any, ...]]:
        """The sort keys (``_estimate``, by candidate index) of the candidates whose
        Shipment scope may reject or score.

        Those have it run on their full shipment now, in the pool's order, as ranking
        all of them would (its rejections and errors are recorded whatever the ranking
        reaches); the others are ranked lazily (``_ranked``), which has no other effect.
        """
        estimates: dict[int, tuple[Any, ...]] = {}
        for candidate in pool:
            if not self._quiet(candidate.sheet):
                units = sum(q for _line, q in self.full_quantities(candidate))
                self.units_of[candidate.index] = units
                estimates[candidate.index] = self._estimate(candidate, units)
        return estimates

    def _trimmed(
        self, pool: list[Candidate], estimates: dict[int, tuple[Any, ...]]
    ) -> list[Candidate]:
        """The pool of more than ``EXACT_POOL`` candidates, trimmed to the
        ``POOL_PER_LINE`` best per line, after every candidate's own full shipment was
        tried alone and the greedy proposals made; the enumeration's budget shrinks."""
        best = self.best
        # Biggest full shipments first: once the kept list is full, a smaller
        # one cannot get in, nor can any after it.
        for candidate in self._ranked(pool, estimates):
            quantities = self.full_quantities(candidate)
            if not quantities:
                continue
            full = len(best) > ALTERNATIVES and not self.judging
            if full and sum(q for _line, q in quantities) < best[-1].units:
                break
            self._single(candidate, quantities)
        keep: dict[int, Candidate] = {}
        fitting: dict[int, list[Candidate]] = {line.id: [] for line in self.lines}
        for candidate in pool:  # per line, in the pool's order
            for line_id in candidate.fits:
                fitting[line_id].append(candidate)
        for line in self.lines:
            for candidate in itertools.islice(
                self._ranked(fitting[line.id], estimates), POOL_PER_LINE
            ):
                keep[candidate.index] = candidate
        self.bounds.append(
            f"{len(pool)} candidates; the {POOL_PER_LINE} best per line were combined"
        )
        pool = list(keep.values())
        self._greedy(pool)
        self.trimmed = True
        self.limit = self.propositions + MAX_PROPOSITIONS_BOUNDED
        self.node_limit = 10 * MAX_PROPOSITIONS_BOUNDED
        return pool

    def _alone(self, candidate: Candidate) -> None:
        parts = []
        for line in self.lines:
            fit = candidate.fits.get(line.id)
            q = self.open[line.id]
            if fit is None or fit.cap < q:
                return
            taken = self.take(candidate, line, q)
            if taken is None:
                return
            parts.append((line.id, q, taken))
        quantities = tuple((line_id, q) for line_id, q, _t in parts)
        self.consider([(candidate, quantities, {line_id: t for line_id, _q, t in parts})])

    def _single(self, candidate: Candidate, quantities: Quantities) -> None:
        self.stock_left = {}
        products = {}
        for line_id, q in quantities:
            taken = self.take(candidate, candidate.fits[line_id].line, q)
            if taken is None:
                return
            products[line_id] = taken
        self.stock_left = {}
        self.consider([(candidate, quantities, products)])

    def _greedy(self, pool: list[Candidate]) -> None:
        """Propose what a unit-by-unit choice gives: each open unit, line by line, to
        the candidate it adds most to (its line's score per unit, plus the Shipment
        scope's score when that candidate ships nothing yet); a sheet that may not
        split a line takes it whole. Then what the same choice gives without the
        Shipment scores (fewer, fuller shipments). ``consider`` judges both as any
        other proposition: this only proposes, early, what the enumeration of a
        trimmed pool (budgeted, line by line from the first) may not reach.

        Only where proposing cannot change anything but the propositions: no
        FulfillmentProposition scope (one failing on a proposal would leave its whole
        sheet out) and no Shipment scope that reads the shipment (one refusing or
        failing on a proposed shipment would drop an OU the search kept)."""
        if self.judging:
            return  # a FulfillmentProposition scope could fail on it: the whole sheet out
        for candidate in pool:
            steps = candidate.sheet.plan.blocks.get("Shipment")
            if steps and not self._same_scope(candidate.sheet, steps):
                return  # its shipments could fail or be refused where the search's are not
        constants: dict[int, float] = {}
        for candidate in pool:
            constant = self._shipment_constant(candidate)
            constants[candidate.index] = float(constant) if constant is not None else 0.0
        by_index = {c.index: c for c in pool}
        for use_constants in (True, False):
            self.stock_left = {}
            chosen, products = self._greedy_choice(pool, constants if use_constants else None)
            self.stock_left = {}
            if chosen:
                try:
                    self.consider(
                        [
                            (by_index[index], tuple(lines.items()), products[index])
                            for index, lines in chosen.items()
                        ]
                    )
                except SheetFailed:
                    # A proposal, not a branch the search had to take: an error of a
                    # Shipment scope (the same for each of the OU's shipments) is met
                    # where the search meets that OU's shipments, as without it.
                    continue

    def _greedy_choice(
        self, pool: list[Candidate], constants: dict[int, float] | None
    ) -> tuple[dict[int, dict[int, int]], dict[int, dict[int, list[tuple[int, int]]]]]:
        """``_greedy``'s proposal: per candidate index, the quantity of each line and
        the products taken for it; with the Shipment scopes' ``constants`` (by
        candidate index) added for a candidate that ships nothing yet, if given."""
        chosen: dict[int, dict[int, int]] = {}  # candidate index -> {line id: q}
        products: dict[int, dict[int, list[tuple[int, int]]]] = {}
        owner: dict[int, int] = {}  # OU id -> candidate index
        for line in self.lines:
            line_id = line.id
            wanted = self.open[line_id]
            need = wanted
            fitting = [c for c in pool if line_id in c.fits]
            while need:
                pick, best_q = self._greedy_pick(
                    fitting, line, need, wanted, owner, chosen, constants
                )
                if pick is None:
                    break  # what is left of the line stays unfulfilled
                taken = self.take(pick, line, best_q)
                if taken is None:  # pragma: no cover - ``available`` said it could
                    break
                index = pick.index
                owner[pick.unit.id] = index
                lines_of = chosen.setdefault(index, {})
                lines_of[line_id] = lines_of.get(line_id, 0) + best_q
                parts = products.setdefault(index, {})
                merged = dict(parts.get(line_id, []))
                for product, n in taken:
                    merged[product] = merged.get(product, 0) + n
                parts[line_id] = list(merged.items())
                need -= best_q
        return chosen, products

    def _greedy_pick(
        self,
        fitting: list[Candidate],
        line: OrderLine,
        need: int,
        wanted: int,
        owner: dict[int, int],
        chosen: dict[int, dict[int, int]],
        constants: dict[int, float] | None,
    ) -> tuple[Candidate | None, int]:
        """The candidate the next units of ``line`` (``need`` of ``wanted`` open) add
        most to, and how many it takes: one unit, or the whole line for a sheet that
        may not split it. Ties go to the lower OU ID, then the earlier sheet."""
        line_id = line.id
        best: tuple[float, int, int] | None = None  # (value, -OU id, -sheet)
        pick: Candidate | None = None
        best_q = 0
        for candidate in fitting:
            index = candidate.index
            taken_by = owner.get(candidate.unit.id)
            if taken_by is not None and taken_by != index:
                continue
            fit = candidate.fits[line_id]
            if candidate.sheet.splittable:  # a unit at a time
                q = 1 if self.available(candidate, line) else 0
            elif need == wanted and self.available(candidate, line) >= need:
                q = need  # the whole line, or nothing
            else:
                continue
            if not q:
                continue
            value = float(fit.score) * q / wanted
            if constants is not None and index not in chosen:
                value += constants[index]
            key = (value, -candidate.unit.id, -candidate.sheet.order)
            if best is None or key > best:
                best, best_q, pick = key, q, candidate
        return pick, best_q

    def _ranked(
        self, candidates: list[Candidate], keys: dict[int, tuple[Any, ...]]
    ) -> Iterator[Candidate]:
        """``candidates`` best first: whose own full shipment is biggest, then best
        (``_estimate``). As sorting them all by their keys would, but lazily: a key's
        score is worked out only for the sizes of shipment reached (keys, by
        candidate index, are kept for the next call). Of thousands of candidates, the
        search asks for the first few."""
        levels: dict[int, list[Candidate]] = {}
        units_of = self.units_of
        for candidate in candidates:
            units = units_of.get(candidate.index)
            if units is None:
                units = units_of[candidate.index] = sum(
                    q for _line, q in self.full_quantities(candidate)
                )
            level = levels.get(units)
            if level is None:
                levels[units] = [candidate]
            else:
                level.append(candidate)
        for units in sorted(levels, reverse=True):
            level = levels[units]
            for candidate in level:
                if candidate.index not in keys:
                    keys[candidate.index] = self._estimate(candidate, units)
            level.sort(key=lambda c: keys[c.index])
            yield from level

    def _quiet(self, run: SheetRun) -> bool:
        """Whether a sheet's Shipment scope (if any) only sets names and data: it
        neither rejects nor scores a shipment."""
        quiet = self.inert.get(id(run))
        if quiet is None:
            steps = run.plan.blocks.get("Shipment", ())
            quiet = self.inert[id(run)] = all(step.kind in (WITH, DATA) for step in steps)
        return quiet

    def _estimate(self, candidate: Candidate, units: int) -> tuple[Any, ...]:
        """A candidate's sort key: its own full shipment's units, then its score."""
        quantities = self.full_quantities(candidate)
        run = candidate.sheet
        quiet = self._quiet(run)
        if not quantities:
            score = -1e300
        elif not run.plan.blocks.get("Shipment"):
            # No Shipment scope: the shipment is worked out here (nothing runs), kept
            # for when the search asks for it (``shipment`` then counts its lines).
            key = (candidate.index, quantities)
            evaluation = self.shipment_cache.get(key) or self.prepared.get(key)
            if evaluation is None:
                evaluation = self.prepared[key] = self._evaluation(
                    candidate, quantities, Outcome(), None
                )
            score = evaluation.approx
        elif quiet:
            # Neither rejects nor scores: the lines' scores are the score, and the
            # scope runs only for the shipments that get into a proposition (at
            # 10,000 OUs, half the search's time went to running it here).
            score = self._line_score(candidate, quantities)
        else:
            evaluation = self.shipment(candidate, quantities)
            score = evaluation.approx if evaluation.valid else -1e300
        return (-units, -score, candidate.unit.id, candidate.sheet.order)

    def _line_score(self, candidate: Candidate, quantities: Quantities) -> float:
        """A shipment's score without Shipment-scope boosts, as a float (as
        ``ShipmentEval.approx``)."""
        whole, split = self._line_parts(candidate, quantities, ZERO)
        return float(Fraction(whole) + split) if split else float(whole)

    def _line_parts(
        self, candidate: Candidate, quantities: Quantities, whole: Decimal
    ) -> tuple[Decimal, Fraction | None]:
        """``whole`` plus the scores of the lines a shipment ships whole, and the
        shares of the lines it ships part of (``None`` for none)."""
        split: Fraction | None = None
        for line_id, q in quantities:
            line_score = candidate.fits[line_id].score
            if line_score:
                wanted = self.open[line_id]
                if q == wanted:
                    whole = EXACT.add(whole, line_score)
                else:
                    share = Fraction(line_score) * Fraction(q, wanted)
                    split = share if split is None else split + share
        return whole, split

    def _enumerate(self, pool: list[Candidate]) -> None:
        """Enumerate the propositions of ``pool`` line by line (``_Enumeration``)."""
        _Enumeration(self, pool).run()

    # --- fan-out ----------------------------------------------------------------------

    def fan_out(self, proposition: Proposition) -> None:
        """Pick each shipment's fan-out OUs (``fanout as N`` in the Fanout scope)."""
        used = {s.candidate.unit.id for s in proposition.shipments}
        for shipment in proposition.shipments:
            run = shipment.candidate.sheet
            steps = run.plan.blocks.get("Fanout")
            evaluation = shipment.evaluation
            if steps is None or not evaluation.valid:
                continue
            values = evaluation.values
            if values is None:
                # Not kept (no Shipment scope, or one that is the same for every
                # shipment): made again, with the names that scope sets.
                values = self.shipment_values(shipment.candidate, shipment.quantities)
                shipment_steps = run.plan.blocks.get("Shipment")
                if shipment_steps:
                    try:
                        run_block(shipment_steps, values)
                    except EvaluationError as error:  # pragma: no cover - it ran before
                        raise SheetFailed(run, error, shipment.candidate) from error
            try:
                outcome = run_block(steps, values.child())
            except EvaluationError as error:
                raise SheetFailed(run, error, shipment.candidate) from error
            limit = outcome.fanout
            try:
                # A sheet's value: what int() refuses is caught below.
                wanted = max(0, int(limit)) if limit is not None and limit is not True else 0  # type: ignore[call-overload]
            except (TypeError, ValueError):
                wanted = 0
            if not wanted:
                continue
            ranked = []
            for other in run.candidates:
                if other is shipment.candidate or other.unit.id in used:
                    continue
                if not self._can_ship(other, shipment.quantities):
                    continue
                alternative = self.shipment(other, shipment.quantities)
                if alternative.valid:
                    ranked.append((-alternative.score, other.unit.id, other))
            ranked.sort(key=lambda item: item[:2])
            shipment.fanout = [other for _s, _i, other in ranked[:wanted]]

    def _can_ship(self, candidate: Candidate, quantities: Quantities) -> bool:
        self.stock_left = {}
        try:
            for line_id, q in quantities:
                fit = candidate.fits.get(line_id)
                if fit is None or fit.cap < q or self.take(candidate, fit.line, q) is None:
                    return False
            return True
        finally:
            self.stock_left = {}


class _Enumeration:
    """One enumeration of ``Search.run``: the propositions of a pool, line by line.

    Each line is settled whole to one candidate, spread over splitting candidates
    (``splits``, one share at a time by ``spreads``) or left unfulfilled
    (``choices``), depth first over the lines with an explicit stack (``run``),
    each complete assignment judged by ``Search.consider`` (``leaf``). What is
    chosen so far: per candidate index its quantity per line (``chosen``) and the
    products taken for it (``products``), the candidate that holds each OU
    (``unit_owner``, one sheet per OU), the units assigned (``units``), and in the
    exact search the score of what is chosen (``bounds``), kept as ``assign`` and
    ``unassign`` go.
    """

    __slots__ = (
        "bounds",
        "by_index",
        "by_line",
        "chosen",
        "lines",
        "most",
        "open",
        "products",
        "remaining",
        "search",
        "unit_owner",
        "units",
    )

    def __init__(self, search: Search, pool: list[Candidate]) -> None:
        self.search = search
        self.open = search.open
        self.lines = lines = search.lines
        self.by_line = by_line = [[c for c in pool if line.id in c.fits] for line in lines]
        most: list[int] = []
        self.most = most
        for line, fitting in zip(lines, by_line, strict=True):
            most.append(min(search.open[line.id], sum(c.fits[line.id].cap for c in fitting)))
        remaining = self.remaining = [0] * (len(lines) + 1)  # the most lines k.. can add
        for k in range(len(lines) - 1, -1, -1):
            remaining[k] = remaining[k + 1] + most[k]
        self.chosen: dict[int, dict[int, int]] = {}  # candidate index -> {line id: q}
        self.products: dict[int, dict[int, list[tuple[int, int]]]] = {}
        self.unit_owner: dict[int, int] = {}  # OU id -> candidate index
        self.by_index = {c.index: c for c in pool}
        self.units = 0
        # The bounds serve the exact search. A trimmed pool's search is bounded by a
        # budget of propositions instead: cuts would only make it spend that budget
        # on more, costlier nodes (sheets that score every shipment make more
        # shipments score more, and the score bound weak).
        self.bounds = None if search.trimmed else search._score_bounds(pool, by_line)

    def run(self) -> None:
        """Depth first over the lines with an explicit stack (the entry at position k
        holds line k's choice), not recursion: an order may have thousands of lines."""
        stack: list[Generator[None, None, None]] = []
        enter = self.enter
        try:
            first = enter(0)
            if first is not None:
                stack.append(first)
            while stack:
                if next(stack[-1], _DONE) is _DONE:
                    stack.pop()
                    continue
                deeper = enter(len(stack))
                if deeper is not None:
                    stack.append(deeper)
        finally:
            for pending in reversed(stack):
                pending.close()
            stack.clear()

    def assign(self, candidate: Candidate, line: OrderLine, q: int) -> bool:
        """Give ``q`` units of ``line`` to ``candidate`` (taking its stock); False if
        its OU is held by another of its sheets, or its stock does not allow it."""
        unit_owner = self.unit_owner
        owner = unit_owner.get(candidate.unit.id)
        if owner is not None and owner != candidate.index:
            return False
        taken = self.search.take(candidate, line, q)
        if taken is None:
            return False
        bounds = self.bounds
        if bounds is not None:
            change = bounds.share(candidate, line.id) * q
            if owner is None:
                change += bounds.approx_constants[candidate.index]
                bounds.whole = EXACT.add(bounds.whole, bounds.constants[candidate.index])
            bounds.current += change
            bounds.size += abs(change)
            score = candidate.fits[line.id].score
            if score:
                if q == self.open[line.id]:
                    bounds.whole = EXACT.add(bounds.whole, score)
                else:
                    bounds.split[(candidate.index, line.id)] = q
        unit_owner[candidate.unit.id] = candidate.index
        self.chosen.setdefault(candidate.index, {})[line.id] = q
        self.products.setdefault(candidate.index, {})[line.id] = taken
        self.units += q
        return True

    def unassign(self, candidate: Candidate, line: OrderLine) -> None:
        """Undo the last ``assign`` of ``line`` to ``candidate``."""
        chosen = self.chosen
        products = self.products
        bounds = self.bounds
        q = chosen[candidate.index].pop(line.id)
        self.search.give_back(candidate, products[candidate.index].pop(line.id))
        self.units -= q
        change = 0.0
        if not chosen[candidate.index]:
            del chosen[candidate.index]
            del products[candidate.index]
            del self.unit_owner[candidate.unit.id]
            if bounds is not None:
                change = bounds.approx_constants[candidate.index]
                bounds.whole = EXACT.subtract(bounds.whole, bounds.constants[candidate.index])
        if bounds is not None:
            change += bounds.share(candidate, line.id) * q
            bounds.current -= change
            bounds.size += abs(change)
            score = candidate.fits[line.id].score
            if score:
                if q == self.open[line.id]:
                    bounds.whole = EXACT.subtract(bounds.whole, score)
                else:
                    del bounds.split[(candidate.index, line.id)]

    def leaf(self) -> None:
        """Judge the complete assignment (``_Stop`` past the search's budgets)."""
        search = self.search
        if search.propositions >= search.limit or search.shipment_lines > MAX_SHIPMENT_LINES:
            raise _Stop
        # A candidate's lines are assigned and taken back last-in first-out, so its
        # dict is in line order: the shipment's quantities as the cache keys them.
        chosen, products, by_index = self.chosen, self.products, self.by_index
        search.consider([(by_index[i], tuple(chosen[i].items()), products[i]) for i in chosen])

    def cut_spread(self, k: int, reach: tuple[Decimal, int, int], joining: int | None) -> bool:
        """``_cut`` for line ``k`` being spread: its splitting candidates can still
        add at most ``reach`` (score per unit, units, of the open quantity), and
        ``joining``, when given, would be a new shipment."""
        bounds = self.bounds
        assert bounds is not None
        return self.search._cut(
            k + 1,
            self.units + reach[1] + self.remaining[k + 1],
            bounds,
            self.chosen,
            self.by_index,
            self.most,
            reach,
            joining,
            reach[1],
        )

    def spreads(
        self,
        fitting: list[Candidate],
        line: OrderLine,
        need: int,
        start: int,
        after: list[tuple[int, Decimal]] | None,
        k: int,
    ) -> Iterator[tuple[int, int]]:
        """One candidate's share of a spread: each way to give it some of ``need``
        units (most first), applied while the caller holds it, and the units left
        for the candidates after it (``(need left, next position)``). With
        ``after`` (per position, the units and the best line score the
        candidates from there on can add), a share after which the spread and
        the lines after it cannot beat the best is not offered."""
        wanted = self.open[line.id]
        bounds = self.bounds
        unit_owner = self.unit_owner
        cut_spread = self.cut_spread
        assign = self.assign
        unassign = self.unassign
        for position in range(start, len(fitting)):
            reach = (ZERO, 0, wanted)  # what the candidates from here on can add
            if after is not None and bounds is not None:
                room, top = after[position]
                reach = (top, min(need, room), wanted)
                if cut_spread(k, reach, None):
                    return  # whatever they add cannot beat the best
            candidate = fitting[position]
            owner = unit_owner.get(candidate.unit.id)
            if owner is not None and owner != candidate.index:
                continue
            if owner is None and bounds is not None and cut_spread(k, reach, candidate.index):
                continue  # a new shipment: not with what it and those after it add
            most_here = min(self.search.available(candidate, line), need)
            for q in range(most_here, 0, -1):
                if not assign(candidate, line, q):
                    continue
                if after is not None and bounds is not None:
                    room, top = after[position + 1]
                    left = min(need - q, room)
                    if cut_spread(k, (top, left, wanted), None):
                        unassign(candidate, line)
                        continue
                yield need - q, position + 1
                unassign(candidate, line)

    def splits(
        self, fitting: list[Candidate], line: OrderLine, need: int, k: int
    ) -> Iterator[None]:
        """Ways to spread up to ``need`` units over splitting candidates (most first),
        each applied while the caller holds it. Depth first over the candidates with
        an explicit stack (one entry per candidate holding a share), not recursion:
        a line may have thousands of suppliers."""
        after: list[tuple[int, Decimal]] | None = None
        if self.bounds is not None:
            # From each position on: the units the candidates there could add at
            # most, and their best score for the line (none below 0: a unit may
            # also stay unfulfilled).
            after = [(0, ZERO)] * (len(fitting) + 1)
            for position in range(len(fitting) - 1, -1, -1):
                fit = fitting[position].fits[line.id]
                room, top = after[position + 1]
                after[position] = (room + fit.cap, max(top, fit.score))
        spreads = self.spreads
        stack = [spreads(fitting, line, need, 0, after, k)]
        while stack:
            step = next(stack[-1], None)
            if step is None:
                stack.pop()
                continue
            yield
            left, position = step
            if left:
                stack.append(spreads(fitting, line, left, position, after, k))

    def choices(self, k: int) -> Generator[None, None, None]:
        """The ways to settle line ``k``, each applied while the caller holds it: whole
        to one candidate, spread over splitting ones, or not fulfilled."""
        line = self.lines[k]
        need = self.open[line.id]
        fitting = self.by_line[k]
        chosen = self.chosen
        bounds = self.bounds
        ordered = [c for c in fitting if c.index in chosen] + [
            c for c in fitting if c.index not in chosen
        ]
        for candidate in ordered:
            fit = candidate.fits[line.id]
            if fit.cap < need:
                continue
            if bounds is not None and self.search._cut(
                k + 1,
                self.units + need + self.remaining[k + 1],
                bounds,
                chosen,
                self.by_index,
                self.most,
                (fit.score, need, need),
                candidate.index,
            ):
                continue  # whole here, the line cannot help beat the best
            if self.assign(candidate, line, need):
                yield
                self.unassign(candidate, line)
        splitting = [c for c in ordered if c.sheet.splittable]
        if bounds is not None:
            # Best line scores first: then once the candidates from a position on
            # cannot beat the best, none after them can (``spreads`` stops there).
            splitting.sort(key=lambda c: -c.fits[line.id].score)
        if splitting:
            line_id = line.id
            for _ in self.splits(splitting, line, need, k):
                held = [
                    chosen[c.index][line_id]
                    for c in splitting
                    if c.index in chosen and line_id in chosen[c.index]
                ]
                if len(held) == 1 and held[0] == need:
                    continue  # the same as the whole-line choice above
                yield
        yield  # the line (what is left of it) is not fulfilled

    def enter(self, k: int) -> Generator[None, None, None] | None:
        """Arrive at line ``k`` with lines ``0..k-1`` settled: the ways on from here,
        or None at a leaf or where no way on can beat the best."""
        search = self.search
        search.nodes += 1
        if search.nodes > search.node_limit:
            raise _Stop
        units = self.units + self.remaining[k]
        if units < search.best[0].units:
            return None
        bounds = self.bounds
        if bounds is not None and search._cut(
            k, units, bounds, self.chosen, self.by_index, self.most
        ):
            return None
        if k == len(self.lines):
            self.leaf()
            return None
        return self.choices(k)
