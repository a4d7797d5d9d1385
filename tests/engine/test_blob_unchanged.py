"""The engine's speed-ups change no decision and no word of its explanation.

The blobs of generated bench worlds (``worlds.make_scenario``: every sheet template,
thousands of rejections, reasons with per-OU descriptions, ``Dropped``) are compared
with the SHA-256 of their canonical JSON as the code before the speed-ups of issue 19
(``docs/performance.md``) wrote them. A change that means to alter the blob updates
these digests, saying why in its commit: print them with ``digest(world)``.

Updated once since: when the trimmed search began proposing unit by unit
(``Search._greedy``): the two 1,000-OU worlds of 5 lines now win with 4 shipments
scoring 284.11 instead of 3 scoring 252.79, and every world of more than 24
candidates counts two more propositions; nothing else changed.
"""

import hashlib
import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from orchestration.benchmarks import worlds
from orchestration.engine import route, variables
from orchestration.engine.model import Scenario, SheetSource
from tests.engine.test_groups import both_ways

# (OUs, lines, sheets, seed) -> the blob's digest.
DIGESTS = {
    (50, 4, 4, 3): "93fc4a66d6429f23",
    (100, 5, 4, 0): "e99977e60f49d7dd",
    (300, 3, 8, 1): "2a8b6a47fcbd7954",
    (300, 3, 8, 2): "36df65c88779c918",
    (1000, 1, 4, 0): "caa38d5b9656edeb",
    (1000, 5, 4, 0): "99a911f42a019299",
    (1000, 5, 8, 0): "6b76a8eb207ac08e",
}


def digest(world: tuple[int, int, int, int]) -> str:
    ous, lines, sheets, seed = world
    blob = route(worlds.make_scenario(ous=ous, lines=lines, sheets=sheets, seed=seed)).blob
    text = json.dumps(blob, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@pytest.mark.parametrize("world", sorted(DIGESTS), ids=lambda w: "x".join(map(str, w)))
def test_generated_worlds_get_the_same_blob_as_before_the_speed_ups(
    world: tuple[int, int, int, int],
) -> None:
    assert digest(world) == DIGESTS[world]


LOCAL_HOURS = """\
fulfillment OpenShops

action 'EXPORT_ORDER'

scope Supplier

data [ExporterName] as 'ARVATO'

require [Supplier.LocalTime.Hour] >= 10 with reason 'Closed', \
$'{[Supplier.Name]} opens at 10, it is {[Supplier.LocalTime.Hour]}'

require [Supplier.LocalTime.DayOfWeek] <> 'Sunday'

scope OrderLine

require [SupplierQuantityAvailable] >= [OrderLine.QuantityOrdered]
"""


def test_local_time_read_per_time_zone_decides_as_per_ou(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``Supplier.LocalTime.*`` is grouped per time zone, not per OU: OUs in four
    zones (two of them at the same hour) are rejected and described each."""
    scenario = worlds.make_scenario(ous=120, lines=2, sheets=1, seed=5)
    zones = ("Europe/Amsterdam", "Europe/London", "America/New_York", "Africa/Lagos")
    units = tuple(
        replace(unit, time_zone=zones[index % len(zones)])
        for index, unit in enumerate(scenario.organization_units)
    )
    scenario = Scenario(
        at=scenario.at,
        order=scenario.order,
        organization_units=units,
        products=scenario.products,
        sheets=(SheetSource(1, "OpenShops", LOCAL_HOURS),),
        stock=scenario.stock,
        settings=scenario.settings,
    )
    zoned: list[tuple[str, ...]] = []
    original = variables.World._local_time_partition

    def spy(world: variables.World, path: tuple[str, ...]) -> variables.Partition:
        zoned.append(path)
        return original(world, path)

    monkeypatch.setattr(variables.World, "_local_time_partition", spy)
    grouped, single = both_ways(scenario, monkeypatch)
    assert grouped == single
    assert ("Supplier", "LocalTime", "Hour") in zoned
    closed = [r for r in grouped["Rejections"] if r["Reason"] == "Closed"]
    # 14:00 in Amsterdam and Lagos; 13:00 in London; 08:00 in New York: closed.
    assert len(closed) == len(units[2::4])
    assert closed[0]["Description"] == f"{units[2].name} opens at 10, it is 8"


@pytest.mark.parametrize(
    "at",
    [
        datetime(9999, 12, 31, 23, 59, tzinfo=timezone(timedelta(hours=-12))),
        datetime(1, 1, 1, 0, 0, tzinfo=timezone(timedelta(hours=14))),
    ],
    ids=["end of the calendar", "its start"],
)
def test_a_moment_past_the_calendar_in_a_shops_zone_is_a_missing_local_time(
    at: datetime,
) -> None:
    """Within hours of year 1 or 9999 a shop's local clock does not exist: the sheet
    reads a missing value there (here: a requirement on it fails), and the order is
    still decided instead of the route crashing."""
    base = worlds.make_scenario(ous=40, lines=2, sheets=1, seed=5)
    scenario = replace(base, at=at, sheets=(SheetSource(1, "OpenShops", LOCAL_HOURS),))
    blob = route(scenario).blob
    assert blob["Errors"] == []
    closed = [r for r in blob["Rejections"] if r["Reason"] == "Closed"]
    assert closed  # every shop's hour is missing: none is open
    assert [s["FulfillmentAction"] for s in blob["Fulfillments"][0]["Shipments"]] == ["CANCEL"]
