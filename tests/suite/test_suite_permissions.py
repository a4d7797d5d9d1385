"""The permission matrix: every Suite URL and every sheet, plan and plan-step API
endpoint, for every kind of user.

Each request is made by an anonymous visitor, a signed-in user without any
permission, and users holding exactly one of the SymphonySheets permissions
(View, View+Create, View+Edit, View+Delete) and all of them (a designer), an
order desk (Orders:View, working for every organization unit) and shop staff
(Orders:View and Fulfillments:Edit, on the staff of the OUs the order's fulfilments
go to; tests/lifecycle/test_staff_scope.py covers staff of other OUs), a plan viewer
(Plans:View) and a plan designer (Plans:View and Plans:Design). The
expected status follows from the permissions an endpoint needs; a refused
request must leave every row of every table as it was.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from orchestration.models import (
    Backtest,
    ExportStatus,
    FalloutRule,
    FulfillmentAction,
    FulfillmentStatus,
    OrchestrationDetails,
    Order,
    OrderChange,
    OrderFulfillment,
    OrderFulfillmentLine,
    OrderIntent,
    OrderLine,
    OrderStatus,
    OrganizationUnit,
    Plan,
    PlanScenario,
    PlanStep,
    Product,
    Sheet,
    StepDefinition,
    StepGroup,
    StepGroupVersion,
    StepState,
    StepType,
    Stock,
)
from orchestration.services.sheets import sheet_create, sheet_update
from orchestration.services.step_groups import (
    fallout_rule_set,
    plan_scenario_set,
    step_group_version_save,
)
from tests.conftest import sheet_text, table_rows
from tests.sources import LINE_SPLITTING

pytestmark = pytest.mark.django_db

VIEW, CREATE, EDIT, DELETE = "view_sheets", "create_sheets", "edit_sheets", "delete_sheets"
ORDERS, FULFILL = "view_order", "change_orderfulfillment"
PLANS, DESIGN = "view_stepgroup", "change_stepgroup"  # Plans:View, Plans:Design

USERS: dict[str, tuple[str, ...] | None] = {
    "anonymous": None,
    "nobody": (),
    "viewer": (VIEW,),
    "creator": (VIEW, CREATE),
    "editor": (VIEW, EDIT),
    "deleter": (VIEW, DELETE),
    "designer": (VIEW, CREATE, EDIT, DELETE),
    "order desk": (ORDERS,),
    "shop staff": (ORDERS, FULFILL),
    "plan viewer": (PLANS,),
    "plan designer": (PLANS, DESIGN),
}


@dataclass(frozen=True)
class Endpoint:
    """One request: what it needs, how it is made, and what success looks like."""

    name: str
    method: str
    url: Callable[[Sheet], str]
    needs: tuple[str, ...]
    data: dict[str, Any] | None = None
    json_body: Any = None
    api: bool = False  # the REST API (DRF): 401/403 and JSON
    page: bool = True  # an HTML page: anonymous visitors are sent to sign in
    ok: tuple[int, ...] = (200,)


# A hypothetical order: previews of it do not depend on the database's orders.
SCENARIO = LINE_SPLITTING.read_text(encoding="utf-8")


# An export file that changes the matrix's sheet (its name): importing it needs no Create.
SHEETS_FILE = {
    "format_version": 1,
    "exported_at": "2026-12-01T09:30:00+00:00",
    "sheets": [
        {
            "fulfillment": "Fallback",
            "name": "Fallback, imported",
            "is_active": True,
            "source": sheet_text("Fallback"),
        }
    ],
}


def source_of(sheet: Sheet) -> str:
    return sheet_text(sheet.fulfillment)


ENDPOINTS = [
    # Everyone signed in has a start (account.landing); anyone else signs in first.
    Endpoint("start page", "get", lambda s: "/", (), ok=(302,)),
    Endpoint("overview", "get", lambda s: "/sheets/", (VIEW,)),
    Endpoint("overview filtered", "get", lambda s: "/sheets/?inactive=1&q=a&sort=-name", (VIEW,)),
    Endpoint("create form", "get", lambda s: "/sheets/new/", (VIEW, CREATE)),
    Endpoint(
        "create",
        "post",
        lambda s: "/sheets/new/",
        (VIEW, CREATE),
        data={"name": "New", "fulfillment": "NewSheet", "template": "cancel-fallback"},
        ok=(302,),
    ),
    Endpoint("editor", "get", lambda s: f"/sheets/{s.pk}/", (VIEW,)),
    Endpoint(
        "save",
        "post",
        lambda s: f"/sheets/{s.pk}/",
        (VIEW, EDIT),
        data={"name": "Renamed", "fulfillment": "Fallback", "source": sheet_text("Fallback")},
        ok=(302,),
    ),
    Endpoint(
        "check",
        "post",
        lambda s: "/sheets/check/",
        (VIEW,),
        json_body={"source": "fulfillment X\naction CANCEL\n", "fulfillment": "X"},
        page=False,
    ),
    Endpoint("OU lookup", "get", lambda s: "/sheets/organization-units/?q=a", (VIEW,), page=False),
    Endpoint(
        "activate",
        "post",
        lambda s: f"/sheets/{s.pk}/activate/",
        (VIEW, EDIT),
        data={"active": "0"},
        ok=(302,),
    ),
    Endpoint("visual editor", "get", lambda s: f"/sheets/{s.pk}/visual/", (VIEW,)),
    Endpoint(
        "visual save",
        "post",
        lambda s: f"/sheets/{s.pk}/visual/",
        (VIEW, EDIT),
        data={"revision": "2", "comment": "off", "active": ""},
        ok=(302,),
    ),
    Endpoint("revisions", "get", lambda s: f"/sheets/{s.pk}/revisions/", (VIEW,)),
    Endpoint("diff", "get", lambda s: f"/sheets/{s.pk}/revisions/diff/?a=1&b=2", (VIEW,)),
    Endpoint(
        "restore",
        "post",
        lambda s: f"/sheets/{s.pk}/revisions/1/restore/",
        (VIEW, EDIT),
        ok=(302,),
    ),
    Endpoint("delete", "post", lambda s: f"/sheets/{s.pk}/delete/", (VIEW, DELETE), ok=(302,)),
    Endpoint("duplicate form", "get", lambda s: f"/sheets/{s.pk}/duplicate/", (VIEW, CREATE)),
    Endpoint(
        "duplicate",
        "post",
        lambda s: f"/sheets/{s.pk}/duplicate/",
        (VIEW, CREATE),
        data={"name": "Copy", "fulfillment": "FallbackCopy"},
        ok=(302,),
    ),
    # Compare the editor's unsaved text with the sheet: writes nothing for anyone.
    Endpoint(
        "compare",
        "post",
        lambda s: f"/sheets/{s.pk}/compare/",
        (VIEW,),
        data={"name": "Fallback", "fulfillment": "Fallback", "source": "fulfillment Fallback\n"},
    ),
    # Sheets between installs: as editing a sheet (a file of changed sheets only here).
    Endpoint("export", "get", lambda s: "/sheets/export/", (VIEW, EDIT)),
    Endpoint("import page", "get", lambda s: "/sheets/import/", (VIEW, EDIT)),
    Endpoint(
        "import dry run",
        "post",
        lambda s: "/sheets/import/",
        (VIEW, EDIT),
        data={"file": SimpleUploadedFile("sheets.json", json.dumps(SHEETS_FILE).encode())},
    ),
    Endpoint(
        "import apply",
        "post",
        lambda s: "/sheets/import/apply/",
        (VIEW, EDIT),
        data={"fingerprint": "0"},
        ok=(302,),
    ),
    # The preview (writes nothing for anyone; needs View to run).
    Endpoint("preview page", "get", lambda s: "/preview/", (VIEW,)),
    Endpoint(
        "preview run",
        "post",
        lambda s: "/preview/",
        (VIEW,),
        data={"scenario": SCENARIO, "run": "1"},
    ),
    Endpoint("order lookup", "get", lambda s: "/preview/orders/?q=x", (VIEW,), page=False),
    Endpoint("product lookup", "get", lambda s: "/preview/products/?q=x", (VIEW,), page=False),
    Endpoint(
        "backtest start",
        "post",
        lambda s: "/preview/backtests/",
        (VIEW,),
        data={"draft-0-source": sheet_text("Fallback"), "order_count": "5"},
        ok=(302,),
    ),
    Endpoint(
        "backtest result",
        "get",
        lambda s: f"/preview/backtests/{Backtest.objects.get().pk}/",
        (VIEW,),
    ),
    Endpoint(
        "API preview",
        "post",
        lambda s: "/api/preview/",
        (VIEW,),
        json_body={"scenario": json.loads(SCENARIO)},
        api=True,
        page=False,
    ),
    Endpoint(
        "API fulfillment options",
        "post",
        lambda s: "/api/fulfillment-options/",
        (VIEW,),
        json_body={
            "lines": [{"product": "SHOE", "quantity": 1}],
            "shipping_address": {"city": "Urk", "latitude": 52.66, "longitude": 5.6},
        },
        api=True,
        page=False,
    ),
    # The order pages and the shops' tasks (each action on a task at the stage it needs).
    Endpoint("orders", "get", lambda s: "/orders/?q=ORDER&status=Routed", (ORDERS,)),
    Endpoint("order", "get", lambda s: f"/orders/{the_order().pk}/", (ORDERS,)),
    Endpoint("order run", "get", lambda s: f"/orders/{the_order().pk}/runs/1/", (ORDERS,)),
    Endpoint("shops", "get", lambda s: "/orders/stores/", (ORDERS,)),
    Endpoint("shop tasks", "get", lambda s: f"{shop_tasks()}?finished=1", (ORDERS,)),
    Endpoint(
        "task start",
        "post",
        lambda s: f"{shop_tasks()}{task('new')}/start/",
        (ORDERS, FULFILL),
        ok=(302,),
    ),
    Endpoint(
        "task pick",
        "post",
        lambda s: f"{shop_tasks()}{task('started')}/pick/",
        (ORDERS, FULFILL),
        data={"reason": ""},
        ok=(302,),
    ),
    Endpoint(
        "task pack",
        "post",
        lambda s: f"{shop_tasks()}{task('picked')}/pack/",
        (ORDERS, FULFILL),
        ok=(302,),
    ),
    Endpoint(
        "task ship",
        "post",
        lambda s: f"{shop_tasks()}{task('packed')}/ship/",
        (ORDERS, FULFILL),
        data={"carrier": "PostNL", "tracking_number": "3S123"},
        ok=(302,),
    ),
    Endpoint(
        "task decline",
        "post",
        lambda s: f"{shop_tasks()}{task('new')}/decline/",
        (ORDERS, FULFILL),
        data={"reason": "Damaged"},
        ok=(302,),
    ),
    Endpoint("failed exports", "get", lambda s: "/orders/export-failures/", (ORDERS,)),
    Endpoint(
        "export retry",
        "post",
        lambda s: f"/orders/export-failures/{failed_export().pk}/retry/",
        (ORDERS, FULFILL),
        ok=(302,),
    ),
    Endpoint(
        "return create form",
        "get",
        lambda s: f"/orders/{the_order().pk}/return/",
        (ORDERS, "add_order"),
    ),
    # An in-flight change: the order desk (Orders:Edit); shop staff may not.
    Endpoint(
        "change order form",
        "get",
        lambda s: f"/orders/{the_order().pk}/change/",
        (ORDERS, "change_order"),
    ),
    Endpoint(
        "change order",
        "post",
        lambda s: f"/orders/{the_order().pk}/change/",
        (ORDERS, "change_order"),
        data={"city": "Rotterdam"},
        ok=(302, 400),
    ),
    Endpoint(
        "API order change",
        "get",
        lambda s: f"/api/orders/{the_order().pk}/changes/1/",
        (ORDERS,),
        api=True,
        page=False,
    ),
    Endpoint("return form", "get", lambda s: f"/orders/{the_return().pk}/return-form/", (ORDERS,)),
    Endpoint(
        "return form PDF", "get", lambda s: f"/orders/{the_return().pk}/return-form.pdf", (ORDERS,)
    ),
    Endpoint(
        "return receive",
        "post",
        lambda s: (
            f"/orders/{the_return().pk}/fulfillments/{the_return().fulfillments.get().pk}/receive/"
        ),
        (ORDERS, FULFILL),
        # No line named: the service refuses with a message on the order page (a
        # redirect); what matters here is who gets that far.
        data={"received-0": "0"},
        ok=(302,),
    ),
    # Plans: the order's plan graph, the fallout queue and its bulk actions.
    Endpoint(
        "order plan", "get", lambda s: f"/orders/{the_order().pk}/plan.json", (ORDERS,), page=False
    ),
    Endpoint("fallout queue", "get", lambda s: "/orders/fallout/?queue=finance", (ORDERS,)),
    Endpoint(
        "fallout retry",
        "post",
        lambda s: "/orders/fallout/act/",
        (ORDERS, FULFILL),
        data={"steps": "", "note": "fixed", "action": "retry"},
        ok=(302,),
    ),
    # Marking a manual step done (this one is not: refused with a message, nothing written).
    Endpoint(
        "plan step done",
        "post",
        lambda s: f"/orders/{the_order().pk}/plan-steps/{the_step()}/done/",
        (ORDERS, FULFILL),
        data={"note": "done"},
        ok=(302,),
    ),
    Endpoint(
        "fallout complete",
        "post",
        lambda s: "/orders/fallout/act/",
        (ORDERS, FULFILL),
        data={"steps": "", "note": "done by hand", "action": "complete"},
        ok=(302,),
    ),
    Endpoint(
        "API plan steps",
        "get",
        lambda s: "/api/plan-steps/?state=FATALLY_FAILED&queue=finance",
        (ORDERS,),
        api=True,
        page=False,
    ),
    Endpoint(
        "API plan step",
        "get",
        lambda s: f"/api/plan-steps/{the_step()}/",
        (ORDERS,),
        api=True,
        page=False,
    ),
    Endpoint(
        "API plan steps retry",
        "post",
        lambda s: "/api/plan-steps/retry/",
        (ORDERS, FULFILL),
        json_body={"steps": "", "note": "fixed"},
        api=True,
        page=False,
    ),
    Endpoint(
        "API plan steps complete",
        "post",
        lambda s: "/api/plan-steps/complete/",
        (ORDERS, FULFILL),
        json_body={"steps": "", "note": "done by hand"},
        api=True,
        page=False,
    ),
    # The sheet API.
    Endpoint("API list", "get", lambda s: "/api/sheets/", (VIEW,), api=True, page=False),
    Endpoint("API detail", "get", lambda s: f"/api/sheets/{s.pk}/", (VIEW,), api=True, page=False),
    Endpoint(
        "API revisions",
        "get",
        lambda s: f"/api/sheets/{s.pk}/revisions/",
        (VIEW,),
        api=True,
        page=False,
    ),
    Endpoint(
        "API create",
        "post",
        lambda s: "/api/sheets/",
        (CREATE,),
        json_body={"fulfillment": "ApiSheet", "name": "API", "source": sheet_text("ApiSheet")},
        api=True,
        page=False,
        ok=(201,),
    ),
    Endpoint(
        "API update",
        "patch",
        lambda s: f"/api/sheets/{s.pk}/",
        (EDIT,),
        json_body={"name": "Patched"},
        api=True,
        page=False,
    ),
    Endpoint(
        "API export", "get", lambda s: "/api/sheets/export/", (VIEW, EDIT), api=True, page=False
    ),
    Endpoint(
        "API import",
        "post",
        lambda s: "/api/sheets/import/",
        (VIEW, EDIT),
        json_body=SHEETS_FILE,
        api=True,
        page=False,
    ),
    Endpoint(
        "API delete",
        "delete",
        lambda s: f"/api/sheets/{s.pk}/",
        (DELETE,),
        api=True,
        page=False,
        ok=(204,),
    ),
]


# The plan edit page's form, as it posts one step row and no dependency.
PLAN_EDIT = {
    "name": "Invoicing",
    "comment": "matrix",
    "activate": "on",
    "step-TOTAL_FORMS": "1",
    "step-INITIAL_FORMS": "0",
    "dep-TOTAL_FORMS": "0",
    "dep-INITIAL_FORMS": "0",
    **{
        f"step-0-{name}": value
        for name, value in {
            "key": "invoice",
            "name": "Invoice",
            "type": "AUTO_TASK",
            "scope": "ORDER",
            "handler": "succeed",
            "timeout_seconds": "10",
            "delay_from": "DEPENDENCIES_DONE",
            "retry_kind": "NONE",
            "assignment": "NONE",
        }.items()
    },
}
PLAN_VERSION = {
    "key": "Invoicing",
    "name": "Invoicing",
    "steps": [{"key": "invoice", "name": "Invoice", "type": "AUTO_TASK", "handler": "succeed"}],
}
PLAN_ENDPOINTS = [
    Endpoint("plans", "get", lambda s: "/sheets/plans/", (PLANS,)),
    Endpoint("plan group", "get", lambda s: "/sheets/plans/groups/Invoicing/", (PLANS,)),
    Endpoint("plan new form", "get", lambda s: "/sheets/plans/new/", (PLANS, DESIGN)),
    Endpoint(
        "plan new",
        "post",
        lambda s: "/sheets/plans/new/",
        (PLANS, DESIGN),
        data={**PLAN_EDIT, "key": "Other"},
        ok=(302,),
    ),
    Endpoint(
        "plan edit form", "get", lambda s: "/sheets/plans/groups/Invoicing/edit/", (PLANS, DESIGN)
    ),
    Endpoint(
        "plan edit",
        "post",
        lambda s: "/sheets/plans/groups/Invoicing/edit/",
        (PLANS, DESIGN),
        data=PLAN_EDIT,
        ok=(302,),
    ),
    Endpoint(
        "plan activate",
        "post",
        lambda s: "/sheets/plans/groups/Invoicing/versions/1/activate/",
        (PLANS, DESIGN),
        ok=(302,),
    ),
    Endpoint(
        "plan scenario set",
        "post",
        lambda s: "/sheets/plans/groups/Invoicing/scenarios/",
        (PLANS, DESIGN),
        data={"action": "EXPORT_ORDER", "priority": "3"},
        ok=(302,),
    ),
    Endpoint(
        "plan scenario delete",
        "post",
        lambda s: f"/sheets/plans/groups/Invoicing/scenarios/{the_scenario()}/delete/",
        (PLANS, DESIGN),
        ok=(302,),
    ),
    Endpoint("fallout rules", "get", lambda s: "/sheets/plans/fallout-rules/", (PLANS,)),
    Endpoint(
        "fallout rule add",
        "post",
        lambda s: "/sheets/plans/fallout-rules/",
        (PLANS, DESIGN),
        data={"step_key": "invoice", "error_code": "", "queue": "finance", "priority": "1"},
        ok=(302,),
    ),
    Endpoint(
        "fallout rule delete",
        "post",
        lambda s: f"/sheets/plans/fallout-rules/{the_rule()}/delete/",
        (PLANS, DESIGN),
        ok=(302,),
    ),
    # The plans' API.
    Endpoint(
        "API step groups", "get", lambda s: "/api/step-groups/", (PLANS,), api=True, page=False
    ),
    Endpoint(
        "API step group",
        "get",
        lambda s: "/api/step-groups/Invoicing/",
        (PLANS,),
        api=True,
        page=False,
    ),
    Endpoint(
        "API step group version",
        "post",
        lambda s: "/api/step-groups/",
        (PLANS, DESIGN),
        json_body=PLAN_VERSION,
        api=True,
        page=False,
        ok=(201,),
    ),
    Endpoint(
        "API step group activate",
        "post",
        lambda s: "/api/step-groups/Invoicing/versions/1/activate/",
        (PLANS, DESIGN),
        json_body={},
        api=True,
        page=False,
    ),
    Endpoint(
        "API scenarios", "get", lambda s: "/api/plan-scenarios/", (PLANS,), api=True, page=False
    ),
    Endpoint(
        "API scenario create",
        "post",
        lambda s: "/api/plan-scenarios/",
        (PLANS, DESIGN),
        json_body={"group": "Invoicing", "action": "EXPORT_ORDER", "priority": 3},
        api=True,
        page=False,
        ok=(201,),
    ),
    Endpoint(
        "API scenario update",
        "patch",
        lambda s: f"/api/plan-scenarios/{the_scenario()}/",
        (PLANS, DESIGN),
        json_body={"priority": 4},
        api=True,
        page=False,
    ),
    Endpoint(
        "API scenario delete",
        "delete",
        lambda s: f"/api/plan-scenarios/{the_scenario()}/",
        (PLANS, DESIGN),
        api=True,
        page=False,
        ok=(204,),
    ),
    Endpoint(
        "API fallout rules", "get", lambda s: "/api/fallout-rules/", (PLANS,), api=True, page=False
    ),
    Endpoint(
        "API fallout rule create",
        "post",
        lambda s: "/api/fallout-rules/",
        (PLANS, DESIGN),
        json_body={"queue": "finance"},
        api=True,
        page=False,
        ok=(201,),
    ),
    Endpoint(
        "API fallout rule update",
        "patch",
        lambda s: f"/api/fallout-rules/{the_rule()}/",
        (PLANS, DESIGN),
        json_body={"queue": "logistics"},
        api=True,
        page=False,
    ),
    Endpoint(
        "API fallout rule delete",
        "delete",
        lambda s: f"/api/fallout-rules/{the_rule()}/",
        (PLANS, DESIGN),
        api=True,
        page=False,
        ok=(204,),
    ),
]
ENDPOINTS += PLAN_ENDPOINTS


def plan_world() -> None:
    """A step group with two versions (the second active), a scenario and a fallout rule."""
    for comment in ("1", "2"):
        step_group_version_save(
            key="Invoicing",
            name="Invoicing",
            steps=[
                {"key": "invoice", "name": "Invoice", "type": "AUTO_TASK", "handler": "succeed"}
            ],
            comment=comment,
        )
    plan_scenario_set(group_key="Invoicing", action="SHIP_FROM_STORE", priority=20)
    fallout_rule_set(step_key="invoice", error_code="", queue="finance")


def the_scenario() -> int:
    return PlanScenario.objects.get(action="SHIP_FROM_STORE").pk


def the_rule() -> int:
    return FalloutRule.objects.get(step_key="invoice").pk


def order_world() -> None:
    """An order with a ship-from-store task at each stage at one shop, and a failed export."""
    now = timezone.now()
    shop = OrganizationUnit.objects.create(name="Urk store", backend_id="urk_store", type="Shop")
    warehouse = OrganizationUnit.objects.create(
        name="Lelystad", backend_id="lelystad", type="Warehouse"
    )
    product = Product.objects.create(backend_id="SHOE", name="Shoes")
    order = Order.objects.create(backend_id="ORDER-1", status=OrderStatus.ROUTED)
    line = OrderLine.objects.create(order=order, product=product, quantity=5)
    # Reserved for the four tasks below, as orchestration leaves it.
    Stock.objects.create(
        organization_unit=shop, product=product, quantity_on_hand=10, quantity_reserved=4
    )
    OrchestrationDetails.objects.create(order=order, attempt=1, at=now, expires_at=now)
    # An in-flight change made earlier (the API reads it by its number).
    OrderChange.objects.create(order=order, number=1, summary="line 1 to 5", created_at=now)
    stages = {
        "new": {},
        "started": {"status": FulfillmentStatus.IN_PROGRESS, "started_at": now},
        "picked": {"status": FulfillmentStatus.IN_PROGRESS, "started_at": now, "picked_at": now},
        "packed": {
            "status": FulfillmentStatus.IN_PROGRESS,
            "started_at": now,
            "picked_at": now,
            "packed_at": now,
        },
    }
    for stage, fields in stages.items():
        fulfillment = OrderFulfillment.objects.create(
            order=order,
            supplier_organization_unit=shop,
            action=FulfillmentAction.SHIP_FROM_STORE,
            sheet_name=stage,  # how the endpoints find the task at their stage
            holds_reservation=True,
            **fields,
        )
        OrderFulfillmentLine.objects.create(
            fulfillment=fulfillment,
            order_line=line,
            product=product,
            quantity=1,
            status=fields.get("status", FulfillmentStatus.NEW),
        )
    export = OrderFulfillment.objects.create(
        order=order,
        supplier_organization_unit=warehouse,
        action=FulfillmentAction.EXPORT_ORDER,
        exporter_name="ARVATO",
        export_status=ExportStatus.FAILED,
        export_attempts=5,
        export_error="The warehouse answered 503.",
    )
    OrderFulfillmentLine.objects.create(
        fulfillment=export, order_line=line, product=product, quantity=1
    )
    # A return of one of its units, its documents sent, on its way to the warehouse.
    returned = Order.objects.create(
        backend_id="ORDER-1-R1",
        intent=OrderIntent.RETURNS,
        original_order=order,
        status=OrderStatus.ROUTED,
    )
    returned_line = OrderLine.objects.create(
        order=returned, product=product, quantity=1, original_line=line
    )
    documents = OrderFulfillment.objects.create(
        order=returned,
        supplier_organization_unit=warehouse,
        action=FulfillmentAction.EXPORT_RETURN_ORDER,
        status=FulfillmentStatus.IN_PROGRESS,
        export_status=ExportStatus.EXPORTED,
    )
    OrderFulfillmentLine.objects.create(
        fulfillment=documents,
        order_line=returned_line,
        product=product,
        quantity=1,
        status=FulfillmentStatus.IN_PROGRESS,
    )

    # A plan of the failed export, its one step fatally failed (the fallout queue's).
    group = StepGroup.objects.create(key="Export", name="Export")
    version = StepGroupVersion.objects.create(group=group, number=1, is_active=True)
    definition = StepDefinition.objects.create(
        version=version, key="export", name="Export", type=StepType.AUTO_TASK, handler="succeed"
    )
    plan = Plan.objects.create(order=order, fulfillment=export, version=version)
    PlanStep.objects.create(
        plan=plan,
        definition=definition,
        state=StepState.FATALLY_FAILED,
        attempts=1,
        error_code="AlwaysFails",
        error="The warehouse answered 503.",
        fallout_queue="finance",
    )


def the_step() -> int:
    return PlanStep.objects.get(fallout_queue="finance").pk


def the_return() -> Order:
    return Order.objects.get(backend_id="ORDER-1-R1")


def the_order() -> Order:
    return Order.objects.get(backend_id="ORDER-1")


def shop_tasks() -> str:
    return f"/orders/stores/{OrganizationUnit.objects.get(backend_id='urk_store').pk}/tasks/"


def task(stage: str) -> int:
    return OrderFulfillment.objects.get(sheet_name=stage).pk


def failed_export() -> OrderFulfillment:
    return OrderFulfillment.objects.get(export_status=ExportStatus.FAILED)


def make_user(kind: str) -> User | None:
    perms = USERS[kind]
    if perms is None:
        return None
    user = User.objects.create_user(kind.replace(" ", "-"), password="secret-pass-123")
    user.user_permissions.add(*Permission.objects.filter(codename__in=perms))
    if kind == "order desk":
        user.user_permissions.add(Permission.objects.get(codename="work_every_organization_unit"))
    if kind == "shop staff":
        user.organization_units.add(
            *OrganizationUnit.objects.filter(supplied_fulfillments__isnull=False).distinct()
        )
    return user


def request(client: Client, endpoint: Endpoint, sheet: Sheet) -> Any:
    url = endpoint.url(sheet)
    call = getattr(client, endpoint.method)
    # "steps": "" stands for the world's fatally failed step (its ID is known only now).
    if endpoint.json_body is not None:
        body = endpoint.json_body
        if isinstance(body, dict) and body.get("steps") == "":
            body = {**body, "steps": [the_step()]}
        return call(url, json.dumps(body), content_type="application/json")
    if endpoint.data is not None and endpoint.data.get("steps") == "":
        return call(url, {**endpoint.data, "steps": [the_step()]})
    if endpoint.data is not None:
        for value in endpoint.data.values():
            if isinstance(value, SimpleUploadedFile):
                value.seek(0)  # the same upload for every user
        return call(url, endpoint.data)
    return call(url)


@pytest.mark.parametrize("kind", list(USERS))
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda endpoint: endpoint.name)
def test_permission_matrix(endpoint: Endpoint, kind: str) -> None:
    sheet = sheet_create(
        fulfillment="Fallback", name="Fallback", source=sheet_text("Fallback"), is_active=True
    )
    sheet_update(sheet=sheet, source=sheet_text("Fallback") + "# two\n", comment="2")
    Backtest.objects.create(drafts=[], order_count=1)
    order_world()
    plan_world()
    user = make_user(kind)
    client = Client()
    if user is not None:
        client.force_login(user)
    before = table_rows()

    response = request(client, endpoint, sheet)

    granted = USERS[kind] is not None and set(endpoint.needs) <= set(USERS[kind] or ())
    if granted:
        assert response.status_code in endpoint.ok, response.content[:500]
        return
    if user is None and endpoint.page:
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=")
    elif user is None and endpoint.api:
        assert response.status_code in (401, 403)
    else:
        assert response.status_code == 403, response.content[:500]
        if endpoint.page:
            assert b"You cannot do this" in response.content
    assert table_rows() == before, f"{kind} was refused {endpoint.name} but something changed"
