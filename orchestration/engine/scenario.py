"""Scenario files: JSON in, the engine's frozen dataclasses out, and back.

A scenario holds everything one orchestration run needs (``docs/scenario-format.md``).
``load_scenario`` checks already-parsed JSON strictly and builds a ``model.Scenario``;
``load_scenario_text`` parses the text first (numbers as ``Decimal``). The first fault
found raises ``ScenarioError``, naming its JSON path::

    order.lines[1].product: unknown product 7
    organization_units[2].time_zone: unknown time zone 'Europe/Nowhere'

Keys beginning with ``_`` are comments wherever the format names the keys (every
object but the data objects ``custom_fields`` and ``content``, whose keys are the
names sheets read): they are ignored, and any other key the format does not know is
still refused with its path. ``fulfillment_history[].sheet`` names a sheet by ID or
by name.

Quantities and the number of lines have the limits of ``limits.py``, the API's own::

    order.lines[0].quantity: at most 1,000,000 units per order line, got 1000001

``dump_scenario`` is the inverse: ``load_scenario(dump_scenario(s)) == s``. Its
numbers are ``Decimal`` where the scenario's are, as ``load_scenario_text`` makes them.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .limits import LINE_QUANTITY, ORDER_LINES, STOCK_QUANTITY, Limit, json_integer
from .model import (
    CANCELLATION_REASONS,
    HISTORY_STATUSES,
    INTENTS,
    SALES,
    Address,
    HistoryEntry,
    Order,
    OrderLine,
    OrganizationUnit,
    Product,
    Scenario,
    SheetSource,
)
from .settings import DEFINITIONS, json_kind
from .variables import FULFILLMENT_OPTIONS

FORMAT = 1
TOP_LEVEL = "(top level)"  # the path of a fault in the document as a whole
COMMENT = "_"  # a key beginning with it is a comment: people annotate what they write

Check = Callable[[Any, str], Any]


class ScenarioError(Exception):
    """A scenario that cannot be used: where (a JSON path) and what is wrong."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(path, message)
        self.path = path
        self.message = message

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"

    def __reduce__(self) -> tuple[type[ScenarioError], tuple[str, str]]:
        return ScenarioError, (self.path, self.message)


# --- Entry points -------------------------------------------------------------


def load_scenario_text(text: str) -> Scenario:
    """Parse JSON text (numbers with a fraction become ``Decimal``) and load it."""
    try:
        data = json.loads(
            text,
            parse_float=Decimal,
            parse_int=json_integer,
            # NaN and Infinity are not JSON: let the checks reject them with a path.
            parse_constant=Decimal,
            object_pairs_hook=_object_from_pairs,
        )
    except json.JSONDecodeError as error:
        message = error.msg[:1].lower() + error.msg[1:]
        raise ScenarioError(
            f"line {error.lineno}, column {error.colno}", f"not valid JSON: {message}"
        ) from None
    except RecursionError:
        raise ScenarioError(TOP_LEVEL, "not valid JSON: nested too deeply") from None
    except ValueError as error:  # an integer of more digits than Python converts
        raise ScenarioError(TOP_LEVEL, f"not valid JSON: {error}") from None
    return load_scenario(data)


