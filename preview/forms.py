"""Forms of the preview page: the what-if form, the sheet a link fills in, the backtest.

``PreviewForm`` reads the page's fields (numbered rows ``draft-N-...`` and
``stock-N-...`` among them) with the limits of ``POST /api/preview/``'s fields, turns
them into that endpoint's JSON body and has ``PreviewInputSerializer`` check it, so
the page and the API accept and refuse exactly the same input and build the same
``previews.PreviewRequest``. IDs and quantities go to the serializer as typed, so
their refusals read as the API's; every refusal names its field by the API's path
(``stock[0].quantity``).

Numbers read here are parsed by Django's ``IntegerField``, never by ``str.isdigit()``
and ``int()``: "²" passes ``isdigit()`` and ``int()`` refuses it, and ``int()`` refuses
more than 4,300 digits; both were 500s.
"""

import re
from collections import defaultdict
from typing import Any

from django import forms
from rest_framework import serializers

from orchestration.api.exceptions import flatten_errors
from orchestration.api.serializers import PreviewDraftSerializer, PreviewInputSerializer
from orchestration.errors import ApplicationError
from orchestration.models import FulfillmentOption, Order
from orchestration.selectors.previews import PreviewRequest
from orchestration.services.backtests import MAX_ORDERS
from orchestration.validators import MAX_ID
from sheets.forms import TickedField, model_max_length

SHEET_MESSAGE = "A sheet to preview is named by its ID, a whole number from 1 to 2^63-1."
# The delivery option what-if: the form's value for "asks for no option" (empty: the
# option the order asks for).
NO_OPTION = "none"
# The form numbers its rows from 0; an index of more than 9 digits is no row of it (and
# int() refuses more than 4,300 digits).
_INDEXED = re.compile(r"^(draft|stock)-([0-9]{1,9})-(\w+)$")
# How many of the latest orders a backtest replays when the form does not say, and
# how many it may (the page's hint and its refusals name the range).
DEFAULT_ORDER_COUNT = "100"
ORDER_COUNT_RANGE = f"1 to {MAX_ORDERS:,}"


def _api_max_length(serializer: type[serializers.Serializer], name: str) -> int:
    """The API's limit on the length of ``name``: the page takes no more."""
    field = serializer().fields[name]
    assert isinstance(field, serializers.CharField) and field.max_length is not None
    return field.max_length


def numbered_rows(data: Any) -> dict[tuple[str, int], dict[str, str]]:
    """The form's numbered rows: ``draft-0-source`` -> rows[("draft", 0)]["source"]."""
    rows: dict[tuple[str, int], dict[str, str]] = defaultdict(dict)
    for name in data:
        match = _INDEXED.match(name)
        if match:
            rows[(match[1], int(match[2]))][match[3]] = data.get(name)
    return rows


def _refusals(form: forms.Form, prefix: str) -> list[dict[str, Any]]:
    """The form's errors as the page lists them: code, message, field (``prefix`` + name)."""
    return [
        {"code": error.code or "invalid", "message": message, "field": prefix + name}
        for name, errors in form.errors.as_data().items()
        for error in errors
        for message in error.messages
    ]


class PrefillForm(forms.Form):
    """``?sheet=<ID>``: the overview's preview icon fills the draft with that sheet."""

    sheet = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_ID,
        error_messages={
            "invalid": SHEET_MESSAGE,
            "min_value": SHEET_MESSAGE,
            "max_value": SHEET_MESSAGE,
        },
    )


