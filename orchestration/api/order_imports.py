"""Many order bodies at once, each taken as ``POST /api/orders/`` takes one: the bulk
endpoint ``POST /api/orders/bulk/`` and ``manage.py import_orders`` share this.

Each body is validated on its own with the serializer of ``POST /api/orders/``
(``OrderInputSerializer``, given the lookups of a whole chunk at once:
``order_references_context``) and refused on its own, with exactly the 400 body
``POST /api/orders/`` would answer for it; an order whose ``backend_id`` an earlier
order of the same request took is refused as if they had been posted one after the
other. The valid orders of a chunk (``ORDERS_PER_CHUNK``) are stored together by
``services.order_imports.orders_create_bulk``, one transaction per chunk.

Per chunk: the products named by backend ID and the backend IDs taken in one statement
on PostgreSQL (two queries elsewhere), a query per other kind of reference named (OUs,
return orders' originals, anything given by ID), instead of one per order and line;
then the chunk's INSERTs; the API answers with the orders as they were stored, nothing
read back.
"""

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers as drf
from rest_framework.exceptions import ErrorDetail, ValidationError
from rest_framework.settings import api_settings

from ..engine.limits import BULK_ORDERS
from ..errors import ApplicationError
from ..models import Order
from ..services.order_imports import ORDERS_PER_CHUNK, orders_create_bulk
from .exceptions import application_error_body, validation_error_body
from .schema import ErrorSerializer
from .serializers import (
    KNOWN_BACKEND_IDS,
    KnownBackendIds,
    OrderInputSerializer,
    OrderSerializer,
    Serializer,
    order_references_context,
)


@dataclass(frozen=True)
class OrderImported:
    """What became of one body: ``status`` 201 and its ``order``, or the status and body
    ``POST /api/orders/`` would have refused it with."""

    index: int
    status: int
    order: Order | None = None
    error: Mapping[str, Any] | None = None


def order_bodies_import(
    *,
    bodies: Iterable[Any],
    user: User | None,
    via: str = "api",
    chunk_size: int = ORDERS_PER_CHUNK,
) -> Iterator[list[OrderImported]]:
    """Validate and store ``bodies`` a chunk at a time; yield each chunk's results (in
    input order, ``index`` counting from 0 over all bodies) once it is stored.

    Reads ``bodies`` lazily, a chunk at a time: a file of millions of orders is never
    held whole.
    """
    chunk: list[Any] = []
    start = 0
    for body in bodies:
        chunk.append(body)
        if len(chunk) >= chunk_size:
            yield _chunk_import(chunk, start=start, user=user, via=via)
            start += len(chunk)
            chunk = []
    if chunk:
        yield _chunk_import(chunk, start=start, user=user, via=via)


def _chunk_import(
    bodies: list[Any], *, start: int, user: User | None, via: str
) -> list[OrderImported]:
    context = order_references_context(bodies)
    known: KnownBackendIds = context[KNOWN_BACKEND_IDS]
    results: list[OrderImported | None] = [None] * len(bodies)
    drafts: list[dict[str, Any]] = []
    positions: list[int] = []
    # One serializer for the chunk, run on each body in turn as a ListSerializer runs its
    # child: its fields are built once, not once per order (the most of its cost).
    serializer = OrderInputSerializer(context=context)
    for position, body in enumerate(bodies):
        try:
            draft = dict(serializer.run_validation(body))
        except ValidationError as refusal:
            error = validation_error_body(ValidationError(_as_errors(refusal.detail)))
            results[position] = OrderImported(index=start + position, status=400, error=error)
        else:
            known.add(draft.get("backend_id"))
            drafts.append(draft)
            positions.append(position)
    stored = orders_create_bulk(drafts=drafts, created_by=user, via=via)
    for position, outcome in zip(positions, stored, strict=True):
        if isinstance(outcome, ApplicationError):
            results[position] = OrderImported(
                index=start + position,
                status=outcome.status,
                error=application_error_body(outcome),
            )
        else:
            results[position] = OrderImported(index=start + position, status=201, order=outcome)
    return [result for result in results if result is not None]


def _as_errors(detail: Any) -> Any:
    """``detail`` as ``Serializer.errors`` gives it after ``is_valid()``, which
    ``POST /api/orders/`` raises: a null body is "No data provided"."""
    if isinstance(detail, list) and len(detail) == 1 and getattr(detail[0], "code", None) == "null":
        return {api_settings.NON_FIELD_ERRORS_KEY: [ErrorDetail("No data provided", code="null")]}
    return detail


