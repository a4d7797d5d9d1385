"""The Celery application.

Configuration comes from Django settings under the ``CELERY_`` namespace. With
no ``CELERY_BROKER_URL`` set, tasks run inline (eager), so the suite works on a
machine with no broker; see ``settings.py``.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestration.settings")

app = Celery("orchestration")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
