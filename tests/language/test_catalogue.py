"""The catalogue: lookups, scopes, did-you-mean, and that every name the sheets use is in it."""

import dataclasses
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestration.language import nodes
from orchestration.language.catalogue import (
    ACTIONS,
    DATA_KEYS,
    OPTIONS,
    PROPERTIES,
    SCOPES,
    ValueType,
    catalogue_json,
    lookup,
    properties_in_scope,
    suggest,
)
from orchestration.language.parser import parse
from orchestration.language.tokens import KEYWORDS
from tests.sources import REFERENCE_EXCERPT

ROOT = Path(__file__).resolve().parents[2]
DEMO_SHEETS = sorted((ROOT / "orchestration/demo/sheets").glob("*.sheet"))

ORDER_LEVEL = ("Order.ID", "Order.TotalAmountInTax", "CurrentFulfillmentAttempts")


def path(name: str) -> tuple[str, ...]:
    return tuple(name.split("."))


def variables(value: object) -> Iterator[nodes.Variable]:
    """Every variable in a node, however deep (templates and reasons included)."""
    if isinstance(value, nodes.Variable):
        yield value
    elif isinstance(value, tuple):
        for item in value:
            yield from variables(item)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field in dataclasses.fields(value):
            yield from variables(getattr(value, field.name))


def unknown_names(source: str) -> list[str]:
    """``scope: name`` for each variable neither readable where it stands nor a ``with`` name."""
    sheet, diagnostics = parse(source)
    assert diagnostics == []
    declared = {s.name for s in sheet.statements if isinstance(s, nodes.With)}
    scopes = {scope.lower(): scope for scope in SCOPES}
    scope = None
    unknown = []
    for statement in sheet.statements:
        if isinstance(statement, nodes.Scope):
            scope = scopes[statement.name.lower()]
            continue
        for variable in variables(statement):
            found = lookup(variable.path)
            readable = found is not None and (scope is None or scope in found.scopes)
            if not readable and variable.name not in declared:
                unknown.append(f"{scope}: {variable.name}")
    return unknown


# --- lookup ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected", "value_type"),
    [
        ("Supplier.Address.City", "Supplier.Address.City", ValueType.STRING),
        ("Supplier.LocalTime.DayOfWeek", "Supplier.LocalTime.DayOfWeek", ValueType.STRING),
        ("Supplier.SetNames", "Supplier.SetNames", ValueType.STRING_LIST),
        ("SupplierQuantityAvailable", "SupplierQuantityAvailable", ValueType.NUMBER),
        ("Order.ShippingAddress.IsPickupPoint", "Order.ShippingAddress.IsPickupPoint", "boolean"),
        ("Order.CustomFields.Channel", "Order.CustomFields.*", ValueType.ANY),
        ("Order.CustomFields.Nested.Deeper", "Order.CustomFields.*", ValueType.ANY),
        ("Supplier.CustomFields.PrintingCapable", "Supplier.CustomFields.*", ValueType.ANY),
        ("Product.Content.is_limited_edition", "Product.Content.*", ValueType.ANY),
        # The reference tests it with `has value`, so the object itself is readable too.
        (
            "OrderLine.PreferredFulfillmentOrganizationUnit",
            "OrderLine.PreferredFulfillmentOrganizationUnit",
            ValueType.ANY,
        ),
        (
            "OrderLine.PreferredFulfillmentOrganizationUnit.ID",
            "OrderLine.PreferredFulfillmentOrganizationUnit.ID",
            ValueType.NUMBER,
        ),
    ],
)
def test_lookup_finds_exact_and_wildcard_names(name: str, expected: str, value_type: str) -> None:
    found = lookup(path(name))
    assert found is not None
    assert (found.path, found.type) == (expected, value_type)


@pytest.mark.parametrize(
    "name",
    [
        (),
        ("Supplier",),
        ("Supplier", "Address"),
        ("Supplier", "RouteToShippingAddressByBike"),
        ("Order", "CustomFields"),
        ("Product", "Content"),
        ("Supplier", "Type", "Length"),
        ("supplier", "type"),
        ("Supplier", "Customfields", "PrintingCapable"),
        ("Nonsense",),
    ],
)
def test_lookup_rejects_objects_wrong_case_and_unknown_names(name: tuple[str, ...]) -> None:
    assert lookup(name) is None


