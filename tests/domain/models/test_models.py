"""Constraints of the domain model and the services that write it."""

import re
import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from orchestration.errors import ApplicationError, ConflictError
from orchestration.models import (
    FulfillmentAction,
    FulfillmentStatus,
    Order,
    OrderFulfillment,
    OrderFulfillmentLine,
    OrderLine,
    OrganizationUnit,
    Product,
    Sheet,
    SheetRevision,
    Stock,
)
from orchestration.models.fulfillments import TaskStage
from orchestration.selectors.fulfillments import fulfillment_orchestration_details
from orchestration.selectors.settings import setting_value
from orchestration.services.orchestration_details import (
    orchestration_details_create,
    orchestration_details_purge,
)
from orchestration.services.settings import setting_reset, setting_set
from orchestration.services.sheets import sheet_create, sheet_update
from orchestration.services.stock import stock_release, stock_reserve
from tests.conftest import sheet_text

pytestmark = pytest.mark.django_db

LIVE = "fulfillment ShipFromStore\naction CANCEL\n# live now\n"


def _integrity_error(make) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(IntegrityError), transaction.atomic():
        make()


def test_backend_ids_are_unique(shop, shoe) -> None:
    """Two OUs or two products cannot share a backend ID."""
    _integrity_error(
        lambda: OrganizationUnit.objects.create(
            name="Other", backend_id="urk_store", country_id="NL"
        )
    )
    _integrity_error(lambda: Product.objects.create(backend_id="SHOE", name="Other"))


def test_one_stock_row_per_ou_and_product(shop, shoe, stock_of) -> None:
    stock_of(shop, shoe, 3)
    _integrity_error(lambda: stock_of(shop, shoe, 5))


@pytest.mark.parametrize(
    ("on_hand", "reserved"),
    [(-1, 0), (0, -1), (2, 3)],
    ids=["negative on hand", "negative reserved", "reserved above on hand"],
)
def test_stock_is_never_negative(shop, shoe, stock_of, on_hand, reserved) -> None:
    """The database refuses stock below zero, and reservations beyond what is there."""
    _integrity_error(lambda: stock_of(shop, shoe, on_hand, reserved))
    assert Stock.objects.count() == 0


def test_available_is_on_hand_minus_reserved(shop, shoe, stock_of) -> None:
    stock = stock_of(shop, shoe, 7, 3)
    stock.refresh_from_db()
    assert stock.quantity_available == 4
    assert Stock.objects.filter(quantity_available=4).count() == 1


def test_reserve_takes_only_what_is_available(shop, shoe, stock_of) -> None:
    stock = stock_of(shop, shoe, 5, 2)
    ids = {"organization_unit_id": shop.pk, "product_id": shoe.pk}
    assert stock_reserve(**ids, quantity=3) is True
    assert stock_reserve(**ids, quantity=1) is False
    stock.refresh_from_db()
    assert (stock.quantity_reserved, stock.quantity_available) == (5, 0)


def test_reserve_without_a_stock_row_fails(shop, shoe) -> None:
    assert stock_reserve(organization_unit_id=shop.pk, product_id=shoe.pk, quantity=1) is False


def test_reserve_refuses_a_quantity_below_one(shop, shoe, stock_of) -> None:
    stock_of(shop, shoe, 5)
    with pytest.raises(ApplicationError, match=re.escape("at least 1")):
        stock_reserve(organization_unit_id=shop.pk, product_id=shoe.pk, quantity=0)


def test_release_gives_back_reserved_units_only(shop, shoe, stock_of) -> None:
    stock = stock_of(shop, shoe, 5, 2)
    stock_release(organization_unit_id=shop.pk, product_id=shoe.pk, quantity=2)
    with pytest.raises(
        ConflictError, match=re.escape("Cannot release 1 units: fewer are reserved.")
    ):
        stock_release(organization_unit_id=shop.pk, product_id=shoe.pk, quantity=1)
    stock.refresh_from_db()
    assert stock.quantity_reserved == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_reservations_never_exceed_stock(shop, shoe, stock_of) -> None:
    """Many connections reserving at once get exactly the available units, never more.

    On SQLite two threads (its writers queue); on PostgreSQL eight connections.
    """
    stock = stock_of(shop, shoe, 10, 3)
    workers = 8 if connection.vendor == "postgresql" else 2
    attempts_each = 6
    barrier = threading.Barrier(workers)
    results: list[bool] = []
    errors: list[BaseException] = []

    def reserve() -> None:
        from django.db import connections

        try:
            barrier.wait()
            for _ in range(attempts_each):
                results.append(
                    stock_reserve(organization_unit_id=shop.pk, product_id=shoe.pk, quantity=1)
                )
        except BaseException as error:  # report in the main thread
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=reserve) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(results) == workers * attempts_each
    assert results.count(True) == 7
    stock.refresh_from_db()
    assert (stock.quantity_reserved, stock.quantity_available) == (10, 0)


