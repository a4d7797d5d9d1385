"""``manage.py fuzz_sheets``: generated and mutated sheets through every reader of sheet text.

    manage.py fuzz_sheets --count 1000000 --seed 18 --timeout 5 --jobs 2
    manage.py fuzz_sheets --replay /tmp/fuzz-sheets-18/crash-18-4711.sheet
    manage.py fuzz_sheets --seed 18 --show 4711 > input.sheet

Runs inputs ``--start`` to ``--start + --count`` of ``--seed`` (``language/fuzz.py``
says how they are made) through check, compile, format, the visual editor and the
engine's plan, in ``--jobs`` worker processes, and prints the figures: inputs,
crashes, failures, hangs (a stage over ``--timeout`` seconds of CPU time), the
slowest input and stage, the time taken, and the command. Every crashing, failing or
hanging input (a few per distinct fault) is written to ``--out`` with what went
wrong. Exits 1 if anything was found. No database is needed.
"""

import json
import shlex
import sys
import tempfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from ...engine.plan import plan_for
from ...language import fuzz

# The engine's plan of a sheet (statement texts by line, steps by scope) reads the
# sheet's text too: it is examined with the language's own readers.
STAGES: tuple[fuzz.Stage, ...] = (("plan", plan_for),)


def default_corpus() -> list[Path]:
    """The demo sheets, and the reference sheets the tests hold (when they are there)."""
    root = Path(settings.BASE_DIR)
    return [
        root / "orchestration" / "demo" / "sheets",
        root / "tests" / "language" / "golden",
        root / "tests" / "scenarios",
    ]


class Command(BaseCommand):
    help = "Fuzz the sheet language: generated and mutated sheets through every reader."
    requires_system_checks: list[str] = []  # no database
    requires_migrations_checks = False

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--count", type=int, default=10_000, help="inputs (10,000)")
        parser.add_argument("--seed", type=int, default=0, help="the run's seed (0)")
        parser.add_argument("--start", type=int, default=0, help="the first input's index (0)")
        parser.add_argument(
            "--timeout", type=float, default=5.0, help="CPU seconds a stage may take (5)"
        )
        parser.add_argument("--jobs", type=int, default=1, help="worker processes (1)")
        parser.add_argument(
            "--out", type=Path, help="where problem inputs go (a folder in the temp directory)"
        )
        parser.add_argument("--summary", type=Path, help="also write the figures here, as JSON")
        parser.add_argument(
            "--progress-every", type=int, default=10_000, help="print progress every N inputs"
        )
        parser.add_argument(
            "--corpus",
            type=Path,
            nargs="+",
            help="sheet files or folders of .sheet and scenario .json files to mutate "
            "(the demo sheets and the tests' reference sheets)",
        )
        parser.add_argument("--replay", type=Path, nargs="+", help="examine these input files")
        parser.add_argument("--show", type=int, help="print input number SHOW of --seed")

    def handle(self, *args: Any, **options: Any) -> None:
        corpus = fuzz.load_corpus(options["corpus"] or default_corpus())
        if options["replay"]:
            self._replay(options["replay"], options["timeout"])
            return
        if options["show"] is not None:
            source = fuzz.generate(options["seed"], options["show"], corpus)
            sys.stdout.buffer.write(source.encode("utf-8", "surrogatepass"))
            return
        seed, start, count = options["seed"], options["start"], options["count"]
        out = options["out"] or Path(tempfile.gettempdir()) / f"fuzz-sheets-{seed}"
        command = "manage.py fuzz_sheets " + shlex.join(sys.argv[2:])
        self.stdout.write(
            f"fuzz_sheets: seed {seed}, inputs {start:,} to {start + count - 1:,}, "
            f"{options['jobs']} job(s), {options['timeout']:g} s per stage, "
            f"{len(corpus)} corpus sheets; problem inputs go to {out}"
        )
        figures = fuzz.run(
            seed=seed,
            count=count,
            start=start,
            corpus=corpus,
            timeout=options["timeout"],
            jobs=options["jobs"],
            out=out,
            stages=STAGES,
            progress=self._progress,
            progress_every=options["progress_every"],
        )
        self._figures(figures, command)
        if options["summary"]:
            summary = {**figures.as_json(), "command": command, "out": str(out)}
            options["summary"].write_text(json.dumps(summary, indent=2) + "\n")
        if figures.crashes or figures.failures or figures.hangs:
            sys.exit(1)

    def _progress(self, figures: fuzz.Figures) -> None:
        self.stdout.write(
            f"{figures.inputs:,} inputs, {figures.crashes} crashes, {figures.failures} "
            f"failures, {figures.hangs} hangs, {figures.wall_seconds:,.0f} s"
        )
        self.stdout.flush()

    def _figures(self, figures: fuzz.Figures, command: str) -> None:
        slowest_cpu, slowest_index = figures.slowest[0] if figures.slowest else (0.0, -1)
        stage_cpu, stage, stage_index = figures.slowest_stage
        rows = [
            ("inputs", f"{figures.inputs:,}"),
            ("crashes", f"{figures.crashes}"),
            ("failures", f"{figures.failures}"),
            ("hangs", f"{figures.hangs}"),
            ("slowest input", f"{slowest_cpu:.3f} s CPU (index {slowest_index})"),
            ("slowest stage", f"{stage_cpu:.3f} s CPU ({stage}, index {stage_index})"),
            ("CPU time", f"{figures.cpu_seconds:,.0f} s"),
            ("run time", f"{figures.wall_seconds:,.0f} s"),
            ("seed", f"{figures.seed}"),
            ("command", command),
        ]
        for name, value in rows:
            self.stdout.write(f"{name:<14}{value}")
        for fault, count in figures.faults.most_common():
            self.stdout.write(f"{count:>8,}  {fault}")
        for name in figures.written:
            self.stdout.write(f"written: {name}")

    def _replay(self, paths: list[Path], timeout: float) -> None:
        found = 0
        for path in paths:
            source = fuzz.read_input(path)
            problems = fuzz.examine(source, STAGES, limit=timeout)
            found += len(problems)
            self.stdout.write(f"{path}: {len(source):,} characters, {len(problems)} problems")
            for problem in problems:
                self.stdout.write(f"  {problem.kind} in {problem.stage}: {problem.message}")
                if problem.detail:
                    self.stdout.write(problem.detail)
        if found:
            sys.exit(1)
