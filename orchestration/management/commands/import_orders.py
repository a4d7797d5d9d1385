"""``manage.py import_orders FILE.jsonl [--user NAME] [--chunk N]``: orders from a file.

One order a line, each the JSON body ``POST /api/orders/`` takes, validated and stored
as ``POST /api/orders/bulk/`` does (``api/order_imports.py``: each order on its own, a
chunk per transaction). The file is read a chunk at a time, so a file of millions of
orders takes no more memory than one chunk.

- A refused line is reported on stderr with its line number and the error message
  ``POST /api/orders/`` would answer, and skipped; the exit status is then 1.
- A line whose ``backend_id`` is already stored counts as existing, not refused: an
  import that stopped half-way is run again on the same file and takes up where it
  stopped (orders without a backend ID would be stored twice: give them one).
- Progress on stderr: a bar redrawn in place on a terminal, a line every
  ``PROGRESS_EVERY`` seconds otherwise (a log file); a summary at the end.
"""

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper
from rest_framework.exceptions import ParseError

from ...api.order_imports import OrderImported, order_bodies_import
from ...api.parsers import RequestTooLarge, parse_json
from ...services.order_imports import ORDERS_PER_CHUNK

# Seconds between progress lines when stderr is not a terminal.
PROGRESS_EVERY = 10.0
BAR_WIDTH = 30
# The most orders a transaction may hold: a chunk's lookups and INSERTs grow with it.
MAX_CHUNK = 10_000


class Command(BaseCommand):
    help = (
        "Import orders from a JSON Lines file (one POST /api/orders/ body a line), "
        "each validated on its own, a chunk per transaction; lines already imported "
        "(their backend_id exists) are skipped. Exit status 1 if any line was refused."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="The .jsonl file ('-' for stdin).")
        parser.add_argument(
            "--user", help="Who the orders are created by (a username); default: nobody."
        )
        parser.add_argument(
            "--chunk",
            type=int,
            default=ORDERS_PER_CHUNK,
            help=f"Orders per transaction (default {ORDERS_PER_CHUNK}).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        chunk: int = options["chunk"]
        if not 1 <= chunk <= MAX_CHUNK:
            raise CommandError(f"--chunk is 1 to {MAX_CHUNK:,} orders.")
        user = None
        if options["user"]:
            user = User.objects.filter(username=options["user"]).first()
            if user is None:
                raise CommandError(f"There is no user {options['user']!r}.")
        path: Path = options["file"]
        if str(path) == "-":
            counts = self._import(sys.stdin.buffer, size=None, user=user, chunk=chunk)
        else:
            try:
                stream = path.open("rb")
            except OSError as error:
                raise CommandError(f"Cannot read {path}: {error.strerror}.") from error
            with stream:
                counts = self._import(stream, size=path.stat().st_size, user=user, chunk=chunk)
        refused = counts["refused"]
        if refused:
            raise CommandError(
                f"{refused:,} line{'s' if refused != 1 else ''} refused.", returncode=1
            )

    def _import(
        self, stream: IO[bytes], *, size: int | None, user: User | None, chunk: int
    ) -> dict[str, int]:
        progress = Progress(self.stderr, size=size)
        counts = {"created": 0, "existing": 0, "refused": 0}
        numbers: list[int] = []  # the line numbers of the chunk's bodies
        started = time.perf_counter()

        def refuse(number: int, message: str) -> None:
            counts["refused"] += 1
            progress.write(f"line {number}: {message}")

        def bodies() -> Iterator[Any]:
            for number, line in _lines(stream, progress):
                if line is TOO_LONG:
                    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
                    refuse(number, str(RequestTooLarge(limit).detail))
                    continue
                if not line.strip():
                    continue
                try:
                    body = parse_json(line)
                except ParseError as error:
                    refuse(number, str(error.detail))
                    continue
                numbers.append(number)
                yield body

        for results in order_bodies_import(
            bodies=bodies(), user=user, via="import_orders", chunk_size=chunk
        ):
            first = results[0].index
            for result in results:
                outcome = _outcome(result)
                if outcome == "refused":
                    assert result.error is not None
                    refuse(numbers[result.index - first], result.error["message"])
                else:
                    counts[outcome] += 1
            del numbers[: len(results)]
            progress.show(counts)
        seconds = time.perf_counter() - started
        progress.done(counts)
        done = sum(counts.values())
        self.stdout.write(
            f"{counts['created']:,} created, {counts['existing']:,} existing, "
            f"{counts['refused']:,} refused: {done:,} orders in {seconds:.1f} s "
            f"({done / seconds if seconds else 0:,.0f} orders/s)."
        )
        return counts


# Stands for a line longer than a request body may be (a real line is never b"").
TOO_LONG = b""


def _lines(stream: IO[bytes], progress: "Progress") -> Iterator[tuple[int, bytes]]:
    """The file's lines with their numbers, each read only up to the size a request
    body may be: a longer one is skipped to its end and stands as ``TOO_LONG``."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    number = 0
    while line := stream.readline(limit + 1):
        number += 1
        progress.read += len(line)
        if len(line) > limit and not line.endswith(b"\n"):
            while rest := stream.readline(limit):
                progress.read += len(rest)
                if rest.endswith(b"\n"):
                    break
            line = TOO_LONG
        yield number, line


def _outcome(result: OrderImported) -> str:
    """created, existing (refused only because its backend ID is stored) or refused."""
    if result.order is not None:
        return "created"
    errors = (result.error or {}).get("errors", [])
    if errors and all(e["code"] == "unique" and e["field"] == "backend_id" for e in errors):
        return "existing"
    return "refused"


class Progress:
    """A bar redrawn in place on a terminal; a line every ``PROGRESS_EVERY`` seconds
    otherwise."""

    def __init__(self, out: OutputWrapper, *, size: int | None) -> None:
        self.out = out
        self.size = size
        self.read = 0
        self.tty = out.isatty()
        self.started = self.last = time.perf_counter()

    def _line(self, counts: dict[str, int]) -> str:
        done = sum(counts.values())
        rate = done / max(time.perf_counter() - self.started, 1e-9)
        text = (
            f"{done:,} orders ({counts['created']:,} created, {counts['existing']:,} "
            f"existing, {counts['refused']:,} refused), {rate:,.0f}/s"
        )
        if not self.size:
            return text
        share = min(self.read / self.size, 1.0)
        if not self.tty:
            return f"{share:.0%} of the file: {text}"
        filled = round(share * BAR_WIDTH)
        return f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {share:4.0%} {text}"

    def show(self, counts: dict[str, int]) -> None:
        now = time.perf_counter()
        if self.tty:
            self.out.write("\r\x1b[K" + self._line(counts), ending="")
            self.out.flush()
        elif now - self.last >= PROGRESS_EVERY:
            self.out.write(self._line(counts))
            self.last = now

    def write(self, message: str) -> None:
        """A line of its own (a refusal), above the bar."""
        self.out.write(("\r\x1b[K" if self.tty else "") + message)

    def done(self, counts: dict[str, int]) -> None:
        if self.tty:
            self.out.write("\r\x1b[K" + self._line(counts))
