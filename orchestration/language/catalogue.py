"""The catalogue: everything a sheet can name, in one declarative table.

Every variable a sheet may read (with its type, the scopes it is readable in
and a one-line description), the options, the actions, and the data keys
the actions use. The checker resolves names against it, the editor draws its
completions and hover docs from ``catalogue_json()``, and the designers'
reference is generated from it, so none of them can drift.

Names come from EVA's "Order orchestration" chapter; the scopes in which each
is readable follow the routing semantics (the engine issue):

- Order-level names (``Order.*``, ``CurrentFulfillmentAttempts``,
  ``HasExistingFulfillmentLines``) are readable in every scope.
- ``Supplier.*`` wherever one organization unit is the candidate: Supplier,
  OrderLine, FulfillmentOptions, Shipment and Fanout.
- ``OrderLine.*``, ``Product.*`` and ``IsGiftWrapped`` once there is a line:
  OrderLine and OrderLineSuppliers; ``SupplierQuantityAvailable`` needs a line
  and a supplier (OrderLine); ``SupplierCount`` is OrderLineSuppliers' own.
- ``FulfillmentOption.*`` in FulfillmentOptions; the shipment totals in
  Shipment and Fanout; ``ShipmentCount`` in FulfillmentProposition.

A path ending in ``.*`` stands for any name below it: custom fields and custom
product content, whose names only the data knows.
"""

import difflib
import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .tokens import COMPOUND_KEYWORDS, KEYWORDS

SCOPES: tuple[str, ...] = (
    "Order",
    "Supplier",
    "OrderLine",
    "OrderLineSuppliers",
    "FulfillmentOptions",
    "Shipment",
    "Fanout",
    "FulfillmentProposition",
)

WILDCARD = "*"


class ValueType(StrEnum):
    """The type of a value a sheet reads or sets."""

    STRING = "string"
    NUMBER = "number"
    BOOLEAN = "boolean"
    STRING_LIST = "list of strings"
    ANY = "any"  # custom fields and custom product content: whatever the data holds


@dataclass(frozen=True, slots=True)
class Property:
    """A variable a sheet may read: ``Supplier.Address.City``, or ``Order.CustomFields.*``."""

    path: str
    type: ValueType
    scopes: frozenset[str]
    description: str

    @property
    def is_wildcard(self) -> bool:
        """Whether the path ends in ``.*`` (any name below it)."""
        return self.path.endswith("." + WILDCARD)


@dataclass(frozen=True, slots=True)
class OptionSpec:
    """An ``option NAME as VALUE`` a sheet may set."""

    name: str
    type: ValueType
    default: object
    description: str
    allowed: tuple[str, ...] = ()  # the values a list option may hold


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """An ``action NAME``: what happens when the sheet wins, and the data it needs."""

    name: str
    description: str
    required_data: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DataKey:
    """A ``data NAME as VALUE`` the actions read."""

    name: str
    type: ValueType
    description: str


# --- Where each kind of name is readable ------------------------------------------------

_EVERY_SCOPE = frozenset(SCOPES)
_SUPPLIER = frozenset({"Supplier", "OrderLine", "FulfillmentOptions", "Shipment", "Fanout"})
_LINE = frozenset({"OrderLine", "OrderLineSuppliers"})
_SUPPLIER_AND_LINE = frozenset({"OrderLine"})
_LINE_SUPPLIERS = frozenset({"OrderLineSuppliers"})
_FULFILLMENT_OPTIONS = frozenset({"FulfillmentOptions"})
_SHIPMENT = frozenset({"Shipment", "Fanout"})
_SHIPMENT_OR_PROPOSITION = _SHIPMENT | {"FulfillmentProposition"}
_PROPOSITION = frozenset({"FulfillmentProposition"})

# Short names for the table below.
_S, _N, _B, _L, _A = (
    ValueType.STRING,
    ValueType.NUMBER,
    ValueType.BOOLEAN,
    ValueType.STRING_LIST,
    ValueType.ANY,
)


