"""What orchestration would do, without doing it: the preview's one engine call.

``preview_order`` routes a stored order as it is (or with what-if changes, the
delivery option it asks for among them) at a chosen moment; ``preview_scenario``
routes a hypothetical order given as a scenario (``docs/scenario-format.md``).
Both call ``engine.route``, the call that routes real orders, and write nothing.
"""

from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from django.utils import timezone

from orchestration.selectors.scenario import SheetDraft, StockOverride, order_scenario

from . import engine
from .engine.model import Scenario
from .engine.scenario import ScenarioError, load_scenario_text
from .errors import ApplicationError
from .integrations.routes import route_provider
from .models import Order


def preview_scenario(scenario: Scenario) -> dict[str, Any]:
    """The blob for a scenario, routed as a real order would be."""
    return engine.route(scenario, route_provider=route_provider()).blob


def asking_for(scenario: Scenario, option: str | None) -> Scenario:
    """``scenario`` with its order asking for the delivery ``option`` (None: any)."""
    return replace(scenario, order=replace(scenario.order, requested_fulfillment_option=option))


AS_ASKED = "as asked"  # the what-if default: the delivery option the order asks for


def preview_order(
    order: Order,
    *,
    at: datetime,
    drafts: Sequence[SheetDraft] = (),
    stock_overrides: Sequence[StockOverride] = (),
    candidate_units: Collection[int] | None = None,
    respect_history: bool = True,
    fulfillment_option: str | None = AS_ASKED,
) -> dict[str, Any]:
    """The blob for ``order`` at ``at`` with the what-if changes; nothing is written."""
    scenario = order_scenario(
        order,
        at=at,
        drafts=drafts,
        stock_overrides=stock_overrides,
        candidate_units=candidate_units,
        respect_history=respect_history,
    )
    if fulfillment_option != AS_ASKED:
        scenario = asking_for(scenario, fulfillment_option)
    return preview_scenario(scenario)


def order_by_number(number: str) -> Order:
    """The order with this backend ID (its number), or a 400 naming the field."""
    try:
        return Order.objects.get(backend_id=number)
    except Order.DoesNotExist as error:
        raise ApplicationError(
            f"There is no order {number!r}.", code="unknown_order", field="order"
        ) from error


def preview(valid: Mapping[str, Any], *, scenario_text: str | None = None) -> dict[str, Any]:
    """The blob for a checked preview request (``PreviewInputSerializer``'s data).

    ``scenario_text``: the hypothetical order as JSON text (read with exact
    decimals); a scenario that does not load is a 400 naming its JSON path.
    """
    at = valid.get("at")
    option = valid.get("requested_fulfillment_option", AS_ASKED)
    if scenario_text is not None:
        try:
            scenario = load_scenario_text(scenario_text)
        except ScenarioError as error:
            path = error.path.removeprefix("$").lstrip(".")
            if not path or path.startswith("line "):  # not JSON: where in the text
                message = f"{path}: {error.message}" if path else error.message
                raise ApplicationError(message, field="scenario") from error
            raise ApplicationError(
                f"scenario.{path}: {error.message}", field=f"scenario.{path}"
            ) from error
        if at is not None:
            scenario = replace(scenario, at=at)
        return preview_scenario(scenario if option == AS_ASKED else asking_for(scenario, option))
    return preview_order(
        order_by_number(valid["order"]),
        at=at or timezone.now(),
        drafts=[
            SheetDraft(d["source"], d.get("sheet"), d.get("name", "")) for d in valid["drafts"]
        ],
        stock_overrides=[
            StockOverride(s["organization_unit"], s["product"], s["quantity"], s["mode"] == "delta")
            for s in valid["stock"]
        ],
        candidate_units=valid["organization_units"],
        respect_history=valid["respect_current_fulfillments"],
        fulfillment_option=option,
    )