class _TextList(forms.Field):
    """Every value the field was sent (a multiple select), the empty ones left out."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value: Any) -> list[str]:
        return [item for item in value or () if item]


class DraftRowForm(forms.Form):
    """One draft row: a sheet text that replaces the sheet ``sheet`` (or is added)."""

    sheet = forms.CharField(required=False)
    name = forms.CharField(
        required=False, max_length=_api_max_length(PreviewDraftSerializer, "name")
    )
    source = forms.CharField(
        required=False,
        strip=False,
        max_length=_api_max_length(PreviewDraftSerializer, "source"),
    )

    def is_blank(self) -> bool:
        """A row without a sheet text is no draft: the form always shows an empty one."""
        return "source" not in self.errors and not self.cleaned_data["source"].strip()

    def body(self) -> dict[str, Any]:
        return {
            "sheet": self.cleaned_data["sheet"] or None,
            "name": self.cleaned_data["name"],
            "source": self.cleaned_data["source"],
        }


class StockRowForm(forms.Form):
    """One stock row: a quantity available at an OU, or a change to the real one."""

    organization_unit = forms.CharField(required=False)
    product = forms.CharField(required=False)
    quantity = forms.CharField(required=False)
    mode = forms.ChoiceField(
        required=False,
        choices=[("absolute", "available quantity"), ("delta", "change (+/-)")],
        error_messages={"invalid_choice": '"%(value)s" is not a valid choice.'},
    )

    def is_blank(self) -> bool:
        """A row naming no OU, product or quantity is no stock change."""
        self.is_valid()
        return not any(
            self.cleaned_data[key] for key in ("organization_unit", "product", "quantity")
        )

    def body(self) -> dict[str, Any]:
        return {key: self.cleaned_data[key] for key in self.fields}


class PreviewForm(forms.Form):
    """The what-if form: an order or a scenario, when, and what if."""

    order = forms.CharField(
        required=False, max_length=_api_max_length(PreviewInputSerializer, "order")
    )
    scenario = forms.CharField(required=False)
    at = forms.CharField(required=False, max_length=_api_max_length(PreviewInputSerializer, "at"))
    time_zone = forms.CharField(
        required=False, max_length=_api_max_length(PreviewInputSerializer, "time_zone")
    )
    respect_current_fulfillments = TickedField()
    requested_fulfillment_option = forms.ChoiceField(
        required=False,
        choices=[("", "as the order asks"), (NO_OPTION, "none"), *FulfillmentOption.choices],
        error_messages={
            "invalid_choice": 'Unknown delivery option "%(value)s"; expected one of '
            + ", ".join(FulfillmentOption.values)
            + "."
        },
    )
    organization_units = _TextList(required=False)

    def __init__(self, data: Any, **kwargs: Any) -> None:
        super().__init__(data, **kwargs)
        self.rows: dict[str, list[DraftRowForm | StockRowForm]] = {"draft": [], "stock": []}
        for (kind, _index), row in sorted(numbered_rows(data).items()):
            form = DraftRowForm(row) if kind == "draft" else StockRowForm(row)
            self.rows[kind].append(form)

    def _listed(self, kind: str) -> list[DraftRowForm | StockRowForm]:
        return [row for row in self.rows[kind] if not row.is_blank()]

    def _problems(self, *kinds: str, own: bool = True) -> list[dict[str, Any]]:
        """The refusals of the form's own fields (if ``own``) and of its rows of
        ``kinds``, each named by the API's path of its field (``stock[0].mode``)."""
        self.is_valid()
        problems = _refusals(self, "") if own else []
        for kind in kinds:
            path = "drafts" if kind == "draft" else "stock"
            for index, row in enumerate(self._listed(kind)):
                problems += _refusals(row, f"{path}[{index}].")
        return problems

    def api_body(self) -> dict[str, Any]:
        """The form as ``POST /api/preview/``'s JSON body (after ``is_valid()``)."""
        cleaned = self.cleaned_data
        body: dict[str, Any] = {
            name: cleaned[name] for name in ("order", "at", "time_zone") if cleaned[name]
        }
        if cleaned["scenario"]:
            body["scenario"] = cleaned["scenario"]
        body["respect_current_fulfillments"] = cleaned["respect_current_fulfillments"]
        option = cleaned["requested_fulfillment_option"]
        if option:  # empty: the option the order asks for; "none": no option
            body["requested_fulfillment_option"] = None if option == NO_OPTION else option
        if cleaned["organization_units"]:
            body["organization_units"] = cleaned["organization_units"]
        drafts = [row.body() for row in self._listed("draft")]
        if drafts:
            body["drafts"] = drafts
        stock = [row.body() for row in self._listed("stock")]
        if stock:
            body["stock"] = stock
        return body

    def preview_request(self) -> PreviewRequest:
        """The checked request, as the API's serializer builds it from the same body.

        Raises ``ApplicationError`` listing every refusal, each naming its field.
        """
        problems = self._problems("draft", "stock")
        if problems:
            raise ApplicationError(problems[0]["message"], errors=problems)
        body = self.api_body()
        scenario_text = body.pop("scenario", None)
        if scenario_text is not None:
            body["scenario"] = {}  # a placeholder: the serializer checks the combination
        serializer = PreviewInputSerializer(data=body)
        if not serializer.is_valid():
            errors = list(flatten_errors(serializer.errors))
            raise ApplicationError(errors[0]["message"], errors=errors)
        return serializer.preview_request(scenario_text=scenario_text)

    def drafts(self) -> list[dict[str, Any]]:
        """The checked draft rows alone, as ``services.backtest_start`` takes them.

        Raises ``ApplicationError`` listing every refusal, each naming its field.
        """
        problems = self._problems("draft", own=False)
        if problems:
            raise ApplicationError(problems[0]["message"], errors=problems)
        serializer = PreviewDraftSerializer(
            data=[row.body() for row in self._listed("draft")], many=True
        )
        if not serializer.is_valid():
            errors = [
                {**error, "field": f"drafts{error['field']}"}
                for error in flatten_errors(serializer.errors)
            ]
            raise ApplicationError(errors[0]["message"], errors=errors)
        return [
            {"sheet": d.get("sheet"), "name": d.get("name", ""), "source": d["source"]}
            for d in serializer.validated_data
        ]


class OrderSearchForm(forms.Form):
    """``?q=``: the autocomplete's order number, or a part of one (empty: the newest)."""

    q = forms.CharField(required=False, max_length=model_max_length(Order, "backend_id"))


class BacktestForm(forms.Form):
    """How many of the latest orders a backtest replays: 1 to ``MAX_ORDERS``.

    The form carries the service's range, so a count out of it is refused naming the
    range whatever else the page sends (with no draft sheet, the service would name
    only the missing draft); ``backtest_start`` checks it again for its other callers.
    """

    order_count = forms.IntegerField(min_value=1, max_value=MAX_ORDERS)

    def __init__(self, data: Any, **kwargs: Any) -> None:
        data = data.copy()
        data.setdefault("order_count", DEFAULT_ORDER_COUNT)  # an older form sends none
        super().__init__(data, **kwargs)

    def count_error(self) -> str | None:
        """Why ``order_count`` is refused, in the page's words, naming the allowed range;
        None if it is not."""
        if self.is_valid():
            return None
        raw = str(self["order_count"].value()).strip()
        codes = {error.code for error in self.errors.as_data()["order_count"]}
        if codes & {"min_value", "max_value"}:
            return f"Compare over {ORDER_COUNT_RANGE} orders, not {raw}."
        return f"{raw!r} is not a whole number. Compare over {ORDER_COUNT_RANGE} orders."
