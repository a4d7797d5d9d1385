"""Request parsing that refuses text no database can store.

PostgreSQL cannot store the NUL character in text or JSON, SQLite can: so that
both backends answer alike, a body or query string with NUL is a 400.
"""

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


def nul_path(value: Any, path: str = "") -> str | None:
    """The path of the first string (key or value) holding a NUL, or ``None``."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if "\x00" in str(key):
                return where
            found = nul_path(item, where)
            if found is not None:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = nul_path(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


class StrictJSONParser(JSONParser):
    """JSON, without NUL characters anywhere."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        data = super().parse(stream, media_type, parser_context)
        where = nul_path(data)
        if where is not None:
            raise ParseError(
                f"Text may not contain the NUL character (\\u0000), found at {where or 'the body'}."
            )
        return data
