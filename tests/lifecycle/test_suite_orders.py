"""The Suite's order pages on the demo retailer: what a shop and an order desk see and do.

A shop works its ship-from-store task through the task list (start, pick, pack, ship)
and the order page tells the story; refusals show the service's message and change
nothing; an orchestration run's explanation is shown until its lifetime is over.
The fixtures are those of ``tests/lifecycle/conftest.py``, copied: tasks run inline,
the clock is frozen on a Monday morning, orders are placed through the service.
"""

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from orchestration.models import (
    ExportStatus,
    FulfillmentAction,
    FulfillmentStatus,
    Order,
    OrderFulfillment,
    OrderStatus,
    Sheet,
)
from orchestration.services.sheets import sheet_update
from tests.conftest import table_rows

from .conftest import unit

VIEW_ORDER, EDIT_FULFILLMENT = "view_order", "change_orderfulfillment"
EVERY_UNIT = "work_every_organization_unit"


def client_with(username: str, *perms: str) -> Client:
    user = User.objects.create_user(username, password="secret-pass-123")
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="orchestration", codename__in=perms)
    )
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def shop_staff(demo: None) -> Client:
    """The demo's store staff member (Kalverstraat, 1187), here also working at the
    Den Haag and Rotterdam shops that the fan-out tests offer tasks to."""
    user = User.objects.get(username="kalverstraat")
    for backend_id in ("1109", "1155"):
        unit(backend_id).staff.add(user)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def post(django_capture_on_commit_callbacks: Any) -> Callable[..., Any]:
    """POST and run what the service sent after commit (a new orchestration), inline."""

    def call(client: Client, url: str, data: dict[str, Any] | None = None) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(url, data or {})

    return call


def the_task(order: Order) -> OrderFulfillment:
    return order.fulfillments.get(action=FulfillmentAction.SHIP_FROM_STORE)


def tasks_url(task: OrderFulfillment, action: str = "") -> str:
    base = f"/orders/stores/{task.supplier_organization_unit_id}/tasks/"
    return f"{base}{task.pk}/{action}/" if action else base


def text(response: Any) -> str:
    """The page as a person reads it: tags dropped, white space collapsed."""
    content = response.content.decode()
    content = re.sub(r"<(script|style)\b.*?</\1>", " ", content, flags=re.S)
    words = " ".join(re.sub(r"<[^>]+>", " ", content).split())
    return re.sub(r" ([.,;:)])", r"\1", words)  # "<code>X</code>)." reads "X)."


def test_the_shop_sees_its_task_with_labels_distance_and_deadline(
    place: Callable[..., Order], shop_staff: Client
) -> None:
    order = place("SNK-CANVAS-WHT", "SCF-WOOL-RED")
    task = the_task(order)

    shops = shop_staff.get("/orders/stores/")
    assert shops.status_code == 200
    row = re.search(r'<tr data-shop="1187">.*?</tr>', shops.content.decode(), re.S)
    assert row is not None and "Amsterdam Kalverstraat" in row[0]
    assert '<td class="open-tasks"><strong>1</strong></td>' in row[0]

    page = shop_staff.get(tasks_url(task))
    assert page.status_code == 200
    seen = text(page)
    assert f"Order {order.backend_id}" in seen
    assert "Labels SFS_task NotLimitedEdition" in seen
    assert f"Distance {task.data['TravelDistanceText']}" in seen
    assert f"Travel time {task.data['TravelTimeText']}" in seen
    assert (
        "Start by Monday 23 Nov 2026, 20:00 Europe/Amsterdam" in seen
    )  # 600 minutes, in Amsterdam time
    assert "Canvas" in seen and "New: start it to take it on" in seen
    html = page.content.decode()
    assert (
        f'action="/orders/stores/{unit("1187").pk}/tasks/{task.pk}/start/#task-{task.pk}"' in html
    )
    assert ">Pick</button>" not in html  # only Start (and Decline) for a new task


def test_a_started_tasks_deadlines_read_in_order_and_say_what_they_run_from(
    place: Callable[..., Order], shop_staff: Client, post: Callable[..., Any], clock: Any
) -> None:
    """The start deadline is ten hours out; the shop starts at once, and packing is due
    ten minutes later. The page shows when it started and "Pack by" with what it runs
    from, never a "Start by" at 20:00 above a "Pack by" at 10:10."""
    order = place("SNK-CANVAS-WHT")
    task = the_task(order)
    assert "Start by Monday 23 Nov 2026, 20:00 Europe/Amsterdam" in text(
        shop_staff.get(tasks_url(task))
    )

    post(shop_staff, tasks_url(task, "start"))
    seen = text(shop_staff.get(tasks_url(task)))
    assert "Start by" not in seen
    assert "Pack by Monday 23 Nov 2026, 10:10 Europe/Amsterdam (10 minutes after starting)" in seen
    assert "Started Monday 23 Nov 2026, 10:00 Europe/Amsterdam" in seen


