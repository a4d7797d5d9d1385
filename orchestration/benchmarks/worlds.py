"""Generated worlds: deterministic, realistic scenarios for benchmarks and tests.

``make_scenario(ous=, lines=, sheets=, seed=)`` builds organization units spread
over the Netherlands and Belgium (mostly shops, a quarter warehouses, a few
others), random stock, an order shipping to Amsterdam, and ``make_sheets`` the
sheets modelled on the reference examples (ship from store, warehouse export, an
IBE-like ship from store with task labels, a cancel fallback). The same arguments
always give an equal scenario, so tests may pin what the engine decides for them.

Pure, like the engine it feeds: no Django (``tests/test_layers.py`` keeps it so).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from ..engine.model import (
    Address,
    Order,
    OrderLine,
    OrganizationUnit,
    Product,
    Scenario,
    SheetSource,
)
from ..language.checker import analyze

TIME_ZONE = "Europe/Amsterdam"
AT = datetime(2026, 11, 20, 14, 0, tzinfo=ZoneInfo(TIME_ZONE))  # a Friday afternoon
LATITUDES = (50.8, 53.4)
LONGITUDES = (3.4, 7.1)

# (city, country, latitude, longitude, weight): where shops are, roughly by population.
CITIES: tuple[tuple[str, str, float, float, int], ...] = (
    ("Amsterdam", "NL", 52.3676, 4.9041, 12),
    ("Rotterdam", "NL", 51.9244, 4.4777, 9),
    ("Den Haag", "NL", 52.0705, 4.3007, 8),
    ("Utrecht", "NL", 52.0907, 5.1214, 6),
    ("Eindhoven", "NL", 51.4416, 5.4697, 4),
    ("Groningen", "NL", 53.2194, 6.5665, 4),
    ("Tilburg", "NL", 51.5555, 5.0913, 3),
    ("Almere", "NL", 52.3508, 5.2647, 3),
    ("Breda", "NL", 51.5719, 4.7683, 3),
    ("Nijmegen", "NL", 51.8126, 5.8372, 3),
    ("Haarlem", "NL", 52.3874, 4.6462, 3),
    ("Arnhem", "NL", 51.9851, 5.8987, 3),
    ("Enschede", "NL", 52.2215, 6.8937, 3),
    ("Zwolle", "NL", 52.5168, 6.0830, 2),
    ("Leiden", "NL", 52.1601, 4.4970, 2),
    ("Amersfoort", "NL", 52.1561, 5.3878, 2),
    ("Delft", "NL", 52.0116, 4.3571, 2),
    ("Maastricht", "NL", 50.8514, 5.6910, 2),
    ("Leeuwarden", "NL", 53.2012, 5.7999, 2),
    ("Lelystad", "NL", 52.5185, 5.4714, 1),
    ("Venlo", "NL", 51.3704, 6.1724, 1),
    ("Antwerpen", "BE", 51.2194, 4.4025, 6),
    ("Gent", "BE", 51.0543, 3.7174, 4),
    ("Brussel", "BE", 50.8503, 4.3517, 6),
    ("Leuven", "BE", 50.8798, 4.7005, 2),
    ("Mechelen", "BE", 51.0259, 4.4776, 2),
    ("Hasselt", "BE", 50.9307, 5.3325, 2),
    ("Sint-Niklaas", "BE", 51.1651, 4.1437, 1),
    ("Turnhout", "BE", 51.3227, 4.9447, 1),
)
# Where warehouses are: the logistics hubs.
HUBS: tuple[tuple[str, str, float, float, int], ...] = (
    ("Lelystad", "NL", 52.5185, 5.4714, 3),
    ("Venlo", "NL", 51.3704, 6.1724, 3),
    ("Tilburg", "NL", 51.5555, 5.0913, 2),
    ("Waalwijk", "NL", 51.6826, 5.0707, 2),
    ("Eindhoven", "NL", 51.4416, 5.4697, 1),
    ("Zwolle", "NL", 52.5168, 6.0830, 1),
    ("Rotterdam", "NL", 51.9244, 4.4777, 2),
    ("Antwerpen", "BE", 51.2194, 4.4025, 2),
    ("Gent", "BE", 51.0543, 3.7174, 1),
    ("Genk", "BE", 50.9650, 5.5008, 1),
)
OTHER_TYPES = ("Supplier", "ReturnsPortal", "Company")
BRANDS = ("IBE", "STR", "MRK", "FLX")  # the backend IDs of IBE's shops contain 'IBE'
SHIPPING_ADDRESS = Address(
    street="Damrak 1",
    city="Amsterdam",
    zip_code="1012 LG",
    country_id="NL",
    latitude=Decimal("52.373100"),
    longitude=Decimal("4.892600"),
)
SOLD_FROM_BACKEND_ID = "IBE_Company"


# --- The sheets -------------------------------------------------------------------------


def ship_from_store_sheet(variant: int) -> str:
    """A ship-from-store sheet (the reference's example #1); ``variant`` tunes its numbers."""
    suffix = str(variant + 1) if variant else ""
    radius = (15, 20, 12, 25)[variant % 4]
    start = (7, 8, 9, 6)[variant % 4]
    boost = (100, 90, 110, 95)[variant % 4]
    return f"""\
fulfillment ShipFromStore{suffix}

action 'SHIP_FROM_STORE'

option AllowPartialFulfillment as true

# check supplier requirements
scope Supplier

# First filter out anything that isn't a shop
require [Supplier.Type] = 'Shop'

require [Order.ShippingAddress.IsPickupPoint] = false

# Make sure it's not a closed shop
require [Supplier.Status] <> 'Closed'

# Determine from and to what time (the hour of day) the shop should receive SFS tasks
with [startTime] as {start}
with [endTime] as 22

require [Supplier.LocalTime.Hour] >= [startTime] with reason 'ShopNotOpenYet', \
'Too early for shop to accept orders' but continue

require [Supplier.LocalTime.Hour] < [endTime] with reason 'ShopAlreadyClosed', \
'Too late for shop to accept orders' but continue

# Here we determine the limit for the distance from the shop to the shipping address
with [radiusLimit] as (when [Supplier.Address.City] = 'Amsterdam' then 8
else then {radius})

require [Supplier.DistanceToShippingAddressInKm] < [radiusLimit]

require [Supplier.ActiveShipFromStoreTasks] < 300

data [DeadlineInMinutes] as 600
data PackDeadlineInMinutes as 10
data ShipDeadlineInMinutes as 10

# check orderline requirements
scope OrderLine

# no shops support giftwrapping right now
require [IsGiftWrapped] = false with reason 'ShopDoesNotDoGiftWrapping', \
'Shop does not support giftwrapping' but continue

# Require that the shop has available stock
require [SupplierQuantityAvailable] >= [OrderLine.QuantityOrdered] with reason \
'InsufficientStock', 'Shop does not have enough stock available'

# the collection of lines that we propose the supplier will fulfill
scope Shipment

# the SFS code wants these data variables to exist
data [TravelDistanceText] as [Supplier.RouteToShippingAddressByBike.DistanceText]
data [TravelTimeText] as [Supplier.RouteToShippingAddressByBike.TimeText]
data [TravelTimeInMinutes] as [Supplier.RouteToShippingAddressByBike.TimeInMinutes]
data [TravelDistanceInKm] as [Supplier.RouteToShippingAddressByBike.DistanceInKm]

# we like SFS so it 'wins' from warehouse fulfillment
score add {boost}

# we like it better when a shop is close
score add 1.0 / [Supplier.RouteToShippingAddressByBike.DistanceInKm]

# fanout: more SFS tasks for the same order when it was tried before
scope Fanout

fanout as when [HasExistingFulfillmentLines] then 5 else then 0
"""


def warehouse_sheet(variant: int) -> str:
    """A warehouse EXPORT_ORDER sheet with the reference's country mapping."""
    suffix = str(variant + 1) if variant else ""
    main_hub = ("Lelystad", "Venlo", "Tilburg", "Antwerpen")[variant % 4]
    return f"""\
fulfillment WarehouseFulfillment{suffix}

action 'EXPORT_ORDER'

option AllowPartialFulfillment as true

# a warehouse ships a line whole or not at all
option DisableLineSplitting as true

scope Supplier

require [Supplier.Type] = 'Warehouse'

with [warehouseCountryID] as when [Order.ShippingAddress.CountryID] in 'GB' then 'GB'
else when [Order.ShippingAddress.CountryID] in 'SE', 'NO', 'DK' then 'SE'
else when [Order.ShippingAddress.CountryID] in 'US' then 'US'
else when [Order.ShippingAddress.CountryID] in 'CN', 'HK' then 'HK'
else then 'NL'
end

require [Supplier.CountryID] = [warehouseCountryID]

data [ExporterName] as when [warehouseCountryID] = 'SE' then 'BONVER'
else then 'ARVATO' end

# the main distribution centre ships what it can
score add 10 when [Supplier.Address.City] = '{main_hub}'

scope OrderLine

require [SupplierQuantityAvailable] >= [OrderLine.QuantityOrdered] with reason \
'InsufficientStock', 'Warehouse does not have enough stock available'
"""


def ibe_sheet(variant: int) -> str:
    """An IBE-like ship-from-store sheet (the reference's example #2) with task labels."""
    suffix = str(variant + 1) if variant else ""
    country = ("NL", "BE")[variant % 2]
    return f"""\
# Beginning of the sheet specifically for IBE logic
fulfillment IBE{suffix}

action 'SHIP_FROM_STORE'

option AllowPartialFulfillment as true

scope Order

require [Order.ShippingAddress.CountryID] in 'NL', 'BE'

require [Order.SoldFromOrganizationUnit.BackendID] = '{SOLD_FROM_BACKEND_ID}'

require [CurrentFulfillmentAttempts] < 5
with reason 'MaxTries', $'Tried to allocate order {{[CurrentFulfillmentAttempts]}} times already'

require [Order.TotalAmountInTax] >= 10

scope Supplier

require [Supplier.Type] = 'Shop'
with reason 'NotAShop', $'Supplier {{[Supplier.Name]}} is not a shop'

with [Weekend] as 'Sunday'

data [DeadlineInMinutes] as (when [Supplier.LocalTime.DayOfWeek] in [Weekend] then 2880 \
else then 480)

# only take into account IBE stores
require [Supplier.BackendID] contains 'IBE'

require [Supplier.CountryID] = '{country}'

# we prefer the store that is closest to the shipping address
score add 100 / [Supplier.RouteToShippingAddressByBike.DistanceInKm]

scope OrderLine

with CustomizationType as when [OrderLine.CustomFields.CustomizationType] has value \
then [OrderLine.CustomFields.CustomizationType] else then 'None'

require [Supplier.SetNames] contains 'PrintSuppliers' when CustomizationType = 'Print'
with reason 'NoPrinting', $'Supplier {{[Supplier.Name]}} is not part of the set of OUs \
that print stuff'

require [SupplierQuantityAvailable] >= [OrderLine.QuantityOrdered]
with reason 'NoStock', $'Supplier {{[Supplier.Name]}} only has {{[SupplierQuantityAvailable]}} \
stock available'

# We prefer store fulfilment, so we bump the score of this sheet
score add 20

with RandomplatformLabel as (when Order.CustomFields.Channel = 'WEBSHOP' then 'WEBSHOP' \
else then 'Other Source')
with IsLimitedEdition as (when Product.Content.is_limited_edition = 'true' \
then 'LimitedEdition' else then 'NotLimitedEdition')

data TaskLabels as RandomplatformLabel, 'SFS_task', IsLimitedEdition

data ShipFromStoreTaskPriority as when Order.CustomFields.Channel = 'WEBSHOP' then 1 \
else then -1

scope Shipment

data [TravelDistanceText] as [Supplier.RouteToShippingAddressByBike.DistanceText]
data [TravelTimeText] as [Supplier.RouteToShippingAddressByBike.TimeText]
data [TravelTimeInMinutes] as [Supplier.RouteToShippingAddressByBike.TimeInMinutes]
data [TravelDistanceInKm] as [Supplier.RouteToShippingAddressByBike.DistanceInKm]
"""


def cancel_sheet(variant: int) -> str:
    """The CANCEL fallback; later variants only cancel after a few attempts."""
    suffix = str(variant + 1) if variant else ""
    header = f"""\
# what no other sheet can fulfil is cancelled instead of waiting forever
fulfillment CancelFallback{suffix}

action CANCEL
"""
    if not variant:
        return header
    return header + f"\nscope Order\n\nrequire [CurrentFulfillmentAttempts] >= {variant}\n"


TEMPLATES: tuple[Callable[[int], str], ...] = (
    ship_from_store_sheet,
    warehouse_sheet,
    ibe_sheet,
    cancel_sheet,
)


def make_sheets(count: int) -> tuple[SheetSource, ...]:
    """``count`` sheets cycling through ``TEMPLATES``; every one passes the checker."""
    sheets = []
    for index in range(count):
        template = TEMPLATES[index % len(TEMPLATES)]
        source = template(index // len(TEMPLATES))
        analysis = analyze(source)
        assert analysis.diagnostics == (), (template.__name__, analysis.diagnostics)
        sheets.append(SheetSource(index + 1, analysis.fulfillment or "", source))
    return tuple(sheets)


# --- The world ----------------------------------------------------------------------------


def place(
    rng: random.Random, places: Sequence[tuple[str, str, float, float, int]]
) -> tuple[str, str, Address]:
    """A random address near one of ``places`` (by weight), inside ``LATITUDES``/``LONGITUDES``."""
    city, country, latitude, longitude, _weight = rng.choices(
        places, weights=[entry[4] for entry in places]
    )[0]
    while True:
        lat = round(latitude + rng.gauss(0, 0.05), 6)
        lon = round(longitude + rng.gauss(0, 0.08), 6)
        inside = LATITUDES[0] <= lat <= LATITUDES[1] and LONGITUDES[0] <= lon <= LONGITUDES[1]
        # Never on the customer's doorstep either: sheets divide by the distance.
        if inside and abs(lat - 52.3731) + abs(lon - 4.8926) > 0.002:
            break
    address = Address(
        street=f"{rng.choice(('Kerkstraat', 'Marktplein', 'Stationsweg', 'Dorpsstraat'))} "
        f"{rng.randrange(1, 200)}",
        city=city,
        zip_code=f"{rng.randrange(1000, 9999)}",
        country_id=country,
        latitude=Decimal(f"{lat:.6f}"),
        longitude=Decimal(f"{lon:.6f}"),
    )
    return city, country, address


def make_unit(rng: random.Random, unit_id: int) -> OrganizationUnit:
    """One generated OU with ID ``unit_id``: a shop (70 %), a warehouse at a hub (25 %)
    or another type, placed by ``place``; the same ``rng`` state gives the same OU."""
    roll = rng.random()
    kind = "Shop" if roll < 0.70 else "Warehouse" if roll < 0.95 else rng.choice(OTHER_TYPES)
    city, country, address = place(rng, HUBS if kind == "Warehouse" else CITIES)
    if kind == "Shop":
        brand = rng.choice(BRANDS)
        sets = [f"{country}_Stores"]
        if rng.random() < 0.15:
            sets.append("PrintSuppliers")
        return OrganizationUnit(
            id=unit_id,
            name=f"{brand} {city} {unit_id}",
            backend_id=f"{brand}{unit_id:05d}",
            type=kind,
            status="Closed" if rng.random() < 0.05 else "Open",
            country_id=country,
            time_zone=TIME_ZONE,
            address=address,
            set_names=tuple(sets),
            custom_fields={"PrintingCapable": "PrintSuppliers" in sets},
            active_ship_from_store_tasks=rng.randrange(0, 350),
        )
    return OrganizationUnit(
        id=unit_id,
        name=f"{city} {kind.lower()} {unit_id}",
        backend_id=f"{kind[:3].upper()}{unit_id:05d}",
        type=kind,
        country_id=country,
        time_zone=TIME_ZONE,
        address=address,
    )


def make_scenario(*, ous: int, lines: int, sheets: int, seed: int = 0) -> Scenario:
    """A deterministic world of ``ous`` OUs and an order of ``lines`` lines, ``sheets`` sheets.

    The same arguments always give an equal scenario. OUs are about 70 % shops,
    25 % warehouses and 5 % others, around the cities of the Netherlands and
    Belgium (warehouses at the logistics hubs); the first OU is the company the
    order was sold from. Products: one per line plus a few replacements. Stock is
    0 to 5 per (OU, product), 0 for about 60 %. The order ships to Amsterdam, 1 to
    3 of each product, and partial fulfilment is on by the setting.
    """
    # Benchmark data, not secrets: a seeded PRNG keeps runs comparable.
    rng = random.Random(seed)  # noqa: S311
    units = [make_unit(rng, unit_id) for unit_id in range(2, ous + 1)]
    _city, country, address = place(rng, CITIES)
    company = OrganizationUnit(
        id=1,
        name="IBE Company",
        backend_id=SOLD_FROM_BACKEND_ID,
        type="Company",
        country_id=country,
        time_zone=TIME_ZONE,
        address=address,
    )
    units.insert(0, company)

    extra = max(2, lines // 2)
    products = []
    for product_id in range(1, lines + extra + 1):
        replacements: tuple[int, ...] = ()
        if product_id <= lines and rng.random() < 0.3:
            replacements = (lines + rng.randrange(1, extra + 1),)
        products.append(
            Product(
                id=product_id,
                name=f"Product {product_id}",
                backend_id=f"P{product_id:06d}",
                content={"is_limited_edition": "true" if rng.random() < 0.1 else "false"},
                replacements=replacements,
            )
        )
    stock = {
        (unit.id, product.id): 0 if rng.random() < 0.6 else rng.randrange(1, 6)
        for unit in units
        for product in products
    }

    order_lines = []
    for line_id in range(1, lines + 1):
        price = Decimal(rng.choice((995, 1995, 2995, 4995, 7995, 12995))) / 100
        custom = {"CustomizationType": "Print"} if rng.random() < 0.1 else {}
        order_lines.append(
            OrderLine(
                id=line_id,
                product=line_id,
                quantity=rng.randrange(1, 4),
                unit_price=price,
                unit_price_in_tax=(price * Decimal("1.21")).quantize(Decimal("0.01")),
                is_gift_wrapped=rng.random() < 0.05,
                custom_fields=custom,
            )
        )
    order = Order(
        id=1,
        lines=tuple(order_lines),
        sold_from_organization_unit=company.id,
        shipping_address=SHIPPING_ADDRESS,
        billing_address=SHIPPING_ADDRESS,
        custom_fields={"Channel": "WEBSHOP"},
    )
    return Scenario(
        at=AT,
        order=order,
        organization_units=tuple(units),
        products=tuple(products),
        sheets=make_sheets(sheets),
        stock=stock,
        settings={"Orders:Default:AllowPartialFulfillment": True},
    )
