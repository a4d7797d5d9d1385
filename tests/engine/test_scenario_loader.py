"""Scenario files: strict loading with one exact message per fault, and the way back.

Every fault names its JSON path and what is wrong, and the first fault found is
the one reported, so each case below breaks one thing of an otherwise valid
scenario and asserts the whole message.
"""

import copy
import json
import pickle
import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from orchestration.engine.model import (
    Address,
    HistoryEntry,
    Order,
    OrderLine,
    OrganizationUnit,
    Product,
    Scenario,
    SheetSource,
)
from orchestration.engine.scenario import (
    ScenarioError,
    dump_scenario,
    load_scenario,
    load_scenario_text,
    parse_instant,
)
from tests.sources import LINE_SPLITTING

DELETE = object()


def valid() -> dict[str, Any]:
    """A small scenario that loads, using every kind of reference once."""
    return {
        "format": 1,
        "at": "2026-11-20T10:00:00+01:00",
        "settings": {"Orders:Default:AllowPartialFulfillment": True},
        "organization_units": [
            {"id": 1, "name": "StoreA", "time_zone": "Europe/Amsterdam"},
            {"id": 2, "name": "WarehouseA", "type": "Warehouse", "address": {"latitude": 52.5}},
        ],
        "products": [{"id": 1}, {"id": 2, "replacements": [1]}],
        "stock": [
            {"organization_unit": 1, "product": 1, "quantity_available": 2},
            {"organization_unit": 2, "product": 2, "quantity_available": 0},
        ],
        "sheets": [{"id": 1, "name": "Ship", "source": "fulfillment Ship\naction CANCEL\n"}],
        "order": {
            "id": 1000,
            "sold_from_organization_unit": 1,
            "custom_fields": {},
            "lines": [
                {"id": 1, "product": 1, "quantity": 1, "unit_price": 9.95},
                {
                    "id": 2,
                    "product": 2,
                    "quantity": 2,
                    "preferred_fulfillment_organization_unit": 2,
                },
            ],
        },
        "fulfillment_history": [
            {
                "order_line": 1,
                "organization_unit": 1,
                "sheet": 1,
                "status": "Cancelled",
                "quantity": 1,
                "cancellation_reason": "Otherstore",
                "task": None,
                "attempt": "run-1",
            }
        ],
        "expect": {"note": "ignored"},
    }


def with_(path: str, value: Any) -> dict[str, Any]:
    """``valid()`` with the value at ``path`` (``order.lines[1].product``) set or deleted."""
    data = valid()
    steps = [int(step) if step.isdigit() else step for step in re.findall(r"[^.\[\]]+", path)]
    target: Any = data
    for step in steps[:-1]:
        target = target[step]
    if value is DELETE:
        del target[steps[-1]]
    else:
        target[steps[-1]] = value
    return data


def fault(data: object) -> str:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(data)
    return str(caught.value)