def test_the_table_is_well_formed() -> None:
    paths = [entry.path for entry in PROPERTIES]
    assert len(paths) == len(set(paths))
    for entry in PROPERTIES:
        assert entry.scopes and entry.scopes <= set(SCOPES), entry.path
        assert isinstance(entry.type, ValueType)
        assert entry.description.strip() and "\n" not in entry.description, entry.path
        assert "*" not in entry.path.removesuffix(".*"), entry.path
        assert lookup(path(entry.path.removesuffix(".*") + ".X" * entry.path.endswith("*")))


# --- scopes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "scope", "readable"),
    [
        ("Supplier.Type", "Order", False),
        ("Supplier.Type", "Supplier", True),
        ("Supplier.ID", "OrderLine", True),
        ("Supplier.ID", "OrderLineSuppliers", False),
        ("Supplier.BackendID", "FulfillmentOptions", True),
        ("Supplier.RouteToShippingAddressByBike.DistanceInKm", "Shipment", True),
        ("Supplier.ID", "Fanout", True),
        ("Supplier.ID", "FulfillmentProposition", False),
        ("OrderLine.QuantityOrdered", "Supplier", False),
        ("OrderLine.QuantityOrdered", "OrderLine", True),
        ("OrderLine.QuantityOrdered", "OrderLineSuppliers", True),
        ("Product.BackendID", "OrderLine", True),
        ("Product.BackendID", "Shipment", False),
        ("SupplierQuantityAvailable", "OrderLine", True),
        ("SupplierQuantityAvailable", "OrderLineSuppliers", False),
        ("IsGiftWrapped", "OrderLine", True),
        ("SupplierCount", "OrderLineSuppliers", True),
        ("SupplierCount", "OrderLine", False),
        ("FulfillmentOption.SameDayDelivery.IsAvailable", "FulfillmentOptions", True),
        ("FulfillmentOption.SameDayDelivery.IsAvailable", "Supplier", False),
        ("TotalAmountInTax", "Shipment", True),
        ("TotalAmountInTax", "Fanout", True),
        ("TotalAmountInTax", "OrderLine", False),
        ("Shipment.TotalQuantity", "Shipment", True),
        ("Shipment.TotalQuantity", "FulfillmentProposition", False),
        ("ShipmentCount", "FulfillmentProposition", True),
        ("ShipmentCount", "Shipment", False),
        ("HasExistingFulfillmentLines", "Fanout", True),
    ],
)
def test_each_name_is_readable_only_where_it_exists(name: str, scope: str, readable: bool) -> None:
    found = lookup(path(name))
    assert found is not None
    assert (scope in found.scopes) is readable
    assert (found in properties_in_scope(scope)) is readable


@pytest.mark.parametrize("scope", SCOPES)
def test_order_level_names_are_readable_in_every_scope(scope: str) -> None:
    in_scope = {entry.path for entry in properties_in_scope(scope)}
    assert set(ORDER_LEVEL) <= in_scope
    assert {e.path for e in PROPERTIES if e.path.startswith("Order.")} <= in_scope


def test_properties_in_scope_keeps_catalogue_order_and_ignores_case() -> None:
    in_supplier = properties_in_scope("Supplier")
    assert in_supplier == [entry for entry in PROPERTIES if "Supplier" in entry.scopes]
    assert properties_in_scope("supplier") == in_supplier
    with pytest.raises(ValueError, match="unknown scope 'Store'"):
        properties_in_scope("Store")


