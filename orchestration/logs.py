"""What the log shows of a refused request: one line, never a traceback.

A request the suite refuses (a 4xx) is the client's mistake, told to the client;
the log needs the line saying so, not the stack that raised it. Django logs some
refusals with the exception attached: a ``SuspiciousOperation`` (a ``Host``
header not in ``ALLOWED_HOSTS``, too many fields, a body over the limit) goes to
``django.security.*`` with its traceback, twenty lines per request that anyone
can send. ``RefusalWithoutTraceback`` drops the traceback of those records and of
any ``django.request`` record of a status below 500, keeping the message. A 500
keeps its traceback: that one is ours to fix.

Django also gives its ``django`` logger a console handler of its own when
``DEBUG`` is on; the settings take it away (the record reaches the root's console
handler anyway), so each line is printed once.
"""

import logging

SERVER_ERROR = 500


class RefusalWithoutTraceback(logging.Filter):
    """Let every record through; strip the traceback from a refused request's."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        refused = record.name.startswith("django.security.") or (
            record.name == "django.request" and isinstance(status, int) and status < SERVER_ERROR
        )
        if refused and record.exc_info:
            record.exc_info = None
            record.exc_text = None
        return True
