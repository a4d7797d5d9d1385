"""Several writes sent to PostgreSQL as one statement (data-modifying CTEs).

A stored orchestration run writes to six tables. Sent one by one, that is six
round trips, each waiting for the server before the next; as the CTEs of one
``WITH`` statement it is one. PostgreSQL runs every data-modifying CTE to
completion, checks foreign keys at the end of the statement (so a row may point
at a row inserted by a sibling CTE), and the whole statement succeeds or fails
as one.

The INSERTs convert values as ``bulk_create`` does (``pre_save``, then
``get_db_prep_save``): defaults, ``auto_now`` and JSON stay Django's. A value
that must come from another CTE (the ID of a row inserted in the same
statement) is given as a ``RawSQL`` expression selecting it (``row_of``).
"""

import functools
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import psycopg
from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Model
from django.db.models.expressions import RawSQL
from psycopg.adapt import Transformer


def insert_sql(model: type[Model], objs: Sequence[Model]) -> tuple[str, list[Any]]:
    """The ``INSERT`` of ``objs`` (their primary key included when set), without
    ``RETURNING``: for a CTE, which adds its own.

    Each value as ``bulk_create`` sends it (``pre_save``, so ``auto_now`` and
    defaults apply, then ``get_db_prep_save``); an expression (``row_of``) is
    written in as SQL. Built here rather than by Django's insert compiler, which
    takes a millisecond per call to arrive at the same text.
    """
    columns = _insert_columns(model, with_pk=all(obj.pk is not None for obj in objs))
    # The connection itself, not the ``connection`` proxy, which looks it up in a
    # thread-local store on every use: once per value here.
    db = connections[DEFAULT_DB_ALIAS]
    rows = []
    params: list[Any] = []
    for obj in objs:
        placeholders = []
        for field, attname, fast in columns:
            value = getattr(obj, attname) if attname else field.pre_save(obj, True)
            if isinstance(value, RawSQL):
                placeholders.append(value.sql)
                params.extend(value.params)
                continue
            placeholders.append("%s")
            converted = fast(value, db) if fast else _SLOW
            params.append(field.get_db_prep_save(value, db) if converted is _SLOW else converted)
        rows.append(f"({', '.join(placeholders)})")
    quote = db.ops.quote_name
    names = ", ".join(quote(field.column) for field, _attname, _fast in columns)
    # Quoted names and placeholders only; every value is a parameter.
    sql = f"INSERT INTO {quote(model._meta.db_table)} ({names}) VALUES {', '.join(rows)}"  # noqa: S608
    return sql, params


# What a fast converter returns for a value it leaves to ``get_db_prep_save``.
_SLOW = object()
_INTEGERS = frozenset(
    {
        "IntegerField",
        "BigIntegerField",
        "SmallIntegerField",
        "PositiveIntegerField",
        "PositiveSmallIntegerField",
        "PositiveBigIntegerField",
    }
)
_AUTO = frozenset({"AutoField", "BigAutoField", "SmallAutoField"})
Converter = Callable[[Any, BaseDatabaseWrapper], Any]


@functools.cache
def _insert_columns(
    model: type[Model], *, with_pk: bool
) -> tuple[tuple[Field, str | None, Converter | None], ...]:
    """The columns ``bulk_create`` would insert into (the key only when given), each
    with the attribute to read when ``pre_save`` only reads it, and a fast converter.

    Django's ``get_db_prep_save`` walks five methods per value to arrive, for the
    usual values (None, an int, a str, a bool, an aware datetime), at the value
    itself or one backend adapter call; done per value of a run, that was most of
    the time spent building its statement. The converters below make that same
    call directly and leave anything else to ``get_db_prep_save``
    (``test_statement.py`` compares the two on every column a run writes).
    """
    opts = model._meta
    return tuple(
        (field, _plain_attname(field), _converter(field))
        for field in opts.concrete_fields
        if not field.generated and (with_pk or field is not opts.pk)
    )


def _plain_attname(field: Field) -> str | None:
    """The attribute ``pre_save`` returns unchanged, or None if it may change it."""
    pre_save = type(field).pre_save
    if pre_save is Field.pre_save:
        return field.attname
    # Django's date fields' pre_save only sets auto_now(_add) values; a subclass
    # with its own pre_save keeps it.
    if pre_save in _DATE_PRE_SAVES and not (field.auto_now or field.auto_now_add):
        return field.attname
    return None


_DATE_PRE_SAVES = (models.DateField.pre_save, models.DateTimeField.pre_save)


