"""The EVA-style named settings the suite knows: type, default and meaning.

A setting's value is stored (``models.Setting``) only when it differs from its
default; ``selectors.setting_value`` reads the effective value. Adding a setting
means adding one ``SettingDefinition`` below: admin, API and scenarios pick it
up from here.
"""

from dataclasses import dataclass
from decimal import Decimal
from typing import Any


@dataclass(frozen=True, slots=True)
class SettingDefinition:
    """One named setting."""

    name: str
    type: type  # bool, int or str
    default: Any
    description: str
    nullable: bool = False
    minimum: int | None = None
    maximum: int | None = None

    @property
    def type_name(self) -> str:
        """The JSON type a value must have: boolean, integer or string."""
        return {bool: "boolean", int: "integer", str: "string"}[self.type]

    def check(self, value: Any) -> str | None:
        """Return why ``value`` is not valid for this setting, or ``None``."""
        if value is None:
            return None if self.nullable else "This setting cannot be empty."
        # bool is an int in Python; JSON keeps them apart, so must this. (Through a
        # local, so mypy does not narrow ``value`` to the declared ``type``'s object.)
        kind = type(value)
        if kind is not self.type:
            return f"Expected {json_kind(self.type())}, got {json_kind(value)}."
        if self.minimum is not None and value < self.minimum:
            return f"Must be at least {self.minimum}."
        if self.maximum is not None and value > self.maximum:
            return f"Must be at most {self.maximum}."
        if self.type is str and not value.strip():
            return "Must not be blank; use null for no value."
        return None


def json_kind(value: Any) -> str:
    """What a JSON value is, for a message: ``a string``, ``null``, ``a number``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float | Decimal):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"a Python {type(value).__name__}"


DEFINITIONS: dict[str, SettingDefinition] = {
    definition.name: definition
    for definition in [
        SettingDefinition(
            "Orders:Default:AllowPartialFulfillment",
            bool,
            False,
            "Orders may be split over several shipments and a line's quantity "
            "over several suppliers (quantity splitting), unless the order says "
            "otherwise.",
        ),
        SettingDefinition(
            "UseOrderOrchestrationForReturnOrders",
            bool,
            False,
            "Route return orders through the sheets whose OrderIntents include "
            "'Returns'; when off they go to the default returns organization unit.",
        ),
        SettingDefinition(
            "Returns:DefaultOrganizationUnitBackendID",
            str,
            None,
            "Backend ID of the organization unit that receives returns when "
            "return orders are not orchestrated.",
            nullable=True,
        ),
        SettingDefinition(
            "Returns:Reasons",
            str,
            "TooSmall,TooLarge,NotAsDescribed,Damaged,ChangedMind,Other",
            "Comma-separated reasons a customer may give for returning a line; empty "
            "lets any reason (or none) through.",
            nullable=True,
        ),
        SettingDefinition(
            "ShipFromStore:FanoutTaskLabel",
            str,
            None,
            "When set, this label is added to ship-from-store tasks that were "
            "fanned out to more than one store.",
            nullable=True,
        ),
        SettingDefinition(
            "Symphony:OrchestrationDetailsLifetimeInDays",
            int,
            14,
            "How many days the orchestration details (the explanation blob) of a run are kept.",
            minimum=1,
            # Ten years: beyond that, expiry dates leave the calendar.
            maximum=3650,
        ),
        SettingDefinition(
            "ShipFromStore:DeclineReasons",
            str,
            "OutOfStock,Damaged,NotFound,NoCapacity",
            "Comma-separated reasons a shop may give when it declines a task or "
            "does not pick every line; a decline without a reason is recorded as Unknown.",
            nullable=True,
        ),
        SettingDefinition(
            "Orchestration:WaitingRetryIntervalInMinutes",
            int,
            15,
            "How often an order that nothing can fulfil now is tried again (it is "
            "also tried whenever stock of its products changes).",
            minimum=1,
            maximum=10080,
        ),
        SettingDefinition(
            "Orchestration:MaxAttempts",
            int,
            5,
            "How many orchestration runs in a row may fail with an error (a bug, a route "
            "provider that is down) before the order is set OrchestrationFailed, for a "
            "person to retry once the cause is fixed.",
            minimum=1,
            maximum=50,
        ),
        SettingDefinition(
            "Orchestration:ExplainSuppliersWithoutStock",
            bool,
            False,
            "List in a sales order's run every OU the sheets rejected, also those without "
            "available stock of any of its products (they can fulfil nothing, so the "
            "decision is the same). Off, a run considers only OUs with stock: at thousands "
            "of OUs that is most of a run's time and stored explanation. The preview always "
            "lists them all.",
        ),
        SettingDefinition(
            "Export:MaxAttempts",
            int,
            5,
            "How many times an export to a warehouse is tried before it is marked failed.",
            minimum=1,
            maximum=50,
        ),
        SettingDefinition(
            "Export:RetryDelayInSeconds",
            int,
            60,
            "The wait before the first retry of a failed export; it doubles at every retry.",
            minimum=1,
            maximum=86400,
        ),
        SettingDefinition(
            "OrderFulfillment:AllowPartialCancellation",
            bool,
            False,
            "Allow cancelling part of a fulfilment line's quantity; otherwise "
            "only whole lines can be cancelled.",
        ),
    ]
}
