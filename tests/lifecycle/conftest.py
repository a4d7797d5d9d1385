"""Fixtures of the fulfilment lifecycle tests: the demo retailer, tasks run inline
(also when CI points Celery at Redis; the worker path has its own tests), a
frozen clock, and orders placed through the same service the API uses."""

import http.server
import io
import json
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth.models import User

from orchestration.celery import app as celery_app
from orchestration.demo import demo_load
from orchestration.models import Order, OrganizationUnit, Product
from orchestration.services.orders import order_create
from tests.lifecycle.real_workers import REAL_WORKERS

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
# A Monday morning: the demo's shops are open, so ship-from-store wins.
MONDAY = datetime(2026, 11, 23, 10, 0, tzinfo=AMSTERDAM)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``real_worker`` every test that ``REAL_WORKERS`` may skip (``.ci/run`` runs
    them again over RabbitMQ with ``-m real_worker``): one decorator does both."""
    for item in items:
        if any(mark == REAL_WORKERS.mark for mark in item.iter_markers("skipif")):
            item.add_marker(pytest.mark.real_worker)


@pytest.fixture(autouse=True)
def inline_tasks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(celery_app.conf, "task_always_eager", True)


@pytest.fixture
def demo(db: Any) -> None:
    demo_load(stdout=io.StringIO(), password="demo-pass-123")


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    """The frozen clock, at MONDAY; ``clock.move_to(...)`` / ``clock.shift(...)`` moves it."""
    with time_machine.travel(MONDAY, tick=False) as traveller:
        yield traveller


@pytest.fixture
def staff(demo: None) -> User:
    return User.objects.get(username="admin")


def unit(backend_id: str) -> OrganizationUnit:
    return OrganizationUnit.objects.get(backend_id=backend_id)


@pytest.fixture
def place(demo: None, clock: Any, django_capture_on_commit_callbacks: Any) -> Callable[..., Order]:
    """Place an order as the API does, running what is sent after commit (the orchestration)."""

    def place(*products: str, quantity: int = 1, **fields: Any) -> Order:
        fields.setdefault("backend_id", f"WEB-{5001 + Order.objects.count()}")
        fields.setdefault("sold_from_organization_unit", unit("webshop_nl"))
        fields.setdefault("customer_email", "sanne.devries@example.com")
        address = {
            "shipping_street": "Herengracht 182",
            "shipping_zip_code": "1016 BR",
            "shipping_city": "Amsterdam",
            "shipping_country_id": "NL",
            "shipping_latitude": 52.3752,
            "shipping_longitude": 4.8872,
        }
        with django_capture_on_commit_callbacks(execute=True):
            order = order_create(
                lines=[
                    {"product": Product.objects.get(backend_id=p), "quantity": quantity}
                    for p in products
                ],
                **{**address, **fields},
            )
        order.refresh_from_db()
        return order

    return place


def run_after_commit(callbacks: Any, action: Callable[[], Any]) -> Any:
    """Run ``action`` and then whatever it sent after commit (inline)."""
    with callbacks(execute=True):
        return action()


class Receiver:
    """A local HTTP endpoint that answers with the queued status codes (then 200)
    and keeps every JSON body it got (and each request's method): a warehouse, webhook
    or carrier receiver."""

    def __init__(self) -> None:
        self.answers: list[int] = []
        self.received: list[tuple[str, dict[str, Any], dict[str, str]]] = []
        self.methods: list[str] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((self.path, json.loads(body), dict(self.headers)))
                receiver.methods.append(self.command)
                status = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(status)
                self.end_headers()

            do_PUT = do_PATCH = do_POST

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def bodies(self, path: str) -> list[dict[str, Any]]:
        return [body for p, body, _ in self.received if p == path]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    endpoint = Receiver()
    yield endpoint
    endpoint.server.shutdown()


@pytest.fixture
def inline(django_capture_on_commit_callbacks: Any) -> Callable[..., Any]:
    """Call a function and run what it sends after commit (the steps' tasks), as a
    worker would right away."""

    def call(function: Callable[..., Any], **kwargs: Any) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return function(**kwargs)

    return call
