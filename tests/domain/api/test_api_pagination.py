"""The API's lists paged by number over the first rows and by cursor everywhere
(``orchestration.api.pagination``): every row once, in the list's order, filters kept;
deep page numbers and hand-made cursors refused with the error shape."""

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client

from orchestration.api import pagination
from orchestration.models import Order, OrganizationUnit

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _orders(
    count: int, *, same_moment_every: int = 0, prefix: str = "WEB", **fields: Any
) -> list[Order]:
    """``count`` orders an hour apart (or, every ``same_moment_every``, at one moment)."""
    made = []
    for number in range(count):
        hours = number // same_moment_every if same_moment_every else number
        made.append(
            Order.objects.create(
                backend_id=f"{prefix}-{number}",
                placed_at=START + timedelta(hours=hours),
                **fields,
            )
        )
    return made


def _walk(client: Any, url: str) -> tuple[list[int], list[str]]:
    """The IDs of every page from ``url`` on, following the next links, and the links."""
    ids: list[int] = []
    links = []
    while url:
        body = client.get(url).json()
        assert set(body) == {"next", "previous", "results"}
        ids += [row["id"] for row in body["results"]]
        url = body["next"]
        links.append(url)
    return ids, links


def test_a_list_paged_by_cursor_lists_every_order_once_newest_first(client_for, integrator) -> None:
    orders = _orders(7)
    client = client_for(integrator)
    ids, links = _walk(client, "/api/orders/?cursor=&page_size=3")
    assert ids == [order.pk for order in reversed(orders)]
    assert len(links) == 3 and links[-1] is None


def test_orders_placed_at_one_moment_are_each_listed_once_by_id(client_for, integrator) -> None:
    orders = _orders(9, same_moment_every=3)
    client = client_for(integrator)
    ids, _links = _walk(client, "/api/orders/?cursor=&page_size=2")
    expected = sorted(orders, key=lambda order: (order.placed_at, order.pk), reverse=True)
    assert ids == [order.pk for order in expected]


def test_the_previous_link_gives_back_the_page_before(client_for, integrator) -> None:
    orders = _orders(7)
    client = client_for(integrator)
    first = client.get("/api/orders/?cursor=&page_size=3").json()
    assert first["previous"] is None
    second = client.get(first["next"]).json()
    assert [row["id"] for row in second["results"]] == [o.pk for o in orders[3:0:-1]]
    back = client.get(second["previous"]).json()
    assert back["results"] == first["results"]
    assert back["previous"] is None
    assert back["next"] == first["next"]


def test_a_cursor_keeps_the_filters_and_the_ordering_asked_for(client_for, integrator) -> None:
    waiting = _orders(5, status="Waiting", prefix="W")
    _orders(5, status="Completed", prefix="C")
    client = client_for(integrator)
    ids, _links = _walk(client, "/api/orders/?cursor=&page_size=2&status=Waiting&ordering=id")
    assert ids == [order.pk for order in waiting]


def test_a_page_number_past_the_first_10000_rows_is_refused_naming_cursor(
    client_for, integrator
) -> None:
    client = client_for(integrator)
    assert client.get("/api/orders/?page=200").status_code == 404  # no such page: as before
    for url in ("/api/orders/?page=201", "/api/orders/?page=21&page_size=500"):
        response = client.get(url)
        assert response.status_code == 400
        assert response.json()["errors"] == [
            {
                "code": "invalid",
                "message": "Page numbers reach the first 10,000 rows; page deeper with "
                "?cursor= and the next links.",
                "field": "page",
            }
        ]


def test_the_count_counts_up_to_its_limit_and_says_whether_it_is_exact(
    client_for, integrator, monkeypatch
) -> None:
    _orders(5)
    client = client_for(integrator)
    body = client.get("/api/orders/?page_size=2").json()
    assert (body["count"], body["count_exact"]) == (5, True)
    monkeypatch.setattr(pagination, "MAX_COUNTED", 3)
    body = client.get("/api/orders/?page_size=2").json()
    assert (body["count"], body["count_exact"], len(body["results"])) == (3, False, 2)
    assert body["next"] == "http://testserver/api/orders/?page=2&page_size=2"