def load_scenario(data: object) -> Scenario:
    """Check parsed JSON against the scenario format and build the ``Scenario``."""
    try:
        top = _read(data, TOP_LEVEL, _TOP_LEVEL)
    except RecursionError:
        raise ScenarioError(TOP_LEVEL, "nested too deeply") from None
    organization_units = top["organization_units"]
    ou_ids = _unique_ids(organization_units, "organization_units")
    products = top["products"]
    product_ids = _unique_ids(products, "products")
    for index, product in enumerate(products):
        for position, replacement in enumerate(product.replacements):
            path = f"products[{index}].replacements[{position}]"
            _resolve(replacement, product_ids, "product", path)
            if replacement == product.id:
                raise ScenarioError(path, "a product cannot replace itself")
            if replacement in product.replacements[:position]:
                raise ScenarioError(path, f"product {replacement} is listed twice")
    stock: dict[tuple[int, int], int] = {}
    for index, (ou, product, quantity) in enumerate(top["stock"]):
        _resolve(ou, ou_ids, "organization unit", f"stock[{index}].organization_unit")
        _resolve(product, product_ids, "product", f"stock[{index}].product")
        if (ou, product) in stock:
            raise ScenarioError(
                f"stock[{index}]",
                f"duplicate stock for organization unit {ou} and product {product}",
            )
        stock[ou, product] = quantity
    sheets = top["sheets"]
    sheet_ids = _unique_ids(sheets, "sheets")
    order: Order = top["order"]
    if order.sold_from_organization_unit is not None:
        _resolve(
            order.sold_from_organization_unit,
            ou_ids,
            "organization unit",
            "order.sold_from_organization_unit",
        )
    line_ids = _unique_ids(order.lines, "order.lines")
    for index, line in enumerate(order.lines):
        _resolve(line.product, product_ids, "product", f"order.lines[{index}].product")
        if line.preferred_fulfillment_organization_unit is not None:
            _resolve(
                line.preferred_fulfillment_organization_unit,
                ou_ids,
                "organization unit",
                f"order.lines[{index}].preferred_fulfillment_organization_unit",
            )
    history = list(top["fulfillment_history"])
    for index, entry in enumerate(history):
        path = f"fulfillment_history[{index}]"
        _resolve(entry.order_line, line_ids, "order line", f"{path}.order_line")
        if entry.organization_unit is not None:
            _resolve(
                entry.organization_unit, ou_ids, "organization unit", f"{path}.organization_unit"
            )
        if isinstance(entry.sheet, str):
            history[index] = replace(entry, sheet=_sheet_named(entry.sheet, sheets, path))
        elif entry.sheet is not None:
            _resolve(entry.sheet, sheet_ids, "sheet", f"{path}.sheet")
    return Scenario(
        at=top["at"],
        order=order,
        organization_units=organization_units,
        products=products,
        sheets=sheets,
        stock=MappingProxyType(stock),
        settings=top["settings"],
        fulfillment_history=tuple(history),
    )


def _sheet_named(name: str, sheets: Iterable[SheetSource], path: str) -> int:
    """The ID of the one sheet called ``name`` (exactly, as the Suite shows it)."""
    ids = [sheet.id for sheet in sheets if sheet.name == name]
    if len(ids) == 1:
        return ids[0]
    if ids:
        raise ScenarioError(
            f"{path}.sheet",
            f"{len(ids)} sheets are named {name!r} (IDs {', '.join(map(str, ids))}); "
            "name the sheet by its ID",
        )
    names = [sheet.name for sheet in sheets]
    raise ScenarioError(f"{path}.sheet", f"unknown sheet {name!r}" + _did_you_mean(name, names))


def parse_instant(text: object, path: str = "at") -> datetime:
    """An ISO-8601 date and time with a UTC offset (``Z`` or ``+01:00``), as an aware datetime."""
    if not isinstance(text, str):
        raise _WrongType(path, "a string", text)
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise ScenarioError(path, f"not an ISO-8601 date and time: {text!r}") from None
    if instant.utcoffset() is None:
        raise ScenarioError(path, f"{text!r} has no UTC offset (add one, e.g. +01:00 or Z)")
    return instant


