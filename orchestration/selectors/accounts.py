"""What a signed-in user has: preferences, API tokens."""

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from rest_framework.authtoken.models import Token

from ..models import (
    UserPreference,
)


def user_prefers_dark(user: Any) -> bool:
    """Whether the Suite shows ``user`` its dark theme."""
    if not getattr(user, "is_authenticated", False):
        return False
    return UserPreference.objects.filter(user=user, dark_mode=True).exists()


def api_token_lifetime() -> timedelta:
    """How long an API token works after it was made (``API_TOKEN_TTL_HOURS``)."""
    return timedelta(hours=settings.API_TOKEN_TTL_HOURS)


def api_token_expires_at(token: Token) -> datetime:
    """When ``token`` stops working."""
    return token.created + api_token_lifetime()


def api_token_of(user: Any) -> Token | None:
    """The API token of ``user``, expired or not; None if it has none."""
    return Token.objects.filter(user=user).first()
