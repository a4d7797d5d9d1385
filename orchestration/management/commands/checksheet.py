"""``manage.py checksheet FILE [FILE ...]``: check sheets without a database.

Prints ``FILE:LINE:COL: CODE message`` for each problem (its hint on the next
line, indented) and exits 1 if any sheet has a problem, 0 otherwise. Warnings
(a valid sheet that reads otherwise than it works) are printed the same way with
``warning:`` before the message, and do not change the exit status. With
``--format`` it prints each sheet's canonical source instead (problems then go
to standard error; a sheet with syntax errors is not printed, as its broken
statements would be lost); ``--fix`` is ``--format`` writing what the warnings
suggest (``[Supplier.SetNames] in 'X'`` as ``[Supplier.SetNames] contains 'X'``).
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
        parser.add_argument(
            "--fix",
            action="store_true",
            help="as --format, writing what the warnings suggest",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        problems = 0
        for path in options["files"]:
            try:
                data = path.read_bytes()
            except OSError as error:
                raise CommandError(f"{path}: cannot read it: {error.strerror}") from error
            analysis = analyze(data)
            formatting = options["format"] or options["fix"]
            # With --format the source goes to stdout, so problems go to stderr.
            out = self.stderr if formatting else self.stdout
            for diagnostic in sorted(
                (*analysis.diagnostics, *analysis.warnings),
                key=lambda d: (d.span.line, d.span.column),
            ):
                span = diagnostic.span
                warning = "warning: " if diagnostic in analysis.warnings else ""
                out.write(
                    f"{path}:{span.line}:{span.column}: {diagnostic.code} "
                    f"{warning}{diagnostic.message}"
                )
                if diagnostic.hint:
                    out.write(f"    {diagnostic.hint}")
            problems += len(analysis.diagnostics)
            if formatting:
                _, syntax_problems = parse(data)
                # A sheet that does not parse would lose its broken statements.
                if not syntax_problems:
                    rewrites = analysis.rewrites if options["fix"] else None
                    self.stdout.write(format_sheet(analysis.sheet, rewrites=rewrites), ending="")
        if problems:
            raise SystemExit(1)
