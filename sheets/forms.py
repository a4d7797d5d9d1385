"""Forms of the sheet pages: every field they read from a form or a query string.

Each field carries the model's limits (``Sheet.name`` and ``fulfillment`` lengths,
the identifier's pattern, ``SheetRevision.comment``'s length, the templates to start
from), so a value the database would refuse, or store cut short, is the form's error
naming its field; the messages the pages showed before stay as they were.

Numbers typed into a URL are parsed by Django's ``IntegerField`` with bounds, never by
``str.isdigit()`` and ``int()``: "²" passes ``isdigit()`` and ``int()`` refuses it, and
``int()`` refuses more than 4,300 digits; both were 500s. A number past the column's
range names no row either. Each is now the form's error, naming its field.
"""

from collections.abc import Mapping
from typing import Any

from django import forms
from django.conf import settings
from django.db import models
from rest_framework.exceptions import ParseError

from orchestration.api.parsers import parse_json
from orchestration.language import visual
from orchestration.language.lines import normalize
from orchestration.language.parser import MAX_SOURCE_LENGTH
from orchestration.models import Sheet, SheetRevision
from orchestration.selectors.sheets import SHEET_SORTS
from orchestration.sheet_templates import TEMPLATES
from orchestration.validators import IDENTIFIER_PATTERN, MAX_ID, validate_identifier

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


def model_max_length(model: type[models.Model], name: str) -> int:
    """The ``max_length`` of the text column ``name`` of ``model``: a form takes no more."""
    field = model._meta.get_field(name)
    assert isinstance(field, models.CharField) and field.max_length is not None
    return field.max_length


NAME_LENGTH = model_max_length(Sheet, "name")
FULFILLMENT_LENGTH = model_max_length(Sheet, "fulfillment")
COMMENT_LENGTH = model_max_length(SheetRevision, "comment")
IDENTIFIER_MESSAGE = validate_identifier.message


def _too_long(what: str) -> dict[str, str]:
    return {
        "max_length": f"{what} is at most %(limit_value)d characters; this one has %(show_value)d."
    }


def _name_field() -> forms.CharField:
    return forms.CharField(
        max_length=NAME_LENGTH,
        error_messages={"required": "Give the sheet a name.", **_too_long("A sheet's name")},
    )


def _fulfillment_field() -> forms.CharField:
    return forms.CharField(
        max_length=FULFILLMENT_LENGTH,
        validators=[validate_identifier],
        error_messages={
            "required": IDENTIFIER_MESSAGE,
            **_too_long("A fulfillment identifier"),
        },
    )


def _comment_field() -> forms.CharField:
    return forms.CharField(
        required=False,
        max_length=COMMENT_LENGTH,
        error_messages=_too_long("A revision's comment"),
    )


class _Form(forms.Form):
    """A form of the sheet pages: what was typed is shown again, as the form reads it."""

    def typed(self, name: str) -> str:
        """What was typed in the text field ``name``, trimmed ("" if nothing was)."""
        return str(self.fields[name].to_python(self[name].data))

    def messages(self, name: str) -> str:
        """The field's errors as one text ("" if none)."""
        errors = self.errors.as_data().get(name, [])
        return " ".join(message for error in errors for message in error.messages)


class SheetFilterForm(_Form):
    """The overview's filters and sort: ``?inactive=1&q=&id=&sort=``.

    ``id`` is a sheet ID from 1 to 2^63-1 (empty: no filter); ``q`` a part of a name or
    identifier (search text, so no limit); ``sort`` a column, ``-`` in front for
    descending (none given: by ID; one the overview does not have: none marked).
    """

    inactive = TickedField()
    q = forms.CharField(required=False)
    id = forms.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    sort = forms.ChoiceField(
        required=False,
        choices=[(f"{sign}{key}", key) for key in SHEET_SORTS for sign in ("", "-")],
    )

    def sorted_by(self) -> str:
        """The sort asked for: ``id`` if none, "" if it is none of the columns."""
        if self["sort"].data is None:
            return "id"
        self.is_valid()
        return str(self.cleaned_data.get("sort", ""))

    def sheet_id(self) -> int | None:
        """The ID to filter by, or None (none given, or refused: see ``id_error``)."""
        self.is_valid()
        value = self.cleaned_data.get("id")
        return value if isinstance(value, int) else None

    def typed_id(self) -> str:
        """The ID as typed, trimmed: shown again in its box, refused or not."""
        return str(self["id"].data or "").strip()

    def id_error(self) -> str | None:
        """Why ``id`` is refused, in the overview's words; None if it is not."""
        if "id" not in self.errors:
            return None
        raw = self.typed_id()
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
    # ``split``: side by side; anything else is the unified view (a link, not a choice
    # worth refusing the page for).
    view = forms.CharField(required=False, strip=True)

    def refusal(self) -> str | None:
        """Why the pair is refused, naming a malformed revision; None if it is not."""
        if self.is_valid():
            return None
        for name in ("a", "b"):
            if name in self.errors and self.data.get(name, "").strip():
                return f"Pick two revisions to compare. {self.errors[name][0]}"
        return "Pick two revisions to compare."


class OrganizationUnitSearchForm(forms.Form):
    """``?q=``: a part of an OU's backend ID or name, or its ID (search text: no limit)."""

    q = forms.CharField(required=False)


class SheetCreateForm(_Form):
    """A new sheet: its name, its fulfillment identifier, the template it starts from."""

    name = _name_field()
    fulfillment = _fulfillment_field()
    template = forms.ChoiceField(
        choices=[(key, template.title) for key, template in TEMPLATES.items()],
        error_messages={
            "required": "Pick one of the templates.",
            "invalid_choice": "Pick one of the templates.",
        },
    )

    def values(self) -> dict[str, str]:
        """The fields as typed (trimmed), to show again."""
        return {name: self.typed(name) for name in self.fields}


