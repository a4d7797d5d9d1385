"""The demo retailer as plain data: a Dutch fashion chain with twelve shops, two
warehouses, a returns portal, a company and a webshop, its products and stock,
its settings, sheets, orders and users.

Nothing here touches the database; ``orchestration.demo.demo_load`` writes it.
Coordinates are the published centre of each city (WGS84, four decimals, about
ten metres), so distances between shops and customers are the real ones.
Customer addresses use street-level coordinates instead: a customer at exactly
a shop's coordinates would be 0 km away, and the ship-from-store sheet divides
by that distance.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ..models import FulfillmentOption, OrderIntent, OrganizationUnitStatus, OrganizationUnitType
from ..services.roles import DESIGNERS_GROUP, STORE_STAFF_GROUP

# When the ship-from-store sheet lets a shop take tasks (its ``[mondayToSaturday]``
# and ``[startTime]``/``[endTime]``): Monday to Saturday (``date.weekday()``), from
# seven to eleven at night, the shop's local time. The demo routes its orders at a
# moment within these hours, so the Kalverstraat shop has work whenever it is loaded.
SHOP_WEEKDAYS = range(6)
SHOP_HOURS = (7, 23)
SHOP_TIME_ZONE = "Europe/Amsterdam"
# The moment taken when the shop is closed at load time: the last evening it was open.
SHOP_LAST_ORDERS = (22, 30)

# Dutch standard VAT: an in-tax price is the ex-tax price times this.
VAT_FACTOR = Decimal("1.21")


@dataclass(frozen=True, slots=True)
class Address:
    """A postal address with its coordinates.

    The attributes are ``orchestration.models.orders.ADDRESS_PARTS``: the loader
    reads them by those names.
    """

    street: str
    zip_code: str
    city: str
    latitude: float
    longitude: float
    country_id: str = "NL"
    is_pickup_point: bool = False


@dataclass(frozen=True, slots=True)
class DemoOrganizationUnitSet:
    """A named group of OUs (``Supplier.SetNames`` in a sheet)."""

    name: str
    description: str


@dataclass(frozen=True, slots=True)
class DemoOrganizationUnit:
    """A shop, warehouse or other OU."""

    backend_id: str
    name: str
    type: str
    address: Address | None
    status: str = OrganizationUnitStatus.OPEN
    custom_fields: Mapping[str, Any] = field(default_factory=dict)
    set_names: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DemoProduct:
    """A product; ``price`` is the shelf price in tax, in euros."""

    backend_id: str
    name: str
    price: Decimal
    content: Mapping[str, Any] = field(default_factory=dict)
    replacements: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DemoSheet:
    """A sheet whose source is ``sheets/<fulfillment>.sheet``."""

    fulfillment: str
    name: str
    is_active: bool


@dataclass(frozen=True, slots=True)
class DemoOrderLine:
    """One line of a demo order; the price is the product's shelf price."""

    product: str
    quantity: int = 1
    discount_amount: Decimal = Decimal(0)
    is_gift_wrapped: bool = False
    preferred_fulfillment_organization_unit: str | None = None
    custom_fields: Mapping[str, Any] = field(default_factory=dict)
    # A return order's line: why it comes back (it takes back the original
    # order's line of the same product).
    return_reason: str = ""


@dataclass(frozen=True, slots=True)
class DemoOrder:
    """A demo order, shipped and billed to ``address``."""

    backend_id: str
    sold_from: str
    customer_email: str
    address: Address
    lines: tuple[DemoOrderLine, ...]
    hours_ago: int
    intent: str = OrderIntent.SALES
    custom_fields: Mapping[str, Any] = field(default_factory=dict)
    original_order: str | None = None
    # The delivery option the customer chose at checkout; "" for none.
    requested_fulfillment_option: str = ""


@dataclass(frozen=True, slots=True)
class DemoStepGroup:
    """A step group of fulfilment plans: its steps (``StepDefinition`` fields), the
    dependencies between them (step, depends on) and the scenarios that choose it
    (action, condition, priority)."""

    key: str
    name: str
    description: str
    steps: tuple[Mapping[str, Any], ...]
    dependencies: tuple[tuple[str, str], ...]
    scenarios: tuple[tuple[str, Mapping[str, Any] | None, int], ...]


