"""The search is exact: on random instances it finds what brute force finds.

Brute force enumerates every way to give each line's units to the candidates,
keeps the assignments the rules allow (written out here on their own: whole
lines, splitting, stock, one sheet per OU, sheets that win alone) and scores each
with the engine's own proposition evaluation. The engine's winner must be the
brute-force winner: same units, score, shipment count and shipments.
"""

import itertools
from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from orchestration.engine import prepare, route
from orchestration.engine.model import (
    Address,
    Order,
    OrderLine,
    OrganizationUnit,
    Product,
    Scenario,
    SheetSource,
)
from orchestration.language.checker import analyze

AT = datetime(2026, 11, 20, 10, tzinfo=UTC)
MAX_ASSIGNMENTS = 30_000


@st.composite
def sheet_texts(draw: st.DrawFn, number: int, units: int, products: int) -> str:
    """A random but valid sheet exercising every scope that scores or rejects."""
    export = draw(st.booleans())
    text = [f"fulfillment Sheet{number}"]
    text.append("action EXPORT_ORDER" if export else "action SHIP_FROM_STORE")
    if draw(st.sampled_from([True, True, True, False])):
        text.append("option AllowPartialFulfillment as true")
        if draw(st.booleans()):
            text.append("option DisableLineSplitting as true")
    text += _supplier_scope(draw, units, export)
    text += _order_line_scope(draw, products)
    text += _shipment_scope(draw, export)
    if draw(st.booleans()):
        text += _proposition_scope(draw)
    source = "\n".join(text) + "\n"
    assert analyze(source).diagnostics == (), source
    return source


def _supplier_scope(draw: st.DrawFn, units: int, export: bool) -> list[str]:
    """The Supplier scope of ``sheet_texts``: a type required, scores for some units."""
    text = ["scope Supplier"]
    kind = draw(st.sampled_from([None, "Shop", "Warehouse"]))
    if kind:
        text.append(f"require Supplier.Type = '{kind}' with reason 'Not{kind}'")
    for _ in range(draw(st.integers(0, 2))):
        unit = draw(st.integers(1, units))
        text.append(f"score add {draw(st.integers(1, 40))} when Supplier.ID = {unit}")
    if export:
        text.append("data ExporterName as 'WAREHOUSE'")
    return text


def _order_line_scope(draw: st.DrawFn, products: int) -> list[str]:
    """The OrderLine scope of ``sheet_texts``: stock required, scores for some products."""
    text = ["scope OrderLine"]
    if draw(st.booleans()):
        text.append("require SupplierQuantityAvailable >= OrderLine.QuantityOrdered")
    for _ in range(draw(st.integers(0, 2))):
        product = draw(st.integers(1, products))
        text.append(f"score add {draw(st.integers(-10, 30))} when Product.ID = {product}")
    return text


def _shipment_scope(draw: st.DrawFn, export: bool) -> list[str]:
    """The Shipment scope of ``sheet_texts``: travel data, scores, a size limit."""
    text = ["scope Shipment"]
    if not export:
        for key in ("TravelDistanceText", "TravelTimeText"):
            text.append(f"data {key} as 'x'")
        for key in ("TravelTimeInMinutes", "TravelDistanceInKm"):
            text.append(f"data {key} as 1")
    if draw(st.booleans()):
        text.append(f"score add {draw(st.integers(-20, 50))}")
    if draw(st.booleans()):
        text.append(f"score add {draw(st.integers(1, 30))} when TotalQuantity > 1")
    if draw(st.booleans()):
        text.append(f"require TotalQuantity <= {draw(st.integers(1, 4))} with reason 'TooBig'")
    return text


def _proposition_scope(draw: st.DrawFn) -> list[str]:
    """The FulfillmentProposition scope of ``sheet_texts``: a score or a shipment limit."""
    text = ["scope FulfillmentProposition"]
    if draw(st.booleans()):
        text.append(f"score add {draw(st.integers(1, 60))} when ShipmentCount = 1")
    else:
        text.append(f"require ShipmentCount <= {draw(st.integers(1, 3))}")
    return text


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    """Up to 6 lines x 8 OUs x 3 sheets, with scarce stock."""
    n_units = draw(st.integers(2, 8))
    n_lines = draw(st.integers(1, 6))
    n_products = draw(st.integers(1, n_lines))
    n_sheets = draw(st.integers(1, 3))
    units = tuple(
        OrganizationUnit(
            id=i,
            name=f"OU{i}",
            backend_id=f"ou{i}",
            type=draw(st.sampled_from(["Shop", "Warehouse"])),
            address=Address(latitude=Decimal("52.3"), longitude=Decimal("4.9")),
        )
        for i in range(1, n_units + 1)
    )
    products = tuple(Product(id=i, name=f"P{i}") for i in range(1, n_products + 1))
    stock = {}
    for unit in units:
        for product in products:
            quantity = draw(st.sampled_from([2, 1, 3, 0]))
            if quantity:
                stock[(unit.id, product.id)] = quantity
    lines = tuple(
        OrderLine(
            id=10 + i,
            product=draw(st.integers(1, n_products)),
            quantity=draw(st.integers(1, 2)),
            unit_price=Decimal(draw(st.integers(1, 90))),
            unit_price_in_tax=Decimal(draw(st.integers(1, 100))),
        )
        for i in range(n_lines)
    )
    sheets = tuple(
        SheetSource(id=i, name=f"Sheet{i}", source=draw(sheet_texts(i, n_units, n_products)))
        for i in range(1, n_sheets + 1)
    )
    return Scenario(
        at=AT,
        order=Order(id=1, lines=lines),
        organization_units=units,
        products=products,
        sheets=sheets,
        stock=stock,
        settings={"Orders:Default:AllowPartialFulfillment": draw(st.booleans())},
    )