def _address(prefix: str, whose: str, scopes: frozenset[str], *, pickup: bool) -> list[Property]:
    entries = [
        Property(f"{prefix}.Street", _S, scopes, f"Street (and number) of {whose}."),
        Property(f"{prefix}.City", _S, scopes, f"City of {whose}."),
        Property(f"{prefix}.ZipCode", _S, scopes, f"Zip (postal) code of {whose}."),
        Property(f"{prefix}.CountryID", _S, scopes, f"Country code of {whose}, e.g. 'NL'."),
        Property(f"{prefix}.Latitude", _N, scopes, f"Latitude of {whose}, in degrees."),
        Property(f"{prefix}.Longitude", _N, scopes, f"Longitude of {whose}, in degrees."),
    ]
    if pickup:
        entries.append(
            Property(
                f"{prefix}.IsPickupPoint",
                _B,
                scopes,
                f"Whether {whose} is a pickup point rather than the customer's own address.",
            )
        )
    return entries


def _organization_unit(prefix: str, whose: str, scopes: frozenset[str]) -> list[Property]:
    return [
        Property(f"{prefix}.ID", _N, scopes, f"ID of {whose}."),
        Property(f"{prefix}.Name", _S, scopes, f"Name of {whose}."),
        Property(f"{prefix}.BackendID", _S, scopes, f"Backend ID of {whose}, e.g. 'urk_store'."),
        Property(
            f"{prefix}.Type",
            _S,
            scopes,
            f"Organization unit type of {whose}: 'Shop', 'Warehouse', 'ReturnsPortal', ...",
        ),
    ]


_ORDER: list[Property] = [
    Property("Order.ID", _N, _EVERY_SCOPE, "The order's ID."),
    Property(
        "Order.Intent",
        _S,
        _EVERY_SCOPE,
        "What the order is for: 'Sales', 'Purchase' or 'Returns' (see option OrderIntents).",
    ),
    *_address("Order.ShippingAddress", "the order's shipping address", _EVERY_SCOPE, pickup=True),
    *_address("Order.BillingAddress", "the order's billing address", _EVERY_SCOPE, pickup=True),
    *_organization_unit(
        "Order.SoldFromOrganizationUnit",
        "the organization unit that sold the order (web shop, store, returns portal)",
        _EVERY_SCOPE,
    ),
    Property(
        "Order.TotalAmount",
        _N,
        _EVERY_SCOPE,
        "The order's total amount (ex-tax), before discounts: the sum of its lines' TotalAmount.",
    ),
    Property(
        "Order.TotalAmountInTax",
        _N,
        _EVERY_SCOPE,
        "The order's total amount (in-tax), before discounts: the sum of its lines' "
        "TotalAmountInTax.",
    ),
    Property(
        "Order.NetTotalAmount",
        _N,
        _EVERY_SCOPE,
        "The order's effective total amount (ex-tax), after discounts: the sum of its lines' "
        "NetTotalAmount.",
    ),
    Property(
        "Order.NetTotalAmountInTax",
        _N,
        _EVERY_SCOPE,
        "The order's effective total amount (in-tax), after discounts: the sum of its lines' "
        "NetTotalAmountInTax.",
    ),
    Property(
        "Order.CustomFields.*",
        _A,
        _EVERY_SCOPE,
        "A custom field of the order, by name: Order.CustomFields.Channel.",
    ),
    Property(
        "CurrentFulfillmentAttempts",
        _N,
        _EVERY_SCOPE,
        "How many times orchestration has already tried to fulfil this order.",
    ),
    Property(
        "HasExistingFulfillmentLines",
        _B,
        _EVERY_SCOPE,
        "Whether earlier orchestration runs already created fulfillment lines for this order.",
    ),
]

