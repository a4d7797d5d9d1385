"""Forms of the preview page: the what-if form, the sheet a link fills in, the backtest.

``PreviewForm`` reads the page's fields (numbered rows ``draft-N-...`` and
``stock-N-...`` among them) with the limits of ``POST /api/preview/``'s fields, turns
them into that endpoint's JSON body and has ``PreviewInputSerializer`` check it, so
the page and the API accept and refuse exactly the same input and build the same
``previews.PreviewRequest``. IDs and quantities go to the serializer as typed, so
their refusals read as the API's; every refusal names its field by the API's path
(``stock[0].quantity``).

An order typed in (``TypedOrderForm``, numbered ``line-N-...`` rows of ``LineRowForm``)
is refused by its row and field ("Line 2, quantity: ...", ``lines[1].quantity``); its
what-ifs are checked by the same serializer, then written with it into a scenario
(``previews.typed_scenario_text``), which is previewed as a pasted one is.

Numbers read here are parsed by Django's ``IntegerField``, never by ``str.isdigit()``
and ``int()``: "²" passes ``isdigit()`` and ``int()`` refuses it, and ``int()`` refuses
more than 4,300 digits; both were 500s.
"""

import re
from collections import defaultdict
from typing import Any

from django import forms
from django.db import models
from rest_framework import serializers

from orchestration.api.exceptions import flatten_errors
from orchestration.api.serializers import PreviewDraftSerializer, PreviewInputSerializer
from orchestration.engine.limits import LINE_QUANTITY, ORDER_LINES
from orchestration.errors import ApplicationError
from orchestration.models import FulfillmentOption, Order, OrderIntent, Product
from orchestration.models.orders import ADDRESS_PARTS, MONEY
from orchestration.selectors.previews import (
    PreviewRequest,
    TypedLine,
    TypedOrder,
    typed_scenario_text,
)
from orchestration.selectors.scenario import SheetDraft
from orchestration.services.backtests import MAX_ORDERS
from orchestration.validators import MAX_ID
from sheets.forms import TickedField, model_max_length

SHEET_MESSAGE = "A sheet to preview is named by its ID, a whole number from 1 to 2^63-1."
# The delivery option what-if: the form's value for "asks for no option" (empty: the
# option the order asks for).
NO_OPTION = "none"
# The form numbers its rows from 0; an index of more than 9 digits is no row of it (and
# int() refuses more than 4,300 digits).
_INDEXED = re.compile(r"^(draft|stock|line)-([0-9]{1,9})-(\w+)$")
# The typed order's shipping address: the order's own columns, with their limits and checks.
TYPED_ADDRESS = [f"shipping_{part}" for part in ADDRESS_PARTS if part != "is_pickup_point"]
# The typed order's "allow partial fulfilment": the setting's default, or yes, or no.
PARTIAL_CHOICES = [("", "as the setting says"), ("yes", "yes"), ("no", "no")]
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


class LineRowForm(forms.Form):
    """One line of a typed order: a product (backend ID or name), how many, at what price."""

    product = forms.CharField(
        required=False,
        max_length=max(model_max_length(Product, "backend_id"), model_max_length(Product, "name")),
    )
    quantity = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=LINE_QUANTITY.maximum,
        error_messages={
            "min_value": f"Order 1 to {LINE_QUANTITY.maximum:,} units.",
            "max_value": f"Order 1 to {LINE_QUANTITY.maximum:,} units.",
            "invalid": "Type a whole number of units.",
        },
    )
    unit_price = forms.DecimalField(required=False, min_value=0, **MONEY)

    def is_blank(self) -> bool:
        """A row naming no product, quantity or price is no line (the form keeps one)."""
        return not any((self.data.get(key) or "").strip() for key in self.fields)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not self.is_blank():
            if not (cleaned.get("product") or "").strip() and "product" not in self.errors:
                self.add_error("product", "Name a product: its backend ID or its name.")
            if cleaned.get("quantity") is None and "quantity" not in self.errors:
                self.add_error("quantity", "How many units? 1 or more.")
        return cleaned

    def line(self) -> TypedLine:
        """The checked line (after ``is_valid()``)."""
        return TypedLine(
            self.cleaned_data["product"].strip(),
            self.cleaned_data["quantity"],
            self.cleaned_data["unit_price"],
        )