def test_start_pick_pack_ship_completes_the_order_and_the_timeline_tells_it(
    place: Callable[..., Order], shop_staff: Client, post: Callable[..., Any]
) -> None:
    order = place("SNK-CANVAS-WHT", "SCF-WOOL-RED")
    task = the_task(order)

    started = post(shop_staff, tasks_url(task, "start"))
    assert started.status_code == 302
    assert started["Location"] == f"{tasks_url(task)}#task-{task.pk}"
    page = shop_staff.get(tasks_url(task))
    assert f"You started the task of order {order.backend_id}. Pick its lines next." in text(page)
    assert "Started: pick the lines" in text(page)

    picked = {f"picked-{line.pk}": str(line.quantity) for line in task.lines.all()}
    assert post(shop_staff, tasks_url(task, "pick"), {**picked, "reason": ""}).status_code == 302
    assert post(shop_staff, tasks_url(task, "pack")).status_code == 302
    shipped = post(
        shop_staff,
        tasks_url(task, "ship"),
        {"carrier": "PostNL", "tracking_number": "3SABCD1234567"},
    )
    assert shipped.status_code == 302
    after = shop_staff.get(tasks_url(task))
    assert f"Order {order.backend_id} shipped with PostNL (3SABCD1234567)." in text(after)
    assert "No open tasks at this shop." in text(after)
    finished = text(shop_staff.get(tasks_url(task) + "?finished=1"))
    assert "Completed" in finished and "Shipped with PostNL 3SABCD1234567" in finished

    task.refresh_from_db()
    order.refresh_from_db()
    assert (task.status, order.status) == (FulfillmentStatus.COMPLETED, OrderStatus.COMPLETED)

    detail = shop_staff.get(f"/orders/{order.pk}/")
    assert detail.status_code == 200
    seen = text(detail)
    assert f"Order {order.backend_id} Completed" in seen
    assert "Amsterdam Kalverstraat (1187) started the ship-from-store task." in seen
    assert "Amsterdam Kalverstraat (1187) picked the task." in seen
    assert "Amsterdam Kalverstraat (1187) packed the task." in seen
    assert "Amsterdam Kalverstraat (1187) shipped 2 units with PostNL (3SABCD1234567)." in seen
    assert "Carrier PostNL 3SABCD1234567" in seen
    timeline = re.search(
        r'<table class="data" id="timeline">.*?</table>', detail.content.decode(), re.S
    )
    assert timeline is not None
    kinds = re.findall(r'<tr data-kind="([^"]+)"', timeline[0])
    assert kinds[:2] == ["order.created", "orchestration.run"]
    assert kinds[-5:] == [
        "fulfillment.started",
        "fulfillment.picked",
        "fulfillment.packed",
        "fulfillment.shipped",
        "order.completed",
    ]
    assert "kalverstraat" in timeline[0]  # who did it
    assert f'href="/orders/{order.pk}/runs/1/"' in timeline[0]

    listed = text(shop_staff.get("/orders/?q=sanne&status=Completed"))
    assert order.backend_id in listed and "1 order" in listed


def test_a_second_start_is_refused_with_the_services_message_and_nothing_changes(
    place: Callable[..., Order], shop_staff: Client, post: Callable[..., Any]
) -> None:
    order = place("SNK-CANVAS-WHT", "SCF-WOOL-RED")
    task = the_task(order)
    post(shop_staff, tasks_url(task, "start"))
    before = table_rows()

    again = post(shop_staff, tasks_url(task, "start"))

    assert again.status_code == 409
    assert (
        f'<p class="notice warning" role="alert" id="task-{task.pk}-refusal">'
        "This task is InProgress; only a New task can be started.</p>"
    ) in again.content.decode()
    assert table_rows() == before


def test_a_bad_pick_quantity_is_shown_at_its_field_and_nothing_changes(
    place: Callable[..., Order], shop_staff: Client, post: Callable[..., Any]
) -> None:
    task = the_task(place("SNK-CANVAS-WHT", "SCF-WOOL-RED"))
    post(shop_staff, tasks_url(task, "start"))
    first, second = task.lines.order_by("pk")
    before = table_rows()

    refused = post(
        shop_staff, tasks_url(task, "pick"), {f"picked-{first.pk}": "1", f"picked-{second.pk}": "5"}
    )

    assert refused.status_code == 400
    html = refused.content.decode()
    assert f"The quantity picked must be between 0 and 1 for line {second.pk}." in html
    field = re.search(rf'<input type="number" name="picked-{second.pk}"[^>]*>', html)
    assert field is not None
    assert 'value="5"' in field[0] and 'aria-invalid="true"' in field[0]
    assert table_rows() == before


