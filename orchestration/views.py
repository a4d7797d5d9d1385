"""Project-wide error pages: JSON in the API's error shape under ``/api/``, HTML elsewhere."""

from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views import defaults


def is_api_request(request: HttpRequest) -> bool:
    """Whether ``request`` is for the REST API, which answers in its JSON error shape."""
    return request.path.startswith("/api/")


def api_error(
    status: int, code: str, message: str, *, item_code: str | None = None, field: str | None = None
) -> JsonResponse:
    """The API's error shape (``docs/api.md``) outside DRF: with an item in ``errors``
    when ``item_code`` is given (``message`` then says what is wrong with ``field``)."""
    errors = []
    if item_code is not None:
        errors.append({"code": item_code, "message": message, "field": field})
    shown = f"{field}: {message}" if field else message
    return JsonResponse({"code": code, "message": shown, "errors": errors}, status=status)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """400 that Django raises itself (too many fields, a disallowed host, a broken form
    upload); the details stay in the log, as Django's own handler keeps them.

    Too many fields and too large a form body are named with their limits: a careless
    user meets them (the preview's typed order of more than 333 lines, three fields a
    row; a huge paste sent to Compare), and "malformed" would send them looking for a
    typo."""
    message = None
    if isinstance(exception, TooManyFieldsSent):
        message = (
            f"The request has more than {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS:,} parameters "
            "or form fields, more than this install takes at once "
            "(DATA_UPLOAD_MAX_NUMBER_FIELDS)."
        )
    elif isinstance(exception, RequestDataTooBig):
        message = (
            f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,} bytes, "
            "more than this install takes at once (DATA_UPLOAD_MAX_MEMORY_SIZE)."
        )
    if is_api_request(request):
        return api_error(400, "bad_request", message or "The request is malformed.")
    if message is not None:
        return render(request, "400.html", {"message": message}, status=400)
    return defaults.bad_request(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """404 for a URL that matches no route (the API's own 404s come from DRF)."""
    if is_api_request(request):
        return api_error(404, "not_found", "No such API endpoint or object.")
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """500: the error is logged; the client learns only that it happened."""
    if is_api_request(request):
        return api_error(500, "server_error", "Internal server error.")
    return defaults.server_error(request)
