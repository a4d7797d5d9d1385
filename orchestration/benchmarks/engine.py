"""Benchmark of the routing engine: ``route()`` time per order for worlds of growing size.

Run ``python manage.py bench engine [--repeat N] [--quick]`` (or ``python -m
orchestration.benchmarks.engine [REPEAT]``). ``worlds.make_scenario`` builds a deterministic,
realistic world: organization units spread over the Netherlands and Belgium
(mostly shops, a quarter warehouses, a few others), random stock, an order
shipping to Amsterdam and sheets modelled on the reference examples (ship from
store, warehouse export, an IBE-like ship from store with task labels, a cancel
fallback). ``run`` routes each configuration once untimed (the sheets' plans are
cached from then on, as in production) and then ``repeat`` times, each timed with
``time.perf_counter``; it reports the median and the 95th percentile, and whether
the search was exact (``blob["Search"]``).
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

from ..engine import route
from .worlds import make_scenario

Size = tuple[int, int, int]  # (organization units, order lines, sheets)

# The configurations of ``manage.py bench engine``: OUs, then lines, then sheets grow
# around 1,000 OUs x 5 lines x 4 sheets (listed once).
SIZES: tuple[Size, ...] = (
    (100, 5, 4),
    (1_000, 5, 4),
    (10_000, 5, 4),
    (1_000, 1, 4),
    (1_000, 10, 4),
    (1_000, 5, 1),
    (1_000, 5, 8),
)
QUICK_SIZES: tuple[Size, ...] = ((10, 1, 1), (20, 2, 4), (30, 3, 8))
REPEAT = 20
QUICK_REPEAT = 2

# --- Timing -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Result:
    """The timings of one configuration (milliseconds per ``route()`` call)."""

    ous: int
    lines: int
    sheets: int
    repeat: int
    median_ms: float
    p95_ms: float
    exact: bool
    propositions: int


def percentile(values: Sequence[float], fraction: float) -> float:
    """The ``fraction`` quantile of ``values``, interpolated between the closest two."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def run(sizes: Sequence[Size], *, repeat: int) -> list[Result]:
    """Time ``route()`` ``repeat`` times per (OUs, lines, sheets) configuration.

    Each configuration is routed once untimed first: that parses and compiles
    its sheets, which production does once per sheet text, not per order.
    """
    if repeat < 1:
        raise ValueError("repeat must be at least 1")
    results = []
    for ous, lines, sheets in sizes:
        scenario = make_scenario(ous=ous, lines=lines, sheets=sheets)
        search = route(scenario).blob["Search"]
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            route(scenario)
            times.append(time.perf_counter() - start)
        results.append(
            Result(
                ous,
                lines,
                sheets,
                repeat,
                statistics.median(times) * 1000,
                percentile(times, 0.95) * 1000,
                bool(search["Exact"]),
                int(search["Propositions"]),
            )
        )
    return results


# --- The table ----------------------------------------------------------------------------


def header(repeat: int) -> str:
    """The table's title and column names."""
    return (
        f"route() per order, median and 95th percentile of {repeat} runs\n"
        f"{'OUs':>7} {'lines':>5} {'sheets':>6} {'median':>10} {'p95':>10} "
        f"{'search':>7} {'propositions':>12}"
    )


def row(result: Result) -> str:
    """One configuration's line of the table."""
    return (
        f"{result.ous:>7,} {result.lines:>5} {result.sheets:>6} "
        f"{result.median_ms:>7.1f} ms {result.p95_ms:>7.1f} ms "
        f"{'exact' if result.exact else 'bounded':>7} {result.propositions:>12,}"
    )


def table(results: Sequence[Result]) -> str:
    """The whole table."""
    repeat = results[0].repeat if results else 0
    return "\n".join([header(repeat), *(row(result) for result in results)])


def main(argv: Sequence[str] | None = None) -> None:
    """Print the table for ``SIZES`` (``--quick``: ``QUICK_SIZES``), row by row."""
    args = list(sys.argv[1:] if argv is None else argv)
    quick = "--quick" in args
    numbers = [arg for arg in args if arg != "--quick"]
    repeat = int(numbers[0]) if numbers else QUICK_REPEAT if quick else REPEAT
    print(header(repeat))
    for size in QUICK_SIZES if quick else SIZES:
        print(row(run([size], repeat=repeat)[0]), flush=True)


if __name__ == "__main__":
    main()
