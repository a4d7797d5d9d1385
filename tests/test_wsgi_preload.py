"""``orchestration/wsgi.py`` as gunicorn's ``--preload`` loads it in the master: the
URLconf, views and serializers imported up front, what they made frozen out of the
garbage collector's reach, and no connection opened that the forked workers would
then share."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import sys
import orchestration.wsgi
from django.db import connections
print(sorted(m for m in ("orchestration.urls", "orchestration.api.views",
                         "orchestration.api.serializers", "sheets.views") if m in sys.modules))
print([alias for alias in connections if connections[alias].connection is not None])
from orchestration.celery import app
print(app.pool._dirty if app._pool is not None else "no broker pool")
import gc
print(gc.get_freeze_count() > 100_000)
"""


def test_the_wsgi_app_loads_its_views_and_opens_no_connection() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "['orchestration.api.serializers', 'orchestration.api.views', 'orchestration.urls', "
        "'sheets.views']",
        "[]",
        "no broker pool",
        "True",
    ]
