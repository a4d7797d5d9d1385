"""Model fields of our own.

``CompressedJSONField`` keeps a JSON document compressed (zlib) in a binary
column. It is for the orchestration details: a blob per run, written once, read
whole by the API and the Suite, never queried inside by SQL. Compressed, a typical
15 kB blob is stored as 1.3 kB: PostgreSQL neither parses it as ``jsonb`` nor
compresses it again for TOAST, and the write-ahead log and the table carry a tenth
of the bytes (orchestration details are the largest table of an installation).
"""

import json
import zlib
from typing import Any

import orjson
from django.core import exceptions
from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper

# Level 1: the fastest. The blob is repetitive JSON; higher levels gain a few
# percent of its size for several times the time, on every orchestration run.
COMPRESSION_LEVEL = 1


# Keys that are not strings (an ID) become strings, as the json module makes them.
_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS


def json_compress(value: Any) -> bytes:
    """``value`` as compact UTF-8 JSON, zlib-compressed.

    Written by orjson: the same bytes as ``json.dumps`` with compact separators and
    ``ensure_ascii=False`` for what a blob holds, in a sixteenth of the time (a 14 kB
    blob: 0.02 ms against 0.27 ms, on every orchestration run). Floats may be
    spelled differently (``1e-7``, not ``1e-07``) but read back the same, and NaN
    or an infinity is written as ``null`` (the json module wrote ``NaN``, which is
    not JSON). Anything orjson refuses (an integer beyond 64 bits, a type neither
    knows) goes to the json module, which decides as before.
    """
    try:
        text = orjson.dumps(value, option=_ORJSON_OPTIONS)
    except orjson.JSONEncodeError:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    return zlib.compress(text, COMPRESSION_LEVEL)


def json_decompress(data: bytes | memoryview) -> Any:
    """The value ``json_compress`` was given."""
    # The json module reads: orjson would read an integer beyond 64 bits as a float.
    return json.loads(zlib.decompress(data))


class CompressedJSONField(models.BinaryField):
    """A JSON value (dicts, lists, strings, numbers, booleans, None) stored compressed.

    In Python it is the value itself, as with ``JSONField``; the database holds
    bytes, so it cannot be filtered on anything but ``isnull``. Fixtures and
    ``dumpdata`` carry it as JSON text.
    """

    description = "A JSON value, stored compressed"
    # For django-stubs: the value in Python is any JSON value, not bytes (annotations only).
    _pyi_private_set_type: Any
    _pyi_private_get_type: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def get_db_prep_value(
        self, value: Any, connection: BaseDatabaseWrapper, prepared: bool = False
    ) -> Any:
        if value is None:
            return None
        # Every backend has its DB-API module as ``Database`` (not in django-stubs).
        return connection.Database.Binary(json_compress(value))  # type: ignore[attr-defined]

    def from_db_value(self, value: Any, expression: Any, connection: BaseDatabaseWrapper) -> Any:
        if value is None:
            return None
        return json_decompress(value)

    def to_python(self, value: Any) -> Any:
        # A fixture or a form gives JSON text; anything else is the value already.
        if isinstance(value, str):
            try:
                return json.loads(value)
            except json.JSONDecodeError as error:
                raise exceptions.ValidationError(
                    f"Not valid JSON: {error.msg} (line {error.lineno}, column {error.colno}).",
                    code="invalid",
                ) from error
        return value

    def value_to_string(self, obj: models.Model) -> str:
        return json.dumps(self.value_from_object(obj), ensure_ascii=False)
