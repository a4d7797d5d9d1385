"""The routing engine: a scenario in, the decision and its whole explanation out.

``route(scenario)`` is the one call everything uses (the Celery task, the
preview, the API, ``manage.py simulate``; ``fulfillment_options`` asks it once
per delivery option for a checkout page): it runs every sheet over the order
(``evaluate``), searches the best proposition (``search``) and returns a
``Decision`` whose ``blob`` is EVA's orchestration details (``blob``). Pure
Python: no Django, no clock but ``scenario.at``. The rules are in
``docs/routing.md``.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from ..language.compiler import EvaluationError
from . import blob as blobs
from .decision import (
    Alternative,
    Decision,
    Explanation,
    Proposal,
    Shipment,
    Supplier,
    Total,
    proposal,
    proposals,
    unshipped,
)
from .evaluate import Candidate, Recorder, SheetRun, evaluate_sheet, read_history
from .model import RETURNS, SALES, OrderLine, Scenario
from .network import network_of
from .options import OptionOutcome, options_matter
from .plan import StatementFailed, plan_for
from .routes import RouteProvider
from .search import Search, SheetFailed
from .variables import FULFILLMENT_OPTIONS, World

__all__ = ["Prepared", "fulfillment_options", "prepare", "route", "stocked_units"]


def stocked_units(scenario: Scenario) -> frozenset[int] | None:
    """The OUs that can fulfil anything of a sales order: those with available stock
    of a line's product or of one of its replacements. None for another intent
    (a return or a purchase takes no stock: any OU may fulfil it).

    A sales order's line fits an OU only for the units it has available (its own
    product's, or with ``UseReplacementProductsForStock`` its replacements' too), so
    no other OU is ever a candidate of any sheet: routing with ``candidate_units``
    set to these gives the same decision. Its explanation differs: the OUs left out
    are not listed among the rejections and ``Dropped`` (``docs/routing.md``).
    """
    if scenario.order.intent != SALES:
        return None
    products = network_of(scenario).products
    wanted = set()
    for line in scenario.order.lines:
        wanted.add(line.product)
        product = products.get(line.product)
        if product is not None:
            wanted.update(product.replacements)
    return frozenset(
        unit_id
        for (unit_id, product_id), available in scenario.stock.items()
        if available > 0 and product_id in wanted
    )


def _error(run: SheetRun, line: int, column: int, code: str, message: str) -> dict[str, Any]:
    return {
        "Sheet": run.source.name,
        "Line": line,
        "Column": column,
        "Code": code,
        "Message": message,
    }


@dataclass(slots=True)
class Prepared:
    """Everything the search starts from: the sheets' candidates and what was recorded."""

    world: World
    lines: list[OrderLine]
    open_quantities: dict[int, int]
    recorder: Recorder
    errors: list[dict[str, Any]]
    routing: list[SheetRun]  # sheets that route (not CANCEL, not rejected for the order)
    cancel_sheet: SheetRun | None
    needs_stock: bool
    evaluated: list[SheetRun]  # every sheet run that got as far as its candidates

    def release(self) -> None:
        """Break the sheet <-> candidate cycles, so the run's objects are freed as soon
        as it ends, by reference counting, not by a later garbage collection that
        would have to walk them all (tens of thousands at 10,000 OUs)."""
        for run in self.evaluated:
            run.candidates = []

    def search(self) -> Search:
        """A search over the routing sheets' candidates."""
        candidates = [c for run in self.routing for c in run.candidates]
        return Search(
            self.world,
            self.lines,
            self.open_quantities,
            candidates,
            self.recorder,
            needs_stock=self.needs_stock,
        )


