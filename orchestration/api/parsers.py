"""Request parsing that refuses, with a clear 4xx, what would otherwise be a 500 later.

Every JSON body of the API (and of the anonymous token endpoint) goes through
``StrictJSONParser``, which refuses, before anything reads the data:

- a body larger than Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE``: ``413 request_too_large``
  (DRF reads a JSON body without that check; the limit is Django's own for forms);
- JSON nested deeper than ``MAX_JSON_DEPTH``: ``400 parse_error``. Python's ``json``
  recurses once per level and raises ``RecursionError`` (a 500) near a thousand; the
  depth is counted on the text first, without recursion;
- text no database can store, in any string, key or value, anywhere in the body:
  ``400 parse_error`` naming the field (``lines[0].product``). The NUL character
  (``\\u0000``) cannot be stored by PostgreSQL (SQLite can: so that both backends
  answer alike, it is refused on both); a lone UTF-16 surrogate (``\\ud800``, valid
  JSON escape but no character) cannot be encoded as UTF-8 at all. One walk over the
  parsed data finds both, with an explicit stack, since bodies can be large.
"""

import re
from typing import Any

from django.conf import settings
from django.http import QueryDict
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError

# get_encoding is DRF's, missing from its stubs before djangorestframework-stubs 3.18.2.
from rest_framework.parsers import (  # type: ignore[attr-defined, unused-ignore]
    FormParser,
    JSONParser,
    get_encoding,
)
from rest_framework.utils import json

from ..engine.limits import json_integer

# Far deeper than any body the API defines (an order is four levels: the order, its
# lines, a line, its custom fields; a preview scenario seven) and than clients' own
# custom-field objects need; far below the thousand levels at which Python's json,
# DRF's validation and the error rendering, which all recurse per level, would fail.
MAX_JSON_DEPTH = 64

# A JSON string (an unterminated one runs to the end: linear, however many quotes),
# an opening bracket (group 1) or a closing one (group 2).
_STRING_OR_BRACKET = re.compile(r'"(?:[^"\\]++|\\.)*+"?|([\[{])|([\]}])', re.DOTALL)
# NUL, and the UTF-16 surrogates, which only a \ud800-style escape can put in a string.
_REFUSED_CHARACTER = re.compile("[\x00\ud800-\udfff]")


class RequestTooLarge(APIException):
    """The body is larger than ``DATA_UPLOAD_MAX_MEMORY_SIZE``."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"The body is larger than the limit of {limit:,} bytes; send less at once."
        )


class RefusedText(ParseError):
    """A string in the body holds a character no database can store; ``errors`` names it."""

    def __init__(self, message: str, *, code: str, item: str, field: str | None) -> None:
        super().__init__(message)
        self.errors = [{"code": code, "message": item, "field": field}]


def nesting_exceeds(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether JSON ``text`` opens more than ``limit`` arrays and objects inside each other.

    Brackets inside strings do not count. For text that is not JSON the answer is
    about the brackets of its longest valid beginning, which is as far as a JSON
    parser gets: that is all that matters here.
    """
    if text.count("[") + text.count("{") <= limit:
        return False  # most bodies: too few brackets to be too deep, whatever their order
    depth = 0
    for match in _STRING_OR_BRACKET.finditer(text):
        if match.lastindex == 1:
            depth += 1
            if depth > limit:
                return True
        elif match.lastindex == 2:
            depth -= 1
    return False


def _escaped(text: str) -> str:
    """``text`` with NUL and surrogates written as JSON escapes, so it can be rendered."""
    return _REFUSED_CHARACTER.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def _path(entry: tuple[Any, Any, str | int | None]) -> str:
    """The path of a walked value: ``lines[0].product``, ``[3].product``, or ``""``."""
    keys: list[str | int] = []
    while entry[1] is not None:
        keys.append(entry[2])  # type: ignore[arg-type]
        entry = entry[1]
    path = ""
    for key in reversed(keys):
        if isinstance(key, int):
            path += f"[{key}]"
        else:
            path += f".{_escaped(key)}" if path else _escaped(key)
    return path