def _chain(*keys: str) -> tuple[tuple[str, str], ...]:
    return tuple(zip(keys[1:], keys, strict=False))


def _manual(key: str, name: str, **fields: Any) -> Mapping[str, Any]:
    return {"key": key, "name": name, "type": "MANUAL", "handler": key, **fields}


@dataclass(frozen=True, slots=True)
class DemoUser:
    """A login, created if missing with the username as its password (or ``DEMO_PASSWORD``)."""

    username: str
    email: str
    role: str
    is_superuser: bool = False
    groups: tuple[str, ...] = ()
    works_at: tuple[str, ...] = ()  # backend IDs of the OUs that list them as staff
    is_staff: bool = True  # may sign in to the admin (it shows what their permissions allow)


ORGANIZATION_UNIT_SETS = (
    DemoOrganizationUnitSet(
        "PrintSuppliers", "Shops with a textile printer, for lines with a custom print."
    ),
    DemoOrganizationUnitSet("RandstadShops", "Shops in the Randstad conurbation."),
)

_SHOP = OrganizationUnitType.SHOP
_RANDSTAD = ("RandstadShops",)

ORGANIZATION_UNITS = (
    # The six shops the ship-from-store sheet routes to (its AvailableStores).
    DemoOrganizationUnit(
        "1187",
        "Amsterdam Kalverstraat",
        _SHOP,
        Address("Kalverstraat 92", "1012 PH", "Amsterdam", 52.3676, 4.9041),
        custom_fields={"PrintingCapable": True},
        set_names=("PrintSuppliers", *_RANDSTAD),
    ),
    DemoOrganizationUnit(
        "1026",
        "Utrecht Oudegracht",
        _SHOP,
        Address("Oudegracht 158", "3511 AZ", "Utrecht", 52.0907, 5.1214),
        custom_fields={"PrintingCapable": False},
        set_names=_RANDSTAD,
    ),
    DemoOrganizationUnit(
        "1155",
        "Rotterdam Lijnbaan",
        _SHOP,
        Address("Lijnbaan 112", "3012 ER", "Rotterdam", 51.9244, 4.4777),
        custom_fields={"PrintingCapable": False},
        set_names=_RANDSTAD,
    ),
    DemoOrganizationUnit(
        "1109",
        "Den Haag Grote Marktstraat",
        _SHOP,
        Address("Grote Marktstraat 48", "2511 BJ", "Den Haag", 52.0705, 4.3007),
        custom_fields={"PrintingCapable": False},
        set_names=_RANDSTAD,
    ),
    DemoOrganizationUnit(
        "3001",
        "Haarlem Grote Houtstraat",
        _SHOP,
        Address("Grote Houtstraat 95", "2011 SG", "Haarlem", 52.3874, 4.6462),
        # The ship-from-store sheet lets only this shop take tasks on Sundays.
        custom_fields={"PrintingCapable": False, "SundayOpening": True},
        set_names=_RANDSTAD,
    ),
    DemoOrganizationUnit(
        "1220",
        "Leiden Haarlemmerstraat",
        _SHOP,
        Address("Haarlemmerstraat 140", "2312 GE", "Leiden", 52.1601, 4.4970),
        # Closed, so the sheet's `require [Supplier.Status] <> 'Closed'` has work to do.
        status=OrganizationUnitStatus.CLOSED,
        custom_fields={"PrintingCapable": False, "ClosedReason": "Renovation"},
        set_names=_RANDSTAD,
    ),
    # Shops outside the ship-from-store pilot.
    DemoOrganizationUnit(
        "urk_store",
        "Urk store",
        _SHOP,
        Address("Staatsraad Bakkerstraat 21", "8321 XC", "Urk", 52.6617, 5.6014),
        custom_fields={"PrintingCapable": False},
    ),
    DemoOrganizationUnit(
        "1240",
        "Almere Stadhuisplein",
        _SHOP,
        Address("Stadhuisplein 12", "1315 HR", "Almere", 52.3508, 5.2647),
        custom_fields={"PrintingCapable": False},
    ),
    DemoOrganizationUnit(
        "1310",
        "Amersfoort Langestraat",
        _SHOP,
        Address("Langestraat 52", "3811 AJ", "Amersfoort", 52.1561, 5.3878),
        custom_fields={"PrintingCapable": False},
    ),
    DemoOrganizationUnit(
        "1401",
        "Eindhoven Demer",
        _SHOP,
        Address("Demer 31", "5611 AS", "Eindhoven", 51.4416, 5.4697),
        custom_fields={"PrintingCapable": False},
    ),
    # The franchise shops the (inactive) IBE sheet routes to: backend IDs with "IBE".
    DemoOrganizationUnit(
        "IBE_ZWOLLE",
        "IBE Zwolle Diezerstraat",
        _SHOP,
        Address("Diezerstraat 76", "8011 RK", "Zwolle", 52.5168, 6.0830),
        custom_fields={"PrintingCapable": True},
        set_names=("PrintSuppliers",),
    ),
    DemoOrganizationUnit(
        "IBE_GRONINGEN",
        "IBE Groningen Herestraat",
        _SHOP,
        Address("Herestraat 48", "9711 LL", "Groningen", 53.2194, 6.5665),
        custom_fields={"PrintingCapable": False},
    ),
    DemoOrganizationUnit(
        "lelystad_warehouse",
        "Lelystad warehouse",
        OrganizationUnitType.WAREHOUSE,
        Address("Larserpoortweg 30", "8218 NK", "Lelystad", 52.5185, 5.4714),
    ),
    DemoOrganizationUnit(
        "venlo_warehouse",
        "Venlo warehouse",
        OrganizationUnitType.WAREHOUSE,
        Address("Celsiusweg 20", "5928 PR", "Venlo", 51.3704, 6.1724),
    ),
    # OUs that sell or receive but never ship: return orders are "sold" from
    # the portal, web orders from the webshop, franchise orders from the company.
    DemoOrganizationUnit(
        "returns_portal",
        "Returns portal",
        OrganizationUnitType.RETURNS_PORTAL,
        None,
    ),
    DemoOrganizationUnit(
        "IBE_Company",
        "IBE Company",
        OrganizationUnitType.COMPANY,
        Address("Gustav Mahlerlaan 300", "1082 ME", "Amsterdam", 52.3676, 4.9041),
    ),
    DemoOrganizationUnit(
        "webshop_nl",
        "Webshop NL",
        OrganizationUnitType.WEBSHOP,
        Address("Gustav Mahlerlaan 300", "1082 ME", "Amsterdam", 52.3676, 4.9041),
    ),
)

