"""Sending JSON to a configured receiver (webhook events, the webhook exporter) or to
a callout step's URL (POST, or the callout's own method).

A callout's URL is a designer's, so its request is guarded (``guarded=True``): the
address the connection actually reached, after DNS, is checked against
``plans/callouts.address_problem`` before a byte of the request is sent (a name
pointed at a metadata service reaches nothing), and redirects are not followed
(a 3xx answer is a failure, never a second request elsewhere).
"""

import http.client
import json
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from ..plans.callouts import address_problem


class DeliveryError(Exception):
    """The receiver did not take the message; the text says why."""


def post_json(
    url: str,
    payload: Any,
    *,
    headers: dict[str, str] | None = None,
    timeout: float = 10,
    method: str = "POST",
    guarded: bool = False,
) -> None:
    """Send ``payload`` as JSON (POST, or ``method``: PUT, PATCH, DELETE); return on a
    2xx answer, raise ``DeliveryError`` otherwise. ``guarded``: a callout's request (see
    the module)."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise DeliveryError(f"{url!r} is not an http(s) URL.")
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
        method=method,
    )
    open_url: Callable[..., Any] = _GUARDED.open if guarded else urllib.request.urlopen
    try:
        with open_url(request, timeout=timeout):
            pass
    except _Refused as refused:
        raise DeliveryError(f"{url} was not called: callouts may not go to {refused}.") from None
    except urllib.error.HTTPError as error:
        raise DeliveryError(f"{url} answered {error.code} {error.reason}.") from error
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise DeliveryError(
            f"{url} could not be reached: {getattr(error, 'reason', error)}."
        ) from error


class _Refused(Exception):
    """The connection reached an address a callout may not go to (the text says why);
    not an ``OSError``, which urllib would wrap as an unreachable address."""


def _check_peer(connection: http.client.HTTPConnection) -> None:
    peer = connection.sock.getpeername()[0] if connection.sock is not None else ""
    problem = address_problem(peer)
    if problem:
        connection.close()
        raise _Refused(problem)


class _GuardedHTTPConnection(http.client.HTTPConnection):
    def connect(self) -> None:
        super().connect()
        _check_peer(self)


class _GuardedHTTPSConnection(http.client.HTTPSConnection):
    def connect(self) -> None:  # the TLS handshake happened: no request was sent yet
        super().connect()
        _check_peer(self)


class _GuardedHTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_GuardedHTTPConnection, req)


class _GuardedHTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_GuardedHTTPSConnection, req, context=self._context)  # type: ignore[attr-defined]


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the 3xx is answered as an error: DeliveryError names it


_GUARDED = urllib.request.build_opener(_GuardedHTTPHandler, _GuardedHTTPSHandler, _NoRedirects)
