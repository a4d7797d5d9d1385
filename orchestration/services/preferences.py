"""What the Suite remembers per user."""

from typing import Any

from django.db import transaction

from ..models import UserPreference


def user_preference_set(*, user: Any, dark_mode: bool) -> UserPreference:
    """Remember whether ``user`` wants the dark theme."""
    with transaction.atomic():
        preference, _ = UserPreference.objects.select_for_update().get_or_create(user=user)
        if preference.dark_mode != dark_mode:
            preference.dark_mode = dark_mode
            preference.save(update_fields=["dark_mode"])
    return preference
