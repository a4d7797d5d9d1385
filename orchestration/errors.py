"""Errors raised by services, with a stable machine code for API clients."""

from typing import Any


class ApplicationError(Exception):
    """A request the domain refuses; the API turns it into a 400 (or ``status``).

    ``code`` is stable (clients branch on it), ``message`` is for people and
    ``field`` is the path of the input at fault, where there is one.
    """

    status = 400

    def __init__(
        self,
        message: str,
        *,
        code: str = "invalid",
        field: str | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.field = field
        self.errors = errors or [{"code": code, "message": message, "field": field}]


class ConflictError(ApplicationError):
    """The request clashes with the current state (a concurrent change)."""

    status = 409


class NotFoundError(ApplicationError):
    """What the request names does not exist."""

    status = 404


class ForbiddenError(ApplicationError):
    """The user may not do this to what the request names (it is not theirs to work)."""

    status = 403


class UnprocessableError(ApplicationError):
    """The request is well-formed but cannot be done as sent (an idempotency key reused)."""

    status = 422