def prepare(scenario: Scenario, *, route_provider: RouteProvider | None = None) -> Prepared:
    """Run every sheet's order, supplier and line scopes: the search's starting point."""
    world = World(scenario, route_provider)
    history = read_history(scenario)
    world.attempts = history.attempts
    order = scenario.order
    lines = [line for line in order.lines if history.open[line.id] > 0]
    open_quantities = {line.id: history.open[line.id] for line in lines}
    settings = scenario.settings
    splitting = (
        order.allow_partial_fulfillment
        if order.allow_partial_fulfillment is not None
        else bool(settings.get("Orders:Default:AllowPartialFulfillment", False))
    )
    recorder = Recorder()
    errors: list[dict[str, Any]] = []
    runs: list[SheetRun] = []
    evaluated: list[SheetRun] = []
    for position, sheet in enumerate(sorted(scenario.sheets, key=lambda s: s.id)):
        if not sheet.active:
            continue
        plan = plan_for(sheet.source)
        run = SheetRun(sheet, plan, position)
        if plan.diagnostics:
            for diagnostic in plan.diagnostics:
                span = diagnostic.span
                errors.append(
                    _error(run, span.line, span.column, diagnostic.code.value, diagnostic.message)
                )
            continue
        if order.intent not in plan.intents:
            recorder.add(
                sheet=run,
                scope="Order",
                reason="OrderIntents",
                description=(
                    f"The sheet routes {', '.join(plan.intents)} orders; this is a "
                    f"{order.intent} order."
                ),
                expression=None,
                line=None,
            )
            continue
        evaluated.append(run)
        try:
            evaluate_sheet(world, run, history, lines, recorder, splitting=splitting)
        except EvaluationError as error:
            entry = _error(run, error.line, error.column, error.code, error.message)
            if isinstance(error, StatementFailed):  # the Order (or OrderLineSuppliers) scope
                entry.update(blobs.statement_error(error))
            errors.append(entry)
            continue
        runs.append(run)

    return Prepared(
        world,
        lines,
        open_quantities,
        recorder,
        errors,
        [run for run in runs if run.plan.action != "CANCEL" and not run.rejected],
        next((run for run in runs if run.plan.action == "CANCEL" and not run.rejected), None),
        needs_stock=order.intent == SALES,
        evaluated=evaluated,
    )


