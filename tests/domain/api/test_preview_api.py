"""``POST /api/preview/``: what orchestration would do with an order, and why; writes nothing.

The demo retailer is loaded for each test: order DEMO-1001 ships to Amsterdam;
on a Monday morning the Amsterdam shop (backend ID 1187) takes it from store,
on a Sunday the shops are closed ('ShopNotOpenOnDay') and the warehouse in
Lelystad exports it.
"""

import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from celery.app.task import Task
from django.contrib.auth.models import Permission, User
from django.core.management import call_command

from orchestration.models import (
    FulfillmentAction,
    FulfillmentStatus,
    Order,
    OrderFulfillment,
    OrderFulfillmentLine,
    OrganizationUnit,
    Product,
    Sheet,
)
from tests.conftest import divides_by_zero_at, table_rows
from tests.sources import LINE_SPLITTING, SHARED_SCENARIO_COPIES

pytestmark = pytest.mark.django_db

MONDAY = "2026-11-23T10:00"
SUNDAY = "2026-11-22T10:00"
AMSTERDAM = "Europe/Amsterdam"


@pytest.fixture
def demo(db: Any) -> None:
    call_command("demo", stdout=StringIO())


@pytest.fixture
def viewer(db: Any) -> User:
    user = User.objects.create_user("viewer", password="secret-pass-123")
    user.user_permissions.add(Permission.objects.get(codename="view_sheets"))
    return user


def preview(client_for: Any, user: User | None, body: dict[str, Any]) -> Any:
    return client_for(user).post("/api/preview/", body, format="json")


def preview_draft(client_for: Any, user: User, sheet: Sheet, source: str) -> Any:
    """DEMO-1001 previewed on Monday in Amsterdam with ``source`` in place of ``sheet``."""
    return preview(
        client_for,
        user,
        {
            "order": "DEMO-1001",
            "at": MONDAY,
            "time_zone": AMSTERDAM,
            "drafts": [{"sheet": sheet.pk, "source": source}],
        },
    )


def winners(blob: dict[str, Any]) -> list[tuple[str, str | None, list[tuple[int, int]]]]:
    return [
        (
            shipment["FulfillmentAction"],
            (shipment["Supplier"] or {}).get("BackendID"),
            [(line["ID"], line["Quantity"]) for line in shipment["OrderLines"]],
        )
        for shipment in blob["Fulfillments"][0]["Shipments"]
    ]


def lines_of(number: str) -> list[int]:
    return list(
        Order.objects.get(backend_id=number).lines.order_by("id").values_list("id", flat=True)
    )


def test_the_winner_changes_with_the_time(demo: None, client_for: Any, viewer: User) -> None:
    first, second = lines_of("DEMO-1001")
    monday = preview(
        client_for, viewer, {"order": "DEMO-1001", "at": MONDAY, "time_zone": AMSTERDAM}
    )
    assert monday.status_code == 200, monday.json()
    assert winners(monday.json()) == [("SHIP_FROM_STORE", "1187", [(first, 1), (second, 1)])]
    assert monday.json()["At"] == "2026-11-23T10:00:00+01:00"

    sunday = preview(
        client_for, viewer, {"order": "DEMO-1001", "at": SUNDAY, "time_zone": AMSTERDAM}
    )
    blob = sunday.json()
    assert winners(blob) == [("EXPORT_ORDER", "lelystad_warehouse", [(first, 1), (second, 1)])]
    amsterdam = OrganizationUnit.objects.get(backend_id="1187")
    reasons = {
        (r["Reason"], r["Description"])
        for r in blob["Rejections"]
        if r["SupplierID"] == amsterdam.pk
    }
    assert ("ShopNotOpenOnDay", "Shop not open on Sunday") in reasons


def test_an_offset_in_the_time_wins_over_the_time_zone(
    demo: None, client_for: Any, viewer: User
) -> None:
    response = preview(
        client_for,
        viewer,
        {"order": "DEMO-1001", "at": "2026-11-23T09:00:00+00:00", "time_zone": "Asia/Tokyo"},
    )
    assert response.json()["At"] == "2026-11-23T09:00:00+00:00"


def test_a_draft_replaces_its_sheet_without_saving_it(
    demo: None, client_for: Any, viewer: User
) -> None:
    sheet = Sheet.objects.get(fulfillment="ShipFromStore")
    draft = sheet.source.replace(
        "require [Supplier.BackendID] in [AvailableStores]", "require 1 = 2", 1
    )
    assert draft != sheet.source
    before = table_rows()
    response = preview_draft(client_for, viewer, sheet, draft)
    assert winners(response.json())[0][:2] == ("EXPORT_ORDER", "lelystad_warehouse")
    assert table_rows() == before


