"""The Suite's one way of showing a moment: local time with weekday and zone.

``{{ value|moment }}`` (or ``|moment:"Europe/London"``) renders a datetime, or an
ISO 8601 string such as a blob's ``At``, as ``Monday 23 Nov 2026, 14:00
Europe/Amsterdam`` in the given zone (the Suite's ``TIME_ZONE`` by default), inside
a ``<time>`` whose ``datetime`` and tooltip carry the exact ISO value. A value that
is neither is shown as it is; None as nothing.
"""

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django import template
from django.conf import settings
from django.utils.html import format_html
from django.utils.safestring import SafeString

from orchestration.moments import moment_text

register = template.Library()


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or settings.TIME_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(settings.TIME_ZONE)


@register.filter
def moment(value: object, zone: str | None = None) -> SafeString | str:
    """``value`` as people read a moment, its exact ISO form on hover."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            return value
    elif isinstance(value, datetime):
        when = value
    else:
        return str(value)
    if when.tzinfo is None:  # no zone: which moment it is cannot be said
        return value if isinstance(value, str) else when.isoformat()
    place = _zone(zone)
    try:
        shown = moment_text(when, place)
    except OverflowError:  # within hours of the calendar's ends
        return value if isinstance(value, str) else when.isoformat()
    exact = when.isoformat()
    return format_html('<time datetime="{}" title="{}">{}</time>', exact, exact, shown)
