"""Sign-in throttling: failed attempts counted per user name and per client address.

Contract. Every sign-in (the Suite's login page, the admin's, ``POST
/api/auth/token/``) is refused, with 429 and ``Retry-After``, while its user name
is locked or its client address is: a user name is locked for
``SIGNIN_LOCKOUT_MINUTES`` once it has had ``SIGNIN_FAILURES_PER_USER`` failed
attempts within that many minutes, an address once it has had
``SIGNIN_FAILURES_PER_ADDRESS``. A refused attempt is not tried at all, so the
right password is refused too: a guesser learns nothing during a lockout. A
successful sign-in clears its user name's count; not its address's, or one
person's success would wipe out another's guessing from the same address.

Failures are counted where Django reports them (the ``user_login_failed`` signal,
sent by ``authenticate()`` whichever page called it); successes where a user is
signed in (``user_logged_in``) or given a token (``signin_succeeded``).

Why the cache: the counts must be shared by every web process and expire on their
own. ``settings.CACHES`` is Redis or a database table, never per-process memory.
A count is a fixed window from its first failure (``cache.add`` then
``cache.incr``); two processes racing on the database cache may each miss the
other's increment, which at worst allows a few more tries, never fewer.
"""

import functools
import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.forms import UsernameField
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render
from django.utils import timezone

# Cache keys are hashed: a user name may hold any character and any length.
KEY_PREFIX = "signin"


@dataclass(frozen=True, slots=True)
class Lockout:
    """A refused sign-in: for how long, and until when."""

    seconds: int

    @property
    def until(self) -> datetime:
        return timezone.now() + timedelta(seconds=self.seconds)

    @property
    def minutes(self) -> int:
        return math.ceil(self.seconds / 60)


def client_address(request: Any) -> str:
    """The client's IP address: ``REMOTE_ADDR``, or, behind ``NUM_PROXIES`` proxies,
    the address the outermost trusted proxy saw (``X-Forwarded-For`` read from the
    right, since a client can put anything at its left)."""
    remote = str(request.META.get("REMOTE_ADDR") or "")
    proxies = settings.NUM_PROXIES
    forwarded = [
        address.strip()
        for address in str(request.META.get("HTTP_X_FORWARDED_FOR") or "").split(",")
        if address.strip()
    ]
    if proxies <= 0 or not forwarded:
        return remote
    return forwarded[-min(proxies, len(forwarded))]


def _key(kind: str, value: str) -> str:
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{KEY_PREFIX}:{kind}:{digest}"


def _subjects(username: str | None, address: str | None) -> list[tuple[str, int]]:
    """The counters a sign-in touches: (cache key, failures allowed)."""
    subjects = []
    if username:
        subjects.append((_key("user", username), settings.SIGNIN_FAILURES_PER_USER))
    if address:
        subjects.append((_key("address", address), settings.SIGNIN_FAILURES_PER_ADDRESS))
    return subjects


def signin_lockout(*, username: str | None, address: str | None) -> Lockout | None:
    """The lockout that refuses a sign-in as ``username`` from ``address``, if any."""
    now = time.time()
    keys = [f"{key}:locked" for key, _ in _subjects(username, address)]
    until = max((float(value) for value in cache.get_many(keys).values()), default=0.0)
    if until <= now:
        return None
    return Lockout(seconds=math.ceil(until - now))


def signin_failed(*, username: str | None, address: str | None) -> None:
    """Count one failed sign-in; lock the user name or address that reached its limit."""
    period = settings.SIGNIN_LOCKOUT_MINUTES * 60
    for key, limit in _subjects(username, address):
        cache.add(key, 0, timeout=period)
        try:
            failures = cache.incr(key)
        except ValueError:  # the window ran out between add and incr
            cache.set(key, 1, timeout=period)
            failures = 1
        if failures >= limit:
            cache.set(f"{key}:locked", time.time() + period, timeout=period)
            cache.delete(key)


def signin_succeeded(*, username: str) -> None:
    """Forget the failed sign-ins of ``username`` (a lockout in force stays)."""
    cache.delete(_key("user", username))


def _username(credentials: dict[str, Any]) -> str | None:
    from django.contrib.auth import get_user_model

    value = credentials.get(get_user_model().USERNAME_FIELD)
    return value if isinstance(value, str) else None


def on_user_login_failed(
    sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any
) -> None:
    """``user_login_failed`` receiver: count the failure."""
    signin_failed(
        username=_username(credentials),
        address=client_address(request) if request is not None else None,
    )


def on_user_logged_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """``user_logged_in`` receiver: the user name's failures are forgiven."""
    signin_succeeded(username=user.get_username())


def lockout_response(request: HttpRequest, lockout: Lockout) -> HttpResponse:
    """The page a locked-out sign-in gets: 429, when to try again, ``Retry-After``."""
    response = render(
        request,
        "registration/locked_out.html",
        {"lockout": lockout, "until": timezone.localtime(lockout.until)},
        status=429,
    )
    response["Retry-After"] = str(lockout.seconds)
    return response


def throttle_sign_in(
    view: Callable[..., HttpResponseBase],
) -> Callable[..., HttpResponseBase]:
    """Wrap a login page's view: a POST during a lockout gets the lockout page."""

    @functools.wraps(view)
    def throttled(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.method == "POST":
            # Cleaned as the login form cleans it, so that "name " counts as "name".
            username = UsernameField().to_python(request.POST.get("username"))
            lockout = signin_lockout(username=username or None, address=client_address(request))
            if lockout is not None:
                return lockout_response(request, lockout)
        return view(request, *args, **kwargs)

    return throttled