_SUPPLIER_PROPERTIES: list[Property] = [
    *_organization_unit("Supplier", "the candidate organization unit (the supplier)", _SUPPLIER),
    Property("Supplier.Status", _S, _SUPPLIER, "The supplier's status: 'Open' or 'Closed'."),
    Property("Supplier.CountryID", _S, _SUPPLIER, "The supplier's country code, e.g. 'NL'."),
    *_address("Supplier.Address", "the supplier's address", _SUPPLIER, pickup=False),
    Property(
        "Supplier.LocalTime.DayOfWeek",
        _S,
        _SUPPLIER,
        "The day of the week now in the supplier's time zone: 'Monday' .. 'Sunday'.",
    ),
    Property(
        "Supplier.LocalTime.Hour",
        _N,
        _SUPPLIER,
        "The hour of the day now in the supplier's time zone, 0-23.",
    ),
    Property(
        "Supplier.LocalTime.Minute",
        _N,
        _SUPPLIER,
        "The minute of the hour now in the supplier's time zone, 0-59.",
    ),
    Property(
        "Supplier.DistanceToShippingAddressInKm",
        _N,
        _SUPPLIER,
        "Distance in km (as the crow flies) from the supplier to the order's shipping address.",
    ),
    Property(
        "Supplier.DistanceToBillingAddressInKm",
        _N,
        _SUPPLIER,
        "Distance in km (as the crow flies) from the supplier to the order's billing address.",
    ),
    Property(
        "Supplier.RouteToShippingAddressByBike.DistanceText",
        _S,
        _SUPPLIER,
        "Length of the bike route from the supplier to the shipping address, as text: '2.4 km'.",
    ),
    Property(
        "Supplier.RouteToShippingAddressByBike.TimeText",
        _S,
        _SUPPLIER,
        "Duration of the bike route from the supplier to the shipping address, as text: '9 min'.",
    ),
    Property(
        "Supplier.RouteToShippingAddressByBike.TimeInMinutes",
        _N,
        _SUPPLIER,
        "Duration of the bike route from the supplier to the shipping address, in minutes.",
    ),
    Property(
        "Supplier.RouteToShippingAddressByBike.DistanceInKm",
        _N,
        _SUPPLIER,
        "Length of the bike route from the supplier to the shipping address, in km.",
    ),
    Property(
        "Supplier.ActiveShipFromStoreTasks",
        _N,
        _SUPPLIER,
        "How many Ship-from-Store tasks are open at the supplier right now.",
    ),
    Property(
        "Supplier.SetNames",
        _L,
        _SUPPLIER,
        "Names of the organization unit sets the supplier belongs to: "
        "Supplier.SetNames contains 'PrintSuppliers'.",
    ),
    Property(
        "Supplier.CustomFields.*",
        _A,
        _SUPPLIER,
        "A custom field of the supplier, by name: Supplier.CustomFields.PrintingCapable.",
    ),
]

_LINE_PROPERTIES: list[Property] = [
    Property("OrderLine.ID", _N, _LINE, "The order line's ID."),
    Property("OrderLine.UnitPrice", _N, _LINE, "The price (ex-tax) for a single unit of the item."),
    Property(
        "OrderLine.UnitPriceInTax", _N, _LINE, "The price (in-tax) for a single unit of the item."
    ),
    Property(
        "OrderLine.TotalAmount",
        _N,
        _LINE,
        "The total amount for the order line (ex-tax), before discounts.",
    ),
    Property(
        "OrderLine.TotalAmountInTax",
        _N,
        _LINE,
        "The total amount for the order line (in-tax), before discounts.",
    ),
    Property(
        "OrderLine.NetTotalAmount",
        _N,
        _LINE,
        "The effective total amount for the order line (ex-tax), after discounts: TotalAmount "
        "less the discount without tax (at the line's own rate: 100 - 10 / 1.21 at 21%).",
    ),
    Property(
        "OrderLine.NetTotalAmountInTax",
        _N,
        _LINE,
        "The effective total amount for the order line (in-tax), after discounts: "
        "TotalAmountInTax plus DiscountAmount.",
    ),
    Property(
        "OrderLine.DiscountAmount",
        _N,
        _LINE,
        "The discount given on the order line, in tax like the prices: 0 without a discount, "
        "otherwise negative.",
    ),
    Property(
        "OrderLine.QuantityOrdered",
        _N,
        _LINE,
        "How many units of the product were ordered; 1 under a sheet that may split the line "
        "(quantity splitting treats it as that many lines of a single item).",
    ),
    Property("OrderLine.IsGiftWrapped", _B, _LINE, "Whether the order line is to be gift-wrapped."),
    Property(
        "OrderLine.PreferredFulfillmentOrganizationUnit",
        _A,
        _LINE,
        "The organization unit that should preferably fulfil the line, if any "
        "(test it with has value).",
    ),
    *_organization_unit(
        "OrderLine.PreferredFulfillmentOrganizationUnit",
        "the organization unit that should preferably fulfil the line",
        _LINE,
    ),
    Property(
        "OrderLine.CustomFields.*",
        _A,
        _LINE,
        "A custom field of the order line, by name: OrderLine.CustomFields.CustomizationType.",
    ),
    Property("Product.ID", _N, _LINE, "The ID of the order line's product."),
    Property("Product.BackendID", _S, _LINE, "The backend ID of the order line's product."),
    Property("Product.Name", _S, _LINE, "The name of the order line's product."),
    Property(
        "Product.Content.*",
        _A,
        _LINE,
        "A custom product property, by name: Product.Content.is_limited_edition.",
    ),
    Property(
        "IsGiftWrapped",
        _B,
        _LINE,
        "Whether the order line is to be gift-wrapped (the same as OrderLine.IsGiftWrapped).",
    ),
    Property(
        "SupplierQuantityAvailable",
        _N,
        _SUPPLIER_AND_LINE,
        "The supplier's available stock of the line's product "
        "(with UseReplacementProductsForStock, its replacements' too).",
    ),
    Property(
        "SupplierCount",
        _N,
        _LINE_SUPPLIERS,
        "How many organization units can fulfil this order line under the sheet.",
    ),
]

