"""Field validators shared by models and serializers."""

import functools
import re
import zoneinfo
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator

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


@functools.cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


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
