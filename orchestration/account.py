"""The signed-in user's own page in the Suite: their API token.

Shows whether the user has a token, its key and when it expires, and lets them
make one or revoke it (``services.tokens``): the same token ``POST
/api/auth/token/`` hands out, so a leaked key can be revoked without the API.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from orchestration.selectors.accounts import api_token_expires_at, api_token_of

from .services.tokens import api_token_obtain, api_token_revoke


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
