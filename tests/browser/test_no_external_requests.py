"""In Chromium, every request a page makes goes to this server: fonts, scripts, styles,
images and what the scripts fetch (ReDoc's and Swagger UI's schema, the editor's
checks). ReDoc used to fetch Google's fonts, and its sidebar always asks cdn.redoc.ly
for a logo: the page's Content-Security-Policy stops that one inside the browser
(Chromium reports it as a request that failed with ``csp``), so it never leaves."""

from typing import Any
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Request

from .conftest import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

PAGES = [
    "/sheets/",
    "/sheets/new/",
    "/preview/",
    "/orders/",
    "/orders/stores/",
    "/accounts/api-token/",
    "/admin/",
    "/admin/orchestration/order/",
    "/api/",
    "/api/docs/",
    "/api/docs/redoc/",
]


def test_no_page_requests_anything_from_another_host(live_server: Any, page: Any) -> None:
    User.objects.create_superuser("root", password=PASSWORD)
    requested: list[str] = []
    blocked: list[str] = []

    def record(request: Request) -> None:
        requested.append(request.url)

    def record_failure(request: Request) -> None:
        if request.failure == "csp":
            blocked.append(request.url)

    page.on("request", record)
    page.on("requestfailed", record_failure)
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("root")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("networkidle")
    for path in PAGES:
        page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("networkidle")
    # ReDoc and Swagger UI have drawn the API (they fetched the schema from here).
    page.goto(f"{live_server.url}/api/docs/redoc/")
    page.get_by_text("Order orchestration API").first.wait_for()
    page.goto(f"{live_server.url}/api/docs/")
    page.locator(".swagger-ui .info .title").wait_for()

    server = urlsplit(live_server.url).netloc
    elsewhere = [
        url
        for url in requested
        # data: and blob: (made by the page's own scripts) are no requests to a host.
        if urlsplit(url).scheme not in ("data", "blob") and urlsplit(url).netloc != server
    ]
    # Only ReDoc's logo is stopped by a policy; everything else never asks elsewhere.
    assert set(blocked) <= {"https://cdn.redoc.ly/redoc/logo-mini.svg"}
    for url in blocked:
        elsewhere.remove(url)
    assert elsewhere == []
    assert any(url.endswith("/api/schema/") for url in requested)
    assert len(requested) > len(PAGES) * 2