def test_what_is_not_picked_is_routed_again_and_the_order_page_gives_the_reason(
    place: Callable[..., Order], shop_staff: Client, post: Callable[..., Any]
) -> None:
    order = place("SNK-CANVAS-WHT", "SCF-WOOL-RED")
    task = the_task(order)
    post(shop_staff, tasks_url(task, "start"))
    scarf = task.lines.get(order_line__product__backend_id="SCF-WOOL-RED")

    response = post(
        shop_staff, tasks_url(task, "pick"), {f"picked-{scarf.pk}": "0", "reason": "Damaged"}
    )

    assert response.status_code == 302
    page = text(shop_staff.get(tasks_url(task)))
    assert "The 1 units not picked are routed again without this shop." in page
    assert "Picked: pack them" in page
    detail = text(shop_staff.get(f"/orders/{order.pk}/"))
    assert "Damaged" in detail
    assert "did not pick 1 units (Damaged)" in detail  # the second run's trigger
    assert order.orchestration_details.count() == 2


def test_a_fanned_out_task_shows_who_started_it_and_the_other_shop_is_told(
    demo: None, place: Callable[..., Order], shop_staff: Client, post: Callable[..., Any]
) -> None:
    sheet = Sheet.objects.get(fulfillment="ShipFromStore")
    sheet_update(
        sheet=sheet,
        source=sheet.source.replace(
            "fanout as when [HasExistingFulfillmentLines] then 5 else then 0", "fanout as 5"
        ),
    )
    # Delft: within reach of the Den Haag and the Rotterdam shop.
    order = place(
        "HAT-BEANIE-BLK",
        "SWT-MERINO-NAVY",
        shipping_city="Delft",
        shipping_latitude=52.0116,
        shipping_longitude=4.3571,
    )
    den_haag, rotterdam = order.fulfillments.order_by("pk")
    assert post(shop_staff, tasks_url(rotterdam, "start")).status_code == 302

    late = post(shop_staff, tasks_url(den_haag, "start"))
    assert late.status_code == 409
    assert "Rotterdam Lijnbaan (1155) started this task first; it is no longer yours." in text(late)

    detail = shop_staff.get(f"/orders/{order.pk}/").content.decode()
    assert "Task offered to 2 shops, started by Rotterdam Lijnbaan (1155)" in " ".join(
        re.sub(r"<[^>]+>", " ", detail).split()
    )
    copy = re.search(rf'<tr id="fulfillment-{den_haag.pk}" data-shop="1109".*?</tr>', detail, re.S)
    assert copy is not None
    assert "Deactivated" in copy[0] and '<code class="reason">Otherstore</code>' in copy[0]
    started = re.search(
        rf'<tr id="fulfillment-{rotterdam.pk}" data-shop="1155".*?</tr>', detail, re.S
    )
    assert started is not None and "Started it" in started[0] and "kalverstraat" in started[0]


def test_without_fulfillments_edit_the_shop_gets_403_and_nothing_changes(
    place: Callable[..., Order],
) -> None:
    task = the_task(place("SNK-CANVAS-WHT", "SCF-WOOL-RED"))
    viewer = client_with("viewer", VIEW_ORDER, EVERY_UNIT)
    before = table_rows()

    refused = viewer.post(tasks_url(task, "start"))

    assert refused.status_code == 403
    assert "You need the permission Fulfillments:Edit for this." in text(refused)
    assert table_rows() == before
    page = viewer.get(tasks_url(task))
    assert page.status_code == 200 and ">Start</button>" not in page.content.decode()
    assert "needs the permission Fulfillments:Edit" in text(page)
    nobody = client_with("nobody")
    assert "You need the permission Orders:View for this." in text(nobody.get("/orders/"))
    anonymous = Client().get("/orders/")
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/accounts/login/")


def test_a_run_is_explained_until_its_details_expire(
    place: Callable[..., Order], shop_staff: Client, clock: Any
) -> None:
    order = place("SNK-CANVAS-WHT", "SCF-WOOL-RED")

    fresh = shop_staff.get(f"/orders/{order.pk}/runs/1/")
    assert fresh.status_code == 200
    assert 'data-action="SHIP_FROM_STORE" data-supplier="1187"' in fresh.content.decode()
    assert "Decision at" in text(fresh)

    clock.shift(timedelta(days=15))
    shop_staff.force_login(User.objects.get(username="kalverstraat"))  # the session expired too
    expired = shop_staff.get(f"/orders/{order.pk}/runs/1/")
    assert expired.status_code == 200
    assert (
        "The orchestration details of this run expired on Monday 7 Dec 2026, 10:00 "
        "Europe/Amsterdam (they are kept 14 days, setting "
        "Symphony:OrchestrationDetailsLifetimeInDays)."
    ) in text(expired)
    assert "Decision at" not in text(expired)
    assert shop_staff.get(f"/orders/{order.pk}/runs/9/").status_code == 404