def test_order_lines_have_a_positive_quantity_and_no_positive_discount(shop, shoe) -> None:
    order = Order.objects.create(shipping_city="Urk")
    _integrity_error(lambda: OrderLine.objects.create(order=order, product=shoe, quantity=0))
    _integrity_error(
        lambda: OrderLine.objects.create(
            order=order, product=shoe, quantity=1, discount_amount=Decimal("5")
        )
    )


def test_only_a_cancel_fulfillment_has_no_supplier(shop) -> None:
    order = Order.objects.create()
    OrderFulfillment.objects.create(order=order, action=FulfillmentAction.CANCEL)
    _integrity_error(
        lambda: OrderFulfillment.objects.create(order=order, action=FulfillmentAction.EXPORT_ORDER)
    )


def test_a_cancellation_reason_needs_an_ended_line(shop, shoe) -> None:
    order = Order.objects.create()
    line = OrderLine.objects.create(order=order, product=shoe, quantity=1)
    fulfillment = OrderFulfillment.objects.create(
        order=order, action=FulfillmentAction.SHIP_FROM_STORE, supplier_organization_unit=shop
    )
    OrderFulfillmentLine.objects.create(
        fulfillment=fulfillment,
        order_line=line,
        product=shoe,
        quantity=1,
        status=FulfillmentStatus.DEACTIVATED,
        cancellation_reason="Otherstore",
    )
    _integrity_error(
        lambda: OrderFulfillmentLine.objects.create(
            fulfillment=fulfillment,
            order_line=line,
            product=shoe,
            quantity=1,
            status=FulfillmentStatus.NEW,
            cancellation_reason="Expired",
        )
    )


def test_fulfillment_statuses_are_evas() -> None:
    assert [(s.value, s.label) for s in FulfillmentStatus] == [
        (0, "New"),
        (50, "Deactivated"),
        (100, "Cancelled"),
        (500, "WaitingForStock"),
        (550, "WaitingForPreSaleShipmentDate"),
        (600, "Pending"),
        (900, "InProgress"),
        (1000, "Completed"),
    ]


def test_sheet_saves_keep_every_revision(designer) -> None:
    sheet = sheet_create(
        fulfillment="ShipFromStore",
        name="SFS",
        source="fulfillment ShipFromStore\r\naction CANCEL\r\n",
        user=designer,
    )
    assert (sheet.revision, sheet.source) == (1, "fulfillment ShipFromStore\naction CANCEL\n")
    sheet = sheet_update(
        sheet=sheet, user=designer, comment="activate", is_active=True, source=LIVE
    )
    unchanged = sheet_update(sheet=sheet, user=designer, is_active=True, source=LIVE)
    assert unchanged.revision == sheet.revision == 2
    assert list(
        SheetRevision.objects.filter(sheet=sheet).values_list(
            "number", "is_active", "source", "comment"
        )
    ) == [
        (2, True, LIVE, "activate"),
        (1, False, "fulfillment ShipFromStore\naction CANCEL\n", "Created"),
    ]
    assert SheetRevision.objects.get(sheet=sheet, number=2).author == designer


def test_a_sheet_that_does_not_check_cleanly_is_never_saved(designer) -> None:
    sheet = sheet_create(fulfillment="Live", name="Live", source=sheet_text("Live"))
    with pytest.raises(ApplicationError) as refused:
        sheet_update(sheet=sheet, source="fulfillment Live\naction CANCEL\nscope Nope\n")
    assert refused.value.code == "invalid_sheet"
    assert refused.value.errors == [
        {
            "code": "InvalidScopeType",
            "message": "line 3, column 1: unknown scope 'Nope'",
            "field": "source",
            "line": 3,
            "column": 1,
            "end_line": 3,
            "end_column": 11,
            "hint": "one of: Order, Supplier, OrderLine, OrderLineSuppliers, FulfillmentOptions, "
            "Shipment, Fanout, FulfillmentProposition",
        }
    ]
    with pytest.raises(ApplicationError, match="they must be the same"):
        sheet_update(sheet=sheet, fulfillment="Renamed")
    sheet.refresh_from_db()
    assert (sheet.revision, sheet.source, sheet.fulfillment) == (1, sheet_text("Live"), "Live")
    assert SheetRevision.objects.filter(sheet=sheet).count() == 1