def dump_scenario(scenario: Scenario) -> dict[str, Any]:
    """The scenario as JSON data in the scenario format (money and coordinates as ``Decimal``)."""
    return {
        "format": FORMAT,
        "at": scenario.at.isoformat(),
        "settings": dict(scenario.settings),
        "organization_units": [
            {
                "id": ou.id,
                "name": ou.name,
                "backend_id": ou.backend_id,
                "type": ou.type,
                "status": ou.status,
                "country_id": ou.country_id,
                "time_zone": ou.time_zone,
                "address": _dump_address(ou.address),
                "set_names": list(ou.set_names),
                "custom_fields": _thaw(ou.custom_fields),
                "active_ship_from_store_tasks": ou.active_ship_from_store_tasks,
            }
            for ou in scenario.organization_units
        ],
        "products": [
            {
                "id": product.id,
                "backend_id": product.backend_id,
                "name": product.name,
                "content": _thaw(product.content),
                "replacements": list(product.replacements),
            }
            for product in scenario.products
        ],
        "stock": [
            {"organization_unit": ou, "product": product, "quantity_available": quantity}
            for (ou, product), quantity in scenario.stock.items()
        ],
        "sheets": [
            {"id": sheet.id, "name": sheet.name, "active": sheet.active, "source": sheet.source}
            for sheet in scenario.sheets
        ],
        "order": _dump_order(scenario.order),
        "fulfillment_history": [
            {
                "order_line": entry.order_line,
                "organization_unit": entry.organization_unit,
                "sheet": entry.sheet,
                "status": entry.status,
                "quantity": entry.quantity,
                "cancellation_reason": entry.cancellation_reason,
                "task": entry.task,
                "attempt": entry.attempt,
            }
            for entry in scenario.fulfillment_history
        ],
    }


def _dump_order(order: Order) -> dict[str, Any]:
    return {
        "id": order.id,
        "intent": order.intent,
        "sold_from_organization_unit": order.sold_from_organization_unit,
        "shipping_address": _dump_address(order.shipping_address),
        "billing_address": _dump_address(order.billing_address),
        "custom_fields": _thaw(order.custom_fields),
        "allow_partial_fulfillment": order.allow_partial_fulfillment,
        "requested_fulfillment_option": order.requested_fulfillment_option,
        "lines": [
            {
                "id": line.id,
                "product": line.product,
                "quantity": line.quantity,
                "unit_price": line.unit_price,
                "unit_price_in_tax": line.unit_price_in_tax,
                "discount_amount": line.discount_amount,
                "is_gift_wrapped": line.is_gift_wrapped,
                "preferred_fulfillment_organization_unit": (
                    line.preferred_fulfillment_organization_unit
                ),
                "custom_fields": _thaw(line.custom_fields),
            }
            for line in order.lines
        ],
    }


def _dump_address(address: Address) -> dict[str, Any]:
    return {
        "street": address.street,
        "city": address.city,
        "zip_code": address.zip_code,
        "country_id": address.country_id,
        "latitude": address.latitude,
        "longitude": address.longitude,
        "is_pickup_point": address.is_pickup_point,
    }


def _thaw(value: Any) -> Any:
    """A deep copy of JSON data with plain dicts and lists, as ``json.dumps`` takes them."""
    if isinstance(value, Mapping):
        return {key: _thaw(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_thaw(item) for item in value]
    return value


# --- Objects: known keys, required keys, one check per key ---------------------

_REQUIRED = object()


class _DuplicateKeyDict(dict[str, Any]):
    """A JSON object in which ``duplicate`` was given twice (the last value is kept)."""

    duplicate: str


def _object_from_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``json.loads``' object hook: a dict that remembers a key given twice.

    A comment may be given twice (``"_": "first line"``, ``"_": "second line"``).
    """
    result = dict(pairs)
    if len(result) == len(pairs):
        return result
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen and not _is_comment(key):
            marked = _DuplicateKeyDict(result)
            marked.duplicate = key
            return marked
        seen.add(key)
    return result


def _join(path: str, key: str) -> str:
    """The path of ``key`` in the object at ``path``: ``order.lines[0].colour``."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_:]*", key):
        step = f"[{json.dumps(key, ensure_ascii=False)}]"
        return step if path == TOP_LEVEL else f"{path}{step}"
    return key if path == TOP_LEVEL else f"{path}.{key}"


def _object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _WrongType(path, "an object", value)
    if isinstance(value, _DuplicateKeyDict):
        raise ScenarioError(_join(path, value.duplicate), "duplicate key")
    return value


