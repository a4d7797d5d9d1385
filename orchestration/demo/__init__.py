"""Load the demo retailer (``manage.py demo``): a Dutch fashion chain to click through.

What is loaded is plain data in ``data.py`` plus one ``sheets/<fulfillment>.sheet``
file per sheet (EVA's example sheets, cleaned up). The loader is idempotent:

- OUs and products are matched on backend ID and refreshed from the data; OU
  sets by name; set membership and product replacements are only ever added.
- Stock is upserted to the demo quantities (never below what is reserved).
- Sheets are matched on their ``fulfillment`` identifier; an existing sheet gets
  a new revision only when its file changed, and keeps its name and whether it
  is active, which a designer may have changed on purpose.
- Orders are matched on backend ID; an existing one is left as it is, since
  orchestration may have moved it on. New ones are placed and routed as at a
  moment the shops take ship-from-store tasks (``routing_moment``): now, or when
  the demo is loaded at night or on a Sunday, the last evening they did, so that
  the Kalverstraat shop has tasks to work whatever the clock. The demo routes
  them itself once its transaction has committed, through the same
  ``order_orchestrate`` as every order (so, as for every order, nothing is
  routed before the orders are there to see; should it be stopped before, the
  orders stay flagged and the sweep routes them at its own time).
- The users are matched on username. A missing one is created with the demo
  password; an existing one keeps its password and flags (the database may be
  shared), except that the designer is put back into its group. The logins
  printed at the end show a password only where it is the demo password.

The report ends with the Suite's pages at ``base_url`` (``make run`` passes the
address it serves on) and the logins, so a new user can click straight in.

All of it runs in one transaction: a failure leaves nothing half-loaded.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group, User
from django.db import transaction
from django.db.models import Model
from django.urls import reverse
from django.utils import timezone

from .. import moments
from ..language.checker import analyze
from ..models import (
    Order,
    OrganizationUnit,
    OrganizationUnitSet,
    Product,
    Setting,
    Sheet,
    StepGroup,
    Stock,
)
from ..models.orders import ADDRESS_PARTS
from ..services.orchestration import order_orchestrate
from ..services.orders import order_create
from ..services.roles import roles_ensure
from ..services.settings import setting_set
from ..services.sheets import sheet_create, sheet_update
from ..services.step_groups import (
    fallout_rule_set,
    plan_scenario_set,
    step_group_version_save,
)
from ..services.stock import StockLevel, stock_upsert_many
from . import data

SHEETS_DIR = Path(__file__).resolve().parent / "sheets"
# Where ``manage.py runserver`` serves when given no address (``make run``'s default).
DEFAULT_BASE_URL = "http://127.0.0.1:8000"
# The pages the report lists, by URL name: what each role opens first.
SUITE_PAGES = (
    ("Sheets", "sheets:overview"),
    ("Preview", "preview:page"),
    ("Orders", "orders:list"),
    ("Stores", "orders:stores"),
    ("Admin", "admin:index"),
    ("API docs", "api:docs"),
)
COMMENT = "Loaded by manage.py demo"
# The report lists master data first, then what is built on it, then logins.
_REPORT_ORDER = (
    "organization_units",
    "sets",
    "products",
    "stock",
    "settings",
    "sheets",
    "plans",
    "orders",
    "users",
)

# The first statement of a sheet, ``fulfillment NAME``, optionally followed by
# a comment. Keywords are case-insensitive, identifiers are not.
# An OU's address is where the OU is: it has no pickup-point flag.
_OU_ADDRESS_PARTS = tuple(part for part in ADDRESS_PARTS if part != "is_pickup_point")


class Writer(Protocol):
    """Where the report goes: a text stream or a command's ``OutputWrapper``."""

    def write(self, text: str, /) -> Any: ...


@dataclass(slots=True)
class Tally:
    """How many rows of one kind the run created, and how many were already there."""

    label: str
    existing_means: str
    created: int = 0
    existing: int = 0


