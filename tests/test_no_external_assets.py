"""Every page loads its assets from this server only: no font, script, style or image
from another host (ReDoc used to fetch Google's fonts).

Every URL without a parameter is fetched as a superuser (the API's as HTML, the
browsable API), and the sign-in and lockout pages anonymously; each asset URL of
each HTML page (``src``, ``href`` of ``<link>``, ``srcset``, ``<object data>``,
CSS ``url(...)`` and ``@import``) must be relative or on ``testserver``. Links
(``<a href>``) are not assets and may point anywhere. The browser test
``tests/browser/test_no_external_requests.py`` checks what a browser really fetches.
"""

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client
from django.urls import URLResolver, get_resolver

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_failures_counted() -> Iterator[None]:
    """Counts start at zero, and none are left for the next test: a Redis cache (with
    CACHE_URL) outlives a test's transaction."""
    cache.clear()
    yield
    cache.clear()


CSS_URL = re.compile(r"""(?:url\(\s*|@import\s+)["']?([^"')\s;]+)""", re.IGNORECASE)
ASSET_ATTRIBUTES = {
    "script": ("src",),
    "link": ("href",),
    "img": ("src", "srcset"),
    "source": ("src", "srcset"),
    "iframe": ("src",),
    "frame": ("src",),
    "embed": ("src",),
    "audio": ("src",),
    "video": ("src", "poster"),
    "track": ("src",),
    "input": ("src",),
    "object": ("data",),
}
# Never fetched: logging out, or pages that are POST-only.
SKIPPED = {"/accounts/logout/", "/admin/logout/"}


class AssetCollector(HTMLParser):
    """The asset URLs of an HTML page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.urls: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is None:
                continue
            if name in ASSET_ATTRIBUTES.get(tag, ()):
                if name == "srcset":
                    self.urls += [part.split()[0] for part in value.split(",") if part.strip()]
                else:
                    self.urls.append(value)
            if name == "style":
                self.urls += CSS_URL.findall(value)
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.urls += CSS_URL.findall(data)


def foreign(urls: list[str]) -> list[str]:
    """The URLs that point at another host than the test server."""

    def local(url: str) -> bool:
        parts = urlsplit(url.strip())
        if parts.scheme == "data":
            return True
        return parts.scheme in ("", "http", "https") and parts.netloc in ("", "testserver")

    return [url for url in urls if not local(url)]


def assets(html: str) -> list[str]:
    collector = AssetCollector()
    collector.feed(html)
    return collector.urls


def parameterless_paths() -> Iterator[str]:
    """Every URL of the project that takes no parameter."""

    def walk(patterns: Any, prefix: str) -> Iterator[str]:
        for pattern in patterns:
            regex = pattern.pattern.regex.pattern.removeprefix("^")
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + regex)
            else:
                yield prefix + regex

    for regex in walk(get_resolver().url_patterns, ""):
        path = re.sub(r"(\\Z|\$)$", "", regex)
        path = path.replace("\\-", "-").replace("\\.", ".").replace("\\/", "/")
        if re.fullmatch(r"[\w/.-]*", path):
            yield "/" + path


def test_the_collector_finds_assets_of_every_kind() -> None:
    html = """<link rel="stylesheet" href="https://fonts.example.org/css">
    <script src="//cdn.example.org/x.js"></script><img srcset="/a.png 1x, http://x.org/b.png 2x">
    <style>@import "https://y.org/z.css"; body { background: url('http://z.org/i.png') }</style>
    <div style="background: url(https://w.org/j.png)"></div><a href="https://docs.example.org/">x</a>
    <script src="/static/ok.js"></script><link href="http://testserver/static/ok.css">"""
    assert foreign(assets(html)) == [
        "https://fonts.example.org/css",
        "//cdn.example.org/x.js",
        "http://x.org/b.png",
        "https://y.org/z.css",
        "http://z.org/i.png",
        "https://w.org/j.png",
    ]


def test_no_page_loads_an_asset_from_another_host(admin_user: User) -> None:
    client = Client()
    client.force_login(admin_user)
    pages = 0
    offenders: dict[str, list[str]] = {}
    for path in sorted(set(parameterless_paths()) - SKIPPED):
        response = client.get(path, HTTP_ACCEPT="text/html")
        if response.status_code != 200 or "text/html" not in response.get("Content-Type", ""):
            continue
        pages += 1
        found = foreign(assets(response.content.decode()))
        if found:
            offenders[path] = found
    assert offenders == {}
    # The Suite, the admin, the browsable API and both API docs pages were seen.
    assert pages > 60


def test_the_sign_in_and_lockout_pages_load_nothing_from_elsewhere(designer: User) -> None:
    client = Client()
    pages = [client.get("/accounts/login/"), client.get("/admin/login/")]
    for _ in range(5):
        client.post("/accounts/login/", {"username": "designer", "password": "wrong"})
    pages.append(client.post("/accounts/login/", {"username": "designer", "password": "x"}))
    assert [page.status_code for page in pages] == [200, 200, 429]
    assert [foreign(assets(page.content.decode())) for page in pages] == [[], [], []]


def test_swagger_ui_asks_no_outside_validator(admin_user: User) -> None:
    client = Client()
    client.force_login(admin_user)
    page = client.get("/api/docs/").content.decode()
    assert '"validatorUrl": null' in page
