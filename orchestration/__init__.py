"""The order orchestration suite: project settings, the domain app and its API.

Importing the Celery app here makes ``@shared_task`` bind to it whenever Django
starts, in the web process and in workers alike.
"""

from .celery import app as celery_app

__all__ = ["celery_app"]
