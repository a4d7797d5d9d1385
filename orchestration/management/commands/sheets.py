"""``manage.py sheets export`` and ``manage.py sheets import``: sheets between installs.

``sheets export [--identifier X ...] [-o FILE]`` writes the export file
(``services/sheet_transfer.py``: every active sheet, or those named) to FILE or to
standard output. ``sheets import FILE [--dry-run]`` prints one line per sheet of the
file (new, changed with what changed, unchanged; a dry run also prints each changed
source's diff) and imports it all or nothing; a refused file prints every problem
(sheet, field, line and column) and exits 1 with nothing written. What comes from the
file is printed with its control characters escaped (``printable``): a hostile file
cannot hide a line of its own dry run with terminal escapes. The operator at
the terminal is the install's own: revisions record no author.
"""

import re
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...errors import ApplicationError
from ...services.sheet_transfer import (
    ImportPlan,
    SheetPlan,
    Status,
    sheets_export,
    sheets_file_parse,
    sheets_file_text,
    sheets_import,
)

# What a terminal would act on rather than show: C0 controls but tab and line break (ESC
# starts the sequences that move the cursor and erase lines), DEL, C1, and the
# bidirectional marks and overrides that reorder what is shown.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """``text`` for the terminal: every control character spelt as Python escapes it
    (``\\x1b``, ``\\u202e``), so a file's source cannot move the cursor over, erase or
    reorder the lines of its own dry run."""
    return _CONTROL.sub(lambda match: match[0].encode("unicode_escape").decode(), text)


def _yes_no(value: str | bool) -> str:
    return ("yes" if value else "no") if isinstance(value, bool) else repr(value)


def describe(sheet: SheetPlan, *, applied: bool) -> str:
    """One sheet of a plan as a line: status, identifier and what changes (or changed)."""
    text = f"{sheet.status:<10} {sheet.fulfillment}"
    if sheet.status == Status.NEW:
        active = "active" if sheet.is_active else "inactive"
        text += f": {sheet.name!r}, {active}"
    elif sheet.status == Status.CHANGED:
        labels = {"name": "name", "is_active": "active"}
        parts = [
            f"{labels[change.field]} {_yes_no(change.before)} -> {_yes_no(change.after)}"
            for change in sheet.changes
        ]
        if sheet.source_changed:
            parts.append("source")
        text += ": " + "; ".join(parts)
    if applied and sheet.status != Status.UNCHANGED:
        text += f" (revision {sheet.revision})"
    return text


class Command(BaseCommand):
    help = "Export sheets to a file, or import such a file (with --dry-run: only show what)."

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="action", required=True, metavar="export|import")
        export = commands.add_parser("export", help="write the active (or the named) sheets")
        export.add_argument(
            "--identifier",
            action="append",
            metavar="X",
            help="a sheet's fulfillment identifier (again for more; default: every active sheet)",
        )
        export.add_argument("-o", "--output", type=Path, metavar="FILE", help="default: stdout")
        imports = commands.add_parser("import", help="import a file exported by `sheets export`")
        imports.add_argument("file", type=Path, metavar="FILE")
        imports.add_argument(
            "--dry-run", action="store_true", help="only say what importing would do"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "export":
            self.export(options["identifier"], options["output"])
        else:
            self.import_file(options["file"], dry_run=options["dry_run"])

    def export(self, identifiers: list[str] | None, output: Path | None) -> None:
        try:
            content = sheets_export(identifiers=identifiers)
        except ApplicationError as error:
            raise CommandError(error.message) from error
        text = sheets_file_text(content)
        if output is None:
            self.stdout.write(text, ending="")
            return
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as error:
            raise CommandError(f"{output}: cannot write it: {error.strerror}") from error
        count = len(content["sheets"])
        self.stderr.write(f"Exported {count} sheet{'s' if count != 1 else ''} to {output}.")

    def import_file(self, path: Path, *, dry_run: bool) -> None:
        try:
            content = path.read_bytes()
        except OSError as error:
            raise CommandError(f"{path}: cannot read it: {error.strerror}") from error
        try:
            plan = sheets_import(data=sheets_file_parse(content), user=None, dry_run=dry_run)
        except ApplicationError as error:
            problems = "\n".join(f"  {printable(item['message'])}" for item in error.errors)
            raise CommandError(
                f"{path} was refused; nothing was imported:\n{problems}", returncode=1
            ) from error
        self.report(path, plan)

    def report(self, path: Path, plan: ImportPlan) -> None:
        for sheet in plan.sheets:
            self.stdout.write(describe(sheet, applied=not plan.dry_run))
            if plan.dry_run and sheet.source_diff:
                self.stdout.write("    " + printable(sheet.source_diff).replace("\n", "\n    "))
        if plan.dry_run:
            self.stdout.write(f"Dry run of {path}: {plan.summary}; nothing was written.")
        else:
            self.stdout.write(f"Imported {path}: {plan.summary}.")
