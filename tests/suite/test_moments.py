"""One way of showing a moment in the Suite: local time, weekday and zone, the exact
ISO value on hover (``sheets/templatetags/suite.py``)."""

from datetime import UTC, datetime

import pytest
from django.template import Context, Template

NOON_UTC = datetime(2026, 11, 23, 13, 0, 0, 123456, tzinfo=UTC)  # a Monday


def render(text: str, **context: object) -> str:
    return Template("{% load suite %}" + text).render(Context(context))


def test_a_moment_reads_as_local_time_with_weekday_and_zone() -> None:
    assert render("{{ at|moment }}", at=NOON_UTC) == (
        '<time datetime="2026-11-23T13:00:00.123456+00:00" '
        'title="2026-11-23T13:00:00.123456+00:00">Monday 23 Nov 2026, 14:00 Europe/Amsterdam</time>'
    )


@pytest.mark.parametrize(
    ("value", "zone", "shown"),
    [
        ("2026-11-23T13:00:00+00:00", "", "Monday 23 Nov 2026, 14:00 Europe/Amsterdam"),
        ("2026-11-23T13:00:00+00:00", "Europe/London", "Monday 23 Nov 2026, 13:00 Europe/London"),
        ("2026-11-23T13:00:00+00:00", "Not/AZone", "Monday 23 Nov 2026, 14:00 Europe/Amsterdam"),
    ],
)
def test_an_iso_string_such_as_a_blobs_at_reads_the_same_way(
    value: str, zone: str, shown: str
) -> None:
    assert f">{shown}</time>" in render("{{ at|moment:zone }}", at=value, zone=zone)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, ""), ("", ""), ("not a time", "not a time"), ("2026-11-23T13:00", "2026-11-23T13:00")],
)
def test_what_is_no_moment_with_a_zone_is_shown_as_it_is(value: object, expected: str) -> None:
    assert render("{{ at|moment }}", at=value) == expected


def test_a_moment_past_the_calendars_end_in_the_zone_is_shown_exactly() -> None:
    late = "9999-12-31T23:59:00-12:00"
    assert render("{{ at|moment }}", at=late) == late
