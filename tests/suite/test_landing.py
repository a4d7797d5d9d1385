"""Each role lands where it works: the start page, the navigation, the 403 page.

Signing in without a ``next`` goes to ``/``, which sends designers to the sheets,
a shop's staff to that shop's task list (the list of shops when they work at
several), the order desk to the orders, and anyone else to their own page. The
navigation shows only what the user may open, and a refusal links to their start.
"""

import re
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from orchestration.models import OrganizationUnit
from orchestration.services.roles import (
    DESIGNERS_GROUP,
    INTEGRATIONS_GROUP,
    STORE_STAFF_GROUP,
    roles_ensure,
)

pytestmark = pytest.mark.django_db
PASSWORD = "secret-pass-123"


def member(name: str, group: str | None, *shops: OrganizationUnit) -> User:
    roles_ensure()
    user = User.objects.create_user(name, password=PASSWORD)
    if group:
        user.groups.add(Group.objects.get(name=group))
    user.organization_units.add(*shops)
    return user


def shop(name: str) -> OrganizationUnit:
    return OrganizationUnit.objects.create(name=name, backend_id=name.lower(), type="Shop")


def landing_after_sign_in(user: User) -> str:
    client = Client()
    signed_in = client.post("/accounts/login/", {"username": user.username, "password": PASSWORD})
    assert signed_in.status_code == 302 and signed_in["Location"] == "/"
    start = client.get("/")
    assert start.status_code == 302
    return str(start["Location"])


def test_store_staff_land_on_their_shops_task_list() -> None:
    kalverstraat = shop("Kalverstraat")
    user = member("kalverstraat", STORE_STAFF_GROUP, kalverstraat)
    assert landing_after_sign_in(user) == f"/orders/stores/{kalverstraat.pk}/tasks/"


def test_staff_of_several_shops_land_on_the_list_of_shops() -> None:
    user = member("floater", STORE_STAFF_GROUP, shop("Haarlem"), shop("Leiden"))
    assert landing_after_sign_in(user) == "/orders/stores/"


@pytest.mark.parametrize(
    ("group", "start"),
    [
        (DESIGNERS_GROUP, "/sheets/"),
        (INTEGRATIONS_GROUP, "/orders/"),
        (None, "/accounts/api-token/"),
    ],
    ids=["designer", "integrations", "no group"],
)
def test_every_other_role_lands_where_it_works(group: str | None, start: str) -> None:
    assert landing_after_sign_in(member("someone", group)) == start


def test_a_sign_in_asked_for_a_page_still_goes_there() -> None:
    user = member("kalverstraat", STORE_STAFF_GROUP, shop("Kalverstraat"))
    signed_in = Client().post(
        "/accounts/login/?next=/orders/",
        {"username": user.username, "password": PASSWORD, "next": "/orders/"},
    )
    assert signed_in["Location"] == "/orders/"


def nav_links(client: Client, path: str) -> list[str]:
    page = client.get(path).content.decode()
    nav = page.split('<nav aria-label="Suite">', 1)[1].split("</nav>", 1)[0]
    return re.findall(r"<a [^>]*>([^<]+)</a>", nav)


def test_the_navigation_shows_only_what_the_user_may_open(designer: Any) -> None:
    kalverstraat = shop("Kalverstraat")
    staff = Client()
    staff.force_login(member("kalverstraat", STORE_STAFF_GROUP, kalverstraat))
    assert nav_links(staff, f"/orders/stores/{kalverstraat.pk}/tasks/") == [
        "Orders",
        "Stores",
        "API docs",
    ]
    desk = Client()
    desk.force_login(designer)
    assert nav_links(desk, "/sheets/")[:5] == ["Sheets", "Preview", "Plans", "Orders", "Stores"]


def test_a_shop_worker_refused_a_designers_page_is_sent_back_to_their_tasks() -> None:
    kalverstraat = shop("Kalverstraat")
    client = Client()
    client.force_login(member("kalverstraat", STORE_STAFF_GROUP, kalverstraat))
    refused = client.get("/sheets/")
    page = refused.content.decode()
    assert refused.status_code == 403
    assert "You need the permission SymphonySheets:View for this." in page
    assert "This page is for the people who design the routing." in page
    assert "Fulfillment designers" not in page
    assert '<a href="/">Go to your start page</a>' in page
    assert client.get("/")["Location"] == f"/orders/stores/{kalverstraat.pk}/tasks/"


def test_a_user_without_a_role_is_told_whom_to_ask() -> None:
    client = Client()
    client.force_login(member("nobody", None))
    page = client.get("/orders/").content.decode()
    assert 'designers are in "Fulfillment designers"' in page
    assert '<a href="/">Go to your start page</a>' in page
    assert client.get("/")["Location"] == "/accounts/api-token/"
