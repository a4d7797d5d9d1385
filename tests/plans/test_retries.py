"""Each retry policy's schedule, and the failure at which the step turns Fatally Failed."""

from datetime import UTC, datetime, timedelta

import pytest

from orchestration.plans.model import RetryKind, RetryPolicy
from orchestration.plans.retries import next_retry_at

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def schedule(policy: RetryPolicy, failures: int = 6) -> list[timedelta | None]:
    """Minutes from now to the next run after the 1st, 2nd... failure (None: fatal)."""
    found = []
    for failure in range(1, failures + 1):
        at = next_retry_at(policy, failure, NOW)
        found.append(None if at is None else at - NOW)
    return found


def minutes(*values: int | None) -> list[timedelta | None]:
    return [None if value is None else timedelta(minutes=value) for value in values]


def test_immediate_retries_at_once_count_times_then_is_fatal() -> None:
    assert schedule(RetryPolicy(RetryKind.IMMEDIATE, count=3)) == minutes(0, 0, 0, None, None, None)


def test_monotonous_waits_the_interval_count_times_then_is_fatal() -> None:
    policy = RetryPolicy(RetryKind.MONOTONOUS, count=2, interval_minutes=15)
    assert schedule(policy) == minutes(15, 15, None, None, None, None)


def test_staggered_waits_each_interval_in_turn_then_is_fatal() -> None:
    policy = RetryPolicy(RetryKind.STAGGERED, intervals=(10, 15, 40))
    assert schedule(policy) == minutes(10, 15, 40, None, None, None)


def test_no_policy_is_fatal_at_the_first_failure() -> None:
    assert schedule(RetryPolicy()) == minutes(None, None, None, None, None, None)


def test_failures_count_from_one() -> None:
    with pytest.raises(ValueError, match="failures counts from 1, got 0"):
        next_retry_at(RetryPolicy(RetryKind.IMMEDIATE, count=1), 0, NOW)