_LIMITED = {"is_limited_edition": "true"}

PRODUCTS = (
    DemoProduct(
        "SNK-CANVAS-WHT",
        "Canvas sneaker, white",
        Decimal("79.95"),
        {"category": "Shoes", "material": "Canvas"},
    ),
    DemoProduct(
        "SNK-CANVAS-BLK",
        "Canvas sneaker, black",
        Decimal("79.95"),
        {"category": "Shoes", "material": "Canvas"},
    ),
    DemoProduct(
        "BOOT-CHELSEA-24",
        "Chelsea boot, 2024 model",
        Decimal("149.95"),
        {"category": "Shoes", "material": "Leather"},
        # The 2025 model is the same last and leather: it may ship instead.
        replacements=("BOOT-CHELSEA-25",),
    ),
    DemoProduct(
        "BOOT-CHELSEA-25",
        "Chelsea boot, 2025 model",
        Decimal("159.95"),
        {"category": "Shoes", "material": "Leather"},
    ),
    DemoProduct(
        "SWT-MERINO-NAVY",
        "Merino crew-neck sweater, navy",
        Decimal("89.95"),
        {"category": "Sweaters", "material": "Merino wool"},
    ),
    DemoProduct(
        "SWT-CABLE-CRM",
        "Cable-knit sweater, cream",
        Decimal("119.95"),
        {"category": "Sweaters", "material": "Wool", **_LIMITED},
    ),
    DemoProduct(
        "SWT-HOODIE-GRY",
        "Hooded sweater, grey",
        Decimal("69.95"),
        {"category": "Sweaters", "material": "Cotton"},
    ),
    DemoProduct(
        "SCF-WOOL-RED",
        "Wool scarf, red",
        Decimal("39.95"),
        {"category": "Scarves", "material": "Wool"},
    ),
    DemoProduct(
        "SCF-SILK-LTD",
        "Silk scarf, limited edition",
        Decimal("99.95"),
        {"category": "Scarves", "material": "Silk", **_LIMITED},
    ),
    DemoProduct(
        "JKT-RAIN-OLV",
        "Rain jacket, olive",
        Decimal("129.95"),
        {"category": "Jackets", "material": "Recycled polyester"},
    ),
    DemoProduct(
        "TSH-PRINT-WHT",
        "T-shirt with your own print, white",
        Decimal("34.95"),
        {"category": "T-shirts", "material": "Cotton", "customizable": "true"},
    ),
    DemoProduct(
        "HAT-BEANIE-BLK",
        "Beanie, black",
        Decimal("24.95"),
        {"category": "Accessories", "material": "Wool"},
    ),
    # The ship-from-store sheet refuses this backend ID: shops do not sell gift cards.
    DemoProduct("TU410980", "Gift card, 50 euros", Decimal("50.00"), {"category": "Gift cards"}),
)