def test_the_valid_scenario_loads() -> None:
    scenario = load_scenario(valid())
    assert scenario.order.lines[0].unit_price == Decimal("9.95")
    assert scenario.fulfillment_history == (
        HistoryEntry(
            order_line=1,
            organization_unit=1,
            sheet=1,
            status="Cancelled",
            quantity=1,
            cancellation_reason="Otherstore",
            task=None,
            attempt="run-1",
        ),
    )


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        # The document and its format
        ("format", 2, "format: expected 1"),
        ("format", True, "format: expected 1"),
        ("format", DELETE, "format: missing key"),
        ("colour", "red", "colour: unknown key"),
        (
            "organisation_units",
            [],
            "organisation_units: unknown key; did you mean 'organization_units'?",
        ),
        ("order.lines[0].colour", "red", "order.lines[0].colour: unknown key"),
        (
            "order.lines[0].quantiy",
            1,
            "order.lines[0].quantiy: unknown key; did you mean 'quantity'?",
        ),
        (
            "organization_units[1].address.number",
            "1",
            "organization_units[1].address.number: unknown key",
        ),
        ("order.lines[0].a b", 1, 'order.lines[0]["a b"]: unknown key'),
        # Required keys
        ("at", DELETE, "at: missing key"),
        ("order", DELETE, "order: missing key"),
        ("order.id", DELETE, "order.id: missing key"),
        ("order.lines", DELETE, "order.lines: missing key"),
        ("order.lines[1].id", DELETE, "order.lines[1].id: missing key"),
        ("order.lines[1].product", DELETE, "order.lines[1].product: missing key"),
        ("order.lines[1].quantity", DELETE, "order.lines[1].quantity: missing key"),
        ("organization_units[1].id", DELETE, "organization_units[1].id: missing key"),
        ("organization_units[1].name", DELETE, "organization_units[1].name: missing key"),
        ("products[0].id", DELETE, "products[0].id: missing key"),
        ("sheets[0].id", DELETE, "sheets[0].id: missing key"),
        ("sheets[0].name", DELETE, "sheets[0].name: missing key"),
        ("sheets[0].source", DELETE, "sheets[0].source: missing key"),
        ("stock[0].quantity_available", DELETE, "stock[0].quantity_available: missing key"),
        ("fulfillment_history[0].status", DELETE, "fulfillment_history[0].status: missing key"),
        # Types: JSON's, exactly
        ("organization_units", {}, "organization_units: expected a list, got an object"),
        ("order", [], "order: expected an object, got a list"),
        ("order.lines[0]", 1, "order.lines[0]: expected an object, got an integer"),
        ("order.lines", [], "order.lines: an order needs at least one line"),
        ("order.id", "1000", "order.id: expected an integer, got a string"),
        (
            "stock[0].quantity_available",
            "2",
            "stock[0].quantity_available: expected an integer, got a string",
        ),
        (
            "stock[0].quantity_available",
            True,
            "stock[0].quantity_available: expected an integer, got a boolean",
        ),
        (
            "stock[0].quantity_available",
            -1,
            "stock[0].quantity_available: must be at least 0, got -1",
        ),
        ("order.lines[0].quantity", 0, "order.lines[0].quantity: must be at least 1, got 0"),
        (
            "order.lines[0].quantity",
            Decimal("1.5"),
            "order.lines[0].quantity: expected an integer, got a number",
        ),
        ("order.lines[0].quantity", None, "order.lines[0].quantity: expected an integer, got null"),
        (
            "order.lines[0].unit_price",
            "9.95",
            "order.lines[0].unit_price: expected a number, got a string",
        ),
        (
            "order.lines[0].unit_price",
            True,
            "order.lines[0].unit_price: expected a number, got a boolean",
        ),
        (
            "order.lines[0].unit_price",
            Decimal("NaN"),
            "order.lines[0].unit_price: expected a finite number, got NaN",
        ),
        (
            "order.lines[0].discount_amount",
            5,
            "order.lines[0].discount_amount: must be zero or negative, got 5",
        ),
        (
            "order.lines[0].is_gift_wrapped",
            0,
            "order.lines[0].is_gift_wrapped: expected a boolean, got an integer",
        ),
        (
            "order.allow_partial_fulfillment",
            "yes",
            "order.allow_partial_fulfillment: expected a boolean or null, got a string",
        ),
        (
            "order.sold_from_organization_unit",
            "1",
            "order.sold_from_organization_unit: expected an integer or null, got a string",
        ),
        ("order.custom_fields", [], "order.custom_fields: expected an object, got a list"),
        (
            "order.custom_fields",
            {"when": datetime(2026, 1, 1)},
            "order.custom_fields.when: expected a JSON value, got a Python datetime",
        ),
        ("sheets[0].active", "yes", "sheets[0].active: expected a boolean, got a string"),
        ("sheets[0].source", None, "sheets[0].source: expected a string, got null"),
        (
            "organization_units[0].backend_id",
            7,
            "organization_units[0].backend_id: expected a string or null, got an integer",
        ),
        (
            "organization_units[0].set_names",
            ["North", 1],
            "organization_units[0].set_names[1]: expected a string, got an integer",
        ),
        (
            "organization_units[0].active_ship_from_store_tasks",
            -1,
            "organization_units[0].active_ship_from_store_tasks: must be at least 0, got -1",
        ),
        (
            "organization_units[1].address.latitude",
            91,
            "organization_units[1].address.latitude: must be between -90 and 90, got 91",
        ),
        (
            "organization_units[1].address.longitude",
            Decimal("-180.5"),
            "organization_units[1].address.longitude: must be between -180 and 180, got -180.5",
        ),
        (
            "order.shipping_address",
            "Urk",
            "order.shipping_address: expected an object, got a string",
        ),
        ("products[0].content", None, "products[0].content: expected an object, got null"),
        (
            "products[1].replacements",
            1,
            "products[1].replacements: expected a list, got an integer",
        ),
        (
            "fulfillment_history[0].task",
            3,
            "fulfillment_history[0].task: expected a string or null, got an integer",
        ),
        # The clock and time zones
        (
            "at",
            "2026-11-20T10:00:00",
            "at: '2026-11-20T10:00:00' has no UTC offset (add one, e.g. +01:00 or Z)",
        ),
        ("at", "tomorrow", "at: not an ISO-8601 date and time: 'tomorrow'"),
        ("at", 1763629200, "at: expected a string, got an integer"),
        (
            "organization_units[0].time_zone",
            "Europe/Nowhere",
            "organization_units[0].time_zone: unknown time zone 'Europe/Nowhere'",
        ),
        (
            "organization_units[0].time_zone",
            "Europe",
            "organization_units[0].time_zone: unknown time zone 'Europe'",
        ),
        (
            "organization_units[0].time_zone",
            "../etc/passwd",
            "organization_units[0].time_zone: unknown time zone '../etc/passwd'",
        ),
        (
            "organization_units[0].time_zone",
            None,
            "organization_units[0].time_zone: expected a string, got null",
        ),
        # Enumerations
        (
            "order.intent",
            "Sale",
            "order.intent: unknown intent 'Sale'; expected Sales, Returns or Purchase",
        ),
        (
            "fulfillment_history[0].status",
            "Done",
            "fulfillment_history[0].status: unknown status 'Done'; "
            "expected New, InProgress, Cancelled, Deactivated or Completed",
        ),
        (
            "fulfillment_history[0].status",
            None,
            "fulfillment_history[0].status: expected a string, got null",
        ),
        (
            "fulfillment_history[0].cancellation_reason",
            "Whatever",
            "fulfillment_history[0].cancellation_reason: unknown cancellation reason 'Whatever'; "
            "expected null, Otherstore, FulfillmentCancelled, Unknown or Expired",
        ),
        (
            "fulfillment_history[0].cancellation_reason",
            1,
            "fulfillment_history[0].cancellation_reason: expected a string or null, got an integer",
        ),
        # Settings
        ("settings.Foo", 1, "settings.Foo: unknown setting"),
        (
            "settings.orders:default:allowpartialfulfilment",
            True,
            "settings.orders:default:allowpartialfulfilment: unknown setting; "
            "did you mean 'Orders:Default:AllowPartialFulfillment'?",
        ),
        (
            "settings.Orders:Default:AllowPartialFulfillment",
            "yes",
            "settings.Orders:Default:AllowPartialFulfillment: expected a boolean, got a string",
        ),
        (
            "settings.Symphony:OrchestrationDetailsLifetimeInDays",
            0,
            "settings.Symphony:OrchestrationDetailsLifetimeInDays: must be at least 1",
        ),
        (
            "settings.Orders:Default:AllowPartialFulfillment",
            None,
            "settings.Orders:Default:AllowPartialFulfillment: this setting cannot be empty",
        ),
        ("settings", [], "settings: expected an object, got a list"),
        # Duplicate ids
        ("organization_units[1].id", 1, "organization_units[1].id: duplicate id 1"),
        ("products[1].id", 1, "products[1].id: duplicate id 1"),
        (
            "sheets",
            [{"id": 1, "name": "A", "source": ""}, {"id": 1, "name": "B", "source": ""}],
            "sheets[1].id: duplicate id 1",
        ),
        ("order.lines[1].id", 1, "order.lines[1].id: duplicate id 1"),
        (
            "stock[1]",
            {"organization_unit": 1, "product": 1, "quantity_available": 5},
            "stock[1]: duplicate stock for organization unit 1 and product 1",
        ),
        # References
        ("order.lines[1].product", 7, "order.lines[1].product: unknown product 7"),
        (
            "order.lines[1].preferred_fulfillment_organization_unit",
            9,
            "order.lines[1].preferred_fulfillment_organization_unit: unknown organization unit 9",
        ),
        (
            "order.sold_from_organization_unit",
            9,
            "order.sold_from_organization_unit: unknown organization unit 9",
        ),
        (
            "stock[0].organization_unit",
            9,
            "stock[0].organization_unit: unknown organization unit 9",
        ),
        ("stock[0].product", 9, "stock[0].product: unknown product 9"),
        ("products[1].replacements", [1, 8], "products[1].replacements[1]: unknown product 8"),
        (
            "products[1].replacements",
            [2],
            "products[1].replacements[0]: a product cannot replace itself",
        ),
        (
            "products[1].replacements",
            [1, 1],
            "products[1].replacements[1]: product 1 is listed twice",
        ),
        (
            "fulfillment_history[0].order_line",
            9,
            "fulfillment_history[0].order_line: unknown order line 9",
        ),
        (
            "fulfillment_history[0].organization_unit",
            9,
            "fulfillment_history[0].organization_unit: unknown organization unit 9",
        ),
        ("fulfillment_history[0].sheet", 9, "fulfillment_history[0].sheet: unknown sheet 9"),
        (
            "fulfillment_history[0].sheet",
            "Shpi",
            "fulfillment_history[0].sheet: unknown sheet 'Shpi'; did you mean 'Ship'?",
        ),
        (
            "fulfillment_history[0].sheet",
            "ship",
            "fulfillment_history[0].sheet: unknown sheet 'ship'; did you mean 'Ship'?",
        ),
        (
            "fulfillment_history[0].sheet",
            True,
            "fulfillment_history[0].sheet: expected an integer (an ID) or a string (a name) "
            "or null, got a boolean",
        ),
        (
            "order.requested_fulfillment_option",
            "SameDay",
            "order.requested_fulfillment_option: unknown fulfillment option 'SameDay'; "
            "expected NormalDelivery, SameDayDelivery, PickupDelivery or null",
        ),
        (
            "order.requested_fulfillment_option",
            1,
            "order.requested_fulfillment_option: expected a string or null, got an integer",
        ),
        # A misspelt key is still refused with its path; only a leading _ makes a comment.
        (
            "order.lines[0].unit_prise",
            1,
            "order.lines[0].unit_prise: unknown key; did you mean 'unit_price'?",
        ),
        ("order.comment_", "x", "order.comment_: unknown key"),
        (
            "settings.Orders:Default:AllowPartialFulfilment",
            True,
            "settings.Orders:Default:AllowPartialFulfilment: unknown setting; did you mean "
            "'Orders:Default:AllowPartialFulfillment'?",
        ),
    ],
    ids=lambda value: value if isinstance(value, str) and " " not in value else None,
)
def test_a_fault_is_named_by_its_path(path: str, value: Any, message: str) -> None:
    assert fault(with_(path, value)) == message