def _line_options(candidates, line, quantity):
    """Every allowed way to give one line's units to the candidates (or to nobody)."""
    holders = [c for c in candidates if line.id in c.fits]
    ranges = [range(min(c.fits[line.id].cap, quantity) + 1) for c in holders]
    options = []
    for vector in itertools.product(*ranges):
        given_out = [(c, q) for c, q in zip(holders, vector, strict=True) if q]
        total = sum(q for _c, q in given_out)
        if total > quantity:
            continue
        whole = len(given_out) == 1 and total == quantity
        if given_out and not whole and not all(c.sheet.splittable for c, _q in given_out):
            continue  # split or partly fulfilled: only sheets that may split lines
        options.append(given_out)
    return options


def brute_force(prepared):
    """The best proposition by trying every assignment the rules allow."""
    search = prepared.search()
    search.consider([])
    lines = prepared.lines
    per_line = [
        _line_options(search.candidates, line, prepared.open_quantities[line.id]) for line in lines
    ]
    for choice in itertools.product(*per_line):
        chosen: dict[int, dict[int, int]] = {}
        by_index = {}
        for line, given_out in zip(lines, choice, strict=True):
            for candidate, q in given_out:
                chosen.setdefault(candidate.index, {})[line.id] = q
                by_index[candidate.index] = candidate
        used = [by_index[i] for i in chosen]
        if len({c.unit.id for c in used}) != len(used):
            continue  # one sheet per OU
        alone = [c for c in used if not c.partial]
        if alone and (
            len(used) > 1
            or any(chosen[alone[0].index].get(line.id) != line.quantity for line in lines)
        ):
            continue  # a sheet without partial fulfilment wins only alone and in full
        stock_used: dict[tuple[int, int], int] = {}
        for candidate in used:
            for line in lines:
                q = chosen[candidate.index].get(line.id, 0)
                key = (candidate.unit.id, line.product)
                stock_used[key] = stock_used.get(key, 0) + q
        if any(q > prepared.world.stock.get(key, 0) for key, q in stock_used.items()):
            continue
        parts = []
        for candidate in sorted(used, key=lambda c: c.unit.id):
            quantities = tuple(
                (line.id, chosen[candidate.index][line.id])
                for line in lines
                if line.id in chosen[candidate.index]
            )
            products = {
                line_id: [(by_line.product, q)]
                for line_id, q in quantities
                for by_line in lines
                if by_line.id == line_id
            }
            parts.append((candidate, quantities, products))
        search.consider(parts)
    return search.best[0]


def _size(prepared) -> int:
    total = 1
    candidates = prepared.search().candidates
    for line in prepared.lines:
        for candidate in candidates:
            if line.id in candidate.fits:
                total *= min(candidate.fits[line.id].cap, line.quantity) + 1
    return total


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(scenarios())
def test_search_finds_what_brute_force_finds(scenario: Scenario) -> None:
    assume(_size(prepare(scenario)) <= MAX_ASSIGNMENTS)
    engine = prepare(scenario).search()
    found = engine.run()
    assert engine.bounds == []
    expected = brute_force(prepare(scenario))
    assert (found.units, found.score, len(found.shipments), found.tie) == (
        expected.units,
        expected.score,
        len(expected.shipments),
        expected.tie,
    )
    # And route() reports that same winner, exactly.
    blob = route(scenario).blob
    assert blob["Search"]["Exact"] is True
    winner = [
        (
            (s["Supplier"] or {}).get("ID"),
            tuple((line["ID"], line["Quantity"]) for line in s["OrderLines"]),
        )
        for s in blob["Fulfillments"][0]["Shipments"]
        if s["FulfillmentAction"] != "CANCEL"
    ]
    assert sorted(winner) == sorted((s.candidate.unit.id, s.quantities) for s in expected.shipments)


def test_a_score_above_the_kept_ones_by_less_than_a_float_shows_still_wins() -> None:
    # Six warehouses ship the order alone; the last one scores 1 + 1e-20 and the
    # others 1: as floats the six are equal, exactly the last is ahead. It is
    # considered after the kept list is full, so the quick rejection of losers must
    # decide exactly, not by the float.
    units = tuple(
        OrganizationUnit(id=i, name=f"WH{i}", backend_id=f"wh{i}", type="Warehouse")
        for i in range(1, 7)
    )
    source = (
        "fulfillment Warehouses\naction EXPORT_ORDER\n"
        "scope Supplier\ndata ExporterName as 'WAREHOUSE'\n"
        "score add 1\nscore add 0.00000000000000000001 when Supplier.ID = 6\n"
    )
    scenario = Scenario(
        at=AT,
        order=Order(id=1, lines=(OrderLine(id=10, product=1, quantity=1),)),
        organization_units=units,
        products=(Product(id=1, name="P1"),),
        sheets=(SheetSource(id=1, name="Warehouses", source=source),),
        stock={(unit.id, 1): 1 for unit in units},
    )
    winner = prepare(scenario).search().run()
    assert [s.candidate.unit.id for s in winner.shipments] == [6]
    assert winner.score == 1 + Decimal("1e-20")
    # And the runners-up, equal among themselves, in the order of their IDs.
    search = prepare(scenario).search()
    search.run()
    assert [[s.candidate.unit.id for s in p.shipments] for p in search.best] == [
        [6],
        [1],
        [2],
        [3],
        [4],
    ]