_FULFILLMENT_OPTION_PROPERTIES: list[Property] = [
    Property(
        f"FulfillmentOption.{option}.IsAvailable",
        _B,
        _FULFILLMENT_OPTIONS,
        f"Whether {what} is available for this supplier; require it false to reject it.",
    )
    for option, what in (
        ("SameDayDelivery", "same-day delivery"),
        ("NormalDelivery", "normal delivery"),
        ("PickupDelivery", "pickup delivery"),
    )
]

_SHIPMENT_TOTALS = (
    ("TotalAmount", "total amount (ex-tax) of the units, before discounts"),
    ("TotalAmountInTax", "total amount (in-tax) of the units, before discounts"),
    ("TotalQuantity", "number of units"),
    ("LineCount", "number of order lines"),
)

_SHIPMENT_PROPERTIES: list[Property] = [
    *(
        Property(
            name,
            _N,
            _SHIPMENT_OR_PROPOSITION,
            f"The {what} in the shipment (in FulfillmentProposition: in all its shipments).",
        )
        for name, what in _SHIPMENT_TOTALS
    ),
    *(
        Property(f"Shipment.{name}", _N, _SHIPMENT, f"The {what} in the shipment.")
        for name, what in _SHIPMENT_TOTALS
    ),
    Property(
        "ShipmentCount",
        _N,
        _PROPOSITION,
        "How many shipments the fulfillment proposition consists of.",
    ),
]

PROPERTIES: tuple[Property, ...] = (
    *_ORDER,
    *_SUPPLIER_PROPERTIES,
    *_LINE_PROPERTIES,
    *_FULFILLMENT_OPTION_PROPERTIES,
    *_SHIPMENT_PROPERTIES,
)

_EXACT: dict[tuple[str, ...], Property] = {
    tuple(entry.path.split(".")): entry for entry in PROPERTIES if not entry.is_wildcard
}
_WILDCARDS: dict[tuple[str, ...], Property] = {
    tuple(entry.path.split("."))[:-1]: entry for entry in PROPERTIES if entry.is_wildcard
}
_SCOPE_NAMES = {scope.lower(): scope for scope in SCOPES}


def _scope(name: str) -> str:
    """The canonical spelling of a scope (scope names are case-insensitive)."""
    try:
        return _SCOPE_NAMES[name.lower()]
    except KeyError:
        raise ValueError(f"unknown scope {name!r}; the scopes are {', '.join(SCOPES)}") from None


def lookup(path: tuple[str, ...]) -> Property | None:
    """The property a variable's path names, or ``None``.

    Exact and case-sensitive. A wildcard entry (``Order.CustomFields.*``)
    matches any name below it (``Order.CustomFields.Channel``); an object on
    the way to a property (``Supplier.Address``) is not a property itself.
    """
    path = tuple(path)
    found = _EXACT.get(path)
    if found is not None:
        return found
    for length in range(len(path) - 1, 0, -1):
        found = _WILDCARDS.get(path[:length])
        if found is not None:
            return found
    return None


@functools.cache
def _in_scope(scope: str) -> tuple[Property, ...]:
    return tuple(entry for entry in PROPERTIES if scope in entry.scopes)


def properties_in_scope(scope: str) -> list[Property]:
    """The properties a sheet may read in ``scope`` (any case), in catalogue order."""
    return list(_in_scope(_scope(scope)))


# --- Did you mean ------------------------------------------------------------------------


