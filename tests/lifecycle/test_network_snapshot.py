"""The network snapshot a process keeps between orders (``orchestration.selectors.network``).

Orders are routed against a snapshot of the OUs, products, sheets and settings
that is read again only when the network's token changes. These tests change
each part of the network the way users do (admin, API, services all save rows)
and check that the next order sees the change; that an unchanged network is not
read again; and that a run stores its order with the statements it needs and no
more (the persist benchmark's figure, docs/performance.md).
"""

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from orchestration.models import (
    FulfillmentAction,
    NetworkVersion,
    Order,
    OrganizationUnitSet,
    Product,
    Setting,
    Sheet,
)
from orchestration.selectors.network import (
    network_changed,
    network_forget,
    network_snapshot,
    network_token,
    snapshot_reads_active_tasks,
)
from orchestration.services.orders import order_create
from orchestration.services.sheets import sheet_create, sheet_update

from .conftest import unit


def winner(order: Order) -> str:
    (fulfillment,) = order.fulfillments.exclude(action=FulfillmentAction.CANCEL).select_related(
        "supplier_organization_unit"
    )
    return fulfillment.supplier_organization_unit.backend_id


def token() -> str:
    return NetworkVersion.objects.get(pk=1).token


@pytest.mark.django_db
def test_every_change_routing_reads_gives_the_network_a_new_token(demo: None) -> None:
    seen = {token()}

    def changed() -> None:
        now = token()
        assert now not in seen
        seen.add(now)

    shop = unit("1187")
    shop.name = "Amsterdam Centraal"
    shop.save()
    changed()
    printers = OrganizationUnitSet.objects.create(name="Printers")
    changed()
    shop.sets.add(printers)
    changed()
    shop.sets.remove(printers)
    changed()
    product = Product.objects.get(backend_id="SNK-CANVAS-WHT")
    other = Product.objects.get(backend_id="SCF-WOOL-RED")
    product.replacements.add(other)
    changed()
    sheet = Sheet.objects.get(fulfillment="ShipFromStore")
    sheet_update(sheet=sheet, source=sheet.source + "\n")
    changed()
    Setting.objects.create(name="ShipFromStore:FanoutTaskLabel", value="fanned")
    changed()
    printers.delete()
    changed()
    network_changed()  # what code that bulk-writes calls
    changed()


@pytest.mark.django_db
def test_an_unchanged_network_is_not_read_again(demo: None) -> None:
    first = network_snapshot(network_token())
    with CaptureQueriesContext(connection) as captured:
        again = network_snapshot(network_token())
    assert again is first
    assert len(captured.captured_queries) == 1  # the token
    assert {u.id for u in first.units} == set(unit.pk for unit in type(unit("1187")).objects.all())


@pytest.mark.django_db
def test_without_a_token_nothing_is_kept(demo: None) -> None:
    NetworkVersion.objects.all().delete()
    assert network_token() is None
    assert network_snapshot(None) is not network_snapshot(None)
    network_changed()  # recreates the row
    assert network_token() is not None


def test_the_next_order_sees_a_shop_closed_since_the_last(
    place: Callable[..., Order],
) -> None:
    assert winner(place("SNK-CANVAS-WHT")) == "1187"
    shop = unit("1187")
    shop.status = "Closed"
    shop.save()
    assert winner(place("SNK-CANVAS-WHT")) != "1187"


def test_the_next_order_sees_a_sheet_edited_since_the_last(
    place: Callable[..., Order],
) -> None:
    assert winner(place("SNK-CANVAS-WHT")) == "1187"
    sheet = Sheet.objects.get(fulfillment="ShipFromStore")
    sheet_update(
        sheet=sheet,
        source=sheet.source.replace("scope Supplier\n", "scope Supplier\n\nrequire false\n", 1),
    )
    assert winner(place("SNK-CANVAS-WHT")) not in ("1187", "")
    assert Order.objects.latest("pk").fulfillments.get().action == FulfillmentAction.EXPORT_ORDER


def test_open_tasks_are_counted_per_order_when_a_sheet_reads_them(
    place: Callable[..., Order],
) -> None:
    """A shop with an open task is full under ``< 1``: the next order goes elsewhere."""
    sheet = Sheet.objects.get(fulfillment="ShipFromStore")
    sheet_update(
        sheet=sheet,
        source=sheet.source.replace(
            "scope Supplier\n",
            "scope Supplier\n\nrequire [Supplier.ActiveShipFromStoreTasks] < 1\n",
            1,
        ),
    )
    assert winner(place("SNK-CANVAS-WHT")) == "1187"
    assert winner(place("SNK-CANVAS-WHT")) != "1187"


