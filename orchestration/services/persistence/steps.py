"""A plan step's two writes around its handler, one statement each on PostgreSQL.

A worker runs an automatic step in three parts (``services/plans.plan_step_run``):
it claims the step, runs the handler outside any transaction (a callout may wait
seconds on a carrier), and stores the outcome. This module writes the first and
the last:

- ``step_claim``: Ready -> In Progress, ``attempts`` + 1 and the attempt's row
  (Running), unless the plan is Freezing (nothing starts in a plan an in-flight
  change froze: its Ready steps are sent again when it thaws); and, read in the
  same statement, everything the outcome needs: the
  plan (its revision and state), its order, the network's token and the plan's
  steps as they are. None when the step is not Ready and automatic (done already,
  taken by another worker, or not for workers): the caller then does nothing.
- ``step_outcome_store``: a completed attempt and what follows from it, as the pure
  core decided on the claim's read: the attempt's outcome, the steps' new states,
  the plan's, and the timeline rows. Only if the plan's ``revision`` is still the
  claim's and the plan is open; False, with nothing written, otherwise.

Why the revision: the worker decides without the plan's lock (held through a
callout, it would serialise a plan's parallel steps), so two steps of one plan
finishing at once could each see the other still running, and neither make their
common dependant Ready. Every write that changes a plan's steps' states raises the
plan's revision in its own transaction (``services/plans.py``); the guarded UPDATE
waits for such a transaction to end and then sees the new revision, so the later
of the two stores nothing, and its caller takes the plan's lock and decides again
on what is there (``plans._attempt_finish_locked``).

PostgreSQL: each is one statement (the claim's UPDATE, the attempt's INSERT and
the reads as one ``WITH``; the outcome's four writes as the CTEs of another, all
of them conditional on the guarded UPDATE of the plan). Any other database: the
ORM, statement by statement, with the same guard, in the caller's transaction
(the reference, and the path on SQLite). The plan tests run on both in CI.
"""

import functools
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from django.db import connection, transaction
from django.db.models import F, Value
from django.db.models.fields import Field
from django.db.models.functions import Coalesce

from ...models import (
    AttemptOutcome,
    NetworkVersion,
    Order,
    Plan,
    PlanState,
    PlanStep,
    PlanStepAttempt,
    PlanTransition,
    StepDefinition,
    StepState,
)
from ...selectors.plans import ORDER_RECORD_FIELDS
from .postgres import bind, from_row

# A plan whose steps a worker's outcome may move without its lock.
OPEN_PLAN_STATES = (PlanState.NOT_STARTED, PlanState.IN_PROGRESS)


@dataclass(slots=True)
class ClaimedStep:
    """What a claim read: the step as claimed (its attempt's number in
    ``attempts``), its plan as it was (``revision``), the order, the network's token,
    and every step of the plan in ID order (this one as claimed)."""

    step: PlanStep
    plan: Plan
    order: Order
    token: str | None
    steps: list[PlanStep]


@dataclass(frozen=True, slots=True)
class StepChange:
    """A step's new state and times; ``error_code``/``error`` None to keep them."""

    step_id: int
    state: str
    next_run_at: datetime | None
    started_at: datetime | None
    completed_at: datetime | None
    error_code: str | None = None
    error: str | None = None
    attempts: int | None = None  # None: kept


def step_claim(
    *, step_id: int, now: datetime, types: Collection[str], excluded_handlers: Collection[str]
) -> ClaimedStep | None:
    """Claim the Ready step ``step_id`` if its definition's type is one of ``types``
    and its handler none of ``excluded_handlers``; see the module."""
    if connection.vendor == "postgresql":
        return _claim_postgres(step_id, now, tuple(types), tuple(excluded_handlers))
    with transaction.atomic():
        return _claim_orm(step_id, now, types, excluded_handlers)


