"""Browser tests: the Suite in a real headless Chromium, Debian's, driven by Playwright.

The browser is the system's ``chromium`` (``apt-get install chromium``; ``.ci/run``
installs it), launched through ``executable_path``: ``playwright install`` is
never run. Without it these tests fail and say how to get it, rather than skip.
"""

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission, User

from orchestration.models import Order, OrganizationUnit, Product
from orchestration.services.orders import order_create
from orchestration.services.roles import DESIGNERS_GROUP

# Playwright's sync API runs an event loop in this thread; Django's ORM refuses
# to run inside one unless told (the test database is not shared across threads
# anyway except through the live server).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PASSWORD = "secret-pass-123"


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail(
            "The browser tests need Debian's Chromium: apt-get install chromium "
            "(.ci/run installs it).",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Launch the system Chromium, headless, with flags that suit a container."""
    return {
        **browser_type_launch_args,
        "executable_path": chromium_path(),
        "headless": True,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_context_args, "viewport": {"width": 1400, "height": 900}}


def make_user(username: str, *, groups: tuple[str, ...] = (), perms: tuple[str, ...] = ()) -> User:
    user = User.objects.create_user(username, password=PASSWORD)
    for name in groups:
        user.groups.add(Group.objects.get(name=name))
    if perms:
        user.user_permissions.add(*Permission.objects.filter(codename__in=perms))
    return user


@pytest.fixture
def designer_user(transactional_db: Any) -> User:
    return make_user("designer", groups=(DESIGNERS_GROUP,))


@pytest.fixture
def shop_unit(transactional_db: Any) -> Any:
    """An OU the editor's completions can find by backend ID."""
    from orchestration.models import OrganizationUnit

    return OrganizationUnit.objects.create(name="Urk store", backend_id="urk_store", type="Shop")


@pytest.fixture
def sign_in(live_server: Any, page: Any) -> Callable[[str], Any]:
    """Sign in through the login form as ``username``; returns the page."""

    def go(username: str) -> Any:
        page.goto(f"{live_server.url}/accounts/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state("networkidle")
        return page

    return go


@pytest.fixture
def screenshot(tmp_path: Path) -> Iterator[Callable[[Any, str], None]]:
    """Take a screenshot of the page as ``NAME.png``.

    With ``UPDATE_SCREENSHOTS=1`` it goes to ``docs/screenshots/`` (the README's
    pictures: ``UPDATE_SCREENSHOTS=1 .venv/bin/pytest tests/browser``); otherwise
    to the test's temporary directory, so that a test run leaves the tree clean.
    """
    folder = SCREENSHOTS if os.environ.get("UPDATE_SCREENSHOTS") == "1" else tmp_path
    folder.mkdir(parents=True, exist_ok=True)

    def take(page: Any, name: str) -> None:
        path = folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=False)
        assert path.stat().st_size > 10_000  # a real picture, not a blank page

    yield take


def amsterdam_order(backend_id: str, lines: dict[str, int], **fields: Any) -> Order:
    """A web order to Herengracht, Amsterdam, of ``lines`` (product backend ID ->
    quantity): on the demo retailer, a ship-from-store task at Kalverstraat (1187).
    ``fields``: more of the order's (``custom_fields``)."""
    return order_create(
        backend_id=backend_id,
        sold_from_organization_unit=OrganizationUnit.objects.get(backend_id="webshop_nl"),
        customer_email="sanne.devries@example.com",
        shipping_street="Herengracht 182",
        shipping_zip_code="1016 BR",
        shipping_city="Amsterdam",
        shipping_country_id="NL",
        shipping_latitude=52.3752,
        shipping_longitude=4.8872,
        lines=[
            {"product": Product.objects.get(backend_id=product), "quantity": quantity}
            for product, quantity in lines.items()
        ],
        **fields,
    )
