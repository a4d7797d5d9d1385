"""Shared fixtures: users of each role, API clients, and small domain objects."""

import gc
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission, User
from rest_framework.test import APIClient

from orchestration.models import OrganizationUnit, Product, Stock
from orchestration.services.roles import DESIGNERS_GROUP, INTEGRATIONS_GROUP


@pytest.fixture(autouse=True)
def _exports_to_a_temporary_folder(settings: Any, tmp_path: Any) -> None:
    """Exports go to the test's own folder, never into the checkout."""
    settings.ORCHESTRATION_EXPORTERS = {
        name: {
            "class": "orchestration.integrations.exporters.FolderExporter",
            "folder": str(tmp_path / name),
        }
        for name in ("ARVATO", "BONVER", "WAREHOUSE")
    }


@pytest.fixture(autouse=True)
def _nothing_left_frozen() -> Iterator[None]:
    """A worker started in-process (``start_worker``) freezes what the test process has
    loaded out of the garbage collector's reach, as a real worker does
    (``orchestration/celery.py``); the next test starts with nothing frozen."""
    yield
    if gc.get_freeze_count():
        gc.unfreeze()


@pytest.fixture(autouse=True)
def _prepared_statements_as_deployed(settings: Any) -> None:
    """On PostgreSQL the hot statements are prepared, as in production, where connections
    are kept (``DATABASE_CONN_MAX_AGE``), whatever this test run's connection settings
    (a test may turn it off again)."""
    settings.DATABASE_PREPARED_STATEMENTS = True


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    """Hash test passwords with a fast hasher; PBKDF2 costs half a second per user."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _user(username: str, *, groups: tuple[str, ...] = (), perms: tuple[str, ...] = ()) -> User:
    user = User.objects.create_user(username=username, password="secret-pass-123")
    for name in groups:
        user.groups.add(Group.objects.get(name=name))
    if perms:
        user.user_permissions.add(
            *Permission.objects.filter(content_type__app_label="orchestration", codename__in=perms)
        )
    return user


@pytest.fixture
def designer(db: Any) -> User:
    """A member of the built-in "Fulfillment designers" group."""
    return _user("designer", groups=(DESIGNERS_GROUP,))


@pytest.fixture
def integrator(db: Any) -> User:
    """A member of the built-in "Integrations" group."""
    return _user("integrator", groups=(INTEGRATIONS_GROUP,))


@pytest.fixture
def nobody(db: Any) -> User:
    """A logged-in user without any permission."""
    return _user("nobody")


@pytest.fixture
def client_for() -> Callable[[User | None], APIClient]:
    """An API client authenticated as the given user (or anonymous)."""

    def make(user: User | None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return make


@pytest.fixture
def shop(db: Any) -> OrganizationUnit:
    return OrganizationUnit.objects.create(
        name="Urk store",
        backend_id="urk_store",
        type="Shop",
        country_id="NL",
        address_city="Urk",
        address_latitude=52.6617,
        address_longitude=5.6014,
    )


@pytest.fixture
def warehouse(db: Any) -> OrganizationUnit:
    return OrganizationUnit.objects.create(
        name="Lelystad warehouse",
        backend_id="lelystad_warehouse",
        type="Warehouse",
        country_id="NL",
        address_city="Lelystad",
        address_latitude=52.5185,
        address_longitude=5.4714,
    )


@pytest.fixture
def shoe(db: Any) -> Product:
    return Product.objects.create(backend_id="SHOE", name="Shoes")


@pytest.fixture
def stock_of() -> Callable[..., Stock]:
    """Make a stock row: ``stock_of(ou, product, on_hand, reserved=0)``."""

    def make(ou: OrganizationUnit, product: Product, on_hand: int, reserved: int = 0) -> Stock:
        return Stock.objects.create(
            organization_unit=ou,
            product=product,
            quantity_on_hand=on_hand,
            quantity_reserved=reserved,
        )

    return make


def sheet_text(fulfillment: str) -> str:
    """The smallest valid sheet: an identifier and the CANCEL action (it needs no data)."""
    return f"fulfillment {fulfillment}\naction CANCEL\n"


def table_counts() -> dict[str, int]:
    """Rows in every table of the domain app."""
    from django.apps import apps

    return {
        model._meta.label: model.objects.count()
        for model in apps.get_app_config("orchestration").get_models()
    }


def table_rows() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of the domain app (and users): a refusal must change none.

    Whole rows, not counts, so an UPDATE that slipped through is caught too.
    """
    from django.apps import apps

    models = [*apps.get_app_config("orchestration").get_models(), User, Group]
    return {model._meta.label: list(model.objects.order_by("pk").values_list()) for model in models}


def demo_orders_placed_before(at: Any) -> None:
    """Move every order to a minute apart before ``at`` (newest first by ID), so that what
    routes them does not depend on when the tests run."""
    import datetime

    from orchestration.models import Order

    for minutes, order in enumerate(Order.objects.order_by("id")):
        order.placed_at = at - datetime.timedelta(minutes=minutes)
        order.save(update_fields=["placed_at"])


def orders_shipped_from_store() -> list[str]:
    """The orders (newest first) that the active sheets ship, at least partly, from a store
    at their own order time on a clean slate, as a backtest routes them."""
    from orchestration.models import Order
    from orchestration.selectors import previews

    found = []
    for order in Order.objects.order_by("-placed_at", "-id"):
        blob = previews.order_decision(order, at=order.placed_at, respect_history=False).blob
        actions = {s["FulfillmentAction"] for s in blob["Fulfillments"][0]["Shipments"]}
        if "SHIP_FROM_STORE" in actions:
            found.append(order.backend_id)
    return found


def divides_by_zero_at(source: str, unit_id: int) -> tuple[str, str]:
    """``source`` (a sheet with an OrderLine scope) with a score that divides by zero
    for the OU ``unit_id`` alone, and that statement's text: an evaluation error for
    one supplier (issue 19)."""
    statement = f"score add 1 / ([Supplier.ID] - {unit_id})"
    failing = source.replace("scope OrderLine\n", f"scope OrderLine\n{statement}\n", 1)
    assert failing != source, "the sheet has no OrderLine scope"
    return failing, statement
