"""``manage.py demo``: load a demo retailer in the Netherlands; safe to run again.

``--host`` is the address the Suite is served on, as ``runserver`` takes it
(``8000``, ``0.0.0.0:8000``, ``[::1]:8000``): the report prints the Suite's
pages there. ``make run`` passes its ``HOST``, so the URLs printed are the ones
it serves.
"""

import os
import re
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.management.commands.runserver import naiveip_re

from ...demo import DEFAULT_BASE_URL, demo_load

DEFAULT_HOST = DEFAULT_BASE_URL.removeprefix("http://")


def base_url(host: str) -> str:
    """The Suite's base URL for ``runserver``'s address ``host``.

    A port alone is on 127.0.0.1 and ``0`` is 0.0.0.0, as ``runserver`` reads them.
    Raises ``CommandError`` for anything ``runserver`` would refuse.
    """
    match = re.match(naiveip_re, host)
    if match is None:
        raise CommandError(
            f"--host {host!r} is not an address runserver serves on: give PORT or "
            "HOST:PORT, e.g. 127.0.0.1:8000, 0.0.0.0:8000 or [::1]:8000."
        )
    address = match["addr"] or "127.0.0.1"
    if address == "0":
        address = "0.0.0.0"  # noqa: S104 (a URL to print, as runserver prints it; nothing binds here)
    return f"http://{address}:{match['port']}"


class Command(BaseCommand):
    help = (
        "Load a demo retailer in the Netherlands: shops, warehouses, products, stock, "
        "sheets, orders and the users admin and designer. Running it again duplicates "
        "nothing. Users are created only if missing, with their usernames as passwords "
        "unless DEMO_PASSWORD is set; existing users keep their passwords. Prints the "
        "Suite's pages at --host and the logins."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--host",
            default=DEFAULT_HOST,
            help=(
                "The address the Suite is served on, as runserver takes it (PORT or "
                f"HOST:PORT; default {DEFAULT_HOST}): the URLs printed are there."
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        url = base_url(options["host"])  # refuse a bad address before loading anything
        # An empty DEMO_PASSWORD would lock new users out: treat it as unset.
        demo_load(
            stdout=self.stdout,
            password=os.environ.get("DEMO_PASSWORD") or None,
            base_url=url,
        )