# --- did you mean ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "scope", "expected"),
    [
        # The reference's own wrong-case names (custom fields section).
        (
            "Supplier.Customfields.PrintingCapable",
            "Supplier",
            "Supplier.CustomFields.PrintingCapable",
        ),
        (
            "Orderline.Customfields.CustomizationType",
            "OrderLine",
            "OrderLine.CustomFields.CustomizationType",
        ),
        ("supplier.type", None, "Supplier.Type"),
        ("Supplier.BakendID", "Supplier", "Supplier.BackendID"),
        ("Suplier.Adress.Cty", "Supplier", "Supplier.Address.City"),
        ("SuplierQuantityAvailable", "OrderLine", "SupplierQuantityAvailable"),
        ("TotalAmountIntax", "Shipment", "TotalAmountInTax"),
        ("Supplier.LocalTime.DayOfWeak", "Supplier", "Supplier.LocalTime.DayOfWeek"),
        ("Supplier.Type", "Order", None),  # not readable there, and nothing else is close
        ("Supplier.Type", "Supplier", None),  # already right
        ("Order.CustomFields.Anything", "Order", None),  # already right
        ("Supplier.Foo", "Supplier", None),
        ("Supplier.Address", "Supplier", None),  # an object, not a value
        ("Completely.Unrelated", None, None),
        ("", None, None),
        ("Supplier..Type", None, None),
    ],
)
def test_suggest_offers_the_closest_known_name(
    written: str, scope: str | None, expected: str | None
) -> None:
    assert suggest(written, scope=scope) == expected


def test_suggest_also_offers_the_sheets_own_names() -> None:
    names = ["Weekend", "radiusLimit", "CustomizationType"]
    assert suggest("Weekedn", scope="Supplier", extra_names=names) == "Weekend"
    assert suggest("radiuslimit", scope="Supplier", extra_names=names) == "radiusLimit"
    assert suggest("CustomisationType", scope="OrderLine", extra_names=names) == (
        "CustomizationType"
    )
    assert suggest("Weekedn", scope="Supplier") is None


# --- every name the sheets use ----------------------------------------------------------------


@pytest.mark.parametrize("sheet", DEMO_SHEETS, ids=lambda sheet: sheet.name)
def test_every_name_in_the_demo_sheets_is_known_in_its_scope(sheet: Path) -> None:
    assert unknown_names(sheet.read_text()) == []


def test_there_are_demo_sheets() -> None:
    assert len(DEMO_SHEETS) >= 5


# Snippets of the reference that are not part of a demo sheet.
REFERENCE_SNIPPETS = [
    "fulfillment X\nscope OrderLine\nscore add OrderLine.UnitPrice\n"
    "require [Product.Content.SomeProperty] = 'value'\n"
    "require Supplier.ID = OrderLine.PreferredFulfillmentOrganizationUnit.ID\n"
    "when OrderLine.PreferredFulfillmentOrganizationUnit has value\n",
    "fulfillment X\nscope OrderLineSuppliers\n"
    "data DeadlineInMinutes as (when SupplierCount = 1 then 1000 else then 10)\n",
    "fulfillment X\nscope FulfillmentOptions\n"
    "require FulfillmentOption.SameDayDelivery.IsAvailable = false\n"
    "when Supplier.BackendID in 'SHOP_1', 'SHOP_2'\n",
    "fulfillment X\nscope Shipment\nrequire TotalAmountInTax < 200\n",
    "fulfillment X\nscope Order\n"
    "with Random1Label as (when Order.CustomFields.IsRandom1Order = 'true' then 'Random1' "
    "else then 'NotRandom1')\n"
    "scope Supplier\nrequire Supplier.DistanceToShippingAddressInKm < 10\n"
    "with reason 'TooFarAway' when Supplier.DistanceToShippingAddressInKm < 20\n"
    "score add 100 / [Supplier.DistanceToBillingAddressInKm]\n"
    "require [Supplier.CustomFields.PrintingCapable] = true\n"
    "require [Supplier.Type] = 'Shop' with reason 'NotShop', $'{[Supplier.Name]} is no shop'\n",
    "fulfillment X\nscope Order\nrequire Order.SoldFromOrganizationUnit.Type = 'ReturnsPortal'\n",
]


@pytest.mark.parametrize("source", REFERENCE_SNIPPETS)
def test_every_name_in_the_reference_snippets_is_known_in_its_scope(source: str) -> None:
    assert unknown_names(source) == []


