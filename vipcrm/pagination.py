"""Pagination: the API's cursor, and the pages' window paginator for large lists.

A page of a million-client list is one query for its rows plus one *bounded* count
(exact up to ``MATCH_COUNT_CAP``, then "10,000+"): never a COUNT(*) over the scope.
"""

from __future__ import annotations

from functools import cached_property

from django.core.paginator import EmptyPage, Page, PageNotAnInteger, Paginator
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _
from rest_framework import pagination

MATCH_COUNT_CAP = 10_000  # "10,000+" beyond this: counting further is not worth a scan


class CursorPagination(pagination.CursorPagination):
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000
    ordering = ("id",)


class WindowPage(Page):
    """A page that knows whether a next one exists without knowing how many there are."""

    def __init__(self, object_list, number, paginator, *, next_exists: bool):
        super().__init__(object_list, number, paginator)
        self.next_exists = next_exists

    def has_next(self) -> bool:
        return self.next_exists

    def start_index(self) -> int:
        return (self.number - 1) * self.paginator.per_page + 1 if self.object_list else 0

    def end_index(self) -> int:
        return (self.number - 1) * self.paginator.per_page + len(self.object_list)


class WindowPaginator(Paginator):
    """Pages a large queryset with one query per page and no COUNT(*).

    A page fetches ``per_page + 1`` rows: the extra row only says that a next page
    exists. A COUNT(*) over a million-client scope on every page view is what this
    avoids. Pages beyond ``max_pages`` are refused: deep OFFSETs are slow, and nobody
    reads page 500 of a client list; they narrow the search instead.
    """

    max_pages = 200

    def validate_number(self, number) -> int:
        try:
            number = int(number)
        except (TypeError, ValueError) as error:
            raise PageNotAnInteger(_("That page number is not an integer")) from error
        if number < 1 or number > self.max_pages:
            raise EmptyPage(_("That page contains no results"))
        return number

    def page(self, number) -> WindowPage:
        number = self.validate_number(number)
        start = (number - 1) * self.per_page
        rows = list(self.object_list[start : start + self.per_page + 1])
        if not rows and number > 1:
            raise EmptyPage(_("That page contains no results"))
        more = len(rows) > self.per_page and number < self.max_pages
        return WindowPage(rows[: self.per_page], number, self, next_exists=more)

    @cached_property
    def count(self):
        return None  # unknown on purpose (see the class docstring)

    @cached_property
    def num_pages(self):
        return None


def page_window(
    number: int, has_next: bool, page_count: int | None = None, around: int = 2
) -> list[int | None]:
    """The page numbers to link (None marks a gap): the first, those around the current
    one, and the last when the total is known; otherwise the next and a gap."""
    last = page_count or (number + 1 if has_next else number)
    shown = {1, last, *range(max(1, number - around), min(last, number + around) + 1)}
    pages: list[int | None] = []
    previous = 0
    for page in sorted(shown):
        if page - previous > 1:
            pages.append(None)
        pages.append(page)
        previous = page
    if page_count is None and has_next:
        pages.append(None)
    return pages


def window_page_context(*, queryset: QuerySet, page: WindowPage, per_page: int) -> dict:
    """What a list template shows around a window page: the bounded match count, the
    page count when known, and the page numbers to link."""
    matches = queryset.order_by().values("pk")[: MATCH_COUNT_CAP + 1].count()
    exact = matches <= MATCH_COUNT_CAP
    page_count = min(-(-matches // per_page), WindowPaginator.max_pages) if exact else None
    return {
        "match_count": min(matches, MATCH_COUNT_CAP),
        "match_count_exact": exact,
        "page_count": page_count,
        "page_numbers": page_window(page.number, page.has_next(), page_count),
        "at_page_limit": page.number == WindowPaginator.max_pages and not page.has_next(),
    }