def test_the_document_must_be_an_object() -> None:
    assert fault([valid()]) == "(top level): expected an object, got a list"


def test_the_first_fault_is_reported() -> None:
    data = with_("order.lines[1].product", 7)
    data["organization_units"][0]["time_zone"] = "Europe/Nowhere"
    assert fault(data) == "organization_units[0].time_zone: unknown time zone 'Europe/Nowhere'"


def test_optional_keys_may_be_null_where_the_format_allows_it() -> None:
    data = with_("fulfillment_history[0].sheet", None)
    data["fulfillment_history"][0]["organization_unit"] = None
    data["order"]["allow_partial_fulfillment"] = None
    entry = load_scenario(data).fulfillment_history[0]
    assert (entry.sheet, entry.organization_unit) == (None, None)


def test_optional_keys_take_their_defaults() -> None:
    scenario = load_scenario(
        {
            "format": 1,
            "at": "2026-11-20T09:00:00Z",
            "organization_units": [{"id": 1, "name": "StoreA"}],
            "products": [{"id": 1}],
            "order": {"id": 7, "lines": [{"id": 1, "product": 1, "quantity": 3}]},
        }
    )
    assert scenario == Scenario(
        at=datetime(2026, 11, 20, 9, tzinfo=UTC),
        order=Order(id=7, lines=(OrderLine(id=1, product=1, quantity=3),)),
        organization_units=(OrganizationUnit(id=1, name="StoreA"),),
        products=(Product(id=1),),
        sheets=(),
    )
    ou = scenario.organization_units[0]
    assert (ou.type, ou.status, ou.time_zone, ou.address) == ("Shop", "Open", "UTC", Address())
    assert scenario.order.intent == "Sales"
    assert scenario.order.allow_partial_fulfillment is None
    assert (dict(scenario.stock), dict(scenario.settings), scenario.fulfillment_history) == (
        {},
        {},
        (),
    )