class TypedOrderForm(forms.Form):
    """A hypothetical order typed in: where it ships, what kind, what it asks for (its
    lines are ``LineRowForm`` rows). The address takes the order's columns' checks."""

    # Labelled as on the page: a refusal names the field by its label.
    typed_intent = forms.ChoiceField(
        required=False,
        label="Order type",
        choices=OrderIntent.choices,
        error_messages={
            "invalid_choice": 'Unknown order type "%(value)s"; expected one of '
            + ", ".join(OrderIntent.values)
            + "."
        },
    )
    typed_option = forms.ChoiceField(
        required=False,
        label="Requested delivery option",
        choices=[("", "none (any option)"), *FulfillmentOption.choices],
        error_messages={
            "invalid_choice": 'Unknown delivery option "%(value)s"; expected one of '
            + ", ".join(FulfillmentOption.values)
            + ", or none."
        },
    )
    typed_partial = forms.ChoiceField(
        required=False,
        label="Allow partial fulfilment",
        choices=PARTIAL_CHOICES,
        error_messages={
            "invalid_choice": 'Unknown answer "%(value)s"; expected yes, no, or none (as the '
            "setting says)."
        },
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, field in forms.fields_for_model(Order, fields=TYPED_ADDRESS).items():
            field.required = False
            # The column's own checks (coordinates in range, a country's two letters),
            # which a model form would leave to the model's validation.
            column = Order._meta.get_field(name)
            assert isinstance(column, models.Field)
            own = column.validators
            field.validators = [*field.validators, *(v for v in own if v not in field.validators)]
            self.fields[name] = field

    def problems(self) -> list[dict[str, Any]]:
        """The refusals, each message naming its field as the page labels it."""
        found = _refusals(self, "")
        for problem in found:
            label = self.fields[problem["field"]].label or problem["field"]
            problem["message"] = f"{str(label)[:1].upper()}{str(label)[1:]}: {problem['message']}"
        return found

    def typed_order(self, lines: list[TypedLine]) -> TypedOrder:
        """The checked order (after ``is_valid()``)."""
        cleaned = self.cleaned_data
        partial = cleaned["typed_partial"]
        return TypedOrder(
            lines=tuple(lines),
            shipping_address={
                name.removeprefix("shipping_"): cleaned[name] for name in TYPED_ADDRESS
            },
            intent=cleaned["typed_intent"] or OrderIntent.SALES,
            requested_fulfillment_option=cleaned["typed_option"] or None,
            allow_partial_fulfillment=None if not partial else partial == "yes",
        )


class PreviewForm(forms.Form):
    """The what-if form: an order, a scenario or a typed order, when, and what if."""

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
        self.rows: dict[str, list[Any]] = {"draft": [], "stock": [], "line": []}
        kinds = {"draft": DraftRowForm, "stock": StockRowForm, "line": LineRowForm}
        for (kind, _index), row in sorted(numbered_rows(data).items()):
            self.rows[kind].append(kinds[kind](row))
        self.typed = TypedOrderForm(data)
        # The drafts the checked request previews (``preview_request``): a typed order
        # has them in its scenario, so the request itself names none.
        self.checked_drafts: tuple[SheetDraft, ...] = ()
        self.scenario_text: str | None = None  # a typed order's scenario, once checked

    def _listed(self, kind: str) -> list[Any]:
        return [row for row in self.rows[kind] if not row.is_blank()]

    def is_typed(self) -> bool:
        """Whether an order was typed in (a line names something)."""
        return bool(self._listed("line"))

    def draft_requests(self) -> tuple[SheetDraft, ...]:
        """The drafts the last checked request previews."""
        return self.checked_drafts

    def remembered(self) -> dict[str, Any]:
        """What "Preview this draft" keeps of this preview: the order (a stored one's
        number, or a typed one's fields and lines), the moment and the delivery option."""
        keep = [
            "order",
            "at",
            "time_zone",
            "requested_fulfillment_option",
            "respect_current_fulfillments",
        ]
        if self.is_typed():
            keep += list(self.typed.fields)
            keep += [
                f"line-{index}-{name}"
                for index, row in enumerate(self._listed("line"))
                for name in row.fields
            ]
            lines = {
                f"line-{index}-{name}": row.data.get(name, "")
                for index, row in enumerate(self._listed("line"))
                for name in row.fields
            }
            return {name: lines.get(name, self.data.get(name, "")) for name in keep}
        return {name: self.data.get(name, "") for name in keep}

    def _line_problems(self) -> list[dict[str, Any]]:
        """The typed lines' refusals, each naming its row (as typed: "Line 2, quantity")
        and its field (``lines[1].quantity``)."""
        problems = []
        for index, row in enumerate(self._listed("line")):
            for problem in _refusals(row, f"lines[{index}]."):
                name = problem["field"].rsplit(".", 1)[1].replace("_", " ")
                problem["message"] = f"Line {index + 1}, {name}: {problem['message']}"
                problems.append(problem)
        return problems

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
        if self.is_typed():
            return self._typed_request(problems)
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
        request = serializer.preview_request(scenario_text=scenario_text)
        self.checked_drafts = request.drafts
        return request

    def _typed_request(self, problems: list[dict[str, Any]]) -> PreviewRequest:
        """A typed order's request: its scenario (``previews.typed_scenario_text``: the
        network with the what-ifs, and the order) as a pasted scenario is previewed.

        The what-ifs are checked by the API's serializer, as for a stored order (its
        ``order`` a stand-in: the typed order takes its place), then written into the
        scenario; so the typed order and the JSON share one path into ``preview``.
        """
        problems = problems + self.typed.problems() + self._line_problems()
        if len(self._listed("line")) > ORDER_LINES.maximum:
            problems.insert(
                0, {"code": "max_length", "field": "lines", "message": ORDER_LINES.message()}
            )
        # Read from what was cleaned: a refused field of the form's own (the delivery
        # option, ``at``) is not in it, and is among ``problems`` already.
        cleaned = self.cleaned_data
        if cleaned.get("order") or cleaned.get("scenario"):
            problems.insert(
                0,
                {
                    "code": "invalid",
                    "field": "order",
                    "message": "Give an order number, a scenario or a typed order: one of "
                    "them (clear the typed lines to preview a stored order).",
                },
            )
        if problems:
            raise ApplicationError(problems[0]["message"], errors=problems)
        body = self.api_body()
        serializer = PreviewInputSerializer(data={**body, "order": "typed"})
        if not serializer.is_valid():
            errors = list(flatten_errors(serializer.errors))
            raise ApplicationError(errors[0]["message"], errors=errors)
        what_if = serializer.preview_request()
        lines = [row.line() for row in self._listed("line")]
        text = typed_scenario_text(
            self.typed.typed_order(lines),
            drafts=what_if.drafts,
            stock=what_if.stock,
            organization_units=what_if.organization_units,
        )
        self.checked_drafts = what_if.drafts
        self.scenario_text = text
        return PreviewRequest(
            scenario_text=text, at=what_if.at, fulfillment_option=what_if.fulfillment_option
        )

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


class ProductSearchForm(forms.Form):
    """``?q=``: the typed order's product, or a part of its backend ID or name."""

    q = forms.CharField(
        required=False,
        max_length=max(model_max_length(Product, "backend_id"), model_max_length(Product, "name")),
    )


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
