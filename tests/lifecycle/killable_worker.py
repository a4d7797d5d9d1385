"""A real Celery worker process for ``test_worker_killed.py`` and
``test_plan_worker_killed.py``, which kill it with SIGKILL.

``python -m tests.lifecycle.killable_worker --queue Q --side-queue S --journal J [--hang M]
[--hang-step M] [--step-journal H] [--lease-grace G] [--extra-queue E]`` runs one worker
(prefork with one child, or solo) on queue ``Q`` (and any ``E``) with the project's settings
(or those ``DJANGO_SETTINGS_MODULE`` names) (DATABASE_URL and
CELERY_BROKER_URL come from the environment the test gives it). Each task a worker starts
is appended to the journal ``J``, so the test sees who ran what, and whether as a
redelivery.

- ``--hang``: the orchestration stops at the COMMIT that would finish its run: it writes
  to ``M`` what the open transaction holds and then waits, so the test can kill it exactly
  there. That is the moment that matters for idempotency: everything of the run (its
  details, fulfilments, reservations, statuses) is written, and none of it may survive the
  kill.
- ``--hang-step``: a plan step's run (``plan_step_run_task``) stops at the COMMIT of its
  outcome, the first whose open transaction holds that step's attempt Completed: the
  handler has run, and the attempt's outcome, the step's state and the next steps' moves
  are written but die with the worker.
- ``--step-journal``: the handler ``journaled`` (``ORCHESTRATION_STEP_HANDLERS``) appends
  to ``H`` which worker ran which step's attempt, with which idempotency key.
- ``--lease-grace``: ``ORCHESTRATION_PLAN_STEP_LEASE_GRACE_SECONDS`` in this worker's
  environment, so a step's attempt left Running by a killed worker is lost after seconds,
  not a minute.

On Redis, the broker settings let a worker hand out again, after ``--visibility-timeout``
seconds (an hour by default), a message another worker took and never acknowledged, and
keep this test's keys apart from anything else in the same Redis database (other runs,
other workers). RabbitMQ ignores them: it puts a dead worker's message back in its queue
itself, and the test's queues are its own.
"""

import argparse
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

# Long enough to never end on its own during a test; the test kills the worker first.
HANG_SECONDS = 600
ORCHESTRATE_TASK = "orchestration.tasks.order_orchestrate_task"
PLAN_STEP_TASK = "orchestration.tasks.plan_step_run_task"
# Where ``journaled_step`` writes, and the worker's label: in the environment, which the
# pool's child inherits (the handler is imported there by name, not from ``__main__``).
STEP_JOURNAL = "KILLABLE_WORKER_STEP_JOURNAL"
LABEL = "KILLABLE_WORKER_LABEL"
# ``journaled_step`` by its module's name: run with -m, this module is __main__ here.
JOURNALED_HANDLER = "tests.lifecycle.killable_worker.journaled_step"


def transport_options(queue: str, visibility_timeout: float = 3600) -> dict[str, Any]:
    """Kombu's Redis options of a worker on ``queue``; the test reads the same keys."""
    return {
        # This worker's sweep hands out again any message of the queue that a worker (this
        # one included) took this many seconds ago and has not acknowledged.
        "visibility_timeout": visibility_timeout,
        # Sweep every second (by default a sweep scans Redis only every 10 x 10 s).
        "unacked_restore_interval": 1,
        "unacked_restore_throttle": 1,
        # The unacked bookkeeping is one hash per Redis database by default; a private
        # one keeps this worker from redelivering other workers' messages, and theirs ours.
        "unacked_key": f"{queue}.unacked",
        "unacked_index_key": f"{queue}.unacked_index",
        "unacked_mutex_key": f"{queue}.unacked_mutex",
    }


def _wait_for_parent_to_die(seconds: float) -> None:
    """Wait up to ``seconds`` while this process's parent lives; exit once it is gone."""
    parent = os.getppid()
    deadline = time.monotonic() + seconds
    while os.getppid() == parent and time.monotonic() < deadline:
        time.sleep(0.2)
    if os.getppid() != parent:
        os._exit(1)


def _exit_with_parent() -> None:
    """Stop when the test process is gone, so a worker is never left holding database locks."""
    threading.Thread(target=_wait_for_parent_to_die, args=(float("inf"),), daemon=True).start()


