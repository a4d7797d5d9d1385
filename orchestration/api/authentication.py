"""Token authentication whose tokens expire ``API_TOKEN_TTL_HOURS`` after they were made.

An expired token is refused with 401 ``token_expired`` (not the generic
``authentication_failed``), so a client knows to ask ``POST /api/auth/token/``
for a new one rather than suspect its key.
"""

from typing import Any

from django.utils import timezone
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from orchestration.selectors.accounts import api_token_expires_at


class ExpiringTokenAuthentication(TokenAuthentication):
    """DRF's ``Authorization: Token <key>``, refused once the token has expired."""

    def authenticate_credentials(self, key: str) -> tuple[Any, Any]:
        user, token = super().authenticate_credentials(key)
        if api_token_expires_at(token) <= timezone.now():
            raise AuthenticationFailed(
                "The token expired; get a new one from POST /api/auth/token/.",
                code="token_expired",
            )
        return user, token