def test_every_variable_the_reference_names_is_in_the_catalogue() -> None:
    text = REFERENCE_EXCERPT.read_text(encoding="utf-8")
    declared = set(re.findall(r"\b(?:with|data) \[?(\w+)\]? as\b", text))
    bracketed = set(re.findall(r"\[([A-Za-z_][\w.]*)\]", text))
    roots = "Order|OrderLine|Orderline|Supplier|Product|FulfillmentOption|Shipment"
    dotted = {m.group(0) for m in re.finditer(rf"\b(?:{roots})\.[A-Za-z_][\w.]*\w", text)}
    unplaced = []
    for name in sorted(bracketed | dotted):
        if lookup(path(name)) or name in declared or name in DATA_KEYS:
            continue
        fixed = suggest(name, scope=None)  # the reference's wrong-case custom fields
        if fixed is None or lookup(path(fixed)) is None:
            unplaced.append(name)
    assert unplaced == []
    assert len(bracketed | dotted) > 40


# --- options, actions, data -----------------------------------------------------------------


def test_options() -> None:
    assert {name: (spec.type, spec.default) for name, spec in OPTIONS.items()} == {
        "AllowPartialFulfillment": (ValueType.BOOLEAN, False),
        "DisableLineSplitting": (ValueType.BOOLEAN, False),
        "UseReplacementProductsForStock": (ValueType.BOOLEAN, False),
        "MaxRetryCountForDeactivatedLines": (ValueType.NUMBER, 1),
        "OrderIntents": (ValueType.STRING_LIST, ("Sales",)),
    }
    assert OPTIONS["OrderIntents"].allowed == ("Sales", "Purchase", "Returns")
    assert all(spec.name == name and spec.description for name, spec in OPTIONS.items())
    assert all(not spec.allowed for name, spec in OPTIONS.items() if name != "OrderIntents")


def test_actions_and_the_data_they_require() -> None:
    assert {name: spec.required_data for name, spec in ACTIONS.items()} == {
        "SHIP_FROM_STORE": (
            "TravelDistanceText",
            "TravelTimeText",
            "TravelTimeInMinutes",
            "TravelDistanceInKm",
        ),
        "EXPORT_ORDER": ("ExporterName",),
        "CANCEL": (),
        "EXPORT_RETURN_ORDER": (),
    }
    assert all(spec.name == name and spec.description for name, spec in ACTIONS.items())
    required = {key for spec in ACTIONS.values() for key in spec.required_data}
    assert required <= set(DATA_KEYS)


def test_data_keys() -> None:
    assert set(DATA_KEYS) == {
        "TravelDistanceText",
        "TravelTimeText",
        "TravelTimeInMinutes",
        "TravelDistanceInKm",
        "ExporterName",
        "DeadlineInMinutes",
        "PackDeadlineInMinutes",
        "ShipDeadlineInMinutes",
        "TaskLabels",
        "ShipFromStoreTaskPriority",
    }
    assert DATA_KEYS["TaskLabels"].type is ValueType.STRING_LIST
    assert DATA_KEYS["TravelTimeText"].type is ValueType.STRING
    assert DATA_KEYS["DeadlineInMinutes"].type is ValueType.NUMBER
    assert all(key.name == name and key.description for name, key in DATA_KEYS.items())


# --- JSON for the editor --------------------------------------------------------------------


def test_catalogue_json_round_trips_and_holds_everything() -> None:
    data = catalogue_json()
    assert json.loads(json.dumps(data)) == data
    assert data["scopes"] == list(SCOPES)
    assert len(data["properties"]) == len(PROPERTIES)
    first = data["properties"][0]
    assert first == {
        "path": "Order.ID",
        "type": "number",
        "scopes": list(SCOPES),
        "description": "The order's ID.",
    }
    assert set(data["options"]) == set(OPTIONS)
    assert data["options"]["OrderIntents"]["default"] == ["Sales"]
    assert data["options"]["OrderIntents"]["type"] == "list of strings"
    assert data["actions"]["EXPORT_ORDER"]["required_data"] == ["ExporterName"]
    assert data["data_keys"]["TaskLabels"]["type"] == "list of strings"
    assert set(KEYWORDS) <= set(data["keywords"])
    assert {"with reason", "score add", "but continue", "has no value"} <= set(data["keywords"])
    assert data["keywords"] == sorted(data["keywords"])
