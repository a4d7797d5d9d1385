"""``engine.fulfillment_options``: the decision under each delivery option, from ``route``.

Built on the reference's FulfillmentOptions example (``tests/scenarios/
fulfillment-options-reject-same-day-only.json``): shop A, preferred, does no same-day
delivery ("this ensures SDD is not available for Shop 1 and 2"), shop B does.
"""

from dataclasses import replace

from orchestration import engine
from orchestration.engine.model import Scenario, SheetSource
from orchestration.engine.options import OptionOutcome, options_matter
from orchestration.engine.scenario import load_scenario_text
from tests.sources import OWN_SCENARIOS

EXAMPLE = OWN_SCENARIOS / "fulfillment-options-reject-same-day-only.json"


def example() -> Scenario:
    return load_scenario_text(EXAMPLE.read_text(encoding="utf-8"))


def suppliers(outcome: OptionOutcome) -> list[int]:
    return [shipment.supplier.id for shipment in outcome.shipments if shipment.supplier]


def test_each_option_is_decided_as_an_order_asking_for_it() -> None:
    outcomes = engine.fulfillment_options(example())
    assert [(o.option, o.available, suppliers(o), o.unfulfilled) for o in outcomes] == [
        ("NormalDelivery", True, [1], {}),
        ("SameDayDelivery", True, [2], {}),
        ("PickupDelivery", True, [1], {}),
    ]


def test_each_option_is_the_blob_route_makes_for_that_order() -> None:
    scenario = example()
    for outcome in engine.fulfillment_options(scenario):
        asking = replace(
            scenario, order=replace(scenario.order, requested_fulfillment_option=outcome.option)
        )
        assert outcome.decision.blob == engine.route(asking).blob


def test_an_option_whose_units_cannot_all_ship_is_not_available() -> None:
    scenario = example()
    stock = dict(scenario.stock)
    stock[(2, 1)] = 0  # shop B, the only one doing same-day delivery, has no shoes left
    outcomes = engine.fulfillment_options(replace(scenario, stock=stock))
    same_day = outcomes[1]
    assert (same_day.option, same_day.available, same_day.shipments) == (
        "SameDayDelivery",
        False,
        (),
    )
    assert same_day.unfulfilled == {1: 1}
    assert [o.available for o in outcomes] == [True, False, True]


def test_without_a_fulfillment_options_scope_the_options_share_one_decision() -> None:
    scenario = example()
    sheet = scenario.sheets[0]
    before, after = sheet.source.split("scope FulfillmentOptions")
    source = before + after[after.index("scope Shipment") :]  # the scope left out, no more
    plain = SheetSource(sheet.id, sheet.name, source, sheet.active)
    without = replace(scenario, sheets=(plain,))
    assert options_matter(scenario) and not options_matter(without)
    outcomes = engine.fulfillment_options(without)
    assert len({id(o.decision) for o in outcomes}) == 1
    assert [suppliers(o) for o in outcomes] == [[1], [1], [1]]


def test_an_inactive_sheet_with_the_scope_does_not_make_the_options_matter() -> None:
    scenario = example()
    inactive = replace(scenario, sheets=(replace(scenario.sheets[0], active=False),))
    assert not options_matter(inactive)