@dataclass(slots=True)
class _Node:
    """One name of the tree of known paths: its children, and what it is."""

    children: dict[str, "_Node"] = field(default_factory=dict)
    is_leaf: bool = False
    is_wildcard: bool = False


def _tree(paths: Iterable[str]) -> _Node:
    root = _Node()
    for path in paths:
        node = root
        parts = path.split(".")
        for part in parts[:-1]:
            node = node.children.setdefault(part, _Node())
        if parts[-1] == WILDCARD:
            node.is_wildcard = True
        else:
            node.children.setdefault(parts[-1], _Node()).is_leaf = True
    return root


@functools.cache
def _scope_tree(scope: str | None) -> _Node:
    entries = PROPERTIES if scope is None else _in_scope(scope)
    return _tree(entry.path for entry in entries)


def _candidates(nodes: list[_Node], part: str) -> list[str]:
    """Names below ``nodes`` that ``part`` may mean: exact, else any case, else the closest."""
    names = {name for node in nodes for name in node.children}
    if part in names:
        return [part]
    lowered: dict[str, str] = {}
    for name in sorted(names):
        lowered.setdefault(name.lower(), name)
    if part.lower() in lowered:
        return [lowered[part.lower()]]
    close = difflib.get_close_matches(part.lower(), list(lowered), n=3, cutoff=0.6)
    return [lowered[name] for name in close]


def _resolve(nodes: list[_Node], parts: list[str]) -> list[str] | None:
    """The known path closest to ``parts`` below any of ``nodes``, name by name.

    Depth first over the names, each level's candidates in order, with an explicit
    stack: a sheet may declare and read a name of thousands of parts.
    """
    chosen: list[str] = []  # the names taken so far, one per level
    stack: list[tuple[list[_Node], Iterator[str]]] = []  # per level: its nodes, candidates left
    level = nodes
    while True:
        depth = len(chosen)
        if depth == len(parts):
            if any(node.is_leaf for node in level):
                return chosen
        elif any(node.is_wildcard for node in level):
            return chosen + parts[depth:]  # any name below a wildcard is known as written
        else:
            stack.append((level, iter(_candidates(level, parts[depth]))))
        # The next candidate of the deepest level that has one left.
        while stack:
            above, candidates = stack[-1]
            name = next(candidates, None)
            if name is None:
                stack.pop()
                continue
            del chosen[len(stack) - 1 :]
            chosen.append(name)
            level = [node.children[name] for node in above if name in node.children]
            break
        else:
            return None


def suggest(path: str, *, scope: str | None, extra_names: Iterable[str] = ()) -> str | None:
    """A did-you-mean for an unknown variable: the closest known name, or ``None``.

    Candidates are the properties readable in ``scope`` (every property when
    ``None``) and ``extra_names`` (the sheet's own ``with`` names). Each name
    of the dotted path is matched in turn: exactly, then ignoring case
    (``Supplier.Customfields.X`` -> ``Supplier.CustomFields.X``), then the
    closest by ``difflib.get_close_matches``. Returns ``None`` when nothing is
    close, or when ``path`` is already known as written.
    """
    trees = [_scope_tree(None if scope is None else _scope(scope))]
    extra = [name for name in extra_names if name]
    if extra:
        trees.append(_tree(extra))
    parts = path.split(".")
    if not all(parts):
        return None
    resolved = _resolve(trees, parts)
    if resolved is None or resolved == parts:
        return None
    return ".".join(resolved)


# --- Options, actions and data ---------------------------------------------------------------

OPTIONS: dict[str, OptionSpec] = {
    spec.name: spec
    for spec in (
        OptionSpec(
            "AllowPartialFulfillment",
            ValueType.BOOLEAN,
            False,
            "Whether the sheet may fulfil part of an order, with other sheets or stores fulfilling "
            "the rest; when false, an order can only be fulfilled using one sheet.",
        ),
        OptionSpec(
            "DisableLineSplitting",
            ValueType.BOOLEAN,
            False,
            "With AllowPartialFulfillment: when true, the sheet may not split one order line's "
            "quantity over several suppliers.",
        ),
        OptionSpec(
            "UseReplacementProductsForStock",
            ValueType.BOOLEAN,
            False,
            "Count the stock of a product's replacement products (product relations) as stock "
            "of the product.",
        ),
        OptionSpec(
            "MaxRetryCountForDeactivatedLines",
            ValueType.NUMBER,
            1,
            "How many deactivated fulfillment lines a supplier/sheet combination may have for an "
            "order line before the combination is ignored for it.",
        ),
        OptionSpec(
            "OrderIntents",
            ValueType.STRING_LIST,
            ("Sales",),
            "Which orders the sheet routes: 'Sales' (default), 'Purchase', 'Returns', or a list "
            "of them.",
            allowed=("Sales", "Purchase", "Returns"),
        ),
    )
}

