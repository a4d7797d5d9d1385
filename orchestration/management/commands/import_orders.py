"""``manage.py import_orders FILE.jsonl [--user NAME] [--chunk N] [--jobs J]``: orders from a file.

One order a line, each the JSON body ``POST /api/orders/`` takes, validated and stored
as ``POST /api/orders/bulk/`` does (``api/order_imports.py``: each order on its own, a
chunk per transaction). The file is read a chunk at a time, so a file of millions of
orders takes no more memory than a chunk (with ``--jobs J``, 2 x J chunks).

- A refused line is reported on stderr with its line number and the error message
  ``POST /api/orders/`` would answer, and skipped; the exit status is then 1.
- A line whose ``backend_id`` was stored before the import began counts as existing,
  not refused: an import that stopped half-way is run again on the same file and takes
  up where it stopped (orders without a backend ID would be stored twice: give them
  one). A backend ID an earlier line of the file took is refused, with its line.
- ``--jobs J``: J processes import chunks side by side (PostgreSQL), each chunk its
  own transaction as in one process; refusals are still reported in the file's order.
  Two lines of one backend ID in chunks stored at the same time: which one is created
  is not fixed (in one process, the first), the other counts as existing.
- Ctrl-C or SIGTERM: the chunks under way are finished, the rest not begun; exit
  status 130 with what was stored, and running it again goes on from there.
- Progress on stderr: a bar redrawn in place on a terminal, a line every
  ``PROGRESS_EVERY`` seconds otherwise (a log file); a summary at the end.
"""

import multiprocessing
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper
from django.db import connection
from django.utils import timezone
from rest_framework.exceptions import ParseError

from ...api.order_imports import OrderImported, order_bodies_import
from ...api.parsers import RequestTooLarge, parse_json
from ...models import Order
from ...services.order_imports import ORDERS_PER_CHUNK
from ..spawned import django_started

