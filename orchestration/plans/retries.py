"""When a failed step runs again, or that it never will (it is then Fatally Failed).

The policies are Salesforce DRO's (``docs/plans.md``): ``IMMEDIATE`` retries at
once ``count`` times; ``MONOTONOUS`` waits ``interval_minutes`` before each of
``count`` retries; ``STAGGERED`` retries once per listed interval (``10, 15, 40``:
10 minutes after the first failure, 15 after the second, 40 after the third,
and the fourth failure is fatal); ``NONE`` never retries. The clock is passed in.
"""

from datetime import datetime, timedelta

from .model import RetryKind, RetryPolicy


def next_retry_at(policy: RetryPolicy, failures: int, now: datetime) -> datetime | None:
    """When to run the step again after its ``failures``-th failure (counting this one,
    from 1), or ``None``: no retry is left and the step is Fatally Failed."""
    if failures < 1:
        raise ValueError(f"failures counts from 1, got {failures}")
    if policy.kind is RetryKind.IMMEDIATE:
        return now if failures <= policy.count else None
    if policy.kind is RetryKind.MONOTONOUS:
        if failures <= policy.count:
            return now + timedelta(minutes=policy.interval_minutes)
        return None
    if policy.kind is RetryKind.STAGGERED:
        if failures <= len(policy.intervals):
            return now + timedelta(minutes=policy.intervals[failures - 1])
        return None
    return None
