"""The decision as typed values: what the domain stores, without reading the blob.

``route`` returns a ``Decision``: the winning proposition's shipments as frozen
dataclasses (``shipments``), and the orchestration-details blob that explains it
(``blob``, for people and the API). Both are made from the same search result in
the same call (``decision_shipments`` here, ``blob.fulfillment`` there; a
shipment's ``Data`` is ``blob.shipment_data`` for both), so the explanation is
the decision itself; the domain reads the dataclasses and stores the blob as it
is, never parsing it back.

A shipment's lines carry the products picked for them (the ordered product, or
replacements where the sheet allows them); the CANCEL shipment, last if any,
holds what nothing can fulfil and has no supplier.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .blob import shipment_data
from .evaluate import Candidate, SheetRun
from .search import Proposition

CANCEL = "CANCEL"


@dataclass(frozen=True, slots=True)
class Supplier:
    """The organization unit that fulfils a shipment."""

    id: int
    name: str
    backend_id: str | None


@dataclass(frozen=True, slots=True)
class ShipmentLine:
    """Units of one order line in a shipment, and which products make them up."""

    order_line_id: int
    quantity: int
    products: tuple[tuple[int, int], ...]  # (product ID, units); empty for CANCEL


@dataclass(frozen=True, slots=True)
class Shipment:
    """One shipment of the winning proposition."""

    action: str  # the sheet's fulfillment action, or CANCEL
    sheet_id: int | None  # the sheet that proposed it (None: CANCEL with no sheet)
    sheet_name: str | None
    supplier: Supplier | None  # None for CANCEL
    lines: tuple[ShipmentLine, ...]
    data: Mapping[str, Any]  # as the blob's ``Data``: jsonable
    fanout: tuple[Supplier, ...]  # the other OUs that get a copy of the task
    score: float

    @property
    def is_cancel(self) -> bool:
        return self.action == CANCEL


@dataclass(frozen=True, slots=True)
class Decision:
    """What orchestration decided (``shipments``, the winning proposition's ``score``)
    and why (``blob``)."""

    shipments: tuple[Shipment, ...]
    score: float
    blob: dict[str, Any]

    @property
    def shipping(self) -> tuple[Shipment, ...]:
        """The shipments that ship (CANCEL left out)."""
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


def _supplier(candidate: Candidate) -> Supplier:
    unit = candidate.unit
    return Supplier(unit.id, unit.name, unit.backend_id)


def decision_shipments(
    proposition: Proposition, cancel_sheet: SheetRun | None
) -> tuple[Shipment, ...]:
    """The proposition's shipments, typed, in the blob's order (CANCEL last)."""
    shipments = []
    for shipment in proposition.shipments:
        candidate = shipment.candidate
        sheet = candidate.sheet
        action = sheet.plan.action
        assert action is not None  # a sheet that routes names its action (the checker's rule)
        shipments.append(
            Shipment(
                action=action,
                sheet_id=sheet.source.id,
                sheet_name=sheet.source.name,
                supplier=_supplier(candidate),
                lines=tuple(
                    ShipmentLine(line_id, q, tuple(shipment.products.get(line_id, ())))
                    for line_id, q in shipment.quantities
                ),
                data=shipment_data(shipment),
                fanout=tuple(_supplier(other) for other in shipment.fanout),
                score=shipment.evaluation.approx,
            )
        )
    if proposition.cancelled:
        shipments.append(
            Shipment(
                action=CANCEL,
                sheet_id=cancel_sheet.source.id if cancel_sheet else None,
                sheet_name=cancel_sheet.source.name if cancel_sheet else None,
                supplier=None,
                lines=tuple(
                    ShipmentLine(line_id, q, ()) for line_id, q in proposition.cancelled.items()
                ),
                data={},
                fanout=(),
                score=0.0,
            )
        )
    return tuple(shipments)