def test_open_tasks_are_counted_when_the_process_had_no_snapshot_to_tell_it(
    place: Callable[..., Order],
) -> None:
    """A run reads the open tasks with its lock when the process's snapshot has a
    sheet reading them; a process without a snapshot yet (or with an older one) does
    not know, and the scenario counts them itself."""
    sheet = Sheet.objects.get(fulfillment="ShipFromStore")
    sheet_update(
        sheet=sheet,
        source=sheet.source.replace(
            "scope Supplier\n",
            "scope Supplier\n\nrequire [Supplier.ActiveShipFromStoreTasks] < 1\n",
            1,
        ),
    )
    assert winner(place("SNK-CANVAS-WHT")) == "1187"
    network_forget()
    assert not snapshot_reads_active_tasks()
    assert winner(place("SNK-CANVAS-WHT")) != "1187"
    assert snapshot_reads_active_tasks()


@pytest.mark.parametrize("prepared", [True, False], ids=["prepared", "values-written-in"])
def test_a_run_reads_and_writes_each_thing_once(
    place: Callable[..., Order],
    django_capture_on_commit_callbacks: Any,
    settings: Any,
    prepared: bool,
) -> None:
    """Lock with lines and token, stock of its products, the shops' open tasks (the
    demo's sheet reads them), the run, fulfilments, their lines, reservations,
    statuses with the order, the timeline: the network is not read, nothing twice.
    On PostgreSQL the reads are three prepared statements, or, with
    ``DATABASE_PREPARED_STATEMENTS`` off, one query string of three."""
    from orchestration.services.orchestration import order_orchestrate

    settings.DATABASE_PREPARED_STATEMENTS = prepared

    place("SNK-CANVAS-WHT")  # warms the snapshot
    order = place("SNK-CANVAS-WHT", "SCF-WOOL-RED", "HAT-BEANIE-BLK")
    order.fulfillments.all().delete()
    order.orchestration_details.all().delete()
    order.lines.update(status="Open")
    Order.objects.filter(pk=order.pk).update(
        needs_orchestration=True, orchestration_attempts=0, status="Waiting"
    )
    with CaptureQueriesContext(connection) as captured:
        order_orchestrate(order_id=order.pk)
    statements = [
        q["sql"].split(" ", 1)[0]
        for q in captured.captured_queries
        if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))
    ]
    reads = [
        "SELECT",  # the order's lines, their order locked, the network token
        "SELECT",  # stock of its products
        "SELECT",  # open ship-from-store tasks per shop
    ]
    if connection.vendor == "postgresql":
        # The lock, the stock and the open tasks (the process's snapshot says a sheet
        # reads them) are three prepared statements, and every write of the run is
        # one statement. The run's plans are one more (plans, steps and transitions).
        sent = [q["sql"] for q in captured.captured_queries]
        first = next(n for n, sql in enumerate(sent) if "FOR UPDATE" in sql)
        if prepared:
            assert statements == [*reads, "WITH", "WITH"]
            lock, stock, tasks = sent[first : first + 3]
            assert lock.endswith("FOR UPDATE OF o")
        else:
            assert statements == ["SELECT", "WITH", "WITH"]
            assert "FOR UPDATE OF o; SELECT" in sent[first]
            stock, tasks = sent[first].split("FOR UPDATE OF o; ", 1)[1].split("; SELECT", 1)
        assert '"orchestration_stock"' in stock
        assert '"orchestration_orderfulfillment"' in tasks and "SHIP_FROM_STORE" in tasks
        write, plans = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("WITH")]
        assert re.findall(r"INSERT INTO \"(\w+)\"", plans) == [
            "orchestration_plan",
            "orchestration_planstep",
            "orchestration_plantransition",
        ]
        tables = re.findall(r"(INSERT INTO|UPDATE) \"(\w+)\"", write)
        assert tables == [
            ("INSERT INTO", "orchestration_orchestrationdetails"),
            ("INSERT INTO", "orchestration_orderfulfillment"),
            ("INSERT INTO", "orchestration_orderfulfillmentline"),
            ("UPDATE", "orchestration_stock"),  # reservations, all in one
            ("UPDATE", "orchestration_orderline"),  # line statuses
            ("UPDATE", "orchestration_order"),
            ("INSERT INTO", "orchestration_orderevent"),  # the timeline
        ]
    else:
        assert statements == [
            *reads,
            "INSERT",  # the run
            "INSERT",  # fulfilments
            "INSERT",  # their lines
            "UPDATE",  # reservations, all in one
            "UPDATE",  # line statuses
            "UPDATE",  # the order
            "INSERT",  # the timeline
            *PLAN_WRITES,
        ]
    assert Order.objects.get(pk=order.pk).status == "Routed"