def test_a_draft_without_a_sheet_is_added(demo: None, client_for: Any, viewer: User) -> None:
    draft = (
        "fulfillment Everything\naction 'EXPORT_ORDER'\nscope Supplier\n"
        "require Supplier.BackendID = 'venlo_warehouse'\nscore add 1000\n"
        "data ExporterName as 'ARVATO'\n"
    )
    response = preview(
        client_for,
        viewer,
        {
            "order": "DEMO-1001",
            "at": MONDAY,
            "time_zone": AMSTERDAM,
            "drafts": [{"name": "Venlo first", "source": draft}],
        },
    )
    blob = response.json()
    assert response.status_code == 200, blob
    assert blob["Errors"] == []
    assert winners(blob)[0][:2] == ("EXPORT_ORDER", "venlo_warehouse")


def test_a_draft_with_errors_is_left_out_and_listed(
    demo: None, client_for: Any, viewer: User
) -> None:
    response = preview(
        client_for,
        viewer,
        {
            "order": "DEMO-1001",
            "at": MONDAY,
            "time_zone": AMSTERDAM,
            "drafts": [
                {
                    "source": "fulfillment Bad\naction CANCEL\nscope Supplier\n"
                    "require Supplier.Typo = 1\n"
                }
            ],
        },
    )
    blob = response.json()
    assert blob["HasErrors"] is True
    [error] = blob["Errors"]
    assert (error["Sheet"], error["Line"], error["Column"], error["Code"]) == (
        "Draft 1",
        4,
        9,
        "UnknownVariable",
    )
    assert winners(blob)[0][:2] == ("SHIP_FROM_STORE", "1187")


def test_a_draft_failing_for_one_ou_leaves_out_only_that_ou_and_names_it(
    demo: None, client_for: Any, viewer: User
) -> None:
    amsterdam = OrganizationUnit.objects.get(backend_id="1187")
    sheet = Sheet.objects.get(fulfillment="ShipFromStore")
    source, statement = divides_by_zero_at(sheet.source, amsterdam.pk)
    line = 1 + source.splitlines().index(statement)
    before = table_rows()
    response = preview_draft(client_for, viewer, sheet, source)
    assert response.status_code == 200
    blob = response.json()
    assert blob["HasErrors"] is True
    assert [
        (e["Sheet"], e["SupplierID"], e["Scope"], e["Line"], e["Code"], e["Variables"])
        for e in blob["Errors"]
    ] == [
        (
            sheet.name,
            amsterdam.pk,
            "OrderLine",
            line,
            "DivisionByZero",
            {"Supplier.ID": amsterdam.pk},
        )
    ]
    assert ("SHIP_FROM_STORE", "1187") not in [w[:2] for w in winners(blob)]
    # The sheet ran on for every other OU: its statements dropped them one by one.
    dropped = blob["Dropped"]
    names = {s["Sheet"]["Name"] for s in dropped["Statements"]}
    assert sheet.name in names
    assert table_rows() == before


def test_a_stock_override_changes_the_winner(demo: None, client_for: Any, viewer: User) -> None:
    amsterdam = OrganizationUnit.objects.get(backend_id="1187")
    order = Order.objects.get(backend_id="DEMO-1001")
    stock = [
        {"organization_unit": amsterdam.pk, "product": line.product_id, "quantity": 0}
        for line in order.lines.all()
    ]
    response = preview(
        client_for,
        viewer,
        {"order": "DEMO-1001", "at": MONDAY, "time_zone": AMSTERDAM, "stock": stock},
    )
    assert "1187" not in {w[1] for w in winners(response.json())}

    minus = [{**item, "quantity": -100, "mode": "delta"} for item in stock]
    again = preview(
        client_for,
        viewer,
        {"order": "DEMO-1001", "at": MONDAY, "time_zone": AMSTERDAM, "stock": minus},
    )
    assert winners(again.json()) == winners(response.json())


def test_a_whitelist_limits_who_may_fulfil(demo: None, client_for: Any, viewer: User) -> None:
    venlo = OrganizationUnit.objects.get(backend_id="venlo_warehouse")
    response = preview(
        client_for,
        viewer,
        {
            "order": "DEMO-1001",
            "at": MONDAY,
            "time_zone": AMSTERDAM,
            "organization_units": [venlo.pk],
        },
    )
    blob = response.json()
    assert {w[1] for w in winners(blob)} <= {"venlo_warehouse", None}
    assert {s["SupplierID"] for s in blob["ValidSuppliers"]} <= {venlo.pk}


