"""Benchmark of the sheet language: compiled predicate throughput and sheet parse time.

Run ``python -m orchestration.benchmarks.language [CONTEXTS]``. It evaluates a few
typical predicates over CONTEXTS (default 100,000) generated contexts, each
timed with ``time.perf_counter`` (best of several rounds, so a busy machine
hurts less), next to a hand-written closure doing the same test as the floor
of what Python can do; then it parses and compiles a 500-line sheet made of
the Supplier requirements of the demo ShipFromStore sheet.
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from ..language.checker import analyze
from ..language.compiler import (
    MISSING,
    Compiled,
    Context,
    canonical_path,
    compile_expression,
    compile_sheet,
    compile_sheet_uncached,
    mapping_context,
)
from ..language.parser import parse

PREDICATES: dict[str, str] = {
    "variable = string": "[Supplier.Type] = 'Shop'",
    "variable >= number": "[SupplierQuantityAvailable] >= 2",
    "variable >= variable": "[SupplierQuantityAvailable] >= [OrderLine.QuantityOrdered]",
    "3-branch match": (
        "when [Supplier.Address.City] = 'Amsterdam' then 8 "
        "else when [Supplier.Address.City] = 'Utrecht' then 10 "
        "else when [Supplier.Type] = 'Warehouse' then 50 else then 15"
    ),
    "and/or of 3 comparisons": (
        "[Supplier.Type] = 'Shop' and "
        "([Supplier.Status] <> 'Closed' or [Supplier.ActiveShipFromStoreTasks] < 300)"
    ),
    "in a list": "[Supplier.BackendID] in '1187', '1026', '1155', '1109', '3001', '1220'",
    "float distance < number": "[Supplier.DistanceToShippingAddressInKm] < 15",
}

# The same tests written by hand: what a plain closure costs, for comparison.
_TYPE = canonical_path(("Supplier", "Type"))
_QUANTITY = canonical_path(("SupplierQuantityAvailable",))
_ORDERED = canonical_path(("OrderLine", "QuantityOrdered"))
BASELINES: dict[str, Callable[[Context], object]] = {
    "variable = string": lambda context: context(_TYPE) == "Shop",
    "variable >= number": lambda context: (
        (quantity := context(_QUANTITY)) is not MISSING and quantity >= 2  # type: ignore[operator]
    ),
    "variable >= variable": lambda context: (
        (quantity := context(_QUANTITY)) is not MISSING and quantity >= context(_ORDERED)  # type: ignore[operator]
    ),
}

SHEET_LINES = 500
DEMO_SHEET = Path(__file__).resolve().parents[1] / "demo" / "sheets" / "ShipFromStore.sheet"


def make_contexts(count: int, seed: int = 7) -> list[Context]:
    """``count`` contexts with a supplier, stock and an order line, some values missing."""
    # Benchmark data, not secrets: a seeded PRNG keeps runs comparable.
    rng = random.Random(seed)  # noqa: S311
    contexts = []
    for _ in range(count):
        values: dict[str, object] = {
            "Supplier.Type": rng.choice(("Shop", "Warehouse", "DC")),
            "Supplier.Status": rng.choice(("Open", "Closed")),
            "Supplier.Address.City": rng.choice(("Amsterdam", "Utrecht", "Rotterdam", "Delft")),
            "Supplier.BackendID": rng.choice(("1187", "1026", "3001", "9999", "4242")),
            "Supplier.ActiveShipFromStoreTasks": rng.randrange(0, 400),
            "Supplier.DistanceToShippingAddressInKm": rng.uniform(0, 30),
            "SupplierQuantityAvailable": rng.randrange(0, 6),
            "OrderLine.QuantityOrdered": rng.randrange(1, 4),
        }
        if rng.random() < 0.05:
            values["SupplierQuantityAvailable"] = MISSING
        contexts.append(mapping_context(values))
    return contexts


def rate(function: Callable[[Context], object], contexts: Sequence[Context], rounds: int) -> float:
    """Evaluations per second of ``function`` over ``contexts``, best of ``rounds``."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for context in contexts:
            function(context)
        best = min(best, time.perf_counter() - start)
    return len(contexts) / best


def compile_source(source: str) -> Compiled:
    """Compile one expression written in sheet syntax."""
    sheet, diagnostics = parse(f"with Result as {source}")
    if diagnostics:
        raise ValueError(diagnostics[0].message)
    return compile_expression(sheet.statements[0].value)  # type: ignore[attr-defined]


def build_sheet(lines: int = SHEET_LINES) -> str:
    """A sheet of ``lines`` lines: the demo's Supplier requirements, repeated."""
    demo = DEMO_SHEET.read_text().splitlines()
    start = demo.index("scope Supplier")
    end = next(i for i in range(start + 1, len(demo)) if demo[i].startswith("scope "))
    requires = [line for line in demo[start:end] if line.startswith("require ")]
    header = ["fulfillment Bench", "action 'SHIP_FROM_STORE'", "scope Supplier"]
    body = [requires[i % len(requires)] for i in range(lines - len(header))]
    return "\n".join(header + body) + "\n"


def _median_seconds(function: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: Sequence[str] | None = None) -> None:
    """Print the throughput table and the sheet timings."""
    args = sys.argv[1:] if argv is None else argv
    count = int(args[0]) if args else 100_000
    contexts = make_contexts(count)
    print(f"Predicate evaluations per second over {count:,} contexts (best of 5)")
    print(f"{'predicate':<26} {'compiled':>12} {'hand-written':>13}")
    for name, source in PREDICATES.items():
        compiled_rate = rate(compile_source(source), contexts, rounds=5)
        baseline = BASELINES.get(name)
        by_hand = f"{rate(baseline, contexts, rounds=5):>13,.0f}" if baseline else f"{'':>13}"
        print(f"{name:<26} {compiled_rate:>12,.0f} {by_hand}")

    source = build_sheet()
    lines = source.count("\n")
    sheet, diagnostics = parse(source)
    assert not diagnostics, diagnostics[0].message
    # parse keeps its last few results: each round starts without them
    uncached = parse.cache_clear  # type: ignore[attr-defined]
    parse_time = _median_seconds(lambda: (uncached(), parse(source)), rounds=9)
    check_time = _median_seconds(lambda: (uncached(), analyze(source)), rounds=9)
    compile_time = _median_seconds(
        lambda: (uncached(), compile_sheet_uncached("bench", source)), rounds=9
    )
    compile_sheet(source)
    cached_time = _median_seconds(lambda: compile_sheet(source), rounds=9)
    print()
    print(f"A {lines}-line sheet ({len(sheet.statements)} statements), median of 9")
    print(f"{'parse':<26} {parse_time * 1000:>9.1f} ms")
    print(f"{'parse + check':<26} {check_time * 1000:>9.1f} ms")
    print(f"{'parse + compile':<26} {compile_time * 1000:>9.1f} ms")
    print(f"{'compile_sheet, cached':<26} {cached_time * 1_000_000:>9.1f} µs")


if __name__ == "__main__":
    main()
