"""A distance filter answered from the OUs sorted by latitude decides as the statement.

``nearby.passing`` lets ``require [Supplier.DistanceToShippingAddressInKm] < R``
skip OUs whose latitude alone puts them beyond R. These tests route OUs around
the limit (just inside, exactly at it, just beyond, far, without coordinates)
with the shortcut and without it, and require identical blobs; and check that
the far OUs are indeed never measured.
"""

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from orchestration.engine import blob as blobs
from orchestration.engine import nearby, route, variables
from orchestration.engine.model import (
    Address,
    Order,
    OrderLine,
    OrganizationUnit,
    Product,
    Scenario,
    SheetSource,
)
from orchestration.engine.network import Network
from orchestration.engine.plan import Values, plan_for
from orchestration.engine.routes import distance_between, point

AT = datetime(2026, 11, 20, 10, tzinfo=UTC)
CUSTOMER = Address(latitude=Decimal("52.370000"), longitude=Decimal("4.890000"))
# Degrees of latitude due north of the customer (about 111.2 km per degree).
NORTH = ("0.05", "0.0899", "0.0900", "0.0901", "0.0899321", "0.2", "1.5", "-0.0899", "-0.3")


def _units() -> tuple[OrganizationUnit, ...]:
    units = [
        OrganizationUnit(
            id=i,
            name=f"Shop {i}",
            type="Shop",
            address=Address(
                latitude=CUSTOMER.latitude + Decimal(offset), longitude=CUSTOMER.longitude
            ),
        )
        for i, offset in enumerate(NORTH, start=1)
    ]
    # Far to the east, at the customer's latitude: inside the band, beyond the radius.
    units.append(
        OrganizationUnit(
            id=20,
            name="Shop 20",
            type="Shop",
            address=Address(latitude=CUSTOMER.latitude, longitude=Decimal("5.5")),
        )
    )
    units.append(OrganizationUnit(id=21, name="Shop 21", type="Shop", address=Address()))
    return tuple(units)


def _scenario(requirement: str) -> Scenario:
    source = (
        "fulfillment Near\naction SHIP_FROM_STORE\n"
        "scope Supplier\nrequire [Supplier.Type] = 'Shop'\nwith [radius] as 10\n"
        f"{requirement}\n"
        "scope Shipment\n"
        "data TravelDistanceText as 'x'\ndata TravelTimeText as 'x'\n"
        "data TravelTimeInMinutes as 1\ndata TravelDistanceInKm as 1\n"
    )
    return Scenario(
        at=AT,
        order=Order(
            id=1,
            lines=(OrderLine(id=10, product=1, quantity=1),),
            shipping_address=CUSTOMER,
            billing_address=replace(CUSTOMER, latitude=Decimal("53.0")),
        ),
        organization_units=_units(),
        products=(Product(id=1, name="P1"),),
        sheets=(SheetSource(id=1, name="Near", source=source),),
        stock={(unit.id, 1): 1 for unit in _units()},
    )


def _without_shortcut(scenario: Scenario, monkeypatch: pytest.MonkeyPatch) -> dict:
    with monkeypatch.context() as patch:
        patch.setattr(variables, "network_of", lambda s: Network(s.organization_units, s.products))
        patch.setattr(nearby, "passing", lambda *args: None)
        return route(scenario).blob


REQUIREMENTS = [
    "require [Supplier.DistanceToShippingAddressInKm] < 10",
    "require [Supplier.DistanceToShippingAddressInKm] <= 10",
    "require [Supplier.DistanceToShippingAddressInKm] < [radius]",
    "require Supplier.DistanceToShippingAddressInKm <= radius",
    "require [Supplier.DistanceToShippingAddressInKm] < 10.006",
    "require [Supplier.DistanceToBillingAddressInKm] < 80",
    "require [Supplier.DistanceToShippingAddressInKm] < 0",
]


@pytest.mark.parametrize("requirement", REQUIREMENTS)
def test_a_distance_filter_keeps_exactly_the_ous_the_statement_keeps(
    requirement: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario = _scenario(requirement)
    calls: list[object] = []
    original = nearby.passing

    def spy(*args: object) -> object:
        found = original(*args)  # type: ignore[arg-type]
        calls.append(found)
        return found

    with monkeypatch.context() as patch:
        patch.setattr(nearby, "passing", spy)
        fast = route(scenario).blob
    assert calls and all(found is not None for found in calls)  # the shortcut applied
    assert fast == _without_shortcut(scenario, monkeypatch)


def test_the_limit_sits_between_the_ous_near_it() -> None:
    # The OUs are placed so that the limit of 10 km falls among them: the tests
    # above compare both sides of it (and the rounding to 3 decimals at it).
    customer = point(CUSTOMER)
    distances = sorted(distance_between(point(unit.address), customer) for unit in _units()[:-1])
    assert distances[:6] == [
        Decimal("5.560"),
        Decimal("9.996"),
        Decimal("9.996"),
        Decimal("10.000"),  # exactly at the limit: kept by <= 10, not by < 10
        Decimal("10.008"),
        Decimal("10.019"),
    ]


def test_ous_far_north_or_south_are_not_measured_to_decide_only_to_explain(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The decision measures only the OUs in the latitude band; ``Dropped`` then says
    how far each OU it left out is (issue 19: every rejection with the values read)."""
    scenario = _scenario("require [Supplier.DistanceToShippingAddressInKm] < 10")
    measured: list[int] = []
    original = variables.World.supplier_value

    def spy(world: variables.World, unit: OrganizationUnit, path: tuple[str, ...]) -> object:
        if path[-1] == "DistanceToShippingAddressInKm":
            measured.append(unit.id)
        return original(world, unit, path)

    monkeypatch.setattr(variables.World, "supplier_value", spy)
    real_dropped = blobs.dropped
    with monkeypatch.context() as patch:
        patch.setattr(blobs, "dropped", lambda drops, world: {})
        decided = route(scenario).blob
    # 10.019 km north (4) and farther (6, 7, 9) are out by latitude alone; 20 is
    # at the customer's latitude (measured: 41 km east) and 21 has no coordinates.
    assert sorted(set(measured)) == [1, 2, 3, 5, 8, 20, 21]
    assert sorted(s["SupplierID"] for s in decided["ValidSuppliers"]) == [1, 2, 8]

    assert blobs.dropped is real_dropped
    measured.clear()
    explained = route(scenario).blob
    assert explained["ValidSuppliers"] == decided["ValidSuppliers"]
    far = {row[0]: row[3] for row in explained["Dropped"]["Suppliers"] if row[0] in (4, 6, 7, 9)}
    assert sorted(far) == [4, 6, 7, 9]
    assert far[4] == [10.019]


def test_other_forms_are_left_to_the_statement() -> None:
    for requirement in (
        "require [Supplier.DistanceToShippingAddressInKm] > 10",
        "require [Supplier.DistanceToShippingAddressInKm] < 10 or [radius] > 5",
        "require [Supplier.DistanceToShippingAddressInKm] < [Supplier.ID]",
        "require 10 > [Supplier.DistanceToShippingAddressInKm]",
    ):
        scenario = _scenario(requirement)
        plan = plan_for(scenario.sheets[0].source)
        assert plan.diagnostics == (), requirement
        step = plan.blocks["Supplier"][2]
        assert step.text.startswith(requirement)
        world = variables.World(scenario, None)
        assert nearby.passing(world, step, Values(), {}) is None, requirement
