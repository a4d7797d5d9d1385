"""One plan stored both ways: ``persistence.postgres`` (the fast path) writes exactly
the rows ``persistence.orm`` (the reference) writes.

Each order below is placed and handled through the real services (``order_create``,
the engine, ``fulfillment_decline``), so its plans are the ones production makes: a
ship-from-store task fanned out to a second shop, a partial order whose other line a
CANCEL sheet cancels, an order that waits for stock, and the run that routes a
declined task again. Whenever a run hands its plan to ``store_run``, the plan is
copied and stored by each implementation in a savepoint that is then rolled back,
and every table of the domain app is read after each. The rows must be the same,
and the saved objects left alike; then the run stores its plan as usual.

Compared: every column of every row of every table, byte for byte as PostgreSQL
returns it (the compressed blob as bytes, JSON as text). Not compared as numbers:
the surrogate IDs of the rows a run inserts (its ``OrchestrationDetails``,
fulfilments, fulfilment lines and timeline entries) and the foreign keys pointing at
them. Each implementation takes them from the tables' sequences, which a rolled-back
savepoint does not give back, so the second to store always gets higher numbers.
They are compared by what they identify instead: each is replaced by its object's
place in the plan (``fulfillment 1``, ``line 2``), so a line pointing at the wrong
fulfilment still fails, and their order must be the plan's (the timeline sorts by
time, then ID). No timestamp is left out: the clock is frozen, so ``auto_now``
columns and the reservations' ``updated_at`` must match too.
"""

import copy
import io
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.apps import apps
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.db.models import F, Model

from orchestration.celery import app as celery_app
from orchestration.demo import demo_load
from orchestration.models import (
    FulfillmentAction,
    FulfillmentStatus,
    OrchestrationDetails,
    OrchestrationOutcome,
    Order,
    OrderEvent,
    OrderFulfillment,
    OrderFulfillmentLine,
    OrganizationUnit,
    Product,
    Sheet,
    Stock,
)
from orchestration.services import orchestration as orchestrating
from orchestration.services import persistence
from orchestration.services.fulfillments.steps import (
    fulfillment_decline,
    fulfillment_pick,
    fulfillment_start,
)
from orchestration.services.orders import order_create
from orchestration.services.persistence import orm, postgres
from orchestration.services.persistence.plan import RunPlan
from orchestration.services.sheets import sheet_set_active, sheet_update

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="the fast path is PostgreSQL's; .ci/run runs this with DATABASE_URL set",
    ),
    pytest.mark.django_db,
]

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
# A Monday morning: the demo's shops are open, so ship-from-store wins.
MONDAY = datetime(2026, 11, 23, 10, 0, tzinfo=AMSTERDAM)
ADDRESS = {
    "shipping_street": "Herengracht 182",
    "shipping_zip_code": "1016 BR",
    "shipping_city": "Amsterdam",
    "shipping_country_id": "NL",
    "shipping_latitude": 52.3752,
    "shipping_longitude": 4.8872,
}
DELFT = {"shipping_city": "Delft", "shipping_latitude": 52.0116, "shipping_longitude": 4.3571}
PICKUP_POINT = {  # shops do not ship to pickup points: the warehouse does
    "shipping_city": "Rotterdam",
    "shipping_latitude": 51.9225,
    "shipping_longitude": 4.4792,
    "shipping_is_pickup_point": True,
}
# The tables a run may write; any other changing fails the test.
WRITTEN = frozenset(
    {
        "orchestration_orchestrationdetails",
        "orchestration_orderfulfillment",
        "orchestration_orderfulfillmentline",
        "orchestration_stock",
        "orchestration_orderline",
        "orchestration_order",
        "orchestration_orderevent",
    }
)

Rows = dict[str, list[tuple[Any, ...]]]
Labels = dict[tuple[str, Any], str]


