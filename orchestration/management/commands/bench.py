"""``manage.py bench language|engine``: the benchmarks of the pure packages (no database needed).

``bench language [CONTEXTS]``: the sheet language (``orchestration.language.bench``).
``bench engine [--repeat N] [--quick]``: ``route()`` per order for worlds of growing
size (``orchestration.engine.bench``); ``--quick`` runs tiny worlds, for tests.
Later issues add more subjects (preview, orchestration).
"""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = (
        "Run a benchmark and print its figures: bench language [CONTEXTS], "
        "bench engine [--repeat N] [--quick]"
    )
    requires_system_checks: list[str] = []
    requires_migrations_checks = False

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("subject", choices=["language", "engine"])
        parser.add_argument("contexts", nargs="?", type=int, default=100_000)
        parser.add_argument(
            "--repeat",
            type=int,
            default=None,
            help="engine: timed route() calls per configuration (default 20; 2 with --quick)",
        )
        parser.add_argument(
            "--quick", action="store_true", help="engine: tiny worlds only (for tests)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["subject"] == "engine":
            self._engine(options["repeat"], quick=options["quick"])
            return
        from ...language import bench

        bench.main([str(options["contexts"])])

    def _engine(self, repeat: int | None, *, quick: bool) -> None:
        from ...engine import bench

        if repeat is None:
            repeat = bench.QUICK_REPEAT if quick else bench.REPEAT
        if repeat < 1:
            raise CommandError("--repeat must be at least 1")
        self.stdout.write(bench.header(repeat))
        for size in bench.QUICK_SIZES if quick else bench.SIZES:
            # One row at a time: the big worlds take a while.
            self.stdout.write(bench.row(bench.run([size], repeat=repeat)[0]))
            self.stdout.flush()
