"""A worker freezes what it loaded out of the garbage collector's reach
(``orchestration/celery.py``), as the web's ``wsgi.py`` does: the main process before
its pool forks, a pool process when it starts."""

import gc
from collections.abc import Callable
from typing import Any

import pytest
from celery.signals import worker_init, worker_process_init
from celery.utils.dispatch import Signal

from orchestration import celery


@pytest.mark.parametrize(
    ("signal", "receiver"),
    [
        (worker_init, celery.loaded_code_collected_and_frozen),
        (worker_process_init, celery.loaded_code_frozen),
    ],
    ids=["the main process before forking", "a pool process starting"],
)
def test_a_worker_process_freezes_what_it_loaded(
    signal: Signal, receiver: Callable[..., Any]
) -> None:
    # Connected, and called here directly: sending worker_init in the test process
    # would also install Celery's Django fix-up for a worker.
    assert receiver in signal._live_receivers(None)
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    receiver()
    assert gc.get_freeze_count() > 100_000  # tests/conftest.py unfreezes after each test