# On-hand stock: one row per product, one column per OU of STOCK_COLUMNS.
# None (written `_` to keep the table narrow): the OU does not carry the
# product, so it gets no stock row at all; 0: it does, but has none left.
STOCK_COLUMNS = (
    "1187",
    "1026",
    "1155",
    "1109",
    "3001",
    "1220",
    "urk_store",
    "1240",
    "1310",
    "1401",
    "IBE_ZWOLLE",
    "IBE_GRONINGEN",
    "lelystad_warehouse",
    "venlo_warehouse",
)
_: None = None
STOCK: dict[str, tuple[int | None, ...]] = {
    "SNK-CANVAS-WHT": (6, 3, 4, 0, 2, 5, 2, 1, 2, 3, 2, 1, 120, 60),
    "SNK-CANVAS-BLK": (4, 0, 3, 2, 1, 2, 1, 0, 1, 2, 0, 3, 95, 40),
    "BOOT-CHELSEA-24": (1, 0, 0, 1, 0, 0, 0, _, _, 0, 1, 0, 8, 0),
    "BOOT-CHELSEA-25": (3, 2, 2, 1, 2, 1, 0, 1, 1, 2, 1, 1, 45, 30),
    "SWT-MERINO-NAVY": (5, 4, 3, 3, 2, 2, 1, 2, 1, 3, 2, 2, 80, 35),
    "SWT-CABLE-CRM": (2, 1, 0, 1, 1, 0, _, _, _, _, 1, _, 12, 0),
    "SWT-HOODIE-GRY": (7, 5, 6, 4, 3, 2, 2, 4, 3, 5, 3, 2, 150, 90),
    "SCF-WOOL-RED": (8, 6, 5, 0, 4, 3, 2, 2, 2, 4, 3, 3, 200, 100),
    "SCF-SILK-LTD": (2, _, 1, _, 1, _, _, _, _, _, _, _, 6, 0),
    "JKT-RAIN-OLV": (3, 2, 0, 2, 1, 1, 4, 1, 0, 2, 1, 2, 60, 25),
    # Blank shirts only where they can be printed, and at the warehouse.
    "TSH-PRINT-WHT": (10, _, _, _, _, _, _, _, _, _, 12, 6, 300, 0),
    "HAT-BEANIE-BLK": (9, 7, 6, 5, 4, 3, 3, 3, 2, 5, 4, 3, 250, 120),
    "TU410980": (_, _, _, _, _, _, _, _, _, _, _, _, 500, 0),
}
del _

SETTINGS: dict[str, Any] = {
    # Without it the returns sheet would never see the demo's return order.
    "UseOrderOrchestrationForReturnOrders": True,
}

