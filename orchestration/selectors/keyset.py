"""Keyset ("cursor") pages of a list: the rows after (or before) a row, in the list's order.

An offset page (``LIMIT 50 OFFSET 500000``) makes the database read and throw away
every row before it, and the page count a ``COUNT(*)`` over all of them: over a
million orders both take longer than the page may (issue 23: 100 ms). A keyset page
remembers where the last page ended (the values of the ordering fields of its last
row, ``cursor``) and asks for the rows after it: ``WHERE (placed_at, id) < (…)``,
which an index on the ordering walks from that point, so page 20,000 costs what
page 1 costs.

The ordering is the queryset's (its ``order_by``, else the model's); it must be plain
fields of the model or its foreign keys (by their column), not nullable, and is
completed with the primary key when it does not end in it, so that every row has one
place. The cursor is the values, as JSON in
URL-safe base64: opaque to clients, checked when read back (a hand-made cursor is a
``BadCursor``, never a 500). It holds no secret: it names a place in a list the user
may already see, and the list's own filters still apply to what comes after it.
"""

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db.models import BooleanField, GeneratedField, Model, Q, QuerySet

from ..errors import ApplicationError

T = TypeVar("T", bound=Model)

# A cursor is the values of a few fields; anything longer was not made here.
MAX_CURSOR_LENGTH = 1_000


class BadCursor(ApplicationError):
    """A cursor this list did not make (edited by hand, or of another ordering)."""

    def __init__(self, field: str) -> None:
        super().__init__(
            "This cursor is not one of this list's: follow the next and previous links as given.",
            code="invalid_cursor",
            field=field,
        )


@dataclass(frozen=True, slots=True)
class KeysetPage(Generic[T]):
    """One page of rows, and the cursors of the pages after and before it (None: none)."""

    items: list[T]
    next_cursor: str | None
    previous_cursor: str | None


def keyset_ordering(queryset: QuerySet[Any]) -> list[str] | None:
    """The queryset's ordering completed with the primary key, or None when it cannot
    be paged by keyset (an expression, a relation, a nullable field)."""
    ordering = list(queryset.query.order_by or queryset.model._meta.ordering)
    meta = queryset.model._meta
    names: list[str] = []
    for term in ordering:
        if not isinstance(term, str) or "__" in term or term.lstrip("-") == "?":
            return None
        name = term.lstrip("-")
        try:
            field = meta.pk if name == "pk" else meta.get_field(name)
        except FieldDoesNotExist:
            return None
        if field.null or (field.is_relation and not field.many_to_one):
            return None
        # A foreign key by its column (``organization_unit_id``): the stock list's order.
        column = field.attname if field.many_to_one else field.name
        names.append(("-" if term.startswith("-") else "") + column)
    if not names:
        return None
    if names[-1].lstrip("-") != meta.pk.name:
        names.append(("-" if names[0].startswith("-") else "") + meta.pk.name)
    return names


def encode_cursor(row: Model, ordering: list[str]) -> str:
    """The cursor that points just past ``row`` in ``ordering``."""
    values = []
    for term in ordering:
        value = getattr(row, term.lstrip("-"))
        values.append(value.isoformat() if isinstance(value, datetime) else value)
    raw = json.dumps(values, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str, queryset: QuerySet[Any], ordering: list[str], field: str) -> list[Any]:
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise BadCursor(field)
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
    except (binascii.Error, ValueError):
        raise BadCursor(field) from None
    if not isinstance(values, list) or len(values) != len(ordering):
        raise BadCursor(field)
    meta = queryset.model._meta
    typed = []
    for term, value in zip(ordering, values, strict=True):
        model_field = meta.get_field(term.lstrip("-"))
        if isinstance(model_field, GeneratedField):  # checked as what it stores
            model_field = model_field.output_field
        if value is None or isinstance(value, (list, dict)):
            raise BadCursor(field)
        if isinstance(value, bool) != isinstance(model_field, BooleanField):
            raise BadCursor(field)
        try:
            python = model_field.to_python(value)
            if isinstance(python, datetime) and python.tzinfo is None:
                raise BadCursor(field)  # this list's cursors carry their UTC offset
            model_field.run_validators(python)  # an ID within the column's range...
            _storable(model_field.get_prep_value(python))
        except (ValidationError, ValueError, TypeError, OverflowError, UnicodeError):
            raise BadCursor(field) from None
        if python is None:
            raise BadCursor(field)
        typed.append(python)
    return typed


def _storable(value: Any) -> None:
    """Raise what the database driver would raise for ``value`` (a string with a NUL or
    a lone surrogate; a moment that has no UTC equivalent), before the query is sent."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("NUL in a string")
        value.encode()  # UnicodeEncodeError on a lone surrogate
    elif isinstance(value, datetime):
        value.astimezone(UTC)  # OverflowError at the calendar's edges


def _beyond(ordering: list[str], values: list[Any], *, forward: bool) -> Q:
    """Rows past ``values`` in ``ordering`` (forward) or before them, as a filter an
    index on the ordering can start from: the first field's bound, then the tuple's
    comparison spelt out (``a < x OR (a = x AND b < y)``)."""
    condition = Q()
    equal = Q()
    for term, value in zip(ordering, values, strict=True):
        name = term.lstrip("-")
        ascending = not term.startswith("-")
        lookup = "gt" if ascending == forward else "lt"
        condition |= equal & Q(**{f"{name}__{lookup}": value})
        equal &= Q(**{name: value})
    first = ordering[0].lstrip("-")
    bound = "gte" if (not ordering[0].startswith("-")) == forward else "lte"
    return Q(**{f"{first}__{bound}": values[0]}) & condition


def _reversed(ordering: list[str]) -> list[str]:
    return [term[1:] if term.startswith("-") else f"-{term}" for term in ordering]


def keyset_page(
    queryset: QuerySet[T],
    *,
    size: int,
    after: str | None = None,
    before: str | None = None,
    field: str = "cursor",
) -> KeysetPage[T]:
    """The ``size`` rows after the cursor ``after`` (or before ``before``; neither: the
    first rows), in the queryset's ordering, and the cursors around them. Reads
    ``size + 1`` rows: the extra one says whether there is more. ``field`` names the
    parameter a ``BadCursor`` blames."""
    ordering = keyset_ordering(queryset)
    if ordering is None:
        raise ValueError(f"{queryset.model.__name__} list is not ordered by plain fields")
    if before is not None:
        values = _decode(before, queryset, ordering, field)
        rows = list(
            queryset.filter(_beyond(ordering, values, forward=False)).order_by(
                *_reversed(ordering)
            )[: size + 1]
        )
        more = len(rows) > size
        items = rows[:size][::-1]
        return KeysetPage(
            items,
            next_cursor=encode_cursor(items[-1], ordering) if items else None,
            previous_cursor=encode_cursor(items[0], ordering) if more else None,
        )
    selected = queryset.order_by(*ordering)
    if after is not None:
        values = _decode(after, queryset, ordering, field)
        selected = selected.filter(_beyond(ordering, values, forward=True))
    rows = list(selected[: size + 1])
    items = rows[:size]
    return KeysetPage(
        items,
        next_cursor=encode_cursor(items[-1], ordering) if len(rows) > size else None,
        previous_cursor=encode_cursor(items[0], ordering) if after is not None and items else None,
    )