class SheetEditForm(_Form):
    """The advanced editor's save: name, identifier, source, the revision's comment, and
    whether a change of identifier was confirmed (``confirm_fulfillment=1``)."""

    name = _name_field()
    fulfillment = _fulfillment_field()
    source = forms.CharField(required=False, strip=False)
    comment = _comment_field()
    confirm_fulfillment = TickedField()

    def clean_source(self) -> str:
        return normalize(self.cleaned_data["source"])

    def values(self) -> dict[str, str]:
        """Name and identifier as typed (trimmed), the source with its line endings
        normalized: what the editor shows again, and what a save stores."""
        return {
            "name": self.typed("name"),
            "fulfillment": self.typed("fulfillment"),
            "source": normalize(str(self["source"].data or "")),
        }


class ActivateForm(forms.Form):
    """Activate (``active=1``) or deactivate a sheet; ``next``: the page to return to."""

    active = TickedField()
    next = forms.CharField(required=False, strip=False)

    def next_page(self, default: str) -> str:
        """``next`` if it is a path on this site, else ``default``."""
        self.is_valid()
        target = str(self.cleaned_data.get("next", ""))
        return target if target.startswith("/") and not target.startswith("//") else default


class ThemeForm(forms.Form):
    """Dark mode on (``dark=1``) or off."""

    dark = TickedField()


class VisualSaveForm(_Form):
    """The visual editor's save: the revision it was opened at, whether the sheet is to
    be active, the revision's comment, and a field ``slot-<id>`` per value it shows."""

    revision = forms.IntegerField(required=False, min_value=1, max_value=MAX_REVISION)
    active = TickedField()
    comment = _comment_field()

    def __init__(self, data: Any, *, slots: Mapping[str, visual.Slot]) -> None:
        super().__init__(data)
        self.slots = slots
        for slot_id in slots:
            self.fields[f"slot-{slot_id}"] = forms.CharField(required=False, strip=False)

    def opened_at(self, revision: int) -> bool:
        """Whether the form was opened at ``revision`` (else the sheet changed since)."""
        self.is_valid()
        return self.cleaned_data.get("revision") == revision

    def edits(self) -> dict[str, object]:
        """The values sent, by slot: a list as the JSON the page sends it in, the rest as
        text (a slot not sent is left as it is). Raises ``visual.VisualEditError``."""
        self.is_valid()
        edits: dict[str, object] = {}
        for slot_id, slot in self.slots.items():
            name = f"slot-{slot_id}"
            if self[name].data is None:
                continue
            raw = str(self.cleaned_data.get(name, ""))
            if slot.kind == visual.LIST:
                try:
                    edits[slot_id] = parse_json(raw.encode(errors="replace"))
                except ParseError as error:
                    raise visual.VisualEditError(
                        slot_id, "the list was not sent as JSON"
                    ) from error
            else:
                edits[slot_id] = raw
        return edits


class SheetDuplicateForm(_Form):
    """A copy of a sheet: its name and its own fulfillment identifier."""

    name = _name_field()
    fulfillment = _fulfillment_field()

    def values(self) -> dict[str, str]:
        """The fields as typed (trimmed), to show again."""
        return {name: self.typed(name) for name in self.fields}


class SheetCompareForm(_Form):
    """The editor's text as it is now (name, identifier, source), to compare with the
    saved sheet: nothing is saved, so no name or identifier is refused; the source is
    at most as long as the parser reads."""

    name = forms.CharField(required=False)
    fulfillment = forms.CharField(required=False)
    source = forms.CharField(
        required=False,
        strip=False,
        max_length=MAX_SOURCE_LENGTH,
        error_messages=_too_long("A sheet's source"),
    )
    # ``split``: side by side, as the revisions' diff's ``view``.
    view = forms.CharField(required=False)

    def clean_source(self) -> str:
        return normalize(self.cleaned_data["source"])


# --- Sheets between installs (the overview's Export, the Import page) --------------------


class IdentifierListField(forms.Field):
    """Fulfillment identifiers, one per value of a repeated parameter (``?identifier=A&
    identifier=B``): each within the model's length and pattern."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value: Any) -> list[str]:
        return [str(item).strip() for item in value or [] if str(item).strip()]

    def validate(self, value: list[str]) -> None:
        for item in value:
            if len(item) > FULFILLMENT_LENGTH or not IDENTIFIER_PATTERN.fullmatch(item):
                raise forms.ValidationError(
                    f"{item[:FULFILLMENT_LENGTH]!r} is not a fulfillment identifier. "
                    f"{IDENTIFIER_MESSAGE}",
                    code="invalid",
                )


class SheetExportForm(_Form):
    """The overview's Export: the ticked sheets' identifiers (none: every active sheet)."""

    identifier = IdentifierListField(required=False)


class SheetImportForm(_Form):
    """The Import page's upload: the file an export made, within the body limit."""

    file = forms.FileField(
        error_messages={
            "required": "Choose the file to import.",
            "empty": "The file is empty.",
        }
    )

    def clean_file(self) -> bytes:
        upload = self.cleaned_data["file"]
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and upload.size > limit:
            raise forms.ValidationError(
                f"The file has {upload.size:,} bytes; at most {limit:,} can be imported at once.",
                code="too_large",
            )
        return bytes(upload.read())

    def file_name(self) -> str:
        """The uploaded file's name, as the browser gave it."""
        upload = self.files.get("file")
        return str(getattr(upload, "name", "") or "the file")


class SheetImportConfirmForm(_Form):
    """The dry run's confirmation: the fingerprint of the plan it showed."""

    fingerprint = forms.CharField(
        max_length=64, error_messages={"required": "Run the dry run first."}
    )