def _made(direction: str, values: Any) -> str:
    return direction + base64.urlsafe_b64encode(json.dumps(values).encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "x",  # no direction
        "anot-base64!",
        _made("a", [1]),  # not as many values as the ordering has fields
        _made("a", {"placed_at": 1}),
        _made("b", ["not a date", 1]),
        _made("a", [None, 1]),
        _made("a", ["2026-03-01T12:00:00+00:00", 2**70]),  # past the ID's range
        _made("a", ["2026-03-01T12:00:00+00:00", [1]]),
        "a" + "A" * 1_001,
    ],
)
def test_a_cursor_made_by_hand_is_refused_naming_it(client_for, integrator, cursor) -> None:
    _orders(3)
    response = client_for(integrator).get(f"/api/orders/?cursor={cursor}")
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "code": "invalid_cursor",
            "message": "This cursor is not one of this list's: follow the next and previous "
            "links as given.",
            "field": "cursor",
        }
    ]


def test_a_shops_task_list_is_not_paged_by_cursor(client_for, integrator, shop) -> None:
    unit = OrganizationUnit.objects.get(pk=shop.pk)
    response = client_for(integrator).get(f"/api/organization-units/{unit.pk}/tasks/?cursor=")
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "code": "invalid",
            "message": "This list's order cannot be paged by cursor: page it by number.",
            "field": "cursor",
        }
    ]


def test_the_fulfillment_list_pages_by_cursor_newest_first(client_for, integrator, shop) -> None:
    order = _orders(1)[0]
    made = [
        order.fulfillments.create(action="SHIP_FROM_STORE", supplier_organization_unit=shop)
        for _ in range(5)
    ]
    ids, _links = _walk(client_for(integrator), "/api/fulfillments/?cursor=&page_size=2")
    assert ids == [f.pk for f in sorted(made, key=lambda f: (f.created_at, f.pk), reverse=True)]


def test_the_browsable_api_links_the_next_page_of_a_cursor(integrator) -> None:
    _orders(3)
    client = Client()
    client.force_login(integrator)
    response = client.get("/api/orders/?cursor=&page_size=2", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert "?cursor=a" in response.content.decode()


@pytest.mark.parametrize(
    ("path", "cursor"),
    [
        ("/api/organization-units/", _made("a", ["\u0000", 1])),  # NUL in a name
        ("/api/organization-units/", _made("a", ["\ud800", 1])),  # a lone surrogate
        ("/api/orders/", _made("a", ["0001-01-01T00:00:00", 1])),  # before UTC's year 1
        ("/api/stock/?ordering=quantity_available", _made("a", ["abc", 1])),  # generated
        ("/api/orders/", _made("a", [True, 1])),  # a boolean for a moment
    ],
)
def test_a_cursor_the_database_would_choke_on_is_refused_naming_it(
    client_for, integrator, path, cursor
) -> None:
    _orders(2)
    separator = "&" if "?" in path else "?"
    response = client_for(integrator).get(f"{path}{separator}cursor={cursor}")
    assert response.status_code == 400, response.content
    assert response.json()["errors"][0]["code"] == "invalid_cursor"


def test_a_page_number_in_other_digits_is_an_invalid_page_not_an_error(
    client_for, integrator
) -> None:
    _orders(2)
    response = client_for(integrator).get("/api/orders/?page=%C2%B2")
    assert response.status_code == 404
    assert response.json()["message"] == "Invalid page."


def test_a_list_ordered_by_a_flag_follows_its_next_links(client_for, designer) -> None:
    from orchestration.services.sheets import sheet_create
    from tests.conftest import sheet_text

    for number in range(3):
        sheet_create(
            fulfillment=f"Flag{number}",
            name=f"Flag {number}",
            source=sheet_text(f"Flag{number}"),
            is_active=number != 1,
        )
    ids, links = _walk(client_for(designer), "/api/sheets/?ordering=is_active&page_size=1&cursor=")
    assert len(ids) == 3 == len(set(ids))
    assert links[-1] is None


def test_the_stock_list_pages_by_cursor_in_its_own_order(client_for, integrator) -> None:
    """Stock is ordered by OU and product (foreign keys), and easily passes the 10,000
    rows page numbers reach: its cursor pages by their columns."""
    from orchestration.models import Product, Stock

    units = [OrganizationUnit.objects.create(name=f"U{n}", backend_id=f"U{n}") for n in range(2)]
    products = [Product.objects.create(backend_id=f"P{n}", name=f"P{n}") for n in range(3)]
    for unit in reversed(units):
        for product in reversed(products):
            Stock.objects.create(organization_unit=unit, product=product, quantity_on_hand=1)
    ids, links = _walk(client_for(integrator), "/api/stock/?cursor=&page_size=4")
    assert ids == list(
        Stock.objects.order_by("organization_unit_id", "product_id").values_list("id", flat=True)
    )
    assert len(ids) == 6 and links[-1] is None
