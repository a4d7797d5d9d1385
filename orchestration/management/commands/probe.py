"""``manage.py probe``: send hostile requests and count the answers (``orchestration.probe``).

``probe [--requests N] [--seed S]`` makes a throwaway database (the test database's
name, or ``probe_<NAME>`` on PostgreSQL), loads the demo retailer and a user per
role into it, sends N requests (2,500) through Django's test client and drops the
database. ``probe --url http://host:port [--login ROLE=USER:PASSWORD ...]`` sends them
to a running server instead, anonymously and as each role given a login (IDs 1 to 20
stand in for the database's). It prints the answers per status class and every 5xx
with its request; it exits with an error if there was one.
"""

import io
import logging
import secrets
import sys
import tempfile
from contextlib import ExitStack
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.test.utils import (
    override_settings,
    setup_test_environment,
    teardown_test_environment,
)

from ... import probe
from ...celery import app as celery_app
from ...demo import demo_load


class Command(BaseCommand):
    help = (
        "Send hostile requests (API writes, Suite pages and forms, admin lists) and print "
        "the answers per status class and every 5xx with its request."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--requests", type=int, default=2_500, help="how many (2,500)")
        parser.add_argument("--seed", type=int, default=1, help="the same seed sends the same")
        parser.add_argument("--url", help="a running server, e.g. http://127.0.0.1:8000")
        parser.add_argument(
            "--login",
            action="append",
            default=[],
            metavar="ROLE=USER:PASSWORD",
            help=f"with --url: sign in as this role (roles: {', '.join(probe.ROLES[1:])})",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["requests"] < 1:
            raise CommandError("--requests must be at least 1")
        send = self._over_http if options["url"] else self._through_test_client
        report = send(options)
        for line in report.lines():
            self.stdout.write(line)
        if report.server_errors:
            raise CommandError(f"{len(report.server_errors)} requests answered 5xx.")

    def _progress(self, total: int) -> Any:
        def write(number: int) -> None:
            if number % 250 == 0 or number == total:
                sys.stderr.write(f"\rsent {number:,} of {total:,}")
                if number == total:
                    sys.stderr.write("\n")

        return write

    def _over_http(self, options: dict[str, Any]) -> probe.Report:
        logins = {}
        for given in options["login"]:
            role, _, credentials = given.partition("=")
            username, _, password = credentials.partition(":")
            if role not in probe.ROLES[1:] or not username:
                raise CommandError(
                    f"--login {given!r}: give ROLE=USER:PASSWORD, ROLE one of "
                    f"{', '.join(probe.ROLES[1:])}."
                )
            logins[role] = (username, password)
        try:
            transport = probe.HttpTransport(options["url"], logins)
        except (ValueError, RuntimeError, OSError) as error:
            raise CommandError(str(error)) from error
        return probe.run(
            transport,
            probe.build_world(probe.guessed_ids()),
            count=options["requests"],
            seed=options["seed"],
            roles=("anonymous", *logins),
            progress=self._progress(options["requests"]),
        )

    def _through_test_client(self, options: dict[str, Any]) -> probe.Report:
        original = connection.settings_dict["NAME"]
        if connection.vendor != "sqlite":  # SQLite's test database is already a temporary file
            connection.settings_dict.setdefault("TEST", {})["NAME"] = f"probe_{original}"
        with ExitStack() as stack:
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="probe-"))
            stack.enter_context(
                override_settings(
                    ORCHESTRATION_WEBHOOK_URL="",
                    ORCHESTRATION_EXPORTERS={
                        name: {
                            "class": "orchestration.integrations.exporters.FolderExporter",
                            "folder": f"{folder}/{name}",
                        }
                        for name in ("ARVATO", "BONVER", "WAREHOUSE")
                    },
                )
            )
            setup_test_environment()
            stack.callback(teardown_test_environment)
            eager = celery_app.conf.task_always_eager
            celery_app.conf.task_always_eager = True  # no broker: the database is throwaway
            stack.callback(setattr, celery_app.conf, "task_always_eager", eager)
            # Each 5xx is in the report, with its exception; refusals are expected, and so
            # are the inline tasks: none of them goes to the log as well.
            for name in ("django.request", "django.security", "celery", "kombu"):
                log = logging.getLogger(name)
                stack.callback(log.setLevel, log.level)
                log.setLevel(logging.CRITICAL)
            connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
            stack.callback(connection.creation.destroy_test_db, original, verbosity=0)
            demo_load(stdout=io.StringIO(), password=secrets.token_urlsafe())
            transport = probe.TestClientTransport(probe.users_for_roles())
            stack.callback(transport.close)
            return probe.run(
                transport,
                probe.build_world(probe.database_ids()),
                count=options["requests"],
                seed=options["seed"],
                progress=self._progress(options["requests"]),
            )