def test_python_floats_become_decimals_as_written() -> None:
    """Data parsed without ``parse_float=Decimal`` still gives exact money."""
    scenario = load_scenario(with_("order.custom_fields", {"weight": 0.1, "tags": [1.5]}))
    assert scenario.order.lines[0].unit_price == Decimal("9.95")
    assert dict(scenario.order.custom_fields) == {
        "weight": Decimal("0.1"),
        "tags": [Decimal("1.5")],
    }
    assert scenario.organization_units[1].address.latitude == Decimal("52.5")


# --- JSON text -------------------------------------------------------------------


def text_fault(text: str) -> str:
    with pytest.raises(ScenarioError) as caught:
        load_scenario_text(text)
    return str(caught.value)


def test_a_json_syntax_error_names_line_and_column() -> None:
    assert text_fault('{\n  "format": 1,\n  "at" "x"\n}') == (
        "line 3, column 8: not valid JSON: expecting ':' delimiter"
    )


def test_trailing_data_is_a_syntax_error() -> None:
    assert text_fault("{}\n{}") == "line 2, column 1: not valid JSON: extra data"


def test_nan_is_not_a_number_here() -> None:
    text = json.dumps(valid()).replace("9.95", "NaN")
    assert text_fault(text) == "order.lines[0].unit_price: expected a finite number, got NaN"


