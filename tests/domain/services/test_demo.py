"""``manage.py demo``: what it loads, that a second run duplicates nothing, that
it leaves existing users' passwords alone, the Suite's URLs and the logins it
prints (at the address ``make run`` serves on), that it logs nothing noisy, and
that its sheet files are clean, well-ordered sheets."""

import dataclasses
import os
import re
import shutil
import subprocess
import sys
from datetime import datetime, timedelta
from decimal import Decimal
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.contrib.auth import authenticate
from django.contrib.auth.models import Group, User
from django.core.management import CommandError, call_command

from orchestration import demo
from orchestration.demo import data
from orchestration.language.checker import analyze
from orchestration.models import (
    FalloutRule,
    Order,
    OrderFulfillment,
    OrderLine,
    OrganizationUnit,
    OrganizationUnitSet,
    PlanScenario,
    Product,
    Setting,
    Sheet,
    SheetRevision,
    StepDefinition,
    StepGroupVersion,
    Stock,
)
from orchestration.models.orders import ADDRESS_PARTS
from orchestration.selectors.fulfillments import store_task_list
from orchestration.services.roles import DESIGNERS_GROUP
from tests.conftest import table_counts

SHEET_FILES = sorted(demo.SHEETS_DIR.glob("*.sheet"))
SHIP_FROM_STORE_SHOPS = ("1187", "1026", "1155", "1109", "3001", "1220")


