"""Delivery options at checkout: where an order would go under each option, and whether it can.

The FulfillmentOptions scope "allows you to reject fulfillment options for a
supplier": EVA finds the possible suppliers, then "all possible fulfillment
options for those suppliers", and runs each "fulfillment option and supplier
combination" past the scope (the reference, ``docs/routing.md``). An order that
asks for an option can only go to suppliers whose sheet keeps that option.

``fulfillment_options(scenario)`` (in the package, beside ``route``) answers a
checkout page's question, "which
delivery options can I offer for this basket, and who would fulfil each?", with
the call that routes real orders: ``route`` on the scenario with its order asking
for each option in turn. When no active sheet has a FulfillmentOptions scope, no
option can be rejected and one route answers for all three. Pure, as ``route``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .decision import Decision, Shipment
from .plan import plan_for

if TYPE_CHECKING:
    from .model import Scenario


@dataclass(frozen=True, slots=True)
class OptionOutcome:
    """The decision for the order asking for ``option``."""

    option: str
    decision: Decision

    @property
    def shipments(self) -> tuple[Shipment, ...]:
        """The winning proposition's shipments that ship (CANCEL left out)."""
        return self.decision.shipping

    @property
    def unfulfilled(self) -> dict[int, int]:
        """Order line ID -> units no supplier can ship under this option (CANCEL)."""
        return self.decision.unfulfilled

    @property
    def available(self) -> bool:
        """Whether the option can be offered: something ships and nothing is left over."""
        return bool(self.shipments) and not self.unfulfilled


def options_matter(scenario: Scenario) -> bool:
    """Whether an active sheet has a FulfillmentOptions scope (so an option can be rejected)."""
    return any(
        "FulfillmentOptions" in plan_for(sheet.source).blocks
        for sheet in scenario.sheets
        if sheet.active
    )