@dataclass(frozen=True, slots=True)
class Login:
    """A user the demo can be explored as; ``password`` is None if it is not the demo's."""

    username: str
    password: str | None
    role: str


@dataclass(slots=True)
class DemoResult:
    """What ``demo_load`` did, kind by kind, and the logins it found or created."""

    tallies: dict[str, Tally] = field(default_factory=dict)
    sheets_revised: int = 0
    logins: list[Login] = field(default_factory=list)
    # When the new orders were placed and routed, if not at load time: (loaded, routed).
    shifted: tuple[datetime, datetime] | None = None

    def tally(self, key: str, label: str, existing_means: str) -> Tally:
        """The tally of ``key``, started on first use."""
        return self.tallies.setdefault(key, Tally(label, existing_means))


def routing_moment(now: datetime) -> datetime:
    """When the demo's new orders are routed: ``now`` if the shops take ship-from-store
    tasks now (``data.SHOP_WEEKDAYS`` and ``data.SHOP_HOURS``, local time), else
    ``data.SHOP_LAST_ORDERS`` on the last day they did."""
    zone = ZoneInfo(data.SHOP_TIME_ZONE)
    local = now.astimezone(zone)
    start, end = data.SHOP_HOURS
    if local.weekday() in data.SHOP_WEEKDAYS and start <= local.hour < end:
        return now
    day = local.date() if local.hour >= end else local.date() - timedelta(days=1)
    while day.weekday() not in data.SHOP_WEEKDAYS:
        day -= timedelta(days=1)
    hour, minute = data.SHOP_LAST_ORDERS
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)


def moment_text(moment: datetime) -> str:
    """``moment`` as the report says it: "Sunday 6 Dec 2026, 15:00 Europe/Amsterdam"."""
    return moments.moment_text(moment, ZoneInfo(data.SHOP_TIME_ZONE))


def sheet_source(fulfillment: str) -> str:
    """The text of the demo sheet ``fulfillment``, checked to declare that identifier."""
    path = SHEETS_DIR / f"{fulfillment}.sheet"
    source = path.read_text(encoding="utf-8").replace("\r\n", "\n")
    declared = analyze(source).fulfillment
    if declared != fulfillment:
        # The identifier is the sheet's key here and in every fulfilment it
        # made; a renamed file must not silently become a second sheet.
        raise ValueError(f"{path.name} starts with `fulfillment {declared}`, not {fulfillment}.")
    return source


def demo_load(
    *, stdout: Writer, password: str | None = None, base_url: str = DEFAULT_BASE_URL
) -> DemoResult:
    """Load (or refresh) the demo retailer and write a report to ``stdout``.

    ``password`` is given to the users created now; without it each new user's
    password is their username. Existing users keep theirs. The report is
    written only after the transaction has committed, so it never claims rows
    that were rolled back; it lists the Suite's pages under ``base_url``
    (scheme, host and port, no trailing slash).
    """
    result = DemoResult()
    with transaction.atomic():
        # The designer joins this group: make sure it exists with its
        # permissions even where post_migrate has not created it.
        roles_ensure()
        admin = _users_load(result, password=password)
        organization_units = _organization_units_load(result)
        _staff_load(organization_units)
        products = _products_load(result)
        _stock_load(result, organization_units=organization_units, products=products)
        _settings_load(result)
        _sheets_load(result, author=admin)
        _plans_load(result, author=admin)
        _orders_load(result, organization_units=organization_units, products=products, author=admin)
    _report(result, stdout=stdout, base_url=base_url)
    return result


