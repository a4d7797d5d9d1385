"""What orchestration would do, without doing it: the preview's one engine call.

``order_decision`` routes a stored order as it is (or with what-if changes, the
delivery option it asks for among them) at a chosen moment; ``preview_scenario``
routes a hypothetical order given as a scenario (``docs/scenario-format.md``).
Both call ``engine.route``, the call that routes real orders, and write nothing.

``preview`` takes a ``PreviewRequest``: one typed, checked request, built alike by
the API's ``PreviewInputSerializer`` and by the preview page's form, so this module
reads no serializer's data and the page and the API ask for the same thing.
"""

from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from django.utils import timezone

from .. import engine
from ..engine.decision import Decision
from ..engine.model import Scenario
from ..engine.scenario import ScenarioError, load_scenario_text
from ..errors import ApplicationError
from ..integrations.routes import route_provider
from ..models import Order
from .scenario import SheetDraft, StockOverride, order_scenario


def preview_scenario(scenario: Scenario) -> dict[str, Any]:
    """The blob for a scenario, routed as a real order would be."""
    return scenario_decision(scenario).blob


def scenario_decision(scenario: Scenario) -> Decision:
    """The decision for a scenario, routed as a real order would be."""
    return engine.route(scenario, route_provider=route_provider())


def asking_for(scenario: Scenario, option: str | None) -> Scenario:
    """``scenario`` with its order asking for the delivery ``option`` (None: any)."""
    return replace(scenario, order=replace(scenario.order, requested_fulfillment_option=option))


AS_ASKED = "as asked"  # the what-if default: the delivery option the order asks for


def order_decision(
    order: Order,
    *,
    at: datetime,
    drafts: Sequence[SheetDraft] = (),
    stock_overrides: Sequence[StockOverride] = (),
    candidate_units: Collection[int] | None = None,
    respect_history: bool = True,
    fulfillment_option: str | None = AS_ASKED,
) -> Decision:
    """The decision for ``order`` at ``at`` with the what-if changes (its ``blob`` is
    what the preview shows); nothing is written."""
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
    return scenario_decision(scenario)


def order_by_number(number: str) -> Order:
    """The order with this backend ID (its number), or a 400 naming the field."""
    try:
        return Order.objects.get(backend_id=number)
    except Order.DoesNotExist as error:
        raise ApplicationError(
            f"There is no order {number!r}.", code="unknown_order", field="order"
        ) from error


@dataclass(frozen=True)
class PreviewRequest:
    """A checked preview request: a stored order by number, or a scenario as JSON text.

    Exactly one of ``order`` and ``scenario_text`` is given. The scenario is text so
    that it is read with exact decimals; it brings its own sheets, stock and OUs, so
    ``drafts``, ``stock`` and ``organization_units`` apply to a stored order only.
    ``at`` is aware (None: now, for a scenario its own time); ``organization_units``
    is a whitelist (None: every OU); ``fulfillment_option`` is the delivery option the
    order asks for in the what-if (None: none; ``AS_ASKED``: the one it asks for).
    """

    order: str | None = None
    scenario_text: str | None = None
    at: datetime | None = None
    drafts: tuple[SheetDraft, ...] = ()
    stock: tuple[StockOverride, ...] = ()
    organization_units: tuple[int, ...] | None = None
    respect_current_fulfillments: bool = True
    fulfillment_option: str | None = AS_ASKED

    def __post_init__(self) -> None:
        if (self.order is None) == (self.scenario_text is None):
            raise ValueError(
                "A preview request names an order or gives a scenario (one of the two)."
            )


def preview(request: PreviewRequest) -> dict[str, Any]:
    """The blob for a checked preview request; nothing is written.

    A scenario that does not load is a 400 naming its JSON path; an order number that
    names no order is a 400 naming ``order``.
    """
    at, option = request.at, request.fulfillment_option
    if request.scenario_text is not None:
        try:
            scenario = load_scenario_text(request.scenario_text)
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
    assert request.order is not None  # __post_init__: one of the two
    return order_decision(
        order_by_number(request.order),
        at=at or timezone.now(),
        drafts=request.drafts,
        stock_overrides=request.stock,
        candidate_units=request.organization_units,
        respect_history=request.respect_current_fulfillments,
        fulfillment_option=option,
    ).blob
