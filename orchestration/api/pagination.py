"""The API's lists: page numbers for the first rows, a cursor for the rest.

``?page=N&page_size=M`` (at most 500 a page) pages as before, over the first
``MAX_PAGE_OFFSET`` rows of a list, with ``count`` counted up to ``MAX_COUNTED``
(``count_exact`` false beyond). Past that, a page number would make the database read
and discard every row before the page, and the count read all of them, on every
request: over a million orders that is seconds, not the 100 ms a list may take
(issue 23). So a page that starts deeper is refused (400, naming ``cursor``).

``?cursor=`` (empty: the first page) pages by keyset (``selectors.keyset``): each
page's ``next`` and ``previous`` links carry an opaque cursor, and any page costs
what the first one does, however deep. Filters and ``ordering`` apply as with page
numbers; a list whose order is not plain fields (a shop's tasks) refuses a cursor.
"""

from typing import TYPE_CHECKING, Any

from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.utils.functional import cached_property
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

if TYPE_CHECKING:
    from rest_framework.pagination import HtmlContextWithPageLinks

from ..selectors.keyset import BadCursor, KeysetPage, keyset_ordering, keyset_page

# Rows a page number may reach, and rows a count counts: 10,000 rows is 200 pages of
# 50, counted in a few milliseconds; deeper, a page and a count grow with the table.
MAX_PAGE_OFFSET = 10_000
MAX_COUNTED = MAX_PAGE_OFFSET
CURSOR = "cursor"
# A cursor's first letter says which way it pages from the row it names.
AFTER, BEFORE = "a", "b"


class CappedPaginator(Paginator):
    """Django's paginator counting at most ``MAX_COUNTED`` rows (``exact`` says
    whether there were no more)."""

    @cached_property
    def counted(self) -> int:
        objects = self.object_list
        if isinstance(objects, QuerySet):
            return objects.order_by()[: MAX_COUNTED + 1].count()
        return len(objects)

    @cached_property
    def count(self) -> int:
        return min(self.counted, MAX_COUNTED)

    @property
    def exact(self) -> bool:
        return self.counted <= MAX_COUNTED


class Pagination(PageNumberPagination):
    """``?page=N&page_size=M`` over the first 10,000 rows; ``?cursor=`` everywhere."""

    page_size_query_param = "page_size"
    max_page_size = 500
    django_paginator_class = CappedPaginator
    keyset: KeysetPage[Any] | None = None

    def paginate_queryset(
        self, queryset: Any, request: Request, view: Any = None
    ) -> list[Any] | None:
        self.keyset = None
        if CURSOR not in request.query_params:
            self._check_depth(request)
            return super().paginate_queryset(queryset, request, view)
        self.request = request
        size = self.get_page_size(request) or self.max_page_size or MAX_PAGE_OFFSET
        if keyset_ordering(queryset) is None:
            raise ValidationError(
                {CURSOR: ["This list's order cannot be paged by cursor: page it by number."]}
            )
        cursor = request.query_params[CURSOR]
        after = before = None
        if cursor:
            direction, token = cursor[:1], cursor[1:]
            if direction == AFTER:
                after = token
            elif direction == BEFORE:
                before = token
            else:
                raise BadCursor(CURSOR)
        self.keyset = keyset_page(queryset, size=size, after=after, before=before, field=CURSOR)
        self.display_page_controls = True
        return self.keyset.items

    def _check_depth(self, request: Request) -> None:
        """Refuse a page number that starts past ``MAX_PAGE_OFFSET`` (400, not a slow page)."""
        raw = request.query_params.get(self.page_query_param, "1")
        # ASCII digits only: "²" is a digit to str.isdigit() and not to int().
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
            return  # not a number: DRF's "Invalid page." (404) as before
        if (int(raw) - 1) * (self.get_page_size(request) or 0) >= MAX_PAGE_OFFSET:
            raise ValidationError(
                {
                    self.page_query_param: [
                        f"Page numbers reach the first {MAX_PAGE_OFFSET:,} rows; page "
                        f"deeper with ?{CURSOR}= and the next links."
                    ]
                }
            )

    def get_paginated_response(self, data: Any) -> Response:
        if self.keyset is None:
            assert self.page is not None
            paginator = self.page.paginator
            assert isinstance(paginator, CappedPaginator)
            return Response(
                {
                    "count": paginator.count,
                    "count_exact": paginator.exact,
                    "next": self.get_next_link(),
                    "previous": self.get_previous_link(),
                    "results": data,
                }
            )
        return Response(
            {
                "next": self._cursor_link(AFTER, self.keyset.next_cursor),
                "previous": self._cursor_link(BEFORE, self.keyset.previous_cursor),
                "results": data,
            }
        )

    def _cursor_link(self, direction: str, cursor: str | None) -> str | None:
        if cursor is None:
            return None
        assert self.request is not None
        url = remove_query_param(self.request.build_absolute_uri(), self.page_query_param)
        return replace_query_param(url, CURSOR, direction + cursor)

    def get_html_context(self) -> "HtmlContextWithPageLinks":
        if self.keyset is not None:
            return {
                # None: no link (DRF's own template says so; its stubs want a str).
                "previous_url": self._cursor_link(BEFORE, self.keyset.previous_cursor),  # type: ignore[typeddict-item]
                "next_url": self._cursor_link(AFTER, self.keyset.next_cursor),  # type: ignore[typeddict-item]
                "page_links": [],
            }
        return super().get_html_context()

    def get_paginated_response_schema(self, schema: Any) -> dict[str, Any]:
        paged = super().get_paginated_response_schema(schema)
        paged["required"] = ["results"]
        paged["properties"]["count"]["description"] = (
            f"Rows in the list, counted up to {MAX_COUNTED:,}; absent when paging by cursor."
        )
        paged["properties"]["count_exact"] = {
            "type": "boolean",
            "description": f"False: the list has more than {MAX_COUNTED:,} rows.",
        }
        return paged

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            *super().get_schema_operation_parameters(view),
            {
                "name": CURSOR,
                "required": False,
                "in": "query",
                "description": (
                    "Page by cursor: empty for the first page, then follow the next and "
                    f"previous links. Page numbers reach the first {MAX_PAGE_OFFSET:,} rows."
                ),
                "schema": {"type": "string"},
            },
        ]