SHEETS = (
    DemoSheet("ShipFromStore", "Ship from store", is_active=True),
    DemoSheet("WarehouseFulfillment", "Warehouse fulfillment", is_active=True),
    DemoSheet("ReturnOrdersFromReturnPortal", "Returns from the returns portal", is_active=True),
    # Inactive: a showcase of options, reasons and task labels, switched on by hand.
    DemoSheet("IBE", "IBE franchise ship from store", is_active=False),
    DemoSheet("CancelFallback", "Cancel what nothing can fulfil", is_active=True),
)

_AMSTERDAM_CUSTOMER = Address("Herengracht 182", "1016 BR", "Amsterdam", 52.3752, 4.8872)

ORDERS = (
    DemoOrder(
        "DEMO-1001",
        sold_from="webshop_nl",
        customer_email="sanne.devries@example.com",
        address=_AMSTERDAM_CUSTOMER,
        custom_fields={"Channel": "WEBSHOP"},
        # Kalverstraat does same-day delivery (the ship-from-store sheet's FulfillmentOptions).
        requested_fulfillment_option=FulfillmentOption.SAME_DAY_DELIVERY,
        lines=(DemoOrderLine("SNK-CANVAS-WHT"), DemoOrderLine("SCF-WOOL-RED")),
        hours_ago=30,
    ),
    DemoOrder(
        "DEMO-1002",
        sold_from="webshop_nl",
        customer_email="daan.bakker@example.com",
        address=Address("Biltstraat 120", "3572 BJ", "Utrecht", 52.0946, 5.1336),
        # No shop gift-wraps: the ship-from-store sheet turns this line down.
        lines=(
            DemoOrderLine("SWT-MERINO-NAVY", is_gift_wrapped=True),
            DemoOrderLine("HAT-BEANIE-BLK"),
        ),
        hours_ago=8,
    ),
    DemoOrder(
        "DEMO-1003",
        sold_from="webshop_nl",
        customer_email="emma.jansen@example.com",
        address=Address("Kleverparkweg 30", "2023 CD", "Haarlem", 52.3938, 4.6404),
        custom_fields={"Channel": "Popup"},
        lines=(
            # The customer asked for the Haarlem shop, around the corner.
            DemoOrderLine(
                "SWT-HOODIE-GRY",
                discount_amount=Decimal("-10.00"),
                preferred_fulfillment_organization_unit="3001",
            ),
            DemoOrderLine("SCF-SILK-LTD"),
        ),
        hours_ago=5,
    ),
    DemoOrder(
        "DEMO-1004",
        sold_from="IBE_Company",
        customer_email="lucas.mulder@example.com",
        address=Address("Assendorperstraat 50", "8012 DJ", "Zwolle", 52.5060, 6.0940),
        requested_fulfillment_option=FulfillmentOption.NORMAL_DELIVERY,
        lines=(
            DemoOrderLine(
                "TSH-PRINT-WHT", quantity=2, custom_fields={"CustomizationType": "Print"}
            ),
            DemoOrderLine("HAT-BEANIE-BLK"),
        ),
        hours_ago=3,
    ),
    DemoOrder(
        "DEMO-1005",
        sold_from="webshop_nl",
        customer_email="noah.visser@example.com",
        # A parcel service point: shops do not ship to pickup points.
        address=Address(
            "Coolsingel 40", "3011 AD", "Rotterdam", 51.9225, 4.4792, is_pickup_point=True
        ),
        lines=(DemoOrderLine("TU410980"), DemoOrderLine("JKT-RAIN-OLV")),
        hours_ago=2,
    ),
    DemoOrder(
        "DEMO-1006",
        intent=OrderIntent.RETURNS,
        sold_from="returns_portal",
        original_order="DEMO-1001",
        customer_email="sanne.devries@example.com",
        address=_AMSTERDAM_CUSTOMER,
        lines=(DemoOrderLine("SNK-CANVAS-WHT", return_reason="TooSmall"),),
        hours_ago=1,
    ),
)

