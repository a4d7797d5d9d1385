"""The Suite's shell (``templates/suite/base.html``), on every page: its favicon.

Each Suite page, signed in or not, links the Suite's own icon, and the icon is
served from this server (``static/suite/favicon.svg``) as an SVG image.
"""

import pytest
from django.contrib.auth.models import User
from django.contrib.staticfiles import finders
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db

ICON_LINK = '<link rel="icon" href="/static/suite/favicon.svg" type="image/svg+xml">'


@pytest.mark.parametrize(
    ("url_name", "signed_in"),
    [("login", False), ("sheets:overview", True), ("preview:page", True), ("orders:list", True)],
)
def test_every_suite_page_links_the_favicon(
    url_name: str, signed_in: bool, admin_user: User
) -> None:
    client = Client()
    if signed_in:
        client.force_login(admin_user)

    response = client.get(reverse(url_name))

    assert response.status_code == 200
    assert ICON_LINK in response.content.decode()


def test_the_favicon_is_served_as_an_svg_image(client: Client) -> None:
    assert finders.find("suite/favicon.svg") is not None

    response = client.get("/static/suite/favicon.svg")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("image/svg+xml")
    svg = b"".join(response).decode()
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">')
    assert svg.rstrip().endswith("</svg>")
