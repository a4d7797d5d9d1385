"""The decision as typed values: what the domain stores, and the explanation of it.

``route`` returns a ``Decision``: the propositions the search kept, winner first
(``proposals``), each a tuple of ``Shipment``s with their lines, supplier, data,
fan-out, scores and score explanations as frozen dataclasses, and ``blob``: the
orchestration-details JSON for people and the API. The blob's ``Fulfillments``
are written from these dataclasses (``Proposal.entry``), never the other way
round; the rest of the blob (``ValidSuppliers``, ``Rejections``, ``Dropped``, ...)
explains who else was considered and why not (``blob.py``). The domain reads the
dataclasses and stores the blob as it is, never parsing it back.

A shipment's lines carry the products picked for them (the ordered product, or
replacements where the sheet allows them; the blob lists them only then); the
CANCEL shipment, last if any, holds what nothing can fulfil and has no supplier.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

from .blob import line_boost_text, number_text
from .evaluate import Candidate, LineFit, SheetRun, jsonable
from .plan import EXACT, ZERO, Boost
from .search import Proposition
from .search import Shipment as ProposedShipment

CANCEL = "CANCEL"


@dataclass(frozen=True, slots=True)
class Explanation:
    """One statement's part of a score: what it added, reading what."""

    description: str
    expression: str | None  # the statement's text (None: the engine's own arithmetic)
    previous_score: float
    new_score: float
    delta_score: float
    variables: Mapping[str, Any]  # jsonable
    line: int | None  # the statement's line in its sheet
    # The scope of the statement (None: the engine's own arithmetic, a split line's
    # share); typed only: the blob says it in ``description``.
    scope: str | None = None

    def entry(self) -> dict[str, Any]:
        """As the blob writes it."""
        return {
            "Description": self.description,
            "Expression": self.expression,
            "PreviousScore": self.previous_score,
            "NewScore": self.new_score,
            "DeltaScore": self.delta_score,
            "Variables": self.variables,
            "Line": self.line,
        }


@dataclass(frozen=True, slots=True)
class Total:
    """A shipment's or a proposition's score: what it consists of, and its own boosts."""

    description: str
    score: float
    boosts: tuple[Explanation, ...]

    def entry(self) -> dict[str, Any]:
        """As the blob writes it."""
        return {
            "Description": self.description,
            "Expression": None,
            "PreviousScore": 0.0,
            "NewScore": self.score,
            "DeltaScore": self.score,
            "Variables": {},
            "Boosts": [boost.entry() for boost in self.boosts],
        }


@dataclass(frozen=True, slots=True)
class Supplier:
    """The organization unit that fulfils a shipment."""

    id: int
    name: str
    backend_id: str | None

    def entry(self) -> dict[str, Any]:
        return {"ID": self.id, "Name": self.name, "BackendID": self.backend_id}


@dataclass(frozen=True, slots=True)
class ShipmentLine:
    """Units of one order line in a shipment, which products make them up, and the
    part of the line's score they carry."""

    order_line_id: int
    quantity: int
    products: tuple[tuple[int, int], ...]  # (product ID, units); empty for CANCEL
    score: float = 0.0
    explanations: tuple[Explanation, ...] = ()

    def entry(self, *, products: bool) -> dict[str, Any]:
        """As the blob writes it (``products``: with the products, for sheets that may
        ship replacements)."""
        entry: dict[str, Any] = {
            "ID": self.order_line_id,
            "Score": self.score,
            "Quantity": self.quantity,
            "ScoreExplanations": [explanation.entry() for explanation in self.explanations],
        }
        if products:
            entry["Products"] = [{"ID": product, "Quantity": n} for product, n in self.products]
        return entry