def test_sheet_fulfillment_identifiers_are_unique() -> None:
    sheet_create(fulfillment="Warehouse", name="A", source=sheet_text("Warehouse"))
    with pytest.raises(ApplicationError, match="'Warehouse' already exists"):
        sheet_create(fulfillment="Warehouse", name="B", source=sheet_text("Warehouse"))
    assert list(Sheet.objects.values_list("name", flat=True)) == ["A"]
    assert SheetRevision.objects.count() == 1


def test_settings_are_typed_with_defaults() -> None:
    name = "Symphony:OrchestrationDetailsLifetimeInDays"
    assert setting_value(name) == 14
    setting_set(name=name, value=3)
    assert setting_value(name) == 3
    with pytest.raises(ApplicationError, match=re.escape("Expected an integer, got a boolean.")):
        setting_set(name=name, value=True)
    with pytest.raises(ApplicationError, match=re.escape("Must be at least 1.")):
        setting_set(name=name, value=0)
    with pytest.raises(ApplicationError, match=re.escape("Unknown setting 'Nope'.")):
        setting_set(name="Nope", value=1)
    setting_reset(name=name)
    assert setting_value(name) == 14


def test_orchestration_details_expire_after_their_lifetime(shop) -> None:
    setting_set(name="Symphony:OrchestrationDetailsLifetimeInDays", value=2)
    order = Order.objects.create()
    now = timezone.now()
    details = orchestration_details_create(order=order, blob={"HasErrors": False}, at=now, now=now)
    fulfillment = OrderFulfillment.objects.create(
        order=order,
        action=FulfillmentAction.EXPORT_ORDER,
        supplier_organization_unit=shop,
        orchestration_details=details,
    )
    assert details.expires_at == now + timedelta(days=2)
    state = fulfillment_orchestration_details(fulfillment, now=now + timedelta(days=1))
    assert (state.status, state.blob) == ("available", {"HasErrors": False})
    # Past the lifetime it is hidden even before the purge job has run.
    later = now + timedelta(days=2, seconds=1)
    assert fulfillment_orchestration_details(fulfillment, now=later).status == "expired"
    assert orchestration_details_purge(now=later) == 1
    assert orchestration_details_purge(now=later) == 0
    details.refresh_from_db()
    assert (details.blob, details.purged_at) == (None, later)


@pytest.mark.parametrize(
    ("action", "status", "steps", "stage"),
    [
        (FulfillmentAction.SHIP_FROM_STORE, FulfillmentStatus.NEW, (), TaskStage.NEW),
        (FulfillmentAction.SHIP_FROM_STORE, FulfillmentStatus.IN_PROGRESS, (), TaskStage.STARTED),
        (
            FulfillmentAction.SHIP_FROM_STORE,
            FulfillmentStatus.IN_PROGRESS,
            ("picked_at",),
            TaskStage.PICKED,
        ),
        (
            FulfillmentAction.SHIP_FROM_STORE,
            FulfillmentStatus.IN_PROGRESS,
            ("picked_at", "packed_at"),
            TaskStage.PACKED,
        ),
        (
            FulfillmentAction.SHIP_FROM_STORE,
            FulfillmentStatus.COMPLETED,
            ("picked_at", "packed_at", "shipped_at"),
            TaskStage.FINISHED,
        ),
        (FulfillmentAction.SHIP_FROM_STORE, FulfillmentStatus.DEACTIVATED, (), TaskStage.FINISHED),
        (FulfillmentAction.SHIP_FROM_STORE, FulfillmentStatus.CANCELLED, (), TaskStage.FINISHED),
        (FulfillmentAction.EXPORT_ORDER, FulfillmentStatus.NEW, (), TaskStage.OTHER),
        (FulfillmentAction.EXPORT_RETURN_ORDER, FulfillmentStatus.IN_PROGRESS, (), TaskStage.OTHER),
    ],
)
def test_a_tasks_stage_follows_its_status_and_steps(
    action: str, status: int, steps: tuple[str, ...], stage: TaskStage
) -> None:
    """One state machine: New, Started, Picked, Packed, then Finished; no stage but Other
    for a fulfilment no shop works."""
    now = timezone.now()
    fulfillment = OrderFulfillment(action=action, status=status)
    for step in steps:
        setattr(fulfillment, step, now)
    assert fulfillment.stage == stage
