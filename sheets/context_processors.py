"""What every Suite page's shell needs: the user's theme and the navigation."""

from typing import Any

from django.http import HttpRequest

from orchestration.account import landing
from orchestration.selectors.accounts import user_prefers_dark


def suite(request: HttpRequest) -> dict[str, Any]:
    """``suite_dark``: whether to render the dark theme for this user; ``suite_home``:
    where they start (the 403 page links there), None before signing in.

    An error page can be rendered before the authentication middleware has run (a 400
    for a disallowed host): then there is no ``request.user`` and the light theme."""
    user = getattr(request, "user", None)
    signed_in = user is not None and user.is_authenticated
    return {
        "suite_dark": user_prefers_dark(user),
        "suite_home": landing(user) if signed_in else None,
    }
