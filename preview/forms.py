"""Forms of the preview page: the numbers it reads from a link or the backtest form.

Parsed by Django's ``IntegerField``, never by ``str.isdigit()`` and ``int()``: "²"
passes ``isdigit()`` and ``int()`` refuses it, and ``int()`` refuses more than 4,300
digits; both were 500s. The rest of the page's fields are the body of
``POST /api/preview/`` and are checked by its serializer.
"""

from django import forms

from orchestration.validators import MAX_ID

SHEET_MESSAGE = "A sheet to preview is named by its ID, a whole number from 1 to 2^63-1."


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


class BacktestForm(forms.Form):
    """How many of the latest orders a backtest replays (the service checks the range)."""

    order_count = forms.IntegerField()

    def count_error(self) -> str | None:
        """Why ``order_count`` is refused, in the page's words; None if it is not."""
        if self.is_valid():
            return None
        return f"{self.data.get('order_count', '').strip()!r} is not a whole number."