def _read(value: Any, path: str, spec: Mapping[str, tuple[Check | None, Any]]) -> dict[str, Any]:
    """Check the object at ``path`` key by key: ``spec`` maps each key to (check, default).

    A check of None means the key is accepted and ignored; a default of ``_REQUIRED``
    means the key must be there. A key beginning with ``COMMENT`` is a comment: ignored.
    """
    data = _object(value, path)
    for key in data:
        if key not in spec and not _is_comment(key):
            raise ScenarioError(_join(path, key), "unknown key" + _did_you_mean(key, spec))
    fields = {}
    for key, (check, default) in spec.items():
        if key in data:
            if check is not None:
                fields[key] = check(data[key], _join(path, key))
        elif default is _REQUIRED:
            raise ScenarioError(_join(path, key), "missing key")
        elif check is not None:
            fields[key] = default
    return fields


def _is_comment(key: object) -> bool:
    return isinstance(key, str) and key.startswith(COMMENT)


def _did_you_mean(name: str, known: Iterable[str]) -> str:
    by_lower = {candidate.lower(): candidate for candidate in known}
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=1)
    return f"; did you mean {by_lower[close[0]]!r}?" if close else ""


_describe = json_kind


def _resolve(id_: int, known: set[int], what: str, path: str) -> None:
    if id_ not in known:
        raise ScenarioError(path, f"unknown {what} {id_}")


def _unique_ids(items: Iterable[Any], path: str) -> set[int]:
    ids: set[int] = set()
    for index, item in enumerate(items):
        if item.id in ids:
            raise ScenarioError(f"{path}[{index}].id", f"duplicate id {item.id}")
        ids.add(item.id)
    return ids


# --- Checks of single values: each takes (value, path) and returns what to store -----


class _WrongType(ScenarioError):
    """A value of another JSON type than ``expected`` (``an integer``)."""

    def __init__(self, path: str, expected: str, value: Any) -> None:
        super().__init__(path, f"expected {expected}, got {_describe(value)}")
        self.expected = expected


def _nullable(check: Check) -> Check:
    """``check``, or None."""

    def nullable(value: Any, path: str) -> Any:
        if value is None:
            return None
        try:
            return check(value, path)
        except _WrongType as error:
            if error.path != path:
                raise
            raise _WrongType(path, f"{error.expected} or null", value) from None

    return nullable


def _integer(minimum: int | None = None, limit: Limit | None = None) -> Callable[[Any, str], int]:
    def integer(value: Any, path: str) -> int:
        # bool is an int in Python; JSON keeps them apart, so must this.
        if type(value) is not int:
            raise _WrongType(path, "an integer", value)
        if minimum is not None and value < minimum:
            raise ScenarioError(path, f"must be at least {minimum}, got {value}")
        if limit is not None and value > limit.maximum:
            raise ScenarioError(path, f"{limit.refusal}, got {value}")
        return value

    return integer