def test_infinity_in_custom_fields_is_refused_too() -> None:
    text = json.dumps(valid()).replace('"custom_fields": {}', '"custom_fields": {"x": [-Infinity]}')
    assert text_fault(text) == "order.custom_fields.x[0]: expected a finite number, got -Infinity"


def test_a_key_given_twice_is_a_fault() -> None:
    text = json.dumps(valid()).replace('"id": 1000,', '"id": 1000, "id": 1001,')
    assert text_fault(text) == "order.id: duplicate key"


def test_a_key_given_twice_in_custom_fields_is_a_fault() -> None:
    text = json.dumps(valid()).replace('"custom_fields": {}', '"custom_fields": {"a": 1, "a": 2}')
    assert text_fault(text) == "order.custom_fields.a: duplicate key"


def test_numbers_with_a_fraction_are_exact_decimals() -> None:
    scenario = load_scenario_text(json.dumps(valid()))
    price = scenario.order.lines[0].unit_price
    assert type(price) is Decimal
    assert str(price) == "9.95"


# --- The error itself ----------------------------------------------------------------


def test_the_error_carries_path_and_message_and_pickles() -> None:
    error = ScenarioError("order.lines[1].product", "unknown product 7")
    assert (error.path, error.message) == ("order.lines[1].product", "unknown product 7")
    assert str(error) == "order.lines[1].product: unknown product 7"
    assert str(pickle.loads(pickle.dumps(error))) == str(error)  # noqa: S301 (our own bytes)


def test_parse_instant_names_the_given_path() -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_instant("2026-11-22T09:00:00", "--at")
    assert str(caught.value) == (
        "--at: '2026-11-22T09:00:00' has no UTC offset (add one, e.g. +01:00 or Z)"
    )
    assert parse_instant("2026-11-22T09:00:00+01:00").utcoffset() == timedelta(hours=1)


# --- The shared example: line-splitting.json ---------------------------------------------


@pytest.fixture
def line_splitting() -> Scenario:
    return load_scenario_text(LINE_SPLITTING.read_text(encoding="utf-8"))


