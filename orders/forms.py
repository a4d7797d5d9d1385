"""Forms of the order pages: every POST they take that carries fields (pick, ship,
decline, return, arrival), with the limits of the model columns the values go to.

The pick, return and arrival forms post one number per line, named
``<prefix>-<line ID>`` (``picked-12``, ``quantity-12``, ``received-12``). Each is parsed
by Django's ``IntegerField`` with bounds, never by ``str.isdigit()`` and ``int()``: "²"
passes ``isdigit()`` and ``int()`` refuses it, ``int()`` refuses more than 4,300 digits,
and a number past the column's range no database stores; all three were 500s. A
malformed number is the form's error, naming its field; whether a line may be named
and how many of its units are left is the service's to say. Text (a carrier, a reason,
a condition) is taken as typed, not stripped, and no longer than its column: which
values are allowed (the configured reasons, the conditions) is the service's to say,
with its own message.

A form's refusal is an ``ApplicationError`` naming the form's field, as the pages show
a service's refusal; ``field_of`` names the field of a line a service refused by ID.
"""

import re
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from django import forms

from orchestration.engine.limits import LINE_QUANTITY
from orchestration.errors import ApplicationError
from orchestration.models import Order, OrderFulfillment, OrderFulfillmentLine, OrderLine
from orchestration.validators import parse_id

# Quantities are PositiveIntegerFields: 2^31-1 is the most every database stores.
MAX_QUANTITY = 2**31 - 1
# How much of a malformed value an error message repeats.
SHOWN_CHARACTERS = 20


def _max_length(model: Any, name: str) -> int:
    """The length of the model's column ``name``: the most a text field may hold."""
    length: int = model._meta.get_field(name).max_length
    return length


CARRIER_LENGTH = _max_length(OrderFulfillment, "carrier")
TRACKING_NUMBER_LENGTH = _max_length(OrderFulfillment, "tracking_number")
DECLINE_REASON_LENGTH = _max_length(OrderFulfillmentLine, "cancellation_reason")
CONDITION_LENGTH = _max_length(OrderFulfillmentLine, "condition")
RETURN_REASON_LENGTH = _max_length(OrderLine, "return_reason")


def _text(label: str, max_length: int) -> forms.CharField:
    """An optional text field, taken as typed (a service says what is allowed)."""
    return forms.CharField(label=label, required=False, strip=False, max_length=max_length)


class OrderPageForm(forms.Form):
    """A form of the order pages: its first error as an ``ApplicationError``, and what
    was typed, to show again after a refusal."""

    def checked(self) -> dict[str, Any]:
        """The cleaned data, or the first field's error as an ``ApplicationError``
        (code ``invalid``, naming the field and, in the message, its label)."""
        if self.is_valid():
            return self.cleaned_data
        name = next(name for name in self.fields if name in self.errors)
        label = self.fields[name].label or name
        raise ApplicationError(f"{label}: {self.errors[name][0]}", field=name)

    def typed(self) -> dict[str, str]:
        """Every posted value as typed, by name (the CSRF token left out)."""
        return {
            name: str(self.data.get(name, ""))
            for name in self.data
            if name != "csrfmiddlewaretoken"
        }


class Malformed(NamedTuple):
    """A quantity the form refuses: its line (None if the name holds no line ID), its
    field's name and why."""

    line_id: int | None
    field: str
    message: str


class QuantitiesForm(OrderPageForm):
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

    def field_of(self, line_id: int) -> str:
        """The name of the field that carries the line's quantity."""
        return self.names.get(line_id, f"{self.prefix_name}-{line_id}")

    def checked(self) -> dict[str, Any]:
        """The cleaned data: a malformed quantity first (``checked_quantities``), then
        the other fields' errors."""
        self.checked_quantities()
        return super().checked()

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
        faulty = [(i, n) for i, n in self.names.items() if n in self.errors]
        if not faulty:
            return None
        line_id, name = faulty[0]
        shown = _shown(str(self.data.get(name, "")).strip())
        codes = {error.code for error in self.errors.as_data()[name]}
        if "max_value" in codes:
            return Malformed(line_id, name, f"{shown} is more units than any line holds.")
        message = f"{shown or 'Nothing'} is not a number of units: give 0 or more."
        return Malformed(line_id, name, message)


def _shown(raw: str) -> str:
    """``raw`` as an error message repeats it: its first characters."""
    return raw if len(raw) <= SHOWN_CHARACTERS else f"{raw[:SHOWN_CHARACTERS]}…"


class PickForm(QuantitiesForm):
    """What a shop picked: ``picked-<line ID>`` for the lines not picked in full (left
    out: picked in full), and the reason for what was not picked."""

    reason = _text("Reason", DECLINE_REASON_LENGTH)

    def __init__(self, data: Mapping[str, Any]) -> None:
        super().__init__(data, prefix="picked")


class ShipForm(OrderPageForm):
    """A packed task's carrier and tracking number (the service requires both)."""

    carrier = _text("Carrier", CARRIER_LENGTH)
    tracking_number = _text("Tracking number", TRACKING_NUMBER_LENGTH)


class DeclineForm(OrderPageForm):
    """Why a shop gives a task back (empty: Unknown)."""

    reason = _text("Reason", DECLINE_REASON_LENGTH)