@dataclass(frozen=True, slots=True)
class Shipment:
    """One shipment of a proposition."""

    action: str  # the sheet's fulfillment action, or CANCEL
    sheet_id: int | None  # the sheet that proposed it (None: CANCEL with no sheet)
    sheet_name: str | None
    supplier: Supplier | None  # None for CANCEL
    lines: tuple[ShipmentLine, ...]
    data: Mapping[str, Any]  # as the blob's ``Data``: jsonable
    fanout: tuple[Supplier, ...]  # the other OUs that get a copy of the task
    score: float
    explanation: Total
    lists_products: bool = False  # the sheet may ship replacements: the blob names them

    @property
    def is_cancel(self) -> bool:
        return self.action == CANCEL

    def entry(self) -> dict[str, Any]:
        """As the blob writes it."""
        return {
            "FulfillmentAction": self.action,
            "Sheet": None
            if self.sheet_id is None
            else {"ID": self.sheet_id, "Name": self.sheet_name},
            "Supplier": None if self.supplier is None else self.supplier.entry(),
            "OrderLines": [line.entry(products=self.lists_products) for line in self.lines],
            "Score": self.score,
            "Data": dict(self.data),
            "ScoreExplanation": self.explanation.entry(),
            "FanoutSuppliers": [unit.entry() for unit in self.fanout],
        }


# The scopes whose boosts count on every line an OU ships under a sheet: its part as a
# supplier, beside the OrderLine scope's part for each line.
SUPPLIER_SCOPES = frozenset({"Order", "Supplier", "FulfillmentOptions"})


@dataclass(frozen=True, slots=True)
class ScoreParts:
    """A proposition's score in the parts the scopes give it (they add up to it, up
    to float rounding): ``supplier``, the Order, Supplier and FulfillmentOptions boosts
    counted on each line shipped; ``line``, the OrderLine scope's (a split line's
    share scales both); ``shipment``, the Shipment scope's; ``proposition``, the
    FulfillmentProposition scope's."""

    supplier: float
    line: float
    shipment: float
    proposition: float


@dataclass(frozen=True, slots=True)
class Proposal:
    """A proposition the search kept: its shipments (CANCEL last) and score."""

    shipments: tuple[Shipment, ...]
    score: float
    explanation: Total

    @property
    def units(self) -> int:
        """The units it ships (CANCEL left out): the first thing the winner rule weighs."""
        return sum(line.quantity for s in self.shipments if not s.is_cancel for line in s.lines)

    def parts(self) -> ScoreParts:
        """Its score by scope (``ScoreParts``)."""
        supplier = line_part = shipment_part = 0.0
        for shipment in self.shipments:
            shipment_part += sum((b.delta_score for b in shipment.explanation.boosts), 0.0)
            for line in shipment.lines:
                own = sum(e.delta_score for e in line.explanations if e.scope in SUPPLIER_SCOPES)
                full = own + sum(e.delta_score for e in line.explanations if e.scope == "OrderLine")
                share = line.score / full if full and line.score != full else 1.0
                supplier += own * share
                line_part += (full - own) * share
        proposition = sum((b.delta_score for b in self.explanation.boosts), 0.0)
        return ScoreParts(supplier, line_part, shipment_part, proposition)

    def entry(self) -> dict[str, Any]:
        """As the blob's ``Fulfillments`` entry."""
        return {
            "Shipments": [shipment.entry() for shipment in self.shipments],
            "Score": self.score,
            "ScoreExplanation": self.explanation.entry(),
        }


@dataclass(frozen=True, slots=True)
class Alternative:
    """What one valid supplier (an OU under one sheet) would give on its own: the best
    proposition of its shipment alone (what it cannot ship is cancelled), or why it
    gives none (``failure``: a statement of its Shipment or FulfillmentProposition
    scope failed). Made only when ``route`` is asked for them (the preview)."""

    supplier: Supplier
    sheet_id: int
    sheet_name: str
    proposal: Proposal | None
    failure: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """What orchestration decided (``proposals[0]``, the winner; then the runners-up)
    and why (``blob``); ``alternatives``, when asked for, each valid supplier's own."""

    proposals: tuple[Proposal, ...]
    blob: dict[str, Any]
    alternatives: tuple[Alternative, ...] = ()

    @property
    def shipments(self) -> tuple[Shipment, ...]:
        """The winner's shipments, CANCEL included."""
        return self.proposals[0].shipments

    @property
    def score(self) -> float:
        """The winner's score."""
        return self.proposals[0].score

    @property
    def shipping(self) -> tuple[Shipment, ...]:
        """The winner's shipments that ship (CANCEL left out)."""
        return tuple(s for s in self.shipments if not s.is_cancel)

    @property
    def unfulfilled(self) -> dict[int, int]:
        """Order line ID -> units no supplier can fulfil (the CANCEL shipment's)."""
        left: dict[int, int] = {}
        for shipment in self.shipments:
            if shipment.is_cancel:
                for line in shipment.lines:
                    left[line.order_line_id] = left.get(line.order_line_id, 0) + line.quantity
        return left


