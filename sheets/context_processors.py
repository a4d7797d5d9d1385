"""What every Suite page's shell needs: the user's theme and the navigation."""

from typing import Any

from django.http import HttpRequest

from orchestration.selectors.accounts import user_prefers_dark


def suite(request: HttpRequest) -> dict[str, Any]:
    """``suite_dark``: whether to render the dark theme for this user.

    An error page can be rendered before the authentication middleware has run (a 400
    for a disallowed host): then there is no ``request.user`` and the light theme."""
    return {"suite_dark": user_prefers_dark(getattr(request, "user", None))}
