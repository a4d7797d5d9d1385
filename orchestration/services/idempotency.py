"""Idempotency keys: a client retrying a POST gets the first response, not a second order.

A client that sends ``Idempotency-Key: <key>`` with ``POST /api/orders/``,
``POST /api/orders/bulk/`` (its chunks then savepoints of the one transaction that
also stores its response) or ``POST /api/orders/{id}/returns/`` may send the same
request again (after a timeout, a dropped connection, a 5xx) without creating a
second order. The contract, after Stripe's:

- Keys are per user and kept ``KEY_LIFETIME`` (24 hours) from their first use; after
  that a key is new again (and the daily purge deletes it).
- The same key with the same request (method, path and body) gets the first response
  again, status and body, without doing anything (the API marks it
  ``Idempotent-Replayed: true``).
- The same key with another request is a ``422 idempotency_key_reused``: the client
  has a bug (one key for two orders), and guessing which one it meant would be wrong.
- While the first request runs, the same key is a ``409 idempotency_key_in_use``:
  retry later. The first request claims the key in a transaction of its own before
  it starts (a unique (user, key) constraint: of two requests at once, one inserts the
  row and the other finds it), and stores its response in the transaction that
  writes the order: both are committed, or neither.
- Only a success is kept. A refused request (any 4xx) or a failed one (5xx) writes
  nothing, so it gives its key back: the client may fix the body and send it again
  with the same key. (Stripe keeps some refusals; here a refusal writes nothing, the
  key included.)
- A claim whose process died before it finished (the order's transaction was rolled
  back with it) is taken over by a retry after ``IN_FLIGHT_LEASE``. A request that
  was taken over cannot store its response (its ``attempt`` changed) and rolls back,
  so a key never makes two orders, even when a request outlives its lease.
"""

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from django.contrib.auth.models import User
from django.db import connections, transaction
from django.db.models import Field

from ..errors import ConflictError, UnprocessableError
from ..models import IdempotencyKey
from .persistence import prepared_cursor

# Stripe's lifetime: long enough for any client's retries, short enough to keep few rows.
KEY_LIFETIME = timedelta(hours=24)
# Far longer than any request runs (gunicorn kills a worker after its timeout, 30 s by
# default): a claim this old without a response was left by a process that died.
IN_FLIGHT_LEASE = timedelta(minutes=5)
# Stripe's limit; a UUID (36 characters) is what most clients send.
MAX_KEY_LENGTH = 255

HEADER = "Idempotency-Key"


@dataclass(frozen=True)
class IdempotencyClaim:
    """A key this request holds (``replay`` false) or one that already has its response."""

    key: IdempotencyKey
    attempt: int
    replay: bool


def idempotency_key_claim(
    *, user: User, key: str, request_hash: str, now: datetime
) -> IdempotencyClaim:
    """Claim ``key`` for a request (committed at once, so a concurrent request sees it), or
    return the response it already has.

    Raises ``UnprocessableError`` (422) when the key was first used with another request,
    ``ConflictError`` (409) while that request still runs.
    """
    row = _key_insert(user=user, key=key, request_hash=request_hash, now=now)
    if row is not None:
        return IdempotencyClaim(key=row, attempt=row.attempt, replay=False)
    # The key is known: decide by what it holds.
    with transaction.atomic():
        row = IdempotencyKey.objects.select_for_update().filter(user=user, key=key).first()
        if row is None:  # purged (expired) or given back since the INSERT found it
            return idempotency_key_claim(user=user, key=key, request_hash=request_hash, now=now)
        if row.created_at <= now - KEY_LIFETIME:
            return _claim_again(row, request_hash=request_hash, now=now, created=True)
        if row.request_hash != request_hash:
            raise UnprocessableError(
                f"The idempotency key {key!r} was first used with another request (another "
                "body, endpoint or Prefer) in the last 24 hours; send a new key with a new "
                "request.",
                code="idempotency_key_reused",
                field=HEADER,
            )
        if row.response_status is not None:
            return IdempotencyClaim(key=row, attempt=row.attempt, replay=True)
        if row.locked_at is not None and row.locked_at > now - IN_FLIGHT_LEASE:
            raise ConflictError(
                f"A request with the idempotency key {key!r} is still being processed; "
                "send it again once that one has finished.",
                code="idempotency_key_in_use",
                field=HEADER,
            )
        return _claim_again(row, request_hash=request_hash, now=now, created=False)