ACTIONS: dict[str, ActionSpec] = {
    spec.name: spec
    for spec in (
        ActionSpec(
            "SHIP_FROM_STORE",
            "Create a Ship-from-Store task at the winning store(s).",
            ("TravelDistanceText", "TravelTimeText", "TravelTimeInMinutes", "TravelDistanceInKm"),
        ),
        ActionSpec(
            "EXPORT_ORDER",
            "Export the order to the warehouse named by the ExporterName data.",
            ("ExporterName",),
        ),
        ActionSpec(
            "CANCEL",
            "Cancel the order lines: the fallback when no other sheet can fulfil them.",
            (),
        ),
        ActionSpec(
            "EXPORT_RETURN_ORDER",
            "Route a return order: create its return labels and documents and e-mail them.",
            (),
        ),
    )
}

DATA_KEYS: dict[str, DataKey] = {
    key.name: key
    for key in (
        DataKey(
            "TravelDistanceText",
            ValueType.STRING,
            "For the Ship-from-Store task: the travel distance to the customer, as text.",
        ),
        DataKey(
            "TravelTimeText",
            ValueType.STRING,
            "For the Ship-from-Store task: the travel time to the customer, as text.",
        ),
        DataKey(
            "TravelTimeInMinutes",
            ValueType.NUMBER,
            "For the Ship-from-Store task: the travel time to the customer, in minutes.",
        ),
        DataKey(
            "TravelDistanceInKm",
            ValueType.NUMBER,
            "For the Ship-from-Store task: the travel distance to the customer, in km.",
        ),
        DataKey(
            "ExporterName",
            ValueType.STRING,
            "For EXPORT_ORDER: the warehouse exporter to send the order to, e.g. 'WAREHOUSE'.",
        ),
        DataKey(
            "DeadlineInMinutes",
            ValueType.NUMBER,
            "Minutes the store gets to start the pick task before it is cancelled.",
        ),
        DataKey(
            "PackDeadlineInMinutes",
            ValueType.NUMBER,
            "Minutes the store gets to start the pack task before it is cancelled.",
        ),
        DataKey(
            "ShipDeadlineInMinutes",
            ValueType.NUMBER,
            "Minutes the store gets to start the ship task before it is cancelled.",
        ),
        DataKey(
            "TaskLabels",
            ValueType.STRING_LIST,
            "Labels on the Ship-from-Store task, to tell kinds of orders apart "
            "(values that are nothing are left out).",
        ),
        DataKey(
            "ShipFromStoreTaskPriority",
            ValueType.NUMBER,
            "Priority of the Ship-from-Store task: higher comes first.",
        ),
    )
}


# --- For the editor ------------------------------------------------------------------------


def _keywords() -> list[str]:
    words = set(KEYWORDS) | {" ".join(words) for words, _terminal in COMPOUND_KEYWORDS}
    return sorted(words)


def catalogue_json() -> dict[str, Any]:
    """The whole catalogue as plain JSON data, for the editor's completions and hover docs."""
    return {
        "scopes": list(SCOPES),
        "properties": [
            {
                "path": entry.path,
                "type": str(entry.type),
                "scopes": [scope for scope in SCOPES if scope in entry.scopes],
                "description": entry.description,
            }
            for entry in PROPERTIES
        ],
        "options": {
            name: {
                "name": spec.name,
                "type": str(spec.type),
                "default": list(spec.default) if isinstance(spec.default, tuple) else spec.default,
                "description": spec.description,
                "allowed": list(spec.allowed),
            }
            for name, spec in OPTIONS.items()
        },
        "actions": {
            name: {
                "name": spec.name,
                "description": spec.description,
                "required_data": list(spec.required_data),
            }
            for name, spec in ACTIONS.items()
        },
        "data_keys": {
            name: {"name": key.name, "type": str(key.type), "description": key.description}
            for name, key in DATA_KEYS.items()
        },
        "keywords": _keywords(),
    }
