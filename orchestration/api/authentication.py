"""Token authentication whose tokens expire ``API_TOKEN_TTL_HOURS`` after they were made.

An expired token is refused with 401 ``token_expired`` (not the generic
``authentication_failed``), so a client knows to ask ``POST /api/auth/token/``
for a new one rather than suspect its key.

Every API request reads its token and the token's user, so the read is written out
(the tables' and columns' names from the models) rather than built by the ORM:
``select_related("user").get(key=...)`` cost 0.9 ms of CPU a request to build and
turn into objects, the statement itself 0.1 (``docs/performance.md``); on PostgreSQL it is prepared
on its connection once (``persistence.prepared_cursor``). It is plain
SQL that SQLite and PostgreSQL both run, and it answers as DRF's
``TokenAuthentication`` does: the same messages for an unknown key and an inactive
user, the token with its user attached.
"""

import functools
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connections, router
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from orchestration.selectors.accounts import api_token_expires_at
from orchestration.services.persistence import prepared_cursor


class ExpiringTokenAuthentication(TokenAuthentication):
    """DRF's ``Authorization: Token <key>``, refused once the token has expired."""

    def authenticate_credentials(self, key: str) -> tuple[Any, Any]:
        found = _token_with_user(self.get_model(), key)
        if found is None:
            # DRF's own words (and translations) for both refusals.
            raise AuthenticationFailed(_("Invalid token."))
        token, user = found
        if not user.is_active:
            raise AuthenticationFailed(_("User inactive or deleted."))
        if api_token_expires_at(token) <= timezone.now():
            raise AuthenticationFailed(
                "The token expired; get a new one from POST /api/auth/token/.",
                code="token_expired",
            )
        return user, token


def _token_with_user(model: Any, key: str) -> tuple[Any, Any] | None:
    """The token ``key`` and its user, as model instances, in one statement; None if no
    token has that key."""
    alias = router.db_for_read(model)
    connection = connections[alias]
    statement, token_fields, user_fields, converters = _statement(model, alias)
    with prepared_cursor(alias) as cursor:
        cursor.execute(statement, [key])
        found = cursor.fetchone()
    if found is None:
        return None
    row = list(found)
    for index, expression, functions in converters:  # what the ORM would do (SQLite's dates)
        for function in functions:
            row[index] = function(row[index], expression, connection)
    count = len(token_fields)
    token = model.from_db(alias, token_fields, row[:count])
    user = get_user_model().from_db(alias, user_fields, row[count:])
    token.user = user
    return token, user


Converter = tuple[int, Any, list[Any]]


@functools.cache
def _statement(model: Any, alias: str) -> tuple[str, list[str], list[str], list[Converter]]:
    """The statement reading a token by its key with its user; the attribute names of
    the token's and the user's columns in the order it reads them; and, by column, the
    converters the ORM would apply to what the database gives (none on PostgreSQL)."""
    connection = connections[alias]
    name = connection.ops.quote_name
    token_meta = model._meta
    user_meta = get_user_model()._meta
    user_key = token_meta.get_field("user")
    token_columns = [field for field in token_meta.concrete_fields]
    user_columns = [field for field in user_meta.concrete_fields]
    selected = [f"t.{name(str(field.column))}" for field in token_columns] + [
        f"u.{name(str(field.column))}" for field in user_columns
    ]
    statement = (
        f"SELECT {', '.join(selected)} FROM {name(token_meta.db_table)} t "  # noqa: S608
        f"JOIN {name(user_meta.db_table)} u "
        f"ON u.{name(str(user_meta.pk.column))} = t.{name(str(user_key.column))} "
        f"WHERE t.{name(str(token_meta.get_field('key').column))} = %s"
    )
    converters = []
    for index, field in enumerate(token_columns + user_columns):
        expression = field.get_col(field.model._meta.db_table)
        functions = connection.ops.get_db_converters(expression) + field.get_db_converters(
            connection
        )
        if functions:
            converters.append((index, expression, functions))
    return (
        statement,
        [field.attname for field in token_columns],
        [field.attname for field in user_columns],
        converters,
    )