# Seconds between progress lines when stderr is not a terminal.
PROGRESS_EVERY = 10.0
BAR_WIDTH = 30
# The most orders a transaction may hold: a chunk's lookups and INSERTs grow with it.
MAX_CHUNK = 10_000
# The most importing processes: each holds a database connection and a chunk's
# transaction; beyond the cores of the database and of this machine they only queue.
MAX_JOBS = 32


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
        parser.add_argument(
            "--jobs",
            type=int,
            default=1,
            help="Processes importing chunks side by side (default 1; about one per core "
            "the database and this machine have to spare; PostgreSQL only).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        chunk: int = options["chunk"]
        if not 1 <= chunk <= MAX_CHUNK:
            raise CommandError(f"--chunk is 1 to {MAX_CHUNK:,} orders.")
        user = None
        if options["user"] is not None:
            user = User.objects.filter(username=options["user"]).first()
            if user is None:
                raise CommandError(f"There is no user {options['user']!r}.")
        jobs: int = options["jobs"]
        if not 1 <= jobs <= MAX_JOBS:
            raise CommandError(f"--jobs is 1 to {MAX_JOBS} processes.")
        if jobs > 1 and connection.vendor != "postgresql":
            raise CommandError(
                f"--jobs above 1 needs PostgreSQL: {connection.vendor} takes one writer at a "
                "time, so processes side by side would only wait for each other."
            )
        if jobs > 1 and connection.in_atomic_block:
            raise CommandError(
                "--jobs above 1 cannot run inside a transaction: its processes would not "
                "see what the transaction holds, and each commits its own chunks."
            )
        path: Path = options["file"]
        if str(path) == "-":
            counts = self._import(sys.stdin.buffer, size=None, user=user, chunk=chunk, jobs=jobs)
        else:
            try:
                stream = path.open("rb")
            except OSError as error:
                raise CommandError(f"Cannot read {path}: {error.strerror}.") from error
            with stream:
                counts = self._import(
                    stream, size=path.stat().st_size, user=user, chunk=chunk, jobs=jobs
                )
        refused = counts["refused"]
        if refused:
            raise CommandError(
                f"{refused:,} line{'s' if refused != 1 else ''} refused.", returncode=1
            )

    def _import(
        self, stream: IO[bytes], *, size: int | None, user: User | None, chunk: int, jobs: int
    ) -> dict[str, int]:
        progress = Progress(self.stderr, size=size)
        counts = {"created": 0, "existing": 0, "refused": 0}
        started = time.perf_counter()
        since = timezone.now()

        def refuse(number: int, message: str) -> None:
            counts["refused"] += 1
            progress.write(f"line {number}: {message}")

        def stored(chunk_read: Chunk, outcomes: list[Outcome]) -> None:
            """Count a chunk's outcomes; report its refusals in the file's order."""
            refusals = list(chunk_read.unread)
            for number, (outcome, message) in zip(chunk_read.numbers, outcomes, strict=True):
                if outcome == "refused":
                    refusals.append((number, message))
                else:
                    counts[outcome] += 1
            for number, message in sorted(refusals):
                refuse(number, message)
            progress.show(counts)

        # SIGTERM (kill, timeout, a service stopping) stops the import as Ctrl-C does:
        # the chunks under way are finished (each is one transaction), the rest not
        # begun, and every process (with --jobs, the children too) exits.
        previous = signal.signal(signal.SIGTERM, _interrupted)
        try:
            if jobs == 1:
                for chunk_read in _chunks(stream, progress, chunk):
                    outcomes = chunk_outcomes(bodies=chunk_read.bodies, user=user, since=since)
                    stored(chunk_read, outcomes)
            else:
                _in_parallel(
                    _chunks(stream, progress, chunk),
                    jobs=jobs,
                    user_id=user.pk if user else None,
                    since=since,
                    stored=stored,
                )
        except KeyboardInterrupt:
            progress.done(counts)
            raise CommandError(
                f"Stopped: {_summary(counts, time.perf_counter() - started)} A chunk under "
                "way then may be stored too. Run the same command again to go on: what "
                "was stored counts as existing.",
                returncode=130,
            ) from None
        finally:
            signal.signal(signal.SIGTERM, previous)
        progress.done(counts)
        self.stdout.write(_summary(counts, time.perf_counter() - started))
        return counts


def _interrupted(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _summary(counts: dict[str, int], seconds: float) -> str:
    done = sum(counts.values())
    return (
        f"{counts['created']:,} created, {counts['existing']:,} existing, "
        f"{counts['refused']:,} refused: {done:,} orders in {seconds:.1f} s "
        f"({done / seconds if seconds else 0:,.0f} orders/s)."
    )


# What became of one body: created, existing or refused, and the refusal's message.
Outcome = tuple[str, str]


@dataclass
class Chunk:
    """A chunk as read: its bodies and their line numbers, and the lines read with them
    that are no body (not JSON, too long) with their refusal."""

    numbers: list[int]
    bodies: list[Any]
    unread: list[tuple[int, str]]


def chunk_outcomes(*, bodies: list[Any], user: User | None, since: datetime) -> list[Outcome]:
    """Validate and store one chunk's bodies (one transaction); each body's outcome.

    A body refused only because its backend ID is stored is *existing* if that order
    was there before the import began (``since``), so that an import run again goes
    on; if it was created since, it is refused as a duplicate: an earlier line of the
    file had the same backend ID (or someone else took it meanwhile), and this line's
    content would otherwise be dropped without a word.
    """
    outcomes: list[Outcome] = []
    if not bodies:
        return outcomes
    for results in order_bodies_import(
        bodies=bodies, user=user, via="import_orders", chunk_size=len(bodies)
    ):
        for result in results:
            outcome = _outcome(result)
            outcomes.append((outcome, (result.error or {}).get("message", "")))
    existing = {
        _backend_id(body): index
        for index, (body, (outcome, _)) in enumerate(zip(bodies, outcomes, strict=True))
        if outcome == "existing"
    }
    if existing:
        taken_since = Order.objects.filter(
            backend_id__in=list(existing), created_at__gte=since
        ).values_list("backend_id", flat=True)
        for backend_id in taken_since:
            outcomes[existing[str(backend_id)]] = (
                "refused",
                f"backend_id: An order with backend ID {backend_id!r} was created by an "
                "earlier line of this file (or by someone else since the import began).",
            )
    return outcomes


def _backend_id(body: Any) -> str:
    """A body's backend ID as the serializer compared it (trimmed)."""
    return str(body.get("backend_id")).strip()


# The user of this process's chunks, read once per process (``_in_parallel``'s children).
_users: dict[int, User] = {}


def _child_chunk_outcomes(bodies: list[Any], user_id: int | None, since: datetime) -> list[Outcome]:
    """``chunk_outcomes`` in a child of ``_in_parallel``: the user by its ID."""
    user = None
    if user_id is not None:
        user = _users.get(user_id) or _users.setdefault(user_id, User.objects.get(pk=user_id))
    return chunk_outcomes(bodies=bodies, user=user, since=since)


def _in_parallel(
    chunks: Iterator[Chunk],
    *,
    jobs: int,
    user_id: int | None,
    since: datetime,
    stored: Callable[[Chunk, list[Outcome]], None],
) -> None:
    """``chunks`` imported by ``jobs`` processes side by side, each chunk in its own
    transaction as in one process; their outcomes reported in the file's order.

    The children are spawned (fresh interpreters), not forked: a process forked while
    another of its threads holds a lock (logging's, a connection pool's, a broker
    client's) inherits the lock held and waits for it for ever, inside its chunk's
    transaction, and so do the tables' other users. Each child sets Django up and opens
    its own connection to the parent's database. At most ``jobs * 2`` chunks are read
    ahead of the last one reported, so memory stays a few chunks whatever the file's
    size.
    """
    pool = ProcessPoolExecutor(
        jobs,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=django_started,
        initargs=(connection.settings_dict["NAME"],),
    )
    pending: deque[tuple[Chunk, Future[list[Outcome]]]] = deque()
    try:
        for chunk_read in chunks:
            future = pool.submit(_child_chunk_outcomes, chunk_read.bodies, user_id, since)
            pending.append((chunk_read, future))
            while len(pending) >= jobs * 2:
                chunk_done, future = pending.popleft()
                stored(chunk_done, future.result())
        while pending:
            chunk_done, future = pending.popleft()
            stored(chunk_done, future.result())
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _chunks(stream: IO[bytes], progress: "Progress", chunk: int) -> Iterator[Chunk]:
    """The file's bodies a chunk at a time, with their line numbers, and the
    lines among them that are no body, with their refusal."""
    chunk_read = Chunk([], [], [])
    for number, line in _lines(stream, progress):
        if line is TOO_LONG:
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            chunk_read.unread.append((number, str(RequestTooLarge(limit).detail)))
        elif not line.strip():
            continue
        else:
            try:
                body = parse_json(line)
            except ParseError as error:
                chunk_read.unread.append((number, str(error.detail)))
            else:
                chunk_read.numbers.append(number)
                chunk_read.bodies.append(body)
        # A chunk is its lines, bodies or not: a file of lines that are no body
        # (a CSV given by mistake) is reported as it is read, and never held.
        if len(chunk_read.bodies) + len(chunk_read.unread) >= chunk:
            yield chunk_read
            chunk_read = Chunk([], [], [])
    if chunk_read.bodies or chunk_read.unread:
        yield chunk_read


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
