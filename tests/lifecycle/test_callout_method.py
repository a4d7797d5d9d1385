"""A callout sends the step's JSON with the step's method (``integrations/steps.py``
``callout``), with its Idempotency-Key, to a receiver on this machine."""

import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from orchestration.integrations.steps import StepError, callout


class Seen:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, Any], str]] = []


@pytest.fixture
def downstream() -> Iterator[tuple[str, Seen]]:
    seen = Seen()

    class Handler(http.server.BaseHTTPRequestHandler):
        def answer(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.requests.append(
                (self.command, self.path, body, self.headers["Idempotency-Key"] or "")
            )
            self.send_response(404 if self.path == "/gone" else 204)
            self.end_headers()

        do_POST = do_PUT = do_PATCH = do_DELETE = answer

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()


def test_a_callout_sends_the_steps_body_with_its_method_and_idempotency_key(
    downstream: tuple[str, Seen],
) -> None:
    url, seen = downstream
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        callout(
            url=f"{url}/bookings/7",
            payload={"order": "WEB-1", "step": "book"},
            idempotency_key="key-1",
            timeout=5,
            method=method,
        )

    assert seen.requests == [
        (method, "/bookings/7", {"order": "WEB-1", "step": "book"}, "key-1")
        for method in ("POST", "PUT", "PATCH", "DELETE")
    ]


def test_a_callout_not_taken_is_the_steps_failure_naming_the_answer(
    downstream: tuple[str, Seen],
) -> None:
    url, _ = downstream

    with pytest.raises(StepError) as refused:
        callout(url=f"{url}/gone", payload={}, idempotency_key="k", timeout=5, method="PUT")

    assert (refused.value.code, refused.value.message) == (
        "CalloutFailed",
        f"{url}/gone answered 404 Not Found.",
    )