def _hang_before_commit(marker: Path) -> None:
    """Make the worker stop for good at the COMMIT that would finish the order's run.

    That is the first commit after which the order has fulfilments and no longer needs
    routing. Every earlier commit goes through, so a run that commits part of its work
    before the end is caught with that part visible. The hook sits at the commit, not in
    the service, so it does not depend on how the orchestration writes its rows.
    """
    from celery.signals import task_prerun
    from django.db import connections
    from django.db.models import Sum

    from orchestration.models import OrchestrationDetails, Order, OrderFulfillment, Stock

    routing: list[int] = []  # the order the running orchestration task routes

    @task_prerun.connect(weak=False)
    def watch(task: Any, args: Any, kwargs: Any, **extra: Any) -> None:
        if task.name == ORCHESTRATE_TASK:
            routing[:] = [args[0] if args else kwargs["order_id"]]

    database = type(connections["default"])
    commit = database.commit

    def finishes_the_run() -> bool:
        finished = Order.objects.filter(needs_orchestration=False, fulfillments__isnull=False)
        return bool(routing) and finished.filter(pk=routing[0]).exists()

    def commit_or_hang(connection: Any) -> None:
        if finishes_the_run():
            # Seen from inside the open transaction: what the kill is about to throw away.
            order = Order.objects.get(pk=routing[0])
            written = {
                "order": order.pk,
                "needs_orchestration": order.needs_orchestration,
                "attempts": list(
                    OrchestrationDetails.objects.filter(order=order).values_list(
                        "attempt", flat=True
                    )
                ),
                "fulfillments": OrderFulfillment.objects.filter(order=order).count(),
                "units_reserved": Stock.objects.aggregate(units=Sum("quantity_reserved"))["units"],
            }
            # Written whole, then renamed: the test never reads half a file.
            partial = marker.with_suffix(".partial")
            partial.write_text(json.dumps(written))
            partial.replace(marker)
            # In the pool's child process: its parent is the worker, killed with it.
            _wait_for_parent_to_die(HANG_SECONDS)
        commit(connection)

    database.commit = commit_or_hang  # type: ignore[method-assign,assignment]


def _hang_at_step_outcome(marker: Path) -> None:
    """Make the worker stop for good at the COMMIT that would write a plan step's outcome.

    That is the first commit whose open transaction holds the running step's attempt
    Completed: the claim (the step In Progress, its attempt Running) commits before the
    handler runs and goes through. As for ``--hang``, the hook sits at the commit, not in
    the service.
    """
    from celery.signals import task_prerun
    from django.db import connections

    from orchestration.models import AttemptOutcome, PlanStep, PlanStepAttempt

    running: list[int] = []  # the step the running plan step task runs

    @task_prerun.connect(weak=False)
    def watch(task: Any, args: Any, kwargs: Any, **extra: Any) -> None:
        if task.name == PLAN_STEP_TASK:
            running[:] = [args[0] if args else kwargs["step_id"]]

    # A step's outcome is one statement in autocommit (services/plans.py): here it is
    # given a transaction of its own, so that the worker stops at its COMMIT, with
    # everything the statement wrote seen from inside, as a kill during it would leave
    # nothing of it.
    from django.db import transaction

    import orchestration.services.plans as plans

    outcome_store = plans.step_outcome_store

    def outcome_in_a_transaction(**kwargs: Any) -> bool:
        with transaction.atomic():
            return outcome_store(**kwargs)

    plans.step_outcome_store = outcome_in_a_transaction

    database = type(connections["default"])
    commit = database.commit

    def writes_the_outcome() -> bool:
        completed = PlanStepAttempt.objects.filter(outcome=AttemptOutcome.COMPLETED)
        return bool(running) and completed.filter(step_id=running[0]).exists()

    def commit_or_hang(connection: Any) -> None:
        if writes_the_outcome():
            # Seen from inside the open transaction: what the kill is about to throw away.
            step = PlanStep.objects.get(pk=running[0])
            attempts = PlanStepAttempt.objects.filter(step__plan_id=step.plan_id).order_by(
                "step_id", "number"
            )
            written = {
                "step": step.pk,
                # Each step of the plan: its state and its attempts' numbers and outcomes.
                "steps": {
                    key: [
                        state,
                        [[a.number, a.outcome] for a in attempts if a.step_id == step_id],
                    ]
                    for step_id, key, state in PlanStep.objects.filter(plan_id=step.plan_id)
                    .order_by("pk")
                    .values_list("pk", "definition__key", "state")
                },
            }
            partial = marker.with_suffix(".partial")
            partial.write_text(json.dumps(written))
            partial.replace(marker)
            _wait_for_parent_to_die(HANG_SECONDS)
        commit(connection)

    database.commit = commit_or_hang  # type: ignore[method-assign,assignment]