def test_current_fulfillments_count_unless_a_clean_slate_is_asked(
    demo: None, client_for: Any, viewer: User
) -> None:
    order = Order.objects.get(backend_id="DEMO-1001")
    amsterdam = OrganizationUnit.objects.get(backend_id="1187")
    fulfillment = OrderFulfillment.objects.create(
        order=order,
        sheet=Sheet.objects.get(fulfillment="ShipFromStore"),
        sheet_name="Ship from store",
        action=FulfillmentAction.SHIP_FROM_STORE,
        supplier_organization_unit=amsterdam,
    )
    for line in order.lines.all():
        OrderFulfillmentLine.objects.create(
            fulfillment=fulfillment,
            order_line=line,
            product=line.product,
            quantity=line.quantity,
            status=FulfillmentStatus.CANCELLED,
            cancellation_reason="Unknown",
        )
    body = {"order": "DEMO-1001", "at": MONDAY, "time_zone": AMSTERDAM}
    respecting = preview(client_for, viewer, body).json()
    assert "1187" not in {w[1] for w in winners(respecting)}
    assert any(
        r["SupplierID"] == amsterdam.pk and r["Reason"] == "PreviouslyCancelled"
        for r in respecting["Rejections"]
    )
    clean = preview(client_for, viewer, {**body, "respect_current_fulfillments": False}).json()
    assert winners(clean)[0][:2] == ("SHIP_FROM_STORE", "1187")


@pytest.mark.parametrize("path", SHARED_SCENARIO_COPIES, ids=lambda p: p.stem)
def test_a_hypothetical_order_as_a_scenario(
    db: Any, client_for: Any, viewer: User, path: Path
) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    response = preview(client_for, viewer, {"scenario": data})
    assert response.status_code == 200, response.json()
    expected = sorted(
        (s["action"], s.get("supplier"), sorted(s["lines"].items()))
        for s in data["expect"]["shipments"]
    )
    found = sorted(
        (a, s, sorted((str(i), q) for i, q in lines))
        for a, s, lines in [
            (
                sh["FulfillmentAction"],
                (sh["Supplier"] or {}).get("ID"),
                [(line["ID"], line["Quantity"]) for line in sh["OrderLines"]],
            )
            for sh in response.json()["Fulfillments"][0]["Shipments"]
        ]
    )
    assert found == expected


def with_ids(value: Any) -> Any:
    """``value`` with "OU" and "PRODUCT" replaced by the IDs of a real OU and product
    (IDs differ between databases: PostgreSQL does not reuse them between tests)."""
    if value == "OU":
        return OrganizationUnit.objects.order_by("pk").first().pk  # type: ignore[union-attr]
    if value == "PRODUCT":
        return Product.objects.order_by("pk").first().pk  # type: ignore[union-attr]
    if isinstance(value, dict):
        return {key: with_ids(item) for key, item in value.items()}
    if isinstance(value, list):
        return [with_ids(item) for item in value]
    return value


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"order": "NOPE-1"}, "order", "There is no order 'NOPE-1'."),
        ({}, "order", "Give either an order number or a scenario (one of the two)."),
        (
            {"order": "DEMO-1001", "scenario": {}},
            "order",
            "Give either an order number or a scenario",
        ),
        (
            {"order": "DEMO-1001", "at": "next tuesday"},
            "at",
            "'next tuesday' is not a date and time",
        ),
        ({"order": "DEMO-1001", "time_zone": "Mars/Olympus"}, "time_zone", "Mars/Olympus"),
        (
            {"order": "DEMO-1001", "drafts": [{"sheet": 987654321, "source": "x"}]},
            "drafts[0].sheet",
            "There is no sheet 987654321.",
        ),
        (
            {"order": "DEMO-1001", "drafts": [{"source": ""}]},
            "drafts[0].source",
            "This field may not be blank.",
        ),
        (
            {
                "order": "DEMO-1001",
                "stock": [{"organization_unit": 987654321, "product": "PRODUCT", "quantity": 1}],
            },
            "stock[0].organization_unit",
            "There is no organization unit 987654321.",
        ),
        (
            {
                "order": "DEMO-1001",
                "stock": [{"organization_unit": "x", "product": "PRODUCT", "quantity": 1}],
            },
            "stock[0].organization_unit",
            "A valid integer is required.",
        ),
        (
            {
                "order": "DEMO-1001",
                "stock": [{"organization_unit": "OU", "product": 987654321, "quantity": 1}],
            },
            "stock[0].product",
            "There is no product 987654321.",
        ),
        (
            {
                "order": "DEMO-1001",
                "stock": [{"organization_unit": "OU", "product": "PRODUCT", "quantity": -1}],
            },
            "stock[0].quantity",
            "An absolute quantity is 0 or more",
        ),
        (
            {
                "order": "DEMO-1001",
                "stock": [
                    {"organization_unit": "OU", "product": "PRODUCT", "quantity": 1, "mode": "add"}
                ],
            },
            "stock[0].mode",
            '"add" is not a valid choice.',
        ),
        (
            {"order": "DEMO-1001", "organization_units": [987654321]},
            "organization_units",
            "There is no organization unit 987654321.",
        ),
        (
            {"order": "DEMO-1001", "respect_current_fulfillments": "perhaps"},
            "respect_current_fulfillments",
            "Must be a valid boolean.",
        ),
        ({"scenario": {"at": "2026-11-23T10:00:00Z"}}, "scenario.format", "scenario.format:"),
        (
            {
                "scenario": {},
                "stock": [{"organization_unit": "OU", "product": "PRODUCT", "quantity": 1}],
            },
            "scenario",
            "A scenario brings its own sheets, stock and OUs",
        ),
    ],
)
def test_bad_input_is_a_400_naming_the_field(
    demo: None, client_for: Any, viewer: User, body: dict[str, Any], field: str, message: str
) -> None:
    before = table_rows()
    response = preview(client_for, viewer, with_ids(body))
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["field"] == field
    assert message in error["message"]
    assert table_rows() == before


