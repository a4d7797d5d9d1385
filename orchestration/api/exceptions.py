"""One JSON shape for every API error, with a stable code (after DRF's exceptions).

    {"code": "invalid", "message": "lines[1].product: Unknown product 'X'.",
     "errors": [{"code": "does_not_exist", "message": "...", "field": "lines[1].product"}]}

``code`` is stable for clients to branch on; ``errors`` names every faulty
field by its path (``lines[1].product``, ``[3].quantity_on_hand``); ``field``
is null for an error about the request as a whole.
"""

from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import ProtectedError, RestrictedError
from django.http import Http404
from rest_framework import exceptions
from rest_framework.fields import get_error_detail
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from ..errors import ApplicationError
from .parsers import RequestTooLarge


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def flatten_errors(detail: Any, path: str = "") -> Iterator[dict[str, Any]]:
    """Walk DRF's nested error detail, yielding one error per message with its path."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            if key in ("non_field_errors", "__all__"):
                yield from flatten_errors(value, path)
            else:
                # DRF keys the errors of a many=True list by item index.
                yield from flatten_errors(
                    value, _join(path, key if isinstance(key, int) else str(key))
                )
    elif isinstance(detail, list):
        if all(isinstance(item, (str, exceptions.ErrorDetail)) for item in detail):
            for item in detail:
                yield from flatten_errors(item, path)
        else:
            # A list of nested results (many=True): empty entries were valid.
            for index, item in enumerate(detail):
                if item:
                    yield from flatten_errors(item, _join(path, index))
    else:
        code = getattr(detail, "code", None) or "invalid"
        yield {"code": code, "message": str(detail), "field": path or None}


def _body(code: str, message: str, errors: list[dict[str, Any]]) -> dict[str, Any]:
    return {"code": code, "message": message, "errors": errors}


def application_error_body(exc: ApplicationError) -> dict[str, Any]:
    """The body of the response to a refusal by a service (its status: ``exc.status``)."""
    return _body(exc.code, exc.message, exc.errors)


def validation_error_body(exc: exceptions.ValidationError) -> dict[str, Any]:
    """The body of the 400 response to a serializer's refusal."""
    errors = list(flatten_errors(exc.detail))
    first: dict[str, Any] = errors[0] if errors else {"message": "Invalid input.", "field": None}
    message = f"{first['field']}: {first['message']}" if first["field"] else first["message"]
    return _body("invalid", message, errors)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Render ``exc`` as the one error shape; unknown exceptions stay 500s."""
    if isinstance(exc, ApplicationError):
        return Response(application_error_body(exc), status=exc.status)
    if isinstance(exc, (ProtectedError, RestrictedError)):
        referrers = (
            exc.protected_objects if isinstance(exc, ProtectedError) else exc.restricted_objects
        )
        kinds = sorted({str(obj._meta.verbose_name_plural) for obj in referrers})
        message = f"Cannot delete it: {', '.join(kinds)} still refer to it."
        return Response(_body("protected", message, []), status=409)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(get_error_detail(exc))
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(*exc.args)
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(*exc.args)
    elif isinstance(exc, RequestDataTooBig):  # Django's own check, on a form body
        exc = RequestTooLarge(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
    # DRF's own handler sets the headers (WWW-Authenticate, Retry-After).
    response = drf_exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return response
    if isinstance(exc, exceptions.ValidationError):
        response.data = validation_error_body(exc)
    else:
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else exc.default_code
        # A parse error may name the field at fault (parsers.RefusedText).
        response.data = _body(code, str(exc.detail), list(getattr(exc, "errors", [])))
    return response
