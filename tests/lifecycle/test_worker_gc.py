"""A worker process, once it has loaded everything, freezes it out of the garbage
collector's reach (``orchestration/celery.py``), as the web's ``wsgi.py`` does."""

import gc

import pytest
from celery.signals import worker_process_init, worker_ready
from celery.utils.dispatch import Signal

import orchestration.celery  # noqa: F401 - connects the receivers


@pytest.mark.parametrize(
    "signal", [worker_process_init, worker_ready], ids=["a prefork child", "a solo worker"]
)
def test_a_worker_process_freezes_what_it_loaded(signal: Signal) -> None:
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    try:
        signal.send(sender=None)
        assert gc.get_freeze_count() > 100_000
    finally:
        gc.unfreeze()
