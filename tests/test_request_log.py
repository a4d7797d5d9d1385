"""The log of refused requests: one line each, no traceback, nothing printed twice;
a server error keeps its traceback (``orchestration/logs.py``). Read from the root
logger's console handler as the settings configure it, with ``DEBUG`` on as under
``make run`` (where Django would add a console handler of its own)."""

import io
import logging
import logging.config
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings as project_settings
from django.contrib.auth.models import User
from django.test import Client

from orchestration.logs import RefusalWithoutTraceback


@pytest.fixture
def log(settings: Any) -> Iterator[io.StringIO]:
    settings.DEBUG = True
    # As the settings configure it (an in-process Celery worker of an earlier test
    # may have replaced the root's handlers with its own).
    logging.config.dictConfig(settings.LOGGING)
    # The settings' console handler (pytest adds capturing handlers of its own).
    (console,) = [h for h in logging.getLogger().handlers if type(h) is logging.StreamHandler]
    stream = io.StringIO()
    previous = console.setStream(stream)
    try:
        yield stream
    finally:
        console.setStream(previous)


def test_a_host_not_allowed_is_one_line_without_a_traceback(log: io.StringIO) -> None:
    response = Client().get("/sheets/", HTTP_HOST="evil.example")

    assert response.status_code == 400
    assert log.getvalue() == (
        "Invalid HTTP_HOST header: 'evil.example'. You may need to add 'evil.example' "
        "to ALLOWED_HOSTS.\n"
    )


@pytest.mark.django_db
def test_too_many_fields_is_one_line_without_a_traceback(log: io.StringIO) -> None:
    body = "&".join(
        f"field{n}=1" for n in range(project_settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 500)
    )
    response = Client().post(
        "/accounts/login/", body, content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code == 400
    assert log.getvalue() == (
        "The number of GET/POST parameters exceeded settings.DATA_UPLOAD_MAX_NUMBER_FIELDS.\n"
    )


@pytest.mark.django_db
def test_a_refused_api_request_is_logged_once(log: io.StringIO) -> None:
    client = Client()
    client.force_login(User.objects.create_user("shopper", password="secret-pass-123"))

    assert client.get("/api/sheets/").status_code == 403
    assert client.get("/no-such-page/").status_code == 404

    assert log.getvalue() == "Forbidden: /api/sheets/\nNot Found: /no-such-page/\n"
    # And nowhere else: no other handler on the way from django.request to the root
    # prints it (Django's own console handler of ``django`` would, with DEBUG on).
    printing = []
    logger: logging.Logger | None = logging.getLogger("django.request")
    while logger is not None:
        printing += [h for h in logger.handlers if type(h) is logging.StreamHandler]
        logger = logger.parent if logger.propagate else None
    assert len(printing) == 1


def test_a_server_error_keeps_its_traceback() -> None:
    try:
        raise RuntimeError("ours to fix")
    except RuntimeError:
        record = logging.getLogger("django.request").makeRecord(
            "django.request",
            logging.ERROR,
            __file__,
            1,
            "Internal Server Error: %s",
            ("/api/orders/",),
            exc_info=__import__("sys").exc_info(),
            extra={"status_code": 500},
        )
    assert RefusalWithoutTraceback().filter(record)
    assert record.exc_info is not None
    assert "RuntimeError: ours to fix" in logging.Formatter().format(record)
