"""Concurrency on PostgreSQL (``.ci/run`` runs these there): many workers racing
for scarce stock never reserve beyond it, and two shops starting the same
fanned-out task at the same moment end with exactly one winner.

SQLite has no row locks and lets one writer in at a time, so racing it proves
nothing; these tests need the database the product runs on in production.
"""

import io
import queue
import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection
from rest_framework.test import APIClient

from orchestration.demo import demo_load
from orchestration.models import (
    FulfillmentStatus,
    Order,
    OrderFulfillment,
    OrderLine,
    OrganizationUnit,
    Product,
    Sheet,
    Stock,
)
from orchestration.services.orchestration import order_orchestrate
from orchestration.services.orders import order_create
from orchestration.services.roles import STORE_STAFF_GROUP
from orchestration.services.sheets import sheet_create, sheet_update

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="row-lock races need PostgreSQL; .ci/run runs them with DATABASE_URL set",
    ),
    pytest.mark.django_db(transaction=True),
]

WAREHOUSES_SHEET = """fulfillment Warehouses
action 'EXPORT_ORDER'

scope Supplier
require [Supplier.Type] = 'Warehouse'
data [ExporterName] as 'WAREHOUSE'

scope OrderLine
require [SupplierQuantityAvailable] >= [OrderLine.QuantityOrdered]
"""


def in_threads(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run ``work(i)`` in ``count`` threads, each with its own connection; return results."""
    results: list[Any] = [None] * count

    def run(index: int) -> None:
        try:
            results[index] = work(index)
        except BaseException as error:
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return results


def test_eight_workers_never_reserve_beyond_stock() -> None:
    product = Product.objects.create(backend_id="SCARCE", name="Scarce")
    for index in range(3):
        unit = OrganizationUnit.objects.create(
            name=f"Warehouse {index}", backend_id=f"wh{index}", type="Warehouse", country_id="NL"
        )
        Stock.objects.create(organization_unit=unit, product=product, quantity_on_hand=5)
    sheet_create(
        fulfillment="Warehouses", name="Warehouses", source=WAREHOUSES_SHEET, is_active=True
    )
    orders = []
    for number in range(45):  # three times the 15 units on hand
        order = Order.objects.create(backend_id=f"RACE-{number}", needs_orchestration=True)
        OrderLine.objects.create(order=order, product=product, quantity=1)
        orders.append(order.pk)
    work: queue.Queue[int] = queue.Queue()
    for order_id in orders:
        work.put(order_id)

    def worker(_: int) -> int:
        done = 0
        while True:
            try:
                order_id = work.get_nowait()
            except queue.Empty:
                return done
            order_orchestrate(order_id=order_id)
            done += 1

    results = in_threads(8, worker)
    assert not [r for r in results if isinstance(r, BaseException)], results
    # Runs that lost the race five times in a row are left for the sweep: run them now.
    for order_id in Order.objects.filter(needs_orchestration=True).values_list("pk", flat=True):
        order_orchestrate(order_id=order_id)

    for stock in Stock.objects.all():
        assert 0 <= stock.quantity_reserved <= stock.quantity_on_hand
    assert sum(Stock.objects.values_list("quantity_reserved", flat=True)) == 15
    assert OrderFulfillment.objects.count() == 15
    assert Order.objects.filter(status="Waiting").count() == 30
    assert sorted(Order.objects.values_list("orchestration_attempts", flat=True)) == [1] * 45


def test_two_shops_starting_at_the_same_moment_one_wins() -> None:
    demo_load(stdout=io.StringIO(), password="demo-pass-123")
    sheet = Sheet.objects.get(fulfillment="ShipFromStore")
    sheet_update(
        sheet=sheet,
        source=sheet.source.replace(
            "fanout as when [HasExistingFulfillmentLines] then 5 else then 0", "fanout as 5"
        ),
    )
    # Deadlines and opening hours follow the real clock here; make the shops open.
    for line in ("ShopNotOpenOnDay", "ShopNotOpenYet", "ShopAlreadyClosed"):
        assert line in sheet.source
    sheet_update(
        sheet=sheet,
        source=Sheet.objects.get(pk=sheet.pk)
        .source.replace("require [Supplier.LocalTime.DayOfWeek] in [openingDays]", "# open")
        .replace("require [Supplier.LocalTime.Hour] >= [startTime]", "# open")
        .replace("require [Supplier.LocalTime.Hour] < [endTime]", "# open"),
    )
    order = order_create(
        lines=[{"product": Product.objects.get(backend_id="HAT-BEANIE-BLK"), "quantity": 1}],
        shipping_city="Delft",
        shipping_latitude=52.0116,
        shipping_longitude=4.3571,
    )
    order_orchestrate(order_id=order.pk)
    copies = list(order.fulfillments.order_by("pk"))
    assert [c.supplier_organization_unit.backend_id for c in copies] == ["1109", "1155"]
    staff = User.objects.create_user(username="shops", password="secret-pass-123")
    staff.groups.add(Group.objects.get(name=STORE_STAFF_GROUP))
    for copy in copies:  # works at both shops, so that only the race decides
        copy.supplier_organization_unit.staff.add(staff)
    barrier = threading.Barrier(2)
    reserved = sum(Stock.objects.values_list("quantity_reserved", flat=True))

    def start(index: int) -> tuple[int, str]:
        api = APIClient()
        api.force_authenticate(staff)
        barrier.wait()
        response = api.post(f"/api/fulfillments/{copies[index].pk}/start/")
        return response.status_code, response.json().get("code", response.json().get("status"))

    results = in_threads(2, start)
    assert sorted(results) == [(200, "InProgress"), (409, "other_store")], results
    statuses = sorted(OrderFulfillment.objects.filter(order=order).values_list("status", flat=True))
    assert statuses == [FulfillmentStatus.DEACTIVATED, FulfillmentStatus.IN_PROGRESS]
    assert OrderFulfillment.objects.filter(order=order, holds_reservation=True).count() == 1
    # The reservation moved to the winner (or stayed): it was never doubled.
    assert sum(Stock.objects.values_list("quantity_reserved", flat=True)) == reserved
