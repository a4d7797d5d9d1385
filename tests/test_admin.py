"""Every model's admin pages render, with data in them."""

from typing import Any

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from orchestration.models import (
    Backtest,
    FulfillmentAction,
    FulfillmentStatus,
    OrchestrationClaim,
    OrchestrationDrain,
    Order,
    OrderChange,
    OrderFulfillment,
    OrderFulfillmentLine,
    OrderLine,
    OrganizationUnitSet,
    Plan,
    PlanScenario,
    PlanStep,
    PlanStepAttempt,
    PlanTransition,
    Setting,
    Sheet,
    StepGroupVersion,
)
from orchestration.services.idempotency import idempotency_key_claim, idempotency_key_complete
from orchestration.services.orchestration_details import orchestration_details_create
from orchestration.services.orders import order_create
from orchestration.services.preferences import user_preference_set
from orchestration.services.settings import setting_set
from orchestration.services.sheets import sheet_create, sheet_update
from orchestration.services.step_groups import (
    fallout_rule_set,
    plan_scenario_set,
    step_group_version_save,
)
from orchestration.services.stock import stock_reserve
from tests.conftest import table_rows

pytestmark = pytest.mark.django_db


@pytest.fixture
def populated(shop, warehouse, shoe, stock_of, admin_user) -> dict[str, Any]:
    """One row of every model, linked as orchestration would link them."""
    shop.sets.add(OrganizationUnitSet.objects.create(name="PrintSuppliers"))
    stock_of(shop, shoe, 4, 1)
    order = order_create(
        backend_id="ORD-1",
        shipping_city="Urk",
        lines=[{"product": shoe, "quantity": 2}],
    )
    sheet = sheet_create(
        fulfillment="ShipFromStore",
        name="Ship from store",
        source="fulfillment ShipFromStore\naction CANCEL\n# a comment\n",
        user=admin_user,
    )
    sheet_update(sheet=sheet, user=admin_user, is_active=True, comment="live")
    now = timezone.now()
    details = orchestration_details_create(order=order, blob={"HasErrors": False}, at=now, now=now)
    fulfillment = OrderFulfillment.objects.create(
        order=order,
        sheet=sheet,
        sheet_name=sheet.name,
        action=FulfillmentAction.SHIP_FROM_STORE,
        supplier_organization_unit=shop,
        orchestration_details=details,
        data={"DeadlineInMinutes": 600},
    )
    OrderFulfillmentLine.objects.create(
        fulfillment=fulfillment,
        order_line=OrderLine.objects.get(order=order),
        product=shoe,
        quantity=2,
        status=FulfillmentStatus.NEW,
    )
    setting_set(name="Orders:Default:AllowPartialFulfillment", value=True)
    user_preference_set(user=admin_user, dark_mode=True)
    Backtest.objects.create(created_by=admin_user, drafts=[], order_count=1)
    plan_rows(order, fulfillment, admin_user)
    claim = idempotency_key_claim(user=admin_user, key="retry-1", request_hash="0" * 64, now=now)
    idempotency_key_complete(claim=claim, status=201, body=f'{{"id": {order.pk}}}')
    return {"sheet": sheet, "order": order, "fulfillment": fulfillment}


def plan_rows(order: Order, fulfillment: OrderFulfillment, user: Any) -> None:
    """A step group version with a dependency, a scenario, a fallout rule, and a plan
    with a step, its attempt and a transition."""
    version = step_group_version_save(
        key="ShipFromStore",
        name="Ship from store",
        steps=[
            {"key": "start", "name": "Start", "type": "MANUAL", "handler": "start"},
            {"key": "ship", "name": "Ship", "type": "MANUAL", "handler": "ship"},
        ],
        dependencies=[{"step": "ship", "on": "start"}],
        comment="first",
        user=user,
    )
    plan_scenario_set(group_key="ShipFromStore", action="SHIP_FROM_STORE")
    fallout_rule_set(step_key="", error_code="", queue="operations")
    plan = Plan.objects.create(order=order, fulfillment=fulfillment, version=version)
    step = PlanStep.objects.create(plan=plan, definition=version.steps.get(key="start"))
    now = timezone.now()
    PlanStepAttempt.objects.create(step=step, number=1, started_at=now)
    PlanTransition.objects.create(
        plan=plan, step=step, to_state="READY", at=now, actor="system:plans", message="ready"
    )
    OrderChange.objects.create(
        order=order, number=1, summary="the shipping address", created_at=now, created_by=user
    )
    OrchestrationDrain.objects.create(slot=1, rung_at=now)
    OrchestrationClaim.objects.create(order=order, claimed_at=now)


