"""Sending JSON to a configured receiver (webhook events, the webhook exporter, a plan's
callout: POST, or the callout's own method)."""

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit


class DeliveryError(Exception):
    """The receiver did not take the message; the text says why."""


def post_json(
    url: str,
    payload: Any,
    *,
    headers: dict[str, str] | None = None,
    timeout: float = 10,
    method: str = "POST",
) -> None:
    """Send ``payload`` as JSON (POST, or ``method``); return on a 2xx answer, raise
    ``DeliveryError`` otherwise."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise DeliveryError(f"{url!r} is not an http(s) URL.")
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
        method=method,
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout):  # noqa: S310
            pass
    except urllib.error.HTTPError as error:
        raise DeliveryError(f"{url} answered {error.code} {error.reason}.") from error
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise DeliveryError(
            f"{url} could not be reached: {getattr(error, 'reason', error)}."
        ) from error
