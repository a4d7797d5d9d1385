"""Limits on orders and stock: one set of numbers for every way an order comes in.

The API's serializers (orders, returns, fulfilment lines, stock), the preview (its
stock form and its scenario JSON, through ``scenario.load_scenario``) and
``manage.py simulate`` (the same loader) refuse anything beyond these, each with the
field or JSON path at fault and the limit in words (``Limit.refusal``), so that an
order one of them accepts is accepted by all of them, and ``simulate`` never routes
an order the API would refuse. The table in ``docs/api.md`` lists them.
"""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limit:
    """The largest value accepted for something, and why."""

    maximum: int
    per: str  # what is counted, in words: "lines per order"
    reason: str

    @property
    def refusal(self) -> str:
        """The limit in words, as every refusal says it: ``at most 5,000 lines per order``."""
        return f"at most {self.maximum:,} {self.per}"

    def message(self) -> str:
        """A refusal as a sentence, for a field's error: ``At most 5,000 lines per order.``"""
        return self.refusal[:1].upper() + self.refusal[1:] + "."


ORDER_LINES = Limit(
    5_000,
    "lines per order",
    "The engine routes an order of 5,000 lines in a few seconds with explicit stacks, "
    "no recursion per line (docs/performance.md); its search is bounded by the lines "
    "it looks at, so longer orders would only wait longer for a rougher answer. An "
    "order with more lines is several orders.",
)
LINE_QUANTITY = Limit(
    1_000_000,
    "units per order line",
    "More than any one order line asks for, and far below the database's 32-bit "
    "integer columns (2,147,483,647), so the sums of a line's shipped, cancelled and "
    "returned units cannot overflow. Returned, picked, shipped, cancelled and "
    "received quantities are quantities of a line, and have the same limit.",
)
STOCK_QUANTITY = Limit(
    2_000_000_000,
    "units of stock of a product at one organization unit",
    "The stock columns are 32-bit integers (2,147,483,647 at most on PostgreSQL): the "
    "limit leaves room for reservations on top. The preview's stock changes (an "
    "absolute quantity, or a delta either way) have the same limit.",
)

BULK_ORDERS = Limit(
    500,
    "orders per bulk request",
    "A bulk request of 500 typical orders is a few hundred kilobytes, well inside the "
    "5 MB a request body may be, and is answered in well under a second at the bulk "
    "API's rate (docs/performance.md), far from gunicorn's 30 s timeout; Shopify and "
    "Stripe cap their batch calls likewise. More orders are several requests, or "
    "manage.py import_orders.",
)

LIMITS: tuple[Limit, ...] = (ORDER_LINES, LINE_QUANTITY, STOCK_QUANTITY, BULK_ORDERS)


JSON_INTEGER_DIGITS = Limit(
    4_300,
    "digits in a whole number",
    "Python's own limit for reading a whole number from text (sys.get_int_max_str_digits, "
    "guarding against numbers that take seconds to convert); named here so that a "
    "scenario or a request beyond it is told so, not how to raise the limit.",
)


def json_integer(text: str) -> int:
    """``json.loads``' ``parse_int``: a whole number within ``JSON_INTEGER_DIGITS``.

    Raises ``ValueError`` naming the limit (the readers report it as not valid JSON).
    """
    digits = len(text) - text.startswith("-")
    if digits > JSON_INTEGER_DIGITS.maximum:
        raise ValueError(f"a whole number of {digits:,} digits ({JSON_INTEGER_DIGITS.refusal})")
    return int(text)
