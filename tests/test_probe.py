"""The hostile probe (``orchestration/probe.py``): what it sends, and a slice of it run.

``manage.py probe --requests 2500`` is the full run (its figures are in
docs/reliability.md); here 200 requests of a fixed seed go through the test client
against the demo retailer, and a few over HTTP to a live server.
"""

import io
import random
import re
from collections import Counter
from typing import Any

import pytest
from django.contrib.auth.models import User

from orchestration import probe
from orchestration.celery import app as celery_app
from orchestration.demo import demo_load

SLICE = 200
SEED = 18


@pytest.fixture
def world(
    settings: Any, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> probe.World:
    """The demo retailer, its orders routed inline; DEBUG off."""
    settings.DEBUG = False
    monkeypatch.setattr(celery_app.conf, "task_always_eager", True)
    with django_capture_on_commit_callbacks(execute=True):
        demo_load(stdout=io.StringIO(), password="demo-pass-123")
    return probe.build_world(probe.database_ids())


def generated(world: probe.World, count: int, seed: int = SEED) -> list[probe.ProbeRequest]:
    requests = probe.requests(world, random.Random(seed))
    return [next(requests) for _ in range(count)]


@pytest.mark.django_db
def test_the_probe_sends_to_every_api_write_and_every_suite_route_as_every_role(
    world: probe.World,
) -> None:
    sent = generated(world, 2500)

    operations = {(method, path) for method, path, _body in world.operations}
    assert {("POST", "/api/orders/"), ("DELETE", "/api/sheets/{id}/")} <= operations
    assert not {method for method, _path in operations} - {"POST", "PUT", "PATCH", "DELETE"}
    reached = set()
    for method, path, _body in world.operations:
        pattern = "^" + re.sub(r"\\{\w+\\}", "[^/]+", re.escape(path)) + r"(\?|$)"
        if any(r.method == method and re.match(pattern, r.path) for r in sent):
            reached.add((method, path))
    assert operations - reached == set()
    suite_names = {name for name, _route in world.suite_routes}
    assert {"sheets:visual", "preview:backtest_create", "orders:task_pick"} <= suite_names
    reached_routes = {
        name
        for name, route in world.suite_routes
        for pattern in [_route_pattern(route)]
        if any(re.match(pattern, r.path) for r in sent)
    }
    assert suite_names - reached_routes == set()
    assert {r.role for r in sent} == set(probe.ROLES)
    assert {r.area for r in sent} == {"API writes", "Suite forms", "Suite pages", "admin"}


def _route_pattern(route: str) -> str:
    path = re.sub(r"<(?:\w+:)?\w+>", "<>", route)
    return "^/" + re.escape(path).replace("<>", "[^/]+") + r"(\?|$)"


@pytest.mark.django_db
def test_the_same_seed_sends_the_same_requests(world: probe.World) -> None:
    assert generated(world, 300, seed=7) == generated(world, 300, seed=7)
    assert generated(world, 300, seed=7) != generated(world, 300, seed=8)


def run_slice(world: probe.World) -> probe.Report:
    """The first SLICE requests of SEED, through the test client."""
    transport = probe.TestClientTransport(probe.users_for_roles())
    try:
        return probe.run(transport, world, count=SLICE, seed=SEED)
    finally:
        transport.close()


@pytest.mark.django_db(transaction=True)
def test_a_slice_of_the_probe_answers_no_server_error_to_the_suite_and_admin(
    world: probe.World,
) -> None:
    report = run_slice(world)

    assert sum(report.counts.values()) == SLICE
    assert report.counts["4xx"] > 0  # it is hostile: most requests are refused
    assert {"Suite forms", "Suite pages", "admin"} <= set(report.by_area)
    suite = [(r, a) for r, a in report.server_errors if r.area != "API writes"]
    assert suite == [], "\n".join(report.lines())


@pytest.mark.django_db(transaction=True)
def test_a_slice_of_the_probe_answers_no_server_error_to_api_writes(world: probe.World) -> None:
    report = run_slice(world)

    assert report.by_area["API writes"].total() > 0
    api = [(r, a) for r, a in report.server_errors if r.area == "API writes"]
    assert api == [], "\n".join(report.lines())


def test_the_report_counts_per_status_class_and_area_and_lists_each_5xx() -> None:
    report = probe.Report()
    page = probe.ProbeRequest("anonymous", "GET", "/orders/?q=%00", what="q=%00")
    api = probe.ProbeRequest(
        "integrator", "POST", "/api/orders/", b"[[[]]]", "application/json", "deep"
    )
    report.add(page, probe.Answer(400))
    report.add(api, probe.Answer(500, "RecursionError: too deep"))
    report.add(api, probe.Answer(201))

    assert report.counts == Counter({"2xx": 1, "4xx": 1, "5xx": 1})
    assert report.lines() == [
        "3 requests: 2xx 1, 4xx 1, 5xx 1",
        "  API writes (2): 2xx 1, 5xx 1",
        "  Suite pages (1): 4xx 1",
        "1 server errors",
        "- 500 POST /api/orders/ as integrator (deep)\n    application/json, 6 bytes: '[[[]]]'",
        "    raised RecursionError: too deep",
    ]


@pytest.mark.django_db(transaction=True)
def test_the_probe_reaches_a_live_server_signed_in(live_server: Any, world: probe.World) -> None:
    User.objects.create_superuser("probe-admin", password="probe-pass-123")
    transport = probe.HttpTransport(
        live_server.url, {"superuser": ("probe-admin", "probe-pass-123")}
    )

    report = probe.run(transport, world, count=60, seed=SEED, roles=("superuser",))

    assert sum(report.counts.values()) == 60
    assert report.counts["2xx"] > 0  # signed in: some requests get through
    assert report.counts["5xx"] == len(report.server_errors)
