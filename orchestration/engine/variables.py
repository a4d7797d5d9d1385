"""The values sheets read: every catalogue name, computed from the scenario.

A sheet reads a handful of the catalogue's names; ``World`` computes only those
(``getters`` says, per path, which object it is about and how to get it), and
caches per OU what every sheet shares (local time, distances, routes). Values are
what the compiler takes: ``str``, ``bool``, numbers, tuples, or ``MISSING``.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from ..language.compiler import MISSING, canonical_path
from .model import AMOUNTS, Address, OrderLine, OrganizationUnit, Product, Scenario
from .network import is_static, network_of
from .routes import EstimatedBikeRoute, Route, RouteProvider, distance_between, point

# What a path is about, by its first name.
ORDER, SUPPLIER, LINE, SUPPLIER_LINE, LINE_SUPPLIERS, OPTION, SHIPMENT, NAME = (
    "order",
    "supplier",
    "line",
    "supplier_line",
    "line_suppliers",
    "option",
    "shipment",
    "name",
)
_KINDS = {
    "Order": ORDER,
    "CurrentFulfillmentAttempts": ORDER,
    "HasExistingFulfillmentLines": ORDER,
    "Supplier": SUPPLIER,
    "OrderLine": LINE,
    "Product": LINE,
    "IsGiftWrapped": LINE,
    "SupplierQuantityAvailable": SUPPLIER_LINE,
    "SupplierCount": LINE_SUPPLIERS,
    "FulfillmentOption": OPTION,
    "TotalAmount": SHIPMENT,
    "TotalAmountInTax": SHIPMENT,
    "TotalQuantity": SHIPMENT,
    "LineCount": SHIPMENT,
    "Shipment": SHIPMENT,
    "ShipmentCount": SHIPMENT,
}
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
FULFILLMENT_OPTIONS = ("NormalDelivery", "SameDayDelivery", "PickupDelivery")
SHIPMENT_TOTALS = ("TotalAmount", "TotalAmountInTax", "TotalQuantity", "LineCount")


def kind_of(path: tuple[str, ...], names: frozenset[str]) -> str:
    """What ``path`` is about; a sheet's own ``with``/``data`` names come first."""
    if ".".join(path) in names:
        return NAME
    return _KINDS.get(path[0], NAME)


def plain(value: object) -> object:
    """A JSON value as the language sees it: lists as tuples, None as MISSING."""
    if value is None:
        return MISSING
    if type(value) is list:
        return tuple(plain(item) for item in value)
    return value


def _custom(fields: Mapping[str, Any], name: str) -> object:
    return plain(fields.get(name))


_ADDRESS_FIELDS = {
    "Street": "street",
    "City": "city",
    "ZipCode": "zip_code",
    "CountryID": "country_id",
    "Latitude": "latitude",
    "Longitude": "longitude",
    "IsPickupPoint": "is_pickup_point",
}
_UNIT_FIELDS = {"ID": "id", "Name": "name", "BackendID": "backend_id", "Type": "type"}


def _address(address: Address, name: str) -> object:
    attribute = _ADDRESS_FIELDS.get(name)
    value = getattr(address, attribute) if attribute else None
    return MISSING if value is None else value


def _unit(unit: OrganizationUnit | None, name: str) -> object:
    attribute = _UNIT_FIELDS.get(name)
    if unit is None or attribute is None:
        return MISSING
    value = getattr(unit, attribute)
    return MISSING if value is None else value


def _or_missing(value: object) -> object:
    return MISSING if value is None else value


