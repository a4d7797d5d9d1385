"""Signing in to the API (``/api/auth/token/``) and who may read its documentation.

``POST`` trades a user name and password for the user's API token (see
``services.tokens``), throttled like every sign-in (``orchestration.signin``): a
locked user name or address gets 429 ``throttled`` with ``Retry-After``, even
with the right password. ``DELETE`` revokes the token the request came with
(or, signed in by session, the user's token).

The schema, Swagger UI and ReDoc are for signed-in users unless
``API_DOCS_PUBLIC``: the schema answers 401 like any endpoint, the two pages
send a browser to the login page. Both read the setting per request.
"""

import functools
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.authentication import BaseAuthentication
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import AllowAny, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from orchestration.selectors.accounts import api_token_expires_at

from ..services.tokens import api_token_obtain, api_token_revoke
from ..signin import Lockout, client_address, signin_lockout, signin_succeeded
from .parsers import LimitedFormParser, StrictJSONParser
from .schema import ErrorSerializer
from .serializers import ApiTokenSerializer, SignInSerializer


class SignInLocked(exceptions.Throttled):
    """429: too many failed sign-ins for this user name or from this address."""

    def __init__(self, lockout: Lockout) -> None:
        minutes = f"{lockout.minutes} minute{'s' if lockout.minutes != 1 else ''}"
        exceptions.APIException.__init__(
            self,
            f"Too many failed sign-ins for this user name or from this address; "
            f"try again in {minutes}.",
            "throttled",
        )
        self.wait = lockout.seconds  # DRF's handler sends it as Retry-After


class TokenView(APIView):
    """Get (``POST``) or revoke (``DELETE``) your API token."""

    # JSON, or a form as DRF's own token view takes: each within the API's limits.
    parser_classes = (StrictJSONParser, LimitedFormParser, MultiPartParser)

    def get_authenticators(self) -> list[BaseAuthentication]:
        # Signing in reads the body only: a stale token in a header must not stop it.
        if getattr(self.request, "method", None) == "POST":
            return []
        return super().get_authenticators()

    def get_permissions(self) -> list[BasePermission]:
        if getattr(self.request, "method", None) == "POST":
            return [AllowAny()]
        return [IsAuthenticated()]

    @extend_schema(
        operation_id="auth_token_create",
        request=SignInSerializer,
        responses={
            200: ApiTokenSerializer,
            429: OpenApiResponse(
                ErrorSerializer,
                description=(
                    "Too many failed sign-ins for this user name or from this address; "
                    "`Retry-After` says in how many seconds to try again."
                ),
            ),
        },
        auth=[],
    )
    def post(self, request: Request) -> Response:
        credentials = SignInSerializer(data=request.data)
        credentials.is_valid(raise_exception=True)
        username = credentials.validated_data["username"]
        lockout = signin_lockout(username=username, address=client_address(request))
        if lockout is not None:
            raise SignInLocked(lockout)
        # A failure is counted by the user_login_failed signal authenticate() sends.
        user = authenticate(
            request=request, username=username, password=credentials.validated_data["password"]
        )
        if user is None:
            raise exceptions.ValidationError(
                "Unable to log in with provided credentials.", code="authorization"
            )
        signin_succeeded(username=user.get_username())
        token = api_token_obtain(user=user)
        body = {"token": token.key, "expires_at": api_token_expires_at(token)}
        return Response(ApiTokenSerializer(body).data)

    @extend_schema(operation_id="auth_token_destroy", request=None, responses={204: None})
    def delete(self, request: Request) -> Response:
        api_token_revoke(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ApiDocsPermission(BasePermission):
    """The schema: any signed-in user, or anyone with ``API_DOCS_PUBLIC``."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(settings.API_DOCS_PUBLIC or request.user.is_authenticated)


def docs_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Swagger UI or ReDoc: an anonymous browser is sent to sign in first."""

    @functools.wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if settings.API_DOCS_PUBLIC or request.user.is_authenticated:
            return view(request, *args, **kwargs)
        return redirect_to_login(request.get_full_path())

    return guarded