def _key_insert(*, user: User, key: str, request_hash: str, now: datetime) -> IdempotencyKey | None:
    """The new key's row, committed at once; ``None`` when the key exists already.

    One written-out ``INSERT ... ON CONFLICT DO NOTHING``: outside a transaction (the
    API's case) it is a transaction of its own, where a ``BEGIN``, a savepoint and a
    ``COMMIT`` around it would take four round trips more; inside one (a caller's, or a
    test's) a duplicate key breaks nothing, so no savepoint is needed either. Every
    ``POST`` with the header makes it: the ORM's ``create`` cost 0.5 ms of CPU to build.
    """
    connection = transaction.get_connection()
    adapt = connection.ops.adapt_datetimefield_value
    with prepared_cursor() as cursor:
        cursor.execute(
            _statements(connection.alias).insert,
            [user.pk, key, request_hash, adapt(now), adapt(now)],
        )
        inserted = cursor.fetchone()
    if inserted is None:
        return None
    row = IdempotencyKey(
        pk=inserted[0],
        user=user,
        key=key,
        request_hash=request_hash,
        created_at=now,
        locked_at=now,
        attempt=1,
    )
    row._state.adding, row._state.db = False, connection.alias  # saved, as create() leaves it
    return row


def _claim_again(
    row: IdempotencyKey, *, request_hash: str, now: datetime, created: bool
) -> IdempotencyClaim:
    """Take over a key that expired (``created``: it starts its 24 hours again) or whose
    request died."""
    row.attempt += 1
    row.locked_at = now
    fields = ["attempt", "locked_at"]
    if created:
        row.request_hash, row.created_at = request_hash, now
        row.response_status, row.response_body = None, None
        fields += ["request_hash", "created_at", "response_status", "response_body"]
    row.save(update_fields=fields)
    return IdempotencyClaim(key=row, attempt=row.attempt, replay=False)


def idempotency_key_complete(*, claim: IdempotencyClaim, status: int, body: str) -> None:
    """Store the response of the claimed request (``body``: the JSON text the client
    gets); call it in the transaction that did the work, so the work and the stored
    response are committed together.

    Raises ``ConflictError`` when the claim was taken over meanwhile (the request ran past
    ``IN_FLIGHT_LEASE``): the work must then roll back, as the retry does it.
    """
    connection = transaction.get_connection()
    with prepared_cursor() as cursor:
        cursor.execute(
            _statements(connection.alias).complete, [status, body, claim.key.pk, claim.attempt]
        )
        stored = cursor.rowcount
    if not stored:
        raise ConflictError(
            f"The request with the idempotency key {claim.key.key!r} took too long and was "
            "taken over by a retry; nothing was written by this one.",
            code="idempotency_key_in_use",
            field=HEADER,
        )


def idempotency_key_release(*, claim: IdempotencyClaim) -> None:
    """Give the key back after a refused or failed request (it wrote nothing)."""
    with transaction.atomic():
        IdempotencyKey.objects.filter(
            pk=claim.key.pk, attempt=claim.attempt, response_status__isnull=True
        ).delete()


def idempotency_keys_purge(*, now: datetime) -> int:
    """Delete the keys older than ``KEY_LIFETIME``; return how many (daily, by beat)."""
    with transaction.atomic():
        deleted, _ = IdempotencyKey.objects.filter(created_at__lte=now - KEY_LIFETIME).delete()
    return deleted


@dataclass(frozen=True)
class _Statements:
    insert: str
    complete: str


@functools.cache
def _statements(alias: str) -> _Statements:
    """The claim's and the completion's statements for the database ``alias``, written
    with the model's table and column names (plain SQL both SQLite and PostgreSQL run).
    The completion takes the body as the JSON text rendered for it, stored as it is
    rather than read back into objects and written again (PostgreSQL reads the text
    into its ``jsonb`` column)."""
    name = connections[alias].ops.quote_name
    meta = IdempotencyKey._meta

    def column(field: str) -> str:
        return str(name(str(cast(Field, meta.get_field(field)).column)))

    table = name(meta.db_table)
    body = "CAST(%s AS jsonb)" if connections[alias].vendor == "postgresql" else "%s"
    # Quoted names and placeholders only; every value is a parameter.
    insert = (
        f"INSERT INTO {table} ({column('user')}, {column('key')}, {column('request_hash')}, "  # noqa: S608
        f"{column('created_at')}, {column('locked_at')}, {column('attempt')}) "
        f"VALUES (%s, %s, %s, %s, %s, 1) ON CONFLICT DO NOTHING RETURNING {column('id')}"
    )
    complete = (
        f"UPDATE {table} SET {column('response_status')} = %s, "  # noqa: S608
        f"{column('response_body')} = {body}, {column('locked_at')} = NULL "
        f"WHERE {column('id')} = %s AND {column('attempt')} = %s "
        f"AND {column('response_status')} IS NULL"
    )
    return _Statements(insert=insert, complete=complete)
