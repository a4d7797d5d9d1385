"""What a plan's automatic steps run: auto tasks (registered callables) and callouts.

An ``AUTO_TASK`` step names a handler; ``ORCHESTRATION_STEP_HANDLERS`` (a Django
setting, like ``ORCHESTRATION_EXPORTERS``) maps each name to a dotted path of a
callable ``handler(context: StepContext) -> None``. The suite ships the handlers
its demo plans use (``BUILT_IN``); a retailer adds its own by name, without
touching the plans' code. A ``CALLOUT`` step posts JSON to its URL with the
step's ``Idempotency-Key``, the same on every retry, so a downstream system that
received a request whose answer was lost sees the retry as the same request.

A handler returns (the step is done) or raises ``StepError`` with a code, which
the fallout rules match; anything else it raises is the code ``Unexpected``.
Retrying is the caller's (``services/plans.py``).
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

from .http import DeliveryError, post_json


class StepError(Exception):
    """The step did not do its work; ``code`` is what fallout rules match."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class StepContext:
    """What a handler gets: the step, its order and, for a line-scoped step, its line."""

    step_id: int
    step_key: str
    order_id: int
    order_backend_id: str
    line_id: int | None
    fulfillment_id: int | None
    idempotency_key: str
    attempt: int
    record: Mapping[str, Any] = field(default_factory=dict)


Handler = Callable[[StepContext], None]


def succeed(context: StepContext) -> None:
    """A step that has nothing to do but be recorded (an invoice booked elsewhere)."""


def fail(context: StepContext) -> None:
    """Always fails: for trying fallout and retry policies out."""
    raise StepError("AlwaysFails", f"step {context.step_key} is configured to fail")


BUILT_IN: dict[str, str] = {
    "succeed": f"{__name__}.succeed",
    "fail": f"{__name__}.fail",
}


def handler_names() -> list[str]:
    """Every handler a step may name: the built-in ones and the configured ones."""
    return sorted({*BUILT_IN, *getattr(settings, "ORCHESTRATION_STEP_HANDLERS", {})})


def handler_for(name: str) -> Handler:
    """The handler called ``name``; ``StepError`` (``UnknownHandler``) if there is none."""
    configured: Mapping[str, str] = getattr(settings, "ORCHESTRATION_STEP_HANDLERS", {})
    path = configured.get(name) or BUILT_IN.get(name)
    if path is None:
        raise StepError(
            "UnknownHandler",
            f"no step handler named {name!r} (known: {', '.join(handler_names())})",
        )
    try:
        handler: Handler = import_string(path)
    except ImportError as error:
        raise StepError(
            "UnknownHandler", f"step handler {name!r} cannot be loaded: {error}"
        ) from error
    return handler


def callout(
    *,
    url: str,
    payload: Mapping[str, Any],
    idempotency_key: str,
    timeout: float,
    method: str = "POST",
) -> None:
    """Send ``payload`` to ``url`` with ``method`` (the step's: POST, PUT, PATCH or DELETE);
    ``StepError`` (``CalloutFailed``) if it is not taken."""
    try:
        post_json(
            url,
            dict(payload),
            headers={"Idempotency-Key": idempotency_key},
            timeout=timeout,
            method=method or "POST",
            guarded=True,
        )
    except DeliveryError as error:
        raise StepError("CalloutFailed", str(error)) from error