# The fulfilment's plan (the demo's ship-from-store group, docs/plans.md): built in
# memory, written in three statements by the ORM (one on PostgreSQL) whatever the
# number of fulfilments; its group version is read with the network snapshot, not
# per run.
PLAN_WRITES = ["INSERT", "INSERT", "INSERT"]  # plans, their steps, their transitions


REPLACING_SHEET = """fulfillment Replacing
action 'EXPORT_ORDER'
option UseReplacementProductsForStock as true

scope Supplier
require [Supplier.Type] = 'Warehouse'
data [ExporterName] as 'WAREHOUSE'
score add 50 when [Supplier.BackendID] = 'RPL-WH-A'

scope OrderLine
require [SupplierQuantityAvailable] >= [OrderLine.QuantityOrdered]
"""


@pytest.mark.django_db
def test_the_stock_read_with_the_lock_counts_replacements(
    clock: Any, django_capture_on_commit_callbacks: Any
) -> None:
    # On PostgreSQL the run reads stock with the lock, by SQL of its own: the
    # replacements it counts must be the products' own, and only theirs.
    from orchestration.models import OrganizationUnit, Stock
    from orchestration.services.orchestration import order_orchestrate

    a, b = (
        OrganizationUnit.objects.create(
            name=f"Warehouse {x}", backend_id=f"RPL-WH-{x}", type="Warehouse", country_id="NL"
        )
        for x in "AB"
    )
    shoes, new_model, other = (
        Product.objects.create(backend_id=f"RPL-{n}", name=n) for n in ("SHOE", "SHOE-V2", "HAT")
    )
    shoes.replacements.add(new_model)
    other.replacements.add(shoes)  # a replacement the other way: not counted for shoes
    Stock.objects.bulk_create(
        [
            Stock(organization_unit=a, product=shoes, quantity_on_hand=1),
            Stock(organization_unit=a, product=new_model, quantity_on_hand=1),
            Stock(organization_unit=a, product=other, quantity_on_hand=5),
            Stock(organization_unit=b, product=shoes, quantity_on_hand=2),
        ]
    )
    sheet_create(fulfillment="Replacing", name="Replacing", source=REPLACING_SHEET, is_active=True)
    network_changed()  # bulk_create sends no signals
    with django_capture_on_commit_callbacks(execute=False):
        order = order_create(backend_id="RPL-1", lines=[{"product": shoes, "quantity": 2}])
        order_orchestrate(order_id=order.pk)
    # Warehouse A's one pair and one of the new model make two: boosted A ships both.
    fulfillment = order.fulfillments.get()
    assert fulfillment.supplier_organization_unit == a
    assert sorted((line.product.backend_id, line.quantity) for line in fulfillment.lines.all()) == [
        ("RPL-SHOE", 1),
        ("RPL-SHOE-V2", 1),
    ]
    assert Stock.objects.get(organization_unit=a, product=new_model).quantity_reserved == 1
    assert Stock.objects.get(organization_unit=a, product=other).quantity_reserved == 0


@pytest.mark.django_db(transaction=True)
def test_bench_tasks_counts_the_open_tasks_and_leaves_nothing_behind() -> None:
    from io import StringIO

    from django.core.management import call_command

    from orchestration.models import OrderFulfillment, OrganizationUnit

    out = StringIO()
    call_command("bench", "tasks", "--fulfillments", "3001", "--repeat", "2", stdout=out)
    # One in 1,500 open: tasks 0, 1,500 and 3,000.
    assert re.fullmatch(
        r"tasks: open ship-from-store tasks per shop among 3,001 tasks \(3 open, 50 shops\), "
        r"2 counts on \w+: median [\d.]+ ms\n",
        out.getvalue(),
    )
    assert not OrderFulfillment.objects.exists()
    assert not OrganizationUnit.objects.filter(backend_id__startswith="BENCH-").exists()
    assert not Order.objects.filter(backend_id__startswith="BENCH-").exists()


@pytest.mark.django_db
def test_open_tasks_are_counted_per_shop_and_finished_ones_are_not(
    place: Callable[..., Order],
) -> None:
    from orchestration.models import FulfillmentStatus, OrderFulfillment
    from orchestration.selectors.scenario import shop_open_task_counts

    place("SNK-CANVAS-WHT")
    tasks = OrderFulfillment.objects.filter(action=FulfillmentAction.SHIP_FROM_STORE)
    assert tasks.exists()
    expected: dict[int, int] = {}
    for task in tasks:
        expected[task.supplier_organization_unit_id] = (
            expected.get(task.supplier_organization_unit_id, 0) + 1
        )
    assert shop_open_task_counts() == expected
    tasks.update(status=FulfillmentStatus.COMPLETED)
    assert shop_open_task_counts() == {}