def test_the_scenario_error_names_its_json_path(db: Any, client_for: Any, viewer: User) -> None:
    data = json.loads(LINE_SPLITTING.read_text(encoding="utf-8"))
    data["order"]["lines"][0]["product"] = 987654
    response = preview(client_for, viewer, {"scenario": data})
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["field"] == "scenario.order.lines[0].product"
    assert "unknown product 987654" in error["message"]


def test_preview_needs_symphony_sheets_view(
    demo: None, client_for: Any, nobody: User, integrator: User
) -> None:
    body = {"order": "DEMO-1001"}
    assert preview(client_for, None, body).status_code in (401, 403)
    assert preview(client_for, nobody, body).status_code == 403
    assert preview(client_for, integrator, body).status_code == 403


def test_a_preview_writes_nothing_and_sends_no_task(
    demo: None, client_for: Any, viewer: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[Any] = []
    monkeypatch.setattr(Task, "apply_async", lambda self, *a, **k: sent.append((self.name, a, k)))
    product = Product.objects.first()
    unit = OrganizationUnit.objects.first()
    assert product is not None and unit is not None
    before = table_rows()
    response = preview(
        client_for,
        viewer,
        {
            "order": "DEMO-1001",
            "at": MONDAY,
            "drafts": [
                {"sheet": Sheet.objects.first().pk, "source": "fulfillment X\naction CANCEL\n"}
            ],
            "stock": [{"organization_unit": unit.pk, "product": product.pk, "quantity": 50}],
        },
    )
    assert response.status_code == 200
    assert table_rows() == before
    assert sent == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"organization_units": [2**64]}, "organization_units[0]"),
        (
            {"stock": [{"organization_unit": 2**64, "product": 1, "quantity": 1}]},
            "stock[0].organization_unit",
        ),
        (
            {"stock": [{"organization_unit": 1, "product": 2**70, "quantity": 1}]},
            "stock[0].product",
        ),
        (
            {"drafts": [{"sheet": 2**63, "source": "fulfillment X\naction CANCEL\n"}]},
            "drafts[0].sheet",
        ),
    ],
)
def test_an_id_past_64_bits_is_the_fields_own_400_and_nothing_is_written(
    db: Any, client_for: Any, viewer: User, body: dict[str, Any], field: str
) -> None:
    """SQLite raised OverflowError (a 500) on such an ID; PostgreSQL found nothing."""
    before = table_rows()
    response = preview(client_for, viewer, {"order": "DEMO-1001", **body})
    assert response.status_code == 400
    errors = {error["field"]: error["message"] for error in response.json()["errors"]}
    assert errors[field] == "No object has an ID this large."
    assert table_rows() == before


def test_a_preview_request_names_an_order_or_gives_a_scenario() -> None:
    """``previews.PreviewRequest``, which the serializer and the page's form both build,
    cannot be made with neither or both."""
    from orchestration.selectors.previews import PreviewRequest

    with pytest.raises(ValueError, match="one of the two"):
        PreviewRequest()
    with pytest.raises(ValueError, match="one of the two"):
        PreviewRequest(order="WEB-1", scenario_text="{}")
    assert PreviewRequest(order="WEB-1").fulfillment_option == "as asked"