def test_a_failed_export_is_listed_and_retried(
    place: Callable[..., Order], post: Callable[..., Any]
) -> None:
    operations = client_with("operations", VIEW_ORDER, EDIT_FULFILLMENT, EVERY_UNIT)
    # Shops do not ship to pickup points: the warehouse does.
    order = place(
        "JKT-RAIN-OLV",
        shipping_city="Rotterdam",
        shipping_latitude=51.9225,
        shipping_longitude=4.4792,
        shipping_is_pickup_point=True,
    )
    export = order.fulfillments.get(action=FulfillmentAction.EXPORT_ORDER)
    # As the exporter leaves it after its last attempt (tested in tests/lifecycle).
    OrderFulfillment.objects.filter(pk=export.pk).update(
        export_status=ExportStatus.FAILED,
        export_attempts=5,
        export_error="https://wms.example/ answered 503 Service Unavailable.",
    )

    listed = operations.get("/orders/export-failures/")
    row = re.search(rf'<tr id="export-{export.pk}".*?</tr>', listed.content.decode(), re.S)
    assert row is not None
    assert "answered 503 Service Unavailable." in row[0] and "<td>5</td>" in row[0]
    assert "Failed exports (1)" in text(operations.get("/orders/"))

    retried = post(operations, f"/orders/export-failures/{export.pk}/retry/")
    assert retried.status_code == 302
    page = text(operations.get("/orders/export-failures/"))
    # Sent after commit: here after the view answered, without a worker within it.
    assert f"The export of order {order.backend_id} to ARVATO is queued." in page
    assert "No failed exports." in page
    export.refresh_from_db()
    assert export.export_status == ExportStatus.EXPORTED
    detail = text(operations.get(f"/orders/{order.pk}/"))
    assert "EXPORT_ORDER Lelystad" in detail
    assert "Export Exported to ARVATO, 1 attempt" in detail
    assert "Export to ARVATO retried by hand." in detail  # the timeline

    again = post(operations, f"/orders/export-failures/{export.pk}/retry/")
    assert again.status_code == 409
    assert "Only a failed export can be retried." in text(again)


def test_the_navigation_leads_to_orders_and_shops(place: Callable[..., Order]) -> None:
    order = place("SNK-CANVAS-WHT")
    client = client_with("desk", VIEW_ORDER, EVERY_UNIT)
    html = client.get(f"/orders/{order.pk}/").content.decode()
    assert '<a href="/orders/" aria-current="page">Orders</a>' in html
    assert '<a href="/orders/stores/" >Stores</a>' in html
    stores = client.get("/orders/stores/").content.decode()
    assert '<a href="/orders/stores/" aria-current="page">Stores</a>' in stores
    assert "/admin/orchestration/order/" not in stores


def test_a_carrier_longer_than_its_column_is_refused_at_its_field_and_nothing_changes(
    place: Callable[..., Order], shop_staff: Client, post: Callable[..., Any]
) -> None:
    task = the_task(place("SNK-CANVAS-WHT"))
    for step in ("start", "pick", "pack"):
        assert post(shop_staff, tasks_url(task, step)).status_code == 302
    before = table_rows()

    refused = post(
        shop_staff, tasks_url(task, "ship"), {"carrier": "P" * 101, "tracking_number": "3S1"}
    )

    assert refused.status_code == 400
    html = refused.content.decode()
    assert "Carrier: Ensure this value has at most 100 characters (it has 101)." in html
    field = re.search(r'<input type="text" name="carrier"[^>]*>', html)
    assert field is not None and 'aria-invalid="true"' in field[0]
    assert table_rows() == before


def test_a_runs_time_and_the_timeline_read_as_local_time_with_weekday_and_zone(
    place: Callable[..., Order], shop_staff: Client
) -> None:
    order = place("SNK-CANVAS-WHT")
    detail = text(shop_staff.get(f"/orders/{order.pk}/"))
    assert "Monday 23 Nov 2026, 10:00 Europe/Amsterdam" in detail
    run = shop_staff.get(f"/orders/{order.pk}/runs/1/").content.decode()
    assert "Decision at <time" in run
    assert ">Monday 23 Nov 2026, 10:00 Europe/Amsterdam</time>" in run
    assert 'title="2026-11-23T09:00:00+00:00"' in run  # the exact moment, on hover
