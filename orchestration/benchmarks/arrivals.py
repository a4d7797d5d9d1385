"""When ``bench load``'s simulated clients send: an open workload of independent clients.

Each client's requests start at the times of a Poisson process of ``rate`` a second
(exponential gaps), counted from the schedule, not from when the last response came:
a slow server does not slow the arrivals down (an open workload, as k6's arrival-rate
executors and Gatling's open injection profiles model it), and a request that is late
goes at once. Many clients together make one Poisson stream at the sum of their
rates, which is what orders from many independent shops and marketplaces look like.

Why not locust's ``constant_throughput``: locust starts all the users of a
``--spawn-rate`` at the same instant, and a user that waits "one second since my last
start" keeps that phase forever. A hundred users at one a second were then a burst of
a hundred requests at the top of every second and nothing in between: the response
times measured how long the machine takes to clear a hundred requests at once
(1.4 s p95 at 80 a second, 130 ms p50 at 40), not how an order a hundred times a
second is served.

Pure (no locust, no Django): the locustfile imports it, and the tests drive it with a
seeded ``random.Random`` and a clock of their own.
"""

import math
import random


class PoissonArrivals:
    """One client's schedule: ``wait(now)`` says how long to sleep before its next request.

    ``now`` is any monotonic clock in seconds (``time.monotonic()`` in locust); the first
    request comes after an exponential gap too, so clients started together do not send
    together.
    """

    def __init__(self, rate: float, *, now: float, rng: random.Random) -> None:
        if not 0 < rate < math.inf:
            raise ValueError(f"the rate must be above 0 a second, and finite, not {rate!r}")
        self._rate = rate
        self._rng = rng
        self._next = now + rng.expovariate(rate)

    def wait(self, now: float) -> float:
        """Seconds from ``now`` to the next start (0 when it is already due), which is
        then taken: the following call gives the one after it."""
        due = self._next
        self._next += self._rng.expovariate(self._rate)
        return max(0.0, due - now)