@pytest.fixture(autouse=True)
def _fast_and_isolated(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # The real hasher costs a third of a second per password; these tests set
    # and check passwords many times.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    monkeypatch.delenv("DEMO_PASSWORD", raising=False)


def run_demo() -> str:
    out = StringIO()
    call_command("demo", stdout=out)
    return out.getvalue()


def printed_logins(output: str) -> dict[str, str]:
    """The ``username / password`` pairs of the report."""
    return dict(re.findall(r"^  (\w+) / (\S+)  ", output, flags=re.MULTILINE))


# --- What it loads ------------------------------------------------------------


@pytest.mark.django_db
def test_demo_loads_the_retailer() -> None:
    run_demo()

    assert OrganizationUnit.objects.count() == 17
    assert OrganizationUnit.objects.filter(type="Shop").count() == 12
    assert OrganizationUnit.objects.filter(type="Warehouse").count() == 2
    assert OrganizationUnit.objects.filter(type="Shop", status="Closed").count() == 1
    assert OrganizationUnitSet.objects.count() == 2
    assert Product.objects.count() == 13
    assert Stock.objects.count() == 145
    assert Sheet.objects.count() == 5
    assert Sheet.objects.filter(is_active=True).count() == 4
    assert SheetRevision.objects.count() == 5
    assert Order.objects.count() == 6
    assert OrderLine.objects.count() == 11
    assert Setting.objects.get(name="UseOrderOrchestrationForReturnOrders").value is True
    assert User.objects.count() == 3


@pytest.mark.django_db
def test_urk_store_and_lelystad_warehouse_are_where_the_reference_has_them() -> None:
    run_demo()

    urk = OrganizationUnit.objects.get(backend_id="urk_store")
    lelystad = OrganizationUnit.objects.get(backend_id="lelystad_warehouse")
    assert (urk.name, urk.type, urk.address_city) == ("Urk store", "Shop", "Urk")
    assert (urk.address_latitude, urk.address_longitude) == (52.6617, 5.6014)
    assert (lelystad.name, lelystad.type, lelystad.address_city) == (
        "Lelystad warehouse",
        "Warehouse",
        "Lelystad",
    )
    assert (lelystad.address_latitude, lelystad.address_longitude) == (52.5185, 5.4714)


@pytest.mark.django_db
def test_every_shop_and_warehouse_is_a_dutch_address_with_coordinates() -> None:
    run_demo()

    for unit in OrganizationUnit.objects.filter(type__in=["Shop", "Warehouse"]):
        unit.full_clean()
        assert unit.status in ("Open", "Closed")
        assert (unit.country_id, unit.address_country_id, unit.time_zone) == (
            "NL",
            "NL",
            "Europe/Amsterdam",
        )
        assert unit.address_street and unit.address_zip_code and unit.address_city
        # Inside the Netherlands' bounding box.
        assert 50.7 < unit.address_latitude < 53.6
        assert 3.3 < unit.address_longitude < 7.3


@pytest.mark.django_db
def test_the_sheets_find_the_organization_units_they_name() -> None:
    run_demo()

    shops = OrganizationUnit.objects.filter(backend_id__in=SHIP_FROM_STORE_SHOPS, type="Shop")
    assert shops.count() == len(SHIP_FROM_STORE_SHOPS)
    assert OrganizationUnit.objects.get(backend_id="IBE_Company").type == "Company"
    assert OrganizationUnit.objects.get(backend_id="returns_portal").type == "ReturnsPortal"
    printers = OrganizationUnitSet.objects.get(name="PrintSuppliers").organization_units.all()
    assert {unit.backend_id for unit in printers} == {"1187", "IBE_ZWOLLE"}
    assert all(unit.custom_fields["PrintingCapable"] is True for unit in printers)


def test_a_demo_address_has_exactly_the_model_address_parts() -> None:
    assert {f.name for f in dataclasses.fields(data.Address)} == set(ADDRESS_PARTS)


@pytest.mark.django_db
def test_an_ou_without_an_address_gets_empty_address_fields() -> None:
    run_demo()

    portal = OrganizationUnit.objects.get(backend_id="returns_portal")
    assert (portal.address_street, portal.address_zip_code, portal.address_city) == ("", "", "")
    assert portal.address_country_id == ""
    assert (portal.address_latitude, portal.address_longitude) == (None, None)


@pytest.mark.django_db
def test_products_have_content_replacements_and_varied_stock() -> None:
    run_demo()

    gift_card = Product.objects.get(backend_id="TU410980")
    assert not gift_card.stock.filter(organization_unit__type="Shop").exists()
    limited = Product.objects.filter(content__is_limited_edition="true")
    assert {product.backend_id for product in limited} == {"SWT-CABLE-CRM", "SCF-SILK-LTD"}
    old_boot = Product.objects.get(backend_id="BOOT-CHELSEA-24")
    assert [p.backend_id for p in old_boot.replacements.all()] == ["BOOT-CHELSEA-25"]
    assert Stock.objects.filter(quantity_on_hand=0).exists()
    assert Stock.objects.filter(quantity_on_hand__gte=100).exists()


@pytest.mark.django_db
def test_the_orders_cover_the_interesting_cases() -> None:
    run_demo()

    orders = {order.backend_id: order for order in Order.objects.all()}
    assert set(orders) == {f"DEMO-100{n}" for n in range(1, 7)}
    assert orders["DEMO-1001"].custom_fields == {"Channel": "WEBSHOP"}
    assert orders["DEMO-1004"].sold_from_organization_unit.backend_id == "IBE_Company"
    assert orders["DEMO-1005"].shipping_is_pickup_point is True
    # Some orders ask for a delivery option at checkout; the others for none.
    assert {number: order.requested_fulfillment_option for number, order in orders.items()} == {
        "DEMO-1001": "SameDayDelivery",
        "DEMO-1002": "",
        "DEMO-1003": "",
        "DEMO-1004": "NormalDelivery",
        "DEMO-1005": "",
        "DEMO-1006": "",
    }
    returned = orders["DEMO-1006"]
    assert returned.intent == "Returns"
    assert returned.sold_from_organization_unit.backend_id == "returns_portal"
    assert returned.original_order == orders["DEMO-1001"]
    (returned_line,) = returned.lines.all()
    assert returned_line.return_reason == "TooSmall"
    assert returned_line.original_line == orders["DEMO-1001"].lines.get(
        product__backend_id="SNK-CANVAS-WHT"
    )
    assert OrderLine.objects.filter(is_gift_wrapped=True).count() == 1
    preferred = OrderLine.objects.get(preferred_fulfillment_organization_unit__isnull=False)
    assert preferred.preferred_fulfillment_organization_unit.backend_id == "3001"
    for order in orders.values():
        assert order.shipping_city and order.shipping_latitude and order.shipping_longitude
        assert order.shipping_country_id == "NL"
        # Billed where it ships to.
        for part in ADDRESS_PARTS:
            assert getattr(order, f"billing_{part}") == getattr(order, f"shipping_{part}")
    for line in OrderLine.objects.all():
        assert line.unit_price > 0
        # Prices are stored to four decimals, so 21% VAT holds to within that.
        assert abs(line.unit_price * Decimal("1.21") - line.unit_price_in_tax) < Decimal("0.0002")


# --- Idempotence and atomicity --------------------------------------------------


@pytest.mark.django_db
def test_a_second_run_duplicates_nothing() -> None:
    run_demo()
    counts = table_counts()
    revisions = list(SheetRevision.objects.values_list("sheet__fulfillment", "number"))

    output = run_demo()

    assert table_counts() == counts
    assert list(SheetRevision.objects.values_list("sheet__fulfillment", "number")) == revisions
    assert set(Sheet.objects.values_list("revision", flat=True)) == {1}
    assert User.objects.count() == 3
    assert re.search(r"organization units +0 created, +17 already there", output)
    assert re.search(r"orders +0 created, +6 already there", output)


@pytest.mark.django_db
def test_a_changed_sheet_file_becomes_one_new_revision(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_demo()
    sheets_dir = tmp_path / "sheets"
    shutil.copytree(demo.SHEETS_DIR, sheets_dir)
    changed = sheets_dir / "WarehouseFulfillment.sheet"
    changed.write_text(changed.read_text(encoding="utf-8") + "\nscore add 1\n", encoding="utf-8")
    monkeypatch.setattr(demo, "SHEETS_DIR", sheets_dir)

    output = run_demo()
    run_demo()

    sheet = Sheet.objects.get(fulfillment="WarehouseFulfillment")
    assert sheet.revision == 2
    assert sheet.source.endswith("score add 1\n")
    assert SheetRevision.objects.count() == 6
    assert "1 updated from their .sheet file" in output


@pytest.mark.django_db
def test_an_existing_order_is_left_as_it_is() -> None:
    run_demo()
    Order.objects.filter(backend_id="DEMO-1002").update(status="Routed", customer_email="x@y.nl")

    run_demo()

    order = Order.objects.get(backend_id="DEMO-1002")
    assert (order.status, order.customer_email) == ("Routed", "x@y.nl")


@pytest.mark.django_db
def test_a_failure_leaves_nothing_half_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    before = table_counts()

    def refuse(**kwargs: Any) -> None:
        raise RuntimeError("order service down")

    monkeypatch.setattr(demo, "order_create", refuse)
    with pytest.raises(RuntimeError, match="order service down"):
        run_demo()

    assert table_counts() == before
    assert not User.objects.exists()


# --- Users and logins -------------------------------------------------------------


@pytest.mark.django_db
def test_the_designer_may_view_and_edit_sheets() -> None:
    run_demo()

    designer = User.objects.get(username="designer")
    assert designer.groups.filter(name=DESIGNERS_GROUP).exists()
    assert designer.has_perm("orchestration.view_sheets")
    assert designer.has_perm("orchestration.edit_sheets")
    assert not designer.is_superuser
    assert User.objects.get(username="admin").is_superuser


@pytest.mark.django_db
def test_a_fresh_database_prints_working_logins() -> None:
    output = run_demo()

    assert "http://127.0.0.1:8000/admin/" in output
    assert "http://127.0.0.1:8000/api/docs/" in output
    assert "`make run`" in output
    logins = printed_logins(output)
    assert logins == {"admin": "admin", "designer": "designer", "kalverstraat": "kalverstraat"}
    for username, password in logins.items():
        assert authenticate(username=username, password=password) is not None
    assert "existing user" not in output
    # The store staff member works at the Kalverstraat shop only, and not in the admin.
    shop = User.objects.get(username="kalverstraat")
    assert list(shop.organization_units.values_list("backend_id", flat=True)) == ["1187"]
    assert (shop.is_staff, list(shop.groups.values_list("name", flat=True))) == (
        False,
        ["Store staff"],
    )


@pytest.mark.django_db
def test_the_report_lists_the_suites_pages_at_the_host_it_is_given() -> None:
    out = StringIO()

    call_command("demo", host="0.0.0.0:8080", stdout=out)

    urls = re.findall(r"^  ([A-Z][\w ]*?) +(http://\S+)$", out.getvalue(), flags=re.MULTILINE)
    assert urls == [
        ("Sheets", "http://0.0.0.0:8080/sheets/"),
        ("Preview", "http://0.0.0.0:8080/preview/"),
        ("Orders", "http://0.0.0.0:8080/orders/"),
        ("Stores", "http://0.0.0.0:8080/orders/stores/"),
        ("Admin", "http://0.0.0.0:8080/admin/"),
        ("API docs", "http://0.0.0.0:8080/api/docs/"),
    ]
    assert "127.0.0.1:8000" not in out.getvalue()
    assert set(printed_logins(out.getvalue())) == {"admin", "designer", "kalverstraat"}


@pytest.mark.parametrize(
    ("host", "sheets_url"),
    [
        ("8001", "http://127.0.0.1:8001/sheets/"),
        ("0:8000", "http://0.0.0.0:8000/sheets/"),
        ("[::1]:8000", "http://[::1]:8000/sheets/"),
        ("suite.local:80", "http://suite.local:80/sheets/"),
    ],
)
@pytest.mark.django_db
def test_the_host_is_read_as_runserver_reads_it(host: str, sheets_url: str) -> None:
    out = StringIO()

    call_command("demo", host=host, stdout=out)

    assert f"  Sheets    {sheets_url}\n" in out.getvalue()


@pytest.mark.django_db
def test_a_host_runserver_would_refuse_is_refused_before_anything_is_loaded() -> None:
    before = table_counts()

    with pytest.raises(CommandError, match=r"--host 'http://x' is not an address runserver"):
        call_command("demo", host="http://x", stdout=StringIO())

    assert table_counts() == before


def test_make_run_serves_and_prints_at_the_same_host() -> None:
    root = Path(__file__).resolve().parents[3]
    dry_run = subprocess.run(
        [
            shutil.which("make") or "make",
            "--dry-run",
            "--no-print-directory",
            "run",
            "HOST=0.0.0.0:8080",
        ],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.splitlines()

    assert ".venv/bin/python manage.py demo --host 0.0.0.0:8080" in dry_run
    assert "DJANGO_DEBUG=1 .venv/bin/python manage.py runserver 0.0.0.0:8080" in dry_run


def test_loading_the_demo_logs_no_task_lines_and_no_broker_warning(tmp_path: Path) -> None:
    """At the default level, ``make run``'s log (the embedded defaults: SQLite, tasks
    inline, the in-memory broker) shows neither a "Task ... succeeded" line per demo
    order nor the in-memory broker's "No hostname was supplied". Run as ``make run``
    runs it, in a process of its own with none of the services' settings, whatever
    this test run is configured with."""
    root = Path(__file__).resolve().parents[3]
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "CELERY_BROKER_URL", "CELERY_TASK_ALWAYS_EAGER", "LOG_LEVEL")
    }
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    manage = [sys.executable, str(root / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v0"], cwd=root, env=env, check=True)
    loaded = subprocess.run(
        [*manage, "demo"], cwd=root, env=env, capture_output=True, text=True, check=True
    )
    assert "Logins (demo passwords" in loaded.stdout  # the demo loaded, orders routed inline
    assert "succeeded" not in loaded.stderr
    assert "No hostname was supplied" not in loaded.stderr
    assert loaded.stderr.strip() == ""


@pytest.mark.django_db
def test_demo_password_chooses_the_password_of_new_users(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DEMO_PASSWORD", "tulips-in-april")

    output = run_demo()

    assert printed_logins(output) == dict.fromkeys(
        ("admin", "designer", "kalverstraat"), "tulips-in-april"
    )
    assert authenticate(username="admin", password="tulips-in-april") is not None
    assert authenticate(username="designer", password="tulips-in-april") is not None
    assert authenticate(username="admin", password="admin") is None


@pytest.mark.django_db
def test_a_second_run_still_prints_the_logins_it_created() -> None:
    run_demo()

    output = run_demo()

    # The passwords were not set again, but they still are the demo's.
    assert printed_logins(output) == {
        "admin": "admin",
        "designer": "designer",
        "kalverstraat": "kalverstraat",
    }
    assert re.search(r"users +0 created, +3 already there", output)


@pytest.mark.django_db
def test_an_existing_admin_keeps_its_password_and_flags() -> None:
    User.objects.create_user("admin", password="shared-db-secret", email="ops@example.com")

    output = run_demo()

    admin = User.objects.get(username="admin")
    assert authenticate(username="admin", password="shared-db-secret") is not None
    assert authenticate(username="admin", password="admin") is None
    assert (admin.is_superuser, admin.is_staff, admin.email) == (False, False, "ops@example.com")
    assert re.search(r"^  admin \(existing user; password unchanged\)  ", output, re.MULTILINE)
    # The designer did not exist yet: created, and its login printed.
    assert printed_logins(output) == {"designer": "designer", "kalverstraat": "kalverstraat"}
    assert authenticate(username="designer", password="designer") is not None
    # The existing admin still authors the demo's sheets.
    assert {sheet.created_by for sheet in Sheet.objects.all()} == {admin}


@pytest.mark.django_db
def test_a_changed_demo_password_does_not_reset_existing_users(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run_demo()
    monkeypatch.setenv("DEMO_PASSWORD", "tulips-in-april")

    output = run_demo()

    assert printed_logins(output) == {}
    assert "designer (existing user; password unchanged)" in output
    assert authenticate(username="designer", password="designer") is not None
    assert authenticate(username="designer", password="tulips-in-april") is None


@pytest.mark.django_db
def test_the_designer_is_put_back_into_its_group() -> None:
    run_demo()
    designer = User.objects.get(username="designer")
    designer.groups.clear()
    designer.is_staff = False
    designer.save()

    run_demo()

    designer = User.objects.get(username="designer")
    assert designer.groups.filter(name=DESIGNERS_GROUP).exists()
    assert designer.has_perm("orchestration.edit_sheets")
    # Only the group is restored; the flags are the user's own business.
    assert designer.is_staff is False


@pytest.mark.django_db
def test_an_existing_designer_joins_the_group_and_keeps_its_password() -> None:
    Group.objects.filter(name=DESIGNERS_GROUP).delete()
    User.objects.create_user("designer", password="my-own")

    output = run_demo()

    designer = User.objects.get(username="designer")
    assert designer.groups.filter(name=DESIGNERS_GROUP).exists()
    assert authenticate(username="designer", password="my-own") is not None
    assert "designer (existing user; password unchanged)" in output


# --- The sheet files ----------------------------------------------------------------


def test_there_is_one_sheet_file_per_demo_sheet() -> None:
    assert [path.stem for path in SHEET_FILES] == sorted(sheet.fulfillment for sheet in data.SHEETS)


@pytest.mark.parametrize("path", SHEET_FILES, ids=lambda path: path.stem)
def test_sheet_file_is_clean_text(path: Path) -> None:
    source = path.read_text(encoding="utf-8")

    assert not re.search(r"\bPython\b", source)
    assert not any(line.rstrip().endswith("\\") for line in source.splitlines())
    assert not set(source) & set("\u2018\u2019\u201c\u201d")
    # Mojibake of UTF-8 read as another code page (the reference's laptop emoji).
    assert not re.search("\u03c0\u0178|\u00c3|\u00e2\u20ac|\u03b2\u2020", source)
    assert "\t" not in source and "\r" not in source
    assert source.endswith("\n")


@pytest.mark.parametrize("path", SHEET_FILES, ids=lambda path: path.stem)
def test_sheet_file_passes_the_checker_and_names_itself(path: Path) -> None:
    analysis = analyze(path.read_text(encoding="utf-8"))
    assert [d.render(path.read_text(encoding="utf-8")) for d in analysis.diagnostics] == []
    assert analysis.fulfillment == path.stem


@pytest.mark.django_db
def test_each_stored_sheet_begins_with_its_own_fulfillment() -> None:
    run_demo()

    for sheet in Sheet.objects.all():
        assert analyze(sheet.source).fulfillment == sheet.fulfillment
    assert Sheet.objects.get(fulfillment="IBE").is_active is False
    returns = Sheet.objects.get(fulfillment="ReturnOrdersFromReturnPortal").source
    assert "option OrderIntents as 'Returns'" in returns
    assert "action CANCEL" in Sheet.objects.get(fulfillment="CancelFallback").source


# --- Work for every role, whatever the clock -------------------------------------


def kalverstraat_open_tasks() -> list[OrderFulfillment]:
    return list(store_task_list(OrganizationUnit.objects.get(backend_id="1187")))


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("loaded_at", "routed_at"),
    [
        # Within the hours the ship-from-store sheet gives shops: routed as loaded.
        ("2026-12-05T14:00:00+01:00", "2026-12-05T14:00:00+01:00"),
        # Sunday (the Kalverstraat shop is closed): as at Saturday evening.
        ("2026-12-06T15:00:00+01:00", "2026-12-05T22:30:00+01:00"),
        # Monday before seven: as at Saturday evening too.
        ("2026-12-07T03:00:00+01:00", "2026-12-05T22:30:00+01:00"),
        # Tuesday night after eleven: as at half past ten that evening.
        ("2026-12-08T23:40:00+01:00", "2026-12-08T22:30:00+01:00"),
        # Summer time: the shop's hours are local hours.
        ("2026-07-05T12:00:00+02:00", "2026-07-04T22:30:00+02:00"),
    ],
)
def test_the_kalverstraat_shop_has_open_tasks_whenever_the_demo_is_loaded(
    loaded_at: str, routed_at: str, django_capture_on_commit_callbacks: Any
) -> None:
    with (
        time_machine.travel(datetime.fromisoformat(loaded_at), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        output = run_demo()

    routed = datetime.fromisoformat(routed_at)
    tasks = kalverstraat_open_tasks()
    assert [task.order.backend_id for task in tasks] == ["DEMO-1001"]
    # The shop has the sheet's DeadlineInMinutes (600) from the routing to start.
    assert tasks[0].start_deadline == routed + timedelta(minutes=600)
    first = Order.objects.get(backend_id="DEMO-1001")
    assert first.placed_at == routed - timedelta(hours=30)
    if loaded_at == routed_at:
        assert "routed as at" not in output
    else:
        assert (
            "The Kalverstraat shop takes no ship-from-store tasks at "
            f"{demo.moment_text(datetime.fromisoformat(loaded_at))}: the demo's orders were "
            f"placed and routed as at {demo.moment_text(routed)}, the last time it did."
        ) in output


def test_the_demo_clock_follows_the_ship_from_store_sheets_hours() -> None:
    source = demo.sheet_source("ShipFromStore")
    assert f"with [startTime] as {data.SHOP_HOURS[0]}\n" in source
    assert f"with [endTime] as {data.SHOP_HOURS[1]}\n" in source
    weekdays = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
    listed = ", ".join(f"'{weekdays[day]}'" for day in data.SHOP_WEEKDAYS)
    assert f"with [mondayToSaturday] as {listed}\n" in source


@pytest.mark.django_db
def test_the_demo_ships_plans_for_every_fulfillment_action_and_a_richer_example() -> None:
    output = run_demo()

    assert "step groups" in output
    scenarios = {
        (s.action, s.group.key, s.priority) for s in PlanScenario.objects.select_related("group")
    }
    assert scenarios == {
        ("SHIP_FROM_STORE", "ShipFromStore", 0),
        ("EXPORT_ORDER", "WarehouseExport", 0),
        ("EXPORT_RETURN_ORDER", "ReturnExport", 0),
        ("SHIP_FROM_STORE", "PaidShipFromStore", 10),
    }
    assert list(
        StepDefinition.objects.filter(version__group__key="ShipFromStore")
        .order_by("position")
        .values_list("key", "point_of_no_return")
    ) == [("start", False), ("pick", False), ("pack", True), ("ship", False)]
    assert list(FalloutRule.objects.values_list("step_key", "queue", "priority")) == [
        ("carrier", "carrier-desk", 10),
        ("", "operations", 0),
    ]
    run_demo()  # a second run leaves the designer's groups as they are
    assert StepGroupVersion.objects.count() == 4