def _number(value: Any, path: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise _WrongType(path, "a number", value)
    # A float comes from JSON parsed without parse_float=Decimal: its shortest repr is
    # the number as written.
    number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if not number.is_finite():
        raise ScenarioError(path, f"expected a finite number, got {number}")
    return number


def _non_positive(value: Any, path: str) -> Decimal:
    number = _number(value, path)
    if number > 0:
        raise ScenarioError(path, f"must be zero or negative, got {number}")
    return number


def _coordinate(limit: int) -> Check:
    def coordinate(value: Any, path: str) -> Decimal:
        number = _number(value, path)
        if not -limit <= number <= limit:
            raise ScenarioError(path, f"must be between -{limit} and {limit}, got {number}")
        return number

    return coordinate


def _string(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise _WrongType(path, "a string", value)
    return value


def _boolean(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise _WrongType(path, "a boolean", value)
    return value


def _one_of(what: str, choices: tuple[str | None, ...]) -> Check:
    names = ["null" if choice is None else choice for choice in choices]
    expected = f"{', '.join(names[:-1])} or {names[-1]}"

    def one_of(value: Any, path: str) -> str | None:
        if not isinstance(value, str) and not (value is None and None in choices):
            raise _WrongType(path, "a string or null" if None in choices else "a string", value)
        if value not in choices:
            raise ScenarioError(path, f"unknown {what} {value!r}; expected {expected}")
        return value

    return one_of


def _id_or_name(value: Any, path: str) -> int | str:
    """An ID (an integer) or a name (a string, resolved once everything is read)."""
    if isinstance(value, str):
        return value
    try:
        return _integer()(value, path)
    except _WrongType:
        raise _WrongType(path, "an integer (an ID) or a string (a name)", value) from None


def _time_zone(value: Any, path: str) -> str:
    name = _string(value, path)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # OSError: a directory of the database ("Europe"); ValueError: not a key at all.
        raise ScenarioError(path, f"unknown time zone {name!r}") from None
    return name


def _format(value: Any, path: str) -> int:
    if type(value) is not int or value != FORMAT:
        raise ScenarioError(path, f"expected {FORMAT}")
    return value


def _list_of(check: Check) -> Callable[[Any, str], tuple[Any, ...]]:
    def list_of(value: Any, path: str) -> tuple[Any, ...]:
        if not isinstance(value, list):
            raise _WrongType(path, "a list", value)
        return tuple(check(item, f"{path}[{index}]") for index, item in enumerate(value))

    return list_of


def _json_value(value: Any, path: str) -> Any:
    """A copy of any JSON value; numbers with a fraction become ``Decimal``."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float | Decimal):
        return _number(value, path)
    if isinstance(value, list):
        return [_json_value(item, f"{path}[{index}]") for index, item in enumerate(value)]
    if isinstance(value, dict):
        return {key: _json_value(item, _join(path, key)) for key, item in _fields(value, path)}
    raise ScenarioError(path, f"expected a JSON value, got {_describe(value)}")


def _fields(value: Any, path: str) -> Iterable[tuple[str, Any]]:
    for key, item in _object(value, path).items():
        if not isinstance(key, str):
            raise ScenarioError(path, f"expected an object with string keys, got key {key!r}")
        yield key, item


def _json_object(value: Any, path: str) -> Mapping[str, Any]:
    _object(value, path)  # an object, not just any JSON value
    return MappingProxyType(_json_value(value, path))


def _settings(value: Any, path: str) -> Mapping[str, Any]:
    settings = {}
    for name, setting in _fields(value, path):
        if _is_comment(name):
            continue
        setting_path = _join(path, name)
        definition = DEFINITIONS.get(name)
        if definition is None:
            raise ScenarioError(setting_path, "unknown setting" + _did_you_mean(name, DEFINITIONS))
        problem = definition.check(setting)
        if problem is not None:
            # The definitions speak in sentences ("Must be at least 1."); paths in clauses.
            raise ScenarioError(setting_path, problem[:1].lower() + problem[1:].rstrip("."))
        settings[name] = setting
    return MappingProxyType(settings)


# --- The objects of the format ---------------------------------------------------

_ID = (_integer(), _REQUIRED)
_OPTIONAL_ID = (_nullable(_integer()), None)
_OPTIONAL_STRING = (_nullable(_string), None)
_CUSTOM_FIELDS: tuple[Check, Mapping[str, Any]] = (_json_object, MappingProxyType({}))


def _address(value: Any, path: str) -> Address:
    return Address(
        **_read(
            value,
            path,
            {
                "street": _OPTIONAL_STRING,
                "city": _OPTIONAL_STRING,
                "zip_code": _OPTIONAL_STRING,
                "country_id": _OPTIONAL_STRING,
                "latitude": (_nullable(_coordinate(90)), None),
                "longitude": (_nullable(_coordinate(180)), None),
                "is_pickup_point": (_boolean, False),
            },
        )
    )


def _organization_unit(value: Any, path: str) -> OrganizationUnit:
    return OrganizationUnit(
        **_read(
            value,
            path,
            {
                "id": _ID,
                "name": (_string, _REQUIRED),
                "backend_id": _OPTIONAL_STRING,
                "type": (_string, "Shop"),
                "status": (_string, "Open"),
                "country_id": _OPTIONAL_STRING,
                "time_zone": (_time_zone, "UTC"),
                "address": (_address, Address()),
                "set_names": (_list_of(_string), ()),
                "custom_fields": _CUSTOM_FIELDS,
                "active_ship_from_store_tasks": (_integer(minimum=0), 0),
            },
        )
    )


def _product(value: Any, path: str) -> Product:
    return Product(
        **_read(
            value,
            path,
            {
                "id": _ID,
                "backend_id": _OPTIONAL_STRING,
                "name": (_string, ""),
                "content": _CUSTOM_FIELDS,
                "replacements": (_list_of(_integer()), ()),
            },
        )
    )


def _stock(value: Any, path: str) -> tuple[int, int, int]:
    fields = _read(
        value,
        path,
        {
            "organization_unit": _ID,
            "product": _ID,
            "quantity_available": (_integer(minimum=0, limit=STOCK_QUANTITY), _REQUIRED),
        },
    )
    return fields["organization_unit"], fields["product"], fields["quantity_available"]


def _sheet(value: Any, path: str) -> SheetSource:
    return SheetSource(
        **_read(
            value,
            path,
            {
                "id": _ID,
                "name": (_string, _REQUIRED),
                "active": (_boolean, True),
                "source": (_string, _REQUIRED),
            },
        )
    )


def _order_line(value: Any, path: str) -> OrderLine:
    return OrderLine(
        **_read(
            value,
            path,
            {
                "id": _ID,
                "product": _ID,
                "quantity": (_integer(minimum=1, limit=LINE_QUANTITY), _REQUIRED),
                "unit_price": (_number, Decimal(0)),
                "unit_price_in_tax": (_number, Decimal(0)),
                "discount_amount": (_non_positive, Decimal(0)),
                "is_gift_wrapped": (_boolean, False),
                "preferred_fulfillment_organization_unit": _OPTIONAL_ID,
                "custom_fields": _CUSTOM_FIELDS,
            },
        )
    )


def _order_lines(value: Any, path: str) -> tuple[OrderLine, ...]:
    if isinstance(value, list) and len(value) > ORDER_LINES.maximum:
        raise ScenarioError(path, f"{ORDER_LINES.refusal}, got {len(value):,}")
    lines = _list_of(_order_line)(value, path)
    if not lines:
        raise ScenarioError(path, "an order needs at least one line")
    return lines


def _order(value: Any, path: str) -> Order:
    return Order(
        **_read(
            value,
            path,
            {
                "id": _ID,
                "intent": (_one_of("intent", INTENTS), SALES),
                "sold_from_organization_unit": _OPTIONAL_ID,
                "shipping_address": (_address, Address()),
                "billing_address": (_address, Address()),
                "custom_fields": _CUSTOM_FIELDS,
                "allow_partial_fulfillment": (_nullable(_boolean), None),
                "requested_fulfillment_option": (
                    _one_of("fulfillment option", (*FULFILLMENT_OPTIONS, None)),
                    None,
                ),
                "lines": (_order_lines, _REQUIRED),
            },
        )
    )


def _history_entry(value: Any, path: str) -> HistoryEntry:
    return HistoryEntry(
        **_read(
            value,
            path,
            {
                "order_line": _ID,
                "organization_unit": _OPTIONAL_ID,
                "sheet": (_nullable(_id_or_name), None),
                "status": (_one_of("status", HISTORY_STATUSES), _REQUIRED),
                "quantity": (_integer(minimum=1, limit=LINE_QUANTITY), _REQUIRED),
                "cancellation_reason": (
                    _one_of("cancellation reason", CANCELLATION_REASONS),
                    None,
                ),
                "task": _OPTIONAL_STRING,
                "attempt": _OPTIONAL_STRING,
            },
        )
    )


_TOP_LEVEL: dict[str, tuple[Check | None, Any]] = {
    "format": (_format, _REQUIRED),
    "at": (parse_instant, _REQUIRED),
    "settings": (_settings, MappingProxyType({})),
    "organization_units": (_list_of(_organization_unit), ()),
    "products": (_list_of(_product), ()),
    "stock": (_list_of(_stock), ()),
    "sheets": (_list_of(_sheet), ()),
    "order": (_order, _REQUIRED),
    "fulfillment_history": (_list_of(_history_entry), ()),
    "expect": (None, None),  # what a test asserts; the engine ignores it
}