def test_line_splitting_loads_as_the_expected_dataclasses(line_splitting: Scenario) -> None:
    scenario = line_splitting
    assert scenario.at == datetime(2026, 11, 20, 10, tzinfo=timezone(timedelta(hours=1)))
    assert scenario.at.utcoffset() == timedelta(hours=1)
    assert dict(scenario.settings) == {"Orders:Default:AllowPartialFulfillment": True}
    assert scenario.organization_units[0] == OrganizationUnit(
        id=1,
        name="StoreA",
        backend_id="storea",
        type="Shop",
        status="Open",
        country_id="NL",
        time_zone="Europe/Amsterdam",
        address=Address(
            city="Amsterdam",
            country_id="NL",
            latitude=Decimal("52.37"),
            longitude=Decimal("4.89"),
        ),
    )
    assert [(ou.id, ou.name, ou.type) for ou in scenario.organization_units] == [
        (1, "StoreA", "Shop"),
        (2, "StoreB", "Shop"),
        (3, "WarehouseA", "Warehouse"),
        (4, "WarehouseB", "Warehouse"),
    ]
    assert scenario.products[2] == Product(id=3, name="Scarf", backend_id="SCARF")
    assert [(sheet.id, sheet.name, sheet.active) for sheet in scenario.sheets] == [
        (1, "ShipFromStore", True),
        (2, "Warehouse", True),
    ]
    assert isinstance(scenario.sheets[0], SheetSource)
    assert scenario.sheets[1].source.startswith("fulfillment Warehouse\naction EXPORT_ORDER\n")
    assert dict(scenario.stock) == {
        (1, 1): 2,
        (1, 2): 1,
        (2, 1): 2,
        (2, 2): 1,
        (3, 1): 2,
        (3, 2): 1,
        (3, 3): 1,
        (4, 1): 2,
        (4, 2): 1,
        (4, 3): 1,
    }
    order = scenario.order
    assert (order.id, order.intent, order.sold_from_organization_unit) == (1000, "Sales", None)
    assert order.shipping_address == Address(
        city="Amsterdam",
        country_id="NL",
        latitude=Decimal("52.37"),
        longitude=Decimal("4.9"),
        is_pickup_point=False,
    )
    assert [(line.id, line.product, line.quantity) for line in order.lines] == [
        (1, 1, 4),
        (2, 2, 2),
        (3, 3, 2),
    ]
    line = order.lines[1]
    assert type(line.unit_price_in_tax) is Decimal
    assert (str(line.unit_price), str(line.unit_price_in_tax)) == ("40.0", "48.4")
    assert line.total_amount_in_tax == Decimal("96.8")
    assert line.discount_amount == 0
    assert scenario.fulfillment_history == ()


def test_line_splitting_round_trips(line_splitting: Scenario) -> None:
    dumped = dump_scenario(line_splitting)
    assert load_scenario(copy.deepcopy(dumped)) == line_splitting
    assert list(dumped) == [
        "format",
        "at",
        "settings",
        "organization_units",
        "products",
        "stock",
        "sheets",
        "order",
        "fulfillment_history",
    ]
    assert dumped["at"] == "2026-11-20T10:00:00+01:00"
    assert dumped["order"]["lines"][0]["unit_price_in_tax"] == Decimal("96.8")


def test_a_scenario_with_every_optional_key_round_trips() -> None:
    data = valid()
    data["organization_units"][0].update(
        backend_id="storea",
        status="Closed",
        country_id="NL",
        address={
            "street": "Kerkstraat 1",
            "city": "Urk",
            "zip_code": "8321",
            "country_id": "NL",
            "latitude": Decimal("52.66"),
            "longitude": Decimal("5.60"),
            "is_pickup_point": False,
        },
        set_names=["North"],
        custom_fields={"nested": {"list": [1, "two", None, Decimal("3.5")]}},
        active_ship_from_store_tasks=3,
    )
    data["products"][0].update(backend_id="SHOE", name="Shoes", content={"Color": "red"})
    data["sheets"][0]["active"] = False
    data["order"].update(
        intent="Returns",
        shipping_address={"city": "Urk", "is_pickup_point": True},
        allow_partial_fulfillment=False,
        custom_fields={"Channel": "web"},
    )
    data["order"]["lines"][0].update(
        unit_price_in_tax=Decimal("12.04"),
        discount_amount=Decimal("-1.00"),
        is_gift_wrapped=True,
        custom_fields={"Engraving": "A"},
    )
    scenario = load_scenario(data)
    assert load_scenario(dump_scenario(scenario)) == scenario
    assert dump_scenario(scenario)["fulfillment_history"][0]["attempt"] == "run-1"


def test_json_nested_too_deeply_is_a_fault_not_a_crash() -> None:
    assert text_fault("[" * 100_000 + "]" * 100_000) == (
        "(top level): not valid JSON: nested too deeply"
    )


