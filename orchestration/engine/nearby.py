"""Distance filters without measuring every OU: ``require [Supplier.DistanceTo...] < R``.

A ship-from-store sheet keeps the shops within a radius of the customer; at
10,000 OUs measuring each one, through the statement, was most of that sheet's
time. ``passing`` answers such a filter for all OUs at once from the network's
OUs sorted by latitude: an OU whose latitude alone puts it farther than the
radius (the great-circle distance is at least the earth's radius times the
difference in latitude) fails without a look; the rest (a band of latitudes) run
the statement as before, as do OUs without coordinates. So the answer is exactly
the statement's, per OU.

It applies to a plain ``require`` (no ``when``, no reason, no ``but continue``:
``evaluate._silent_filter``) of exactly the form ``require
[Supplier.DistanceToShippingAddressInKm] < LIMIT`` (or ``<=``, or the billing
address), where LIMIT is a number or a name the OU's group has already set to a
number: then the statement holds for small distances and fails beyond LIMIT,
whatever else the sheet says. Anything else gets None (the caller runs the
statement per OU).
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable
from decimal import Decimal

from ..language.compiler import EvaluationError
from .plan import Step, Values, holds
from .routes import EARTH_RADIUS_KM
from .variables import World, path_key

_FORM = re.compile(
    r"require\s+\[?Supplier\.(DistanceTo(?:Shipping|Billing)AddressInKm)\]?\s*(<=?)\s*"
    r"(\[[A-Za-z_]\w*\]|[A-Za-z_]\w*|\d+(?:\.\d+)?)"
)
# Distances are rounded to 3 decimals (``routes.distance_between``): an OU this much
# beyond the limit by latitude alone is beyond it after rounding, float errors
# included.
_MARGIN_KM = 0.01
_ABSENT = object()
# Fewer candidates than the band's OUs divided by this: each candidate's latitude is
# compared with the band's, instead of the band's OUs looked up among the candidates.
# The same OUs either way.
WALK_CANDIDATES = 1


def passing(
    world: World, step: Step, base: Values, cache: dict[tuple[object, ...], frozenset[int] | None]
) -> frozenset[int] | None:
    """The OUs (of the candidates, a superset of the group's) the filter ``step`` lets
    through with the values in ``base``; None when the form above does not apply.

    Only the world's candidates are looked at: a group holds nothing else, so a run
    given a few OUs (``Scenario.candidate_units``) measures those only."""
    match = _FORM.fullmatch(step.text.strip())
    if match is None:
        return None
    name, operator, limit_text = match.groups()
    if limit_text[0].isdigit():
        limit: object = Decimal(limit_text)
    else:
        limit = base.get(path_key(limit_text.strip("[]")), _ABSENT)
    if type(limit) not in (int, Decimal):  # not bool, not missing, not text
        return None
    key = (id(step), name, limit)
    if key in cache:
        return cache[key]
    origin = (
        world.shipping_point if name == "DistanceToShippingAddressInKm" else world.billing_point
    )
    found: frozenset[int] | None = None
    if origin is not None:
        latitudes, ids, unplaced = world.network.by_latitude()
        width = (float(limit) + _MARGIN_KM) / EARTH_RADIUS_KM  # type: ignore[arg-type]
        low = bisect_left(latitudes, origin[0] - width)
        high = bisect_right(latitudes, origin[0] + width)
        units = world.units
        candidates = world.candidates
        band: Iterable[int] = (*ids[low:high], *unplaced)
        if candidates is not units and len(candidates) * WALK_CANDIDATES < high - low:
            # A few candidates (a run given only the OUs with stock): each one's
            # latitude against the band's, rather than the band's OUs looked up.
            south, north = origin[0] - width, origin[0] + width
            points = world.points
            band = [
                unit_id
                for unit_id in candidates
                if (place := points[unit_id]) is None or south <= place[0] <= north
            ]
        elif candidates is not units:
            band = [unit_id for unit_id in band if unit_id in candidates]
        kept = []
        path = path_key("Supplier." + name)
        distance_of = world.supplier_value
        # Two finite Decimals compare as the statement compares them (``compiler``'s
        # ordering of same-typed values): no run of the statement per OU. Anything
        # else (no coordinates, a whole-number limit) runs it.
        plain = type(limit) is Decimal and limit.is_finite() and path not in base
        strict = operator == "<"
        try:
            for unit_id in band:
                unit = units[unit_id]
                if plain:
                    distance = distance_of(unit, path)
                    if type(distance) is Decimal and distance.is_finite():
                        if distance < limit if strict else distance <= limit:  # type: ignore[operator]
                            kept.append(unit_id)
                        continue
                if _holds(step, base, world.resolver(unit)):
                    kept.append(unit_id)
            found = frozenset(kept)
        except EvaluationError:
            found = None  # per OU, where it fails as it would have
    cache[key] = found
    return found


def _holds(step: Step, base: Values, resolve: Callable[[tuple[str, ...]], object]) -> bool:
    """Whether ``step`` holds for one OU (as ``evaluate._passes``)."""
    get = base.get

    def context(path: tuple[str, ...]) -> object:
        value = get(path, _ABSENT)
        return resolve(path) if value is _ABSENT else value

    return holds(step, context)