@pytest.fixture(autouse=True)
def world(db: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The demo retailer, tasks run inline, the clock frozen on MONDAY."""
    monkeypatch.setattr(celery_app.conf, "task_always_eager", True)
    demo_load(stdout=io.StringIO(), password="demo-pass-123")
    with time_machine.travel(MONDAY, tick=False):
        yield


@pytest.fixture
def after_commit(django_capture_on_commit_callbacks: Any) -> Callable[..., Any]:
    """Call a service, then run what it sent after commit (the orchestration), inline."""

    def call(service: Callable[..., Any], **kwargs: Any) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return service(**kwargs)

    return call


@pytest.fixture
def place(after_commit: Callable[..., Any]) -> Callable[..., Order]:
    """Place an order as the API does: ``place({"SKU": quantity}, **fields)``."""

    def place(lines: dict[str, int], **fields: Any) -> Order:
        fields.setdefault("backend_id", f"WEB-{5001 + Order.objects.count()}")
        fields.setdefault(
            "sold_from_organization_unit", OrganizationUnit.objects.get(backend_id="webshop_nl")
        )
        fields.setdefault("customer_email", "sanne.devries@example.com")
        order: Order = after_commit(
            order_create,
            lines=[
                {"product": Product.objects.get(backend_id=sku), "quantity": quantity}
                for sku, quantity in lines.items()
            ],
            **{**ADDRESS, **fields},
        )
        order.refresh_from_db()
        return order

    return place


@pytest.fixture
def compared(monkeypatch: pytest.MonkeyPatch) -> list[RunPlan]:
    """Every plan a run stores is first stored both ways and compared; the plans
    compared, as stored afterwards, are listed here."""
    plans: list[RunPlan] = []

    def store_both_ways(*, plan: RunPlan) -> bool:
        try:
            compare(plan)
        except AssertionError as error:
            # A failure, not an error of the run's: order_orchestrate would record
            # that as the order's and carry on. pytest's Failed is no Exception.
            pytest.fail(f"stored differently: {error}")
        plans.append(plan)
        return persistence.store_run(plan=plan)

    monkeypatch.setattr(orchestrating, "store_run", store_both_ways)
    return plans


def compare(plan: RunPlan) -> None:
    """Store a copy of ``plan`` each way, each in a savepoint rolled back after the
    rows were read; both must leave the same rows and the same objects."""
    before = rows({})
    stored = {}
    for name, store in (("orm", orm.store_run), ("postgres", postgres.store_run)):
        plan_copy = copy.deepcopy(plan)
        callbacks = len(connection.run_on_commit)
        with transaction.atomic():  # a savepoint, rolled back
            answer = store(plan=plan_copy)
            labels = labels_of(plan_copy)
            stored[name] = (answer, rows(labels), saved(plan_copy, labels))
            # A store sends nothing after commit: that is the caller's.
            assert len(connection.run_on_commit) == callbacks, name
            transaction.set_rollback(True)
    assert rows({}) == before  # both rolled back
    answer, after, objects = stored["orm"]
    assert answer is True
    assert not any(adding for _kind, adding, *_fields in objects)  # all saved
    changed = {table for table, table_rows in after.items() if table_rows != before[table]}
    assert {"orchestration_orchestrationdetails", "orchestration_order"} <= changed <= WRITTEN
    for table in WRITTEN:  # table by table first, for a readable difference
        assert stored["postgres"][1][table] == after[table], table
    assert stored["postgres"] == stored["orm"]


def labels_of(plan: RunPlan) -> Labels:
    """The new rows' IDs, each named by its object's place in the plan; the IDs of
    each kind must rise in the plan's order, as ``bulk_create`` gives them."""
    kinds: list[tuple[type[Model], list[Model]]] = [
        (OrchestrationDetails, [plan.details]),
        (OrderFulfillment, list(plan.routing.fulfillments)),
        (OrderFulfillmentLine, [planned.line for planned in plan.routing.lines]),
        (OrderEvent, list(plan.events)),
    ]
    labels: Labels = {}
    for model, objects in kinds:
        ids = [obj.pk for obj in objects]
        assert all(isinstance(pk, int) for pk in ids), (model, ids)
        assert ids == sorted(set(ids)), (model, ids)
        for number, pk in enumerate(ids):
            labels[model._meta.db_table, pk] = f"{model.__name__} {number}"
    return labels


def _labelled(model: type[Model], column: str | None, value: Any, labels: Labels) -> Any:
    """A column's value, or the label of the new row it is (its ID) or points at."""
    field = next((f for f in model._meta.concrete_fields if f.column == column), None)
    if field is None or value is None:
        return value
    if field.primary_key:
        return labels.get((model._meta.db_table, value), value)
    if field.is_relation and field.related_model is not None:
        return labels.get((field.related_model._meta.db_table, value), value)
    return value


def rows(labels: Labels) -> Rows:
    """Every row of every table of the domain app, as PostgreSQL returns it, in ID
    order, new rows' IDs and references to them labelled."""
    tables: Rows = {}
    with connection.cursor() as cursor:
        for model in apps.get_app_config("orchestration").get_models():
            table = model._meta.db_table
            quoted = connection.ops.quote_name(table)
            key = model._meta.pk
            assert key is not None and key.column is not None
            pk = connection.ops.quote_name(key.column)
            # Table and column names of our own models only.
            cursor.execute(f"SELECT * FROM {quoted} ORDER BY {pk}")  # noqa: S608
            columns = [column.name for column in cursor.description]
            tables[table] = [
                tuple(
                    _labelled(
                        model,
                        column,
                        bytes(value) if isinstance(value, memoryview) else value,
                        labels,
                    )
                    for column, value in zip(columns, row, strict=True)
                )
                for row in cursor.fetchall()
            ]
    return tables


def saved(plan: RunPlan, labels: Labels) -> list[tuple[Any, ...]]:
    """How the store left the plan's objects: saved (not adding), and each field."""
    objects: list[Model] = [
        plan.details,
        *plan.routing.fulfillments,
        *(planned.line for planned in plan.routing.lines),
        *plan.events,
    ]
    return [
        (
            type(obj).__name__,
            obj._state.adding,
            obj._state.db,
            *(
                _labelled(type(obj), field.column, getattr(obj, field.attname), labels)
                for field in type(obj)._meta.concrete_fields
            ),
        )
        for obj in objects
    ]


def test_a_ship_from_store_task_fanned_out_to_a_second_shop(
    place: Callable[..., Order], compared: list[RunPlan]
) -> None:
    # The demo's sheet fans out only on a second try; make it always.
    sheet = Sheet.objects.get(fulfillment="ShipFromStore")
    sheet_update(
        sheet=sheet,
        source=sheet.source.replace(
            "fanout as when [HasExistingFulfillmentLines] then 5 else then 0", "fanout as 5"
        ),
    )
    order = place({"HAT-BEANIE-BLK": 1, "SWT-MERINO-NAVY": 2}, **DELFT)
    (plan,) = compared
    fulfillments = plan.routing.fulfillments
    assert [(f.action, f.is_fanout, f.holds_reservation) for f in fulfillments] == [
        (FulfillmentAction.SHIP_FROM_STORE, True, True),
        (FulfillmentAction.SHIP_FROM_STORE, True, False),
    ]
    assert len(plan.routing.lines) == 4 and len(plan.routing.reservations) == 2
    assert order.status == "Routed"


def test_a_partial_order_whose_other_line_a_cancel_sheet_cancels(
    place: Callable[..., Order],
    compared: list[RunPlan],
    after_commit: Callable[..., Any],
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The cancellation is a webhook event: its webhook columns are written too.
    settings.ORCHESTRATION_WEBHOOK_URL = "http://127.0.0.1:9/events"
    monkeypatch.setattr("orchestration.tasks.webhook_deliver_task.delay", lambda *a, **k: None)
    order = place({"SNK-CANVAS-WHT": 1, "SCF-WOOL-RED": 1})
    task = order.fulfillments.get()
    # The shop finds its scarf damaged, and no other has one: the CANCEL sheet takes it.
    scarf = order.lines.get(product__backend_id="SCF-WOOL-RED")
    Stock.objects.filter(product=scarf.product).exclude(
        organization_unit=task.supplier_organization_unit
    ).update(quantity_on_hand=0)
    staff = User.objects.get(username="admin")
    after_commit(fulfillment_start, fulfillment_id=task.pk, user=staff)
    after_commit(
        fulfillment_pick,
        fulfillment_id=task.pk,
        user=staff,
        picked={task.lines.get(order_line=scarf).pk: 0},
        reason="Damaged",
    )
    _routed, again = compared
    assert [f.action for f in again.routing.fulfillments] == [FulfillmentAction.CANCEL]
    assert dict(again.routing.cancelled) == {scarf.pk: 1}
    assert [event.kind for event in again.events] == ["orchestration.run", "lines.cancelled"]
    scarf.refresh_from_db()
    assert (scarf.quantity_cancelled, scarf.status) == (1, "Cancelled")
    order.refresh_from_db()
    assert order.status == "Routed"  # the sneakers are still on their way


def test_an_order_that_waits_for_stock(
    place: Callable[..., Order], compared: list[RunPlan]
) -> None:
    sheet_set_active(sheet=Sheet.objects.get(fulfillment="CancelFallback"), active=False)
    order = place({"BOOT-CHELSEA-24": 12}, **PICKUP_POINT)
    (plan,) = compared
    assert (plan.routing.fulfillments, plan.routing.lines, dict(plan.routing.reservations)) == (
        (),
        (),
        {},
    )
    assert (plan.details.outcome, plan.details.units_waiting) == (
        OrchestrationOutcome.WAITING,
        12,
    )
    assert order.status == "Waiting"


def test_a_declined_task_routed_again(
    place: Callable[..., Order], compared: list[RunPlan], after_commit: Callable[..., Any]
) -> None:
    order = place({"SNK-CANVAS-WHT": 1, "SCF-WOOL-RED": 1})
    task = order.fulfillments.get(action=FulfillmentAction.SHIP_FROM_STORE)
    after_commit(
        fulfillment_decline,
        fulfillment_id=task.pk,
        user=User.objects.get(username="admin"),
        reason="OutOfStock",
    )
    first, again = compared
    assert (first.details.attempt, again.details.attempt) == (1, 2)
    assert again.details.trigger == "Amsterdam Kalverstraat (1187) declined (OutOfStock)"
    (export,) = again.routing.fulfillments
    assert export.action == FulfillmentAction.EXPORT_ORDER
    task.refresh_from_db()
    assert task.status == FulfillmentStatus.CANCELLED


def test_the_lock_reads_the_same_order_and_lines_both_ways(place: Callable[..., Order]) -> None:
    order = place({"SNK-CANVAS-WHT": 1, "SCF-WOOL-RED": 2, "HAT-BEANIE-BLK": 1})
    with transaction.atomic():
        reference = orm.lock_order(order_id=order.pk)
        fast = postgres.lock_order(order_id=order.pk)
    assert reference.order is not None and fast.order is not None
    assert fast.network_token == reference.network_token is not None
    assert vars_of(fast.order) == vars_of(reference.order)
    assert [vars_of(line) for line in fast.lines] == [vars_of(line) for line in reference.lines]
    assert all(line.order is fast.order for line in fast.lines)
    assert reference.stock_rows is None and fast.stock_rows  # read with the lock
    with transaction.atomic():
        for lock in (orm.lock_order, postgres.lock_order):
            assert lock(order_id=-1).order is None


def vars_of(obj: Model) -> dict[str, Any]:
    return {field.attname: getattr(obj, field.attname) for field in obj._meta.concrete_fields}


def test_stock_taken_since_the_snapshot_is_answered_alike(
    place: Callable[..., Order], monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = []

    def taken(*, plan: RunPlan) -> bool:
        for store in (orm.store_run, postgres.store_run):
            with transaction.atomic():  # a savepoint, rolled back
                for (unit, product), _quantity in plan.routing.reservations.items():
                    Stock.objects.filter(organization_unit_id=unit, product_id=product).update(
                        quantity_reserved=F("quantity_on_hand")
                    )
                answers.append(store(plan=copy.deepcopy(plan)))
                transaction.set_rollback(True)
        return persistence.store_run(plan=plan)

    monkeypatch.setattr(orchestrating, "store_run", taken)
    order = place({"SNK-CANVAS-WHT": 1, "SCF-WOOL-RED": 1})
    assert answers == [False, False]
    assert order.status == "Routed"  # then stored for real, with the stock untouched


def test_a_runs_fulfillment_plans_are_stored_alike_both_ways(
    place: Callable[..., Order], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plans a run builds (the demo's ship-from-store and warehouse export
    groups), their steps and their first transitions: the same rows both ways, the
    IDs compared by what they point at (the plan's and the step's place)."""
    from orchestration.models import Plan, PlanStep, PlanTransition
    from orchestration.services import plans as planning

    stored: list[list[Any]] = []

    def rows_of(plans: Any, steps: Any) -> list[Any]:
        plan_place = {plan.pk: n for n, plan in enumerate(plans)}
        step_place = {step.pk: n for n, step in enumerate(steps)}
        skip = {"id", "plan_id", "step_id", "idempotency_key"}

        def values(model: type[Model], pk: Any) -> tuple[Any, ...]:
            row = model.objects.filter(pk=pk).values().get()
            return tuple(sorted((k, v) for k, v in row.items() if k not in skip))

        return [
            [values(Plan, plan.pk) for plan in plans],
            [(plan_place[s.plan_id], values(PlanStep, s.pk)) for s in steps],
            [
                (
                    plan_place[row["plan_id"]],
                    step_place.get(row["step_id"]),
                    tuple(sorted((k, v) for k, v in row.items() if k not in skip)),
                )
                for row in PlanTransition.objects.filter(plan_id__in=plan_place)
                .order_by("id")
                .values()
            ],
            [(s.plan is plans[plan_place[s.plan_id]]) for s in steps],
        ]

    def store_both_ways(*, plans: Any, steps: Any, transitions: Any) -> None:
        for store in (orm.store_plans, postgres.store_plans):
            with transaction.atomic():  # a savepoint, rolled back
                copies = copy.deepcopy((plans, steps, transitions))
                store(plans=copies[0], steps=copies[1], transitions=copies[2])
                stored.append(rows_of(copies[0], copies[1]))
                transaction.set_rollback(True)
        persistence.store_plans(plans=plans, steps=steps, transitions=transitions)

    monkeypatch.setattr(planning, "store_plans", store_both_ways)
    order = place({"SNK-CANVAS-WHT": 1, "SCF-WOOL-RED": 1})

    reference, fast = stored
    assert fast == reference
    assert len(reference[0]) == Plan.objects.filter(order=order).count() >= 1