def step_outcome_store(
    *,
    claimed: ClaimedStep,
    number: int,
    now: datetime,
    changes: Sequence[StepChange],
    plan_state: str,
    transitions: Sequence[PlanTransition],
    claim: PlanStep | None = None,
) -> bool:
    """Store attempt ``number`` of the claimed step as Completed, the ``changes``
    (this step's among them), the plan's state and the ``transitions``, and the
    Running attempt of the step it ``claim``s next (its change among ``changes``:
    In Progress, its ``attempts``), if the plan is open and at the claim's revision;
    False, with nothing written, if not. In the caller's transaction."""
    if connection.vendor == "postgresql":
        return _outcome_postgres(claimed, number, now, changes, plan_state, transitions, claim)
    return _outcome_orm(claimed, number, now, changes, plan_state, transitions, claim)


def _claim_orm(
    step_id: int, now: datetime, types: Collection[str], excluded_handlers: Collection[str]
) -> ClaimedStep | None:
    claimed = (
        PlanStep.objects.filter(pk=step_id, state=StepState.READY, definition__type__in=types)
        .exclude(definition__handler__in=excluded_handlers)
        .exclude(plan__state=PlanState.FREEZING)
        .update(
            state=StepState.IN_PROGRESS,
            attempts=F("attempts") + 1,
            started_at=Coalesce(F("started_at"), Value(now)),
            updated_at=now,
        )
    )
    if not claimed:
        return None
    step = PlanStep.objects.select_related("plan__order").get(pk=step_id)
    PlanStepAttempt.objects.create(step=step, number=step.attempts, started_at=now)
    token = NetworkVersion.objects.filter(pk=1).values_list("token", flat=True).first()
    steps = [
        step if other.pk == step.pk else other
        for other in PlanStep.objects.filter(plan_id=step.plan_id).order_by("id")
    ]
    return ClaimedStep(step, step.plan, step.plan.order, token, steps)


# The plan's steps' columns the claim reads, each as one array in ID order.
_STEP_ARRAYS: tuple[str, ...] = ("id", "definition_id", "line_id", "state", "started_at")
_STEP_ARRAYS += ("completed_at", "next_run_at", "attempts", "at_risk", "idempotency_key")


@functools.cache
def _claim_sql(handlers: int) -> tuple[str, tuple[Field, ...]]:
    """The claim as one statement (for ``handlers`` excluded handler names), written
    once per process; and the order's fields in the order it reads them."""
    quote = connection.ops.quote_name
    step = quote(PlanStep._meta.db_table)
    definition = quote(StepDefinition._meta.db_table)
    attempt = quote(PlanStepAttempt._meta.db_table)
    plan = quote(Plan._meta.db_table)
    order = quote(Order._meta.db_table)
    network = quote(NetworkVersion._meta.db_table)
    # The fields a step's conditions and context read: one of the widest rows not read.
    order_fields = tuple(
        field for field in Order._meta.concrete_fields if field.attname in ORDER_RECORD_FIELDS
    )
    # Concrete fields, each with a column (the stubs allow None for any field).
    order_columns = ", ".join(f"o.{quote(f.column)}" for f in order_fields)  # type: ignore[arg-type]
    arrays = ", ".join(f"array_agg(x.{name} ORDER BY x.id)" for name in _STEP_ARRAYS)
    excluded = f"AND d.handler NOT IN ({', '.join(['%s'] * handlers)}) " if handlers else ""
    # Quoted names and placeholders only are formatted in; every value is a parameter.
    sql = (
        f"WITH claimed AS (UPDATE {step} AS s SET state = %s, attempts = s.attempts + 1, "  # noqa: S608
        "started_at = COALESCE(s.started_at, %s), updated_at = %s "
        f"FROM {definition} AS d, {plan} AS fp WHERE s.id = %s AND s.state = %s "
        f"AND d.id = s.definition_id AND d.type = ANY(%s) {excluded}"
        "AND fp.id = s.plan_id AND fp.state <> %s "
        "RETURNING s.id, s.plan_id, s.attempts, s.started_at), "
        f"attempt AS (INSERT INTO {attempt} "
        "(step_id, number, started_at, finished_at, outcome, error_code, error) "
        "SELECT id, attempts, %s, NULL, %s, '', '' FROM claimed RETURNING 1) "
        "SELECT c.plan_id, c.attempts, c.started_at, p.revision, p.state, p.version_id, "
        f"p.fulfillment_id, p.group_key, p.purpose, (SELECT token FROM {network} WHERE id = 1), "
        f"st.*, {order_columns} "
        f"FROM claimed c JOIN {plan} p ON p.id = c.plan_id JOIN {order} o ON o.id = p.order_id "
        f"CROSS JOIN LATERAL (SELECT {arrays} FROM {step} x WHERE x.plan_id = c.plan_id) st"
    )
    return sql, order_fields