_gc_lock = threading.Lock()
_gc_depth = 0
_gc_was_enabled = False


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a decision is made.

    A route allocates tens of thousands of small objects that live until the
    blob is built. Each allocation burst makes the collector walk every live
    object, the whole network included: a third of the time at 10,000 OUs
    (docs/performance.md). Reference counting still frees what is not cyclic;
    cycles wait for the next collection after the pause. Nested and concurrent
    routes (threads) share one pause: the last one out restores the state the
    first one found.
    """
    global _gc_depth, _gc_was_enabled
    with _gc_lock:
        if _gc_depth == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_depth += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_depth -= 1
            if _gc_depth == 0 and _gc_was_enabled:
                gc.enable()


def route(
    scenario: Scenario,
    *,
    route_provider: RouteProvider | None = None,
    alternatives: int = 0,
) -> Decision:
    """Decide where the scenario's order goes, and explain why.

    ``alternatives``: for up to this many valid suppliers (most lines first, then best
    score), also what each would give alone (``Decision.alternatives``; the preview
    asks for them). The decision and its blob are the same either way.
    """
    with _cyclic_gc_paused():
        return _route(scenario, route_provider, alternatives)


def _route(
    scenario: Scenario, route_provider: RouteProvider | None, alternatives: int = 0
) -> Decision:
    if scenario.order.intent == RETURNS and not scenario.settings.get(
        "UseOrderOrchestrationForReturnOrders"
    ):
        return _default_return(scenario, World(scenario, route_provider))
    prepared = prepare(scenario, route_provider=route_provider)
    try:
        return _decide(scenario, prepared, alternatives)
    finally:
        prepared.release()


def _alone(prepared: Prepared, candidates: list[Candidate], limit: int) -> tuple[Alternative, ...]:
    """What each of the ``limit`` first valid suppliers (most lines, then best score)
    would give on its own: the best proposition of a search over it alone, with its
    own recorder (the decision's explanation is made already and stays as it is)."""
    chosen = sorted(candidates, key=lambda c: (-len(c.fits), -c.score, c.unit.id, c.sheet.order))[
        :limit
    ]
    memo: dict[int, tuple[Explanation, ...]] = {}
    found = []
    for candidate in chosen:
        unit, sheet = candidate.unit, candidate.sheet.source
        supplier = Supplier(unit.id, unit.name, unit.backend_id)
        search = Search(
            prepared.world,
            prepared.lines,
            prepared.open_quantities,
            [candidate],
            Recorder(),
            needs_stock=prepared.needs_stock,
        )
        try:
            best = search.run()
        except SheetFailed as failure:
            error = failure.error
            found.append(
                Alternative(
                    supplier,
                    sheet.id,
                    sheet.name,
                    None,
                    f"line {error.line}, column {error.column}: {error.message}",
                )
            )
            continue
        kept = proposal(best, prepared.open_quantities, prepared.cancel_sheet, memo)
        found.append(Alternative(supplier, sheet.id, sheet.name, kept))
    return tuple(found)


def _decide(scenario: Scenario, prepared: Prepared, alternatives: int = 0) -> Decision:
    errors = prepared.errors
    routing = prepared.routing
    while True:
        search = prepared.search()
        try:
            winner = search.run()
            search.fan_out(winner)
            break
        except SheetFailed as failure:
            error = failure.error
            candidate = failure.candidate
            if candidate is not None and isinstance(error, StatementFailed):
                # A Shipment or Fanout statement failed for one supplier: it alone is out.
                prepared.recorder.fail(error, sheet=failure.run, unit=candidate.unit)
                failure.run.candidates.remove(candidate)
                continue
            entry = _error(failure.run, error.line, error.column, error.code, error.message)
            if isinstance(error, StatementFailed):
                entry.update(blobs.statement_error(error))
            errors.append(entry)
            routing.remove(failure.run)
    open_quantities = prepared.open_quantities
    kept = proposals(search.best, open_quantities, prepared.cancel_sheet)
    blob = blobs.build(
        at=scenario.at,
        fulfillments=[p.entry() for p in kept],
        candidates=search.candidates,
        open_quantities=open_quantities,
        rejections=prepared.recorder.entries,
        errors=errors + blobs.supplier_errors(prepared.recorder.failed),
        search=search,
        unexplained=blobs.dropped(prepared.recorder.dropped, prepared.world),
    )
    if scenario.candidate_units is not None:
        # Said, not listed: how many OUs the run left out for holding none of the
        # order's products (``stocked_units``), so that an OU the explanation does not
        # name is accounted for.
        units = network_of(scenario).units
        weighed = sum(1 for unit_id in scenario.candidate_units if unit_id in units)
        blob["SuppliersWithoutStock"] = len(units) - weighed
    if not alternatives:
        return Decision(kept, blob)
    return Decision(kept, blob, _alone(prepared, search.candidates, alternatives))


def _default_return(scenario: Scenario, world: World) -> Decision:
    """Return orders without orchestration: all to the default returns OU."""
    history = read_history(scenario)
    open_quantities = {line.id: history.open[line.id] for line in scenario.order.lines}
    recorder = Recorder()
    backend_id = scenario.settings.get("Returns:DefaultOrganizationUnitBackendID")
    unit = next(
        (u for u in world.units.values() if backend_id and u.backend_id == backend_id), None
    )
    open_lines = {line_id: q for line_id, q in open_quantities.items() if q}
    if unit is None:
        recorder.entries.append(
            {
                "SupplierID": None,
                "SupplierName": None,
                "Sheet": None,
                "Scope": "Order",
                "OrderLineID": None,
                "Reason": "NoReturnsOrganizationUnit",
                "Description": (
                    "Return orders are not orchestrated (UseOrderOrchestrationForReturnOrders "
                    "is off) and Returns:DefaultOrganizationUnitBackendID names no "
                    "organization unit."
                ),
                "Expression": None,
                "Line": None,
            }
        )
        shipments: tuple[Shipment, ...] = (
            unshipped(open_lines, description="No returns organization unit."),
        )
    else:
        products = {line.id: line.product for line in scenario.order.lines}
        shipments = (
            (
                unshipped(
                    open_lines,
                    action="EXPORT_RETURN_ORDER",
                    supplier=Supplier(unit.id, unit.name, unit.backend_id),
                    products=products,
                    description=(
                        "Return orders are not orchestrated (UseOrderOrchestrationForReturnOrders "
                        "is off): they go to the default returns organization unit."
                    ),
                ),
            )
            if open_lines
            else ()
        )
    returned = Proposal(
        shipments,
        0.0,
        Total(
            description="Fulfillment proposition score consists of: 0 from score boosts on "
            "the Fulfillment Proposition scope and 0 from the shipments in this proposition.",
            score=0.0,
            boosts=(),
        ),
    )
    return Decision(
        (returned,),
        blobs.build(
            at=scenario.at,
            fulfillments=[returned.entry()],
            candidates=[],
            open_quantities=open_quantities,
            rejections=recorder.entries,
            errors=[],
            search=None,
        ),
    )


def fulfillment_options(
    scenario: Scenario, *, route_provider: RouteProvider | None = None
) -> list[OptionOutcome]:
    """The decision for each delivery option (``FULFILLMENT_OPTIONS`` order), as ``route``
    makes it for the scenario's order asking for that option."""
    order = scenario.order
    if not options_matter(scenario):
        decision = route(scenario, route_provider=route_provider)
        return [OptionOutcome(option, decision) for option in FULFILLMENT_OPTIONS]
    return [
        OptionOutcome(
            option,
            route(
                replace(scenario, order=replace(order, requested_fulfillment_option=option)),
                route_provider=route_provider,
            ),
        )
        for option in FULFILLMENT_OPTIONS
    ]
