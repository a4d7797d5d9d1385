"""How the suite writes a moment for people: local time with weekday and zone,
``Monday 23 Nov 2026, 14:00 Europe/Amsterdam``. The Suite's ``moment`` filter
(``sheets/templatetags/suite.py``) and the demo's report both say it so."""

from datetime import datetime
from zoneinfo import ZoneInfo


def moment_text(when: datetime, zone: ZoneInfo) -> str:
    """``when`` (aware) in ``zone``, as people read it."""
    local = when.astimezone(zone)
    return f"{local:%A} {local.day} {local:%b %Y, %H:%M} {zone.key}"
