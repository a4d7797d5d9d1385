"""WSGI entry point (``gunicorn orchestration.wsgi``).

The URLconf, and with it every view and serializer, is imported here rather than at
a process's first request. With gunicorn's ``--preload`` (``docs/deployment.md``)
that happens once, in the master: each worker, and each one started again after
``--max-requests``, is forked with it loaded, instead of spending 1.5 s of CPU
importing it (measured: 1.57 s a worker without ``--preload``, 0.71 s with it but
the URLconf still imported at the first request).

What was loaded is then frozen out of the garbage collector's reach (``gc.freeze()``,
as Python's documentation advises before a fork): a worker's collections skip the
hundreds of thousands of objects every process holds from the start, and no longer
write to them (reference counting still does, where they are used). Measured through
gunicorn (``docs/performance.md``): 8.9 against 9.7 ms of CPU a request, five pairs.
"""

import gc
import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestration.settings")

application = get_wsgi_application()
get_resolver().url_patterns  # noqa: B018 - imported for its side effect, see above
gc.collect()  # what the imports left behind, before the rest is frozen
gc.freeze()
