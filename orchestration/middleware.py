"""Middleware of the suite: bad input that would reach the database is a 400, not a 500.

NUL
---

PostgreSQL cannot store or compare the NUL character (U+0000): a filter such as
``name__icontains="\\x00"`` raises ``DataError`` there, a 500, on whichever page or
admin changelist reads the parameter. Browsers never send NUL, so rather than have
each view remember it, a query string (any path) or a form body (any path outside
``/api/``) holding one is refused here with a 400 naming the parameter:

- under ``/api/`` in the API's error shape (``code``, ``message``, ``errors``); the
  API's JSON bodies are checked by its own parser and serializers, field by field;
- elsewhere as the HTML page ``templates/400.html``, which names the parameter.

Lone surrogates cannot arrive this way: Django decodes query strings and form bodies
with ``errors="replace"``, so invalid UTF-8 such as ``%ED%A0%80`` becomes U+FFFD.

Integers past 64 bits
---------------------
SQLite stores integers in 64 bits, and Python's ``sqlite3`` raises ``OverflowError``
when it binds a larger one; PostgreSQL compares it as a numeric and finds nothing.
Django guards plain lookups on integer fields, but not related lookups, ``__in`` lists
or model-choice fields: ``/admin/orchestration/stock/?organization_unit=`` with 20
digits, an admin action on such an ID, a form's many-to-many choice. Rather than chase
each filter, a number no row can hold is answered 400 wherever it was bound.
"""

from collections.abc import Callable, Iterable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from .views import api_error, is_api_request

NUL = "\x00"
NUL_MESSAGE = "Text may not contain the NUL character (\\u0000)."
# Bodies of these types are form fields (request.POST); others (JSON, XML, files) are
# left to the view that reads them.
FORM_CONTENT_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _nul_parameter(parameters: Iterable[tuple[str, list[str]]]) -> str | None:
    """The name of the first parameter whose name or a value holds NUL, if any."""
    for key, values in parameters:
        if NUL in key or any(NUL in value for value in values):
            return key
    return None


def _printable(name: str) -> str:
    """A parameter's name as it can be shown: NUL spelt ``\\u0000``."""
    return name.replace(NUL, "\\u0000")


class RefuseNulInRequestMiddleware:
    """Answer 400 to a query string (or, outside the API, a form body) holding NUL."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        name = _nul_parameter(request.GET.lists())
        where = "query string"
        if (
            name is None
            and not is_api_request(request)
            and request.method == "POST"
            and request.content_type in FORM_CONTENT_TYPES
        ):
            name = _nul_parameter(request.POST.lists())
            where = "form"
        if name is None:
            return self.get_response(request)
        field = _printable(name)
        if is_api_request(request):
            return api_error(
                400,
                "invalid",
                NUL_MESSAGE,
                item_code="null_characters_not_allowed",
                field=field,
            )
        return render(
            request,
            "400.html",
            {
                "message": f"The {where} parameter “{field}” contains the NUL character "
                "(\\u0000), which no page accepts: remove it and try again."
            },
            status=400,
        )


# What Python's sqlite3 module says when it cannot bind an integer (CPython's
# Modules/_sqlite/cursor.c; unchanged since Python 3.0).
SQLITE_INTEGER_OVERFLOW = "too large to convert to SQLite INTEGER"
INTEGER_OVERFLOW_MESSAGE = (
    "A number in the request is larger than any stored number (at most 2^63-1)."
)


class RefuseIntegerOverflowMiddleware:
    """Answer 400 where the database could not bind a number of the request (see above)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not (isinstance(exception, OverflowError) and SQLITE_INTEGER_OVERFLOW in str(exception)):
            return None
        if is_api_request(request):
            return api_error(400, "invalid", INTEGER_OVERFLOW_MESSAGE, item_code="max_value")
        return render(request, "400.html", {"message": INTEGER_OVERFLOW_MESSAGE}, status=400)
