"""API tokens: made on sign-in, good for ``API_TOKEN_TTL_HOURS``, revoked by their owner.

A user has at most one token (DRF's ``Token``, keyed by user). Asking for a token
returns the one in force; an expired one is replaced by a new key rather than
renewed, so a token that leaked stops working at the latest when it expires,
however often its owner signs in. Revoking deletes it: every client using it
gets 401 from the next request on.
"""

from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from ..selectors.accounts import api_token_lifetime


def api_token_obtain(*, user: Any, now: datetime | None = None) -> Token:
    """The token in force for ``user``: the current one, or a new one if it had none
    or its had expired."""
    now = now or timezone.now()
    with transaction.atomic():
        Token.objects.filter(user=user, created__lte=now - api_token_lifetime()).delete()
        token, _ = Token.objects.get_or_create(user=user)
    return token


def api_token_revoke(*, user: Any) -> bool:
    """Delete the token of ``user``; whether there was one."""
    with transaction.atomic():
        deleted, _ = Token.objects.filter(user=user).delete()
    return deleted > 0
