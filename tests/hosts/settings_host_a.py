"""Host A: the project's settings as another machine running workers has them.

Everything a worker shares with the others comes from the environment as before: the
database (``DATABASE_URL``) and the broker (``CELERY_BROKER_URL``). What is the machine's
own differs from the other host's: its name, its cache (in this process's memory: no
decision on the worker path may rest on a cache, which one host's workers would not see
change on another's) and its folder for temporary files.
"""

import tempfile
from pathlib import Path

from orchestration.settings import *  # noqa: F403

HOST_NAME = "host-a"
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": HOST_NAME,
    }
}
FILE_UPLOAD_TEMP_DIR = Path(tempfile.gettempdir()) / f"orchestration-{HOST_NAME}"
FILE_UPLOAD_TEMP_DIR.mkdir(exist_ok=True)
