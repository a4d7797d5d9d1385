"""Middleware of the suite."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse


class RefuseNulInApiQueryMiddleware:
    """Answer 400 to an API query string holding NUL (PostgreSQL cannot compare it)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/api/"):
            for key, values in request.GET.lists():
                if "\x00" in key or any("\x00" in value for value in values):
                    body = {
                        "code": "invalid",
                        "message": f"{key}: Text may not contain the NUL character (\\u0000).",
                        "errors": [
                            {
                                "code": "null_characters_not_allowed",
                                "message": "Text may not contain the NUL character (\\u0000).",
                                "field": key.replace("\x00", "\\u0000"),
                            }
                        ],
                    }
                    return JsonResponse(body, status=400)
        return self.get_response(request)