def journaled_step(context: Any) -> None:
    """A plan step's handler (``journaled``) that notes which worker ran which attempt of
    which step, with which idempotency key, and succeeds."""
    line = [os.environ[LABEL], context.step_id, context.attempt, context.idempotency_key]
    with Path(os.environ[STEP_JOURNAL]).open("a") as lines:
        lines.write(json.dumps(line) + "\n")


def _step_handler_register(step_journal: Path | None) -> None:
    """Register ``journaled_step``, writing to ``step_journal``, in this worker only."""
    from django.conf import settings

    if step_journal is not None:
        os.environ[STEP_JOURNAL] = str(step_journal)
        settings.ORCHESTRATION_STEP_HANDLERS = {
            **getattr(settings, "ORCHESTRATION_STEP_HANDLERS", {}),
            "journaled": JOURNALED_HANDLER,
        }


def _journal_deliveries(journal: Path, label: str) -> None:
    """Append a line per task this worker starts: which worker, which task, redelivered or not."""
    from celery.signals import task_prerun

    @task_prerun.connect(weak=False)
    def record(task_id: str, task: Any, **kwargs: Any) -> None:
        redelivered = bool((task.request.delivery_info or {}).get("redelivered"))
        with journal.open("a") as lines:
            lines.write(json.dumps([label, task.name, task_id, redelivered]) + "\n")


def main() -> None:
    """Parse the arguments, prepare the process as asked, and run the worker until killed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queue", required=True, help="the queue to consume")
    parser.add_argument(
        "--extra-queue", action="append", default=[], help="another queue to consume"
    )
    parser.add_argument("--side-queue", required=True, help="where tasks this worker sends go")
    parser.add_argument("--journal", type=Path, required=True, help="file of started tasks")
    parser.add_argument("--label", default="worker", help="this worker's name in the journal")
    parser.add_argument("--hang", type=Path, help="stop at the orchestration's commit; marker")
    parser.add_argument(
        "--hang-step", type=Path, help="stop at the commit of a plan step's outcome; marker"
    )
    parser.add_argument("--step-journal", type=Path, help="file of the journaled handler's runs")
    parser.add_argument("--lease-grace", type=int, help="a plan step's lease grace, seconds")
    parser.add_argument("--pool", choices=["prefork", "solo"], default="prefork")
    parser.add_argument("--visibility-timeout", type=float, default=3600)
    args = parser.parse_args()

    _exit_with_parent()
    os.environ[LABEL] = args.label
    if args.lease_grace is not None:  # read by settings.py
        os.environ["ORCHESTRATION_PLAN_STEP_LEASE_GRACE_SECONDS"] = str(args.lease_grace)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestration.settings")
    import django

    django.setup()
    from orchestration.celery import app

    if args.hang:
        _hang_before_commit(args.hang)
    if args.hang_step:
        _hang_at_step_outcome(args.hang_step)
    _step_handler_register(args.step_journal)
    _journal_deliveries(args.journal, args.label)
    from django.conf import settings

    print(f"Settings: {settings.SETTINGS_MODULE}", flush=True)  # for the test to see
    app.conf.broker_transport_options = {
        **app.conf.broker_transport_options,
        **transport_options(args.queue, args.visibility_timeout),
    }
    # What the orchestration sends after commit (exports) goes to a queue nobody consumes,
    # where the test counts it, rather than to the default queue other workers listen on.
    app.conf.task_default_queue = args.side_queue
    # No pidbox: other tests' broadcasts cannot reach this worker, nor its keys linger.
    app.conf.worker_enable_remote_control = False
    app.worker_main(
        [
            "worker",
            f"--pool={args.pool}",
            "--concurrency=1",
            f"--queues={','.join([args.queue, *args.extra_queue])}",
            f"--hostname={args.label}-{args.queue}@%h",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=INFO",
        ]
    )


if __name__ == "__main__":
    main()