def refused_text(data: Any) -> tuple[str, str] | None:
    """The path and the character of the first string, key or value, in document order,
    that holds NUL or a lone surrogate; ``None`` when there is none.

    A walk with an explicit stack: each entry is ``(value, parent entry, key)``, so a
    path is only spelled out for the string at fault.
    """
    stack: list[tuple[Any, Any, str | int | None]] = [(data, None, None)]
    while stack:
        entry = stack.pop()
        value, _parent, key = entry
        if isinstance(key, str):
            found = _REFUSED_CHARACTER.search(key)
            if found is not None:
                return _path(entry), found.group()
        if isinstance(value, str):
            found = _REFUSED_CHARACTER.search(value)
            if found is not None:
                return _path(entry), found.group()
        elif isinstance(value, dict):
            stack.extend((item, entry, name) for name, item in reversed(value.items()))
        elif isinstance(value, list):
            stack.extend((value[index], entry, index) for index in range(len(value) - 1, -1, -1))
    return None


def read_body(stream: Any, parser_context: dict[str, Any]) -> bytes:
    """The whole body, refused with a 413 beyond ``DATA_UPLOAD_MAX_MEMORY_SIZE``.

    The declared length is checked first, so a large body is refused unread; the read
    is bounded too, for a body without one.
    """
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if limit is None:
        return stream.read()
    request = parser_context.get("request")
    meta = request.META if request is not None else {}
    try:
        declared = int(meta.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise RequestTooLarge(limit)
    body = stream.read(limit + 1)
    if len(body) > limit:
        raise RequestTooLarge(limit)
    return body


def check_text(data: Any, text: str) -> None:
    """Refuse ``data`` (parsed from ``text``) if a string in it holds NUL or a lone surrogate."""
    if "\\u" not in text and _REFUSED_CHARACTER.search(text) is None:
        return  # neither can be in the data: a JSON string gets them only from an escape
    found = refused_text(data)
    if found is None:
        return
    where, character = found
    if character == "\x00":
        code, item = "null_characters_not_allowed", "Text may not contain the NUL character"
    else:
        code, item = "surrogate_characters_not_allowed", "Text may not contain a lone surrogate"
    item = f"{item} (\\u{ord(character):04x})."
    raise RefusedText(
        f"{item[:-1]}, found at {where or 'the body'}.", code=code, item=item, field=where or None
    )


def parse_json(body: bytes, encoding: str = "utf-8", *, strict: bool = True) -> Any:
    """Parse a JSON body under the limits above; every refusal is a ``ParseError`` (400).

    For JSON endpoints outside DRF too (``strict``: NaN and Infinity are refused).
    """
    try:
        text = body.decode(encoding)
    except UnicodeDecodeError as error:
        raise ParseError(f"JSON parse error - {error}") from None
    if nesting_exceeds(text):
        raise ParseError(
            f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} arrays and objects."
        )
    try:
        data = json.loads(
            text,
            parse_int=json_integer,
            parse_constant=json.strict_constant if strict else None,
        )
    except (ValueError, RecursionError) as error:
        raise ParseError(f"JSON parse error - {error}") from None
    check_text(data, text)
    return data


class StrictJSONParser(JSONParser):
    """JSON within the size and depth limits, without NUL or lone surrogates anywhere."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        parser_context = parser_context or {}
        encoding = get_encoding(parser_context)
        return parse_json(read_body(stream, parser_context), encoding, strict=self.strict)


class LimitedFormParser(FormParser):
    """A URL-encoded form, within ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (DRF's reads it unbounded)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        parser_context = parser_context or {}
        encoding = get_encoding(parser_context)
        return QueryDict(read_body(stream, parser_context), encoding=encoding)
