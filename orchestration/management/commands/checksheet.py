"""``manage.py checksheet FILE [FILE ...]``: check sheets without a database.

Prints ``FILE:LINE:COL: CODE message`` for each problem (its hint on the next
line, indented) and exits 1 if any sheet has a problem, 0 otherwise. With
``--format`` it prints each sheet's canonical source instead (problems then go
to standard error; a sheet with syntax errors is not printed, as its broken
statements would be lost).
"""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...language.checker import analyze
from ...language.formatter import format_sheet
from ...language.parser import parse


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
            # With --format the source goes to stdout, so problems go to stderr.
            out = self.stderr if options["format"] else self.stdout
            for diagnostic in analysis.diagnostics:
                span = diagnostic.span
                out.write(
                    f"{path}:{span.line}:{span.column}: {diagnostic.code} {diagnostic.message}"
                )
                if diagnostic.hint:
                    out.write(f"    {diagnostic.hint}")
            problems += len(analysis.diagnostics)
            if options["format"]:
                _, syntax_problems = parse(data)
                # A sheet that does not parse would lose its broken statements.
                if not syntax_problems:
                    self.stdout.write(format_sheet(analysis.sheet), ending="")
        if problems:
            raise SystemExit(1)
