"""The ``bench lists`` world's rows fit the tables' columns, in the shares it promises
(the world itself is loaded into PostgreSQL with COPY; these check the rows it writes)."""

import random
from collections import Counter

from orchestration.benchmarks import lists

COLUMNS = {
    "orders": lists.ORDER_COLUMNS,
    "lines": lists.LINE_COLUMNS,
    "fulfillments": lists.FULFILLMENT_COLUMNS,
    "fulfillment_lines": lists.FULFILLMENT_LINE_COLUMNS,
    "events": lists.EVENT_COLUMNS,
}


def test_every_row_has_a_value_for_each_column_it_names() -> None:
    rows = lists.order_rows(1, 2_000, 2_000, random.Random(1))
    for table, columns in COLUMNS.items():
        width = len(columns.split(", "))
        written = getattr(rows, table)
        assert written, table
        assert {row.count("\t") + 1 for row in written} == {width}, table
        assert all(row.endswith("\n") and row.count("\n") == 1 for row in written), table


def test_an_order_has_three_fulfilments_and_the_last_day_is_in_flight() -> None:
    orders = 10_000
    rows = lists.order_rows(1, orders, orders, random.Random(1))
    assert len(rows.fulfillments) == 3 * orders
    statuses = Counter(row.split("\t")[3] for row in rows.orders)
    in_flight = statuses["Routed"]
    assert 0 < in_flight < orders * 2 / 365  # the last day of a year
    assert statuses["Completed"] > 0.9 * orders
    open_tasks = [r for r in rows.fulfillments if r.split("\t")[4:6] == ["SHIP_FROM_STORE", "0"]]
    assert len(open_tasks) == 2 * sum(
        1 for row in rows.orders if row.split("\t")[3] == "Routed" and "\tSales\t" in row
    )