def orders_represented(
    results: list[OrderImported], *, minimal: bool = False
) -> list[dict[str, Any]]:
    """The results as the bulk endpoint answers them: a created order as
    ``POST /api/orders/`` returns it (as created, with its lines: nothing is read
    back), or with ``minimal`` its ``id`` and ``backend_id`` only; a refusal with its
    body."""
    created = [result.order for result in results if result.order is not None]
    if minimal:
        orders = {order.pk: {"id": order.pk, "backend_id": order.backend_id} for order in created}
    else:
        # many=True: the serializer's fields are built once for all the orders.
        orders = {data["id"]: data for data in OrderSerializer(created, many=True).data}
    return [
        {"index": result.index, "status": result.status, "order": orders[result.order.pk]}
        if result.order is not None
        else {"index": result.index, "status": result.status, "error": result.error}
        for result in results
    ]


RETURN_MINIMAL = "return=minimal"


def return_minimal_preferred(prefer: str | None) -> bool:
    """Whether a ``Prefer`` header (RFC 7240) asks for ``return=minimal``.

    Preferences are separated by commas (several headers arrive joined so), each
    ``name[=value]`` followed by ``;`` parameters; a comma or semicolon inside a quoted
    value separates nothing. The name is case-insensitive, a value quoted or not (one
    pair of quotes, closed). Only the first ``return`` counts (section 2: a
    preference given twice is the first one), and a preference the server does not
    know is ignored. Names and values in any case (RFC 7240's are ABNF literals).
    """
    for preference in _unquoted_split(prefer or "", ","):
        name, equals, value = _unquoted_split(preference, ";")[0].partition("=")
        if name.strip().lower() != "return":
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        return bool(equals) and value.lower() == "minimal"  # ABNF literals: any case
    return False


def _unquoted_split(text: str, separator: str) -> list[str]:
    """``text`` split at ``separator`` where it is outside double quotes (a backslash
    escapes the next character inside them, as RFC 9110's quoted-string)."""
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for character in text:
        if escaped:
            escaped = False
        elif quoted and character == "\\":
            escaped = True
        elif character == '"':
            quoted = not quoted
        elif character == separator and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(character)
    parts.append("".join(current))
    return parts


# --- The endpoint's request and response, for the schema ---------------------------------


@extend_schema_field(OrderInputSerializer)
class OrderBodyField(drf.Field):
    """One order's body, taken as it is: validated on its own later, so that a bad one
    is that order's own 400, not the request's."""

    def to_internal_value(self, data: Any) -> Any:
        return data

    def to_representation(self, value: Any) -> Any:
        return value


class OrderBulkInputSerializer(Serializer):
    """Up to ``BULK_ORDERS`` orders, each the body ``POST /api/orders/`` takes."""

    orders = drf.ListField(
        child=OrderBodyField(allow_null=True),
        allow_empty=False,
        max_length=BULK_ORDERS.maximum,
        error_messages={"max_length": BULK_ORDERS.message()},
    )


@extend_schema_field(
    {
        "oneOf": [
            # The component of OrderSerializer, which POST /api/orders/ answers with.
            {"$ref": "#/components/schemas/Order"},
            {
                "type": "object",
                "description": "With `Prefer: return=minimal`: what finds the order again.",
                "properties": {
                    "id": {"type": "integer"},
                    "backend_id": {"type": "string", "nullable": True},
                },
                "required": ["id", "backend_id"],
                # So that a whole order is not this too (oneOf: exactly one).
                "additionalProperties": False,
            },
        ]
    }
)
class OrderCreatedField(drf.Field):
    """A created order as ``orders_represented`` gives it (whole, or minimal)."""

    def to_representation(self, value: Any) -> Any:
        return value


class OrderBulkResultSerializer(drf.Serializer):
    """One order's result: created (201, ``order``) or refused (``error``)."""

    index = drf.IntegerField(help_text="The order's position in `orders`, from 0.")
    status = drf.IntegerField(
        help_text="201 created; otherwise what `POST /api/orders/` would have answered."
    )
    order = OrderCreatedField(
        required=False,
        help_text=(
            "The order created (status 201), as `POST /api/orders/` returns it; with "
            "`Prefer: return=minimal`, its `id` and `backend_id` only."
        ),
    )
    error = ErrorSerializer(
        required=False, help_text="The body `POST /api/orders/` would have refused it with."
    )


class OrderBulkResponseSerializer(drf.Serializer):
    """Every order's result, in the order sent."""

    created = drf.IntegerField()
    refused = drf.IntegerField()
    results = OrderBulkResultSerializer(many=True)
