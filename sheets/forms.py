"""Forms of the sheet pages: the numbers they read from a query string.

Numbers typed into a URL are parsed by Django's ``IntegerField`` with bounds, never by
``str.isdigit()`` and ``int()``: "²" passes ``isdigit()`` and ``int()`` refuses it, and
``int()`` refuses more than 4,300 digits; both were 500s. A number past the column's
range names no row either. Each is now the form's error, naming its field.
"""

from typing import Any

from django import forms

from orchestration.validators import MAX_ID

# A revision number is a PositiveIntegerField: 2^31-1 is the largest every database holds.
MAX_REVISION = 2**31 - 1


class _TickBox(forms.CheckboxInput):
    """A check box (or hidden flag) of the Suite's pages: ticked when its value is "1"."""

    def value_from_datadict(self, data: Any, files: Any, name: str) -> bool:
        return bool(data.get(name) == "1")


class TickedField(forms.BooleanField):
    """Yes when the field's value is "1", no for any other value or none: the pages send
    "1" for a ticked box, "0" for a cleared flag, and nothing for an unticked box."""

    widget = _TickBox

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(required=False, **kwargs)


class SheetFilterForm(forms.Form):
    """The overview's ``?id=``: a sheet ID from 1 to 2^63-1 (empty: no filter)."""

    id = forms.IntegerField(required=False, min_value=1, max_value=MAX_ID)

    def id_error(self) -> str | None:
        """Why ``id`` is refused, in the overview's words; None if it is not."""
        if self.is_valid():
            return None
        raw = self.data.get("id", "").strip()
        codes = {error.code for error in self.errors.as_data()["id"]}
        if codes & {"min_value", "max_value"}:
            return f"An ID is a whole number from 1 to 2^63-1; {raw!r} is not."
        return f"An ID is a whole number; {raw!r} is not."


def _revision_field(label: str) -> forms.IntegerField:
    message = f"Revision {label} is a whole number from 1 to {MAX_REVISION}."
    return forms.IntegerField(
        min_value=1,
        max_value=MAX_REVISION,
        error_messages={"invalid": message, "min_value": message, "max_value": message},
    )


class RevisionPairForm(forms.Form):
    """The diff's ``?a=N&b=M``: the two revision numbers to compare."""

    a = _revision_field("A")
    b = _revision_field("B")

    def refusal(self) -> str | None:
        """Why the pair is refused, naming a malformed revision; None if it is not."""
        if self.is_valid():
            return None
        for name in ("a", "b"):
            if name in self.errors and self.data.get(name, "").strip():
                return f"Pick two revisions to compare. {self.errors[name][0]}"
        return "Pick two revisions to compare."