def _claim_postgres(
    step_id: int, now: datetime, types: tuple[str, ...], excluded: tuple[str, ...]
) -> ClaimedStep | None:
    sql, order_fields = _claim_sql(len(excluded))
    params: list[Any] = [StepState.IN_PROGRESS, now, now, step_id, StepState.READY, list(types)]
    params += [*excluded, PlanState.FREEZING, now, AttemptOutcome.RUNNING]
    with connection.cursor() as cursor:
        _execute(cursor, sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    plan_id, attempts, started_at, revision, plan_state, version_id = row[:6]
    fulfillment_id, group_key, purpose, token = row[6:10]
    arrays = dict(zip(_STEP_ARRAYS, row[10 : 10 + len(_STEP_ARRAYS)], strict=True))
    order = from_row(Order, order_fields, row[10 + len(_STEP_ARRAYS) :])
    plan = Plan(
        id=plan_id,
        order=order,
        fulfillment_id=fulfillment_id,
        version_id=version_id,
        state=plan_state,
        group_key=group_key,
        purpose=purpose,
        revision=revision,
    )
    plan._state.adding = False
    steps = []
    claimed: PlanStep | None = None
    for index, pk in enumerate(arrays["id"]):
        values = {name: arrays[name][index] for name in _STEP_ARRAYS}
        if pk == step_id:  # the statement's reads see the step as it was before
            values.update(state=StepState.IN_PROGRESS, attempts=attempts, started_at=started_at)
        step = PlanStep(plan=plan, **values)
        step._state.adding = False
        steps.append(step)
        if pk == step_id:
            claimed = step
    if claimed is None:  # the claim's own step is always among its plan's
        raise AssertionError(f"plan step {step_id} missing from its plan's steps")
    return ClaimedStep(claimed, plan, order, token, steps)


def _outcome_orm(
    claimed: ClaimedStep,
    number: int,
    now: datetime,
    changes: Sequence[StepChange],
    plan_state: str,
    transitions: Sequence[PlanTransition],
    claim: PlanStep | None,
) -> bool:
    plan = claimed.plan
    bumped = Plan.objects.filter(
        pk=plan.pk, revision=plan.revision, state__in=OPEN_PLAN_STATES
    ).update(
        revision=F("revision") + 1,
        state=plan_state,
        completed_at=now if plan_state == PlanState.COMPLETED else None,
        updated_at=now,
    )
    if not bumped:
        return False
    PlanStepAttempt.objects.filter(step_id=claimed.step.pk, number=number).update(
        finished_at=now, outcome=AttemptOutcome.COMPLETED, error_code="", error=""
    )
    for change in changes:
        fields: dict[str, Any] = {
            "state": change.state,
            "next_run_at": change.next_run_at,
            "started_at": change.started_at,
            "completed_at": change.completed_at,
            "updated_at": now,
        }
        if change.error_code is not None:
            fields["error_code"] = change.error_code
        if change.error is not None:
            fields["error"] = change.error
        if change.attempts is not None:
            fields["attempts"] = change.attempts
        PlanStep.objects.filter(pk=change.step_id).update(**fields)
    if claim is not None:
        PlanStepAttempt.objects.create(step_id=claim.pk, number=claim.attempts, started_at=now)
    PlanTransition.objects.bulk_create(transitions)
    return True


def _outcome_postgres(
    claimed: ClaimedStep,
    number: int,
    now: datetime,
    changes: Sequence[StepChange],
    plan_state: str,
    transitions: Sequence[PlanTransition],
    claim: PlanStep | None,
) -> bool:
    quote = connection.ops.quote_name
    plan = claimed.plan
    open_states = ", ".join(["%s"] * len(OPEN_PLAN_STATES))
    # Quoted names and placeholders only are formatted in; every value is a parameter.
    ctes = [
        (
            f"bumped AS (UPDATE {quote(Plan._meta.db_table)} SET revision = revision + 1, "  # noqa: S608
            "state = %s, completed_at = %s, updated_at = %s "
            f"WHERE id = %s AND revision = %s AND state IN ({open_states}) RETURNING id)"
        ),
        (
            f"attempt AS (UPDATE {quote(PlanStepAttempt._meta.db_table)} "  # noqa: S608
            "SET finished_at = %s, outcome = %s, error_code = '', error = '' "
            "WHERE step_id = %s AND number = %s AND EXISTS (SELECT 1 FROM bumped) RETURNING 1)"
        ),
    ]
    params: list[Any] = [
        plan_state,
        now if plan_state == PlanState.COMPLETED else None,
        now,
        plan.pk,
        plan.revision,
        *OPEN_PLAN_STATES,
        now,
        AttemptOutcome.COMPLETED,
        claimed.step.pk,
        number,
    ]
    if changes:
        rows = ", ".join(
            "(%s::bigint, %s::varchar, %s::timestamptz, %s::timestamptz, %s::timestamptz, "
            "%s::varchar, %s::text, %s::integer)"
            for _change in changes
        )
        ctes.append(
            f"steps AS (UPDATE {quote(PlanStep._meta.db_table)} AS s SET state = v.state, "  # noqa: S608
            "next_run_at = v.next_run_at, started_at = v.started_at, "
            "completed_at = v.completed_at, error_code = COALESCE(v.error_code, s.error_code), "
            "error = COALESCE(v.error, s.error), attempts = COALESCE(v.attempts, s.attempts), "
            f"updated_at = %s FROM (VALUES {rows}) AS v(id, state, next_run_at, started_at, "
            "completed_at, error_code, error, attempts) "
            "WHERE s.id = v.id AND EXISTS (SELECT 1 FROM bumped) RETURNING 1)"
        )
        params.append(now)
        for change in changes:
            params += [
                change.step_id,
                change.state,
                change.next_run_at,
                change.started_at,
                change.completed_at,
                change.error_code,
                change.error,
                change.attempts,
            ]
    if claim is not None:
        ctes.append(
            f"claimed AS (INSERT INTO {quote(PlanStepAttempt._meta.db_table)} "  # noqa: S608
            "(step_id, number, started_at, finished_at, outcome, error_code, error) "
            "SELECT %s, %s, %s, NULL, %s, '', '' WHERE EXISTS (SELECT 1 FROM bumped) "
            "RETURNING 1)"
        )
        params += [claim.pk, claim.attempts, now, AttemptOutcome.RUNNING]
    if transitions:
        rows = ", ".join(
            "(%s::bigint, %s::bigint, %s::varchar, %s::varchar, %s::timestamptz, "
            "%s::varchar, %s::text)"
            for _row in transitions
        )
        ctes.append(
            f"moves AS (INSERT INTO {quote(PlanTransition._meta.db_table)} "  # noqa: S608
            "(plan_id, step_id, from_state, to_state, at, actor, message) "
            f"SELECT v.* FROM (VALUES {rows}) AS v WHERE EXISTS (SELECT 1 FROM bumped) "
            "RETURNING 1)"
        )
        for row in transitions:
            params += [
                row.plan_id,
                row.step_id,
                row.from_state,
                row.to_state,
                row.at,
                row.actor,
                row.message,
            ]
    sql = f"WITH {', '.join(ctes)} SELECT count(*) FROM bumped"  # noqa: S608
    with connection.cursor() as cursor:
        _execute(cursor, sql, params)
        (bumped,) = cursor.fetchone()
    return bool(bumped)


def _execute(cursor: Any, sql: str, params: Sequence[Any]) -> None:
    """``cursor.execute(sql, params)``, with the values written in as literals by
    psycopg's own adapters when the cursor binds on the client (Django's default):
    psycopg would split a statement of more than 50 parameters at its placeholders
    again on every call (``postgres.bind``)."""
    if isinstance(cursor.cursor, psycopg.ClientCursor):
        cursor.execute(bind(cursor.cursor, sql, params))
    else:
        cursor.execute(sql, params)