# Fulfilment plans (docs/plans.md). The first three give exactly today's lifecycle:
# each step is one of the fulfilment's own actions, so it is done when the shop or
# the warehouse does it, and the plan shows where a fulfilment is. The fourth is a
# richer example for web orders paid by bank transfer.
_PAID = {
    "clauses": [
        {"field": "Order.CustomFields.PaymentStatus", "operator": "=", "value": "Captured"}
    ],
    "logic": "ALL",
}
STEP_GROUPS = (
    DemoStepGroup(
        "ShipFromStore",
        "Ship from store",
        "The shop starts, picks, packs and ships; packing is the point of no return.",
        (
            _manual("start", "Start", estimated_minutes=600, jeopardy_minutes=60),
            _manual("pick", "Pick"),
            _manual("pack", "Pack", point_of_no_return=True),
            _manual("ship", "Ship"),
        ),
        _chain("start", "pick", "pack", "ship"),
        (("SHIP_FROM_STORE", None, 0),),
    ),
    DemoStepGroup(
        "WarehouseExport",
        "Export to the warehouse",
        "The order goes to the warehouse's system; once exported it can no longer change.",
        (
            {
                "key": "export",
                "name": "Export",
                "type": "AUTO_TASK",
                "handler": "export",
                "point_of_no_return": True,
            },
        ),
        (),
        (("EXPORT_ORDER", None, 0),),
    ),
    DemoStepGroup(
        "ReturnExport",
        "Return to the returns warehouse",
        "The return documents go out; the parcel arrives and is received.",
        (
            {
                "key": "export",
                "name": "Send return documents",
                "type": "AUTO_TASK",
                "handler": "export",
            },
            _manual("receive", "Receive the parcel"),
        ),
        _chain("export", "receive"),
        (("EXPORT_RETURN_ORDER", None, 0),),
    ),
    DemoStepGroup(
        "PaidShipFromStore",
        "Ship from store, paid by bank transfer",
        "Waits for the payment, books a carrier, invoices and asks for a review a week "
        "after shipping.",
        (
            {
                "key": "payment",
                "name": "Wait for the payment",
                "type": "PAUSE",
                "resume_condition": _PAID,
            },
            _manual("start", "Start", estimated_minutes=600, jeopardy_minutes=60),
            _manual("pick", "Pick"),
            _manual("pack", "Pack", point_of_no_return=True),
            {
                "key": "carrier",
                "name": "Book a carrier",
                "type": "CALLOUT",
                # No carrier is connected in the demo: the booking fails, is retried
                # after 1, 5 and 15 minutes, and lands in the carrier desk's fallout
                # queue (FALLOUT_RULES), where it can be completed by hand.
                "url": "http://carrier.invalid/bookings",
                "retry_kind": "STAGGERED",
                "retry_intervals": [1, 5, 15],
            },
            _manual("ship", "Ship"),
            {"key": "invoice", "name": "Invoice", "type": "AUTO_TASK", "handler": "succeed"},
            {
                "key": "review",
                "name": "Ask for a review",
                "type": "AUTO_TASK",
                "handler": "succeed",
                "delay_minutes": 7 * 24 * 60,
            },
        ),
        (*_chain("payment", "start", "pick", "pack", "carrier", "ship", "invoice", "review"),),
        (
            (
                "SHIP_FROM_STORE",
                {
                    "clauses": [
                        {
                            "field": "Order.CustomFields.PaymentMethod",
                            "operator": "=",
                            "value": "BankTransfer",
                        }
                    ],
                    "logic": "ALL",
                },
                10,
            ),
        ),
    ),
)

# Where steps that failed for good go (step key, error code, queue); blank: any.
FALLOUT_RULES = (("carrier", "", "carrier-desk"), ("", "", "operations"))

USERS = (
    DemoUser("admin", "admin@example.com", "superuser", is_superuser=True),
    DemoUser("designer", "designer@example.com", DESIGNERS_GROUP, groups=(DESIGNERS_GROUP,)),
    # Works the ship-from-store tasks of the Kalverstraat shop, and sees no other shop's.
    DemoUser(
        "kalverstraat",
        "kalverstraat@example.com",
        f"{STORE_STAFF_GROUP} at 1187",
        groups=(STORE_STAFF_GROUP,),
        works_at=("1187",),
        is_staff=False,
    ),
)
