"""What orchestration would do, without doing it: the preview's one engine call.

``order_decision`` routes a stored order as it is (or with what-if changes, the
delivery option it asks for among them) at a chosen moment; ``preview_scenario``
routes a hypothetical order given as a scenario (``docs/scenario-format.md``).
Both call ``engine.route``, the call that routes real orders, and write nothing.

``preview`` takes a ``PreviewRequest``: one typed, checked request, built alike by
the API's ``PreviewInputSerializer`` and by the preview page's form, so this module
reads no serializer's data and the page and the API ask for the same thing; the API
takes its blob, the page ``preview_run``'s ``PreviewRun``: the decision with what
each valid supplier would give alone (``ALTERNATIVES``), and the scenario it was
made from (every OU that could have been a supplier, the sheets it ran).

An order typed into the page's form is a scenario too: ``typed_scenario`` writes the
current network (with the page's what-ifs) and the typed order as scenario JSON, which
then goes the pasted scenario's way, so there is one path into ``preview``.
"""

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from .. import engine
from ..engine.decision import Decision
from ..engine.model import Scenario
from ..engine.scenario import ScenarioError, dump_scenario, load_scenario_text
from ..errors import ApplicationError
from ..integrations.routes import route_provider
from ..models import Order, OrderLine, Product
from .scenario import SheetDraft, StockOverride, order_scenario

# How many valid suppliers the preview page weighs alone (most lines, then best score
# first): each is one more small search.
ALTERNATIVES = 50


def preview_scenario(scenario: Scenario) -> dict[str, Any]:
    """The blob for a scenario, routed as a real order would be."""
    return scenario_decision(scenario).blob


def scenario_decision(scenario: Scenario, *, alternatives: int = 0) -> Decision:
    """The decision for a scenario, routed as a real order would be (``alternatives``:
    with what that many valid suppliers would give alone, ``engine.route``)."""
    return engine.route(scenario, route_provider=route_provider(), alternatives=alternatives)


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
    return scenario_decision(
        order_preview_scenario(
            order,
            at=at,
            drafts=drafts,
            stock_overrides=stock_overrides,
            candidate_units=candidate_units,
            respect_history=respect_history,
            fulfillment_option=fulfillment_option,
        )
    )


def order_preview_scenario(
    order: Order,
    *,
    at: datetime,
    drafts: Sequence[SheetDraft] = (),
    stock_overrides: Sequence[StockOverride] = (),
    candidate_units: Collection[int] | None = None,
    respect_history: bool = True,
    fulfillment_option: str | None = AS_ASKED,
) -> Scenario:
    """The scenario ``order_decision`` routes."""
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
    return scenario


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


@dataclass(frozen=True)
class PreviewRun:
    """A preview's decision (with ``alternatives``, if asked) and the scenario routed."""

    decision: Decision
    scenario: Scenario


def preview(request: PreviewRequest) -> dict[str, Any]:
    """The blob for a checked preview request; nothing is written (``preview_run``)."""
    return preview_run(request).decision.blob


def preview_run(request: PreviewRequest, *, alternatives: int = 0) -> PreviewRun:
    """The decision for a checked preview request, and its scenario; nothing is written.

    A scenario that does not load is a 400 naming its JSON path; an order number that
    names no order is a 400 naming ``order``. ``alternatives``: as ``engine.route``.
    """
    scenario = request_scenario(request)
    return PreviewRun(scenario_decision(scenario, alternatives=alternatives), scenario)


def request_scenario(request: PreviewRequest) -> Scenario:
    """The scenario a checked preview request routes."""
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
        return scenario if option == AS_ASKED else asking_for(scenario, option)
    assert request.order is not None  # __post_init__: one of the two
    return order_preview_scenario(
        order_by_number(request.order),
        at=at or timezone.now(),
        drafts=request.drafts,
        stock_overrides=request.stock,
        candidate_units=request.organization_units,
        respect_history=request.respect_current_fulfillments,
        fulfillment_option=option,
    )


# --- An order typed into the page's form ---------------------------------------------

# The order ID of a typed order's scenario (no stored order has it: IDs start at 1).
TYPED_ORDER_ID = 0