def _users_load(result: DemoResult, *, password: str | None) -> User:
    """Create the missing demo users; return the admin, who authors the demo's rows.

    An existing user keeps its password and flags: DATABASE_URL may point at a
    shared database, where resetting ``admin`` would hand it to anyone who has
    read the demo's defaults. Only group membership is added, never removed.
    """
    tally = result.tally("users", "users", "passwords and flags left as they are")
    user_model = get_user_model()
    superuser = None
    for spec in data.USERS:
        demo_password = password or spec.username
        user, created = user_model.objects.get_or_create(
            username=spec.username,
            defaults={
                "email": spec.email,
                "is_active": True,
                # Staff, so the designer can use the admin too (it shows only
                # what their permissions allow).
                "is_staff": spec.is_staff,
                "is_superuser": spec.is_superuser,
                "password": make_password(demo_password),
            },
        )
        user.groups.add(*Group.objects.filter(name__in=spec.groups))
        tally.created += created
        tally.existing += not created
        superuser = user if spec.is_superuser else superuser
        # check_password may rehash with a newer hasher and save: harmless.
        works = created or user.check_password(demo_password)
        result.logins.append(Login(spec.username, demo_password if works else None, spec.role))
    if superuser is None:
        raise ValueError("data.USERS needs a superuser: the demo's sheets and orders name one.")
    return superuser


def _address_fields(
    model: type[Model], prefix: str, address: data.Address | None, parts: tuple[str, ...]
) -> dict[str, Any]:
    """``address`` as ``model``'s ``<prefix>_<part>`` fields; None empties them.

    ``parts`` are names from ``ADDRESS_PARTS``, which ``data.Address`` mirrors.
    """
    if address is None:
        return {
            # Concrete fields (django-stubs also allows a reverse relation).
            f"{prefix}_{part}": model._meta.get_field(f"{prefix}_{part}").get_default()  # type: ignore[union-attr]
            for part in parts
        }
    return {f"{prefix}_{part}": getattr(address, part) for part in parts}


def _organization_units_load(result: DemoResult) -> dict[str, OrganizationUnit]:
    set_tally = result.tally("sets", "organization unit sets", "refreshed")
    sets = {}
    for set_spec in data.ORGANIZATION_UNIT_SETS:
        unit_set, created = OrganizationUnitSet.objects.update_or_create(
            name=set_spec.name, defaults={"description": set_spec.description}
        )
        set_tally.created += created
        set_tally.existing += not created
        sets[set_spec.name] = unit_set

    tally = result.tally("organization_units", "organization units", "refreshed")
    units = {}
    for spec in data.ORGANIZATION_UNITS:
        unit, created = OrganizationUnit.objects.update_or_create(
            backend_id=spec.backend_id,
            defaults={
                "name": spec.name,
                "type": spec.type,
                "status": spec.status,
                "country_id": "NL",
                "time_zone": data.SHOP_TIME_ZONE,
                "custom_fields": dict(spec.custom_fields),
                **_address_fields(OrganizationUnit, "address", spec.address, _OU_ADDRESS_PARTS),
            },
        )
        # Added, never replaced: sets an OU joined by hand stay.
        unit.sets.add(*(sets[name] for name in spec.set_names))
        tally.created += created
        tally.existing += not created
        units[spec.backend_id] = unit
    return units


def _staff_load(units: Mapping[str, OrganizationUnit]) -> None:
    """The demo users who work at OUs; added, never removed (as the groups)."""
    users = get_user_model().objects.in_bulk(
        [spec.username for spec in data.USERS if spec.works_at], field_name="username"
    )
    for spec in data.USERS:
        for backend_id in spec.works_at:
            units[backend_id].staff.add(users[spec.username])


def _products_load(result: DemoResult) -> dict[str, Product]:
    tally = result.tally("products", "products", "refreshed")
    products = {}
    for spec in data.PRODUCTS:
        product, created = Product.objects.update_or_create(
            backend_id=spec.backend_id,
            defaults={"name": spec.name, "content": dict(spec.content)},
        )
        tally.created += created
        tally.existing += not created
        products[spec.backend_id] = product
    # Replacements point at products that may come later in the list.
    for spec in data.PRODUCTS:
        if spec.replacements:
            products[spec.backend_id].replacements.add(
                *(products[backend_id] for backend_id in spec.replacements)
            )
    return products


