"""``manage.py bench language``: the sheet language's benchmark (no database needed).

Later issues add more subjects (routing, preview, orchestration).
"""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Run a benchmark and print its figures: bench language [CONTEXTS]"
    requires_system_checks: list[str] = []
    requires_migrations_checks = False

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("subject", choices=["language"])
        parser.add_argument("contexts", nargs="?", type=int, default=100_000)

    def handle(self, *args: Any, **options: Any) -> None:
        from ...language import bench

        bench.main([str(options["contexts"])])