@dataclass(frozen=True)
class TypedLine:
    """A typed order line: its product (backend ID or name, as typed) and how many."""

    product: str
    quantity: int
    unit_price: Decimal | None = None


@dataclass(frozen=True)
class TypedOrder:
    """An order typed into the preview page's form (checked by its fields)."""

    lines: tuple[TypedLine, ...]
    shipping_address: dict[str, Any]  # Order's ``shipping_*`` fields, without the prefix
    intent: str = "Sales"
    requested_fulfillment_option: str | None = None
    allow_partial_fulfillment: bool | None = None


def product_search(text: str, *, limit: int = 20) -> list[Product]:
    """Products whose backend ID or name contains ``text`` (the typed order's
    autocomplete): backend IDs that start with it first, then by name."""
    found = Product.objects.filter(Q(backend_id__icontains=text) | Q(name__icontains=text))
    return sorted(
        found.only("id", "backend_id", "name").order_by("name")[: limit * 5],
        key=lambda p: (not p.backend_id.lower().startswith(text.lower()), p.name.lower()),
    )[:limit]


def _typed_products(texts: Sequence[str]) -> list[int]:
    """The products typed lines name: each by backend ID, else by a name only it has,
    case aside (two queries whatever the number of lines)."""
    by_backend = dict(
        Product.objects.filter(backend_id__in=set(texts)).values_list("backend_id", "pk")
    )
    rest = {text.lower() for text in texts if text not in by_backend}
    by_name: dict[str, list[int]] = {}
    if rest:
        named = Product.objects.annotate(lowered=Lower("name")).filter(lowered__in=rest)
        for lowered, pk in named.values_list("lowered", "pk"):
            by_name.setdefault(lowered, []).append(pk)
    found = []
    for index, text in enumerate(texts):
        if text in by_backend:
            found.append(by_backend[text])
            continue
        candidates = by_name.get(text.lower(), [])
        if len(candidates) == 1:
            found.append(candidates[0])
            continue
        problem = "more than one product has that name" if candidates else "no product has it"
        raise ApplicationError(
            f"Line {index + 1}, product: {text!r} names no one product ({problem}); type its "
            "backend ID or pick it from the list.",
            code="does_not_exist",
            field=f"lines[{index}].product",
        )
    return found


def typed_scenario_text(
    typed: TypedOrder,
    *,
    drafts: Sequence[SheetDraft] = (),
    stock: Sequence[StockOverride] = (),
    organization_units: Collection[int] | None = None,
) -> str:
    """A typed order as scenario JSON: the current network with the what-ifs (drafts,
    stock changes; only the OUs of ``organization_units``, if given) and the typed
    order (ID ``TYPED_ORDER_ID``, lines numbered from 1), at now. The preview routes it
    as it routes a pasted scenario; a product no one product has is a 400 naming its
    line (``lines[1].product``)."""
    products = _typed_products([line.product for line in typed.lines])
    address = {
        f"{prefix}_{key}": value
        for prefix in ("shipping", "billing")
        for key, value in typed.shipping_address.items()
    }
    order = Order(
        pk=TYPED_ORDER_ID,
        intent=typed.intent,
        requested_fulfillment_option=typed.requested_fulfillment_option or "",
        allow_partial_fulfillment=typed.allow_partial_fulfillment,
        custom_fields={},
        **address,
    )
    lines = [
        OrderLine(
            pk=number,
            product_id=product,
            quantity=line.quantity,
            unit_price=line.unit_price or Decimal(0),
            unit_price_in_tax=line.unit_price or Decimal(0),
        )
        for number, (product, line) in enumerate(zip(products, typed.lines, strict=True), 1)
    ]
    scenario = order_scenario(
        order,
        at=timezone.now(),
        drafts=drafts,
        stock_overrides=stock,
        respect_history=False,
        lines=lines,
    )
    data = dump_scenario(scenario)
    if organization_units is not None:
        allowed = set(organization_units)
        data["organization_units"] = [u for u in data["organization_units"] if u["id"] in allowed]
        data["stock"] = [s for s in data["stock"] if s["organization_unit"] in allowed]
    return json.dumps(data, indent=1, default=_exact)


def _exact(value: object) -> object:
    """Decimals as JSON numbers (the loader reads them back as the same Decimals)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"{type(value).__name__} is not JSON")
