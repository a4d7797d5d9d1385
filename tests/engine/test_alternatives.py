"""What each valid supplier would give alone (``route(..., alternatives=N)``), for the
preview's "who else could fulfil": asking for it changes neither the decision nor its
blob, every valid supplier gets one, none beats the winner of an exact search, and
every proposition's score is the sum of its parts by scope."""

import json
from pathlib import Path

import pytest

from orchestration.engine import route
from orchestration.engine.scenario import load_scenario_text
from tests.sources import OWN_SCENARIOS

FILES = sorted(OWN_SCENARIOS.glob("*.json"))


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_alternatives_leave_the_decision_alone_and_parts_add_up(path: Path) -> None:
    scenario = load_scenario_text(path.read_text())
    plain = route(scenario)
    explained = route(scenario, alternatives=50)
    assert json.dumps(explained.blob, default=str) == json.dumps(plain.blob, default=str)
    assert explained.proposals == plain.proposals and plain.alternatives == ()
    valid = {(s["SupplierID"], s["FulfillmentMethod"]) for s in plain.blob["ValidSuppliers"]}
    assert {(a.supplier.id, a.sheet_name) for a in explained.alternatives} == valid
    for proposal in explained.proposals + tuple(
        a.proposal for a in explained.alternatives if a.proposal is not None
    ):
        parts = proposal.parts()
        total = parts.supplier + parts.line + parts.shipment + parts.proposition
        assert total == pytest.approx(proposal.score, abs=1e-6)
    winner = explained.proposals[0]
    exact = plain.blob["Search"]["Exact"]
    for alternative in explained.alternatives:
        own = alternative.proposal
        if own is not None and exact:  # alone, it never beats the winner of an exact search
            assert (own.units, own.score) <= (winner.units, winner.score)