def test_a_whole_number_past_the_digit_limit_is_a_fault_naming_the_limit() -> None:
    assert text_fault('{"a": -' + "7" * 5_000 + "}") == (
        "(top level): not valid JSON: a whole number of 5,000 digits "
        "(at most 4,300 digits in a whole number)"
    )


def test_custom_fields_nested_too_deeply_are_a_fault_not_a_crash() -> None:
    deep: list[Any] = []
    for _ in range(5_000):
        deep = [deep]
    assert fault(with_("order.custom_fields", {"deep": deep})) == "(top level): nested too deeply"


# --- Scenario files as people write them: comments and sheets by name ------------------


def commented() -> dict[str, Any]:
    """``valid()`` with a comment (a key beginning with _) in every object the format names."""
    data = valid()
    objects = [
        data,
        data["settings"],
        data["organization_units"][1],
        data["organization_units"][1]["address"],
        data["products"][0],
        data["stock"][0],
        data["sheets"][0],
        data["order"],
        data["order"]["lines"][1],
        data["fulfillment_history"][0],
        data["expect"],
    ]
    for number, target in enumerate(objects):
        target[f"_comment{number}"] = {"any": ["JSON", 1, None]}
    data["order"]["_"] = "a lone underscore is a comment too"
    return data


def test_keys_beginning_with_an_underscore_are_comments_and_change_nothing() -> None:
    assert load_scenario(commented()) == load_scenario(valid())


def test_comments_are_ignored_in_the_text_form_too() -> None:
    text = json.dumps(commented())
    assert load_scenario_text(text) == load_scenario(valid())


def test_an_underscore_key_in_custom_fields_is_data_a_sheet_can_read() -> None:
    """Custom fields and product content are the sheets' data, not the format's keys."""
    data = with_("order.custom_fields", {"_Channel": "web"})
    data["products"][0]["content"] = {"_Size": 42}
    scenario = load_scenario(data)
    assert dict(scenario.order.custom_fields) == {"_Channel": "web"}
    assert dict(scenario.products[0].content) == {"_Size": 42}


def test_a_misspelt_key_beside_comments_is_still_refused_with_its_path() -> None:
    data = commented()
    data["order"]["lines"][1]["quantiy"] = 2
    assert fault(data) == "order.lines[1].quantiy: unknown key; did you mean 'quantity'?"


def test_the_history_names_its_sheet_by_name() -> None:
    data = with_("fulfillment_history[0].sheet", "Warehouse")
    data["sheets"].append(
        {"id": 7, "name": "Warehouse", "source": "fulfillment W\naction CANCEL\n"}
    )
    assert load_scenario(data).fulfillment_history[0].sheet == 7


def test_a_sheet_name_shared_by_two_sheets_is_refused() -> None:
    data = with_("fulfillment_history[0].sheet", "Ship")
    data["sheets"].append({"id": 7, "name": "Ship", "source": "fulfillment W\naction CANCEL\n"})
    assert fault(data) == (
        "fulfillment_history[0].sheet: 2 sheets are named 'Ship' (IDs 1, 7); "
        "name the sheet by its ID"
    )


def test_a_sheet_named_by_name_dumps_as_its_id_and_round_trips() -> None:
    scenario = load_scenario(with_("fulfillment_history[0].sheet", "Ship"))
    assert scenario == load_scenario(valid())
    assert dump_scenario(scenario)["fulfillment_history"][0]["sheet"] == 1


@pytest.mark.parametrize("option", ["NormalDelivery", "SameDayDelivery", "PickupDelivery", None])
def test_the_requested_fulfillment_option_loads_and_round_trips(option: str | None) -> None:
    scenario = load_scenario(with_("order.requested_fulfillment_option", option))
    assert scenario.order.requested_fulfillment_option == option
    assert load_scenario(dump_scenario(scenario)) == scenario


def test_an_order_without_a_requested_option_asks_for_none() -> None:
    assert load_scenario(valid()).order.requested_fulfillment_option is None


def test_a_comment_may_be_given_twice_but_another_key_may_not() -> None:
    text = json.dumps(valid())[:-1] + ', "_": "first line", "_": "second line"}'
    assert load_scenario_text(text) == load_scenario(valid())
    twice = json.dumps(valid())[:-1] + ', "_": "a comment", "format": 1}'
    with pytest.raises(ScenarioError) as caught:
        load_scenario_text(twice)
    assert str(caught.value) == "format: duplicate key"