class ReturnForm(QuantitiesForm):
    """A return from a sales order: per line ``quantity-<line ID>`` (empty: 0) and
    ``reason-<line ID>``."""

    def __init__(self, data: Mapping[str, Any], *, line_ids: Iterable[int]) -> None:
        line_ids = list(line_ids)
        super().__init__(data, prefix="quantity", line_ids=line_ids, blank_is_zero=True)
        for line_id in line_ids:
            self.fields[f"reason-{line_id}"] = _text(
                f"Reason for line {line_id}", RETURN_REASON_LENGTH
            )

    def reason(self, line_id: int) -> str:
        """The reason given for the line (call after ``checked``)."""
        reason: str = self.cleaned_data[f"reason-{line_id}"]
        return reason


class ReceiveForm(QuantitiesForm):
    """What arrived of a return: per open line ``received-<line ID>`` (empty: 0) and
    the ``condition-<line ID>`` it came in."""

    def __init__(self, data: Mapping[str, Any], *, line_ids: Iterable[int]) -> None:
        line_ids = list(line_ids)
        super().__init__(data, prefix="received", line_ids=line_ids, blank_is_zero=True)
        for line_id in line_ids:
            self.fields[f"condition-{line_id}"] = _text(
                f"Condition of line {line_id}", CONDITION_LENGTH
            )

    def condition(self, line_id: int) -> str:
        """The condition given for the line (call after ``checked``)."""
        condition: str = self.cleaned_data[f"condition-{line_id}"]
        return condition


# --- The fallout queue ------------------------------------------------------------------

NOTE_LENGTH = 2000
# Steps one bulk action takes, at most (the page shows 50 a page).
MAX_SELECTED = 500
FALLOUT_ACTIONS = {"retry": "Retry", "complete": "Complete"}


class StepIdsField(forms.Field):
    """The IDs of the ticked steps (``steps`` posted once per box), each parsed by
    ``parse_id``: a malformed one is named, never a 500."""

    widget = forms.CheckboxSelectMultiple

    def to_python(self, value: Any) -> list[int]:
        raw = [str(item) for item in (value or [])]
        if not raw:
            raise forms.ValidationError("Select at least one step.", code="required")
        if len(raw) > MAX_SELECTED:
            raise forms.ValidationError(
                f"Select at most {MAX_SELECTED} steps at a time.", code="max_length"
            )
        ids: list[int] = []
        for item in raw:
            parsed = parse_id(item)
            if parsed is None:
                raise forms.ValidationError(
                    f"{item[:SHOWN_CHARACTERS]!r} is not a step ID.", code="invalid"
                )
            if parsed not in ids:
                ids.append(parsed)
        return ids


class FalloutActionForm(OrderPageForm):
    """Retry or complete the ticked fatally failed steps, saying why in a note."""

    action = forms.ChoiceField(label="Action", choices=list(FALLOUT_ACTIONS.items()))
    steps = StepIdsField(label="Steps", required=False)
    note = forms.CharField(
        label="Note",
        required=True,
        max_length=NOTE_LENGTH,
        error_messages={"required": "Say why in a note."},
    )


class FalloutFilterForm(forms.Form):
    """The fallout queue's filters (GET): queue, step key, error code; each as typed,
    no longer than its column (a longer one matches nothing anyway)."""

    queue = forms.CharField(required=False, max_length=100)
    step = forms.CharField(required=False, max_length=100)
    error_code = forms.CharField(required=False, max_length=100)


class OrderChangeForm(OrderPageForm):
    """An in-flight change on the order page: the shipping address as it should be,
    each line's quantity, and the lines to remove (``services/order_changes.py``).
    Only what differs from the order is sent as the change."""

    street = _text("Street", _max_length(Order, "shipping_street"))
    zip_code = _text("Zip code", _max_length(Order, "shipping_zip_code"))
    city = _text("City", _max_length(Order, "shipping_city"))
    country_id = _text("Country", 2)
    latitude = forms.FloatField(label="Latitude", required=False, min_value=-90, max_value=90)
    longitude = forms.FloatField(label="Longitude", required=False, min_value=-180, max_value=180)

    def __init__(self, data: Mapping[str, Any] | None, *, lines: Iterable[OrderLine]) -> None:
        super().__init__(data)
        self.lines = list(lines)
        for line in self.lines:
            self.fields[f"quantity-{line.pk}"] = forms.IntegerField(
                label=f"Line {line.pk} quantity",
                min_value=1,
                max_value=LINE_QUANTITY.maximum,
            )
            self.fields[f"remove-{line.pk}"] = forms.BooleanField(
                label=f"Remove line {line.pk}", required=False
            )

    def change(self, order: Order) -> dict[str, Any]:
        """The change's arguments: what differs from ``order`` (checked first)."""
        data = self.checked()
        address = {
            part: data[part]
            for part in ("street", "zip_code", "city", "country_id", "latitude", "longitude")
            if data[part] not in (None, "") and data[part] != getattr(order, f"shipping_{part}")
        }
        return {
            "shipping_address": address or None,
            "quantities": {
                line.pk: data[f"quantity-{line.pk}"]
                for line in self.lines
                if data[f"quantity-{line.pk}"] != line.quantity and not data[f"remove-{line.pk}"]
            },
            "remove_lines": [line.pk for line in self.lines if data[f"remove-{line.pk}"]],
        }


class StepDoneForm(OrderPageForm):
    """A person did a manual plan step, with an optional note."""

    note = forms.CharField(label="Note", required=False, max_length=NOTE_LENGTH)