# Supplier.X: one small function per name, chosen once per path (``supplier_getter``).
_SUPPLIER_NAMES: dict[str, Callable[[World, OrganizationUnit], object]] = {
    "ID": lambda world, unit: unit.id,
    "Name": lambda world, unit: unit.name,
    "BackendID": lambda world, unit: _or_missing(unit.backend_id),
    "Type": lambda world, unit: unit.type,
    "Status": lambda world, unit: unit.status,
    "CountryID": lambda world, unit: _or_missing(unit.country_id),
    "ActiveShipFromStoreTasks": lambda world, unit: world.active_tasks(unit),
    "SetNames": lambda world, unit: unit.set_names,
    "DistanceToShippingAddressInKm": lambda world, unit: _or_missing(
        distance_between(world.points[unit.id], world.shipping_point)
    ),
    "DistanceToBillingAddressInKm": lambda world, unit: _or_missing(
        distance_between(world.points[unit.id], world.billing_point)
    ),
}
_LOCAL_TIME: dict[str, Callable[[datetime], object]] = {
    "DayOfWeek": lambda local: DAYS[local.weekday()],
    "Hour": lambda local: local.hour,
    "Minute": lambda local: local.minute,
}
_ROUTE: dict[str, Callable[[Route], object]] = {
    "DistanceText": lambda route: route.distance_text,
    "TimeText": lambda route: route.time_text,
    "TimeInMinutes": lambda route: route.time_minutes,
    "DistanceInKm": lambda route: route.distance_km,
}


def _missing(world: World, unit: OrganizationUnit) -> object:
    return MISSING


@functools.lru_cache(maxsize=4096)
def supplier_getter(path: tuple[str, ...]) -> Callable[[World, OrganizationUnit], object]:
    """How to get ``Supplier.*`` at ``path`` for an OU: chosen once per path."""
    if len(path) == 2:
        return _SUPPLIER_NAMES.get(path[1], _missing)
    if len(path) != 3:
        return _missing
    group, name = path[1], path[2]
    if group == "Address":
        return lambda world, unit: _address(unit.address, name)
    if group == "CustomFields":
        return lambda world, unit: _custom(unit.custom_fields, name)
    if group == "LocalTime" and name in _LOCAL_TIME:
        part = _LOCAL_TIME[name]

        def local(world: World, unit: OrganizationUnit) -> object:
            moment = world.local_time(unit)
            return MISSING if moment is None else part(moment)

        return local
    if group == "RouteToShippingAddressByBike" and name in _ROUTE:
        field = _ROUTE[name]

        def route(world: World, unit: OrganizationUnit) -> object:
            found = world.route(unit)
            return MISSING if found is None else field(found)

        return route
    return _missing


# OU IDs grouped by their value at one path: a key per value -> (the value, the IDs).
Partition = dict[object, tuple[object, set[int]]]


def same(value: object) -> object:
    """A key under which only the same values meet.

    Equal is not the same here: True == 1 and Decimal('1.0') == 1, but a sheet
    tells them apart (and prints them differently).
    """
    kind = type(value)
    if kind is str or kind is int:
        return value
    if kind is tuple and all(type(item) is str for item in value):  # type: ignore[attr-defined]
        return value  # a list of texts (``SetNames``): equal only to the same texts
    return (kind, repr(value))


def group_units(
    world: World, units: Iterable[OrganizationUnit], path: tuple[str, ...]
) -> Partition:
    """``units`` by their value at a ``Supplier.*`` path."""
    getter = supplier_getter(path)
    groups: Partition = {}
    for unit in units:
        value = getter(world, unit)
        key = value if type(value) is str else same(value)
        entry = groups.get(key)
        if entry is None:
            entry = groups[key] = (value, set())
        entry[1].add(unit.id)
    return groups


# The key under which the network keeps its OUs grouped by time zone.
_TIME_ZONE = ("Supplier", "#TimeZone")


def _by_time_zone(units: Iterable[OrganizationUnit]) -> Partition:
    """OU IDs by time zone, in the order OUs first have it: (the first's ID, all IDs)."""
    zones: Partition = {}
    for unit in units:
        entry = zones.get(unit.time_zone)
        if entry is None:
            zones[unit.time_zone] = (unit.id, {unit.id})
        else:
            entry[1].add(unit.id)
    return zones


# A whitelist of candidates under one in this many OUs is sorted into the network's
# order rather than filtered from every OU: a run given the OUs with stock (a few
# dozen of 10,000) then pays for those only. The same dictionary either way.
FEW_CANDIDATES = 8


