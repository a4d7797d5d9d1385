"""WSGI entry point (``gunicorn orchestration.wsgi``)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestration.settings")

application = get_wsgi_application()