def _stock_load(
    result: DemoResult,
    *,
    organization_units: Mapping[str, OrganizationUnit],
    products: Mapping[str, Product],
) -> None:
    tally = result.tally("stock", "stock levels", "reset to the demo quantity")
    reserved = {
        (row.organization_unit_id, row.product_id): row.quantity_reserved
        for row in Stock.objects.filter(
            organization_unit__in=organization_units.values(), product__in=products.values()
        ).only("organization_unit_id", "product_id", "quantity_reserved")
    }
    levels = []
    for backend_id, quantities in data.STOCK.items():
        product = products[backend_id]
        for ou_backend_id, quantity in zip(data.STOCK_COLUMNS, quantities, strict=True):
            if quantity is None:
                continue
            unit = organization_units[ou_backend_id]
            # Orders routed since the last run may hold stock; on hand below
            # that is refused, and one refusal would undo the whole demo.
            on_hand = max(quantity, reserved.get((unit.pk, product.pk), 0))
            levels.append(
                StockLevel(organization_unit=unit.pk, product=product.pk, quantity_on_hand=on_hand)
            )
    counts = stock_upsert_many(levels=levels)
    tally.created += counts["created"]
    tally.existing += counts["updated"]


def _settings_load(result: DemoResult) -> None:
    tally = result.tally("settings", "settings", "set again")
    stored = set(Setting.objects.filter(name__in=data.SETTINGS).values_list("name", flat=True))
    for name, value in data.SETTINGS.items():
        setting_set(name=name, value=value)
        tally.created += name not in stored
        tally.existing += name in stored


def _sheets_load(result: DemoResult, *, author: User) -> None:
    tally = result.tally("sheets", "sheets", "")
    for spec in data.SHEETS:
        source = sheet_source(spec.fulfillment)
        sheet = Sheet.objects.filter(fulfillment=spec.fulfillment).first()
        if sheet is None:
            sheet_create(
                fulfillment=spec.fulfillment,
                name=spec.name,
                source=source,
                is_active=spec.is_active,
                user=author,
                comment=COMMENT,
            )
            tally.created += 1
            continue
        tally.existing += 1
        if sheet.source != source:
            sheet_update(
                sheet=sheet,
                source=source,
                user=author,
                comment=f"{COMMENT}: {spec.fulfillment}.sheet changed",
            )
            result.sheets_revised += 1
    tally.existing_means = f"{result.sheets_revised} updated from their .sheet file"


def _plans_load(result: DemoResult, *, author: User) -> None:
    """The demo's step groups and their scenarios; a group that exists keeps its
    versions (a designer may have changed it on purpose)."""
    tally = result.tally("plans", "step groups", "left as they are")
    for spec in data.STEP_GROUPS:
        if StepGroup.objects.filter(key=spec.key).exists():
            tally.existing += 1
            continue
        step_group_version_save(
            key=spec.key,
            name=spec.name,
            description=spec.description,
            steps=spec.steps,
            dependencies=[{"step": step, "on": on} for step, on in spec.dependencies],
            comment=COMMENT,
            user=author,
        )
        for action, condition, priority in spec.scenarios:
            plan_scenario_set(
                group_key=spec.key, action=action, condition=condition, priority=priority
            )
        tally.created += 1
    for step_key, error_code, queue in data.FALLOUT_RULES:
        # A rule naming a step or an error goes before the catch-all.
        priority = 10 if step_key or error_code else 0
        fallout_rule_set(step_key=step_key, error_code=error_code, queue=queue, priority=priority)


