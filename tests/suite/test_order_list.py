"""The Suite's order list, paged by keyset: newest first, every order once through the
Next and Previous links, the filters kept in the links, no count of every order."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from orchestration.models import Order

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def operations() -> Client:
    user = User.objects.create_user("operations", password="secret-pass-123")
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="orchestration",
            codename__in=("view_order", "work_every_organization_unit"),
        )
    )
    client = Client()
    client.force_login(user)
    return client


def _orders(count: int, status: str = "Completed", prefix: str = "WEB") -> list[Order]:
    return [
        Order.objects.create(
            backend_id=f"{prefix}-{number:03d}",
            status=status,
            placed_at=START + timedelta(minutes=number),
        )
        for number in range(count)
    ]


def _listed(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'data-order-id="(\d+)"', html)]


def _link(html: str, rel: str) -> str | None:
    found = re.search(rf'<a href="([^"]+)" rel="{rel}">', html)
    return found.group(1).replace("&amp;", "&") if found else None


def test_the_pages_list_every_order_once_newest_first_and_back(operations) -> None:
    orders = _orders(120)
    html = operations.get("/orders/").content.decode()
    seen = _listed(html)
    pages = [html]
    assert _link(html, "prev") is None
    while (after := _link(html, "next")) is not None:
        html = operations.get(f"/orders/{after}").content.decode()
        pages.append(html)
        seen += _listed(html)
    assert seen == [order.pk for order in reversed(orders)]
    assert [len(_listed(page)) for page in pages] == [50, 50, 20]
    before = _link(pages[-1], "prev")
    assert before is not None
    assert _listed(operations.get(f"/orders/{before}").content.decode()) == _listed(pages[1])


def test_the_filters_stay_in_the_next_link(operations) -> None:
    waiting = _orders(60, status="Waiting", prefix="W")
    _orders(10, status="Completed", prefix="C")
    html = operations.get("/orders/?status=Waiting&q=W-").content.decode()
    after = _link(html, "next")
    assert after is not None and after.startswith("?status=Waiting&q=W-&after=")
    second = operations.get(f"/orders/{after}").content.decode()
    assert _listed(html) + _listed(second) == [order.pk for order in reversed(waiting)]
    assert _link(second, "next") is None


def test_a_list_on_one_page_says_how_many_orders_and_has_no_pager(operations) -> None:
    _orders(3)
    html = operations.get("/orders/").content.decode()
    assert "3 orders" in html
    assert 'class="pager"' not in html


def test_a_cursor_edited_by_hand_shows_the_list_from_its_start(operations) -> None:
    orders = _orders(3)
    response = operations.get("/orders/?after=not-a-cursor")
    assert response.status_code == 200
    assert _listed(response.content.decode()) == [order.pk for order in reversed(orders)]