# --- Made from the search's result ----------------------------------------------------


def _explained(
    boost: Boost, previous: Decimal, description: str, scope: str | None = None
) -> Explanation:
    delta = boost.delta
    return Explanation(
        description=description,
        expression=boost.step.text,
        previous_score=float(previous),
        new_score=float(EXACT.add(previous, delta)),
        delta_score=float(delta),
        variables={name: jsonable(value) for name, value in boost.variables.items()},
        line=boost.step.line,
        scope=scope,
    )


def _line_explanations(fit: LineFit, memo: dict[int, tuple[Explanation, ...]]) -> list[Explanation]:
    """A line's score at one OU under one sheet, boost by boost (``memo``: by the
    fit, for one route: the runners-up ship many of the winner's lines again)."""
    found = memo.get(id(fit))
    if found is None:
        explanations = []
        score = ZERO
        for scope, boost in fit.boosts:
            explanations.append(
                _explained(boost, score, line_boost_text(boost.delta, scope), scope)
            )
            score = EXACT.add(score, boost.delta)
        found = memo[id(fit)] = tuple(explanations)
    return list(found)


def _supplier(candidate: Candidate) -> Supplier:
    unit = candidate.unit
    return Supplier(unit.id, unit.name, unit.backend_id)


def shipment_data(shipment: ProposedShipment) -> dict[str, Any]:
    """A shipment's ``Data``: the sheet's, the Supplier scope's, each line's (task
    labels merged, else the first line's value), then the Shipment scope's; later
    keys win. Made jsonable."""
    candidate = shipment.candidate
    data: dict[str, Any] = {}
    for key, value in candidate.sheet.data.items():
        data[key] = jsonable(value)
    for key, value in candidate.data.items():
        data[key] = jsonable(value)
    line_data: dict[str, Any] = {}
    for line_id, _q in shipment.quantities:
        for key, value in candidate.fits[line_id].data.items():
            if key == "TaskLabels":
                labels = line_data.setdefault(key, [])
                # TaskLabels is a list of strings (a sheet's list, made jsonable).
                for label in jsonable(value) or []:  # type: ignore[attr-defined]
                    if label not in labels:
                        labels.append(label)
            elif key not in line_data:
                line_data[key] = jsonable(value)
    data.update(line_data)
    for key, value in shipment.evaluation.data.items():
        data[key] = jsonable(value)
    return data


def _shipment(
    shipment: ProposedShipment,
    open_quantities: Mapping[int, int],
    memo: dict[int, tuple[Explanation, ...]],
) -> Shipment:
    candidate = shipment.candidate
    sheet = candidate.sheet
    evaluation = shipment.evaluation
    lines = []
    # Summed as the search sums them: Decimal for lines shipped whole (the usual
    # case), a Fraction only for the shares of lines split over shipments.
    whole_lines = ZERO
    split_lines: Fraction | None = None
    for line_id, q in shipment.quantities:
        fit = candidate.fits[line_id]
        explanations = _line_explanations(fit, memo)
        wanted = open_quantities[line_id]
        if q == wanted:
            whole_lines = EXACT.add(whole_lines, fit.score)
            share_float = float(fit.score)
        else:
            share = Fraction(fit.score) * Fraction(q, wanted)
            split_lines = share if split_lines is None else split_lines + share
            share_float = float(share)
            explanations.append(
                Explanation(
                    description=(
                        f"{q} of the line's {wanted} units are in this shipment, so "
                        f"{number_text(share)} of its score {number_text(fit.score)} counts "
                        "here."
                    ),
                    expression=None,
                    previous_score=float(fit.score),
                    new_score=share_float,
                    delta_score=float(share - Fraction(fit.score)),
                    variables={},
                    line=None,
                )
            )
        lines.append(
            ShipmentLine(
                order_line_id=line_id,
                quantity=q,
                products=tuple(shipment.products.get(line_id, ())),
                score=share_float,
                explanations=tuple(explanations),
            )
        )
    line_total = Fraction(whole_lines) + split_lines if split_lines else whole_lines
    boosts = []
    score = ZERO
    for boost in evaluation.boosts:
        description = (
            f"{number_text(boost.delta)} added to score of Shipment due to a boost in the "
            "Shipment scope."
        )
        boosts.append(_explained(boost, score, description, "Shipment"))
        score = EXACT.add(score, boost.delta)
    action = sheet.plan.action
    assert action is not None  # a sheet that routes names its action (the checker's rule)
    return Shipment(
        action=action,
        sheet_id=sheet.source.id,
        sheet_name=sheet.source.name,
        supplier=_supplier(candidate),
        lines=tuple(lines),
        data=shipment_data(shipment),
        fanout=tuple(_supplier(other) for other in shipment.fanout),
        score=evaluation.approx,  # float(evaluation.score), made without a Fraction
        explanation=Total(
            description=(
                f"Shipment score consists of: {number_text(evaluation.boost_sum)} from score "
                f"boosts on the Shipment scope and {number_text(line_total)} from the "
                "OrderLines in this shipment"
            ),
            score=evaluation.approx,
            boosts=tuple(boosts),
        ),
        lists_products=bool(sheet.replacements),
    )


