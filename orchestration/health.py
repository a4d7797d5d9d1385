"""``GET /healthz``: whether this server can serve, for load balancers and monitors.

Contract: no authentication, and nothing in the body but status words.
200 ``{"status": "ok", "database": "ok", "broker": "ok"}`` when the database
answers ``SELECT 1`` and the Celery broker accepts a connection; 503 with
``"status": "unavailable"`` and ``"unreachable"`` for the one that did not.
With tasks run inline (the embedded default, ``memory://`` and eager) there is
no broker to ask: ``"broker": "inline"``, which counts as up.

Answers in about ``BROKER_TIMEOUT_SECONDS`` at worst when the broker is dead
(a load balancer's check usually gives up after 2 to 5 s); the database's connect
timeout is ``DATABASE_CONNECT_TIMEOUT`` (settings.py). Plain HTTP is served even
with ``SECURE_SSL_REDIRECT`` (``SECURE_REDIRECT_EXEMPT``). The reasons are logged,
never sent.
"""

import logging

from celery import current_app
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

logger = logging.getLogger(__name__)

# Connect and read timeout of the broker check; a dead broker answers within ~2 s.
BROKER_TIMEOUT_SECONDS = 1.5


def database_status() -> str:
    """``ok`` if the default database answers a query, else ``unreachable``."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        logger.warning("Health check: the database does not answer.", exc_info=True)
        return "unreachable"
    return "ok"


def broker_status() -> str:
    """``inline`` without a broker, ``ok`` if the broker takes a connection, else
    ``unreachable``."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return "inline"
    try:
        with current_app.connection_for_write(
            url=settings.CELERY_BROKER_URL,
            connect_timeout=BROKER_TIMEOUT_SECONDS,
            transport_options={"socket_timeout": BROKER_TIMEOUT_SECONDS},
        ) as broker:
            # No retry: the load balancer asks again soon enough.
            # kombu takes seconds as a float; celery-types says int.
            broker.ensure_connection(max_retries=0, timeout=BROKER_TIMEOUT_SECONDS)  # type: ignore[arg-type]
            broker.default_channel  # noqa: B018 - opening a channel is the check
    except Exception:
        logger.warning("Health check: the broker does not answer.", exc_info=True)
        return "unreachable"
    return "ok"


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database and the broker answer, else 503 naming the one that does not."""
    body = {"status": "ok", "database": database_status(), "broker": broker_status()}
    if "unreachable" in body.values():
        body["status"] = "unavailable"
    return JsonResponse(body, status=200 if body["status"] == "ok" else 503)