def _admin_models() -> list[Any]:
    return sorted(admin.site._registry, key=lambda model: model._meta.label)


@pytest.mark.parametrize("model", _admin_models(), ids=lambda model: model._meta.label)
def test_admin_pages_render_for_every_model(model, populated, admin_user) -> None:
    client = Client()
    client.force_login(admin_user)
    meta = model._meta
    changelist = client.get(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"))
    assert changelist.status_code == 200
    instance = model.objects.first()
    if meta.app_label == "orchestration":
        assert instance is not None, "the fixture makes one of every domain model"
    if instance is not None:
        url = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[instance.pk])
        assert client.get(url).status_code == 200
    model_admin = admin.site._registry[model]
    request = changelist.wsgi_request
    if model_admin.has_add_permission(request):
        add = client.get(reverse(f"admin:{meta.app_label}_{meta.model_name}_add"))
        assert add.status_code == 200


def test_every_domain_model_is_in_admin() -> None:
    from django.apps import apps

    domain = set(apps.get_app_config("orchestration").get_models())
    assert domain - set(admin.site._registry) == set()


def test_sheet_admin_shows_highlighted_source_and_revisions(populated, admin_user) -> None:
    client = Client()
    client.force_login(admin_user)
    sheet = populated["sheet"]
    page = client.get(reverse("admin:orchestration_sheet_change", args=[sheet.pk])).content.decode()
    # Keywords and comments come out as Pygments spans.
    assert '<span class="k">fulfillment</span>' in page
    assert '<span class="c1"># a comment</span>' in page
    assert "live" in page  # the revision's comment, in the revisions inline


def _post_sheet(admin_user: Any, sheet: Sheet, **fields: str) -> Any:
    """Submit the sheet's admin change form with ``fields``."""
    client = Client()
    client.force_login(admin_user)
    return client.post(
        reverse("admin:orchestration_sheet_change", args=[sheet.pk]),
        {
            "fulfillment": "ShipFromStore",
            "name": "Ship from store",
            "revisions-TOTAL_FORMS": "0",
            "revisions-INITIAL_FORMS": "0",
            **fields,
        },
    )


