"""Project-wide error pages: JSON in the API's error shape under ``/api/``, HTML elsewhere."""

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """400 that Django raises itself (too many fields, a disallowed host, a broken form
    upload); the details stay in the log, as Django's own handler keeps them."""
    if _is_api(request):
        body = {"code": "bad_request", "message": "The request is malformed.", "errors": []}
        return JsonResponse(body, status=400)
    return defaults.bad_request(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """404 for a URL that matches no route (the API's own 404s come from DRF)."""
    if _is_api(request):
        body = {"code": "not_found", "message": "No such API endpoint or object.", "errors": []}
        return JsonResponse(body, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """500: the error is logged; the client learns only that it happened."""
    if _is_api(request):
        body = {"code": "server_error", "message": "Internal server error.", "errors": []}
        return JsonResponse(body, status=500)
    return defaults.server_error(request)