def _orders_load(
    result: DemoResult,
    *,
    organization_units: Mapping[str, OrganizationUnit],
    products: Mapping[str, Product],
    author: User,
) -> None:
    tally = result.tally("orders", "orders", "left as they are")
    shelf_prices = {product.backend_id: product.price for product in data.PRODUCTS}
    loaded = timezone.now()
    now = routing_moment(loaded)
    created: list[int] = []
    for spec in data.ORDERS:
        if Order.objects.filter(backend_id=spec.backend_id).exists():
            tally.existing += 1
            continue
        original = (
            Order.objects.get(backend_id=spec.original_order) if spec.original_order else None
        )
        lines = [
            {
                "product": products[line.product],
                "quantity": line.quantity,
                "unit_price": _ex_tax(shelf_prices[line.product]),
                "unit_price_in_tax": shelf_prices[line.product],
                "discount_amount": line.discount_amount,
                "is_gift_wrapped": line.is_gift_wrapped,
                "preferred_fulfillment_organization_unit": (
                    organization_units[line.preferred_fulfillment_organization_unit]
                    if line.preferred_fulfillment_organization_unit
                    else None
                ),
                "custom_fields": dict(line.custom_fields),
                "return_reason": line.return_reason,
                "original_line": (
                    original.lines.filter(product=products[line.product]).first()
                    if original
                    else None
                ),
            }
            for line in spec.lines
        ]
        order = order_create(
            lines=lines,
            created_by=author,
            now=now,
            send_task=False,
            backend_id=spec.backend_id,
            intent=spec.intent,
            sold_from_organization_unit=organization_units[spec.sold_from],
            original_order=original,
            customer_email=spec.customer_email,
            custom_fields=dict(spec.custom_fields),
            requested_fulfillment_option=spec.requested_fulfillment_option,
            placed_at=now - timedelta(hours=spec.hours_ago),
            # Billed where it ships to: order_create copies the shipping_*
            # fields to billing_* when none are given.
            **_address_fields(Order, "shipping", spec.address, ADDRESS_PARTS),
        )
        created.append(order.pk)
        tally.created += 1
    transaction.on_commit(lambda: _orders_route(created, now=now))
    if tally.created and now != loaded:
        result.shifted = (loaded, now)


def _orders_route(order_ids: list[int], *, now: datetime) -> None:
    for order_id in order_ids:
        order_orchestrate(order_id=order_id, now=now)


def _ex_tax(price_in_tax: Decimal) -> Decimal:
    # Four decimals, as the model stores them: 79.95 in tax is 66.0744 ex tax.
    return (price_in_tax / data.VAT_FACTOR).quantize(Decimal("0.0001"))


def suite_urls(base_url: str) -> list[tuple[str, str]]:
    """The Suite's pages of ``SUITE_PAGES`` under ``base_url``: (label, URL)."""
    root = base_url.rstrip("/")
    return [(label, root + reverse(name)) for label, name in SUITE_PAGES]


def _report(result: DemoResult, *, stdout: Writer, base_url: str) -> None:
    tallies = sorted(result.tallies.items(), key=lambda item: _REPORT_ORDER.index(item[0]))
    width = max(len(tally.label) for _, tally in tallies)
    lines = ["Demo retailer loaded in one transaction; running it again duplicates nothing."]
    for _, tally in tallies:
        lines.append(
            f"  {tally.label:<{width}}  {tally.created:>3} created, {tally.existing:>3} already "
            f"there ({tally.existing_means})"
        )
    if result.shifted:
        loaded, routed = result.shifted
        lines += [
            "",
            f"The Kalverstraat shop takes no ship-from-store tasks at {moment_text(loaded)}: "
            f"the demo's orders were placed and routed as at {moment_text(routed)}, the last "
            "time it did. Deadlines that have passed since are marked so; a running beat "
            "(`make beat`) expires those tasks and routes their orders again.",
        ]
    lines += [
        "",
        "The suite (started by `make run`, or `python manage.py runserver`):",
    ]
    urls = suite_urls(base_url)
    label_width = max(len(label) for label, _ in urls)
    lines += [f"  {label:<{label_width}}  {url}" for label, url in urls]
    lines.append("Logins (demo passwords, for this machine only):")
    credentials = [
        f"{login.username} / {login.password}"
        if login.password is not None
        else f"{login.username} (existing user; password unchanged)"
        for login in result.logins
    ]
    login_width = max(map(len, credentials))
    for login, credential in zip(result.logins, credentials, strict=True):
        lines.append(f"  {credential:<{login_width}}  {login.role}")
    for line in lines:
        stdout.write(f"{line}\n")