def test_saving_a_sheet_in_admin_makes_a_revision(populated, admin_user) -> None:
    sheet = populated["sheet"]
    response = _post_sheet(
        admin_user,
        sheet,
        is_active="on",
        source="fulfillment ShipFromStore\naction CANCEL\n",
        comment="dropped the comment",
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    sheet.refresh_from_db()
    assert (sheet.revision, sheet.updated_by) == (3, admin_user)
    assert sheet.revisions.get(number=3).comment == "dropped the comment"


def test_setting_admin_refuses_a_value_of_the_wrong_type(admin_user) -> None:
    client = Client()
    client.force_login(admin_user)
    response = client.post(
        reverse("admin:orchestration_setting_add"),
        {"name": "Symphony:OrchestrationDetailsLifetimeInDays", "value": '"ten"'},
    )
    assert response.status_code == 200
    assert "Expected an integer, got a string." in response.content.decode()
    assert Setting.objects.count() == 0


def test_sheets_in_admin_need_symphony_sheets_view(designer) -> None:
    designer.is_staff = True
    designer.save()
    client = Client()
    client.force_login(designer)
    assert client.get(reverse("admin:orchestration_sheet_changelist")).status_code == 200
    designer.groups.clear()
    assert client.get(reverse("admin:orchestration_sheet_changelist")).status_code == 403
    assert Sheet.objects.count() == 0
    assert Order.objects.count() == 0


def test_saving_stock_in_admin_keeps_a_reservation_made_meanwhile(
    shop, shoe, stock_of, admin_user
) -> None:
    """The admin writes only the counted stock; it never overwrites reservations."""
    stock = stock_of(shop, shoe, 5, 0)
    client = Client()
    client.force_login(admin_user)
    url = reverse("admin:orchestration_stock_change", args=[stock.pk])
    assert client.get(url).status_code == 200
    # An order reserves between the form's load and its save.
    assert stock_reserve(organization_unit_id=shop.pk, product_id=shoe.pk, quantity=2)
    response = client.post(url, {"quantity_on_hand": "7"})
    assert response.status_code == 302
    stock.refresh_from_db()
    assert (stock.quantity_on_hand, stock.quantity_reserved) == (7, 2)


def test_setting_admin_lists_every_known_setting_with_its_value(admin_user) -> None:
    setting_set(name="Symphony:OrchestrationDetailsLifetimeInDays", value=30)
    client = Client()
    client.force_login(admin_user)
    page = client.get(reverse("admin:orchestration_setting_changelist")).content.decode()
    known = page[page.index('id="known-settings"') : page.index("Stored values")]
    assert "<code>UseOrderOrchestrationForReturnOrders</code>" in known
    assert "<strong>30</strong>" in known  # stored, so in bold
    assert "?name=ShipFromStore%3AFanoutTaskLabel" in known  # unset: a link to set it


def test_the_sheet_form_shows_the_checkers_problems(populated, admin_user) -> None:
    sheet = populated["sheet"]
    response = _post_sheet(
        admin_user, sheet, source="fulfillment ShipFromStore\naction CANCEL\nscope Suppliers\n"
    )
    assert response.status_code == 200
    assert "line 3, column 1: unknown scope &#x27;Suppliers&#x27; (did you mean Supplier?)" in (
        response.content.decode()
    )
    sheet.refresh_from_db()
    assert sheet.revision == 2


def test_a_step_group_version_is_read_only_in_admin_and_says_how_to_change_it(
    populated, admin_user
) -> None:
    client = Client()
    client.force_login(admin_user)
    version = StepGroupVersion.objects.get()
    page = client.get(
        reverse("admin:orchestration_stepgroupversion_change", args=[version.pk])
    ).content.decode()
    assert "Versions are not edited in place: plans in flight run on them." in page
    assert "start (PLAN)" in page  # the ship step's dependency, in the steps inline
    refused = client.post(
        reverse("admin:orchestration_stepgroupversion_change", args=[version.pk]),
        {"comment": "changed"},
    )
    assert refused.status_code == 403
    version.refresh_from_db()
    assert version.comment == "first"


def test_a_scenario_with_bad_logic_is_refused_in_admin_naming_the_problem(
    populated, admin_user
) -> None:
    client = Client()
    client.force_login(admin_user)
    scenario = PlanScenario.objects.get()
    response = client.post(
        reverse("admin:orchestration_planscenario_change", args=[scenario.pk]),
        {
            "group": scenario.group_id,
            "action": "SHIP_FROM_STORE",
            "condition": '{"clauses": [{"field": "Order.Type", "operator": "=", "value": "x"}],'
            ' "logic": "1 AND 2"}',
            "priority": "3",
            "is_active": "on",
        },
    )
    assert response.status_code == 200
    assert (
        "Scenario condition: clause 2 does not exist: the condition has 1 clause"
        in response.content.decode()
    )
    scenario.refresh_from_db()
    assert (scenario.condition, scenario.priority) == (None, 0)


def test_a_version_is_activated_from_the_admin_through_the_service(populated, admin_user) -> None:
    first = StepGroupVersion.objects.get()
    second = step_group_version_save(
        key="ShipFromStore",
        name="Ship from store",
        steps=[{"key": "start", "name": "Start", "type": "MANUAL", "handler": "start"}],
        comment="second",
    )
    client = Client()
    client.force_login(admin_user)

    response = client.post(
        reverse("admin:orchestration_stepgroupversion_changelist"),
        {"action": "activate", "_selected_action": [first.pk]},
    )

    assert response.status_code == 302
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.is_active, second.is_active) == (True, False)


def _staff(username: str, *codenames: str) -> Client:
    from django.contrib.auth.models import Permission, User

    user = User.objects.create_user(username, password="secret-pass-123", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client


def test_the_plans_design_in_admin_follows_plans_view_and_design(populated) -> None:
    scenario = PlanScenario.objects.get()
    change = reverse("admin:orchestration_planscenario_change", args=[scenario.pk])
    form = {"group": scenario.group_id, "action": "SHIP_FROM_STORE", "priority": "7"}
    viewer = _staff("plan-viewer", "view_stepgroup")
    designer = _staff("plan-designer", "view_stepgroup", "change_stepgroup")
    nobody = _staff("staff-only")

    version = StepGroupVersion.objects.get()
    assert nobody.get(reverse("admin:orchestration_stepgroup_changelist")).status_code == 403
    assert viewer.get(reverse("admin:orchestration_stepgroup_changelist")).status_code == 200
    page = viewer.get(reverse("admin:orchestration_stepgroupversion_change", args=[version.pk]))
    assert page.status_code == 200 and "start (PLAN)" in page.content.decode()
    before = table_rows()
    assert viewer.post(change, form).status_code == 403
    assert table_rows() == before

    assert designer.post(change, form).status_code == 302
    scenario.refresh_from_db()
    assert scenario.priority == 7
