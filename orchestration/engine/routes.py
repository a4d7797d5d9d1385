"""Distances and routes from an OU to the customer.

``distance_km`` is the great-circle distance. Routes (``Supplier.RouteToShippingAddressByBike``)
come from a ``RouteProvider``: the default, ``EstimatedBikeRoute``, estimates them from
the distance; a real one (a routing service) is any object with the same ``route``
method, plugged in by the Django setting ``ORCHESTRATION_ROUTE_PROVIDER``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from .model import Address

EARTH_RADIUS_KM = 6371.0088  # the mean radius (IUGG)
_METRE = Decimal("0.001")  # in km: what route lengths are rounded to


def point(address: Address) -> tuple[float, float] | None:
    """An address's coordinates in radians, or None without them."""
    if address.latitude is None or address.longitude is None:
        return None
    return math.radians(float(address.latitude)), math.radians(float(address.longitude))


def distance_between(
    origin: tuple[float, float] | None, destination: tuple[float, float] | None
) -> Decimal | None:
    """Great-circle (haversine) distance in km between two ``point``s, to 3 decimals."""
    if origin is None or destination is None:
        return None
    lat1, lon1 = origin
    lat2, lon2 = destination
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    km = 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))
    return Decimal(f"{km:.3f}")


def distance_km(origin: Address, destination: Address) -> Decimal | None:
    """Great-circle (haversine) distance in km, to 3 decimals; None without coordinates."""
    return distance_between(point(origin), point(destination))


@dataclass(frozen=True, slots=True)
class Route:
    """A route's length and duration, and how a store employee would read them."""

    distance_km: Decimal
    time_minutes: int

    @property
    def distance_text(self) -> str:
        """'2.4 km', or '850 m' below one km."""
        if self.distance_km < 1:
            return f"{int(self.distance_km * 1000)} m"
        return f"{self.distance_km:.1f} km"

    @property
    def time_text(self) -> str:
        """'9 min', or '1 h 5 min'."""
        hours, minutes = divmod(self.time_minutes, 60)
        if hours:
            return f"{hours} h {minutes} min" if minutes else f"{hours} h"
        return f"{minutes} min"


class RouteProvider(Protocol):
    """Anything that can say how far and how long a route is; None when it cannot."""

    def route(self, origin: Address, destination: Address) -> Route | None:
        """The route from ``origin`` to ``destination``."""


class EstimatedBikeRoute:
    """The default: a bike route estimated from the great-circle distance.

    Streets are not straight, so the distance is the crow's distance times
    ``detour_factor`` (1.3, the usual circuity of city streets); the time is that
    distance at ``speed_kmh`` (15 km/h, a delivery bike in town), rounded up to a
    whole minute.
    """

    def __init__(self, *, detour_factor: float = 1.3, speed_kmh: float = 15.0) -> None:
        self.detour_factor = Decimal(str(detour_factor))
        self.speed_kmh = Decimal(str(speed_kmh))

    def route(self, origin: Address, destination: Address) -> Route | None:
        """The estimated route, or None when either end has no coordinates."""
        return self.from_distance(distance_km(origin, destination))

    def from_distance(self, crow: Decimal | None) -> Route | None:
        """The estimated route of a great-circle distance (``distance_km``'s), or None."""
        if crow is None:
            return None
        km = (crow * self.detour_factor).quantize(_METRE)
        minutes = math.ceil(km / self.speed_kmh * 60)
        return Route(km, minutes)