def _converter(field: Field) -> Converter | None:
    """A quicker way to ``field.get_db_prep_save`` for the usual values, or None."""
    if isinstance(field, models.ForeignKey):
        if type(field).get_db_prep_save is not models.ForeignKey.get_db_prep_save:
            return None
        if field.target_field.get_internal_type() not in _AUTO:
            return None
        # ForeignKey -> its target AutoField: get_prep_value, then validate_autopk_value.
        return lambda value, db: (
            value
            if value is None
            else db.ops.validate_autopk_value(value)
            if type(value) is int
            else _SLOW
        )
    kind = type(field)
    if kind.__module__ != "django.db.models.fields" or field.is_relation:
        return None  # a field of our own, or a relation other than a ForeignKey
    internal = field.get_internal_type()
    if internal in _INTEGERS:
        return lambda value, db: (
            None
            if value is None
            else db.ops.adapt_integerfield_value(value, internal)
            if type(value) is int
            else _SLOW
        )
    if internal in ("CharField", "TextField"):
        return lambda value, db: value if value is None or isinstance(value, str) else _SLOW
    if internal == "BooleanField":
        return lambda value, db: value if value is None or type(value) is bool else _SLOW
    if internal == "DateTimeField":
        return lambda value, db: (
            None
            if value is None
            else db.ops.adapt_datetimefield_value(value)
            if type(value) is datetime and value.tzinfo is not None
            else _SLOW
        )
    return None


def row_of(cte: str, number: int | None = None) -> RawSQL:
    """The ``id`` the CTE ``cte`` gave its only row, or its row ``n = number``."""
    if number is None:
        # Names of this module's CTEs only, never input; values are parameters.
        return RawSQL(f"(SELECT id FROM {cte})", [])  # noqa: S608, S611
    return RawSQL(f"(SELECT id FROM {cte} WHERE n = %s)", [number])  # noqa: S608, S611


class Statement:
    """A ``WITH`` statement built CTE by CTE, ending in one ``SELECT`` of results."""

    def __init__(self) -> None:
        self.ctes: list[tuple[str, str, list[Any]]] = []

    def add(
        self, name: str, sql: str, params: Sequence[Any] = (), *, materialized: bool = False
    ) -> None:
        """A CTE ``name``: a data-modifying statement (with ``RETURNING`` if read) or a query."""
        head = f"{name} AS MATERIALIZED" if materialized else f"{name} AS"
        self.ctes.append((head, sql, list(params)))

    def ids(self, name: str, model: type[Model], count: int) -> None:
        """``count`` new IDs of ``model``'s table, numbered ``n`` from 1, taken from
        its identity sequence up front so that other CTEs can point at them."""
        table = model._meta.db_table
        self.add(
            name,
            f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) AS id, n "  # noqa: S608
            "FROM generate_series(1, %s) AS n",
            [count],
            # Evaluated once, so each n keeps one ID however often it is read.
            materialized=True,
        )

    def execute(self, results: Sequence[str]) -> tuple[Any, ...]:
        """Send it; return the row of ``results`` (SQL expressions over the CTEs)."""
        ctes = ", ".join(f"{head} ({sql})" for head, sql, _params in self.ctes)
        params = [value for _head, _sql, cte_params in self.ctes for value in cte_params]
        sql = f"WITH {ctes} SELECT {', '.join(results)}"
        with connection.cursor() as cursor:
            if isinstance(cursor.cursor, psycopg.ClientCursor):
                cursor.execute(bind(cursor.cursor, sql, params))
            else:
                cursor.execute(sql, params)
            return tuple(cursor.fetchone())


def bind(cursor: "psycopg.ClientCursor[Any]", sql: str, params: Sequence[Any]) -> str:
    """``sql`` with ``params`` written in as literals: what a client-side binding
    cursor (Django's on psycopg 3) sends for ``execute(sql, params)``.

    psycopg remembers how it split a query at its placeholders only for queries of
    at most 50 parameters; a run's statement has more than 100, and splitting it
    again on every run took a quarter of a millisecond. Its placeholders are all
    ``%s`` (the values are parameters; this module writes no other ``%``), so the
    SQL is its own template, and each value is made a literal by psycopg's own
    adapters, as ``execute`` would (``test_statement.py`` compares the two). Text,
    not bytes, as Django's execute wrappers and query logging expect.
    """
    transformer = Transformer(cursor)
    literals = tuple(
        b"NULL" if value is None else transformer.as_literal(value) for value in params
    )
    return (sql.encode() % literals).decode(cursor.connection.info.encoding)
