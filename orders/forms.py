"""Forms of the order pages: the quantities a shop or a returns desk types per line.

The pick, return and arrival forms post one number per line, named
``<prefix>-<line ID>`` (``picked-12``, ``quantity-12``, ``received-12``). Each is parsed
by Django's ``IntegerField`` with bounds, never by ``str.isdigit()`` and ``int()``: "²"
passes ``isdigit()`` and ``int()`` refuses it, ``int()`` refuses more than 4,300 digits,
and a number past the column's range no database stores; all three were 500s. A
malformed number is the form's error, naming its field; whether a line may be named
and how many of its units are left is the service's to say.
"""

import re
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from django import forms

from orchestration.errors import ApplicationError
from orchestration.validators import parse_id

# Quantities are PositiveIntegerFields: 2^31-1 is the most every database stores.
MAX_QUANTITY = 2**31 - 1
# How much of a malformed value an error message repeats.
SHOWN_CHARACTERS = 20


class Malformed(NamedTuple):
    """A quantity the form refuses: its line (None if the name holds no line ID), its
    field's name and why."""

    line_id: int | None
    field: str
    message: str


class QuantitiesForm(forms.Form):
    """One quantity per line, from 0 to ``MAX_QUANTITY``, posted as ``<prefix>-<line ID>``.

    ``line_ids`` lists the lines the form shows; without it every posted field named
    ``<prefix>-<digits>`` is read (the pick form: lines left out are picked in full).
    With ``blank_is_zero`` an empty or missing field is 0; otherwise it is an error.
    """

    def __init__(
        self,
        data: Mapping[str, Any],
        *,
        prefix: str,
        line_ids: Iterable[int] | None = None,
        blank_is_zero: bool = False,
    ) -> None:
        super().__init__(data)
        # The posted name of each line's quantity, by line ID, in the order posted.
        self.names: dict[int, str] = {}
        # Posted names of the prefix whose digits are no line ID (1 to 2^63-1).
        self.unknown_names: list[str] = []
        if line_ids is not None:
            self.names = {line_id: f"{prefix}-{line_id}" for line_id in line_ids}
        else:
            named = re.compile(rf"^{re.escape(prefix)}-([0-9]+)$")
            for name in data:
                if match := named.match(name):
                    line_id = parse_id(match[1])
                    if line_id is None:
                        self.unknown_names.append(name)
                    else:
                        self.names[line_id] = name
        for name in self.names.values():
            self.fields[name] = forms.IntegerField(
                required=not blank_is_zero, min_value=0, max_value=MAX_QUANTITY
            )
        self.prefix_name = prefix

    def quantities(self) -> dict[int, int]:
        """Each line's quantity by line ID, in the order posted (call after ``is_valid``)."""
        return {line_id: self.cleaned_data[name] or 0 for line_id, name in self.names.items()}

    def checked_quantities(self, *, name_the_line: bool = True) -> dict[int, int]:
        """``quantities()``, or the first malformed field as an ``ApplicationError``
        (``invalid_quantity``, naming the field; the message names the line if asked)."""
        malformed = self.malformed()
        if malformed is not None:
            message = malformed.message
            if name_the_line and malformed.line_id is not None:
                message = f"Line {malformed.line_id}: {message}"
            raise ApplicationError(message, code="invalid_quantity", field=malformed.field)
        return self.quantities()

    def malformed(self) -> Malformed | None:
        """The first malformed field, in the order posted; None if there is none."""
        if self.unknown_names:
            name = self.unknown_names[0]
            digits = _shown(name.removeprefix(f"{self.prefix_name}-"))
            return Malformed(None, name, f"Line {digits} is not an open line here.")
        if self.is_valid():
            return None
        line_id, name = next((i, n) for i, n in self.names.items() if n in self.errors)
        shown = _shown(str(self.data.get(name, "")).strip())
        codes = {error.code for error in self.errors.as_data()[name]}
        if "max_value" in codes:
            return Malformed(line_id, name, f"{shown} is more units than any line holds.")
        message = f"{shown or 'Nothing'} is not a number of units: give 0 or more."
        return Malformed(line_id, name, message)


def _shown(raw: str) -> str:
    """``raw`` as an error message repeats it: its first characters."""
    return raw if len(raw) <= SHOWN_CHARACTERS else f"{raw[:SHOWN_CHARACTERS]}…"
