"""Field validators shared by models and serializers, and the bounds of an ID."""

import functools
import re
import zoneinfo
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator

# The largest primary key a BigAutoField holds; a larger number names no row (and a
# database cannot compare it with one on every backend).
MAX_ID = 2**63 - 1
# Digits of MAX_ID: longer text is not an ID, and int() refuses more than 4,300 digits.
MAX_ID_DIGITS = len(str(MAX_ID))

validate_country_id = RegexValidator(
    r"^[A-Z]{2}$", "Enter a two-letter ISO 3166 country code in capitals, e.g. NL."
)
validate_backend_id = RegexValidator(
    r"^[^\s]+$", "A backend ID may not be empty or contain spaces."
)
IDENTIFIER_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
validate_identifier = RegexValidator(
    IDENTIFIER_PATTERN,
    "Use letters, digits and underscores, starting with a letter or underscore.",
)


# Files of the system's zone database that are no place's zone: ``localtime`` is
# this machine's own setting (another machine reads it otherwise), ``Factory`` a
# placeholder for "not set yet", ``posixrules`` a template for POSIX TZ strings.
_NOT_A_PLACE = frozenset({"localtime", "Factory", "posixrules"})


@functools.cache
def _time_zones() -> frozenset[str]:
    return frozenset(
        name
        for name in zoneinfo.available_timezones()
        if name not in _NOT_A_PLACE and not name.startswith(("posix/", "right/"))
    )


def validate_time_zone(value: str) -> None:
    """Accept only IANA time zone names such as ``Europe/Amsterdam``."""
    if value not in _time_zones():
        raise ValidationError(
            "'%(value)s' is not an IANA time zone name (e.g. Europe/Amsterdam).",
            code="invalid_time_zone",
            params={"value": value},
        )


def validate_json_object(value: Any) -> None:
    """Custom fields and product content are JSON objects, never lists or scalars."""
    if not isinstance(value, dict):
        raise ValidationError("Expected a JSON object of names to values.", code="not_an_object")


def parse_id(text: str) -> int | None:
    """``text`` as a primary key (ASCII digits, 1 to ``MAX_ID``), or None if it is not one.

    ``str.isdigit()`` is no test for this: it accepts "²", which ``int()`` refuses, and
    ``int()`` refuses more than 4,300 digits; both were 500s.
    """
    text = text.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > MAX_ID_DIGITS:
        return None
    value = int(text)
    return value if 1 <= value <= MAX_ID else None
