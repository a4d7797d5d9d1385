"""Where a user starts in the Suite, and their own page: their API token.

``home`` (``/``, and where signing in lands) sends each user where they work:
designers to the sheets, store staff to their shop's task list (the list of
shops if they work at several), others who follow orders to the orders; a user
with none of these to their own page. The 403 page links to ``/``.

Shows whether the user has a token, its key and when it expires, and lets them
make one or revoke it (``services.tokens``): the same token ``POST
/api/auth/token/`` hands out, so a leaked key can be revoked without the API.
"""

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from orchestration.selectors.accounts import api_token_expires_at, api_token_of
from orchestration.selectors.organization import shops_worked_at

from .permissions import VIEW_ORDER, VIEW_SHEETS
from .services.tokens import api_token_obtain, api_token_revoke


def landing(user: Any) -> str:
    """The URL where ``user`` starts (see the module's docstring)."""
    if user.has_perm(VIEW_SHEETS):
        return reverse("sheets:overview")
    if user.has_perm(VIEW_ORDER):
        shops = shops_worked_at(user)
        if len(shops) == 1:
            return reverse("orders:tasks", args=[shops[0]])
        return reverse("orders:stores" if shops else "orders:list")
    return reverse("api-token")


@require_http_methods(["GET", "HEAD"])
def home(request: HttpRequest) -> HttpResponse:
    """``/``: the signed-in user's start; anyone else signs in first."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    return redirect(landing(request.user))


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def api_token(request: HttpRequest) -> HttpResponse:
    """GET: the user's token; POST ``action=create`` or ``action=revoke``."""
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "create":
            api_token_obtain(user=request.user)
            messages.success(request, "Your API token is ready.")
        elif action == "revoke":
            if api_token_revoke(user=request.user):
                messages.success(request, "Your API token is revoked; it no longer works.")
            else:
                messages.info(request, "You had no API token.")
        else:
            messages.error(request, "Choose to create or to revoke the token.")
        return redirect("api-token")
    token = api_token_of(request.user)
    expires_at = api_token_expires_at(token) if token is not None else None
    return render(
        request,
        "registration/api_token.html",
        {
            "token": token,
            "expires_at": expires_at,
            "expired": expires_at is not None and expires_at <= timezone.now(),
        },
    )
