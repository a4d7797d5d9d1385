"""``bench load``'s clients send at the times of a Poisson process each (``arrivals.py``):
together a steady stream at ``--rate``, never a burst of every client at once, and not
slowed down by a slow server."""

import itertools
import random
import statistics

import pytest

from orchestration.benchmarks.arrivals import PoissonArrivals


def _starts(clients: int, seconds: float, *, response: float = 0.0) -> list[float]:
    """Every request's start time over ``seconds``, for ``clients`` clients at one a second
    started at the same instant (as locust starts them), each request taking ``response``."""
    rng = random.Random(7)
    starts = []
    for _ in range(clients):
        arrivals = PoissonArrivals(1.0, now=0.0, rng=rng)
        now = arrivals.wait(0.0)
        while now < seconds:
            starts.append(now)
            now += response  # the request, then locust asks how long to wait
            now += arrivals.wait(now)
    return sorted(starts)


def test_clients_started_together_do_not_send_together() -> None:
    starts = _starts(100, 60.0)
    busiest_10_ms = max(
        sum(1 for s in starts if bucket / 100 <= s < (bucket + 1) / 100) for bucket in range(100)
    )
    # locust's constant_throughput sent all 100 in the first 10 ms of every second.
    assert busiest_10_ms <= 6
    per_second = [sum(1 for s in starts if second <= s < second + 1) for second in range(60)]
    assert 6_000 * 0.95 <= len(starts) <= 6_000 * 1.05
    assert max(per_second) < 140
    assert min(per_second) > 60


def test_the_gaps_are_exponential_so_the_stream_is_poisson() -> None:
    starts = _starts(100, 60.0)
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    mean = statistics.fmean(gaps)
    assert mean == pytest.approx(0.01, rel=0.05)
    # An exponential distribution's deviation equals its mean; an even spacing has none.
    assert statistics.pstdev(gaps) == pytest.approx(mean, rel=0.1)


def test_a_slow_server_does_not_slow_the_arrivals_down() -> None:
    # Each response takes half the mean gap: a closed loop would send a third fewer.
    assert len(_starts(100, 60.0, response=0.5)) >= 6_000 * 0.95


def test_a_request_already_due_goes_at_once() -> None:
    arrivals = PoissonArrivals(1.0, now=0.0, rng=random.Random(1))
    assert arrivals.wait(1_000.0) == 0.0


@pytest.mark.parametrize("rate", [0.0, -1.0, float("nan"), float("inf")])
def test_a_rate_that_sends_nothing_is_refused(rate: float) -> None:
    with pytest.raises(ValueError, match="the rate must be above 0 a second"):
        PoissonArrivals(rate, now=0.0, rng=random.Random(1))
