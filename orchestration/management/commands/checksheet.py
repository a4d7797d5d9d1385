"""``manage.py checksheet FILE [FILE ...]``: check sheets without a database.

Prints ``FILE:LINE:COL: CODE message`` for each problem (its hint on the next
line, indented) and exits 1 if any sheet has a problem, 0 otherwise. With
``--format`` it prints each valid sheet's canonical source instead.
"""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...language.checker import analyze


class Command(BaseCommand):
    help = "Check sheet files and print every problem as FILE:LINE:COL: CODE message."
    requires_system_checks: list[str] = []  # a sheet check needs no database
    requires_migrations_checks = False

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="+", type=Path, metavar="FILE")
        parser.add_argument(
            "--format",
            action="store_true",
            help="print the canonical source of each valid sheet instead",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        problems = 0
        for path in options["files"]:
            try:
                data = path.read_bytes()
            except OSError as error:
                raise CommandError(f"{path}: cannot read it: {error.strerror}") from error
            analysis = analyze(data)
            diagnostics = list(analysis.diagnostics)
            for diagnostic in diagnostics:
                span = diagnostic.span
                self.stdout.write(
                    f"{path}:{span.line}:{span.column}: {diagnostic.code} {diagnostic.message}"
                )
                if diagnostic.hint:
                    self.stdout.write(f"    {diagnostic.hint}")
            problems += len(diagnostics)
            if options["format"] and not diagnostics:
                from ...language.formatter import format_sheet

                self.stdout.write(format_sheet(analysis.sheet), ending="")
        if problems:
            raise SystemExit(1)
