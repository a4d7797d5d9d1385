"""``manage.py simulate SCENARIO.json [--at ISO] [--pretty]``: route a scenario, no database.

Loads a scenario file (``docs/scenario-format.md``), routes its order with
the engine and prints the orchestration details (the blob) as JSON. ``--at``
overrides the scenario's clock. A file that cannot be read, is not JSON or breaks
the format exits with status 2 and one line on standard error naming the fault's
JSON path, ``simulate: order.lines[1].product: unknown product 7``, never a
traceback. The route provider (travel distances and times) is the class named by
the setting ``ORCHESTRATION_ROUTE_PROVIDER``, if any.
"""

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ... import engine
from ...engine.routes import RouteProvider
from ...engine.scenario import ScenarioError, load_scenario_text, parse_instant
from ...integrations.routes import route_provider

USAGE_ERROR = 2


class Command(BaseCommand):
    help = (
        "Route the order of a scenario file without a database and print the "
        "orchestration details as JSON."
    )
    requires_system_checks: list[str] = []  # a simulation needs no database
    requires_migrations_checks = False

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("scenario", type=Path, metavar="SCENARIO.json")
        parser.add_argument(
            "--at",
            metavar="ISO-8601",
            help="route at this time instead of the scenario's 'at', with an offset "
            "(e.g. 2026-11-22T09:00:00+01:00)",
        )
        parser.add_argument("--pretty", action="store_true", help="indent the JSON")

    def execute(self, *args: Any, **options: Any) -> str | None:
        try:
            return super().execute(*args, **options)
        except CommandError as error:
            # Django would print "CommandError: ..."; faults read "simulate: PATH: message".
            if not getattr(self, "_called_from_command_line", False) or options.get("traceback"):
                raise
            self.stderr.write(f"simulate: {error}")
            sys.exit(error.returncode)

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["scenario"]
        try:
            at = None if options["at"] is None else parse_instant(options["at"], "--at")
            text = _read_text(path)
            scenario = load_scenario_text(text)
        except ScenarioError as error:
            raise CommandError(str(error), returncode=USAGE_ERROR) from error
        if at is not None:
            scenario = replace(scenario, at=at)
        decision = engine.route(scenario, route_provider=_route_provider())
        self.stdout.write(
            json.dumps(decision.blob, indent=2 if options["pretty"] else None, ensure_ascii=False)
        )


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ScenarioError(str(path), f"cannot read it: {error.strerror}") from error
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ScenarioError(
            str(path), f"not UTF-8 text (byte 0x{data[error.start]:02x} at offset {error.start})"
        ) from None


def _route_provider() -> RouteProvider | None:
    """An instance of the class ``ORCHESTRATION_ROUTE_PROVIDER`` names, or None if unset."""
    try:
        return route_provider()
    except ImportError as error:
        raise CommandError(
            f"ORCHESTRATION_ROUTE_PROVIDER: cannot import "
            f"{settings.ORCHESTRATION_ROUTE_PROVIDER!r}: {error}",
            returncode=USAGE_ERROR,
        ) from error
