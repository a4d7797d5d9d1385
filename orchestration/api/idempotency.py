"""The ``Idempotency-Key`` header of the API's POSTs that create orders.

The HTTP side of ``orchestration.services.idempotency`` (which holds the rules): the
header is checked (1 to 255 printable ASCII characters, else a 400), the request is
hashed (method, path and the body as canonical JSON, so a retry that spaces or orders
its keys differently is the same request), and a replayed response carries
``Idempotent-Replayed: true``.
"""

import hashlib
import json
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from ..errors import ApplicationError
from ..services.idempotency import (
    HEADER,
    MAX_KEY_LENGTH,
    idempotency_key_claim,
    idempotency_key_complete,
    idempotency_key_release,
)
from .schema import ErrorSerializer

REPLAYED_HEADER = "Idempotent-Replayed"
_PRINTABLE_ASCII = frozenset(map(chr, range(0x20, 0x7F)))

IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    HEADER,
    {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH, "pattern": "^[ -~]+$"},
    OpenApiParameter.HEADER,
    description=(
        "A key of your own (a UUID, say) naming this request, so that sending it again "
        "does not create a second order: a retry with the same key and body within 24 "
        "hours gets the first response again, with `Idempotent-Replayed: true`. The "
        "same key with another body is a 422; while the first request runs, a 409. "
        "1 to 255 printable ASCII characters."
    ),
)
REPLAYED_PARAMETER = OpenApiParameter(
    REPLAYED_HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    response=[201],
    enum=["true"],
    description="Set on a response sent again for a retried Idempotency-Key.",
)
KEY_REUSED_RESPONSE = OpenApiResponse(
    ErrorSerializer,
    description=(
        "`idempotency_key_reused`: the Idempotency-Key was first sent with another request."
    ),
)


def _checked_key(raw: str) -> str:
    if not 0 < len(raw) <= MAX_KEY_LENGTH or not set(raw) <= _PRINTABLE_ASCII:
        raise ApplicationError(
            f"An idempotency key is 1 to {MAX_KEY_LENGTH} printable ASCII characters "
            "(a UUID, for instance).",
            code="invalid_idempotency_key",
            field=HEADER,
        )
    return raw


def _request_hash(request: Request, variant: str) -> str:
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"))
    head = f"{request.method} {request.path}" + (f" {variant}" if variant else "")
    return hashlib.sha256(f"{head}\n{body}".encode()).hexdigest()


def idempotent(request: Request, handler: Callable[[], Response], *, variant: str = "") -> Response:
    """Answer ``request`` with ``handler()``, once per ``Idempotency-Key``; without the
    header, simply ``handler()``.

    ``variant`` names what else than the body shapes the response (a ``Prefer``
    header the endpoint honours): a retry asking for another variant is another
    request (422), so a replay is always the variant asked for."""
    raw = request.headers.get(HEADER)
    if raw is None or not request.user.is_authenticated:
        return handler()
    claim = idempotency_key_claim(
        user=request.user,
        key=_checked_key(raw),
        request_hash=_request_hash(request, variant),
        now=timezone.now(),
    )
    if claim.replay:
        return Response(
            claim.key.response_body,
            status=claim.key.response_status,
            headers={REPLAYED_HEADER: "true"},
        )
    try:
        with transaction.atomic():
            response = handler()
            if 200 <= response.status_code < 300:
                idempotency_key_complete(
                    claim=claim, status=response.status_code, body=_json(response.data)
                )
    except BaseException:
        idempotency_key_release(claim=claim)
        raise
    if not 200 <= response.status_code < 300:
        idempotency_key_release(claim=claim)
    return response


def _json(data: Any) -> str:
    """``data`` as JSON text, as the client gets it (amounts as JSON numbers, not
    ``Decimal``)."""
    return JSONRenderer().render(data).decode()
