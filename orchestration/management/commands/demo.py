"""``manage.py demo``: load a demo retailer in the Netherlands; safe to run again."""

import os
from typing import Any

from django.core.management.base import BaseCommand

from ...demo import demo_load


class Command(BaseCommand):
    help = (
        "Load a demo retailer in the Netherlands: shops, warehouses, products, stock, "
        "sheets, orders and the users admin and designer. Running it again duplicates "
        "nothing. Users are created only if missing, with their usernames as passwords "
        "unless DEMO_PASSWORD is set; existing users keep their passwords."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        # An empty DEMO_PASSWORD would lock new users out: treat it as unset.
        demo_load(stdout=self.stdout, password=os.environ.get("DEMO_PASSWORD") or None)
