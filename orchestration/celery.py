"""The Celery application.

Configuration comes from Django settings under the ``CELERY_`` namespace. With
no ``CELERY_BROKER_URL`` set, tasks run inline (eager), so the suite works on a
machine with no broker; see ``settings.py``.

A worker treats its database connection as a web process does: after each task it
closes a connection that failed or outlived ``DATABASE_CONN_MAX_AGE`` (Django's
``close_old_connections``, which runs after each request), and keeps the others for
the next task. Celery's own Django fix-up would close them all before and after
every task (``CELERY_DB_REUSE_MAX`` in ``settings.py`` turns that off). A task run
inline is left alone: it runs inside the caller's request or transaction.

What a worker has loaded is frozen out of the garbage collector's reach
(``gc.freeze()``, as ``wsgi.py`` does for the web), so its collections skip the
objects every process holds from the start: collected and frozen in the worker's
main process before its pool forks (``worker_init``), as Python's documentation
advises, and what a prefork child (or a solo worker) loaded since frozen too, without
another collection, when it starts (``worker_process_init``).
"""

import gc
import os
from typing import Any

from celery import Celery, Task
from celery.signals import task_postrun, task_prerun, worker_init, worker_process_init
from django.db import close_old_connections

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestration.settings")

app = Celery("orchestration")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
@task_postrun.connect
def connections_tidy(sender: Task | None = None, **kwargs: Any) -> None:
    """Close the database connections Django would close after a request."""
    if sender is None or getattr(sender.request, "is_eager", False):
        return
    close_old_connections()


@worker_init.connect
def loaded_code_collected_and_frozen(**kwargs: Any) -> None:
    """The worker's main process, before its pool forks (see the module's docstring)."""
    gc.collect()
    gc.freeze()


@worker_process_init.connect
def loaded_code_frozen(**kwargs: Any) -> None:
    """A pool process starting: what was loaded since frozen too, no collection (which
    would write to every object the child shares with its parent)."""
    gc.freeze()