class World:
    """One run's scenario, indexed, with the values every sheet shares cached."""

    def __init__(self, scenario: Scenario, route_provider: RouteProvider | None) -> None:
        self.scenario = scenario
        self.order = scenario.order
        self.at: datetime = scenario.at
        # Indexes and OU-only values shared with other routes over the same network.
        network = self.network = network_of(scenario)
        self.units: dict[int, OrganizationUnit] = network.units
        self.points: dict[int, tuple[float, float] | None] = network.points
        allowed = scenario.candidate_units
        # The OUs the sheets consider: all of them, or a whitelist (a preview's, or a
        # run's OUs with stock), in the network's order either way.
        self.candidates: dict[int, OrganizationUnit]
        if allowed is None:
            self.candidates = self.units
        elif len(allowed) * FEW_CANDIDATES < len(self.units):  # sorted, not filtered from all
            units = self.units
            position = network.positions()
            self.candidates = {
                unit_id: units[unit_id]
                for unit_id in sorted(
                    (unit_id for unit_id in allowed if unit_id in units),
                    key=position.__getitem__,
                )
            }
        else:
            self.candidates = {
                unit_id: unit for unit_id, unit in self.units.items() if unit_id in allowed
            }
        self.products: dict[int, Product] = network.products
        self.stock = scenario.stock
        self._active_tasks = scenario.active_tasks
        self.route_provider: RouteProvider = route_provider or EstimatedBikeRoute()
        self._supplier_cache: dict[tuple[int, tuple[str, ...]], object] = {}
        self._varied: dict[tuple[str, ...], bool] = {}
        self._order_cache: dict[tuple[str, ...], object] = {}
        self._partitions: dict[tuple[str, ...], Partition] = {}
        self.shipping_point: tuple[float, float] | None = point(self.order.shipping_address)
        self.billing_point: tuple[float, float] | None = point(self.order.billing_address)
        self._local: dict[str, datetime | None] = {}
        self._routes: dict[int, Route | None] = {}
        self.attempts = 0
        self.has_history = bool(scenario.fulfillment_history)
        self.totals = self._order_totals()

    def _order_totals(self) -> dict[str, Decimal]:
        lines = self.order.lines
        totals = {
            "TotalAmount": Decimal(0),
            "TotalAmountInTax": Decimal(0),
            "NetTotalAmount": Decimal(0),
            "NetTotalAmountInTax": Decimal(0),
        }
        for line in lines:  # the sums of the lines' own (see OrderLine)
            for name, amount in (
                ("TotalAmount", line.total_amount),
                ("TotalAmountInTax", line.total_amount_in_tax),
                ("NetTotalAmount", line.net_total_amount),
                ("NetTotalAmountInTax", line.net_total_amount_in_tax),
            ):
                totals[name] = AMOUNTS.add(totals[name], amount)
        return totals

    # --- the order ---------------------------------------------------------------

    def order_value(self, path: tuple[str, ...]) -> object:
        """An order-level value (cached: it is the same for every sheet)."""
        try:
            return self._order_cache[path]
        except KeyError:
            value = self._order_cache[path] = self._order_value(path)
            return value

    def _order_value(self, path: tuple[str, ...]) -> object:
        order = self.order
        head = path[0]
        if head == "CurrentFulfillmentAttempts":
            return self.attempts
        if head == "HasExistingFulfillmentLines":
            return self.has_history
        if len(path) < 2:
            return MISSING
        name = path[1]
        if name == "ID":
            return order.id
        if name == "Intent":
            return order.intent
        if name in self.totals and len(path) == 2:
            return self.totals[name]
        if name == "ShippingAddress" and len(path) == 3:
            return _address(order.shipping_address, path[2])
        if name == "BillingAddress" and len(path) == 3:
            return _address(order.billing_address, path[2])
        if name == "SoldFromOrganizationUnit" and len(path) == 3:
            sold_from = order.sold_from_organization_unit
            return _unit(self.units.get(sold_from) if sold_from else None, path[2])
        if name == "CustomFields" and len(path) == 3:
            return _custom(order.custom_fields, path[2])
        return MISSING

    # --- a supplier --------------------------------------------------------------

    def resolver(self, unit: OrganizationUnit) -> Callable[[tuple[str, ...]], object]:
        """Computes ``Supplier.*`` values of ``unit`` on first read (for ``Values``)."""

        def resolve(path: tuple[str, ...]) -> object:
            if path[0] == "Supplier":
                return self.supplier_value(unit, path)
            return MISSING

        return resolve

    def supplier_value(self, unit: OrganizationUnit, path: tuple[str, ...]) -> object:
        """A value of ``Supplier.*`` for ``unit`` (cached per OU: sheets share it; a
        value of the OU alone is cached with the network, for later routes too)."""
        key = (unit.id, path)
        cache = self._supplier_cache
        if key in cache:
            return cache[key]
        if is_static(path):
            shared = self.network.values
            if key in shared:
                value = cache[key] = shared[key]
                return value
            value = cache[key] = shared[key] = supplier_getter(path)(self, unit)
            return value
        value = cache[key] = supplier_getter(path)(self, unit)
        return value

    def active_tasks(self, unit: OrganizationUnit) -> int:
        """The OU's open ship-from-store tasks: the scenario's count, else the OU's own."""
        counts = self._active_tasks
        if counts is None:
            return unit.active_ship_from_store_tasks
        return counts.get(unit.id, 0)

    def varied(self, path: tuple[str, ...]) -> bool:
        """Whether OUs nearly all differ at a ``Supplier.*`` path (a name, an ID): told
        from the first 200 OUs, so that no partition is built to find out."""
        varied = self.network.varied if is_static(path) else self._varied
        found = varied.get(path)
        if found is None:
            sample = list(itertools.islice(self.units.values(), 200))
            getter = supplier_getter(path)
            distinct = {same(getter(self, unit)) for unit in sample}
            found = varied[path] = len(distinct) > max(16, len(sample) // 2)
        return found

    def partition(self, path: tuple[str, ...]) -> Partition:
        """All OUs grouped by their value at a ``Supplier.*`` path (built once per path)."""
        try:
            return self._partitions[path]
        except KeyError:
            pass
        if is_static(path):
            found = self.network.partition(path, lambda units: group_units(self, units, path))
        elif len(path) == 3 and path[1] == "LocalTime":
            found = self._local_time_partition(path)
        else:
            found = group_units(self, self.units.values(), path)
        self._partitions[path] = found
        return found

    def _local_time_partition(self, path: tuple[str, ...]) -> Partition:
        """``partition`` for ``Supplier.LocalTime.*``: the value depends on the OU's
        time zone alone, so it is read once per time zone (the OUs grouped by time
        zone once per network), not once per OU; values in the order OUs first have them."""
        zones = self.network.partition(_TIME_ZONE, _by_time_zone)
        getter = supplier_getter(path)
        units = self.units
        groups: Partition = {}
        for first, members in zones.values():
            value = getter(self, units[first])  # type: ignore[index]
            key = value if type(value) is str else same(value)
            entry = groups.get(key)
            if entry is None:
                groups[key] = (value, set(members))
            else:
                entry[1].update(members)
        return groups

    def local_time(self, unit: OrganizationUnit) -> datetime | None:
        """The clock in the OU's time zone; None when the moment is past the calendar's
        end there (a time within hours of year 1 or 9999: a sheet reading it meets a
        missing value, an error for that supplier, not a crash)."""
        try:
            return self._local[unit.time_zone]
        except KeyError:
            try:
                local: datetime | None = self.at.astimezone(ZoneInfo(unit.time_zone))
            except OverflowError:
                local = None
            self._local[unit.time_zone] = local
            return local

    def route(self, unit: OrganizationUnit) -> Route | None:
        """The route from the OU to the shipping address (one provider call per OU)."""
        routes = self._routes
        if unit.id not in routes:
            provider = self.route_provider
            if type(provider) is EstimatedBikeRoute:
                # The estimate from the OU's distance, as ``route`` would measure it
                # (the same points), measured once for both names.
                crow = self.supplier_value(unit, _SHIPPING_DISTANCE)
                routes[unit.id] = provider.from_distance(
                    None if crow is MISSING else crow  # type: ignore[arg-type]
                )
            else:
                routes[unit.id] = provider.route(unit.address, self.order.shipping_address)
        return routes[unit.id]

    # --- a line ------------------------------------------------------------------

    def line_value(self, line: OrderLine, path: tuple[str, ...]) -> object:
        """A value of ``OrderLine.*``, ``Product.*`` or ``IsGiftWrapped`` for ``line``."""
        head = path[0]
        if head == "IsGiftWrapped":
            return line.is_gift_wrapped
        if len(path) < 2:
            return MISSING
        name = path[1]
        if head == "Product":
            product = self.products[line.product]
            if name == "Content" and len(path) == 3:
                return _custom(product.content, path[2])
            value: object = {
                "ID": product.id,
                "BackendID": product.backend_id,
                "Name": product.name,
            }.get(name)
            return MISSING if value is None or len(path) != 2 else value
        if name == "CustomFields" and len(path) == 3:
            return _custom(line.custom_fields, path[2])
        if name == "PreferredFulfillmentOrganizationUnit":
            preferred = line.preferred_fulfillment_organization_unit
            unit = self.units.get(preferred) if preferred is not None else None
            if len(path) == 2:
                return MISSING if unit is None else unit.id
            return _unit(unit, path[2]) if len(path) == 3 else MISSING
        if len(path) != 2:
            return MISSING
        value = {
            "ID": line.id,
            "UnitPrice": line.unit_price,
            "UnitPriceInTax": line.unit_price_in_tax,
            "TotalAmount": line.total_amount,
            "TotalAmountInTax": line.total_amount_in_tax,
            "NetTotalAmount": line.net_total_amount,
            "NetTotalAmountInTax": line.net_total_amount_in_tax,
            "DiscountAmount": line.discount_amount,
            "QuantityOrdered": line.quantity,
            "IsGiftWrapped": line.is_gift_wrapped,
        }.get(name)
        return MISSING if value is None else value

    def available(self, unit_id: int, product_id: int, *, replacements: bool) -> int:
        """Available stock of a product at an OU (with its replacements' if asked)."""
        total = self.stock.get((unit_id, product_id), 0)
        if replacements:
            for other in self.products[product_id].replacements:
                total += self.stock.get((unit_id, other), 0)
        return total


def path_key(name: str) -> tuple[str, ...]:
    """The canonical (interned) path of a dotted name, as compiled closures look it up."""
    return canonical_path(tuple(name.split(".")))


_SHIPPING_DISTANCE = path_key("Supplier.DistanceToShippingAddressInKm")
_TOTALS = ("TotalAmount", "TotalAmountInTax", "TotalQuantity", "LineCount")
# Each total under its own name and under ``Shipment.``: the keys, made once.
_TOTAL_KEYS = tuple((path_key(name), path_key("Shipment." + name)) for name in _TOTALS)
_SHIPMENT_COUNT = path_key("ShipmentCount")


def shipment_values(
    lines: list[tuple[OrderLine, int]], *, count: int | None = None
) -> dict[tuple[str, ...], object]:
    """The totals of a shipment (or, with ``count``, of a proposition's shipments)."""
    amount = in_tax = Decimal(0)
    quantity = 0
    for line, q in lines:
        amount += line.unit_price * q
        in_tax += line.unit_price_in_tax * q
        quantity += q
    totals = (amount, in_tax, quantity, len({line.id for line, _q in lines}))
    values: dict[tuple[str, ...], object] = {}
    for (plain, scoped), value in zip(_TOTAL_KEYS, totals, strict=True):
        values[plain] = values[scoped] = value
    if count is not None:
        values[_SHIPMENT_COUNT] = count
    return values