def unshipped(
    lines: Mapping[int, int],
    *,
    action: str = CANCEL,
    sheet: SheetRun | None = None,
    supplier: Supplier | None = None,
    products: Mapping[int, int] | None = None,
    description: str,
) -> Shipment:
    """A shipment the search did not weigh: the CANCEL shipment holding what nothing
    can fulfil (with the CANCEL sheet, if any), or a return order sent whole to the
    returns OU (``supplier``, ``products``: line ID -> its product)."""
    return Shipment(
        action=action,
        sheet_id=sheet.source.id if sheet else None,
        sheet_name=sheet.source.name if sheet else None,
        supplier=supplier,
        lines=tuple(
            ShipmentLine(line_id, q, ((products[line_id], q),) if products else ())
            for line_id, q in lines.items()
        ),
        data={},
        fanout=(),
        score=0.0,
        explanation=Total(description=description, score=0.0, boosts=()),
    )


def proposals(
    propositions: list[Proposition],
    open_quantities: Mapping[int, int],
    cancel_sheet: SheetRun | None,
) -> tuple[Proposal, ...]:
    """The propositions the search kept (winner first), typed and explained."""
    memo: dict[int, tuple[Explanation, ...]] = {}
    return tuple(proposal(p, open_quantities, cancel_sheet, memo) for p in propositions)


def proposal(
    proposition: Proposition,
    open_quantities: Mapping[int, int],
    cancel_sheet: SheetRun | None,
    memo: dict[int, tuple[Explanation, ...]],
) -> Proposal:
    """One proposition the search kept, typed and explained (``memo``: the lines'
    explanations already made in this route)."""
    shipments = [_shipment(s, open_quantities, memo) for s in proposition.shipments]
    if proposition.cancelled:
        shipments.append(
            unshipped(
                proposition.cancelled,
                sheet=cancel_sheet,
                description=(
                    f"No organization unit can fulfil these units; {cancel_sheet.source.name} "
                    "cancels them."
                    if cancel_sheet
                    else "No organization unit can fulfil these units now."
                ),
            )
        )
    own = sum((Fraction(b.delta) for _run, b in proposition.boosts), Fraction(0))
    from_shipments = proposition.score - own
    boosts = []
    score = ZERO
    for _run, boost in proposition.boosts:
        description = (
            f"{number_text(boost.delta)} added to score of FulfillmentProposition due to a "
            "boost in the FulfillmentProposition scope."
        )
        boosts.append(_explained(boost, score, description, "FulfillmentProposition"))
        score = EXACT.add(score, boost.delta)
    total = float(proposition.score)
    return Proposal(
        shipments=tuple(shipments),
        score=total,
        explanation=Total(
            description=(
                f"Fulfillment proposition score consists of: {number_text(own)} from score "
                "boosts on the Fulfillment Proposition scope and "
                f"{number_text(from_shipments)} from the shipments in this proposition."
            ),
            score=total,
            boosts=tuple(boosts),
        ),
    )
