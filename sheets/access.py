"""Who may open which Suite page: EVA's SymphonySheets permissions, checked per view.

Pages send anonymous visitors to the login page; JSON endpoints (the editor's
live check, the OU lookup) answer them with a 403 body instead, because a
redirect would reach the editor's script as an HTML page. A signed-in user
without the permission gets the 403 page (``templates/403.html``), and nothing
is written.
"""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.models import User
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse

from orchestration.permissions import display_name

View = Callable[..., HttpResponse]


def requires(*permissions: str, json: bool = False) -> Callable[[View], View]:
    """Let the view run only for a signed-in user with every one of ``permissions``."""

    def decorate(view: View) -> View:
        @wraps(view)
        def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            user = request.user
            if not user.is_authenticated:
                if json:
                    return JsonResponse(
                        {"code": "not_authenticated", "message": "Sign in first."}, status=403
                    )
                return redirect_to_login(request.get_full_path())
            missing = [display_name(p) for p in permissions if not user.has_perm(p)]
            if missing:
                message = f"You need the permission {', '.join(missing)} for this."
                if json:
                    return JsonResponse(
                        {"code": "permission_denied", "message": message}, status=403
                    )
                raise PermissionDenied(message)
            return view(request, *args, **kwargs)

        return guarded

    return decorate


def can(user: Any, permission: str) -> bool:
    """Whether ``user`` has ``permission`` (for showing or hiding buttons)."""
    return bool(user.is_authenticated and user.has_perm(permission))


def signed_in(request: HttpRequest) -> User:
    """The request's user, for a view behind ``requires`` (which lets no anonymous
    visitor through): typed as the ``User`` the services take."""
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied("Sign in first.")
    return user
